//! Checkpoints of a receipt log, as C2SP `tlog-checkpoint` signed notes, and witness
//! co-signatures as C2SP `tlog-cosignature` lines.
//!
//! A checkpoint's body is three lines: the origin (`souk/<peer id>/receipts`), the tree size in
//! decimal, and the root hash in standard base64. A signed note is the body, an empty line, then
//! one line per signature: an em dash, the key name, and base64 of a 4-byte key id followed by
//! the signature. The log signs the body with Ed25519 (key id over algorithm byte 0x01); a
//! witness signs `cosignature/v1\ntime <t>\n` followed by the body (algorithm 0x04, the
//! timestamp carried big-endian between key id and signature).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};
use souk_types::PublicKey;

use crate::NodeKey;
use crate::merkle::Digest;

const ED25519: u8 = 0x01;
const COSIGNATURE_V1: u8 = 0x04;
/// Longest note accepted: a body and a few dozen signature lines.
pub const MAX_NOTE_BYTES: usize = 16 * 1024;
const DASH: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint is malformed: {0}")]
    Malformed(&'static str),
    #[error("no valid signature by {0} on the checkpoint")]
    NotSigned(String),
}

/// The head of a log: origin, size, root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Digest,
}

/// Link `seq` of a local anchor chain: SHA-256 of a domain tag, the position, the previous link
/// and the signed checkpoint note, so rewriting any anchored checkpoint changes every later link.
pub fn anchor_link(seq: u64, prev: &Digest, note: &str) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(b"souk/anchor/v1\n");
    hasher.update(seq.to_be_bytes());
    hasher.update(prev);
    hasher.update(note.as_bytes());
    hasher.finalize().into()
}

/// The peer whose receipt log `origin` names, if it is one.
pub fn origin_peer(origin: &str) -> Option<PublicKey> {
    origin
        .strip_prefix("souk/")?
        .strip_suffix("/receipts")?
        .parse()
        .ok()
}

/// The origin line of `node`'s receipt log.
pub fn receipts_origin(node: &PublicKey) -> String {
    format!("souk/{}/receipts", node.to_peer_id())
}

/// The key name under which `node` co-signs checkpoints as a witness.
pub fn witness_name(node: &PublicKey) -> String {
    format!("souk/{}/witness", node.to_peer_id())
}

/// The peer a witness key name belongs to, if it is one.
pub fn witness_peer(name: &str) -> Option<PublicKey> {
    name.strip_prefix("souk/")?
        .strip_suffix("/witness")?
        .parse()
        .ok()
}

/// The origin named by a signed note's first line, before any signature is checked.
pub fn note_origin(note: &str) -> Option<&str> {
    note.split('\n').next().filter(|o| !o.is_empty())
}

/// Splits a signed note into the note signed by its log alone and the other signature lines
/// (its cosignatures), in order.
pub fn split_cosignatures(note: &str) -> (String, Vec<String>) {
    let Some((body, block)) = note.split_once("\n\n") else {
        return (note.to_owned(), Vec::new());
    };
    let origin = note_origin(body).unwrap_or_default();
    let log_prefix = format!("{DASH}{origin} ");
    let mut signed = format!("{body}\n\n");
    let mut cosignatures = Vec::new();
    for line in block.lines() {
        if line.starts_with(&log_prefix) {
            signed.push_str(line);
            signed.push('\n');
        } else {
            cosignatures.push(format!("{line}\n"));
        }
    }
    (signed, cosignatures)
}

/// The witness key name of a cosignature line.
pub fn cosignature_name(line: &str) -> Option<&str> {
    line.strip_prefix(DASH)?
        .rsplit_once(' ')
        .map(|(name, _)| name)
}

fn key_id(name: &str, algorithm: u8, key: &PublicKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([algorithm]);
    hasher.update(key.as_bytes());
    let hash = hasher.finalize();
    [hash[0], hash[1], hash[2], hash[3]]
}

fn cosigned_message(body: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{body}").into_bytes()
}

fn verifies(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(signature)) = (
        VerifyingKey::from_bytes(key.as_bytes()),
        Signature::from_slice(signature),
    ) else {
        return false;
    };
    key.verify_strict(message, &signature).is_ok()
}

impl Checkpoint {
    /// The note body: origin, size and root, one per line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty() && o.is_ascii());
        let origin = origin.ok_or(CheckpointError::Malformed("no origin line"))?;
        let size = lines
            .next()
            .filter(|s| s == &"0" || (!s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(CheckpointError::Malformed(
                "the size is not a decimal number",
            ))?;
        let root = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| <Digest>::try_from(r.as_slice()).ok())
            .ok_or(CheckpointError::Malformed(
                "the root is not 32 bytes of base64",
            ))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// The signed note: this checkpoint signed by `log` under the key name of its origin.
    pub fn sign(&self, log: &NodeKey) -> String {
        let body = self.body();
        let signature = log.sign_raw(body.as_bytes());
        let mut blob = key_id(&self.origin, ED25519, &log.public()).to_vec();
        blob.extend_from_slice(&signature);
        format!("{body}\n{DASH}{} {}\n", self.origin, STANDARD.encode(blob))
    }

    /// A witness's co-signature line for this checkpoint at `time` (seconds since the epoch).
    pub fn cosign(&self, witness: &NodeKey, name: &str, time: u64) -> String {
        let signature = witness.sign_raw(&cosigned_message(&self.body(), time));
        let mut blob = key_id(name, COSIGNATURE_V1, &witness.public()).to_vec();
        blob.extend_from_slice(&time.to_be_bytes());
        blob.extend_from_slice(&signature);
        format!("{DASH}{name} {}\n", STANDARD.encode(blob))
    }

    /// The time of `witness`'s valid co-signature among `note`'s signature lines, if there is one.
    pub fn cosigned_by(&self, note: &str, witness: &PublicKey, name: &str) -> Option<u64> {
        let id = key_id(name, COSIGNATURE_V1, witness);
        let message_for = |time: u64| cosigned_message(&self.body(), time);
        signature_blobs(note, name).find_map(|blob| {
            if blob.len() != 4 + 8 + 64 || blob[..4] != id {
                return None;
            }
            let time = u64::from_be_bytes(blob[4..12].try_into().ok()?);
            verifies(witness, &message_for(time), &blob[12..]).then_some(time)
        })
    }

    /// Parses a signed note and checks the log's signature by `log` under the origin's name.
    pub fn open(note: &str, log: &PublicKey) -> Result<Self, CheckpointError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(CheckpointError::Malformed("the note is too long"));
        }
        let (body, _) = note
            .split_once("\n\n")
            .ok_or(CheckpointError::Malformed("no signature block"))?;
        let body = format!("{body}\n");
        let checkpoint = Self::parse_body(&body)?;
        let id = key_id(&checkpoint.origin, ED25519, log);
        let signed = signature_blobs(note, &checkpoint.origin).any(|blob| {
            blob.len() == 4 + 64 && blob[..4] == id && verifies(log, body.as_bytes(), &blob[4..])
        });
        if !signed {
            return Err(CheckpointError::NotSigned(checkpoint.origin));
        }
        Ok(checkpoint)
    }
}

/// The decoded signature blobs of the lines of `note`'s signature block named `name`.
fn signature_blobs<'a>(note: &'a str, name: &'a str) -> impl Iterator<Item = Vec<u8>> + 'a {
    note.split_once("\n\n")
        .map(|(_, block)| block)
        .unwrap_or_default()
        .lines()
        .filter_map(move |line| {
            let rest = line.strip_prefix(DASH)?;
            let (line_name, blob) = rest.rsplit_once(' ')?;
            (line_name == name).then(|| STANDARD.decode(blob).ok())?
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(log: &NodeKey) -> Checkpoint {
        Checkpoint {
            origin: receipts_origin(&log.public()),
            size: 42,
            root: [7; 32],
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_for_its_log_only() {
        let log = NodeKey::from_seed([1; 32]);
        let other = NodeKey::from_seed([2; 32]);
        let cp = checkpoint(&log);
        let note = cp.sign(&log);
        assert!(note.starts_with(&format!(
            "souk/{}/receipts\n42\n",
            log.public().to_peer_id()
        )));
        assert_eq!(Checkpoint::open(&note, &log.public()), Ok(cp.clone()));
        assert!(Checkpoint::open(&note, &other.public()).is_err());
        for i in 0..note.len() {
            let mut bytes = note.clone().into_bytes();
            bytes[i] ^= 0x01;
            if let Ok(tampered) = String::from_utf8(bytes) {
                assert_ne!(
                    Checkpoint::open(&tampered, &log.public()),
                    Ok(cp.clone()),
                    "flip at {i}"
                );
            }
        }
    }

    #[test]
    fn a_cosigned_note_splits_into_the_log_note_and_its_cosignatures() {
        let log = NodeKey::from_seed([1; 32]);
        let witness = NodeKey::from_seed([3; 32]);
        let cp = checkpoint(&log);
        let note = cp.sign(&log);
        let name = witness_name(&witness.public());
        let line = cp.cosign(&witness, &name, 7);
        assert_eq!(witness_peer(&name), Some(witness.public()));
        assert_eq!(cosignature_name(&line), Some(name.as_str()));
        let (signed, cosignatures) = split_cosignatures(&format!("{note}{line}"));
        assert_eq!(signed, note);
        assert_eq!(cosignatures, vec![line]);
        assert_eq!(note_origin(&note), Some(cp.origin.as_str()));
    }

    #[test]
    fn cosignatures_name_their_witness_and_time() {
        let log = NodeKey::from_seed([1; 32]);
        let witness = NodeKey::from_seed([3; 32]);
        let cp = checkpoint(&log);
        let mut note = cp.sign(&log);
        note.push_str(&cp.cosign(&witness, "souk/w/witness", 1_700_000_000));
        assert_eq!(Checkpoint::open(&note, &log.public()), Ok(cp.clone()));
        assert_eq!(
            cp.cosigned_by(&note, &witness.public(), "souk/w/witness"),
            Some(1_700_000_000)
        );
        assert_eq!(cp.cosigned_by(&note, &log.public(), "souk/w/witness"), None);
        let bigger = Checkpoint { size: 43, ..cp };
        assert_eq!(
            bigger.cosigned_by(&note, &witness.public(), "souk/w/witness"),
            None
        );
    }
}
