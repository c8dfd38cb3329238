//! Mothers and newborns (issue 29 §7): `patient` gains the mother's maiden name
//! (`mother_maiden_family`, `mother_maiden_given`), the mother's identifier
//! (`mother_identifier_system`, `mother_identifier_value`; HL7 v2 PID-6 and PID-21, FHIR's
//! `patient-mothersMaidenName`) and `mother_patient_id`, the mother's record when the identifier
//! resolved to a live one at write time (a foreign key to `patient`, set to NULL if that row is
//! ever removed). Two indexes serve the searches: by the mother's identifier and by the folded
//! maiden family name. The SQLite change-capture triggers of `patient` are recreated to log the
//! new columns.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::change_capture::{
    PATIENT_SINCE_19, PATIENT_SINCE_20, sqlite_change_log_triggers, sqlite_drop_change_log_triggers,
};
use crate::common::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns this migration adds, in order.
const COLUMNS: [&str; 5] = [
    "mother_maiden_family",
    "mother_maiden_given",
    "mother_identifier_system",
    "mother_identifier_value",
    "mother_patient_id",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        let uuid = if sqlite { "uuid_text" } else { "uuid" };
        let mut sql: Vec<String> = COLUMNS[..4]
            .iter()
            .map(|c| format!("ALTER TABLE patient ADD COLUMN {c} TEXT NULL"))
            .collect();
        sql.push(format!(
            "ALTER TABLE patient ADD COLUMN mother_patient_id {uuid} NULL \
             CONSTRAINT fk_patient_mother_patient REFERENCES patient (id) ON DELETE SET NULL"
        ));
        // Search by the mother's identifier asks (value, system), a value alone or both.
        sql.push(
            "CREATE INDEX idx_patient_mother_identifier \
             ON patient (mother_identifier_value, mother_identifier_system) \
             WHERE mother_identifier_value IS NOT NULL"
                .into(),
        );
        // Search by maiden name compares the folded family name, exactly or as a prefix.
        sql.push(if sqlite {
            "CREATE INDEX idx_patient_mother_maiden_family \
             ON patient (lower(mother_maiden_family)) \
             WHERE mother_maiden_family IS NOT NULL"
                .into()
        } else {
            "CREATE INDEX idx_patient_mother_maiden_family \
             ON patient (lower(mother_maiden_family) text_pattern_ops) \
             WHERE mother_maiden_family IS NOT NULL"
                .into()
        });
        sql.push(
            "CREATE INDEX idx_patient_mother_patient ON patient (mother_patient_id) \
             WHERE mother_patient_id IS NOT NULL"
                .into(),
        );
        if sqlite {
            sql.extend(sqlite_drop_change_log_triggers(&PATIENT_SINCE_19));
            sql.extend(sqlite_change_log_triggers(&PATIENT_SINCE_20));
        }
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        let mut sql: Vec<String> = Vec::new();
        if sqlite {
            sql.extend(sqlite_drop_change_log_triggers(&PATIENT_SINCE_20));
        }
        for index in [
            "idx_patient_mother_patient",
            "idx_patient_mother_maiden_family",
            "idx_patient_mother_identifier",
        ] {
            sql.push(format!("DROP INDEX {index}"));
        }
        for c in COLUMNS.iter().rev() {
            sql.push(format!("ALTER TABLE patient DROP COLUMN {c}"));
        }
        if sqlite {
            sql.extend(sqlite_change_log_triggers(&PATIENT_SINCE_19));
        }
        exec_all(manager, &sql).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
