//! Every kind of bad input gives a one-line error that says what to do, a non-zero exit, no
//! panic, and leaves nothing half-written.

mod common;

use common::{dataset_count, node, noise, peer_id, souk};

fn data_folder(base: &std::path::Path) -> std::path::PathBuf {
    let folder = base.join("data");
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(folder.join("a.bin"), noise(1, 50_000)).expect("write");
    folder
}

#[test]
fn uninitialised_data_dir_is_explained() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = base.path().join("nothing-here");
    souk(&dir, &["id"]).fails_with("run `souk init` first");
    souk(&dir, &["datasets"]).fails_with("run `souk init` first");
    let folder = data_folder(base.path());
    souk(
        &dir,
        &["publish", folder.to_str().expect("utf8"), "--name", "x"],
    )
    .fails_with("run `souk init` first");
    assert!(!dir.join("catalog.db").exists());
}

#[test]
fn init_refuses_to_overwrite_a_key() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = node(base.path(), "n");
    let before = std::fs::read(dir.join("node.key")).expect("key");
    souk(&dir, &["init"]).fails_with("never overwrites a node key");
    assert_eq!(std::fs::read(dir.join("node.key")).expect("key"), before);
}

#[test]
fn corrupt_key_file_is_explained() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = node(base.path(), "n");
    let key = dir.join("node.key");
    let mut bytes = std::fs::read(&key).expect("key");
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'0' { b'1' } else { b'0' };
    std::fs::write(&key, &bytes).expect("write");
    souk(&dir, &["id"]).fails_with("key file is corrupt");
    std::fs::write(&key, b"garbage").expect("write");
    souk(&dir, &["datasets"]).fails_with("key file is corrupt");
}

#[test]
fn missing_unreadable_and_empty_inputs_are_refused() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = node(base.path(), "n");
    let missing = base.path().join("no-such-folder");
    souk(
        &dir,
        &["publish", missing.to_str().expect("utf8"), "--name", "x"],
    )
    .fails_with("does not exist");

    let empty = base.path().join("empty");
    std::fs::create_dir_all(empty.join("sub")).expect("mkdir");
    std::fs::write(empty.join("sub/zero-bytes"), b"").expect("write");
    souk(
        &dir,
        &["publish", empty.to_str().expect("utf8"), "--name", "x"],
    )
    .fails_with("nothing to publish");

    souk(&dir, &["publish", "--name", "x"]).fails_with("give at least one file or folder");
    let folder = data_folder(base.path());
    souk(&dir, &["publish", folder.to_str().expect("utf8")]).fails_with("needs a name");

    // A file the kernel refuses to read (for root too): reading /proc/self/mem at offset 0
    // fails with EIO. Published next to real data, it fails the publish midway.
    souk(
        &dir,
        &[
            "publish",
            folder.to_str().expect("utf8"),
            "/proc/self/mem",
            "--name",
            "x",
        ],
    )
    .fails_with("/proc/self/mem");
    assert_eq!(
        dataset_count(&dir),
        0,
        "a failed publish left a dataset behind"
    );
}

#[test]
fn bad_weights_keys_ids_and_parents_are_refused() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = node(base.path(), "n");
    let folder = data_folder(base.path());
    let folder = folder.to_str().expect("utf8");
    let me = peer_id(&dir);
    let other = "ab".repeat(32);
    let publish = |extra: &[&str]| {
        let mut args = vec!["publish", folder, "--name", "x"];
        args.extend_from_slice(extra);
        souk(&dir, &args)
    };
    publish(&[
        "--contributor",
        &format!("{me}=6000"),
        "--contributor",
        &format!("{other}=3000"),
    ])
    .fails_with("must sum to exactly 10000");
    publish(&[
        "--contributor",
        &format!("{me}=10000"),
        "--contributor",
        &format!("{other}=0"),
    ])
    .fails_with("above 0");
    publish(&["--contributor", "12D3KooWnotakey=10000"]).fails_with("public key");
    publish(&["--contributor", &me]).fails_with("PUBKEY=BPS");
    publish(&["--parent", "xyz=100"]).fails_with("dataset id");
    publish(&["--parent", &format!("{}=100", "cd".repeat(32))]).fails_with("not in the catalog");
    publish(&["--price", "5", "--floor", "9"]).fails_with("floor");
    publish(&["--shard-size", "12"]).fails_with("shard size");
    souk(&dir, &["show", "not-an-id"]).fails_with("dataset id");
    souk(&dir, &["show", &"00".repeat(32)]).fails_with("not in the catalog");
    souk(&dir, &["extract", "zz", "--out", "/tmp/never"]).fails_with("dataset id");
    assert_eq!(dataset_count(&dir), 0);
    let blobs_data = dir.join("blobs/data");
    let shards = std::fs::read_dir(&blobs_data)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(shards, 0, "refused publishes wrote shards");
}

#[test]
fn tampered_truncated_and_foreign_manifest_files_are_refused() {
    let base = tempfile::tempdir().expect("tempdir");
    let alice = node(base.path(), "alice");
    let bob = node(base.path(), "bob");
    let folder = data_folder(base.path());
    let id = souk(
        &alice,
        &[
            "publish",
            folder.to_str().expect("utf8"),
            "--name",
            "x",
            "--json",
        ],
    )
    .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let file = base.path().join("m.souk");
    let export = souk(
        &alice,
        &[
            "manifest",
            "export",
            &id,
            "--out",
            file.to_str().expect("utf8"),
        ],
    );
    assert!(export.status.success(), "{}", export.stderr);
    let good = std::fs::read(&file).expect("read");

    let mut tampered = good.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x20;
    std::fs::write(&file, &tampered).expect("write");
    souk(&bob, &["manifest", "import", file.to_str().expect("utf8")])
        .fails_with("was not imported");

    std::fs::write(&file, &good[..good.len() - 10]).expect("write");
    souk(&bob, &["manifest", "import", file.to_str().expect("utf8")])
        .fails_with("was not imported");

    std::fs::write(&file, noise(3, 300)).expect("write");
    souk(&bob, &["manifest", "import", file.to_str().expect("utf8")])
        .fails_with("was not imported");

    std::fs::write(&file, vec![0u8; 1 << 20]).expect("write");
    souk(&bob, &["manifest", "import", file.to_str().expect("utf8")])
        .fails_with("larger than any manifest");

    souk(&bob, &["manifest", "import", "/no/such/file"]).fails_with("/no/such/file");
    assert_eq!(dataset_count(&bob), 0);
}

#[test]
fn verify_refuses_files_that_are_not_proofs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.json");
    souk(dir.path(), &["verify", missing.to_str().expect("utf8")]).fails_with("reading");
    for (name, body) in [
        ("garbage.json", "\u{0}\u{1}not json"),
        ("empty.json", "{}"),
        ("extra.json", "{\"receipt\": \"\", \"surprise\": 1}"),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, body).expect("write");
        souk(dir.path(), &["verify", file.to_str().expect("utf8")])
            .fails_with("not a proof bundle");
    }
}
