//! The file tree inside a dataset's encrypted content.

use std::collections::BTreeSet;

/// Bounds on the content index, which arrives encrypted from a publisher we may not trust.
pub mod content_limits {
    pub const MAX_FILES: usize = 1_000_000;
    pub const MAX_PATH_LEN: usize = 4_096;
    pub const MAX_COMPONENT_LEN: usize = 255;
    pub const MAX_INDEX_BYTES: usize = 128 * 1024 * 1024;
}

/// One file of a dataset: where it goes below the output folder, and how many bytes it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub executable: bool,
}

/// The list of files at the head of a dataset's plaintext, in the order their bytes follow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentIndex {
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error(
        "path {0:?} is not a safe relative path (empty, absolute, or with '.', '..' or '\\' components)"
    )]
    UnsafePath(String),
    #[error("path {0:?} appears twice")]
    DuplicatePath(String),
    #[error("path {0:?} is both a file and a folder")]
    FileIsFolder(String),
    #[error("the content lists {0} files, the limit is {max}", max = content_limits::MAX_FILES)]
    TooManyFiles(usize),
    #[error("file sizes overflow")]
    SizeOverflow,
}

/// Checks that `path` stays inside the folder it is extracted into on every platform.
pub fn validate_relative_path(path: &str) -> Result<(), ContentError> {
    let unsafe_path = || ContentError::UnsafePath(path.chars().take(200).collect());
    if path.is_empty() || path.len() > content_limits::MAX_PATH_LEN {
        return Err(unsafe_path());
    }
    for component in path.split('/') {
        let bad = component.is_empty()
            || component == "."
            || component == ".."
            || component.len() > content_limits::MAX_COMPONENT_LEN
            || component.contains(['\\', ':', '\0'])
            || component.chars().any(char::is_control);
        if bad {
            return Err(unsafe_path());
        }
    }
    Ok(())
}

impl ContentIndex {
    /// Total bytes of all files.
    pub fn data_size(&self) -> Result<u64, ContentError> {
        self.files
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(f.size))
            .ok_or(ContentError::SizeOverflow)
    }

    /// Checks every path, that no path repeats, and that no file is also a folder of another.
    pub fn validate(&self) -> Result<(), ContentError> {
        if self.files.len() > content_limits::MAX_FILES {
            return Err(ContentError::TooManyFiles(self.files.len()));
        }
        let mut files = BTreeSet::new();
        for f in &self.files {
            validate_relative_path(&f.path)?;
            if !files.insert(f.path.as_str()) {
                return Err(ContentError::DuplicatePath(f.path.clone()));
            }
        }
        for f in &self.files {
            let mut prefix_end = 0;
            while let Some(pos) = f.path[prefix_end..].find('/') {
                let folder = &f.path[..prefix_end + pos];
                if files.contains(folder) {
                    return Err(ContentError::FileIsFolder(folder.to_owned()));
                }
                prefix_end += pos + 1;
            }
        }
        self.data_size().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(paths: &[&str]) -> ContentIndex {
        ContentIndex {
            files: paths
                .iter()
                .map(|p| FileEntry {
                    path: (*p).into(),
                    size: 1,
                    executable: false,
                })
                .collect(),
        }
    }

    #[test]
    fn escaping_paths_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\..\\b",
            "c:x",
            "a/",
        ] {
            assert!(validate_relative_path(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "a/b.txt", "dir/sub/..hidden", "名前/ファイル"] {
            assert_eq!(validate_relative_path(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn duplicates_and_file_folder_clashes_are_refused() {
        assert!(matches!(
            index(&["a", "a"]).validate(),
            Err(ContentError::DuplicatePath(_))
        ));
        assert!(matches!(
            index(&["a", "a/b"]).validate(),
            Err(ContentError::FileIsFolder(_))
        ));
        assert_eq!(index(&["a/b", "a/c", "ab"]).validate(), Ok(()));
    }
}
