use std::net::SocketAddr;

use iroh::endpoint::{QuicTransportConfig, VarInt, presets};
use iroh::protocol::Router;
use iroh::{Endpoint, RelayMode, SecretKey};
use iroh_blobs::BlobsProtocol;
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
#[derive(Debug, Clone)]
pub struct BlobsService {
    router: Router,
    gate: Gate,
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
            .relay_mode(RelayMode::Disabled)
            .clear_ip_transports()
            .bind_addr(addr)
            .map_err(|e| bind_error(e.to_string()))?
            .bind()
            .await
            .map_err(|e| bind_error(e.to_string()))?;
        let blobs = BlobsProtocol::new(store, Some(gate.event_sender()));
        let router = Router::builder(endpoint)
            .accept(iroh_blobs::ALPN, blobs)
            .spawn();
        Ok(Self { router, gate })
    }

    pub fn endpoint(&self) -> &Endpoint {
        self.router.endpoint()
    }

    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The UDP addresses the endpoint listens on.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.endpoint().bound_sockets()
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.router.shutdown().await {
            tracing::warn!(error = %e, "the blobs endpoint did not stop cleanly");
        }
    }
}
