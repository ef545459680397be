use std::fmt;
use std::str::FromStr;

/// Why a key or id typed by a user or received from a peer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    #[error("{what} {input:?} is not valid: expected {expected}")]
    Malformed {
        what: &'static str,
        input: String,
        expected: &'static str,
    },
    #[error("{what} has {len} bytes, expected 32")]
    WrongLength { what: &'static str, len: usize },
}

/// The multihash/protobuf prefix of an ed25519 libp2p peer id: identity multihash (0x00) of
/// 36 bytes (0x24) wrapping the protobuf `PublicKey { Type = Ed25519 (0x08 0x01), Data (0x12 0x20) }`.
const PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// An ed25519 public key: a node's identity, a publisher, a contributor.
///
/// Displayed as its libp2p peer id (`12D3KooW...`), which is what `souk id` prints; parsed from
/// either that form or 64 hex characters. The bytes are not checked to be a curve point here:
/// signature verification does that where it matters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, IdParseError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| IdParseError::WrongLength {
                what: "public key",
                len: bytes.len(),
            })
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The libp2p peer id of this key, base58btc encoded.
    pub fn to_peer_id(&self) -> String {
        let mut bytes = Vec::with_capacity(PEER_ID_PREFIX.len() + 32);
        bytes.extend_from_slice(&PEER_ID_PREFIX);
        bytes.extend_from_slice(&self.0);
        bs58::encode(bytes).into_string()
    }
}

impl FromStr for PublicKey {
    type Err = IdParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let malformed = || IdParseError::Malformed {
            what: "public key",
            input: input.chars().take(80).collect(),
            expected: "a peer id (12D3KooW...) or 64 hex characters",
        };
        if input.len() == 64 {
            let mut bytes = [0u8; 32];
            return hex::decode_to_slice(input, &mut bytes)
                .map(|()| Self(bytes))
                .map_err(|_| malformed());
        }
        let decoded = bs58::decode(input).into_vec().map_err(|_| malformed())?;
        match decoded.strip_prefix(&PEER_ID_PREFIX) {
            Some(key) => Self::from_slice(key).map_err(|_| malformed()),
            None => Err(malformed()),
        }
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_peer_id())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_peer_id())
    }
}

/// A dataset's id: BLAKE3 of its manifest body. Displayed as 64 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatasetId([u8; 32]);

impl DatasetId {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The id of the manifest whose encoded body is `body`.
    pub fn of_body(body: &[u8]) -> Self {
        Self(*blake3::hash(body).as_bytes())
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, IdParseError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| IdParseError::WrongLength {
                what: "dataset id",
                len: bytes.len(),
            })
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for DatasetId {
    type Err = IdParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        if input.len() != 64 || hex::decode_to_slice(input, &mut bytes).is_err() {
            return Err(IdParseError::Malformed {
                what: "dataset id",
                input: input.chars().take(80).collect(),
                expected: "64 hex characters (as printed by `souk publish` or `souk datasets`)",
            });
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatasetId({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn peer_id_has_the_libp2p_ed25519_form() {
        // RFC 8032 test 1's public key; ed25519 peer ids are identity multihashes, "12D3KooW...".
        let key = PublicKey::from_bytes(
            <[u8; 32]>::try_from(
                hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
                    .expect("hex"),
            )
            .expect("32 bytes"),
        );
        assert!(key.to_peer_id().starts_with("12D3KooW"));
        assert_eq!(key.to_peer_id().parse::<PublicKey>(), Ok(key));
    }

    #[test]
    fn malformed_inputs_are_refused() {
        for bad in ["", "xyz", "12D3KooW", &"g".repeat(64), &"a".repeat(63)] {
            assert!(bad.parse::<PublicKey>().is_err(), "{bad:?}");
            assert!(bad.parse::<DatasetId>().is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn keys_round_trip_through_both_text_forms(bytes in any::<[u8; 32]>()) {
            let key = PublicKey::from_bytes(bytes);
            prop_assert_eq!(key.to_peer_id().parse::<PublicKey>(), Ok(key));
            prop_assert_eq!(key.to_hex().parse::<PublicKey>(), Ok(key));
            let id = DatasetId::from_bytes(bytes);
            prop_assert_eq!(id.to_hex().parse::<DatasetId>(), Ok(id));
        }
    }
}
