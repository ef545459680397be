//! Where a command runs: through the running node's API when there is one (its store is locked
//! by it), else on the data directory directly. Both give the same views.

use std::path::{Path, PathBuf};

use souk_types::DatasetId;

use crate::client::ApiClient;
use crate::network::PeerInfo;
use crate::views::{
    BuyRequest, BuyView, DatasetView, ExtractRequest, ExtractView, IdView, ImportView, PublishView,
    SummaryView, TransferView,
};
use crate::{DatasetSpec, Node, NodeError, data_dir};

#[derive(Debug)]
pub enum Backend {
    Local(Box<Node>),
    Remote(ApiClient),
}

fn absolute(path: &Path) -> Result<PathBuf, NodeError> {
    std::path::absolute(path).map_err(|e| NodeError::io(format!("resolving {}", path.display()), e))
}

async fn blocking<T: Send + 'static>(
    client: &ApiClient,
    call: impl FnOnce(&ApiClient) -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    let client = client.clone();
    tokio::task::spawn_blocking(move || call(&client))
        .await
        .map_err(|e| NodeError::Api(e.to_string()))?
}

impl Backend {
    /// The running node on `root` if there is one, else the data directory itself.
    pub async fn open(root: &Path) -> Result<Self, NodeError> {
        // The key is read either way: a missing or corrupt one is reported the same.
        data_dir::load_key(root)?;
        match ApiClient::discover(root)? {
            Some(client) => Ok(Self::Remote(client)),
            None => Ok(Self::Local(Box::new(Node::open(root).await?))),
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Remote(_))
    }

    pub async fn close(self) {
        if let Self::Local(node) = self {
            node.shutdown().await;
        }
    }

    pub async fn id(&self) -> Result<IdView, NodeError> {
        match self {
            Self::Local(node) => Ok(IdView {
                peer_id: node.key().public().to_peer_id(),
                public_key: node.key().public().to_hex(),
                listen_addrs: None,
                blobs_addr: None,
            }),
            Self::Remote(client) => blocking(client, |c| c.get("/v1/id")).await,
        }
    }

    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NodeError> {
        match self {
            Self::Local(_) => Err(NodeError::NotRunning),
            Self::Remote(client) => blocking(client, |c| c.get("/v1/peers")).await,
        }
    }

    /// Buys `dataset` (or uses the license already held), fetches its shards and, with `out`,
    /// writes its files there (needs a running node). `progress` hears (bytes held, bytes in
    /// all) while the shards arrive.
    pub async fn buy(
        &self,
        dataset: &DatasetId,
        max_price: u64,
        bid: Option<u64>,
        out: Option<&Path>,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<BuyView, NodeError> {
        let Self::Remote(client) = self else {
            return Err(NodeError::NotRunning);
        };
        let request = BuyRequest {
            dataset: dataset.to_hex(),
            max_price,
            bid,
            out: out.map(absolute).transpose()?,
        };
        let mut bought = std::pin::pin!(blocking(client, move |c| c.post("/v1/buy", &request)));
        let mut poll = tokio::time::interval(std::time::Duration::from_millis(200));
        let wanted = dataset.to_hex();
        loop {
            tokio::select! {
                result = &mut bought => return result,
                _ = poll.tick() => {
                    let transfers: Vec<TransferView> =
                        blocking(client, |c| c.get("/v1/transfers")).await.unwrap_or_default();
                    if let Some(t) = transfers.iter().find(|t| t.dataset == wanted) {
                        progress(t.done_bytes, t.total_bytes);
                    }
                }
            }
        }
    }

    pub async fn receipts(
        &self,
        dataset: Option<&DatasetId>,
    ) -> Result<Vec<crate::views::ReceiptView>, NodeError> {
        match self {
            Self::Local(node) => node.receipts(dataset),
            Self::Remote(client) => {
                let path = match dataset {
                    Some(id) => format!("/v1/receipts?dataset={id}"),
                    None => "/v1/receipts".to_owned(),
                };
                blocking(client, move |c| c.get(&path)).await
            }
        }
    }

    pub async fn anchor_now(&mut self) -> Result<crate::proof::CheckpointView, NodeError> {
        match self {
            Self::Local(node) => node.anchor_now(),
            Self::Remote(client) => blocking(client, |c| c.post("/v1/anchor", &())).await,
        }
    }

    pub async fn checkpoints(&self) -> Result<Vec<crate::proof::CheckpointView>, NodeError> {
        match self {
            Self::Local(node) => node.checkpoints(),
            Self::Remote(client) => blocking(client, |c| c.get("/v1/checkpoints")).await,
        }
    }

    pub async fn proof(&self, id: &str) -> Result<crate::proof::ProofBundle, NodeError> {
        match self {
            Self::Local(node) => node.proof(id),
            Self::Remote(client) => {
                let path = format!("/v1/receipts/{}/proof", encode_query(id));
                blocking(client, move |c| c.get(&path)).await
            }
        }
    }

    pub async fn licenses(&self) -> Result<Vec<crate::views::LicenseView>, NodeError> {
        match self {
            Self::Local(node) => Ok(node
                .licenses()?
                .iter()
                .map(crate::views::LicenseView::from)
                .collect()),
            Self::Remote(client) => blocking(client, |c| c.get("/v1/licenses")).await,
        }
    }

    pub async fn publish(
        &mut self,
        mut spec: DatasetSpec,
        on_plan: &(dyn Fn(u64) + Send + Sync),
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<PublishView, NodeError> {
        match self {
            Self::Local(node) => {
                let request = node.prepare_publish(spec)?;
                node.publish(request, on_plan, progress).await
            }
            Self::Remote(client) => {
                // The node resolves paths from its own working directory: send absolute ones.
                spec.paths = spec
                    .paths
                    .iter()
                    .map(|p| absolute(p))
                    .collect::<Result<_, _>>()?;
                blocking(client, move |c| c.post("/v1/publish", &spec)).await
            }
        }
    }

    pub async fn datasets(&self, query: Option<&str>) -> Result<Vec<SummaryView>, NodeError> {
        match self {
            Self::Local(node) => Ok(node
                .datasets(query)?
                .iter()
                .map(SummaryView::from)
                .collect()),
            Self::Remote(client) => {
                let path = match query {
                    Some(q) => format!("/v1/datasets?q={}", encode_query(q)),
                    None => "/v1/datasets".to_owned(),
                };
                blocking(client, move |c| c.get(&path)).await
            }
        }
    }

    pub async fn show(&self, id: &DatasetId) -> Result<DatasetView, NodeError> {
        match self {
            Self::Local(node) => Ok(DatasetView::from(&node.show(id)?)),
            Self::Remote(client) => {
                let path = format!("/v1/datasets/{id}");
                blocking(client, move |c| c.get(&path)).await
            }
        }
    }

    pub async fn export_manifest(&self, id: &DatasetId) -> Result<Vec<u8>, NodeError> {
        match self {
            Self::Local(node) => node.export_manifest(id),
            Self::Remote(client) => {
                let path = format!("/v1/datasets/{id}/manifest");
                blocking(client, move |c| c.get_bytes(&path)).await
            }
        }
    }

    pub async fn import_manifest(&mut self, encoded: Vec<u8>) -> Result<ImportView, NodeError> {
        match self {
            Self::Local(node) => {
                let (id, added) = node.import_manifest(&encoded)?;
                Ok(ImportView {
                    id: id.to_hex(),
                    added,
                })
            }
            Self::Remote(client) => {
                blocking(client, move |c| c.post_bytes("/v1/manifests", &encoded)).await
            }
        }
    }

    pub async fn extract(
        &mut self,
        id: &DatasetId,
        out: &Path,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ExtractView, NodeError> {
        match self {
            Self::Local(node) => {
                let stats = node.extract(id, out, progress).await?;
                Ok(ExtractView {
                    id: id.to_hex(),
                    out: out.to_owned(),
                    files: stats.files,
                    bytes: stats.bytes,
                })
            }
            Self::Remote(client) => {
                let path = format!("/v1/datasets/{id}/extract");
                let request = ExtractRequest {
                    out: absolute(out)?,
                };
                blocking(client, move |c| c.post(&path, &request)).await
            }
        }
    }
}

/// Percent-encodes a search query for a URL.
fn encode_query(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
