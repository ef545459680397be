use prost::Message;
use souk_types::{
    Contributor, DatasetId, Encryption, EncryptionScheme, LicenseOffer, Manifest, Parent,
    PublicKey, ShardSet, UsageRights, limits,
};

use crate::{DecodeError, bytes32, v1};

/// Encodes a manifest body (the bytes that get signed and hashed into the dataset id).
pub fn encode_manifest(m: &Manifest) -> Vec<u8> {
    let encryption = v1::Encryption {
        scheme: match m.encryption.scheme {
            EncryptionScheme::ChaCha20Poly1305V1 => v1::EncryptionScheme::Chacha20Poly1305V1 as i32,
        },
        key_commitment: m.encryption.key_commitment.to_vec(),
        plaintext_commitment: m.encryption.plaintext_commitment.to_vec(),
    };
    let shards = v1::ShardSet {
        shard_size: m.shards.shard_size,
        shard_count: m.shards.shard_count,
        plaintext_size: m.shards.plaintext_size,
        root: m.shards.root.to_vec(),
        hashes: m.shards.hashes.iter().map(|h| h.to_vec()).collect(),
    };
    v1::Manifest {
        name: m.name.clone(),
        description: m.description.clone(),
        tags: m.tags.clone(),
        media_type: m.media_type.clone(),
        version: m.version,
        previous_version: m
            .previous_version
            .map(|id| id.as_bytes().to_vec())
            .unwrap_or_default(),
        publisher: m.publisher.as_bytes().to_vec(),
        created_at_ms: m.created_at_ms,
        encryption: Some(encryption),
        shards: Some(shards),
        contributors: m
            .contributors
            .iter()
            .map(|c| v1::Contributor {
                key: c.key.as_bytes().to_vec(),
                weight_bps: c.weight_bps,
            })
            .collect(),
        parents: m
            .parents
            .iter()
            .map(|p| v1::Parent {
                dataset_id: p.dataset.as_bytes().to_vec(),
                share_bps: p.share_bps,
            })
            .collect(),
        offers: m
            .offers
            .iter()
            .map(|o| v1::LicenseOffer {
                price: o.price,
                currency: o.currency.clone(),
                rights: rights_to_wire(o.rights) as i32,
                duration_secs: o.duration_secs,
            })
            .collect(),
    }
    .encode_to_vec()
}

pub fn rights_to_wire(rights: UsageRights) -> v1::UsageRights {
    match rights {
        UsageRights::Research => v1::UsageRights::Research,
        UsageRights::Training => v1::UsageRights::Training,
        UsageRights::Commercial => v1::UsageRights::Commercial,
    }
}

pub fn rights_from_wire(value: i32) -> Result<UsageRights, DecodeError> {
    match v1::UsageRights::try_from(value) {
        Ok(v1::UsageRights::Research) => Ok(UsageRights::Research),
        Ok(v1::UsageRights::Training) => Ok(UsageRights::Training),
        Ok(v1::UsageRights::Commercial) => Ok(UsageRights::Commercial),
        _ => Err(DecodeError::Field {
            field: "offers.rights",
            reason: "unknown usage rights",
        }),
    }
}

/// Decodes and validates a manifest body. Callers verify the envelope signature over these exact
/// bytes before calling this.
pub fn decode_manifest(body: &[u8]) -> Result<Manifest, DecodeError> {
    if body.len() > limits::MAX_MANIFEST_BYTES {
        return Err(DecodeError::TooLarge {
            what: "manifest",
            len: body.len(),
            max: limits::MAX_MANIFEST_BYTES,
        });
    }
    let wire = v1::Manifest::decode(body)?;
    let encryption = wire.encryption.ok_or(DecodeError::Field {
        field: "encryption",
        reason: "missing",
    })?;
    let scheme = match v1::EncryptionScheme::try_from(encryption.scheme) {
        Ok(v1::EncryptionScheme::Chacha20Poly1305V1) => EncryptionScheme::ChaCha20Poly1305V1,
        _ => {
            return Err(DecodeError::Field {
                field: "encryption.scheme",
                reason: "unknown encryption scheme",
            });
        }
    };
    let shards = wire.shards.ok_or(DecodeError::Field {
        field: "shards",
        reason: "missing",
    })?;
    let previous_version = match wire.previous_version.as_slice() {
        [] => None,
        bytes => Some(DatasetId::from_bytes(bytes32("previous_version", bytes)?)),
    };
    let manifest = Manifest {
        name: wire.name,
        description: wire.description,
        tags: wire.tags,
        media_type: wire.media_type,
        version: wire.version,
        previous_version,
        publisher: PublicKey::from_bytes(bytes32("publisher", &wire.publisher)?),
        created_at_ms: wire.created_at_ms,
        encryption: Encryption {
            scheme,
            key_commitment: bytes32("encryption.key_commitment", &encryption.key_commitment)?,
            plaintext_commitment: bytes32(
                "encryption.plaintext_commitment",
                &encryption.plaintext_commitment,
            )?,
        },
        shards: ShardSet {
            shard_size: shards.shard_size,
            shard_count: shards.shard_count,
            plaintext_size: shards.plaintext_size,
            root: bytes32("shards.root", &shards.root)?,
            hashes: shards
                .hashes
                .iter()
                .map(|h| bytes32("shards.hashes", h))
                .collect::<Result<_, _>>()?,
        },
        contributors: wire
            .contributors
            .iter()
            .map(|c| {
                Ok(Contributor {
                    key: PublicKey::from_bytes(bytes32("contributors.key", &c.key)?),
                    weight_bps: c.weight_bps,
                })
            })
            .collect::<Result<_, DecodeError>>()?,
        parents: wire
            .parents
            .iter()
            .map(|p| {
                Ok(Parent {
                    dataset: DatasetId::from_bytes(bytes32("parents.dataset_id", &p.dataset_id)?),
                    share_bps: p.share_bps,
                })
            })
            .collect::<Result<_, DecodeError>>()?,
        offers: wire
            .offers
            .into_iter()
            .map(|o| {
                Ok(LicenseOffer {
                    price: o.price,
                    currency: o.currency,
                    rights: rights_from_wire(o.rights)?,
                    duration_secs: o.duration_secs,
                })
            })
            .collect::<Result<_, DecodeError>>()?,
    };
    manifest.validate()?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_types::{MEDIA_TYPE_FILES, TOTAL_BPS};

    fn sample() -> Manifest {
        Manifest {
            name: "n".into(),
            description: String::new(),
            tags: vec![],
            media_type: MEDIA_TYPE_FILES.into(),
            version: 1,
            previous_version: Some(DatasetId::from_bytes([9; 32])),
            publisher: PublicKey::from_bytes([1; 32]),
            created_at_ms: 5,
            encryption: Encryption {
                scheme: EncryptionScheme::ChaCha20Poly1305V1,
                key_commitment: [2; 32],
                plaintext_commitment: [3; 32],
            },
            shards: ShardSet {
                shard_size: 4096,
                shard_count: 1,
                plaintext_size: 10,
                root: [4; 32],
                hashes: vec![[5; 32]],
            },
            contributors: vec![Contributor {
                key: PublicKey::from_bytes([1; 32]),
                weight_bps: TOTAL_BPS,
            }],
            parents: vec![Parent {
                dataset: DatasetId::from_bytes([8; 32]),
                share_bps: 2_500,
            }],
            offers: vec![LicenseOffer {
                price: 7,
                currency: "SOUK".into(),
                rights: UsageRights::Research,
                duration_secs: 60,
            }],
        }
    }

    #[test]
    fn manifest_round_trips() {
        let m = sample();
        assert_eq!(decode_manifest(&encode_manifest(&m)).expect("decodes"), m);
    }

    #[test]
    fn truncations_never_panic_nor_decode_to_the_original() {
        // A prefix ending on a field boundary can be a valid, different manifest: the envelope
        // signature, not the decoder, is what rejects it.
        let m = sample();
        let body = encode_manifest(&m);
        for len in 0..body.len() {
            if let Ok(decoded) = decode_manifest(&body[..len]) {
                assert_ne!(decoded, m, "prefix of {len} bytes decoded to the original");
            }
        }
    }

    #[test]
    fn oversize_and_unknown_scheme_are_refused() {
        let big = vec![0u8; limits::MAX_MANIFEST_BYTES + 1];
        assert!(matches!(
            decode_manifest(&big),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut wire = v1::Manifest::decode(encode_manifest(&sample()).as_slice()).expect("ok");
        if let Some(e) = wire.encryption.as_mut() {
            e.scheme = 99;
        }
        assert!(matches!(
            decode_manifest(&wire.encode_to_vec()),
            Err(DecodeError::Field {
                field: "encryption.scheme",
                ..
            })
        ));
    }
}
