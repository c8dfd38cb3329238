//! `POST /api/v1/jobs/dedupe` (start the database dedupe in the background) and
//! `GET /api/v1/jobs/{id}` (its state, progress and counts). Steward or admin.
//!
//! The job runs in a tokio task of this process (its CPU-heavy planning on rayon's pool); the
//! database allows one running job (409 `job_running` otherwise, across replicas too). A job
//! interrupted by a shutdown stays `running` until `mpi dedupe` resumes it.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use entity::dedupe_job;
use service::dedupe::{self, DedupeOptions};
use service::keys::Action;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};

/// A batch job as answered.
#[derive(Serialize, ToSchema)]
pub(crate) struct JobDto {
    id: Uuid,
    /// Always `dedupe`.
    kind: &'static str,
    /// `running`, `completed`, `failed` or `cancelled`.
    state: String,
    model_version: String,
    progress: JobProgress,
    counts: JobCounts,
    /// Why the job failed.
    error: Option<String>,
    started_at: DateTime<FixedOffset>,
    finished_at: Option<DateTime<FixedOffset>>,
}

/// How far a job is.
#[derive(Serialize, ToSchema)]
pub(crate) struct JobProgress {
    /// Pairs written.
    pairs_done: i64,
    /// Pairs to write (0 until planned).
    pairs_total: i64,
    /// Transactions committed.
    chunks_done: i64,
}

/// What a dedupe job did.
#[derive(Serialize, ToSchema)]
pub(crate) struct JobCounts {
    /// Live active patients scored.
    patients: i64,
    /// Candidate pairs scored.
    candidate_pairs: i64,
    /// Match scores stored.
    scores_written: i64,
    /// Matcher `seealso` links created.
    links_created: i64,
    /// Patients whose `person_id` changed.
    patients_relinked: i64,
    /// Review tasks opened (or refreshed while open).
    tasks_opened: i64,
    /// Pairs left alone because they were judged `not_duplicate`.
    judged_pairs_skipped: i64,
}

impl From<&dedupe_job::Model> for JobDto {
    fn from(job: &dedupe_job::Model) -> Self {
        JobDto {
            id: job.id,
            kind: "dedupe",
            state: job.state.clone(),
            model_version: job.model_version.clone(),
            progress: JobProgress {
                pairs_done: job.pairs_done,
                pairs_total: job.pairs_total,
                chunks_done: job.chunks_done,
            },
            counts: JobCounts {
                patients: job.patients,
                candidate_pairs: job.candidate_pairs,
                scores_written: job.scores_written,
                links_created: job.links_created,
                patients_relinked: job.patients_relinked,
                tasks_opened: job.tasks_opened,
                judged_pairs_skipped: job.judged_pairs_skipped,
            },
            error: job.error.clone(),
            started_at: job.started_at,
            finished_at: job.finished_at,
        }
    }
}

/// `POST /api/v1/jobs/dedupe`.
#[utoipa::path(operation_id = "start_dedupe_job", post, path = "/api/v1/jobs/dedupe", tag = "jobs",
    responses((status = 202, description = "Started; poll `GET /api/v1/jobs/{id}` (also in `Location`)", body = JobDto),
        (status = 409, description = "`job_running`: a dedupe job is running (detail.job_id)", body = ErrorBody),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "Only stewards and admins", body = ErrorBody)))]
pub async fn start_dedupe(caller: Caller) -> Result<HttpResponse, ApiError> {
    let job = dedupe::start(&caller.mpi, &caller.ctx).await?;
    let (mpi, ctx, id) = (caller.mpi.clone(), caller.ctx.clone(), job.id);
    tokio::spawn(async move {
        // `run` marks the job failed on error and logs it; nothing else to do here.
        let _ = dedupe::run(&mpi, &ctx, id, &DedupeOptions::default(), &|_| {}).await;
    });
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/jobs/{}", job.id)))
        .json(JobDto::from(&job)))
}

/// `GET /api/v1/jobs/{id}`.
#[utoipa::path(operation_id = "get_job", get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = Uuid, Path, description = "The job's id")),
    responses((status = 200, description = "The job's state, progress and counts", body = JobDto),
        (status = 400, description = "Malformed id", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "Only stewards and admins", body = ErrorBody), (status = 404, description = "No such job", body = ErrorBody)))]
pub async fn get(caller: Caller, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    caller.ctx.authorize(Action::Merge)?;
    let job = dedupe::get(caller.mpi.db(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(JobDto::from(&job)))
}
