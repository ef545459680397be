//! Schema migrations, applied in order inside one transaction each; `PRAGMA user_version` records
//! how many have run.

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: catalog of signed manifests, full-text index, keys and seller policy.
    r#"
    CREATE TABLE datasets (
        id BLOB PRIMARY KEY CHECK (length(id) = 32),
        envelope BLOB NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        tags TEXT NOT NULL,
        publisher BLOB NOT NULL,
        created_at_ms INTEGER NOT NULL,
        shard_count INTEGER NOT NULL,
        plaintext_size INTEGER NOT NULL,
        added_at_ms INTEGER NOT NULL
    );
    CREATE VIRTUAL TABLE datasets_fts USING fts5(
        name, description, tags,
        content = 'datasets', content_rowid = 'rowid',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER datasets_fts_insert AFTER INSERT ON datasets BEGIN
        INSERT INTO datasets_fts(rowid, name, description, tags)
        VALUES (new.rowid, new.name, new.description, new.tags);
    END;
    CREATE TRIGGER datasets_fts_delete AFTER DELETE ON datasets BEGIN
        INSERT INTO datasets_fts(datasets_fts, rowid, name, description, tags)
        VALUES ('delete', old.rowid, old.name, old.description, old.tags);
    END;
    CREATE TABLE dataset_keys (
        dataset_id BLOB PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
        key BLOB NOT NULL CHECK (length(key) = 32)
    );
    CREATE TABLE seller_policies (
        dataset_id BLOB PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
        list_price INTEGER NOT NULL,
        floor_price INTEGER NOT NULL
    );
    "#,
    // 2: catch-up sync (this catalog's epoch, per-peer cursors) and known peers.
    r#"
    CREATE TABLE catalog_meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    INSERT INTO catalog_meta (key, value) VALUES ('epoch', randomblob(16));
    CREATE TABLE sync_cursors (
        peer TEXT PRIMARY KEY,
        epoch BLOB NOT NULL,
        cursor INTEGER NOT NULL
    );
    CREATE TABLE peers (
        peer TEXT PRIMARY KEY,
        addrs TEXT NOT NULL,
        last_seen_ms INTEGER NOT NULL
    );
    "#,
    // 3: licenses bought and sold, and the state of every payment lane (both sides keep it).
    r#"
    CREATE TABLE licenses (
        id BLOB PRIMARY KEY CHECK (length(id) = 32),
        dataset_id BLOB NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('bought', 'sold')),
        counterparty BLOB NOT NULL,
        price INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        envelope BLOB NOT NULL,
        voucher BLOB,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX licenses_by_dataset ON licenses (dataset_id, role);
    CREATE TABLE payment_lanes (
        payer BLOB NOT NULL,
        payee BLOB NOT NULL,
        channel BLOB NOT NULL,
        lane INTEGER NOT NULL,
        nonce INTEGER NOT NULL,
        cumulative INTEGER NOT NULL,
        PRIMARY KEY (payer, payee, channel, lane)
    );
    "#,
    // 4: license nonces seen by this node as a provider (a reused nonce is a replay).
    r#"
    CREATE TABLE license_nonces (
        seller BLOB NOT NULL,
        nonce BLOB NOT NULL,
        license_id BLOB NOT NULL,
        PRIMARY KEY (seller, nonce)
    );
    "#,
    // 5: the receipt log: countersigned receipts in log order (seq is the Merkle leaf index).
    r#"
    CREATE TABLE receipt_log (
        seq INTEGER PRIMARY KEY CHECK (seq >= 0),
        id BLOB NOT NULL UNIQUE CHECK (length(id) = 32),
        dataset_id BLOB NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('sale', 'delivery')),
        leaf BLOB NOT NULL,
        leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX receipt_log_by_dataset ON receipt_log (dataset_id, seq);
    "#,
    // 6: the local anchor chain: signed checkpoints of the receipt log, each link hashing the
    // previous one.
    r#"
    CREATE TABLE anchors (
        seq INTEGER PRIMARY KEY CHECK (seq >= 0),
        size INTEGER NOT NULL UNIQUE,
        root BLOB NOT NULL CHECK (length(root) = 32),
        note TEXT NOT NULL,
        prev BLOB NOT NULL CHECK (length(prev) = 32),
        hash BLOB NOT NULL CHECK (length(hash) = 32),
        created_at_ms INTEGER NOT NULL
    );
    "#,
    // 7: what this node, as a witness, last co-signed for each log origin, and the evidence of
    // logs that showed two histories.
    r#"
    CREATE TABLE witnessed (
        origin TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        root BLOB NOT NULL CHECK (length(root) = 32),
        note TEXT NOT NULL
    );
    CREATE TABLE equivocations (
        origin TEXT NOT NULL,
        first_note TEXT NOT NULL,
        second_note TEXT NOT NULL,
        found_at_ms INTEGER NOT NULL,
        PRIMARY KEY (origin, first_note, second_note)
    );
    "#,
    // 8: anchor transactions sent to an EVM chain, recorded signed before they are broadcast.
    r#"
    CREATE TABLE evm_anchors (
        tx_hash BLOB PRIMARY KEY CHECK (length(tx_hash) = 32),
        seq INTEGER NOT NULL REFERENCES anchors(seq),
        size INTEGER NOT NULL,
        chain_id INTEGER NOT NULL,
        contract TEXT NOT NULL,
        submitter TEXT NOT NULL,
        nonce INTEGER NOT NULL,
        raw_tx BLOB NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('sent', 'confirmed', 'failed')),
        block_number INTEGER,
        gas_used INTEGER,
        created_at_ms INTEGER NOT NULL
    );
    "#,
];
