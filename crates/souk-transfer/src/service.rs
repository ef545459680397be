use std::net::SocketAddr;

use iroh::endpoint::{QuicTransportConfig, VarInt, presets};
use iroh::{Endpoint, RelayMode, SecretKey};
use iroh_blobs::api::Store;
use iroh_blobs::provider::events::EventSender;
use iroh_blobs::store::fs::FsStore;

use crate::{Gate, TransferError};

/// QUIC settings of the blobs endpoint; `None` keeps iroh's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuning {
    /// First packet size tried (iroh starts at 1200 bytes and probes upwards).
    pub initial_mtu: Option<u16>,
    /// Bytes in flight allowed per connection and per stream.
    pub window: Option<u32>,
}

impl Tuning {
    fn transport(&self) -> Option<QuicTransportConfig> {
        if *self == Self::default() {
            return None;
        }
        let mut config = QuicTransportConfig::builder();
        if let Some(mtu) = self.initial_mtu {
            config = config.initial_mtu(mtu);
        }
        if let Some(window) = self.window {
            config = config
                .receive_window(VarInt::from_u32(window))
                .stream_receive_window(VarInt::from_u32(window))
                .send_window(u64::from(window));
        }
        Some(config.build())
    }
}

/// A node's iroh endpoint, serving its blob store to the readers its gate admits.
///
/// Connections are accepted here rather than by an iroh `Router`, whose shutdown would also
/// close the blob store the node still uses.
#[derive(Debug)]
pub struct BlobsService {
    endpoint: Endpoint,
    gate: Gate,
    accepting: tokio::task::JoinHandle<()>,
}

impl BlobsService {
    /// Binds an endpoint with the node key `seed` on `addr` (UDP) and serves `store` there.
    pub async fn bind(
        seed: &[u8; 32],
        addr: SocketAddr,
        store: &FsStore,
        gate: Gate,
        tuning: Tuning,
    ) -> Result<Self, TransferError> {
        let bind_error = |reason: String| TransferError::Bind { addr, reason };
        let mut builder = Endpoint::builder(presets::Minimal);
        if let Some(transport) = tuning.transport() {
            builder = builder.transport_config(transport);
        }
        let endpoint = builder
            .secret_key(SecretKey::from_bytes(seed))
            .alpns(vec![iroh_blobs::ALPN.to_vec()])
            .relay_mode(RelayMode::Disabled)
            .clear_ip_transports()
            .bind_addr(addr)
            .map_err(|e| bind_error(e.to_string()))?
            .bind()
            .await
            .map_err(|e| bind_error(e.to_string()))?;
        let accepting = tokio::spawn(accept_loop(
            endpoint.clone(),
            (**store).clone(),
            gate.event_sender(),
        ));
        Ok(Self {
            endpoint,
            gate,
            accepting,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The UDP addresses the endpoint listens on.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.endpoint().bound_sockets()
    }

    /// Closes every connection and stops accepting; the store stays open.
    pub async fn shutdown(&self) {
        self.accepting.abort();
        self.endpoint.close().await;
    }
}

async fn accept_loop(endpoint: Endpoint, store: Store, events: EventSender) {
    while let Some(incoming) = endpoint.accept().await {
        let (store, events) = (store.clone(), events.clone());
        tokio::spawn(async move {
            let Ok(accepting) = incoming.accept() else {
                return;
            };
            match accepting.await {
                // The endpoint offers one ALPN, so every connection speaks iroh-blobs.
                Ok(connection) => {
                    iroh_blobs::provider::handle_connection(connection, store, events).await;
                }
                Err(e) => tracing::debug!(error = %e, "a blobs connection failed to open"),
            }
        });
    }
}
