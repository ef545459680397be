//! A local anvil chain for tests, benchmarks and the auditor walk-through: started on a free
//! 127.0.0.1 port, stopped when dropped. The binary comes from the npm package
//! `@foundry-rs/anvil` that `scripts/install-tools.sh` installs into `.tools/`, or from
//! `SOUK_ANVIL`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::EvmError;

/// The secret key of anvil's first funded development account (public knowledge: dev only).
pub const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// How long anvil may take to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the anvil binary is: `SOUK_ANVIL`, else the project's `.tools/`.
pub fn binary() -> PathBuf {
    std::env::var_os("SOUK_ANVIL").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        },
        PathBuf::from,
    )
}

/// A running anvil process.
#[derive(Debug)]
pub struct Anvil {
    child: tokio::process::Child,
    pub port: u16,
    state: Option<PathBuf>,
}

fn free_port() -> Result<u16, EvmError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| EvmError::Invalid(format!("no free port: {e}")))
}

impl Anvil {
    /// Starts anvil on a free port. With `state`, the chain is loaded from and saved to that
    /// file, so a restarted anvil continues the same chain.
    pub async fn start(state: Option<&Path>) -> Result<Self, EvmError> {
        Self::start_on(free_port()?, state).await
    }

    /// Starts anvil on `port`.
    pub async fn start_on(port: u16, state: Option<&Path>) -> Result<Self, EvmError> {
        let binary = binary();
        if !binary.exists() {
            return Err(EvmError::Invalid(format!(
                "anvil is not installed at {}: run `bash scripts/install-tools.sh` (it installs \
                 the npm package @foundry-rs/anvil into .tools/), or set SOUK_ANVIL",
                binary.display()
            )));
        }
        let mut command = tokio::process::Command::new(&binary);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(state) = state {
            command.arg("--state").arg(state);
        }
        let child = command
            .spawn()
            .map_err(|e| EvmError::Invalid(format!("cannot start {}: {e}", binary.display())))?;
        let anvil = Self {
            child,
            port,
            state: state.map(Path::to_path_buf),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if crate::Chain::connect(&anvil.url()).await.is_ok() {
                return Ok(anvil);
            }
            if Instant::now() > deadline {
                return Err(EvmError::Rpc("anvil did not start answering".to_owned()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Mines one block.
    pub async fn mine(&self) -> Result<(), EvmError> {
        use alloy::providers::Provider;
        let url = self
            .url()
            .parse()
            .map_err(|e| EvmError::Invalid(format!("{e}")))?;
        let provider = alloy::providers::RootProvider::<alloy::network::Ethereum>::new_http(url);
        provider
            .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
            .await
            .map_err(|e| EvmError::Rpc(e.to_string()))?;
        Ok(())
    }

    /// Stops anvil, letting it save its state first when it keeps one.
    pub async fn stop(mut self) -> Result<(), EvmError> {
        if self.state.is_some()
            && let Some(pid) = self.child.id()
        {
            // SIGTERM lets anvil write its state file; a kill would lose the chain.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        }
        let _ = self.child.kill().await;
        Ok(())
    }
}
