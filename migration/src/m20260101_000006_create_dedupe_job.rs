//! Batch deduplication jobs: one row per `mpi dedupe` run over the database, with its state,
//! the model version it scores with, and its progress (the last pair committed), so an
//! interrupted job resumes at the next chunk. At most one job is `running` (a partial unique
//! index), so two processes or replicas cannot both start one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{Id, check_in, drop_tables, exec_all, with_bookkeeping};

/// The states of a dedupe job.
const STATE: &[&str] = &["running", "completed", "failed", "cancelled"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(DedupeJob::Table)
                    .col(pk_uuid(Id::Id))
                    .col(string(DedupeJob::State))
                    .col(string(DedupeJob::ModelVersion))
                    .col(big_integer(DedupeJob::ChunkSize))
                    .col(big_integer(DedupeJob::Patients))
                    .col(big_integer(DedupeJob::CandidatePairs))
                    .col(big_integer(DedupeJob::PairsTotal))
                    .col(big_integer(DedupeJob::PairsDone))
                    .col(big_integer(DedupeJob::ChunksDone))
                    .col(uuid_null(DedupeJob::CursorA))
                    .col(uuid_null(DedupeJob::CursorB))
                    .col(big_integer(DedupeJob::ScoresWritten))
                    .col(big_integer(DedupeJob::LinksCreated))
                    .col(big_integer(DedupeJob::PatientsRelinked))
                    .col(big_integer(DedupeJob::TasksOpened))
                    .col(big_integer(DedupeJob::JudgedPairsSkipped))
                    .col(text_null(DedupeJob::Error))
                    .col(timestamp_with_time_zone(DedupeJob::StartedAt))
                    .col(timestamp_with_time_zone_null(DedupeJob::FinishedAt))
                    .check(check_in("dedupe_job", DedupeJob::State, STATE)),
                backend,
            ))
            .await?;
        exec_all(
            manager,
            &[
                "CREATE UNIQUE INDEX ux_dedupe_job_running ON dedupe_job (state) \
                 WHERE state = 'running'"
                    .into(),
                "CREATE INDEX idx_dedupe_job_started_at ON dedupe_job (started_at)".into(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["dedupe_job"]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum DedupeJob {
    Table,
    State,
    ModelVersion,
    ChunkSize,
    Patients,
    CandidatePairs,
    PairsTotal,
    PairsDone,
    ChunksDone,
    CursorA,
    CursorB,
    ScoresWritten,
    LinksCreated,
    PatientsRelinked,
    TasksOpened,
    JudgedPairsSkipped,
    Error,
    StartedAt,
    FinishedAt,
}
