//! A search by language (FHIR `Patient?language=`, issue 31) finds its patients through
//! `idx_patient_communication_language`: the code lowered (BCP 47 tags are case-insensitive, and
//! a search compares them so), the system, and the patient, so the rows of a language are an
//! index range and their patients are read from the index itself. Before it, the only index of
//! `patient_communication` was by patient, and a search by language alone read every row.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // PostgreSQL wants an expression in an index's column list in parentheses.
        let sql = if manager.get_database_backend() == DbBackend::Postgres {
            "CREATE INDEX idx_patient_communication_language ON patient_communication \
             ((lower(language_code)), language_system, patient_id)"
        } else {
            "CREATE INDEX idx_patient_communication_language ON patient_communication \
             (lower(language_code), language_system, patient_id)"
        };
        exec_all(manager, &[sql.to_owned()]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &["DROP INDEX IF EXISTS idx_patient_communication_language".to_owned()],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
