use std::collections::BTreeSet;

use crate::{DatasetId, PublicKey, TOTAL_BPS};

/// Bounds on every manifest field, so that a manifest always fits in one gossip message and a
/// peer cannot make us store or relay something unbounded.
pub mod limits {
    pub const MAX_NAME_LEN: usize = 200;
    pub const MAX_DESCRIPTION_LEN: usize = 4_096;
    pub const MAX_TAGS: usize = 32;
    pub const MAX_TAG_LEN: usize = 64;
    pub const MAX_MEDIA_TYPE_LEN: usize = 128;
    pub const MAX_CONTRIBUTORS: usize = 256;
    pub const MAX_PARENTS: usize = 32;
    pub const MAX_OFFERS: usize = 16;
    pub const MAX_CURRENCY_LEN: usize = 16;
    pub const MIN_SHARD_SIZE: u64 = 4 * 1024;
    pub const MAX_SHARD_SIZE: u64 = 64 * 1024 * 1024;
    pub const DEFAULT_SHARD_SIZE: u64 = 1024 * 1024;
    /// Above this many shards the manifest names its shard list only by the hash-sequence root.
    pub const MAX_INLINE_SHARD_HASHES: usize = 512;
    /// Largest encoded manifest body accepted from anyone (gossip's default limit is 64 KiB).
    pub const MAX_MANIFEST_BYTES: usize = 60 * 1024;
}

/// The media type of a packed file tree, the content `souk publish` produces.
pub const MEDIA_TYPE_FILES: &str = "application/x-souk-files";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionScheme {
    ChaCha20Poly1305V1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UsageRights {
    Research,
    Training,
    Commercial,
}

impl UsageRights {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Research => "research",
            Self::Training => "training",
            Self::Commercial => "commercial",
        }
    }
}

impl std::str::FromStr for UsageRights {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "research" => Ok(Self::Research),
            "training" => Ok(Self::Training),
            "commercial" => Ok(Self::Commercial),
            other => Err(ManifestError::UnknownRights(
                other.chars().take(40).collect(),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contributor {
    pub key: PublicKey,
    pub weight_bps: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub dataset: DatasetId,
    pub share_bps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseOffer {
    pub price: u64,
    pub currency: String,
    pub rights: UsageRights,
    pub duration_secs: u64,
}

/// Where a dataset's encrypted shards are and how the plaintext was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSet {
    pub shard_size: u64,
    pub shard_count: u64,
    pub plaintext_size: u64,
    /// iroh-blobs hash of the hash sequence of all ciphertext hashes.
    pub root: [u8; 32],
    /// The ciphertext hashes inline, or empty when only `root` names them.
    pub hashes: Vec<[u8; 32]>,
}

impl ShardSet {
    /// Plaintext length of shard `index`, or `None` past the end.
    pub fn plaintext_len(&self, index: u64) -> Option<u64> {
        if index >= self.shard_count {
            return None;
        }
        let start = index.checked_mul(self.shard_size)?;
        Some((self.plaintext_size - start).min(self.shard_size))
    }

    /// The number of shards needed for `plaintext_size` bytes cut in `shard_size` pieces.
    pub fn count_for(plaintext_size: u64, shard_size: u64) -> u64 {
        plaintext_size.div_ceil(shard_size.max(1))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    pub scheme: EncryptionScheme,
    pub key_commitment: [u8; 32],
    pub plaintext_commitment: [u8; 32],
}

/// A dataset's public description. Construct it freely; call [`Manifest::validate`] (the decoder
/// in `souk-proto` always does) before trusting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub media_type: String,
    pub version: u32,
    pub previous_version: Option<DatasetId>,
    pub publisher: PublicKey,
    pub created_at_ms: u64,
    pub encryption: Encryption,
    pub shards: ShardSet,
    pub contributors: Vec<Contributor>,
    pub parents: Vec<Parent>,
    pub offers: Vec<LicenseOffer>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the dataset name must not be empty; give one with --name")]
    EmptyName,
    #[error("{field} is {len} long, the limit is {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} contains a control character")]
    ControlCharacter { field: &'static str },
    #[error("a dataset needs at least one contributor")]
    NoContributors,
    #[error("contributor {0} is listed twice; merge the entries into one weight")]
    DuplicateContributor(PublicKey),
    #[error("weight of contributor {0} is 0 bps; every listed contributor needs a weight above 0")]
    ZeroWeight(PublicKey),
    #[error(
        "contributor weights sum to {0} bps, they must sum to exactly 10000 (100%); fix the --contributor weights"
    )]
    WeightsDoNotSum(u64),
    #[error("parent {0} is listed twice; merge the entries into one share")]
    DuplicateParent(DatasetId),
    #[error("share of parent {0} is 0 bps; every listed parent needs a share above 0")]
    ZeroShare(DatasetId),
    #[error("parent shares sum to {0} bps, more than 10000 (100%)")]
    SharesExceedWhole(u64),
    #[error("shard size {0} is outside the allowed range 4096..=67108864 bytes")]
    ShardSize(u64),
    #[error(
        "the manifest declares {declared} shards but {size} bytes in {shard_size}-byte shards make {expected}"
    )]
    ShardCount {
        declared: u64,
        expected: u64,
        size: u64,
        shard_size: u64,
    },
    #[error("the dataset is empty: there is nothing to publish")]
    Empty,
    #[error("the inline shard list has {listed} hashes for {count} shards")]
    InlineShardList { listed: usize, count: u64 },
    #[error("the version must be 1 or more")]
    ZeroVersion,
    #[error("unknown usage rights {0:?}: use research, training or commercial")]
    UnknownRights(String),
    #[error("an offer of the currency {0:?} is not allowed: use 1 to 16 ASCII letters or digits")]
    Currency(String),
}

fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    allow_newlines: bool,
) -> Result<(), ManifestError> {
    if value.len() > max {
        return Err(ManifestError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\t')))
    {
        return Err(ManifestError::ControlCharacter { field });
    }
    Ok(())
}

/// Checks contributors: at least one, at most the limit, distinct, each weight above 0, summing
/// to exactly [`TOTAL_BPS`].
pub fn validate_contributors(contributors: &[Contributor]) -> Result<(), ManifestError> {
    if contributors.is_empty() {
        return Err(ManifestError::NoContributors);
    }
    if contributors.len() > limits::MAX_CONTRIBUTORS {
        return Err(ManifestError::TooLong {
            field: "the contributor list",
            len: contributors.len(),
            max: limits::MAX_CONTRIBUTORS,
        });
    }
    let mut seen = BTreeSet::new();
    let mut sum = 0u64;
    for c in contributors {
        if !seen.insert(c.key) {
            return Err(ManifestError::DuplicateContributor(c.key));
        }
        if c.weight_bps == 0 {
            return Err(ManifestError::ZeroWeight(c.key));
        }
        sum += u64::from(c.weight_bps);
    }
    if sum != u64::from(TOTAL_BPS) {
        return Err(ManifestError::WeightsDoNotSum(sum));
    }
    Ok(())
}

/// Checks parents: at most the limit, distinct, each share above 0, together at most the whole.
pub fn validate_parents(parents: &[Parent]) -> Result<(), ManifestError> {
    if parents.len() > limits::MAX_PARENTS {
        return Err(ManifestError::TooLong {
            field: "the parent list",
            len: parents.len(),
            max: limits::MAX_PARENTS,
        });
    }
    let mut seen = BTreeSet::new();
    let mut sum = 0u64;
    for p in parents {
        if !seen.insert(p.dataset) {
            return Err(ManifestError::DuplicateParent(p.dataset));
        }
        if p.share_bps == 0 {
            return Err(ManifestError::ZeroShare(p.dataset));
        }
        sum += u64::from(p.share_bps);
    }
    if sum > u64::from(TOTAL_BPS) {
        return Err(ManifestError::SharesExceedWhole(sum));
    }
    Ok(())
}

impl Manifest {
    /// Checks every field against the rules and limits above.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.name.trim().is_empty() {
            return Err(ManifestError::EmptyName);
        }
        check_text("the name", &self.name, limits::MAX_NAME_LEN, false)?;
        check_text(
            "the description",
            &self.description,
            limits::MAX_DESCRIPTION_LEN,
            true,
        )?;
        check_text(
            "the media type",
            &self.media_type,
            limits::MAX_MEDIA_TYPE_LEN,
            false,
        )?;
        if self.tags.len() > limits::MAX_TAGS {
            return Err(ManifestError::TooLong {
                field: "the tag list",
                len: self.tags.len(),
                max: limits::MAX_TAGS,
            });
        }
        for tag in &self.tags {
            check_text("a tag", tag, limits::MAX_TAG_LEN, false)?;
        }
        if self.version == 0 {
            return Err(ManifestError::ZeroVersion);
        }
        self.validate_shards()?;
        validate_contributors(&self.contributors)?;
        validate_parents(&self.parents)?;
        if self.offers.len() > limits::MAX_OFFERS {
            return Err(ManifestError::TooLong {
                field: "the offer list",
                len: self.offers.len(),
                max: limits::MAX_OFFERS,
            });
        }
        for offer in &self.offers {
            let c = &offer.currency;
            if c.is_empty()
                || c.len() > limits::MAX_CURRENCY_LEN
                || !c.chars().all(|ch| ch.is_ascii_alphanumeric())
            {
                return Err(ManifestError::Currency(c.chars().take(40).collect()));
            }
        }
        Ok(())
    }

    fn validate_shards(&self) -> Result<(), ManifestError> {
        let s = &self.shards;
        if !(limits::MIN_SHARD_SIZE..=limits::MAX_SHARD_SIZE).contains(&s.shard_size) {
            return Err(ManifestError::ShardSize(s.shard_size));
        }
        if s.plaintext_size == 0 {
            return Err(ManifestError::Empty);
        }
        let expected = ShardSet::count_for(s.plaintext_size, s.shard_size);
        if s.shard_count != expected {
            return Err(ManifestError::ShardCount {
                declared: s.shard_count,
                expected,
                size: s.plaintext_size,
                shard_size: s.shard_size,
            });
        }
        let inline_ok = s.hashes.is_empty()
            || (s.hashes.len() as u64 == s.shard_count
                && s.hashes.len() <= limits::MAX_INLINE_SHARD_HASHES);
        if !inline_ok {
            return Err(ManifestError::InlineShardList {
                listed: s.hashes.len(),
                count: s.shard_count,
            });
        }
        Ok(())
    }

    /// Sum of the plaintext and tag bytes of every shard: what a full download moves.
    pub fn ciphertext_size(&self) -> u64 {
        self.shards.plaintext_size + self.shards.shard_count * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u8) -> PublicKey {
        PublicKey::from_bytes([n; 32])
    }

    pub(crate) fn sample() -> Manifest {
        Manifest {
            name: "weather".into(),
            description: "hourly readings".into(),
            tags: vec!["climate".into()],
            media_type: MEDIA_TYPE_FILES.into(),
            version: 1,
            previous_version: None,
            publisher: key(1),
            created_at_ms: 1,
            encryption: Encryption {
                scheme: EncryptionScheme::ChaCha20Poly1305V1,
                key_commitment: [2; 32],
                plaintext_commitment: [3; 32],
            },
            shards: ShardSet {
                shard_size: 4096,
                shard_count: 3,
                plaintext_size: 9000,
                root: [4; 32],
                hashes: vec![[5; 32]; 3],
            },
            contributors: vec![Contributor {
                key: key(1),
                weight_bps: TOTAL_BPS,
            }],
            parents: vec![],
            offers: vec![LicenseOffer {
                price: 100,
                currency: "SOUK".into(),
                rights: UsageRights::Training,
                duration_secs: 3600,
            }],
        }
    }

    #[test]
    fn sample_is_valid_and_last_shard_is_short() {
        let m = sample();
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(m.shards.plaintext_len(0), Some(4096));
        assert_eq!(m.shards.plaintext_len(2), Some(9000 - 8192));
        assert_eq!(m.shards.plaintext_len(3), None);
    }

    #[test]
    fn each_broken_rule_is_reported() {
        type Case = (fn(&mut Manifest), fn(&ManifestError) -> bool);
        let cases: Vec<Case> = vec![
            (
                |m| m.name = " ".into(),
                |e| matches!(e, ManifestError::EmptyName),
            ),
            (
                |m| m.name = "a\u{7}".into(),
                |e| matches!(e, ManifestError::ControlCharacter { .. }),
            ),
            (
                |m| m.contributors[0].weight_bps = 9_999,
                |e| matches!(e, ManifestError::WeightsDoNotSum(9_999)),
            ),
            (
                |m| m.contributors.clear(),
                |e| matches!(e, ManifestError::NoContributors),
            ),
            (
                |m| {
                    m.contributors = vec![
                        Contributor {
                            key: key(7),
                            weight_bps: 5_000,
                        },
                        Contributor {
                            key: key(7),
                            weight_bps: 5_000,
                        },
                    ]
                },
                |e| matches!(e, ManifestError::DuplicateContributor(_)),
            ),
            (
                |m| {
                    m.parents = vec![
                        Parent {
                            dataset: DatasetId::from_bytes([1; 32]),
                            share_bps: 6_000,
                        },
                        Parent {
                            dataset: DatasetId::from_bytes([2; 32]),
                            share_bps: 6_000,
                        },
                    ]
                },
                |e| matches!(e, ManifestError::SharesExceedWhole(12_000)),
            ),
            (
                |m| m.shards.shard_count = 4,
                |e| matches!(e, ManifestError::ShardCount { .. }),
            ),
            (
                |m| m.shards.hashes.pop().map(drop).unwrap_or(()),
                |e| matches!(e, ManifestError::InlineShardList { .. }),
            ),
            (
                |m| m.shards.shard_size = 1,
                |e| matches!(e, ManifestError::ShardSize(1)),
            ),
            (
                |m| m.offers[0].currency = "$".into(),
                |e| matches!(e, ManifestError::Currency(_)),
            ),
            (
                |m| m.tags = vec!["t".into(); 33],
                |e| matches!(e, ManifestError::TooLong { .. }),
            ),
        ];
        for (i, (break_it, expect)) in cases.into_iter().enumerate() {
            let mut m = sample();
            break_it(&mut m);
            let err = m.validate().expect_err("broken manifest accepted");
            assert!(expect(&err), "case {i}: unexpected {err:?}");
        }
    }

    proptest! {
        #[test]
        fn weights_are_valid_exactly_when_they_sum_to_the_whole(weights in proptest::collection::vec(1u32..6_000, 1..6)) {
            let contributors: Vec<Contributor> = weights
                .iter()
                .enumerate()
                .map(|(i, w)| Contributor { key: key(i as u8), weight_bps: *w })
                .collect();
            let sum: u32 = weights.iter().sum();
            prop_assert_eq!(validate_contributors(&contributors).is_ok(), sum == TOTAL_BPS);
        }
    }
}
