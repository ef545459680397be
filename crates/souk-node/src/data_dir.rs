//! Finding, creating and reading a node's data directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use souk_crypto::NodeKey;

use crate::error::random_32;
use crate::{Config, NodeError};

pub const KEY_FILE: &str = "node.key";
pub const CONFIG_FILE: &str = "config.toml";
pub const CATALOG_FILE: &str = "catalog.db";
pub const BLOBS_DIR: &str = "blobs";

/// The data directory: `explicit` (from `--data-dir`), else `$SOUK_HOME`, else `souk` in the
/// platform's data directory (`$XDG_DATA_HOME/souk` on Linux).
pub fn resolve(explicit: Option<PathBuf>) -> Result<PathBuf, NodeError> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    if let Some(home) = std::env::var_os("SOUK_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    dirs::data_dir()
        .map(|d| d.join("souk"))
        .ok_or(NodeError::NoDataDir)
}

/// What `souk init` created.
#[derive(Debug)]
pub struct Initialised {
    pub key: NodeKey,
    pub config_written: bool,
}

/// Writes `contents` to a temporary file next to `path`, with `mode`, synced to disk; returns
/// the temporary file's path.
fn write_synced_temp(path: &Path, contents: &[u8], mode: u32) -> Result<PathBuf, NodeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let context = || format!("writing {}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(&tmp)
        .map_err(|e| NodeError::io(context(), e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| NodeError::io(context(), e))?;
    Ok(tmp)
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

/// Writes `contents` to `path` only if nothing is there, atomically: a crash leaves either no
/// file or the whole file, never a partial one.
fn write_new_file_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), NodeError> {
    let tmp = write_synced_temp(path, contents, mode)?;
    // A hard link never replaces an existing file, unlike rename.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(NodeError::AlreadyInitialised(path.to_owned()));
        }
        Err(e) => return Err(NodeError::io(format!("writing {}", path.display()), e)),
    }
    sync_dir(path);
    Ok(())
}

/// Replaces `path` with `contents` atomically (a synced temporary file renamed into place).
pub(crate) fn replace_file_atomically(
    path: &Path,
    contents: &[u8],
    mode: u32,
) -> Result<(), NodeError> {
    let tmp = write_synced_temp(path, contents, mode)?;
    std::fs::rename(&tmp, path)
        .map_err(|e| NodeError::io(format!("writing {}", path.display()), e))?;
    sync_dir(path);
    Ok(())
}

/// Creates the node's key (mode 0600) and a default `config.toml` in `root`. Refuses if a key is
/// already there; keeps an existing config.
pub fn init(root: &Path) -> Result<Initialised, NodeError> {
    std::fs::create_dir_all(root)
        .map_err(|e| NodeError::io(format!("creating {}", root.display()), e))?;
    let key_path = root.join(KEY_FILE);
    if key_path.exists() {
        return Err(NodeError::AlreadyInitialised(key_path));
    }
    let key = NodeKey::from_seed(random_32()?);
    write_new_file_atomically(&key_path, key.to_key_file().as_bytes(), 0o600)?;
    let config_path = root.join(CONFIG_FILE);
    let config_written = !config_path.exists();
    if config_written {
        let text = format!(
            "# Souk node configuration. Every setting is optional; these are the defaults.\n{}",
            Config::default().to_toml()
        );
        write_new_file_atomically(&config_path, text.as_bytes(), 0o644)?;
    }
    Ok(Initialised {
        key,
        config_written,
    })
}

/// Loads the node key of an initialised data directory.
pub fn load_key(root: &Path) -> Result<NodeKey, NodeError> {
    let path = root.join(KEY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(NodeError::NotInitialised(root.to_owned()));
        }
        Err(e) => return Err(NodeError::io(format!("reading {}", path.display()), e)),
    };
    NodeKey::from_key_file(&bytes).map_err(|source| NodeError::KeyFile { path, source })
}

/// Loads `config.toml`, or the defaults if the file is absent.
pub fn load_config(root: &Path) -> Result<Config, NodeError> {
    let path = root.join(CONFIG_FILE);
    if path.exists() {
        Config::load(&path)
    } else {
        Ok(Config::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_a_private_key_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let created = init(dir.path()).expect("init");
        assert!(created.config_written);
        assert_eq!(
            load_key(dir.path()).expect("load").public(),
            created.key.public()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            init(dir.path()),
            Err(NodeError::AlreadyInitialised(_))
        ));
        assert_eq!(
            load_key(dir.path()).expect("load").public(),
            created.key.public()
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
