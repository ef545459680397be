//! Souk's control plane on libp2p.
//!
//! [`Behaviour`] composes what every Souk node speaks: identify, ping, Kademlia under a private
//! protocol name (peers and provider records), gossipsub with message validation and peer scoring
//! (manifest announcements, anchored checkpoints and equivocation evidence), and the catch-up
//! sync, license negotiation, blobs access and checkpoint witnessing request-response protocols. [`build_swarm`]
//! puts it on TCP and QUIC with noise and yamux, under the node's own ed25519 key.
//!
//! This crate decides wire formats and limits; what a node does with the events (validate,
//! store, answer) lives in `souk-node`.

mod behaviour;
mod codec;

pub use behaviour::{
    Behaviour, BehaviourEvent, CHECKPOINT_TOPIC, KAD_PROTOCOL, MANIFEST_TOPIC, NetConfig, NetError,
    build_swarm, checkpoint_topic, manifest_topic,
};
pub use codec::{
    ACCESS_PROTOCOL, AccessCodec, MAX_CONSISTENCY_HASHES, MAX_SYNC_PAGE, NEGOTIATION_PROTOCOL,
    NegotiationCodec, ProstCodec, SYNC_PROTOCOL, SyncCodec, WITNESS_PROTOCOL, WitnessCodec,
};
pub use libp2p;
pub use prometheus_client::registry::Registry as MetricsRegistry;
