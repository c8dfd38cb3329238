//! `POST /api/v1/merges` (merge or preview), `GET /api/v1/merges` (recent merges, a patient's
//! merge history) and `POST /api/v1/merges/{id}/undo`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use service::merge::{self, MergeFilter, MergeRequest};

use crate::auth::Caller;
use crate::dto::{MergeEventDto, PageDto, PatientDto};
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

/// Body of `POST /merges`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeBody {
    /// The survivor.
    pub target: Uuid,
    /// The record retired into the survivor.
    pub source: Uuid,
    /// Only show the result; change nothing.
    #[serde(default)]
    pub preview: bool,
    /// The review task this merge decides, if any.
    #[serde(default)]
    pub review_task_id: Option<Uuid>,
}

/// The merge (or its preview): both records as they are after it.
#[derive(Serialize, ToSchema)]
pub(crate) struct MergeAnswer {
    merge_id: Option<Uuid>,
    preview: bool,
    target: PatientDto,
    source: PatientDto,
}

/// Both records as restored.
#[derive(Serialize, ToSchema)]
pub(crate) struct UndoAnswer {
    merge_id: Uuid,
    target: PatientDto,
    source: PatientDto,
}

/// `POST /api/v1/merges`.
#[utoipa::path(operation_id = "merge_patients", post, path = "/api/v1/merges", tag = "merges", request_body = MergeBody,
    responses((status = 200, description = "Merged (`merge_id` set) or previewed (`merge_id` null, nothing changed)", body = MergeAnswer),
        (status = 409, description = "`already_merged` (detail.replaced_by names the survivor), `inactive`, `concurrent_change`", body = ErrorBody),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 404, description = "No such record", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: crate::extract::Json<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    let outcome = merge::merge(
        &caller.mpi,
        &caller.ctx,
        MergeRequest {
            target: body.target,
            source: body.source,
            preview: body.preview,
            review_task_id: body.review_task_id,
        },
    )
    .await?;
    if outcome.merge_id.is_some() {
        state.metrics.merges.inc();
    }
    Ok(HttpResponse::Ok().json(MergeAnswer {
        merge_id: outcome.merge_id,
        preview: body.preview,
        target: PatientDto::from(&outcome.target),
        source: PatientDto::from(&outcome.source),
    }))
}

/// `POST /api/v1/merges/{id}/undo`.
#[utoipa::path(operation_id = "undo_merge", post, path = "/api/v1/merges/{id}/undo", tag = "merges", params(("id" = Uuid, Path, description = "The merge's id")),
    responses((status = 200, description = "Both records restored", body = UndoAnswer),
        (status = 409, description = "`undo_impossible`: undone already, or a record changed since", body = ErrorBody),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 404, description = "No such record", body = ErrorBody)))]
pub async fn undo(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let outcome = merge::undo(&caller.mpi, &caller.ctx, *id).await?;
    state.metrics.undos.inc();
    Ok(HttpResponse::Ok().json(UndoAnswer {
        merge_id: *id,
        target: PatientDto::from(&outcome.target),
        source: PatientDto::from(&outcome.source),
    }))
}

/// Query of `GET /merges`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only merges this record took part in (as survivor or as retired record).
    pub patient_id: Option<Uuid>,
    /// `false`: only merges still in force; `true`: only undone ones.
    pub undone: Option<bool>,
    /// Page, from 1.
    pub page: Option<u64>,
    /// Page size (default 20, at most 500).
    pub per_page: Option<u64>,
}

/// `GET /api/v1/merges`: newest first.
#[utoipa::path(operation_id = "list_merges", get, path = "/api/v1/merges", tag = "merges", params(ListQuery),
    responses((status = 200, description = "One page of merges, newest first", body = PageDto<MergeEventDto>),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody)))]
pub async fn list(caller: Caller, query: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let found = merge::list(
        &caller.mpi,
        &caller.ctx,
        MergeFilter {
            patient_id: query.patient_id,
            undone: query.undone,
            page: query.page.unwrap_or(1),
            per_page: query.per_page.unwrap_or(20),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(PageDto {
        items: found.items.iter().map(MergeEventDto::from).collect(),
        total: found.total,
        page: found.page,
        per_page: found.per_page,
    }))
}
