//! Helpers for running the real `souk` binary against temporary data directories.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        assert!(self.status.success(), "souk failed: {}", self.stderr);
        serde_json::from_str(self.stdout.trim()).expect("stdout is one JSON value")
    }

    /// Asserts the command failed with exactly one line on stderr, starting "error:" and
    /// containing `needle`, and did not panic.
    pub fn fails_with(&self, needle: &str) {
        assert!(
            !self.status.success(),
            "expected failure, got success: {}",
            self.stdout
        );
        assert_eq!(
            self.status.code(),
            Some(1),
            "exit code; stderr: {}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        let lines: Vec<&str> = self.stderr.trim_end().lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected a one-line error, got: {}",
            self.stderr
        );
        assert!(lines[0].starts_with("error: "), "got: {}", self.stderr);
        assert!(
            lines[0].contains(needle),
            "error {:?} does not mention {needle:?}",
            lines[0]
        );
    }
}

pub fn souk_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_souk"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env_remove("SOUK_HOME")
        .env_remove("RUST_LOG");
    cmd
}

pub fn souk(data_dir: &Path, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = souk_command(data_dir)
        .args(args)
        .output()
        .expect("run souk");
    Run {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A fresh, initialised data directory.
pub fn node(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(name);
    let run = souk(&dir, &["init"]);
    assert!(run.status.success(), "init failed: {}", run.stderr);
    dir
}

pub fn peer_id(dir: &Path) -> String {
    souk(dir, &["id", "--json"]).json()["peer_id"]
        .as_str()
        .expect("peer_id")
        .to_owned()
}

/// Deterministic pseudo-random bytes (xorshift), distinct per seed.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Every file below `root`, by relative path.
pub fn read_tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("prefix").to_owned();
                out.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

pub fn dataset_count(dir: &Path) -> usize {
    souk(dir, &["datasets", "--json"])
        .json()
        .as_array()
        .expect("array")
        .len()
}
