use std::path::PathBuf;

use souk_types::DatasetId;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(
        "{0} holds no Souk node; run `souk init` first (or point --data-dir / SOUK_HOME at one)"
    )]
    NotInitialised(PathBuf),
    #[error(
        "{0} already exists; Souk never overwrites a node key (move it away first to start a new identity)"
    )]
    AlreadyInitialised(PathBuf),
    #[error("cannot find a data directory: pass --data-dir or set SOUK_HOME")]
    NoDataDir,
    #[error("{path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: souk_crypto::KeyFileError,
    },
    #[error("{path} is invalid: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Catalog(#[from] souk_store::CatalogError),
    #[error("{0}")]
    Dataset(#[from] souk_dataset::DatasetError),
    #[error("{0}")]
    Manifest(#[from] souk_crypto::ManifestEnvelopeError),
    #[error("{0}")]
    Invalid(String),
    #[error("dataset {0} is not in the catalog; see `souk datasets`")]
    UnknownDataset(DatasetId),
    #[error(
        "parent dataset {0} is not in the catalog; import its manifest first with `souk manifest import`"
    )]
    UnknownParent(DatasetId),
    #[error(
        "this node holds no key for dataset {0}; it can only extract datasets it published or bought"
    )]
    NoKey(DatasetId),
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
    #[error("blob store: {0}")]
    Store(String),
    #[error("the running node refused: {0}")]
    Api(String),
    #[error("no node is running on this data directory; start one with `souk node run`")]
    NotRunning,
}

impl NodeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// 32 bytes from the operating system's random generator.
pub(crate) fn random_32() -> Result<[u8; 32], NodeError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| NodeError::Random(e.to_string()))?;
    Ok(bytes)
}
