//! A witness's memory: the last checkpoint it co-signed per log origin, advanced only by
//! compare-and-swap so concurrent requests can never move it backwards.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Catalog, CatalogError, from_sql_int, to_sql_int};

/// The head a witness remembers for an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedHead {
    pub size: u64,
    pub root: [u8; 32],
}

impl Catalog {
    /// The head last co-signed for `origin`.
    pub fn witnessed(&self, origin: &str) -> Result<Option<WitnessedHead>, CatalogError> {
        Ok(self
            .conn
            .query_row(
                "SELECT size, root FROM witnessed WHERE origin = ?1",
                [origin],
                |row| {
                    let root: Vec<u8> = row.get(1)?;
                    Ok(WitnessedHead {
                        size: from_sql_int(row.get(0)?),
                        root: <[u8; 32]>::try_from(root.as_slice()).unwrap_or_default(),
                    })
                },
            )
            .optional()?)
    }

    /// Replaces `origin`'s head with `next` (and its signed note), durably, only if it is still
    /// `expected`: false if another request moved it first (decide again on the fresh head).
    /// The signed note this node last co-signed for `origin`.
    pub fn witnessed_note(&self, origin: &str) -> Result<Option<String>, CatalogError> {
        Ok(self
            .conn
            .query_row(
                "SELECT note FROM witnessed WHERE origin = ?1",
                [origin],
                |row| row.get(0),
            )
            .optional()?)
    }

    pub fn advance_witnessed(
        &mut self,
        origin: &str,
        expected: Option<&WitnessedHead>,
        next: &WitnessedHead,
        note: &str,
    ) -> Result<bool, CatalogError> {
        self.durably(|catalog| {
            let tx = catalog
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<(i64, Vec<u8>)> = tx
                .query_row(
                    "SELECT size, root FROM witnessed WHERE origin = ?1",
                    [origin],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let current = current.map(|(size, root)| WitnessedHead {
                size: from_sql_int(size),
                root: <[u8; 32]>::try_from(root.as_slice()).unwrap_or_default(),
            });
            if current.as_ref() != expected {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO witnessed (origin, size, root, note) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root,
                 note = excluded.note",
                params![origin, to_sql_int(next.size)?, next.root.as_slice(), note],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    /// Keeps two signed checkpoints of `origin` that contradict each other.
    pub fn record_equivocation(
        &mut self,
        origin: &str,
        first_note: &str,
        second_note: &str,
        now_ms: u64,
    ) -> Result<(), CatalogError> {
        self.durably(|catalog| {
            catalog.conn.execute(
                "INSERT OR IGNORE INTO equivocations (origin, first_note, second_note, found_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![origin, first_note, second_note, to_sql_int(now_ms)?],
            )?;
            Ok(())
        })
    }

    /// The origins this node holds evidence of equivocation against.
    pub fn equivocating_origins(&self) -> Result<Vec<String>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT origin FROM equivocations ORDER BY origin")?;
        let origins = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(origins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(worker: u64, request: u64) -> u64 {
        (request * 7919 + worker * 104_729) % 1_000 + 1
    }

    #[test]
    fn a_thousand_concurrent_cosign_requests_never_lower_the_witnessed_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.db");
        drop(Catalog::open(&path).expect("create"));
        let workers: Vec<_> = (0..8u64)
            .map(|worker| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut catalog = Catalog::open_for_network(&path).expect("open");
                    let mut seen = 0;
                    for request in 0..125u64 {
                        // Sizes arrive out of order: a witness only ever moves forward.
                        let offered = offer(worker, request);
                        loop {
                            let head = catalog.witnessed("log").expect("read");
                            let size = head.as_ref().map_or(0, |h| h.size);
                            assert!(size >= seen, "the witnessed size went down");
                            seen = size;
                            if offered <= size {
                                break;
                            }
                            let next = WitnessedHead {
                                size: offered,
                                root: [offered as u8; 32],
                            };
                            if catalog
                                .advance_witnessed("log", head.as_ref(), &next, "note")
                                .expect("advance")
                            {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker");
        }
        let catalog = Catalog::open(&path).expect("reopen");
        let head = catalog.witnessed("log").expect("read").expect("witnessed");
        let largest = (0..8u64)
            .flat_map(|w| (0..125u64).map(move |r| offer(w, r)))
            .max();
        assert_eq!(Some(head.size), largest);
    }

    #[test]
    fn evidence_is_kept_once() {
        let mut catalog = Catalog::open_in_memory().expect("open");
        catalog
            .record_equivocation("log", "a", "b", 1)
            .expect("record");
        catalog
            .record_equivocation("log", "a", "b", 2)
            .expect("again");
        assert_eq!(
            catalog.equivocating_origins().expect("list"),
            vec!["log".to_owned()]
        );
    }
}
