//! `souk sim`: the simulators run from the command line, write reports that parse and plots
//! that are PNG images, and a bad scenario is a clear error.

mod common;

use std::path::Path;

use common::souk;

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../simulations/scenarios")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"\x89PNG\r\n\x1a\n"))
}

#[test]
fn the_market_simulation_writes_the_same_report_twice_and_its_plots() {
    let base = tempfile::tempdir().expect("tempdir");
    let mut reports = Vec::new();
    for run in ["one", "two"] {
        let out = base.path().join(run);
        let done = souk(
            base.path(),
            &[
                "sim",
                "market",
                &scenario("market-small.toml"),
                "--out",
                out.to_str().expect("utf8"),
            ],
        );
        assert!(done.status.success(), "{}", done.stderr);
        assert!(done.stdout.contains("key_resale"), "{}", done.stdout);
        assert!(is_png(&out.join("lorenz.png")) && is_png(&out.join("roi.png")));
        reports.push(std::fs::read(out.join("report.json")).expect("report"));
    }
    assert_eq!(reports[0], reports[1], "same scenario and seed, same bytes");
    let report: serde_json::Value = serde_json::from_slice(&reports[0]).expect("json");
    assert_eq!(report["strategies"].as_array().map(Vec::len), Some(10));
    assert_eq!(report["baseline"]["splits_exact"], true);
    assert_eq!(
        report["baseline"]["earned"],
        report["baseline"]["receipted"]
    );
}

/// Plays a network scenario of `nodes` nodes, 2 churned and 2 buyers, `light` of them light,
/// and checks what every run must show.
fn plays_net_scenario(name: &str, nodes: u64, light: u64) {
    let base = tempfile::tempdir().expect("tempdir");
    let out = base.path().join("net");
    let done = souk(
        base.path(),
        &[
            "sim",
            "net",
            &scenario(name),
            "--out",
            out.to_str().expect("utf8"),
        ],
    );
    assert!(done.status.success(), "{}", done.stderr);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["nodes"], nodes);
    assert_eq!(report["light_nodes"], light);
    assert_eq!(report["coverage"], 1.0, "{report}");
    // Every node of the other half and every restarted node caught up.
    assert_eq!(
        report["partition_catch_up_ms"]["count"],
        nodes / 2,
        "{report}"
    );
    assert_eq!(report["churn_catch_up_ms"]["count"], 2, "{report}");
    let purchases = report["purchases"].as_array().expect("purchases");
    assert_eq!(purchases.len(), 2);
    assert!(
        purchases
            .iter()
            .all(|p| p["fetched_bytes"].as_u64() > Some(512 * 1024))
    );
    // Two sales and their deliveries, anchored with the cosignatures of the publisher's peers.
    assert!(report["receipts_anchored"].as_u64() >= Some(4), "{report}");
    assert!(report["cosignatures"].as_u64() >= Some(1), "{report}");
    for plot in ["propagation.png", "throughput.png", "memory.png"] {
        assert!(is_png(&out.join(plot)), "{plot}");
    }
}

#[test]
fn ten_real_nodes_propagate_heal_buy_and_anchor() {
    plays_net_scenario("net-smoke.toml", 10, 0);
}

/// Light nodes on the memory transport: a restarted one comes back on its old port, and the
/// buyers find the publisher through the DHT that only whole nodes serve.
#[test]
fn forty_nodes_mostly_light_propagate_heal_buy_and_anchor() {
    plays_net_scenario("net-light-smoke.toml", 40, 37);
}

#[test]
fn a_bad_scenario_is_refused_with_a_clear_error() {
    let base = tempfile::tempdir().expect("tempdir");
    let bad = base.path().join("bad.toml");
    std::fs::write(&bad, "agents = \"many\"\n").expect("write");
    let out = base.path().join("out");
    souk(
        base.path(),
        &[
            "sim",
            "market",
            bad.to_str().expect("utf8"),
            "--out",
            out.to_str().expect("utf8"),
        ],
    )
    .fails_with("bad.toml");
    souk(
        base.path(),
        &[
            "sim",
            "market",
            "--agents",
            "5",
            "--out",
            out.to_str().expect("utf8"),
        ],
    )
    .fails_with("agents must be between");
}
