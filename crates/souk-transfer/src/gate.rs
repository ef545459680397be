//! Who may fetch what from this node: the datasets it holds and serves, and the license holders
//! it has admitted to each, until their licenses expire.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use iroh_blobs::Hash;
use iroh_blobs::provider::events::{
    AbortReason, ConnectMode, EventMask, EventResult, EventSender, ObserveMode, ProviderMessage,
    RequestMode,
};
use souk_types::{DatasetId, PublicKey};

/// The blobs of one dataset this node serves: its shard list (a hash sequence) and its shards.
#[derive(Debug, Clone)]
pub struct Holding {
    pub root: Hash,
    pub shards: HashSet<Hash>,
}

/// The access rules, without I/O: every decision takes the current time.
#[derive(Debug, Default)]
pub struct Grants {
    held: HashMap<DatasetId, Holding>,
    /// Per admitted endpoint: the datasets it may read and until when (ms since the epoch).
    admitted: HashMap<PublicKey, HashMap<DatasetId, u64>>,
    /// Open connections and the endpoint each one authenticated as.
    connections: HashMap<u64, PublicKey>,
}

impl Grants {
    pub fn hold(&mut self, dataset: DatasetId, holding: Holding) {
        self.held.insert(dataset, holding);
    }

    pub fn holds(&self, dataset: &DatasetId) -> bool {
        self.held.contains_key(dataset)
    }

    pub fn held(&self) -> Vec<DatasetId> {
        self.held.keys().copied().collect()
    }

    /// Lets `reader` fetch `dataset` until `until_ms`. A later grant for the same pair replaces
    /// an earlier one only if it lasts longer.
    pub fn admit(&mut self, reader: PublicKey, dataset: DatasetId, until_ms: u64) {
        let until = self
            .admitted
            .entry(reader)
            .or_default()
            .entry(dataset)
            .or_insert(until_ms);
        *until = (*until).max(until_ms);
    }

    /// Drops the grants that expired, so the table only holds live ones.
    pub fn prune(&mut self, now_ms: u64) {
        self.admitted.retain(|_, datasets| {
            datasets.retain(|_, until| *until > now_ms);
            !datasets.is_empty()
        });
    }

    /// Whether `reader` holds a live grant for `dataset`.
    pub fn admitted(&self, reader: &PublicKey, dataset: &DatasetId, now_ms: u64) -> bool {
        self.admitted
            .get(reader)
            .and_then(|datasets| datasets.get(dataset))
            .is_some_and(|until| *until > now_ms)
    }

    /// Whether `reader` may open a connection at all: it holds a live grant.
    pub fn may_connect(&self, reader: &PublicKey, now_ms: u64) -> bool {
        self.admitted
            .get(reader)
            .is_some_and(|datasets| datasets.values().any(|until| *until > now_ms))
    }

    /// Whether `reader` may read `hash`: as a single blob if it is one of a granted dataset's
    /// shards or shard list, or with its children only if it is a granted dataset's shard list
    /// (whose children are exactly that dataset's shards).
    pub fn may_read(
        &self,
        reader: &PublicKey,
        hash: &Hash,
        with_children: bool,
        now_ms: u64,
    ) -> bool {
        let Some(datasets) = self.admitted.get(reader) else {
            return false;
        };
        datasets
            .iter()
            .filter(|(_, until)| **until > now_ms)
            .filter_map(|(dataset, _)| self.held.get(dataset))
            .any(|holding| {
                holding.root == *hash || (!with_children && holding.shards.contains(hash))
            })
    }

    fn connected(&mut self, connection: u64, reader: PublicKey) {
        self.connections.insert(connection, reader);
    }

    fn closed(&mut self, connection: u64) {
        self.connections.remove(&connection);
    }

    fn reader_of(&self, connection: u64) -> Option<PublicKey> {
        self.connections.get(&connection).copied()
    }
}

/// The shared access rules of a running provider.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    grants: Arc<Mutex<Grants>>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn verdict(allowed: bool) -> EventResult {
    if allowed {
        Ok(())
    } else {
        Err(AbortReason::Permission)
    }
}

impl Gate {
    /// The rules, for a short synchronous look or change (never held across an await).
    pub fn lock(&self) -> MutexGuard<'_, Grants> {
        // The rules stay consistent even if a holder panicked: every change is one insert.
        self.grants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The event sender to give the blobs protocol: every connection and request is put to
    /// this gate. Pushes stay disabled, and get-many requests are refused outright (the
    /// fetcher never sends them) so no request names hashes the gate did not check one by one.
    pub fn event_sender(&self) -> EventSender {
        let mask = EventMask {
            connected: ConnectMode::Intercept,
            get: RequestMode::Intercept,
            get_many: RequestMode::Disabled,
            push: RequestMode::Disabled,
            observe: ObserveMode::Intercept,
            ..EventMask::DEFAULT
        };
        let (sender, mut events) = EventSender::channel(64, mask);
        let gate = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                gate.decide(event).await;
            }
        });
        sender
    }

    async fn decide(&self, event: ProviderMessage) {
        let now = now_ms();
        match event {
            ProviderMessage::ClientConnected(msg) => {
                let reader = msg
                    .endpoint_id
                    .map(|id| PublicKey::from_bytes(*id.as_bytes()));
                let allowed = match reader {
                    Some(reader) => {
                        let mut grants = self.lock();
                        let allowed = grants.may_connect(&reader, now);
                        if allowed {
                            grants.connected(msg.connection_id, reader);
                        }
                        allowed
                    }
                    None => false,
                };
                if !allowed {
                    tracing::info!(?reader, "refused a blobs connection without a license");
                }
                msg.tx.send(verdict(allowed)).await.ok();
            }
            ProviderMessage::ConnectionClosed(msg) => self.lock().closed(msg.connection_id),
            ProviderMessage::GetRequestReceived(msg) => {
                let request = &msg.request;
                let allowed = {
                    let grants = self.lock();
                    grants.reader_of(msg.connection_id).is_some_and(|reader| {
                        grants.may_read(&reader, &request.hash, !request.ranges.is_blob(), now)
                    })
                };
                if !allowed {
                    tracing::info!(hash = %request.hash, "refused a blob outside the reader's licenses");
                }
                msg.tx.send(verdict(allowed)).await.ok();
            }
            ProviderMessage::ObserveRequestReceived(msg) => {
                let allowed = {
                    let grants = self.lock();
                    grants.reader_of(msg.connection_id).is_some_and(|reader| {
                        grants.may_read(&reader, &msg.request.hash, false, now)
                    })
                };
                msg.tx.send(verdict(allowed)).await.ok();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        PublicKey::from_bytes([n; 32])
    }

    fn holding(n: u8) -> Holding {
        Holding {
            root: Hash::new([n]),
            shards: [Hash::new([n, 1]), Hash::new([n, 2])].into_iter().collect(),
        }
    }

    #[test]
    fn a_reader_reads_its_datasets_only_until_expiry() {
        let (a, b) = (
            DatasetId::from_bytes([1; 32]),
            DatasetId::from_bytes([2; 32]),
        );
        let mut grants = Grants::default();
        grants.hold(a, holding(1));
        grants.hold(b, holding(2));
        let (reader, stranger) = (key(7), key(8));
        grants.admit(reader, a, 1_000);

        assert!(grants.may_connect(&reader, 999));
        assert!(!grants.may_connect(&stranger, 999));
        assert!(grants.may_read(&reader, &Hash::new([1, 1]), false, 999));
        assert!(grants.may_read(&reader, &Hash::new([1]), true, 999));
        assert!(
            !grants.may_read(&reader, &Hash::new([1, 1]), true, 999),
            "a shard as a sequence"
        );
        assert!(
            !grants.may_read(&reader, &Hash::new([2, 1]), false, 999),
            "another dataset"
        );
        assert!(!grants.may_read(&reader, &Hash::new([2]), true, 999));
        assert!(!grants.may_read(&stranger, &Hash::new([1, 1]), false, 999));

        assert!(!grants.may_connect(&reader, 1_000));
        assert!(!grants.may_read(&reader, &Hash::new([1, 1]), false, 1_000));
        grants.prune(1_000);
        assert!(grants.admitted.is_empty());
    }

    #[test]
    fn a_shorter_grant_does_not_cut_a_longer_one() {
        let a = DatasetId::from_bytes([1; 32]);
        let mut grants = Grants::default();
        grants.hold(a, holding(1));
        grants.admit(key(7), a, 5_000);
        grants.admit(key(7), a, 2_000);
        assert!(grants.may_read(&key(7), &Hash::new([1, 2]), false, 4_000));
    }

    #[test]
    fn a_grant_for_a_dataset_not_held_reads_nothing() {
        let a = DatasetId::from_bytes([1; 32]);
        let mut grants = Grants::default();
        grants.admit(key(7), a, 5_000);
        assert!(!grants.may_read(&key(7), &Hash::new([1, 2]), false, 1));
    }
}
