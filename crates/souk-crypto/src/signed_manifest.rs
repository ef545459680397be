use souk_proto::{DecodeError, decode_manifest, encode_manifest};
use souk_types::{DatasetId, Manifest, limits};

use crate::NodeKey;
use crate::envelope::{self, EnvelopeError};

/// The envelope kind of manifests.
pub const MANIFEST_KIND: &str = "manifest";

/// Largest encoded manifest envelope: the body limit plus room for kind, key and signature.
pub const MAX_MANIFEST_ENVELOPE_BYTES: usize = limits::MAX_MANIFEST_BYTES + 256;

#[derive(Debug, thiserror::Error)]
pub enum ManifestEnvelopeError {
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    #[error("the manifest is invalid: {0}")]
    Body(#[from] DecodeError),
    #[error("the manifest is signed by {signer} but names {publisher} as its publisher")]
    SignerIsNotPublisher {
        signer: souk_types::PublicKey,
        publisher: souk_types::PublicKey,
    },
}

/// A manifest whose signature, publisher and fields have all been checked.
#[derive(Debug, Clone)]
pub struct SignedManifest {
    pub id: DatasetId,
    pub manifest: Manifest,
    /// The encoded envelope, exactly as signed: what gets stored, exported and gossiped.
    pub envelope: Vec<u8>,
}

impl SignedManifest {
    /// Signs `manifest` with `key`, which must be its publisher's.
    pub fn sign(key: &NodeKey, manifest: Manifest) -> Result<Self, ManifestEnvelopeError> {
        manifest.validate().map_err(DecodeError::from)?;
        if manifest.publisher != key.public() {
            return Err(ManifestEnvelopeError::SignerIsNotPublisher {
                signer: key.public(),
                publisher: manifest.publisher,
            });
        }
        let body = encode_manifest(&manifest);
        let id = DatasetId::of_body(&body);
        Ok(Self {
            id,
            manifest,
            envelope: envelope::seal(key, MANIFEST_KIND, body),
        })
    }

    /// Verifies the signature over the received bytes, then decodes and validates the body.
    pub fn open(encoded: &[u8]) -> Result<Self, ManifestEnvelopeError> {
        let verified = envelope::open(encoded, MANIFEST_KIND, MAX_MANIFEST_ENVELOPE_BYTES)?;
        let manifest = decode_manifest(&verified.body)?;
        if manifest.publisher != verified.signer {
            return Err(ManifestEnvelopeError::SignerIsNotPublisher {
                signer: verified.signer,
                publisher: manifest.publisher,
            });
        }
        Ok(Self {
            id: DatasetId::from_bytes(verified.id()),
            manifest,
            envelope: verified.envelope,
        })
    }
}
