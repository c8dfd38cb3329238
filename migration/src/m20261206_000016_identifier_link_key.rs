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
//! The down migration restores the one-row-per-`(system, value)` index. The old schema cannot
//! hold two live records sharing an identifier, and down will not choose which copy to drop (or
//! retire a record) on its own: while any `(system, value)` is held by more than one live record
//! it refuses before changing anything, saying how many and what to do (retire or merge the
//! records that share them, or delete the shared copies), instead of failing on the unique
//! index. Without such rows it reverses up exactly.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

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
        let shared = shared_live_identifiers(manager).await?;
        if shared > 0 {
            return Err(DbErr::Migration(format!(
                "cannot revert {}: {shared} identifier(s) are held by more than one live record \
                 (copies shared within a person through a links-records domain), which the \
                 schema before it cannot hold; retire or merge the records sharing them, or \
                 delete the copies with a non-empty link_key, then run down again",
                self.name()
            )));
        }
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

/// How many `(system, value)` pairs more than one live record holds.
async fn shared_live_identifiers(manager: &SchemaManager<'_>) -> Result<i64, DbErr> {
    let row = manager
        .get_connection()
        .query_one_raw(Statement::from_string(
            manager.get_database_backend(),
            "SELECT COUNT(*) AS n FROM (SELECT system, value FROM patient_identifier \
             WHERE patient_live GROUP BY system, value HAVING COUNT(*) > 1) AS shared",
        ))
        .await?;
    match row {
        Some(row) => row.try_get("", "n"),
        None => Ok(0),
    }
}
