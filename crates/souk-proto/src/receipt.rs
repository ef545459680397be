use prost::Message;
use souk_types::{DatasetId, DeliveryReceipt, PublicKey, Receipt, SaleReceipt, SplitPart};

use crate::{DecodeError, bytes32, v1};

/// Largest encoded receipt body accepted.
pub const MAX_RECEIPT_BYTES: usize = 256 * 1024;
/// Most parts in a sale's split.
pub const MAX_SPLIT_PARTS: usize = 2048;

fn field(field: &'static str, reason: &'static str) -> DecodeError {
    DecodeError::Field { field, reason }
}

fn key(name: &'static str, bytes: &[u8]) -> Result<PublicKey, DecodeError> {
    Ok(PublicKey::from_bytes(bytes32(name, bytes)?))
}

fn network(id: String) -> Result<String, DecodeError> {
    if id.is_empty() || id.len() > 64 {
        return Err(field("network_id", "must be 1 to 64 bytes"));
    }
    Ok(id)
}

pub fn encode_receipt(receipt: &Receipt) -> Vec<u8> {
    let kind = match receipt {
        Receipt::Sale(s) => v1::receipt::Kind::Sale(v1::SaleReceipt {
            dataset_id: s.dataset.as_bytes().to_vec(),
            license_id: s.license_id.to_vec(),
            buyer: s.buyer.as_bytes().to_vec(),
            seller: s.seller.as_bytes().to_vec(),
            amount: s.amount,
            currency: s.currency.clone(),
            voucher_id: s.voucher_id.to_vec(),
            time_ms: s.time_ms,
            split: s
                .split
                .iter()
                .map(|p| v1::SplitShare {
                    dataset_id: p.dataset.as_bytes().to_vec(),
                    contributor: p.contributor.as_bytes().to_vec(),
                    amount: p.amount,
                })
                .collect(),
            network_id: s.network_id.clone(),
        }),
        Receipt::Delivery(d) => v1::receipt::Kind::Delivery(v1::DeliveryReceipt {
            dataset_id: d.dataset.as_bytes().to_vec(),
            license_id: d.license_id.to_vec(),
            buyer: d.buyer.as_bytes().to_vec(),
            provider: d.provider.as_bytes().to_vec(),
            bytes: d.bytes,
            time_ms: d.time_ms,
            network_id: d.network_id.clone(),
        }),
    };
    v1::Receipt { kind: Some(kind) }.encode_to_vec()
}

/// Decodes a receipt body (after its envelope signature was verified).
pub fn decode_receipt(body: &[u8]) -> Result<Receipt, DecodeError> {
    if body.len() > MAX_RECEIPT_BYTES {
        return Err(DecodeError::TooLarge {
            what: "receipt",
            len: body.len(),
            max: MAX_RECEIPT_BYTES,
        });
    }
    match v1::Receipt::decode(body)?.kind {
        Some(v1::receipt::Kind::Sale(s)) => {
            if s.split.len() > MAX_SPLIT_PARTS {
                return Err(field("split", "too many parts"));
            }
            if s.currency.is_empty() || s.currency.len() > 16 {
                return Err(field("currency", "must be 1 to 16 bytes"));
            }
            let split = s
                .split
                .iter()
                .map(|p| {
                    Ok(SplitPart {
                        dataset: DatasetId::from_bytes(bytes32("split.dataset_id", &p.dataset_id)?),
                        contributor: key("split.contributor", &p.contributor)?,
                        amount: p.amount,
                    })
                })
                .collect::<Result<_, DecodeError>>()?;
            Ok(Receipt::Sale(SaleReceipt {
                dataset: DatasetId::from_bytes(bytes32("dataset_id", &s.dataset_id)?),
                license_id: bytes32("license_id", &s.license_id)?,
                buyer: key("buyer", &s.buyer)?,
                seller: key("seller", &s.seller)?,
                amount: s.amount,
                currency: s.currency,
                voucher_id: bytes32("voucher_id", &s.voucher_id)?,
                time_ms: s.time_ms,
                split,
                network_id: network(s.network_id)?,
            }))
        }
        Some(v1::receipt::Kind::Delivery(d)) => Ok(Receipt::Delivery(DeliveryReceipt {
            dataset: DatasetId::from_bytes(bytes32("dataset_id", &d.dataset_id)?),
            license_id: bytes32("license_id", &d.license_id)?,
            buyer: key("buyer", &d.buyer)?,
            provider: key("provider", &d.provider)?,
            bytes: d.bytes,
            time_ms: d.time_ms,
            network_id: network(d.network_id)?,
        })),
        None => Err(field("kind", "missing")),
    }
}
