//! Writing the packed plaintext back out as files, one decrypted shard at a time.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use souk_proto::decode_content_index;
use souk_types::{FileEntry, content_limits};

use crate::DatasetError;

#[derive(Debug)]
enum State {
    Length(Vec<u8>),
    Index { need: usize, have: Vec<u8> },
    Files(Files),
}

#[derive(Debug)]
struct Files {
    pending: std::vec::IntoIter<FileEntry>,
    current: Option<(File, u64, FileEntry)>,
}

/// Parses the packed plaintext (index length, index, file bytes) and recreates the files under
/// `root`. The index is untrusted: its paths are validated and its sizes must add up to the
/// plaintext size the manifest declared.
#[derive(Debug)]
pub(crate) struct Unpacker {
    root: PathBuf,
    plaintext_size: u64,
    state: State,
    files_written: u64,
}

fn malformed(what: impl Into<String>) -> DatasetError {
    DatasetError::Malformed(what.into())
}

impl Unpacker {
    pub(crate) fn new(root: &Path, plaintext_size: u64) -> Self {
        Self {
            root: root.to_owned(),
            plaintext_size,
            state: State::Length(Vec::with_capacity(4)),
            files_written: 0,
        }
    }

    pub(crate) fn push(&mut self, mut data: &[u8]) -> Result<(), DatasetError> {
        while !data.is_empty() {
            match &mut self.state {
                State::Length(have) => {
                    let take = (4 - have.len()).min(data.len());
                    have.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if let Ok(bytes) = <[u8; 4]>::try_from(have.as_slice()) {
                        let need = u32::from_le_bytes(bytes) as usize;
                        if need > content_limits::MAX_INDEX_BYTES
                            || need as u64 + 4 > self.plaintext_size
                        {
                            return Err(malformed("the file index length is out of bounds"));
                        }
                        self.state = State::Index {
                            need,
                            have: Vec::with_capacity(need.min(1 << 20)),
                        };
                    }
                }
                State::Index { need, have } => {
                    let take = (*need - have.len()).min(data.len());
                    have.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if have.len() == *need {
                        let index = std::mem::take(have);
                        self.state = State::Files(start_files(&index, self.plaintext_size)?);
                    }
                }
                State::Files(files) => {
                    let root = &self.root;
                    let Some((file, remaining, entry)) =
                        next_open_file(root, files, &mut self.files_written)?
                    else {
                        return Err(malformed("the content has bytes after its last file"));
                    };
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    file.write_all(&data[..take])
                        .map_err(|e| DatasetError::io(format!("writing {}", entry.path), e))?;
                    *remaining -= take as u64;
                    data = &data[take..];
                    if *remaining == 0 {
                        close_file(root, files)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn start_files(index_bytes: &[u8], plaintext_size: u64) -> Result<Files, DatasetError> {
    let index = decode_content_index(index_bytes).map_err(|e| malformed(e.to_string()))?;
    let data_size = index.data_size().map_err(|e| malformed(e.to_string()))?;
    let expected = 4 + index_bytes.len() as u64;
    if expected.checked_add(data_size) != Some(plaintext_size) {
        return Err(malformed(
            "the file sizes do not add up to the dataset's size",
        ));
    }
    Ok(Files {
        pending: index.files.into_iter(),
        current: None,
    })
}

impl Unpacker {
    /// Completes the extraction: every file must be whole. Returns the number of files.
    pub(crate) fn finish(mut self) -> Result<u64, DatasetError> {
        let State::Files(files) = &mut self.state else {
            return Err(malformed("the content ends inside its file index"));
        };
        // Empty files at the end have no bytes to trigger their creation.
        while let Some((_, remaining, entry)) =
            next_open_file(&self.root, files, &mut self.files_written)?
        {
            if *remaining != 0 {
                return Err(malformed(format!("the content ends inside {}", entry.path)));
            }
            close_file(&self.root, files)?;
        }
        Ok(self.files_written)
    }
}

/// The file being written, opening the next one if none is.
fn next_open_file<'a>(
    root: &Path,
    files: &'a mut Files,
    files_written: &mut u64,
) -> Result<Option<&'a mut (File, u64, FileEntry)>, DatasetError> {
    if files.current.is_none() {
        let Some(entry) = files.pending.next() else {
            return Ok(None);
        };
        let path = root.join(&entry.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| DatasetError::io(format!("creating {}", parent.display()), e))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| DatasetError::io(format!("creating {}", path.display()), e))?;
        *files_written += 1;
        files.current = Some((file, entry.size, entry));
    }
    Ok(files.current.as_mut())
}

fn close_file(root: &Path, files: &mut Files) -> Result<(), DatasetError> {
    // Extraction is repeatable, so files are not synced one by one: that would cost a disk flush
    // per file for no durability anyone relies on.
    let Some((_, _, entry)) = files.current.take() else {
        return Ok(());
    };
    set_executable(&root.join(&entry.path), entry.executable)
}

#[cfg(unix)]
fn set_executable(path: &Path, executable: bool) -> Result<(), DatasetError> {
    use std::os::unix::fs::PermissionsExt;
    if executable {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| DatasetError::io(format!("setting mode of {}", path.display()), e))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_: &Path, _: bool) -> Result<(), DatasetError> {
    Ok(())
}
