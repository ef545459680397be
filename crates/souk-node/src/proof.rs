//! Checkpoints of the receipt log, the local anchor chain, and proof bundles: everything an
//! auditor needs to check one receipt with no node running.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use souk_crypto::checkpoint::{
    Checkpoint, anchor_link, cosignature_name, origin_peer, receipts_origin, split_cosignatures,
    witness_peer,
};
use souk_crypto::envelope::{sign_detached, verify_detached};
use souk_crypto::merkle::{Digest, MerkleTree, leaf_hash, verify_inclusion};
use souk_crypto::{CountersignedReceipt, NodeKey};
use souk_store::{AnchorLink, Catalog, EvmAnchor, EvmAnchorStatus};

use crate::NodeError;

/// Largest proof bundle `souk verify` reads.
pub const MAX_BUNDLE_BYTES: usize = 4 << 20;

/// A proof that one receipt is in a node's log, under a signed and anchored checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProofBundle {
    /// Base64 of the countersigned receipt: the exact log leaf.
    pub receipt: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The audit path, hex.
    pub inclusion_proof: Vec<String>,
    /// The checkpoint as a signed note.
    pub checkpoint: String,
    /// Witness cosignature lines.
    pub cosignatures: Vec<String>,
    pub anchor: AnchorProof,
}

/// Where the checkpoint is anchored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, tag = "backend", rename_all = "lowercase")]
pub enum AnchorProof {
    /// The node's hash-linked local anchor chain.
    Local {
        seq: u64,
        prev: String,
        hash: String,
    },
    /// The SoukAnchor contract on an EVM chain.
    Evm {
        chain_id: u64,
        contract: String,
        transaction: String,
        block_number: u64,
        /// The address that submitted the checkpoint.
        submitter: String,
        /// The log owner's signature (hex) declaring that `submitter` anchors its log on this
        /// chain: see [`submitter_statement`].
        submitter_statement: String,
    },
}

/// What a log owner signs (kind `evm-submitter`) to declare the EVM address that anchors its
/// log on a chain.
pub fn submitter_statement(origin: &str, chain_id: u64, submitter: &str) -> Vec<u8> {
    format!("{origin}\n{chain_id}\n{}\n", submitter.to_ascii_lowercase()).into_bytes()
}

const SUBMITTER_KIND: &str = "evm-submitter";

/// An anchor on an EVM chain, as a bundle claims it: what `verify_on_chain` checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EvmClaim {
    pub chain_id: u64,
    pub contract: String,
    pub transaction: String,
    pub block_number: u64,
    pub submitter: String,
    pub origin: String,
    pub size: u64,
    /// Hex.
    pub root: String,
}

/// One link of the anchor chain, as `souk checkpoints` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointView {
    pub seq: u64,
    pub size: u64,
    pub root: String,
    pub note: String,
    pub hash: String,
    pub created_at_ms: u64,
    /// The checkpoint's latest transaction on an EVM chain, if it was sent to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evm: Option<EvmAnchorView>,
}

/// An anchor transaction, as `souk checkpoints` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EvmAnchorView {
    /// `sent`, `confirmed` or `failed`.
    pub status: String,
    pub chain_id: u64,
    pub contract: String,
    pub transaction: String,
    pub block_number: Option<u64>,
    pub gas_used: Option<u64>,
}

impl From<&EvmAnchor> for EvmAnchorView {
    fn from(anchor: &EvmAnchor) -> Self {
        Self {
            status: match anchor.status {
                EvmAnchorStatus::Sent => "sent",
                EvmAnchorStatus::Confirmed => "confirmed",
                EvmAnchorStatus::Failed => "failed",
            }
            .to_owned(),
            chain_id: anchor.chain_id,
            contract: anchor.contract.clone(),
            transaction: format!("0x{}", hex::encode(anchor.tx_hash)),
            block_number: anchor.block_number,
            gas_used: anchor.gas_used,
        }
    }
}

impl From<&AnchorLink> for CheckpointView {
    fn from(link: &AnchorLink) -> Self {
        Self {
            seq: link.seq,
            size: link.size,
            root: hex::encode(link.root),
            note: link.note.clone(),
            hash: hex::encode(link.hash),
            created_at_ms: link.created_at_ms,
            evm: None,
        }
    }
}

/// The anchor chain with each link's latest EVM transaction.
pub(crate) fn checkpoints(catalog: &Catalog) -> Result<Vec<CheckpointView>, NodeError> {
    let sent = catalog.evm_anchors()?;
    Ok(catalog
        .anchors()?
        .iter()
        .map(|link| CheckpointView {
            evm: sent
                .iter()
                .rev()
                .find(|a| a.seq == link.seq)
                .map(EvmAnchorView::from),
            ..CheckpointView::from(link)
        })
        .collect())
}

/// What a verified bundle proves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifiedProof {
    pub receipt: crate::views::ReceiptView,
    pub origin: String,
    pub tree_size: u64,
    /// Peer ids of the witnesses whose cosignatures verified.
    pub witnesses: Vec<String>,
    pub anchor: String,
    /// The chain anchor still to check against the chain, for EVM bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evm: Option<EvmClaim>,
}

fn tree(catalog: &Catalog) -> Result<MerkleTree, NodeError> {
    let mut tree = MerkleTree::new();
    for hash in catalog.receipt_leaf_hashes()? {
        tree.push(hash);
    }
    Ok(tree)
}

/// A checkpoint of the whole receipt log, signed by the node, with the tree it heads.
pub(crate) struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    /// The signed note.
    pub note: String,
    pub tree: MerkleTree,
}

/// Signs a checkpoint of the receipt log, if it holds anything.
pub(crate) fn sign_checkpoint(
    catalog: &Catalog,
    key: &NodeKey,
) -> Result<SignedCheckpoint, NodeError> {
    let tree = tree(catalog)?;
    if tree.size() == 0 {
        return Err(NodeError::Invalid(
            "the receipt log is empty: there is nothing to anchor yet".to_owned(),
        ));
    }
    let checkpoint = Checkpoint {
        origin: receipts_origin(&key.public()),
        size: tree.size(),
        root: tree.root(),
    };
    let note = checkpoint.sign(key);
    Ok(SignedCheckpoint {
        checkpoint,
        note,
        tree,
    })
}

/// Appends `signed`, with the cosignature lines gathered for it, to the local anchor chain.
pub(crate) fn record_anchor(
    catalog: &mut Catalog,
    signed: &SignedCheckpoint,
    cosignatures: &[String],
    now_ms: u64,
) -> Result<CheckpointView, NodeError> {
    let note = format!("{}{}", signed.note, cosignatures.concat());
    let link = catalog.anchor_locally(
        signed.checkpoint.size,
        &signed.checkpoint.root,
        &note,
        now_ms,
    )?;
    Ok(CheckpointView::from(&link))
}

/// Signs a checkpoint of the whole receipt log and anchors it with no witness.
pub(crate) fn anchor_now(
    catalog: &mut Catalog,
    key: &NodeKey,
    now_ms: u64,
) -> Result<CheckpointView, NodeError> {
    let signed = sign_checkpoint(catalog, key)?;
    record_anchor(catalog, &signed, &[], now_ms)
}

/// Whether at least `min_new` receipts arrived since the last anchor.
pub(crate) fn anchor_due(catalog: &Catalog, min_new: u64) -> Result<bool, NodeError> {
    let logged = catalog.receipt_count()?;
    let anchored = last_anchored_size(catalog)?;
    Ok(logged >= anchored.saturating_add(min_new.max(1)))
}

/// The size of the last anchored checkpoint, 0 before the first.
pub(crate) fn last_anchored_size(catalog: &Catalog) -> Result<u64, NodeError> {
    Ok(catalog.anchors()?.last().map_or(0, |a| a.size))
}

/// The proof bundle of receipt `id` under the strongest anchor covering it: the newest
/// checkpoint confirmed on an EVM chain if there is one, else the newest on the local chain.
pub(crate) fn bundle(
    catalog: &Catalog,
    key: &NodeKey,
    id: &[u8; 32],
) -> Result<ProofBundle, NodeError> {
    let logged = catalog.receipt(id)?.ok_or_else(|| {
        NodeError::Invalid(format!(
            "receipt {} is not in this node's log",
            hex::encode(id)
        ))
    })?;
    let links = catalog.anchors()?;
    let on_chain = catalog
        .evm_anchors()?
        .into_iter()
        .filter(|a| a.status == EvmAnchorStatus::Confirmed && a.size > logged.index)
        .max_by_key(|a| a.size)
        .and_then(|a| Some((links.iter().find(|l| l.seq == a.seq)?.clone(), a)));
    let (link, evm) = match on_chain {
        Some((link, evm)) => (link, Some(evm)),
        None => {
            let link = links
                .last()
                .filter(|a| a.size > logged.index)
                .cloned()
                .ok_or_else(|| {
                    NodeError::Invalid(
                        "the receipt is not anchored yet: run `souk anchor --now` first".to_owned(),
                    )
                })?;
            (link, None)
        }
    };
    let proof = tree(catalog)?
        .inclusion_proof(logged.index, link.size)
        .ok_or_else(|| NodeError::Store("the anchored checkpoint exceeds the log".to_owned()))?;
    let (checkpoint, cosignatures) = split_cosignatures(&link.note);
    let anchor = match evm {
        None => AnchorProof::Local {
            seq: link.seq,
            prev: hex::encode(link.prev),
            hash: hex::encode(link.hash),
        },
        Some(evm) => {
            let origin = receipts_origin(&key.public());
            let statement = submitter_statement(&origin, evm.chain_id, &evm.submitter);
            AnchorProof::Evm {
                chain_id: evm.chain_id,
                contract: evm.contract.clone(),
                transaction: format!("0x{}", hex::encode(evm.tx_hash)),
                block_number: evm.block_number.unwrap_or_default(),
                submitter: evm.submitter.clone(),
                submitter_statement: hex::encode(sign_detached(key, SUBMITTER_KIND, &statement)),
            }
        }
    };
    Ok(ProofBundle {
        receipt: STANDARD.encode(&logged.leaf),
        leaf_index: logged.index,
        tree_size: link.size,
        inclusion_proof: proof.iter().map(hex::encode).collect(),
        checkpoint,
        cosignatures,
        anchor,
    })
}

fn digest(hex_text: &str, what: &str) -> Result<Digest, String> {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| Digest::try_from(b.as_slice()).ok())
        .ok_or_else(|| format!("{what} is not 32 bytes of hex"))
}

/// Checks a bundle with nothing but its own bytes: the receipt's signatures and split, its
/// inclusion under the checkpoint, the checkpoint's signature by the log's owner, and the
/// anchor link.
pub fn verify(bundle: &ProofBundle) -> Result<VerifiedProof, String> {
    let leaf = STANDARD
        .decode(&bundle.receipt)
        .map_err(|_| "the receipt is not base64".to_owned())?;
    let receipt = CountersignedReceipt::open_leaf(&leaf).map_err(|e| e.to_string())?;
    let issuer = receipt.signed.receipt.issuer();
    let checkpoint = Checkpoint::open(&bundle.checkpoint, &issuer).map_err(|e| e.to_string())?;
    if origin_peer(&checkpoint.origin) != Some(issuer) {
        return Err("the checkpoint is not of the receipt issuer's log".to_owned());
    }
    if checkpoint.size != bundle.tree_size {
        return Err("the tree size differs from the checkpoint's".to_owned());
    }
    let path = bundle
        .inclusion_proof
        .iter()
        .map(|h| digest(h, "an inclusion proof hash"))
        .collect::<Result<Vec<_>, _>>()?;
    let included = verify_inclusion(
        &leaf_hash(&leaf),
        bundle.leaf_index,
        bundle.tree_size,
        &path,
        &checkpoint.root,
    );
    if !included {
        return Err("the receipt is not in the log under this checkpoint".to_owned());
    }
    let witnesses = verify_cosignatures(&checkpoint, bundle)?;
    let mut evm_claim = None;
    let anchored_note = format!("{}{}", bundle.checkpoint, bundle.cosignatures.concat());
    let anchor = match &bundle.anchor {
        AnchorProof::Local { seq, prev, hash } => {
            let prev = digest(prev, "the anchor's previous link")?;
            let linked = anchor_link(*seq, &prev, &anchored_note);
            if linked != digest(hash, "the anchor link")? {
                return Err("the anchor link does not hash this checkpoint".to_owned());
            }
            format!("local anchor chain, link {seq}")
        }
        AnchorProof::Evm {
            chain_id,
            contract,
            transaction,
            block_number,
            submitter,
            submitter_statement: signature,
        } => {
            let statement = submitter_statement(&checkpoint.origin, *chain_id, submitter);
            let signature = hex::decode(signature)
                .map_err(|_| "the submitter statement is not hex".to_owned())?;
            if !verify_detached(&issuer, SUBMITTER_KIND, &statement, &signature) {
                return Err("the log owner did not declare this submitter for the chain".to_owned());
            }
            let claim = EvmClaim {
                chain_id: *chain_id,
                contract: contract.clone(),
                transaction: transaction.clone(),
                block_number: *block_number,
                submitter: submitter.clone(),
                origin: checkpoint.origin.clone(),
                size: checkpoint.size,
                root: hex::encode(checkpoint.root),
            };
            evm_claim = Some(claim);
            format!(
                "EVM chain {chain_id}, contract {contract}, transaction {transaction} in block \
                 {block_number}"
            )
        }
    };
    let logged = souk_store::LoggedReceipt {
        index: bundle.leaf_index,
        id: receipt.signed.id,
        dataset: receipt.signed.receipt.dataset(),
        kind: match receipt.signed.receipt {
            souk_types::Receipt::Sale(_) => "sale",
            souk_types::Receipt::Delivery(_) => "delivery",
        }
        .to_owned(),
        leaf,
        created_at_ms: 0,
    };
    Ok(VerifiedProof {
        receipt: crate::views::ReceiptView::of(&logged)?,
        origin: checkpoint.origin,
        tree_size: checkpoint.size,
        witnesses,
        anchor,
        evm: evm_claim,
    })
}

/// Checks a bundle's EVM anchor against the chain at `rpc`: the transaction succeeded in the
/// claimed block and its `Anchored` event carries this checkpoint from the declared submitter,
/// and the contract still holds a checkpoint of that origin at least as large (the same root
/// if it is the same size).
pub async fn verify_on_chain(claim: &EvmClaim, rpc: &str) -> Result<(), String> {
    let chain = souk_evm::Chain::connect(rpc)
        .await
        .map_err(|e| e.to_string())?;
    if chain.chain_id != claim.chain_id {
        return Err(format!(
            "{rpc} serves chain {}, the bundle names chain {}",
            chain.chain_id, claim.chain_id
        ));
    }
    let contract: souk_evm::EvmAddress = claim
        .contract
        .parse()
        .map_err(|_| "the contract is not an address".to_owned())?;
    let submitter: souk_evm::EvmAddress = claim
        .submitter
        .parse()
        .map_err(|_| "the submitter is not an address".to_owned())?;
    let transaction = claim
        .transaction
        .strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| "the transaction hash is not 32 bytes of hex".to_owned())?;
    let root = digest(&claim.root, "the checkpoint root")?;
    let events = chain
        .anchored_events(contract, transaction)
        .await
        .map_err(|e| e.to_string())?;
    let found = events.iter().any(|e| {
        e.submitter == submitter
            && e.origin_hash == souk_evm::origin_hash(&claim.origin)
            && e.size == claim.size
            && e.root == root
            && e.block_number == claim.block_number
    });
    if !found {
        return Err("the transaction did not anchor this checkpoint".to_owned());
    }
    let held = chain
        .checkpoint_of(contract, submitter, &claim.origin)
        .await
        .map_err(|e| e.to_string())?;
    if held.size < claim.size || (held.size == claim.size && held.root != root) {
        return Err("the contract holds a checkpoint that contradicts this one".to_owned());
    }
    Ok(())
}

/// Checks every cosignature line of `bundle` on `checkpoint`; returns the witnesses' peer ids.
fn verify_cosignatures(
    checkpoint: &Checkpoint,
    bundle: &ProofBundle,
) -> Result<Vec<String>, String> {
    let (log_note, extra) = split_cosignatures(&bundle.checkpoint);
    if log_note != bundle.checkpoint || !extra.is_empty() {
        return Err("the checkpoint note carries lines other than its log's signature".to_owned());
    }
    let mut witnesses = Vec::new();
    for line in &bundle.cosignatures {
        let witness = cosignature_name(line)
            .and_then(|name| Some((name, witness_peer(name)?)))
            .filter(|_| line.ends_with('\n') && line.matches('\n').count() == 1);
        let Some((name, key)) = witness else {
            return Err("a cosignature line does not name a Souk witness".to_owned());
        };
        let note = format!("{}{line}", bundle.checkpoint);
        if checkpoint.cosigned_by(&note, &key, name).is_none() {
            return Err(format!("the cosignature of {name} does not verify"));
        }
        let peer = key.to_peer_id();
        if witnesses.contains(&peer) {
            return Err(format!("{name} cosigned twice"));
        }
        witnesses.push(peer);
    }
    Ok(witnesses)
}
