//! Publish -> datasets -> show -> extract round trips, export/import between nodes, no
//! plaintext at rest, and crash safety of publish.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{dataset_count, node, noise, peer_id, read_tree, souk, souk_command};

/// A folder of mixed content: random and repetitive data, text, empty files, nested folders,
/// non-ASCII names, an executable.
fn mixed_folder(root: &Path, scale: usize) -> std::path::PathBuf {
    let folder = root.join("mixed");
    std::fs::create_dir_all(folder.join("deep/er/still")).expect("mkdir");
    std::fs::create_dir_all(folder.join("données")).expect("mkdir");
    std::fs::write(folder.join("random.bin"), noise(7, 300_000 * scale)).expect("write");
    std::fs::write(folder.join("zeros.bin"), vec![0u8; 100_000 * scale]).expect("write");
    std::fs::write(folder.join("empty"), b"").expect("write");
    std::fs::write(folder.join("deep/er/still/empty-too"), b"").expect("write");
    let text: String = (0..5_000 * scale)
        .map(|i| format!("row {i}, value {}\n", i * 7))
        .collect();
    std::fs::write(folder.join("données/table.csv"), text).expect("write");
    for i in 0..20 {
        std::fs::write(
            folder.join(format!("deep/small-{i}.txt")),
            noise(100 + i, 37 * i as usize),
        )
        .expect("write");
    }
    let script = folder.join("deep/run.sh");
    std::fs::write(&script, b"#!/bin/sh\necho souk\n").expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    folder
}

fn publish_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["publish"];
    all.extend_from_slice(args);
    all.push("--json");
    souk(dir, &all).json()
}

#[test]
fn publish_show_extract_round_trips_byte_for_byte() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = node(base.path(), "alice");
    let folder = mixed_folder(base.path(), 5);
    let me = peer_id(&dir);
    let bob = "ab".repeat(32);
    // 4 KiB shards make this dataset carry its shard list by reference (more than 512 shards).
    let published = publish_json(
        &dir,
        &[
            folder.to_str().expect("utf8"),
            "--name",
            "Mixed bag",
            "--description",
            "test data",
            "--tag",
            "mixed",
            "--tag",
            "bag",
            "--price",
            "100",
            "--floor",
            "70",
            "--contributor",
            &format!("{me}=7000"),
            "--contributor",
            &format!("{bob}=3000"),
            "--shard-size",
            "4096",
        ],
    );
    let id = published["id"].as_str().expect("id").to_owned();
    let shard_count = published["shard_count"].as_u64().expect("count");
    assert!(shard_count > 512, "only {shard_count} shards");
    let source = read_tree(&folder);
    let data_size: usize = source.values().map(Vec::len).sum();
    assert_eq!(published["data_size"].as_u64(), Some(data_size as u64));
    assert_eq!(published["files"].as_u64(), Some(source.len() as u64));

    let listed = souk(&dir, &["datasets", "--json"]).json();
    assert_eq!(listed[0]["id"].as_str(), Some(id.as_str()));
    let found = souk(&dir, &["datasets", "bag", "--json"]).json();
    assert_eq!(found.as_array().map(Vec::len), Some(1));
    let not_found = souk(&dir, &["datasets", "nonexistent\" OR *", "--json"]).json();
    assert_eq!(not_found.as_array().map(Vec::len), Some(0));

    let shown = souk(&dir, &["show", &id, "--json"]).json();
    assert_eq!(shown["name"], "Mixed bag");
    assert_eq!(shown["contributors"][0]["key"].as_str(), Some(me.as_str()));
    assert_eq!(shown["contributors"][1]["weight_bps"], 3000);
    assert_eq!(shown["offers"][0]["price"], 100);
    assert_eq!(shown["seller_policy"]["floor_price"], 70);
    assert_eq!(shown["shard_list_inline"], false);
    assert_eq!(shown["shard_count"].as_u64(), Some(shard_count));

    let out = base.path().join("out");
    let extracted = souk(
        &dir,
        &[
            "extract",
            &id,
            "--out",
            out.to_str().expect("utf8"),
            "--json",
        ],
    );
    assert_eq!(
        extracted.json()["files"].as_u64(),
        Some(source.len() as u64)
    );
    assert_eq!(read_tree(&out.join("mixed")), source);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("mixed/deep/run.sh"))
            .expect("stat")
            .permissions()
            .mode();
        assert_ne!(mode & 0o111, 0, "executable bit lost");
    }
    // Extracting over existing files is refused, and leaves them alone.
    souk(
        &dir,
        &["extract", &id, "--out", out.to_str().expect("utf8")],
    );
    assert_eq!(read_tree(&out.join("mixed")), source);
}

#[test]
fn no_plaintext_and_no_file_names_are_stored_at_rest() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = node(base.path(), "alice");
    let folder = base.path().join("secret");
    std::fs::create_dir_all(&folder).expect("mkdir");
    let marker_name = "marker-file-name-7f3a9c";
    let content = noise(42, 2_000_000);
    std::fs::write(folder.join(marker_name), &content).expect("write");
    std::fs::write(
        folder.join("text.txt"),
        "the quick brown fox jumps over the lazy souk ".repeat(2000),
    )
    .expect("write");
    publish_json(
        &dir,
        &[folder.to_str().expect("utf8"), "--name", "public name"],
    );
    let needles: Vec<Vec<u8>> = vec![
        marker_name.as_bytes().to_vec(),
        b"the quick brown fox jumps".to_vec(),
        content[..32].to_vec(),
        content[1_000_000..1_000_032].to_vec(),
        content[content.len() - 32..].to_vec(),
    ];
    for (path, bytes) in read_tree(&dir) {
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "plaintext {:?} found in {}",
                String::from_utf8_lossy(&needle[..needle.len().min(16)]),
                path.display()
            );
        }
    }
}

#[test]
fn exported_manifest_imports_on_another_node_which_cannot_extract() {
    let base = tempfile::tempdir().expect("tempdir");
    let alice = node(base.path(), "alice");
    let carol = node(base.path(), "carol");
    let folder = mixed_folder(base.path(), 1);
    let parent = publish_json(
        &alice,
        &[
            folder.to_str().expect("utf8"),
            "--name",
            "parent",
            "--price",
            "10",
        ],
    );
    let parent_id = parent["id"].as_str().expect("id");
    let child = publish_json(
        &alice,
        &[
            folder.join("deep").to_str().expect("utf8"),
            "--name",
            "child",
            "--parent",
            &format!("{parent_id}=2500"),
        ],
    );
    let child_id = child["id"].as_str().expect("id");
    let file = |name: &str| base.path().join(name);
    for (id, name) in [(parent_id, "p.souk"), (child_id, "c.souk")] {
        let run = souk(
            &alice,
            &[
                "manifest",
                "export",
                id,
                "--out",
                file(name).to_str().expect("utf8"),
            ],
        );
        assert!(run.status.success(), "{}", run.stderr);
    }
    // The child's parent must be known first.
    souk(
        &carol,
        &["manifest", "import", file("c.souk").to_str().expect("utf8")],
    )
    .fails_with("not in the catalog");
    for name in ["p.souk", "c.souk"] {
        let run = souk(
            &carol,
            &[
                "manifest",
                "import",
                file(name).to_str().expect("utf8"),
                "--json",
            ],
        );
        assert_eq!(run.json()["added"], true);
    }
    let again = souk(
        &carol,
        &[
            "manifest",
            "import",
            file("p.souk").to_str().expect("utf8"),
            "--json",
        ],
    );
    assert_eq!(again.json()["added"], false);

    for id in [parent_id, child_id] {
        let mut at_alice = souk(&alice, &["show", id, "--json"]).json();
        let mut at_carol = souk(&carol, &["show", id, "--json"]).json();
        assert_eq!(at_alice["has_key"], true);
        assert_eq!(at_carol["has_key"], false);
        assert_eq!(at_carol["seller_policy"], serde_json::Value::Null);
        for json in [&mut at_alice, &mut at_carol] {
            let object = json.as_object_mut().expect("object");
            object.remove("has_key");
            object.remove("seller_policy");
        }
        assert_eq!(at_alice, at_carol);
    }
    let out = base.path().join("carol-out");
    souk(
        &carol,
        &["extract", parent_id, "--out", out.to_str().expect("utf8")],
    )
    .fails_with("holds no key");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(base.path())
            .expect("ls")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("souk-partial"))
            .count(),
        0
    );
}

/// Waits (bounded) until `dir/blobs/data` holds at least `n` files: evidence that publish is
/// midway through writing shards.
fn wait_for_shards(dir: &Path, n: usize, child: &mut std::process::Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let count = std::fs::read_dir(dir.join("blobs/data"))
            .map(|d| d.count())
            .unwrap_or(0);
        if count >= n {
            return true;
        }
        std::thread::yield_now();
    }
    panic!("publish wrote no shards within 60 s");
}

#[test]
fn publish_killed_midway_leaves_the_catalog_consistent() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = node(base.path(), "alice");
    let folder = base.path().join("big");
    std::fs::create_dir_all(&folder).expect("mkdir");
    for i in 0..4 {
        std::fs::write(folder.join(format!("part-{i}")), noise(i, 8 << 20)).expect("write");
    }
    let source = read_tree(&folder);
    // Kill at several depths into the publish.
    for shards_written in [1, 20, 120] {
        let mut child = souk_command(&dir)
            .args([
                "publish",
                folder.to_str().expect("utf8"),
                "--name",
                "big",
                "--shard-size",
                "65536",
                "--json",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let midway = wait_for_shards(&dir, shards_written, &mut child);
        let _ = child.kill();
        let _ = child.wait();
        let datasets = souk(&dir, &["datasets", "--json"]).json();
        let datasets = datasets.as_array().expect("array");
        if midway {
            assert!(datasets.len() <= 1);
        }
        // Whatever is in the catalog is whole: it extracts to exactly the input.
        for d in datasets {
            let id = d["id"].as_str().expect("id");
            let out = base.path().join(format!("out-{id}"));
            let run = souk(&dir, &["extract", id, "--out", out.to_str().expect("utf8")]);
            assert!(run.status.success(), "{}", run.stderr);
            assert_eq!(read_tree(&out.join("big")), source);
        }
    }
    let before = dataset_count(&dir);
    let again = publish_json(
        &dir,
        &[
            folder.to_str().expect("utf8"),
            "--name",
            "big",
            "--shard-size",
            "65536",
        ],
    );
    assert_eq!(dataset_count(&dir), before + 1);
    let out = base.path().join("final");
    let run = souk(
        &dir,
        &[
            "extract",
            again["id"].as_str().expect("id"),
            "--out",
            out.to_str().expect("utf8"),
        ],
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(read_tree(&out.join("big")), source);
}

#[test]
fn a_spec_file_gives_the_fields_and_flags_override_it() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = node(base.path(), "alice");
    let me = peer_id(&dir);
    let data = base.path().join("specced");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("rows.csv"), "a,b\n1,2\n").expect("write");
    let spec = base.path().join("dataset.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"from spec\"\ndescription = \"described\"\ntags = [\"t1\"]\n\
             paths = [\"specced\"]\nprice = 50\nfloor = 40\n\
             contributors = [\"{me}=9000\", \"{}=1000\"]\n",
            "ab".repeat(32)
        ),
    )
    .expect("write spec");
    let spec_arg = spec.to_str().expect("utf8");
    let published = publish_json(&dir, &["--spec", spec_arg, "--name", "from flag"]);
    let shown = souk(
        &dir,
        &["show", published["id"].as_str().expect("id"), "--json"],
    )
    .json();
    assert_eq!(shown["name"], "from flag");
    assert_eq!(shown["description"], "described");
    assert_eq!(shown["tags"][0], "t1");
    assert_eq!(shown["offers"][0]["price"], 50);
    assert_eq!(shown["seller_policy"]["floor_price"], 40);
    assert_eq!(shown["contributors"][1]["weight_bps"], 1000);

    std::fs::write(&spec, "name = \"x\"\nunknown_field = 1\n").expect("write spec");
    souk(&dir, &["publish", "--spec", spec_arg]).fails_with("unknown_field");
}

#[test]
fn the_demo_runs_souks_main_job_and_every_step_checks_out() {
    let home = tempfile::tempdir().expect("tempdir");
    let run = souk(home.path(), &["demo"]);
    assert!(run.status.success(), "demo failed: {}", run.stderr);
    assert!(run.stdout.contains("an auditor verifies"), "{}", run.stdout);
    assert!(
        run.stdout
            .trim_end()
            .ends_with("Demo complete: every step checked out."),
        "{}",
        run.stdout
    );
}
