//! The evm anchor backend against a real anvil chain: receipts bought between in-process nodes
//! are anchored on the SoukAnchor contract, proofs verify against the chain and tampered ones do
//! not, and anchoring survives the chain going away and coming back.

use souk_evm::anvil::{Anvil, DEV_KEY};
use souk_evm::{Chain, parse_key};
use souk_network_tests::{TestNode, start, start_with};
use souk_node::evm_anchoring::ChainAnchorState;
use souk_node::network::NetEvent;
use souk_node::proof::{AnchorProof, CheckpointView, ProofBundle, verify, verify_on_chain};
use souk_node::{AnchorBackend, Config, NetworkConfig};

/// anvil's second funded development account: deploys the contract, so the anchoring account
/// sends nothing but anchors.
const DEPLOY_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

async fn evm_node(anvil: &Anvil, contract: &str) -> TestNode {
    let dir = tempfile::tempdir().expect("tempdir");
    souk_node::data_dir::init(dir.path()).expect("init");
    let key_file = dir.path().join("evm.key");
    std::fs::write(&key_file, format!("0x{DEV_KEY}\n")).expect("key file");
    let mut config = Config {
        network: NetworkConfig::loopback(&[]),
        ..Config::default()
    };
    config.anchor.backend = AnchorBackend::Evm;
    config.anchor.evm_rpc = anvil.url();
    config.anchor.evm_key_file = key_file.to_string_lossy().into_owned();
    config.anchor.evm_contract = contract.to_owned();
    config.validate().expect("valid config");
    start_with(dir, &config).await
}

async fn sell(seller: &TestNode, buyer: &mut TestNode, name: &str) -> String {
    let id = seller.publish_priced(name, name.as_bytes(), 5, 5).await;
    buyer
        .wait_for("the buyer to learn the dataset", |e| match e {
            NetEvent::ManifestStored { id: got, .. } if got.to_hex() == id => Some(()),
            _ => None,
        })
        .await;
    let bought = buyer
        .daemon
        .net()
        .buy(
            id.parse().expect("id"),
            seller.daemon.peer_id.parse().expect("key"),
            5,
            None,
        )
        .await
        .expect("bought");
    bought.receipt_id.expect("a receipt")
}

async fn api<T: serde::de::DeserializeOwned + Send + 'static>(
    node: &TestNode,
    post: bool,
    path: String,
) -> T {
    let client = node.client();
    tokio::task::spawn_blocking(move || {
        if post {
            client.post::<_, T>(&path, &())
        } else {
            client.get::<T>(&path)
        }
    })
    .await
    .expect("join")
    .expect("api call")
}

async fn chain_state(node: &mut TestNode, size: u64, want: fn(&ChainAnchorState) -> bool) {
    node.wait_for("the checkpoint's chain anchor", |e| match e {
        NetEvent::ChainAnchor { size: s, state } if *s == size && want(state) => Some(()),
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_anchored_on_chain_through_an_outage_and_proofs_check_against_it() {
    let state = tempfile::tempdir().expect("tempdir");
    let state_file = state.path().join("anvil.json");
    let anvil = Anvil::start(Some(&state_file)).await.expect("anvil");
    let chain = Chain::connect(&anvil.url()).await.expect("chain");
    let deployer = parse_key(DEPLOY_KEY).expect("key");
    let (contract, _, _) = chain.deploy(&deployer).await.expect("deploy");
    let mut a = evm_node(&anvil, &contract.to_string()).await;
    let mut b = start(&[a.addr()]).await;

    let first = sell(&a, &mut b, "first").await;
    let anchored: CheckpointView = api(&a, true, "/v1/anchor".into()).await;
    assert_eq!(anchored.size, 1);
    chain_state(&mut a, 1, |s| {
        matches!(s, ChainAnchorState::Confirmed { .. })
    })
    .await;

    // The chain goes away; the next checkpoint waits, and goes through once it is back.
    let port = anvil.port;
    anvil.stop().await.expect("stop anvil");
    let second = sell(&a, &mut b, "second").await;
    let _: CheckpointView = api(&a, true, "/v1/anchor".into()).await;
    chain_state(&mut a, 2, |s| {
        matches!(s, ChainAnchorState::Unreachable { .. })
    })
    .await;
    let anvil = Anvil::start_on(port, Some(&state_file))
        .await
        .expect("anvil again");
    chain_state(&mut a, 2, |s| {
        matches!(s, ChainAnchorState::Confirmed { .. })
    })
    .await;

    let chain = Chain::connect(&anvil.url()).await.expect("chain");
    let submitter = parse_key(DEV_KEY).expect("key").address();
    let origin = souk_crypto::checkpoint::receipts_origin(&a.daemon.peer_id.parse().expect("key"));
    let held = chain
        .checkpoint_of(contract, submitter, &origin)
        .await
        .expect("read");
    assert_eq!(held.size, 2);
    let views: Vec<CheckpointView> = api(&a, false, "/v1/checkpoints".into()).await;
    let gas: Vec<u64> = views
        .iter()
        .filter_map(|v| v.evm.as_ref()?.gas_used)
        .collect();
    assert_eq!(gas.len(), 2, "{views:?}");

    for receipt in [&first, &second] {
        let bundle: ProofBundle = api(&a, false, format!("/v1/receipts/{receipt}/proof")).await;
        assert!(
            matches!(bundle.anchor, AnchorProof::Evm { .. }),
            "{bundle:?}"
        );
        assert_eq!(
            bundle.tree_size, 2,
            "the newest on-chain checkpoint covers both"
        );
        let verified = verify(&bundle).expect("verifies offline");
        let claim = verified.evm.expect("an evm claim");
        verify_on_chain(&claim, &anvil.url())
            .await
            .expect("verifies on chain");

        // Every claim about the chain is checked against it, or by the owner's statement.
        let AnchorProof::Evm {
            chain_id,
            contract,
            transaction,
            block_number,
            submitter,
            submitter_statement,
        } = bundle.anchor.clone()
        else {
            unreachable!()
        };
        let flip = |text: &str| {
            let mut chars: Vec<char> = text.chars().collect();
            let last = chars.len() - 1;
            chars[last] = if chars[last] == '1' { '2' } else { '1' };
            chars.into_iter().collect::<String>()
        };
        let forged = [
            (
                chain_id + 1,
                contract.clone(),
                transaction.clone(),
                block_number,
                submitter.clone(),
            ),
            (
                chain_id,
                flip(&contract),
                transaction.clone(),
                block_number,
                submitter.clone(),
            ),
            (
                chain_id,
                contract.clone(),
                flip(&transaction),
                block_number,
                submitter.clone(),
            ),
            (
                chain_id,
                contract.clone(),
                transaction.clone(),
                block_number + 1,
                submitter.clone(),
            ),
            (
                chain_id,
                contract.clone(),
                transaction.clone(),
                block_number,
                flip(&submitter),
            ),
        ];
        for (i, (chain_id, contract, transaction, block_number, submitter)) in
            forged.into_iter().enumerate()
        {
            let tampered = ProofBundle {
                anchor: AnchorProof::Evm {
                    chain_id,
                    contract,
                    transaction,
                    block_number,
                    submitter,
                    submitter_statement: submitter_statement.clone(),
                },
                ..bundle.clone()
            };
            let refused = match verify(&tampered) {
                Err(_) => true,
                Ok(v) => verify_on_chain(&v.evm.expect("claim"), &anvil.url())
                    .await
                    .is_err(),
            };
            assert!(refused, "forgery {i} verified");
        }
    }
    a.shutdown().await;
    b.shutdown().await;
    anvil.stop().await.expect("stop");
}
