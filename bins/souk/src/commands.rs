//! One function per subcommand: open the node, run the operation, print the result.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use souk_node::{DatasetSpec, Node, PublishReport};
use souk_store::{DatasetSummary, StoredDataset};
use souk_types::DatasetId;

use crate::progress::bytes_bar;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Files and folders to publish (a folder contributes its files under its own name).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// A search tag (repeatable).
    #[arg(long = "tag", value_name = "T")]
    tags: Vec<String>,
    /// List price of a license, in currency units.
    #[arg(long, value_name = "UNITS")]
    price: Option<u64>,
    /// Lowest price this node accepts in negotiation (private, never published).
    #[arg(long, value_name = "UNITS")]
    floor: Option<u64>,
    /// A contributor and their attribution weight in basis points (repeatable; weights sum to
    /// 10000). Default: this node alone.
    #[arg(long = "contributor", value_name = "PUBKEY=BPS")]
    contributors: Vec<String>,
    /// A parent dataset and its share of revenue in basis points (repeatable).
    #[arg(long = "parent", value_name = "DATASET_ID=BPS")]
    parents: Vec<String>,
    /// Plaintext bytes per shard [default: config publish.shard_size, 1 MiB].
    #[arg(long, value_name = "BYTES")]
    shard_size: Option<u64>,
    /// Read these fields from a TOML file; flags given as well override it.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

fn print_json(value: &Value) {
    out!("{value}");
}

fn parse_id(id: &str) -> anyhow::Result<DatasetId> {
    Ok(id.parse::<DatasetId>()?)
}

pub fn init(dir: &Path, json: bool) -> anyhow::Result<()> {
    let created = souk_node::data_dir::init(dir)?;
    let peer_id = created.key.public().to_peer_id();
    if json {
        print_json(&json!({ "peer_id": peer_id, "data_dir": dir }));
    } else {
        out!("initialised a Souk node in {}", dir.display());
        out!("peer id: {peer_id}");
    }
    Ok(())
}

pub fn id(dir: &Path, json: bool) -> anyhow::Result<()> {
    let key = souk_node::data_dir::load_key(dir)?;
    if json {
        print_json(&json!({
            "peer_id": key.public().to_peer_id(),
            "public_key": key.public().to_hex(),
        }));
    } else {
        out!("{}", key.public().to_peer_id());
    }
    Ok(())
}

pub async fn publish(dir: &Path, args: PublishArgs) -> anyhow::Result<()> {
    let flags = DatasetSpec {
        paths: args.paths,
        name: args.name,
        description: args.description,
        tags: args.tags,
        price: args.price,
        floor: args.floor,
        shard_size: args.shard_size,
        contributors: args.contributors,
        parents: args.parents,
    };
    let spec = match &args.spec {
        Some(file) => DatasetSpec::load(file)?.overlay(flags),
        None => flags,
    };
    let mut node = Node::open(dir).await?;
    let request = node.prepare_publish(spec)?;
    let bar = bytes_bar("encrypting", args.json);
    let report = node
        .publish(request, &|total| bar.set_length(total), &|done| {
            bar.set_position(done)
        })
        .await;
    bar.finish_and_clear();
    node.shutdown().await;
    let report = report?;
    if args.json {
        print_json(&publish_json(&report));
    } else {
        out!("{}", report.id);
        out!(
            "published {:?}: {} files, {} bytes in {} shards of {} bytes",
            report.name,
            report.files,
            report.data_size,
            report.shard_count,
            report.shard_size
        );
    }
    Ok(())
}

pub fn publish_json(report: &PublishReport) -> Value {
    json!({
        "id": report.id.to_hex(),
        "name": report.name,
        "files": report.files,
        "data_size": report.data_size,
        "plaintext_size": report.plaintext_size,
        "ciphertext_size": report.ciphertext_size,
        "shard_size": report.shard_size,
        "shard_count": report.shard_count,
        "elapsed_ms": report.elapsed.as_millis() as u64,
    })
}

fn summary_json(d: &DatasetSummary) -> Value {
    json!({
        "id": d.id.to_hex(),
        "name": d.name,
        "tags": d.tags,
        "publisher": d.publisher.to_peer_id(),
        "created_at_ms": d.created_at_ms,
        "shard_count": d.shard_count,
        "size": d.plaintext_size,
        "has_key": d.has_key,
    })
}

pub async fn datasets(dir: &Path, query: Option<&str>, json: bool) -> anyhow::Result<()> {
    let node = Node::open(dir).await?;
    let list = node.datasets(query);
    node.shutdown().await;
    let list = list?;
    if json {
        print_json(&Value::Array(list.iter().map(summary_json).collect()));
        return Ok(());
    }
    if list.is_empty() {
        out!(
            "no datasets{}",
            if query.is_some() { " match" } else { " yet" }
        );
        return Ok(());
    }
    out!(
        "{:<64}  {:>12}  {:>6}  {:<3}  NAME",
        "ID",
        "SIZE",
        "SHARDS",
        "KEY"
    );
    for d in &list {
        out!(
            "{:<64}  {:>12}  {:>6}  {:<3}  {}",
            d.id,
            d.plaintext_size,
            d.shard_count,
            if d.has_key { "yes" } else { "no" },
            d.name
        );
    }
    Ok(())
}

pub fn show_json(stored: &StoredDataset) -> Value {
    let signed = &stored.signed;
    let m = &signed.manifest;
    json!({
        "id": signed.id.to_hex(),
        "name": m.name,
        "description": m.description,
        "tags": m.tags,
        "media_type": m.media_type,
        "version": m.version,
        "previous_version": m.previous_version.map(|id| id.to_hex()),
        "publisher": m.publisher.to_peer_id(),
        "created_at_ms": m.created_at_ms,
        "size": m.shards.plaintext_size,
        "ciphertext_size": m.ciphertext_size(),
        "shard_size": m.shards.shard_size,
        "shard_count": m.shards.shard_count,
        "shard_root": hex::encode(m.shards.root),
        "shard_list_inline": !m.shards.hashes.is_empty(),
        "encryption": {
            "scheme": "chacha20-poly1305-v1",
            "key_commitment": hex::encode(m.encryption.key_commitment),
            "plaintext_commitment": hex::encode(m.encryption.plaintext_commitment),
        },
        "contributors": m.contributors.iter().map(|c| json!({
            "key": c.key.to_peer_id(),
            "weight_bps": c.weight_bps,
        })).collect::<Vec<_>>(),
        "parents": m.parents.iter().map(|p| json!({
            "dataset": p.dataset.to_hex(),
            "share_bps": p.share_bps,
        })).collect::<Vec<_>>(),
        "offers": m.offers.iter().map(|o| json!({
            "price": o.price,
            "currency": o.currency,
            "rights": o.rights.as_str(),
            "duration_secs": o.duration_secs,
        })).collect::<Vec<_>>(),
        "has_key": stored.has_key,
        "seller_policy": stored.policy.map(|p| json!({
            "list_price": p.list_price,
            "floor_price": p.floor_price,
        })),
    })
}

pub async fn show(dir: &Path, id: &str, json: bool) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let node = Node::open(dir).await?;
    let stored = node.show(&id);
    node.shutdown().await;
    let stored = stored?;
    if json {
        print_json(&show_json(&stored));
        return Ok(());
    }
    let m = &stored.signed.manifest;
    out!("id:           {}", stored.signed.id);
    out!("name:         {}", m.name);
    if !m.description.is_empty() {
        out!("description:  {}", m.description);
    }
    if !m.tags.is_empty() {
        out!("tags:         {}", m.tags.join(", "));
    }
    out!("publisher:    {}", m.publisher);
    out!(
        "size:         {} bytes in {} shards of {} bytes",
        m.shards.plaintext_size,
        m.shards.shard_count,
        m.shards.shard_size
    );
    out!(
        "key held:     {}",
        if stored.has_key { "yes" } else { "no" }
    );
    out!("contributors:");
    for c in &m.contributors {
        out!("  {}  {:>5} bps", c.key, c.weight_bps);
    }
    if !m.parents.is_empty() {
        out!("parents:");
        for p in &m.parents {
            out!("  {}  {:>5} bps", p.dataset, p.share_bps);
        }
    }
    if m.offers.is_empty() {
        out!("offers:       none (not for sale)");
    }
    for o in &m.offers {
        out!(
            "offer:        {} {} for {} use, {} days",
            o.price,
            o.currency,
            o.rights.as_str(),
            o.duration_secs / 86_400
        );
    }
    Ok(())
}

pub async fn export(dir: &Path, id: &str, out: &Path) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let node = Node::open(dir).await?;
    let envelope = node.export_manifest(&id);
    node.shutdown().await;
    let envelope = envelope?;
    let tmp = out.with_extension("souk-tmp");
    std::fs::write(&tmp, &envelope)
        .and_then(|()| std::fs::rename(&tmp, out))
        .with_context(|| format!("writing {}", out.display()))?;
    out!("wrote the signed manifest of {id} to {}", out.display());
    Ok(())
}

pub async fn import(dir: &Path, file: &Path, json: bool) -> anyhow::Result<()> {
    let metadata =
        std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    if metadata.len() > souk_crypto::MAX_MANIFEST_ENVELOPE_BYTES as u64 {
        anyhow::bail!(
            "{} is {} bytes, larger than any manifest can be; is it the right file?",
            file.display(),
            metadata.len()
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut node = Node::open(dir).await?;
    let imported = node
        .import_manifest(&bytes)
        .with_context(|| format!("{} was not imported", file.display()));
    node.shutdown().await;
    let (id, added) = imported?;
    if json {
        print_json(&json!({ "id": id.to_hex(), "added": added }));
    } else if added {
        out!("imported {id}");
    } else {
        out!("{id} was already in the catalog");
    }
    Ok(())
}

pub async fn extract(dir: &Path, id: &str, out: &Path, json: bool) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let node = Node::open(dir).await?;
    let bar = bytes_bar("decrypting", json);
    if let Ok(stored) = node.show(&id) {
        bar.set_length(stored.signed.manifest.shards.plaintext_size);
    }
    let stats = node.extract(&id, out, &|done| bar.set_position(done)).await;
    bar.finish_and_clear();
    node.shutdown().await;
    let stats = stats?;
    if json {
        print_json(&json!({
            "id": id.to_hex(),
            "out": out,
            "files": stats.files,
            "bytes": stats.bytes,
        }));
    } else {
        out!(
            "extracted {} files ({} bytes) to {}; they match the dataset's plaintext commitment",
            stats.files,
            stats.bytes,
            out.display()
        );
    }
    Ok(())
}
