use ed25519_dalek::{Signer, SigningKey};
use souk_types::PublicKey;
use zeroize::Zeroizing;

const KEY_FILE_HEADER: &str = "souk-node-key-v1";

/// A node's ed25519 identity: its libp2p peer id, its iroh endpoint id, its signing key.
pub struct NodeKey {
    signing: SigningKey,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({})", self.public())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error(
        "the key file is corrupt ({0}); restore it from a backup, or move it away and run `souk init` for a new identity"
    )]
    Corrupt(&'static str),
}

impl NodeKey {
    /// The key whose secret seed is `seed` (32 uniformly random bytes for a new key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::from_bytes(self.signing.verifying_key().to_bytes())
    }

    /// The 32-byte secret seed, for handing the same identity to libp2p and iroh.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// Signs `message` as it is (callers add the domain tag; see [`crate::envelope`]).
    pub(crate) fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The key file: a header line, the secret seed and the public key in hex. The public key
    /// is redundant on purpose: it detects a damaged file instead of silently loading another
    /// identity.
    pub fn to_key_file(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{KEY_FILE_HEADER}\n{}\n{}\n",
            hex::encode(self.signing.to_bytes()),
            self.public().to_hex()
        ))
    }

    pub fn from_key_file(contents: &[u8]) -> Result<Self, KeyFileError> {
        let text = std::str::from_utf8(contents).map_err(|_| KeyFileError::Corrupt("not text"))?;
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err(KeyFileError::Corrupt("missing header"));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        let seed_hex = lines.next().ok_or(KeyFileError::Corrupt("missing seed"))?;
        hex::decode_to_slice(seed_hex.trim(), seed.as_mut())
            .map_err(|_| KeyFileError::Corrupt("bad seed"))?;
        let public: PublicKey = lines
            .next()
            .ok_or(KeyFileError::Corrupt("missing public key"))?
            .trim()
            .parse()
            .map_err(|_| KeyFileError::Corrupt("bad public key"))?;
        let key = Self::from_seed(*seed);
        if key.public() != public {
            return Err(KeyFileError::Corrupt("seed and public key do not match"));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips_and_any_damage_is_detected() {
        let key = NodeKey::from_seed([7; 32]);
        let file = key.to_key_file();
        let loaded = NodeKey::from_key_file(file.as_bytes()).expect("loads");
        assert_eq!(loaded.public(), key.public());
        let bytes = file.as_bytes();
        for i in 0..bytes.len() {
            let mut damaged = bytes.to_vec();
            damaged[i] ^= 0x01;
            // Flipping case of a hex letter keeps the same value; anything else must be refused.
            let same_value = bytes[i].is_ascii_hexdigit()
                && damaged[i].is_ascii_hexdigit()
                && bytes[i].eq_ignore_ascii_case(&damaged[i]);
            let whitespace = bytes[i] == b'\n';
            if !same_value && !whitespace {
                assert!(
                    NodeKey::from_key_file(&damaged).is_err(),
                    "flip at {i} accepted"
                );
            }
        }
        assert!(NodeKey::from_key_file(&bytes[..bytes.len() / 2]).is_err());
        assert!(NodeKey::from_key_file(b"").is_err());
    }
}
