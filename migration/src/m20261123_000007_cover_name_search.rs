//! Name search from the index alone: the family-name index also carries the given names and
//! the patient id.
//!
//! A search by family and given name (`family=johnson&given=mary`) walks the family-name prefix
//! and checks the given name of the same row. With `lower(family)` alone in the index, every
//! entry cost a visit to its row for `given` and `patient_id`: 11,320 visits for `smith` at
//! 890,623 patients. `idx_patient_name_family_lower_given` replaces
//! `idx_patient_name_family_lower` and keeps its leading key, so exact family lookups are served
//! as before:
//!
//! * SQLite: `(lower(family), given, patient_id)`, which its planner reads as a covering index.
//! * PostgreSQL: `lower(family) text_pattern_ops` (byte order, so a prefix is a key range under
//!   any collation) with `family`, `given` and `patient_id` as INCLUDE columns, for an
//!   index-only scan once VACUUM (autovacuum after a bulk load) has marked the pages visible.
//!   The trigram indexes stay for fuzzy and infix matching.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let create = match manager.get_database_backend() {
            DbBackend::Postgres => {
                "CREATE INDEX idx_patient_name_family_lower_given \
                 ON patient_name (lower(family) text_pattern_ops) \
                 INCLUDE (family, given, patient_id)"
            }
            _ => {
                "CREATE INDEX idx_patient_name_family_lower_given \
                 ON patient_name (lower(family), given, patient_id)"
            }
        };
        exec_all(
            manager,
            &[
                create.into(),
                "DROP INDEX idx_patient_name_family_lower".into(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[
                "CREATE INDEX idx_patient_name_family_lower ON patient_name (lower(family))".into(),
                "DROP INDEX idx_patient_name_family_lower_given".into(),
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
