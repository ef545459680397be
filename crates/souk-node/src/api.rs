//! The control API: HTTP + JSON on loopback, every request authenticated by the bearer token the
//! node keeps in `api.token`. Routes are versioned under `/v1`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use souk_types::DatasetId;

use crate::network::NetHandle;
use crate::purchase::{Buyer, Transfers};
use crate::views::{
    BuyRequest, BuyView, DatasetView, ErrorView, ExtractRequest, ExtractView, IdView, ImportView,
    LicenseView, PublishView, ReceiptView, SummaryView, TransferView,
};
use crate::{DatasetSpec, Node, NodeError, serving};
use souk_store::blobs::BlobStore;
use souk_transfer::BlobsService;

/// How long `GET /v1/datasets/{id}` waits for the DHT's provider records.
const PROVIDER_LOOKUP: Duration = Duration::from_secs(3);

pub(crate) struct ApiState {
    pub(crate) node: tokio::sync::Mutex<Node>,
    pub(crate) net: NetHandle,
    pub(crate) token: String,
    pub(crate) blobs: BlobsService,
    /// The node's blob store (a handle: the store runs on its own tasks).
    pub(crate) store: BlobStore,
    pub(crate) transfers: Transfers,
    pub(crate) serve_bought: bool,
}

impl ApiState {
    fn buyer(&self) -> Buyer<'_> {
        Buyer {
            node: &self.node,
            net: &self.net,
            blobs: &self.blobs,
            store: &self.store,
            transfers: &self.transfers,
            serve_bought: self.serve_bought,
        }
    }
}

pub(crate) struct ApiError(NodeError);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            NodeError::UnknownDataset(_) => StatusCode::NOT_FOUND,
            NodeError::Io { .. } | NodeError::Store(_) | NodeError::Random(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        };
        error_response(status, self.0.to_string())
    }
}

fn error_response(status: StatusCode, error: String) -> Response {
    (status, Json(ErrorView { error })).into_response()
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn parse_id(id: &str) -> Result<DatasetId, ApiError> {
    id.parse()
        .map_err(|e: souk_types::IdParseError| ApiError(NodeError::Invalid(e.to_string())))
}

/// Compares in time independent of where the strings differ.
fn same_token(given: &str, expected: &str) -> bool {
    blake3::hash(given.as_bytes()) == blake3::hash(expected.as_bytes())
}

async fn authenticate(
    State(state): State<Arc<ApiState>>,
    request: Request,
    next: Next,
) -> Response {
    let authorised = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| same_token(token, &state.token));
    if !authorised {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token: use the one in the data directory's api.token".into(),
        );
    }
    next.run(request).await
}

pub(crate) fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/v1/id", get(id))
        .route("/v1/peers", get(peers))
        .route("/v1/metrics", get(metrics))
        .route("/v1/datasets", get(datasets))
        .route("/v1/datasets/{id}", get(show))
        .route("/v1/datasets/{id}/manifest", get(export))
        .route("/v1/datasets/{id}/extract", post(extract))
        .route("/v1/manifests", post(import))
        .route("/v1/publish", post(publish))
        .route("/v1/buy", post(buy))
        .route("/v1/licenses", get(licenses))
        .route("/v1/transfers", get(transfers))
        .route("/v1/receipts", get(receipts))
        .route("/v1/receipts/{id}/proof", get(proof))
        .route("/v1/anchor", post(anchor))
        .route("/v1/checkpoints", get(checkpoints))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

async fn id(State(state): State<Arc<ApiState>>) -> Json<IdView> {
    let public = state.node.lock().await.key().public();
    Json(IdView {
        peer_id: public.to_peer_id(),
        public_key: public.to_hex(),
        listen_addrs: Some(state.net.listen_addrs().await),
        blobs_addr: state.blobs.addrs().first().map(ToString::to_string),
    })
}

async fn peers(State(state): State<Arc<ApiState>>) -> Json<Vec<crate::network::PeerInfo>> {
    Json(state.net.peers().await)
}

/// gossipsub's counters, in Prometheus text format.
async fn metrics(State(state): State<Arc<ApiState>>) -> String {
    state.net.metrics().await
}

#[derive(Debug, Deserialize)]
struct DatasetsQuery {
    q: Option<String>,
}

async fn datasets(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<DatasetsQuery>,
) -> ApiResult<Vec<SummaryView>> {
    let list = state.node.lock().await.datasets(query.q.as_deref())?;
    Ok(Json(list.iter().map(SummaryView::from).collect()))
}

async fn show(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> ApiResult<DatasetView> {
    let id = parse_id(&id)?;
    let stored = state.node.lock().await.show(&id)?;
    let mut view = DatasetView::from(&stored);
    let providers = tokio::time::timeout(PROVIDER_LOOKUP, state.net.providers(id))
        .await
        .unwrap_or_default();
    view.providers = Some(providers);
    Ok(Json(view))
}

async fn export(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Vec<u8>, ApiError> {
    let id = parse_id(&id)?;
    Ok(state.node.lock().await.export_manifest(&id)?)
}

async fn import(State(state): State<Arc<ApiState>>, body: Bytes) -> ApiResult<ImportView> {
    if body.len() > souk_crypto::MAX_MANIFEST_ENVELOPE_BYTES {
        return Err(ApiError(NodeError::Invalid(format!(
            "a manifest is at most {} bytes",
            souk_crypto::MAX_MANIFEST_ENVELOPE_BYTES
        ))));
    }
    let (id, added) = state.node.lock().await.import_manifest(&body)?;
    if added {
        state.net.announce(id, body.to_vec(), false).await;
    }
    Ok(Json(ImportView {
        id: id.to_hex(),
        added,
    }))
}

async fn publish(
    State(state): State<Arc<ApiState>>,
    Json(spec): Json<DatasetSpec>,
) -> ApiResult<PublishView> {
    let (report, stored) = {
        let mut node = state.node.lock().await;
        let request = node.prepare_publish(spec)?;
        let report = node.publish(request, &|_| {}, &|_| {}).await?;
        let stored = node.show(&parse_id(&report.id)?)?;
        (report, stored)
    };
    let id = stored.signed.id;
    serving::serve(
        &state.store,
        state.blobs.gate(),
        id,
        stored.signed.manifest.shards.root,
    )
    .await;
    state.net.announce(id, stored.signed.envelope, true).await;
    Ok(Json(report))
}

async fn extract(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Json(request): Json<ExtractRequest>,
) -> ApiResult<ExtractView> {
    let id = parse_id(&id)?;
    let stats = state
        .node
        .lock()
        .await
        .extract(&id, &request.out, &|_| {})
        .await?;
    Ok(Json(ExtractView {
        id: id.to_hex(),
        out: request.out,
        files: stats.files,
        bytes: stats.bytes,
    }))
}

async fn buy(
    State(state): State<Arc<ApiState>>,
    Json(request): Json<BuyRequest>,
) -> ApiResult<BuyView> {
    Ok(Json(state.buyer().buy(request).await?))
}

#[derive(Debug, Deserialize)]
struct ReceiptsQuery {
    dataset: Option<String>,
}

async fn receipts(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<ReceiptsQuery>,
) -> ApiResult<Vec<ReceiptView>> {
    let dataset = query.dataset.as_deref().map(parse_id).transpose()?;
    Ok(Json(state.node.lock().await.receipts(dataset.as_ref())?))
}

async fn proof(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> ApiResult<crate::proof::ProofBundle> {
    Ok(Json(state.node.lock().await.proof(&id)?))
}

/// The request body carries nothing, but it is read to its end: a connection whose request body
/// was left unread is closed after the answer, and a client reusing it fails.
async fn anchor(
    State(state): State<Arc<ApiState>>,
    _ignored: Bytes,
) -> ApiResult<crate::proof::CheckpointView> {
    let anchored = state.net.anchor_now().await.map_err(NodeError::Invalid)?;
    Ok(Json(anchored))
}

async fn checkpoints(
    State(state): State<Arc<ApiState>>,
) -> ApiResult<Vec<crate::proof::CheckpointView>> {
    Ok(Json(state.node.lock().await.checkpoints()?))
}

async fn transfers(State(state): State<Arc<ApiState>>) -> Json<Vec<TransferView>> {
    Json(state.transfers.list())
}

async fn licenses(State(state): State<Arc<ApiState>>) -> ApiResult<Vec<LicenseView>> {
    let list = state.node.lock().await.licenses()?;
    Ok(Json(list.iter().map(LicenseView::from).collect()))
}
