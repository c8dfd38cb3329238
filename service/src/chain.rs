//! What makes the audit chain evident against someone who can write the database: the keys
//! that sign its rows (HMAC-SHA-256, never stored in the database) and the checkpoints of its
//! head (kept outside the database by `api`).
//!
//! A row appended while this process has a signing key carries the hash
//! `hmac:KEYID:HEX`, where `HEX` is `HMAC-SHA-256(key, prev_hash || canonical(row))` in lowercase
//! hex and `KEYID` the first 8 hex digits of `sha256(key)`: the key's name, which says which key
//! verifies the row (so keys can be rotated: rows keep naming the key that signed them) and
//! tells nothing about the key. Without a key a row's hash is the plain
//! `sha256(prev_hash || canonical(row))` as before, which detects an edited row but not a row
//! rewritten together with every hash after it (that needs no secret).
//!
//! The keys are given to this process once, at its start ([`use_keyring`]): every use case of
//! every command appends through [`crate::audit`], which signs with the process's signing key.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Fewest bytes a chain key may have (256 bits, the HMAC-SHA-256 block's security level).
pub const MIN_KEY_BYTES: usize = 32;

/// The prefix of a keyed row's hash.
pub const KEYED_PREFIX: &str = "hmac:";

/// One secret key of the chain. Its `Debug` shows only its id.
#[derive(Clone)]
pub struct ChainKey {
    id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainKey").field("id", &self.id).finish()
    }
}

impl ChainKey {
    /// A key from its secret bytes; refused when shorter than [`MIN_KEY_BYTES`].
    pub fn new(secret: &[u8]) -> std::result::Result<ChainKey, String> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(format!(
                "an audit chain key must have at least {MIN_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`), this one has {}",
                secret.len()
            ));
        }
        let id = hex::encode(Sha256::digest(secret))[..8].to_owned();
        Ok(ChainKey {
            id,
            secret: secret.to_vec(),
        })
    }

    /// The key's id: the first 8 hex digits of `sha256(key)`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `hmac:ID:HEX` of `prev_hash || canonical`.
    pub(crate) fn sign(&self, prev_hash: &str, canonical: &str) -> String {
        // HMAC accepts a key of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        mac.update(prev_hash.as_bytes());
        mac.update(canonical.as_bytes());
        format!(
            "{KEYED_PREFIX}{}:{}",
            self.id,
            hex::encode(mac.finalize().into_bytes())
        )
    }
}

/// The keys a process signs and verifies the chain with: the first signs new rows, all of them
/// verify (older keys stay here after a rotation). Empty: rows are hashed without a key.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<ChainKey>,
}

impl Keyring {
    /// A keyring whose first key signs; the same key given twice counts once.
    pub fn new(keys: Vec<ChainKey>) -> Keyring {
        let mut unique: Vec<ChainKey> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.iter().any(|k| k.id == key.id) {
                unique.push(key);
            }
        }
        Keyring { keys: unique }
    }

    /// The key new rows are signed with.
    pub fn signing(&self) -> Option<&ChainKey> {
        self.keys.first()
    }

    /// The key with id `id`.
    pub fn by_id(&self, id: &str) -> Option<&ChainKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The ids of the keys, signing key first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }
}

static KEYRING: RwLock<Option<Arc<Keyring>>> = RwLock::new(None);

/// Makes `keyring` the one this process signs new audit rows with (its first key) and that the
/// server's verification uses. Called once at start, before anything is appended.
pub fn use_keyring(keyring: Keyring) {
    let mut slot = KEYRING.write().unwrap_or_else(|p| p.into_inner());
    *slot = Some(Arc::new(keyring));
}

/// The process's keyring (empty unless [`use_keyring`] gave one).
pub fn keyring() -> Arc<Keyring> {
    KEYRING
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default()
}

/// The key id a stored hash names, when it is a keyed hash (`hmac:ID:HEX`).
pub fn key_id_of(hash: &str) -> Option<&str> {
    let rest = hash.strip_prefix(KEYED_PREFIX)?;
    rest.split_once(':').map(|(id, _)| id)
}

/// The chain's head at one moment, as written to the checkpoint file and the log: one JSON
/// line `{"seq":N,"hash":"...","at":"RFC 3339"}` (no patient data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last row's sequence number.
    pub seq: i64,
    /// The last row's hash.
    pub hash: String,
    /// When the head was read.
    pub at: DateTime<Utc>,
}

/// A checkpoint the database no longer agrees with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointFailure {
    /// The checkpoint's sequence number.
    pub seq: i64,
    /// `missing`: no row has this `seq` (the tail was cut off, or rows deleted);
    /// `hash_differs`: the row there carries another hash (the chain was rewritten and
    /// re-hashed).
    pub problem: &'static str,
}

/// What the checkpoints said about the chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointReport {
    /// Checkpoints compared with the chain.
    pub checked: u64,
    /// Lines of the checkpoint file that are no checkpoint (a torn or edited line); each makes
    /// the report fail.
    pub unreadable_lines: u64,
    /// How many checkpoints the chain contradicts.
    pub failed_count: u64,
    /// The first 100 of them, in `seq` order.
    pub failed: Vec<CheckpointFailure>,
}

/// Parses a checkpoint file's text: one [`Checkpoint`] per non-empty line; returns the
/// checkpoints and how many non-empty lines are not one.
pub fn parse_checkpoints(text: &str) -> (Vec<Checkpoint>, u64) {
    let mut checkpoints = Vec::new();
    let mut unreadable = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Checkpoint>(line) {
            Ok(c) => checkpoints.push(c),
            Err(_) => unreadable += 1,
        }
    }
    (checkpoints, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_key_is_refused_and_a_key_is_named_by_its_hash() {
        assert!(ChainKey::new(b"short").is_err());
        let key = ChainKey::new(&[7u8; 32]).expect("key");
        assert_eq!(key.id(), &hex::encode(Sha256::digest([7u8; 32]))[..8]);
        assert!(!format!("{key:?}").contains("7, 7"));
        let signed = key.sign("prev", "[]");
        assert_eq!(key_id_of(&signed), Some(key.id()));
        assert_ne!(
            signed,
            ChainKey::new(&[8u8; 32]).expect("key").sign("prev", "[]")
        );
        assert_eq!(key_id_of(&"0".repeat(64)), None);
    }

    #[test]
    fn checkpoint_lines_round_trip_and_torn_lines_are_counted() {
        let c = Checkpoint {
            seq: 5,
            hash: "h".into(),
            at: Utc::now(),
        };
        let text = format!(
            "{}\n\n{{\"seq\":6,\"ha\n",
            serde_json::to_string(&c).unwrap()
        );
        let (parsed, unreadable) = parse_checkpoints(&text);
        assert_eq!((parsed, unreadable), (vec![c], 1));
    }
}
