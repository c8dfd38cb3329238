//! OAuth 2.0 client-credentials access tokens for sources (RFC 6749 §4.4): a source proves who
//! it is (its name as `client_id`, its shared secret when it has one) and gets a short-lived
//! bearer token that acts as the source, with the source's role and its authority over
//! identifier domains, exactly like an API key created with `--source`.
//!
//! Tokens live in memory only ([`TokenStore`]): random 256-bit secrets, kept by their SHA-256
//! hash, bounded in number, forgotten when they expire or the server stops. A client revokes
//! its own tokens (RFC 7009, [`revoke`]); a token is also forgotten once its source is removed
//! or its role or secret changes ([`forget_changed_sources`], which `mpi serve` runs at every
//! catch-up): each token keeps the [`SourceStamp`] of the source it was issued to.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::context::{Actor, Ctx, RequestMeta, Role};
use crate::sources::{self, Source, SourceRole};
use crate::{Error, Mpi, Result};

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

/// The source a token was issued to, as it was then: its row and a digest of its role and
/// secret hash. A source removed (even if added again under its name) or whose role or secret
/// changed has another stamp, and its earlier tokens are forgotten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceStamp {
    /// The source's row id.
    pub id: Uuid,
    digest: [u8; 32],
}

impl SourceStamp {
    fn of(row: &entity::source::Model) -> SourceStamp {
        let mut hash = Sha256::new();
        hash.update(row.role.as_bytes());
        hash.update([0]);
        hash.update(row.secret_hash.as_deref().unwrap_or_default().as_bytes());
        SourceStamp {
            id: row.id,
            digest: hash.finalize().into(),
        }
    }
}

/// What [`TokenStore::revoke_own`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The token was the client's, and is revoked.
    Revoked,
    /// No such live token (unknown, expired, already revoked, or not a token at all).
    Unknown,
    /// The token is live but was issued to another client; it is left alone.
    NotOwn,
}

impl Revocation {
    /// As the audit row names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Revocation::Revoked => "revoked",
            Revocation::Unknown => "unknown_token",
            Revocation::NotOwn => "refused_not_own_token",
        }
    }
}

#[derive(Debug)]
struct Entry {
    actor: Actor,
    stamp: SourceStamp,
    issued: Instant,
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

    /// Issues a token acting as `actor`, for the source `stamp` names.
    pub fn issue(&self, actor: Actor, stamp: SourceStamp) -> std::result::Result<Issued, Issue> {
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
                stamp,
                issued: now,
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

    /// Whose a live token is: `None` for an unknown or expired one.
    pub fn owner(&self, token: &str) -> Option<Uuid> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .tokens
            .get(&digest(token))
            .filter(|entry| entry.expires > Instant::now())
            .map(|entry| entry.stamp.id)
    }

    /// Revokes `token` if it is a live token of the source `source_id`; another source's token
    /// is left alone ([`Revocation::NotOwn`]).
    pub fn revoke_own(&self, source_id: Uuid, token: &str) -> Revocation {
        let key = digest(token);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.tokens.get(&key) {
            Some(entry) if entry.expires <= Instant::now() => {
                inner.tokens.remove(&key);
                Revocation::Unknown
            }
            Some(entry) if entry.stamp.id != source_id => Revocation::NotOwn,
            Some(_) => {
                inner.tokens.remove(&key);
                Revocation::Revoked
            }
            None => Revocation::Unknown,
        }
    }

    /// Forgets every token issued before `read_at` whose source stamp is not in `live` (the
    /// sources as read at `read_at`: a token issued since may be of a source added since);
    /// returns how many were forgotten per source id.
    pub fn retain_sources(
        &self,
        live: &HashSet<SourceStamp>,
        read_at: Instant,
    ) -> HashMap<Uuid, usize> {
        let mut forgotten: HashMap<Uuid, usize> = HashMap::new();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.tokens.retain(|_, entry| {
            let keep = entry.issued >= read_at || live.contains(&entry.stamp);
            if !keep {
                *forgotten.entry(entry.stamp.id).or_default() += 1;
            }
            keep
        });
        forgotten
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

/// The source a client authenticates as, and its stamp: `client_id` must name a registered
/// source, and when the source has a shared secret `client_secret` must be it (compared in
/// constant time, as MLLP's MSH-8 is). A source without a secret is identified by its name
/// alone, as on MLLP. Anything else is [`Error::Unauthenticated`].
pub async fn authenticate_client<C: sea_orm::ConnectionTrait>(
    db: &C,
    client_id: &str,
    client_secret: Option<&str>,
) -> Result<(Source, SourceStamp)> {
    let row = sources::find_row(db, client_id)
        .await?
        .ok_or(Error::Unauthenticated("unknown client"))?;
    if let Some(stored) = &row.secret_hash {
        use subtle::ConstantTimeEq;
        let given = crate::keys::hash_secret(client_secret.unwrap_or_default());
        if !bool::from(stored.as_bytes().ct_eq(given.as_bytes())) {
            return Err(Error::Unauthenticated("wrong client secret"));
        }
    }
    let stamp = SourceStamp::of(&row);
    Ok((Source::from(row), stamp))
}

/// Audits a refused client authentication (`token.refuse`) under the name the client gave (a
/// system's name, cut short; never the secret), with the OAuth endpoint's name.
pub async fn audit_refused(mpi: &Mpi, meta: RequestMeta, client_id: &str, endpoint: &str) {
    let name: String = client_id
        .trim()
        .chars()
        .take(sources::MAX_SOURCE_LEN)
        .collect();
    let mut ctx = Ctx::system(&name);
    ctx.actor.role = Role::Registrar;
    ctx.meta = meta;
    let entry = AuditEntry::new("token.refuse", "source", None).after(serde_json::json!({
        "client_id": name,
        "error": "invalid_client",
        "endpoint": endpoint,
    }));
    if let Err(error) = mpi.audit_read(&ctx, entry).await {
        tracing::warn!(%error, "refused OAuth client not audited");
    }
}

/// Longest `token_type_hint` kept in the audit row.
const MAX_HINT_LEN: usize = 32;

/// Token revocation (RFC 7009): the client authenticates as at the token endpoint
/// ([`authenticate_client`]; a refusal is audited as `token.refuse` and answered
/// [`Error::Unauthenticated`]); then `token`, when it is a live token of this client, is
/// revoked. An unknown token is no error (§2.2); another client's token is left alone and
/// answered [`Revocation::NotOwn`]. Every outcome is audited as `token.revoke` (the source, the
/// outcome and the hint; never the token) before the token is forgotten, so a revocation that
/// could not be audited did not happen.
pub async fn revoke(
    mpi: &Mpi,
    store: &TokenStore,
    meta: RequestMeta,
    client_id: &str,
    client_secret: Option<&str>,
    token: &str,
    token_type_hint: Option<&str>,
) -> Result<Revocation> {
    let (source, stamp) = match authenticate_client(mpi.db(), client_id, client_secret).await {
        Ok(found) => found,
        Err(Error::Unauthenticated(reason)) => {
            audit_refused(mpi, meta, client_id, "revoke").await;
            return Err(Error::Unauthenticated(reason));
        }
        Err(error) => return Err(error),
    };
    let expected = match store.owner(token) {
        None => Revocation::Unknown,
        Some(owner) if owner == stamp.id => Revocation::Revoked,
        Some(_) => Revocation::NotOwn,
    };
    let ctx = Ctx {
        actor: source_actor(&source),
        meta,
        unconfirmed_key: None,
    };
    let hint: Option<String> = token_type_hint.map(|h| h.chars().take(MAX_HINT_LEN).collect());
    let entry = AuditEntry::new("token.revoke", "source", Some(source.id.to_string())).after(
        serde_json::json!({
            "client_id": source.name,
            "outcome": expected.as_str(),
            "token_type_hint": hint,
        }),
    );
    mpi.audit_read(&ctx, entry).await?;
    let done = match expected {
        Revocation::Revoked => store.revoke_own(stamp.id, token),
        other => other,
    };
    // Expired between the two looks: it is gone either way.
    Ok(
        if done == Revocation::Unknown && expected == Revocation::Revoked {
            Revocation::Revoked
        } else {
            done
        },
    )
}

/// Forgets the tokens of sources removed, or whose role or secret changed, since they were
/// issued (`mpi sources remove` and `add` run by another process change only the database,
/// so `mpi serve` calls this at every catch-up); each source whose tokens were forgotten gets
/// a `token.revoke` audit row (the count; never a token). Returns how many were forgotten.
pub async fn forget_changed_sources(mpi: &Mpi, store: &TokenStore) -> Result<usize> {
    if store.is_empty() {
        return Ok(0);
    }
    let read_at = Instant::now();
    let live: HashSet<SourceStamp> = sources::rows(mpi.db())
        .await?
        .iter()
        .map(SourceStamp::of)
        .collect();
    let forgotten = store.retain_sources(&live, read_at);
    let ctx = Ctx::system("oauth token store");
    for (source_id, tokens) in &forgotten {
        let entry = AuditEntry::new("token.revoke", "source", Some(source_id.to_string())).after(
            serde_json::json!({
                "outcome": "source_removed_or_changed",
                "tokens": tokens,
            }),
        );
        if let Err(error) = mpi.audit_read(&ctx, entry).await {
            tracing::warn!(%error, %source_id, "forgotten tokens not audited");
        }
    }
    Ok(forgotten.values().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> SourceStamp {
        SourceStamp {
            id: Uuid::nil(),
            digest: [0; 32],
        }
    }

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
        let issued = store.issue(actor(), stamp()).unwrap();
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
        let first = store.issue(actor(), stamp()).unwrap();
        store.issue(actor(), stamp()).unwrap();
        assert_eq!(store.issue(actor(), stamp()).unwrap_err(), Issue::Full);
        assert!(store.actor(&first.access_token).is_some());
        std::thread::sleep(Duration::from_millis(80));
        // Both expired: swept to make room.
        let third = store.issue(actor(), stamp()).unwrap();
        assert_eq!(store.len(), 1);
        store.revoke(&third.access_token);
        assert!(store.actor(&third.access_token).is_none());
    }
}

#[cfg(test)]
mod revocation_tests {
    use super::*;

    fn stamp(n: u8) -> SourceStamp {
        SourceStamp {
            id: Uuid::from_bytes([n; 16]),
            digest: [n; 32],
        }
    }

    fn actor(name: &str) -> Actor {
        Actor {
            name: name.into(),
            role: Role::Registrar,
            source: Some(name.into()),
        }
    }

    #[test]
    fn a_client_revokes_only_its_own_tokens() {
        let store = TokenStore::new(Duration::from_secs(60), 10);
        let mine = store.issue(actor("A"), stamp(1)).unwrap();
        let theirs = store.issue(actor("B"), stamp(2)).unwrap();
        assert_eq!(
            store.revoke_own(stamp(1).id, &theirs.access_token),
            Revocation::NotOwn
        );
        assert!(store.actor(&theirs.access_token).is_some());
        assert_eq!(
            store.revoke_own(stamp(1).id, &mine.access_token),
            Revocation::Revoked
        );
        assert!(store.actor(&mine.access_token).is_none());
        assert_eq!(
            store.revoke_own(stamp(1).id, &mine.access_token),
            Revocation::Unknown
        );
    }

    #[test]
    fn tokens_of_a_changed_source_are_forgotten() {
        let store = TokenStore::new(Duration::from_secs(60), 10);
        let kept = store.issue(actor("A"), stamp(1)).unwrap();
        let gone = store.issue(actor("B"), stamp(2)).unwrap();
        store.issue(actor("B"), stamp(2)).unwrap();
        let changed = SourceStamp {
            digest: [9; 32],
            ..stamp(2)
        };
        let read_at = Instant::now();
        // Issued after the sources were read: kept until the next look.
        let young = store.issue(actor("C"), stamp(3)).unwrap();
        let forgotten = store.retain_sources(&HashSet::from([stamp(1), changed]), read_at);
        assert_eq!(forgotten, HashMap::from([(stamp(2).id, 2)]));
        assert!(store.actor(&kept.access_token).is_some());
        assert!(store.actor(&gone.access_token).is_none());
        assert!(store.actor(&young.access_token).is_some());
        let forgotten = store.retain_sources(&HashSet::from([stamp(1)]), Instant::now());
        assert_eq!(forgotten, HashMap::from([(stamp(3).id, 1)]));
    }
}
