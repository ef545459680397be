use std::path::PathBuf;

use souk_crypto::{ManifestEnvelopeError, ShardError};
use souk_types::{ContentError, ManifestError};

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{0} does not exist; check the path")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {source}; check its permissions")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the name of {0} is not valid UTF-8; rename it to publish it")]
    NotUtf8(PathBuf),
    #[error("nothing to publish: the given paths hold no file with data")]
    Empty,
    #[error("{0} changed while it was being published; publish again once it is stable")]
    FileChanged(PathBuf),
    #[error("{0}")]
    Content(#[from] ContentError),
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Signing(#[from] ManifestEnvelopeError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("blob store: {0}")]
    Store(String),
    #[error("{0}")]
    Shard(#[from] ShardError),
    #[error("the key held for this dataset does not match its manifest's key commitment")]
    WrongKey,
    #[error("shard {index} is missing from the blob store; fetch the dataset again")]
    MissingShard { index: u64 },
    #[error("the shards could not be fetched: {0}")]
    Unavailable(String),
    #[error("shard {index} has {found} bytes, the manifest says {expected}")]
    ShardSize {
        index: u64,
        found: u64,
        expected: u64,
    },
    #[error("the shard list {0} is not in the blob store; fetch the dataset again")]
    MissingShardList(String),
    #[error("the decrypted content is malformed: {0}")]
    Malformed(String),
    #[error(
        "the decrypted content does not match the dataset's plaintext commitment; nothing was written"
    )]
    CommitmentMismatch,
    #[error("{0} already exists and is not an empty folder; choose another --out")]
    OutputExists(PathBuf),
}

impl DatasetError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn store(error: impl std::fmt::Display) -> Self {
        Self::Store(error.to_string())
    }
}
