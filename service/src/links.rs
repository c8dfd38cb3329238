//! Links between patient records that stay separate: `seealso` (the same person, both records in
//! use) and `refer` (use the other record). `replaced-by` / `replaces` links are made only by a
//! merge and removed only by its undo.
//!
//! A link belongs to one patient (FHIR `Patient.link`): `create(patient, other, ...)` writes one
//! row `patient -> other`, and a `seealso` the other way is a second call (the review queue's
//! "link" decision writes both directions). `list` shows links in both directions. Creating or
//! deleting a link is a change of the owning patient: its version goes up by one.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition,
    ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder, SqlErr,
};
use uuid::Uuid;

use entity::enums::{LinkOrigin, LinkType};
use entity::{patient, patient_link};

use crate::Mpi;
use crate::audit::{self, AuditEntry};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::keys::Action;

/// Links `patient` to `other` with a `seealso` or `refer` link made by a person. Audited.
///
/// Errors: `Validation` for another link type or a link to itself; `NotFound` when either record
/// is missing or soft-deleted; `Conflict duplicate_link` when the same link exists already.
#[tracing::instrument(skip_all, fields(patient_id = %patient, other = %other))]
pub async fn create(
    mpi: &Mpi,
    ctx: &Ctx,
    patient: Uuid,
    other: Uuid,
    link_type: LinkType,
    reason: Option<String>,
) -> Result<patient_link::Model> {
    ctx.authorize(Action::Link)?;
    let txn = mpi.write_txn_for(ctx).await?;
    let link = create_in_txn(&*txn, ctx, patient, other, link_type, reason).await?;
    audit_created(&*txn, ctx, &link).await?;
    txn.commit().await?;
    Ok(link)
}

/// [`create`] inside a caller's transaction (the review queue's link decision uses it), without
/// the audit row: the caller appends it with [`audit_created`] after its last row write, because
/// on PostgreSQL the audit append takes a transaction-wide advisory lock, and taking a row lock
/// after it could deadlock with a transaction that holds that row and waits for the audit lock.
pub(crate) async fn create_in_txn<C: ConnectionTrait>(
    txn: &C,
    ctx: &Ctx,
    patient: Uuid,
    other: Uuid,
    link_type: LinkType,
    reason: Option<String>,
) -> Result<patient_link::Model> {
    if !matches!(link_type, LinkType::SeeAlso | LinkType::Refer) {
        return Err(Error::validation(
            "type",
            "only seealso and refer links can be created; replaced-by and replaces come from merges",
        ));
    }
    if patient == other {
        return Err(Error::validation(
            "other_patient_id",
            "a patient cannot link to itself",
        ));
    }
    for id in [patient, other] {
        if patient::Entity::find_live_by_id(id)
            .one(txn)
            .await?
            .is_none()
        {
            return Err(Error::not_found("patient", id));
        }
    }
    let existing = patient_link::Entity::find()
        .filter(patient_link::Column::PatientId.eq(patient))
        .filter(patient_link::Column::OtherPatientId.eq(other))
        .filter(patient_link::Column::Type.eq(link_type))
        .one(txn)
        .await?;
    if let Some(existing) = existing {
        return Err(Error::Conflict {
            code: "duplicate_link",
            message: format!("patient {patient} already has a {link_type} link to {other}"),
            detail: Some(serde_json::json!({ "link_id": existing.id })),
        });
    }
    let actor = ctx.actor.name.as_str();
    let link = patient_link::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        other_patient_id: Set(other),
        r#type: Set(link_type),
        origin: Set(LinkOrigin::Person),
        reason: Set(reason),
        score: Set(None),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
    .insert(txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::conflict(
            "duplicate_link",
            format!("patient {patient} already has a {link_type} link to {other}"),
        ),
        _ => Error::Db(e),
    })?;
    bump_version(txn, patient, actor).await?;
    Ok(link)
}

/// Links a newly registered record and the live record holding the same identifier of a
/// links-records domain, or one the new record carries as a reference (one person): a
/// `seealso` link each way, made by the matcher (origin `matcher`, no probability: the shared
/// value decides, not the demographics), whose `reason` names the domain. The holder's version
/// goes up (a link is part of its owner's record); the new record is created in the same
/// transaction. The caller audits the links.
pub(crate) async fn link_shared_identifier<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    record: Uuid,
    holder: Uuid,
    reason: &str,
) -> Result<Vec<patient_link::Model>> {
    let mut links = Vec::with_capacity(2);
    for (from, to) in [(record, holder), (holder, record)] {
        let link = patient_link::ActiveModel {
            id: Set(Uuid::now_v7()),
            patient_id: Set(from),
            other_patient_id: Set(to),
            r#type: Set(LinkType::SeeAlso),
            origin: Set(LinkOrigin::Matcher),
            reason: Set(Some(reason.to_owned())),
            score: Set(None),
            created_at: NotSet,
            updated_at: NotSet,
            created_by: Set(actor.to_owned()),
            updated_by: Set(actor.to_owned()),
        }
        .insert(txn)
        .await?;
        links.push(link);
    }
    bump_version(txn, holder, actor).await?;
    Ok(links)
}

/// The audit row of a created link.
pub(crate) async fn audit_created<C: ConnectionTrait>(
    txn: &C,
    ctx: &Ctx,
    link: &patient_link::Model,
) -> Result<()> {
    audit::record(
        txn,
        ctx,
        AuditEntry::new("link.create", "patient_link", Some(link.id.to_string()))
            .after(audit::json(link)),
    )
    .await
}

/// Deletes a `seealso` or `refer` link. Audited. `NotFound` for an unknown id; `Validation` for
/// a merge's link (undo the merge instead).
#[tracing::instrument(skip_all, fields(link_id = %link_id))]
pub async fn delete(mpi: &Mpi, ctx: &Ctx, link_id: Uuid) -> Result<()> {
    ctx.authorize(Action::Link)?;
    let txn = mpi.write_txn_for(ctx).await?;
    let link = patient_link::Entity::find_by_id(link_id)
        .one(&*txn)
        .await?
        .ok_or_else(|| Error::not_found("link", link_id))?;
    if !matches!(link.r#type, LinkType::SeeAlso | LinkType::Refer) {
        return Err(Error::validation(
            "type",
            "replaced-by and replaces links belong to a merge; undo the merge instead",
        ));
    }
    patient_link::Entity::delete_by_id(link_id)
        .exec(&*txn)
        .await?;
    bump_version(&*txn, link.patient_id, &ctx.actor.name).await?;
    audit::record(
        &*txn,
        ctx,
        AuditEntry::new("link.delete", "patient_link", Some(link_id.to_string()))
            .before(audit::json(&link)),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The links from and to `patient_id` (oldest first). Audited as a read. `NotFound` when the
/// patient is missing or soft-deleted.
#[tracing::instrument(skip_all, fields(patient_id = %patient_id))]
pub async fn list(mpi: &Mpi, ctx: &Ctx, patient_id: Uuid) -> Result<Vec<patient_link::Model>> {
    ctx.authorize(Action::Read)?;
    let txn = mpi.write_txn().await?;
    if patient::Entity::find_live_by_id(patient_id)
        .one(&*txn)
        .await?
        .is_none()
    {
        return Err(Error::not_found("patient", patient_id));
    }
    let links = patient_link::Entity::find()
        .filter(
            Condition::any()
                .add(patient_link::Column::PatientId.eq(patient_id))
                .add(patient_link::Column::OtherPatientId.eq(patient_id)),
        )
        .order_by_asc(patient_link::Column::CreatedAt)
        .order_by_asc(patient_link::Column::Id)
        .all(&*txn)
        .await?;
    let ids: Vec<String> = links.iter().map(|l| l.id.to_string()).collect();
    audit::record(
        &*txn,
        ctx,
        AuditEntry::new("link.list", "patient", Some(patient_id.to_string()))
            .after(serde_json::json!({ "link_ids": ids })),
    )
    .await?;
    txn.commit().await?;
    Ok(links)
}

/// A link is part of its owner's record: raise the owner's version.
async fn bump_version<C: ConnectionTrait>(txn: &C, id: Uuid, actor: &str) -> Result<()> {
    patient::Entity::update_many()
        .col_expr(
            patient::Column::Version,
            Expr::col(patient::Column::Version).add(1),
        )
        .col_expr(
            patient::Column::UpdatedAt,
            Expr::value(chrono::Utc::now().fixed_offset()),
        )
        .col_expr(patient::Column::UpdatedBy, Expr::value(actor.to_owned()))
        .filter(patient::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}
