//! The two append-only records: `change_log`, filled by database triggers on every patient table
//! (so writes made outside the service are recorded too), and `audit_event`, the service's
//! hash-chained trail of who did what. Both reject UPDATE and DELETE in the database itself.
//!
//! `change_log.seq` is `BIGINT GENERATED ALWAYS AS IDENTITY` on PostgreSQL and
//! `INTEGER PRIMARY KEY AUTOINCREMENT` on SQLite: strictly increasing and never reused, so other
//! processes can catch up from "everything after the last seq I saw". On PostgreSQL a seq is
//! taken when the row is written, not when its transaction commits, so a reader can see seq 11
//! before seq 10 commits; readers should re-read a short window behind their high-water mark
//! (or stop at the first gap until it fills or the writing transaction has surely ended).
//!
//! `change_log.created_by` records who wrote: on PostgreSQL the session setting `mpi.actor`
//! when the writer set it (`SELECT set_config('mpi.actor', 'key-name', true)` in the
//! transaction), else the database user; on SQLite the constant `database`.
//!
//! `audit_event.prev_hash` and `audit_event.hash` are each UNIQUE: two writers that both append
//! after the same row cannot fork the hash chain; the second one gets a unique violation and must
//! retry (or writers serialise, e.g. with `pg_advisory_xact_lock`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::change_capture::{
    APPEND_ONLY_TABLES, PG_CAPTURE_FUNCTION, PG_REJECT_FUNCTION, TRACKED_TABLES,
    append_only_triggers, drop_append_only_triggers, pg_change_log_triggers,
    pg_drop_change_log_triggers, sqlite_change_log_triggers_of_migration_4,
    sqlite_drop_change_log_triggers,
};
use crate::common::{
    Bookkeeping, check_in, drop_tables, exec_all, timestamp_now, with_bookkeeping,
};
use crate::vocab;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let postgres = backend == DbBackend::Postgres;

        let writer_default = if postgres {
            Expr::cust("COALESCE(NULLIF(current_setting('mpi.actor', true), ''), session_user)")
        } else {
            Expr::val("database")
        };
        manager
            .create_table(
                Table::create()
                    .table(ChangeLog::Table)
                    .col(seq_column(ChangeLog::Seq, backend))
                    .col(string(ChangeLog::TableName))
                    .col(string(ChangeLog::Operation))
                    .col(string(ChangeLog::RowId))
                    .col(json_binary_null(ChangeLog::OldRow))
                    .col(json_binary_null(ChangeLog::NewRow))
                    .col(timestamp_now(ChangeLog::ChangedAt, backend))
                    .col(timestamp_now(Bookkeeping::CreatedAt, backend))
                    .col(timestamp_now(Bookkeeping::UpdatedAt, backend))
                    .col(string(Bookkeeping::CreatedBy).default(writer_default.clone()))
                    .col(string(Bookkeeping::UpdatedBy).default(writer_default))
                    .check(check_in(
                        "change_log",
                        ChangeLog::Operation,
                        vocab::OPERATION,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(AuditEvent::Table)
                    .col(seq_column(AuditEvent::Seq, backend))
                    .col(timestamp_now(AuditEvent::OccurredAt, backend))
                    .col(string(AuditEvent::Actor))
                    .col(string_null(AuditEvent::Role))
                    .col(string(AuditEvent::Action))
                    .col(string_null(AuditEvent::EntityType))
                    .col(string_null(AuditEvent::EntityId))
                    .col(json_binary_null(AuditEvent::Before))
                    .col(json_binary_null(AuditEvent::After))
                    .col(string_null(AuditEvent::RequestId))
                    .col(string_null(AuditEvent::ClientAddr))
                    .col(text_null(AuditEvent::UserAgent))
                    .col(string(AuditEvent::PrevHash))
                    .col(string(AuditEvent::Hash))
                    .check(check_in("audit_event", AuditEvent::Role, vocab::ROLE)),
                backend,
            ))
            .await?;

        let mut sql: Vec<String> = vec![
            "CREATE INDEX idx_change_log_row ON change_log (table_name, row_id, seq)".into(),
            "CREATE INDEX idx_audit_event_entity ON audit_event (entity_type, entity_id, seq)"
                .into(),
            "CREATE INDEX idx_audit_event_occurred_at ON audit_event (occurred_at)".into(),
            "CREATE INDEX idx_audit_event_actor ON audit_event (actor, occurred_at)".into(),
            "CREATE UNIQUE INDEX ux_audit_event_hash ON audit_event (hash)".into(),
            "CREATE UNIQUE INDEX ux_audit_event_prev_hash ON audit_event (prev_hash)".into(),
        ];
        if postgres {
            sql.push(PG_CAPTURE_FUNCTION.into());
            sql.push(PG_REJECT_FUNCTION.into());
        }
        for table in TRACKED_TABLES {
            sql.extend(if postgres {
                pg_change_log_triggers(table)
            } else {
                sqlite_change_log_triggers_of_migration_4(table)
            });
        }
        for table in APPEND_ONLY_TABLES {
            sql.extend(append_only_triggers(table, postgres));
        }
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let mut sql = Vec::new();
        for table in APPEND_ONLY_TABLES {
            sql.extend(drop_append_only_triggers(table, postgres));
        }
        for table in TRACKED_TABLES.iter().rev() {
            sql.extend(if postgres {
                pg_drop_change_log_triggers(table)
            } else {
                sqlite_drop_change_log_triggers(table)
            });
        }
        if postgres {
            sql.push("DROP FUNCTION IF EXISTS mpi_reject_write()".into());
            sql.push("DROP FUNCTION IF EXISTS mpi_change_log_capture()".into());
        }
        exec_all(manager, &sql).await?;
        drop_tables(manager, &["audit_event", "change_log"]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// The strictly increasing sequence number primary key of an append-only table.
fn seq_column<T: IntoIden>(col: T, backend: DbBackend) -> ColumnDef {
    match backend {
        // GENERATED ALWAYS: nobody can insert a seq of their own choosing.
        DbBackend::Postgres => ColumnDef::new(col)
            .big_integer()
            .not_null()
            .primary_key()
            .extra("GENERATED ALWAYS AS IDENTITY")
            .take(),
        // INTEGER PRIMARY KEY AUTOINCREMENT: never reuses a value, even after the last row goes.
        _ => big_pk_auto(col),
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ChangeLog {
    Table,
    Seq,
    TableName,
    Operation,
    RowId,
    OldRow,
    NewRow,
    ChangedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvent {
    Table,
    Seq,
    OccurredAt,
    Actor,
    Role,
    Action,
    EntityType,
    EntityId,
    Before,
    After,
    RequestId,
    ClientAddr,
    UserAgent,
    PrevHash,
    Hash,
}
