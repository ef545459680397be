//! Starting real Souk nodes on 127.0.0.1 in one process, and waiting on what they report.

use std::future::Future;
use std::time::Duration;

use souk_node::network::{NetEvent, PeerInfo};
use souk_node::views::{BuyRequest, BuyView};
use souk_node::{Daemon, DatasetSpec, NetConfig, NetworkConfig, Node};
use tempfile::TempDir;
use tokio::sync::broadcast;

/// Longest any wait in these tests may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct TestNode {
    pub dir: TempDir,
    pub daemon: Daemon,
    pub events: broadcast::Receiver<NetEvent>,
}

pub fn net_config() -> NetConfig {
    NetConfig {
        gossip_heartbeat: Duration::from_millis(200),
        gossip_heartbeat_initial_delay: Duration::from_millis(50),
        ..NetConfig::default()
    }
}

/// Starts a node in `dir` (initialising it if needed), listening on 127.0.0.1.
pub async fn start_in(dir: TempDir, bootstrap: &[String]) -> TestNode {
    if !dir.path().join("node.key").exists() {
        souk_node::data_dir::init(dir.path()).expect("init");
    }
    let mut config = souk_node::data_dir::load_config(dir.path()).expect("config");
    config.network = NetworkConfig::loopback(bootstrap);
    start_with(dir, &config).await
}

/// Starts a node in `dir` (initialised) with `config`.
pub async fn start_with(dir: TempDir, config: &souk_node::Config) -> TestNode {
    start_tuned(dir, config, net_config()).await
}

/// Starts a node in `dir` (initialised) with `config` and the network tunables `net`.
pub async fn start_tuned(dir: TempDir, config: &souk_node::Config, net: NetConfig) -> TestNode {
    let (sender, events) = broadcast::channel(4096);
    let daemon = souk_node::daemon::start_observed(dir.path(), config, net, sender)
        .await
        .expect("start node");
    TestNode {
        dir,
        daemon,
        events,
    }
}

pub async fn start(bootstrap: &[String]) -> TestNode {
    start_in(tempfile::tempdir().expect("tempdir"), bootstrap).await
}

impl TestNode {
    /// The node's TCP address.
    pub fn addr(&self) -> String {
        self.addr_with("/tcp/")
    }

    /// The node's QUIC address.
    pub fn quic_addr(&self) -> String {
        self.addr_with("/quic-v1")
    }

    fn addr_with(&self, transport: &str) -> String {
        self.daemon
            .listen_addrs
            .iter()
            .find(|a| a.contains(transport))
            .cloned()
            .unwrap_or_else(|| panic!("no {transport} address in {:?}", self.daemon.listen_addrs))
    }

    pub fn client(&self) -> souk_node::client::ApiClient {
        souk_node::client::ApiClient::new(self.daemon.api_addr, self.daemon.token().to_owned())
    }

    /// Waits for the first event `pick` accepts.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&NetEvent) -> Option<T>,
    ) -> T {
        let events = &mut self.events;
        tokio::time::timeout(DEADLINE, async {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        if let Some(found) = pick(&event) {
                            return found;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => panic!("node stopped"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }

    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.daemon.net().peers().await
    }

    /// Publishes a small dataset through the node's API; returns its id.
    pub async fn publish(&self, name: &str, bytes: &[u8]) -> String {
        self.publish_derived(name, bytes, &[]).await
    }

    /// Publishes a dataset with `parents` ("ID=BPS") through the node's API; returns its id.
    pub async fn publish_derived(&self, name: &str, bytes: &[u8], parents: &[String]) -> String {
        self.publish_spec(name, bytes, parents, 10, 10, None).await
    }

    /// Publishes a dataset for sale at `price`, negotiable down to `floor`; returns its id.
    pub async fn publish_priced(&self, name: &str, bytes: &[u8], price: u64, floor: u64) -> String {
        self.publish_spec(name, bytes, &[], price, floor, None)
            .await
    }

    /// Publishes `bytes` for sale at `price` in shards of `shard_size` bytes; returns its id.
    pub async fn publish_sharded(
        &self,
        name: &str,
        bytes: &[u8],
        price: u64,
        shard_size: u64,
    ) -> String {
        self.publish_spec(name, bytes, &[], price, price, Some(shard_size))
            .await
    }

    /// `souk buy` through the node's API.
    pub async fn buy(
        &self,
        id: &str,
        max_price: u64,
        out: Option<std::path::PathBuf>,
    ) -> Result<BuyView, souk_node::NodeError> {
        let client = self.client();
        let request = BuyRequest {
            dataset: id.to_owned(),
            max_price,
            bid: None,
            out,
        };
        tokio::task::spawn_blocking(move || client.post::<_, BuyView>("/v1/buy", &request))
            .await
            .expect("join")
    }

    /// Bytes of `id` held so far by a download in progress (None when none runs).
    pub async fn transfer_progress(&self, id: &str) -> Option<u64> {
        let client = self.client();
        let list = tokio::task::spawn_blocking(move || {
            client.get::<Vec<souk_node::views::TransferView>>("/v1/transfers")
        })
        .await
        .expect("join")
        .expect("transfers");
        list.iter().find(|t| t.dataset == id).map(|t| t.done_bytes)
    }

    async fn publish_spec(
        &self,
        name: &str,
        bytes: &[u8],
        parents: &[String],
        price: u64,
        floor: u64,
        shard_size: Option<u64>,
    ) -> String {
        let file = self.dir.path().join(format!("{name}.bin"));
        std::fs::write(&file, bytes).expect("write");
        let client = self.client();
        let spec = DatasetSpec {
            paths: vec![file],
            name: Some(name.to_owned()),
            price: Some(price),
            floor: Some(floor),
            parents: parents.to_vec(),
            shard_size,
            ..Default::default()
        };
        tokio::task::spawn_blocking(move || {
            client.post::<_, souk_node::views::PublishView>("/v1/publish", &spec)
        })
        .await
        .expect("join")
        .expect("publish")
        .id
    }

    pub async fn shutdown(self) -> TempDir {
        self.daemon.shutdown().await;
        self.dir
    }
}

/// Polls `check` on node state until it holds; for conditions no event announces (such as a
/// gossip mesh being formed).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = tokio::time::timeout(DEADLINE, async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if check().await {
                return;
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

/// Datasets in a stopped node's catalog.
pub async fn catalog_ids(dir: &std::path::Path) -> Vec<String> {
    let node = Node::open(dir).await.expect("open");
    let ids = node
        .datasets(None)
        .expect("list")
        .iter()
        .map(|d| d.id.to_hex())
        .collect();
    node.shutdown().await;
    ids
}
