//! Phone numbers searchable through an index: `patient_telecom.digits_reversed` holds the value
//! without its punctuation (the characters of [`PUNCTUATION`]), reversed; NULL for an e-mail
//! address or a value with nothing left. A search by the whole number is an equality on it, a
//! search by the number's end a range over its prefix (`>= '4321' AND < '4322'` for `...1234`),
//! and `idx_patient_telecom_digits_reversed` (partial, over the rows where it is not NULL)
//! answers both on either engine. Before, the search compared `replace(...)` of every stored
//! value with the digits (`LIKE '%1234'` for an ending), which no index can serve.
//!
//! On PostgreSQL the column compares bytewise (`COLLATE "C"`): under a language's collation
//! (`en_US.UTF-8`) punctuation is ignored at the first level, so a prefix would not be a range.
//!
//! Existing rows are filled in here with the same rule the service applies to every row it
//! writes (`service::search_criteria::phone_digits_reversed`). The backfill is not written to
//! `change_log`: it changes no value a reader or the candidate index sees, and logging it would
//! append one row per telecom (and make every replica reload every patient). The SQLite
//! change-capture triggers of `patient_telecom` are recreated to log the new column, as
//! PostgreSQL's `to_jsonb` does by itself.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::change_capture::{
    PATIENT_TELECOM_SINCE_23, TRACKED_TABLES, TrackedTable, sqlite_change_log_triggers,
    sqlite_drop_change_log_triggers,
};
use crate::common::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What a stored phone number may hold besides its digits (the service's `PHONE_PUNCTUATION`
/// when this migration was written; kept here so the migration never changes).
const PUNCTUATION: &[char] = &[' ', '-', '(', ')', '.', '+', '/'];

/// The index both searches use.
const INDEX: &str = "idx_patient_telecom_digits_reversed";

/// The PostgreSQL change-capture trigger the backfill would fire.
const PG_UPDATE_TRIGGER: &str = "trg_patient_telecom_change_log_update";

/// `patient_telecom` as the tracked list before this migration.
fn telecom_before() -> &'static TrackedTable {
    TRACKED_TABLES
        .iter()
        .find(|t| t.name == "patient_telecom")
        .expect("patient_telecom is tracked")
}

/// `value` with every character of [`PUNCTUATION`] removed, as SQL (the same on both engines).
fn without_punctuation(value: &str) -> String {
    PUNCTUATION
        .iter()
        .fold(value.to_owned(), |e, c| format!("replace({e}, '{c}', '')"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let stripped = without_punctuation("patient_telecom.value");
        let sql: Vec<String> = match manager.get_database_backend() {
            DbBackend::Sqlite => {
                let mut sql = sqlite_drop_change_log_triggers(telecom_before());
                sql.push("ALTER TABLE patient_telecom ADD COLUMN digits_reversed TEXT NULL".into());
                // SQLite has no reverse(): a recursive CTE per row moves one character at a
                // time from the front of `rest` to the front of `rev`.
                sql.push(format!(
                    "UPDATE patient_telecom SET digits_reversed = (\
                     WITH RECURSIVE r(rest, rev) AS (SELECT {stripped}, '' \
                     UNION ALL SELECT substr(rest, 2), substr(rest, 1, 1) || rev \
                     FROM r WHERE rest <> '') \
                     SELECT NULLIF(rev, '') FROM r WHERE rest = '') \
                     WHERE system <> 'email'"
                ));
                sql.extend(sqlite_change_log_triggers(&PATIENT_TELECOM_SINCE_23));
                sql
            }
            _ => vec![
                "ALTER TABLE patient_telecom ADD COLUMN digits_reversed TEXT COLLATE \"C\" NULL"
                    .into(),
                format!("ALTER TABLE patient_telecom DISABLE TRIGGER {PG_UPDATE_TRIGGER}"),
                format!(
                    "UPDATE patient_telecom SET digits_reversed = NULLIF(reverse({stripped}), '') \
                     WHERE system <> 'email'"
                ),
                format!("ALTER TABLE patient_telecom ENABLE TRIGGER {PG_UPDATE_TRIGGER}"),
            ],
        };
        let mut sql = sql;
        sql.push(format!(
            "CREATE INDEX {INDEX} ON patient_telecom (digits_reversed) \
             WHERE digits_reversed IS NOT NULL"
        ));
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        let mut sql: Vec<String> = Vec::new();
        if sqlite {
            sql.extend(sqlite_drop_change_log_triggers(&PATIENT_TELECOM_SINCE_23));
        }
        sql.push(format!("DROP INDEX {INDEX}"));
        sql.push("ALTER TABLE patient_telecom DROP COLUMN digits_reversed".into());
        if sqlite {
            sql.extend(sqlite_change_log_triggers(telecom_before()));
        }
        exec_all(manager, &sql).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
