//! OAuth 2.0 client-credentials access tokens for sources (RFC 6749 §4.4): a source proves who
//! it is (its name as `client_id`, its shared secret when it has one) and gets a short-lived
//! bearer token that acts as the source, with the source's role and its authority over
//! identifier domains, exactly like an API key created with `--source`.
//!
//! Tokens live in memory only ([`TokenStore`]): random 256-bit secrets, kept by their SHA-256
//! hash, bounded in number, forgotten when they expire or the server stops.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::context::{Actor, Role};
use crate::sources::{self, Source, SourceRole};
use crate::{Error, Result};

/// Prefix of every access token (API keys start with [`crate::keys::SECRET_PREFIX`]), so a
/// bearer secret says which kind it is and a leaked token is recognisable.
pub const TOKEN_PREFIX: &str = "mpt_";

/// Default lifetime of a token.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Most tokens outstanding at once (expired ones are swept first); past it issuing waits for
/// tokens to expire ([`Issue::Full`]).
pub const DEFAULT_CAPACITY: usize = 10_000;

/// How often issuing sweeps expired tokens when the store is not full.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A token as issued: the secret (shown once, to the client) and its lifetime.
#[derive(Debug)]
pub struct Issued {
    /// The bearer secret.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Why no token was issued.
#[derive(Debug, PartialEq, Eq)]
pub enum Issue {
    /// As many tokens are outstanding as the store holds.
    Full,
}

#[derive(Debug)]
struct Entry {
    actor: Actor,
    expires: Instant,
}

#[derive(Debug)]
struct Inner {
    tokens: HashMap<[u8; 32], Entry>,
    last_sweep: Instant,
}

/// The live tokens of this server, by the SHA-256 of their secret.
#[derive(Debug)]
pub struct TokenStore {
    inner: Mutex<Inner>,
    ttl: Duration,
    capacity: usize,
}

impl TokenStore {
    /// A store whose tokens live `ttl` and of which at most `capacity` are outstanding.
    pub fn new(ttl: Duration, capacity: usize) -> TokenStore {
        TokenStore {
            inner: Mutex::new(Inner {
                tokens: HashMap::new(),
                last_sweep: Instant::now(),
            }),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// The lifetime of the tokens this store issues.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token acting as `actor`.
    pub fn issue(&self, actor: Actor) -> std::result::Result<Issued, Issue> {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes[..]);
        let access_token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.tokens.len() >= self.capacity
            || now.duration_since(inner.last_sweep) >= SWEEP_EVERY
        {
            inner.tokens.retain(|_, entry| entry.expires > now);
            inner.last_sweep = now;
        }
        if inner.tokens.len() >= self.capacity {
            return Err(Issue::Full);
        }
        inner.tokens.insert(
            digest(&access_token),
            Entry {
                actor,
                expires: now + self.ttl,
            },
        );
        Ok(Issued {
            access_token,
            expires_in: self.ttl.as_secs().max(1),
        })
    }

    /// The actor of a live token; an unknown or expired one is `None` (and an expired one is
    /// forgotten).
    pub fn actor(&self, token: &str) -> Option<Actor> {
        let key = digest(token);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = inner.tokens.get(&key)?;
        if entry.expires > Instant::now() {
            return Some(entry.actor.clone());
        }
        inner.tokens.remove(&key);
        None
    }

    /// Forgets a token (one whose issuance could not be audited).
    pub fn revoke(&self, token: &str) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tokens
            .remove(&digest(token));
    }

    /// How many tokens are held (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tokens
            .len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The actor a source acts as: its name, its role, and itself as the source whose authority
/// over identifier domains its writes are held to (as on MLLP and for a key with `--source`).
pub fn source_actor(source: &Source) -> Actor {
    let role = match source.role.parse::<SourceRole>() {
        Ok(SourceRole::Steward) => Role::Steward,
        _ => Role::Registrar,
    };
    Actor {
        name: source.name.clone(),
        role,
        source: Some(source.name.clone()),
    }
}

/// The source a client authenticates as: `client_id` must name a registered source, and when
/// the source has a shared secret `client_secret` must be it (compared in constant time, as
/// MLLP's MSH-8 is). A source without a secret is identified by its name alone, as on MLLP.
/// Anything else is [`Error::Unauthenticated`].
pub async fn authenticate_client<C: sea_orm::ConnectionTrait>(
    db: &C,
    client_id: &str,
    client_secret: Option<&str>,
) -> Result<Source> {
    let source = sources::find(db, client_id)
        .await?
        .ok_or(Error::Unauthenticated("unknown client"))?;
    if source.has_secret {
        let given = client_secret.unwrap_or_default();
        if !sources::check_secret(db, &source.name, given).await? {
            return Err(Error::Unauthenticated("wrong client secret"));
        }
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor {
            name: "LAB".into(),
            role: Role::Registrar,
            source: Some("LAB".into()),
        }
    }

    #[test]
    fn a_token_acts_until_it_expires() {
        let store = TokenStore::new(Duration::from_millis(50), 10);
        let issued = store.issue(actor()).unwrap();
        assert!(issued.access_token.starts_with(TOKEN_PREFIX));
        assert_eq!(issued.access_token.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(store.actor(&issued.access_token), Some(actor()));
        assert_eq!(store.actor("mpt_00"), None);
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(store.actor(&issued.access_token), None);
        assert!(store.is_empty());
    }

    #[test]
    fn the_store_is_bounded_and_sweeps_expired_tokens() {
        let store = TokenStore::new(Duration::from_millis(50), 2);
        let first = store.issue(actor()).unwrap();
        store.issue(actor()).unwrap();
        assert_eq!(store.issue(actor()).unwrap_err(), Issue::Full);
        assert!(store.actor(&first.access_token).is_some());
        std::thread::sleep(Duration::from_millis(80));
        // Both expired: swept to make room.
        let third = store.issue(actor()).unwrap();
        assert_eq!(store.len(), 1);
        store.revoke(&third.access_token);
        assert!(store.actor(&third.access_token).is_none());
    }
}
