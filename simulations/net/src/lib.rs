//! Souk's network simulator: real nodes (libp2p, iroh-blobs, SQLite in temporary directories)
//! in one process on 127.0.0.1, put through a scenario: a network that starts partitioned and
//! heals, free riders that relay no gossip, publishers, nodes killed and restarted, buyers, and
//! an anchored receipt log. It measures what a user of the network would feel.

mod process;
mod scenario;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use souk_node::client::ApiClient;
use souk_node::light::LightNode;
use souk_node::network::{ManifestSource, NetEvent, NetHandle};
use souk_node::views::{BuyRequest, BuyView, PublishView, TransferView};
use souk_node::{Config, Daemon, DatasetSpec, NetConfig, NetworkConfig};
use tokio::sync::broadcast;

pub use scenario::NetScenario;

/// How long any one phase may wait for the network.
const PHASE_TIMEOUT: Duration = Duration::from_secs(60);
/// The publisher's connection limit.
const UNBOUNDED_CONNECTIONS: u32 = 4096;
/// How long the purchases may take together (a large network on two cores is slow).
const PURCHASE_TIMEOUT: Duration = Duration::from_secs(300);
/// How often buyers' transfers are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Percentiles of a set of times, in milliseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Spread {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |p: f64| {
            if sorted.is_empty() {
                return 0.0;
            }
            let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
            round(sorted[rank.min(sorted.len() - 1)])
        };
        Self {
            count: sorted.len(),
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            max: sorted.last().copied().map(round).unwrap_or_default(),
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One buyer's purchase.
#[derive(Debug, Clone, Serialize)]
pub struct Purchase {
    pub node: usize,
    pub price: u64,
    /// Everything before the fetch: provider lookup in the DHT, negotiation, payment, access.
    pub setup_ms: u64,
    pub fetch_ms: u64,
    pub fetched_bytes: u64,
    pub mib_per_s: f64,
    pub providers: usize,
    /// (milliseconds since the buys started, bytes done) samples.
    pub progress: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetReport {
    pub scenario: NetScenario,
    pub nodes: usize,
    pub free_riders: usize,
    /// Nodes that ran light: gossip and catalog on the memory transport, no shard store.
    pub light_nodes: usize,
    /// Manifest propagation from the publisher's announcement to each node's catalog, in the
    /// connected half of the network.
    pub propagation_ms: Spread,
    /// Every node's time, for the CDF plot.
    pub propagation_all_ms: Vec<f64>,
    pub coverage: f64,
    pub within_3_heartbeats: f64,
    pub via_gossip: usize,
    pub via_sync: usize,
    pub duplicates_per_delivery: f64,
    /// After the partition healed: time until the other half held every manifest.
    pub partition_catch_up_ms: Spread,
    /// Nodes killed and restarted: time from restart until each held the manifest published
    /// while it was down.
    pub churn_catch_up_ms: Spread,
    pub purchases: Vec<Purchase>,
    pub purchase_setup_ms: Spread,
    pub receipts_anchored: u64,
    pub cosignatures: usize,
    /// Process memory as nodes started: (nodes, MiB).
    pub memory_mib_by_nodes: Vec<(usize, f64)>,
    pub memory_per_node_mib: f64,
    /// Mean connections each node held once the meshes formed.
    pub connections_per_node: f64,
    pub cpu_seconds: f64,
    pub cpu_seconds_per_node: f64,
    pub elapsed_s: f64,
}

/// A whole node (shard store, blobs endpoint, control API) or a light one (gossip and
/// catalog only).
enum Runner {
    Full(Daemon),
    Light(LightNode),
}

struct SimNode {
    dir: PathBuf,
    runner: Runner,
    events: broadcast::Receiver<NetEvent>,
    net: NetConfig,
}

impl SimNode {
    /// The control API of a whole node.
    fn client(&self) -> anyhow::Result<ApiClient> {
        match &self.runner {
            Runner::Full(daemon) => Ok(ApiClient::new(daemon.api_addr, daemon.token().to_owned())),
            Runner::Light(_) => anyhow::bail!("{} runs a light node", self.dir.display()),
        }
    }

    fn net(&self) -> &NetHandle {
        match &self.runner {
            Runner::Full(daemon) => daemon.net(),
            Runner::Light(light) => light.net(),
        }
    }

    fn addr(&self) -> String {
        match &self.runner {
            Runner::Full(daemon) => daemon.listen_addrs[0].clone(),
            Runner::Light(light) => light.listen_addrs[0].clone(),
        }
    }

    fn is_light(&self) -> bool {
        matches!(self.runner, Runner::Light(_))
    }

    async fn shutdown(self) {
        match self.runner {
            Runner::Full(daemon) => daemon.shutdown().await,
            Runner::Light(light) => light.shutdown().await,
        }
    }
}

/// Starts the node of `dir` (initialising it on first use): light or whole, on the memory
/// transport when `net` says so, on TCP otherwise; on `listen` if given (a restarted node
/// comes back where its peers knew it), else on a free port.
async fn start(
    dir: &Path,
    bootstrap: Vec<String>,
    net: NetConfig,
    max_connections: u32,
    light: bool,
    listen: Option<String>,
) -> anyhow::Result<SimNode> {
    if !dir.join("node.key").exists() {
        souk_node::data_dir::init(dir)?;
    }
    let listen = listen.unwrap_or_else(|| {
        if net.memory_transport {
            "/memory/0".to_owned()
        } else {
            "/ip4/127.0.0.1/tcp/0".to_owned()
        }
    });
    let config = Config {
        network: NetworkConfig {
            listen: vec![listen],
            max_connections,
            ..NetworkConfig::loopback(&bootstrap)
        },
        ..Config::default()
    };
    let (sender, events) = broadcast::channel(1024);
    let runner = if light {
        LightNode::start(dir, &config, net.clone(), sender)
            .await
            .map(Runner::Light)
    } else {
        souk_node::daemon::start_observed(dir, &config, net.clone(), sender)
            .await
            .map(Runner::Full)
    }
    .with_context(|| format!("starting the node in {}", dir.display()))?;
    Ok(SimNode {
        dir: dir.to_owned(),
        runner,
        events,
        net,
    })
}

/// Waits for the first event `pick` accepts on `events`; `None` at `deadline`.
async fn first<T>(
    events: &mut broadcast::Receiver<NetEvent>,
    deadline: tokio::time::Instant,
    mut pick: impl FnMut(&NetEvent) -> Option<T>,
) -> Option<T> {
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) => {
                if let Some(found) = pick(&event) {
                    return Some(found);
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            _ => return None,
        }
    }
}

async fn api<T: serde::de::DeserializeOwned + Send + 'static>(
    client: ApiClient,
    call: impl FnOnce(&ApiClient) -> Result<T, souk_node::NodeError> + Send + 'static,
) -> anyhow::Result<T> {
    Ok(tokio::task::spawn_blocking(move || call(&client)).await??)
}

fn stored(id: String) -> impl FnMut(&NetEvent) -> Option<ManifestSource> {
    move |event| match event {
        NetEvent::ManifestStored {
            id: got, source, ..
        } if got.to_hex() == id => Some(*source),
        _ => None,
    }
}

/// Times, for each node in `nodes`, from now until its catalog holds `id`.
async fn arrivals(
    nodes: &mut [SimNode],
    id: &str,
    since: Instant,
) -> Vec<Option<(f64, ManifestSource)>> {
    let deadline = tokio::time::Instant::now() + PHASE_TIMEOUT;
    let waits = nodes.iter_mut().map(|node| {
        let id = id.to_owned();
        let events = &mut node.events;
        async move {
            // Every node's events are kept from its start, so one stored before this wait
            // (a restarted node syncs as it starts) is still there to read.
            let source = first(events, deadline, stored(id)).await?;
            Some((since.elapsed().as_secs_f64() * 1000.0, source))
        }
    });
    futures::future::join_all(waits).await
}

async fn publish(
    client: ApiClient,
    base: &Path,
    name: &str,
    kib: u64,
    price: u64,
) -> anyhow::Result<String> {
    let file = base.join(format!("{name}.bin"));
    let bytes: Vec<u8> = (0..kib * 1024)
        .map(|i| (i * 2_654_435_761 % 251) as u8)
        .collect();
    std::fs::write(&file, bytes)?;
    let spec = DatasetSpec {
        paths: vec![file],
        name: Some(name.to_owned()),
        price: Some(price),
        floor: Some(price),
        shard_size: Some(64 * 1024),
        ..Default::default()
    };
    let published: PublishView = api(client, move |c| c.post("/v1/publish", &spec)).await?;
    Ok(published.id)
}

/// Stops every node at once (a node's stop waits on its endpoint's tasks).
async fn shut_down(nodes: Vec<SimNode>) {
    futures::future::join_all(nodes.into_iter().map(SimNode::shutdown)).await;
}

/// Runs `scenario` with its temporary directories under `work`; every node is stopped before
/// it returns, whatever the outcome.
pub async fn run(scenario: &NetScenario, work: &Path) -> anyhow::Result<NetReport> {
    scenario.validate().map_err(anyhow::Error::msg)?;
    let mut nodes = Vec::with_capacity(scenario.nodes);
    let report = play(scenario, work, &mut nodes).await;
    shut_down(nodes).await;
    report
}

async fn play(
    scenario: &NetScenario,
    work: &Path,
    nodes: &mut Vec<SimNode>,
) -> anyhow::Result<NetReport> {
    let started = Instant::now();
    let cpu_before = process::cpu_seconds();
    let rss_before = process::rss_mib();
    let n = scenario.nodes;
    let heartbeat = Duration::from_millis(scenario.heartbeat_ms);
    let free_riders = scenario.free_riders();
    let half = if scenario.partition { n.div_ceil(2) } else { n };
    let publisher = 0;
    // Buyers: the last nodes of the first half, which buy the first dataset at once.
    let buyers: Vec<usize> = (1..half)
        .rev()
        .filter(|i| !free_riders.contains(i))
        .take(scenario.buyers)
        .collect();
    let mut memory = Vec::new();
    for i in 0..n {
        // Each half is its own network until the partition heals: node i joins through up to
        // `degree` earlier nodes of its half.
        let first_of_half = if i < half { 0 } else { half };
        let mut bootstrap: Vec<String> = (1..=scenario.degree)
            .filter_map(|k| i.checked_sub(k * k).filter(|j| *j >= first_of_half))
            .map(|j| nodes[j].addr())
            .collect();
        let net = NetConfig {
            gossip_heartbeat: heartbeat,
            gossip_heartbeat_initial_delay: heartbeat / 4,
            forward_gossip: !free_riders.contains(&i),
            memory_transport: scenario.light,
            ..NetConfig::default()
        };
        // In a light network only the publisher and the buyers hold shards, and they alone
        // serve the DHT: a buyer joins through the publisher too, as a real node joins
        // through a DHT server.
        let light = scenario.light && i != publisher && !buyers.contains(&i);
        if scenario.light && !light && i != publisher && i < half {
            bootstrap.push(nodes[publisher].addr());
        }
        let dir = work.join(format!("node-{i}"));
        // The publisher takes every buyer, and the two ends of the healing dial must have room
        // for it: only they are not bounded.
        let limit = if i == 0 || i == half {
            UNBOUNDED_CONNECTIONS
        } else {
            scenario.max_connections
        };
        nodes.push(start(&dir, bootstrap, net, limit, light, None).await?);
        if (i + 1) % (n / 10).max(1) == 0 || i + 1 == n {
            let rss = round(process::rss_mib() - rss_before);
            tracing::info!(nodes = i + 1, rss_mib = rss, "nodes started");
            memory.push((i + 1, rss));
        }
    }
    // Gossip meshes first, then a few heartbeats for them to settle.
    let mesh_deadline = Instant::now() + PHASE_TIMEOUT;
    for node in nodes.iter() {
        while !node.net().peers().await.iter().any(|p| p.in_mesh) {
            anyhow::ensure!(Instant::now() < mesh_deadline, "gossip meshes did not form");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(heartbeat * 3).await;
    let mut connections = 0;
    for node in nodes.iter() {
        connections += node.net().peers().await.len();
    }
    let connections_per_node = round(connections as f64 / n as f64);
    tracing::info!(
        connections_per_node,
        rss_mib = round(process::rss_mib() - rss_before),
        "gossip meshes formed"
    );

    // Propagation within the first half.
    let base = work.join("data");
    std::fs::create_dir_all(&base)?;
    let price = scenario.price;
    let announced_deadline = tokio::time::Instant::now() + PHASE_TIMEOUT;
    let publishing = publish(
        nodes[publisher].client()?,
        &base,
        "first",
        scenario.dataset_kib,
        price,
    );
    let (id, announced) = {
        let events = &mut nodes[publisher].events;
        let announce = first(events, announced_deadline, |e| {
            matches!(e, NetEvent::Announced(_)).then(Instant::now)
        });
        let (id, announced) = tokio::join!(publishing, announce);
        (id?, announced.context("the publisher never announced")?)
    };
    let times = arrivals(&mut nodes[1..half], &id, announced).await;
    let reached: Vec<(f64, ManifestSource)> = times.iter().flatten().copied().collect();
    let propagation: Vec<f64> = reached.iter().map(|(t, _)| *t).collect();
    let within = propagation
        .iter()
        .filter(|t| **t <= 3.0 * scenario.heartbeat_ms as f64)
        .count();
    let others = (half - 1).max(1);
    tracing::info!(reached = reached.len(), "first manifest propagated");

    // The partition heals: one node of the second half dials one of the first.
    let mut partition_catch_up = Vec::new();
    if scenario.partition && half < n {
        let healed = Instant::now();
        let addr = nodes[publisher].addr().parse()?;
        nodes[half].net().dial(addr).await;
        partition_catch_up = arrivals(&mut nodes[half..], &id, healed)
            .await
            .into_iter()
            .flatten()
            .map(|(t, _)| t)
            .collect();
    }

    // Churn: some nodes go down, a manifest is published meanwhile, they come back.
    tracing::info!(nodes = partition_catch_up.len(), "partition healed");
    let churned: Vec<usize> = (1..n)
        .rev()
        .filter(|i| !free_riders.contains(i))
        .take(scenario.churn)
        .collect();
    let mut churn_catch_up = Vec::new();
    if !churned.is_empty() {
        // Taken out from the highest index down, put back from the lowest up: indices hold.
        let mut down = Vec::new();
        let mut stopping = Vec::new();
        for i in &churned {
            let node = nodes.remove(*i);
            let listen = node.addr().split("/p2p/").next().map(str::to_owned);
            down.push((
                *i,
                node.dir.clone(),
                node.net.clone(),
                node.is_light(),
                listen,
            ));
            stopping.push(node);
        }
        shut_down(stopping).await;
        let second = publish(
            nodes[publisher].client()?,
            &base,
            "second",
            scenario.dataset_kib,
            price,
        )
        .await?;
        let restarted = Instant::now();
        let mut indices = Vec::new();
        let mut returned = Vec::new();
        for (i, dir, net, light, listen) in down.into_iter().rev() {
            // No bootstrap: a restarted node redials the peers it knew.
            let limit = scenario.max_connections;
            returned.push(start(&dir, Vec::new(), net, limit, light, listen).await?);
            indices.push(i);
        }
        churn_catch_up = arrivals(&mut returned, &second, restarted)
            .await
            .into_iter()
            .flatten()
            .map(|(t, _)| t)
            .collect();
        for (i, node) in indices.into_iter().zip(returned) {
            nodes.insert(i, node);
        }
    }

    tracing::info!(nodes = churn_catch_up.len(), "churned nodes caught up");
    let buys_started = Instant::now();
    let mut purchases = Vec::new();
    let mut tasks = Vec::new();
    for b in &buyers {
        let request = BuyRequest {
            dataset: id.clone(),
            max_price: scenario.buyer_budget,
            bid: None,
            out: None,
        };
        tasks.push(tokio::spawn(api(nodes[*b].client()?, move |c| {
            c.post::<_, BuyView>("/v1/buy", &request)
        })));
    }
    let mut progress: Vec<Vec<(u64, u64)>> = vec![vec![(0, 0)]; buyers.len()];
    let mut finished_ms: Vec<Option<u64>> = vec![None; buyers.len()];
    while tasks.iter().any(|t| !t.is_finished()) {
        for (k, b) in buyers.iter().enumerate() {
            if tasks[k].is_finished() {
                finished_ms[k].get_or_insert(buys_started.elapsed().as_millis() as u64);
                continue;
            }
            let transfers: Vec<TransferView> =
                api(nodes[*b].client()?, |c| c.get("/v1/transfers")).await?;
            if let Some(t) = transfers.first() {
                progress[k].push((buys_started.elapsed().as_millis() as u64, t.done_bytes));
            }
        }
        anyhow::ensure!(
            buys_started.elapsed() < PURCHASE_TIMEOUT,
            "the purchases did not finish"
        );
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let done_ms = buys_started.elapsed().as_millis() as u64;
    for (((b, task), mut samples), finished) in
        buyers.iter().zip(tasks).zip(progress).zip(finished_ms)
    {
        let bought = task.await??;
        samples.push((finished.unwrap_or(done_ms), bought.fetched_bytes));
        let setup_ms = bought.elapsed_ms.saturating_sub(bought.fetch_ms);
        purchases.push(Purchase {
            node: *b,
            price: bought.price,
            setup_ms,
            fetch_ms: bought.fetch_ms,
            fetched_bytes: bought.fetched_bytes,
            mib_per_s: round(
                bought.fetched_bytes as f64
                    / (1 << 20) as f64
                    / (bought.fetch_ms.max(1) as f64 / 1000.0),
            ),
            providers: bought.providers.iter().filter(|p| p.bytes > 0).count(),
            progress: samples,
        });
    }

    tracing::info!(purchases = purchases.len(), "purchases done");
    // The publisher anchors its receipt log, witnessed by its peers.
    let anchored: souk_node::proof::CheckpointView =
        api(nodes[publisher].client()?, |c| c.post("/v1/anchor", &())).await?;
    let cosignatures = souk_crypto::checkpoint::split_cosignatures(&anchored.note)
        .1
        .len();

    let mut counters = souk_node::network::GossipCounters::default();
    for node in nodes.iter() {
        let c = node.net().gossip_counters().await;
        counters.received += c.received;
        counters.unique += c.unique;
    }
    let cpu = process::cpu_seconds() - cpu_before;
    let rss = process::rss_mib() - rss_before;
    let setup: Vec<f64> = purchases.iter().map(|p| p.setup_ms as f64).collect();
    Ok(NetReport {
        scenario: scenario.clone(),
        nodes: n,
        free_riders: free_riders.len(),
        light_nodes: nodes.iter().filter(|node| node.is_light()).count(),
        propagation_ms: Spread::of(&propagation),
        propagation_all_ms: propagation.iter().copied().map(round).collect(),
        coverage: round(reached.len() as f64 / others as f64),
        within_3_heartbeats: round(within as f64 / others as f64),
        via_gossip: reached
            .iter()
            .filter(|(_, s)| *s == ManifestSource::Gossip)
            .count(),
        via_sync: reached
            .iter()
            .filter(|(_, s)| *s == ManifestSource::Sync)
            .count(),
        duplicates_per_delivery: round(
            counters.received.saturating_sub(counters.unique) as f64
                / counters.unique.max(1) as f64,
        ),
        partition_catch_up_ms: Spread::of(&partition_catch_up),
        churn_catch_up_ms: Spread::of(&churn_catch_up),
        purchase_setup_ms: Spread::of(&setup),
        purchases,
        receipts_anchored: anchored.size,
        cosignatures,
        memory_mib_by_nodes: memory,
        memory_per_node_mib: round(rss / n as f64),
        connections_per_node,
        cpu_seconds: round(cpu),
        cpu_seconds_per_node: round(cpu / n as f64),
        elapsed_s: round(started.elapsed().as_secs_f64()),
    })
}
