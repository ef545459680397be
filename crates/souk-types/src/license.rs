use crate::{DatasetId, PublicKey, UsageRights};

/// A dataset key encrypted to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub ephemeral_public: [u8; 32],
    pub ciphertext: Vec<u8>,
}

/// An access license: who may read which dataset, for what use, until when, on which network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub dataset: DatasetId,
    pub buyer: PublicKey,
    pub seller: PublicKey,
    pub rights: UsageRights,
    pub price: u64,
    pub currency: String,
    pub issued_at_ms: u64,
    pub expires_at_ms: u64,
    pub network_id: String,
    pub nonce: [u8; 16],
    pub key: WrappedKey,
}

/// Why a license does not grant access.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    #[error("the license is for dataset {found}, not {expected}")]
    OtherDataset {
        expected: DatasetId,
        found: DatasetId,
    },
    #[error("the license was issued to {holder}, not to {presenter}")]
    OtherHolder {
        holder: PublicKey,
        presenter: PublicKey,
    },
    #[error("the license is for network {found:?}, this is {expected:?}")]
    OtherNetwork { expected: String, found: String },
    #[error("the license expired at {0} ms")]
    Expired(u64),
    #[error("the license is not valid before {0} ms")]
    NotYetValid(u64),
    #[error("the license nonce was already used")]
    Replayed,
    #[error("the license is malformed: {0}")]
    Malformed(&'static str),
}

impl License {
    /// Checks that this license lets `presenter` read `dataset` on `network_id` at `now_ms`.
    /// (Signature and replay are checked by the caller, which holds the envelope and the
    /// record of nonces seen.)
    pub fn grants(
        &self,
        presenter: &PublicKey,
        dataset: &DatasetId,
        network_id: &str,
        now_ms: u64,
    ) -> Result<(), LicenseError> {
        if self.dataset != *dataset {
            return Err(LicenseError::OtherDataset {
                expected: *dataset,
                found: self.dataset,
            });
        }
        if self.buyer != *presenter {
            return Err(LicenseError::OtherHolder {
                holder: self.buyer,
                presenter: *presenter,
            });
        }
        if self.network_id != network_id {
            return Err(LicenseError::OtherNetwork {
                expected: network_id.to_owned(),
                found: self.network_id.clone(),
            });
        }
        if now_ms < self.issued_at_ms {
            return Err(LicenseError::NotYetValid(self.issued_at_ms));
        }
        if now_ms >= self.expires_at_ms {
            return Err(LicenseError::Expired(self.expires_at_ms));
        }
        Ok(())
    }
}
