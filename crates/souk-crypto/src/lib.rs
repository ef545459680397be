//! Souk's cryptography, free of I/O: callers pass in key material and randomness.
//!
//! - [`NodeKey`]: the node's ed25519 identity and its key-file encoding.
//! - [`envelope`]: signing and verifying `souk.v1.Envelope` (domain tag + exact body bytes).
//! - [`DatasetKey`] and [`ShardCipher`]: per-dataset ChaCha20-Poly1305 shard encryption with a
//!   public key commitment and a keyed plaintext commitment.

pub mod envelope;
mod identity;
mod shard;

pub use identity::{KeyFileError, NodeKey};
pub use shard::{DatasetKey, PlaintextCommitment, SHARD_TAG_LEN, ShardCipher, ShardError};
