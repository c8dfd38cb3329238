//! Drops `idx_patient_telecom_system_value`, an index no query reads.
//!
//! Migration 2 indexed `patient_telecom (system, value)`, but neither the API, FHIR, matching
//! nor any batch command looks a patient up by phone or e-mail: telecoms are only read with
//! their patient. Its keys are random, so every write paid for it, a bulk load most of all
//! (1,091,427 entries, 37.6 MB, at 890,623 imported patients). A lookup by telecom, when one is
//! added, brings its index back with it.

use sea_orm_migration::prelude::*;

use crate::common::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &["DROP INDEX idx_patient_telecom_system_value".into()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[
                "CREATE INDEX idx_patient_telecom_system_value ON patient_telecom (system, value)"
                    .into(),
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
