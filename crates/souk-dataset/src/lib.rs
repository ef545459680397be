//! Publishing and extracting datasets.
//!
//! [`ContentPlan::scan`] walks the given files and folders; [`publish`] streams them as one packed
//! plaintext (an encrypted index of paths and sizes, then the file bytes) cut into fixed-size
//! shards, encrypts each shard on a pool of workers, imports the ciphertext into the iroh-blobs
//! store (which hashes it, once) and signs the manifest. [`extract`] reverses it into a staging
//! folder and renames that into place only after the plaintext commitment matched.
//!
//! Memory stays bounded by the number of shards in flight (about three per worker), whatever the
//! size of the input.

mod error;
mod extract;
mod pack;
mod publish;
mod unpack;

pub use error::DatasetError;
pub use extract::{ExtractStats, Present, ShardArrival, extract};
pub use pack::{ContentPlan, SourceFile};
pub use publish::{ManifestDraft, Published, publish};

/// Default number of shard workers: one per available core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
