use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use zeroize::Zeroizing;

/// Bytes the Poly1305 tag adds to every shard.
pub const SHARD_TAG_LEN: usize = 16;

const KEY_COMMITMENT_CONTEXT: &str = "souk/v1 dataset key commitment";
const PLAINTEXT_HASH_CONTEXT: &str = "souk/v1 dataset plaintext hash key";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error("shard {0} does not decrypt: it is corrupt, or the key is not this dataset's")]
    Decrypt(u64),
    #[error("shard {0} is shorter than its authentication tag")]
    Truncated(u64),
    #[error("shard {0} is too large to encrypt")]
    TooLarge(u64),
}

/// A dataset's symmetric key. Fresh and random for every dataset; zeroed when dropped.
#[derive(Clone)]
pub struct DatasetKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DatasetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatasetKey(..)")
    }
}

impl DatasetKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The public commitment to this key, published in the manifest and bound into every shard as
    /// associated data. ChaCha20-Poly1305 alone is not key-committing; checking this before
    /// decrypting is what makes a manifest open under exactly one key.
    pub fn commitment(&self) -> [u8; 32] {
        blake3::derive_key(KEY_COMMITMENT_CONTEXT, self.0.as_ref())
    }

    /// The cipher for this dataset's shards.
    pub fn cipher(&self) -> ShardCipher {
        ShardCipher {
            aead: ChaCha20Poly1305::new(&Key::from(*self.0)),
            associated_data: self.commitment(),
            plaintext_hash_key: Zeroizing::new(blake3::derive_key(
                PLAINTEXT_HASH_CONTEXT,
                self.0.as_ref(),
            )),
        }
    }
}

/// Encrypts and decrypts the shards of one dataset. Cheap to clone for worker threads.
#[derive(Clone)]
pub struct ShardCipher {
    aead: ChaCha20Poly1305,
    associated_data: [u8; 32],
    plaintext_hash_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ShardCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShardCipher(..)")
    }
}

fn nonce(index: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&index.to_le_bytes());
    Nonce::from(bytes)
}

impl ShardCipher {
    /// Keyed hash of a shard's plaintext: only key holders can compute it, so the commitment
    /// built from these does not let anyone else confirm a guess of the content.
    pub fn plaintext_hash(&self, plaintext: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.plaintext_hash_key, plaintext).as_bytes()
    }

    /// Encrypts shard `index` in place, appending the tag; returns the plaintext hash.
    pub fn seal(&self, index: u64, shard: &mut Vec<u8>) -> Result<[u8; 32], ShardError> {
        let plaintext_hash = self.plaintext_hash(shard);
        let tag = self
            .aead
            .encrypt_inout_detached(
                &nonce(index),
                &self.associated_data,
                shard.as_mut_slice().into(),
            )
            .map_err(|_| ShardError::TooLarge(index))?;
        shard.extend_from_slice(tag.as_slice());
        Ok(plaintext_hash)
    }

    /// Decrypts shard `index` in place, removing the tag; returns the plaintext hash.
    pub fn open(&self, index: u64, shard: &mut Vec<u8>) -> Result<[u8; 32], ShardError> {
        let body_len = shard
            .len()
            .checked_sub(SHARD_TAG_LEN)
            .ok_or(ShardError::Truncated(index))?;
        let tag = Tag::try_from(&shard[body_len..]).map_err(|_| ShardError::Truncated(index))?;
        shard.truncate(body_len);
        self.aead
            .decrypt_inout_detached(
                &nonce(index),
                &self.associated_data,
                shard.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| ShardError::Decrypt(index))?;
        Ok(self.plaintext_hash(shard))
    }

    /// Starts the plaintext commitment over this dataset's shards.
    pub fn commitment(&self) -> PlaintextCommitment {
        PlaintextCommitment {
            hasher: blake3::Hasher::new_keyed(&self.plaintext_hash_key),
            shards: 0,
        }
    }
}

/// The dataset's plaintext commitment: a keyed hash over the shard plaintext hashes in index
/// order, and their count.
#[derive(Debug, Clone)]
pub struct PlaintextCommitment {
    hasher: blake3::Hasher,
    shards: u64,
}

impl PlaintextCommitment {
    /// Adds the next shard's plaintext hash (shards must be pushed in index order).
    pub fn push(&mut self, shard_hash: &[u8; 32]) {
        self.hasher.update(shard_hash);
        self.shards += 1;
    }

    pub fn finish(mut self) -> [u8; 32] {
        self.hasher.update(&self.shards.to_le_bytes());
        *self.hasher.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shards_are_bound_to_index_and_key() {
        let key = DatasetKey::from_bytes([1; 32]);
        let cipher = key.cipher();
        let mut shard = b"some plaintext".to_vec();
        let hash = cipher.seal(4, &mut shard).expect("seal");
        assert_eq!(shard.len(), 14 + SHARD_TAG_LEN);
        assert_ne!(&shard[..14], b"some plaintext");

        let mut at_other_index = shard.clone();
        assert_eq!(
            cipher.open(5, &mut at_other_index),
            Err(ShardError::Decrypt(5))
        );
        let other = DatasetKey::from_bytes([2; 32]).cipher();
        let mut with_other_key = shard.clone();
        assert_eq!(
            other.open(4, &mut with_other_key),
            Err(ShardError::Decrypt(4))
        );
        assert_eq!(
            cipher.open(4, &mut vec![0; 15]),
            Err(ShardError::Truncated(4))
        );

        assert_eq!(cipher.open(4, &mut shard), Ok(hash));
        assert_eq!(shard, b"some plaintext");
    }

    #[test]
    fn commitment_depends_on_order_and_count() {
        let cipher = DatasetKey::from_bytes([1; 32]).cipher();
        let commit = |hashes: &[[u8; 32]]| {
            let mut c = cipher.commitment();
            hashes.iter().for_each(|h| c.push(h));
            c.finish()
        };
        assert_ne!(commit(&[[1; 32], [2; 32]]), commit(&[[2; 32], [1; 32]]));
        assert_ne!(commit(&[[1; 32]]), commit(&[[1; 32], [1; 32]]));
    }

    proptest! {
        #[test]
        fn any_flipped_ciphertext_bit_is_detected(data in proptest::collection::vec(any::<u8>(), 0..300), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let cipher = DatasetKey::from_bytes([9; 32]).cipher();
            let mut shard = data.clone();
            cipher.seal(0, &mut shard).expect("seal");
            let i = pos.index(shard.len());
            shard[i] ^= 1 << bit;
            prop_assert_eq!(cipher.open(0, &mut shard), Err(ShardError::Decrypt(0)));
        }
    }
}
