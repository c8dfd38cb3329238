//! Recreates the SQLite change-capture triggers so each `change_log` row costs less to write.
//!
//! The triggers of migration 4 left `changed_at`, `created_at` and `updated_at` to their column
//! defaults, three `strftime(.., 'now')` calls per log row, and turned every UUID into hex five
//! times. A bulk load writes about six log rows per patient, so on an import of 1M records
//! these were ~8% of the writing thread (perf). The new triggers
//! ([`crate::change_capture::sqlite_change_log_triggers_of_migration_10`]) write the same rows: one clock
//! reading per row for all three timestamps (SQLite fixes `'now'` for a whole statement, so the
//! defaults were always equal) and one hex per UUID. PostgreSQL's statement-level triggers are
//! not touched.

use sea_orm_migration::prelude::*;

use crate::change_capture::{
    sqlite_change_log_triggers_of_migration_4, sqlite_change_log_triggers_of_migration_10,
};
use crate::common::recreate_sqlite_change_log_triggers as recreate;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, sqlite_change_log_triggers_of_migration_10).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, sqlite_change_log_triggers_of_migration_4).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
