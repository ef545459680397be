use std::path::Path;

use serde::{Deserialize, Serialize};
use souk_types::limits;

use crate::NodeError;

/// The node's `config.toml`. Every field has a default; unknown fields are errors, so a typo
/// never silently does nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub publish: PublishConfig,
    pub store: StoreConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Plaintext bytes per shard for datasets that do not choose their own.
    pub shard_size: u64,
    /// Parallel shard workers for publish and extract; 0 means one per core.
    pub workers: usize,
    /// Currency unit of the prices in license offers.
    pub currency: String,
    /// How long a license from a default offer lasts.
    pub license_duration_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// How often unreferenced shards (from an interrupted publish) are removed.
    pub gc_interval_secs: u64,
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            shard_size: limits::DEFAULT_SHARD_SIZE,
            workers: 0,
            currency: "SOUK".to_owned(),
            license_duration_secs: 365 * 24 * 3600,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            gc_interval_secs: 300,
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NodeError::io(format!("reading {}", path.display()), e))?;
        let config: Self = toml::from_str(&text).map_err(|e| NodeError::Config {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        config.validate().map_err(|message| NodeError::Config {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let size = self.publish.shard_size;
        if !(limits::MIN_SHARD_SIZE..=limits::MAX_SHARD_SIZE).contains(&size) {
            return Err(format!(
                "publish.shard_size {size} is outside {}..={}",
                limits::MIN_SHARD_SIZE,
                limits::MAX_SHARD_SIZE
            ));
        }
        if self.store.gc_interval_secs == 0 {
            return Err("store.gc_interval_secs must be above 0".to_owned());
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Workers to use: the configured number, or one per core.
    pub fn workers(&self) -> usize {
        match self.publish.workers {
            0 => souk_dataset::default_workers(),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_typos_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, Config::default().to_toml()).expect("write");
        assert_eq!(Config::load(&path).expect("load"), Config::default());
        std::fs::write(&path, "[publish]\nshard_sise = 5\n").expect("write");
        assert!(matches!(Config::load(&path), Err(NodeError::Config { .. })));
        std::fs::write(&path, "[publish]\nshard_size = 5\n").expect("write");
        assert!(matches!(Config::load(&path), Err(NodeError::Config { .. })));
    }
}
