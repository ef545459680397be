//! Souk's wire format.
//!
//! The messages are generated from `proto/souk/v1/*.proto` at build time (protox + prost, no
//! system `protoc`). This crate also converts them to and from the validated domain types of
//! `souk-types`: decoding here always checks sizes first and validates after, so a caller never
//! holds a domain value built from unchecked bytes.

/// Generated protobuf messages of package `souk.v1`.
#[allow(
    missing_docs,
    clippy::all,
    missing_debug_implementations,
    unused_qualifications
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/souk.v1.rs"));
}

mod content;
mod license;
mod manifest;
mod receipt;

pub use content::{ContentIndexError, decode_content_index, encode_content_index};
pub use license::{MAX_LICENSE_BYTES, decode_license, encode_license};
pub use manifest::{decode_manifest, encode_manifest, rights_from_wire, rights_to_wire};
pub use prost::Message;
pub use receipt::{MAX_RECEIPT_BYTES, MAX_SPLIT_PARTS, decode_receipt, encode_receipt};

/// Why bytes received from a peer or read from a file were not a valid object.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{what} is {len} bytes, larger than the limit of {max}")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("malformed protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("field {field}: {reason}")]
    Field {
        field: &'static str,
        reason: &'static str,
    },
    #[error("{0}")]
    Manifest(#[from] souk_types::ManifestError),
}

pub(crate) fn bytes32(field: &'static str, bytes: &[u8]) -> Result<[u8; 32], DecodeError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| DecodeError::Field {
        field,
        reason: "must be 32 bytes",
    })
}
