//! Souk's cryptography, free of I/O: callers pass in key material and randomness.
//!
//! - [`NodeKey`]: the node's ed25519 identity and its key-file encoding.
//! - [`envelope`]: signing and verifying `souk.v1.Envelope` (domain tag + exact body bytes).
//! - [`DatasetKey`] and [`ShardCipher`]: per-dataset ChaCha20-Poly1305 shard encryption with a
//!   public key commitment and a keyed plaintext commitment.
//! - [`SignedManifest`]: a manifest checked end to end (signature, publisher, fields).
//! - [`wrap_key`] / [`SignedLicense`]: a dataset key wrapped to one buyer (X25519 from the
//!   ed25519 identity, HKDF-SHA256, ChaCha20-Poly1305) inside a seller-signed license that any
//!   node can check offline.

pub mod checkpoint;
pub mod envelope;
mod identity;
mod keywrap;
pub mod merkle;
mod shard;
mod signed_license;
mod signed_manifest;
mod signed_receipt;

pub use identity::{KeyFileError, NodeKey};
pub use keywrap::{KeyWrapError, unwrap_key, wrap_key};
pub use shard::{DatasetKey, PlaintextCommitment, SHARD_TAG_LEN, ShardCipher, ShardError};
pub use signed_license::{
    LICENSE_KIND, LicenseEnvelopeError, LicenseTerms, MAX_LICENSE_ENVELOPE_BYTES, SignedLicense,
};
pub use signed_manifest::{
    MANIFEST_KIND, MAX_MANIFEST_ENVELOPE_BYTES, ManifestEnvelopeError, SignedManifest,
};
pub use signed_receipt::{
    COUNTERSIGN_KIND, CountersignedReceipt, MAX_RECEIPT_ENVELOPE_BYTES, MAX_RECEIPT_LEAF_BYTES,
    RECEIPT_KIND, ReceiptEnvelopeError, SignedReceipt,
};
