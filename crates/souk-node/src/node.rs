use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use souk_crypto::{DatasetKey, NodeKey, SignedManifest};
use souk_dataset::{ContentPlan, ExtractStats, ManifestDraft};
use souk_store::blobs::{self, BlobStore};
use souk_store::{Catalog, DatasetSummary, NewDataset, SellerPolicy, StoredDataset};
use souk_types::{DatasetId, LicenseOffer, UsageRights};

use crate::data_dir::{self, BLOBS_DIR, CATALOG_FILE};
use crate::error::random_32;
use crate::views::PublishView;
use crate::{Config, DatasetSpec, NodeError, parse_contributor, parse_parent};

/// An open data directory.
#[derive(Debug)]
pub struct Node {
    root: PathBuf,
    key: NodeKey,
    config: Config,
    catalog: Catalog,
    store: BlobStore,
}

/// A validated request to publish.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub paths: Vec<PathBuf>,
    pub draft: ManifestDraft,
    pub policy: Option<SellerPolicy>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Node {
    /// Opens the node in `root`, which `souk init` must have prepared.
    pub async fn open(root: &Path) -> Result<Self, NodeError> {
        let key = data_dir::load_key(root)?;
        let config = data_dir::load_config(root)?;
        let catalog = Catalog::open(&root.join(CATALOG_FILE))?;
        let store = blobs::open(
            &root.join(BLOBS_DIR),
            Duration::from_secs(config.store.gc_interval_secs),
        )
        .await
        .map_err(|e| NodeError::io("opening the blob store", e))?;
        let node = Self {
            root: root.to_owned(),
            key,
            config,
            catalog,
            store,
        };
        node.unpin_uncatalogued().await?;
        Ok(node)
    }

    /// Removes dataset tags the catalog does not know: a publish interrupted between pinning
    /// its shards and recording its manifest. The garbage collector then reclaims the shards.
    async fn unpin_uncatalogued(&self) -> Result<(), NodeError> {
        let tags = self
            .store
            .tags()
            .list_prefix(blobs::DATASET_TAG_PREFIX)
            .await
            .map_err(|e| NodeError::Store(e.to_string()))?;
        let tags: Vec<_> = tags.collect().await;
        for tag in tags.into_iter().flatten() {
            let known = match blobs::dataset_of_tag(tag.name.as_ref()) {
                Some(id) => self.catalog.contains(&id)?,
                None => false,
            };
            if !known {
                tracing::info!(tag = %tag.name, "removing the pin of an interrupted publish");
                self.store
                    .tags()
                    .delete(tag.name)
                    .await
                    .map_err(|e| NodeError::Store(e.to_string()))?;
            }
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    /// Turns a spec into a request, checking everything that can be checked without reading
    /// the files.
    pub fn prepare_publish(&self, spec: DatasetSpec) -> Result<PublishRequest, NodeError> {
        if spec.paths.is_empty() {
            return Err(NodeError::Invalid(
                "nothing to publish: give at least one file or folder".to_owned(),
            ));
        }
        let name = spec.name.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
            NodeError::Invalid("the dataset needs a name: pass --name".to_owned())
        })?;
        let contributors = spec
            .contributors
            .iter()
            .map(|c| parse_contributor(c))
            .collect::<Result<Vec<_>, _>>()?;
        let parents = spec
            .parents
            .iter()
            .map(|p| parse_parent(p))
            .collect::<Result<Vec<_>, _>>()?;
        for parent in &parents {
            if !self.catalog.contains(&parent.dataset)? {
                return Err(NodeError::UnknownParent(parent.dataset));
            }
        }
        let policy = match (spec.price, spec.floor) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(NodeError::Invalid(
                    "--floor needs --price: the floor is the lowest a buyer can negotiate the price down to".to_owned(),
                ));
            }
            (Some(price), floor) => {
                let floor = floor.unwrap_or(price);
                if floor > price {
                    return Err(NodeError::Invalid(format!(
                        "the floor ({floor}) is above the price ({price}); lower --floor"
                    )));
                }
                Some(SellerPolicy {
                    list_price: price,
                    floor_price: floor,
                })
            }
        };
        let offers = policy
            .iter()
            .map(|p| LicenseOffer {
                price: p.list_price,
                currency: self.config.publish.currency.clone(),
                rights: UsageRights::Training,
                duration_secs: self.config.publish.license_duration_secs,
            })
            .collect();
        Ok(PublishRequest {
            paths: spec.paths,
            draft: ManifestDraft {
                name,
                description: spec.description.unwrap_or_default(),
                tags: spec.tags,
                contributors,
                parents,
                offers,
                shard_size: spec.shard_size.unwrap_or(self.config.publish.shard_size),
                created_at_ms: now_ms(),
            },
            policy,
        })
    }

    /// Encrypts and stores the files of `request`, then records the signed manifest, the
    /// dataset key and the seller policy in one catalog transaction.
    pub async fn publish(
        &mut self,
        request: PublishRequest,
        on_plan: &(dyn Fn(u64) + Send + Sync),
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<PublishView, NodeError> {
        let started = Instant::now();
        let plan = ContentPlan::scan(&request.paths)?;
        // Every field is checked before the first shard is written.
        request.draft.provisional(&self.key, &plan)?;
        on_plan(plan.plaintext_size());
        let files = plan.files().len();
        let data_size = plan.data_size();
        let dataset_key = DatasetKey::from_bytes(random_32()?);
        let published = souk_dataset::publish(
            &self.store,
            &self.key,
            dataset_key,
            plan,
            &request.draft,
            self.config.workers(),
            progress,
        )
        .await?;
        let recorded = self.catalog.insert(NewDataset {
            manifest: &published.signed,
            key: Some(&published.key),
            policy: request.policy,
            added_at_ms: now_ms(),
        });
        if let Err(e) = recorded {
            let _ = self
                .store
                .tags()
                .delete(blobs::dataset_tag(&published.signed.id))
                .await;
            return Err(e.into());
        }
        let m = &published.signed.manifest;
        Ok(PublishView {
            id: published.signed.id.to_hex(),
            name: m.name.clone(),
            files,
            data_size,
            plaintext_size: m.shards.plaintext_size,
            ciphertext_size: m.ciphertext_size(),
            shard_size: m.shards.shard_size,
            shard_count: m.shards.shard_count,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    pub fn datasets(&self, query: Option<&str>) -> Result<Vec<DatasetSummary>, NodeError> {
        Ok(self.catalog.list(query, 10_000)?)
    }

    pub fn show(&self, id: &DatasetId) -> Result<StoredDataset, NodeError> {
        self.catalog.get(id)?.ok_or(NodeError::UnknownDataset(*id))
    }

    /// The signed manifest envelope of `id`, exactly as its publisher signed it.
    pub fn export_manifest(&self, id: &DatasetId) -> Result<Vec<u8>, NodeError> {
        Ok(self.show(id)?.signed.envelope)
    }

    /// Verifies a signed manifest and adds it to the catalog. Its parents must already be known.
    /// Returns its id and whether it was new.
    pub fn import_manifest(&mut self, encoded: &[u8]) -> Result<(DatasetId, bool), NodeError> {
        let signed = SignedManifest::open(encoded)?;
        for parent in &signed.manifest.parents {
            if !self.catalog.contains(&parent.dataset)? {
                return Err(NodeError::UnknownParent(parent.dataset));
            }
        }
        let added = self.catalog.insert(NewDataset {
            manifest: &signed,
            key: None,
            policy: None,
            added_at_ms: now_ms(),
        })?;
        Ok((signed.id, added))
    }

    /// Decrypts dataset `id` into the folder `out`. (Exclusive: the catalog connection is not
    /// shareable across threads.)
    pub async fn extract(
        &mut self,
        id: &DatasetId,
        out: &Path,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ExtractStats, NodeError> {
        self.extract_as_it_arrives(id, out, &souk_dataset::Present, progress)
            .await
    }

    /// Like [`Node::extract`], reading each shard once `arrival` reports it is in the store:
    /// for decrypting while a download still runs.
    pub async fn extract_as_it_arrives(
        &mut self,
        id: &DatasetId,
        out: &Path,
        arrival: &dyn souk_dataset::ShardArrival,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ExtractStats, NodeError> {
        let stored = self.show(id)?;
        let key = self.catalog.dataset_key(id)?.ok_or(NodeError::NoKey(*id))?;
        Ok(souk_dataset::extract(
            &self.store,
            &stored.signed,
            &key,
            out,
            self.config.workers(),
            arrival,
            progress,
        )
        .await?)
    }

    /// This node's receipt log, of one dataset or all, each leaf checked again.
    pub fn receipts(
        &self,
        dataset: Option<&DatasetId>,
    ) -> Result<Vec<crate::views::ReceiptView>, NodeError> {
        self.catalog
            .receipts(dataset)?
            .iter()
            .map(|r| crate::views::ReceiptView::of(r).map_err(NodeError::Store))
            .collect()
    }

    /// Signs a checkpoint of the receipt log and anchors it on the local chain.
    pub fn anchor_now(&mut self) -> Result<crate::proof::CheckpointView, NodeError> {
        crate::proof::anchor_now(&mut self.catalog, &self.key, now_ms())
    }

    /// The local anchor chain, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<crate::proof::CheckpointView>, NodeError> {
        crate::proof::checkpoints(&self.catalog)
    }

    /// The proof bundle of receipt `id` (hex).
    pub fn proof(&self, id: &str) -> Result<crate::proof::ProofBundle, NodeError> {
        let id = hex::decode(id)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .ok_or_else(|| {
                NodeError::Invalid(format!("{id:?} is not a receipt id (64 hex digits)"))
            })?;
        crate::proof::bundle(&self.catalog, &self.key, &id)
    }

    pub fn licenses(&self) -> Result<Vec<souk_store::LicenseSummary>, NodeError> {
        Ok(self.catalog.licenses()?)
    }

    /// Flushes and closes the blob store.
    pub async fn shutdown(self) {
        if let Err(e) = self.store.shutdown().await {
            tracing::warn!(error = %e, "blob store did not shut down cleanly");
        }
    }
}
