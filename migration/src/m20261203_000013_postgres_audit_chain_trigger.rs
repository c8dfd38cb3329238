//! On PostgreSQL, guards the audit chain against forks with a trigger instead of two UNIQUE
//! indexes on random hashes, as migration 12 did on SQLite.
//!
//! Migration 4 made `audit_event.prev_hash` and `audit_event.hash` each UNIQUE. Their keys are
//! SHA-256 hashes, so every appended row (every read appends one) lands on a random leaf page of
//! two indexes as large as the trail. At 650,000 rows they were 76 MB each, together more than
//! PostgreSQL's default `shared_buffers`; after each checkpoint the first change to each of those
//! pages writes the whole page to the WAL. Measured on PostgreSQL 15 with `POST /match` at a
//! fixed 1,000 req/s, the WAL per request was 1.8-7.9 kB with the indexes and 1.2 kB without.
//!
//! Here a `BEFORE INSERT` trigger takes the chain's advisory lock ([`AUDIT_CHAIN_LOCK_KEY`], the
//! lock the service's appenders already take, so it is theirs again and costs nothing) and
//! refuses a row whose `prev_hash` is not the `hash` of the chain's last row by `seq`, with
//! [`crate::AUDIT_FORK_REFUSED`]: one step down the primary key's right edge per row. As the
//! lock serialises every writer, whoever skips it, no two rows can follow the same row. A
//! multi-row INSERT is checked row by row (a row-level trigger's query sees the rows its
//! statement inserted before). The first row of an empty chain is not checked here
//! (`audit::verify` checks that it follows the genesis hash).
//!
//! The trigger reads the last row with a fresh snapshot, which only READ COMMITTED gives a
//! statement that waited for the lock; so it refuses appends from REPEATABLE READ and
//! SERIALIZABLE transactions, whose older snapshot could miss the last row. The service appends
//! only in READ COMMITTED, PostgreSQL's default.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::exec_all;

/// The key of the transaction-scoped advisory lock that serialises the audit chain's appenders
/// ("mpiaudit" in ASCII); the service takes the same lock.
pub const AUDIT_CHAIN_LOCK_KEY: i64 = 0x6d70_6961_7564_6974;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let refused = crate::AUDIT_FORK_REFUSED.replace('\'', "''");
        exec_all(
            manager,
            &[
                format!(
                    "CREATE FUNCTION mpi_audit_event_follows_last_row() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ \
                     DECLARE last_hash text; \
                     BEGIN \
                       IF current_setting('transaction_isolation') <> 'read committed' THEN \
                         RAISE EXCEPTION 'audit_event: rows are appended only in READ COMMITTED transactions'; \
                       END IF; \
                       PERFORM pg_advisory_xact_lock({AUDIT_CHAIN_LOCK_KEY}); \
                       SELECT hash INTO last_hash FROM audit_event ORDER BY seq DESC LIMIT 1; \
                       IF last_hash IS NOT NULL AND NEW.prev_hash IS DISTINCT FROM last_hash THEN \
                         RAISE EXCEPTION '{refused}'; \
                       END IF; \
                       RETURN NEW; \
                     END $$"
                ),
                "CREATE TRIGGER trg_audit_event_follows_last_row BEFORE INSERT ON audit_event \
                 FOR EACH ROW EXECUTE FUNCTION mpi_audit_event_follows_last_row()"
                    .into(),
                "DROP INDEX ux_audit_event_prev_hash".into(),
                "DROP INDEX ux_audit_event_hash".into(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        exec_all(
            manager,
            &[
                "CREATE UNIQUE INDEX ux_audit_event_hash ON audit_event (hash)".into(),
                "CREATE UNIQUE INDEX ux_audit_event_prev_hash ON audit_event (prev_hash)".into(),
                "DROP TRIGGER trg_audit_event_follows_last_row ON audit_event".into(),
                "DROP FUNCTION mpi_audit_event_follows_last_row()".into(),
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
