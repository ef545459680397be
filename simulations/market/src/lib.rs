//! Souk's economic simulator: a deterministic discrete-event market of contributors, curators,
//! buyers and attackers, at a scale no real network on one machine reaches.
//!
//! It runs the node's own protocol code: every purchase is negotiated by the `souk-core` seller
//! and buyer machines (with a voucher), paid revenue is split by `souk_types::split` up the
//! lineage, and every receipt is a leaf of an RFC 6962 log (`souk-crypto::merkle`). What is
//! modelled rather than run: who picks what (a seeded generator), network delay (none), and
//! money (integer units in memory).
//!
//! [`run`] plays the scenario once with every attacker honest (the baseline), then once per
//! attack strategy with its attackers on, without and with Souk's defences, from the same seed,
//! and compares each run with the baseline. Same scenario and seed, same report, byte for byte.

mod market;
mod metrics;
mod population;
mod rng;
mod scenario;

pub use market::{AttackerBooks, Outcome, simulate};
pub use metrics::{gini, lorenz};
pub use scenario::{Attacks, Scenario, Strategy};

use serde::Serialize;

/// What one strategy did, against the baseline.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StrategyReport {
    pub strategy: Strategy,
    pub defended: bool,
    /// Attackers' return: what the strategy earned them over what it cost them (for sybil
    /// splitting: their earnings over what the same people earned honestly).
    pub attacker_roi: f64,
    /// Share of honest earners' baseline earnings they lost.
    pub honest_loss: f64,
    /// Share of what buyers paid for data that was never served.
    pub buyer_loss: f64,
    /// Share of what buyers paid that reached contributors' keys.
    pub revenue_to_contributors: f64,
    pub gini_earnings: f64,
    pub sales: u64,
    /// Every receipt's split summed to its price.
    pub splits_exact: bool,
}

/// The simulator's whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub scenario: Scenario,
    /// Everyone honest, defences off and on.
    pub baseline: Outcome,
    pub baseline_defended: Outcome,
    pub strategies: Vec<StrategyReport>,
    /// Lorenz curves (20 points) of honest contributors' true contribution and of their
    /// baseline earnings.
    pub lorenz_contribution: Vec<f64>,
    pub lorenz_earnings: Vec<f64>,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Plays the baseline and every strategy of `scenario`.
pub fn run(scenario: &Scenario) -> Result<Report, String> {
    scenario.validate()?;
    // Runs are independent: play them on every core, then read them in a fixed order.
    let plays: Vec<(Option<Strategy>, bool)> = [None]
        .into_iter()
        .chain(Strategy::ALL.map(Some))
        .flat_map(|s| [(s, false), (s, true)])
        .collect();
    let mut outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = plays
            .iter()
            .map(|(strategy, defended)| {
                scope.spawn(move || simulate(scenario, *strategy, *defended))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| "a simulation run failed".to_owned()))
            .collect::<Result<Vec<Outcome>, String>>()
    })?
    .into_iter()
    .rev()
    .collect();
    let mut next = || outcomes.pop().ok_or_else(|| "a run is missing".to_owned());
    let baseline = next()?;
    let baseline_defended = next()?;
    let mut strategies = Vec::new();
    for strategy in Strategy::ALL {
        for defended in [false, true] {
            let outcome = next()?;
            let baseline = if defended {
                &baseline_defended
            } else {
                &baseline
            };
            strategies.push(StrategyReport {
                strategy,
                defended,
                attacker_roi: outcome.attacker_roi(baseline, strategy),
                honest_loss: 1.0 - ratio(outcome.honest_earnings, baseline.honest_earnings),
                buyer_loss: ratio(outcome.undelivered as f64, outcome.buyers_paid as f64),
                revenue_to_contributors: ratio(
                    outcome.contributor_income as f64,
                    outcome.buyers_paid as f64,
                ),
                gini_earnings: outcome.gini_earnings,
                sales: outcome.sales,
                splits_exact: outcome.splits_exact,
            });
        }
    }
    Ok(Report {
        lorenz_contribution: baseline.lorenz_contribution.clone(),
        lorenz_earnings: baseline.lorenz_earnings.clone(),
        scenario: scenario.clone(),
        baseline,
        baseline_defended,
        strategies,
    })
}
