//! The data stewards' review queue: listing the tasks the matcher opened for possible
//! duplicates, showing one pair side by side with the model's explanation, and deciding it.
//!
//! A decision closes the task in the same transaction as its effect:
//! - `Merge { target }` merges the pair (the target defaults to the older record, by
//!   `created_at`, then the pair's first id) through [`crate::merge`], which closes the task as
//!   `merged` with the note;
//! - `Link` writes `seealso` links in both directions (an existing one is kept) and closes the
//!   task as `linked`;
//! - `NotDuplicate` closes the task as `not_duplicate`; the task stays as the pair's memory, so
//!   matching leaves the pair out (`pairs::not_duplicate_partners`) and registration never reopens
//!   it (`pairs::open_task`).
//!
//! Deciding a task that is not open answers `Conflict task_decided`; the closing `UPDATE` only
//! matches an open task, so of two concurrent decisions one wins.

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use entity::enums::{LinkType, ReviewStatus};
use entity::patient_ext::PatientRecord;
use entity::{patient_link, review_task};

use crate::audit::{self, AuditEntry};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::keys::Action;
use crate::merge::{self, MergeOutcome, MergeRequest};
use crate::patients::Patient;
use crate::{Mpi, Page, links, page_bounds};

/// Which tasks to list. `None` fields do not filter; `page` is 1-based (0 counts as 1) and
/// `per_page` 0 means 20. Scores are match probabilities in `0..=1`, both bounds inclusive;
/// `from` (inclusive) and `to` (exclusive) bound when the task was opened.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReviewFilter {
    /// Only tasks with this status.
    pub status: Option<ReviewStatus>,
    /// Only tasks scoring at least this.
    pub min_score: Option<f64>,
    /// Only tasks scoring at most this.
    pub max_score: Option<f64>,
    /// Only tasks opened at or after this time.
    pub from: Option<DateTime<FixedOffset>>,
    /// Only tasks opened before this time.
    pub to: Option<DateTime<FixedOffset>>,
    /// Page number from 1.
    pub page: u64,
    /// Page size.
    pub per_page: u64,
}

/// One page of the queue, highest score first, and the number of open tasks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReviewPage {
    /// The tasks on this page.
    pub tasks: Page<review_task::Model>,
    /// How many tasks are open in the whole queue (whatever the filter).
    pub queue_depth: u64,
    /// The records of the page's tasks (both sides, each once), as stored, so the queue can
    /// show the names and birth dates the stewards will see on the task itself.
    pub records: Vec<PatientRecord>,
}

/// One task with both records side by side and the model's explanation of their score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReviewTaskView {
    /// The task.
    pub task: review_task::Model,
    /// The record `task.patient_a`.
    pub a: Patient,
    /// The record `task.patient_b`.
    pub b: Patient,
    /// Why the pair scores what it scores, recomputed by the current model from both records.
    pub explanation: matcher::Explanation,
}

/// What the steward decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecisionAction {
    /// The two records are the same person: merge them into `target` (one of the pair; `None`
    /// picks the older record).
    Merge {
        /// The survivor.
        target: Option<Uuid>,
    },
    /// The same person, but both records stay in use: `seealso` links both ways.
    Link,
    /// Not the same person: never propose the pair again.
    NotDuplicate,
}

/// A decision with the steward's note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub action: DecisionAction,
    /// Why (kept on the task).
    pub note: Option<String>,
}

/// The result of a decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DecisionOutcome {
    /// The task as it is now (decided).
    pub task: review_task::Model,
    /// The merge, for a merge decision.
    pub merge: Option<MergeOutcome>,
    /// The links written, for a link decision (an already existing direction is not repeated).
    pub links: Vec<patient_link::Model>,
}

/// Lists review tasks by score, highest first (then oldest first), with the records of both
/// sides. Audited as a read (task and patient ids).
#[tracing::instrument(skip_all)]
pub async fn list(mpi: &Mpi, ctx: &Ctx, filter: ReviewFilter) -> Result<ReviewPage> {
    ctx.authorize(Action::Review)?;
    for (field, value) in [
        ("min_score", filter.min_score),
        ("max_score", filter.max_score),
    ] {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            return Err(Error::validation(field, "must be between 0 and 1"));
        }
    }
    if let (Some(min), Some(max)) = (filter.min_score, filter.max_score)
        && min > max
    {
        return Err(Error::validation("min_score", "must not exceed max_score"));
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from >= to
    {
        return Err(Error::validation("from", "must be before to"));
    }
    let (page, per_page) = page_bounds(filter.page, filter.per_page)?;
    let txn = mpi.write_txn().await?;
    let mut query = review_task::Entity::find();
    if let Some(status) = filter.status {
        query = query.filter(review_task::Column::Status.eq(status));
    }
    if let Some(min) = filter.min_score {
        query = query.filter(review_task::Column::Probability.gte(min));
    }
    if let Some(max) = filter.max_score {
        query = query.filter(review_task::Column::Probability.lte(max));
    }
    // Compared in UTC: SQLite stores timestamps as UTC RFC 3339 text.
    if let Some(from) = filter.from {
        query = query.filter(review_task::Column::CreatedAt.gte(utc(from)));
    }
    if let Some(to) = filter.to {
        query = query.filter(review_task::Column::CreatedAt.lt(utc(to)));
    }
    let total = query.clone().count(&*txn).await?;
    let items = query
        .order_by_desc(review_task::Column::Probability)
        .order_by_asc(review_task::Column::CreatedAt)
        .order_by_asc(review_task::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(&*txn)
        .await?;
    let queue_depth = queue_depth(&*txn).await?;
    let mut patient_ids: Vec<Uuid> = items
        .iter()
        .flat_map(|t| [t.patient_a, t.patient_b])
        .collect();
    patient_ids.sort_unstable();
    patient_ids.dedup();
    let records = PatientRecord::load_many(&*txn, &patient_ids).await?;
    let ids: Vec<String> = items.iter().map(|t| t.id.to_string()).collect();
    audit::record(
        &*txn,
        ctx,
        AuditEntry {
            action: "review.list".to_owned(),
            entity_type: Some("review_task".to_owned()),
            entity_id: None,
            before: Some(serde_json::json!({
                "status": filter.status,
                "min_score": filter.min_score,
                "max_score": filter.max_score,
                "from": filter.from,
                "to": filter.to,
                "page": page,
                "per_page": per_page,
            })),
            after: Some(serde_json::json!({
                "task_ids": ids,
                "total": total,
                "patient_ids": patient_ids,
            })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(ReviewPage {
        tasks: Page {
            items,
            total,
            page,
            per_page,
        },
        queue_depth,
        records,
    })
}

fn utc(t: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    t.with_timezone(&Utc).fixed_offset()
}

/// The number of open review tasks.
pub async fn queue_depth<C: ConnectionTrait>(db: &C) -> Result<u64> {
    Ok(review_task::Entity::find()
        .filter(review_task::Column::Status.eq(ReviewStatus::Open))
        .count(db)
        .await?)
}

/// One task with both records and the explanation. Audited as a read of both patients.
#[tracing::instrument(skip_all, fields(task_id = %id))]
pub async fn get(mpi: &Mpi, ctx: &Ctx, id: Uuid) -> Result<ReviewTaskView> {
    ctx.authorize(Action::Review)?;
    let txn = mpi.write_txn().await?;
    let task = find_task(&*txn, id).await?;
    let a = load_any(&*txn, task.patient_a).await?;
    let b = load_any(&*txn, task.patient_b).await?;
    let explanation = {
        let left = matcher::normalize(&crate::convert::person_from_record(&a.record));
        let right = matcher::normalize(&crate::convert::person_from_record(&b.record));
        mpi.model().explain(&left, &right)
    };
    audit::record(
        &*txn,
        ctx,
        AuditEntry::new("review.read", "review_task", Some(id.to_string())).after(
            serde_json::json!({ "patient_ids": [task.patient_a.to_string(), task.patient_b.to_string()] }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(ReviewTaskView {
        task,
        a,
        b,
        explanation,
    })
}

async fn find_task<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<review_task::Model> {
    review_task::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("review_task", id))
}

/// A patient of a task, whatever its state (a task can outlive a merge or a soft delete).
async fn load_any<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Patient> {
    PatientRecord::load(db, id)
        .await?
        .map(Patient::from_record)
        .ok_or_else(|| Error::not_found("patient", id))
}

/// Decides an open task. Audited; one transaction (a merge decision merges and closes the task
/// together); a merge refreshes the matcher index for both records after commit.
#[tracing::instrument(skip_all, fields(task_id = %id))]
pub async fn decide(mpi: &Mpi, ctx: &Ctx, id: Uuid, decision: Decision) -> Result<DecisionOutcome> {
    ctx.authorize(Action::Review)?;
    if matches!(decision.action, DecisionAction::Merge { .. }) {
        ctx.authorize(Action::Merge)?;
    }
    let txn = mpi.write_txn_for(ctx).await?;
    let before = find_task(&*txn, id).await?;
    if before.status != ReviewStatus::Open {
        return Err(merge::task_decided(id, before.status));
    }
    let (a, b) = (before.patient_a, before.patient_b);
    let mut outcome = DecisionOutcome {
        task: before.clone(),
        merge: None,
        links: Vec::new(),
    };
    match decision.action {
        DecisionAction::Merge { target } => {
            let target = match target {
                Some(t) if t == a || t == b => t,
                Some(_) => {
                    return Err(Error::validation(
                        "target",
                        "the target must be one of the task's two patients",
                    ));
                }
                None => older_of(&*txn, a, b).await?,
            };
            let source = if target == a { b } else { a };
            let request = MergeRequest {
                target,
                source,
                preview: false,
                review_task_id: Some(id),
            };
            merge::check_source_authority(mpi, ctx, &*txn, &request).await?;
            outcome.merge =
                Some(merge::merge_in_txn(mpi, &txn, ctx, &request, decision.note.clone()).await?);
        }
        DecisionAction::Link => {
            for (from, to) in [(a, b), (b, a)] {
                match links::create_in_txn(
                    &*txn,
                    ctx,
                    from,
                    to,
                    LinkType::SeeAlso,
                    Some(format!("review task {id}")),
                )
                .await
                {
                    Ok(link) => outcome.links.push(link),
                    Err(Error::Conflict {
                        code: "duplicate_link",
                        ..
                    }) => {}
                    Err(e) => return Err(e),
                }
            }
            close(&*txn, ctx, id, ReviewStatus::Linked, decision.note.clone()).await?;
        }
        DecisionAction::NotDuplicate => {
            close(
                &*txn,
                ctx,
                id,
                ReviewStatus::NotDuplicate,
                decision.note.clone(),
            )
            .await?;
        }
    }
    outcome.task = find_task(&*txn, id).await?;
    // Audit rows last: every row write of this transaction is done (see links::create_in_txn).
    for link in &outcome.links {
        links::audit_created(&*txn, ctx, link).await?;
    }
    audit::record(
        &*txn,
        ctx,
        AuditEntry::new("review.decide", "review_task", Some(id.to_string()))
            .before(audit::json(&before))
            .after(audit::json(&outcome.task)),
    )
    .await?;
    txn.commit().await?;
    if let Some(m) = &outcome.merge {
        merge::refresh_both(mpi, m.target.id(), m.source.id()).await;
    }
    Ok(outcome)
}

/// The record created first (ties: the smaller id).
async fn older_of<C: ConnectionTrait>(db: &C, a: Uuid, b: Uuid) -> Result<Uuid> {
    let (pa, pb) = (load_any(db, a).await?, load_any(db, b).await?);
    let key = |p: &Patient| (p.record.patient.created_at, p.id());
    Ok(if key(&pb) < key(&pa) { b } else { a })
}

/// Closes an open task; 0 rows (someone decided it meanwhile) -> `Conflict task_decided`.
async fn close<C: ConnectionTrait>(
    db: &C,
    ctx: &Ctx,
    id: Uuid,
    status: ReviewStatus,
    note: Option<String>,
) -> Result<()> {
    let now = Utc::now().fixed_offset();
    let actor = ctx.actor.name.clone();
    let closed = review_task::Entity::update_many()
        .col_expr(review_task::Column::Status, Expr::value(status.as_str()))
        .col_expr(review_task::Column::DecidedBy, Expr::value(actor.clone()))
        .col_expr(review_task::Column::DecidedAt, Expr::value(now))
        .col_expr(review_task::Column::Note, Expr::value(note))
        .col_expr(review_task::Column::UpdatedAt, Expr::value(now))
        .col_expr(review_task::Column::UpdatedBy, Expr::value(actor))
        .filter(review_task::Column::Id.eq(id))
        .filter(review_task::Column::Status.eq(ReviewStatus::Open))
        .exec(db)
        .await?;
    if closed.rows_affected == 0 {
        let now = find_task(db, id).await?;
        return Err(merge::task_decided(id, now.status));
    }
    Ok(())
}
