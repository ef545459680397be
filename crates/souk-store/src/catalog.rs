use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use souk_crypto::{DatasetKey, ManifestEnvelopeError, SignedManifest};
use souk_types::{DatasetId, PublicKey};

use crate::migrations::MIGRATIONS;

mod anchors;
mod evm;
mod receipts;
mod witness;
pub use anchors::AnchorLink;
pub use evm::{EvmAnchor, EvmAnchorStatus};
pub use receipts::{LoggedReceipt, NewReceipt};
pub use witness::WitnessedHead;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the catalog was written by a newer Souk (schema {found}, this build knows {known}); upgrade Souk"
    )]
    NewerSchema { found: i64, known: usize },
    #[error("a stored manifest no longer verifies ({0}); the catalog is damaged")]
    Damaged(ManifestEnvelopeError),
    #[error("value {0} does not fit the catalog's 63-bit integers")]
    Overflow(u64),
    #[error(
        "a checkpoint of {offered} receipts cannot follow one of {anchored}: the log only grows"
    )]
    Shrinking { anchored: u64, offered: u64 },
}

/// The seller's private pricing for one of its datasets; never published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SellerPolicy {
    pub list_price: u64,
    pub floor_price: u64,
}

/// What is added to the catalog in one transaction.
#[derive(Debug)]
pub struct NewDataset<'a> {
    pub manifest: &'a SignedManifest,
    pub key: Option<&'a DatasetKey>,
    pub policy: Option<SellerPolicy>,
    pub added_at_ms: u64,
}

/// A catalog entry with everything this node knows about it.
#[derive(Debug, Clone)]
pub struct StoredDataset {
    pub signed: SignedManifest,
    pub has_key: bool,
    pub policy: Option<SellerPolicy>,
    pub added_at_ms: u64,
}

/// One line of a listing or search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSummary {
    pub id: DatasetId,
    pub name: String,
    pub tags: Vec<String>,
    pub publisher: PublicKey,
    pub created_at_ms: u64,
    pub shard_count: u64,
    pub plaintext_size: u64,
    pub has_key: bool,
}

/// The node's SQLite catalog.
#[derive(Debug)]
pub struct Catalog {
    conn: Connection,
    /// This connection commits with `synchronous=NORMAL` (see [`Catalog::open_for_network`]).
    relaxed: bool,
}

fn to_sql_int(value: u64) -> Result<i64, CatalogError> {
    i64::try_from(value).map_err(|_| CatalogError::Overflow(value))
}

fn from_sql_int(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn id_from_row(bytes: Vec<u8>) -> rusqlite::Result<DatasetId> {
    DatasetId::from_slice(&bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

/// Turns what a user typed into an FTS5 query that cannot be a syntax error: every word becomes
/// a quoted prefix term, and all must match.
fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" AND "))
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path` and brings its schema up to date. Every
    /// commit is synced to disk before it returns.
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        Self::init(Connection::open(path)?, "FULL")
    }

    /// Like [`Catalog::open`], for a connection that only writes what peers can send again
    /// (manifests learned by gossip or sync, cursors, peer addresses): commits survive the
    /// process being killed, but the last ones may be lost if the machine loses power. This
    /// keeps a disk flush off every gossip hop.
    pub fn open_for_network(path: &Path) -> Result<Self, CatalogError> {
        Self::init(Connection::open(path)?, "NORMAL")
    }

    /// An in-memory catalog, for simulations and tests.
    pub fn open_in_memory() -> Result<Self, CatalogError> {
        Self::init(Connection::open_in_memory()?, "FULL")
    }

    fn init(mut conn: Connection, synchronous: &str) -> Result<Self, CatalogError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let applied = usize::try_from(version).unwrap_or(usize::MAX);
        if applied > MIGRATIONS.len() {
            return Err(CatalogError::NewerSchema {
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(migration)?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(i + 1).unwrap_or(i64::MAX),
            )?;
            tx.commit()?;
            tracing::debug!(version = i + 1, "catalog migrated");
        }
        Ok(Self {
            conn,
            relaxed: synchronous != "FULL",
        })
    }

    /// Adds a verified manifest (with its key and policy when this node has them) atomically.
    /// Returns false if the dataset was already there; a key or policy given then is still
    /// recorded.
    pub fn insert(&mut self, new: NewDataset<'_>) -> Result<bool, CatalogError> {
        let signed = new.manifest;
        let m = &signed.manifest;
        let id = signed.id.as_bytes().as_slice();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO datasets
             (id, envelope, name, description, tags, publisher, created_at_ms, shard_count,
              plaintext_size, added_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id,
                signed.envelope,
                m.name,
                m.description,
                m.tags.join("\n"),
                m.publisher.as_bytes().as_slice(),
                to_sql_int(m.created_at_ms)?,
                to_sql_int(m.shards.shard_count)?,
                to_sql_int(m.shards.plaintext_size)?,
                to_sql_int(new.added_at_ms)?,
            ],
        )? == 1;
        if let Some(key) = new.key {
            tx.execute(
                "INSERT OR REPLACE INTO dataset_keys (dataset_id, key) VALUES (?1, ?2)",
                params![id, key.as_bytes().as_slice()],
            )?;
        }
        if let Some(policy) = new.policy {
            tx.execute(
                "INSERT OR REPLACE INTO seller_policies (dataset_id, list_price, floor_price)
                 VALUES (?1, ?2, ?3)",
                params![
                    id,
                    to_sql_int(policy.list_price)?,
                    to_sql_int(policy.floor_price)?
                ],
            )?;
        }
        tx.commit()?;
        Ok(inserted)
    }

    pub fn contains(&self, id: &DatasetId) -> Result<bool, CatalogError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM datasets WHERE id = ?1",
                [id.as_bytes().as_slice()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The full entry for `id`, its manifest verified again on the way out.
    pub fn get(&self, id: &DatasetId) -> Result<Option<StoredDataset>, CatalogError> {
        let row = self
            .conn
            .query_row(
                "SELECT d.envelope, k.key IS NOT NULL, p.list_price, p.floor_price, d.added_at_ms
                 FROM datasets d
                 LEFT JOIN dataset_keys k ON k.dataset_id = d.id
                 LEFT JOIN seller_policies p ON p.dataset_id = d.id
                 WHERE d.id = ?1",
                [id.as_bytes().as_slice()],
                |row| {
                    Ok((
                        row.get::<_, Vec<u8>>(0)?,
                        row.get::<_, bool>(1)?,
                        row.get::<_, Option<i64>>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((envelope, has_key, list, floor, added)) = row else {
            return Ok(None);
        };
        let signed = SignedManifest::open(&envelope).map_err(CatalogError::Damaged)?;
        let policy = list.zip(floor).map(|(l, f)| SellerPolicy {
            list_price: from_sql_int(l),
            floor_price: from_sql_int(f),
        });
        Ok(Some(StoredDataset {
            signed,
            has_key,
            policy,
            added_at_ms: from_sql_int(added),
        }))
    }

    pub fn dataset_key(&self, id: &DatasetId) -> Result<Option<DatasetKey>, CatalogError> {
        let key: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT key FROM dataset_keys WHERE dataset_id = ?1",
                [id.as_bytes().as_slice()],
                |row| row.get(0),
            )
            .optional()?;
        Ok(key
            .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
            .map(DatasetKey::from_bytes))
    }

    /// Lists datasets, newest first; with a query, only those whose name, description or tags
    /// match every word of it (as a prefix), best match first.
    pub fn list(
        &self,
        query: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DatasetSummary>, CatalogError> {
        const COLUMNS: &str = "d.id, d.name, d.tags, d.publisher, d.created_at_ms, d.shard_count,
             d.plaintext_size, EXISTS(SELECT 1 FROM dataset_keys k WHERE k.dataset_id = d.id)";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let map_row = |row: &rusqlite::Row<'_>| {
            let publisher: Vec<u8> = row.get(3)?;
            let tags: String = row.get(2)?;
            Ok(DatasetSummary {
                id: id_from_row(row.get(0)?)?,
                name: row.get(1)?,
                tags: tags
                    .split('\n')
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
                publisher: PublicKey::from_slice(&publisher).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        3,
                        rusqlite::types::Type::Blob,
                        Box::new(e),
                    )
                })?,
                created_at_ms: from_sql_int(row.get(4)?),
                shard_count: from_sql_int(row.get(5)?),
                plaintext_size: from_sql_int(row.get(6)?),
                has_key: row.get(7)?,
            })
        };
        let rows = match query.and_then(fts_query) {
            Some(fts) => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM datasets_fts f JOIN datasets d ON d.rowid = f.rowid
                     WHERE datasets_fts MATCH ?1 ORDER BY f.rank LIMIT ?2"
                ))?;
                stmt.query_map(params![fts, limit], map_row)?
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM datasets d ORDER BY d.created_at_ms DESC, d.id LIMIT ?1"
                ))?;
                stmt.query_map(params![limit], map_row)?
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok(rows)
    }

    /// Ids of every dataset in the catalog.
    pub fn ids(&self) -> Result<Vec<DatasetId>, CatalogError> {
        let mut stmt = self.conn.prepare_cached("SELECT id FROM datasets")?;
        let ids = stmt
            .query_map([], |row| id_from_row(row.get(0)?))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids)
    }

    /// This catalog's epoch: random, fixed at creation. Sync cursors are only meaningful
    /// together with the epoch they were issued in.
    pub fn epoch(&self) -> Result<Vec<u8>, CatalogError> {
        Ok(self.conn.query_row(
            "SELECT value FROM catalog_meta WHERE key = 'epoch'",
            [],
            |row| row.get(0),
        )?)
    }

    /// Up to `limit` signed manifests added after sequence number `after`, in the order they
    /// were added (parents before children), with the sequence number of the last one.
    pub fn page_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Vec<u8>>, u64), CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rowid, envelope FROM datasets WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(
                params![to_sql_int(after)?, i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let last = rows.last().map_or(after, |(seq, _)| from_sql_int(*seq));
        Ok((
            rows.into_iter().map(|(_, envelope)| envelope).collect(),
            last,
        ))
    }

    /// Where catch-up sync with `peer` stopped: (the peer's epoch, its sequence number).
    pub fn sync_cursor(&self, peer: &str) -> Result<Option<(Vec<u8>, u64)>, CatalogError> {
        Ok(self
            .conn
            .query_row(
                "SELECT epoch, cursor FROM sync_cursors WHERE peer = ?1",
                [peer],
                |row| Ok((row.get::<_, Vec<u8>>(0)?, from_sql_int(row.get(1)?))),
            )
            .optional()?)
    }

    pub fn set_sync_cursor(
        &self,
        peer: &str,
        epoch: &[u8],
        cursor: u64,
    ) -> Result<(), CatalogError> {
        self.conn.execute(
            "INSERT INTO sync_cursors (peer, epoch, cursor) VALUES (?1, ?2, ?3)
             ON CONFLICT(peer) DO UPDATE SET epoch = excluded.epoch, cursor = excluded.cursor",
            params![peer, epoch, to_sql_int(cursor)?],
        )?;
        Ok(())
    }

    /// Remembers how to reach `peer` (its addresses, one per line), for redialling after a
    /// restart.
    pub fn remember_peer(
        &self,
        peer: &str,
        addrs: &[String],
        now_ms: u64,
    ) -> Result<(), CatalogError> {
        self.conn.execute(
            "INSERT INTO peers (peer, addrs, last_seen_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(peer) DO UPDATE SET addrs = excluded.addrs, last_seen_ms = excluded.last_seen_ms",
            params![peer, addrs.join("\n"), to_sql_int(now_ms)?],
        )?;
        Ok(())
    }

    /// Known peers and their addresses, most recently seen first.
    pub fn known_peers(&self, limit: usize) -> Result<Vec<(String, Vec<String>)>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT peer, addrs FROM peers ORDER BY last_seen_ms DESC LIMIT ?1")?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                let addrs: String = row.get(1)?;
                Ok((
                    row.get::<_, String>(0)?,
                    addrs.lines().map(str::to_owned).collect(),
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The last voucher state of a payment lane: (nonce, cumulative amount).
    pub fn lane(&self, lane: &LaneId) -> Result<Option<(u64, u64)>, CatalogError> {
        Ok(self
            .conn
            .query_row(
                "SELECT nonce, cumulative FROM payment_lanes
                 WHERE payer = ?1 AND payee = ?2 AND channel = ?3 AND lane = ?4",
                params![
                    lane.payer.as_bytes().as_slice(),
                    lane.payee.as_bytes().as_slice(),
                    lane.channel.as_slice(),
                    i64::from(lane.lane)
                ],
                |row| Ok((from_sql_int(row.get(0)?), from_sql_int(row.get(1)?))),
            )
            .optional()?)
    }

    /// Runs `write` with its commits flushed to disk, even on a connection opened for network
    /// data: for money and for the receipt log.
    fn durably<T>(
        &mut self,
        write: impl FnOnce(&mut Self) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        if self.relaxed {
            self.conn.pragma_update(None, "synchronous", "FULL")?;
        }
        let result = write(self);
        if self.relaxed {
            self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        result
    }

    /// Records that a voucher with `nonce` and `cumulative` was signed on `lane`, before it is
    /// sent: a payer that crashes after paying never signs that nonce again. Durable, like
    /// licenses.
    pub fn record_voucher_signed(
        &mut self,
        lane: &LaneId,
        nonce: u64,
        cumulative: u64,
    ) -> Result<(), CatalogError> {
        self.durably(|catalog| advance_lane(&catalog.conn, lane, nonce, cumulative))
    }

    /// Records a license bought or sold, the voucher that paid it and the lane's new state, and
    /// for a purchase the dataset key it carried: all in one transaction.
    ///
    /// Licenses and vouchers are money: they commit with a disk flush even on a connection
    /// opened for network data.
    pub fn record_license(&mut self, record: LicenseRecord<'_>) -> Result<(), CatalogError> {
        self.durably(|catalog| catalog.record_license_durably(record))
    }

    fn record_license_durably(&mut self, record: LicenseRecord<'_>) -> Result<(), CatalogError> {
        let license = &record.license.license;
        let (role, counterparty) = match record.key {
            Some(_) => ("bought", license.seller),
            None => ("sold", license.buyer),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR IGNORE INTO licenses
             (id, dataset_id, role, counterparty, price, expires_at_ms, envelope, voucher,
              created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                record.license.id.as_slice(),
                license.dataset.as_bytes().as_slice(),
                role,
                counterparty.as_bytes().as_slice(),
                to_sql_int(license.price)?,
                to_sql_int(license.expires_at_ms)?,
                record.license.envelope,
                record.voucher,
                to_sql_int(record.now_ms)?,
            ],
        )?;
        advance_lane(&tx, &record.lane, record.lane_nonce, record.lane_cumulative)?;
        if let Some(key) = record.key {
            tx.execute(
                "INSERT OR REPLACE INTO dataset_keys (dataset_id, key) VALUES (?1, ?2)",
                params![
                    license.dataset.as_bytes().as_slice(),
                    key.as_bytes().as_slice()
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The envelope of the longest-lasting license this node bought for `dataset` that is still
    /// valid at `now_ms`.
    pub fn license_bought(
        &self,
        dataset: &DatasetId,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, CatalogError> {
        Ok(self
            .conn
            .query_row(
                "SELECT envelope FROM licenses
                 WHERE dataset_id = ?1 AND role = 'bought' AND expires_at_ms > ?2
                 ORDER BY expires_at_ms DESC LIMIT 1",
                params![dataset.as_bytes().as_slice(), to_sql_int(now_ms)?],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Remembers that `seller` issued license `license_id` with `nonce`. False if that nonce
    /// already names another license of that seller: a replay.
    pub fn remember_license_nonce(
        &mut self,
        seller: &PublicKey,
        nonce: &[u8; 16],
        license_id: &[u8; 32],
    ) -> Result<bool, CatalogError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO license_nonces (seller, nonce, license_id) VALUES (?1, ?2, ?3)",
            params![
                seller.as_bytes().as_slice(),
                nonce.as_slice(),
                license_id.as_slice()
            ],
        )?;
        let first: Vec<u8> = self.conn.query_row(
            "SELECT license_id FROM license_nonces WHERE seller = ?1 AND nonce = ?2",
            params![seller.as_bytes().as_slice(), nonce.as_slice()],
            |row| row.get(0),
        )?;
        Ok(first == license_id)
    }

    /// Every license this node bought or sold, newest first.
    pub fn licenses(&self) -> Result<Vec<LicenseSummary>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, dataset_id, role, counterparty, price, expires_at_ms, created_at_ms
             FROM licenses ORDER BY created_at_ms DESC",
        )?;
        let rows = stmt
            .query_map([], |row| {
                let id: Vec<u8> = row.get(0)?;
                let counterparty: Vec<u8> = row.get(3)?;
                Ok(LicenseSummary {
                    id: hex::encode(&id),
                    dataset: id_from_row(row.get(1)?)?,
                    bought: row.get::<_, String>(2)? == "bought",
                    counterparty: PublicKey::from_slice(&counterparty).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            3,
                            rusqlite::types::Type::Blob,
                            Box::new(e),
                        )
                    })?,
                    price: from_sql_int(row.get(4)?),
                    expires_at_ms: from_sql_int(row.get(5)?),
                    created_at_ms: from_sql_int(row.get(6)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// Moves a lane to `nonce` and `cumulative`; never backwards.
fn advance_lane(
    conn: &Connection,
    lane: &LaneId,
    nonce: u64,
    cumulative: u64,
) -> Result<(), CatalogError> {
    conn.execute(
        "INSERT INTO payment_lanes (payer, payee, channel, lane, nonce, cumulative)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(payer, payee, channel, lane)
         DO UPDATE SET nonce = excluded.nonce, cumulative = excluded.cumulative
         WHERE excluded.nonce > payment_lanes.nonce",
        params![
            lane.payer.as_bytes().as_slice(),
            lane.payee.as_bytes().as_slice(),
            lane.channel.as_slice(),
            i64::from(lane.lane),
            to_sql_int(nonce)?,
            to_sql_int(cumulative)?,
        ],
    )?;
    Ok(())
}

/// A payment lane: payer, payee, channel and lane number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LaneId {
    pub payer: PublicKey,
    pub payee: PublicKey,
    pub channel: [u8; 32],
    pub lane: u32,
}

impl LaneId {
    /// The default lane between two parties: channel = BLAKE3 of both keys, lane 0.
    pub fn between(payer: PublicKey, payee: PublicKey) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key("souk/v1 payment channel");
        hasher.update(payer.as_bytes());
        hasher.update(payee.as_bytes());
        Self {
            payer,
            payee,
            channel: *hasher.finalize().as_bytes(),
            lane: 0,
        }
    }
}

/// A license to record, with what paid it.
#[derive(Debug)]
pub struct LicenseRecord<'a> {
    pub license: &'a souk_crypto::SignedLicense,
    /// The signed voucher envelope.
    pub voucher: &'a [u8],
    pub lane: LaneId,
    pub lane_nonce: u64,
    pub lane_cumulative: u64,
    /// For a purchase: the dataset key the license carried.
    pub key: Option<&'a DatasetKey>,
    pub now_ms: u64,
}

/// One line of `souk licenses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseSummary {
    pub id: String,
    pub dataset: DatasetId,
    pub bought: bool,
    pub counterparty: PublicKey,
    pub price: u64,
    pub expires_at_ms: u64,
    pub created_at_ms: u64,
}
