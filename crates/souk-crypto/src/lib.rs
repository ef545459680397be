//! Souk's cryptography, free of I/O: callers pass in key material and randomness.
//!
//! - [`NodeKey`]: the node's ed25519 identity and its key-file encoding.
//! - [`envelope`]: signing and verifying `souk.v1.Envelope` (domain tag + exact body bytes).
//! - [`DatasetKey`] and [`ShardCipher`]: per-dataset ChaCha20-Poly1305 shard encryption with a
//!   public key commitment and a keyed plaintext commitment.
//! - [`SignedManifest`]: a manifest checked end to end (signature, publisher, fields).

pub mod envelope;
mod identity;
mod shard;
mod signed_manifest;

pub use identity::{KeyFileError, NodeKey};
pub use shard::{DatasetKey, PlaintextCommitment, SHARD_TAG_LEN, ShardCipher, ShardError};
pub use signed_manifest::{
    MANIFEST_KIND, MAX_MANIFEST_ENVELOPE_BYTES, ManifestEnvelopeError, SignedManifest,
};
