//! `/api/v1/review-tasks`: the stewards' queue, one task side by side, and decisions.

use actix_web::{HttpResponse, web};
use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use entity::review_task;
use service::patients::{Patient, parse_code};
use service::review::{self, Decision, DecisionAction, ReviewFilter};

use crate::auth::Caller;
use crate::dto::{LinkDto, NameDto, PatientDto, ReviewTaskDto};
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

/// Query of `GET /review-tasks`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ListQuery {
    /// `open`, `merged`, `linked`, `not_duplicate`.
    pub status: Option<String>,
    /// Only tasks scoring at least this probability.
    pub min_score: Option<f64>,
    /// Only tasks scoring at most this probability.
    pub max_score: Option<f64>,
    /// Only tasks opened at or after this time (RFC 3339).
    pub from: Option<DateTime<FixedOffset>>,
    /// Only tasks opened before this time (RFC 3339).
    pub to: Option<DateTime<FixedOffset>>,
    /// Page, from 1.
    pub page: Option<u64>,
    /// Page size (default 20).
    pub per_page: Option<u64>,
}

/// One page of tasks, highest score first, and the number of open tasks.
#[derive(Serialize, ToSchema)]
pub(crate) struct ListAnswer {
    items: Vec<QueueItemDto>,
    total: u64,
    page: u64,
    per_page: u64,
    queue_depth: u64,
}

/// One side of a queue row: the record's first name and birth date as stored (not as the
/// matcher normalized them).
#[derive(Serialize, ToSchema)]
pub(crate) struct QueueRecordDto {
    /// The record.
    id: Uuid,
    /// Its first name as stored (`names[0]` of the record), if it has one.
    name: Option<NameDto>,
    /// Its birth date (`YYYY-MM-DD`, or `YYYY-MM` / `YYYY` when only that much is known).
    birth_date: Option<String>,
    /// False once merged away or deleted.
    active: bool,
}

/// One comparison of a queue row's score: which field, how it came out, what it weighed.
#[derive(Serialize, ToSchema)]
pub(crate) struct ComparisonSummaryDto {
    /// The comparison (`family_name`, `birth_date`, `identifier`, ...).
    comparison: String,
    /// Its level (`exact`, `jaro_winkler_high`, `different`, ...).
    level: String,
    /// The weight it added, in bits (negative when it speaks against a match).
    weight: f64,
}

/// How many comparisons a queue row lists on each side.
const STRONGEST: usize = 2;

/// A task in the queue: the task, both records as stored, and why the pair is there: the
/// comparisons that weighed most for and against a match when the task was opened.
#[derive(Serialize, ToSchema)]
pub(crate) struct QueueItemDto {
    #[serde(flatten)]
    task: ReviewTaskDto,
    /// The record `patient_a`.
    a: Option<QueueRecordDto>,
    /// The record `patient_b`.
    b: Option<QueueRecordDto>,
    /// The comparisons that agreed most (positive weight), strongest first, at most two.
    strongest_agreeing: Vec<ComparisonSummaryDto>,
    /// The comparisons that disagreed most (negative weight), strongest first, at most two.
    strongest_disagreeing: Vec<ComparisonSummaryDto>,
}

impl QueueItemDto {
    fn new(task: &review_task::Model, records: &HashMap<Uuid, PatientDto>) -> QueueItemDto {
        let side = |id: Uuid| {
            records.get(&id).map(|p| QueueRecordDto {
                id,
                name: p.names.first().cloned(),
                birth_date: p.birth_date.clone(),
                active: p.active,
            })
        };
        // The breakdown is the explanation stored when the task was opened.
        let mut comparisons: Vec<ComparisonSummaryDto> = task.breakdown["comparisons"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|c| {
                        Some(ComparisonSummaryDto {
                            comparison: c["comparison"].as_str()?.to_owned(),
                            level: c["level"].as_str()?.to_owned(),
                            weight: c["weight"].as_f64().filter(|w| w.is_finite())?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        comparisons.sort_by(|x, y| y.weight.total_cmp(&x.weight));
        let strongest_agreeing = comparisons
            .iter()
            .filter(|c| c.weight > 0.0)
            .take(STRONGEST)
            .map(ComparisonSummaryDto::copy)
            .collect();
        let strongest_disagreeing = comparisons
            .iter()
            .rev()
            .filter(|c| c.weight < 0.0)
            .take(STRONGEST)
            .map(ComparisonSummaryDto::copy)
            .collect();
        QueueItemDto {
            task: ReviewTaskDto::from(task),
            a: side(task.patient_a),
            b: side(task.patient_b),
            strongest_agreeing,
            strongest_disagreeing,
        }
    }
}

impl ComparisonSummaryDto {
    fn copy(&self) -> ComparisonSummaryDto {
        ComparisonSummaryDto {
            comparison: self.comparison.clone(),
            level: self.level.clone(),
            weight: self.weight,
        }
    }
}

/// `GET /api/v1/review-tasks`: highest score first.
#[utoipa::path(operation_id = "list_review_tasks", get, path = "/api/v1/review-tasks", tag = "review", params(ListQuery),
    responses((status = 200, description = "One page of tasks", body = ListAnswer),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = match query.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(parse_code("status", s)?),
    };
    let found = review::list(
        &caller.mpi,
        &caller.ctx,
        ReviewFilter {
            status,
            min_score: query.min_score,
            max_score: query.max_score,
            from: query.from,
            to: query.to,
            page: query.page.unwrap_or(1),
            per_page: query.per_page.unwrap_or(20),
        },
    )
    .await?;
    state
        .metrics
        .review_queue_depth
        .set(found.queue_depth as i64);
    Ok(HttpResponse::Ok().json(ListAnswer {
        items: {
            let records: HashMap<Uuid, PatientDto> = found
                .records
                .into_iter()
                .map(|r| (r.patient.id, PatientDto::from(&Patient::from_record(r))))
                .collect();
            found
                .tasks
                .items
                .iter()
                .map(|t| QueueItemDto::new(t, &records))
                .collect()
        },
        total: found.tasks.total,
        page: found.tasks.page,
        per_page: found.tasks.per_page,
        queue_depth: found.queue_depth,
    }))
}

/// A task with both records side by side and the model's explanation.
#[derive(Serialize, ToSchema)]
pub(crate) struct TaskAnswer {
    task: ReviewTaskDto,
    a: PatientDto,
    b: PatientDto,
    #[schema(value_type = Object)]
    explanation: matcher::Explanation,
}

/// `GET /api/v1/review-tasks/{id}`: both records and the model's explanation.
#[utoipa::path(operation_id = "get_review_task", get, path = "/api/v1/review-tasks/{id}", tag = "review", params(("id" = Uuid, Path, description = "The task's id")),
    responses((status = 200, description = "The task side by side", body = TaskAnswer),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 404, description = "No such record", body = ErrorBody)))]
pub async fn get(caller: Caller, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let view = review::get(&caller.mpi, &caller.ctx, *id).await?;
    Ok(HttpResponse::Ok().json(TaskAnswer {
        task: ReviewTaskDto::from(&view.task),
        a: PatientDto::from(&view.a),
        b: PatientDto::from(&view.b),
        explanation: view.explanation,
    }))
}

/// Body of `POST /review-tasks/{id}/decision`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DecisionBody {
    /// `merge`, `link` or `not_duplicate`.
    pub action: String,
    /// Why.
    #[serde(default)]
    pub note: Option<String>,
    /// For `merge`: the survivor (one of the pair; default the older record).
    #[serde(default)]
    pub target: Option<Uuid>,
}

/// The merge a `merge` decision made.
#[derive(Serialize, ToSchema)]
pub(crate) struct MergeSummary {
    merge_id: Option<Uuid>,
    target: PatientDto,
    source: PatientDto,
}

/// The decided task and what the decision did.
#[derive(Serialize, ToSchema)]
pub(crate) struct DecisionAnswer {
    task: ReviewTaskDto,
    merge: Option<MergeSummary>,
    links: Vec<LinkDto>,
}

/// `POST /api/v1/review-tasks/{id}/decision`.
#[utoipa::path(operation_id = "decide_review_task", post, path = "/api/v1/review-tasks/{id}/decision", tag = "review", params(("id" = Uuid, Path, description = "The task's id")),
    request_body = DecisionBody,
    responses((status = 200, description = "Decided", body = DecisionAnswer),
        (status = 409, description = "Decided already, or the merge conflicts", body = ErrorBody),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 404, description = "No such record", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn decide(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: crate::extract::Json<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let action = match body.action.trim() {
        "merge" => DecisionAction::Merge {
            target: body.target,
        },
        "link" => DecisionAction::Link,
        "not_duplicate" => DecisionAction::NotDuplicate,
        _ => {
            return Err(ApiError::InvalidValue {
                message: "action: must be merge, link or not_duplicate".to_owned(),
                field: Some("action".to_owned()),
            });
        }
    };
    let outcome = review::decide(
        &caller.mpi,
        &caller.ctx,
        *id,
        Decision {
            action,
            note: body.note,
        },
    )
    .await?;
    if outcome.merge.as_ref().is_some_and(|m| m.merge_id.is_some()) {
        state.metrics.merges.inc();
    }
    Ok(HttpResponse::Ok().json(DecisionAnswer {
        task: ReviewTaskDto::from(&outcome.task),
        merge: outcome.merge.as_ref().map(|m| MergeSummary {
            merge_id: m.merge_id,
            target: PatientDto::from(&m.target),
            source: PatientDto::from(&m.source),
        }),
        links: outcome.links.iter().map(LinkDto::from).collect(),
    }))
}
