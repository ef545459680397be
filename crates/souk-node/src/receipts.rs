//! Sale receipts between seller and buyer: the seller splits the price up the lineage and signs,
//! the buyer checks and countersigns, and the seller appends the countersigned receipt to its
//! receipt log.

use std::collections::HashMap;

use souk_crypto::merkle::leaf_hash;
use souk_crypto::{NodeKey, SignedLicense, SignedReceipt};
use souk_store::{Catalog, NewReceipt};
use souk_types::{
    Contributor, DatasetId, DeliveryReceipt, Lineage, MAX_LINEAGE_DEPTH, Parent, PublicKey,
    Receipt, SaleReceipt, SplitPart,
};

/// Most datasets a lineage walk visits.
const MAX_LINEAGE_DATASETS: usize = 1024;

type Lineages = HashMap<DatasetId, (Vec<Contributor>, Vec<Parent>)>;

/// The contributors and parents of `dataset` and every ancestor, from the catalog.
fn lineages(catalog: &Catalog, dataset: DatasetId) -> Result<Lineages, String> {
    let mut found = Lineages::new();
    let mut next = vec![(dataset, 0)];
    while let Some((id, depth)) = next.pop() {
        if found.contains_key(&id) {
            continue;
        }
        if depth > MAX_LINEAGE_DEPTH || found.len() >= MAX_LINEAGE_DATASETS {
            return Err("the lineage is too large to split".to_owned());
        }
        let stored = catalog
            .get(&id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the manifest of ancestor {id} is not known here"))?;
        let manifest = stored.signed.manifest;
        next.extend(manifest.parents.iter().map(|p| (p.dataset, depth + 1)));
        found.insert(id, (manifest.contributors, manifest.parents));
    }
    Ok(found)
}

/// How `amount` paid for `dataset` splits up its lineage, by the catalog's manifests.
pub(crate) fn split_sale(
    catalog: &Catalog,
    dataset: DatasetId,
    amount: u64,
) -> Result<Vec<SplitPart>, String> {
    let known = lineages(catalog, dataset)?;
    souk_types::split(amount, dataset, &|id: &DatasetId| {
        known.get(id).map(|(contributors, parents)| Lineage {
            contributors,
            parents,
        })
    })
    .map_err(|e| e.to_string())
}

/// The seller's receipt for `license`, paid by `voucher` (its envelope).
pub(crate) fn sale_receipt(
    seller: &NodeKey,
    license: &SignedLicense,
    voucher: &[u8],
    split: Vec<SplitPart>,
    now_ms: u64,
) -> Result<SignedReceipt, String> {
    let l = &license.license;
    let receipt = Receipt::Sale(SaleReceipt {
        dataset: l.dataset,
        license_id: license.id,
        buyer: l.buyer,
        seller: seller.public(),
        amount: l.price,
        currency: l.currency.clone(),
        voucher_id: *blake3::hash(voucher).as_bytes(),
        time_ms: now_ms,
        split,
        network_id: l.network_id.clone(),
    });
    SignedReceipt::issue(seller, &receipt).map_err(|e| e.to_string())
}

/// The buyer's countersignature on the seller's receipt for `license`, after checking that it
/// describes this purchase and, when this node knows the lineage, that the split is the rule's.
pub(crate) fn countersign_sale(
    buyer: &NodeKey,
    catalog: &Catalog,
    license: &SignedLicense,
    receipt: &[u8],
) -> Result<[u8; 64], String> {
    let signed = SignedReceipt::open(receipt).map_err(|e| e.to_string())?;
    let Receipt::Sale(sale) = &signed.receipt else {
        return Err("the seller sent a receipt that is not for a sale".to_owned());
    };
    let l = &license.license;
    let matches = sale.license_id == license.id
        && sale.dataset == l.dataset
        && sale.seller == l.seller
        && sale.amount == l.price
        && sale.network_id == l.network_id;
    if !matches {
        return Err("the seller's receipt does not describe this purchase".to_owned());
    }
    if let Ok(expected) = split_sale(catalog, sale.dataset, sale.amount)
        && expected != sale.split
    {
        return Err("the seller's receipt splits the price against the rule".to_owned());
    }
    signed
        .countersign(buyer)
        .ok_or_else(|| "the receipt names another buyer".to_owned())
}

/// A provider's receipt for `bytes` of `license`'s dataset delivered to its holder.
pub(crate) fn delivery_receipt(
    provider: &NodeKey,
    license: &SignedLicense,
    bytes: u64,
    now_ms: u64,
) -> Result<SignedReceipt, String> {
    let l = &license.license;
    let receipt = Receipt::Delivery(DeliveryReceipt {
        dataset: l.dataset,
        license_id: license.id,
        buyer: l.buyer,
        provider: provider.public(),
        bytes,
        time_ms: now_ms,
        network_id: l.network_id.clone(),
    });
    SignedReceipt::issue(provider, &receipt).map_err(|e| e.to_string())
}

/// The holder's countersignature on `provider`'s receipt for the `bytes` it delivered under
/// `license`, after checking the receipt says exactly that.
pub(crate) fn countersign_delivery(
    holder: &NodeKey,
    license: &SignedLicense,
    provider: PublicKey,
    bytes: u64,
    receipt: &[u8],
) -> Result<[u8; 64], String> {
    let signed = SignedReceipt::open(receipt).map_err(|e| e.to_string())?;
    let Receipt::Delivery(delivery) = &signed.receipt else {
        return Err("the provider sent a receipt that is not for a delivery".to_owned());
    };
    let matches = delivery.license_id == license.id
        && delivery.dataset == license.license.dataset
        && delivery.provider == provider
        && delivery.bytes == bytes
        && delivery.network_id == license.license.network_id;
    if !matches {
        return Err("the provider's receipt does not describe this delivery".to_owned());
    }
    signed
        .countersign(holder)
        .ok_or_else(|| "the receipt names another holder".to_owned())
}

/// Appends a receipt this node issued, countersigned by `from`, to its receipt log; returns
/// its leaf index.
pub(crate) fn log_countersigned(
    catalog: &mut Catalog,
    me: PublicKey,
    from: PublicKey,
    receipt: &[u8],
    signature: &[u8],
    now_ms: u64,
) -> Result<u64, String> {
    let signed = SignedReceipt::open(receipt).map_err(|e| e.to_string())?;
    if signed.receipt.issuer() != me {
        return Err("this node did not issue that receipt".to_owned());
    }
    if signed.receipt.buyer() != from {
        return Err("only the receipt's buyer countersigns it".to_owned());
    }
    let kind = match signed.receipt {
        Receipt::Sale(_) => "sale",
        Receipt::Delivery(_) => "delivery",
    };
    let countersigned = signed.countersigned(signature).map_err(|e| e.to_string())?;
    let leaf = countersigned.leaf();
    let (index, _) = catalog
        .append_receipt(NewReceipt {
            id: &countersigned.signed.id,
            dataset: &countersigned.signed.receipt.dataset(),
            kind,
            leaf: &leaf,
            leaf_hash: &leaf_hash(&leaf),
            now_ms,
        })
        .map_err(|e| e.to_string())?;
    Ok(index)
}
