//! Encrypting a dataset key to one node: X25519 between an ephemeral key and the recipient's
//! ed25519 identity in Montgomery form, HKDF-SHA256 over the shared secret and both public keys,
//! then ChaCha20-Poly1305 (a fresh key per wrap, so a zero nonce is safe).

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use curve25519_dalek::MontgomeryPoint;
use ed25519_dalek::{SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;
use souk_types::{PublicKey, WrappedKey};
use zeroize::Zeroizing;

use crate::{DatasetKey, NodeKey};

const WRAP_INFO: &[u8] = b"souk/v1 dataset key wrap";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyWrapError {
    #[error("the recipient key is not a valid ed25519 public key")]
    BadRecipient,
    #[error(
        "the wrapped key does not open with this node's key: it was wrapped to someone else or altered"
    )]
    WrongRecipient,
}

fn wrapping_key(
    shared: &MontgomeryPoint,
    ephemeral: &MontgomeryPoint,
    recipient: &MontgomeryPoint,
    context: &[u8],
) -> Result<Zeroizing<[u8; 32]>, KeyWrapError> {
    // A low-order point gives an all-zero secret anyone can compute.
    if shared.as_bytes() == &[0u8; 32] {
        return Err(KeyWrapError::BadRecipient);
    }
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral.as_bytes());
    salt[32..].copy_from_slice(recipient.as_bytes());
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared.as_bytes());
    let mut info = Vec::with_capacity(WRAP_INFO.len() + context.len());
    info.extend_from_slice(WRAP_INFO);
    info.extend_from_slice(context);
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(&info, okm.as_mut())
        .map_err(|_| KeyWrapError::BadRecipient)?;
    Ok(okm)
}

/// Wraps `key` to `recipient`, bound to `context` (for a license: its dataset id). The
/// ephemeral secret must be 32 fresh random bytes.
pub fn wrap_key(
    key: &DatasetKey,
    recipient: &PublicKey,
    ephemeral_secret: [u8; 32],
    context: &[u8],
) -> Result<WrappedKey, KeyWrapError> {
    let recipient = VerifyingKey::from_bytes(recipient.as_bytes())
        .map_err(|_| KeyWrapError::BadRecipient)?
        .to_montgomery();
    let ephemeral = MontgomeryPoint::mul_base_clamped(ephemeral_secret);
    let shared = recipient.mul_clamped(ephemeral_secret);
    let wrapping = wrapping_key(&shared, &ephemeral, &recipient, context)?;
    let mut ciphertext = key.as_bytes().to_vec();
    let tag = ChaCha20Poly1305::new(&Key::from(*wrapping))
        .encrypt_inout_detached(
            &Nonce::from([0u8; 12]),
            context,
            ciphertext.as_mut_slice().into(),
        )
        .map_err(|_| KeyWrapError::BadRecipient)?;
    ciphertext.extend_from_slice(tag.as_slice());
    Ok(WrappedKey {
        ephemeral_public: ephemeral.to_bytes(),
        ciphertext,
    })
}

/// Opens a key wrapped to this node.
pub fn unwrap_key(
    node: &NodeKey,
    wrapped: &WrappedKey,
    context: &[u8],
) -> Result<DatasetKey, KeyWrapError> {
    let signing = SigningKey::from_bytes(&node.seed());
    let secret = Zeroizing::new(signing.to_scalar_bytes());
    let own = signing.verifying_key().to_montgomery();
    let ephemeral = MontgomeryPoint(wrapped.ephemeral_public);
    let shared = ephemeral.mul_clamped(*secret);
    let wrapping = wrapping_key(&shared, &ephemeral, &own, context)
        .map_err(|_| KeyWrapError::WrongRecipient)?;
    if wrapped.ciphertext.len() != 32 + 16 {
        return Err(KeyWrapError::WrongRecipient);
    }
    let tag = Tag::try_from(&wrapped.ciphertext[32..]).map_err(|_| KeyWrapError::WrongRecipient)?;
    let mut plaintext = Zeroizing::new([0u8; 32]);
    plaintext.copy_from_slice(&wrapped.ciphertext[..32]);
    ChaCha20Poly1305::new(&Key::from(*wrapping))
        .decrypt_inout_detached(
            &Nonce::from([0u8; 12]),
            context,
            plaintext.as_mut_slice().into(),
            &tag,
        )
        .map_err(|_| KeyWrapError::WrongRecipient)?;
    Ok(DatasetKey::from_bytes(*plaintext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipient_unwraps_and_tampering_is_detected() {
        let alice = NodeKey::from_seed([1; 32]);
        let bob = NodeKey::from_seed([2; 32]);
        let key = DatasetKey::from_bytes([42; 32]);
        let wrapped = wrap_key(&key, &bob.public(), [7; 32], b"dataset").expect("wrap");
        let opened = unwrap_key(&bob, &wrapped, b"dataset").expect("unwrap");
        assert_eq!(opened.as_bytes(), key.as_bytes());
        assert_eq!(
            unwrap_key(&alice, &wrapped, b"dataset").map(|_| ()),
            Err(KeyWrapError::WrongRecipient)
        );
        assert_eq!(
            unwrap_key(&bob, &wrapped, b"other dataset").map(|_| ()),
            Err(KeyWrapError::WrongRecipient)
        );
        let mut tampered = wrapped.clone();
        tampered.ciphertext[3] ^= 1;
        assert!(unwrap_key(&bob, &tampered, b"dataset").is_err());
        let mut other_ephemeral = wrapped;
        other_ephemeral.ephemeral_public[0] ^= 1;
        assert!(unwrap_key(&bob, &other_ephemeral, b"dataset").is_err());
    }
}
