//! End to end with real `souk node run` processes on 127.0.0.1: gossip across a line, a late
//! joiner, kill -9 and restart, providers, clean shutdown on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{node, souk, souk_command};

const DEADLINE: Duration = Duration::from_secs(60);

struct NodeProcess {
    child: Child,
    listen: Vec<String>,
}

impl NodeProcess {
    fn start(dir: &Path, bootstrap: &[String]) -> Self {
        Self::start_with(dir, bootstrap, &[])
    }

    fn start_with(dir: &Path, bootstrap: &[String], extra: &[&str]) -> Self {
        let mut cmd = souk_command(dir);
        cmd.args([
            "node",
            "run",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--blobs-listen",
            "127.0.0.1:0",
        ]);
        for addr in bootstrap {
            cmd.args(["--bootstrap", addr]);
        }
        cmd.args(extra);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn souk node run");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listen = Vec::new();
        loop {
            let line = received
                .recv_timeout(DEADLINE)
                .expect("the node printed its addresses");
            if let Some(addr) = line.strip_prefix("listening on ") {
                listen.push(addr.to_owned());
            }
            if line.starts_with("control API on") {
                break;
            }
        }
        Self { child, listen }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        self.child.wait().expect("wait")
    }

    fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }
}

impl Drop for NodeProcess {
    /// A failing test must not leave nodes running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `souk` on `dir` until `check` accepts its JSON output.
fn wait_until(dir: &Path, args: &[&str], what: &str, check: impl Fn(&serde_json::Value) -> bool) {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        let run = souk(dir, args);
        if run.status.success() && check(&run.json()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn has_dataset(id: &str) -> impl Fn(&serde_json::Value) -> bool + '_ {
    move |list| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|d| d["id"].as_str() == Some(id)))
    }
}

#[test]
fn three_processes_exchange_a_dataset_and_a_late_fourth_catches_up() {
    let base = tempfile::tempdir().expect("tempdir");
    let dirs: Vec<PathBuf> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| node(base.path(), n))
        .collect();
    let a = NodeProcess::start(&dirs[0], &[]);
    let b = NodeProcess::start(&dirs[1], &a.listen);
    let c = NodeProcess::start(&dirs[2], &b.listen);

    let id_json = souk(&dirs[0], &["id", "--json"]).json();
    assert_eq!(
        id_json["listen_addrs"].as_array().map(Vec::len),
        Some(a.listen.len())
    );
    let a_peer = id_json["peer_id"].as_str().expect("peer id").to_owned();

    // Publishing goes through A's API (A holds its store) and out by gossip.
    let file = base.path().join("readings.csv");
    std::fs::write(&file, "t,v\n1,2\n".repeat(1000)).expect("write");
    let published = souk(
        &dirs[0],
        &[
            "publish",
            file.to_str().expect("utf8"),
            "--name",
            "readings",
            "--json",
        ],
    );
    let id = published.json()["id"].as_str().expect("id").to_owned();
    wait_until(
        &dirs[2],
        &["datasets", "--json"],
        "C to learn the dataset",
        has_dataset(&id),
    );
    wait_until(
        &dirs[2],
        &["show", &id, "--json"],
        "C to find A as provider",
        |d| {
            d["providers"]
                .as_array()
                .is_some_and(|p| p.iter().any(|x| x.as_str() == Some(a_peer.as_str())))
        },
    );

    // D starts after the publication and catches up by sync.
    let d = NodeProcess::start(&dirs[3], &c.listen);
    wait_until(
        &dirs[3],
        &["datasets", "--json"],
        "D to catch up",
        has_dataset(&id),
    );

    // kill -9: the catalog and known peers survive; without bootstrap flags D redials them.
    d.kill_9();
    let offline = souk(&dirs[3], &["datasets", "--json"]);
    assert!(
        has_dataset(&id)(&offline.json()),
        "catalog lost after kill -9"
    );
    let d = NodeProcess::start(&dirs[3], &[]);
    wait_until(
        &dirs[3],
        &["peers", "--json"],
        "D to redial its peers",
        |p| p.as_array().is_some_and(|l| !l.is_empty()),
    );
    souk(&dirs[3], &["node", "run"]).fails_with("already running");

    for process in [a, b, c, d] {
        let status = process.terminate();
        assert!(status.success(), "node exited with {status}");
    }
    for dir in &dirs {
        assert!(
            !dir.join("api").exists(),
            "api file left after a clean shutdown"
        );
    }
    souk(&dirs[0], &["peers"]).fails_with("no node is running");
}

/// Bytes of `id` held so far by the download running on the node in `dir`, if one runs.
fn transfer_progress(dir: &Path, id: &str) -> Option<(u64, u64)> {
    let client = souk_node::client::ApiClient::discover(dir).ok()??;
    let list: Vec<souk_node::views::TransferView> = client.get("/v1/transfers").ok()?;
    list.iter()
        .find(|t| t.dataset == id)
        .map(|t| (t.done_bytes, t.total_bytes))
}

#[test]
fn publish_on_a_buy_on_b_killed_and_resumed_then_c_buys_from_a_and_b() {
    let base = tempfile::tempdir().expect("tempdir");
    let dirs: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|n| node(base.path(), n))
        .collect();
    let a = NodeProcess::start(&dirs[0], &[]);
    let b = NodeProcess::start(&dirs[1], &a.listen);
    let c = NodeProcess::start(&dirs[2], &a.listen);

    let data = common::noise(7, 32 << 20);
    let file = base.path().join("corpus.bin");
    std::fs::write(&file, &data).expect("write");
    let published = souk(
        &dirs[0],
        &[
            "publish",
            file.to_str().expect("utf8"),
            "--name",
            "corpus",
            "--price",
            "30",
            "--shard-size",
            "262144",
            "--json",
        ],
    )
    .json();
    let id = published["id"].as_str().expect("id").to_owned();
    for dir in &dirs[1..] {
        wait_until(
            dir,
            &["datasets", "--json"],
            "the manifest",
            has_dataset(&id),
        );
    }

    // B starts buying and is killed -9 in the middle of the download.
    let out_b = base.path().join("out-b");
    let first = souk_command(&dirs[1])
        .args(["buy", &id, "--max-price", "40", "--json", "--out"])
        .arg(&out_b)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn souk buy");
    let start = Instant::now();
    while transfer_progress(&dirs[1], &id).is_none_or(|(done, total)| done < total / 3) {
        assert!(start.elapsed() < DEADLINE, "the download never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    b.kill_9();
    let mut first = first;
    assert!(!first.wait().expect("wait").success());
    assert!(!out_b.exists(), "a partial output folder was left");

    // Restarted, B finishes without paying again or fetching again what it verified.
    let b = NodeProcess::start(&dirs[1], &a.listen);
    let resumed = souk_command(&dirs[1])
        .args(["buy", &id, "--max-price", "40", "--json", "--out"])
        .arg(&out_b)
        .output()
        .expect("souk buy");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let resumed: serde_json::Value = serde_json::from_slice(&resumed.stdout).expect("json");
    assert_eq!(resumed["paid_now"], false, "{resumed}");
    let local = resumed["local_bytes"].as_u64().expect("local");
    let fetched = resumed["fetched_bytes"].as_u64().expect("fetched");
    assert!(local > 0, "{resumed}");
    assert!(local + fetched >= data.len() as u64, "{resumed}");
    assert!(fetched < data.len() as u64, "{resumed}");
    assert_eq!(
        common::read_tree(&out_b).into_values().next(),
        Some(data.clone())
    );

    // C buys from A and B.
    let b_peer = common::peer_id(&dirs[1]);
    wait_until(&dirs[2], &["show", &id, "--json"], "B as a provider", |d| {
        d["providers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p.as_str() == Some(b_peer.as_str())))
    });
    let out_c = base.path().join("out-c");
    let bought = souk(
        &dirs[2],
        &[
            "buy",
            &id,
            "--max-price",
            "40",
            "--json",
            "--out",
            out_c.to_str().expect("utf8"),
        ],
    )
    .json();
    assert_eq!(bought["paid_now"], true);
    let providers = bought["providers"].as_array().expect("providers");
    for peer in [common::peer_id(&dirs[0]), b_peer] {
        let used = providers
            .iter()
            .find(|p| p["peer_id"].as_str() == Some(peer.as_str()))
            .unwrap_or_else(|| panic!("{peer} not used: {bought}"));
        assert!(used["error"].is_null(), "{bought}");
        assert!(used["bytes"].as_u64() > Some(0), "{bought}");
    }
    assert_eq!(common::read_tree(&out_c).into_values().next(), Some(data));

    let sold = souk(&dirs[0], &["licenses", "--json"]).json();
    assert_eq!(
        sold.as_array().map(Vec::len),
        Some(2),
        "B paid once, C once"
    );
    for node in [a, b, c] {
        assert!(node.terminate().success());
    }
}

/// anvil's second funded development account: deploys the contract, so the anchoring account
/// (the first) sends nothing but anchors.
const DEPLOY_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

fn evm_status(seq: usize, status: &str) -> impl Fn(&serde_json::Value) -> bool + '_ {
    move |list| list[seq]["evm"]["status"].as_str() == Some(status)
}

#[test]
fn a_node_killed_after_sending_its_anchor_restarts_without_anchoring_twice() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let anvil = runtime
        .block_on(souk_evm::anvil::Anvil::start(None))
        .expect("anvil");
    let url = anvil.url();
    let base = tempfile::tempdir().expect("tempdir");
    let dirs: Vec<PathBuf> = ["a", "b"].iter().map(|n| node(base.path(), n)).collect();
    let deployed = souk(
        &dirs[0],
        &[
            "anchor",
            "deploy",
            "--evm-rpc",
            &url,
            "--evm-key",
            DEPLOY_KEY,
            "--json",
        ],
    )
    .json();
    let contract = deployed["contract"].as_str().expect("contract").to_owned();
    let key_file = base.path().join("evm.key");
    std::fs::write(&key_file, format!("{}\n", souk_evm::anvil::DEV_KEY)).expect("key");
    let key_file = key_file.to_str().expect("utf8").to_owned();
    // Two confirmations on a chain that mines only on demand: the anchor stays sent, not
    // confirmed, until another block comes.
    let evm_args = [
        "--anchor",
        "evm",
        "--evm-rpc",
        &url,
        "--evm-key-file",
        &key_file,
        "--evm-contract",
        &contract,
        "--confirmations",
        "2",
    ];
    let a = NodeProcess::start_with(&dirs[0], &[], &evm_args);
    let b = NodeProcess::start(&dirs[1], &a.listen);
    let file = base.path().join("weather.csv");
    std::fs::write(&file, common::noise(3, 4096)).expect("write");
    let published = souk(
        &dirs[0],
        &[
            "publish",
            file.to_str().expect("utf8"),
            "--name",
            "weather",
            "--price",
            "5",
            "--json",
        ],
    )
    .json();
    let id = published["id"].as_str().expect("id").to_owned();
    wait_until(
        &dirs[1],
        &["datasets", "--json"],
        "the manifest",
        has_dataset(&id),
    );
    let bought = souk(&dirs[1], &["buy", &id, "--max-price", "5", "--json"]).json();
    assert_eq!(bought["price"], 5, "{bought}");
    let anchored = souk(&dirs[0], &["anchor", "--now", "--json"]).json();
    assert_eq!(anchored["size"], 2, "the sale and A's delivery to B");
    wait_until(
        &dirs[0],
        &["checkpoints", "--json"],
        "the anchor sent",
        evm_status(0, "sent"),
    );

    // Killed between sending the transaction and recording its outcome.
    a.kill_9();
    runtime.block_on(anvil.mine()).expect("mine");
    let a = NodeProcess::start_with(&dirs[0], &[], &evm_args);
    wait_until(
        &dirs[0],
        &["checkpoints", "--json"],
        "the anchor confirmed",
        evm_status(0, "confirmed"),
    );
    let chain = runtime
        .block_on(souk_evm::Chain::connect(&url))
        .expect("chain");
    let submitter = souk_evm::parse_key(souk_evm::anvil::DEV_KEY)
        .expect("key")
        .address();
    let sent = runtime
        .block_on(chain.transactions_included(submitter))
        .expect("nonce");
    assert_eq!(sent, 1, "the checkpoint was anchored more than once");

    // An auditor checks the sale with the bundle and the chain alone.
    let receipts = souk(&dirs[0], &["receipts", "--json"]).json();
    let sale = receipts
        .as_array()
        .and_then(|list| list.iter().find(|r| r["kind"] == "sale"))
        .expect("the sale receipt");
    let receipt = sale["id"].as_str().expect("receipt id").to_owned();
    let bundle = base.path().join("proof.json");
    souk(
        &dirs[0],
        &["proof", &receipt, "--out", bundle.to_str().expect("utf8")],
    );
    let audit = base.path().join("auditor");
    let checked = souk(
        &audit,
        &["verify", bundle.to_str().expect("utf8"), "--evm-rpc", &url],
    );
    assert!(checked.status.success(), "{}", checked.stderr);
    assert!(
        checked.stdout.contains("checked against the chain"),
        "{}",
        checked.stdout
    );
    let text = std::fs::read_to_string(&bundle).expect("bundle");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("json");
    json["anchor"]["block_number"] =
        (json["anchor"]["block_number"].as_u64().expect("block") + 1).into();
    std::fs::write(&bundle, json.to_string()).expect("tamper");
    souk(
        &audit,
        &["verify", bundle.to_str().expect("utf8"), "--evm-rpc", &url],
    )
    .fails_with("does not verify on the chain");
    drop((a, b));
    runtime.block_on(anvil.stop()).expect("stop");
}
