//! The `evm` anchor backend: submits the newest locally anchored checkpoint to the SoukAnchor
//! contract, follows it to the configured confirmations, and retries with backoff while the
//! RPC endpoint is down. Each transaction is recorded signed before it is broadcast and sent
//! again after a restart, so no checkpoint is lost or anchored twice.

use std::sync::Arc;
use std::time::Duration;

use souk_evm::{Chain, EvmAddress, EvmSigner, SignedTx, TxState};
use souk_store::{Catalog, EvmAnchor, EvmAnchorStatus};
use tokio::sync::{Notify, broadcast};

use crate::network::NetEvent;
use crate::node::now_ms;

/// What happened to a checkpoint on its way to the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainAnchorState {
    /// The transaction was signed, recorded and broadcast.
    Sent {
        tx_hash: String,
    },
    Confirmed {
        block_number: u64,
        gas_used: u64,
    },
    /// Reverted, or its nonce was taken: the checkpoint will be sent again.
    Failed {
        reason: String,
    },
    /// The RPC endpoint could not be used; the node retries with backoff.
    Unreachable {
        error: String,
    },
}

/// Longest pause between two attempts while the chain cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How often a transaction waiting for confirmations is looked at.
const CONFIRMATION_POLL: Duration = Duration::from_millis(250);
/// How often the anchor chain is looked at when nothing wakes the task.
const IDLE_POLL: Duration = Duration::from_secs(5);

enum Progress {
    Idle,
    Waiting,
}

/// The settings of the evm backend, checked.
#[derive(Debug, Clone)]
pub(crate) struct EvmSettings {
    pub rpc: String,
    pub signer: EvmSigner,
    pub contract: EvmAddress,
    pub confirmations: u64,
}

impl EvmSettings {
    pub fn from_config(config: &crate::AnchorConfig) -> Result<Self, crate::NodeError> {
        let key = std::fs::read_to_string(&config.evm_key_file).map_err(|e| {
            crate::NodeError::io(
                format!("reading the EVM key file {}", config.evm_key_file),
                e,
            )
        })?;
        let signer = souk_evm::parse_key(&key)
            .map_err(|e| crate::NodeError::Invalid(format!("{}: {e}", config.evm_key_file)))?;
        let contract = config.evm_contract.parse().map_err(|_| {
            crate::NodeError::Invalid(format!("{:?} is not an address", config.evm_contract))
        })?;
        Ok(Self {
            rpc: config.evm_rpc.clone(),
            signer,
            contract,
            confirmations: config.confirmations.max(1),
        })
    }
}

pub(crate) struct EvmAnchoring {
    catalog: Catalog,
    settings: EvmSettings,
    origin: String,
    chain: Option<Chain>,
    events: broadcast::Sender<NetEvent>,
}

fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(6);
    (Duration::from_millis(250) * 2u32.pow(exponent)).min(MAX_BACKOFF)
}

impl EvmAnchoring {
    pub fn new(
        catalog: Catalog,
        settings: EvmSettings,
        origin: String,
        events: broadcast::Sender<NetEvent>,
    ) -> Self {
        Self {
            catalog,
            settings,
            origin,
            chain: None,
            events,
        }
    }

    fn emit(&self, size: u64, state: ChainAnchorState) {
        let _ = self.events.send(NetEvent::ChainAnchor { size, state });
    }

    /// Runs until the task is aborted; `wake` is notified when a checkpoint is anchored locally.
    pub async fn run(mut self, wake: Arc<Notify>) {
        let mut failures = 0u32;
        loop {
            let pause = match self.step().await {
                Ok(Progress::Idle) => {
                    failures = 0;
                    None
                }
                Ok(Progress::Waiting) => {
                    failures = 0;
                    Some(CONFIRMATION_POLL)
                }
                Err((size, error)) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%error, "cannot anchor on the EVM chain; retrying");
                    // A broken connection is made again on the next attempt.
                    self.chain = None;
                    self.emit(size, ChainAnchorState::Unreachable { error });
                    Some(backoff(failures))
                }
            };
            match pause {
                Some(pause) => tokio::time::sleep(pause).await,
                None => {
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
            }
        }
    }

    async fn chain(&mut self) -> Result<&Chain, String> {
        if self.chain.is_none() {
            let chain = Chain::connect(&self.settings.rpc)
                .await
                .map_err(|e| e.to_string())?;
            self.chain = Some(chain);
        }
        self.chain
            .as_ref()
            .ok_or_else(|| "no chain connection".to_owned())
    }

    async fn step(&mut self) -> Result<Progress, (u64, String)> {
        let unsettled = self
            .catalog
            .evm_unsettled()
            .map_err(|e| (0, e.to_string()))?;
        if let Some(sent) = unsettled {
            return self.follow(sent).await.map_err(|e| (0, e));
        }
        let latest = self
            .catalog
            .anchors()
            .map_err(|e| (0, e.to_string()))?
            .pop();
        let Some(latest) = latest else {
            return Ok(Progress::Idle);
        };
        let anchored = self
            .catalog
            .evm_anchors()
            .map_err(|e| (latest.size, e.to_string()))?
            .iter()
            .filter(|a| a.status == EvmAnchorStatus::Confirmed)
            .map(|a| a.size)
            .max()
            .unwrap_or(0);
        if latest.size <= anchored {
            return Ok(Progress::Idle);
        }
        self.submit(&latest).await.map_err(|e| (latest.size, e))?;
        Ok(Progress::Waiting)
    }

    async fn submit(&mut self, link: &souk_store::AnchorLink) -> Result<(), String> {
        let (signer, contract) = (self.settings.signer.clone(), self.settings.contract);
        let origin = self.origin.clone();
        let chain = self.chain().await?.clone();
        let on_chain = chain
            .checkpoint_of(contract, signer.address(), &origin)
            .await
            .map_err(|e| e.to_string())?;
        if on_chain.size >= link.size {
            return Err(format!(
                "the contract already holds a checkpoint of {} receipts from this submitter, \
                 not fewer than the {} to anchor",
                on_chain.size, link.size
            ));
        }
        let tx = chain
            .sign_anchor(&signer, contract, &origin, link.size, link.root)
            .await
            .map_err(|e| e.to_string())?;
        self.catalog
            .record_evm_sent(&EvmAnchor {
                seq: link.seq,
                size: link.size,
                chain_id: chain.chain_id,
                contract: contract.to_string(),
                submitter: signer.address().to_string(),
                tx_hash: tx.hash,
                nonce: tx.nonce,
                raw_tx: tx.raw.clone(),
                status: EvmAnchorStatus::Sent,
                block_number: None,
                gas_used: None,
                created_at_ms: now_ms(),
            })
            .map_err(|e| e.to_string())?;
        self.emit(
            link.size,
            ChainAnchorState::Sent {
                tx_hash: format!("0x{}", hex::encode(tx.hash)),
            },
        );
        // Recorded first: if this send is lost, the next step sends the same transaction.
        chain.broadcast(&tx).await.map_err(|e| e.to_string())
    }

    async fn follow(&mut self, sent: EvmAnchor) -> Result<Progress, String> {
        let from = self.settings.signer.address();
        let confirmations = self.settings.confirmations;
        let chain = self.chain().await?.clone();
        let tx = SignedTx {
            hash: sent.tx_hash,
            nonce: sent.nonce,
            raw: sent.raw_tx.clone(),
        };
        let state = if sent.chain_id != chain.chain_id {
            TxState::Replaced
        } else {
            chain.broadcast(&tx).await.map_err(|e| e.to_string())?;
            chain
                .state(&tx, from, confirmations)
                .await
                .map_err(|e| e.to_string())?
        };
        let (status, block, gas, event) = match state {
            TxState::Pending => return Ok(Progress::Waiting),
            TxState::Confirmed(inclusion) if inclusion.succeeded => (
                EvmAnchorStatus::Confirmed,
                Some(inclusion.block_number),
                Some(inclusion.gas_used),
                ChainAnchorState::Confirmed {
                    block_number: inclusion.block_number,
                    gas_used: inclusion.gas_used,
                },
            ),
            TxState::Confirmed(inclusion) => (
                EvmAnchorStatus::Failed,
                Some(inclusion.block_number),
                Some(inclusion.gas_used),
                ChainAnchorState::Failed {
                    reason: "the anchor transaction reverted".to_owned(),
                },
            ),
            TxState::Replaced => (
                EvmAnchorStatus::Failed,
                None,
                None,
                ChainAnchorState::Failed {
                    reason: "the transaction was never included and its nonce is spent".to_owned(),
                },
            ),
        };
        self.catalog
            .settle_evm(&sent.tx_hash, status, block, gas)
            .map_err(|e| e.to_string())?;
        tracing::info!(size = sent.size, ?status, "EVM anchor settled");
        self.emit(sent.size, event);
        Ok(Progress::Waiting)
    }
}
