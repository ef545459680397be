//! `souk buy` on a running node: a license (the one already held, or a new one negotiated and
//! paid), access at every provider that serves the dataset, the shards fetched in parallel and
//! verified, then served onward and, with an output folder, decrypted and checked.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use souk_crypto::{NodeKey, SignedLicense, SignedReceipt};
use souk_dataset::{Present, ShardArrival};
use souk_store::blobs::{BlobStore, dataset_tag};
use souk_transfer::{Arrivals, BlobsService, FetchRequest, Hash, Source};
use souk_types::{DatasetId, PublicKey};

use crate::network::NetHandle;
use crate::node::now_ms;
use crate::views::{BuyRequest, BuyView, ProviderView, TransferView};
use crate::{Node, NodeError, receipts, serving};

/// How long the DHT may take to name a dataset's providers.
const PROVIDER_LOOKUP: Duration = Duration::from_secs(3);
/// Shards requested at once from each provider.
const STREAMS_PER_PROVIDER: usize = 4;

/// Downloads in progress, for `GET /v1/transfers`.
#[derive(Debug, Default)]
pub(crate) struct Transfers(Mutex<HashMap<DatasetId, TransferView>>);

impl Transfers {
    fn set(&self, id: DatasetId, done: u64, total: u64) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.insert(
            id,
            TransferView {
                dataset: id.to_hex(),
                done_bytes: done,
                total_bytes: total,
            },
        );
    }

    fn finish(&self, id: &DatasetId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    pub(crate) fn list(&self) -> Vec<TransferView> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

/// Shards of a download in progress, as the extraction waits for them.
struct Arriving<'a>(&'a Arrivals);

impl ShardArrival for Arriving<'_> {
    fn arrived(&self, hash: Hash) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(self.0.wait(hash))
    }
}

/// What a purchase needs from the running node.
pub(crate) struct Buyer<'a> {
    pub(crate) node: &'a tokio::sync::Mutex<Node>,
    pub(crate) net: &'a NetHandle,
    pub(crate) blobs: &'a BlobsService,
    pub(crate) store: &'a BlobStore,
    pub(crate) transfers: &'a Transfers,
    pub(crate) serve_bought: bool,
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn invalid(e: impl ToString) -> NodeError {
    NodeError::Invalid(e.to_string())
}

impl Buyer<'_> {
    pub(crate) async fn buy(&self, request: BuyRequest) -> Result<BuyView, NodeError> {
        let started = Instant::now();
        let id: DatasetId = request.dataset.parse().map_err(invalid)?;
        let (stored, me, held) = {
            let node = self.node.lock().await;
            let held = node.catalog().license_bought(&id, now_ms())?;
            (node.show(&id)?, node.key().public(), held)
        };
        let manifest = &stored.signed.manifest;
        let (envelope, paid_now, rounds, receipt) = match held {
            Some(envelope) => (envelope, false, 0, (None, None)),
            None => {
                let purchase = self
                    .net
                    .buy(id, manifest.publisher, request.max_price, request.bid)
                    .await
                    .map_err(NodeError::Invalid)?;
                let envelope = self
                    .node
                    .lock()
                    .await
                    .catalog()
                    .license_bought(&id, now_ms())?
                    .ok_or_else(|| invalid("the license just bought is not on record"))?;
                let receipt = (purchase.receipt_id, purchase.receipt_index);
                (envelope, true, purchase.rounds, receipt)
            }
        };
        let license = SignedLicense::open(&envelope).map_err(invalid)?;

        let already_served = self.blobs.gate().lock().holds(&id);
        let arrivals = Arc::new(Arrivals::default());
        let arriving = Arriving(&arrivals);
        let arrival: &dyn ShardArrival = if already_served { &Present } else { &arriving };
        // Shards are decrypted as they arrive, while later ones are still being fetched.
        let extracting = async {
            let Some(out) = &request.out else {
                return Ok(None);
            };
            let mut node = self.node.lock().await;
            let stats = node
                .extract_as_it_arrives(&id, out, arrival, &|_| {})
                .await?;
            Ok::<_, NodeError>(Some(stats.files))
        };
        let fetching = async {
            if already_served {
                return Ok((Vec::new(), None, 0));
            }
            let total = manifest.ciphertext_size();
            self.transfers.set(id, 0, total);
            let fetch_started = Instant::now();
            let fetched = self
                .fetch(id, me, manifest, &envelope, total, arrivals.clone())
                .await;
            self.transfers.finish(&id);
            let (providers, report) = fetched?;
            Ok::<_, NodeError>((providers, Some(report), millis(fetch_started)))
        };
        let (fetched, extracted) = tokio::join!(fetching, extracting);
        // A failed fetch also fails the extraction waiting on it: report the cause.
        let (mut providers, fetch, fetch_ms) = fetched?;
        let extracted = extracted?;
        let holder = NodeKey::from_seed(*self.node.lock().await.key().seed());
        let deliveries = providers
            .iter()
            .filter(|p| p.bytes > 0 && p.error.is_none())
            .map(|p| self.receipt_delivery(&holder, &license, &envelope, p));
        for (receipt, provider) in futures::future::join_all(deliveries).await.into_iter().zip(
            providers
                .iter_mut()
                .filter(|p| p.bytes > 0 && p.error.is_none()),
        ) {
            match receipt {
                Ok(id) => provider.delivery_receipt = Some(id),
                Err(e) => {
                    tracing::warn!(provider = %provider.peer_id, error = %e, "no delivery receipt")
                }
            }
        }

        let serve_onward = !already_served && (self.serve_bought || manifest.publisher == me);
        if serve_onward
            && serving::serve(self.store, self.blobs.gate(), id, manifest.shards.root).await
        {
            self.net.provide(id).await;
        }

        let l = &license.license;
        Ok(BuyView {
            dataset: id.to_hex(),
            license_id: hex::encode(license.id),
            price: l.price,
            currency: l.currency.clone(),
            paid_now,
            rounds,
            receipt_id: receipt.0,
            receipt_index: receipt.1,
            expires_at_ms: l.expires_at_ms,
            shards: manifest.shards.shard_count,
            fetched_bytes: fetch.as_ref().map_or(0, |r| r.fetched_bytes),
            local_bytes: fetch.as_ref().map_or(0, |r| r.local_bytes),
            providers,
            out: request.out.clone(),
            files: extracted,
            fetch_ms,
            elapsed_ms: millis(started),
        })
    }

    /// Asks `provider` for its receipt of what it delivered, countersigns it and sends it back
    /// to be logged; returns the receipt id.
    async fn receipt_delivery(
        &self,
        holder: &NodeKey,
        license: &SignedLicense,
        envelope: &[u8],
        provider: &ProviderView,
    ) -> Result<String, String> {
        use souk_proto::v1::{self, negotiation_response::Message};
        let key: PublicKey = provider.peer_id.parse().map_err(|_| "not a peer key")?;
        let claim = v1::NegotiationRequest {
            message: Some(v1::negotiation_request::Message::Delivery(
                v1::DeliveryClaim {
                    license: envelope.to_vec(),
                    bytes: provider.bytes,
                },
            )),
        };
        let receipt = match self.net.negotiate(key, claim).await?.message {
            Some(Message::DeliveryReceipt(receipt)) => receipt,
            other => return Err(format!("the provider answered {other:?}")),
        };
        let signature =
            receipts::countersign_delivery(holder, license, key, provider.bytes, &receipt)?;
        let id = SignedReceipt::open(&receipt).map_err(|e| e.to_string())?.id;
        let countersigned = souk_core::wire::countersign_request(receipt, signature);
        match self.net.negotiate(key, countersigned).await?.message {
            Some(Message::Logged(_)) => Ok(hex::encode(id)),
            other => Err(format!("the provider did not log the receipt: {other:?}")),
        }
    }

    /// Every peer that may serve the dataset: its publisher and the providers the DHT names.
    async fn providers(
        &self,
        id: DatasetId,
        publisher: PublicKey,
        me: PublicKey,
    ) -> Vec<PublicKey> {
        let found = tokio::time::timeout(PROVIDER_LOOKUP, self.net.providers(id))
            .await
            .unwrap_or_default();
        let mut all: BTreeSet<PublicKey> = found.iter().filter_map(|p| p.parse().ok()).collect();
        all.insert(publisher);
        all.remove(&me);
        // The publisher first: it always holds the whole dataset.
        let mut ordered = vec![publisher];
        ordered.extend(all.into_iter().filter(|p| *p != publisher));
        ordered.retain(|p| *p != me);
        ordered
    }

    async fn fetch(
        &self,
        id: DatasetId,
        me: PublicKey,
        manifest: &souk_types::Manifest,
        license: &[u8],
        total: u64,
        arrivals: Arc<Arrivals>,
    ) -> Result<(Vec<ProviderView>, souk_transfer::FetchReport), NodeError> {
        let candidates = self.providers(id, manifest.publisher, me).await;
        let answers = futures::future::join_all(
            candidates
                .iter()
                .map(|p| self.net.request_access(*p, license.to_vec())),
        )
        .await;
        let mut refused = Vec::new();
        let mut sources = Vec::new();
        for (key, answer) in candidates.iter().zip(answers) {
            match answer {
                Ok(addrs) if !addrs.is_empty() => sources.push(Source { key: *key, addrs }),
                Ok(_) => refused.push((*key, "no usable blobs address".to_owned())),
                Err(e) => refused.push((*key, e)),
            }
        }
        let request = FetchRequest {
            root: Hash::from_bytes(manifest.shards.root),
            shard_count: manifest.shards.shard_count,
            pin: dataset_tag(&id),
            sources,
            streams_per_source: STREAMS_PER_PROVIDER,
            arrivals: Some(arrivals),
        };
        let progress = |done: u64| self.transfers.set(id, done, total);
        let report =
            souk_transfer::fetch_dataset(self.blobs.endpoint(), self.store, request, &progress)
                .await
                .map_err(|e| match refused.is_empty() {
                    true => invalid(e),
                    false => invalid(format!(
                        "{e}; refused: {}",
                        refused
                            .iter()
                            .map(|(k, why)| format!("{k}: {why}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )),
                })?;
        let mut providers: Vec<ProviderView> = report
            .sources
            .iter()
            .map(|s| ProviderView {
                peer_id: s.key.to_peer_id(),
                bytes: s.bytes,
                shards: s.shards,
                error: s.error.clone(),
                delivery_receipt: None,
            })
            .collect();
        providers.extend(refused.into_iter().map(|(key, why)| ProviderView {
            peer_id: key.to_peer_id(),
            bytes: 0,
            shards: 0,
            error: Some(why),
            delivery_receipt: None,
        }));
        Ok((providers, report))
    }
}
