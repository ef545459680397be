//! The SoukAnchor contract on a real anvil chain.

use souk_evm::anvil::{Anvil, DEV_KEY};
use souk_evm::{Chain, EvmError, OnChain, TxState, origin_hash, parse_key};

/// anvil's second funded development account.
const OTHER_DEV_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_only_grow_per_submitter_and_origin() {
    let anvil = Anvil::start(None).await.expect("anvil");
    let chain = Chain::connect(&anvil.url()).await.expect("chain");
    assert_eq!(chain.chain_id, 31337);
    let alice = parse_key(DEV_KEY).expect("key");
    let mallory = parse_key(&format!("0x{OTHER_DEV_KEY}\n")).expect("key");
    let (contract, _, deployed) = chain.deploy(&alice).await.expect("deploy");
    assert!(deployed.succeeded);
    let origin = "souk/12D3KooWexample/receipts";

    let mut gas = Vec::new();
    for (size, root) in [(5u64, [1u8; 32]), (9, [2; 32])] {
        let tx = chain
            .sign_anchor(&alice, contract, origin, size, root)
            .await
            .expect("sign");
        chain.broadcast(&tx).await.expect("send");
        chain
            .broadcast(&tx)
            .await
            .expect("sending twice is harmless");
        let inclusion = chain.wait(&tx, alice.address(), 1).await.expect("mined");
        assert!(inclusion.succeeded);
        gas.push(inclusion.gas_used);
        let events = chain
            .anchored_events(contract, tx.hash)
            .await
            .expect("events");
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(
            (event.submitter, event.origin_hash, event.size, event.root),
            (alice.address(), origin_hash(origin), size, root)
        );
        assert_eq!(event.block_number, inclusion.block_number);
    }
    assert!(
        gas[1] <= 50_000,
        "a steady-state anchor used {} gas",
        gas[1]
    );
    assert_eq!(
        chain
            .checkpoint_of(contract, alice.address(), origin)
            .await
            .expect("read"),
        OnChain {
            size: 9,
            root: [2; 32]
        }
    );

    // A size that does not grow reverts.
    for size in [9, 3] {
        let refused = chain
            .sign_anchor(&alice, contract, origin, size, [3; 32])
            .await;
        assert!(matches!(refused, Err(EvmError::Reverted(_))), "{refused:?}");
    }

    // Another address cannot touch Alice's checkpoint: it only writes its own.
    let tx = chain
        .sign_anchor(&mallory, contract, origin, 1, [9; 32])
        .await
        .expect("sign");
    chain.broadcast(&tx).await.expect("send");
    chain.wait(&tx, mallory.address(), 1).await.expect("mined");
    assert_eq!(
        chain
            .checkpoint_of(contract, alice.address(), origin)
            .await
            .expect("read")
            .size,
        9
    );
    assert_eq!(
        chain
            .checkpoint_of(contract, mallory.address(), origin)
            .await
            .expect("read")
            .size,
        1
    );
    anvil.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_is_confirmed_only_under_enough_blocks() {
    let anvil = Anvil::start(None).await.expect("anvil");
    let chain = Chain::connect(&anvil.url()).await.expect("chain");
    let key = parse_key(DEV_KEY).expect("key");
    let (contract, _, _) = chain.deploy(&key).await.expect("deploy");
    let tx = chain
        .sign_anchor(&key, contract, "souk/x/receipts", 1, [1; 32])
        .await
        .expect("sign");
    assert_eq!(
        chain.state(&tx, key.address(), 1).await.expect("state"),
        TxState::Pending,
        "not sent yet"
    );
    chain.broadcast(&tx).await.expect("send");
    chain.wait(&tx, key.address(), 1).await.expect("included");
    assert_eq!(
        chain.state(&tx, key.address(), 3).await.expect("state"),
        TxState::Pending
    );
    anvil.mine().await.expect("mine");
    anvil.mine().await.expect("mine");
    assert!(matches!(
        chain.state(&tx, key.address(), 3).await.expect("state"),
        TxState::Confirmed(_)
    ));

    // A transaction whose nonce another one took is reported replaced, never confirmed.
    let stale = chain
        .sign_anchor(&key, contract, "souk/x/receipts", 2, [2; 32])
        .await
        .expect("sign");
    let taken = chain
        .sign_anchor(&key, contract, "souk/y/receipts", 1, [3; 32])
        .await
        .expect("sign");
    assert_eq!(stale.nonce, taken.nonce);
    chain.broadcast(&taken).await.expect("send");
    chain.wait(&taken, key.address(), 1).await.expect("mined");
    assert_eq!(
        chain.state(&stale, key.address(), 1).await.expect("state"),
        TxState::Replaced
    );
    anvil.stop().await.expect("stop");
}
