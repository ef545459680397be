use souk_proto::{DecodeError, MAX_RECEIPT_BYTES, Message, decode_receipt, encode_receipt, v1};
use souk_types::{PublicKey, Receipt, ReceiptError};

use crate::NodeKey;
use crate::envelope::{self, EnvelopeError, sign_detached, verify_detached};

/// The envelope kind of receipts, signed by their issuer.
pub const RECEIPT_KIND: &str = "receipt";
/// The domain of the buyer's countersignature over a receipt body.
pub const COUNTERSIGN_KIND: &str = "receipt-countersign";
/// Largest receipt envelope.
pub const MAX_RECEIPT_ENVELOPE_BYTES: usize = MAX_RECEIPT_BYTES + 256;
/// Largest receipt log leaf.
pub const MAX_RECEIPT_LEAF_BYTES: usize = MAX_RECEIPT_ENVELOPE_BYTES + 128;

#[derive(Debug, thiserror::Error)]
pub enum ReceiptEnvelopeError {
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    #[error("the receipt is invalid: {0}")]
    Body(#[from] DecodeError),
    #[error("the receipt is invalid: {0}")]
    Receipt(#[from] ReceiptError),
    #[error("the receipt is signed by {signer} but its issuer is {issuer}")]
    SignerIsNotIssuer {
        signer: PublicKey,
        issuer: PublicKey,
    },
    #[error("the receipt's buyer {0} did not countersign it")]
    NotCountersigned(PublicKey),
}

/// A receipt whose issuer signature and split have been checked.
#[derive(Debug, Clone)]
pub struct SignedReceipt {
    /// BLAKE3 of the receipt body.
    pub id: [u8; 32],
    pub receipt: Receipt,
    pub envelope: Vec<u8>,
    body: Vec<u8>,
}

impl SignedReceipt {
    /// Signs `receipt` as its issuer.
    pub fn issue(issuer: &NodeKey, receipt: &Receipt) -> Result<Self, ReceiptEnvelopeError> {
        if receipt.issuer() != issuer.public() {
            return Err(ReceiptEnvelopeError::SignerIsNotIssuer {
                signer: issuer.public(),
                issuer: receipt.issuer(),
            });
        }
        receipt.check()?;
        let body = encode_receipt(receipt);
        Self::open(&envelope::seal(issuer, RECEIPT_KIND, body))
    }

    /// Verifies the issuer's signature over the received bytes, then decodes and checks.
    pub fn open(encoded: &[u8]) -> Result<Self, ReceiptEnvelopeError> {
        let verified = envelope::open(encoded, RECEIPT_KIND, MAX_RECEIPT_ENVELOPE_BYTES)?;
        let receipt = decode_receipt(&verified.body)?;
        if receipt.issuer() != verified.signer {
            return Err(ReceiptEnvelopeError::SignerIsNotIssuer {
                signer: verified.signer,
                issuer: receipt.issuer(),
            });
        }
        receipt.check()?;
        Ok(Self {
            id: verified.id(),
            receipt,
            envelope: verified.envelope,
            body: verified.body,
        })
    }

    /// The buyer's countersignature; `None` unless `buyer` is the receipt's buyer.
    pub fn countersign(&self, buyer: &NodeKey) -> Option<[u8; 64]> {
        (buyer.public() == self.receipt.buyer())
            .then(|| sign_detached(buyer, COUNTERSIGN_KIND, &self.body))
    }

    /// Attaches the buyer's countersignature, checking it.
    pub fn countersigned(
        self,
        signature: &[u8],
    ) -> Result<CountersignedReceipt, ReceiptEnvelopeError> {
        let buyer = self.receipt.buyer();
        if !verify_detached(&buyer, COUNTERSIGN_KIND, &self.body, signature) {
            return Err(ReceiptEnvelopeError::NotCountersigned(buyer));
        }
        let mut countersignature = [0u8; 64];
        countersignature.copy_from_slice(signature);
        Ok(CountersignedReceipt {
            signed: self,
            countersignature,
        })
    }
}

/// A receipt signed by its issuer and countersigned by its buyer: one leaf of a receipt log.
#[derive(Debug, Clone)]
pub struct CountersignedReceipt {
    pub signed: SignedReceipt,
    pub countersignature: [u8; 64],
}

impl CountersignedReceipt {
    /// The leaf bytes, exactly as the log hashes them.
    pub fn leaf(&self) -> Vec<u8> {
        v1::CountersignedReceipt {
            receipt: self.signed.envelope.clone(),
            countersignature: self.countersignature.to_vec(),
        }
        .encode_to_vec()
    }

    /// Checks a leaf: the issuer's signature, the split, the buyer's countersignature.
    pub fn open_leaf(leaf: &[u8]) -> Result<Self, ReceiptEnvelopeError> {
        if leaf.len() > MAX_RECEIPT_LEAF_BYTES {
            return Err(DecodeError::TooLarge {
                what: "receipt leaf",
                len: leaf.len(),
                max: MAX_RECEIPT_LEAF_BYTES,
            }
            .into());
        }
        let wire = v1::CountersignedReceipt::decode(leaf).map_err(DecodeError::from)?;
        SignedReceipt::open(&wire.receipt)?.countersigned(&wire.countersignature)
    }
}

#[cfg(test)]
mod tests {
    use souk_types::{DatasetId, SaleReceipt, SplitPart};

    use super::*;

    fn sale(seller: &NodeKey, buyer: &NodeKey) -> Receipt {
        let part = |n: u8, amount| SplitPart {
            dataset: DatasetId::from_bytes([9; 32]),
            contributor: PublicKey::from_bytes([n; 32]),
            amount,
        };
        Receipt::Sale(SaleReceipt {
            dataset: DatasetId::from_bytes([9; 32]),
            license_id: [1; 32],
            buyer: buyer.public(),
            seller: seller.public(),
            amount: 100,
            currency: "SOUK".into(),
            voucher_id: [2; 32],
            time_ms: 5,
            split: vec![part(3, 60), part(4, 40)],
            network_id: "souk-test".into(),
        })
    }

    #[test]
    fn a_countersigned_sale_is_a_leaf_that_checks_and_every_flip_fails() {
        let (seller, buyer) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
        let signed = SignedReceipt::issue(&seller, &sale(&seller, &buyer)).expect("issue");
        assert!(
            signed.countersign(&seller).is_none(),
            "only the buyer countersigns"
        );
        let signature = signed.countersign(&buyer).expect("buyer");
        let leaf = signed
            .countersigned(&signature)
            .expect("countersigned")
            .leaf();
        let opened = CountersignedReceipt::open_leaf(&leaf).expect("opens");
        assert_eq!(opened.signed.receipt, sale(&seller, &buyer));
        for i in 0..leaf.len() {
            let mut bad = leaf.clone();
            bad[i] ^= 0x10;
            assert!(
                CountersignedReceipt::open_leaf(&bad).is_err(),
                "flip at {i}"
            );
        }
    }

    #[test]
    fn a_split_that_does_not_sum_or_a_stranger_issuer_is_refused() {
        let (seller, buyer) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
        let Receipt::Sale(mut bad) = sale(&seller, &buyer) else {
            unreachable!("a sale")
        };
        bad.amount = 101;
        assert!(matches!(
            SignedReceipt::issue(&seller, &Receipt::Sale(bad)),
            Err(ReceiptEnvelopeError::Receipt(_))
        ));
        assert!(matches!(
            SignedReceipt::issue(&buyer, &sale(&seller, &buyer)),
            Err(ReceiptEnvelopeError::SignerIsNotIssuer { .. })
        ));
    }
}
