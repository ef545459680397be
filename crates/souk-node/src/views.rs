//! What the CLI prints and the control API returns: one set of serde types for both, so a
//! command gives the same JSON whether it ran in-process or through a running node.

use serde::{Deserialize, Serialize};
use souk_store::{DatasetSummary, StoredDataset};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdView {
    pub peer_id: String,
    pub public_key: String,
    /// Present while the node runs: full multiaddrs with `/p2p/<peer id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_addrs: Option<Vec<String>>,
    /// Present while the node runs: the UDP address of its iroh-blobs endpoint, whose
    /// endpoint id is `public_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs_addr: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryView {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    pub publisher: String,
    pub created_at_ms: u64,
    pub shard_count: u64,
    pub size: u64,
    pub has_key: bool,
}

impl From<&DatasetSummary> for SummaryView {
    fn from(d: &DatasetSummary) -> Self {
        Self {
            id: d.id.to_hex(),
            name: d.name.clone(),
            tags: d.tags.clone(),
            publisher: d.publisher.to_peer_id(),
            created_at_ms: d.created_at_ms,
            shard_count: d.shard_count,
            size: d.plaintext_size,
            has_key: d.has_key,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncryptionView {
    pub scheme: String,
    pub key_commitment: String,
    pub plaintext_commitment: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContributorView {
    pub key: String,
    pub weight_bps: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParentView {
    pub dataset: String,
    pub share_bps: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferView {
    pub price: u64,
    pub currency: String,
    pub rights: String,
    pub duration_secs: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PolicyView {
    pub list_price: u64,
    pub floor_price: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub media_type: String,
    pub version: u32,
    pub previous_version: Option<String>,
    pub publisher: String,
    pub created_at_ms: u64,
    pub size: u64,
    pub ciphertext_size: u64,
    pub shard_size: u64,
    pub shard_count: u64,
    pub shard_root: String,
    pub shard_list_inline: bool,
    pub encryption: EncryptionView,
    pub contributors: Vec<ContributorView>,
    pub parents: Vec<ParentView>,
    pub offers: Vec<OfferView>,
    pub has_key: bool,
    /// This node's private pricing, when it sells the dataset.
    pub seller_policy: Option<PolicyView>,
    /// Peers advertising the dataset in the DHT (only known while the node runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub providers: Option<Vec<String>>,
}

impl From<&StoredDataset> for DatasetView {
    fn from(stored: &StoredDataset) -> Self {
        let signed = &stored.signed;
        let m = &signed.manifest;
        Self {
            id: signed.id.to_hex(),
            name: m.name.clone(),
            description: m.description.clone(),
            tags: m.tags.clone(),
            media_type: m.media_type.clone(),
            version: m.version,
            previous_version: m.previous_version.map(|id| id.to_hex()),
            publisher: m.publisher.to_peer_id(),
            created_at_ms: m.created_at_ms,
            size: m.shards.plaintext_size,
            ciphertext_size: m.ciphertext_size(),
            shard_size: m.shards.shard_size,
            shard_count: m.shards.shard_count,
            shard_root: hex::encode(m.shards.root),
            shard_list_inline: !m.shards.hashes.is_empty(),
            encryption: EncryptionView {
                scheme: "chacha20-poly1305-v1".to_owned(),
                key_commitment: hex::encode(m.encryption.key_commitment),
                plaintext_commitment: hex::encode(m.encryption.plaintext_commitment),
            },
            contributors: m
                .contributors
                .iter()
                .map(|c| ContributorView {
                    key: c.key.to_peer_id(),
                    weight_bps: c.weight_bps,
                })
                .collect(),
            parents: m
                .parents
                .iter()
                .map(|p| ParentView {
                    dataset: p.dataset.to_hex(),
                    share_bps: p.share_bps,
                })
                .collect(),
            offers: m
                .offers
                .iter()
                .map(|o| OfferView {
                    price: o.price,
                    currency: o.currency.clone(),
                    rights: o.rights.as_str().to_owned(),
                    duration_secs: o.duration_secs,
                })
                .collect(),
            has_key: stored.has_key,
            seller_policy: stored.policy.map(|p| PolicyView {
                list_price: p.list_price,
                floor_price: p.floor_price,
            }),
            providers: None,
        }
    }
}

/// What a publish did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishView {
    pub id: String,
    pub name: String,
    pub files: usize,
    pub data_size: u64,
    pub plaintext_size: u64,
    pub ciphertext_size: u64,
    pub shard_size: u64,
    pub shard_count: u64,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportView {
    pub id: String,
    pub added: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtractView {
    pub id: String,
    pub out: std::path::PathBuf,
    pub files: u64,
    pub bytes: u64,
}

/// The body of an extract request to the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtractRequest {
    pub out: std::path::PathBuf,
}

/// Every API error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorView {
    pub error: String,
}

/// The body of a buy request to the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuyRequest {
    pub dataset: String,
    pub max_price: u64,
    pub bid: Option<u64>,
    /// Where to write the decrypted files; absent to only fetch the shards.
    #[serde(default)]
    pub out: Option<std::path::PathBuf>,
}

/// One provider of a purchase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderView {
    pub peer_id: String,
    /// Verified bytes received from it.
    pub bytes: u64,
    pub shards: u64,
    /// Why it was refused or dropped, if it was.
    pub error: Option<String>,
    /// The provider's receipt for this delivery, countersigned and in its log.
    #[serde(default)]
    pub delivery_receipt: Option<String>,
}

/// A completed `souk buy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuyView {
    pub dataset: String,
    pub license_id: String,
    pub price: u64,
    pub currency: String,
    /// False when a license already held was used (nothing was paid this time).
    pub paid_now: bool,
    pub rounds: u32,
    /// The sale receipt countersigned for this purchase (when paid now) and its index in the
    /// seller's receipt log.
    pub receipt_id: Option<String>,
    pub receipt_index: Option<u64>,
    pub expires_at_ms: u64,
    pub shards: u64,
    /// Bytes fetched in this run, from all providers.
    pub fetched_bytes: u64,
    /// Bytes already in the store from an earlier, interrupted run.
    pub local_bytes: u64,
    pub providers: Vec<ProviderView>,
    pub out: Option<std::path::PathBuf>,
    pub files: Option<u64>,
    /// Time spent getting access and fetching the shards.
    pub fetch_ms: u64,
    /// Time for the whole command: negotiation, fetch, decryption.
    pub elapsed_ms: u64,
}

/// A download in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferView {
    pub dataset: String,
    pub done_bytes: u64,
    pub total_bytes: u64,
}

/// One license bought or sold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LicenseView {
    pub id: String,
    pub dataset: String,
    pub role: String,
    pub counterparty: String,
    pub price: u64,
    pub expires_at_ms: u64,
    pub created_at_ms: u64,
}

impl From<&souk_store::LicenseSummary> for LicenseView {
    fn from(l: &souk_store::LicenseSummary) -> Self {
        Self {
            id: l.id.clone(),
            dataset: l.dataset.to_hex(),
            role: if l.bought { "bought" } else { "sold" }.to_owned(),
            counterparty: l.counterparty.to_peer_id(),
            price: l.price,
            expires_at_ms: l.expires_at_ms,
            created_at_ms: l.created_at_ms,
        }
    }
}

/// One part of a sale's split.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SplitView {
    pub dataset: String,
    pub contributor: String,
    pub amount: u64,
}

/// One receipt of this node's receipt log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiptView {
    /// Its leaf index in the log.
    pub index: u64,
    pub id: String,
    /// `sale` or `delivery`.
    pub kind: String,
    pub dataset: String,
    pub buyer: String,
    /// The seller of a sale, the provider of a delivery.
    pub issuer: String,
    /// Units paid (a sale) or bytes delivered (a delivery).
    pub amount: u64,
    pub currency: Option<String>,
    pub split: Vec<SplitView>,
    pub created_at_ms: u64,
}

impl ReceiptView {
    /// The view of a logged receipt, whose leaf is checked again on the way.
    pub fn of(logged: &souk_store::LoggedReceipt) -> Result<Self, String> {
        use souk_types::Receipt;
        let leaf = souk_crypto::CountersignedReceipt::open_leaf(&logged.leaf)
            .map_err(|e| format!("receipt {} is damaged: {e}", logged.index))?;
        let receipt = &leaf.signed.receipt;
        let (amount, currency, split) = match receipt {
            Receipt::Sale(sale) => (
                sale.amount,
                Some(sale.currency.clone()),
                sale.split
                    .iter()
                    .map(|p| SplitView {
                        dataset: p.dataset.to_hex(),
                        contributor: p.contributor.to_peer_id(),
                        amount: p.amount,
                    })
                    .collect(),
            ),
            Receipt::Delivery(delivery) => (delivery.bytes, None, Vec::new()),
        };
        Ok(Self {
            index: logged.index,
            id: hex::encode(logged.id),
            kind: logged.kind.clone(),
            dataset: logged.dataset.to_hex(),
            buyer: receipt.buyer().to_peer_id(),
            issuer: receipt.issuer().to_peer_id(),
            amount,
            currency,
            split,
            created_at_ms: logged.created_at_ms,
        })
    }
}

/// What one contributor earned across this node's receipt log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EarningsView {
    pub contributor: String,
    pub currency: String,
    pub amount: u64,
    /// Sales that paid this contributor something.
    pub sales: u64,
}

/// Sums the splits of `receipts` per contributor and currency, largest first.
pub fn earnings(receipts: &[ReceiptView]) -> Vec<EarningsView> {
    let mut totals: std::collections::BTreeMap<(String, String), (u64, u64)> =
        std::collections::BTreeMap::new();
    for receipt in receipts {
        let Some(currency) = &receipt.currency else {
            continue;
        };
        let mut paid: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        for part in &receipt.split {
            let entry = totals
                .entry((part.contributor.clone(), currency.clone()))
                .or_insert((0, 0));
            entry.0 = entry.0.saturating_add(part.amount);
            if paid.insert(&part.contributor) {
                entry.1 += 1;
            }
        }
    }
    let mut list: Vec<EarningsView> = totals
        .into_iter()
        .map(|((contributor, currency), (amount, sales))| EarningsView {
            contributor,
            currency,
            amount,
            sales,
        })
        .collect();
    list.sort_by(|a, b| {
        b.amount
            .cmp(&a.amount)
            .then(a.contributor.cmp(&b.contributor))
    });
    list
}
