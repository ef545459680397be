//! Signed envelopes: the signature covers `"souk/<kind>/v1\n"` followed by the exact body bytes,
//! and the object's id is BLAKE3(body).

use ed25519_dalek::{Signature, VerifyingKey};
use souk_proto::{Message, v1};
use souk_types::PublicKey;

use crate::NodeKey;

/// Longest kind name; kinds are short ASCII words chosen by the protocol.
const MAX_KIND_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the signed object is {len} bytes, more than the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("the signed object is not a valid envelope: {0}")]
    Malformed(#[from] souk_proto::DecodeError),
    #[error("expected a signed {expected}, found {found:?}")]
    WrongKind {
        expected: &'static str,
        found: String,
    },
    #[error("the signature does not verify: the object was altered or signed by someone else")]
    BadSignature,
}

/// An envelope whose signature has been checked.
#[derive(Debug, Clone)]
pub struct Verified {
    pub signer: PublicKey,
    pub body: Vec<u8>,
    /// The encoded envelope exactly as received.
    pub envelope: Vec<u8>,
}

impl Verified {
    pub fn id(&self) -> [u8; 32] {
        *blake3::hash(&self.body).as_bytes()
    }
}

fn signed_message(kind: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(kind.len() + 9 + body.len());
    message.extend_from_slice(b"souk/");
    message.extend_from_slice(kind.as_bytes());
    message.extend_from_slice(b"/v1\n");
    message.extend_from_slice(body);
    message
}

/// Signs `body` as an object of `kind` and returns the encoded envelope.
pub fn seal(key: &NodeKey, kind: &'static str, body: Vec<u8>) -> Vec<u8> {
    let signature = key.sign_raw(&signed_message(kind, &body));
    v1::Envelope {
        kind: kind.to_owned(),
        body,
        signer: key.public().as_bytes().to_vec(),
        signature: signature.to_vec(),
    }
    .encode_to_vec()
}

/// A signature by `key` over `body` as an object of `kind`, without an envelope (for a second
/// party signing an object someone else sealed).
pub fn sign_detached(key: &NodeKey, kind: &'static str, body: &[u8]) -> [u8; 64] {
    key.sign_raw(&signed_message(kind, body))
}

/// Whether `signature` is `signer`'s over `body` as an object of `kind`.
pub fn verify_detached(signer: &PublicKey, kind: &str, body: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(signature)) = (
        VerifyingKey::from_bytes(signer.as_bytes()),
        <[u8; 64]>::try_from(signature),
    ) else {
        return false;
    };
    key.verify_strict(
        &signed_message(kind, body),
        &Signature::from_bytes(&signature),
    )
    .is_ok()
}

/// Checks an encoded envelope of `kind` of at most `max_len` bytes and returns its body.
/// The body is not decoded here: decode it only after this returns.
pub fn open(encoded: &[u8], kind: &'static str, max_len: usize) -> Result<Verified, EnvelopeError> {
    if encoded.len() > max_len {
        return Err(EnvelopeError::TooLarge {
            len: encoded.len(),
            max: max_len,
        });
    }
    let envelope = v1::Envelope::decode(encoded).map_err(souk_proto::DecodeError::from)?;
    if envelope.kind != kind {
        return Err(EnvelopeError::WrongKind {
            expected: kind,
            found: envelope.kind.chars().take(MAX_KIND_LEN).collect(),
        });
    }
    let signer_bytes = <[u8; 32]>::try_from(envelope.signer.as_slice())
        .map_err(|_| EnvelopeError::BadSignature)?;
    let signer = PublicKey::from_bytes(signer_bytes);
    if !verify_detached(&signer, kind, &envelope.body, &envelope.signature) {
        return Err(EnvelopeError::BadSignature);
    }
    Ok(Verified {
        signer,
        body: envelope.body,
        envelope: encoded.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_envelope_opens_and_every_bit_flip_is_refused() {
        let key = NodeKey::from_seed([3; 32]);
        let sealed = seal(&key, "manifest", b"hello body".to_vec());
        let opened = open(&sealed, "manifest", 1024).expect("opens");
        assert_eq!(opened.signer, key.public());
        assert_eq!(opened.body, b"hello body");
        assert_eq!(opened.id(), *blake3::hash(b"hello body").as_bytes());
        for byte in 0..sealed.len() {
            for bit in 0..8 {
                let mut flipped = sealed.clone();
                flipped[byte] ^= 1 << bit;
                assert!(
                    open(&flipped, "manifest", 1024).is_err(),
                    "flip of bit {bit} of byte {byte} accepted"
                );
            }
        }
    }

    #[test]
    fn kind_and_size_are_enforced() {
        let key = NodeKey::from_seed([3; 32]);
        let sealed = seal(&key, "manifest", vec![0; 100]);
        assert!(matches!(
            open(&sealed, "license", 1024),
            Err(EnvelopeError::WrongKind { .. })
        ));
        assert!(matches!(
            open(&sealed, "manifest", 50),
            Err(EnvelopeError::TooLarge { .. })
        ));
    }
}
