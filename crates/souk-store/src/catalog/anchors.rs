//! The local anchor chain: signed checkpoints of the receipt log, hash-linked.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use souk_crypto::checkpoint::anchor_link;

use super::{Catalog, CatalogError, from_sql_int, to_sql_int};

/// One link of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorLink {
    pub seq: u64,
    pub size: u64,
    pub root: [u8; 32],
    pub note: String,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
    pub created_at_ms: u64,
}

fn bytes32(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<[u8; 32]> {
    let bytes: Vec<u8> = row.get(i)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Blob,
            "not 32 bytes".into(),
        )
    })
}

fn link(row: &rusqlite::Row<'_>) -> rusqlite::Result<AnchorLink> {
    Ok(AnchorLink {
        seq: from_sql_int(row.get(0)?),
        size: from_sql_int(row.get(1)?),
        root: bytes32(row, 2)?,
        note: row.get(3)?,
        prev: bytes32(row, 4)?,
        hash: bytes32(row, 5)?,
        created_at_ms: from_sql_int(row.get(6)?),
    })
}

const COLUMNS: &str = "seq, size, root, note, prev, hash, created_at_ms";

impl Catalog {
    /// Appends a signed checkpoint of `size` leaves with `root` to the local anchor chain,
    /// durably. A checkpoint of the size already anchored last is not anchored twice; a smaller
    /// one is refused (the log only grows).
    pub fn anchor_locally(
        &mut self,
        size: u64,
        root: &[u8; 32],
        note: &str,
        now_ms: u64,
    ) -> Result<AnchorLink, CatalogError> {
        self.durably(|catalog| catalog.anchor_durably(size, root, note, now_ms))
    }

    fn anchor_durably(
        &mut self,
        size: u64,
        root: &[u8; 32],
        note: &str,
        now_ms: u64,
    ) -> Result<AnchorLink, CatalogError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last = tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM anchors ORDER BY seq DESC LIMIT 1"),
                [],
                link,
            )
            .optional()?;
        if let Some(last) = &last {
            if last.size == size {
                return Ok(last.clone());
            }
            if last.size > size {
                return Err(CatalogError::Shrinking {
                    anchored: last.size,
                    offered: size,
                });
            }
        }
        let prev = last.as_ref().map_or([0; 32], |l| l.hash);
        let seq = last.as_ref().map_or(0, |l| l.seq + 1);
        let anchored = AnchorLink {
            seq,
            size,
            root: *root,
            note: note.to_owned(),
            prev,
            hash: anchor_link(seq, &prev, note),
            created_at_ms: now_ms,
        };
        tx.execute(
            "INSERT INTO anchors (seq, size, root, note, prev, hash, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                to_sql_int(anchored.seq)?,
                to_sql_int(size)?,
                root.as_slice(),
                note,
                prev.as_slice(),
                anchored.hash.as_slice(),
                to_sql_int(now_ms)?,
            ],
        )?;
        tx.commit()?;
        Ok(anchored)
    }

    /// The anchor chain, oldest first.
    pub fn anchors(&self) -> Result<Vec<AnchorLink>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM anchors ORDER BY seq"))?;
        let links = stmt.query_map([], link)?.collect::<Result<Vec<_>, _>>()?;
        Ok(links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_links_grows_and_never_shrinks() {
        let mut catalog = Catalog::open_in_memory().expect("open");
        let first = catalog
            .anchor_locally(2, &[1; 32], "a\n", 1)
            .expect("first");
        assert_eq!((first.seq, first.prev), (0, [0; 32]));
        assert_eq!(
            catalog.anchor_locally(2, &[1; 32], "a\n", 2).expect("same"),
            first
        );
        let second = catalog
            .anchor_locally(5, &[2; 32], "b\n", 3)
            .expect("second");
        assert_eq!((second.seq, second.prev), (1, first.hash));
        assert_eq!(second.hash, anchor_link(1, &first.hash, "b\n"));
        assert!(matches!(
            catalog.anchor_locally(4, &[3; 32], "c\n", 4),
            Err(CatalogError::Shrinking { .. })
        ));
        assert_eq!(catalog.anchors().expect("list"), vec![first, second]);
    }
}
