//! `souk-bench`: measured, not guessed. Each benchmark runs its baseline and the real thing in the
//! same run, in separate child processes (so memory peaks and CPU pinning are per phase), and
//! prints one JSON line with the throughputs and their ratios.
//!
//! `souk-bench publish --json`:
//! - raw limit: ChaCha20-Poly1305 sealing plus one BLAKE3 hash of 1 MiB chunks, on one thread
//!   pinned to one core, and on one thread per core;
//! - store ceiling: importing 1 MiB blobs into a fresh iroh-blobs store, pinned to one core;
//! - publish: the real pipeline (`souk_node::Node::publish`) from input files into a fresh
//!   iroh-blobs store and catalog, pinned to one core, and on all cores;
//! - peak RSS of each publish phase.
//!
//! Input and data directories live in RAM (`/dev/shm`) when it exists, so the disk is not measured.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod negotiation;
mod propagation;
mod receipts;
mod transfer;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(name = "souk-bench")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Shard encryption limit against the publish pipeline.
    Publish {
        /// Input size in MiB.
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
        /// Print only the JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Time from announcing a manifest to its arrival in every catalog, over real nodes on
    /// 127.0.0.1 in this process.
    Propagation {
        #[arg(long, default_value_t = 10)]
        nodes: usize,
        /// Peers each new node bootstraps to (earlier nodes, chosen by a fixed rule).
        #[arg(long, default_value_t = 3)]
        degree: usize,
        #[arg(long)]
        json: bool,
    },
    /// License negotiation between real nodes in this process: purchase latency (two request
    /// round trips each) and purchases per second at one seller.
    Negotiation {
        #[arg(long, default_value_t = 500)]
        purchases: usize,
        #[arg(long, default_value_t = 4)]
        buyers: usize,
        #[arg(long)]
        json: bool,
    },
    /// The receipt log: durable appends, Merkle appends, proofs built and verified per second,
    /// and proof size.
    Receipts {
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        #[arg(long)]
        json: bool,
    },
    /// Shard transfer: loopback TCP, raw iroh-blobs between two processes (several QUIC
    /// settings), and `souk buy` between real node processes with one and two providers.
    /// Needs the `souk` binary built next to this one.
    Transfer {
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
        #[arg(long)]
        json: bool,
    },
    /// The serving side of `transfer`'s iroh-blobs phases, in a child process.
    #[command(hide = true)]
    BlobsServe {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        work: PathBuf,
        #[arg(long)]
        reader: String,
        #[arg(long)]
        mtu: Option<u16>,
        #[arg(long)]
        window: Option<u32>,
    },
    /// One measured phase, run by `publish` in a child process.
    #[command(hide = true)]
    Phase {
        #[arg(long)]
        kind: PhaseKind,
        #[arg(long)]
        threads: usize,
        #[arg(long)]
        pin_one_core: bool,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        work: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PhaseKind {
    Raw,
    Import,
    Publish,
}

const CHUNK: usize = 1 << 20;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().bench {
        Bench::Publish { size_mib, json } => publish_bench(size_mib, json),
        Bench::Propagation {
            nodes,
            degree,
            json,
        } => propagation::run(nodes, degree, json),
        Bench::Transfer { size_mib, json } => transfer::run(size_mib, json),
        Bench::Receipts { count, json } => receipts::run(count, json),
        Bench::Negotiation {
            purchases,
            buyers,
            json,
        } => negotiation::run(purchases, buyers, json),
        Bench::BlobsServe {
            input,
            work,
            reader,
            mtu,
            window,
        } => transfer::serve(
            &input,
            &work,
            &reader,
            souk_transfer::Tuning {
                initial_mtu: mtu,
                window,
            },
        ),
        Bench::Phase {
            kind,
            threads,
            pin_one_core,
            input,
            work,
        } => {
            if pin_one_core {
                let first = core_affinity::get_core_ids()
                    .and_then(|ids| ids.into_iter().next())
                    .context("no CPU to pin to")?;
                // Threads inherit the mask of the thread that creates them: pinning before any
                // runtime exists keeps the whole phase on one core.
                if !core_affinity::set_for_current(first) {
                    bail!("could not pin to one core");
                }
            }
            let result = match kind {
                PhaseKind::Raw => raw_phase(threads, &input)?,
                PhaseKind::Import => import_phase(threads, &input, &work)?,
                PhaseKind::Publish => publish_phase(threads, &input, &work)?,
            };
            println!("{result}");
            Ok(())
        }
    }
}

/// Starts an in-process node in `dir` on 127.0.0.1 (every port chosen by the system), reporting
/// its network events to `events`.
async fn start_loopback_node(
    dir: &Path,
    bootstrap: Vec<String>,
    net: &souk_node::NetConfig,
    events: tokio::sync::broadcast::Sender<souk_node::network::NetEvent>,
) -> anyhow::Result<souk_node::Daemon> {
    let config = souk_node::Config {
        network: souk_node::NetworkConfig::loopback(&bootstrap),
        ..souk_node::Config::default()
    };
    Ok(souk_node::daemon::start_observed(dir, &config, net.clone(), events).await?)
}

fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// Writes `size` bytes of incompressible input as 64 MiB files.
fn write_input(dir: &Path, size: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut remaining = size;
    let mut part = 0;
    while remaining > 0 {
        let len = remaining.min(64 << 20);
        let mut bytes = vec![0u8; usize::try_from(len)?];
        for word in bytes.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        std::fs::write(dir.join(format!("part-{part:04}.bin")), bytes)?;
        remaining -= len;
        part += 1;
    }
    Ok(())
}

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn input_size(input: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(input)? {
        total += entry?.metadata()?.len();
    }
    Ok(total)
}

/// Seals and hashes `size` bytes in 1 MiB chunks on each of `threads` threads.
fn raw_phase(threads: usize, input: &Path) -> anyhow::Result<Value> {
    let size = input_size(input)?;
    let chunks = size / CHUNK as u64;
    let key = souk_crypto::DatasetKey::from_bytes([7; 32]);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let cipher = key.cipher();
            scope.spawn(move || {
                let mut buf = vec![t as u8; CHUNK];
                let mut sink = 0u8;
                for index in 0..chunks {
                    buf.truncate(CHUNK);
                    let _ = cipher.seal(index, &mut buf);
                    sink ^= blake3::hash(&buf).as_bytes()[0];
                }
                std::hint::black_box(sink);
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({ "bytes": chunks * CHUNK as u64 * threads as u64, "secs": secs }))
}

/// Imports `size` bytes of 1 MiB blobs into a fresh iroh-blobs store, `threads` at a time: the
/// store's own ceiling, with no encryption.
fn import_phase(threads: usize, input: &Path, work: &Path) -> anyhow::Result<Value> {
    let size = input_size(input)?;
    let chunks = size / CHUNK as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = work.join(format!("import-{threads}"));
        let store = souk_store::blobs::open(&dir, std::time::Duration::from_secs(3600)).await?;
        let batch = store.blobs().batch().await?;
        let started = Instant::now();
        let pins: Vec<_> = futures::stream::iter(0..chunks)
            .map(|i| {
                let mut chunk = vec![0u8; CHUNK];
                chunk[..8].copy_from_slice(&i.to_le_bytes());
                let batch = &batch;
                async move { batch.add_bytes(chunk).temp_tag().await }
            })
            .buffered(threads.max(1) * 2)
            .try_collect()
            .await?;
        let secs = started.elapsed().as_secs_f64();
        drop(pins);
        drop(batch);
        store.shutdown().await?;
        std::fs::remove_dir_all(&dir)?;
        Ok(json!({ "bytes": chunks * CHUNK as u64, "secs": secs }))
    })
}

/// The real publish of `input` into a fresh node in `work` with `threads` shard workers.
fn publish_phase(threads: usize, input: &Path, work: &Path) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = work.join(format!("node-{threads}"));
        souk_node::data_dir::init(&dir)?;
        std::fs::write(
            dir.join("config.toml"),
            format!("[publish]\nworkers = {threads}\n"),
        )?;
        let mut node = souk_node::Node::open(&dir).await?;
        let request = node.prepare_publish(souk_node::DatasetSpec {
            paths: vec![input.to_owned()],
            name: Some("bench".into()),
            ..Default::default()
        })?;
        let started = Instant::now();
        let report = node.publish(request, &|_| {}, &|_| {}).await?;
        let secs = started.elapsed().as_secs_f64();
        node.shutdown().await;
        std::fs::remove_dir_all(&dir)?;
        Ok(json!({
            "bytes": report.data_size,
            "secs": secs,
            "peak_rss": peak_rss_bytes(),
        }))
    })
}

fn run_phase(
    kind: &str,
    threads: usize,
    pin: bool,
    input: &Path,
    work: &Path,
) -> anyhow::Result<Value> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["phase", "--kind", kind, "--threads", &threads.to_string()])
        .arg("--input")
        .arg(input)
        .arg("--work")
        .arg(work);
    if pin {
        cmd.arg("--pin-one-core");
    }
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "{kind} phase failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn mib_per_sec(phase: &Value) -> f64 {
    let bytes = phase["bytes"].as_f64().unwrap_or(0.0);
    let secs = phase["secs"].as_f64().unwrap_or(f64::INFINITY);
    bytes / secs / (1024.0 * 1024.0)
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn publish_bench(size_mib: u64, quiet: bool) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let scratch = tempfile::Builder::new()
        .prefix("souk-bench-")
        .tempdir_in(scratch_root())?;
    let input = scratch.path().join("input");
    write_input(&input, size_mib << 20)?;
    let work = scratch.path();
    if !quiet {
        eprintln!(
            "input: {size_mib} MiB in {}; {cores} cores",
            input.display()
        );
    }
    let raw_1 = run_phase("raw", 1, true, &input, work)?;
    let raw_n = run_phase("raw", cores, false, &input, work)?;
    let import_1 = run_phase("import", 1, true, &input, work)?;
    let pub_1 = run_phase("publish", 1, true, &input, work)?;
    let pub_n = run_phase("publish", cores, false, &input, work)?;
    let (r1, rn, p1, pn) = (
        mib_per_sec(&raw_1),
        mib_per_sec(&raw_n),
        mib_per_sec(&pub_1),
        mib_per_sec(&pub_n),
    );
    // Sealing and the store's import both touch every byte on the same core: together they bound
    // what a one-core publish can reach.
    let i1 = mib_per_sec(&import_1);
    let serial = 1.0 / (1.0 / r1 + 1.0 / i1);
    let mib = |v: &Value| round2(v["peak_rss"].as_f64().unwrap_or(0.0) / (1024.0 * 1024.0));
    println!(
        "{}",
        json!({
            "bench": "publish",
            "input_mib": size_mib,
            "cores": cores,
            "raw_encrypt_hash_1core_mib_s": round2(r1),
            "raw_encrypt_hash_allcores_mib_s": round2(rn),
            "store_import_1core_mib_s": round2(i1),
            "raw_then_import_1core_mib_s": round2(serial),
            "publish_vs_raw_then_import_1core": round2(p1 / serial),
            "publish_1core_mib_s": round2(p1),
            "publish_allcores_mib_s": round2(pn),
            "publish_vs_raw_1core": round2(p1 / r1),
            "publish_vs_raw_allcores": round2(pn / rn),
            "publish_allcores_vs_1core": round2(pn / p1),
            "publish_peak_rss_mib_1core": mib(&pub_1),
            "publish_peak_rss_mib_allcores": mib(&pub_n),
        })
    );
    Ok(())
}
