//! The control-plane event loop: owns the libp2p swarm and its own catalog connection, validates
//! what peers send before storing or relaying it, answers and runs catch-up sync, and keeps
//! provider records.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures::StreamExt;
use souk_crypto::{SignedLicense, SignedManifest};
use souk_net::libp2p::core::transport::ListenerId;
use souk_net::libp2p::gossipsub::{self, MessageAcceptance, TopicHash};
use souk_net::libp2p::kad::{self, GetProvidersOk, QueryId, QueryResult};
use souk_net::libp2p::request_response::{self, OutboundRequestId};
use souk_net::libp2p::swarm::SwarmEvent;
use souk_net::libp2p::{Multiaddr, PeerId, Swarm, identify, multiaddr::Protocol};
use souk_net::{
    Behaviour, BehaviourEvent, MANIFEST_TOPIC, MAX_SYNC_PAGE, NetConfig, checkpoint_topic,
    manifest_topic,
};
use souk_proto::v1;
use souk_store::{Catalog, NewDataset};
use souk_types::{DatasetId, PublicKey};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::NodeError;
use crate::market::{BuySession, BuyStep, Market, Purchase, PurchaseReply};
use crate::node::now_ms;
use crate::proof::CheckpointView;
use crate::witnessing::{self, AnchorRound, Evidence, NextStep};
use souk_transfer::Gate;

/// How a manifest reached this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestSource {
    Gossip,
    Sync,
}

/// What the network did, for observers (tests, the simulator, logs).
#[derive(Debug, Clone)]
pub enum NetEvent {
    Listening(Multiaddr),
    /// This node gossiped a manifest (published here, imported, or re-announced).
    Announced(DatasetId),
    PeerConnected(PeerId),
    PeerDisconnected(PeerId),
    /// A peer joined the manifest topic.
    PeerSubscribed(PeerId),
    /// A valid manifest was added to the catalog.
    ManifestStored {
        id: DatasetId,
        source: ManifestSource,
        from: PeerId,
    },
    /// A peer sent something invalid; it was dropped and the peer penalised.
    Rejected {
        from: PeerId,
        reason: String,
    },
    /// Catch-up sync with a peer reached its end.
    SyncDone(PeerId),
    /// A peer was disconnected and banned for misbehaving.
    Banned(PeerId),
    /// This node anchored a checkpoint of its receipt log.
    Anchored {
        size: u64,
        cosignatures: usize,
    },
    /// A log showed two histories; this node no longer trusts it.
    Equivocation {
        origin: String,
        log: PeerId,
    },
    /// A checkpoint of `size` receipts moved on its way to the EVM chain.
    ChainAnchor {
        size: u64,
        state: crate::evm_anchoring::ChainAnchorState,
    },
}

/// A connected peer, as `souk peers` shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PeerInfo {
    pub peer_id: String,
    pub addrs: Vec<String>,
    pub gossip_score: Option<f64>,
    /// Whether the peer is in this node's gossip mesh for manifests.
    pub in_mesh: bool,
}

#[derive(Debug)]
pub(crate) enum NetCommand {
    Announce {
        id: DatasetId,
        envelope: Vec<u8>,
        provide: bool,
    },
    Provide {
        id: DatasetId,
    },
    Providers {
        id: DatasetId,
        reply: oneshot::Sender<Vec<String>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<String>>,
    },
    Metrics {
        reply: oneshot::Sender<String>,
    },
    Buy {
        dataset: DatasetId,
        seller: PublicKey,
        max_price: u64,
        bid: Option<u64>,
        reply: PurchaseReply,
    },
    Access {
        provider: PublicKey,
        license: Vec<u8>,
        reply: AccessReply,
    },
    Anchor {
        reply: AnchorReply,
    },
    /// One negotiation request to `peer`, outside a purchase.
    Negotiate {
        peer: PublicKey,
        request: v1::NegotiationRequest,
        reply: NegotiateReply,
    },
    Dial(Multiaddr),
    Shutdown,
}

type NegotiateReply = oneshot::Sender<Result<v1::NegotiationResponse, String>>;

type AccessReply = oneshot::Sender<Result<Vec<SocketAddr>, String>>;
type AnchorReply = oneshot::Sender<Result<CheckpointView, String>>;

/// Most peers asked to witness one checkpoint.
const MAX_WITNESSES: usize = 8;

/// Most blobs addresses taken from one access grant.
const MAX_BLOBS_ADDRS: usize = 16;

/// Gossip messages this node received on the manifest topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GossipCounters {
    /// Every copy received, duplicates included.
    pub received: u64,
    /// Distinct messages received.
    pub unique: u64,
}

impl GossipCounters {
    /// Reads the counters from gossipsub's Prometheus text exposition.
    pub fn from_metrics(text: &str) -> Self {
        let value = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(name) && l.contains(MANIFEST_TOPIC))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .map(|v| v as u64)
                .sum()
        };
        Self {
            received: value("topic_msg_recv_counts_unfiltered_total"),
            unique: value("topic_msg_recv_counts_total"),
        }
    }
}

/// Sending side of the network task.
#[derive(Debug, Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<NetCommand>,
    events: broadcast::Sender<NetEvent>,
}

impl NetHandle {
    pub fn subscribe(&self) -> broadcast::Receiver<NetEvent> {
        self.events.subscribe()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> NetCommand) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.ok()?;
        answer.await.ok()
    }

    /// Gossips a manifest and, with `provide`, advertises this node as a provider of its
    /// dataset.
    pub async fn announce(&self, id: DatasetId, envelope: Vec<u8>, provide: bool) {
        let _ = self
            .commands
            .send(NetCommand::Announce {
                id,
                envelope,
                provide,
            })
            .await;
    }

    /// Advertises this node as a provider of `id` (its manifest is already known around).
    pub async fn provide(&self, id: DatasetId) {
        let _ = self.commands.send(NetCommand::Provide { id }).await;
    }

    pub async fn providers(&self, id: DatasetId) -> Vec<String> {
        self.ask(|reply| NetCommand::Providers { id, reply })
            .await
            .unwrap_or_default()
    }

    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.ask(|reply| NetCommand::Peers { reply })
            .await
            .unwrap_or_default()
    }

    /// gossipsub's counters in Prometheus text format.
    pub async fn metrics(&self) -> String {
        self.ask(|reply| NetCommand::Metrics { reply })
            .await
            .unwrap_or_default()
    }

    /// Negotiates a license for `dataset` with `seller`, paying at most `max_price`.
    pub async fn buy(
        &self,
        dataset: DatasetId,
        seller: PublicKey,
        max_price: u64,
        bid: Option<u64>,
    ) -> Result<Purchase, String> {
        self.ask(|reply| NetCommand::Buy {
            dataset,
            seller,
            max_price,
            bid,
            reply,
        })
        .await
        .unwrap_or_else(|| Err("the node stopped".to_owned()))
    }

    /// Presents `license` to `provider` and returns the provider's blobs addresses once it
    /// admitted this node.
    pub async fn request_access(
        &self,
        provider: PublicKey,
        license: Vec<u8>,
    ) -> Result<Vec<SocketAddr>, String> {
        self.ask(|reply| NetCommand::Access {
            provider,
            license,
            reply,
        })
        .await
        .unwrap_or_else(|| Err("the node stopped".to_owned()))
    }

    /// Dials `addr` (with its `/p2p/` peer id), as a bootstrap address would be.
    pub async fn dial(&self, addr: Multiaddr) {
        let _ = self.commands.send(NetCommand::Dial(addr)).await;
    }

    /// Sends one negotiation request to `peer` and returns its answer.
    pub async fn negotiate(
        &self,
        peer: PublicKey,
        request: v1::NegotiationRequest,
    ) -> Result<v1::NegotiationResponse, String> {
        self.ask(|reply| NetCommand::Negotiate {
            peer,
            request,
            reply,
        })
        .await
        .unwrap_or_else(|| Err("the network task stopped".to_owned()))
    }

    /// Anchors the receipt log now, with the cosignatures of the connected peers that witness
    /// it (or joins the anchoring already under way).
    pub async fn anchor_now(&self) -> Result<CheckpointView, String> {
        self.ask(|reply| NetCommand::Anchor { reply })
            .await
            .unwrap_or_else(|| Err("the network task stopped".to_owned()))
    }

    pub async fn gossip_counters(&self) -> GossipCounters {
        GossipCounters::from_metrics(&self.metrics().await)
    }

    /// Full multiaddrs (with `/p2p/<peer id>`) this node listens on.
    pub async fn listen_addrs(&self) -> Vec<String> {
        self.ask(|reply| NetCommand::ListenAddrs { reply })
            .await
            .unwrap_or_default()
    }

    pub(crate) async fn shutdown(&self) {
        let _ = self.commands.send(NetCommand::Shutdown).await;
    }
}

/// Network settings of a running node.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// The swarm's open listeners, closed when the task stops (a memory-transport port is
    /// only freed that way, and a restarted node must find its port free).
    pub listeners: Vec<ListenerId>,
    pub bootstrap: Vec<Multiaddr>,
    pub announce_interval: Duration,
    pub sync_interval: Duration,
    pub net: NetConfig,
    /// Who may read this node's blobs; license holders are admitted here.
    pub gate: Gate,
    /// Where this node's blobs endpoint listens.
    pub blobs_addrs: Vec<SocketAddr>,
    pub anchor: crate::AnchorConfig,
    /// Notified whenever a checkpoint is anchored locally.
    pub anchored: std::sync::Arc<tokio::sync::Notify>,
}

/// Misbehaviour a peer may show before it is disconnected and banned.
const MAX_STRIKES: u32 = 5;
const BAN_DURATION: Duration = Duration::from_secs(600);
/// Gossip score below which a peer is disconnected.
const DISCONNECT_SCORE: f64 = -200.0;
/// The window of `NetConfig::requests_per_window`.
const REQUEST_WINDOW: Duration = Duration::from_secs(10);
const PEERS_REMEMBERED: usize = 64;
/// Gossip kept while nobody listens; anything older reaches its peers at their next sync.
const MAX_UNSENT: usize = 64;

struct Service {
    swarm: Swarm<Behaviour>,
    metrics: souk_net::MetricsRegistry,
    catalog: Catalog,
    events: broadcast::Sender<NetEvent>,
    options: NetworkOptions,
    strikes: HashMap<PeerId, u32>,
    banned: HashMap<PeerId, Instant>,
    sync_in_flight: HashMap<OutboundRequestId, PeerId>,
    syncing: HashSet<PeerId>,
    request_budget: HashMap<PeerId, (Instant, u32)>,
    market: Market,
    buys: HashMap<OutboundRequestId, BuySession>,
    provider_queries: HashMap<QueryId, (HashSet<PeerId>, oneshot::Sender<Vec<String>>)>,
    /// Each connected peer: the address it was reached at, and when it was last of use
    /// (connected, or a request went to or came from it).
    connected: HashMap<PeerId, (Multiaddr, Instant)>,
    access_requests: HashMap<OutboundRequestId, (PeerId, AccessReply)>,
    anchoring: Option<(AnchorRound<OutboundRequestId, PeerId>, Vec<AnchorReply>)>,
    negotiations: HashMap<OutboundRequestId, NegotiateReply>,
    /// Logs that showed two histories, known by evidence: never trusted again.
    distrusted: HashSet<PeerId>,
    /// Gossip published while no peer was subscribed to its topic, oldest first.
    unsent: VecDeque<Unsent>,
}

/// A gossip message nobody could be sent yet, and the peers it still has to reach.
struct Unsent {
    topic: TopicHash,
    data: Vec<u8>,
    awaiting: HashSet<PeerId>,
}

/// Starts the network task on `swarm`, which must use this node's key.
pub(crate) fn spawn(
    swarm: Swarm<Behaviour>,
    metrics: souk_net::MetricsRegistry,
    catalog: Catalog,
    options: NetworkOptions,
    market: Market,
    events: broadcast::Sender<NetEvent>,
) -> Result<(NetHandle, tokio::task::JoinHandle<()>), NodeError> {
    let (commands, receiver) = mpsc::channel(256);
    let distrusted = catalog
        .equivocating_origins()?
        .iter()
        .filter_map(|origin| souk_crypto::checkpoint::origin_peer(origin))
        .filter_map(|key| key.to_peer_id().parse().ok())
        .collect();
    let mut service = Service {
        swarm,
        metrics,
        catalog,
        events: events.clone(),
        options,
        strikes: HashMap::new(),
        banned: HashMap::new(),
        sync_in_flight: HashMap::new(),
        syncing: HashSet::new(),
        request_budget: HashMap::new(),
        market,
        buys: HashMap::new(),
        provider_queries: HashMap::new(),
        connected: HashMap::new(),
        access_requests: HashMap::new(),
        anchoring: None,
        negotiations: HashMap::new(),
        distrusted,
        unsent: VecDeque::new(),
    };
    service.dial_known_peers();
    let task = tokio::spawn(async move { service.run(receiver).await });
    Ok((NetHandle { commands, events }, task))
}

/// The peer of a request-response exchange.
fn request_peer(event: &BehaviourEvent) -> Option<PeerId> {
    fn of<Req, Resp>(event: &request_response::Event<Req, Resp>) -> PeerId {
        match event {
            request_response::Event::Message { peer, .. }
            | request_response::Event::OutboundFailure { peer, .. }
            | request_response::Event::InboundFailure { peer, .. }
            | request_response::Event::ResponseSent { peer, .. } => *peer,
        }
    }
    match event {
        BehaviourEvent::Sync(e) => Some(of(e)),
        BehaviourEvent::Negotiation(e) => Some(of(e)),
        BehaviourEvent::Access(e) => Some(of(e)),
        BehaviourEvent::Witness(e) => Some(of(e)),
        _ => None,
    }
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

impl Service {
    fn emit(&self, event: NetEvent) {
        let _ = self.events.send(event);
    }

    fn dial_known_peers(&mut self) {
        for addr in self.options.bootstrap.clone() {
            if let Some(peer) = peer_of(&addr) {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
        let known = self
            .catalog
            .known_peers(PEERS_REMEMBERED)
            .unwrap_or_default();
        for (peer, addrs) in known {
            let Ok(peer) = peer.parse::<PeerId>() else {
                continue;
            };
            let addrs: Vec<Multiaddr> = addrs.iter().filter_map(|a| a.parse().ok()).collect();
            for addr in &addrs {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
            let opts = souk_net::libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addrs)
                .build();
            let _ = self.swarm.dial(opts);
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<NetCommand>) {
        let mut announce = tokio::time::interval(self.options.announce_interval);
        let mut sync = tokio::time::interval(self.options.sync_interval);
        let mut police = tokio::time::interval(Duration::from_secs(1));
        let mut anchor =
            tokio::time::interval(Duration::from_secs(self.options.anchor.interval_secs));
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(NetCommand::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = announce.tick() => self.reannounce(),
                _ = sync.tick() => {
                    let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                    for peer in peers {
                        self.start_sync(peer);
                    }
                }
                _ = police.tick() => self.police(),
                _ = anchor.tick() => self.anchor_if_due(),
            }
        }
        for listener in std::mem::take(&mut self.options.listeners) {
            self.swarm.remove_listener(listener);
        }
        tracing::debug!("network task stopped");
    }

    fn on_command(&mut self, command: NetCommand) {
        match command {
            NetCommand::Announce {
                id,
                envelope,
                provide,
            } => {
                self.publish(envelope);
                self.emit(NetEvent::Announced(id));
                if provide {
                    self.start_providing(id);
                }
            }
            NetCommand::Provide { id } => self.start_providing(id),
            NetCommand::Providers { id, reply } => {
                let query = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(kad::RecordKey::new(id.as_bytes()));
                self.provider_queries.insert(query, (HashSet::new(), reply));
            }
            NetCommand::Peers { reply } => {
                let gossip = &self.swarm.behaviour().gossipsub;
                let topic = manifest_topic().hash();
                let mesh: HashSet<&PeerId> = gossip.mesh_peers(&topic).collect();
                let peers = self
                    .connected
                    .iter()
                    .map(|(peer, (addr, _))| PeerInfo {
                        peer_id: peer.to_string(),
                        addrs: vec![addr.to_string()],
                        gossip_score: gossip.peer_score(peer),
                        in_mesh: mesh.contains(peer),
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            NetCommand::ListenAddrs { reply } => {
                let me = *self.swarm.local_peer_id();
                let addrs = self
                    .swarm
                    .listeners()
                    .map(|a| a.clone().with(Protocol::P2p(me)).to_string())
                    .collect();
                let _ = reply.send(addrs);
            }
            NetCommand::Metrics { reply } => {
                let mut text = String::new();
                if prometheus_client::encoding::text::encode(&mut text, &self.metrics).is_ok() {
                    let _ = reply.send(text);
                }
            }
            NetCommand::Buy {
                dataset,
                seller,
                max_price,
                bid,
                reply,
            } => {
                if self.distrusts(&seller) {
                    let _ = reply.send(Err(
                        "the seller's receipt log showed two histories: it is not trusted"
                            .to_owned(),
                    ));
                    return;
                }
                let (request, session) = self
                    .market
                    .start_buy(dataset, seller, max_price, bid, reply);
                self.send_buy_step(Some((request, session)));
            }
            NetCommand::Access {
                provider,
                license,
                reply,
            } => {
                let Ok(peer) = provider.to_peer_id().parse::<PeerId>() else {
                    let _ = reply.send(Err("the provider's key is not a peer id".to_owned()));
                    return;
                };
                let id = self
                    .swarm
                    .behaviour_mut()
                    .access
                    .send_request(&peer, v1::AccessRequest { license });
                self.note_request(peer);
                self.access_requests.insert(id, (peer, reply));
            }
            NetCommand::Anchor { reply } => self.start_anchoring(Some(reply)),
            NetCommand::Dial(addr) => {
                if let Some(peer) = peer_of(&addr) {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                }
                if let Err(e) = self.swarm.dial(addr) {
                    tracing::warn!(error = %e, "cannot dial");
                }
            }
            NetCommand::Negotiate {
                peer,
                request,
                reply,
            } => match peer.to_peer_id().parse::<PeerId>() {
                Ok(peer) => {
                    let id = self
                        .swarm
                        .behaviour_mut()
                        .negotiation
                        .send_request(&peer, request);
                    self.note_request(peer);
                    self.negotiations.insert(id, reply);
                }
                Err(_) => {
                    let _ = reply.send(Err("the key is not a peer id".to_owned()));
                }
            },
            NetCommand::Shutdown => {}
        }
    }

    fn distrusts(&self, key: &PublicKey) -> bool {
        key.to_peer_id()
            .parse::<PeerId>()
            .is_ok_and(|peer| self.distrusted.contains(&peer))
    }

    /// An epoch ended: anchor the receipt log if enough receipts arrived since the last anchor.
    fn anchor_if_due(&mut self) {
        match crate::proof::anchor_due(&self.catalog, self.options.anchor.min_receipts) {
            Ok(true) => self.start_anchoring(None),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the receipt log"),
        }
    }

    /// Signs a checkpoint and asks connected peers to witness it; it is anchored once every
    /// witness answered or timed out.
    fn start_anchoring(&mut self, reply: Option<AnchorReply>) {
        if let Some((_, replies)) = &mut self.anchoring {
            replies.extend(reply);
            return;
        }
        let started = crate::proof::sign_checkpoint(&self.catalog, self.market.key())
            .and_then(|signed| Ok((signed, crate::proof::last_anchored_size(&self.catalog)?)));
        let (signed, last_anchored) = match started {
            Ok(started) => started,
            Err(e) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(e.to_string()));
                }
                return;
            }
        };
        let mut round = AnchorRound::new(signed);
        let witnesses: Vec<PeerId> = self
            .connected
            .keys()
            .filter(|peer| !self.distrusted.contains(peer))
            .take(MAX_WITNESSES)
            .copied()
            .collect();
        for peer in witnesses {
            let request = round.request(last_anchored);
            let id = self
                .swarm
                .behaviour_mut()
                .witness
                .send_request(&peer, request);
            self.note_request(peer);
            round.asked(id, peer);
        }
        self.anchoring = Some((round, reply.into_iter().collect()));
        self.finish_anchoring_if_complete();
    }

    fn finish_anchoring_if_complete(&mut self) {
        if !self
            .anchoring
            .as_ref()
            .is_some_and(|(round, _)| round.is_complete())
        {
            return;
        }
        let Some((round, replies)) = self.anchoring.take() else {
            return;
        };
        let result = round
            .record(&mut self.catalog, now_ms())
            .map_err(|e| e.to_string());
        match &result {
            Ok(anchored) => {
                self.options.anchored.notify_one();
                let cosignatures = souk_crypto::checkpoint::split_cosignatures(&anchored.note)
                    .1
                    .len();
                tracing::info!(
                    size = anchored.size,
                    seq = anchored.seq,
                    cosignatures,
                    "anchored the receipt log"
                );
                self.gossip_checkpoint(v1::checkpoint_gossip::Kind::Head(anchored.note.clone()));
                self.emit(NetEvent::Anchored {
                    size: anchored.size,
                    cosignatures,
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot anchor the receipt log"),
        }
        for reply in replies {
            let _ = reply.send(result.clone());
        }
    }

    fn on_witness_response(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        response: v1::AddCheckpointResponse,
    ) {
        let Some((round, _)) = &mut self.anchoring else {
            return;
        };
        let Ok(key) = peer.to_string().parse::<PublicKey>() else {
            round.failed(&request_id);
            return;
        };
        if let NextStep::AskAgain(request) = round.answered(&request_id, &key, response) {
            let id = self
                .swarm
                .behaviour_mut()
                .witness
                .send_request(&peer, request);
            // The answer that led here counts as use of `peer`: no note needed.
            round.asked(id, peer);
        }
        self.finish_anchoring_if_complete();
    }

    fn answer_witness(
        &mut self,
        peer: PeerId,
        request: v1::AddCheckpoint,
        channel: request_response::ResponseChannel<v1::AddCheckpointResponse>,
    ) {
        if !self.within_budget(peer) {
            return;
        }
        let outcome = witnessing::witness(&mut self.catalog, self.market.key(), &request, now_ms());
        match outcome {
            Ok(outcome) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .witness
                    .send_response(channel, outcome.response);
                if let Some(evidence) = outcome.evidence {
                    self.distrust(&evidence);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot witness a checkpoint"),
        }
    }

    /// Stops trusting the log `evidence` convicts, and tells the network.
    fn distrust(&mut self, evidence: &Evidence) {
        let Ok(log) = evidence.log.to_peer_id().parse::<PeerId>() else {
            return;
        };
        if let Err(e) = self.catalog.record_equivocation(
            &evidence.origin,
            &evidence.first,
            &evidence.second,
            now_ms(),
        ) {
            tracing::error!(error = %e, "cannot keep equivocation evidence");
        }
        if !self.distrusted.insert(log) {
            return;
        }
        tracing::warn!(origin = %evidence.origin, "a receipt log showed two histories");
        self.gossip_checkpoint(v1::checkpoint_gossip::Kind::Equivocation(
            evidence.to_proto(),
        ));
        self.emit(NetEvent::Equivocation {
            origin: evidence.origin.clone(),
            log,
        });
    }

    fn gossip_checkpoint(&mut self, kind: v1::checkpoint_gossip::Kind) {
        let message = v1::CheckpointGossip { kind: Some(kind) };
        self.gossip(
            checkpoint_topic().hash(),
            souk_proto::Message::encode_to_vec(&message),
        );
    }

    fn on_checkpoint_gossip(&mut self, source: PeerId, data: &[u8]) -> MessageAcceptance {
        use v1::checkpoint_gossip::Kind;
        let kind = <v1::CheckpointGossip as souk_proto::Message>::decode(data)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                m.kind
                    .ok_or_else(|| "an empty checkpoint message".to_owned())
            });
        let evidence = match kind {
            Ok(Kind::Head(note)) => witnessing::check_head(&self.catalog, &note),
            Ok(Kind::Equivocation(evidence)) => Evidence::check(&evidence).map(Some),
            Err(e) => Err(e),
        };
        match evidence {
            Ok(evidence) => {
                if let Some(evidence) = evidence {
                    self.distrust(&evidence);
                }
                MessageAcceptance::Accept
            }
            Err(e) => {
                self.strike(source, format!("invalid checkpoint gossip: {e}"));
                MessageAcceptance::Reject
            }
        }
    }

    fn start_providing(&mut self, id: DatasetId) {
        let key = kad::RecordKey::new(id.as_bytes());
        if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key) {
            tracing::warn!(dataset = %id, error = %e, "cannot advertise as provider");
        }
    }

    fn publish(&mut self, envelope: Vec<u8>) {
        self.gossip(manifest_topic().hash(), envelope);
    }

    /// Gossips `data` on `topic`. When no peer is subscribed yet, the peers connected now have
    /// synced before this existed and would not hear of it until the next sync round: it goes
    /// out as soon as one of them subscribes. Peers that connect later learn it by sync.
    fn gossip(&mut self, topic: TopicHash, data: Vec<u8>) {
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic.clone(), data.clone())
        {
            // Already told: nothing to do.
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => {}
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                let awaiting: HashSet<PeerId> = self.connected.keys().copied().collect();
                if awaiting.is_empty() {
                    return;
                }
                if self.unsent.len() == MAX_UNSENT {
                    self.unsent.pop_front();
                }
                self.unsent.push_back(Unsent {
                    topic,
                    data,
                    awaiting,
                });
            }
            Err(e) => tracing::warn!(%topic, error = %e, "cannot gossip"),
        }
    }

    /// `peer` subscribed to `topic`: what it missed while it was not yet listening goes out now.
    fn on_subscribed(&mut self, peer: PeerId, topic: TopicHash) {
        let (due, waiting) = std::mem::take(&mut self.unsent)
            .into_iter()
            .partition(|u| u.topic == topic && u.awaiting.contains(&peer));
        self.unsent = waiting;
        for Unsent { topic, data, .. } in due {
            self.gossip(topic, data);
        }
        self.emit(NetEvent::PeerSubscribed(peer));
    }

    /// Re-gossips the manifests of datasets this node serves, for peers that missed them, and
    /// renews its provider records.
    fn reannounce(&mut self) {
        let held = self.options.gate.lock().held();
        for id in held {
            if let Ok(Some(stored)) = self.catalog.get(&id) {
                self.publish(stored.signed.envelope);
                let key = kad::RecordKey::new(id.as_bytes());
                let _ = self.swarm.behaviour_mut().kad.start_providing(key);
            }
        }
    }

    fn strike(&mut self, peer: PeerId, reason: String) {
        tracing::info!(%peer, %reason, "peer sent invalid data");
        self.emit(NetEvent::Rejected { from: peer, reason });
        let strikes = self.strikes.entry(peer).or_insert(0);
        *strikes += 1;
        if *strikes >= MAX_STRIKES {
            self.ban(peer);
        }
    }

    fn ban(&mut self, peer: PeerId) {
        tracing::warn!(%peer, "banning misbehaving peer");
        self.banned.insert(peer, Instant::now() + BAN_DURATION);
        self.strikes.remove(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
        self.emit(NetEvent::Banned(peer));
    }

    /// Disconnects peers whose gossip score fell too low and convicted logs, and forgets expired
    /// bans.
    fn police(&mut self) {
        let now = Instant::now();
        self.banned.retain(|_, until| *until > now);
        let low: Vec<PeerId> = self
            .swarm
            .connected_peers()
            .filter(|p| {
                self.swarm
                    .behaviour()
                    .gossipsub
                    .peer_score(p)
                    .is_some_and(|s| s < DISCONNECT_SCORE)
            })
            .copied()
            .collect();
        for peer in low {
            self.ban(peer);
        }
        // Convicted logs are dropped here rather than at once, so the answer that convicted
        // one still reaches it.
        let convicted: Vec<PeerId> = self
            .swarm
            .connected_peers()
            .filter(|p| self.distrusted.contains(p))
            .copied()
            .collect();
        for peer in convicted {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        self.prune_excess_peers();
    }

    fn note_request(&mut self, peer: PeerId) {
        if let Some((_, used)) = self.connected.get_mut(&peer) {
            *used = Instant::now();
        }
    }

    /// Lets go of connections beyond `target_peers`, least recently useful first; never a
    /// gossip mesh peer, a peer being synced with, nor one connected or asked within
    /// `prune_grace`.
    fn prune_excess_peers(&mut self) {
        let excess = self
            .connected
            .len()
            .saturating_sub(self.options.net.target_peers);
        if excess == 0 {
            return;
        }
        let now = Instant::now();
        let mesh: HashSet<&PeerId> = self.swarm.behaviour().gossipsub.all_mesh_peers().collect();
        let mut idle: Vec<(Instant, PeerId)> = self
            .connected
            .iter()
            .filter(|(peer, _)| !mesh.contains(peer) && !self.syncing.contains(peer))
            .map(|(peer, (_, used))| (*used, *peer))
            .filter(|(used, _)| now.duration_since(*used) >= self.options.net.prune_grace)
            .collect();
        idle.sort_unstable();
        for (_, peer) in idle.into_iter().take(excess) {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Validates and stores a manifest; returns whether it was new.
    fn store_manifest(
        &mut self,
        signed: &SignedManifest,
        source: ManifestSource,
        from: PeerId,
    ) -> Result<bool, NodeError> {
        let added = self.catalog.insert(NewDataset {
            manifest: signed,
            key: None,
            policy: None,
            added_at_ms: now_ms(),
        })?;
        if added {
            tracing::info!(dataset = %signed.id, ?source, %from, "learned a manifest");
            self.emit(NetEvent::ManifestStored {
                id: signed.id,
                source,
                from,
            });
        }
        Ok(added)
    }

    fn missing_parent(&self, signed: &SignedManifest) -> Option<DatasetId> {
        signed
            .manifest
            .parents
            .iter()
            .map(|p| p.dataset)
            .find(|id| !self.catalog.contains(id).unwrap_or(false))
    }

    fn on_gossip(
        &mut self,
        source: PeerId,
        id: gossipsub::MessageId,
        message: &gossipsub::Message,
    ) {
        let acceptance = if message.topic == checkpoint_topic().hash() {
            self.on_checkpoint_gossip(source, &message.data)
        } else {
            self.on_manifest_gossip(source, &message.data)
        };
        // A free rider keeps what it accepted but relays nothing (simulations switch this on).
        let acceptance = match acceptance {
            MessageAcceptance::Accept if !self.options.net.forward_gossip => {
                MessageAcceptance::Ignore
            }
            other => other,
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id, &source, acceptance);
    }

    fn on_manifest_gossip(&mut self, source: PeerId, data: &[u8]) -> MessageAcceptance {
        match SignedManifest::open(data) {
            Err(e) => {
                self.strike(source, format!("invalid manifest: {e}"));
                MessageAcceptance::Reject
            }
            Ok(signed) => match self.missing_parent(&signed) {
                // The sender validated it, so it holds the parent: fetch it by sync, and take
                // this manifest from the same page.
                Some(parent) => {
                    tracing::debug!(dataset = %signed.id, %parent, "parent unknown; syncing");
                    self.start_sync(source);
                    MessageAcceptance::Ignore
                }
                None => match self.store_manifest(&signed, ManifestSource::Gossip, source) {
                    Ok(true) => MessageAcceptance::Accept,
                    // Known already: valid, but relaying it again would only re-flood it.
                    Ok(false) => MessageAcceptance::Ignore,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot store a manifest");
                        MessageAcceptance::Ignore
                    }
                },
            },
        }
    }

    fn start_sync(&mut self, peer: PeerId) {
        if self.syncing.contains(&peer) {
            return;
        }
        let (epoch, after) = self
            .catalog
            .sync_cursor(&peer.to_string())
            .ok()
            .flatten()
            .unwrap_or_default();
        let request = v1::SyncRequest {
            epoch,
            after,
            limit: MAX_SYNC_PAGE,
        };
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.sync_in_flight.insert(id, peer);
        self.syncing.insert(peer);
    }

    /// Counts a request from `peer`; false (and a strike) once it exceeds its budget.
    fn within_budget(&mut self, peer: PeerId) -> bool {
        let now = Instant::now();
        let budget = self.request_budget.entry(peer).or_insert((now, 0));
        if now.duration_since(budget.0) > REQUEST_WINDOW {
            *budget = (now, 0);
        }
        budget.1 += 1;
        if budget.1 > self.options.net.requests_per_window {
            self.strike(peer, "too many requests".to_owned());
            return false;
        }
        true
    }

    fn answer_negotiation(
        &mut self,
        peer: PeerId,
        request: v1::NegotiationRequest,
        channel: request_response::ResponseChannel<v1::NegotiationResponse>,
    ) {
        if !self.within_budget(peer) {
            return;
        }
        let Ok(from) = peer.to_string().parse::<PublicKey>() else {
            // Only ed25519 peers can buy: licenses bind an ed25519 key.
            return;
        };
        let response = match request.message {
            Some(v1::negotiation_request::Message::Delivery(claim)) => {
                self.answer_delivery(peer, &claim)
            }
            message => {
                self.market
                    .answer(&mut self.catalog, from, v1::NegotiationRequest { message })
            }
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .negotiation
            .send_response(channel, response);
    }

    /// A delivery receipt for a holder this node admitted, for at most the dataset's size.
    fn answer_delivery(
        &mut self,
        peer: PeerId,
        claim: &v1::DeliveryClaim,
    ) -> v1::NegotiationResponse {
        use v1::negotiation_response::Message;
        let issued = self
            .check_license(peer, &claim.license)
            .and_then(|(holder, signed, size)| {
                let l = &signed.license;
                if !self
                    .options
                    .gate
                    .lock()
                    .admitted(&holder, &l.dataset, now_ms())
                {
                    return Err("this node never admitted that license".to_owned());
                }
                if claim.bytes == 0 || claim.bytes > size {
                    return Err(format!(
                        "a delivery of {} bytes of a {size}-byte dataset",
                        claim.bytes
                    ));
                }
                crate::receipts::delivery_receipt(self.market.key(), &signed, claim.bytes, now_ms())
            });
        let message = match issued {
            Ok(receipt) => Message::DeliveryReceipt(receipt.envelope),
            Err(e) => Message::Refused(format!("no delivery receipt: {e}")),
        };
        v1::NegotiationResponse {
            message: Some(message),
        }
    }

    /// Checks a license a peer presents and admits the peer's blobs endpoint (the same key) to
    /// the dataset until the license expires.
    fn answer_access(
        &mut self,
        peer: PeerId,
        request: v1::AccessRequest,
        channel: request_response::ResponseChannel<v1::AccessResponse>,
    ) {
        use v1::access_response::Result as Answer;
        if !self.within_budget(peer) {
            return;
        }
        let answer = match self.admit(peer, &request.license) {
            Ok(expires_at_ms) => Answer::Granted(v1::AccessGranted {
                blobs_addrs: self
                    .options
                    .blobs_addrs
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                expires_at_ms,
            }),
            Err(reason) => {
                tracing::info!(%peer, %reason, "refused blobs access");
                Answer::Refused(reason)
            }
        };
        let _ = self.swarm.behaviour_mut().access.send_response(
            channel,
            v1::AccessResponse {
                result: Some(answer),
            },
        );
    }

    /// Checks that `license` is live, held by `peer`, issued by the publisher of a dataset this
    /// node serves; returns the holder, the license and the bytes a delivery of it can carry.
    fn check_license(
        &self,
        peer: PeerId,
        license: &[u8],
    ) -> Result<(PublicKey, SignedLicense, u64), String> {
        let presenter = peer
            .to_string()
            .parse::<PublicKey>()
            .map_err(|_| "only ed25519 peers hold licenses".to_owned())?;
        let signed = SignedLicense::open(license).map_err(|e| e.to_string())?;
        let l = &signed.license;
        l.grants(&presenter, &l.dataset, self.market.network_id(), now_ms())
            .map_err(|e| e.to_string())?;
        let stored = self
            .catalog
            .get(&l.dataset)
            .ok()
            .flatten()
            .ok_or_else(|| format!("this node does not know dataset {}", l.dataset))?;
        if stored.signed.manifest.publisher != l.seller {
            return Err("the license was not issued by the dataset's publisher".to_owned());
        }
        if !self.options.gate.lock().holds(&l.dataset) {
            return Err(format!("this node does not serve dataset {}", l.dataset));
        }
        // What a provider serves: the encrypted shards and their list (one hash per shard).
        let manifest = &stored.signed.manifest;
        let size = manifest
            .ciphertext_size()
            .saturating_add(manifest.shards.shard_count.saturating_mul(32));
        Ok((presenter, signed, size))
    }

    fn admit(&mut self, peer: PeerId, license: &[u8]) -> Result<u64, String> {
        let (presenter, signed, _) = self.check_license(peer, license)?;
        let l = &signed.license;
        let fresh = self
            .catalog
            .remember_license_nonce(&l.seller, &l.nonce, &signed.id)
            .map_err(|e| format!("cannot check the license nonce: {e}"))?;
        if !fresh {
            return Err(souk_types::LicenseError::Replayed.to_string());
        }
        self.options
            .gate
            .lock()
            .admit(presenter, l.dataset, l.expires_at_ms);
        Ok(l.expires_at_ms)
    }

    /// The provider's blobs addresses from its grant; an unspecified IP stands for the one
    /// this node reached it at.
    fn blobs_addrs_of(&self, peer: &PeerId, granted: &v1::AccessGranted) -> Vec<SocketAddr> {
        let reached = self.connected.get(peer).and_then(|(addr, _)| {
            addr.iter().find_map(|p| match p {
                Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
                Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
                _ => None,
            })
        });
        granted
            .blobs_addrs
            .iter()
            .take(MAX_BLOBS_ADDRS)
            .filter_map(|a| a.parse::<SocketAddr>().ok())
            .filter_map(|mut addr| {
                if addr.ip().is_unspecified() {
                    addr.set_ip(reached?);
                }
                Some(addr)
            })
            .collect()
    }

    fn send_buy_step(&mut self, step: BuyStep) {
        let Some((request, session)) = step else {
            return;
        };
        let Ok(peer) = session.seller.to_peer_id().parse::<PeerId>() else {
            let _ = session
                .reply
                .send(Err("the seller's key is not a peer id".to_owned()));
            return;
        };
        let id = self
            .swarm
            .behaviour_mut()
            .negotiation
            .send_request(&peer, request);
        self.note_request(peer);
        self.buys.insert(id, session);
    }

    fn answer_sync(
        &mut self,
        peer: PeerId,
        request: v1::SyncRequest,
        channel: request_response::ResponseChannel<v1::SyncResponse>,
    ) {
        if !self.within_budget(peer) {
            // Dropping the channel refuses the request.
            return;
        }
        let Ok(epoch) = self.catalog.epoch() else {
            return;
        };
        let after = if request.epoch == epoch {
            request.after
        } else {
            0
        };
        let limit = request.limit.clamp(1, MAX_SYNC_PAGE) as usize;
        let Ok((manifests, next)) = self.catalog.page_after(after, limit) else {
            return;
        };
        let done = manifests.len() < limit;
        let response = v1::SyncResponse {
            epoch,
            manifests,
            next,
            done,
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response);
    }

    fn on_sync_page(&mut self, peer: PeerId, page: v1::SyncResponse) {
        self.syncing.remove(&peer);
        if page.manifests.len() > MAX_SYNC_PAGE as usize {
            self.strike(peer, "oversized sync page".to_owned());
            return;
        }
        for envelope in &page.manifests {
            match SignedManifest::open(envelope) {
                Err(e) => {
                    self.strike(peer, format!("invalid manifest in sync: {e}"));
                    return;
                }
                Ok(signed) => {
                    if let Some(parent) = self.missing_parent(&signed) {
                        self.strike(
                            peer,
                            format!("sync sent {} before its parent {parent}", signed.id),
                        );
                        return;
                    }
                    match self.store_manifest(&signed, ManifestSource::Sync, peer) {
                        // New here, so perhaps to this side of the network too (a healed
                        // partition, a restarted node): pass it on by gossip.
                        Ok(true) if self.options.net.forward_gossip => {
                            self.publish(envelope.clone())
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "cannot store a manifest");
                            return;
                        }
                    }
                }
            }
        }
        if let Err(e) = self
            .catalog
            .set_sync_cursor(&peer.to_string(), &page.epoch, page.next)
        {
            tracing::error!(error = %e, "cannot record the sync cursor");
            return;
        }
        if page.done {
            self.emit(NetEvent::SyncDone(peer));
        } else {
            self.start_sync(peer);
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.emit(NetEvent::Listening(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                if self.banned.contains_key(&peer_id) || self.distrusted.contains(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                self.connected.insert(
                    peer_id,
                    (endpoint.get_remote_address().clone(), Instant::now()),
                );
                if endpoint.is_dialer() {
                    let addr = endpoint.get_remote_address().to_string();
                    let _ = self
                        .catalog
                        .remember_peer(&peer_id.to_string(), &[addr], now_ms());
                }
                self.emit(NetEvent::PeerConnected(peer_id));
                self.start_sync(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                // Per-peer state lives only as long as the peer is connected, so memory stays
                // bounded by the connection limit (gossipsub keeps its own decaying scores).
                self.syncing.remove(&peer_id);
                self.connected.remove(&peer_id);
                self.request_budget.remove(&peer_id);
                self.strikes.remove(&peer_id);
                self.emit(NetEvent::PeerDisconnected(peer_id));
            }
            SwarmEvent::Behaviour(event) => {
                if let Some(peer) = request_peer(&event) {
                    self.note_request(peer);
                }
                self.on_behaviour_event(event)
            }
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.on_gossip(propagation_source, message_id, &message),
            BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic }) => {
                self.on_subscribed(peer_id, topic);
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let addrs: Vec<String> =
                    info.listen_addrs.iter().map(ToString::to_string).collect();
                // Only DHT servers belong in the routing table: a light node cannot answer.
                if info.protocols.contains(&souk_net::KAD_PROTOCOL) {
                    for addr in info.listen_addrs {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                }
                let _ = self
                    .catalog
                    .remember_peer(&peer_id.to_string(), &addrs, now_ms());
            }
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => self.answer_sync(peer, request, channel),
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        self.sync_in_flight.remove(&request_id);
                        self.on_sync_page(peer, response);
                    }
                }
            }
            BehaviourEvent::Negotiation(request_response::Event::Message {
                peer, message, ..
            }) => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.answer_negotiation(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(session) = self.buys.remove(&request_id) {
                        let step = self
                            .market
                            .continue_buy(&mut self.catalog, session, response);
                        self.send_buy_step(step);
                    } else if let Some(reply) = self.negotiations.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            BehaviourEvent::Negotiation(request_response::Event::OutboundFailure {
                request_id,
                error,
                ..
            }) => {
                if let Some(session) = self.buys.remove(&request_id) {
                    self.market.abandon(session, error.to_string());
                } else if let Some(reply) = self.negotiations.remove(&request_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            BehaviourEvent::Access(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => self.answer_access(peer, request, channel),
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        use v1::access_response::Result as Answer;
                        if let Some((peer, reply)) = self.access_requests.remove(&request_id) {
                            let result = match response.result {
                                Some(Answer::Granted(granted)) => {
                                    Ok(self.blobs_addrs_of(&peer, &granted))
                                }
                                Some(Answer::Refused(reason)) => Err(reason),
                                None => Err("the provider sent an empty answer".to_owned()),
                            };
                            let _ = reply.send(result);
                        }
                    }
                }
            }
            BehaviourEvent::Access(request_response::Event::OutboundFailure {
                request_id,
                error,
                ..
            }) => {
                if let Some((_, reply)) = self.access_requests.remove(&request_id) {
                    let _ = reply.send(Err(format!("cannot reach the provider: {error}")));
                }
            }
            BehaviourEvent::Witness(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => self.answer_witness(peer, request, channel),
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => self.on_witness_response(peer, request_id, response),
                }
            }
            BehaviourEvent::Witness(request_response::Event::OutboundFailure {
                request_id,
                ..
            }) => {
                if let Some((round, _)) = &mut self.anchoring {
                    round.failed(&request_id);
                }
                self.finish_anchoring_if_complete();
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                request_id,
                peer,
                error,
                ..
            }) => {
                self.sync_in_flight.remove(&request_id);
                self.syncing.remove(&peer);
                tracing::debug!(%peer, %error, "sync request failed");
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::GetProviders(result),
                step,
                ..
            }) => {
                if let Some((found, _)) = self.provider_queries.get_mut(&id)
                    && let Ok(GetProvidersOk::FoundProviders { providers, .. }) = result
                {
                    found.extend(providers);
                }
                if step.last
                    && let Some((found, reply)) = self.provider_queries.remove(&id)
                {
                    let _ = reply.send(found.iter().map(ToString::to_string).collect());
                }
            }
            _ => {}
        }
    }
}
