//! Sources: the systems that send patients (an HL7 v2 sending application MSH-3 with its
//! facility MSH-4, or an API key acting for one), with their role and an optional shared secret
//! (stored as SHA-256, like API keys). A domain's assigners are sources.

use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, SqlErr, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{domain_assigner, source};

use crate::audit::{self, AuditEntry};
use crate::keys::hash_secret;
use crate::{Ctx, Error, Result};

/// Longest source name or facility accepted (HL7 HD.1 is at most 20 in v2.5, but real feeds
/// send longer ones).
pub const MAX_SOURCE_LEN: usize = 64;
/// Shortest shared secret accepted.
pub const MIN_SECRET_LEN: usize = 12;
/// Longest shared secret accepted.
pub const MAX_SECRET_LEN: usize = 256;

/// What a source may do: register and update (`registrar`), or also merge (`steward`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceRole {
    /// Registers and updates its own records.
    Registrar,
    /// Also merges and links.
    Steward,
}

impl SourceRole {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceRole::Registrar => "registrar",
            SourceRole::Steward => "steward",
        }
    }
}

impl std::str::FromStr for SourceRole {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "registrar" => Ok(SourceRole::Registrar),
            "steward" => Ok(SourceRole::Steward),
            other => Err(format!(
                "unknown source role {other:?}: use registrar or steward"
            )),
        }
    }
}

/// A source as given to add it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceInput {
    /// Name (HL7 MSH-3 sending application); unique.
    pub name: String,
    /// Facility (HL7 MSH-4).
    pub facility: Option<String>,
    /// Role.
    pub role: SourceRole,
    /// Shared secret (HL7 MSH-8), stored hashed.
    pub secret: Option<String>,
}

/// A stored source (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Row id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Facility.
    pub facility: Option<String>,
    /// Role (`registrar` or `steward`).
    pub role: String,
    /// Whether a shared secret is set.
    pub has_secret: bool,
}

impl From<source::Model> for Source {
    fn from(m: source::Model) -> Source {
        Source {
            id: m.id,
            name: m.name,
            facility: m.facility,
            role: m.role,
            has_secret: m.secret_hash.is_some(),
        }
    }
}

fn check_text(field: &str, text: &str) -> Result<()> {
    check_hl7_token(field, text, MAX_SOURCE_LEN)
}

/// A name that travels in HL7 v2 fields (a source, a facility, a consumer): required, at most
/// `max` characters, no spaces, control characters or HL7 delimiters.
pub(crate) fn check_hl7_token(field: &str, text: &str, max: usize) -> Result<()> {
    if text.is_empty() {
        return Err(Error::validation(field, "is required"));
    }
    if text.chars().count() > max {
        return Err(Error::validation(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "|^~\\&".contains(c))
    {
        return Err(Error::validation(
            field,
            "may not hold spaces or the HL7 delimiters | ^ ~ \\ &",
        ));
    }
    Ok(())
}

/// Adds a source; audited as `create` of `source` (without the secret).
pub async fn add(db: &DatabaseConnection, ctx: &Ctx, input: SourceInput) -> Result<Source> {
    let name = input.name.trim().to_owned();
    check_text("name", &name)?;
    let facility = input
        .facility
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned);
    if let Some(f) = &facility {
        check_text("facility", f)?;
    }
    if let Some(secret) = &input.secret
        && !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len())
    {
        return Err(Error::validation(
            "secret",
            format!("must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes long"),
        ));
    }
    let txn = db.begin().await?;
    let actor = ctx.actor.name.as_str();
    let row = source::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name),
        facility: Set(facility),
        role: Set(input.role.as_str().to_owned()),
        secret_hash: Set(input.secret.as_deref().map(hash_secret)),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::conflict("duplicate_source", "a source with this name exists")
        }
        _ => Error::Db(e),
    })?;
    let added = Source::from(row);
    audit::record(
        &txn,
        ctx,
        AuditEntry::new("create", "source", Some(added.id.to_string())).after(audit::json(&added)),
    )
    .await?;
    txn.commit().await?;
    Ok(added)
}

/// Every source, by name.
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<Source>> {
    Ok(source::Entity::find()
        .order_by_asc(source::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(Source::from)
        .collect())
}

/// The source named `name`, if any.
pub async fn find<C: ConnectionTrait>(db: &C, name: &str) -> Result<Option<Source>> {
    Ok(source::Entity::find()
        .filter(source::Column::Name.eq(name.trim()))
        .one(db)
        .await?
        .map(Source::from))
}

/// The stored row of the source named `name` (its secret hash included: for the checks of
/// `tokens`, never to be shown).
pub(crate) async fn find_row<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Option<source::Model>> {
    Ok(source::Entity::find()
        .filter(source::Column::Name.eq(name.trim()))
        .one(db)
        .await?)
}

/// Every source's stored row (for `tokens`' stamps).
pub(crate) async fn rows<C: ConnectionTrait>(db: &C) -> Result<Vec<source::Model>> {
    Ok(source::Entity::find().all(db).await?)
}

/// Whether `secret` is the shared secret of the source named `name` (MLLP's MSH-8, OAuth's
/// `client_secret`). The hashes are compared in constant time.
pub async fn check_secret<C: ConnectionTrait>(db: &C, name: &str, secret: &str) -> Result<bool> {
    let row = source::Entity::find()
        .filter(source::Column::Name.eq(name.trim()))
        .one(db)
        .await?;
    Ok(row.and_then(|r| r.secret_hash).is_some_and(|stored| {
        use subtle::ConstantTimeEq;
        bool::from(stored.as_bytes().ct_eq(hash_secret(secret).as_bytes()))
    }))
}

/// Removes a source that assigns in no domain (`source_in_use` otherwise); audited.
pub async fn remove(db: &DatabaseConnection, ctx: &Ctx, name: &str) -> Result<Source> {
    let txn = db.begin().await?;
    let found = source::Entity::find()
        .filter(source::Column::Name.eq(name.trim()))
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("source", "(by name)"))?;
    let assigns = domain_assigner::Entity::find()
        .filter(domain_assigner::Column::SourceId.eq(found.id))
        .one(&txn)
        .await?;
    if assigns.is_some() {
        return Err(Error::conflict(
            "source_in_use",
            "the source is an assigner of a domain; remove it from the domain first",
        ));
    }
    source::Entity::delete_by_id(found.id).exec(&txn).await?;
    let removed = Source::from(found);
    audit::record(
        &txn,
        ctx,
        AuditEntry::new("delete", "source", Some(removed.id.to_string()))
            .before(audit::json(&removed)),
    )
    .await?;
    txn.commit().await?;
    Ok(removed)
}
