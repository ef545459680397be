//! Witnessed anchoring over `/souk/witness/1`, without I/O: the witness's answer to a checkpoint
//! (C2SP tlog-witness: check the log's signature, check consistency with what it last
//! co-signed for that origin, persist atomically, then co-sign), the log's round of gathering
//! cosignatures, and the checks on what nodes gossip on `souk/checkpoints/1`.

use std::collections::HashMap;
use std::hash::Hash;

use souk_core::witness::{WitnessError, Witnessed, check};
use souk_crypto::NodeKey;
use souk_crypto::checkpoint::{
    Checkpoint, cosignature_name, note_origin, origin_peer, witness_name, witness_peer,
};
use souk_crypto::merkle::Digest;
use souk_net::MAX_CONSISTENCY_HASHES;
use souk_proto::v1;
use souk_store::{Catalog, WitnessedHead};
use souk_types::PublicKey;

use crate::NodeError;
use crate::proof::{CheckpointView, SignedCheckpoint, record_anchor};

/// Two checkpoints of one log for one size with different roots: anyone can check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evidence {
    pub origin: String,
    pub log: PublicKey,
    pub first: String,
    pub second: String,
}

impl Evidence {
    pub fn to_proto(&self) -> v1::Equivocation {
        v1::Equivocation {
            first: self.first.clone(),
            second: self.second.clone(),
        }
    }

    /// Checks gossiped evidence: both notes signed by the log their origin names, same origin
    /// and size, different roots.
    pub fn check(evidence: &v1::Equivocation) -> Result<Self, String> {
        let first = open_note(&evidence.first)?;
        let second = open_note(&evidence.second)?;
        if first.0.origin != second.0.origin || first.0.size != second.0.size {
            return Err("the two checkpoints are of different logs or sizes".to_owned());
        }
        if first.0.root == second.0.root {
            return Err("the two checkpoints agree".to_owned());
        }
        Ok(Self {
            origin: first.0.origin,
            log: first.1,
            first: evidence.first.clone(),
            second: evidence.second.clone(),
        })
    }
}

/// Parses a signed note and checks it is signed by the peer its origin names.
pub(crate) fn open_note(note: &str) -> Result<(Checkpoint, PublicKey), String> {
    let log = note_origin(note)
        .and_then(origin_peer)
        .ok_or_else(|| "the checkpoint's origin is not a Souk receipt log".to_owned())?;
    let checkpoint = Checkpoint::open(note, &log).map_err(|e| e.to_string())?;
    Ok((checkpoint, log))
}

fn answer(result: v1::add_checkpoint_response::Result) -> v1::AddCheckpointResponse {
    v1::AddCheckpointResponse {
        result: Some(result),
    }
}

fn refused(why: impl Into<String>) -> v1::AddCheckpointResponse {
    answer(v1::add_checkpoint_response::Result::Refused(why.into()))
}

/// What a witness answers, and the evidence it found, if any.
pub(crate) struct WitnessOutcome {
    pub response: v1::AddCheckpointResponse,
    pub evidence: Option<Evidence>,
}

impl From<v1::AddCheckpointResponse> for WitnessOutcome {
    fn from(response: v1::AddCheckpointResponse) -> Self {
        Self {
            response,
            evidence: None,
        }
    }
}

/// This node, as a witness, answers `request`: co-signs it, asks for a proof from the size it
/// last saw, or refuses.
pub(crate) fn witness(
    catalog: &mut Catalog,
    me: &NodeKey,
    request: &v1::AddCheckpoint,
    now_ms: u64,
) -> Result<WitnessOutcome, NodeError> {
    let (checkpoint, log) = match open_note(&request.checkpoint) {
        Ok(opened) => opened,
        Err(e) => return Ok(refused(e).into()),
    };
    if catalog.equivocating_origins()?.contains(&checkpoint.origin) {
        return Ok(refused("this log showed two histories: it is not witnessed any more").into());
    }
    if request.consistency.len() > MAX_CONSISTENCY_HASHES {
        return Ok(refused("the consistency proof is too long").into());
    }
    let Some(proof) = request
        .consistency
        .iter()
        .map(|h| Digest::try_from(h.as_slice()).ok())
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(refused("a consistency proof hash is not 32 bytes").into());
    };
    let remembered = catalog.witnessed(&checkpoint.origin)?;
    if let Some(seen) = &remembered
        && seen.size == checkpoint.size
        && seen.root != checkpoint.root
    {
        let first = catalog
            .witnessed_note(&checkpoint.origin)?
            .unwrap_or_default();
        let evidence = Evidence {
            origin: checkpoint.origin.clone(),
            log,
            first,
            second: request.checkpoint.clone(),
        };
        catalog.record_equivocation(&evidence.origin, &evidence.first, &evidence.second, now_ms)?;
        return Ok(WitnessOutcome {
            response: refused(WitnessError::Equivocation.to_string()),
            evidence: Some(evidence),
        });
    }
    let seen_size = remembered.as_ref().map_or(0, |h| h.size);
    if request.old_size != seen_size {
        return Ok(answer(v1::add_checkpoint_response::Result::ConflictSize(seen_size)).into());
    }
    let last = remembered.as_ref().map(|h| Witnessed {
        size: h.size,
        root: h.root,
    });
    let next = match check(last.as_ref(), &checkpoint, &proof) {
        Ok(next) => next,
        Err(e) => return Ok(refused(e.to_string()).into()),
    };
    let next = WitnessedHead {
        size: next.size,
        root: next.root,
    };
    if remembered.as_ref() != Some(&next)
        && !catalog.advance_witnessed(
            &checkpoint.origin,
            remembered.as_ref(),
            &next,
            &request.checkpoint,
        )?
    {
        // Another request for this origin won the race: the log asks again from the new size.
        let now = catalog.witnessed(&checkpoint.origin)?.map_or(0, |h| h.size);
        return Ok(answer(v1::add_checkpoint_response::Result::ConflictSize(now)).into());
    }
    let line = checkpoint.cosign(me, &witness_name(&me.public()), now_ms / 1000);
    Ok(answer(v1::add_checkpoint_response::Result::Cosignature(line)).into())
}

/// What the log does next with one witness.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NextStep {
    /// Nothing: the witness co-signed, refused, or was already asked again.
    Done,
    /// Ask again with this request.
    AskAgain(v1::AddCheckpoint),
}

/// One checkpoint on its way to the anchor chain, gathering cosignatures. `R` names an
/// outstanding request, `W` a witness.
pub(crate) struct AnchorRound<R, W> {
    signed: SignedCheckpoint,
    cosignatures: Vec<String>,
    waiting: HashMap<R, W>,
    asked_again: Vec<W>,
}

impl<R: Eq + Hash, W: Eq + Clone> AnchorRound<R, W> {
    pub fn new(signed: SignedCheckpoint) -> Self {
        Self {
            signed,
            cosignatures: Vec::new(),
            waiting: HashMap::new(),
            asked_again: Vec::new(),
        }
    }

    /// The request for a witness believed to have last seen `old_size`.
    pub fn request(&self, old_size: u64) -> v1::AddCheckpoint {
        let old_size = old_size.min(self.signed.checkpoint.size);
        let proof = if old_size == 0 {
            Vec::new()
        } else {
            self.signed
                .tree
                .consistency_proof(old_size, self.signed.checkpoint.size)
                .unwrap_or_default()
        };
        v1::AddCheckpoint {
            old_size,
            consistency: proof.iter().map(|h| h.to_vec()).collect(),
            checkpoint: self.signed.note.clone(),
        }
    }

    pub fn asked(&mut self, request: R, witness: W) {
        self.waiting.insert(request, witness);
    }

    pub fn is_complete(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The request failed: that witness is not waited for any more.
    pub fn failed(&mut self, request: &R) {
        self.waiting.remove(request);
    }

    /// A witness answered `request`; `key` is the witness's public key.
    pub fn answered(
        &mut self,
        request: &R,
        key: &PublicKey,
        response: v1::AddCheckpointResponse,
    ) -> NextStep {
        use v1::add_checkpoint_response::Result as Answer;
        let Some(witness) = self.waiting.remove(request) else {
            return NextStep::Done;
        };
        match response.result {
            Some(Answer::Cosignature(line)) => {
                let name = witness_name(key);
                let valid = cosignature_name(&line) == Some(name.as_str())
                    && witness_peer(&name).as_ref() == Some(key)
                    && line.ends_with('\n')
                    && line.matches('\n').count() == 1
                    && self
                        .signed
                        .checkpoint
                        .cosigned_by(&format!("{}{line}", self.signed.note), key, &name)
                        .is_some();
                if valid {
                    self.cosignatures.push(line);
                } else {
                    tracing::warn!(witness = %key, "a witness sent an invalid cosignature");
                }
                NextStep::Done
            }
            Some(Answer::ConflictSize(size))
                if size <= self.signed.checkpoint.size && !self.asked_again.contains(&witness) =>
            {
                self.asked_again.push(witness);
                NextStep::AskAgain(self.request(size))
            }
            other => {
                tracing::debug!(witness = %key, answer = ?other, "checkpoint not witnessed");
                NextStep::Done
            }
        }
    }

    /// Appends the checkpoint with the cosignatures gathered to the local anchor chain.
    pub fn record(self, catalog: &mut Catalog, now_ms: u64) -> Result<CheckpointView, NodeError> {
        record_anchor(catalog, &self.signed, &self.cosignatures, now_ms)
    }
}

/// What a node makes of a head gossiped by a log: the evidence, if it contradicts the
/// checkpoint this node co-signed for that log at the same size.
pub(crate) fn check_head(catalog: &Catalog, note: &str) -> Result<Option<Evidence>, String> {
    let (checkpoint, log) = open_note(note)?;
    let seen = catalog
        .witnessed(&checkpoint.origin)
        .map_err(|e| e.to_string())?;
    if !seen.is_some_and(|s| s.size == checkpoint.size && s.root != checkpoint.root) {
        return Ok(None);
    }
    let first = catalog
        .witnessed_note(&checkpoint.origin)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    Ok(Some(Evidence {
        origin: checkpoint.origin,
        log,
        first,
        second: note.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use souk_crypto::checkpoint::receipts_origin;
    use souk_crypto::merkle::{MerkleTree, leaf_hash};

    use super::*;

    fn log_tree(n: u64, salt: u8) -> MerkleTree {
        let mut tree = MerkleTree::new();
        for i in 0..n {
            tree.push(leaf_hash(&[i as u8, salt]));
        }
        tree
    }

    fn signed(log: &NodeKey, tree: MerkleTree) -> SignedCheckpoint {
        let checkpoint = Checkpoint {
            origin: receipts_origin(&log.public()),
            size: tree.size(),
            root: tree.root(),
        };
        let note = checkpoint.sign(log);
        SignedCheckpoint {
            checkpoint,
            note,
            tree,
        }
    }

    fn cosignature(response: &v1::AddCheckpointResponse) -> Option<&str> {
        match &response.result {
            Some(v1::add_checkpoint_response::Result::Cosignature(line)) => Some(line),
            _ => None,
        }
    }

    #[test]
    fn a_witness_follows_a_growing_log_and_asks_for_proofs_from_what_it_saw() {
        let log = NodeKey::from_seed([1; 32]);
        let me = NodeKey::from_seed([2; 32]);
        let mut catalog = Catalog::open_in_memory().expect("catalog");
        let mut round: AnchorRound<u32, u32> = AnchorRound::new(signed(&log, log_tree(5, 0)));
        round.asked(1, 7);
        let outcome = witness(&mut catalog, &me, &round.request(0), 1_000).expect("witness");
        assert!(cosignature(&outcome.response).is_some());
        assert_eq!(
            round.answered(&1, &me.public(), outcome.response),
            NextStep::Done
        );
        assert!(round.is_complete());
        let view = round.record(&mut catalog, 1_000).expect("record");
        assert!(view.note.contains(&witness_name(&me.public())));

        // The log guesses wrong: the witness names its size, the log proves from there.
        let mut round: AnchorRound<u32, u32> = AnchorRound::new(signed(&log, log_tree(12, 0)));
        round.asked(2, 7);
        let outcome = witness(&mut catalog, &me, &round.request(0), 2_000).expect("witness");
        let NextStep::AskAgain(again) = round.answered(&2, &me.public(), outcome.response) else {
            panic!("expected a conflict");
        };
        assert_eq!(again.old_size, 5);
        round.asked(3, 7);
        let outcome = witness(&mut catalog, &me, &again, 3_000).expect("witness");
        assert!(cosignature(&outcome.response).is_some());
        round.answered(&3, &me.public(), outcome.response);
        assert_eq!(round.cosignatures.len(), 1);
        let head = catalog
            .witnessed(&receipts_origin(&log.public()))
            .expect("read")
            .expect("witnessed");
        assert_eq!(head.size, 12);
    }

    #[test]
    fn a_fork_at_the_same_size_is_kept_as_evidence_anyone_can_check() {
        let log = NodeKey::from_seed([1; 32]);
        let me = NodeKey::from_seed([2; 32]);
        let mut catalog = Catalog::open_in_memory().expect("catalog");
        let honest: AnchorRound<u32, u32> = AnchorRound::new(signed(&log, log_tree(9, 0)));
        let forked: AnchorRound<u32, u32> = AnchorRound::new(signed(&log, log_tree(9, 1)));
        let first = witness(&mut catalog, &me, &honest.request(0), 1).expect("witness");
        assert!(first.evidence.is_none());
        let second = witness(&mut catalog, &me, &forked.request(9), 2).expect("witness");
        assert!(cosignature(&second.response).is_none());
        let evidence = second.evidence.expect("evidence");
        assert_eq!(evidence.log, log.public());
        assert_eq!(Evidence::check(&evidence.to_proto()), Ok(evidence.clone()));
        assert_eq!(
            catalog.equivocating_origins().expect("list"),
            vec![evidence.origin.clone()]
        );
        let again = witness(&mut catalog, &me, &honest.request(9), 3).expect("witness");
        assert!(
            cosignature(&again.response).is_none(),
            "an equivocator is not witnessed"
        );

        // The same head gossiped is evidence too; a note compared with itself is not.
        assert!(
            check_head(&catalog, &forked.signed.note)
                .expect("check")
                .is_some()
        );
        assert!(
            check_head(&catalog, &honest.signed.note)
                .expect("check")
                .is_none()
        );
        let same = v1::Equivocation {
            first: honest.signed.note.clone(),
            second: honest.signed.note.clone(),
        };
        assert!(Evidence::check(&same).is_err());
    }

    #[test]
    fn bad_requests_are_refused_and_change_nothing() {
        let log = NodeKey::from_seed([1; 32]);
        let me = NodeKey::from_seed([2; 32]);
        let mut catalog = Catalog::open_in_memory().expect("catalog");
        let round: AnchorRound<u32, u32> = AnchorRound::new(signed(&log, log_tree(4, 0)));
        let mut forged = round.request(0);
        forged.checkpoint = forged.checkpoint.replacen("\n4\n", "\n5\n", 1);
        let mut long = round.request(0);
        long.consistency = vec![vec![0; 32]; MAX_CONSISTENCY_HASHES + 1];
        let mut short_hash = round.request(0);
        short_hash.consistency = vec![vec![0; 31]];
        for request in [forged, long, short_hash] {
            let outcome = witness(&mut catalog, &me, &request, 1).expect("witness");
            assert!(cosignature(&outcome.response).is_none());
        }
        assert_eq!(
            catalog
                .witnessed(&receipts_origin(&log.public()))
                .expect("read"),
            None
        );
    }
}
