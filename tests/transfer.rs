//! Buying and fetching with real nodes on 127.0.0.1: licenses presented over libp2p, shards over
//! iroh-blobs from several providers, checked against the dataset's commitments.

use std::path::{Path, PathBuf};

use souk_crypto::{DatasetKey, LicenseTerms, NodeKey, SignedLicense};
use souk_network_tests::{DEADLINE, TestNode, eventually, start};
use souk_node::network::NetEvent;
use souk_node::views::BuyView;
use souk_types::{DatasetId, PublicKey, UsageRights};

fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

async fn learns(node: &mut TestNode, id: &str) {
    let id: DatasetId = id.parse().expect("id");
    node.wait_for("the manifest", |e| match e {
        NetEvent::ManifestStored { id: got, .. } if *got == id => Some(()),
        _ => None,
    })
    .await;
}

/// The one file a dataset of one file extracts to.
fn only_file(dir: &Path) -> Vec<u8> {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .expect("out")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    std::fs::read(&entries[0]).expect("read")
}

fn provider<'a>(view: &'a BuyView, node: &TestNode) -> &'a souk_node::views::ProviderView {
    view.providers
        .iter()
        .find(|p| p.peer_id == node.daemon.peer_id)
        .unwrap_or_else(|| panic!("{} is not among {:?}", node.daemon.peer_id, view.providers))
}

fn out_dir(base: &tempfile::TempDir, name: &str) -> PathBuf {
    base.path().join(name)
}

/// Waits until `finder`'s DHT lookup names `provider` as a provider of dataset `id`.
async fn sees_provider(finder: &TestNode, id: &str, provider: &TestNode) {
    let dataset: DatasetId = id.parse().expect("id");
    let peer = provider.daemon.peer_id.clone();
    eventually("a provider record", || {
        let net = finder.daemon.net().clone();
        let peer = peer.clone();
        async move { net.providers(dataset).await.contains(&peer) }
    })
    .await;
}

/// A publishes `data` in shards of `shard_size` at `price`; B and C (joined to A, C also to B)
/// learn it.
async fn three_nodes_and_a_dataset(
    data: &[u8],
    price: u64,
    shard_size: u64,
) -> (TestNode, TestNode, TestNode, String) {
    let a = start(&[]).await;
    let mut b = start(&[a.addr()]).await;
    let mut c = start(&[a.addr(), b.addr()]).await;
    let id = a.publish_sharded("corpus", data, price, shard_size).await;
    learns(&mut b, &id).await;
    learns(&mut c, &id).await;
    (a, b, c, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_fetches_decrypts_and_serves_onward_to_the_next_buyer() {
    let outs = tempfile::tempdir().expect("tempdir");
    let data = noise(1, 6 << 20);
    let (a, b, c, id) = three_nodes_and_a_dataset(&data, 50, 64 << 10).await;

    let bought = b
        .buy(&id, 100, Some(out_dir(&outs, "b")))
        .await
        .expect("B buys");
    assert!(bought.paid_now);
    assert_eq!(bought.price, 50);
    assert!(
        bought.shards > 96,
        "6 MiB in 64 KiB shards, and the file index"
    );
    assert_eq!(bought.files, Some(1));
    assert_eq!(only_file(&out_dir(&outs, "b")), data);
    let from_a = provider(&bought, &a);
    assert!(from_a.error.is_none() && from_a.bytes >= data.len() as u64);
    assert_eq!(bought.local_bytes, 0);

    // Buying again uses the license held: nothing paid, nothing fetched.
    let again = b.buy(&id, 100, None).await.expect("again");
    assert!(!again.paid_now);
    assert_eq!(again.license_id, bought.license_id);
    assert_eq!(again.fetched_bytes, 0);

    // C finds B as a provider too and takes shards from both.
    sees_provider(&c, &id, &b).await;
    let bought = c
        .buy(&id, 100, Some(out_dir(&outs, "c")))
        .await
        .expect("C buys");
    assert_eq!(only_file(&out_dir(&outs, "c")), data);
    let (from_a, from_b) = (provider(&bought, &a), provider(&bought, &b));
    assert!(
        from_a.error.is_none() && from_b.error.is_none(),
        "{bought:?}"
    );
    assert!(from_a.bytes > 0 && from_b.bytes > 0, "{bought:?}");
    assert_eq!(from_a.shards + from_b.shards, bought.shards);

    // Each provider logged a receipt, countersigned by C, for exactly what it delivered.
    for (node, from) in [(&a, from_a), (&b, from_b)] {
        let client = node.client();
        let logged = tokio::task::spawn_blocking(move || {
            client.get::<Vec<souk_node::views::ReceiptView>>("/v1/receipts")
        })
        .await
        .expect("join")
        .expect("receipts");
        let delivery = logged
            .iter()
            .find(|r| Some(&r.id) == from.delivery_receipt.as_ref())
            .unwrap_or_else(|| panic!("no delivery receipt in {logged:?}"));
        assert_eq!(delivery.kind, "delivery");
        assert_eq!(delivery.buyer, c.daemon.peer_id);
        assert_eq!(delivery.issuer, node.daemon.peer_id);
        assert_eq!(delivery.amount, from.bytes);
    }

    // A claim for more than the dataset holds, or by someone else than the holder, is refused.
    let license = souk_store::Catalog::open(&c.dir.path().join("catalog.db"))
        .expect("catalog")
        .license_bought(&id.parse().expect("id"), 0)
        .expect("read")
        .expect("C's license");
    let claim = |bytes: u64| souk_proto::v1::NegotiationRequest {
        message: Some(souk_proto::v1::negotiation_request::Message::Delivery(
            souk_proto::v1::DeliveryClaim {
                license: license.clone(),
                bytes,
            },
        )),
    };
    let a_key: PublicKey = a.daemon.peer_id.parse().expect("key");
    for (claimant, bytes) in [(&c, 100 * data.len() as u64), (&b, 1)] {
        let answer = claimant
            .daemon
            .net()
            .negotiate(a_key, claim(bytes))
            .await
            .expect("answer");
        assert!(
            matches!(
                answer.message,
                Some(souk_proto::v1::negotiation_response::Message::Refused(_))
            ),
            "{answer:?}"
        );
    }
    for node in [a, b, c] {
        node.shutdown().await;
    }
}

fn terms(dataset: DatasetId, buyer: PublicKey, expires_at_ms: u64, network: &str) -> LicenseTerms {
    LicenseTerms {
        dataset,
        buyer,
        rights: UsageRights::Training,
        price: 1,
        currency: "SOUK".into(),
        issued_at_ms: 1,
        expires_at_ms,
        network_id: network.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_admit_only_valid_unreplayed_licenses_of_their_holder() {
    let a = start(&[]).await;
    let mut d = start(&[a.addr()]).await;
    let id = a
        .publish_priced("guarded", &noise(2, 100_000), 10, 10)
        .await;
    learns(&mut d, &id).await;
    let dataset: DatasetId = id.parse().expect("id");
    let seller = souk_node::data_dir::load_key(a.dir.path()).expect("A's key");
    let holder: PublicKey = d.daemon.peer_id.parse().expect("D's key");
    let other: PublicKey = a.daemon.peer_id.parse().expect("A's key");
    let key = DatasetKey::from_bytes([9; 32]);
    let far = u64::MAX / 2;
    let issue = |by: &NodeKey, t: LicenseTerms, randomness: u8| {
        SignedLicense::issue(by, t, &key, [randomness; 48])
            .expect("issue")
            .envelope
    };
    let present = |license: Vec<u8>| {
        let net = d.daemon.net().clone();
        async move { net.request_access(other, license).await }
    };

    let refusals = [
        (
            issue(&seller, terms(dataset, other, far, "souk-main"), 1),
            "issued to",
        ),
        (
            issue(&seller, terms(dataset, holder, 2, "souk-main"), 2),
            "expired",
        ),
        (
            issue(&seller, terms(dataset, holder, far, "souk-test"), 3),
            "network",
        ),
        (
            issue(
                &seller,
                terms(DatasetId::from_bytes([7; 32]), holder, far, "souk-main"),
                4,
            ),
            "does not know",
        ),
        (
            issue(
                &NodeKey::from_seed([5; 32]),
                terms(dataset, holder, far, "souk-main"),
                5,
            ),
            "publisher",
        ),
    ];
    for (license, why) in refusals {
        let refused = present(license).await.expect_err("refused");
        assert!(refused.contains(why), "{refused} (expected {why})");
    }
    let mut tampered = issue(&seller, terms(dataset, holder, far, "souk-main"), 6);
    let middle = tampered.len() / 2;
    tampered[middle] ^= 1;
    assert!(present(tampered).await.is_err());

    let addrs = present(issue(&seller, terms(dataset, holder, far, "souk-main"), 8))
        .await
        .expect("a valid license is admitted");
    assert!(!addrs.is_empty());
    // Presenting the same license again is fine (a resumed download)...
    assert!(
        present(issue(&seller, terms(dataset, holder, far, "souk-main"), 8))
            .await
            .is_ok()
    );
    // ...but another license under the same nonce is a replay.
    let replay = present(issue(
        &seller,
        terms(dataset, holder, far - 1, "souk-main"),
        8,
    ))
    .await
    .expect_err("replay");
    assert!(replay.contains("nonce"), "{replay}");
    a.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_dies_mid_transfer_is_replaced_by_the_others() {
    let outs = tempfile::tempdir().expect("tempdir");
    let data = noise(3, 24 << 20);
    let (a, b, c, id) = three_nodes_and_a_dataset(&data, 5, 256 << 10).await;
    b.buy(&id, 5, None).await.expect("B buys");
    sees_provider(&c, &id, &b).await;

    let client = c.client();
    let request = souk_node::views::BuyRequest {
        dataset: id.clone(),
        max_price: 5,
        bid: None,
        out: Some(out_dir(&outs, "c")),
    };
    let buying =
        tokio::task::spawn_blocking(move || client.post::<_, BuyView>("/v1/buy", &request));
    eventually("C's download to start", || {
        let c = &c;
        let id = &id;
        async move { c.transfer_progress(id).await.is_some_and(|done| done > 0) }
    })
    .await;
    let b_peer = b.daemon.peer_id.clone();
    b.shutdown().await;

    let bought = tokio::time::timeout(DEADLINE, buying)
        .await
        .expect("C finishes")
        .expect("join")
        .expect("C buys despite B dying");
    assert_eq!(only_file(&out_dir(&outs, "c")), data);
    let from_a = provider(&bought, &a);
    assert!(from_a.error.is_none() && from_a.bytes > 0, "{bought:?}");
    let from_b = bought
        .providers
        .iter()
        .find(|p| p.peer_id == b_peer)
        .expect("B was used");
    assert!(from_b.error.is_some(), "{bought:?}");
    a.shutdown().await;
    c.shutdown().await;
}
