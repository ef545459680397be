//! The iroh-blobs file store that holds encrypted shards.
//!
//! A dataset's shards are kept alive by one named tag, `souk/dataset/<id>`, pointing at the
//! dataset's hash sequence. Blobs that no tag reaches (left by an interrupted publish or
//! download) are removed by the store's garbage collector.

use std::path::Path;
use std::time::Duration;

use iroh_blobs::store::GcConfig;
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::store::fs::options::Options;
use souk_types::DatasetId;

pub use iroh_blobs::store::fs::FsStore as BlobStore;

/// Prefix of the tags that pin datasets' shards.
pub const DATASET_TAG_PREFIX: &str = "souk/dataset/";

/// The tag that pins dataset `id`'s shards.
pub fn dataset_tag(id: &DatasetId) -> String {
    format!("{DATASET_TAG_PREFIX}{id}")
}

/// The dataset a tag pins, if it is one of ours.
pub fn dataset_of_tag(tag: &[u8]) -> Option<DatasetId> {
    std::str::from_utf8(tag)
        .ok()?
        .strip_prefix(DATASET_TAG_PREFIX)?
        .parse()
        .ok()
}

/// Opens (creating if needed) the blob store in `dir`, collecting unreachable blobs every
/// `gc_interval`.
pub async fn open(dir: &Path, gc_interval: Duration) -> Result<FsStore, std::io::Error> {
    std::fs::create_dir_all(dir)?;
    let mut options = Options::new(dir);
    options.gc = Some(GcConfig {
        interval: gc_interval,
        add_protected: None,
    });
    FsStore::load_with_opts(dir.join("blobs.db"), options)
        .await
        .map_err(std::io::Error::other)
}
