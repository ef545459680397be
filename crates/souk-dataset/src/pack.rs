//! Scanning the input and reading it as one packed plaintext stream.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use souk_proto::encode_content_index;
use souk_types::{ContentIndex, FileEntry};

use crate::DatasetError;

/// One input file: where it is on disk and what it becomes in the dataset.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub disk_path: PathBuf,
    pub entry: FileEntry,
}

/// Everything to publish, checked before a single byte is encrypted: every path exists, is
/// readable and has a UTF-8 name, no two files land on the same path, and there is data.
#[derive(Debug, Clone)]
pub struct ContentPlan {
    files: Vec<SourceFile>,
    header: Vec<u8>,
    plaintext_size: u64,
}

fn utf8_name(path: &Path) -> Result<String, DatasetError> {
    let name = path
        .file_name()
        .ok_or_else(|| DatasetError::NotUtf8(path.to_owned()))?;
    name.to_str()
        .map(str::to_owned)
        .ok_or_else(|| DatasetError::NotUtf8(path.to_owned()))
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

fn walk(disk: &Path, logical: String, out: &mut Vec<SourceFile>) -> Result<(), DatasetError> {
    let unreadable = |source| DatasetError::Unreadable {
        path: disk.to_owned(),
        source,
    };
    let metadata = std::fs::symlink_metadata(disk).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DatasetError::NotFound(disk.to_owned())
        } else {
            unreadable(e)
        }
    })?;
    if metadata.is_file() {
        // Opening now turns a permission problem into an error before anything is written.
        File::open(disk).map_err(unreadable)?;
        out.push(SourceFile {
            disk_path: disk.to_owned(),
            entry: FileEntry {
                path: logical,
                size: metadata.len(),
                executable: is_executable(&metadata),
            },
        });
    } else if metadata.is_dir() {
        let mut children = std::fs::read_dir(disk)
            .map_err(unreadable)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(unreadable)?;
        children.sort();
        for child in children {
            let name = utf8_name(&child)?;
            walk(&child, format!("{logical}/{name}"), out)?;
        }
    } else {
        tracing::warn!(path = %disk.display(), "skipping: not a regular file or folder (symlinks are not followed)");
    }
    Ok(())
}

impl ContentPlan {
    /// Walks `paths`: a file becomes an entry named after it, a folder contributes its files
    /// below its own name. Symlinks and special files are skipped with a warning.
    pub fn scan(paths: &[PathBuf]) -> Result<Self, DatasetError> {
        let mut files = Vec::new();
        for path in paths {
            let name = match path.file_name() {
                Some(_) => utf8_name(path)?,
                // "." or "/": name the entries after the folder's canonical name.
                None => {
                    let canonical = path.canonicalize().map_err(|source| {
                        if source.kind() == std::io::ErrorKind::NotFound {
                            DatasetError::NotFound(path.clone())
                        } else {
                            DatasetError::Unreadable {
                                path: path.clone(),
                                source,
                            }
                        }
                    })?;
                    utf8_name(&canonical).unwrap_or_else(|_| "data".to_owned())
                }
            };
            walk(path, name, &mut files)?;
        }
        Self::from_files(files)
    }

    /// A plan over files already described (by a caller that built the list itself).
    pub fn from_files(files: Vec<SourceFile>) -> Result<Self, DatasetError> {
        let index = ContentIndex {
            files: files.iter().map(|f| f.entry.clone()).collect(),
        };
        index.validate()?;
        let data_size = index.data_size()?;
        if data_size == 0 {
            return Err(DatasetError::Empty);
        }
        let encoded = encode_content_index(&index);
        let index_len = u32::try_from(encoded.len())
            .map_err(|_| DatasetError::Malformed("the file list is too large".into()))?;
        let mut header = Vec::with_capacity(4 + encoded.len());
        header.extend_from_slice(&index_len.to_le_bytes());
        header.extend_from_slice(&encoded);
        let plaintext_size = header.len() as u64 + data_size;
        Ok(Self {
            files,
            header,
            plaintext_size,
        })
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// Bytes of the packed plaintext: the header and every file's bytes.
    pub fn plaintext_size(&self) -> u64 {
        self.plaintext_size
    }

    /// Total bytes of the input files.
    pub fn data_size(&self) -> u64 {
        self.plaintext_size - self.header.len() as u64
    }

    pub(crate) fn into_reader(self) -> PackReader {
        PackReader {
            header: self.header,
            header_pos: 0,
            files: self.files.into_iter(),
            current: None,
        }
    }
}

/// Reads the packed plaintext sequentially, a shard at a time.
#[derive(Debug)]
pub(crate) struct PackReader {
    header: Vec<u8>,
    header_pos: usize,
    files: std::vec::IntoIter<SourceFile>,
    current: Option<(File, u64, PathBuf)>,
}

impl PackReader {
    /// Appends up to `want` bytes of the stream to `buf`; returns how many were appended
    /// (fewer only at the end of the stream).
    pub(crate) fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> Result<usize, DatasetError> {
        let start = buf.len();
        let target = start + want;
        if self.header_pos < self.header.len() {
            let take = (self.header.len() - self.header_pos).min(want);
            buf.extend_from_slice(&self.header[self.header_pos..self.header_pos + take]);
            self.header_pos += take;
        }
        while buf.len() < target {
            if self.current.is_none() {
                let Some(next) = self.files.next() else { break };
                let file =
                    File::open(&next.disk_path).map_err(|source| DatasetError::Unreadable {
                        path: next.disk_path.clone(),
                        source,
                    })?;
                self.current = Some((file, next.entry.size, next.disk_path));
            }
            let Some((file, remaining, path)) = self.current.as_mut() else {
                break;
            };
            if *remaining == 0 {
                // The file must end exactly where its size said it would.
                let mut probe = [0u8; 1];
                let extra = file
                    .read(&mut probe)
                    .map_err(|e| DatasetError::io(format!("reading {}", path.display()), e))?;
                if extra != 0 {
                    return Err(DatasetError::FileChanged(path.clone()));
                }
                self.current = None;
                continue;
            }
            let take = (target - buf.len()).min(usize::try_from(*remaining).unwrap_or(usize::MAX));
            let before = buf.len();
            let read = file
                .by_ref()
                .take(take as u64)
                .read_to_end(buf)
                .map_err(|e| DatasetError::io(format!("reading {}", path.display()), e))?;
            debug_assert_eq!(buf.len(), before + read);
            if read == 0 {
                return Err(DatasetError::FileChanged(path.clone()));
            }
            *remaining -= read as u64;
        }
        Ok(buf.len() - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_path_and_empty_input_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        assert!(matches!(
            ContentPlan::scan(&[missing]),
            Err(DatasetError::NotFound(_))
        ));
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        std::fs::write(empty.join("zero"), b"").expect("write");
        assert!(matches!(
            ContentPlan::scan(&[empty]),
            Err(DatasetError::Empty)
        ));
    }

    #[test]
    fn reader_streams_header_then_files_in_any_chunking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("set");
        std::fs::create_dir_all(root.join("b")).expect("mkdir");
        std::fs::write(root.join("a.txt"), b"alpha").expect("write");
        std::fs::write(root.join("b/c.bin"), vec![7u8; 1000]).expect("write");
        let plan = ContentPlan::scan(std::slice::from_ref(&root)).expect("scan");
        let paths: Vec<_> = plan.files().iter().map(|f| f.entry.path.as_str()).collect();
        assert_eq!(paths, ["set/a.txt", "set/b/c.bin"]);
        for chunk in [1, 7, 100, 4096] {
            let mut reader = plan.clone().into_reader();
            let mut all = Vec::new();
            while reader.fill(&mut all, chunk).expect("fill") == chunk {}
            assert_eq!(all.len() as u64, plan.plaintext_size());
            assert!(all.ends_with(&[7u8; 1000]));
        }
    }

    #[test]
    fn a_file_that_grows_is_detected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").expect("write");
        let plan = ContentPlan::scan(std::slice::from_ref(&file)).expect("scan");
        std::fs::write(&file, b"1234567").expect("grow");
        let mut reader = plan.into_reader();
        let mut buf = Vec::new();
        assert!(matches!(
            reader.fill(&mut buf, 1 << 20),
            Err(DatasetError::FileChanged(_))
        ));
    }
}
