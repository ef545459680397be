use std::time::Duration;

use libp2p::core::transport::{MemoryTransport, OptionalTransport};
use libp2p::core::{Transport, upgrade};
use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds, TopicScoreParams,
    ValidationMode,
};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, connection_limits, identify, identity, kad, noise, ping,
    request_response, tcp, yamux,
};

use prometheus_client::registry::Registry;

use crate::codec::{
    ACCESS_PROTOCOL, AccessCodec, NEGOTIATION_PROTOCOL, NegotiationCodec, SYNC_PROTOCOL, SyncCodec,
    WITNESS_PROTOCOL, WitnessCodec,
};

/// Gossipsub topic of manifest announcements.
pub const MANIFEST_TOPIC: &str = "souk/manifests/1";

/// Kademlia under Souk's own protocol name, so Souk's DHT never mixes with another network's.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/souk/kad/1.0.0");
const IDENTIFY_PROTOCOL: &str = "/souk/id/1.0.0";

/// Gossipsub topic of anchored receipt-log checkpoints and equivocation evidence.
pub const CHECKPOINT_TOPIC: &str = "souk/checkpoints/1";

pub fn manifest_topic() -> IdentTopic {
    IdentTopic::new(MANIFEST_TOPIC)
}

pub fn checkpoint_topic() -> IdentTopic {
    IdentTopic::new(CHECKPOINT_TOPIC)
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("the node key cannot be used by libp2p: {0}")]
    Key(String),
    #[error("cannot set up the transport: {0}")]
    Transport(String),
    #[error("cannot set up gossipsub: {0}")]
    Gossipsub(String),
}

/// Tunables of the control plane.
#[derive(Debug, Clone)]
pub struct NetConfig {
    pub max_established_total: u32,
    /// Connections a node keeps once idle: above it, the least recently useful peers outside
    /// the gossip meshes are let go. Gossipsub holds a stream open to every peer it meets,
    /// so without this every peer a DHT query touched would stay connected for good.
    pub target_peers: usize,
    /// How long a peer connected or asked is kept whatever the count: longer than a request
    /// may take.
    pub prune_grace: Duration,
    pub max_established_per_peer: u32,
    pub max_pending_incoming: u32,
    pub gossip_heartbeat: Duration,
    /// Peers a node keeps in its gossip mesh (gossipsub's D).
    pub gossip_mesh_n: usize,
    /// Delay before the first heartbeat; short in tests so meshes form quickly.
    pub gossip_heartbeat_initial_delay: Duration,
    pub request_timeout: Duration,
    /// How long a log waits for a witness's cosignature before anchoring without it.
    pub witness_timeout: Duration,
    pub idle_connection_timeout: Duration,
    /// Requests (sync, negotiation, access) one peer may make per ten seconds before it is
    /// refused and struck.
    pub requests_per_window: u32,
    /// Whether this node relays the gossip it accepts. Only simulations of free riders turn
    /// it off.
    pub forward_gossip: bool,
    /// Whether the node also speaks libp2p's in-process memory transport (`/memory/N`
    /// addresses): a simulation of a thousand nodes in one process spends no sockets on it.
    pub memory_transport: bool,
    /// Whether the node answers DHT queries and holds provider records (Kademlia server
    /// mode). A light node only asks.
    pub dht_server: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            max_established_total: 256,
            target_peers: 32,
            prune_grace: Duration::from_secs(30),
            max_established_per_peer: 2,
            max_pending_incoming: 64,
            gossip_heartbeat: Duration::from_secs(1),
            gossip_mesh_n: 6,
            gossip_heartbeat_initial_delay: Duration::from_millis(500),
            request_timeout: Duration::from_secs(20),
            witness_timeout: Duration::from_secs(5),
            idle_connection_timeout: Duration::from_secs(120),
            requests_per_window: 120,
            forward_gossip: true,
            memory_transport: false,
            dht_server: true,
        }
    }
}

/// Everything a Souk node speaks on libp2p.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub limits: connection_limits::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub gossipsub: gossipsub::Behaviour,
    pub sync: request_response::Behaviour<SyncCodec>,
    pub negotiation: request_response::Behaviour<NegotiationCodec>,
    pub access: request_response::Behaviour<AccessCodec>,
    pub witness: request_response::Behaviour<WitnessCodec>,
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("souk_net::Behaviour")
    }
}

/// Invalid messages cost a peer dearly (the counter is squared); nothing else is scored, so a
/// quiet honest peer is never penalised for having nothing to say. Sharing an IP address is not
/// penalised either: many honest nodes sit behind one NAT or run on one host (a whole simulated
/// network on 127.0.0.1), and with the default colocation penalty a dozen such nodes would
/// stop hearing each other.
fn score_params() -> (PeerScoreParams, PeerScoreThresholds) {
    let mut params = PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    let topic = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        ..TopicScoreParams::default()
    };
    params.topics.insert(manifest_topic().hash(), topic.clone());
    params.topics.insert(checkpoint_topic().hash(), topic);
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    };
    (params, thresholds)
}

impl Behaviour {
    fn new(
        key: &identity::Keypair,
        config: &NetConfig,
        metrics: &mut Registry,
    ) -> Result<Self, NetError> {
        let peer_id = key.public().to_peer_id();
        let gossip_config = gossipsub::ConfigBuilder::default()
            .heartbeat_interval(config.gossip_heartbeat)
            .mesh_n(config.gossip_mesh_n)
            .mesh_n_low(config.gossip_mesh_n.saturating_sub(1).max(1))
            .mesh_n_high(config.gossip_mesh_n * 2)
            .mesh_outbound_min((config.gossip_mesh_n / 3).min(2))
            .heartbeat_initial_delay(config.gossip_heartbeat_initial_delay)
            .validation_mode(ValidationMode::Strict)
            .validate_messages()
            .max_transmit_size(64 * 1024)
            // Content addressing: the same manifest is the same message, whoever sends it.
            .message_id_fn(|message: &gossipsub::Message| {
                gossipsub::MessageId::from(&blake3::hash(&message.data).as_bytes()[..20])
            })
            .build()
            .map_err(|e| NetError::Gossipsub(e.to_string()))?;
        let mut gossipsub =
            gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gossip_config)
                .map_err(|e| NetError::Gossipsub(e.to_owned()))?
                .with_metrics(metrics, gossipsub::MetricsConfig::default());
        let (params, thresholds) = score_params();
        gossipsub
            .with_peer_score(params, thresholds)
            .map_err(|e| NetError::Gossipsub(e.clone()))?;
        for topic in [manifest_topic(), checkpoint_topic()] {
            gossipsub
                .subscribe(&topic)
                .map_err(|e| NetError::Gossipsub(e.to_string()))?;
        }

        let mut kad = kad::Behaviour::with_config(
            peer_id,
            kad::store::MemoryStore::new(peer_id),
            kad::Config::new(KAD_PROTOCOL),
        );
        kad.set_mode(Some(if config.dht_server {
            kad::Mode::Server
        } else {
            kad::Mode::Client
        }));

        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(config.max_established_total))
            .with_max_established_per_peer(Some(config.max_established_per_peer))
            .with_max_pending_incoming(Some(config.max_pending_incoming));

        Ok(Self {
            limits: connection_limits::Behaviour::new(limits),
            identify: identify::Behaviour::new(identify::Config::new(
                IDENTIFY_PROTOCOL.to_owned(),
                key.public(),
            )),
            ping: ping::Behaviour::default(),
            kad,
            gossipsub,
            sync: request_response::Behaviour::new(
                [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(config.request_timeout)
                    .with_max_concurrent_streams(32),
            ),
            negotiation: request_response::Behaviour::new(
                [(
                    NEGOTIATION_PROTOCOL,
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default()
                    .with_request_timeout(config.request_timeout)
                    .with_max_concurrent_streams(64),
            ),
            access: request_response::Behaviour::new(
                [(ACCESS_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(config.request_timeout)
                    .with_max_concurrent_streams(16),
            ),
            witness: request_response::Behaviour::new(
                [(WITNESS_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(config.witness_timeout)
                    .with_max_concurrent_streams(16),
            ),
        })
    }
}

/// A swarm on TCP and QUIC (and the memory transport if `config` asks for it) under the node's
/// ed25519 key (its 32-byte secret seed), recording gossipsub's counters in `metrics`.
pub fn build_swarm(
    seed: [u8; 32],
    config: &NetConfig,
    metrics: &mut Registry,
) -> Result<Swarm<Behaviour>, NetError> {
    let mut seed = seed;
    let keypair = identity::Keypair::ed25519_from_bytes(&mut seed)
        .map_err(|e| NetError::Key(e.to_string()))?;
    let behaviour = Behaviour::new(&keypair, config, metrics)?;
    let idle = config.idle_connection_timeout;
    let in_memory = config.memory_transport;
    Ok(SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_quic()
        .with_other_transport(|key| {
            let memory = if in_memory {
                OptionalTransport::some(MemoryTransport::default())
            } else {
                OptionalTransport::none()
            };
            let noise = noise::Config::new(key)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            Ok(memory
                .upgrade(upgrade::Version::V1)
                .authenticate(noise)
                .multiplex(yamux::Config::default()))
        })
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build())
}
