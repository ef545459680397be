//! One run of the market: purchase after purchase, each negotiated by the node's own machines,
//! paid, split up the lineage and logged as a receipt.

use serde::Serialize;
use souk_core::negotiation::{
    Buyer, BuyerDecision, BuyerMessage, Policy, QuoteRequest, Seller, SellerMessage, Voucher,
};
use souk_crypto::merkle::{MerkleTree, leaf_hash};
use souk_types::{DatasetId, Lineage, PublicKey, UsageRights};

use crate::metrics::{gini, lorenz};
use crate::population::{Population, dataset_id, dataset_index, key, key_index};
use crate::rng::Rng;
use crate::scenario::{Scenario, Strategy};

const NETWORK: &str = "souk-sim";
/// Penalty a traced key reseller pays, in list prices, to the dataset's contributors.
const RESALE_PENALTY_PRICES: u64 = 10;
/// Share of candidates a buyer finds by popularity rather than at random.
const BY_POPULARITY: f64 = 0.5;
/// Popularity every listed dataset starts with, in sales: it keeps early luck from deciding
/// the whole market.
const BASE_POPULARITY: u64 = 20;

/// What one run produced.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outcome {
    pub sales: u64,
    /// Purchases that ended without agreement (the buyer valued the data under the floor).
    pub no_agreement: u64,
    /// Everything buyers paid, on the market and to key resellers.
    pub buyers_paid: u64,
    /// What reached earners' keys through receipts (wash trades excluded).
    pub contributor_income: u64,
    /// Paid for data that was never served.
    pub undelivered: u64,
    pub refused_duplicates: u64,
    pub traced_resales: u64,
    pub receipts: u64,
    /// The sum of every receipt's price, wash trades included.
    pub receipted: u64,
    /// The sum of every earner's earnings: equal to `receipted` when no unit is lost or made.
    pub earned: u64,
    /// Root of the receipt log (hex): the run's fingerprint.
    pub log_root: String,
    pub splits_exact: bool,
    /// Among contributors cast in no attack: Gini of their earnings and of their true contribution
    /// (quality x data).
    pub gini_earnings: f64,
    pub gini_contribution: f64,
    #[serde(skip)]
    pub honest_earnings: f64,
    #[serde(skip)]
    pub lorenz_earnings: Vec<f64>,
    #[serde(skip)]
    pub lorenz_contribution: Vec<f64>,
    /// The attackers' books.
    pub attacker: AttackerBooks,
}

/// The attackers' income and costs in one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AttackerBooks {
    /// Earnings of the earners who play the strategy (or would, in the baseline), by strategy.
    earnings: [f64; 5],
    /// What serving their sales cost them, by strategy.
    serving: [f64; 5],
    copy_income: f64,
    copy_cost: f64,
    wash_spent: f64,
    resale_income: f64,
    resale_spent: f64,
}

fn slot(strategy: Strategy) -> usize {
    Strategy::ALL
        .iter()
        .position(|s| *s == strategy)
        .unwrap_or_default()
}

impl Outcome {
    /// The strategy's return to its attackers, from this run and the baseline (see the README).
    pub fn attacker_roi(&self, baseline: &Outcome, strategy: Strategy) -> f64 {
        let (a, b, i) = (&self.attacker, &baseline.attacker, slot(strategy));
        let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { 0.0 };
        match strategy {
            Strategy::SybilSplitting => ratio(a.earnings[i], b.earnings[i]),
            Strategy::DuplicateFarming => ratio(a.copy_income, a.copy_cost),
            Strategy::WashTrading => ratio(a.earnings[i] - a.wash_spent, b.earnings[i]),
            Strategy::KeyResale => ratio(a.resale_income, a.resale_spent),
            Strategy::Withholding => {
                ratio(a.earnings[i] - a.serving[i], b.earnings[i] - b.serving[i])
            }
        }
    }
}

/// Sampling by weight in O(log n) (a Fenwick tree), with weights that only grow.
struct Popularity {
    tree: Vec<u64>,
}

impl Popularity {
    /// Room for `capacity` datasets, the first `listed` of them with weight 1.
    fn new(capacity: usize, listed: usize) -> Self {
        let mut p = Self {
            tree: vec![0; capacity + 1],
        };
        for i in 0..listed {
            p.add(i, BASE_POPULARITY);
        }
        p
    }

    fn get(&self, i: usize) -> u64 {
        self.prefix(i + 1) - self.prefix(i)
    }

    fn prefix(&self, mut n: usize) -> u64 {
        let mut sum = 0;
        while n > 0 {
            sum += self.tree[n];
            n -= n & n.wrapping_neg();
        }
        sum
    }

    fn add(&mut self, i: usize, amount: u64) {
        let mut n = i + 1;
        while n < self.tree.len() {
            self.tree[n] += amount;
            n += n & n.wrapping_neg();
        }
    }

    fn total(&self) -> u64 {
        self.prefix(self.tree.len() - 1)
    }

    /// The index holding the `target`-th unit of weight (target < total).
    fn find(&self, mut target: u64) -> usize {
        let mut pos = 0;
        let mut step = (self.tree.len() - 1).next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next < self.tree.len() && self.tree[next] <= target {
                target -= self.tree[next];
                pos = next;
            }
            step /= 2;
        }
        pos
    }
}

fn policy(list_price: u64, floor_price: u64) -> Policy {
    Policy {
        list_price,
        floor_price,
        currency: "SOUK".to_owned(),
        rights: UsageRights::Training,
        duration_secs: 365 * 24 * 3600,
        offer_ttl_ms: 60_000,
        max_rounds: 4,
    }
}

/// One purchase to negotiate.
struct Deal {
    purchase: u64,
    seller: PublicKey,
    buyer: PublicKey,
    dataset: DatasetId,
    terms: Policy,
    max_price: u64,
    bid: u64,
}

/// Negotiates one purchase with the node's seller and buyer machines; the agreed price, if any.
fn negotiate(deal: Deal) -> Option<u64> {
    let Deal {
        purchase,
        seller,
        buyer: buyer_key,
        dataset,
        terms,
        max_price,
        bid,
    } = deal;
    let now = purchase;
    let mut machine = Seller::new(seller, NETWORK, 4);
    let mut buyer = Buyer::new(max_price, Some(bid));
    let offer_id = |round: u8| {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&purchase.to_le_bytes());
        id[8] = round;
        id
    };
    let mut reply = machine.handle(
        now,
        offer_id(0),
        buyer_key,
        BuyerMessage::Quote(QuoteRequest {
            dataset,
            rights: UsageRights::Training,
            duration_secs: terms.duration_secs,
            bid: buyer.opening_bid(),
            network_id: NETWORK.to_owned(),
        }),
        |_| Some(terms),
    );
    for round in 1..=8u8 {
        let offer = match reply {
            SellerMessage::Offer(offer) => offer,
            _ => return None,
        };
        let message = match buyer.decide(&offer) {
            BuyerDecision::GiveUp => return None,
            BuyerDecision::Counter(bid) => BuyerMessage::Counter {
                offer: offer.id,
                bid,
            },
            BuyerDecision::Accept => {
                let mut channel = [0u8; 32];
                channel[..8].copy_from_slice(&purchase.to_le_bytes());
                BuyerMessage::Accept {
                    offer: offer.id,
                    voucher: Voucher {
                        channel,
                        lane: 0,
                        nonce: 1,
                        cumulative: offer.price,
                        payer: buyer_key,
                        payee: seller,
                        network_id: NETWORK.to_owned(),
                    },
                }
            }
        };
        reply = machine.handle(now, offer_id(round), buyer_key, message, |_| None);
        if let SellerMessage::Accepted { offer, .. } = &reply {
            return Some(offer.price);
        }
    }
    None
}

struct Run<'a> {
    scenario: &'a Scenario,
    population: Population,
    strategy: Option<Strategy>,
    defended: bool,
    earnings: Vec<u64>,
    listed: Vec<bool>,
    popularity: Popularity,
    /// Per buyer: the first seller it bought from, and whether it bought from another since.
    history: Vec<(u32, bool)>,
    leaked: Vec<(u32, u32)>,
    /// The datasets wash traders own, when wash trading is on.
    washed: Vec<u32>,
    log: MerkleTree,
    outcome: Outcome,
}

impl Run<'_> {
    fn attacks(&self, earner: u32, strategy: Strategy) -> bool {
        self.strategy == Some(strategy)
            && self.population.earners[earner as usize].attack == Some(strategy)
    }

    /// Splits `price` paid for `dataset` up its lineage, credits every part and logs the
    /// receipt; returns the total credited.
    fn receipt(&mut self, purchase: u64, dataset: u32, buyer: PublicKey, price: u64) -> u64 {
        let datasets = &self.population.datasets;
        let split = souk_types::split(price, dataset_id(dataset), &|id: &DatasetId| {
            datasets.get(dataset_index(id) as usize).map(|d| Lineage {
                contributors: &d.contributors,
                parents: &d.parents,
            })
        });
        let Ok(parts) = split else {
            self.outcome.splits_exact = false;
            return 0;
        };
        let total: u64 = parts.iter().map(|p| p.amount).sum();
        self.outcome.splits_exact &= total == price;
        let mut leaf = Vec::with_capacity(64 + parts.len() * 40);
        leaf.extend_from_slice(&purchase.to_le_bytes());
        leaf.extend_from_slice(dataset_id(dataset).as_bytes());
        leaf.extend_from_slice(buyer.as_bytes());
        leaf.extend_from_slice(&price.to_le_bytes());
        for part in &parts {
            let owner = self.population.key_owner[key_index(&part.contributor) as usize];
            self.earnings[owner as usize] += part.amount;
            leaf.extend_from_slice(&key_index(&part.contributor).to_le_bytes());
            leaf.extend_from_slice(&part.amount.to_le_bytes());
        }
        self.log.push(leaf_hash(&leaf));
        self.outcome.receipts += 1;
        self.outcome.receipted += price;
        total
    }

    fn pick(&self, draw: &mut Rng) -> Option<u32> {
        let n = self.population.datasets.len() as u64;
        for _ in 0..8 {
            let d = if draw.chance(BY_POPULARITY) {
                self.popularity
                    .find(draw.below(self.popularity.total().max(1))) as u32
            } else {
                draw.below(n) as u32
            };
            if self.listed.get(d as usize).copied().unwrap_or(false) {
                return Some(d);
            }
        }
        None
    }

    /// A wash trader buys one of its own datasets from a throwaway key, to look popular.
    fn wash(&mut self, purchase: u64, draw: &mut Rng) {
        if self.washed.is_empty() {
            return;
        }
        let d = self.washed[draw.below(self.washed.len() as u64) as usize];
        let price = self.population.datasets[d as usize].list_price;
        let throwaway = key(u32::MAX - (purchase % 1024) as u32, true);
        self.receipt(purchase, d, throwaway, price);
        self.outcome.attacker.wash_spent += price as f64;
        // With the defence, only buyers seen paying more than one seller make a dataset look
        // popular: a throwaway key never does.
        if !self.defended {
            self.popularity.add(d as usize, 1);
        }
    }

    fn farm_duplicates(&mut self) {
        let mut by_sales: Vec<(u64, u32)> = (0..self.population.datasets.len() as u32)
            .filter(|d| self.population.datasets[*d as usize].copy_of.is_none())
            .map(|d| (self.popularity.get(d as usize), d))
            .collect();
        by_sales.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let farmers: Vec<u32> = (0..self.population.earners.len() as u32)
            .filter(|e| self.attacks(*e, Strategy::DuplicateFarming))
            .collect();
        let mut targets = by_sales.into_iter().map(|(_, d)| d);
        for farmer in farmers {
            let Some(farmer_key) = self.population.key_owner.iter().position(|o| *o == farmer)
            else {
                continue;
            };
            for slot in 0..self.scenario.datasets_per_curator {
                let Some(original) = targets.next() else {
                    return;
                };
                let near = slot % 2 == 1;
                let copy = self
                    .population
                    .copy(original, farmer, farmer_key as u32, near);
                self.outcome.attacker.copy_cost += self.scenario.publish_cost as f64;
                // Duplicate detection at publish: a manifest whose content, or most of whose
                // shards, another dataset already has is refused unless it names it as parent.
                let refused = self.defended;
                self.listed.push(!refused);
                if refused {
                    self.outcome.refused_duplicates += 1;
                } else {
                    self.popularity.add(copy as usize, BASE_POPULARITY);
                }
            }
        }
    }
}

/// Room for the copies duplicate farmers may publish.
fn duplicate_room(scenario: &Scenario) -> usize {
    let curators = (scenario.agents as f64 * scenario.curator_share) as usize + 1;
    curators * scenario.datasets_per_curator as usize
}

/// Plays `scenario` once: with `strategy`'s attackers on (or none), with Souk's defences on or
/// off.
pub fn simulate(scenario: &Scenario, strategy: Option<Strategy>, defended: bool) -> Outcome {
    let rng = Rng::new(scenario.seed);
    let population = Population::build(scenario, &rng, strategy == Some(Strategy::SybilSplitting));
    let datasets = population.datasets.len();
    let buyers = population.buyers as usize;
    let mut run = Run {
        scenario,
        earnings: vec![0; population.earners.len()],
        listed: vec![true; datasets],
        popularity: Popularity::new(datasets + duplicate_room(scenario), datasets),
        history: vec![(u32::MAX, false); buyers],
        leaked: vec![(0, 0); datasets + duplicate_room(scenario)],
        washed: Vec::new(),
        log: MerkleTree::new(),
        population,
        strategy,
        defended,
        outcome: Outcome {
            sales: 0,
            no_agreement: 0,
            buyers_paid: 0,
            contributor_income: 0,
            undelivered: 0,
            refused_duplicates: 0,
            traced_resales: 0,
            receipts: 0,
            receipted: 0,
            earned: 0,
            log_root: String::new(),
            splits_exact: true,
            gini_earnings: 0.0,
            gini_contribution: 0.0,
            honest_earnings: 0.0,
            lorenz_earnings: Vec::new(),
            lorenz_contribution: Vec::new(),
            attacker: AttackerBooks::default(),
        },
    };
    run.washed = (0..datasets as u32)
        .filter(|d| {
            let curator = run.population.datasets[*d as usize].curator;
            run.attacks(curator, Strategy::WashTrading)
        })
        .collect();
    let mut draw = rng.fork(2);
    let vpq = scenario.value_per_quality;
    for purchase in 0..scenario.purchases {
        if strategy == Some(Strategy::DuplicateFarming) && purchase == scenario.purchases / 10 {
            run.farm_duplicates();
        }
        let buyer = draw.below(buyers as u64) as u32;
        let buyer_key = key(buyer, true);
        let mut best: Option<(f64, u32, bool, f64)> = None;
        for _ in 0..scenario.candidates {
            let Some(d) = run.pick(&mut draw) else {
                continue;
            };
            let dataset = &run.population.datasets[d as usize];
            let estimate = (dataset.quality + draw.normal(scenario.judgement_noise)).max(0.0);
            let value = vpq * estimate;
            let leak = run.leaked[d as usize].1 > 0;
            let price = if leak {
                dataset.list_price / 2
            } else {
                dataset.list_price
            };
            let surplus = value - price as f64;
            if best.is_none_or(|(s, ..)| surplus > s) {
                best = Some((surplus, d, leak, value));
            }
        }
        let Some((_, d, leak, value)) = best else {
            continue;
        };
        let dataset = run.population.datasets[d as usize].clone();
        let value = value as u64;
        if leak {
            // Bought off the market from a reseller: nobody upstream is paid.
            let price = dataset.list_price / 2;
            if value < price {
                continue;
            }
            let (reseller, copies) = run.leaked[d as usize];
            run.leaked[d as usize] = (reseller, copies - 1);
            run.outcome.buyers_paid += price;
            run.outcome.attacker.resale_income += price as f64;
            if defended && draw.chance(scenario.attacks.resale_trace_chance) {
                // Per-buyer keys name the leaker: it pays the contributors and its leak ends.
                let penalty = dataset.list_price * RESALE_PENALTY_PRICES;
                let paid = run.receipt(purchase, d, key(reseller, true), penalty);
                run.outcome.contributor_income += paid;
                run.outcome.buyers_paid += penalty;
                run.outcome.attacker.resale_spent += penalty as f64;
                run.outcome.traced_resales += 1;
                run.leaked[d as usize] = (reseller, 0);
            }
            continue;
        }
        let curator = dataset.curator;
        let seller_key = dataset
            .contributors
            .last()
            .map(|c| c.key)
            .unwrap_or(buyer_key);
        let bid = value * 3 / 5;
        let Some(price) = negotiate(Deal {
            purchase,
            seller: seller_key,
            buyer: buyer_key,
            dataset: dataset.id,
            terms: policy(dataset.list_price, dataset.floor_price),
            max_price: value,
            bid,
        }) else {
            run.outcome.no_agreement += 1;
            continue;
        };
        let withholds = run.attacks(curator, Strategy::Withholding);
        if withholds && defended {
            // Paid per delivered shard: a publisher that serves nothing is paid nothing.
            continue;
        }
        run.outcome.sales += 1;
        run.outcome.buyers_paid += price;
        if withholds {
            run.outcome.undelivered += price;
        } else {
            let serving = price as f64 * scenario.serving_cost_share;
            for strategy in Strategy::ALL {
                if run.population.earners[curator as usize].attack == Some(strategy) {
                    run.outcome.attacker.serving[slot(strategy)] += serving;
                }
            }
        }
        let paid = run.receipt(purchase, d, buyer_key, price);
        run.outcome.contributor_income += paid;
        if dataset.copy_of.is_some() {
            run.outcome.attacker.copy_income += price as f64;
        }
        // Popularity: with the defence, only buyers seen paying more than one seller count.
        let (first, multiple) = run.history[buyer as usize];
        run.history[buyer as usize] = match first {
            u32::MAX => (curator, false),
            f => (f, multiple || f != curator),
        };
        if !defended || run.history[buyer as usize].1 {
            run.popularity.add(d as usize, 1);
        }
        if strategy == Some(Strategy::KeyResale) && buyer < run.population.resellers {
            run.leaked[d as usize] = (buyer, scenario.attacks.resale_copies);
            run.outcome.attacker.resale_spent += price as f64;
        }
        if strategy == Some(Strategy::WashTrading)
            && draw.chance(f64::from(scenario.attacks.wash_per_thousand) / 1000.0)
        {
            run.wash(purchase, &mut draw);
        }
    }
    finish(run)
}

fn finish(mut run: Run<'_>) -> Outcome {
    let earners = &run.population.earners;
    let mut honest = Vec::new();
    let mut contribution = Vec::new();
    for (i, earner) in earners.iter().enumerate() {
        let earned = run.earnings[i] as f64;
        // Everyone cast as an attacker stays out of the honest figures in every run, so runs
        // compare the same people.
        if let Some(strategy) = earner.attack {
            run.outcome.attacker.earnings[slot(strategy)] += earned;
            continue;
        }
        if !earner.curator {
            honest.push(earned);
            contribution.push(earner.quality * earner.bytes);
        }
        run.outcome.honest_earnings += earned;
    }
    run.outcome.earned = run.earnings.iter().sum();
    run.outcome.gini_earnings = gini(&honest);
    run.outcome.gini_contribution = gini(&contribution);
    run.outcome.lorenz_earnings = lorenz(&honest, 20);
    run.outcome.lorenz_contribution = lorenz(&contribution, 20);
    run.outcome.log_root = hex::encode(run.log.root());
    run.outcome
}
