//! On SQLite, guards the audit chain against forks with a trigger instead of two UNIQUE indexes
//! on random hashes.
//!
//! Migration 4 made `audit_event.prev_hash` and `audit_event.hash` each UNIQUE, so that two
//! writers appending after the same row cannot fork the chain. Their keys are SHA-256 hashes,
//! so every appended row lands on a random leaf page of each index, and once the trail is large
//! (every read appends a row) each small batch of rows dirties pages all over two indexes that
//! grow with it: more pages read, more WAL written, more to checkpoint. On SQLite that showed in
//! `POST /match`'s tail latency at 1,000 req/s (see ARCHITECTURE.md, Reading a patient).
//!
//! Here a `BEFORE INSERT` trigger refuses a row whose `prev_hash` is not the `hash` of the
//! chain's last row (by `seq`, the table's rowid: one step down its right edge), with
//! [`FORK_REFUSED`]. That is the fork guard, and a stronger one: a row cannot follow any row
//! but the last. A multi-row INSERT is checked row by row, each against the row before it.
//! The first row of an empty chain is not checked here (`audit::verify` checks that it follows
//! the genesis hash). A repeated `hash` is no longer refused by the schema; it would break the
//! chain, which `audit::verify` reports.
//!
//! PostgreSQL keeps both indexes: its one-statement read-audit append relies on the unique
//! violation to learn that its head is stale, and it showed no such cost.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::exec_all;

/// The message of the error the trigger raises when a row does not follow the chain's last row.
pub const FORK_REFUSED: &str = "audit_event: prev_hash is not the hash of the chain's last row";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        exec_all(
            manager,
            &[
                format!(
                    "CREATE TRIGGER audit_event_follows_last_row BEFORE INSERT ON audit_event \
                     WHEN NEW.prev_hash IS NOT COALESCE( \
                       (SELECT hash FROM audit_event ORDER BY seq DESC LIMIT 1), NEW.prev_hash) \
                     BEGIN SELECT RAISE(ABORT, '{}'); END",
                    FORK_REFUSED.replace('\'', "''")
                ),
                "DROP INDEX ux_audit_event_prev_hash".into(),
                "DROP INDEX ux_audit_event_hash".into(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        exec_all(
            manager,
            &[
                "CREATE UNIQUE INDEX ux_audit_event_hash ON audit_event (hash)".into(),
                "CREATE UNIQUE INDEX ux_audit_event_prev_hash ON audit_event (prev_hash)".into(),
                "DROP TRIGGER audit_event_follows_last_row".into(),
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
