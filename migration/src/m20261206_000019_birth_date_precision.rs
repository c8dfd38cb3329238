//! Birth dates with their precision: `patient.birth_date_precision` says how much of
//! `birth_date` is known, `year` (`1984`), `month` (`1984-01`) or `day`. A partial date is stored
//! as the first day of its period, so range searches over `birth_date` (a search for `1984`
//! finds every date inside it) keep using its indexes. NULL (rows written before this
//! migration) reads as a full date. The SQLite change-capture triggers of `patient` are
//! recreated to log the new column.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::change_capture::{
    PATIENT_SINCE_19, TRACKED_TABLES, TrackedTable, sqlite_change_log_triggers,
    sqlite_drop_change_log_triggers,
};
use crate::common::exec_all;
use crate::vocab::DATE_PRECISION;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `patient` as the tracked list before this migration.
fn patient_before() -> &'static TrackedTable {
    TRACKED_TABLES
        .iter()
        .find(|t| t.name == "patient")
        .expect("patient is tracked")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let codes: Vec<String> = DATE_PRECISION.iter().map(|c| format!("'{c}'")).collect();
        let mut sql: Vec<String> = vec![format!(
            "ALTER TABLE patient ADD COLUMN birth_date_precision TEXT NULL \
             CONSTRAINT ck_patient_birth_date_precision \
             CHECK (birth_date_precision IN ({}))",
            codes.join(", ")
        )];
        if manager.get_database_backend() == DbBackend::Sqlite {
            sql.extend(sqlite_drop_change_log_triggers(patient_before()));
            sql.extend(sqlite_change_log_triggers(&PATIENT_SINCE_19));
        }
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        let mut sql: Vec<String> = Vec::new();
        if sqlite {
            sql.extend(sqlite_drop_change_log_triggers(&PATIENT_SINCE_19));
        }
        sql.push("ALTER TABLE patient DROP COLUMN birth_date_precision".into());
        if sqlite {
            sql.extend(sqlite_change_log_triggers(patient_before()));
        }
        exec_all(manager, &sql).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
