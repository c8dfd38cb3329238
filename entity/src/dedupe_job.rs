//! `dedupe_job`: one batch deduplication run over the database, with its state, model version,
//! progress (the last pair committed, so a restart resumes after it) and counts. At most one job
//! is `running` at a time (a partial unique index).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Job state: `running` (also an interrupted job waiting to be resumed), `completed`, `failed`,
/// `cancelled`.
pub mod state {
    /// Started and not finished (or interrupted; the next run resumes it).
    pub const RUNNING: &str = "running";
    /// Every pair written.
    pub const COMPLETED: &str = "completed";
    /// Stopped by an error (see `error`).
    pub const FAILED: &str = "failed";
    /// Stopped on request.
    pub const CANCELLED: &str = "cancelled";
}

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "dedupe_job")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// One of [`state`].
    pub state: String,
    /// The scoring model's version.
    pub model_version: String,
    /// Pairs written per transaction.
    pub chunk_size: i64,
    /// Live active patients scored.
    pub patients: i64,
    /// Candidate pairs scored.
    pub candidate_pairs: i64,
    /// Pairs to write (scored at or above the review threshold).
    pub pairs_total: i64,
    /// Pairs written so far.
    pub pairs_done: i64,
    /// Chunks committed so far.
    pub chunks_done: i64,
    /// The last pair committed (canonical order), `None` before the first chunk.
    pub cursor_a: Option<Uuid>,
    pub cursor_b: Option<Uuid>,
    pub scores_written: i64,
    pub links_created: i64,
    /// Patients whose `person_id` changed.
    pub patients_relinked: i64,
    pub tasks_opened: i64,
    /// Pairs left alone because a steward judged them `not_duplicate`.
    pub judged_pairs_skipped: i64,
    pub error: Option<String>,
    pub started_at: DateTimeWithTimeZone,
    pub finished_at: Option<DateTimeWithTimeZone>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
}

impl ActiveModelBehavior for ActiveModel {}
