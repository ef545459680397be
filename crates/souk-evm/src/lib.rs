//! Anchoring Souk receipt-log checkpoints on an EVM chain.
//!
//! The `SoukAnchor` contract (`contracts/SoukAnchor.sol`, compiled with solc-js into the
//! committed `contracts/SoukAnchor.json`) keeps the latest `(size, root)` per submitting
//! address and log origin and reverts unless the size grows. This crate deploys it, signs
//! anchor transactions so that a caller can persist one before it is broadcast (the same signed
//! transaction is sent again after a crash, so a checkpoint is never anchored twice), follows
//! them to the requested number of confirmations, and runs the checks an auditor makes against
//! the chain.

use alloy::consensus::TxEnvelope;
use alloy::eips::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, TxKind, keccak256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};

pub mod anvil;

alloy::sol! {
    function anchor(string origin, uint64 size, bytes32 root) external;
    function checkpointOf(address submitter, string origin) external view returns (uint64 size, bytes32 root);
    event Anchored(address indexed submitter, bytes32 indexed originHash, uint64 size, bytes32 root);
}

/// The compiled contract, as committed.
pub const ARTIFACT: &str = include_str!("../../../contracts/SoukAnchor.json");

#[derive(Debug, thiserror::Error)]
pub enum EvmError {
    #[error("the EVM RPC endpoint cannot be used: {0}")]
    Rpc(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the chain refused the transaction: {0}")]
    Reverted(String),
}

fn rpc(e: impl std::fmt::Display) -> EvmError {
    EvmError::Rpc(e.to_string())
}

/// Makes rustls usable by the HTTP client: iroh and libp2p bring their own rustls builds, and
/// with more than one crypto provider compiled in rustls will not pick one by itself.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Parses a 32-byte secret key written as hex (with or without `0x`, surrounding blanks
/// ignored).
pub fn parse_key(text: &str) -> Result<PrivateKeySigner, EvmError> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| EvmError::Invalid("an EVM key is 32 bytes of hex".to_owned()))?;
    PrivateKeySigner::from_bytes(&B256::from(bytes))
        .map_err(|_| EvmError::Invalid("the EVM key is not a valid secp256k1 key".to_owned()))
}

/// The contract's creation code, from the committed artifact.
pub fn creation_code() -> Result<Bytes, EvmError> {
    let artifact: serde_json::Value = serde_json::from_str(ARTIFACT)
        .map_err(|e| EvmError::Invalid(format!("the contract artifact is not JSON: {e}")))?;
    artifact["bytecode"]
        .as_str()
        .and_then(|code| alloy::hex::decode(code).ok())
        .map(Bytes::from)
        .ok_or_else(|| EvmError::Invalid("the contract artifact has no bytecode".to_owned()))
}

/// A signed transaction, ready to be recorded and broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    pub hash: [u8; 32],
    pub nonce: u64,
    pub raw: Vec<u8>,
}

/// Where a transaction landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inclusion {
    pub block_number: u64,
    pub gas_used: u64,
    /// Whether it executed without reverting.
    pub succeeded: bool,
}

/// What became of a transaction sent earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    /// Included with at least the required confirmations.
    Confirmed(Inclusion),
    /// Not yet included, or not yet confirmed deeply enough.
    Pending,
    /// Never included, and its nonce was used by another transaction: sign a new one.
    Replaced,
}

/// A checkpoint as the contract holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnChain {
    pub size: u64,
    pub root: [u8; 32],
}

/// An `Anchored` event read back from the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchoredEvent {
    pub contract: Address,
    pub submitter: Address,
    pub origin_hash: [u8; 32],
    pub size: u64,
    pub root: [u8; 32],
    pub block_number: u64,
}

/// A connection to one chain's RPC endpoint.
#[derive(Debug, Clone)]
pub struct Chain {
    provider: RootProvider,
    pub chain_id: u64,
}

impl Chain {
    pub async fn connect(url: &str) -> Result<Self, EvmError> {
        install_crypto_provider();
        let url = url
            .parse()
            .map_err(|e| EvmError::Invalid(format!("{url:?} is not an RPC URL: {e}")))?;
        let provider = RootProvider::new_http(url);
        let chain_id = provider.get_chain_id().await.map_err(rpc)?;
        Ok(Self { provider, chain_id })
    }

    async fn sign(
        &self,
        signer: &PrivateKeySigner,
        kind: TxKind,
        input: Bytes,
    ) -> Result<SignedTx, EvmError> {
        let from = signer.address();
        let nonce = self
            .provider
            .get_transaction_count(from)
            .pending()
            .await
            .map_err(rpc)?;
        let fees = self.provider.estimate_eip1559_fees().await.map_err(rpc)?;
        let mut request = TransactionRequest::default()
            .with_from(from)
            .with_kind(kind)
            .with_input(input)
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let gas = self
            .provider
            .estimate_gas(request.clone())
            .await
            .map_err(|e| EvmError::Reverted(e.to_string()))?;
        // Headroom over the estimate: storage costs can differ by block.
        request.set_gas_limit(gas.saturating_add(gas / 5));
        let wallet = EthereumWallet::from(signer.clone());
        let envelope: TxEnvelope = request
            .build(&wallet)
            .await
            .map_err(|e| EvmError::Invalid(format!("cannot sign the transaction: {e}")))?;
        Ok(SignedTx {
            hash: envelope.tx_hash().0,
            nonce,
            raw: envelope.encoded_2718(),
        })
    }

    /// Signs (does not send) a transaction anchoring `(size, root)` for `origin`.
    pub async fn sign_anchor(
        &self,
        signer: &PrivateKeySigner,
        contract: Address,
        origin: &str,
        size: u64,
        root: [u8; 32],
    ) -> Result<SignedTx, EvmError> {
        let input = anchorCall {
            origin: origin.to_owned(),
            size,
            root: B256::from(root),
        }
        .abi_encode();
        self.sign(signer, TxKind::Call(contract), input.into())
            .await
    }

    /// Sends a signed transaction. Sending one that the chain already has is harmless; whether
    /// it landed is for [`Chain::state`] to say.
    pub async fn broadcast(&self, tx: &SignedTx) -> Result<(), EvmError> {
        match self.provider.send_raw_transaction(&tx.raw).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_transport_error() => Err(rpc(e)),
            Err(e) => {
                tracing::debug!(error = %e, "the node did not take the transaction again");
                Ok(())
            }
        }
    }

    /// What became of `tx`, needing `confirmations` blocks (1 = included).
    pub async fn state(
        &self,
        tx: &SignedTx,
        from: Address,
        confirmations: u64,
    ) -> Result<TxState, EvmError> {
        let receipt = self
            .provider
            .get_transaction_receipt(B256::from(tx.hash))
            .await
            .map_err(rpc)?;
        if let Some(receipt) = receipt {
            let block_number = receipt
                .block_number
                .ok_or_else(|| EvmError::Rpc("a receipt without a block number".to_owned()))?;
            let head = self.provider.get_block_number().await.map_err(rpc)?;
            if head.saturating_add(1) < block_number.saturating_add(confirmations.max(1)) {
                return Ok(TxState::Pending);
            }
            return Ok(TxState::Confirmed(Inclusion {
                block_number,
                gas_used: receipt.gas_used,
                succeeded: receipt.status(),
            }));
        }
        let mined_nonce = self.transactions_included(from).await?;
        if mined_nonce > tx.nonce {
            // The nonce moved on without this transaction: look once more, in case it was
            // mined between the two calls.
            let receipt = self
                .provider
                .get_transaction_receipt(B256::from(tx.hash))
                .await
                .map_err(rpc)?;
            if receipt.is_none() {
                return Ok(TxState::Replaced);
            }
        }
        Ok(TxState::Pending)
    }

    /// How many transactions from `from` the chain has included (its next nonce).
    pub async fn transactions_included(&self, from: Address) -> Result<u64, EvmError> {
        self.provider
            .get_transaction_count(from)
            .latest()
            .await
            .map_err(rpc)
    }

    /// Deploys the contract; returns its address and the inclusion of the deployment.
    pub async fn deploy(
        &self,
        signer: &PrivateKeySigner,
    ) -> Result<(Address, SignedTx, Inclusion), EvmError> {
        let tx = self.sign(signer, TxKind::Create, creation_code()?).await?;
        self.broadcast(&tx).await?;
        let inclusion = self.wait(&tx, signer.address(), 1).await?;
        if !inclusion.succeeded {
            return Err(EvmError::Reverted("the deployment reverted".to_owned()));
        }
        Ok((signer.address().create(tx.nonce), tx, inclusion))
    }

    /// Waits until `tx` has `confirmations`, sending it again now and then.
    pub async fn wait(
        &self,
        tx: &SignedTx,
        from: Address,
        confirmations: u64,
    ) -> Result<Inclusion, EvmError> {
        let mut delay = std::time::Duration::from_millis(50);
        loop {
            match self.state(tx, from, confirmations).await? {
                TxState::Confirmed(inclusion) => return Ok(inclusion),
                TxState::Replaced => {
                    return Err(EvmError::Reverted(
                        "another transaction used this nonce".to_owned(),
                    ));
                }
                TxState::Pending => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(2));
                    self.broadcast(tx).await?;
                }
            }
        }
    }

    /// The latest checkpoint `submitter` anchored for `origin`.
    pub async fn checkpoint_of(
        &self,
        contract: Address,
        submitter: Address,
        origin: &str,
    ) -> Result<OnChain, EvmError> {
        let input = checkpointOfCall {
            submitter,
            origin: origin.to_owned(),
        }
        .abi_encode();
        let request = TransactionRequest::default()
            .with_to(contract)
            .with_input(input);
        let output = self.provider.call(request).await.map_err(rpc)?;
        let decoded = checkpointOfCall::abi_decode_returns(&output).map_err(|e| {
            EvmError::Invalid(format!("{contract} does not answer as SoukAnchor: {e}"))
        })?;
        Ok(OnChain {
            size: decoded.size,
            root: decoded.root.0,
        })
    }

    /// The `Anchored` events emitted by `contract` in transaction `tx_hash`, if it succeeded.
    pub async fn anchored_events(
        &self,
        contract: Address,
        tx_hash: [u8; 32],
    ) -> Result<Vec<AnchoredEvent>, EvmError> {
        let receipt = self
            .provider
            .get_transaction_receipt(B256::from(tx_hash))
            .await
            .map_err(rpc)?
            .ok_or_else(|| EvmError::Invalid("the chain has no such transaction".to_owned()))?;
        if !receipt.status() {
            return Err(EvmError::Invalid(
                "the anchor transaction reverted".to_owned(),
            ));
        }
        let block_number = receipt.block_number.unwrap_or_default();
        Ok(receipt
            .inner
            .logs()
            .iter()
            .filter(|log| log.address() == contract)
            .filter_map(|log| Anchored::decode_log(&log.inner).ok())
            .map(|event| AnchoredEvent {
                contract,
                submitter: event.submitter,
                origin_hash: event.originHash.0,
                size: event.size,
                root: event.root.0,
                block_number,
            })
            .collect())
    }
}

/// The hash under which the contract files checkpoints of `origin`.
pub fn origin_hash(origin: &str) -> [u8; 32] {
    keccak256(origin.as_bytes()).0
}

pub use alloy::primitives::Address as EvmAddress;
pub use alloy::signers::local::PrivateKeySigner as EvmSigner;
