//! What a market simulation plays: the population, prices, and the share of each attack.

use serde::{Deserialize, Serialize};

/// An attack strategy the simulator can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One contributor under many keys.
    SybilSplitting,
    /// Copies (and near-copies) of popular datasets republished without lineage, cheaper.
    DuplicateFarming,
    /// Buying one's own datasets with throwaway buyer keys to look popular.
    WashTrading,
    /// Buying one license and reselling the dataset key off the market.
    KeyResale,
    /// Taking payment and then not serving the data.
    Withholding,
}

impl Strategy {
    pub const ALL: [Self; 5] = [
        Self::SybilSplitting,
        Self::DuplicateFarming,
        Self::WashTrading,
        Self::KeyResale,
        Self::Withholding,
    ];
}

/// Share of the relevant population that plays each attack, and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Attacks {
    /// Share of contributors that split themselves.
    pub sybil_share: f64,
    pub sybil_keys: u32,
    /// Share of curators that farm duplicates instead of assembling data.
    pub duplicate_share: f64,
    /// Share of curators that wash-trade their datasets.
    pub wash_share: f64,
    /// Wash purchases (by all wash traders together) per thousand market purchases.
    pub wash_per_thousand: u32,
    /// Share of buyers that resell the keys they buy.
    pub resale_share: f64,
    /// Buyers each resold key reaches.
    pub resale_copies: u32,
    /// Chance that one resold copy is traced to its reseller when keys are per buyer.
    pub resale_trace_chance: f64,
    /// Share of curators that stop serving after payment.
    pub withhold_share: f64,
}

impl Default for Attacks {
    fn default() -> Self {
        Self {
            sybil_share: 0.05,
            sybil_keys: 10,
            duplicate_share: 0.05,
            wash_share: 0.05,
            wash_per_thousand: 20,
            resale_share: 0.02,
            resale_copies: 5,
            resale_trace_chance: 0.3,
            withhold_share: 0.05,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub seed: u64,
    pub agents: u64,
    pub purchases: u64,
    /// Shares of the agents; the rest are buyers.
    pub contributor_share: f64,
    pub curator_share: f64,
    pub datasets_per_curator: u32,
    pub contributors_per_dataset: u32,
    /// Share of datasets derived from an earlier one, and the share of revenue they pass up.
    pub derived_share: f64,
    pub parent_share_bps: u32,
    /// The curator's own attribution in its datasets.
    pub curator_weight_bps: u32,
    pub list_price: u64,
    pub floor_price: u64,
    /// What a buyer is willing to pay per unit of true quality (quality is in [0, 1]).
    pub value_per_quality: f64,
    /// How well a buyer judges quality before buying (deviation of its estimate).
    pub judgement_noise: f64,
    /// Datasets a buyer looks at before choosing.
    pub candidates: u32,
    /// What publishing one dataset costs its publisher.
    pub publish_cost: u64,
    /// Share of each sale's price that serving the data costs its publisher.
    pub serving_cost_share: f64,
    pub attacks: Attacks,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            seed: 1,
            agents: 100_000,
            purchases: 1_000_000,
            contributor_share: 0.6,
            curator_share: 0.05,
            datasets_per_curator: 4,
            contributors_per_dataset: 6,
            derived_share: 0.3,
            parent_share_bps: 3000,
            curator_weight_bps: 1000,
            list_price: 100,
            floor_price: 60,
            value_per_quality: 160.0,
            judgement_noise: 0.1,
            candidates: 8,
            publish_cost: 200,
            serving_cost_share: 0.03,
            attacks: Attacks::default(),
        }
    }
}

impl Scenario {
    pub fn validate(&self) -> Result<(), String> {
        let shares = [
            self.contributor_share,
            self.curator_share,
            self.derived_share,
            self.attacks.sybil_share,
            self.attacks.duplicate_share,
            self.attacks.wash_share,
            self.attacks.resale_share,
            self.attacks.withhold_share,
            self.attacks.resale_trace_chance,
            self.serving_cost_share,
        ];
        if shares.iter().any(|s| !(0.0..=1.0).contains(s)) {
            return Err("every share and chance is between 0 and 1".to_owned());
        }
        if self.contributor_share + self.curator_share >= 1.0 {
            return Err("contributors and curators leave no buyers".to_owned());
        }
        if self.agents < 20 || self.agents > 10_000_000 {
            return Err("agents must be between 20 and 10,000,000".to_owned());
        }
        if self.purchases > 100_000_000 {
            return Err("purchases must be at most 100,000,000".to_owned());
        }
        if self.contributors_per_dataset == 0 || self.contributors_per_dataset > 64 {
            return Err("contributors_per_dataset must be between 1 and 64".to_owned());
        }
        if self.datasets_per_curator == 0 || self.datasets_per_curator > 100 {
            return Err("datasets_per_curator must be between 1 and 100".to_owned());
        }
        if self.parent_share_bps > 9000 || self.curator_weight_bps > 9000 {
            return Err("parent_share_bps and curator_weight_bps are at most 9000".to_owned());
        }
        if self.floor_price > self.list_price || self.list_price == 0 {
            return Err("0 < floor_price <= list_price".to_owned());
        }
        if self.attacks.wash_per_thousand > 1000 {
            return Err("wash_per_thousand is at most 1000".to_owned());
        }
        if self.attacks.sybil_keys == 0 || self.attacks.sybil_keys > 1000 {
            return Err("sybil_keys must be between 1 and 1000".to_owned());
        }
        if self.candidates == 0 || self.candidates > 100 {
            return Err("candidates must be between 1 and 100".to_owned());
        }
        if !(self.value_per_quality.is_finite() && self.judgement_noise.is_finite()) {
            return Err("value_per_quality and judgement_noise must be numbers".to_owned());
        }
        Ok(())
    }
}
