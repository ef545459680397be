//! A Souk node: one data directory holding its identity (`node.key`), its configuration
//! (`config.toml`), its catalog (`catalog.db`, SQLite) and its shard store (`blobs/`, iroh-blobs).
//!
//! [`data_dir`] finds and initialises the directory; [`Node`] opens it and runs the operations
//! the `souk` command exposes (publish, list, show, export, import, extract). [`daemon`] runs a
//! node on the network: the [`network`] task (gossip, catch-up sync, provider records, license
//! negotiation and blobs access), the iroh-blobs endpoint that serves shards to license holders
//! (`souk-transfer`), and the control API; [`Backend`] lets a command run through that API when a node runs, or directly on
//! the data directory when none does. A [`light::LightNode`] runs the network task alone, for
//! simulations of many nodes in one process.

mod api;
mod backend;
pub mod client;
mod config;
pub mod daemon;
pub mod data_dir;
mod error;
pub mod evm_anchoring;
pub mod light;
pub mod market;
pub mod network;
mod node;
pub mod proof;
mod purchase;
mod receipts;
mod serving;
mod spec;
pub mod views;
mod witnessing;

pub use backend::Backend;
pub use config::{
    AnchorBackend, AnchorConfig, Config, DEFAULT_BLOBS_PORT, DEFAULT_PORT, NetworkConfig,
};
pub use daemon::Daemon;
pub use error::NodeError;
pub use node::{Node, PublishRequest};
pub use souk_net::NetConfig;
pub use spec::{DatasetSpec, parse_contributor, parse_parent};
