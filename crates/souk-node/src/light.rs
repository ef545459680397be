//! A light node: the network task on its SQLite catalog and nothing else. It joins the gossip
//! meshes and the DHT, validates, stores and relays manifests, syncs with its peers and witnesses
//! their checkpoints. It leaves out the shard store, the iroh-blobs endpoint and the control
//! API, so it cannot publish, buy or serve shards, and it asks the DHT without serving it
//! (Kademlia client mode), so it holds no provider records. A simulation puts a thousand of
//! them in one process.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::{Notify, broadcast};

use crate::daemon::{NetworkStarted, ServedBlobs, start_network};
use crate::network::{NetEvent, NetHandle};
use crate::{Config, NetConfig, NodeError, data_dir};

/// A light node that runs.
#[derive(Debug)]
pub struct LightNode {
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    net: NetHandle,
    task: tokio::task::JoinHandle<()>,
}

impl LightNode {
    /// Starts the light node of the initialised data directory `root` with the network
    /// settings of `config` (`net.dht_server` is turned off), reporting network events to
    /// `events` from the first one.
    pub async fn start(
        root: &Path,
        config: &Config,
        net: NetConfig,
        events: broadcast::Sender<NetEvent>,
    ) -> Result<Self, NodeError> {
        let net = NetConfig {
            dht_server: false,
            ..net
        };
        let key = data_dir::load_key(root)?;
        let blobs = ServedBlobs {
            gate: Default::default(),
            addrs: Vec::new(),
        };
        let NetworkStarted {
            handle,
            task,
            peer_id,
            listen_addrs,
        } = start_network(
            root,
            &key,
            config,
            net,
            events,
            blobs,
            Arc::new(Notify::new()),
        )
        .await?;
        Ok(Self {
            peer_id,
            listen_addrs,
            net: handle,
            task,
        })
    }

    pub fn net(&self) -> &NetHandle {
        &self.net
    }

    /// Stops the network task and closes the catalog.
    pub async fn shutdown(self) {
        self.net.shutdown().await;
        let _ = self.task.await;
    }
}
