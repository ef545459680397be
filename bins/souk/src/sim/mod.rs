//! `souk sim`: the simulators, their reports and plots.

mod plots;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// The economic simulation: many agents and attackers trading through the node's own
    /// negotiation, split and receipt-log code, with and without Souk's defences.
    Market(MarketArgs),
    /// Real nodes in this process on 127.0.0.1: a partition that heals, free riders, churn,
    /// purchases and anchoring, measured.
    Net(NetArgs),
}

#[derive(Debug, Args)]
pub struct NetArgs {
    /// A scenario file (TOML); the defaults (10 nodes) without one.
    scenario: Option<PathBuf>,
    #[arg(long, value_name = "N")]
    nodes: Option<usize>,
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Where report.json and the plots go (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Checks a scenario and makes its output folder.
fn prepare(checked: Result<(), String>, out: &Path) -> anyhow::Result<()> {
    checked.map_err(|e| anyhow::anyhow!("invalid scenario: {e}"))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
}

fn write_report(out: &Path, report: &impl serde::Serialize) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    let path = out.join("report.json");
    std::fs::write(&path, format!("{json}\n"))
        .with_context(|| format!("writing {}", path.display()))
}

pub async fn net(args: NetArgs) -> anyhow::Result<()> {
    let mut scenario: souk_sim_net::NetScenario = read_scenario(args.scenario.as_deref())?;
    if let Some(nodes) = args.nodes {
        scenario.nodes = nodes;
    }
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    prepare(scenario.validate(), &args.out)?;
    let work = tempfile::tempdir()?;
    let report = souk_sim_net::run(&scenario, work.path()).await?;
    write_report(&args.out, &report)?;
    plots::propagation(&args.out.join("propagation.png"), &report)?;
    plots::throughput(&args.out.join("throughput.png"), &report)?;
    plots::memory(&args.out.join("memory.png"), &report)?;
    let p = &report.propagation_ms;
    out!(
        "network: {} nodes ({} light, {} free riders), heartbeat {} ms: manifest coverage {:.0}%, {:.0}% \
         within 3 heartbeats; propagation p50 {} p90 {} p99 {} max {} ms; {:.2} duplicate \
         copies per delivery",
        report.nodes,
        report.light_nodes,
        report.free_riders,
        scenario.heartbeat_ms,
        100.0 * report.coverage,
        100.0 * report.within_3_heartbeats,
        p.p50,
        p.p90,
        p.p99,
        p.max,
        report.duplicates_per_delivery
    );
    out!(
        "catch-up: after the partition healed p50 {} max {} ms ({} nodes); after restart p50 {} \
         max {} ms ({} nodes)",
        report.partition_catch_up_ms.p50,
        report.partition_catch_up_ms.max,
        report.partition_catch_up_ms.count,
        report.churn_catch_up_ms.p50,
        report.churn_catch_up_ms.max,
        report.churn_catch_up_ms.count
    );
    for b in &report.purchases {
        out!(
            "buyer node {}: paid {}, {} ms to find providers, negotiate, pay and get access, \
             then {} bytes from {} provider(s) at {} MiB/s",
            b.node,
            b.price,
            b.setup_ms,
            b.fetched_bytes,
            b.providers,
            b.mib_per_s
        );
    }
    out!(
        "{} receipts anchored with {} cosignature(s); memory {:.1} MiB per node, CPU {:.2} s \
         per node; {:.1} s in all; report and plots in {}",
        report.receipts_anchored,
        report.cosignatures,
        report.memory_per_node_mib,
        report.cpu_seconds_per_node,
        report.elapsed_s,
        args.out.display()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct MarketArgs {
    /// A scenario file (TOML); the defaults without one.
    scenario: Option<PathBuf>,
    #[arg(long, value_name = "N")]
    agents: Option<u64>,
    #[arg(long, value_name = "N")]
    purchases: Option<u64>,
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Where report.json and the plots go (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Largest scenario file read.
const MAX_SCENARIO_BYTES: u64 = 1 << 20;

pub(crate) fn read_scenario<T: serde::de::DeserializeOwned + Default>(
    path: Option<&Path>,
) -> anyhow::Result<T> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_SCENARIO_BYTES,
        "{} is too large to be a scenario",
        path.display()
    );
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))
}

pub fn market(args: MarketArgs) -> anyhow::Result<()> {
    let mut scenario: souk_sim_market::Scenario = read_scenario(args.scenario.as_deref())?;
    if let Some(agents) = args.agents {
        scenario.agents = agents;
    }
    if let Some(purchases) = args.purchases {
        scenario.purchases = purchases;
    }
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    prepare(scenario.validate(), &args.out)?;
    let started = Instant::now();
    let report = souk_sim_market::run(&scenario).map_err(anyhow::Error::msg)?;
    let elapsed = started.elapsed();
    write_report(&args.out, &report)?;
    plots::lorenz(&args.out.join("lorenz.png"), &report)?;
    plots::roi(&args.out.join("roi.png"), &report)?;

    let base = &report.baseline;
    out!(
        "market: {} agents, {} purchases, seed {}: {} sales in the baseline, {:.1}% of revenue \
         to contributors, Gini of earnings {:.3} against {:.3} of true contribution",
        scenario.agents,
        scenario.purchases,
        scenario.seed,
        base.sales,
        100.0 * base.contributor_income as f64 / (base.buyers_paid.max(1)) as f64,
        base.gini_earnings,
        base.gini_contribution
    );
    out!(
        "{:<18} {:<9} {:>12} {:>12} {:>16}",
        "strategy",
        "defences",
        "attacker ROI",
        "honest loss",
        "to contributors"
    );
    for s in &report.strategies {
        out!(
            "{:<18} {:<9} {:>12.3} {:>11.2}% {:>15.1}%",
            serde_json::to_value(s.strategy)?
                .as_str()
                .unwrap_or_default(),
            if s.defended { "on" } else { "off" },
            s.attacker_roi,
            100.0 * s.honest_loss,
            100.0 * s.revenue_to_contributors
        );
    }
    out!(
        "{} runs of {} purchases in {:.1} s; report and plots in {}",
        2 + report.strategies.len(),
        scenario.purchases,
        elapsed.as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
