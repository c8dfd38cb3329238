//! Building blocks shared by the migrations: the four bookkeeping columns every table carries,
//! backend-aware "now" defaults, named CHECK constraints for enumerations, raw SQL execution, and
//! recreating the SQLite change-capture triggers.
//!
//! Migrations use these helpers and `DeriveIden` enums, never entity types, so an old migration
//! keeps producing the same schema when the entities change later.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::change_capture::{TRACKED_TABLES, TrackedTable, sqlite_drop_change_log_triggers};

/// The bookkeeping columns every table has.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Bookkeeping {
    CreatedAt,
    UpdatedAt,
    CreatedBy,
    UpdatedBy,
}

/// The SQL expression for "now" as a column default.
///
/// PostgreSQL uses `CURRENT_TIMESTAMP` (a `timestamptz`). SQLite stores timestamps as text; its
/// `CURRENT_TIMESTAMP` would give `2026-01-01 10:00:00` while SeaORM writes RFC 3339
/// (`2026-01-01T10:00:00.123+00:00`). Mixed formats would sort wrongly as text, so SQLite
/// defaults use the same RFC 3339 shape.
pub(crate) fn now_expr(backend: DbBackend) -> Expr {
    match backend {
        DbBackend::Sqlite => Expr::cust(SQLITE_NOW),
        _ => Expr::current_timestamp(),
    }
}

/// SQLite expression giving the current UTC time in the RFC 3339 form SeaORM writes.
pub(crate) const SQLITE_NOW: &str = "(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))";

/// A `NOT NULL` time-zone-aware timestamp column defaulting to now.
pub(crate) fn timestamp_now<T: IntoIden>(col: T, backend: DbBackend) -> ColumnDef {
    timestamp_with_time_zone(col)
        .default(now_expr(backend))
        .take()
}

/// Adds `created_at`, `updated_at` (default now), `created_by` and `updated_by` (required: every
/// writer must say who it is) to a table.
pub(crate) fn with_bookkeeping(
    table: &mut TableCreateStatement,
    backend: DbBackend,
) -> TableCreateStatement {
    table
        .col(timestamp_now(Bookkeeping::CreatedAt, backend))
        .col(timestamp_now(Bookkeeping::UpdatedAt, backend))
        .col(string(Bookkeeping::CreatedBy))
        .col(string(Bookkeeping::UpdatedBy))
        .take()
}

/// A named CHECK constraint `ck_<table>_<column>` restricting `column` to `values`
/// (NULL stays allowed for nullable columns, as SQL CHECK semantics give).
pub(crate) fn check_in<C: IntoIden>(table: &str, column: C, values: &[&str]) -> Check {
    let column = column.into_iden();
    let name = format!("ck_{table}_{}", column.inner());
    Check::named(
        name,
        Expr::col(column).is_in(values.iter().map(|v| (*v).to_owned())),
    )
}

/// A named CHECK constraint with a free expression.
pub(crate) fn check_named(name: &str, expr: Expr) -> Check {
    Check::named(name.to_owned(), expr)
}

/// A foreign key from `table.column` to `target.id`.
pub(crate) fn fk<T, C, U>(
    name: &str,
    table: T,
    column: C,
    target: U,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement
where
    T: IntoIden,
    C: IntoIden,
    U: IntoIden,
{
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(target, Id::Id)
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::NoAction)
        .take()
}

/// The `id` column every table in the model uses as its primary key.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Id {
    Id,
}

/// Runs each statement in order as raw SQL.
pub(crate) async fn exec_all(manager: &SchemaManager<'_>, sql: &[String]) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for stmt in sql {
        conn.execute_unprepared(stmt).await?;
    }
    Ok(())
}

/// Drops tables in the given order (children first).
pub(crate) async fn drop_tables(
    manager: &SchemaManager<'_>,
    tables: &[&'static str],
) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(Table::drop().table(*table).if_exists().to_owned())
            .await?;
    }
    Ok(())
}

/// Drops every tracked table's SQLite change-capture triggers and creates them with `create`;
/// does nothing on PostgreSQL, whose triggers the SQLite-only migrations leave alone.
pub(crate) async fn recreate_sqlite_change_log_triggers(
    manager: &SchemaManager<'_>,
    create: fn(&TrackedTable) -> Vec<String>,
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let mut sql = Vec::new();
    for table in TRACKED_TABLES {
        sql.extend(sqlite_drop_change_log_triggers(table));
        sql.extend(create(table));
    }
    exec_all(manager, &sql).await
}
