//! `souk-bench negotiation`: license negotiation between real nodes on 127.0.0.1 in this process
//! (libp2p, signed offers and vouchers, licenses issued and recorded in SQLite on both sides).
//!
//! Latency: one buyer buys again and again (each purchase is a quote and an accept: two request
//! round trips). Throughput: several buyers buy at once from one seller.

use std::time::{Duration, Instant};

use serde_json::json;
use souk_node::network::NetEvent;
use souk_node::{DatasetSpec, NetConfig};
use souk_types::{DatasetId, PublicKey};
use tokio::sync::broadcast;

use crate::{round2, scratch_root, start_loopback_node};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len().saturating_sub(1)) as f64).round() as usize;
    sorted.get(rank).copied().unwrap_or(f64::NAN)
}

pub fn run(purchases: usize, buyers: usize, quiet: bool) -> anyhow::Result<()> {
    anyhow::ensure!(purchases > 0 && buyers > 0, "need purchases and buyers");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let base = tempfile::tempdir_in(scratch_root())?;
        // The per-peer request budget guards a seller against floods; here a few buyers buy as
        // fast as they can on purpose.
        let net = NetConfig {
            requests_per_window: u32::MAX,
            ..NetConfig::default()
        };
        let mut daemons = Vec::new();
        let mut receivers = Vec::new();
        for i in 0..=buyers {
            let dir = base.path().join(format!("node-{i}"));
            souk_node::data_dir::init(&dir)?;
            let bootstrap = daemons
                .first()
                .map(|d: &souk_node::Daemon| vec![d.listen_addrs[0].clone()])
                .unwrap_or_default();
            let (sender, receiver) = broadcast::channel(4096);
            daemons.push(start_loopback_node(&dir, bootstrap, &net, sender).await?);
            receivers.push(receiver);
        }
        let seller = &daemons[0];
        let file = base.path().join("payload.bin");
        std::fs::write(&file, vec![7u8; 4096])?;
        let client = souk_node::client::ApiClient::new(seller.api_addr, seller.token().to_owned());
        let spec = DatasetSpec {
            paths: vec![file],
            name: Some("negotiation".into()),
            price: Some(1),
            floor: Some(1),
            ..Default::default()
        };
        let id: DatasetId = tokio::task::spawn_blocking(move || {
            client.post::<_, souk_node::views::PublishView>("/v1/publish", &spec)
        })
        .await??
        .id
        .parse()?;
        let seller_key: PublicKey = seller.peer_id.parse()?;
        for events in receivers.iter_mut().skip(1) {
            tokio::time::timeout(Duration::from_secs(30), async {
                loop {
                    if let Ok(NetEvent::ManifestStored { id: got, .. }) = events.recv().await
                        && got == id
                    {
                        return;
                    }
                }
            })
            .await?;
        }

        // Latency: one buyer, one purchase at a time (the first warms the connection).
        let buyer = daemons[1].net().clone();
        buyer
            .buy(id, seller_key, 1, None)
            .await
            .map_err(anyhow::Error::msg)?;
        let mut millis = Vec::with_capacity(purchases);
        for _ in 0..purchases {
            let started = Instant::now();
            buyer
                .buy(id, seller_key, 1, None)
                .await
                .map_err(anyhow::Error::msg)?;
            millis.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        millis.sort_by(f64::total_cmp);

        // Throughput: every buyer at once.
        let started = Instant::now();
        let tasks: Vec<_> = daemons[1..]
            .iter()
            .map(|d| {
                let net = d.net().clone();
                tokio::spawn(async move {
                    for _ in 0..purchases {
                        net.buy(id, seller_key, 1, None).await?;
                    }
                    Ok::<_, String>(())
                })
            })
            .collect();
        for task in tasks {
            task.await?.map_err(anyhow::Error::msg)?;
        }
        let secs = started.elapsed().as_secs_f64();
        let per_sec = (purchases * buyers) as f64 / secs;
        let p50 = percentile(&millis, 50.0);
        if !quiet {
            eprintln!("purchase p50 {p50:.2} ms; {per_sec:.0} purchases/s with {buyers} buyers");
        }
        let report = json!({
            "bench": "negotiation",
            "purchases": purchases,
            "purchase_ms": {
                "p50": round2(p50),
                "p90": round2(percentile(&millis, 90.0)),
                "p99": round2(percentile(&millis, 99.0)),
            },
            "round_trips_per_purchase": 2,
            "round_trip_ms_p50": round2(p50 / 2.0),
            "concurrent_buyers": buyers,
            "seller_purchases_per_sec": round2(per_sec),
            "data_dirs": base.path().parent().map(|p| p.display().to_string()),
        });
        println!("{report}");
        for daemon in daemons {
            daemon.shutdown().await;
        }
        anyhow::Ok(())
    })
}
