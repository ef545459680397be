//! `souk demo`: Souk's main flow on temporary nodes, checked step by step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use souk_node::{DatasetSpec, Node, NodeError};

/// A deterministic sample dataset: station readings as CSV, a README and a binary blob, about
/// 3 MiB over several shards.
fn write_sample(root: &Path) -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for station in ["oslo", "lagos", "lima"] {
        let mut csv = String::from("hour,temperature_c,humidity_pct\n");
        for hour in 0..20_000 {
            let t = (next() % 400) as f64 / 10.0 - 5.0;
            let h = next() % 100;
            csv.push_str(&format!("{hour},{t:.1},{h}\n"));
        }
        files.insert(
            PathBuf::from(format!("weather/stations/{station}.csv")),
            csv.into_bytes(),
        );
    }
    files.insert(
        PathBuf::from("weather/README.md"),
        b"Hourly readings from three stations, contributed by two people.\n".to_vec(),
    );
    let blob: Vec<u8> = (0..1_500_000).map(|_| next() as u8).collect();
    files.insert(PathBuf::from("weather/raw/sensor.bin"), blob);
    for (path, bytes) in &files {
        let full = root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, bytes)?;
    }
    Ok(files)
}

fn read_tree(root: &Path) -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root)?.to_owned();
                out.insert(relative, std::fs::read(&path)?);
            }
        }
    }
    Ok(out)
}

/// True if any 32-byte window of the sample's text appears in any file below `dir`.
fn leaks_plaintext(dir: &Path, sample: &BTreeMap<PathBuf, Vec<u8>>) -> anyhow::Result<bool> {
    let needles: Vec<&[u8]> = sample
        .values()
        .filter(|bytes| bytes.len() >= 4096)
        .map(|bytes| &bytes[1024..1056])
        .collect();
    for bytes in read_tree(dir)?.values() {
        if needles
            .iter()
            .any(|needle| bytes.windows(needle.len()).any(|w| w == *needle))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn step(text: &str) {
    out!("  - {text}");
}

pub async fn run(keep: Option<PathBuf>) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let base = keep.unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&base)?;
    out!("Souk demo in {}", base.display());

    out!("1. Three people start nodes: Alice publishes, Bob contributes, Carol browses.");
    let dirs = ["alice", "bob", "carol"].map(|n| base.join(n));
    let mut keys = Vec::new();
    for dir in &dirs {
        let created = souk_node::data_dir::init(dir).context("initialising a demo node")?;
        step(&format!(
            "{}: peer id {}",
            dir.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            created.key.public()
        ));
        keys.push(created.key.public());
    }

    out!("2. Alice publishes a weather dataset that she and Bob built (60% / 40%).");
    let source = base.join("source");
    let sample = write_sample(&source)?;
    let mut alice = Node::open(&dirs[0]).await?;
    let spec = DatasetSpec {
        paths: vec![source.join("weather")],
        name: Some("Hourly weather, three stations".into()),
        description: Some("Temperature and humidity readings".into()),
        tags: vec!["weather".into(), "climate".into()],
        price: Some(100),
        floor: Some(80),
        shard_size: Some(256 * 1024),
        contributors: vec![format!("{}=6000", keys[0]), format!("{}=4000", keys[1])],
        parents: vec![],
    };
    let request = alice.prepare_publish(spec)?;
    let weather = alice.publish(request, &|_| {}, &|_| {}).await?;
    let weather_id: souk_types::DatasetId = weather.id.parse()?;
    step(&format!(
        "dataset {} : {} files, {} bytes, {} encrypted shards",
        weather.id, weather.files, weather.data_size, weather.shard_count
    ));

    out!("3. She derives a cleaned subset from it; 30% of its revenue flows to the parent.");
    let cleaned_dir = source.join("weather-cleaned");
    std::fs::create_dir_all(&cleaned_dir)?;
    let oslo = &sample[&PathBuf::from("weather/stations/oslo.csv")];
    std::fs::write(cleaned_dir.join("oslo.csv"), &oslo[..oslo.len() / 2])?;
    let derived_spec = DatasetSpec {
        paths: vec![cleaned_dir],
        name: Some("Oslo weather, cleaned".into()),
        tags: vec!["weather".into()],
        price: Some(40),
        parents: vec![format!("{}=3000", weather.id)],
        ..Default::default()
    };
    let request = alice.prepare_publish(derived_spec)?;
    let derived = alice.publish(request, &|_| {}, &|_| {}).await?;
    let derived_id: souk_types::DatasetId = derived.id.parse()?;
    step(&format!(
        "dataset {} with parent {}",
        derived.id, weather.id
    ));

    out!("4. Alice's catalog finds both by full-text search.");
    let found = alice.datasets(Some("weath"))?;
    ensure!(
        found.len() == 2,
        "search found {} datasets, expected 2",
        found.len()
    );
    step(&format!("\"weath\" matches {} datasets", found.len()));

    out!("5. Carol imports the signed manifests; she can read them, not the data.");
    let mut carol = Node::open(&dirs[2]).await?;
    let (id, _) = carol.import_manifest(&alice.export_manifest(&weather_id)?)?;
    ensure!(id == weather_id, "imported manifest has another id");
    carol.import_manifest(&alice.export_manifest(&derived_id)?)?;
    let seen = carol.show(&derived_id)?;
    ensure!(
        seen.signed.envelope == alice.show(&derived_id)?.signed.envelope,
        "Carol's copy of the manifest differs from Alice's"
    );
    step("both manifests verify and match Alice's byte for byte");
    match carol
        .extract(&weather_id, &base.join("carol-out"), &|_| {})
        .await
    {
        Err(NodeError::NoKey(_)) => step("Carol cannot extract: she holds no key (no license yet)"),
        Ok(_) => bail!("Carol extracted a dataset she holds no key for"),
        Err(e) => bail!("Carol's extract failed in an unexpected way: {e}"),
    }

    out!("6. Alice extracts her dataset and it is exactly what went in.");
    let out = base.join("alice-out");
    let stats = alice.extract(&weather_id, &out, &|_| {}).await?;
    let extracted = read_tree(&out)?;
    ensure!(
        extracted == sample,
        "extracted files differ from the source"
    );
    step(&format!(
        "{} files, {} bytes, identical to the source and to the plaintext commitment",
        stats.files,
        sample.values().map(|b| b.len()).sum::<usize>()
    ));
    ensure!(
        !leaks_plaintext(&dirs[0], &sample)?,
        "plaintext found in Alice's data directory"
    );
    step("no plaintext of the source appears anywhere in Alice's data directory");

    alice.shutdown().await;
    carol.shutdown().await;
    out!("Demo complete: every step checked out.");
    Ok(())
}
