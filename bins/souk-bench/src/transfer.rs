//! `souk-bench transfer`: shard transfer against its baselines, in one run on loopback.
//!
//! - TCP: one stream of the input's size between two tasks on 127.0.0.1;
//! - iroh-blobs: the same bytes as 1 MiB blobs under a hash sequence, served by a child process
//!   (through Souk's gate, admitting the reader) and fetched by this one into a fresh store;
//!   with one request for the whole sequence, and with per-blob requests on several streams,
//!   under iroh's default QUIC settings and under larger packets and windows;
//! - buy: real `souk node run` processes; A publishes the input, B runs `souk buy --out`
//!   (negotiation, access, fetch, verification, decryption, writing), then C buys from A and B.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use iroh_blobs::hashseq::HashSeq;
use iroh_blobs::{BlobFormat, HashAndFormat};
use serde_json::{Value, json};
use souk_transfer::{BlobsService, FetchRequest, Gate, Hash, Holding, Source, Tuning};
use souk_types::{DatasetId, PublicKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{scratch_root, write_input};

const BLOB: usize = 1 << 20;
const READER_SEED: [u8; 32] = [0x42; 32];
const SERVER_SEED: [u8; 32] = [0x24; 32];
const DEADLINE: Duration = Duration::from_secs(300);

fn mib_per_sec(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1 << 20) as f64 / secs.max(1e-9)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// One stream of `size` bytes over loopback TCP.
fn tcp(size: u64) -> anyhow::Result<f64> {
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let writer = tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            let buf = vec![7u8; BLOB];
            let mut left = size;
            while left > 0 {
                let n = left.min(BLOB as u64) as usize;
                stream.write_all(&buf[..n]).await?;
                left -= n as u64;
            }
            stream.shutdown().await?;
            anyhow::Ok(())
        });
        let (mut stream, _) = listener.accept().await?;
        let started = Instant::now();
        let mut buf = vec![0u8; BLOB];
        let mut got = 0u64;
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        let secs = started.elapsed().as_secs_f64();
        writer.await??;
        if got != size {
            bail!("TCP moved {got} of {size} bytes");
        }
        Ok(mib_per_sec(size, secs))
    })
}

/// The child side: serves `input` (as 1 MiB blobs) until its stdin closes.
pub fn serve(input: &Path, work: &Path, reader: &str, tuning: Tuning) -> anyhow::Result<()> {
    let reader: PublicKey = reader.parse().context("reader key")?;
    runtime()?.block_on(async {
        let store = souk_store::blobs::open(work, Duration::from_secs(3600)).await?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(input)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.sort();
        let mut hashes = Vec::new();
        for file in files {
            let bytes = std::fs::read(&file)?;
            for chunk in bytes.chunks(BLOB) {
                hashes.push(store.add_slice(chunk).await?.hash);
            }
        }
        let list: HashSeq = hashes.iter().collect();
        let root = store
            .add_bytes_with_opts((list.into_inner(), BlobFormat::HashSeq))
            .await?
            .hash;
        store
            .tags()
            .set("bench", HashAndFormat::hash_seq(root))
            .await?;
        let gate = Gate::default();
        let dataset = DatasetId::from_bytes(*root.as_bytes());
        gate.lock().hold(
            dataset,
            Holding {
                root,
                shards: hashes.iter().copied().collect(),
            },
        );
        gate.lock().admit(reader, dataset, u64::MAX);
        let any: SocketAddr = "127.0.0.1:0".parse()?;
        let service = BlobsService::bind(&SERVER_SEED, any, &store, gate, tuning).await?;
        let addr = service.addrs().first().copied().context("no address")?;
        println!("ready {addr} {root} {}", hashes.len());
        std::io::stdout().flush()?;
        // Serve until the parent closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await?;
        service.shutdown().await;
        anyhow::Ok(())
    })
}

struct Server {
    child: Child,
    _stdin: ChildStdin,
    addr: SocketAddr,
    root: Hash,
    blobs: u64,
}

fn start_server(input: &Path, work: &Path, tuning: Tuning) -> anyhow::Result<Server> {
    let reader = souk_crypto::NodeKey::from_seed(READER_SEED).public();
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["blobs-serve", "--input"])
        .arg(input)
        .arg("--work")
        .arg(work)
        .args(["--reader", &reader.to_hex()]);
    if let Some(mtu) = tuning.initial_mtu {
        cmd.args(["--mtu", &mtu.to_string()]);
    }
    if let Some(window) = tuning.window {
        cmd.args(["--window", &window.to_string()]);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let stdin = child.stdin.take().context("stdin")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some("ready"), Some(addr), Some(root), Some(blobs)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("the blobs server did not start: {line:?}");
    };
    Ok(Server {
        child,
        _stdin: stdin,
        addr: addr.parse()?,
        root: root.parse()?,
        blobs: blobs.parse()?,
    })
}

/// Fetches everything `server` serves into a fresh store: with one request for the whole
/// hash sequence when `streams` is 0, else per blob on `streams` streams. MiB/s of payload.
fn iroh_fetch(
    input: &Path,
    scratch: &Path,
    tuning: Tuning,
    streams: usize,
    size: u64,
) -> anyhow::Result<f64> {
    let serving = scratch.join("serving");
    let fetching = scratch.join("fetching");
    let _ = std::fs::remove_dir_all(&serving);
    let _ = std::fs::remove_dir_all(&fetching);
    let mut server = start_server(input, &serving, tuning)?;
    let provider = souk_crypto::NodeKey::from_seed(SERVER_SEED).public();
    let speed = runtime()?.block_on(async {
        let store = souk_store::blobs::open(&fetching, Duration::from_secs(3600)).await?;
        let any: SocketAddr = "127.0.0.1:0".parse()?;
        let service =
            BlobsService::bind(&READER_SEED, any, &store, Gate::default(), tuning).await?;
        let started = Instant::now();
        if streams == 0 {
            let id = iroh::PublicKey::from_bytes(provider.as_bytes())?;
            let connection = service
                .endpoint()
                .connect(
                    iroh::EndpointAddr::new(id).with_ip_addr(server.addr),
                    iroh_blobs::ALPN,
                )
                .await
                .context("connecting")?;
            store
                .remote()
                .fetch(connection, HashAndFormat::hash_seq(server.root))
                .await
                .context("fetching the hash sequence")?;
        } else {
            let request = FetchRequest {
                root: server.root,
                shard_count: server.blobs,
                pin: "bench".into(),
                sources: vec![Source {
                    key: provider,
                    addrs: vec![server.addr],
                }],
                streams_per_source: streams,
                arrivals: None,
            };
            souk_transfer::fetch_dataset(service.endpoint(), &store, request, &|_| {})
                .await
                .context("fetching per blob")?;
        }
        let secs = started.elapsed().as_secs_f64();
        service.shutdown().await;
        // The store's actor may stop before it answers; either way it is closed.
        let _ = store.shutdown().await;
        anyhow::Ok(mib_per_sec(size, secs))
    });
    let _ = server.child.kill();
    let _ = server.child.wait();
    speed
}

/// A `souk node run` process.
struct Node {
    dir: PathBuf,
    child: Child,
    listen: Vec<String>,
}

fn souk_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name("souk");
    if !path.exists() {
        bail!(
            "{} is missing: build it first (cargo build --release -p souk)",
            path.display()
        );
    }
    Ok(path)
}

fn souk(dir: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new(souk_binary()?)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!(
            "souk {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
}

impl Node {
    fn start(dir: PathBuf, bootstrap: &[String]) -> anyhow::Result<Self> {
        souk(&dir, &["init"])?;
        let mut cmd = Command::new(souk_binary()?);
        cmd.arg("--data-dir").arg(&dir).args([
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
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        let mut listen = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        for line in lines.by_ref() {
            let line = line?;
            if let Some(addr) = line.strip_prefix("listening on ") {
                listen.push(addr.to_owned());
            }
            if line.starts_with("control API on") {
                break;
            }
        }
        // Keep draining the node's output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { dir, child, listen })
    }

    fn wait_for(
        &self,
        what: &str,
        args: &[&str],
        check: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if souk(&self.dir, args).is_ok_and(|v| check(&v)) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("timed out waiting for {what}")
    }

    fn buy(&self, id: &str, out: &Path) -> anyhow::Result<Value> {
        souk(
            &self.dir,
            &[
                "buy",
                id,
                "--max-price",
                "1",
                "--json",
                "--out",
                out.to_str().context("utf8 path")?,
            ],
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Payload MiB/s of a `souk buy`: over its fetch, and over the whole command.
fn buy_speeds(bought: &Value, size: u64) -> (f64, f64) {
    let secs = |key: &str| bought[key].as_u64().unwrap_or(0) as f64 / 1000.0;
    (
        mib_per_sec(size, secs("fetch_ms")),
        mib_per_sec(size, secs("elapsed_ms")),
    )
}

fn buys(input: &Path, scratch: &Path, size: u64) -> anyhow::Result<Value> {
    let a = Node::start(scratch.join("a"), &[])?;
    let b = Node::start(scratch.join("b"), &a.listen)?;
    let published = souk(
        &a.dir,
        &[
            "publish",
            input.to_str().context("utf8 path")?,
            "--name",
            "bench",
            "--price",
            "1",
            "--json",
        ],
    )?;
    let id = published["id"].as_str().context("dataset id")?.to_owned();
    let has = |list: &Value| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|d| d["id"].as_str() == Some(id.as_str())))
    };
    b.wait_for("B to learn the dataset", &["datasets", "--json"], has)?;
    let one = b.buy(&id, &scratch.join("out-b"))?;

    let c = Node::start(
        scratch.join("c"),
        &[a.listen.clone(), b.listen.clone()].concat(),
    )?;
    c.wait_for("C to learn the dataset", &["datasets", "--json"], has)?;
    let b_peer = souk(&b.dir, &["id", "--json"])?["peer_id"]
        .as_str()
        .context("peer id")?
        .to_owned();
    c.wait_for("C to see B as a provider", &["show", &id, "--json"], |d| {
        d["providers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p.as_str() == Some(b_peer.as_str())))
    })?;
    let two = c.buy(&id, &scratch.join("out-c"))?;
    let (one_fetch, one_total) = buy_speeds(&one, size);
    let (two_fetch, two_total) = buy_speeds(&two, size);
    Ok(json!({
        "one_provider": { "fetch_mib_s": one_fetch, "buy_mib_s": one_total, "report": one },
        "two_providers": { "fetch_mib_s": two_fetch, "buy_mib_s": two_total, "report": two },
    }))
}

pub fn run(size_mib: u64, json_only: bool) -> anyhow::Result<()> {
    let size = size_mib << 20;
    let scratch = tempfile::tempdir_in(scratch_root())?;
    let input = scratch.path().join("input");
    write_input(&input, size)?;

    let tcp = tcp(size)?;
    let windows = Tuning {
        initial_mtu: None,
        window: Some(64 << 20),
    };
    let jumbo = Tuning {
        initial_mtu: Some(8_952),
        window: None,
    };
    let both = Tuning {
        initial_mtu: Some(8_952),
        window: Some(64 << 20),
    };
    let variants = [
        ("default_one_request", Tuning::default(), 0),
        ("default_4_streams", Tuning::default(), 4),
        ("default_16_streams", Tuning::default(), 16),
        ("window_64m_one_request", windows, 0),
        ("window_64m_4_streams", windows, 4),
        ("mtu_8952_one_request", jumbo, 0),
        ("mtu_8952_window_64m_4_streams", both, 4),
    ];
    let mut iroh = serde_json::Map::new();
    for (name, tuning, streams) in variants {
        // A setting the path cannot carry is a result too, not the end of the run.
        let speed = match iroh_fetch(&input, scratch.path(), tuning, streams, size) {
            Ok(speed) => json!(speed),
            Err(e) => json!(format!("failed: {e:#}")),
        };
        if !json_only {
            eprintln!("iroh-blobs {name}: {speed} MiB/s");
        }
        iroh.insert(name.to_owned(), speed);
    }
    let raw = iroh["default_one_request"].as_f64().unwrap_or(0.0);
    let buy = buys(&input, scratch.path(), size)?;
    let one_fetch = buy["one_provider"]["fetch_mib_s"].as_f64().unwrap_or(0.0);
    let one_total = buy["one_provider"]["buy_mib_s"].as_f64().unwrap_or(0.0);
    let two_fetch = buy["two_providers"]["fetch_mib_s"].as_f64().unwrap_or(0.0);
    let report = json!({
        "bench": "transfer",
        "size_mib": size_mib,
        "tcp_mib_s": tcp,
        "iroh_blobs_mib_s": iroh,
        "buy": buy,
        "ratios": {
            "iroh_raw_vs_tcp": raw / tcp,
            "buy_fetch_vs_iroh_raw": one_fetch / raw,
            "buy_whole_vs_iroh_raw": one_total / raw,
            "two_providers_vs_one": two_fetch / one_fetch,
        },
    });
    println!("{report}");
    Ok(())
}
