//! `POST /api/v1/merges` (merge or preview) and `POST /api/v1/merges/{id}/undo`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use service::merge::{self, MergeRequest};

use crate::auth::Caller;
use crate::dto::PatientDto;
use crate::error::ApiError;
use crate::startup::AppState;

/// Body of `POST /merges`.
#[derive(Debug, Deserialize)]
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

#[derive(Serialize)]
struct MergeAnswer {
    merge_id: Option<Uuid>,
    preview: bool,
    target: PatientDto,
    source: PatientDto,
}

#[derive(Serialize)]
struct UndoAnswer {
    merge_id: Uuid,
    target: PatientDto,
    source: PatientDto,
}

/// `POST /api/v1/merges`.
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<MergeBody>,
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
