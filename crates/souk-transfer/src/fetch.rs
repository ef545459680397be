use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use iroh::endpoint::Connection;
use iroh::{Endpoint, EndpointAddr};
use iroh_blobs::api::remote::GetProgressItem;
use iroh_blobs::hashseq::HashSeq;
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::{Hash, HashAndFormat};
use souk_types::PublicKey;

use crate::{Arrivals, TransferError};

/// How long a provider has to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the caller hears about progress.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// A provider to fetch from: its endpoint id (its node key) and direct addresses.
#[derive(Debug, Clone)]
pub struct Source {
    pub key: PublicKey,
    pub addrs: Vec<SocketAddr>,
}

/// What one provider delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    pub key: PublicKey,
    /// Verified payload bytes received from it.
    pub bytes: u64,
    pub shards: u64,
    /// Why it was dropped, if it was.
    pub error: Option<String>,
}

/// The outcome of a dataset fetch.
#[derive(Debug, Clone)]
pub struct FetchReport {
    pub shards: u64,
    /// Payload bytes that were already in the store and were not fetched again.
    pub local_bytes: u64,
    /// Payload bytes fetched now, from all providers.
    pub fetched_bytes: u64,
    pub sources: Vec<SourceReport>,
}

/// A dataset to fetch: its shard list (an iroh-blobs hash sequence), how many shards the
/// manifest says it has, the tag that keeps what arrives from the garbage collector, and where
/// to get it.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub root: Hash,
    pub shard_count: u64,
    pub pin: String,
    pub sources: Vec<Source>,
    /// Shards requested at once from each provider.
    pub streams_per_source: usize,
    /// Told of every blob as it completes (the shard list first), and of a failure.
    pub arrivals: Option<Arc<Arrivals>>,
}

struct Provider {
    key: PublicKey,
    connection: Option<Connection>,
    bytes: AtomicU64,
    shards: AtomicU64,
    error: Mutex<Option<String>>,
}

impl Provider {
    fn fail(&self, why: String) {
        let mut error = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        error.get_or_insert(why);
    }

    fn live(&self) -> Option<&Connection> {
        let failed = self
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        self.connection.as_ref().filter(|_| !failed)
    }

    fn report(&self) -> SourceReport {
        SourceReport {
            key: self.key,
            bytes: self.bytes.load(Ordering::Relaxed),
            shards: self.shards.load(Ordering::Relaxed),
            error: self
                .error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

async fn connect(endpoint: &Endpoint, source: &Source) -> Provider {
    let id = iroh::PublicKey::from_bytes(source.key.as_bytes());
    let attempt = async {
        let id = id.map_err(|e| format!("not an endpoint id: {e}"))?;
        let addr = source
            .addrs
            .iter()
            .fold(EndpointAddr::new(id), |addr, ip| addr.with_ip_addr(*ip));
        tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect(addr, iroh_blobs::ALPN))
            .await
            .map_err(|_| "timed out connecting".to_owned())?
            .map_err(|e| format!("cannot connect: {e}"))
    };
    let (connection, error) = match attempt.await {
        Ok(connection) => (Some(connection), None),
        Err(e) => (None, Some(e)),
    };
    Provider {
        key: source.key,
        connection,
        bytes: AtomicU64::new(0),
        shards: AtomicU64::new(0),
        error: Mutex::new(error),
    }
}

/// Fetches one blob, adding verified payload bytes to `done` as they arrive.
async fn fetch_blob(
    store: &FsStore,
    connection: &Connection,
    hash: Hash,
    done: &AtomicU64,
) -> Result<u64, String> {
    let mut items = std::pin::pin!(
        store
            .remote()
            .fetch(connection.clone(), HashAndFormat::raw(hash))
            .stream()
    );
    let mut seen = 0;
    while let Some(item) = items.next().await {
        match item {
            GetProgressItem::Progress(total) => {
                done.fetch_add(total.saturating_sub(seen), Ordering::Relaxed);
                seen = seen.max(total);
            }
            GetProgressItem::Done(stats) => {
                done.fetch_add(
                    stats.payload_bytes_read.saturating_sub(seen),
                    Ordering::Relaxed,
                );
                return Ok(stats.payload_bytes_read);
            }
            GetProgressItem::Error(e) => return Err(e.to_string()),
        }
    }
    Err("the transfer ended without a result".to_owned())
}

/// Takes shards from `queue` and fetches them from `provider` until the queue is empty or the
/// provider fails; a shard it could not fetch goes back to the queue for another provider.
async fn drain(
    store: FsStore,
    provider: Arc<Provider>,
    queue: Arc<Mutex<VecDeque<Hash>>>,
    done: Arc<AtomicU64>,
    arrivals: Option<Arc<Arrivals>>,
) {
    loop {
        let Some(connection) = provider.live() else {
            return;
        };
        let Some(hash) = queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
        else {
            return;
        };
        match fetch_blob(&store, connection, hash, &done).await {
            Ok(bytes) => {
                provider.bytes.fetch_add(bytes, Ordering::Relaxed);
                provider.shards.fetch_add(1, Ordering::Relaxed);
                if let Some(arrivals) = &arrivals {
                    arrivals.mark(hash);
                }
            }
            Err(why) => {
                tracing::warn!(provider = %provider.key, %hash, %why, "dropping a provider");
                provider.fail(why);
                queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_back(hash);
                return;
            }
        }
    }
}

fn store_error(e: impl std::fmt::Display) -> TransferError {
    TransferError::Store(e.to_string())
}

/// The shard list, from the store or else from the first provider that serves it.
async fn shard_list(
    store: &FsStore,
    request: &FetchRequest,
    providers: &[Arc<Provider>],
    done: &AtomicU64,
) -> Result<Vec<Hash>, TransferError> {
    let root = request.root;
    let local = store
        .remote()
        .local(HashAndFormat::raw(root))
        .await
        .map_err(store_error)?;
    if !local.is_complete() {
        let mut fetched = false;
        for provider in providers {
            let Some(connection) = provider.live() else {
                continue;
            };
            match fetch_blob(store, connection, root, done).await {
                Ok(bytes) => {
                    provider.bytes.fetch_add(bytes, Ordering::Relaxed);
                    fetched = true;
                    break;
                }
                Err(why) => provider.fail(why),
            }
        }
        if !fetched {
            return Err(no_provider(providers));
        }
    }
    let bytes = store.blobs().get_bytes(root).await.map_err(store_error)?;
    let list = HashSeq::try_from(bytes).map_err(|e| TransferError::ShardList(e.to_string()))?;
    if list.len() as u64 != request.shard_count {
        return Err(TransferError::ShardList(format!(
            "it names {} shards, the manifest {}",
            list.len(),
            request.shard_count
        )));
    }
    Ok(list.iter().collect())
}

fn no_provider(providers: &[Arc<Provider>]) -> TransferError {
    let reasons: Vec<String> = providers
        .iter()
        .map(|p| {
            let report = p.report();
            format!(
                "{}: {}",
                report.key,
                report.error.unwrap_or_else(|| "no answer".into())
            )
        })
        .collect();
    if reasons.is_empty() {
        TransferError::NoProvider("no provider is known".to_owned())
    } else {
        TransferError::NoProvider(reasons.join("; "))
    }
}

/// Fetches every shard of a dataset into `store`, verified, from the request's providers in
/// parallel. `progress` hears the payload bytes held so far (including those already local).
pub async fn fetch_dataset(
    endpoint: &Endpoint,
    store: &FsStore,
    request: FetchRequest,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<FetchReport, TransferError> {
    let arrivals = request.arrivals.clone();
    let fetched = fetch_all(endpoint, store, request, progress).await;
    if let (Err(e), Some(arrivals)) = (&fetched, arrivals) {
        arrivals.fail(e.to_string());
    }
    fetched
}

async fn fetch_all(
    endpoint: &Endpoint,
    store: &FsStore,
    request: FetchRequest,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<FetchReport, TransferError> {
    let arrived = |hash: Hash| {
        if let Some(arrivals) = &request.arrivals {
            arrivals.mark(hash);
        }
    };
    // Pin first, durably: whatever arrives from here on survives garbage collection and a
    // crash.
    store
        .tags()
        .set(request.pin.as_str(), HashAndFormat::hash_seq(request.root))
        .await
        .map_err(store_error)?;
    store.sync_db().await.map_err(store_error)?;
    let providers: Vec<Arc<Provider>> =
        futures::future::join_all(request.sources.iter().map(|s| connect(endpoint, s)))
            .await
            .into_iter()
            .map(Arc::new)
            .collect();
    let done = Arc::new(AtomicU64::new(0));
    let shards = shard_list(store, &request, &providers, &done).await?;
    arrived(request.root);

    let mut missing = VecDeque::new();
    let mut local_bytes = 0;
    for hash in &shards {
        let local = store
            .remote()
            .local(HashAndFormat::raw(*hash))
            .await
            .map_err(store_error)?;
        local_bytes += local.local_bytes();
        if local.is_complete() {
            arrived(*hash);
        } else {
            missing.push_back(*hash);
        }
    }
    let fetched_before = done.load(Ordering::Relaxed);
    progress(local_bytes + fetched_before);
    let queue = Arc::new(Mutex::new(missing));
    let streams = request.streams_per_source.max(1);

    loop {
        let workers: Vec<_> = providers
            .iter()
            .filter(|p| p.live().is_some())
            .flat_map(|p| std::iter::repeat_n(p, streams))
            .map(|p| {
                tokio::spawn(drain(
                    store.clone(),
                    p.clone(),
                    queue.clone(),
                    done.clone(),
                    request.arrivals.clone(),
                ))
            })
            .collect();
        if workers.is_empty() {
            return Err(no_provider(&providers));
        }
        let mut all = futures::future::join_all(workers);
        let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
        loop {
            tokio::select! {
                _ = &mut all => break,
                _ = ticker.tick() => {
                    // Commit what was verified so far: a crash then costs at most one tick of
                    // transfer (the store alone commits every 500 ms).
                    if let Err(e) = store.sync_db().await {
                        tracing::warn!(error = %e, "cannot commit the blob store");
                    }
                    progress(local_bytes + done.load(Ordering::Relaxed));
                }
            }
        }
        progress(local_bytes + done.load(Ordering::Relaxed));
        // Workers stop when the queue runs dry; a failed provider's shard may have gone back
        // after the others stopped, so go round again while any shard is left.
        if queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
        {
            break;
        }
    }

    let sources: Vec<SourceReport> = providers.iter().map(|p| p.report()).collect();
    Ok(FetchReport {
        shards: shards.len() as u64,
        local_bytes,
        fetched_bytes: sources.iter().map(|s| s.bytes).sum(),
        sources,
    })
}
