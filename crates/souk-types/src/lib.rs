//! Souk's domain types and the rules that make them valid.
//!
//! Everything here is plain data and pure functions: no I/O, no async, no clock. Untrusted input
//! (a manifest from the network, a key typed on the command line) becomes one of these types only
//! through a validating constructor, so code holding a [`Manifest`] can rely on its invariants.

mod attribution;
mod content;
mod ids;
mod license;
mod manifest;
mod receipt;

pub use attribution::{Lineage, MAX_LINEAGE_DEPTH, SplitError, SplitPart, split};
pub use content::{ContentError, ContentIndex, FileEntry, content_limits, validate_relative_path};

pub use ids::{DatasetId, IdParseError, PublicKey};
pub use license::{License, LicenseError, WrappedKey};
pub use manifest::{
    Contributor, Encryption, EncryptionScheme, LicenseOffer, MEDIA_TYPE_FILES, Manifest,
    ManifestError, Parent, ShardSet, UsageRights, limits, validate_contributors, validate_parents,
};
pub use receipt::{DeliveryReceipt, Receipt, ReceiptError, SaleReceipt};

/// Basis points in a whole: weights and shares are expressed out of this.
pub const TOTAL_BPS: u32 = 10_000;
