use souk_proto::{DecodeError, MAX_LICENSE_BYTES, decode_license, encode_license};
use souk_types::{DatasetId, License, PublicKey, UsageRights};

use crate::envelope::{self, EnvelopeError};
use crate::keywrap::{KeyWrapError, unwrap_key, wrap_key};
use crate::{DatasetKey, NodeKey};

/// The envelope kind of licenses.
pub const LICENSE_KIND: &str = "license";

/// Largest encoded license envelope.
pub const MAX_LICENSE_ENVELOPE_BYTES: usize = MAX_LICENSE_BYTES + 256;

/// What buyer and seller agreed, before the seller signs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseTerms {
    pub dataset: DatasetId,
    pub buyer: PublicKey,
    pub rights: UsageRights,
    pub price: u64,
    pub currency: String,
    pub issued_at_ms: u64,
    pub expires_at_ms: u64,
    pub network_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LicenseEnvelopeError {
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    #[error("the license is invalid: {0}")]
    Body(#[from] DecodeError),
    #[error("the license is signed by {signer} but names {seller} as its seller")]
    SignerIsNotSeller {
        signer: PublicKey,
        seller: PublicKey,
    },
    #[error("{0}")]
    KeyWrap(#[from] KeyWrapError),
}

/// A license whose seller signature has been checked.
#[derive(Debug, Clone)]
pub struct SignedLicense {
    /// BLAKE3 of the license body.
    pub id: [u8; 32],
    pub license: License,
    pub envelope: Vec<u8>,
}

impl SignedLicense {
    /// Issues a license on `terms`, wrapping `key` to the buyer. `randomness` supplies the
    /// license nonce (16 bytes) and the ephemeral wrapping secret (32 bytes).
    pub fn issue(
        seller: &NodeKey,
        terms: LicenseTerms,
        key: &DatasetKey,
        randomness: [u8; 48],
    ) -> Result<Self, LicenseEnvelopeError> {
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&randomness[..16]);
        let mut ephemeral = [0u8; 32];
        ephemeral.copy_from_slice(&randomness[16..]);
        let wrapped = wrap_key(key, &terms.buyer, ephemeral, terms.dataset.as_bytes())?;
        let license = License {
            dataset: terms.dataset,
            buyer: terms.buyer,
            seller: seller.public(),
            rights: terms.rights,
            price: terms.price,
            currency: terms.currency,
            issued_at_ms: terms.issued_at_ms,
            expires_at_ms: terms.expires_at_ms,
            network_id: terms.network_id,
            nonce,
            key: wrapped,
        };
        let body = encode_license(&license);
        // Round-trip through the decoder so an issued license always passes every check.
        decode_license(&body)?;
        let id = *blake3::hash(&body).as_bytes();
        Ok(Self {
            id,
            license,
            envelope: envelope::seal(seller, LICENSE_KIND, body),
        })
    }

    /// Verifies the seller's signature over the received bytes, then decodes the license.
    pub fn open(encoded: &[u8]) -> Result<Self, LicenseEnvelopeError> {
        let verified = envelope::open(encoded, LICENSE_KIND, MAX_LICENSE_ENVELOPE_BYTES)?;
        let license = decode_license(&verified.body)?;
        if license.seller != verified.signer {
            return Err(LicenseEnvelopeError::SignerIsNotSeller {
                signer: verified.signer,
                seller: license.seller,
            });
        }
        Ok(Self {
            id: verified.id(),
            license,
            envelope: verified.envelope,
        })
    }

    /// The dataset key, for the buyer the license was issued to.
    pub fn dataset_key(&self, holder: &NodeKey) -> Result<DatasetKey, KeyWrapError> {
        unwrap_key(holder, &self.license.key, self.license.dataset.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use souk_types::LicenseError;

    use super::*;

    fn terms(buyer: &NodeKey) -> LicenseTerms {
        LicenseTerms {
            dataset: DatasetId::from_bytes([5; 32]),
            buyer: buyer.public(),
            rights: UsageRights::Training,
            price: 90,
            currency: "SOUK".into(),
            issued_at_ms: 1_000,
            expires_at_ms: 2_000,
            network_id: "souk-test".into(),
        }
    }

    #[test]
    fn a_license_opens_offline_for_its_holder_only() {
        let seller = NodeKey::from_seed([1; 32]);
        let buyer = NodeKey::from_seed([2; 32]);
        let thief = NodeKey::from_seed([3; 32]);
        let key = DatasetKey::from_bytes([9; 32]);
        let issued = SignedLicense::issue(&seller, terms(&buyer), &key, [4; 48]).expect("issue");
        let opened = SignedLicense::open(&issued.envelope).expect("open");
        let l = &opened.license;
        let dataset = DatasetId::from_bytes([5; 32]);
        assert_eq!(
            l.grants(&buyer.public(), &dataset, "souk-test", 1_500),
            Ok(())
        );
        assert_eq!(
            opened.dataset_key(&buyer).expect("unwrap").as_bytes(),
            key.as_bytes()
        );

        assert!(matches!(
            l.grants(&thief.public(), &dataset, "souk-test", 1_500),
            Err(LicenseError::OtherHolder { .. })
        ));
        assert!(opened.dataset_key(&thief).is_err());
        assert_eq!(
            l.grants(&buyer.public(), &dataset, "souk-test", 2_000),
            Err(LicenseError::Expired(2_000))
        );
        assert!(matches!(
            l.grants(
                &buyer.public(),
                &DatasetId::from_bytes([6; 32]),
                "souk-test",
                1_500
            ),
            Err(LicenseError::OtherDataset { .. })
        ));
        assert!(matches!(
            l.grants(&buyer.public(), &dataset, "souk-main", 1_500),
            Err(LicenseError::OtherNetwork { .. })
        ));
        for i in 0..issued.envelope.len() {
            let mut tampered = issued.envelope.clone();
            tampered[i] ^= 0x04;
            assert!(
                SignedLicense::open(&tampered).is_err(),
                "flip at {i} accepted"
            );
        }
    }

    #[test]
    fn two_licenses_never_share_a_nonce_when_randomness_differs() {
        let seller = NodeKey::from_seed([1; 32]);
        let buyer = NodeKey::from_seed([2; 32]);
        let key = DatasetKey::from_bytes([9; 32]);
        let a = SignedLicense::issue(&seller, terms(&buyer), &key, [4; 48]).expect("a");
        let b = SignedLicense::issue(&seller, terms(&buyer), &key, [8; 48]).expect("b");
        assert_ne!(a.license.nonce, b.license.nonce);
        assert_ne!(a.id, b.id);
    }
}
