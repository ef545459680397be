//! What this node serves over iroh-blobs: the datasets whose blobs it holds complete (those it
//! published, and those it bought when `serve_bought` is on).

use iroh_blobs::hashseq::HashSeq;
use iroh_blobs::{Hash, HashAndFormat};
use souk_store::blobs::BlobStore;
use souk_transfer::{Gate, Holding};
use souk_types::{DatasetId, PublicKey};

use crate::{Node, NodeError};

/// The dataset's blobs, if its shard list and every shard are complete in `store`.
pub(crate) async fn complete_holding(store: &BlobStore, root: [u8; 32]) -> Option<Holding> {
    let root = Hash::from_bytes(root);
    let local = store
        .remote()
        .local(HashAndFormat::hash_seq(root))
        .await
        .ok()?;
    if !local.is_complete() {
        return None;
    }
    let list = HashSeq::try_from(store.blobs().get_bytes(root).await.ok()?).ok()?;
    Some(Holding {
        root,
        shards: list.iter().collect(),
    })
}

/// Starts serving `dataset` if its blobs are complete; true if it is served.
pub(crate) async fn serve(
    store: &BlobStore,
    gate: &Gate,
    dataset: DatasetId,
    root: [u8; 32],
) -> bool {
    match complete_holding(store, root).await {
        Some(holding) => {
            gate.lock().hold(dataset, holding);
            true
        }
        None => false,
    }
}

/// At start-up: serves every catalogued dataset whose blobs are here, bought ones only with
/// `serve_bought`.
pub(crate) async fn serve_held(
    node: &Node,
    gate: &Gate,
    serve_bought: bool,
) -> Result<usize, NodeError> {
    let me: PublicKey = node.key().public();
    let mut served = 0;
    for id in node.catalog().ids()? {
        let Some(stored) = node.catalog().get(&id)? else {
            continue;
        };
        let manifest = &stored.signed.manifest;
        if !stored.has_key || (!serve_bought && manifest.publisher != me) {
            continue;
        }
        if serve(node.store(), gate, id, manifest.shards.root).await {
            served += 1;
        }
    }
    Ok(served)
}
