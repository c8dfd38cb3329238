//! What the matcher and the data stewards produce: links between patient records, scored pairs,
//! the review queue, and merge events detailed enough to undo.
//!
//! Pairs in `match_score` and `review_task` are stored in canonical order, `patient_a < patient_b`
//! (UUID byte order, the same in PostgreSQL, SQLite BLOBs and Rust's `Uuid::cmp`), so "one row
//! per unordered pair" is a plain unique index, and a `not_duplicate` decision stays attached to
//! the pair whichever way round it is proposed again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{
    Id, check_in, check_named, drop_tables, exec_all, fk, timestamp_now, with_bookkeeping,
};
use crate::m20260101_000002_create_patient::Patient;
use crate::vocab;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(PatientLink::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(PatientLink::PatientId))
                    .col(uuid(PatientLink::OtherPatientId))
                    .col(string(PatientLink::Type))
                    .col(string(PatientLink::Origin))
                    .col(text_null(PatientLink::Reason))
                    .col(double_null(PatientLink::Score))
                    .check(check_in(
                        "patient_link",
                        PatientLink::Type,
                        vocab::LINK_TYPE,
                    ))
                    .check(check_in(
                        "patient_link",
                        PatientLink::Origin,
                        vocab::LINK_ORIGIN,
                    ))
                    .check(check_named(
                        "ck_patient_link_distinct",
                        Expr::cust("patient_id <> other_patient_id"),
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_link_patient",
                        PatientLink::Table,
                        PatientLink::PatientId,
                        Patient::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_link_other_patient",
                        PatientLink::Table,
                        PatientLink::OtherPatientId,
                        Patient::Table,
                        ForeignKeyAction::Cascade,
                    )),
                backend,
            ))
            .await?;

        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(MatchScore::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(MatchScore::PatientA))
                    .col(uuid(MatchScore::PatientB))
                    .col(double(MatchScore::Probability))
                    .col(double(MatchScore::MatchWeight))
                    .col(json_binary(MatchScore::Breakdown).default("{}"))
                    .col(string(MatchScore::ModelVersion))
                    .col(timestamp_now(MatchScore::ComputedAt, backend))
                    .check(check_named(
                        "ck_match_score_pair_order",
                        Expr::cust("patient_a < patient_b"),
                    ))
                    .check(check_named(
                        "ck_match_score_probability",
                        Expr::cust("probability >= 0 AND probability <= 1"),
                    ))
                    .foreign_key(&mut fk(
                        "fk_match_score_patient_a",
                        MatchScore::Table,
                        MatchScore::PatientA,
                        Patient::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_match_score_patient_b",
                        MatchScore::Table,
                        MatchScore::PatientB,
                        Patient::Table,
                        ForeignKeyAction::Cascade,
                    )),
                backend,
            ))
            .await?;

        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(ReviewTask::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(ReviewTask::PatientA))
                    .col(uuid(ReviewTask::PatientB))
                    .col(double(ReviewTask::Probability))
                    .col(double(ReviewTask::MatchWeight))
                    .col(json_binary(ReviewTask::Breakdown).default("{}"))
                    .col(string(ReviewTask::Status).default("open"))
                    .col(string_null(ReviewTask::DecidedBy))
                    .col(timestamp_with_time_zone_null(ReviewTask::DecidedAt))
                    .col(text_null(ReviewTask::Note))
                    .check(check_in(
                        "review_task",
                        ReviewTask::Status,
                        vocab::REVIEW_STATUS,
                    ))
                    .check(check_named(
                        "ck_review_task_pair_order",
                        Expr::cust("patient_a < patient_b"),
                    ))
                    .check(check_named(
                        "ck_review_task_probability",
                        Expr::cust("probability >= 0 AND probability <= 1"),
                    ))
                    .check(check_named(
                        "ck_review_task_decision",
                        Expr::cust(
                            "(status = 'open' AND decided_at IS NULL) \
                             OR (status <> 'open' AND decided_at IS NOT NULL \
                                 AND decided_by IS NOT NULL)",
                        ),
                    ))
                    .foreign_key(&mut fk(
                        "fk_review_task_patient_a",
                        ReviewTask::Table,
                        ReviewTask::PatientA,
                        Patient::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_review_task_patient_b",
                        ReviewTask::Table,
                        ReviewTask::PatientB,
                        Patient::Table,
                        ForeignKeyAction::Cascade,
                    )),
                backend,
            ))
            .await?;

        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(MergeEvent::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(MergeEvent::TargetPatientId))
                    .col(uuid(MergeEvent::SourcePatientId))
                    .col(uuid_null(MergeEvent::ReviewTaskId))
                    .col(string(MergeEvent::Actor))
                    .col(timestamp_now(MergeEvent::MergedAt, backend))
                    .col(json_binary(MergeEvent::TargetBefore))
                    .col(json_binary(MergeEvent::SourceBefore))
                    .col(json_binary(MergeEvent::Changes).default("{}"))
                    .col(timestamp_with_time_zone_null(MergeEvent::UndoneAt))
                    .col(string_null(MergeEvent::UndoneBy))
                    .check(check_named(
                        "ck_merge_event_distinct",
                        Expr::cust("target_patient_id <> source_patient_id"),
                    ))
                    .check(check_named(
                        "ck_merge_event_undo",
                        Expr::cust("(undone_at IS NULL) = (undone_by IS NULL)"),
                    ))
                    // Merge history outlives nothing it refers to: a merged patient cannot be
                    // hard-deleted while its merge event exists (soft delete is the normal path).
                    .foreign_key(&mut fk(
                        "fk_merge_event_target",
                        MergeEvent::Table,
                        MergeEvent::TargetPatientId,
                        Patient::Table,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_merge_event_source",
                        MergeEvent::Table,
                        MergeEvent::SourcePatientId,
                        Patient::Table,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_merge_event_review_task",
                        MergeEvent::Table,
                        MergeEvent::ReviewTaskId,
                        ReviewTask::Table,
                        ForeignKeyAction::SetNull,
                    )),
                backend,
            ))
            .await?;

        exec_all(
            manager,
            &[
                "CREATE UNIQUE INDEX ux_patient_link_pair_type \
                 ON patient_link (patient_id, other_patient_id, type)"
                    .into(),
                "CREATE INDEX idx_patient_link_other ON patient_link (other_patient_id)".into(),
                "CREATE UNIQUE INDEX ux_match_score_pair_model \
                 ON match_score (patient_a, patient_b, model_version)"
                    .into(),
                "CREATE INDEX idx_match_score_patient_b ON match_score (patient_b)".into(),
                "CREATE INDEX idx_match_score_probability ON match_score (probability DESC)".into(),
                "CREATE UNIQUE INDEX ux_review_task_pair ON review_task (patient_a, patient_b)"
                    .into(),
                "CREATE INDEX idx_review_task_patient_b ON review_task (patient_b)".into(),
                "CREATE INDEX idx_review_task_status_probability \
                 ON review_task (status, probability DESC)"
                    .into(),
                "CREATE INDEX idx_merge_event_target ON merge_event (target_patient_id)".into(),
                "CREATE INDEX idx_merge_event_source ON merge_event (source_patient_id)".into(),
                "CREATE INDEX idx_merge_event_merged_at ON merge_event (merged_at)".into(),
                "CREATE INDEX idx_merge_event_review_task ON merge_event (review_task_id)".into(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["merge_event", "review_task", "match_score", "patient_link"],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum PatientLink {
    Table,
    PatientId,
    OtherPatientId,
    Type,
    Origin,
    Reason,
    Score,
}

#[derive(DeriveIden, Clone, Copy)]
enum MatchScore {
    Table,
    PatientA,
    PatientB,
    Probability,
    MatchWeight,
    Breakdown,
    ModelVersion,
    ComputedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReviewTask {
    Table,
    PatientA,
    PatientB,
    Probability,
    MatchWeight,
    Breakdown,
    Status,
    DecidedBy,
    DecidedAt,
    Note,
}

#[derive(DeriveIden, Clone, Copy)]
enum MergeEvent {
    Table,
    TargetPatientId,
    SourcePatientId,
    ReviewTaskId,
    Actor,
    MergedAt,
    TargetBefore,
    SourceBefore,
    Changes,
    UndoneAt,
    UndoneBy,
}
