//! Moving encrypted shards between Souk nodes over iroh-blobs.
//!
//! Every node runs one iroh endpoint under its node key (so its iroh endpoint id is its libp2p
//! peer key), with relays and internet address lookup off: peers learn each other's direct
//! addresses over libp2p. [`BlobsService`] serves the node's blob store through a [`Gate`] that
//! admits only endpoints holding a license for a dataset, and only to that dataset's blobs.
//! [`fetch_dataset`] downloads a dataset's shards from several providers at once, verifying
//! every byte against its BLAKE3 hash as it streams, moving work away from a provider that dies
//! or serves bad data, and skipping what the store already holds (so an interrupted download
//! resumes where it stopped).
//!
//! Licenses themselves are checked by the node (over libp2p) before it admits a reader here.

mod arrivals;
mod fetch;
mod gate;
mod service;

pub use arrivals::Arrivals;
pub use fetch::{FetchReport, FetchRequest, Source, SourceReport, fetch_dataset};
pub use gate::{Gate, Grants, Holding};
pub use iroh_blobs::Hash;
pub use service::{BlobsService, Tuning};

/// Why a transfer could not happen.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("cannot start the blobs endpoint on {addr}: {reason}")]
    Bind {
        addr: std::net::SocketAddr,
        reason: String,
    },
    #[error("the blob store failed: {0}")]
    Store(String),
    #[error("the shard list of the dataset is invalid: {0}")]
    ShardList(String),
    #[error("no provider could serve the dataset: {0}")]
    NoProvider(String),
}
