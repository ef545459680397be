//! `souk demo`: Souk's main flow on temporary nodes, checked step by step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use souk_node::client::ApiClient;
use souk_node::{Backend, Daemon, DatasetSpec, NetConfig, NetworkConfig};

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

/// How long the demo waits for the network to deliver something.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// A running demo node and the client of its control API.
struct DemoNode {
    name: &'static str,
    daemon: Daemon,
    api: Backend,
}

async fn start(name: &'static str, dir: &Path, bootstrap: &[String]) -> anyhow::Result<DemoNode> {
    let config = souk_node::Config {
        network: NetworkConfig::loopback(bootstrap),
        ..souk_node::Config::default()
    };
    let daemon = souk_node::daemon::start(dir, &config, NetConfig::default())
        .await
        .with_context(|| format!("starting {name}'s node"))?;
    let api = Backend::Remote(ApiClient::new(daemon.api_addr, daemon.token().to_owned()));
    Ok(DemoNode { name, daemon, api })
}

impl DemoNode {
    /// Waits until this node's catalog holds `ids`.
    async fn learns(&self, ids: &[&str]) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let held = self.api.datasets(None).await?;
            if ids.iter().all(|id| held.iter().any(|d| d.id == *id)) {
                return Ok(());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "{} never received the manifests",
                self.name
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

pub async fn run(keep: Option<PathBuf>) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let base = keep.unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&base)?;
    out!("Souk demo in {}", base.display());

    out!("1. Three people start nodes on 127.0.0.1: Alice publishes, Bob contributes, Carol buys.");
    let dirs = ["alice", "bob", "carol"].map(|n| base.join(n));
    let mut keys = Vec::new();
    for dir in &dirs {
        let created = souk_node::data_dir::init(dir).context("initialising a demo node")?;
        keys.push(created.key.public());
    }
    let mut alice = start("Alice", &dirs[0], &[]).await?;
    let bob = start("Bob", &dirs[1], &alice.daemon.listen_addrs).await?;
    let mut carol = start("Carol", &dirs[2], &alice.daemon.listen_addrs).await?;
    for (node, key) in [&alice, &bob, &carol].iter().zip(&keys) {
        step(&format!("{}: peer id {key}", node.name));
    }
    // The nodes stop cleanly whether the story checks out or not.
    let told = story(&base, &dirs, &keys, &mut alice, &bob, &mut carol).await;
    for node in [alice, bob, carol] {
        node.daemon.shutdown().await;
    }
    told?;
    out!("Demo complete: every step checked out.");
    Ok(())
}

async fn story(
    base: &Path,
    dirs: &[PathBuf; 3],
    keys: &[souk_types::PublicKey],
    alice: &mut DemoNode,
    bob: &DemoNode,
    carol: &mut DemoNode,
) -> anyhow::Result<()> {
    out!("2. Alice publishes a weather dataset that she and Bob built (60% / 40%).");
    let source = base.join("source");
    let sample = write_sample(&source)?;
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
    let weather = alice.api.publish(spec, &|_| {}, &|_| {}).await?;
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
        paths: vec![cleaned_dir.clone()],
        name: Some("Oslo weather, cleaned".into()),
        tags: vec!["weather".into()],
        price: Some(40),
        parents: vec![format!("{}=3000", weather.id)],
        ..Default::default()
    };
    let derived = alice.api.publish(derived_spec, &|_| {}, &|_| {}).await?;
    step(&format!(
        "dataset {} with parent {}",
        derived.id, weather.id
    ));

    out!("4. The signed manifests reach Bob and Carol by gossip; Carol finds them by search.");
    bob.learns(&[&weather.id, &derived.id]).await?;
    carol.learns(&[&weather.id, &derived.id]).await?;
    let found = carol.api.datasets(Some("weath")).await?;
    ensure!(
        found.len() == 2,
        "search found {} datasets, expected 2",
        found.len()
    );
    step(&format!(
        "\"weath\" matches {} datasets in Carol's catalog",
        found.len()
    ));
    let weather_id: souk_types::DatasetId = weather.id.parse()?;
    let derived_id: souk_types::DatasetId = derived.id.parse()?;
    match carol
        .api
        .extract(&weather_id, &base.join("carol-early"), &|_| {})
        .await
    {
        Err(e) if e.to_string().contains("key") => {
            step("Carol can read the manifests but not the data: she holds no key yet")
        }
        Ok(_) => bail!("Carol extracted a dataset she holds no key for"),
        Err(e) => bail!("Carol's extract failed in an unexpected way: {e}"),
    }

    out!("5. Carol negotiates with Alice peer to peer, pays by voucher, and fetches the shards.");
    let out = base.join("carol-weather");
    let bought = carol
        .api
        .buy(&weather_id, 90, Some(70), Some(&out), &|_, _| {})
        .await?;
    step(&format!(
        "license {} at {} {} after {} round(s) (list 100, Carol's limit 90)",
        &bought.license_id[..16],
        bought.price,
        bought.currency,
        bought.rounds
    ));
    step(&format!(
        "{} bytes fetched over iroh-blobs from {} provider(s), verified and decrypted",
        bought.fetched_bytes,
        bought.providers.len()
    ));
    ensure!(
        read_tree(&out)? == sample,
        "Carol's files differ from the source"
    );
    step("Carol's files are identical to the source and match the plaintext commitment");
    let derived_out = base.join("carol-cleaned");
    let second = carol
        .api
        .buy(&derived_id, 40, None, Some(&derived_out), &|_, _| {})
        .await?;
    let cleaned: BTreeMap<PathBuf, Vec<u8>> = read_tree(&cleaned_dir)?
        .into_iter()
        .map(|(path, bytes)| (Path::new("weather-cleaned").join(path), bytes))
        .collect();
    ensure!(
        read_tree(&derived_out)? == cleaned,
        "the derived dataset Carol bought differs from its source"
    );
    step(&format!(
        "she also buys the derived dataset for {}",
        second.price
    ));

    out!(
        "6. Every sale and every delivery left a receipt in Alice's log, countersigned by Carol; \
         sales split up the lineage."
    );
    let receipts = alice.api.receipts(None).await?;
    let (sales, deliveries): (Vec<_>, Vec<_>) = receipts.iter().partition(|r| r.kind == "sale");
    ensure!(
        sales.len() == 2 && deliveries.len() == 2,
        "Alice logged {} sale and {} delivery receipts, expected 2 of each",
        sales.len(),
        deliveries.len()
    );
    for delivery in &deliveries {
        step(&format!(
            "delivery of {} bytes of {} to Carol",
            delivery.amount,
            &delivery.dataset[..16]
        ));
    }
    for receipt in &sales {
        let split: u64 = receipt.split.iter().map(|p| p.amount).sum();
        ensure!(split == receipt.amount, "a split does not sum to its sale");
        step(&format!(
            "sale of {} for {}: {} parts summing to exactly {}",
            &receipt.dataset[..16],
            receipt.amount,
            receipt.split.len(),
            split
        ));
    }

    out!(
        "7. Alice anchors her receipt log, witnessed by her peers; an auditor verifies Carol's \
         receipt offline."
    );
    let anchored = alice.api.anchor_now().await?;
    step(&format!(
        "checkpoint of {} receipts, root {}, on the local anchor chain",
        anchored.size,
        &anchored.root[..16]
    ));
    let receipt_id = bought
        .receipt_id
        .clone()
        .context("Carol's purchase has no receipt")?;
    let bundle = alice.api.proof(&receipt_id).await?;
    let verified = souk_node::proof::verify(&bundle).map_err(anyhow::Error::msg)?;
    step(&format!(
        "receipt {} is leaf {} of {} in {}: verified",
        &receipt_id[..16],
        verified.receipt.index,
        verified.tree_size,
        verified.origin
    ));
    ensure!(
        verified.witnesses.len() == 2,
        "the checkpoint should carry Bob's and Carol's cosignatures, it has {}",
        verified.witnesses.len()
    );
    step("Bob and Carol co-signed the checkpoint after checking it: both cosignatures verify");
    let mut forged = bundle.clone();
    forged.tree_size += 1;
    ensure!(
        souk_node::proof::verify(&forged).is_err(),
        "a forged proof verified"
    );
    step("the same proof with one number changed is refused");

    out!("8. Who earned what.");
    let earned = souk_node::views::earnings(&receipts);
    let names = [("Alice", keys[0]), ("Bob", keys[1])];
    for e in &earned {
        let who = names
            .iter()
            .find(|(_, key)| key.to_peer_id() == e.contributor)
            .map_or("someone", |(name, _)| name);
        step(&format!(
            "{who}: {} {} from {} sale(s)",
            e.amount, e.currency, e.sales
        ));
    }
    let total: u64 = earned.iter().map(|e| e.amount).sum();
    ensure!(
        total == bought.price + second.price,
        "earnings {total} differ from the {} paid",
        bought.price + second.price
    );
    ensure!(
        !leaks_plaintext(&dirs[0], &sample)? && !leaks_plaintext(&dirs[2], &sample)?,
        "plaintext found in a data directory"
    );
    step("no plaintext of the source appears in any node's data directory");
    Ok(())
}
