//! Recreates the SQLite change-capture triggers so each UUID is rendered once per log row.
//!
//! Turning a 16-byte UUID into its hyphenated text costs about 2 µs in SQLite (five `substr`,
//! four joins), and the triggers of migration 10 did it for the row's `id` twice (for `row_id`
//! and inside the JSON; three times in an UPDATE) and for every other UUID column once. The new
//! triggers ([`crate::change_capture::sqlite_change_log_triggers`]) render each UUID column once
//! in their shared subquery, from the BLOB's bytes, and write the same rows. Inserting 400,000
//! `patient_name` rows in one INSERT ... SELECT, with their log rows, went from 12.6 s to 11.5 s
//! (Python's SQLite 3.40, two runs each); a 1M-record `mpi import` into SQLite from 203.1 s to
//! 195.3 s (means of two interleaved runs each). PostgreSQL's statement-level triggers are not
//! touched.

use sea_orm_migration::prelude::*;

use crate::change_capture::{
    sqlite_change_log_triggers, sqlite_change_log_triggers_of_migration_10,
};
use crate::common::recreate_sqlite_change_log_triggers as recreate;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, sqlite_change_log_triggers).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, sqlite_change_log_triggers_of_migration_10).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
