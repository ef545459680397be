//! The receipt log's Merkle tree: RFC 6962 / RFC 9162 (SHA-256, `0x00` before a leaf, `0x01`
//! before two children, the right subtree of an odd split promoted rather than duplicated), with
//! inclusion and consistency proofs and their verification.
//!
//! [`MerkleTree`] keeps the hash of every complete, aligned power-of-two subtree, so appending is
//! amortised O(1) hashes and any root or proof at any past size costs O(log n) lookups and at
//! most O(log² n) hashes.

use sha2::{Digest as _, Sha256};

/// A SHA-256 output.
pub type Digest = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an inner node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Digest {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// An append-only Merkle tree over leaf hashes.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    /// `levels[h][i]`: the hash of leaves `i * 2^h .. (i + 1) * 2^h`; level 0 holds the leaves.
    levels: Vec<Vec<Digest>>,
}

impl MerkleTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf (already hashed with [`leaf_hash`]).
    pub fn push(&mut self, leaf: Digest) {
        let mut hash = leaf;
        let mut height = 0;
        loop {
            if self.levels.len() == height {
                self.levels.push(Vec::new());
            }
            let level = &mut self.levels[height];
            level.push(hash);
            if !level.len().is_multiple_of(2) {
                return;
            }
            let n = level.len();
            hash = node_hash(&level[n - 2], &level[n - 1]);
            height += 1;
        }
    }

    /// The hash of leaves `start .. start + size` (size >= 1), all of which exist.
    fn subtree(&self, start: u64, size: u64) -> Digest {
        if size.is_power_of_two() && start.is_multiple_of(size) {
            let height = size.trailing_zeros() as usize;
            let index = usize::try_from(start / size).unwrap_or(usize::MAX);
            if let Some(hash) = self.levels.get(height).and_then(|l| l.get(index)) {
                return *hash;
            }
        }
        let k = split_point(size);
        node_hash(&self.subtree(start, k), &self.subtree(start + k, size - k))
    }

    /// The root of the tree's first `size` leaves.
    pub fn root_at(&self, size: u64) -> Option<Digest> {
        match size {
            0 => Some(empty_root()),
            s if s <= self.size() => Some(self.subtree(0, s)),
            _ => None,
        }
    }

    pub fn root(&self) -> Digest {
        self.root_at(self.size()).unwrap_or_else(empty_root)
    }

    /// The audit path of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Digest>> {
        if index >= size || size > self.size() {
            return None;
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof);
        Some(proof)
    }

    fn path(&self, index: u64, start: u64, size: u64, proof: &mut Vec<Digest>) {
        if size == 1 {
            return;
        }
        let k = split_point(size);
        if index < k {
            self.path(index, start, k, proof);
            proof.push(self.subtree(start + k, size - k));
        } else {
            self.path(index - k, start + k, size - k, proof);
            proof.push(self.subtree(start, k));
        }
    }

    /// The proof that the tree of the first `old` leaves is a prefix of that of the first `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Digest>> {
        if old > new || new > self.size() {
            return None;
        }
        let mut proof = Vec::new();
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut proof);
        }
        Some(proof)
    }

    fn subproof(&self, old: u64, start: u64, size: u64, whole: bool, proof: &mut Vec<Digest>) {
        if old == size {
            if !whole {
                proof.push(self.subtree(start, size));
            }
            return;
        }
        let k = split_point(size);
        if old <= k {
            self.subproof(old, start, k, whole, proof);
            proof.push(self.subtree(start + k, size - k));
        } else {
            self.subproof(old - k, start + k, size - k, false, proof);
            proof.push(self.subtree(start, k));
        }
    }
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162, 2.1.3.2).
pub fn verify_inclusion(
    leaf: &Digest,
    index: u64,
    size: u64,
    proof: &[Digest],
    root: &Digest,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut hash = *leaf;
    for sibling in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            hash = node_hash(sibling, &hash);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && hash == *root
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of the tree of `new`
/// leaves with root `new_root` (RFC 9162, 2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Digest,
    new_root: &Digest,
    proof: &[Digest],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    let mut path: Vec<&Digest> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut old_hash, mut new_hash) = (**first, **first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            old_hash = node_hash(c, &old_hash);
            new_hash = node_hash(c, &new_hash);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            new_hash = node_hash(&new_hash, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && old_hash == *old_root && new_hash == *new_root
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn tree(n: u64) -> MerkleTree {
        let mut tree = MerkleTree::new();
        for i in 0..n {
            tree.push(leaf_hash(&i.to_le_bytes()));
        }
        tree
    }

    /// The RFC's recursive definition, straight: the reference the fast tree must match.
    fn reference_root(leaves: &[Digest]) -> Digest {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_match_the_rfc_definition_and_known_vectors() {
        let t = tree(300);
        let leaves: Vec<Digest> = (0..300u64).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        for n in 0..=300 {
            assert_eq!(
                t.root_at(n),
                Some(reference_root(&leaves[..n as usize])),
                "size {n}"
            );
        }
        // RFC 6962 test vectors (certificate-transparency-go): the empty tree and one empty leaf.
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn every_leaf_of_every_size_up_to_1000_proves() {
        let t = tree(1000);
        for size in 1..=1000u64 {
            let root = t.root_at(size).expect("root");
            for index in 0..size {
                let proof = t.inclusion_proof(index, size).expect("proof");
                assert!(proof.len() <= 64 - (size - 1).leading_zeros() as usize);
                let leaf = leaf_hash(&index.to_le_bytes());
                assert!(
                    verify_inclusion(&leaf, index, size, &proof, &root),
                    "{index}/{size}"
                );
            }
        }
        assert_eq!(t.inclusion_proof(0, 0), None);
        assert_eq!(t.inclusion_proof(5, 1001), None);
    }

    #[test]
    fn any_flipped_bit_of_an_inclusion_proof_fails() {
        let t = tree(77);
        for (index, size) in [(0u64, 1u64), (0, 2), (5, 8), (76, 77), (31, 77), (40, 64)] {
            let root = t.root_at(size).expect("root");
            let leaf = leaf_hash(&index.to_le_bytes());
            let proof = t.inclusion_proof(index, size).expect("proof");
            for i in 0..proof.len() {
                for bit in 0..256 {
                    let mut bad = proof.clone();
                    bad[i][bit / 8] ^= 1 << (bit % 8);
                    assert!(!verify_inclusion(&leaf, index, size, &bad, &root));
                }
            }
            for bit in 0..256 {
                let mut bad_root = root;
                bad_root[bit / 8] ^= 1 << (bit % 8);
                assert!(!verify_inclusion(&leaf, index, size, &proof, &bad_root));
                let mut bad_leaf = leaf;
                bad_leaf[bit / 8] ^= 1 << (bit % 8);
                assert!(!verify_inclusion(&bad_leaf, index, size, &proof, &root));
            }
            // (A size is bound to its root by the signed checkpoint, not by the path: sizes
            // whose trees have the same shape along the path verify alike.)
            for bit in 0..64 {
                assert!(!verify_inclusion(
                    &leaf,
                    index ^ (1 << bit),
                    size,
                    &proof,
                    &root
                ));
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(!verify_inclusion(&leaf, index, size, &longer, &root));
            if !proof.is_empty() {
                assert!(!verify_inclusion(&leaf, index, size, &proof[1..], &root));
            }
        }
    }

    proptest! {
        #[test]
        fn consistency_proofs_verify_and_tampering_fails(
            a in 0u64..600,
            b in 0u64..600,
            flip in any::<(usize, u8)>(),
        ) {
            let (old, new) = (a.min(b), a.max(b));
            let t = tree(600);
            let (old_root, new_root) = (t.root_at(old).expect("old"), t.root_at(new).expect("new"));
            let proof = t.consistency_proof(old, new).expect("proof");
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &proof));
            prop_assert!(proof.len() <= 2 * (64 - new.leading_zeros() as usize));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let i = flip.0 % bad.len();
                bad[i][usize::from(flip.1) % 32] ^= 1;
                prop_assert!(!verify_consistency(old, new, &old_root, &new_root, &bad));
            }
            if 0 < old && old < new {
                let mut other = new_root;
                other[0] ^= 1;
                prop_assert!(!verify_consistency(old, new, &old_root, &other, &proof));
                let mut other_old = old_root;
                other_old[31] ^= 1;
                prop_assert!(!verify_consistency(old, new, &other_old, &new_root, &proof));
            }
        }
    }
}
