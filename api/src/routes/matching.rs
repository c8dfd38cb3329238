//! `POST /api/v1/match`: ranked candidates for demographics.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use service::matching::{self, MatchOptions};

use crate::auth::ReadCaller;
use crate::dto::{CandidateDto, PatientBody};
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

/// Largest `limit` a caller may ask for.
pub const MAX_LIMIT: usize = 100;

/// Body of `POST /match`: demographics (the patient shape, partial is fine) and options.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MatchBody {
    /// The demographics to match.
    #[serde(flatten)]
    pub patient: PatientBody,
    /// At most this many candidates (default 10, at most 100).
    pub limit: Option<usize>,
    /// Leave out candidates below this probability (default: the model's possible threshold).
    pub min_probability: Option<f64>,
    /// The stored record these demographics belong to, if any: it and every record a steward
    /// judged `not_duplicate` with it are left out.
    pub patient_id: Option<uuid::Uuid>,
}

/// Ranked candidates, best first.
#[derive(Serialize, ToSchema)]
pub(crate) struct MatchAnswer {
    candidates: Vec<CandidateDto>,
}

/// `POST /api/v1/match`.
#[utoipa::path(operation_id = "match_demographics", post, path = "/api/v1/match", tag = "matching", request_body = MatchBody,
    responses((status = 200, description = "Candidates with probability, weight, grade and explanation", body = MatchAnswer),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn find(
    ReadCaller(caller): ReadCaller,
    state: web::Data<AppState>,
    body: crate::extract::Json<MatchBody>,
) -> Result<HttpResponse, ApiError> {
    let limit = body.limit.unwrap_or(10);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::InvalidValue {
            message: format!("limit: must be between 1 and {MAX_LIMIT}"),
            field: Some("limit".to_owned()),
        });
    }
    if let Some(p) = body.min_probability
        && !(0.0..=1.0).contains(&p)
    {
        return Err(ApiError::InvalidValue {
            message: "min_probability: must be between 0 and 1".to_owned(),
            field: Some("min_probability".to_owned()),
        });
    }
    let input = body.patient.to_input()?;
    let started = Instant::now();
    let found = matching::find_matches_for_input(
        &caller.mpi,
        &caller.ctx,
        &input,
        MatchOptions {
            limit,
            min_probability: body.min_probability,
            exclude: body.patient_id,
        },
    )
    .await?;
    state
        .metrics
        .match_duration
        .observe(started.elapsed().as_secs_f64());
    state.metrics.match_candidates.observe(found.len() as f64);
    Ok(HttpResponse::Ok().json(MatchAnswer {
        candidates: found.iter().map(CandidateDto::from).collect(),
    }))
}
