//! IHE PMIR Subscribe to Patient Updates (ITI-94), the service's side: FHIR Subscriptions
//! (create, read, list, update, delete; bounded and audited) and their durable outbox, which the
//! delivery task of `mpi serve` drains (`pending`, the patients as they are now, `delivered`,
//! `failed` / `recovered` for the subscription's `error` status).
//!
//! The outbox is written by database triggers on `patient` (migration 27) in the transaction of
//! every create, change, merge, undo and delete of a record, whatever wrote it, one row per
//! delivering subscription (status `active`, or `error`, whose deliveries are retried). A
//! notification carries the Patient as it is when it is sent, so a repeated or late one never
//! tells a consumer an older state than one already sent. The criteria are applied when a row
//! is delivered: a row whose Patient the criteria do not select is dropped without a message.

use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{fhir_subscription, fhir_subscription_outbox};

use crate::audit::{self, AuditEntry};
use crate::keys::Action;
use crate::patients::Patient;
use crate::{Ctx, Error, Mpi, Result};

/// Most subscriptions stored at once.
pub const MAX_SUBSCRIPTIONS: u64 = 100;
/// Longest endpoint URL accepted.
pub const MAX_ENDPOINT_LEN: usize = 2048;
/// Longest criteria accepted.
pub const MAX_CRITERIA_LEN: usize = 1000;
/// Most channel headers.
pub const MAX_HEADERS: usize = 10;
/// Longest channel header (`Name: value`).
pub const MAX_HEADER_LEN: usize = 1000;
/// Longest reason or error text.
pub const MAX_TEXT_LEN: usize = 1000;
/// Most outbox rows one call of [`pending`] returns.
pub const MAX_PENDING: u64 = 500;
/// The payload the registry sends: a FHIR message Bundle in JSON.
pub const PAYLOAD: &str = "application/fhir+json";

/// Which Patients a subscription selects (PMIR ITI-94 2:3.94.4.1.2.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Criteria {
    /// `Patient`: every Patient.
    All,
    /// `Patient?_id=X`.
    Id(Uuid),
    /// `Patient?organization=X` (`X` or `Organization/X`): the managing organization.
    Organization(Uuid),
    /// `Patient?identifier=[system|]value`, `system|`: a token on the identifiers.
    Identifier {
        /// The system (any name of its domain); `None`: any system.
        system: Option<String>,
        /// The value; `None`: any value of the system.
        value: Option<String>,
    },
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

impl Criteria {
    /// Parses `Patient`, `Patient?_id=X`, `Patient?organization=X`, `Patient?identifier=X`
    /// (a relative search URL; the value may be percent-encoded).
    pub fn parse(text: &str) -> Result<Criteria> {
        let field = "criteria";
        let text = text.trim();
        let (resource, query) = match text.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (text, None),
        };
        if resource != "Patient" {
            return Err(Error::validation(
                field,
                "must be on Patient: Patient, Patient?_id=, Patient?organization= or Patient?identifier=",
            ));
        }
        let Some(query) = query.filter(|q| !q.is_empty()) else {
            return Ok(Criteria::All);
        };
        let (name, value) = query
            .split_once('=')
            .ok_or_else(|| Error::validation(field, "the search parameter has no value"))?;
        if value.contains('&') {
            return Err(Error::validation(
                field,
                "one search parameter only: _id, organization or identifier",
            ));
        }
        let value = percent_decode(value)
            .ok_or_else(|| Error::validation(field, "the value is not percent-encoded UTF-8"))?;
        let value = value.trim();
        if value.is_empty() {
            return Err(Error::validation(
                field,
                "the search parameter has no value",
            ));
        }
        let uuid = |v: &str| {
            Uuid::parse_str(v.trim())
                .map_err(|_| Error::validation(field, "does not name a resource the MPI assigned"))
        };
        match name {
            "_id" => Ok(Criteria::Id(uuid(value)?)),
            "organization" => Ok(Criteria::Organization(uuid(
                value.strip_prefix("Organization/").unwrap_or(value),
            )?)),
            "identifier" => {
                let (system, value) = match value.split_once('|') {
                    Some((s, v)) => (Some(s.trim()), v.trim()),
                    None => (None, value),
                };
                let system = system.filter(|s| !s.is_empty()).map(str::to_owned);
                let value = Some(value).filter(|v| !v.is_empty()).map(str::to_owned);
                if system.is_none() && value.is_none() {
                    return Err(Error::validation(field, "the identifier token is empty"));
                }
                Ok(Criteria::Identifier { system, value })
            }
            _ => Err(Error::validation(
                field,
                "supported: Patient, Patient?_id=, Patient?organization=, Patient?identifier=",
            )),
        }
    }

    /// Whether the criteria select `patient`.
    pub fn selects(&self, mpi: &Mpi, patient_id: Uuid, patient: Option<&Patient>) -> bool {
        match self {
            Criteria::All => true,
            Criteria::Id(id) => *id == patient_id,
            Criteria::Organization(org) => {
                patient.and_then(|p| p.record.patient.managing_organization_id) == Some(*org)
            }
            Criteria::Identifier { system, value } => {
                let Some(patient) = patient else { return false };
                let registry = mpi.domains();
                let wanted = system
                    .as_deref()
                    .map(|s| (s, registry.resolve(s).map(|d| d.id)));
                patient.record.identifiers.iter().any(|i| {
                    let system_ok = match &wanted {
                        None => true,
                        Some((s, domain)) => {
                            i.system == *s
                                || (domain.is_some()
                                    && registry.resolve(&i.system).map(|d| d.id) == *domain)
                        }
                    };
                    system_ok && value.as_deref().is_none_or(|v| i.value == v)
                })
            }
        }
    }
}

/// A subscription as given to create or update it (FHIR R4 Subscription's elements).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionInput {
    /// `status`: `requested` (or `active`) to deliver, `off` to stop; the stored status is
    /// `active` or `off`.
    pub status: String,
    /// `criteria`.
    pub criteria: String,
    /// `channel.type`: `message` (PMIR) or `rest-hook`.
    pub channel_type: String,
    /// `channel.endpoint`: an http or https URL.
    pub endpoint: String,
    /// `channel.payload`: must be `application/fhir+json`.
    pub payload: String,
    /// `channel.header`: `Name: value` strings sent with every notification.
    pub headers: Vec<String>,
    /// `reason`.
    pub reason: Option<String>,
    /// `contact` as FHIR ContactPoint JSON, kept as given.
    pub contact: Option<serde_json::Value>,
}

/// A stored subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its id.
    pub id: Uuid,
    /// `active`, `error` (deliveries fail; still retried) or `off`.
    pub status: String,
    /// `criteria`.
    pub criteria: String,
    /// `channel.type`.
    pub channel_type: String,
    /// `channel.endpoint`.
    pub endpoint: String,
    /// `channel.payload`.
    pub payload: String,
    /// `channel.header`.
    pub headers: Vec<String>,
    /// Why deliveries fail (status `error`).
    pub error: Option<String>,
    /// `reason`.
    pub reason: Option<String>,
    /// `contact`, FHIR ContactPoint JSON.
    pub contact: Option<serde_json::Value>,
    /// Last change.
    pub updated_at: chrono::DateTime<chrono::FixedOffset>,
}

impl Subscription {
    /// Its parsed criteria (stored criteria always parse; `All` otherwise).
    pub fn criteria(&self) -> Criteria {
        Criteria::parse(&self.criteria).unwrap_or(Criteria::All)
    }

    /// What the audit trail keeps of it: no header values (they may hold credentials).
    fn audited(&self) -> serde_json::Value {
        let header_names: Vec<&str> = self
            .headers
            .iter()
            .map(|h| h.split_once(':').map_or(h.as_str(), |(n, _)| n.trim()))
            .collect();
        serde_json::json!({
            "id": self.id,
            "status": self.status,
            "criteria": self.criteria,
            "channel_type": self.channel_type,
            "endpoint": self.endpoint,
            "payload": self.payload,
            "header_names": header_names,
        })
    }
}

impl From<fhir_subscription::Model> for Subscription {
    fn from(m: fhir_subscription::Model) -> Subscription {
        Subscription {
            id: m.id,
            status: m.status,
            criteria: m.criteria,
            channel_type: m.channel_type,
            endpoint: m.endpoint,
            payload: m.payload,
            headers: serde_json::from_str(&m.headers).unwrap_or_default(),
            error: m.error,
            reason: m.reason,
            contact: m.contact.and_then(|c| serde_json::from_str(&c).ok()),
            updated_at: m.updated_at,
        }
    }
}

/// Checks an endpoint: an absolute http or https URL with a host, bounded, without spaces or
/// control characters.
fn check_endpoint(endpoint: &str) -> Result<()> {
    let field = "channel.endpoint";
    crate::limits::check_text(|| field.to_owned(), endpoint, MAX_ENDPOINT_LEN)?;
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .ok_or_else(|| Error::validation(field, "must be an http or https URL"))?;
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::validation(field, "must not contain spaces"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') {
        return Err(Error::validation(field, "has no host"));
    }
    Ok(())
}

/// Checks the input and returns the status to store (`active` or `off`).
fn check(input: &SubscriptionInput) -> Result<&'static str> {
    let status = match input.status.trim() {
        "requested" | "active" => "active",
        "off" => "off",
        "" => return Err(Error::validation("status", "is required")),
        _ => {
            return Err(Error::validation(
                "status",
                "must be requested (or active) or off",
            ));
        }
    };
    if input.criteria.trim().is_empty() {
        return Err(Error::validation("criteria", "is required"));
    }
    crate::limits::check_text(|| "criteria".to_owned(), &input.criteria, MAX_CRITERIA_LEN)?;
    Criteria::parse(&input.criteria)?;
    match input.channel_type.trim() {
        "message" | "rest-hook" => {}
        "" => return Err(Error::validation("channel.type", "is required")),
        _ => {
            return Err(Error::validation(
                "channel.type",
                "unsupported: this registry delivers message (PMIR) and rest-hook channels",
            ));
        }
    }
    if input.endpoint.trim().is_empty() {
        return Err(Error::validation("channel.endpoint", "is required"));
    }
    check_endpoint(input.endpoint.trim())?;
    let payload = input.payload.split(';').next().unwrap_or_default().trim();
    if payload != PAYLOAD {
        return Err(Error::validation(
            "channel.payload",
            "must be application/fhir+json (the Mobile Patient Identity Feed message)",
        ));
    }
    crate::limits::check_count("channel.header", input.headers.len(), MAX_HEADERS)?;
    for (n, header) in input.headers.iter().enumerate() {
        let field = format!("channel.header[{n}]");
        crate::limits::check_text(|| field.clone(), header, MAX_HEADER_LEN)?;
        let (name, _) = header
            .split_once(':')
            .ok_or_else(|| Error::validation(field.clone(), "must be Name: value"))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            || header.contains(['\r', '\n'])
        {
            return Err(Error::validation(field, "must be Name: value"));
        }
        if name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("content-length")
        {
            return Err(Error::validation(field, "is set by the registry"));
        }
    }
    for (field, text) in [("reason", &input.reason)] {
        if let Some(text) = text {
            crate::limits::check_text(|| field.to_owned(), text, MAX_TEXT_LEN)?;
        }
    }
    if let Some(contact) = &input.contact
        && contact.to_string().len() > MAX_TEXT_LEN
    {
        return Err(Error::validation(
            "contact",
            format!("is longer than {MAX_TEXT_LEN} characters"),
        ));
    }
    Ok(status)
}

fn headers_text(headers: &[String]) -> String {
    let trimmed: Vec<&str> = headers.iter().map(|h| h.trim()).collect();
    serde_json::to_string(&trimmed).unwrap_or_else(|_| "[]".to_owned())
}

/// Creates a subscription (ITI-94): checked, stored `active` (or `off` when asked), audited as
/// `create` of `fhir_subscription`. From its commit on, every change of a Patient queues a
/// notification for it. At most [`MAX_SUBSCRIPTIONS`] exist at once.
pub async fn create(mpi: &Mpi, ctx: &Ctx, input: SubscriptionInput) -> Result<Subscription> {
    ctx.authorize(Action::Subscribe)?;
    let status = check(&input)?;
    let txn = mpi.write_txn().await?;
    let count = fhir_subscription::Entity::find().count(&*txn).await?;
    if count >= MAX_SUBSCRIPTIONS {
        return Err(Error::conflict(
            "too_many_subscriptions",
            format!("at most {MAX_SUBSCRIPTIONS} subscriptions; delete one first"),
        ));
    }
    let actor = ctx.actor.name.as_str();
    let row = fhir_subscription::ActiveModel {
        id: Set(Uuid::new_v4()),
        criteria: Set(input.criteria.trim().to_owned()),
        channel_type: Set(input.channel_type.trim().to_owned()),
        endpoint: Set(input.endpoint.trim().to_owned()),
        payload: Set(PAYLOAD.to_owned()),
        headers: Set(headers_text(&input.headers)),
        status: Set(status.to_owned()),
        error: Set(None),
        reason: Set(input.reason.clone()),
        contact: Set(input.contact.as_ref().map(ToString::to_string)),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
    .insert(&*txn)
    .await?;
    let created = Subscription::from(row);
    audit::record(
        &*txn,
        ctx,
        AuditEntry::new("create", "fhir_subscription", Some(created.id.to_string()))
            .after(created.audited()),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Reads a subscription; audited as `read`.
pub async fn get(mpi: &Mpi, ctx: &Ctx, id: Uuid) -> Result<Subscription> {
    ctx.authorize(Action::Subscribe)?;
    let found = fhir_subscription::Entity::find_by_id(id)
        .one(mpi.db())
        .await?
        .ok_or_else(|| Error::not_found("subscription", id))?;
    mpi.audit_read(
        ctx,
        AuditEntry::new("read", "fhir_subscription", Some(id.to_string())),
    )
    .await?;
    Ok(Subscription::from(found))
}

/// Every subscription (at most [`MAX_SUBSCRIPTIONS`]), optionally of one status, oldest first;
/// audited as `search`.
pub async fn list(mpi: &Mpi, ctx: &Ctx, status: Option<&str>) -> Result<Vec<Subscription>> {
    ctx.authorize(Action::Subscribe)?;
    let mut query = fhir_subscription::Entity::find();
    if let Some(status) = status {
        query = query.filter(fhir_subscription::Column::Status.eq(status));
    }
    let rows = query
        .order_by_asc(fhir_subscription::Column::CreatedAt)
        .order_by_asc(fhir_subscription::Column::Id)
        .limit(MAX_SUBSCRIPTIONS)
        .all(mpi.db())
        .await?;
    mpi.audit_read(
        ctx,
        AuditEntry::new("search", "fhir_subscription", None)
            .after(serde_json::json!({ "status": status, "found": rows.len() })),
    )
    .await?;
    Ok(rows.into_iter().map(Subscription::from).collect())
}

/// The subscriptions the delivery task serves (status `active` or `error`). Not audited: no
/// patient data.
pub async fn delivering(mpi: &Mpi) -> Result<Vec<Subscription>> {
    Ok(fhir_subscription::Entity::find()
        .filter(fhir_subscription::Column::Status.is_in(["active", "error"]))
        .order_by_asc(fhir_subscription::Column::Id)
        .all(mpi.db())
        .await?
        .into_iter()
        .map(Subscription::from)
        .collect())
}

/// Replaces a subscription's elements (ITI-94's enable and disable: status `off` stops the
/// deliveries and the queueing, `requested` starts them again as `active`, clearing an error);
/// audited as `update` with before and after.
pub async fn update(
    mpi: &Mpi,
    ctx: &Ctx,
    id: Uuid,
    input: SubscriptionInput,
) -> Result<Subscription> {
    ctx.authorize(Action::Subscribe)?;
    let status = check(&input)?;
    let txn = mpi.write_txn().await?;
    let found = fhir_subscription::Entity::find_by_id(id)
        .one(&*txn)
        .await?
        .ok_or_else(|| Error::not_found("subscription", id))?;
    let before = Subscription::from(found);
    let row = fhir_subscription::ActiveModel {
        id: Set(id),
        criteria: Set(input.criteria.trim().to_owned()),
        channel_type: Set(input.channel_type.trim().to_owned()),
        endpoint: Set(input.endpoint.trim().to_owned()),
        headers: Set(headers_text(&input.headers)),
        status: Set(status.to_owned()),
        error: Set(None),
        reason: Set(input.reason.clone()),
        contact: Set(input.contact.as_ref().map(ToString::to_string)),
        updated_at: Set(chrono::Utc::now().fixed_offset()),
        updated_by: Set(ctx.actor.name.clone()),
        ..Default::default()
    }
    .update(&*txn)
    .await?;
    let after = Subscription::from(row);
    audit::record(
        &*txn,
        ctx,
        AuditEntry::new("update", "fhir_subscription", Some(id.to_string()))
            .before(before.audited())
            .after(after.audited()),
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// Deletes a subscription and its undelivered notifications; audited as `delete` (with how
/// many were dropped).
pub async fn delete(mpi: &Mpi, ctx: &Ctx, id: Uuid) -> Result<()> {
    ctx.authorize(Action::Subscribe)?;
    let txn = mpi.write_txn().await?;
    let found = fhir_subscription::Entity::find_by_id(id)
        .one(&*txn)
        .await?
        .ok_or_else(|| Error::not_found("subscription", id))?;
    let dropped = fhir_subscription_outbox::Entity::delete_many()
        .filter(fhir_subscription_outbox::Column::SubscriptionId.eq(id))
        .exec(&*txn)
        .await?
        .rows_affected;
    fhir_subscription::Entity::delete_by_id(id)
        .exec(&*txn)
        .await?;
    audit::record(
        &*txn,
        ctx,
        AuditEntry::new("delete", "fhir_subscription", Some(id.to_string()))
            .before(Subscription::from(found).audited())
            .after(serde_json::json!({ "undelivered_dropped": dropped })),
    )
    .await?;
    txn.commit().await
}

/// One queued notification: a patient created, changed or deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Position in the outbox.
    pub seq: i64,
    /// The patient.
    pub patient_id: Uuid,
    /// `create`, `update` or `delete`.
    pub event: String,
}

/// The oldest `limit` (at most [`MAX_PENDING`]) notifications queued for `subscription_id`.
pub async fn pending(mpi: &Mpi, subscription_id: Uuid, limit: u64) -> Result<Vec<Pending>> {
    let rows: Vec<(i64, Uuid, String)> = fhir_subscription_outbox::Entity::find()
        .select_only()
        .column(fhir_subscription_outbox::Column::Seq)
        .column(fhir_subscription_outbox::Column::PatientId)
        .column(fhir_subscription_outbox::Column::Event)
        .filter(fhir_subscription_outbox::Column::SubscriptionId.eq(subscription_id))
        .order_by_asc(fhir_subscription_outbox::Column::Seq)
        .limit(limit.clamp(1, MAX_PENDING))
        .into_tuple()
        .all(mpi.db())
        .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, patient_id, event)| Pending {
            seq,
            patient_id,
            event,
        })
        .collect())
}

/// How many notifications are queued, all subscriptions together.
pub async fn queue_depth(mpi: &Mpi) -> Result<u64> {
    Ok(fhir_subscription_outbox::Entity::find()
        .count(mpi.db())
        .await?)
}

/// The patients `ids` as they are now, for a notification, in the order given (`None`: no such
/// record); soft-deleted ones too (`Patient::is_deleted`), merged-away ones with their
/// `replaced-by`. Not audited here: the message that carries them is (see [`delivered`]).
pub async fn patients_now(mpi: &Mpi, ids: &[Uuid]) -> Result<Vec<(Uuid, Option<Patient>)>> {
    let records = entity::patient_ext::PatientRecord::load_many(mpi.db(), ids).await?;
    let mut found: std::collections::HashMap<Uuid, Patient> = records
        .into_iter()
        .map(|r| {
            let mut patient = Patient::from_record(r);
            mpi.domains().render_patient(&mut patient);
            (patient.id(), patient)
        })
        .collect();
    Ok(ids.iter().map(|id| (*id, found.remove(id))).collect())
}

/// Marks the notifications `seqs` delivered (deletes them), sets the subscription `active`
/// again if it was in `error`, and appends the audit row of the message that delivered them
/// (`entry`; `None` when nothing was sent because the criteria selected none of them), in one
/// transaction.
pub async fn delivered(
    mpi: &Mpi,
    ctx: &Ctx,
    subscription_id: Uuid,
    seqs: &[i64],
    entry: Option<AuditEntry>,
) -> Result<()> {
    let txn = mpi.write_txn().await?;
    for chunk in seqs.chunks(500) {
        fhir_subscription_outbox::Entity::delete_many()
            .filter(fhir_subscription_outbox::Column::SubscriptionId.eq(subscription_id))
            .filter(fhir_subscription_outbox::Column::Seq.is_in(chunk.iter().copied()))
            .exec(&*txn)
            .await?;
    }
    if entry.is_some() {
        fhir_subscription::Entity::update_many()
            .col_expr(
                fhir_subscription::Column::Status,
                sea_orm::sea_query::Expr::value("active"),
            )
            .col_expr(
                fhir_subscription::Column::Error,
                sea_orm::sea_query::Expr::value(Option::<String>::None),
            )
            .filter(fhir_subscription::Column::Id.eq(subscription_id))
            .filter(fhir_subscription::Column::Status.eq("error"))
            .exec(&*txn)
            .await?;
    }
    if let Some(entry) = entry {
        audit::record(&*txn, ctx, entry).await?;
    }
    txn.commit().await
}

/// Sets an `active` subscription's status to `error` with `why` (never patient data), as FHIR
/// R4 asks when its deliveries keep failing; deliveries are still retried, and the first that
/// succeeds sets it `active` again. Audited as `update`.
pub async fn failed(mpi: &Mpi, ctx: &Ctx, subscription_id: Uuid, why: &str) -> Result<()> {
    let why: String = why.chars().take(MAX_TEXT_LEN).collect();
    let txn = mpi.write_txn().await?;
    let changed = fhir_subscription::Entity::update_many()
        .col_expr(
            fhir_subscription::Column::Status,
            sea_orm::sea_query::Expr::value("error"),
        )
        .col_expr(
            fhir_subscription::Column::Error,
            sea_orm::sea_query::Expr::value(why.clone()),
        )
        .filter(fhir_subscription::Column::Id.eq(subscription_id))
        .filter(fhir_subscription::Column::Status.eq("active"))
        .exec(&*txn)
        .await?
        .rows_affected;
    if changed > 0 {
        audit::record(
            &*txn,
            ctx,
            AuditEntry::new(
                "update",
                "fhir_subscription",
                Some(subscription_id.to_string()),
            )
            .after(serde_json::json!({ "status": "error", "error": why })),
        )
        .await?;
    }
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_forms() {
        assert_eq!(Criteria::parse("Patient").unwrap(), Criteria::All);
        let id = Uuid::new_v4();
        assert_eq!(
            Criteria::parse(&format!("Patient?_id={id}")).unwrap(),
            Criteria::Id(id)
        );
        assert_eq!(
            Criteria::parse(&format!("Patient?organization=Organization/{id}")).unwrap(),
            Criteria::Organization(id)
        );
        assert_eq!(
            Criteria::parse("Patient?identifier=urn%3Aoid%3A1.2%7CA1").unwrap(),
            Criteria::Identifier {
                system: Some("urn:oid:1.2".into()),
                value: Some("A1".into())
            }
        );
        assert!(Criteria::parse("Observation").is_err());
        assert!(Criteria::parse("Patient?name=x").is_err());
        assert!(Criteria::parse("Patient?_id=1&_id=2").is_err());
    }

    #[test]
    fn endpoints() {
        assert!(check_endpoint("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_endpoint("https://example.org").is_ok());
        assert!(check_endpoint("ftp://example.org").is_err());
        assert!(check_endpoint("mailto:a@b").is_err());
        assert!(check_endpoint("http://").is_err());
        assert!(check_endpoint("http://a b").is_err());
    }
}
