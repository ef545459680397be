//! Souk's persistent state.
//!
//! - [`Catalog`]: SQLite in WAL mode with versioned migrations. It holds the signed manifests
//!   (with an FTS5 index over name, description and tags), the dataset keys this node holds, and
//!   the seller's private pricing policy, licenses and payment lanes, and the receipt log. Every change is one transaction, so a node killed at any
//!   moment finds either the whole change or none of it.
//! - [`blobs`]: the iroh-blobs file store for encrypted shards, and the tag names that keep a
//!   dataset's shards alive.

pub mod blobs;
mod catalog;
mod migrations;

pub use catalog::{
    AnchorLink, Catalog, CatalogError, DatasetSummary, EvmAnchor, EvmAnchorStatus, LaneId,
    LicenseRecord, LicenseSummary, LoggedReceipt, NewDataset, NewReceipt, SellerPolicy,
    StoredDataset, WitnessedHead,
};
