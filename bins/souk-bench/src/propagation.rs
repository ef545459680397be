//! `souk-bench propagation`: how long a manifest takes to reach every catalog.

use std::time::{Duration, Instant};

use serde_json::json;
use souk_node::network::{ManifestSource, NetEvent};
use souk_node::{DatasetSpec, NetConfig};
use tokio::sync::broadcast;

use crate::{round2, start_loopback_node};

/// Waits for events until `deadline`, giving up quietly (the report counts what arrived).
async fn next_event(
    events: &mut broadcast::Receiver<NetEvent>,
    deadline: tokio::time::Instant,
) -> Option<NetEvent> {
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) => return Some(event),
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            _ => return None,
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn run(nodes: usize, degree: usize, quiet: bool) -> anyhow::Result<()> {
    anyhow::ensure!(nodes >= 2, "need at least 2 nodes");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let base = tempfile::tempdir()?;
        let net = NetConfig::default();
        let heartbeat = net.gossip_heartbeat;
        let net_mesh_n = net.gossip_mesh_n;
        let mut daemons = Vec::with_capacity(nodes);
        let mut receivers = Vec::with_capacity(nodes);
        let started = Instant::now();
        for i in 0..nodes {
            let dir = base.path().join(format!("node-{i}"));
            souk_node::data_dir::init(&dir)?;
            // Node i joins through up to `degree` earlier nodes: its predecessor and others
            // spread over the line, so the graph is connected with no hub.
            let mut bootstrap: Vec<String> = (1..=degree.min(i))
                .map(|k| i - (k * k).min(i))
                .map(|j| {
                    daemons
                        .get(j)
                        .map(|d: &souk_node::Daemon| d.listen_addrs[0].clone())
                })
                .collect::<Option<_>>()
                .unwrap_or_default();
            bootstrap.dedup();
            let (sender, receiver) = broadcast::channel(4096);
            daemons.push(start_loopback_node(&dir, bootstrap, &net, sender).await?);
            receivers.push(receiver);
        }
        if !quiet {
            eprintln!(
                "{nodes} nodes up in {:.1} s; waiting for gossip meshes",
                started.elapsed().as_secs_f64()
            );
        }
        // Every node must have a mesh peer before the announcement; then let a few heartbeats
        // settle the meshes.
        let mesh_deadline = Instant::now() + Duration::from_secs(60);
        for daemon in &daemons {
            while !daemon.net().peers().await.iter().any(|p| p.in_mesh) {
                anyhow::ensure!(Instant::now() < mesh_deadline, "gossip meshes did not form");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        tokio::time::sleep(heartbeat * 3).await;

        let publisher = &daemons[0];
        let file = base.path().join("payload.bin");
        std::fs::write(&file, vec![7u8; 4096])?;
        let client =
            souk_node::client::ApiClient::new(publisher.api_addr, publisher.token().to_owned());
        let spec = DatasetSpec {
            paths: vec![file],
            name: Some("propagation".into()),
            ..Default::default()
        };
        let publish = tokio::task::spawn_blocking(move || {
            client.post::<_, souk_node::views::PublishView>("/v1/publish", &spec)
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut receivers = receivers;
        let announced_at = loop {
            match next_event(&mut receivers[0], deadline).await {
                Some(NetEvent::Announced(_)) => break Instant::now(),
                Some(_) => continue,
                None => anyhow::bail!("the publisher never announced"),
            }
        };
        let id = publish.await??.id;
        // One task per node, so each arrival is timed when it happens.
        let waiters: Vec<_> = receivers
            .into_iter()
            .skip(1)
            .map(|mut events| {
                let id = id.clone();
                tokio::spawn(async move {
                    while let Some(event) = next_event(&mut events, deadline).await {
                        if let NetEvent::ManifestStored {
                            id: got, source, ..
                        } = event
                            && got.to_hex() == id
                        {
                            return Some((Instant::now(), source));
                        }
                    }
                    None
                })
            })
            .collect();
        let mut latencies = Vec::new();
        let (mut by_gossip, mut by_sync) = (0, 0);
        for waiter in waiters {
            if let Some((at, source)) = waiter.await? {
                latencies.push(at.duration_since(announced_at).as_secs_f64() * 1000.0);
                match source {
                    ManifestSource::Gossip => by_gossip += 1,
                    ManifestSource::Sync => by_sync += 1,
                }
            }
        }
        // Every copy a node received beyond the first is a duplicate.
        let mut counters = souk_node::network::GossipCounters::default();
        for daemon in &daemons {
            let c = daemon.net().gossip_counters().await;
            counters.received += c.received;
            counters.unique += c.unique;
        }
        latencies.sort_by(f64::total_cmp);
        let heartbeat_ms = heartbeat.as_secs_f64() * 1000.0;
        let within = latencies
            .iter()
            .filter(|l| **l <= 3.0 * heartbeat_ms)
            .count();
        let others = nodes - 1;
        println!(
            "{}",
            json!({
                "bench": "propagation",
                "nodes": nodes,
                "degree": degree,
                "heartbeat_ms": heartbeat_ms,
                "coverage": round2(latencies.len() as f64 / others as f64),
                "via_gossip": by_gossip,
                "via_sync": by_sync,
                "p50_ms": round2(percentile(&latencies, 50.0)),
                "p90_ms": round2(percentile(&latencies, 90.0)),
                "p99_ms": round2(percentile(&latencies, 99.0)),
                "max_ms": round2(latencies.last().copied().unwrap_or(f64::NAN)),
                "within_3_heartbeats": round2(within as f64 / others as f64),
                "gossip_copies_received": counters.received,
                "gossip_deliveries": counters.unique,
                "duplicates_per_delivery": round2(
                    (counters.received - counters.unique) as f64 / counters.unique.max(1) as f64
                ),
                "mesh_n": net_mesh_n,
            })
        );
        for daemon in daemons {
            daemon.shutdown().await;
        }
        Ok(())
    })
}
