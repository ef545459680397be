//! The receipt log's rows: countersigned receipts in log order.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use souk_types::DatasetId;

use super::{Catalog, CatalogError, from_sql_int, id_from_row, to_sql_int};

/// A receipt to append to the log.
#[derive(Debug, Clone, Copy)]
pub struct NewReceipt<'a> {
    pub id: &'a [u8; 32],
    pub dataset: &'a DatasetId,
    /// `sale` or `delivery`.
    pub kind: &'static str,
    /// The countersigned receipt, exactly as the log hashes it.
    pub leaf: &'a [u8],
    pub leaf_hash: &'a [u8; 32],
    pub now_ms: u64,
}

/// One receipt of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedReceipt {
    pub index: u64,
    pub id: [u8; 32],
    pub dataset: DatasetId,
    pub kind: String,
    pub leaf: Vec<u8>,
    pub created_at_ms: u64,
}

fn logged(row: &rusqlite::Row<'_>) -> rusqlite::Result<LoggedReceipt> {
    let id: Vec<u8> = row.get(1)?;
    Ok(LoggedReceipt {
        index: from_sql_int(row.get(0)?),
        id: <[u8; 32]>::try_from(id.as_slice()).unwrap_or_default(),
        dataset: id_from_row(row.get(2)?)?,
        kind: row.get(3)?,
        leaf: row.get(4)?,
        created_at_ms: from_sql_int(row.get(5)?),
    })
}

const COLUMNS: &str = "seq, id, dataset_id, kind, leaf, created_at_ms";

impl Catalog {
    /// Appends a receipt at the end of the log, durably, and returns its leaf index and whether
    /// it is new (a receipt already logged keeps the index it has).
    pub fn append_receipt(&mut self, receipt: NewReceipt<'_>) -> Result<(u64, bool), CatalogError> {
        self.durably(|catalog| catalog.append_receipt_durably(receipt))
    }

    fn append_receipt_durably(
        &mut self,
        receipt: NewReceipt<'_>,
    ) -> Result<(u64, bool), CatalogError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT seq FROM receipt_log WHERE id = ?1",
                [receipt.id.as_slice()],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(seq) = existing {
            return Ok((from_sql_int(seq), false));
        }
        let next: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq) + 1, 0) FROM receipt_log",
            [],
            |row| row.get(0),
        )?;
        tx.execute(
            "INSERT INTO receipt_log (seq, id, dataset_id, kind, leaf, leaf_hash, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                next,
                receipt.id.as_slice(),
                receipt.dataset.as_bytes().as_slice(),
                receipt.kind,
                receipt.leaf,
                receipt.leaf_hash.as_slice(),
                to_sql_int(receipt.now_ms)?,
            ],
        )?;
        tx.commit()?;
        Ok((from_sql_int(next), true))
    }

    /// How many receipts the log holds.
    pub fn receipt_count(&self) -> Result<u64, CatalogError> {
        let count: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM receipt_log", [], |row| row.get(0))?;
        Ok(from_sql_int(count))
    }

    /// Every leaf hash, in log order: enough to rebuild the Merkle tree.
    pub fn receipt_leaf_hashes(&self) -> Result<Vec<[u8; 32]>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT leaf_hash FROM receipt_log ORDER BY seq")?;
        let hashes = stmt
            .query_map([], |row| row.get::<_, Vec<u8>>(0))?
            .map(|h| Ok(<[u8; 32]>::try_from(h?.as_slice()).unwrap_or_default()))
            .collect::<Result<Vec<_>, CatalogError>>()?;
        Ok(hashes)
    }

    /// The receipt with `id`, if it is logged.
    pub fn receipt(&self, id: &[u8; 32]) -> Result<Option<LoggedReceipt>, CatalogError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM receipt_log WHERE id = ?1"),
                [id.as_slice()],
                logged,
            )
            .optional()?)
    }

    /// The logged receipts, of one dataset or of all, in log order.
    pub fn receipts(
        &self,
        dataset: Option<&DatasetId>,
    ) -> Result<Vec<LoggedReceipt>, CatalogError> {
        let rows = match dataset {
            Some(id) => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM receipt_log WHERE dataset_id = ?1 ORDER BY seq"
                ))?;
                stmt.query_map([id.as_bytes().as_slice()], logged)?
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => {
                let mut stmt = self
                    .conn
                    .prepare_cached(&format!("SELECT {COLUMNS} FROM receipt_log ORDER BY seq"))?;
                stmt.query_map([], logged)?.collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_append_in_order_once_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.db");
        let dataset = DatasetId::from_bytes([4; 32]);
        let mut catalog = Catalog::open_for_network(&path).expect("open");
        for n in 0..3u8 {
            let receipt = NewReceipt {
                id: &[n; 32],
                dataset: &dataset,
                kind: "sale",
                leaf: &[n, n],
                leaf_hash: &[n + 10; 32],
                now_ms: 7,
            };
            assert_eq!(
                catalog.append_receipt(receipt).expect("append"),
                (u64::from(n), true)
            );
            assert_eq!(
                catalog.append_receipt(receipt).expect("again"),
                (u64::from(n), false)
            );
        }
        drop(catalog);
        let catalog = Catalog::open(&path).expect("reopen");
        assert_eq!(
            catalog.receipt_leaf_hashes().expect("hashes"),
            vec![[10; 32], [11; 32], [12; 32]]
        );
        let second = catalog.receipt(&[1; 32]).expect("query").expect("logged");
        assert_eq!((second.index, second.leaf), (1, vec![1, 1]));
        assert_eq!(catalog.receipts(Some(&dataset)).expect("list").len(), 3);
        assert!(
            catalog
                .receipts(Some(&DatasetId::from_bytes([5; 32])))
                .expect("list")
                .is_empty()
        );
    }
}
