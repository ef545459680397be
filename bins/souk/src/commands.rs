//! One function per subcommand: open the node, run the operation, print the result.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use souk_node::views::DatasetView;
use souk_node::{Backend, DatasetSpec};
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

pub(crate) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    out!("{}", serde_json::to_string(value)?);
    Ok(())
}

fn parse_id(id: &str) -> anyhow::Result<DatasetId> {
    Ok(id.parse::<DatasetId>()?)
}

pub fn init(dir: &Path, json: bool) -> anyhow::Result<()> {
    let created = souk_node::data_dir::init(dir)?;
    let peer_id = created.key.public().to_peer_id();
    if json {
        print_json(&serde_json::json!({ "peer_id": peer_id, "data_dir": dir }))?;
    } else {
        out!("initialised a Souk node in {}", dir.display());
        out!("peer id: {peer_id}");
    }
    Ok(())
}

/// Runs `op` on the node (through its API if it runs), always closing it.
pub(crate) async fn with_backend<T>(
    dir: &Path,
    op: impl AsyncFnOnce(&mut Backend) -> Result<T, souk_node::NodeError>,
) -> anyhow::Result<T> {
    let mut backend = Backend::open(dir).await?;
    let result = op(&mut backend).await;
    backend.close().await;
    Ok(result?)
}

pub async fn id(dir: &Path, json: bool) -> anyhow::Result<()> {
    let view = with_backend(dir, async |b| b.id().await).await?;
    if json {
        return print_json(&view);
    }
    out!("{}", view.peer_id);
    for addr in view.listen_addrs.iter().flatten() {
        out!("{addr}");
    }
    if let Some(blobs) = &view.blobs_addr {
        out!("blobs {blobs}");
    }
    Ok(())
}

pub async fn peers(dir: &Path, json: bool) -> anyhow::Result<()> {
    let peers = with_backend(dir, async |b| b.peers().await).await?;
    if json {
        return print_json(&peers);
    }
    if peers.is_empty() {
        out!("no peers connected");
    }
    for p in &peers {
        let score = p
            .gossip_score
            .map(|s| format!("{s:.1}"))
            .unwrap_or_else(|| "-".into());
        out!("{}  score {score}  {}", p.peer_id, p.addrs.join(" "));
    }
    Ok(())
}

pub async fn buy(dir: &Path, args: BuyArgs) -> anyhow::Result<()> {
    let id = parse_id(&args.id)?;
    let bar = bytes_bar("fetching", args.json);
    let on_progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let bought = with_backend(dir, async |b| {
        b.buy(
            &id,
            args.max_price,
            args.bid,
            args.out.as_deref(),
            &on_progress,
        )
        .await
    })
    .await;
    bar.finish_and_clear();
    let bought = bought?;
    if args.json {
        return print_json(&bought);
    }
    if bought.paid_now {
        out!(
            "bought a license for {} at {} {} after {} round(s); license {}",
            bought.dataset,
            bought.price,
            bought.currency,
            bought.rounds,
            bought.license_id
        );
    } else {
        out!(
            "using the license already held for {}; nothing paid; license {}",
            bought.dataset,
            bought.license_id
        );
    }
    out!(
        "fetched {} bytes in {} ms ({} bytes were already here)",
        bought.fetched_bytes,
        bought.elapsed_ms,
        bought.local_bytes
    );
    for p in &bought.providers {
        match &p.error {
            None => out!(
                "  from {}: {} bytes, {} shards",
                p.peer_id,
                p.bytes,
                p.shards
            ),
            Some(why) => out!(
                "  from {}: {} bytes, {} shards, dropped: {why}",
                p.peer_id,
                p.bytes,
                p.shards
            ),
        }
    }
    if let (Some(out), Some(files)) = (&bought.out, bought.files) {
        out!("wrote {files} files to {}", out.display());
    }
    Ok(())
}

pub async fn receipts(dir: &Path, dataset: Option<&str>, json: bool) -> anyhow::Result<()> {
    let dataset = dataset.map(parse_id).transpose()?;
    let list = with_backend(dir, async |b| b.receipts(dataset.as_ref()).await).await?;
    if json {
        return print_json(&list);
    }
    if list.is_empty() {
        out!("no receipts logged yet");
    }
    for r in &list {
        out!(
            "#{:<5} {:<8} receipt {}\n         dataset {}  {} {}  buyer {}",
            r.index,
            r.kind,
            r.id,
            r.dataset,
            r.amount,
            r.currency.as_deref().unwrap_or("bytes"),
            r.buyer
        );
        for part in &r.split {
            out!(
                "         {:>10}  to {} (via {})",
                part.amount,
                part.contributor,
                part.dataset
            );
        }
    }
    Ok(())
}

pub async fn earnings(dir: &Path, json: bool) -> anyhow::Result<()> {
    let list = with_backend(dir, async |b| b.receipts(None).await).await?;
    let earned = souk_node::views::earnings(&list);
    if json {
        return print_json(&earned);
    }
    if earned.is_empty() {
        out!("nothing earned in this node's receipt log yet");
    }
    for e in &earned {
        out!(
            "{:>12} {}  {}  ({} sales)",
            e.amount,
            e.currency,
            e.contributor,
            e.sales
        );
    }
    Ok(())
}

pub async fn licenses(dir: &Path, json: bool) -> anyhow::Result<()> {
    let list = with_backend(dir, async |b| b.licenses().await).await?;
    if json {
        return print_json(&list);
    }
    if list.is_empty() {
        out!("no licenses yet");
    }
    for l in &list {
        out!(
            "{:<6}  {}  {:>8}  {}  with {}",
            l.role,
            l.dataset,
            l.price,
            l.id,
            l.counterparty
        );
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
    let bar = bytes_bar("encrypting", args.json);
    let report = with_backend(dir, async |b| {
        b.publish(spec, &|total| bar.set_length(total), &|done| {
            bar.set_position(done)
        })
        .await
    })
    .await;
    bar.finish_and_clear();
    let report = report?;
    if args.json {
        return print_json(&report);
    }
    out!("{}", report.id);
    out!(
        "published {:?}: {} files, {} bytes in {} shards of {} bytes",
        report.name,
        report.files,
        report.data_size,
        report.shard_count,
        report.shard_size
    );
    Ok(())
}

pub async fn datasets(dir: &Path, query: Option<&str>, json: bool) -> anyhow::Result<()> {
    let list = with_backend(dir, async |b| b.datasets(query).await).await?;
    if json {
        return print_json(&list);
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
            d.size,
            d.shard_count,
            if d.has_key { "yes" } else { "no" },
            d.name
        );
    }
    Ok(())
}

fn print_dataset(d: &DatasetView) {
    out!("id:           {}", d.id);
    out!("name:         {}", d.name);
    if !d.description.is_empty() {
        out!("description:  {}", d.description);
    }
    if !d.tags.is_empty() {
        out!("tags:         {}", d.tags.join(", "));
    }
    out!("publisher:    {}", d.publisher);
    out!(
        "size:         {} bytes in {} shards of {} bytes",
        d.size,
        d.shard_count,
        d.shard_size
    );
    out!("key held:     {}", if d.has_key { "yes" } else { "no" });
    out!("contributors:");
    for c in &d.contributors {
        out!("  {}  {:>5} bps", c.key, c.weight_bps);
    }
    if !d.parents.is_empty() {
        out!("parents:");
        for p in &d.parents {
            out!("  {}  {:>5} bps", p.dataset, p.share_bps);
        }
    }
    if d.offers.is_empty() {
        out!("offers:       none (not for sale)");
    }
    for o in &d.offers {
        out!(
            "offer:        {} {} for {} use, {} days",
            o.price,
            o.currency,
            o.rights,
            o.duration_secs / 86_400
        );
    }
    if let Some(providers) = &d.providers {
        out!("providers:    {}", providers.len());
        for p in providers {
            out!("  {p}");
        }
    }
}

pub async fn show(dir: &Path, id: &str, json: bool) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let view = with_backend(dir, async |b| b.show(&id).await).await?;
    if json {
        return print_json(&view);
    }
    print_dataset(&view);
    Ok(())
}

pub async fn export(dir: &Path, id: &str, out: &Path) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let envelope = with_backend(dir, async |b| b.export_manifest(&id).await).await?;
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
    let view = with_backend(dir, async |b| b.import_manifest(bytes).await)
        .await
        .with_context(|| format!("{} was not imported", file.display()))?;
    if json {
        return print_json(&view);
    }
    if view.added {
        out!("imported {}", view.id);
    } else {
        out!("{} was already in the catalog", view.id);
    }
    Ok(())
}

pub async fn extract(dir: &Path, id: &str, out: &Path, json: bool) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let bar = bytes_bar("decrypting", json);
    let view = with_backend(dir, async |b| {
        // Through the API, `show` also asks the DHT for providers: not worth it for a bar.
        if !b.is_remote()
            && let Ok(d) = b.show(&id).await
        {
            bar.set_length(d.size);
        }
        b.extract(&id, out, &|done| bar.set_position(done)).await
    })
    .await;
    bar.finish_and_clear();
    let view = view?;
    if json {
        return print_json(&view);
    }
    out!(
        "extracted {} files ({} bytes) to {}; they match the dataset's plaintext commitment",
        view.files,
        view.bytes,
        out.display()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct BuyArgs {
    id: String,
    /// The most this node will pay.
    #[arg(long, value_name = "UNITS")]
    max_price: u64,
    /// Opening bid (default: accept any offer up to --max-price).
    #[arg(long, value_name = "UNITS")]
    bid: Option<u64>,
    /// Decrypt the dataset into this folder (missing or empty) once it has arrived.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct NodeRunArgs {
    /// libp2p listen address (repeatable) [default: TCP and QUIC on 0.0.0.0:4820].
    #[arg(long = "listen", value_name = "MULTIADDR")]
    listen: Vec<String>,
    /// A peer to join through, with its /p2p/PEER_ID (repeatable).
    #[arg(long = "bootstrap", value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// Control API address (loopback) [default: 127.0.0.1:0].
    #[arg(long, value_name = "ADDR")]
    api_listen: Option<String>,
    /// UDP address of the iroh-blobs endpoint that serves shards [default: 0.0.0.0:4821].
    #[arg(long, value_name = "ADDR")]
    blobs_listen: Option<String>,
    /// Where checkpoints are anchored: local (embedded, the default) or evm.
    #[arg(long, value_name = "BACKEND")]
    anchor: Option<souk_node::AnchorBackend>,
    /// JSON-RPC URL of the EVM chain (with --anchor evm).
    #[arg(long, value_name = "URL")]
    evm_rpc: Option<String>,
    /// File holding the hex secret key of the EVM account that submits anchors.
    #[arg(long, value_name = "FILE")]
    evm_key_file: Option<String>,
    /// Address of the SoukAnchor contract (printed by `souk anchor deploy`).
    #[arg(long, value_name = "ADDR")]
    evm_contract: Option<String>,
    /// Blocks an anchor transaction needs before it counts (1 = included).
    #[arg(long, value_name = "N")]
    confirmations: Option<u64>,
    /// Print the effective configuration and exit.
    #[arg(long)]
    dump_config: bool,
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn node_run(dir: &Path, args: NodeRunArgs) -> anyhow::Result<()> {
    souk_node::data_dir::load_key(dir)?;
    let mut config = souk_node::data_dir::load_config(dir)?;
    if !args.listen.is_empty() {
        config.network.listen = args.listen;
    }
    if !args.bootstrap.is_empty() {
        config.network.bootstrap = args.bootstrap;
    }
    if let Some(blobs) = args.blobs_listen {
        config.network.blobs_listen = blobs;
    }
    if let Some(api) = args.api_listen {
        config.network.api_listen = api;
    }
    let anchor = &mut config.anchor;
    if let Some(backend) = args.anchor {
        anchor.backend = backend;
    }
    if let Some(rpc) = args.evm_rpc {
        anchor.evm_rpc = rpc;
    }
    if let Some(file) = args.evm_key_file {
        anchor.evm_key_file = file;
    }
    if let Some(contract) = args.evm_contract {
        anchor.evm_contract = contract;
    }
    if let Some(confirmations) = args.confirmations {
        anchor.confirmations = confirmations;
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
    if args.dump_config {
        out!("{}", config.to_toml());
        return Ok(());
    }
    if souk_node::client::ApiClient::discover(dir)?.is_some() {
        anyhow::bail!("a node is already running on {}", dir.display());
    }
    let daemon = souk_node::daemon::start(dir, &config, souk_node::NetConfig::default()).await?;
    out!("peer id: {}", daemon.peer_id);
    for addr in &daemon.listen_addrs {
        out!("listening on {addr}");
    }
    out!("control API on http://{}", daemon.api_addr);
    stop_signal().await;
    tracing::info!("shutting down");
    daemon.shutdown().await;
    Ok(())
}
