//! `souk-bench receipts`: the receipt log's throughput and proof size.
//!
//! - append: leaves written to the SQLite receipt log one durable commit each, as a node does;
//! - tree: leaf hashes appended to the Merkle tree;
//! - prove: an inclusion proof built and verified for every leaf at the final size;
//! - proof size: the longest audit path against 32 x ceil(log2 N) bytes;
//! - gas: what anchoring a checkpoint on the SoukAnchor contract costs on a local anvil chain,
//!   for the first checkpoint of a log (fresh storage) and the ones after it.

use std::time::Instant;

use serde_json::json;
use souk_crypto::merkle::{MerkleTree, leaf_hash, verify_inclusion};
use souk_store::{Catalog, NewReceipt};
use souk_types::DatasetId;

use crate::{round2, scratch_root};

/// Bytes of one leaf: about a countersigned sale receipt with a short split.
const LEAF_BYTES: usize = 420;

pub fn run(count: u64, quiet: bool) -> anyhow::Result<()> {
    anyhow::ensure!(count >= 2, "need at least 2 receipts");
    let leaves: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let mut leaf = vec![0u8; LEAF_BYTES];
            leaf[..8].copy_from_slice(&i.to_le_bytes());
            leaf
        })
        .collect();
    let hashes: Vec<[u8; 32]> = leaves.iter().map(|l| leaf_hash(l)).collect();

    let dir = tempfile::tempdir_in(scratch_root())?;
    let mut catalog = Catalog::open_for_network(&dir.path().join("catalog.db"))?;
    let dataset = DatasetId::from_bytes([1; 32]);
    let started = Instant::now();
    for (i, (leaf, hash)) in leaves.iter().zip(&hashes).enumerate() {
        let id = *blake3::hash(&(i as u64).to_le_bytes()).as_bytes();
        catalog.append_receipt(NewReceipt {
            id: &id,
            dataset: &dataset,
            kind: "sale",
            leaf,
            leaf_hash: hash,
            now_ms: 0,
        })?;
    }
    let append_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tree = MerkleTree::new();
    for hash in &hashes {
        tree.push(*hash);
    }
    let root = tree.root();
    let tree_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut longest = 0;
    for (index, hash) in hashes.iter().enumerate() {
        let proof = tree
            .inclusion_proof(index as u64, count)
            .ok_or_else(|| anyhow::anyhow!("no proof for leaf {index}"))?;
        anyhow::ensure!(verify_inclusion(hash, index as u64, count, &proof, &root));
        longest = longest.max(proof.len());
    }
    let prove_secs = started.elapsed().as_secs_f64();

    let gas = tokio::runtime::Runtime::new()?.block_on(anchor_gas(ANCHORS_MEASURED))?;
    let bound = 32 * (64 - (count - 1).leading_zeros() as usize);
    let per_sec = |secs: f64| round2(count as f64 / secs.max(1e-9));
    let report = json!({
        "bench": "receipts",
        "receipts": count,
        "append_durable_per_sec": per_sec(append_secs),
        "tree_append_per_sec": per_sec(tree_secs),
        "prove_and_verify_per_sec": per_sec(prove_secs),
        "longest_proof_bytes": longest * 32,
        "proof_bound_bytes": bound,
        "evm_deploy_gas": gas.deploy,
        "evm_first_anchor_gas": gas.first,
        "evm_later_anchor_gas_max": gas.later_max,
        "evm_later_anchor_vs_plain_transfer": round2(gas.later_max as f64 / PLAIN_TRANSFER_GAS as f64),
        "catalog_dir": scratch_root().display().to_string(),
    });
    if !quiet {
        eprintln!(
            "{count} receipts: durable append {}/s, tree {}/s, prove+verify {}/s, proof {} <= {} bytes; \
             evm anchor gas: first {}, later <= {}",
            report["append_durable_per_sec"],
            report["tree_append_per_sec"],
            report["prove_and_verify_per_sec"],
            longest * 32,
            bound,
            gas.first,
            gas.later_max
        );
    }
    println!("{report}");
    Ok(())
}

/// Anchors sent to measure gas.
const ANCHORS_MEASURED: u64 = 10;
/// Gas of a plain value transfer: the floor of any transaction.
const PLAIN_TRANSFER_GAS: u64 = 21_000;
/// anvil's second funded development account, which deploys the contract.
const DEPLOY_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

struct Gas {
    deploy: u64,
    first: u64,
    later_max: u64,
}

/// Deploys SoukAnchor on a fresh anvil and anchors `anchors` growing checkpoints of one log.
async fn anchor_gas(anchors: u64) -> anyhow::Result<Gas> {
    let anvil = souk_evm::anvil::Anvil::start(None).await?;
    let chain = souk_evm::Chain::connect(&anvil.url()).await?;
    let (contract, _, deployed) = chain.deploy(&souk_evm::parse_key(DEPLOY_KEY)?).await?;
    let signer = souk_evm::parse_key(souk_evm::anvil::DEV_KEY)?;
    let node = souk_crypto::NodeKey::from_seed([7; 32]);
    let origin = souk_crypto::checkpoint::receipts_origin(&node.public());
    let mut used = Vec::new();
    for size in 1..=anchors {
        let root = *blake3::hash(&size.to_le_bytes()).as_bytes();
        let tx = chain
            .sign_anchor(&signer, contract, &origin, size * 1000, root)
            .await?;
        chain.broadcast(&tx).await?;
        let inclusion = chain.wait(&tx, signer.address(), 1).await?;
        anyhow::ensure!(inclusion.succeeded, "anchor {size} reverted");
        used.push(inclusion.gas_used);
    }
    anvil.stop().await?;
    Ok(Gas {
        deploy: deployed.gas_used,
        first: used.first().copied().unwrap_or_default(),
        later_max: used.iter().skip(1).copied().max().unwrap_or_default(),
    })
}
