//! What a network simulation plays.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetScenario {
    pub seed: u64,
    pub nodes: usize,
    /// Earlier nodes each node joins through.
    pub degree: usize,
    pub heartbeat_ms: u64,
    /// Whether the network starts as two halves that only meet later.
    pub partition: bool,
    /// Share of nodes that relay no gossip.
    pub free_rider_share: f64,
    /// Nodes killed and restarted while a manifest is published.
    pub churn: usize,
    pub dataset_kib: u64,
    pub price: u64,
    pub buyers: usize,
    pub buyer_budget: u64,
    /// Connections each node keeps at most: bounds the file descriptors of a large run.
    pub max_connections: u32,
    /// Whether every node but the publisher and the buyers runs light (gossip and catalog
    /// only), all of them on libp2p's memory transport: no sockets, so a thousand fit in one
    /// process.
    pub light: bool,
}

impl Default for NetScenario {
    fn default() -> Self {
        Self {
            seed: 1,
            nodes: 10,
            degree: 3,
            heartbeat_ms: 1000,
            partition: true,
            free_rider_share: 0.1,
            churn: 2,
            dataset_kib: 1024,
            price: 50,
            buyers: 2,
            buyer_budget: 100,
            max_connections: 256,
            light: false,
        }
    }
}

impl NetScenario {
    pub fn validate(&self) -> Result<(), String> {
        if !(4..=5000).contains(&self.nodes) {
            return Err("nodes must be between 4 and 5000".to_owned());
        }
        if self.degree == 0 || self.degree > 16 {
            return Err("degree must be between 1 and 16".to_owned());
        }
        if !(50..=10_000).contains(&self.heartbeat_ms) {
            return Err("heartbeat_ms must be between 50 and 10000".to_owned());
        }
        if !(0.0..=0.5).contains(&self.free_rider_share) {
            return Err("free_rider_share must be between 0 and 0.5".to_owned());
        }
        if self.churn >= self.nodes / 2 || self.buyers >= self.nodes / 2 {
            return Err("churn and buyers must each be under half the nodes".to_owned());
        }
        if self.dataset_kib == 0 || self.dataset_kib > 1 << 20 {
            return Err("dataset_kib must be between 1 and 1048576".to_owned());
        }
        if !(8..=1024).contains(&self.max_connections) {
            return Err("max_connections must be between 8 and 1024".to_owned());
        }
        if self.price > self.buyer_budget {
            return Err("buyer_budget must cover the price".to_owned());
        }
        Ok(())
    }

    /// The nodes that relay no gossip: chosen by the seed, never the publisher (node 0) nor the
    /// node that heals the partition.
    pub fn free_riders(&self) -> Vec<usize> {
        let count = (self.nodes as f64 * self.free_rider_share) as usize;
        let half = self.nodes.div_ceil(2);
        let mut state = self.seed;
        let mut chosen = Vec::new();
        while chosen.len() < count {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let i = ((z ^ (z >> 31)) % self.nodes as u64) as usize;
            if i != 0 && i != half && !chosen.contains(&i) {
                chosen.push(i);
            }
        }
        chosen.sort_unstable();
        chosen
    }
}
