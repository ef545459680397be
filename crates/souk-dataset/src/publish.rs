use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use iroh_blobs::hashseq::HashSeq;
use iroh_blobs::{BlobFormat, Hash, HashAndFormat};
use souk_crypto::{DatasetKey, NodeKey, SHARD_TAG_LEN, SignedManifest};
use souk_store::blobs::{BlobStore, dataset_tag};
use souk_types::{
    Contributor, Encryption, EncryptionScheme, LicenseOffer, MEDIA_TYPE_FILES, Manifest, Parent,
    ShardSet, TOTAL_BPS, limits,
};

use crate::{ContentPlan, DatasetError};

/// The publisher-chosen parts of a manifest.
#[derive(Debug, Clone)]
pub struct ManifestDraft {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    /// Empty means: the publisher alone, at 10 000 bps.
    pub contributors: Vec<Contributor>,
    pub parents: Vec<Parent>,
    pub offers: Vec<LicenseOffer>,
    pub shard_size: u64,
    pub created_at_ms: u64,
}

/// A dataset whose shards are in the blob store and pinned by its tag.
#[derive(Debug)]
pub struct Published {
    pub signed: SignedManifest,
    pub key: DatasetKey,
}

impl ManifestDraft {
    /// The manifest for `plan`, with the fields only encryption can fill left zeroed. Validating
    /// it checks every user-supplied field before any work is done.
    pub fn provisional(&self, key: &NodeKey, plan: &ContentPlan) -> Result<Manifest, DatasetError> {
        let contributors = if self.contributors.is_empty() {
            vec![Contributor {
                key: key.public(),
                weight_bps: TOTAL_BPS,
            }]
        } else {
            self.contributors.clone()
        };
        let shard_count = ShardSet::count_for(plan.plaintext_size(), self.shard_size);
        let manifest = Manifest {
            name: self.name.clone(),
            description: self.description.clone(),
            tags: self.tags.clone(),
            media_type: MEDIA_TYPE_FILES.to_owned(),
            version: 1,
            previous_version: None,
            publisher: key.public(),
            created_at_ms: self.created_at_ms,
            encryption: Encryption {
                scheme: EncryptionScheme::ChaCha20Poly1305V1,
                key_commitment: [0; 32],
                plaintext_commitment: [0; 32],
            },
            shards: ShardSet {
                shard_size: self.shard_size,
                shard_count,
                plaintext_size: plan.plaintext_size(),
                root: [0; 32],
                hashes: Vec::new(),
            },
            contributors,
            parents: self.parents.clone(),
            offers: self.offers.clone(),
        };
        manifest.validate()?;
        Ok(manifest)
    }
}

/// Encrypts `plan` under `dataset_key` into `store` with `workers` parallel shard workers, signs
/// the manifest with `node_key`, and pins the shards under the dataset's tag. `progress` is called
/// with the plaintext bytes done so far.
///
/// If this fails or is interrupted, nothing references the shards already written and the
/// store's garbage collector removes them; the caller records the dataset in its catalog only
/// after this returns.
pub async fn publish(
    store: &BlobStore,
    node_key: &NodeKey,
    dataset_key: DatasetKey,
    plan: ContentPlan,
    draft: &ManifestDraft,
    workers: usize,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Published, DatasetError> {
    let mut manifest = draft.provisional(node_key, &plan)?;
    let shard_size = usize::try_from(draft.shard_size).map_err(|_| {
        DatasetError::Manifest(souk_types::ManifestError::ShardSize(draft.shard_size))
    })?;
    let shard_count = manifest.shards.shard_count;
    let workers = workers.max(1);
    let cipher = dataset_key.cipher();

    let (tx, mut rx) = tokio::sync::mpsc::channel(workers);
    let reader = tokio::task::spawn_blocking(move || {
        let mut pack = plan.into_reader();
        for index in 0..shard_count {
            let mut buf = Vec::with_capacity(shard_size + SHARD_TAG_LEN);
            let item = pack.fill(&mut buf, shard_size).map(|_| (index, buf));
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                break;
            }
        }
    });
    let shards = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));

    let batch = store.blobs().batch().await.map_err(DatasetError::store)?;
    let done = AtomicU64::new(0);
    let mut commitment = cipher.commitment();
    let mut hashes = Vec::with_capacity(usize::try_from(shard_count).unwrap_or(0));
    let mut pins = Vec::with_capacity(hashes.capacity());
    let mut sealed = shards
        .map(|item| {
            let cipher = cipher.clone();
            let batch = &batch;
            let done = &done;
            async move {
                let (index, mut buf) = item?;
                let plaintext_len = buf.len() as u64;
                let (buf, plaintext_hash) = tokio::task::spawn_blocking(move || {
                    cipher.seal(index, &mut buf).map(|hash| (buf, hash))
                })
                .await
                .map_err(DatasetError::store)??;
                let pin = batch
                    .add_bytes(buf)
                    .temp_tag()
                    .await
                    .map_err(DatasetError::store)?;
                progress(done.fetch_add(plaintext_len, Ordering::Relaxed) + plaintext_len);
                Ok::<_, DatasetError>((pin, plaintext_hash))
            }
        })
        .buffered(workers);
    while let Some((pin, plaintext_hash)) = sealed.try_next().await? {
        commitment.push(&plaintext_hash);
        hashes.push(pin.hash());
        pins.push(pin);
    }
    drop(sealed);
    reader.await.map_err(DatasetError::store)?;
    if hashes.len() as u64 != shard_count {
        return Err(DatasetError::Malformed(format!(
            "packed {} shards, expected {shard_count}",
            hashes.len()
        )));
    }

    let sequence: HashSeq = hashes.iter().collect();
    let root_pin = batch
        .add_bytes_with_opts((sequence.into_inner(), BlobFormat::HashSeq))
        .temp_tag()
        .await
        .map_err(DatasetError::store)?;
    let root: Hash = root_pin.hash();

    manifest.encryption.key_commitment = dataset_key.commitment();
    manifest.encryption.plaintext_commitment = commitment.finish();
    manifest.shards.root = *root.as_bytes();
    if hashes.len() <= limits::MAX_INLINE_SHARD_HASHES {
        manifest.shards.hashes = hashes.iter().map(|h| *h.as_bytes()).collect();
    }
    let signed = SignedManifest::sign(node_key, manifest)?;
    store
        .tags()
        .set(dataset_tag(&signed.id), HashAndFormat::hash_seq(root))
        .await
        .map_err(DatasetError::store)?;
    drop(pins);
    drop(root_pin);
    tracing::info!(dataset = %signed.id, shards = shard_count, "published");
    Ok(Published {
        signed,
        key: dataset_key,
    })
}
