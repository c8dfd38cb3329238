//! Pairs of patients the matcher proposed: opening review tasks (one per unordered pair, never
//! reopened once decided) and the `not_duplicate` partners matching must leave out.

use std::collections::HashSet;

use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition,
    ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use entity::enums::ReviewStatus;
use entity::pair::ordered_pair;
use entity::review_task;

use crate::{Ctx, Result};

/// Opens a review task for the unordered pair {a, b} inside `txn`, written by `ctx`'s actor.
///
/// Idempotent per pair: when an open task exists its score is refreshed and its id returned;
/// when a decided task exists (merged, linked, not_duplicate) nothing is written and `None`
/// comes back, so a decided pair is never reopened.
pub async fn open_task<C: ConnectionTrait>(
    txn: &C,
    ctx: &Ctx,
    a: Uuid,
    b: Uuid,
    probability: f64,
    match_weight: f64,
    breakdown: Value,
) -> Result<Option<Uuid>> {
    let actor = ctx.actor.name.as_str();
    let (first, second) = ordered_pair(a, b);
    if first == second {
        return Ok(None);
    }
    if let Some(task) = review_task::Entity::find_by_pair(first, second)
        .one(txn)
        .await?
    {
        if task.status != ReviewStatus::Open {
            return Ok(None);
        }
        let id = task.id;
        let score = TaskScore {
            probability,
            match_weight,
            breakdown,
        };
        rescored_task(task, score, actor, chrono::Utc::now().fixed_offset())
            .update(txn)
            .await?;
        return Ok(Some(id));
    }
    let task = new_task(
        (first, second),
        TaskScore {
            probability,
            match_weight,
            breakdown,
        },
        actor,
    );
    let id = task.id.clone().unwrap();
    task.insert(txn).await?;
    Ok(Some(id))
}

/// Opens a review task between `new`, a record registered in the calling transaction, and each
/// of `others` (patient, probability, match weight, breakdown), in one statement: no task can
/// involve a record that did not exist before, so none is looked up first, and nothing is read
/// back. Answers the tasks' ids in the order of `others`.
pub async fn open_tasks_for_new<C: ConnectionTrait>(
    txn: &C,
    ctx: &Ctx,
    new: Uuid,
    others: Vec<(Uuid, f64, f64, Value)>,
) -> Result<Vec<Uuid>> {
    let actor = ctx.actor.name.as_str();
    let tasks: Vec<review_task::ActiveModel> = others
        .into_iter()
        .filter(|(other, ..)| *other != new)
        .map(|(other, probability, match_weight, breakdown)| {
            let score = TaskScore {
                probability,
                match_weight,
                breakdown,
            };
            new_task(ordered_pair(new, other), score, actor)
        })
        .collect();
    let ids: Vec<Uuid> = tasks.iter().filter_map(|t| t.id.clone().take()).collect();
    if !tasks.is_empty() {
        review_task::Entity::insert_many(tasks)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(ids)
}

/// What the matcher said about a pair, as a review task stores it.
pub(crate) struct TaskScore {
    pub probability: f64,
    pub match_weight: f64,
    pub breakdown: Value,
}

/// A new open review task for the ordered pair `(first, second)`, written by `actor`.
pub(crate) fn new_task(
    (first, second): (Uuid, Uuid),
    score: TaskScore,
    actor: &str,
) -> review_task::ActiveModel {
    review_task::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_a: Set(first),
        patient_b: Set(second),
        probability: Set(score.probability),
        match_weight: Set(score.match_weight),
        breakdown: Set(score.breakdown),
        status: Set(ReviewStatus::Open),
        decided_by: Set(None),
        decided_at: Set(None),
        note: Set(None),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
}

/// An open review task with a fresh score, updated by `actor` at `now`.
pub(crate) fn rescored_task(
    task: review_task::Model,
    score: TaskScore,
    actor: &str,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> review_task::ActiveModel {
    let mut am: review_task::ActiveModel = task.into();
    am.probability = Set(score.probability);
    am.match_weight = Set(score.match_weight);
    am.breakdown = Set(score.breakdown);
    am.updated_at = Set(now);
    am.updated_by = Set(actor.to_owned());
    am
}

/// The patients that a data steward has judged not to be the same person as `id`.
pub async fn not_duplicate_partners<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<HashSet<Uuid>> {
    let rows: Vec<(Uuid, Uuid)> = review_task::Entity::find()
        .select_only()
        .column(review_task::Column::PatientA)
        .column(review_task::Column::PatientB)
        .filter(review_task::Column::Status.eq(ReviewStatus::NotDuplicate))
        .filter(
            Condition::any()
                .add(review_task::Column::PatientA.eq(id))
                .add(review_task::Column::PatientB.eq(id)),
        )
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(a, b)| if a == id { b } else { a })
        .collect())
}
