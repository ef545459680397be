//! Receipts: the record of a payment and of a delivery, the leaves of a node's receipt log.

use crate::{DatasetId, PublicKey, SplitPart};

/// A license sold, and how its price splits up the lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleReceipt {
    pub dataset: DatasetId,
    pub license_id: [u8; 32],
    pub buyer: PublicKey,
    pub seller: PublicKey,
    pub amount: u64,
    pub currency: String,
    /// BLAKE3 of the voucher envelope that paid it.
    pub voucher_id: [u8; 32],
    pub time_ms: u64,
    pub split: Vec<SplitPart>,
    pub network_id: String,
}

/// Bytes of a dataset a provider delivered to a license holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    pub dataset: DatasetId,
    pub license_id: [u8; 32],
    pub buyer: PublicKey,
    pub provider: PublicKey,
    pub bytes: u64,
    pub time_ms: u64,
    pub network_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    Sale(SaleReceipt),
    Delivery(DeliveryReceipt),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("the split sums to {found}, the sale was for {expected}")]
    SplitSum { expected: u64, found: u128 },
    #[error("the split lists a zero part or the same contributor twice for one dataset")]
    SplitEntries,
}

impl Receipt {
    /// Who signs it: the seller of a sale, the provider of a delivery.
    pub fn issuer(&self) -> PublicKey {
        match self {
            Self::Sale(s) => s.seller,
            Self::Delivery(d) => d.provider,
        }
    }

    /// Who countersigns it.
    pub fn buyer(&self) -> PublicKey {
        match self {
            Self::Sale(s) => s.buyer,
            Self::Delivery(d) => d.buyer,
        }
    }

    pub fn dataset(&self) -> DatasetId {
        match self {
            Self::Sale(s) => s.dataset,
            Self::Delivery(d) => d.dataset,
        }
    }

    /// A sale's split must account for every unit exactly once, in canonical order.
    pub fn check(&self) -> Result<(), ReceiptError> {
        let Self::Sale(sale) = self else {
            return Ok(());
        };
        let found: u128 = sale.split.iter().map(|p| u128::from(p.amount)).sum();
        if found != u128::from(sale.amount) {
            return Err(ReceiptError::SplitSum {
                expected: sale.amount,
                found,
            });
        }
        let ordered = sale
            .split
            .windows(2)
            .all(|w| (w[0].dataset, w[0].contributor) < (w[1].dataset, w[1].contributor));
        if !ordered || sale.split.iter().any(|p| p.amount == 0) {
            return Err(ReceiptError::SplitEntries);
        }
        Ok(())
    }
}
