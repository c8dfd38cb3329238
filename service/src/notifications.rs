//! IHE PIX Update Notification (ITI-10), the service's side: the consumers that subscribe (add,
//! list, remove, audited; reached over plain MLLP or MLLP over TLS), and the durable outbox that the notification task of `mpi serve`
//! drains (`pending`, the person's identifiers in a consumer's domains, `delivered`).
//!
//! The outbox is written by database triggers (migration 17) in the transaction of every change
//! of a person's set of identifiers, whatever wrote it: that is the one hook, so no use case or
//! face has to remember it, and a committed change always has its notification queued. A
//! notification carries the person's identifiers as they are when it is sent, so a late or
//! repeated one never tells a consumer an older state than the last one sent.

use std::collections::HashSet;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{patient, patient_identifier, pix_consumer, pix_outbox};

use crate::audit::{self, AuditEntry};
use crate::domains::Domain;
use crate::xref::XrefIdentifier;
use crate::{Ctx, Error, Mpi, Result};

/// Longest consumer name accepted.
pub const MAX_NAME_LEN: usize = 64;
/// Longest host name accepted (a DNS name's limit).
pub const MAX_HOST_LEN: usize = 253;
/// Most domains one consumer may name.
pub const MAX_DOMAINS: usize = 50;
/// Most outbox rows one call of [`pending`] returns.
pub const MAX_PENDING: u64 = 1000;
/// Longest TLS file path accepted.
pub const MAX_PATH_LEN: usize = 1024;

/// How a consumer is reached over TLS: the files are PEM, read when connecting (paths are
/// stored, never the keys themselves).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerTls {
    /// CA certificates its server certificate must chain to; `None`: the Mozilla roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// The client certificate chain to present (with `key`); `None`: none presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// The client certificate's private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ConsumerTls {
    /// Bounds: each path within [`MAX_PATH_LEN`], without control characters, not blank;
    /// a certificate and a key together or neither.
    fn check(&self) -> Result<()> {
        for (field, path) in [
            ("tls_ca", &self.ca),
            ("tls_cert", &self.cert),
            ("tls_key", &self.key),
        ] {
            if let Some(path) = path {
                if path.trim().is_empty() {
                    return Err(Error::validation(field, "is empty"));
                }
                crate::limits::check_text(|| field.to_owned(), path, MAX_PATH_LEN)?;
                if path.chars().any(char::is_control) {
                    return Err(Error::validation(field, "holds control characters"));
                }
            }
        }
        if self.cert.is_some() != self.key.is_some() {
            return Err(Error::validation(
                "tls_key",
                "a client certificate and its key go together",
            ));
        }
        Ok(())
    }
}

/// A consumer as given to add it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerInput {
    /// Unique name (the receiving application of the notifications, MSH-5).
    pub name: String,
    /// Host of its MLLP listener.
    pub host: String,
    /// Port of its MLLP listener.
    pub port: u16,
    /// The domains it wants identifiers in (any name of a registered domain); empty: all.
    pub domains: Vec<String>,
    /// MLLP over TLS when given; plain MLLP otherwise.
    pub tls: Option<ConsumerTls>,
    /// Its receiving facility (MSH-6 of the notifications); `None`: its name.
    pub facility: Option<String>,
}

/// A stored consumer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    /// Row id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Host of its MLLP listener.
    pub host: String,
    /// Port of its MLLP listener.
    pub port: u16,
    /// The domains it wants (registered names); empty: every domain and the enterprise id.
    pub domains: Vec<String>,
    /// MLLP over TLS when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ConsumerTls>,
    /// Its receiving facility (MSH-6 of the notifications), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility: Option<String>,
}

impl From<pix_consumer::Model> for Consumer {
    fn from(m: pix_consumer::Model) -> Consumer {
        Consumer {
            id: m.id,
            name: m.name,
            host: m.host,
            port: u16::try_from(m.port).unwrap_or(0),
            domains: serde_json::from_str(&m.domains).unwrap_or_default(),
            tls: m.tls.then_some(ConsumerTls {
                ca: m.tls_ca,
                cert: m.tls_cert,
                key: m.tls_key,
            }),
            facility: m.facility,
        }
    }
}

fn check_text(field: &str, text: &str, max: usize) -> Result<()> {
    crate::sources::check_hl7_token(field, text, max)
}

/// Adds a consumer; audited as `create` of `pix_consumer`. Every domain must be registered
/// (stored by its name); from now on every change of a person's identifiers queues a
/// notification for it.
pub async fn add_consumer(
    db: &DatabaseConnection,
    ctx: &Ctx,
    input: ConsumerInput,
) -> Result<Consumer> {
    let name = input.name.trim().to_owned();
    check_text("name", &name, MAX_NAME_LEN)?;
    let host = input.host.trim().to_owned();
    check_text("host", &host, MAX_HOST_LEN)?;
    if input.port == 0 {
        return Err(Error::validation("port", "must be 1 to 65535"));
    }
    if let Some(tls) = &input.tls {
        tls.check()?;
    }
    let facility = input
        .facility
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned);
    if let Some(facility) = &facility {
        check_text("facility", facility, MAX_NAME_LEN)?;
    }
    if input.domains.len() > MAX_DOMAINS {
        return Err(Error::validation(
            "domains",
            format!("names more than {MAX_DOMAINS} domains"),
        ));
    }
    let registered = crate::domains::list_with_db(db).await?;
    let mut domains: Vec<String> = Vec::with_capacity(input.domains.len());
    for (n, wanted) in input.domains.iter().enumerate() {
        let found = registered
            .iter()
            .find(|d| d.aliases().iter().any(|a| a == wanted.trim()))
            .ok_or_else(|| {
                Error::validation(
                    format!("domains[{n}]"),
                    "is not a registered identifier domain",
                )
            })?;
        if !domains.contains(&found.name) {
            domains.push(found.name.clone());
        }
    }
    let txn = db.begin().await?;
    let actor = ctx.actor.name.as_str();
    let row = pix_consumer::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name),
        host: Set(host),
        port: Set(i32::from(input.port)),
        domains: Set(serde_json::to_string(&domains).unwrap_or_else(|_| "[]".to_owned())),
        tls: Set(input.tls.is_some()),
        tls_ca: Set(input.tls.as_ref().and_then(|t| t.ca.clone())),
        tls_cert: Set(input.tls.as_ref().and_then(|t| t.cert.clone())),
        tls_key: Set(input.tls.as_ref().and_then(|t| t.key.clone())),
        facility: Set(facility),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::conflict("duplicate_consumer", "a consumer with this name exists")
        }
        _ => Error::Db(e),
    })?;
    let added = Consumer::from(row);
    audit::record(
        &txn,
        ctx,
        AuditEntry::new("create", "pix_consumer", Some(added.id.to_string()))
            .after(audit::json(&added)),
    )
    .await?;
    txn.commit().await?;
    Ok(added)
}

/// Every consumer, by name.
pub async fn list_consumers<C: ConnectionTrait>(db: &C) -> Result<Vec<Consumer>> {
    Ok(pix_consumer::Entity::find()
        .order_by_asc(pix_consumer::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(Consumer::from)
        .collect())
}

/// Removes a consumer and its undelivered notifications; audited as `delete` of
/// `pix_consumer` (with how many notifications were dropped).
pub async fn remove_consumer(db: &DatabaseConnection, ctx: &Ctx, name: &str) -> Result<Consumer> {
    let txn = db.begin().await?;
    let found = pix_consumer::Entity::find()
        .filter(pix_consumer::Column::Name.eq(name.trim()))
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("consumer", "(by name)"))?;
    let dropped = pix_outbox::Entity::delete_many()
        .filter(pix_outbox::Column::ConsumerId.eq(found.id))
        .exec(&txn)
        .await?
        .rows_affected;
    pix_consumer::Entity::delete_by_id(found.id)
        .exec(&txn)
        .await?;
    let removed = Consumer::from(found);
    audit::record(
        &txn,
        ctx,
        AuditEntry::new("delete", "pix_consumer", Some(removed.id.to_string()))
            .before(audit::json(&removed))
            .after(serde_json::json!({ "undelivered_dropped": dropped })),
    )
    .await?;
    txn.commit().await?;
    Ok(removed)
}

/// One queued notification: a person whose identifiers changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Position in the outbox (the order of the changes).
    pub seq: i64,
    /// The person.
    pub person_id: Uuid,
}

/// The oldest `limit` (at most [`MAX_PENDING`]) notifications queued for `consumer_id`, in
/// the order of the changes.
pub async fn pending(mpi: &Mpi, consumer_id: Uuid, limit: u64) -> Result<Vec<Pending>> {
    let rows: Vec<(i64, Uuid)> = pix_outbox::Entity::find()
        .select_only()
        .column(pix_outbox::Column::Seq)
        .column(pix_outbox::Column::PersonId)
        .filter(pix_outbox::Column::ConsumerId.eq(consumer_id))
        .order_by_asc(pix_outbox::Column::Seq)
        .limit(limit.clamp(1, MAX_PENDING))
        .into_tuple()
        .all(mpi.db())
        .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, person_id)| Pending { seq, person_id })
        .collect())
}

/// How many notifications are queued, for every consumer together.
pub async fn queue_depth(mpi: &Mpi) -> Result<u64> {
    Ok(pix_outbox::Entity::find().count(mpi.db()).await?)
}

/// A person's live records and their identifiers in some domains, as a notification tells them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonIdentifiers {
    /// The enterprise id.
    pub person_id: Uuid,
    /// The person's live records (active, not deleted).
    pub patient_ids: Vec<Uuid>,
    /// Their identifiers in the wanted domains (the enterprise id first when wanted). Empty
    /// when the person has no live record any more (merged away, deleted).
    pub identifiers: Vec<XrefIdentifier>,
}

/// The person's identifiers in `domains` (registered names; empty: every domain and the
/// enterprise id), read now. Not audited here: the notification that carries them is
/// (see [`delivered`]).
pub async fn person_identifiers(
    mpi: &Mpi,
    person_id: Uuid,
    domains: &[String],
) -> Result<PersonIdentifiers> {
    let registry = mpi.domains();
    let wanted: Vec<&Domain> = domains.iter().filter_map(|d| registry.resolve(d)).collect();
    let every = domains.is_empty();
    let (patient_ids, rows) = with_snapshot!(mpi, |conn| {
        let patient_ids: Vec<Uuid> = patient::Entity::find()
            .select_only()
            .column(patient::Column::Id)
            .filter(patient::Column::PersonId.eq(person_id))
            .filter(Expr::cust("patient.deleted_at IS NULL AND patient.active"))
            .order_by_asc(patient::Column::Id)
            .into_tuple()
            .all(conn)
            .await?;
        let rows = if patient_ids.is_empty() {
            Vec::new()
        } else {
            patient_identifier::Entity::find()
                .filter(patient_identifier::Column::PatientId.is_in(patient_ids.clone()))
                .order_by_asc(patient_identifier::Column::PatientId)
                .order_by_desc(patient_identifier::Column::IsPrimary)
                .order_by_asc(patient_identifier::Column::System)
                .order_by_asc(patient_identifier::Column::Value)
                .all(conn)
                .await?
        };
        Ok::<_, Error>((patient_ids, rows))
    })?;
    let mut identifiers = Vec::new();
    if patient_ids.is_empty() {
        return Ok(PersonIdentifiers {
            person_id,
            patient_ids,
            identifiers,
        });
    }
    let enterprise = registry.enterprise();
    if every || wanted.iter().any(|d| d.enterprise) {
        identifiers.push(XrefIdentifier {
            system: enterprise.system(),
            value: person_id.to_string(),
            domain: Some(enterprise.name.clone()),
            hl7_authority: Some(enterprise.hl7_authority()),
            patient_id: None,
        });
    }
    let mut seen = HashSet::new();
    for row in rows {
        // An account number (type AN) is no patient identifier, as in `xref`.
        if row.r#type == Some(entity::enums::IdentifierType::An) {
            continue;
        }
        let domain = registry.resolve(&row.system);
        let keep = match domain {
            Some(d) => !d.enterprise && (every || wanted.iter().any(|w| w.id == d.id)),
            // Identifiers outside every registered domain go only to consumers of everything;
            // the import's own bookkeeping never leaves.
            None => every && !crate::domains::is_import_system(&row.system),
        };
        let system = domain.map_or_else(|| row.system.clone(), Domain::system);
        if !keep || !seen.insert((system.clone(), row.value.clone())) {
            continue;
        }
        identifiers.push(XrefIdentifier {
            system,
            value: row.value,
            domain: domain.map(|d| d.name.clone()),
            hl7_authority: domain.map(Domain::hl7_authority),
            patient_id: Some(row.patient_id),
        });
    }
    Ok(PersonIdentifiers {
        person_id,
        patient_ids,
        identifiers,
    })
}

/// Marks the notifications `seqs` of `consumer_id` delivered (deletes them) and appends the
/// audit row of the message that delivered them (`entry`, which may be `None` when nothing was
/// sent because the person has no identifiers in the consumer's domains), in one transaction.
pub async fn delivered(
    mpi: &Mpi,
    ctx: &Ctx,
    consumer_id: Uuid,
    seqs: &[i64],
    entry: Option<AuditEntry>,
) -> Result<()> {
    let txn = mpi.write_txn().await?;
    for chunk in seqs.chunks(500) {
        pix_outbox::Entity::delete_many()
            .filter(pix_outbox::Column::ConsumerId.eq(consumer_id))
            .filter(pix_outbox::Column::Seq.is_in(chunk.iter().copied()))
            .exec(&*txn)
            .await?;
    }
    if let Some(entry) = entry {
        audit::record(&*txn, ctx, entry).await?;
    }
    txn.commit().await
}
