//! Checkpoints sent to an EVM chain. A transaction is recorded, signed, before it is broadcast,
//! so after a crash the node sends that same transaction again instead of signing a second
//! one: a checkpoint is never anchored twice.

use rusqlite::{OptionalExtension, params};

use super::{Catalog, CatalogError, from_sql_int, to_sql_int};

/// Where an EVM anchor transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvmAnchorStatus {
    /// Signed and recorded; broadcast, perhaps included, not yet confirmed.
    Sent,
    /// Included under enough confirmations.
    Confirmed,
    /// Reverted, or its nonce was taken by another transaction.
    Failed,
}

impl EvmAnchorStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Confirmed => "confirmed",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "confirmed" => Self::Confirmed,
            "failed" => Self::Failed,
            _ => Self::Sent,
        }
    }
}

/// One anchor transaction of a local anchor link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmAnchor {
    /// The local anchor link whose checkpoint it carries.
    pub seq: u64,
    pub size: u64,
    pub chain_id: u64,
    /// `0x`-prefixed addresses.
    pub contract: String,
    pub submitter: String,
    pub tx_hash: [u8; 32],
    pub nonce: u64,
    pub raw_tx: Vec<u8>,
    pub status: EvmAnchorStatus,
    pub block_number: Option<u64>,
    pub gas_used: Option<u64>,
    pub created_at_ms: u64,
}

const COLUMNS: &str = "seq, size, chain_id, contract, submitter, tx_hash, nonce, raw_tx, status, \
                       block_number, gas_used, created_at_ms";

fn row_to_anchor(row: &rusqlite::Row<'_>) -> rusqlite::Result<EvmAnchor> {
    let hash: Vec<u8> = row.get(5)?;
    let status: String = row.get(8)?;
    Ok(EvmAnchor {
        seq: from_sql_int(row.get(0)?),
        size: from_sql_int(row.get(1)?),
        chain_id: from_sql_int(row.get(2)?),
        contract: row.get(3)?,
        submitter: row.get(4)?,
        tx_hash: <[u8; 32]>::try_from(hash.as_slice()).unwrap_or_default(),
        nonce: from_sql_int(row.get(6)?),
        raw_tx: row.get(7)?,
        status: EvmAnchorStatus::parse(&status),
        block_number: row.get::<_, Option<i64>>(9)?.map(from_sql_int),
        gas_used: row.get::<_, Option<i64>>(10)?.map(from_sql_int),
        created_at_ms: from_sql_int(row.get(11)?),
    })
}

impl Catalog {
    /// Records a signed anchor transaction, durably, before it is broadcast.
    pub fn record_evm_sent(&mut self, anchor: &EvmAnchor) -> Result<(), CatalogError> {
        self.durably(|catalog| {
            catalog.conn.execute(
                &format!("INSERT INTO evm_anchors ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, ?10)"),
                params![
                    to_sql_int(anchor.seq)?,
                    to_sql_int(anchor.size)?,
                    to_sql_int(anchor.chain_id)?,
                    anchor.contract,
                    anchor.submitter,
                    anchor.tx_hash.as_slice(),
                    to_sql_int(anchor.nonce)?,
                    anchor.raw_tx,
                    EvmAnchorStatus::Sent.as_str(),
                    to_sql_int(anchor.created_at_ms)?,
                ],
            )?;
            Ok(())
        })
    }

    /// Records what became of a sent transaction.
    pub fn settle_evm(
        &mut self,
        tx_hash: &[u8; 32],
        status: EvmAnchorStatus,
        block_number: Option<u64>,
        gas_used: Option<u64>,
    ) -> Result<(), CatalogError> {
        self.durably(|catalog| {
            catalog.conn.execute(
                "UPDATE evm_anchors SET status = ?2, block_number = ?3, gas_used = ?4
                 WHERE tx_hash = ?1",
                params![
                    tx_hash.as_slice(),
                    status.as_str(),
                    block_number.map(to_sql_int).transpose()?,
                    gas_used.map(to_sql_int).transpose()?,
                ],
            )?;
            Ok(())
        })
    }

    /// The transaction sent and not yet settled, if any (there is at most one).
    pub fn evm_unsettled(&self) -> Result<Option<EvmAnchor>, CatalogError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM evm_anchors WHERE status = 'sent'
                     ORDER BY created_at_ms LIMIT 1"
                ),
                [],
                row_to_anchor,
            )
            .optional()?)
    }

    /// Every anchor transaction, oldest first.
    pub fn evm_anchors(&self) -> Result<Vec<EvmAnchor>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM evm_anchors ORDER BY created_at_ms, seq"
        ))?;
        let anchors = stmt
            .query_map([], row_to_anchor)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(anchors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(seq: u64, hash: u8) -> EvmAnchor {
        EvmAnchor {
            seq,
            size: seq + 1,
            chain_id: 31337,
            contract: "0xc0".to_owned(),
            submitter: "0x5e".to_owned(),
            tx_hash: [hash; 32],
            nonce: seq,
            raw_tx: vec![hash; 100],
            status: EvmAnchorStatus::Sent,
            block_number: None,
            gas_used: None,
            created_at_ms: seq,
        }
    }

    #[test]
    fn a_sent_transaction_stays_unsettled_until_settled() {
        let mut catalog = Catalog::open_in_memory().expect("open");
        for (size, note) in [(1, "a"), (2, "b")] {
            catalog
                .anchor_locally(size, &[size as u8; 32], note, 0)
                .expect("anchor");
        }
        assert_eq!(catalog.evm_unsettled().expect("read"), None);
        catalog.record_evm_sent(&sent(0, 1)).expect("record");
        assert_eq!(catalog.evm_unsettled().expect("read"), Some(sent(0, 1)));
        assert!(
            catalog.record_evm_sent(&sent(0, 1)).is_err(),
            "recorded twice"
        );
        catalog
            .settle_evm(&[1; 32], EvmAnchorStatus::Confirmed, Some(7), Some(40_000))
            .expect("settle");
        assert_eq!(catalog.evm_unsettled().expect("read"), None);
        let all = catalog.evm_anchors().expect("list");
        assert_eq!(all[0].status, EvmAnchorStatus::Confirmed);
        assert_eq!(
            (all[0].block_number, all[0].gas_used),
            (Some(7), Some(40_000))
        );
    }
}
