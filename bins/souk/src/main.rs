//! `souk`: the command-line face of a Souk node.

#![allow(clippy::print_stderr)]

/// Prints a line to stdout. When the reader has gone (`souk datasets | head`), the command ends
/// quietly instead of failing.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::print_line(format_args!($($arg)*))
    };
}

mod anchoring;
mod commands;
mod demo;
mod progress;
mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Souk: a peer-to-peer data market where every contribution leaves a verifiable trail.
#[derive(Debug, Parser)]
#[command(name = "souk", version, about, long_about = None)]
pub struct Cli {
    /// The node's data directory [default: $SOUK_HOME, else <platform data dir>/souk].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create this node's identity (ed25519 key) and a default config.toml.
    Init {
        #[arg(long)]
        json: bool,
    },
    /// Print this node's peer id.
    Id {
        #[arg(long)]
        json: bool,
    },
    /// Encrypt files and folders into a signed dataset held by this node.
    Publish(commands::PublishArgs),
    /// List the catalog, or search it (full text over name, description and tags).
    Datasets {
        /// Words to search for; every word must match (as a prefix).
        query: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a dataset's manifest: fields, contributors, parents, offers, shards.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Export or import signed manifests.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Decrypt a dataset this node holds the key of into a folder.
    Extract {
        id: String,
        /// Folder to create (it must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run a node on the network, or manage it.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Buy a dataset: negotiate a license with its publisher and pay (or use the license already
    /// held), fetch its shards from every provider, and with --out decrypt them into a folder
    /// (needs a running node).
    Buy(commands::BuyArgs),
    /// List this node's receipt log: every sale it made, with the split up the lineage.
    Receipts {
        /// Only the receipts of this dataset.
        #[arg(long, value_name = "ID")]
        dataset: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint of the receipt log, have peers witness it and anchor it now; or deploy
    /// the anchor contract on an EVM chain.
    #[command(args_conflicts_with_subcommands = true)]
    Anchor {
        #[command(subcommand)]
        action: Option<anchoring::AnchorAction>,
        /// Anchor now rather than at the next epoch.
        #[arg(long)]
        now: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the anchored checkpoints of this node's receipt log.
    Checkpoints {
        #[arg(long)]
        json: bool,
    },
    /// Write the proof bundle of one receipt: the receipt, its inclusion proof, the signed
    /// checkpoint and its anchor.
    Proof {
        id: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a proof bundle with no node: signatures, split, inclusion, checkpoint,
    /// cosignatures, anchor; with --evm-rpc, also the anchor on the chain.
    Verify {
        file: PathBuf,
        /// JSON-RPC URL of the chain an EVM-anchored bundle names.
        #[arg(long, value_name = "URL")]
        evm_rpc: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// What each contributor earned in this node's receipt log.
    Earnings {
        #[arg(long)]
        json: bool,
    },
    /// List licenses bought and sold.
    Licenses {
        #[arg(long)]
        json: bool,
    },
    /// List the peers the running node is connected to.
    Peers {
        #[arg(long)]
        json: bool,
    },
    /// Simulate a market or a network.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Run Souk's main flow end to end on temporary nodes, telling the story as it goes.
    Demo {
        /// Keep the demo's data directories in this folder instead of a temporary one.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Join the network: gossip and sync manifests, serve the control API, until SIGINT/SIGTERM.
    Run(commands::NodeRunArgs),
}

#[derive(Debug, Subcommand)]
enum ManifestCommand {
    /// Write a dataset's signed manifest envelope (protobuf) to a file.
    Export {
        id: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Verify a signed manifest file and add it to the catalog.
    Import {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn print_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = || souk_node::data_dir::resolve(cli.data_dir.clone());
    match cli.command {
        Command::Init { json } => commands::init(&data_dir()?, json),
        Command::Id { json } => commands::id(&data_dir()?, json).await,
        Command::Node(NodeCommand::Run(args)) => commands::node_run(&data_dir()?, args).await,
        Command::Peers { json } => commands::peers(&data_dir()?, json).await,
        Command::Buy(args) => commands::buy(&data_dir()?, args).await,
        Command::Licenses { json } => commands::licenses(&data_dir()?, json).await,
        Command::Receipts { dataset, json } => {
            commands::receipts(&data_dir()?, dataset.as_deref(), json).await
        }
        Command::Earnings { json } => commands::earnings(&data_dir()?, json).await,
        Command::Anchor {
            action: Some(anchoring::AnchorAction::Deploy(args)),
            ..
        } => anchoring::deploy(args).await,
        Command::Anchor {
            action: None,
            now: true,
            json,
        } => anchoring::anchor_now(&data_dir()?, json).await,
        Command::Anchor { .. } => Err(anyhow::anyhow!(
            "say `souk anchor --now` to anchor, or `souk anchor deploy` to deploy the contract"
        )),
        Command::Checkpoints { json } => anchoring::checkpoints(&data_dir()?, json).await,
        Command::Proof { id, out } => anchoring::proof(&data_dir()?, &id, &out).await,
        Command::Verify {
            file,
            evm_rpc,
            json,
        } => anchoring::verify(&file, evm_rpc.as_deref(), json).await,
        Command::Publish(args) => commands::publish(&data_dir()?, args).await,
        Command::Datasets { query, json } => {
            commands::datasets(&data_dir()?, query.as_deref(), json).await
        }
        Command::Show { id, json } => commands::show(&data_dir()?, &id, json).await,
        Command::Manifest(ManifestCommand::Export { id, out }) => {
            commands::export(&data_dir()?, &id, &out).await
        }
        Command::Manifest(ManifestCommand::Import { file, json }) => {
            commands::import(&data_dir()?, &file, json).await
        }
        Command::Extract { id, out, json } => {
            commands::extract(&data_dir()?, &id, &out, json).await
        }
        Command::Demo { keep } => demo::run(keep).await,
        Command::Sim(sim::SimCommand::Market(args)) => {
            tokio::task::spawn_blocking(move || sim::market(args)).await?
        }
        Command::Sim(sim::SimCommand::Net(args)) => sim::net(args).await,
    }
}
