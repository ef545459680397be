//! The split rule: how a payment for a dataset divides among the people who built it.
//!
//! For a payment of P units for dataset D, each parent of D with a share of s basis points
//! receives its part, which is split again as a payment for that parent (recursively, up the
//! lineage); the rest goes to D's contributors by weight. Each level is divided in integer units
//! by largest remainder: every part first gets the floor of its exact share, and the units left
//! over go one each to the parts with the largest fractional remainders, ties broken by the
//! claimant's bytes (parents before contributors). So the parts of every level sum to exactly
//! what that level received, each within one unit of its exact share, and the whole split sums to
//! exactly P. The node and the simulator both run this function.

use std::collections::BTreeMap;

use crate::{Contributor, DatasetId, Parent, PublicKey, TOTAL_BPS};

/// Most generations of parents a split follows.
pub const MAX_LINEAGE_DEPTH: usize = 32;

/// What the split rule needs to know of one dataset.
#[derive(Debug, Clone, Copy)]
pub struct Lineage<'a> {
    pub contributors: &'a [Contributor],
    pub parents: &'a [Parent],
}

/// What one contributor receives through one dataset of the lineage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SplitPart {
    pub dataset: DatasetId,
    pub contributor: PublicKey,
    pub amount: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("dataset {0} is in the lineage but its manifest is not known here; sync it first")]
    UnknownDataset(DatasetId),
    #[error("the lineage is more than {MAX_LINEAGE_DEPTH} generations deep")]
    TooDeep,
    #[error("dataset {0} has weights or shares that do not add up; its manifest is invalid")]
    Malformed(DatasetId),
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Claimant {
    Parent(DatasetId),
    Contributor(PublicKey),
}

/// Basis points squared: the denominator of every exact share at one level.
const DENOMINATOR: u128 = (TOTAL_BPS as u128) * (TOTAL_BPS as u128);

/// Divides `amount` among `claims` (numerators over [`DENOMINATOR`] that sum to
/// `amount * DENOMINATOR`) by largest remainder.
fn largest_remainder(amount: u64, claims: &[(Claimant, u128)]) -> Vec<(Claimant, u64)> {
    let mut parts: Vec<(Claimant, u64, u128)> = claims
        .iter()
        .map(|(who, numerator)| {
            let floor = u64::try_from(numerator / DENOMINATOR).unwrap_or(u64::MAX);
            (*who, floor, numerator % DENOMINATOR)
        })
        .collect();
    let given: u64 = parts.iter().map(|(_, floor, _)| floor).sum();
    let left = usize::try_from(amount.saturating_sub(given)).unwrap_or(usize::MAX);
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| {
        let (pa, pb) = (&parts[*a], &parts[*b]);
        pb.2.cmp(&pa.2).then(pa.0.cmp(&pb.0))
    });
    for index in order.into_iter().take(left) {
        parts[index].1 += 1;
    }
    parts
        .into_iter()
        .map(|(who, part, _)| (who, part))
        .collect()
}

/// Splits a payment of `amount` for `dataset` among every contributor up its lineage.
/// `lineage_of` answers for every dataset of the lineage. The parts are sorted by dataset and
/// contributor, one per pair (a contributor reached through two paths gets their sum), none zero.
pub fn split<'a>(
    amount: u64,
    dataset: DatasetId,
    lineage_of: &impl Fn(&DatasetId) -> Option<Lineage<'a>>,
) -> Result<Vec<SplitPart>, SplitError> {
    let mut totals: BTreeMap<(DatasetId, PublicKey), u64> = BTreeMap::new();
    split_into(amount, dataset, lineage_of, 0, &mut totals)?;
    Ok(totals
        .into_iter()
        .filter(|(_, amount)| *amount > 0)
        .map(|((dataset, contributor), amount)| SplitPart {
            dataset,
            contributor,
            amount,
        })
        .collect())
}

fn split_into<'a>(
    amount: u64,
    dataset: DatasetId,
    lineage_of: &impl Fn(&DatasetId) -> Option<Lineage<'a>>,
    depth: usize,
    totals: &mut BTreeMap<(DatasetId, PublicKey), u64>,
) -> Result<(), SplitError> {
    if depth > MAX_LINEAGE_DEPTH {
        return Err(SplitError::TooDeep);
    }
    let lineage = lineage_of(&dataset).ok_or(SplitError::UnknownDataset(dataset))?;
    let total = u128::from(TOTAL_BPS);
    let shares: u128 = lineage
        .parents
        .iter()
        .map(|p| u128::from(p.share_bps))
        .sum();
    let weights: u128 = lineage
        .contributors
        .iter()
        .map(|c| u128::from(c.weight_bps))
        .sum();
    if shares > total || weights != total {
        return Err(SplitError::Malformed(dataset));
    }
    let amount_wide = u128::from(amount);
    let claims: Vec<(Claimant, u128)> = lineage
        .parents
        .iter()
        .map(|p| {
            let numerator = amount_wide * u128::from(p.share_bps) * total;
            (Claimant::Parent(p.dataset), numerator)
        })
        .chain(lineage.contributors.iter().map(|c| {
            let numerator = amount_wide * (total - shares) * u128::from(c.weight_bps);
            (Claimant::Contributor(c.key), numerator)
        }))
        .collect();
    for (claimant, part) in largest_remainder(amount, &claims) {
        match claimant {
            Claimant::Parent(parent) if part > 0 => {
                split_into(part, parent, lineage_of, depth + 1, totals)?;
            }
            Claimant::Parent(_) => {}
            Claimant::Contributor(key) => {
                let entry = totals.entry((dataset, key)).or_insert(0);
                *entry = entry.saturating_add(part);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn key(n: u8) -> PublicKey {
        PublicKey::from_bytes([n; 32])
    }

    fn id(n: u8) -> DatasetId {
        DatasetId::from_bytes([n; 32])
    }

    struct Dag(HashMap<DatasetId, (Vec<Contributor>, Vec<Parent>)>);

    impl Dag {
        fn get(&self, d: &DatasetId) -> Option<Lineage<'_>> {
            self.0.get(d).map(|(contributors, parents)| Lineage {
                contributors,
                parents,
            })
        }
    }

    fn contributors(weights: &[(u8, u32)]) -> Vec<Contributor> {
        weights
            .iter()
            .map(|(k, w)| Contributor {
                key: key(*k),
                weight_bps: *w,
            })
            .collect()
    }

    #[test]
    fn a_derived_dataset_pays_its_parent_and_its_own_contributors() {
        let mut dag = HashMap::new();
        dag.insert(id(1), (contributors(&[(1, 6_000), (2, 4_000)]), vec![]));
        dag.insert(
            id(2),
            (
                contributors(&[(3, 10_000)]),
                vec![Parent {
                    dataset: id(1),
                    share_bps: 3_000,
                }],
            ),
        );
        let dag = Dag(dag);
        let parts = split(1_000, id(2), &|d: &DatasetId| dag.get(d)).expect("split");
        let amounts: Vec<(PublicKey, u64)> =
            parts.iter().map(|p| (p.contributor, p.amount)).collect();
        assert_eq!(amounts, vec![(key(1), 180), (key(2), 120), (key(3), 700)]);
    }

    #[test]
    fn three_way_ties_go_to_the_smallest_keys_and_sum_exactly() {
        let mut dag = HashMap::new();
        dag.insert(
            id(1),
            (contributors(&[(9, 3_334), (5, 3_333), (7, 3_333)]), vec![]),
        );
        let dag = Dag(dag);
        let parts = split(2, id(1), &|d: &DatasetId| dag.get(d)).expect("split");
        // Exact shares 0.6668, 0.6666, 0.6666: the largest remainder first, then the tie by key.
        let amounts: Vec<(PublicKey, u64)> =
            parts.iter().map(|p| (p.contributor, p.amount)).collect();
        assert_eq!(amounts, vec![(key(5), 1), (key(9), 1)]);
    }

    #[test]
    fn unknown_parents_and_cycles_are_errors_not_loops() {
        let mut dag = HashMap::new();
        let to = |d: u8| {
            vec![Parent {
                dataset: id(d),
                share_bps: 5_000,
            }]
        };
        dag.insert(id(1), (contributors(&[(1, 10_000)]), to(9)));
        dag.insert(id(2), (contributors(&[(1, 10_000)]), to(3)));
        dag.insert(id(3), (contributors(&[(1, 10_000)]), to(2)));
        let dag = Dag(dag);
        assert_eq!(
            split(10, id(1), &|d: &DatasetId| dag.get(d)),
            Err(SplitError::UnknownDataset(id(9)))
        );
        assert_eq!(
            split(u64::MAX, id(2), &|d: &DatasetId| dag.get(d)),
            Err(SplitError::TooDeep)
        );
    }

    /// One random dataset: (contributor key, raw weight) and (earlier dataset, raw share) pairs.
    type RandomDataset = (Vec<(u8, u32)>, Vec<(usize, u32)>);

    /// A random lineage DAG: dataset i may have parents among datasets before it.
    fn dags() -> impl Strategy<Value = (u64, Vec<RandomDataset>)> {
        let node = (
            prop::collection::vec((0u8..6, 1u32..100), 1..5),
            prop::collection::vec((0usize..8, 1u32..100), 0..4),
        );
        (any::<u64>(), prop::collection::vec(node, 1..9))
    }

    /// Scales raw numbers to basis points summing to `total` (contributors: exactly 10 000).
    fn to_bps(raw: &[u32], total: u32) -> Vec<u32> {
        let sum: u32 = raw.iter().sum();
        let mut bps: Vec<u32> = raw.iter().map(|r| r * total / sum).collect();
        let short = total - bps.iter().sum::<u32>();
        bps[0] += short;
        bps
    }

    proptest! {
        #[test]
        fn splits_over_random_lineages_sum_exactly(
            (amount, nodes) in dags(),
            parent_total in 0u32..=10_000,
        ) {
            let mut dag = HashMap::new();
            for (i, (people, parents)) in nodes.iter().enumerate() {
                let mut seen = std::collections::BTreeSet::new();
                let people: Vec<_> = people.iter().filter(|(k, _)| seen.insert(*k)).collect();
                let weights = to_bps(&people.iter().map(|(_, w)| *w).collect::<Vec<_>>(), 10_000);
                let mut seen = std::collections::BTreeSet::new();
                let parents: Vec<_> = parents
                    .iter()
                    .filter(|(p, _)| *p < i && seen.insert(*p))
                    .collect();
                let shares = if parents.is_empty() {
                    vec![]
                } else {
                    to_bps(&parents.iter().map(|(_, s)| *s).collect::<Vec<_>>(), parent_total)
                };
                dag.insert(
                    id(i as u8),
                    (
                        people
                            .iter()
                            .zip(&weights)
                            .map(|((k, _), w)| Contributor { key: key(*k), weight_bps: *w })
                            .collect(),
                        parents
                            .iter()
                            .zip(&shares)
                            .filter(|(_, s)| **s > 0)
                            .map(|((p, _), s)| Parent { dataset: id(*p as u8), share_bps: *s })
                            .collect(),
                    ),
                );
            }
            let dag = Dag(dag);
            let top = id((nodes.len() - 1) as u8);
            let parts = split(amount, top, &|d: &DatasetId| dag.get(d)).expect("split");
            let sum: u128 = parts.iter().map(|p| u128::from(p.amount)).sum();
            prop_assert_eq!(sum, u128::from(amount));

            // One level, checked against exact shares: within one unit each.
            let (people, parents) = &dag.0[&top];
            let shares: u128 = parents.iter().map(|p| u128::from(p.share_bps)).sum();
            let claims: Vec<(Claimant, u128)> = parents
                .iter()
                .map(|p| (Claimant::Parent(p.dataset), u128::from(amount) * u128::from(p.share_bps) * 10_000))
                .chain(people.iter().map(|c| {
                    (Claimant::Contributor(c.key), u128::from(amount) * (10_000 - shares) * u128::from(c.weight_bps))
                }))
                .collect();
            for ((_, part), (_, numerator)) in largest_remainder(amount, &claims).iter().zip(&claims) {
                prop_assert!((u128::from(*part) * DENOMINATOR).abs_diff(*numerator) < DENOMINATOR);
            }
        }
    }
}
