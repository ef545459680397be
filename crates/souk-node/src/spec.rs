//! What to publish, as given on the command line or in a `--spec dataset.toml` file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use souk_types::{Contributor, DatasetId, Parent, PublicKey};

use crate::NodeError;

/// A dataset to publish. In a spec file, relative `paths` are relative to the file's folder,
/// and contributors and parents are written as on the command line:
///
/// ```toml
/// name = "Hourly weather, 2025"
/// description = "Station readings"
/// tags = ["climate", "weather"]
/// paths = ["data/"]
/// price = 100
/// floor = 80
/// contributors = ["12D3KooW...=6000", "12D3KooW...=4000"]
/// parents = ["<dataset id>=2000"]
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub price: Option<u64>,
    pub floor: Option<u64>,
    pub shard_size: Option<u64>,
    #[serde(default)]
    pub contributors: Vec<String>,
    #[serde(default)]
    pub parents: Vec<String>,
}

impl DatasetSpec {
    /// Reads a spec file; its relative paths are resolved against the file's folder.
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NodeError::io(format!("reading {}", path.display()), e))?;
        let mut spec: Self = toml::from_str(&text).map_err(|e| NodeError::Config {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in &mut spec.paths {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(spec)
    }

    /// Lays `overrides` (command-line flags) over this spec: any field given there wins.
    pub fn overlay(mut self, overrides: Self) -> Self {
        fn pick<T>(base: &mut Vec<T>, over: Vec<T>) {
            if !over.is_empty() {
                *base = over;
            }
        }
        pick(&mut self.paths, overrides.paths);
        pick(&mut self.tags, overrides.tags);
        pick(&mut self.contributors, overrides.contributors);
        pick(&mut self.parents, overrides.parents);
        self.name = overrides.name.or(self.name);
        self.description = overrides.description.or(self.description);
        self.price = overrides.price.or(self.price);
        self.floor = overrides.floor.or(self.floor);
        self.shard_size = overrides.shard_size.or(self.shard_size);
        self
    }
}

fn split_share<'a>(input: &'a str, what: &str, example: &str) -> Result<(&'a str, u32), NodeError> {
    let (left, bps) = input
        .rsplit_once('=')
        .ok_or_else(|| NodeError::Invalid(format!("{what} {input:?} must look like {example}")))?;
    let bps = bps.trim().parse::<u32>().map_err(|_| {
        NodeError::Invalid(format!(
            "{what} {input:?}: {bps:?} is not a number of basis points (0..=10000)"
        ))
    })?;
    Ok((left.trim(), bps))
}

/// Parses `PUBKEY=BPS` (the key as a peer id or 64 hex characters).
pub fn parse_contributor(input: &str) -> Result<Contributor, NodeError> {
    let (key, weight_bps) = split_share(input, "contributor", "PUBKEY=BPS, e.g. 12D3KooW...=5000")?;
    let key: PublicKey = key
        .parse()
        .map_err(|e| NodeError::Invalid(format!("contributor {input:?}: {e}")))?;
    Ok(Contributor { key, weight_bps })
}

/// Parses `DATASET_ID=BPS`.
pub fn parse_parent(input: &str) -> Result<Parent, NodeError> {
    let (id, share_bps) = split_share(input, "parent", "DATASET_ID=BPS, e.g. 3fa4...=2000")?;
    let dataset: DatasetId = id
        .parse()
        .map_err(|e| NodeError::Invalid(format!("parent {input:?}: {e}")))?;
    Ok(Parent { dataset, share_bps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_parse_and_malformed_ones_explain_themselves() {
        let hex = "ab".repeat(32);
        assert_eq!(
            parse_contributor(&format!("{hex}=2500"))
                .expect("ok")
                .weight_bps,
            2500
        );
        assert!(parse_parent(&format!("{hex}=100")).is_ok());
        for bad in [
            "",
            "abc",
            "abc=1",
            &format!("{hex}=x"),
            &format!("{hex}=-1"),
            "=5",
        ] {
            assert!(parse_contributor(bad).is_err(), "{bad:?}");
            assert!(parse_parent(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flags_override_the_spec_file() {
        let file = DatasetSpec {
            name: Some("file".into()),
            tags: vec!["a".into()],
            price: Some(5),
            ..Default::default()
        };
        let flags = DatasetSpec {
            name: Some("flag".into()),
            ..Default::default()
        };
        let merged = file.overlay(flags);
        assert_eq!(merged.name.as_deref(), Some("flag"));
        assert_eq!(merged.tags, ["a"]);
        assert_eq!(merged.price, Some(5));
    }
}
