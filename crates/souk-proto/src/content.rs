use prost::Message;
use souk_types::{ContentError, ContentIndex, FileEntry, content_limits};

use crate::v1;

#[derive(Debug, thiserror::Error)]
pub enum ContentIndexError {
    #[error("the content index is {0} bytes, more than the limit")]
    TooLarge(usize),
    #[error("the content index is malformed: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("the content index is unsafe: {0}")]
    Invalid(#[from] ContentError),
}

pub fn encode_content_index(index: &ContentIndex) -> Vec<u8> {
    v1::ContentIndex {
        files: index
            .files
            .iter()
            .map(|f| v1::FileEntry {
                path: f.path.clone(),
                size: f.size,
                executable: f.executable,
            })
            .collect(),
    }
    .encode_to_vec()
}

/// Decodes and validates a content index, refusing paths that would escape the output folder.
pub fn decode_content_index(bytes: &[u8]) -> Result<ContentIndex, ContentIndexError> {
    if bytes.len() > content_limits::MAX_INDEX_BYTES {
        return Err(ContentIndexError::TooLarge(bytes.len()));
    }
    let wire = v1::ContentIndex::decode(bytes)?;
    let index = ContentIndex {
        files: wire
            .files
            .into_iter()
            .map(|f| FileEntry {
                path: f.path,
                size: f.size,
                executable: f.executable,
            })
            .collect(),
    };
    index.validate()?;
    Ok(index)
}
