use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use iroh_blobs::Hash;
use iroh_blobs::hashseq::HashSeq;
use souk_crypto::{DatasetKey, SHARD_TAG_LEN, SignedManifest};
use souk_store::blobs::BlobStore;

use crate::DatasetError;
use crate::unpack::Unpacker;

/// When a shard may be read: at once for a dataset held whole ([`Present`]), or once a download
/// running alongside the extraction delivered it.
pub trait ShardArrival: Sync {
    /// Resolves when the blob `hash` is complete in the store; an error when it never will be.
    fn arrived(&self, hash: Hash) -> BoxFuture<'_, Result<(), String>>;
}

/// Every shard is already in the store.
#[derive(Debug, Clone, Copy)]
pub struct Present;

impl ShardArrival for Present {
    fn arrived(&self, _hash: Hash) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// What an extraction wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractStats {
    pub files: u64,
    pub bytes: u64,
}

/// The ciphertext hashes of every shard, inline from the manifest or from the stored hash
/// sequence its root names.
async fn shard_hashes(
    store: &BlobStore,
    signed: &SignedManifest,
    arrival: &dyn ShardArrival,
) -> Result<Vec<Hash>, DatasetError> {
    let shards = &signed.manifest.shards;
    if !shards.hashes.is_empty() {
        return Ok(shards.hashes.iter().map(|h| Hash::from_bytes(*h)).collect());
    }
    let root = Hash::from_bytes(shards.root);
    arrival
        .arrived(root)
        .await
        .map_err(DatasetError::Unavailable)?;
    let bytes = store
        .blobs()
        .get_bytes(root)
        .await
        .map_err(|_| DatasetError::MissingShardList(root.to_hex().to_string()))?;
    let sequence = HashSeq::try_from(bytes)
        .map_err(|_| DatasetError::Malformed("the shard list is not a hash sequence".into()))?;
    if sequence.len() as u64 != shards.shard_count {
        return Err(DatasetError::Malformed(format!(
            "the shard list has {} entries, the manifest {}",
            sequence.len(),
            shards.shard_count
        )));
    }
    Ok(sequence.iter().collect())
}

/// Where files are written until the whole dataset has checked out.
fn staging_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_owned());
    out.with_file_name(format!(".{name}.souk-partial"))
}

/// Refuses to write over anything: `out` may only be missing or an empty folder.
fn check_output(out: &Path) -> Result<(), DatasetError> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(DatasetError::OutputExists(out.to_owned())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => Err(DatasetError::OutputExists(out.to_owned())),
    }
}

/// Decrypts dataset `signed` from `store` with `key` into the folder `out`, with `workers`
/// parallel decryptions, reading each shard once `arrival` says it is there. The files appear
/// at `out` only once every shard decrypted and the plaintext commitment matched; on any error
/// nothing is left at `out`.
pub async fn extract(
    store: &BlobStore,
    signed: &SignedManifest,
    key: &DatasetKey,
    out: &Path,
    workers: usize,
    arrival: &dyn ShardArrival,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<ExtractStats, DatasetError> {
    let manifest = &signed.manifest;
    if key.commitment() != manifest.encryption.key_commitment {
        return Err(DatasetError::WrongKey);
    }
    check_output(out)?;
    let staging = staging_path(out);
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .map_err(|e| DatasetError::io(format!("removing {}", staging.display()), e))?;
    }
    std::fs::create_dir_all(&staging)
        .map_err(|e| DatasetError::io(format!("creating {}", staging.display()), e))?;
    let result = extract_into(store, signed, key, &staging, workers, arrival, progress).await;
    let finished = result.and_then(|stats| {
        if out.exists() {
            std::fs::remove_dir(out)
                .map_err(|e| DatasetError::io(format!("replacing {}", out.display()), e))?;
        }
        std::fs::rename(&staging, out)
            .map_err(|e| DatasetError::io(format!("moving files to {}", out.display()), e))?;
        Ok(stats)
    });
    if finished.is_err() {
        // Best effort: the staging folder holds nothing anyone asked for.
        let _ = std::fs::remove_dir_all(&staging);
    }
    finished
}

async fn extract_into(
    store: &BlobStore,
    signed: &SignedManifest,
    key: &DatasetKey,
    staging: &Path,
    workers: usize,
    arrival: &dyn ShardArrival,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<ExtractStats, DatasetError> {
    let shards = signed.manifest.shards.clone();
    let hashes = shard_hashes(store, signed, arrival).await?;
    let cipher = key.cipher();
    let mut commitment = cipher.commitment();
    let mut unpacker = Some(Unpacker::new(staging, shards.plaintext_size));
    let mut done = 0u64;

    let mut plaintexts = futures::stream::iter(hashes.into_iter().enumerate())
        .map(|(index, hash)| {
            let cipher = cipher.clone();
            let index = index as u64;
            let expected = shards.plaintext_len(index).unwrap_or(0) + SHARD_TAG_LEN as u64;
            async move {
                arrival
                    .arrived(hash)
                    .await
                    .map_err(DatasetError::Unavailable)?;
                let bytes = store
                    .blobs()
                    .get_bytes(hash)
                    .await
                    .map_err(|_| DatasetError::MissingShard { index })?;
                if bytes.len() as u64 != expected {
                    return Err(DatasetError::ShardSize {
                        index,
                        found: bytes.len() as u64,
                        expected,
                    });
                }
                tokio::task::spawn_blocking(move || {
                    let mut shard = bytes.to_vec();
                    cipher.open(index, &mut shard).map(|hash| (shard, hash))
                })
                .await
                .map_err(DatasetError::store)?
                .map_err(DatasetError::from)
            }
        })
        .buffered(workers.max(1));
    while let Some((plaintext, plaintext_hash)) = plaintexts.try_next().await? {
        commitment.push(&plaintext_hash);
        done += plaintext.len() as u64;
        let mut current = unpacker
            .take()
            .ok_or_else(|| DatasetError::store("unpacker lost"))?;
        current = tokio::task::spawn_blocking(move || current.push(&plaintext).map(|()| current))
            .await
            .map_err(DatasetError::store)??;
        unpacker = Some(current);
        progress(done);
    }
    if commitment.finish() != signed.manifest.encryption.plaintext_commitment {
        return Err(DatasetError::CommitmentMismatch);
    }
    let files = unpacker
        .ok_or_else(|| DatasetError::store("unpacker lost"))?
        .finish()?;
    Ok(ExtractStats { files, bytes: done })
}
