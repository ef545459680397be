use prost::Message;
use souk_types::{DatasetId, License, PublicKey, WrappedKey};

use crate::manifest::{rights_from_wire, rights_to_wire};
use crate::{DecodeError, bytes32, v1};

/// Largest encoded license body accepted.
pub const MAX_LICENSE_BYTES: usize = 2048;

pub fn encode_license(license: &License) -> Vec<u8> {
    v1::License {
        dataset_id: license.dataset.as_bytes().to_vec(),
        buyer: license.buyer.as_bytes().to_vec(),
        seller: license.seller.as_bytes().to_vec(),
        rights: rights_to_wire(license.rights) as i32,
        price: license.price,
        currency: license.currency.clone(),
        issued_at_ms: license.issued_at_ms,
        expires_at_ms: license.expires_at_ms,
        network_id: license.network_id.clone(),
        nonce: license.nonce.to_vec(),
        key: Some(v1::WrappedKey {
            ephemeral_public: license.key.ephemeral_public.to_vec(),
            ciphertext: license.key.ciphertext.clone(),
        }),
    }
    .encode_to_vec()
}

/// Decodes a license body (after its envelope signature was verified).
pub fn decode_license(body: &[u8]) -> Result<License, DecodeError> {
    if body.len() > MAX_LICENSE_BYTES {
        return Err(DecodeError::TooLarge {
            what: "license",
            len: body.len(),
            max: MAX_LICENSE_BYTES,
        });
    }
    let wire = v1::License::decode(body)?;
    let key = wire.key.ok_or(DecodeError::Field {
        field: "key",
        reason: "missing",
    })?;
    let nonce = <[u8; 16]>::try_from(wire.nonce.as_slice()).map_err(|_| DecodeError::Field {
        field: "nonce",
        reason: "must be 16 bytes",
    })?;
    if wire.expires_at_ms <= wire.issued_at_ms {
        return Err(DecodeError::Field {
            field: "expires_at_ms",
            reason: "must be after issued_at_ms",
        });
    }
    if wire.network_id.is_empty() || wire.network_id.len() > 64 {
        return Err(DecodeError::Field {
            field: "network_id",
            reason: "must be 1 to 64 bytes",
        });
    }
    Ok(License {
        dataset: DatasetId::from_bytes(bytes32("dataset_id", &wire.dataset_id)?),
        buyer: PublicKey::from_bytes(bytes32("buyer", &wire.buyer)?),
        seller: PublicKey::from_bytes(bytes32("seller", &wire.seller)?),
        rights: rights_from_wire(wire.rights)?,
        price: wire.price,
        currency: wire.currency,
        issued_at_ms: wire.issued_at_ms,
        expires_at_ms: wire.expires_at_ms,
        network_id: wire.network_id,
        nonce,
        key: WrappedKey {
            ephemeral_public: bytes32("key.ephemeral_public", &key.ephemeral_public)?,
            ciphertext: key.ciphertext,
        },
    })
}
