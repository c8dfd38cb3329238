//! Identifier lookups from two disjoint partial indexes, so a bulk load maintains one index on
//! `(system, value)` instead of two.
//!
//! Migration 2 indexed `patient_identifier (system, value)` twice: the partial unique index over
//! the identifiers of live patients (`ux_patient_identifier_live_system_value`, `WHERE
//! patient_live`) and a full index for lookups that must also find merged-away or soft-deleted
//! holders (search by identifier). Almost every row is live, so the two held the same entries:
//! 106 MB each at 890,623 imported patients, both keyed at random and so rewritten in full by
//! every batch of an import. `idx_patient_identifier_retired_system_value` (`WHERE NOT
//! patient_live`) replaces the full index; each row now sits in exactly one of the two. A
//! lookup that wants every holder asks both (`patient_identifier::Entity::holders_of`), and
//! every lookup writes its `patient_live` condition literally: a bound value
//! (`patient_live = ?`) proves neither index's predicate, not under SQLite's query planner
//! stability guarantee and not in PostgreSQL's generic plans.

use sea_orm_migration::prelude::*;

use crate::common::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[
                "CREATE INDEX idx_patient_identifier_retired_system_value \
                 ON patient_identifier (system, value) WHERE NOT patient_live"
                    .into(),
                "DROP INDEX idx_patient_identifier_system_value".into(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[
                "CREATE INDEX idx_patient_identifier_system_value \
                 ON patient_identifier (system, value)"
                    .into(),
                "DROP INDEX idx_patient_identifier_retired_system_value".into(),
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
