//! A witness's rule for co-signing checkpoints (C2SP tlog-witness semantics), free of I/O.
//!
//! For each origin the witness remembers the last checkpoint it co-signed. A new checkpoint is
//! co-signed only if it is signed by the log, and it either is the first seen for that origin,
//! or repeats the remembered one exactly, or is larger and provably consistent with it. A smaller
//! size is refused; the same size with another root, or a larger one that is not consistent, is
//! evidence that the log showed two different histories (equivocation).

use souk_crypto::checkpoint::Checkpoint;
use souk_crypto::merkle::{Digest, verify_consistency};

/// What the witness remembers of an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    pub size: u64,
    pub root: Digest,
}

/// Why a checkpoint is not co-signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    #[error("the checkpoint has {offered} receipts; {witnessed} were already witnessed")]
    Smaller { witnessed: u64, offered: u64 },
    #[error("the log showed two different histories: evidence of equivocation")]
    Equivocation,
}

/// The witness's decision on `checkpoint` (whose signature the caller has checked), given what
/// it remembers of the origin and the log's consistency proof from that size.
pub fn check(
    remembered: Option<&Witnessed>,
    checkpoint: &Checkpoint,
    consistency: &[Digest],
) -> Result<Witnessed, WitnessError> {
    let next = Witnessed {
        size: checkpoint.size,
        root: checkpoint.root,
    };
    let Some(last) = remembered else {
        return Ok(next);
    };
    if checkpoint.size < last.size {
        return Err(WitnessError::Smaller {
            witnessed: last.size,
            offered: checkpoint.size,
        });
    }
    if verify_consistency(
        last.size,
        checkpoint.size,
        &last.root,
        &checkpoint.root,
        consistency,
    ) {
        Ok(next)
    } else {
        Err(WitnessError::Equivocation)
    }
}

#[cfg(test)]
mod tests {
    use souk_crypto::merkle::{MerkleTree, leaf_hash};

    use super::*;

    fn log(n: u64, salt: u8) -> MerkleTree {
        let mut tree = MerkleTree::new();
        for i in 0..n {
            tree.push(leaf_hash(&[i as u8, salt]));
        }
        tree
    }

    fn head(tree: &MerkleTree, size: u64) -> Checkpoint {
        Checkpoint {
            origin: "souk/x/receipts".into(),
            size,
            root: tree.root_at(size).expect("root"),
        }
    }

    #[test]
    fn a_log_that_grows_consistently_is_witnessed() {
        let tree = log(20, 0);
        let first = check(None, &head(&tree, 5), &[]).expect("first");
        let proof = tree.consistency_proof(5, 20).expect("proof");
        let next = check(Some(&first), &head(&tree, 20), &proof).expect("grows");
        assert_eq!(next.size, 20);
        assert_eq!(check(Some(&next), &head(&tree, 20), &[]), Ok(next.clone()));
        assert_eq!(
            check(Some(&next), &head(&tree, 7), &[]),
            Err(WitnessError::Smaller {
                witnessed: 20,
                offered: 7
            })
        );
    }

    #[test]
    fn two_histories_are_equivocation() {
        let (honest, forked) = (log(20, 0), log(20, 1));
        let seen = check(None, &head(&honest, 10), &[]).expect("first");
        assert_eq!(
            check(Some(&seen), &head(&forked, 10), &[]),
            Err(WitnessError::Equivocation)
        );
        let proof = forked.consistency_proof(10, 20).expect("proof");
        assert_eq!(
            check(Some(&seen), &head(&forked, 20), &proof),
            Err(WitnessError::Equivocation)
        );
    }
}
