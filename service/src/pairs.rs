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
        let mut am: review_task::ActiveModel = task.into();
        am.probability = Set(probability);
        am.match_weight = Set(match_weight);
        am.breakdown = Set(breakdown);
        am.updated_at = Set(chrono::Utc::now().fixed_offset());
        am.updated_by = Set(actor.to_owned());
        am.update(txn).await?;
        return Ok(Some(id));
    }
    let id = Uuid::new_v4();
    review_task::ActiveModel {
        id: Set(id),
        patient_a: Set(first),
        patient_b: Set(second),
        probability: Set(probability),
        match_weight: Set(match_weight),
        breakdown: Set(breakdown),
        status: Set(ReviewStatus::Open),
        decided_by: Set(None),
        decided_at: Set(None),
        note: Set(None),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
    .insert(txn)
    .await?;
    Ok(Some(id))
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
