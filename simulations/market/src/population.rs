//! Who is in the market: contributors (a hidden quality and an amount of data, under one key or,
//! for sybils, many), curators who assemble datasets (with lineage) from contributions chosen by
//! their size, and buyers.

use souk_types::{Contributor, DatasetId, Parent, PublicKey, TOTAL_BPS};

use crate::rng::Rng;
use crate::scenario::{Scenario, Strategy};

/// Someone who can earn: a contributor or a curator.
#[derive(Debug, Clone)]
pub(crate) struct Earner {
    /// Hidden quality of its data, in [0, 1].
    pub quality: f64,
    /// Its data, in arbitrary units.
    pub bytes: f64,
    pub curator: bool,
    /// The strategy it plays when that strategy is on.
    pub attack: Option<Strategy>,
}

#[derive(Debug, Clone)]
pub(crate) struct Dataset {
    pub id: DatasetId,
    pub curator: u32,
    pub contributors: Vec<Contributor>,
    pub parents: Vec<Parent>,
    pub quality: f64,
    pub list_price: u64,
    pub floor_price: u64,
    /// Datasets with the same content share it; a near copy has its own but overlaps.
    pub content: u32,
    /// The dataset this one copies, for duplicates.
    pub copy_of: Option<u32>,
}

pub(crate) struct Population {
    pub earners: Vec<Earner>,
    /// Key index -> earner index.
    pub key_owner: Vec<u32>,
    /// Key index -> the data filed under that key.
    key_bytes: Vec<f64>,
    pub datasets: Vec<Dataset>,
    pub buyers: u32,
    /// Buyers below this index resell keys when key resale is on.
    pub resellers: u32,
}

/// The key of key index `index` (earners) or of buyer `index` (with `buyer` set).
pub(crate) fn key(index: u32, buyer: bool) -> PublicKey {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&index.to_le_bytes());
    bytes[4] = u8::from(buyer);
    PublicKey::from_bytes(bytes)
}

pub(crate) fn key_index(key: &PublicKey) -> u32 {
    let bytes = key.as_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

pub(crate) fn dataset_id(index: u32) -> DatasetId {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&index.to_le_bytes());
    DatasetId::from_bytes(bytes)
}

pub(crate) fn dataset_index(id: &DatasetId) -> u32 {
    let bytes = id.as_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Splits `total` basis points over `weights` by largest remainder.
fn bps(weights: &[f64], total: u32) -> Vec<u32> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights
        .iter()
        .map(|w| f64::from(total) * w / sum.max(f64::MIN_POSITIVE))
        .collect();
    let mut parts: Vec<u32> = exact.iter().map(|e| e.floor() as u32).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| {
        (exact[*b] - exact[*b].floor())
            .total_cmp(&(exact[*a] - exact[*a].floor()))
            .then(a.cmp(b))
    });
    let mut left = total.saturating_sub(parts.iter().sum());
    for i in order.iter().cycle().take(weights.len() * 2) {
        if left == 0 {
            break;
        }
        parts[*i] += 1;
        left -= 1;
    }
    parts
}

impl Population {
    /// Builds the population; `sybils` splits the sybil contributors' data over many keys.
    pub fn build(scenario: &Scenario, rng: &Rng, sybils: bool) -> Self {
        let mut draw = rng.fork(1);
        let contributors = (scenario.agents as f64 * scenario.contributor_share) as u32;
        let curators = ((scenario.agents as f64 * scenario.curator_share) as u32).max(1);
        let buyers = (scenario.agents as u32)
            .saturating_sub(contributors + curators)
            .max(1);
        let attacks = &scenario.attacks;
        let mut earners = Vec::with_capacity((contributors + curators) as usize);
        let mut key_owner = Vec::new();
        let mut key_bytes = Vec::new();
        let sybil_count = (f64::from(contributors) * attacks.sybil_share) as u32;
        for i in 0..contributors {
            // Quality and size drawn independently: a lot of data is not good data.
            let quality = draw.unit().powf(0.7);
            let bytes = (draw.normal(1.0)).exp() * 100.0;
            let attack = (i < sybil_count).then_some(Strategy::SybilSplitting);
            let keys = if sybils && attack.is_some() {
                attacks.sybil_keys
            } else {
                1
            };
            for _ in 0..keys {
                key_owner.push(i);
                key_bytes.push(bytes / f64::from(keys));
            }
            earners.push(Earner {
                quality,
                bytes,
                curator: false,
                attack,
            });
        }
        let shares = [
            (Strategy::DuplicateFarming, attacks.duplicate_share),
            (Strategy::WashTrading, attacks.wash_share),
            (Strategy::Withholding, attacks.withhold_share),
        ];
        let mut curator_keys = Vec::new();
        let mut next_attacker = 0u32;
        let mut attack_of = Vec::new();
        for (strategy, share) in shares {
            let count = (f64::from(curators) * share) as u32;
            attack_of.extend((0..count).map(|_| strategy));
            next_attacker += count;
        }
        for i in 0..curators {
            let earner = contributors + i;
            curator_keys.push(key_owner.len() as u32);
            key_owner.push(earner);
            key_bytes.push(0.0);
            earners.push(Earner {
                quality: draw.unit().powf(0.7),
                bytes: 0.0,
                curator: true,
                attack: (i < next_attacker).then(|| attack_of[i as usize]),
            });
        }
        let mut cumulative = Vec::with_capacity(key_bytes.len());
        let mut sum = 0.0;
        for b in &key_bytes {
            sum += b;
            cumulative.push(sum);
        }
        let mut population = Self {
            earners,
            key_owner,
            key_bytes,
            datasets: Vec::new(),
            buyers,
            resellers: (f64::from(buyers) * attacks.resale_share) as u32,
        };
        for (curator, key_index) in curator_keys.iter().enumerate() {
            for _ in 0..scenario.datasets_per_curator {
                let dataset = population.assemble(
                    scenario,
                    &mut draw,
                    &cumulative,
                    contributors + curator as u32,
                    *key_index,
                );
                population.datasets.push(dataset);
            }
        }
        population
    }

    /// A curator's dataset: contributions picked with probability by their size (a curator
    /// wants data, not people), attributed by size, sometimes derived from an earlier dataset.
    fn assemble(
        &self,
        scenario: &Scenario,
        draw: &mut Rng,
        cumulative: &[f64],
        curator: u32,
        curator_key: u32,
    ) -> Dataset {
        let index = self.datasets.len() as u32;
        let total = cumulative.last().copied().unwrap_or_default();
        let own_data = self.earners[curator as usize].attack == Some(Strategy::WashTrading);
        let mut picked: Vec<u32> = Vec::new();
        if !own_data {
            for _ in 0..scenario.contributors_per_dataset * 4 {
                if picked.len() as u32 >= scenario.contributors_per_dataset {
                    break;
                }
                let at = draw.unit() * total;
                let key = cumulative.partition_point(|c| *c <= at) as u32;
                let key = key.min(cumulative.len() as u32 - 1);
                if !picked.contains(&key) && key != curator_key {
                    picked.push(key);
                }
            }
        }
        let weights: Vec<f64> = picked.iter().map(|k| self.key_bytes[*k as usize]).collect();
        let curator_bps = if picked.is_empty() {
            TOTAL_BPS
        } else {
            scenario.curator_weight_bps
        };
        let mut contributors: Vec<Contributor> = picked
            .iter()
            .zip(bps(&weights, TOTAL_BPS - curator_bps))
            .filter(|(_, w)| *w > 0)
            .map(|(k, w)| Contributor {
                key: key(*k, false),
                weight_bps: w,
            })
            .collect();
        let given: u32 = contributors.iter().map(|c| c.weight_bps).sum();
        contributors.push(Contributor {
            key: key(curator_key, false),
            weight_bps: TOTAL_BPS - given,
        });
        let quality_of = |k: u32| self.earners[self.key_owner[k as usize] as usize].quality;
        let own_quality = if picked.is_empty() {
            self.earners[curator as usize].quality
        } else {
            let sum: f64 = weights.iter().sum();
            picked
                .iter()
                .zip(&weights)
                .map(|(k, w)| quality_of(*k) * w / sum)
                .sum()
        };
        let derive = index > 0 && !own_data && draw.chance(scenario.derived_share);
        let (parents, quality) = if derive {
            let parent = draw.below(u64::from(index)) as u32;
            let share = f64::from(scenario.parent_share_bps) / f64::from(TOTAL_BPS);
            (
                vec![Parent {
                    dataset: dataset_id(parent),
                    share_bps: scenario.parent_share_bps,
                }],
                (1.0 - share) * own_quality + share * self.datasets[parent as usize].quality,
            )
        } else {
            (Vec::new(), own_quality)
        };
        Dataset {
            id: dataset_id(index),
            curator,
            contributors,
            parents,
            quality,
            list_price: scenario.list_price,
            floor_price: scenario.floor_price,
            content: index,
            copy_of: None,
        }
    }

    /// A copy of dataset `original` republished by `curator` as its own, cheaper; a near copy
    /// gets content of its own that still overlaps the original's.
    pub fn copy(&mut self, original: u32, curator: u32, curator_key: u32, near: bool) -> u32 {
        let index = self.datasets.len() as u32;
        let source = &self.datasets[original as usize];
        let copy = Dataset {
            id: dataset_id(index),
            curator,
            contributors: vec![Contributor {
                key: key(curator_key, false),
                weight_bps: TOTAL_BPS,
            }],
            parents: Vec::new(),
            quality: source.quality,
            list_price: source.list_price * 4 / 5,
            floor_price: source.floor_price * 4 / 5,
            content: if near { index } else { source.content },
            copy_of: Some(original),
        };
        self.datasets.push(copy);
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_points_always_sum_to_the_total() {
        let mut rng = Rng::new(3);
        for _ in 0..1000 {
            let n = 1 + rng.below(12) as usize;
            let weights: Vec<f64> = (0..n).map(|_| rng.unit() * 100.0 + 0.01).collect();
            assert_eq!(bps(&weights, 9000).iter().sum::<u32>(), 9000);
        }
    }

    #[test]
    fn every_dataset_attributes_all_of_its_revenue() {
        let scenario = Scenario {
            agents: 2000,
            ..Scenario::default()
        };
        let population = Population::build(&scenario, &Rng::new(1), true);
        assert!(!population.datasets.is_empty());
        for d in &population.datasets {
            let total: u32 = d.contributors.iter().map(|c| c.weight_bps).sum();
            assert_eq!(total, TOTAL_BPS);
            assert!((0.0..=1.0).contains(&d.quality));
        }
    }
}
