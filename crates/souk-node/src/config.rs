use std::path::Path;

use serde::{Deserialize, Serialize};
use souk_types::limits;

use crate::NodeError;

/// The node's `config.toml`. Every field has a default; unknown fields are errors, so a typo
/// never silently does nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub publish: PublishConfig,
    pub store: StoreConfig,
    pub network: NetworkConfig,
    pub anchor: AnchorConfig,
}

/// When the receipt log is checkpointed and anchored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnchorConfig {
    /// How often the node checks whether an anchor is due (an epoch).
    pub interval_secs: u64,
    /// New receipts an epoch needs before it is anchored.
    pub min_receipts: u64,
    /// Where checkpoints are anchored: the local anchor chain only, or also an EVM chain.
    pub backend: AnchorBackend,
    /// The EVM chain's JSON-RPC URL (backend `evm`).
    pub evm_rpc: String,
    /// A file holding the hex secret key of the EVM account that submits anchors.
    pub evm_key_file: String,
    /// The address of the deployed SoukAnchor contract (`souk anchor deploy`).
    pub evm_contract: String,
    /// Blocks an anchor transaction needs (1 = included) before it counts as anchored.
    pub confirmations: u64,
}

/// Where checkpoints are anchored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnchorBackend {
    /// The hash-linked anchor chain in the node's database: needs nothing.
    #[default]
    Local,
    /// The local chain, and each checkpoint submitted to the SoukAnchor contract.
    Evm,
}

impl std::str::FromStr for AnchorBackend {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "local" => Ok(Self::Local),
            "evm" => Ok(Self::Evm),
            other => Err(format!("{other:?} is not an anchor backend (local or evm)")),
        }
    }
}

impl Default for AnchorConfig {
    fn default() -> Self {
        Self {
            interval_secs: 600,
            min_receipts: 1,
            backend: AnchorBackend::Local,
            evm_rpc: String::new(),
            evm_key_file: String::new(),
            evm_contract: String::new(),
            confirmations: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// libp2p listen addresses.
    pub listen: Vec<String>,
    /// Peers to join through, each with its `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// Where the control API listens; loopback only.
    pub api_listen: String,
    /// How often held datasets are announced again.
    pub announce_interval_secs: u64,
    /// How often catch-up sync runs with every connected peer.
    pub sync_interval_secs: u64,
    pub max_connections: u32,
    /// The network this node trades on: licenses, offers and vouchers name it, and are refused
    /// on any other.
    pub network_id: String,
    /// Where the iroh-blobs endpoint that serves shards listens (UDP `IP:port`).
    pub blobs_listen: String,
    /// Whether datasets this node bought are served to other license holders (and the node
    /// advertised as their provider).
    pub serve_bought: bool,
}

/// The default libp2p port.
pub const DEFAULT_PORT: u16 = 4820;
/// The default iroh-blobs port.
pub const DEFAULT_BLOBS_PORT: u16 = 4821;

impl NetworkConfig {
    /// Every port chosen by the system on 127.0.0.1: for several nodes on one machine (the
    /// demo, tests, benchmarks, simulations).
    pub fn loopback(bootstrap: &[String]) -> Self {
        Self {
            listen: vec![
                "/ip4/127.0.0.1/tcp/0".to_owned(),
                "/ip4/127.0.0.1/udp/0/quic-v1".to_owned(),
            ],
            bootstrap: bootstrap.to_vec(),
            api_listen: "127.0.0.1:0".to_owned(),
            blobs_listen: "127.0.0.1:0".to_owned(),
            ..Self::default()
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            listen: vec![
                format!("/ip4/0.0.0.0/tcp/{DEFAULT_PORT}"),
                format!("/ip4/0.0.0.0/udp/{DEFAULT_PORT}/quic-v1"),
            ],
            bootstrap: Vec::new(),
            api_listen: "127.0.0.1:0".to_owned(),
            announce_interval_secs: 600,
            sync_interval_secs: 300,
            max_connections: 256,
            network_id: "souk-main".to_owned(),
            blobs_listen: format!("0.0.0.0:{DEFAULT_BLOBS_PORT}"),
            serve_bought: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Plaintext bytes per shard for datasets that do not choose their own.
    pub shard_size: u64,
    /// Parallel shard workers for publish and extract; 0 means one per core.
    pub workers: usize,
    /// Currency unit of the prices in license offers.
    pub currency: String,
    /// How long a license from a default offer lasts.
    pub license_duration_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// How often unreferenced shards (from an interrupted publish) are removed.
    pub gc_interval_secs: u64,
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            shard_size: limits::DEFAULT_SHARD_SIZE,
            workers: 0,
            currency: "SOUK".to_owned(),
            license_duration_secs: 365 * 24 * 3600,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            gc_interval_secs: 300,
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NodeError::io(format!("reading {}", path.display()), e))?;
        let config: Self = toml::from_str(&text).map_err(|e| NodeError::Config {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        config.validate().map_err(|message| NodeError::Config {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), String> {
        let size = self.publish.shard_size;
        if !(limits::MIN_SHARD_SIZE..=limits::MAX_SHARD_SIZE).contains(&size) {
            return Err(format!(
                "publish.shard_size {size} is outside {}..={}",
                limits::MIN_SHARD_SIZE,
                limits::MAX_SHARD_SIZE
            ));
        }
        let api: std::net::SocketAddr = self.network.api_listen.parse().map_err(|_| {
            format!(
                "network.api_listen {:?} is not an IP:port",
                self.network.api_listen
            )
        })?;
        if !api.ip().is_loopback() {
            return Err("network.api_listen must be a loopback address".to_owned());
        }
        self.network
            .blobs_listen
            .parse::<std::net::SocketAddr>()
            .map_err(|_| {
                format!(
                    "network.blobs_listen {:?} is not an IP:port",
                    self.network.blobs_listen
                )
            })?;
        for addr in self.network.listen.iter().chain(&self.network.bootstrap) {
            addr.parse::<souk_net::libp2p::Multiaddr>()
                .map_err(|e| format!("{addr:?} is not a multiaddr: {e}"))?;
        }
        if self.anchor.backend == AnchorBackend::Evm {
            let a = &self.anchor;
            if a.evm_rpc.is_empty() || a.evm_key_file.is_empty() || a.evm_contract.is_empty() {
                return Err(
                    "anchor backend evm needs evm_rpc, evm_key_file and evm_contract \
                     (--evm-rpc, --evm-key-file, --evm-contract)"
                        .to_owned(),
                );
            }
            a.evm_contract
                .parse::<souk_evm::EvmAddress>()
                .map_err(|_| {
                    format!("anchor.evm_contract {:?} is not an address", a.evm_contract)
                })?;
            if a.confirmations == 0 {
                return Err("anchor.confirmations must be at least 1".to_owned());
            }
        }
        if self.anchor.interval_secs == 0 || self.anchor.min_receipts == 0 {
            return Err(
                "anchor.interval_secs and anchor.min_receipts must be at least 1".to_owned(),
            );
        }
        if self.network.announce_interval_secs == 0 || self.network.sync_interval_secs == 0 {
            return Err("network intervals must be above 0".to_owned());
        }
        if self.store.gc_interval_secs == 0 {
            return Err("store.gc_interval_secs must be above 0".to_owned());
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Workers to use: the configured number, or one per core.
    pub fn workers(&self) -> usize {
        match self.publish.workers {
            0 => souk_dataset::default_workers(),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_typos_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, Config::default().to_toml()).expect("write");
        assert_eq!(Config::load(&path).expect("load"), Config::default());
        std::fs::write(&path, "[publish]\nshard_sise = 5\n").expect("write");
        assert!(matches!(Config::load(&path), Err(NodeError::Config { .. })));
        std::fs::write(&path, "[publish]\nshard_size = 5\n").expect("write");
        assert!(matches!(Config::load(&path), Err(NodeError::Config { .. })));
    }
}
