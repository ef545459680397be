//! Real iroh endpoints on 127.0.0.1 serving real fs stores through the gate.

use std::io::{Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::Path;

use iroh_blobs::hashseq::HashSeq;
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::{BlobFormat, Hash, HashAndFormat};
use souk_transfer::{BlobsService, FetchRequest, Gate, Holding, Source, TransferError};
use souk_types::{DatasetId, PublicKey};

const SHARD: usize = 200 * 1024;
const SHARDS: usize = 12;
const FAR_FUTURE_MS: u64 = u64::MAX;

struct Node {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    store: FsStore,
    service: BlobsService,
    key: PublicKey,
}

fn seed(n: u8) -> [u8; 32] {
    [n; 32]
}

async fn node(n: u8) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("blobs");
    let store = FsStore::load(&root).await.expect("store");
    let bind: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let service = BlobsService::bind(&seed(n), bind, &store, Gate::default(), Default::default())
        .await
        .expect("bind");
    let key = PublicKey::from_bytes(*service.endpoint().id().as_bytes());
    Node {
        _dir: dir,
        root,
        store,
        service,
        key,
    }
}

impl Node {
    fn source(&self) -> Source {
        Source {
            key: self.key,
            addrs: self.service.addrs(),
        }
    }

    /// Adds a dataset of `SHARDS` pseudo-random shards, pinned, and returns its shard list root.
    async fn add_dataset(&self, salt: u8) -> (Hash, Vec<Hash>) {
        let mut hashes = Vec::new();
        for i in 0..SHARDS {
            let offset = (i as u32) * 7_919 + u32::from(salt) * 104_729;
            let bytes: Vec<u8> = (0..SHARD as u32)
                .map(|j| (j.wrapping_mul(2_654_435_761).wrapping_add(offset) >> 13) as u8)
                .collect();
            let tag = self.store.add_bytes(bytes).await.expect("add");
            hashes.push(tag.hash);
        }
        let list: HashSeq = hashes.iter().collect();
        let root = self
            .store
            .add_bytes_with_opts((list.into_inner(), BlobFormat::HashSeq))
            .await
            .expect("add list")
            .hash;
        self.store
            .tags()
            .set(format!("d{salt}"), HashAndFormat::hash_seq(root))
            .await
            .expect("tag");
        (root, hashes)
    }

    fn serve(&self, dataset: DatasetId, root: Hash, shards: &[Hash]) {
        self.service.gate().lock().hold(
            dataset,
            Holding {
                root,
                shards: shards.iter().copied().collect(),
            },
        );
    }

    fn admit(&self, reader: PublicKey, dataset: DatasetId, until_ms: u64) {
        self.service.gate().lock().admit(reader, dataset, until_ms);
    }

    async fn fetch(
        &self,
        root: Hash,
        sources: Vec<Source>,
    ) -> Result<souk_transfer::FetchReport, TransferError> {
        let request = FetchRequest {
            root,
            shard_count: SHARDS as u64,
            pin: "fetching".into(),
            sources,
            streams_per_source: 2,
            arrivals: None,
        };
        souk_transfer::fetch_dataset(self.service.endpoint(), &self.store, request, &|_| {}).await
    }

    async fn holds(&self, hash: Hash) -> bool {
        self.store
            .remote()
            .local(HashAndFormat::raw(hash))
            .await
            .expect("local")
            .is_complete()
    }

    /// Flips one byte in the middle of every stored shard file, as a failing disk would.
    fn corrupt(&self, shards: &[Hash]) {
        for hash in shards {
            let path = data_path(&self.root, hash);
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .expect("shard file");
            file.seek(SeekFrom::Start((SHARD / 2) as u64))
                .expect("seek");
            file.write_all(&[0xAA; 64]).expect("write");
        }
    }
}

fn data_path(root: &Path, hash: &Hash) -> std::path::PathBuf {
    root.join("data").join(format!("{}.data", hash.to_hex()))
}

fn dataset(n: u8) -> DatasetId {
    DatasetId::from_bytes([n; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlicensed_reader_gets_nothing() {
    let (provider, reader) = (node(1).await, node(2).await);
    let (root, shards) = provider.add_dataset(1).await;
    provider.serve(dataset(1), root, &shards);

    let refused = reader.fetch(root, vec![provider.source()]).await;
    assert!(
        matches!(refused, Err(TransferError::NoProvider(_))),
        "{refused:?}"
    );
    assert!(!reader.holds(root).await);

    // An expired license is no license.
    provider.admit(reader.key, dataset(1), 1);
    let refused = reader.fetch(root, vec![provider.source()]).await;
    assert!(refused.is_err());
    assert!(!reader.holds(shards[0]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_licensed_reader_gets_its_dataset_and_nothing_else() {
    let (provider, reader) = (node(3).await, node(4).await);
    let (root, shards) = provider.add_dataset(1).await;
    let (other_root, other_shards) = provider.add_dataset(2).await;
    provider.serve(dataset(1), root, &shards);
    provider.serve(dataset(2), other_root, &other_shards);
    provider.admit(reader.key, dataset(1), FAR_FUTURE_MS);

    let report = reader
        .fetch(root, vec![provider.source()])
        .await
        .expect("fetch");
    assert_eq!(report.shards, SHARDS as u64);
    assert_eq!(report.local_bytes, 0);
    assert!(report.fetched_bytes >= (SHARD * SHARDS) as u64);
    for hash in &shards {
        assert!(reader.holds(*hash).await);
    }

    // The other dataset on the same provider, by its list or by a shard, is refused.
    assert!(
        reader
            .fetch(other_root, vec![provider.source()])
            .await
            .is_err()
    );
    let endpoint = reader.service.endpoint();
    let connection = endpoint
        .connect(
            iroh::EndpointAddr::new(provider.service.endpoint().id())
                .with_ip_addr(provider.service.addrs()[0]),
            iroh_blobs::ALPN,
        )
        .await
        .expect("connect");
    let stolen = reader
        .store
        .remote()
        .fetch(connection.clone(), HashAndFormat::raw(other_shards[0]))
        .await;
    assert!(stolen.is_err());
    // A shard of the licensed dataset read as if it were a hash sequence is refused too.
    let as_list = reader
        .store
        .remote()
        .fetch(connection, HashAndFormat::hash_seq(shards[0]))
        .await;
    assert!(as_list.is_err());
    assert!(!reader.holds(other_shards[0]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_serving_corrupt_data_is_dropped_and_the_fetch_completes() {
    let (honest, broken, reader) = (node(5).await, node(6).await, node(7).await);
    let (root, shards) = honest.add_dataset(1).await;
    let (same_root, _) = broken.add_dataset(1).await;
    assert_eq!(root, same_root);
    broken.corrupt(&shards);
    for provider in [&honest, &broken] {
        provider.serve(dataset(1), root, &shards);
        provider.admit(reader.key, dataset(1), FAR_FUTURE_MS);
    }

    let report = reader
        .fetch(root, vec![broken.source(), honest.source()])
        .await
        .expect("fetch");
    let from_broken = report
        .sources
        .iter()
        .find(|s| s.key == broken.key)
        .expect("broken");
    assert!(from_broken.error.is_some(), "{report:?}");
    assert_eq!(from_broken.shards, 0);
    let from_honest = report
        .sources
        .iter()
        .find(|s| s.key == honest.key)
        .expect("honest");
    assert!(from_honest.error.is_none());
    for hash in &shards {
        let bytes = reader.store.blobs().get_bytes(*hash).await.expect("shard");
        assert_eq!(Hash::new(&bytes), *hash);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_fetch_takes_only_what_is_missing() {
    let (provider, reader) = (node(8).await, node(9).await);
    let (root, shards) = provider.add_dataset(1).await;
    provider.serve(dataset(1), root, &shards);
    provider.admit(reader.key, dataset(1), FAR_FUTURE_MS);

    // Half the shards arrive first (as if the download had been cut short).
    let half: Vec<Source> = vec![provider.source()];
    let endpoint = reader.service.endpoint();
    let connection = endpoint
        .connect(
            iroh::EndpointAddr::new(provider.service.endpoint().id())
                .with_ip_addr(half[0].addrs[0]),
            iroh_blobs::ALPN,
        )
        .await
        .expect("connect");
    reader
        .store
        .tags()
        .set("fetching", HashAndFormat::hash_seq(root))
        .await
        .expect("pin");
    for hash in shards.iter().take(SHARDS / 2) {
        reader
            .store
            .remote()
            .fetch(connection.clone(), HashAndFormat::raw(*hash))
            .await
            .expect("part");
    }

    let report = reader.fetch(root, half).await.expect("fetch");
    let shard_bytes = (SHARD * (SHARDS / 2)) as u64;
    assert_eq!(report.local_bytes, shard_bytes);
    // The rest, plus the shard list itself.
    let list_bytes = (32 * SHARDS) as u64;
    assert_eq!(report.fetched_bytes, shard_bytes + list_bytes);
    for hash in &shards {
        assert!(reader.holds(*hash).await);
    }
}
