//! Lets two live records of one person hold the same identifier of a links-records domain (a
//! national id, a health-card number): `patient_identifier.link_key`, and the unique index over
//! live patients' identifiers keyed on `(system, value, link_key)` instead of `(system, value)`.
//!
//! `link_key` is `''` on every row but one kind: when the service registers a record with a
//! links-records identifier that live records of one person already hold, it links the new
//! record to that person and stores its copy of the identifier with `link_key` = the record's
//! own id. So the database still refuses a second live row of any `(system, value)` that the
//! service did not explicitly share within a person (every ordinary row has `''`), and lookups
//! keep using the index's prefix `(system, value)` with its literal `WHERE patient_live`. The
//! SQLite change-capture triggers of `patient_identifier` are recreated to log the new column.
//!
//! The down migration restores the one-row-per-`(system, value)` index, so it fails while two
//! live records share an identifier (the old schema cannot hold that state).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::change_capture::{
    PATIENT_IDENTIFIER_SINCE_16, TRACKED_TABLES, TrackedTable, sqlite_change_log_triggers,
    sqlite_drop_change_log_triggers,
};
use crate::common::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `patient_identifier` as the tracked list before this migration.
fn identifier_before() -> &'static TrackedTable {
    TRACKED_TABLES
        .iter()
        .find(|t| t.name == "patient_identifier")
        .expect("patient_identifier is tracked")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        let mut sql: Vec<String> = vec![
            "ALTER TABLE patient_identifier ADD COLUMN link_key TEXT NOT NULL DEFAULT ''".into(),
            "DROP INDEX ux_patient_identifier_live_system_value".into(),
            "CREATE UNIQUE INDEX ux_patient_identifier_live_system_value \
             ON patient_identifier (system, value, link_key) WHERE patient_live"
                .into(),
        ];
        if sqlite {
            sql.extend(sqlite_drop_change_log_triggers(identifier_before()));
            sql.extend(sqlite_change_log_triggers(&PATIENT_IDENTIFIER_SINCE_16));
        }
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        let mut sql: Vec<String> = Vec::new();
        if sqlite {
            sql.extend(sqlite_drop_change_log_triggers(
                &PATIENT_IDENTIFIER_SINCE_16,
            ));
        }
        sql.extend([
            "DROP INDEX ux_patient_identifier_live_system_value".into(),
            "CREATE UNIQUE INDEX ux_patient_identifier_live_system_value \
             ON patient_identifier (system, value) WHERE patient_live"
                .into(),
            "ALTER TABLE patient_identifier DROP COLUMN link_key".into(),
        ]);
        if sqlite {
            sql.extend(sqlite_change_log_triggers(identifier_before()));
        }
        exec_all(manager, &sql).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
