//! Real nodes on 127.0.0.1: gossip across a line of nodes, catch-up sync for late joiners,
//! restarts, bad peers, and the control API's token.

use std::time::Duration;

use futures::StreamExt;
use souk_crypto::{NodeKey, SignedManifest, envelope};
use souk_net::libp2p::gossipsub;
use souk_net::libp2p::swarm::SwarmEvent;
use souk_net::libp2p::{Multiaddr, PeerId};
use souk_net::{BehaviourEvent, manifest_topic};
use souk_network_tests::{
    DEADLINE, catalog_ids, eventually, net_config, start, start_in, start_tuned,
};
use souk_node::NodeError;
use souk_node::network::{ManifestSource, NetEvent};
use souk_node::views::SummaryView;
use souk_types::{
    Contributor, Encryption, EncryptionScheme, MEDIA_TYPE_FILES, Manifest, ShardSet, TOTAL_BPS,
};

/// Waits until `node` has every one of `peers` in its gossip mesh.
async fn meshed(node: &souk_network_tests::TestNode, peers: &[&String]) {
    eventually("the gossip mesh to form", || async {
        let connected = node.peers().await;
        peers
            .iter()
            .all(|id| connected.iter().any(|p| &&p.peer_id == id && p.in_mesh))
    })
    .await;
}

fn stored(id: &str) -> impl FnMut(&NetEvent) -> Option<(ManifestSource, PeerId)> + '_ {
    move |event| match event {
        NetEvent::ManifestStored {
            id: got,
            source,
            from,
        } if got.to_hex() == id => Some((*source, *from)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_published_on_a_reaches_c_through_b_by_gossip() {
    let a = start(&[]).await;
    let b = start(&[a.addr()]).await;
    let mut c = start(&[b.addr()]).await;
    let (a_id, c_id) = (a.daemon.peer_id.clone(), c.daemon.peer_id.clone());
    meshed(&b, &[&a_id, &c_id]).await;

    let id = a.publish("line", b"through the line").await;
    let (source, from) = c.wait_for("C to store A's manifest", stored(&id)).await;
    assert_eq!(source, ManifestSource::Gossip);
    assert_eq!(from.to_string(), b.daemon.peer_id, "C heard it from B");

    // A advertised itself as the provider; C finds it through the DHT.
    let dataset = id.parse().expect("id");
    eventually("C to find A as provider", || async {
        c.daemon.net().providers(dataset).await.contains(&a_id)
    })
    .await;
    for node in [a, b, c] {
        node.shutdown().await;
    }
}

/// A hub that wants one peer and keeps gossip meshes of at most two peers per topic (two
/// topics) lets the others go once they are idle, and keeps its meshes.
/// A manifest published while a connected peer is not yet subscribed (it synced before the
/// manifest existed) is gossiped to it as soon as it subscribes, not at the next sync round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_subscribes_after_a_publication_still_hears_it_by_gossip() {
    let mut a = start(&[]).await;
    let mut listener = souk_net::build_swarm(
        [42; 32],
        &net_config(),
        &mut souk_net::MetricsRegistry::default(),
    )
    .expect("swarm");
    let listener_id = *listener.local_peer_id();
    listener
        .behaviour_mut()
        .gossipsub
        .unsubscribe(&manifest_topic());
    listener
        .dial(a.addr().parse::<Multiaddr>().expect("addr"))
        .expect("dial");
    {
        let connected = a.wait_for("A to see the listener", |e| {
            matches!(e, NetEvent::PeerConnected(p) if *p == listener_id).then_some(())
        });
        tokio::pin!(connected);
        loop {
            tokio::select! {
                () = &mut connected => break,
                _ = listener.select_next_some() => {}
            }
        }
    }

    let id = a
        .publish("early", b"published before the listener listens")
        .await;
    listener
        .behaviour_mut()
        .gossipsub
        .subscribe(&manifest_topic())
        .expect("subscribe");
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                message,
                ..
            })) = listener.select_next_some().await
                && message.topic == manifest_topic().hash()
                && SignedManifest::open(&message.data).is_ok_and(|m| m.id.to_hex() == id)
            {
                return;
            }
        }
    })
    .await
    .expect("the manifest gossiped once the listener subscribed");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lets_go_of_idle_peers_beyond_its_target_but_keeps_its_mesh() {
    let dir = tempfile::tempdir().expect("tempdir");
    souk_node::data_dir::init(dir.path()).expect("init");
    let mut config = souk_node::data_dir::load_config(dir.path()).expect("config");
    config.network = souk_node::NetworkConfig::loopback(&[]);
    let net = souk_node::NetConfig {
        target_peers: 1,
        prune_grace: Duration::from_millis(500),
        gossip_mesh_n: 1,
        ..net_config()
    };
    let mut hub = start_tuned(dir, &config, net).await;
    let mut spokes = Vec::new();
    for _ in 0..6 {
        spokes.push(start(&[hub.addr()]).await);
    }
    let mut met = std::collections::HashSet::new();
    while met.len() < 6 {
        met.insert(
            hub.wait_for("the spokes to connect", |e| match e {
                NetEvent::PeerConnected(peer) => Some(*peer),
                _ => None,
            })
            .await,
        );
    }
    eventually("the hub to keep only its meshes", || async {
        let peers = hub.peers().await;
        peers.len() <= 4 && peers.iter().any(|p| p.in_mesh)
    })
    .await;
    for node in spokes.into_iter().chain([hub]) {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_catches_up_by_sync_and_restarts_with_catalog_and_peers() {
    let a = start(&[]).await;
    let parent = a.publish("parent", b"parent data").await;
    let child = a
        .publish_derived("child", b"child data", &[format!("{parent}=2500")])
        .await;
    let other = a.publish("other", b"other data").await;

    // D joins after all three were published: nobody was there to gossip them to.
    let mut d = start(&[a.addr()]).await;
    let mut learned = Vec::new();
    while learned.len() < 3 {
        let (id, source) = d
            .wait_for("D to sync A's catalog", |e| match e {
                NetEvent::ManifestStored { id, source, .. } => Some((id.to_hex(), *source)),
                _ => None,
            })
            .await;
        assert_eq!(source, ManifestSource::Sync);
        learned.push(id);
    }
    // Pages come in A's insertion order: the parent before its child.
    let position = |id: &String| learned.iter().position(|x| x == id).expect("learned");
    assert!(position(&parent) < position(&child));
    assert!(learned.contains(&other));

    // Restarted without any bootstrap address, D keeps its catalog and redials A.
    let a_peer: PeerId = a.daemon.peer_id.parse().expect("peer id");
    let dir = d.shutdown().await;
    let mut ids = catalog_ids(dir.path()).await;
    ids.sort();
    let mut expected = vec![parent, child, other];
    expected.sort();
    assert_eq!(ids, expected);
    let mut d = start_in(dir, &[]).await;
    d.wait_for("D to redial A", |e| {
        matches!(e, NetEvent::PeerConnected(p) if *p == a_peer).then_some(())
    })
    .await;
    // Its cursor was kept: a new sync brings nothing twice (the catalog stays at 3).
    d.wait_for("D's sync with A to end", |e| {
        matches!(e, NetEvent::SyncDone(p) if *p == a_peer).then_some(())
    })
    .await;
    assert_eq!(catalog_count(&d).await, 3);
    d.shutdown().await;
    a.shutdown().await;
}

async fn catalog_count(node: &souk_network_tests::TestNode) -> usize {
    let client = node.client();
    tokio::task::spawn_blocking(move || client.get::<Vec<SummaryView>>("/v1/datasets"))
        .await
        .expect("join")
        .expect("list")
        .len()
}

fn manifest_by(key: &NodeKey, weight_bps: u32, salt: u8) -> Manifest {
    Manifest {
        name: format!("attack {salt}"),
        description: String::new(),
        tags: Vec::new(),
        media_type: MEDIA_TYPE_FILES.to_owned(),
        version: 1,
        previous_version: None,
        publisher: key.public(),
        created_at_ms: 1,
        encryption: Encryption {
            scheme: EncryptionScheme::ChaCha20Poly1305V1,
            key_commitment: [salt; 32],
            plaintext_commitment: [salt; 32],
        },
        shards: ShardSet {
            shard_size: 4096,
            shard_count: 1,
            plaintext_size: 100,
            root: [salt; 32],
            hashes: vec![[salt; 32]],
        },
        contributors: vec![Contributor {
            key: key.public(),
            weight_bps,
        }],
        parents: Vec::new(),
        offers: Vec::new(),
    }
}

/// Payloads a hostile peer gossips, each of a different kind of invalid.
fn invalid_payloads(key: &NodeKey) -> Vec<(&'static str, Vec<u8>)> {
    let valid = SignedManifest::sign(key, manifest_by(key, TOTAL_BPS, 1)).expect("sign");
    let mut bad_signature = valid.envelope.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 0x01;
    let bad_weights = envelope::seal(
        key,
        "manifest",
        souk_proto::encode_manifest(&manifest_by(key, TOTAL_BPS - 1, 2)),
    );
    vec![
        ("malformed bytes", vec![0xff; 300]),
        ("bad signature", bad_signature),
        ("oversize", vec![0x0a; 63_000]),
        ("bad weights", bad_weights),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_are_rejected_not_stored_not_relayed_and_cost_score() {
    let mut b = start(&[]).await;
    let mut c = start(&[b.addr()]).await;
    let b_peer: PeerId = b.daemon.peer_id.parse().expect("peer id");
    let b_addr: Multiaddr = b.addr().parse().expect("addr");
    let mut attackers = Vec::new();
    for (i, (kind, payload)) in invalid_payloads(&NodeKey::from_seed([9; 32]))
        .into_iter()
        .enumerate()
    {
        let mut seed = [0u8; 32];
        seed[0] = 100 + i as u8;
        let mut swarm = souk_net::build_swarm(
            seed,
            &net_config(),
            &mut souk_net::MetricsRegistry::default(),
        )
        .expect("swarm");
        let attacker = *swarm.local_peer_id();
        swarm.dial(b_addr.clone()).expect("dial");
        tokio::time::timeout(DEADLINE, async {
            loop {
                if let SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(
                    gossipsub::Event::Subscribed { peer_id, .. },
                )) = swarm.select_next_some().await
                    && peer_id == b_peer
                {
                    return;
                }
            }
        })
        .await
        .expect("B subscribed");
        swarm
            .behaviour_mut()
            .gossipsub
            .publish(manifest_topic(), payload)
            .expect("publish");
        attackers.push(tokio::spawn(async move {
            loop {
                swarm.select_next_some().await;
            }
        }));
        let reason = b
            .wait_for(kind, |e| match e {
                NetEvent::Rejected { from, reason } if *from == attacker => Some(reason.clone()),
                _ => None,
            })
            .await;
        assert!(reason.contains("invalid manifest"), "{kind}: {reason}");
        let attacker_id = attacker.to_string();
        eventually("the attacker's score to drop", || async {
            b.peers()
                .await
                .iter()
                .find(|p| p.peer_id == attacker_id)
                .is_none_or(|p| p.gossip_score.is_some_and(|s| s < 0.0))
        })
        .await;
    }

    // An honest publisher's manifest still flows B -> C, and it is all C ever stored.
    let a = start(&[b.addr()]).await;
    let a_id = a.daemon.peer_id.clone();
    let c_id = c.daemon.peer_id.clone();
    meshed(&b, &[&a_id, &c_id]).await;
    let id = a.publish("honest", b"honest data").await;
    c.wait_for("C to store the honest manifest", stored(&id))
        .await;
    assert_eq!(catalog_count(&c).await, 1);
    assert_eq!(catalog_count(&b).await, 1);
    while let Ok(event) = c.events.try_recv() {
        assert!(
            !matches!(event, NetEvent::Rejected { .. }),
            "B relayed garbage: {event:?}"
        );
    }
    for attacker in attackers {
        attacker.abort();
    }
    for node in [a, b, c] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_joined_over_quic_gossip_and_sync() {
    let a = start(&[]).await;
    let early = a.publish("before", b"published before B joined").await;
    let mut b = start(&[a.quic_addr()]).await;
    let (source, _) = b.wait_for("B to sync over QUIC", stored(&early)).await;
    assert_eq!(source, ManifestSource::Sync);
    let peers = a.peers().await;
    assert!(
        peers
            .iter()
            .any(|p| p.addrs.iter().any(|addr| addr.contains("/quic-v1"))),
        "A sees no QUIC connection: {peers:?}"
    );
    let b_id = b.daemon.peer_id.clone();
    meshed(&a, &[&b_id]).await;
    let late = a.publish("after", b"published while B listens").await;
    let (source, _) = b
        .wait_for("B to hear the gossip over QUIC", stored(&late))
        .await;
    assert_eq!(source, ManifestSource::Gossip);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_negotiate_licenses_peer_to_peer_and_pay_by_voucher() {
    let a = start(&[]).await;
    let seller: souk_types::PublicKey = a.daemon.peer_id.parse().expect("key");
    let mut b = start(&[a.addr()]).await;
    let mut c = start(&[a.addr()]).await;
    let id = a
        .publish_priced("priced", b"worth paying for", 100, 60)
        .await;
    b.wait_for("B to learn the dataset", stored(&id)).await;
    c.wait_for("C to learn the dataset", stored(&id)).await;
    let dataset: souk_types::DatasetId = id.parse().expect("id");

    // B bids 50 with at most 80 to spend: counter-offers meet between the floor and 80.
    let first = b
        .daemon
        .net()
        .buy(dataset, seller, 80, Some(50))
        .await
        .expect("agreement");
    assert!((60..=80).contains(&first.price), "price {}", first.price);
    assert!(first.rounds > 1, "agreed without countering");
    // Buying again pays again on the same lane: the voucher's cumulative amount grows.
    let second = b
        .daemon
        .net()
        .buy(dataset, seller, 200, None)
        .await
        .expect("second");
    assert_eq!(second.price, 100);

    // C's maximum is under the floor: no agreement, nothing paid, no key.
    let refused = c
        .daemon
        .net()
        .buy(dataset, seller, 40, Some(20))
        .await
        .expect_err("no deal");
    assert!(refused.contains("no agreement"), "{refused}");

    let listing = |node: &souk_network_tests::TestNode| {
        let client = node.client();
        async move {
            tokio::task::spawn_blocking(move || {
                (
                    client.get::<Vec<souk_node::views::LicenseView>>("/v1/licenses"),
                    client.get::<Vec<SummaryView>>("/v1/datasets"),
                )
            })
            .await
            .expect("join")
        }
    };
    let (sold, _) = listing(&a).await;
    let sold = sold.expect("licenses");
    assert_eq!(sold.len(), 2);
    assert!(sold.iter().all(|l| l.role == "sold"));
    let (bought, datasets) = listing(&b).await;
    let bought = bought.expect("licenses");
    assert_eq!(bought.len(), 2);
    assert!(
        bought
            .iter()
            .all(|l| l.role == "bought" && l.counterparty == a.daemon.peer_id)
    );
    assert!(
        datasets
            .expect("datasets")
            .iter()
            .any(|d| d.id == id && d.has_key),
        "B holds no key"
    );
    let (none, datasets) = listing(&c).await;
    assert!(none.expect("licenses").is_empty());
    assert!(datasets.expect("datasets").iter().all(|d| !d.has_key));
    for node in [a, b, c] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_requests_without_the_token() {
    let a = start(&[]).await;
    let addr = a.daemon.api_addr;
    let good = a.client();
    let wrong = souk_node::client::ApiClient::new(addr, "0".repeat(64));
    let (status, wrong_result, good_result) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let status = agent
            .get(format!("http://{addr}/v1/datasets"))
            .call()
            .expect("request")
            .status();
        (
            status,
            wrong.get::<Vec<SummaryView>>("/v1/datasets"),
            good.get::<Vec<SummaryView>>("/v1/datasets"),
        )
    })
    .await
    .expect("join");
    assert_eq!(status.as_u16(), 401);
    assert!(matches!(wrong_result, Err(NodeError::Api(ref m)) if m.contains("bearer token")));
    assert_eq!(good_result.expect("authorised").len(), 0);
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sale_is_receipted_split_up_the_lineage_countersigned_and_logged() {
    let mut a = start(&[]).await;
    let mut b = start(&[a.addr()]).await;
    let c = start(&[a.addr()]).await;
    let parent = a.publish("parent", b"the original corpus").await;
    let derived = a
        .publish_derived("derived", b"a cleaned subset", &[format!("{parent}=3000")])
        .await;
    b.wait_for("B to learn the derived dataset", stored(&derived))
        .await;
    let seller: souk_types::PublicKey = a.daemon.peer_id.parse().expect("key");
    let dataset: souk_types::DatasetId = derived.parse().expect("id");
    let bought = b
        .daemon
        .net()
        .buy(dataset, seller, 10, None)
        .await
        .expect("bought");
    assert_eq!(bought.price, 10);
    assert_eq!(bought.receipt_index, Some(0), "{bought:?}");

    let client = a.client();
    let receipts = tokio::task::spawn_blocking(move || {
        client.get::<Vec<souk_node::views::ReceiptView>>("/v1/receipts")
    })
    .await
    .expect("join")
    .expect("receipts");
    assert_eq!(receipts.len(), 1);
    let receipt = &receipts[0];
    assert_eq!(receipt.id, bought.receipt_id.clone().expect("receipt id"));
    assert_eq!((receipt.kind.as_str(), receipt.amount), ("sale", 10));
    assert_eq!(receipt.buyer, b.daemon.peer_id);
    // 30% of 10 goes up to the parent's contributor, the rest to the derived dataset's.
    let parts: Vec<(String, u64)> = receipt
        .split
        .iter()
        .map(|p| (p.dataset.clone(), p.amount))
        .collect();
    let mut expected = vec![(parent.clone(), 3), (derived.clone(), 7)];
    expected.sort();
    assert_eq!(parts, expected);
    let earned = souk_node::views::earnings(&receipts);
    assert_eq!(earned.len(), 1);
    assert_eq!(
        (earned[0].contributor.as_str(), earned[0].amount),
        (a.daemon.peer_id.as_str(), 10)
    );

    // Anchored with its peers' cosignatures, the receipt has a proof any auditor can check
    // offline; any flipped byte fails.
    let c_id = c.daemon.peer_id.clone();
    a.wait_for("A to connect to C", |e| match e {
        NetEvent::PeerConnected(peer) if peer.to_string() == c_id => Some(()),
        _ => None,
    })
    .await;
    let client = a.client();
    let id = receipt.id.clone();
    let (anchored, bundle) = tokio::task::spawn_blocking(move || {
        let anchored = client.post::<_, souk_node::proof::CheckpointView>("/v1/anchor", &());
        let bundle =
            client.get::<souk_node::proof::ProofBundle>(&format!("/v1/receipts/{id}/proof"));
        (anchored, bundle)
    })
    .await
    .expect("join");
    assert_eq!(anchored.expect("anchored").size, 1);
    let bundle = bundle.expect("proof");
    let verified = souk_node::proof::verify(&bundle).expect("verifies");
    assert_eq!(verified.receipt.split, receipt.split);
    let mut witnesses = verified.witnesses.clone();
    witnesses.sort();
    let mut expected = vec![b.daemon.peer_id.clone(), c.daemon.peer_id.clone()];
    expected.sort();
    assert_eq!(witnesses, expected, "both peers witnessed the checkpoint");
    let text = serde_json::to_vec(&bundle).expect("json");
    for i in 0..text.len() {
        let mut bad = text.clone();
        bad[i] ^= 0x01;
        let accepted = serde_json::from_slice::<souk_node::proof::ProofBundle>(&bad)
            .ok()
            .is_some_and(|b| souk_node::proof::verify(&b).is_ok());
        assert!(
            !accepted,
            "flipped byte {i} still verifies: {:?}",
            String::from_utf8_lossy(&text[i.saturating_sub(40)..(i + 40).min(text.len())])
        );
    }

    // The log grows: the witnesses co-sign the larger checkpoint after checking that it is
    // consistent with the one they saw.
    b.daemon
        .net()
        .buy(parent.parse().expect("id"), seller, 10, None)
        .await
        .expect("bought the parent");
    let client = a.client();
    let anchored = tokio::task::spawn_blocking(move || {
        client.post::<_, souk_node::proof::CheckpointView>("/v1/anchor", &())
    })
    .await
    .expect("join")
    .expect("anchored");
    assert_eq!(anchored.size, 2);
    let (_, cosignatures) = souk_crypto::checkpoint::split_cosignatures(&anchored.note);
    assert_eq!(cosignatures.len(), 2, "{}", anchored.note);
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}

/// A log that signs two different checkpoints of one size is caught by the witness it shows
/// them to; the evidence spreads by gossip, and every node stops trusting that log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_equivocates_is_caught_and_distrusted_by_the_network() {
    use souk_crypto::checkpoint::{Checkpoint, receipts_origin};
    use souk_net::libp2p::request_response;
    use souk_proto::v1;

    let mut witness = start(&[]).await;
    let mut observer = start(&[witness.addr()]).await;
    let witness_peer: PeerId = witness.daemon.peer_id.parse().expect("peer");
    let seed = [77; 32];
    let log = NodeKey::from_seed(seed);
    let mut swarm = souk_net::build_swarm(
        seed,
        &net_config(),
        &mut souk_net::MetricsRegistry::default(),
    )
    .expect("swarm");
    let log_peer = *swarm.local_peer_id();
    swarm
        .dial(witness.addr().parse::<Multiaddr>().expect("addr"))
        .expect("dial");
    let note = |root: u8| {
        Checkpoint {
            origin: receipts_origin(&log.public()),
            size: 3,
            root: [root; 32],
        }
        .sign(&log)
    };
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                swarm.select_next_some().await
                && peer_id == witness_peer
            {
                return;
            }
        }
    })
    .await
    .expect("connected to the witness");
    let mut answers = Vec::new();
    for root in [1, 2] {
        let request = v1::AddCheckpoint {
            old_size: 0,
            consistency: Vec::new(),
            checkpoint: note(root),
        };
        swarm
            .behaviour_mut()
            .witness
            .send_request(&witness_peer, request);
        let answer = tokio::time::timeout(DEADLINE, async {
            loop {
                if let SwarmEvent::Behaviour(BehaviourEvent::Witness(
                    request_response::Event::Message {
                        message: request_response::Message::Response { response, .. },
                        ..
                    },
                )) = swarm.select_next_some().await
                {
                    return response;
                }
            }
        })
        .await
        .expect("the witness answers");
        answers.push(answer.result);
    }
    assert!(
        matches!(
            answers[0],
            Some(v1::add_checkpoint_response::Result::Cosignature(_))
        ),
        "{answers:?}"
    );
    assert!(
        matches!(
            answers[1],
            Some(v1::add_checkpoint_response::Result::Refused(_))
        ),
        "{answers:?}"
    );
    let convicted = |e: &NetEvent| match e {
        NetEvent::Equivocation { log, .. } => Some(*log),
        _ => None,
    };
    assert_eq!(
        witness
            .wait_for("the witness to convict the log", convicted)
            .await,
        log_peer
    );
    assert_eq!(
        observer
            .wait_for("the evidence to reach the observer", convicted)
            .await,
        log_peer
    );
    // The convicted log is cut off: the witness dropped it and it cannot come back.
    tokio::time::timeout(DEADLINE, async {
        while swarm.is_connected(&witness_peer) {
            swarm.select_next_some().await;
        }
    })
    .await
    .expect("the witness disconnects the log");
    let origin = receipts_origin(&log.public());
    for node in [&witness, &observer] {
        let catalog = souk_store::Catalog::open(&node.dir.path().join("catalog.db")).expect("db");
        assert_eq!(
            catalog.equivocating_origins().expect("list"),
            vec![origin.clone()]
        );
    }
    let refused = observer
        .daemon
        .net()
        .buy(
            souk_types::DatasetId::from_bytes([5; 32]),
            log.public(),
            10,
            None,
        )
        .await
        .expect_err("no purchase from a distrusted log");
    assert!(refused.contains("not trusted"), "{refused}");
    witness.shutdown().await;
    observer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_log_is_anchored_every_epoch_without_being_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    souk_node::data_dir::init(dir.path()).expect("init");
    std::fs::write(
        dir.path().join("config.toml"),
        "[anchor]\ninterval_secs = 1\nmin_receipts = 1\n",
    )
    .expect("config");
    let a = start_in(dir, &[]).await;
    let mut b = start(&[a.addr()]).await;
    let id = a
        .publish_priced("epoch", b"anchored by the clock", 5, 5)
        .await;
    b.wait_for("B to learn the dataset", stored(&id)).await;
    let seller: souk_types::PublicKey = a.daemon.peer_id.parse().expect("key");
    b.daemon
        .net()
        .buy(id.parse().expect("id"), seller, 5, None)
        .await
        .expect("bought");
    let client = a.client();
    eventually("A to anchor its one receipt", || {
        let client = client.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                client.get::<Vec<souk_node::proof::CheckpointView>>("/v1/checkpoints")
            })
            .await
            .ok()
            .and_then(Result::ok)
            .is_some_and(|list| list.last().is_some_and(|c| c.size == 1))
        }
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}
