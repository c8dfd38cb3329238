//! API keys and roles: creating keys (the secret is shown once and stored only as its SHA-256
//! hash), listing, revoking, authenticating a bearer secret, and what each role may do.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use chrono::{Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use entity::enums::Role;
use entity::{api_key, api_key_source, source};

use crate::{Actor, Ctx, Error, Mpi, Result};

/// Prefix of every secret, so a leaked key is recognisable.
pub const SECRET_PREFIX: &str = "mpi_";

/// Something a caller may want to do, checked against its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Register a patient.
    Register,
    /// Read a patient.
    Read,
    /// Update a patient.
    Update,
    /// Soft-delete a patient.
    Delete,
    /// Search patients.
    Search,
    /// Match demographics.
    Match,
    /// Merge two patients.
    Merge,
    /// Undo a merge.
    Undo,
    /// Create or delete links.
    Link,
    /// Work the review queue.
    Review,
    /// Read and verify the audit trail.
    Audit,
    /// Manage API keys.
    ManageKeys,
    /// Manage identifier domains and sources.
    ManageDomains,
    /// Ask which identifiers a person has in other domains.
    Xref,
    /// Manage FHIR Subscriptions (IHE PMIR ITI-94), which push every selected Patient's
    /// record to the subscriber's endpoint.
    Subscribe,
}

impl Action {
    /// The action's name (for error messages).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Register => "register",
            Action::Read => "read",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Search => "search",
            Action::Match => "match",
            Action::Merge => "merge",
            Action::Undo => "undo",
            Action::Link => "link",
            Action::Review => "review",
            Action::Audit => "audit",
            Action::ManageKeys => "manage_keys",
            Action::ManageDomains => "manage_domains",
            Action::Xref => "xref",
            Action::Subscribe => "subscribe",
        }
    }
}

/// Whether `role` may do `action`: registrar registers, reads, updates, deletes, searches and
/// matches; steward also merges, undoes, links, reviews and subscribes to patient updates
/// (PMIR ITI-94, which pushes whole records to an endpoint); auditor reads the audit trail
/// only; admin does everything.
pub fn allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Admin => true,
        Role::Auditor => action == Audit,
        Role::Registrar => matches!(
            action,
            Register | Read | Update | Delete | Search | Match | Xref
        ),
        Role::Steward => matches!(
            action,
            Register
                | Read
                | Update
                | Delete
                | Search
                | Match
                | Merge
                | Undo
                | Link
                | Review
                | Xref
                | Subscribe
        ),
    }
}

impl Ctx {
    /// `Ok` when the actor's role allows `action`, else [`Error::Forbidden`].
    pub fn authorize(&self, action: Action) -> Result<()> {
        if allows(self.actor.role, action) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                role: self.actor.role.as_str().to_owned(),
                action: action.as_str(),
            })
        }
    }
}

/// The stored form of a secret: lowercase hex SHA-256.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes[..]);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// Creates a key named `name` with `role`. Returns the stored row and the secret, which is not
/// stored and cannot be shown again. A name already in use is `Conflict{code: "duplicate_key_name"}`.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    name: &str,
    role: Role,
) -> Result<(api_key::Model, String)> {
    create_with_source(db, name, role, None).await
}

/// [`create`] for a key that acts as the source named `source` (which must exist:
/// `Validation{field: "source"}` otherwise). Call it inside a transaction when a source is
/// given, so the key and its source are stored together.
pub async fn create_with_source<C: ConnectionTrait>(
    db: &C,
    name: &str,
    role: Role,
    source_name: Option<&str>,
) -> Result<(api_key::Model, String)> {
    let source_id = match source_name {
        None => None,
        Some(s) => Some(
            source::Entity::find()
                .filter(source::Column::Name.eq(s.trim()))
                .one(db)
                .await?
                .ok_or_else(|| Error::validation("source", "is not a registered source"))?
                .id,
        ),
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::validation("name", "is required"));
    }
    let secret = new_secret();
    let row = api_key::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name.to_owned()),
        role: Set(role),
        key_hash: Set(hash_secret(&secret)),
        revoked_at: Set(None),
        last_used_at: Set(None),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set("keys".to_owned()),
        updated_by: Set("keys".to_owned()),
    }
    .insert(db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::conflict("duplicate_key_name", "an API key with this name exists")
        }
        _ => Error::Db(e),
    })?;
    if let Some(source_id) = source_id {
        api_key_source::ActiveModel {
            id: Set(Uuid::new_v4()),
            api_key_id: Set(row.id),
            source_id: Set(source_id),
            created_at: NotSet,
            updated_at: NotSet,
            created_by: Set("keys".to_owned()),
            updated_by: Set("keys".to_owned()),
        }
        .insert(db)
        .await?;
    }
    Ok((row, secret))
}

/// Every key, revoked ones included, by name.
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .order_by_asc(api_key::Column::Name)
        .all(db)
        .await?)
}

/// Revokes the key with this name or id (text form). Revoking a revoked key changes nothing.
pub async fn revoke<C: ConnectionTrait>(db: &C, name_or_id: &str) -> Result<api_key::Model> {
    let by_name = api_key::Entity::find()
        .filter(api_key::Column::Name.eq(name_or_id))
        .one(db)
        .await?;
    let key = match by_name {
        Some(k) => Some(k),
        None => match Uuid::parse_str(name_or_id) {
            Ok(id) => api_key::Entity::find_by_id(id).one(db).await?,
            Err(_) => None,
        },
    };
    let key = key.ok_or_else(|| Error::not_found("api_key", name_or_id))?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let now = Utc::now().fixed_offset();
    let mut am: api_key::ActiveModel = key.into();
    am.revoked_at = Set(Some(now));
    am.updated_at = Set(now);
    am.updated_by = Set("keys".to_owned());
    Ok(am.update(db).await?)
}

/// The actor behind a bearer secret. Unknown or revoked keys are [`Error::Unauthenticated`].
/// Records `last_used_at`, at most once a minute per key.
pub async fn authenticate<C: ConnectionTrait>(db: &C, secret: &str) -> Result<Actor> {
    let (actor, stale) = find_key(db, &hash_of(secret)?).await?;
    if let Some(id) = stale {
        touch(db, id).await?;
    }
    Ok(actor)
}

/// [`authenticate`] for a request to the server: the key is read straight from the pool, and
/// only the once-a-minute `last_used_at` update is a write transaction (behind the SQLite write
/// gate, see [`Mpi::write_txn`]), so requests do not queue behind writers to be let in. The key
/// then goes into the server's [`KeyCache`] for [`authenticate_read`].
pub async fn authenticate_request(mpi: &Mpi, secret: &str) -> Result<Actor> {
    check_and_cache(mpi, hash_of(secret)?).await
}

/// [`authenticate_request`] for a secret already hashed.
async fn check_and_cache(mpi: &Mpi, hash: String) -> Result<Actor> {
    let found = find_key(mpi.db(), &hash).await;
    let (actor, stale) = match found {
        Ok(found) => found,
        Err(e) => {
            mpi.key_cache().forget(&hash);
            return Err(e);
        }
    };
    if let Some(id) = stale {
        let txn = mpi.write_txn().await?;
        touch(&*txn, id).await?;
        txn.commit().await?;
    }
    mpi.key_cache().put(hash, actor.clone());
    Ok(actor)
}

/// Authenticates a request whose use case always appends a read's audit row (a lookup, a
/// search, a match). A key the server checked against the database less than
/// [`KEY_CACHE_TTL`] ago comes from the [`KeyCache`] without a query, together with its hash:
/// put that hash in [`Ctx::unconfirmed_key`], and appending the read's audit row confirms that
/// the key is still live before the answer leaves (a revoked key is refused then, not up to a
/// minute later). Any other key is checked as [`authenticate_request`] checks it, and the hash
/// is `None`.
pub async fn authenticate_read(mpi: &Mpi, secret: &str) -> Result<(Actor, Option<String>)> {
    let hash = hash_of(secret)?;
    if let Some(actor) = mpi.key_cache().get(&hash) {
        return Ok((actor, Some(hash)));
    }
    Ok((check_and_cache(mpi, hash).await?, None))
}

/// The stored hash of a well-formed secret; anything else is an unknown key.
fn hash_of(secret: &str) -> Result<String> {
    if !secret.starts_with(SECRET_PREFIX) {
        return Err(Error::Unauthenticated("unknown key"));
    }
    Ok(hash_secret(secret))
}

/// The actor behind the key with this hash, and the key's id when its `last_used_at` is a
/// minute old or more.
async fn find_key<C: ConnectionTrait>(db: &C, hash: &str) -> Result<(Actor, Option<Uuid>)> {
    let key = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash))
        .one(db)
        .await?
        .ok_or(Error::Unauthenticated("unknown key"))?;
    if key.revoked_at.is_some() {
        return Err(Error::Unauthenticated("revoked key"));
    }
    let now = Utc::now().fixed_offset();
    let stale = key
        .last_used_at
        .is_none_or(|t| now.signed_duration_since(t) >= Duration::minutes(1));
    // A key acting as a source (few are): its source's name, read once per cache period.
    let source = match api_key_source::Entity::find()
        .filter(api_key_source::Column::ApiKeyId.eq(key.id))
        .one(db)
        .await?
    {
        Some(link) => source::Entity::find_by_id(link.source_id)
            .one(db)
            .await?
            .map(|s| s.name),
        None => None,
    };
    Ok((
        Actor {
            name: key.name,
            role: key.role,
            source,
        },
        stale.then_some(key.id),
    ))
}

/// Of these key hashes, the ones of keys that exist and are not revoked, read through `db`
/// (inside the transaction that appends the audit rows that depend on them).
pub(crate) async fn live_keys<C: ConnectionTrait>(
    db: &C,
    hashes: &[String],
) -> Result<HashSet<String>> {
    if hashes.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(api_key::Entity::find()
        .select_only()
        .column(api_key::Column::KeyHash)
        .filter(api_key::Column::KeyHash.is_in(hashes.iter().cloned()))
        .filter(api_key::Column::RevokedAt.is_null())
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// How long the server trusts a key it checked against the database before it reads it again
/// (which also keeps `last_used_at` within two minutes of the truth). Revocation does not wait
/// for this: a cached key is confirmed with each audited read (see [`authenticate_read`]).
pub const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Most keys the cache holds; when it is full it starts again empty (a hospital has tens or
/// hundreds of keys, so this only bounds what unknown secrets cannot fill anyway: only keys
/// found live are put in).
const KEY_CACHE_CAPACITY: usize = 4_096;

/// The keys this server checked against the database recently, by hash, with their actor (a
/// key's name and role never change; only its revocation does).
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<String, (Actor, Instant)>>,
}

impl KeyCache {
    /// The actor of a key checked less than [`KEY_CACHE_TTL`] ago.
    fn get(&self, hash: &str) -> Option<Actor> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.get(hash)
            .filter(|(_, checked)| checked.elapsed() < KEY_CACHE_TTL)
            .map(|(actor, _)| actor.clone())
    }

    /// Records that the key with this hash was found live just now.
    fn put(&self, hash: String, actor: Actor) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= KEY_CACHE_CAPACITY && !keys.contains_key(&hash) {
            keys.clear();
        }
        keys.insert(hash, (actor, Instant::now()));
    }

    /// Drops a key that was found unknown or revoked.
    pub(crate) fn forget(&self, hash: &str) {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(hash);
    }
}

async fn touch<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<()> {
    api_key::Entity::update_many()
        .col_expr(
            api_key::Column::LastUsedAt,
            sea_orm::sea_query::Expr::value(Utc::now().fixed_offset()),
        )
        .filter(api_key::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
