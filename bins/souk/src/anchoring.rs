//! The receipt log's checkpoints, anchors and proofs: `souk anchor`, `souk checkpoints`,
//! `souk proof`, `souk verify`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::commands::{print_json, with_backend};

#[derive(Debug, Subcommand)]
pub enum AnchorAction {
    /// Deploy the SoukAnchor contract on an EVM chain and print its address.
    Deploy(DeployArgs),
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// JSON-RPC URL of the chain.
    #[arg(long, value_name = "URL")]
    evm_rpc: String,
    /// File holding the hex secret key of the deploying account.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "evm_key",
        required_unless_present = "evm_key"
    )]
    evm_key_file: Option<PathBuf>,
    /// The deploying account's hex secret key, for throwaway development keys only (it shows
    /// in the process list).
    #[arg(long, value_name = "HEX")]
    evm_key: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, serde::Serialize)]
struct Deployed {
    contract: String,
    chain_id: u64,
    transaction: String,
    block_number: u64,
    gas_used: u64,
}

pub async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let key = match (&args.evm_key_file, &args.evm_key) {
        (Some(file), _) => {
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
        }
        (None, Some(key)) => key.clone(),
        (None, None) => anyhow::bail!("give --evm-key-file FILE (or --evm-key HEX)"),
    };
    let signer = souk_evm::parse_key(&key)?;
    let chain = souk_evm::Chain::connect(&args.evm_rpc).await?;
    let (contract, tx, inclusion) = chain.deploy(&signer).await?;
    let deployed = Deployed {
        contract: contract.to_string(),
        chain_id: chain.chain_id,
        transaction: format!("0x{}", hex::encode(tx.hash)),
        block_number: inclusion.block_number,
        gas_used: inclusion.gas_used,
    };
    if args.json {
        return print_json(&deployed);
    }
    out!(
        "deployed SoukAnchor at {} on chain {} (transaction {}, block {})",
        deployed.contract,
        deployed.chain_id,
        deployed.transaction,
        deployed.block_number
    );
    Ok(())
}

pub async fn anchor_now(dir: &Path, json: bool) -> anyhow::Result<()> {
    let anchored = with_backend(dir, async |b| b.anchor_now().await).await?;
    if json {
        return print_json(&anchored);
    }
    out!(
        "anchored the receipt log at {} receipts (root {}) as link {} of the local chain",
        anchored.size,
        anchored.root,
        anchored.seq
    );
    Ok(())
}

pub async fn checkpoints(dir: &Path, json: bool) -> anyhow::Result<()> {
    let list = with_backend(dir, async |b| b.checkpoints().await).await?;
    if json {
        return print_json(&list);
    }
    if list.is_empty() {
        out!("no checkpoints anchored yet");
    }
    for c in &list {
        let cosignatures = souk_crypto::checkpoint::split_cosignatures(&c.note).1.len();
        out!(
            "#{:<4} {:>8} receipts  root {}  {} cosignature(s)  link {}",
            c.seq,
            c.size,
            c.root,
            cosignatures,
            c.hash
        );
        if let Some(evm) = &c.evm {
            out!(
                "      evm chain {} contract {}: {} {}{}",
                evm.chain_id,
                evm.contract,
                evm.status,
                evm.transaction,
                evm.block_number
                    .map(|b| format!(" in block {b}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

pub async fn proof(dir: &Path, id: &str, out: &Path) -> anyhow::Result<()> {
    let bundle = with_backend(dir, async |b| b.proof(id).await).await?;
    let text = serde_json::to_string_pretty(&bundle)?;
    std::fs::write(out, format!("{text}\n"))
        .with_context(|| format!("writing {}", out.display()))?;
    out!(
        "wrote the proof of receipt {id} (leaf {} of {}) to {}",
        bundle.leaf_index,
        bundle.tree_size,
        out.display()
    );
    Ok(())
}

/// Checks a proof bundle with no node; with `evm_rpc`, also its anchor on the chain.
pub async fn verify(file: &Path, evm_rpc: Option<&str>, json: bool) -> anyhow::Result<()> {
    let meta = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    if meta.len() > souk_node::proof::MAX_BUNDLE_BYTES as u64 {
        anyhow::bail!("{} is too large to be a proof bundle", file.display());
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let bundle: souk_node::proof::ProofBundle = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a proof bundle: {e}", file.display()))?;
    let verified = souk_node::proof::verify(&bundle)
        .map_err(|e| anyhow::anyhow!("the proof does not verify: {e}"))?;
    let on_chain = match (&verified.evm, evm_rpc) {
        (Some(claim), Some(rpc)) => {
            souk_node::proof::verify_on_chain(claim, rpc)
                .await
                .map_err(|e| anyhow::anyhow!("the proof does not verify on the chain: {e}"))?;
            "checked against the chain"
        }
        (Some(_), None) => "not checked against the chain: pass --evm-rpc URL",
        (None, _) => "",
    };
    if json {
        return print_json(&verified);
    }
    let r = &verified.receipt;
    out!(
        "verified: {} receipt {} for {} {} of dataset {}, leaf {} of {} in {}, {}",
        r.kind,
        r.id,
        r.amount,
        r.currency.as_deref().unwrap_or("bytes"),
        r.dataset,
        r.index,
        verified.tree_size,
        verified.origin,
        verified.anchor
    );
    for part in &r.split {
        out!(
            "  {:>10} to {} (via {})",
            part.amount,
            part.contributor,
            part.dataset
        );
    }
    for witness in &verified.witnesses {
        out!("  cosigned by witness {witness}");
    }
    if !on_chain.is_empty() {
        out!("  evm anchor {on_chain}");
    }
    Ok(())
}
