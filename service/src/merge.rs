//! Merging a duplicate (source, retired) record into a survivor (target), previewing a merge, and
//! undoing one.
//!
//! A merge, in one transaction:
//! - checks both records (same id twice -> `Validation`; missing or soft-deleted -> `NotFound`;
//!   already merged away -> `Conflict already_merged` naming the survivor; otherwise inactive ->
//!   `Conflict inactive`);
//! - bumps both patients' versions with `UPDATE ... WHERE id = ? AND version = ?` in id order (so
//!   two merges over one patient never deadlock): 0 rows -> `Conflict concurrent_change`, and the
//!   whole transaction rolls back. The source's update also retires it (`active = false`) and gives
//!   it the target's `person_id`; retiring comes BEFORE copying identifiers, because the partial
//!   unique index over live patients' identifiers cannot be deferred;
//! - copies to the target the source's names, identifiers, addresses, telecoms and languages
//!   whose normalized content (case, spacing, phone punctuation; a language by its system and
//!   code) the target does not already have, each copy with `source_patient_id` = source and
//!   `is_primary = false` (the survivor keeps its own values);
//! - links source `replaced-by` target and target `replaces` source;
//! - closes the source's open review tasks with status `merged`: the task of the merged pair (or
//!   the task named in the request) with the caller's note, and tasks between the source and third
//!   records with a note saying the record was merged away. They are closed rather than re-pointed:
//!   their scores were computed against the retired record and would be stale on the survivor.
//!   Undo reopens them exactly as they were;
//! - stores a `merge_event` with the complete before-images of both records (`PatientRecord` JSON:
//!   patient row, child rows, links in both directions) and, in `changes`, the ids of every row
//!   the merge created, the versions it left, and the before-images of the review tasks it closed;
//! - makes the survivor the mother's record of the unresolved children naming an identifier it
//!   holds now (`mothers::resolve_children_of_survivor`; each child audited as an update).
//!
//! A preview runs exactly the same code inside a savepoint, reads the result and rolls the
//! savepoint back, so it cannot differ from the real merge; it is audited as a read.
//!
//! Undo restores both records to their before-images (and the children resolved to the survivor
//! through an identifier it gives back follow that identifier's live holder,
//! `mothers::follow_holders`): the rows the merge created are deleted (the
//! survivor's copies before the source is reactivated, for the identifier index), the patient
//! rows get every column back, the review tasks get their before-images back. The result is then
//! compared with the before-images and any difference refuses the undo. Restored patient rows get
//! a NEW version (`version + 1`), `updated_at` = now and `updated_by` = the undoing actor: a version
//! never goes back, so optimistic-concurrency clients and caches see the change; every other field
//! and every child row, link and task is restored exactly. Undo is refused
//! (`Conflict undo_impossible`) when the merge was undone already, when either record was changed
//! after the merge by anything but merges and undos (its version moved further than they
//! account for, it was soft-deleted, a link to it appeared), when the survivor was itself merged
//! away since, or when a closed review task was changed since.
//!
//! Merges are undone in any order. Other merges into the same survivor, made or undone since,
//! each moved its version by one and changed no field an undo restores, so they are counted,
//! not refused; the survivor keeps the rows of the merges still in force, and is compared with
//! its before-image without the rows any other merge made. A merge still in force that left out
//! a row of its source because the survivor then had it as this merge's copy gets that row
//! copied now, as its own (so its own undo removes it).

use std::collections::HashSet;

use chrono::Utc;
use entity::enums::{LinkOrigin, LinkType, ReviewStatus};
use entity::patient_ext::PatientRecord;
use entity::{
    merge_event, patient, patient_address, patient_communication, patient_identifier, patient_link,
    patient_name, patient_telecom, review_task,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition,
    ConnectionTrait, DatabaseTransaction, EntityTrait, ExprTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Mpi;
use crate::audit::{self, AuditEntry};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::keys::Action;
use crate::patients::Patient;

/// What to merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeRequest {
    /// The survivor: keeps its values and gains what the source has and it lacks.
    pub target: Uuid,
    /// The retired record.
    pub source: Uuid,
    /// Compute and return the result without changing anything.
    pub preview: bool,
    /// The review task this merge decides, if any (it must be the open task of this pair).
    pub review_task_id: Option<Uuid>,
}

/// The result of a merge or a preview.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MergeOutcome {
    /// The merge's id (`None` for a preview); give it to `undo`.
    pub merge_id: Option<Uuid>,
    /// The survivor after the merge.
    pub target: Patient,
    /// The retired record after the merge.
    pub source: Patient,
}

/// The result of an undo.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UndoOutcome {
    /// The former survivor, restored.
    pub target: Patient,
    /// The former source, restored and active again.
    pub source: Patient,
}

/// What a merge did beyond the before-images; stored as `merge_event.changes` for undo.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeChanges {
    /// Ids of the name rows copied to the target.
    pub names: Vec<Uuid>,
    /// Ids of the identifier rows copied to the target.
    pub identifiers: Vec<Uuid>,
    /// Ids of the address rows copied to the target.
    pub addresses: Vec<Uuid>,
    /// Ids of the telecom rows copied to the target.
    pub telecoms: Vec<Uuid>,
    /// Ids of the language rows copied to the target (none in merges made before migration 24).
    #[serde(default)]
    pub communications: Vec<Uuid>,
    /// Ids of the `replaced-by` and `replaces` links the merge created.
    pub links: Vec<Uuid>,
    /// The target's version after the merge.
    pub target_version: i32,
    /// The source's version after the merge.
    pub source_version: i32,
    /// Before-images of the review tasks the merge closed.
    pub review_tasks_before: Vec<review_task::Model>,
}

impl MergeChanges {
    /// How many child rows the merge copied to the target.
    fn copied(&self) -> usize {
        self.names.len()
            + self.identifiers.len()
            + self.addresses.len()
            + self.telecoms.len()
            + self.communications.len()
    }
}

/// A source merges only records it holds an identifier of, on both sides (403
/// `domain_not_authorised` naming `target` or `source`); callers that are no source pass. Every
/// merge path (the merge request, the review queue's merge decision) checks this.
pub(crate) async fn check_source_authority<C: ConnectionTrait>(
    mpi: &Mpi,
    ctx: &Ctx,
    txn: &C,
    req: &MergeRequest,
) -> Result<()> {
    let Some(source) = &ctx.actor.source else {
        return Ok(());
    };
    let domains = mpi.domains();
    for (field, id) in [("target", req.target), ("source", req.source)] {
        let rows = patient_identifier::Entity::find()
            .filter(patient_identifier::Column::PatientId.eq(id))
            .all(txn)
            .await?;
        domains.check_authority(source, field, rows.iter().map(|r| r.system.as_str()))?;
    }
    Ok(())
}

/// Merges `req.source` into `req.target` (or previews it). Audited; one transaction; the matcher
/// index is refreshed for both records after commit.
#[tracing::instrument(skip_all, fields(target = %req.target, source = %req.source, preview = req.preview))]
pub async fn merge(mpi: &Mpi, ctx: &Ctx, req: MergeRequest) -> Result<MergeOutcome> {
    ctx.authorize(Action::Merge)?;
    check_distinct(&req)?;
    let txn = mpi.write_txn_for(ctx).await?;
    check_source_authority(mpi, ctx, &*txn, &req).await?;
    if req.preview {
        let savepoint = txn.begin().await?;
        apply_merge(&savepoint, ctx, &req, None).await?;
        let target = Patient::load_live(&savepoint, req.target).await?;
        let source = Patient::load_live(&savepoint, req.source).await?;
        savepoint.rollback().await?;
        for id in [req.target, req.source] {
            audit::record(
                &*txn,
                ctx,
                AuditEntry::new("merge.preview", "patient", Some(id.to_string())),
            )
            .await?;
        }
        txn.commit().await?;
        return Ok(MergeOutcome {
            merge_id: None,
            target,
            source,
        });
    }
    let outcome = merge_in_txn(mpi, &txn, ctx, &req, None).await?;
    txn.commit().await?;
    refresh_both(mpi, req.target, req.source).await;
    tracing::info!(merge_id = ?outcome.merge_id, "merged");
    Ok(outcome)
}

/// The merge inside a caller's transaction (review decisions use it), audited, without the
/// index refresh (the caller refreshes after commit). `note` goes on the decided review task.
/// The survivor, holding the retired record's identifiers now, becomes the mother's record of
/// the unresolved children naming one of its identifiers ([`crate::mothers`]).
pub(crate) async fn merge_in_txn(
    mpi: &Mpi,
    txn: &DatabaseTransaction,
    ctx: &Ctx,
    req: &MergeRequest,
    note: Option<String>,
) -> Result<MergeOutcome> {
    check_distinct(req)?;
    let applied = apply_merge(txn, ctx, req, note).await?;
    let target = Patient::load_live(txn, req.target).await?;
    let source = Patient::load_live(txn, req.source).await?;
    let merge_id = applied.merge_id.to_string();
    for (id, before, after) in [
        (req.target, &applied.target_before, &target),
        (req.source, &applied.source_before, &source),
    ] {
        let entry = AuditEntry::new("merge", "patient", Some(id.to_string()))
            .before(json(before)?)
            .after(serde_json::json!({ "merge_id": merge_id, "record": json(after)? }));
        audit::record(txn, ctx, entry).await?;
    }
    crate::mothers::resolve_children_of_survivor(mpi, ctx, txn, &target.record).await?;
    Ok(MergeOutcome {
        merge_id: Some(applied.merge_id),
        target,
        source,
    })
}

/// Refreshes both records in the matcher's candidate index (after commit).
pub(crate) async fn refresh_both(mpi: &Mpi, a: Uuid, b: Uuid) {
    for id in [a, b] {
        if let Err(error) = mpi.refresh_patient(id).await {
            // The periodic catch-up repairs the index; the merge itself is committed.
            tracing::warn!(%error, patient_id = %id, "index refresh after merge failed");
        }
    }
}

fn check_distinct(req: &MergeRequest) -> Result<()> {
    if req.target == req.source {
        return Err(Error::validation(
            "source",
            "the source must be a different patient than the target",
        ));
    }
    Ok(())
}

fn json<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| {
        Error::Db(sea_orm::DbErr::Custom(format!(
            "cannot serialise a record: {e}"
        )))
    })
}

struct Applied {
    merge_id: Uuid,
    target_before: PatientRecord,
    source_before: PatientRecord,
}

/// Loads a patient for a merge: missing or soft-deleted -> NotFound; merged away -> Conflict.
async fn load_mergeable<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<PatientRecord> {
    let record = PatientRecord::load(conn, id)
        .await?
        .filter(|r| r.patient.deleted_at.is_none())
        .ok_or_else(|| Error::not_found("patient", id))?;
    if let Some(survivor) = replaced_by(&record) {
        return Err(Error::Conflict {
            code: "already_merged",
            message: format!("patient {id} was merged into {survivor}"),
            detail: Some(serde_json::json!({ "replaced_by": survivor })),
        });
    }
    if !record.patient.active {
        return Err(Error::conflict(
            "inactive",
            format!("patient {id} is inactive"),
        ));
    }
    Ok(record)
}

/// The record that replaced this one, from its `replaced-by` link.
pub(crate) fn replaced_by(record: &PatientRecord) -> Option<Uuid> {
    record
        .links
        .iter()
        .find(|l| l.patient_id == record.patient.id && l.r#type == LinkType::ReplacedBy)
        .map(|l| l.other_patient_id)
}

/// Raises a patient's version by one if it still is `expected`; 0 rows -> concurrent change.
async fn bump_version<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    expected: i32,
    actor: &str,
    retire_into_person: Option<Uuid>,
) -> Result<()> {
    let mut update = patient::Entity::update_many()
        .col_expr(
            patient::Column::Version,
            Expr::col(patient::Column::Version).add(1),
        )
        .col_expr(
            patient::Column::UpdatedAt,
            Expr::value(Utc::now().fixed_offset()),
        )
        .col_expr(patient::Column::UpdatedBy, Expr::value(actor.to_owned()));
    if let Some(person_id) = retire_into_person {
        update = update
            .col_expr(patient::Column::Active, Expr::value(false))
            .col_expr(patient::Column::PersonId, Expr::value(person_id));
    }
    let result = update
        .filter(patient::Column::Id.eq(id))
        .filter(patient::Column::Version.eq(expected))
        .exec(conn)
        .await?;
    if result.rows_affected == 0 {
        return Err(concurrent_change(id));
    }
    Ok(())
}

fn concurrent_change(id: Uuid) -> Error {
    Error::Conflict {
        code: "concurrent_change",
        message: format!("patient {id} was changed concurrently; reload and retry"),
        detail: Some(serde_json::json!({ "patient_id": id })),
    }
}

async fn apply_merge(
    txn: &DatabaseTransaction,
    ctx: &Ctx,
    req: &MergeRequest,
    note: Option<String>,
) -> Result<Applied> {
    let actor = ctx.actor.name.as_str();
    let target = load_mergeable(txn, req.target).await?;
    let source = load_mergeable(txn, req.source).await?;
    let (target_id, source_id) = (req.target, req.source);

    // The review tasks the merge closes: every open task of the source; the named task must be
    // this pair's and open.
    if let Some(task_id) = req.review_task_id {
        let task = review_task::Entity::find_by_id(task_id)
            .one(txn)
            .await?
            .ok_or_else(|| Error::not_found("review_task", task_id))?;
        let pair = entity::pair::ordered_pair(target_id, source_id);
        if (task.patient_a, task.patient_b) != pair {
            return Err(Error::validation(
                "review_task_id",
                "the review task is not about these two patients",
            ));
        }
        if task.status != ReviewStatus::Open {
            return Err(task_decided(task_id, task.status));
        }
    }
    let open_tasks = review_task::Entity::find()
        .filter(review_task::Column::Status.eq(ReviewStatus::Open))
        .filter(
            Condition::any()
                .add(review_task::Column::PatientA.eq(source_id))
                .add(review_task::Column::PatientB.eq(source_id)),
        )
        .all(txn)
        .await?;

    // Versions first, in id order (no deadlock between two merges over the same pair); the
    // source is retired in the same statement, before any identifier is copied.
    let mut bumps = [
        (target_id, target.patient.version, None),
        (
            source_id,
            source.patient.version,
            Some(target.patient.person_id),
        ),
    ];
    bumps.sort_by_key(|(id, _, _)| *id);
    for (id, version, retire) in bumps {
        bump_version(txn, id, version, actor, retire).await?;
    }

    let merge_id = Uuid::now_v7();
    let mut changes = MergeChanges {
        target_version: target.patient.version + 1,
        source_version: source.patient.version + 1,
        ..MergeChanges::default()
    };
    copy_missing(txn, actor, &target, &source, &mut changes).await?;

    for (from, to, link_type) in [
        (source_id, target_id, LinkType::ReplacedBy),
        (target_id, source_id, LinkType::Replaces),
    ] {
        let id = Uuid::now_v7();
        patient_link::ActiveModel {
            id: Set(id),
            patient_id: Set(from),
            other_patient_id: Set(to),
            r#type: Set(link_type),
            origin: Set(LinkOrigin::Person),
            reason: Set(Some(format!("merge {merge_id}"))),
            score: Set(None),
            created_at: NotSet,
            updated_at: NotSet,
            created_by: Set(actor.to_owned()),
            updated_by: Set(actor.to_owned()),
        }
        .insert(txn)
        .await?;
        changes.links.push(id);
    }

    let now = Utc::now().fixed_offset();
    let pair = entity::pair::ordered_pair(target_id, source_id);
    for task in &open_tasks {
        let this_pair = (task.patient_a, task.patient_b) == pair;
        let task_note = if this_pair {
            note.clone()
        } else {
            Some(format!(
                "closed: patient {source_id} was merged into {target_id} (merge {merge_id})"
            ))
        };
        let closed = review_task::Entity::update_many()
            .col_expr(
                review_task::Column::Status,
                Expr::value(ReviewStatus::Merged.as_str()),
            )
            .col_expr(
                review_task::Column::DecidedBy,
                Expr::value(actor.to_owned()),
            )
            .col_expr(review_task::Column::DecidedAt, Expr::value(now))
            .col_expr(review_task::Column::Note, Expr::value(task_note))
            .col_expr(review_task::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                review_task::Column::UpdatedBy,
                Expr::value(actor.to_owned()),
            )
            .filter(review_task::Column::Id.eq(task.id))
            .filter(review_task::Column::Status.eq(ReviewStatus::Open))
            .exec(txn)
            .await?;
        if closed.rows_affected == 0 {
            return Err(task_decided(task.id, task.status));
        }
    }
    changes.review_tasks_before = open_tasks;

    merge_event::ActiveModel {
        id: Set(merge_id),
        target_patient_id: Set(target_id),
        source_patient_id: Set(source_id),
        review_task_id: Set(req.review_task_id),
        actor: Set(actor.to_owned()),
        merged_at: Set(now),
        target_before: Set(json(&target)?),
        source_before: Set(json(&source)?),
        changes: Set(json(&changes)?),
        undone_at: Set(None),
        undone_by: Set(None),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
    .insert(txn)
    .await?;

    Ok(Applied {
        merge_id,
        target_before: target,
        source_before: source,
    })
}

pub(crate) fn task_decided(id: Uuid, status: ReviewStatus) -> Error {
    Error::Conflict {
        code: "task_decided",
        message: format!("review task {id} is already decided ({status})"),
        detail: Some(serde_json::json!({ "status": status })),
    }
}

/// Lower-cased text with runs of white space collapsed.
fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn norm_opt(s: &Option<String>) -> String {
    s.as_deref().map(norm).unwrap_or_default()
}

fn norm_list(list: &entity::json_list::StringList) -> Vec<String> {
    list.as_slice()
        .iter()
        .map(|s| norm(s))
        .filter(|s| !s.is_empty())
        .collect()
}

type NameKey = (String, Vec<String>, Vec<String>, Vec<String>);

fn name_key(n: &patient_name::Model) -> NameKey {
    (
        norm_opt(&n.family),
        norm_list(&n.given),
        norm_list(&n.prefix),
        norm_list(&n.suffix),
    )
}

fn identifier_key(i: &patient_identifier::Model) -> (String, String) {
    (norm(&i.system), i.value.trim().to_owned())
}

type AddressKey = (Vec<String>, String, String, String, String, String);

fn address_key(a: &patient_address::Model) -> AddressKey {
    (
        norm_list(&a.lines),
        norm_opt(&a.city),
        norm_opt(&a.district),
        norm_opt(&a.state),
        norm_opt(&a.postal_code).replace(' ', ""),
        norm_opt(&a.country),
    )
}

fn telecom_key(t: &patient_telecom::Model) -> (String, String) {
    use entity::enums::TelecomSystem;
    let value = match t.system {
        TelecomSystem::Phone | TelecomSystem::Fax | TelecomSystem::Sms | TelecomSystem::Pager => {
            t.value.chars().filter(|c| c.is_ascii_digit()).collect()
        }
        _ => norm(&t.value),
    };
    (t.system.as_str().to_owned(), value)
}

/// A language by its system and code, case ignored (a preference is not part of it: the
/// survivor keeps its own).
fn communication_key(c: &patient_communication::Model) -> (String, String) {
    (norm_opt(&c.language_system), norm(&c.language_code))
}

/// Copies the source's child rows whose content the target lacks onto the target.
async fn copy_missing(
    txn: &DatabaseTransaction,
    actor: &str,
    target: &PatientRecord,
    source: &PatientRecord,
    changes: &mut MergeChanges,
) -> Result<()> {
    let (target_id, source_id) = (target.patient.id, source.patient.id);

    let mut have: HashSet<NameKey> = target.names.iter().map(name_key).collect();
    for row in &source.names {
        if have.insert(name_key(row)) {
            let id = Uuid::now_v7();
            let mut am: patient_name::ActiveModel = row.clone().into();
            am = am.reset_all();
            am.id = Set(id);
            am.patient_id = Set(target_id);
            am.source_patient_id = Set(Some(source_id));
            am.is_primary = Set(false);
            am.created_at = NotSet;
            am.updated_at = NotSet;
            am.created_by = Set(actor.to_owned());
            am.updated_by = Set(actor.to_owned());
            am.insert(txn).await?;
            changes.names.push(id);
        }
    }

    let mut have: HashSet<(String, String)> =
        target.identifiers.iter().map(identifier_key).collect();
    for row in &source.identifiers {
        if have.insert(identifier_key(row)) {
            let id = Uuid::now_v7();
            let mut am: patient_identifier::ActiveModel = row.clone().into();
            am = am.reset_all();
            am.id = Set(id);
            am.patient_id = Set(target_id);
            am.source_patient_id = Set(Some(source_id));
            am.is_primary = Set(false);
            am.patient_live = Set(target.patient.identifiers_live());
            // A copy of an identifier the source shared with another record of its person
            // stays shared, now under the target's key (`patient_identifier::Model::link_key`).
            if !row.link_key.is_empty() {
                am.link_key = Set(target_id.to_string());
            }
            am.created_at = NotSet;
            am.updated_at = NotSet;
            am.created_by = Set(actor.to_owned());
            am.updated_by = Set(actor.to_owned());
            am.insert(txn).await?;
            changes.identifiers.push(id);
        }
    }

    let mut have: HashSet<AddressKey> = target.addresses.iter().map(address_key).collect();
    for row in &source.addresses {
        if have.insert(address_key(row)) {
            let id = Uuid::now_v7();
            let mut am: patient_address::ActiveModel = row.clone().into();
            am = am.reset_all();
            am.id = Set(id);
            am.patient_id = Set(target_id);
            am.source_patient_id = Set(Some(source_id));
            am.is_primary = Set(false);
            am.created_at = NotSet;
            am.updated_at = NotSet;
            am.created_by = Set(actor.to_owned());
            am.updated_by = Set(actor.to_owned());
            am.insert(txn).await?;
            changes.addresses.push(id);
        }
    }

    let mut have: HashSet<(String, String)> = target.telecoms.iter().map(telecom_key).collect();
    for row in &source.telecoms {
        if have.insert(telecom_key(row)) {
            let id = Uuid::now_v7();
            let mut am: patient_telecom::ActiveModel = row.clone().into();
            am = am.reset_all();
            am.id = Set(id);
            // Derived from the value, as every write of a telecom row derives it.
            am.digits_reversed = Set(crate::search_criteria::phone_digits_reversed(
                row.system, &row.value,
            ));
            am.patient_id = Set(target_id);
            am.source_patient_id = Set(Some(source_id));
            am.is_primary = Set(false);
            am.created_at = NotSet;
            am.updated_at = NotSet;
            am.created_by = Set(actor.to_owned());
            am.updated_by = Set(actor.to_owned());
            am.insert(txn).await?;
            changes.telecoms.push(id);
        }
    }

    let mut have: HashSet<(String, String)> = target
        .communications
        .iter()
        .map(communication_key)
        .collect();
    for row in &source.communications {
        if have.insert(communication_key(row)) {
            let id = Uuid::now_v7();
            let mut am: patient_communication::ActiveModel = row.clone().into();
            am = am.reset_all();
            am.id = Set(id);
            am.patient_id = Set(target_id);
            am.source_patient_id = Set(Some(source_id));
            am.is_primary = Set(false);
            // The survivor's own preference stands; a copied language is not preferred.
            am.preferred = Set(false);
            am.created_at = NotSet;
            am.updated_at = NotSet;
            am.created_by = Set(actor.to_owned());
            am.updated_by = Set(actor.to_owned());
            am.insert(txn).await?;
            changes.communications.push(id);
        }
    }
    Ok(())
}

/// Which merges to list. `page` is 1-based (0 counts as 1); `per_page` 0 means 20.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeFilter {
    /// Only merges this record took part in (as survivor or as retired record).
    pub patient_id: Option<Uuid>,
    /// `Some(false)`: only merges still in force; `Some(true)`: only undone ones.
    pub undone: Option<bool>,
    /// Page number from 1.
    pub page: u64,
    /// Page size.
    pub per_page: u64,
}

/// One merge as listed: who merged which record into which, and whether it was undone. The
/// before-images stay in the database (they are for undo, not for display).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MergeSummary {
    /// The merge's id (give it to [`undo`]).
    pub id: Uuid,
    /// The survivor.
    pub target: Uuid,
    /// The retired record.
    pub source: Uuid,
    /// The review task the merge decided, if any.
    pub review_task_id: Option<Uuid>,
    /// Who merged (key name).
    pub actor: String,
    /// When.
    pub merged_at: chrono::DateTime<chrono::FixedOffset>,
    /// When it was undone, if it was.
    pub undone_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Who undid it.
    pub undone_by: Option<String>,
}

impl From<merge_event::Model> for MergeSummary {
    fn from(e: merge_event::Model) -> MergeSummary {
        MergeSummary {
            id: e.id,
            target: e.target_patient_id,
            source: e.source_patient_id,
            review_task_id: e.review_task_id,
            actor: e.actor,
            merged_at: e.merged_at,
            undone_at: e.undone_at,
            undone_by: e.undone_by,
        }
    }
}

/// Lists merges, newest first: the stewards' recent merges (to undo one) and a patient's merge
/// history. Needs the `Read` permission; audited as a read (the merges' ids).
#[tracing::instrument(skip_all)]
pub async fn list(mpi: &Mpi, ctx: &Ctx, filter: MergeFilter) -> Result<crate::Page<MergeSummary>> {
    ctx.authorize(Action::Read)?;
    let (page, per_page) = crate::page_bounds(filter.page, filter.per_page)?;
    let txn = mpi.write_txn().await?;
    let mut query = merge_event::Entity::find();
    if let Some(id) = filter.patient_id {
        query = query.filter(
            Condition::any()
                .add(merge_event::Column::TargetPatientId.eq(id))
                .add(merge_event::Column::SourcePatientId.eq(id)),
        );
    }
    match filter.undone {
        Some(true) => query = query.filter(merge_event::Column::UndoneAt.is_not_null()),
        Some(false) => query = query.filter(merge_event::Column::UndoneAt.is_null()),
        None => {}
    }
    let total = query.clone().count(&*txn).await?;
    // Merge ids are UUIDv7 (time-ordered): the id breaks ties between merges of one instant.
    let items: Vec<MergeSummary> = query
        .order_by_desc(merge_event::Column::MergedAt)
        .order_by_desc(merge_event::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(&*txn)
        .await?
        .into_iter()
        .map(MergeSummary::from)
        .collect();
    let ids: Vec<String> = items.iter().map(|m| m.id.to_string()).collect();
    audit::record(
        &*txn,
        ctx,
        AuditEntry {
            action: "merge.list".to_owned(),
            entity_type: Some("merge".to_owned()),
            entity_id: None,
            before: Some(serde_json::json!({
                "patient_id": filter.patient_id,
                "undone": filter.undone,
                "page": page,
                "per_page": per_page,
            })),
            after: Some(serde_json::json!({ "merge_ids": ids, "total": total })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(crate::Page {
        items,
        total,
        page,
        per_page,
    })
}

fn undo_impossible(message: impl Into<String>) -> Error {
    Error::conflict("undo_impossible", message)
}

fn parse<T: serde::de::DeserializeOwned>(value: &serde_json::Value, what: &str) -> Result<T> {
    serde_json::from_value(value.clone()).map_err(|e| {
        Error::Db(sea_orm::DbErr::Custom(format!(
            "merge_event.{what} is unreadable: {e}"
        )))
    })
}

/// Undoes merge `merge_id`: both records back to their before-images (see the module docs for
/// the version rule), or `Conflict undo_impossible` with the reason. Audited; one transaction;
/// both records are refreshed in the matcher index after commit.
#[tracing::instrument(skip_all, fields(merge_id = %merge_id))]
pub async fn undo(mpi: &Mpi, ctx: &Ctx, merge_id: Uuid) -> Result<UndoOutcome> {
    ctx.authorize(Action::Undo)?;
    let txn = mpi.write_txn_for(ctx).await?;
    let actor = ctx.actor.name.as_str();
    let event = merge_event::Entity::find_by_id(merge_id)
        .one(&*txn)
        .await?
        .ok_or_else(|| Error::not_found("merge", merge_id))?;
    if event.undone_at.is_some() {
        return Err(undo_impossible(format!(
            "merge {merge_id} was already undone"
        )));
    }
    let target_before: PatientRecord = parse(&event.target_before, "target_before")?;
    let source_before: PatientRecord = parse(&event.source_before, "source_before")?;
    let changes: MergeChanges = parse(&event.changes, "changes")?;
    let (target_id, source_id) = (event.target_patient_id, event.source_patient_id);

    let target_now = PatientRecord::load(&*txn, target_id)
        .await?
        .ok_or_else(|| Error::not_found("patient", target_id))?;
    let source_now = PatientRecord::load(&*txn, source_id)
        .await?
        .ok_or_else(|| Error::not_found("patient", source_id))?;
    // The other merges the target took part in: a merge or an undo of one since this merge
    // moved the target's version by one each, and changed none of the fields this undo restores.
    let others: Vec<merge_event::Model> = merge_event::Entity::find()
        .filter(merge_event::Column::Id.ne(merge_id))
        .filter(
            Condition::any()
                .add(merge_event::Column::TargetPatientId.eq(target_id))
                .add(merge_event::Column::SourcePatientId.eq(target_id)),
        )
        .order_by_asc(merge_event::Column::MergedAt)
        .all(&*txn)
        .await?;
    if let Some(away) = others
        .iter()
        .find(|o| o.source_patient_id == target_id && o.undone_at.is_none())
    {
        return Err(undo_impossible(format!(
            "patient {target_id} was merged into {} since; undo that merge first",
            away.target_patient_id
        )));
    }
    let since =
        |t: &Option<chrono::DateTime<chrono::FixedOffset>>| t.is_some_and(|t| t >= event.merged_at);
    let merge_bumps = others
        .iter()
        .map(|o| i32::from(since(&Some(o.merged_at))) + i32::from(since(&o.undone_at)))
        .sum::<i32>();
    let target_expected = changes.target_version + merge_bumps;
    for (now, expected) in [
        (&target_now, target_expected),
        (&source_now, changes.source_version),
    ] {
        if now.patient.deleted_at.is_some() {
            return Err(undo_impossible(format!(
                "patient {} was deleted after the merge",
                now.patient.id
            )));
        }
        if now.patient.version != expected {
            return Err(undo_impossible(format!(
                "patient {} was changed after the merge (version {} is now {})",
                now.patient.id, expected, now.patient.version
            )));
        }
    }

    // The review tasks must still be as the merge left them.
    for before in &changes.review_tasks_before {
        let now = review_task::Entity::find_by_id(before.id)
            .one(&*txn)
            .await?;
        let unchanged = now.is_some_and(|t| {
            t.status == ReviewStatus::Merged
                && t.decided_by.as_deref() == Some(event.actor.as_str())
        });
        if !unchanged {
            return Err(undo_impossible(format!(
                "review task {} was changed after the merge",
                before.id
            )));
        }
    }

    // Rows the merge created: the survivor's copies first (before the source is live again).
    let deleted = patient_name::Entity::delete_many()
        .filter(patient_name::Column::Id.is_in(changes.names.clone()))
        .filter(patient_name::Column::PatientId.eq(target_id))
        .exec(&*txn)
        .await?
        .rows_affected
        + patient_identifier::Entity::delete_many()
            .filter(patient_identifier::Column::Id.is_in(changes.identifiers.clone()))
            .filter(patient_identifier::Column::PatientId.eq(target_id))
            .exec(&*txn)
            .await?
            .rows_affected
        + patient_address::Entity::delete_many()
            .filter(patient_address::Column::Id.is_in(changes.addresses.clone()))
            .filter(patient_address::Column::PatientId.eq(target_id))
            .exec(&*txn)
            .await?
            .rows_affected
        + patient_telecom::Entity::delete_many()
            .filter(patient_telecom::Column::Id.is_in(changes.telecoms.clone()))
            .filter(patient_telecom::Column::PatientId.eq(target_id))
            .exec(&*txn)
            .await?
            .rows_affected
        + patient_communication::Entity::delete_many()
            .filter(patient_communication::Column::Id.is_in(changes.communications.clone()))
            .filter(patient_communication::Column::PatientId.eq(target_id))
            .exec(&*txn)
            .await?
            .rows_affected
        + patient_link::Entity::delete_many()
            .filter(patient_link::Column::Id.is_in(changes.links.clone()))
            .exec(&*txn)
            .await?
            .rows_affected;
    let created = changes.names.len()
        + changes.identifiers.len()
        + changes.addresses.len()
        + changes.telecoms.len()
        + changes.communications.len()
        + changes.links.len();
    if deleted != created as u64 {
        return Err(undo_impossible(
            "rows the merge created were changed or removed since",
        ));
    }

    // Patient rows: the target first, then the source (reactivating it makes its identifiers
    // live again, now that the survivor's copies are gone).
    let now = Utc::now().fixed_offset();
    for (before, version) in [
        (&target_before.patient, target_expected),
        (&source_before.patient, changes.source_version),
    ] {
        let mut am: patient::ActiveModel = before.clone().into();
        am = am.reset_all();
        am.version = Set(version + 1);
        am.updated_at = Set(now);
        am.updated_by = Set(actor.to_owned());
        let restored = patient::Entity::update_many()
            .set(am)
            .filter(patient::Column::Id.eq(before.id))
            .filter(patient::Column::Version.eq(version))
            .exec(&*txn)
            .await?;
        if restored.rows_affected == 0 {
            return Err(concurrent_change(before.id));
        }
    }

    for before in &changes.review_tasks_before {
        let am: review_task::ActiveModel = before.clone().into();
        am.reset_all().update(&*txn).await?;
    }

    // A merge into the target made since, still in force, may have left out a row of its
    // source because the target had it then, as a copy from this merge: copy it now, as that
    // merge's own (its undo removes it).
    let mut all_changes = Vec::with_capacity(others.len());
    for other in &others {
        let mut its_changes: MergeChanges = parse(&other.changes, "changes")?;
        if other.target_patient_id != target_id || other.undone_at.is_some() {
            all_changes.push(its_changes);
            continue;
        }
        let target_now = PatientRecord::load(&*txn, target_id)
            .await?
            .ok_or_else(|| Error::not_found("patient", target_id))?;
        let its_source = PatientRecord::load(&*txn, other.source_patient_id)
            .await?
            .ok_or_else(|| Error::not_found("patient", other.source_patient_id))?;
        let copied_before = its_changes.copied();
        copy_missing(&txn, actor, &target_now, &its_source, &mut its_changes)
            .await
            .map_err(|e| match e {
                Error::Db(db) if db.sql_err().is_some() => undo_impossible(format!(
                    "a row of merge {} could not be kept on patient {target_id}",
                    other.id
                )),
                other => other,
            })?;
        if its_changes.copied() != copied_before {
            merge_event::Entity::update_many()
                .col_expr(
                    merge_event::Column::Changes,
                    Expr::value(json(&its_changes)?),
                )
                .filter(merge_event::Column::Id.eq(other.id))
                .exec(&*txn)
                .await?;
        }
        all_changes.push(its_changes);
    }

    // Anything the version checks could not see (e.g. a link from a third record) shows here.
    let target_after = PatientRecord::load(&*txn, target_id)
        .await?
        .ok_or_else(|| Error::not_found("patient", target_id))?;
    let source_after = PatientRecord::load(&*txn, source_id)
        .await?
        .ok_or_else(|| Error::not_found("patient", source_id))?;
    // The target is compared without the rows other merges made (those still in force keep
    // theirs; those undone since took theirs away).
    let target_after = without_rows_of(&target_after, &all_changes);
    let target_before = without_rows_of(&target_before, &all_changes);
    for (after, before) in [
        (&target_after, &target_before),
        (&source_after, &source_before),
    ] {
        if !same_except_version(after, before) {
            return Err(undo_impossible(format!(
                "patient {} was changed after the merge",
                before.patient.id
            )));
        }
    }

    merge_event::Entity::update_many()
        .col_expr(merge_event::Column::UndoneAt, Expr::value(now))
        .col_expr(merge_event::Column::UndoneBy, Expr::value(actor.to_owned()))
        .col_expr(merge_event::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            merge_event::Column::UpdatedBy,
            Expr::value(actor.to_owned()),
        )
        .filter(merge_event::Column::Id.eq(merge_id))
        .filter(merge_event::Column::UndoneAt.is_null())
        .exec(&*txn)
        .await?;

    let target = Patient::load_live(&*txn, target_id).await?;
    let source = Patient::load_live(&*txn, source_id).await?;
    for (id, before, after) in [
        (target_id, &target_now, &target),
        (source_id, &source_now, &source),
    ] {
        let entry = AuditEntry::new("merge.undo", "patient", Some(id.to_string()))
            .before(
                serde_json::json!({ "merge_id": merge_id.to_string(), "record": json(before)? }),
            )
            .after(json(after)?);
        audit::record(&*txn, ctx, entry).await?;
    }
    // The survivor gave the retired record's identifiers back: children resolved to it through
    // one of them follow the record holding it now.
    let given_back: Vec<(String, String)> = source_before
        .identifiers
        .iter()
        .map(|i| (i.system.clone(), i.value.clone()))
        .collect();
    crate::mothers::follow_holders(mpi, ctx, &*txn, target_id, &given_back).await?;
    txn.commit().await?;
    refresh_both(mpi, target_id, source_id).await;
    tracing::info!("merge undone");
    Ok(UndoOutcome { target, source })
}

/// `record` without the child rows and links that the merges of `changes` created.
fn without_rows_of(record: &PatientRecord, changes: &[MergeChanges]) -> PatientRecord {
    let made: HashSet<Uuid> = changes
        .iter()
        .flat_map(|c| {
            c.names
                .iter()
                .chain(&c.identifiers)
                .chain(&c.addresses)
                .chain(&c.telecoms)
                .chain(&c.communications)
                .chain(&c.links)
                .copied()
        })
        .collect();
    let mut out = record.clone();
    out.names.retain(|r| !made.contains(&r.id));
    out.identifiers.retain(|r| !made.contains(&r.id));
    out.addresses.retain(|r| !made.contains(&r.id));
    out.telecoms.retain(|r| !made.contains(&r.id));
    out.communications.retain(|r| !made.contains(&r.id));
    out.links.retain(|r| !made.contains(&r.id));
    out
}

/// Whether two records are equal in everything but the patient row's version, `updated_at` and
/// `updated_by` (which an undo sets anew). A telecom's `digits_reversed` is left out: it is
/// derived from the system and value compared beside it, and a before-image stored before
/// migration 23 added it reads as `None` where the row now holds the digits.
pub fn same_except_version(a: &PatientRecord, b: &PatientRecord) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.patient.version = b.patient.version;
    a.patient.updated_at = b.patient.updated_at;
    a.patient.updated_by = b.patient.updated_by.clone();
    for t in a.telecoms.iter_mut().chain(b.telecoms.iter_mut()) {
        t.digits_reversed = None;
    }
    a == b
}
