//! A Souk node: one data directory holding its identity (`node.key`), its configuration
//! (`config.toml`), its catalog (`catalog.db`, SQLite) and its shard store (`blobs/`, iroh-blobs).
//!
//! [`data_dir`] finds and initialises the directory; [`Node`] opens it and runs the operations
//! the `souk` command exposes (publish, list, show, export, import, extract).

mod config;
pub mod data_dir;
mod error;
mod node;
mod spec;

pub use config::Config;
pub use error::NodeError;
pub use node::{Node, PublishReport, PublishRequest};
pub use spec::{DatasetSpec, parse_contributor, parse_parent};
