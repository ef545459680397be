//! A running node: the network task, the control API, and the files that let CLI commands find
//! it (`api`, `api.token`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use souk_net::NetConfig;
use souk_net::libp2p::Multiaddr;
use souk_net::libp2p::swarm::SwarmEvent;
use souk_store::Catalog;
use tokio::sync::{Notify, broadcast, oneshot};

use crate::api::{ApiState, router};
use crate::client::{API_ADDR_FILE, API_TOKEN_FILE};
use crate::config::{AnchorBackend, Config};
use crate::data_dir::{CATALOG_FILE, replace_file_atomically};
use crate::error::random_32;
use crate::evm_anchoring::{EvmAnchoring, EvmSettings};
use crate::market::Market;
use crate::network::{self, NetEvent, NetHandle, NetworkOptions};
use crate::purchase::Transfers;
use crate::serving;
use crate::{Node, NodeError};
use souk_crypto::NodeKey;
use souk_crypto::checkpoint::receipts_origin;
use souk_transfer::{BlobsService, Gate};

/// How long start-up waits for the transports to report their listen addresses.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// A node that runs: gossiping, syncing, serving its API.
#[derive(Debug)]
pub struct Daemon {
    pub peer_id: String,
    pub api_addr: SocketAddr,
    pub listen_addrs: Vec<String>,
    /// The UDP address of the iroh-blobs endpoint.
    pub blobs_addr: Option<String>,
    net: NetHandle,
    state: Arc<ApiState>,
    stop_api: oneshot::Sender<()>,
    api_task: tokio::task::JoinHandle<()>,
    net_task: tokio::task::JoinHandle<()>,
    evm_task: Option<tokio::task::JoinHandle<()>>,
    root: PathBuf,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiState")
    }
}

fn parse_addrs(addrs: &[String]) -> Result<Vec<Multiaddr>, NodeError> {
    addrs
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|e| NodeError::Invalid(format!("{a:?} is not a multiaddr: {e}")))
        })
        .collect()
}

fn load_or_create_token(root: &Path) -> Result<String, NodeError> {
    let path = root.join(API_TOKEN_FILE);
    if let Ok(token) = std::fs::read_to_string(&path) {
        let token = token.trim();
        if token.len() == 64 && token.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(token.to_owned());
        }
    }
    let token = hex::encode(random_32()?);
    replace_file_atomically(&path, token.as_bytes(), 0o600)?;
    Ok(token)
}

/// Starts the node in `root` with `config` (its network and anchoring settings; the rest of
/// the node's settings come from its data directory).
pub async fn start(root: &Path, config: &Config, net: NetConfig) -> Result<Daemon, NodeError> {
    start_observed(root, config, net, broadcast::channel(1024).0).await
}

/// Like [`start`], reporting network events to `events` from the very first one (subscribe
/// before calling to miss none).
pub async fn start_observed(
    root: &Path,
    config: &Config,
    net: NetConfig,
    events: broadcast::Sender<NetEvent>,
) -> Result<Daemon, NodeError> {
    let network = &config.network;
    let node = Node::open(root).await?;
    let blobs_listen: SocketAddr = network
        .blobs_listen
        .parse()
        .map_err(|_| NodeError::Invalid(format!("{:?} is not an IP:port", network.blobs_listen)))?;
    let gate = Gate::default();
    let blobs = BlobsService::bind(
        &node.key().seed(),
        blobs_listen,
        node.store(),
        gate.clone(),
        Default::default(),
    )
    .await
    .map_err(|e| NodeError::Invalid(e.to_string()))?;
    let served = serving::serve_held(&node, &gate, network.serve_bought).await?;
    tracing::info!(datasets = served, addrs = ?blobs.addrs(), "serving blobs");
    let anchored = Arc::new(Notify::new());
    let evm_task = match config.anchor.backend {
        AnchorBackend::Local => None,
        AnchorBackend::Evm => {
            let settings = EvmSettings::from_config(&config.anchor)?;
            let anchoring = EvmAnchoring::new(
                Catalog::open_for_network(&root.join(CATALOG_FILE))?,
                settings,
                receipts_origin(&node.key().public()),
                events.clone(),
            );
            Some(tokio::spawn(anchoring.run(anchored.clone())))
        }
    };
    let NetworkStarted {
        handle,
        task: net_task,
        peer_id,
        listen_addrs,
    } = start_network(
        root,
        node.key(),
        config,
        net,
        events,
        ServedBlobs {
            gate,
            addrs: blobs.addrs(),
        },
        anchored,
    )
    .await?;
    let api_listen: SocketAddr = network
        .api_listen
        .parse()
        .map_err(|_| NodeError::Invalid(format!("{:?} is not an IP:port", network.api_listen)))?;

    let token = load_or_create_token(root)?;
    let listener = tokio::net::TcpListener::bind(api_listen)
        .await
        .map_err(|e| NodeError::io(format!("binding the API to {api_listen}"), e))?;
    let api_addr = listener
        .local_addr()
        .map_err(|e| NodeError::io("reading the API address", e))?;
    let blobs_addr = blobs.addrs().first().map(ToString::to_string);
    let state = Arc::new(ApiState {
        store: node.store().clone(),
        node: tokio::sync::Mutex::new(node),
        net: handle.clone(),
        token,
        blobs,
        transfers: Transfers::default(),
        serve_bought: network.serve_bought,
    });
    let (stop_api, stopped) = oneshot::channel::<()>();
    let app = router(state.clone());
    let api_task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "control API stopped");
        }
    });
    replace_file_atomically(
        &root.join(API_ADDR_FILE),
        format!("{api_addr}\n").as_bytes(),
        0o644,
    )?;
    tracing::info!(%peer_id, %api_addr, "node running");
    Ok(Daemon {
        peer_id,
        api_addr,
        listen_addrs,
        blobs_addr,
        net: handle,
        state,
        stop_api,
        api_task,
        net_task,
        evm_task,
        root: root.to_owned(),
    })
}

/// Who may read this node's blobs, and where its blobs endpoint listens.
pub(crate) struct ServedBlobs {
    pub gate: Gate,
    pub addrs: Vec<SocketAddr>,
}

/// A network task that runs, and where it listens.
pub(crate) struct NetworkStarted {
    pub handle: NetHandle,
    pub task: tokio::task::JoinHandle<()>,
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
}

/// Builds the swarm under `key`, listens where `config.network` says and waits for the real
/// addresses (so callers and `souk id` can use them), then spawns the network task on the
/// node's catalog.
pub(crate) async fn start_network(
    root: &Path,
    key: &NodeKey,
    config: &Config,
    net: NetConfig,
    events: broadcast::Sender<NetEvent>,
    blobs: ServedBlobs,
    anchored: Arc<Notify>,
) -> Result<NetworkStarted, NodeError> {
    let network = &config.network;
    let listen = parse_addrs(&network.listen)?;
    let bootstrap = parse_addrs(&network.bootstrap)?;
    let mut net = net;
    net.max_established_total = network.max_connections;
    let mut metrics = souk_net::MetricsRegistry::default();
    let mut swarm = souk_net::build_swarm(*key.seed(), &net, &mut metrics)
        .map_err(|e| NodeError::Invalid(e.to_string()))?;
    let peer_id = swarm.local_peer_id().to_string();

    let mut pending = Vec::new();
    for addr in &listen {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NodeError::Invalid(format!("cannot listen on {addr}: {e}")))?;
        pending.push(id);
    }
    let listeners = pending.clone();
    let mut listen_addrs = Vec::new();
    let waited = tokio::time::timeout(LISTEN_TIMEOUT, async {
        use futures::StreamExt;
        while !pending.is_empty() {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    pending.retain(|id| *id != listener_id);
                    listen_addrs.push(format!("{address}/p2p/{peer_id}"));
                }
                SwarmEvent::ListenerClosed { listener_id, .. }
                | SwarmEvent::ListenerError { listener_id, .. } => {
                    pending.retain(|id| *id != listener_id);
                }
                _ => {}
            }
        }
    })
    .await;
    if waited.is_err() || listen_addrs.is_empty() {
        return Err(NodeError::Invalid(
            "the node could not listen on any address; check --listen".to_owned(),
        ));
    }

    let catalog = Catalog::open_for_network(&root.join(CATALOG_FILE))?;
    let options = NetworkOptions {
        listeners,
        bootstrap,
        announce_interval: Duration::from_secs(network.announce_interval_secs),
        sync_interval: Duration::from_secs(network.sync_interval_secs),
        net,
        gate: blobs.gate,
        blobs_addrs: blobs.addrs,
        anchor: config.anchor.clone(),
        anchored,
    };
    let market = Market::new(NodeKey::from_seed(*key.seed()), network.network_id.clone());
    let (handle, task) = network::spawn(swarm, metrics, catalog, options, market, events)?;
    Ok(NetworkStarted {
        handle,
        task,
        peer_id,
        listen_addrs,
    })
}

impl Daemon {
    pub fn net(&self) -> &NetHandle {
        &self.net
    }

    /// The API token (for clients in the same process, such as tests).
    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// Stops the API and the network, removes the API address file and closes the stores.
    pub async fn shutdown(self) {
        let _ = std::fs::remove_file(self.root.join(API_ADDR_FILE));
        let _ = self.stop_api.send(());
        let _ = self.api_task.await;
        self.net.shutdown().await;
        let _ = self.net_task.await;
        if let Some(task) = self.evm_task {
            // Safe at any point: a sent transaction is on record and followed after a restart.
            task.abort();
            let _ = task.await;
        }
        self.state.blobs.shutdown().await;
        match Arc::try_unwrap(self.state) {
            Ok(state) => state.node.into_inner().shutdown().await,
            Err(_) => tracing::warn!("the API still held the node at shutdown"),
        }
    }
}
