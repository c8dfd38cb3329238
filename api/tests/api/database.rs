//! How `mpi` opens databases: SQLite pragmas, in-memory SQLite, readiness.

use std::time::Duration;

use api::configuration::{DatabaseKind, DatabaseSettings};
use api::database;
use migration::testing::{Backend, TestDb};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::helpers::ScratchDir;

async fn pragma(db: &DatabaseConnection, name: &str) -> String {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("PRAGMA {name}"),
        ))
        .await
        .expect("pragma query")
        .expect("pragma row");
    row.try_get_by_index::<String>(0)
        .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
        .expect("pragma value")
}

#[tokio::test]
async fn sqlite_files_use_wal_foreign_keys_and_a_busy_timeout_on_every_connection() {
    let dir = ScratchDir::new();
    let url = format!("sqlite://{}", dir.path.join("pragmas.db").display());
    let db = database::connect(&DatabaseSettings::from_url(url))
        .await
        .expect("connect");
    // Hold several connections at once so that more than one pooled connection is checked.
    let mut txns = Vec::new();
    for _ in 0..3 {
        let txn = sea_orm::TransactionTrait::begin(&db).await.expect("begin");
        assert_eq!(pragma_txn(&txn, "journal_mode").await, "wal");
        assert_eq!(pragma_txn(&txn, "foreign_keys").await, "1");
        assert_eq!(pragma_txn(&txn, "busy_timeout").await, "5000");
        txns.push(txn);
    }
    drop(txns);
    assert_eq!(pragma(&db, "journal_mode").await, "wal");
    assert!(
        dir.path.join("pragmas.db").exists(),
        "the file was not created"
    );

    // Foreign keys are enforced, not merely declared.
    db.execute_unprepared(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id));
         INSERT INTO parent (id) VALUES (1);
         INSERT INTO child (id, parent_id) VALUES (1, 1);",
    )
    .await
    .expect("schema");
    let orphan = db
        .execute_unprepared("INSERT INTO child (id, parent_id) VALUES (2, 99)")
        .await;
    assert!(orphan.is_err(), "an orphan row was accepted");
}

async fn pragma_txn(txn: &sea_orm::DatabaseTransaction, name: &str) -> String {
    let row = txn
        .query_one_raw(Statement::from_string(
            txn.get_database_backend(),
            format!("PRAGMA {name}"),
        ))
        .await
        .expect("pragma query")
        .expect("pragma row");
    row.try_get_by_index::<String>(0)
        .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
        .expect("pragma value")
}

#[tokio::test]
async fn in_memory_sqlite_keeps_its_schema_on_its_single_connection() {
    let mut settings = DatabaseSettings::from_url("sqlite::memory:");
    settings.max_connections = Some(8);
    assert_eq!(settings.kind(), DatabaseKind::SqliteMemory);
    let db = database::connect(&settings).await.expect("connect");
    database::migrate_up(&db, None).await.expect("migrate");
    // Every later query must see the migrated schema: one connection, one database.
    for _ in 0..5 {
        let ready = database::check_ready(&db, settings.kind())
            .await
            .expect("ready");
        assert_eq!(ready.migrations_applied, Migrator::migrations().len());
    }
}

#[tokio::test]
async fn readiness_reports_an_unreachable_database_as_unavailable() {
    let mut settings = DatabaseSettings::from_url("sqlite::memory:");
    settings.timeout_secs = 1;
    let db = database::connect(&settings).await.expect("connect");
    db.close_by_ref().await.expect("close");
    let error = database::check_ready(&db, settings.kind())
        .await
        .expect_err("a closed pool is not ready");
    assert_eq!(error.code(), "database_unavailable");
}

/// The rows in the database file itself, ignoring the WAL (`immutable=1` reads the file as is).
fn rows_in_file(path: &std::path::Path) -> i64 {
    let file = format!("sqlite://{}?immutable=1", path.display());
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            let db = sea_orm::Database::connect(file)
                .await
                .expect("open the file");
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT COUNT(*) FROM filler",
                ))
                .await
                .expect("count")
                .expect("a row");
            row.try_get_by_index::<i64>(0).expect("count")
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pool_checkpoints_only_when_told() {
    let dir = ScratchDir::new();
    let path = dir.path.join("checkpoint.db");
    let settings = DatabaseSettings::from_url(format!("sqlite://{}", path.display()));
    let db = database::connect_server(&settings).await.expect("connect");
    assert_eq!(pragma(&db, "wal_autocheckpoint").await, "0");
    db.execute_unprepared("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .await
        .expect("create");
    service::passive_checkpoint(&db).await.expect("checkpoint");
    // About 8 MiB: far past the 1,000 pages (4 MiB) at which a commit would checkpoint.
    for _ in 0..4 {
        db.execute_unprepared(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) \
             INSERT INTO filler (body) SELECT printf('%.4000c', 'x') FROM n",
        )
        .await
        .expect("insert");
    }
    assert_eq!(rows_in_file(&path), 0, "no commit checkpointed the WAL");
    service::passive_checkpoint(&db).await.expect("checkpoint");
    assert_eq!(rows_in_file(&path), 2_000, "the checkpoint copied the WAL");
}

/// The bundled SQLite is built with the flags of `.cargo/config.toml`: plans that never depend
/// on bound values (so a `LIMIT ?` statement is not re-prepared each time it is bound again) and
/// no global memory-statistics mutex. Losing either flag costs CPU on every request, silently.
#[tokio::test]
async fn the_bundled_sqlite_has_a_stable_query_planner_and_no_memory_statistics() {
    let db = database::connect(&DatabaseSettings::from_url("sqlite::memory:"))
        .await
        .expect("connect");
    for option in ["ENABLE_QPSG", "DEFAULT_MEMSTATUS=0"] {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT sqlite_compileoption_used('{option}')"),
            ))
            .await
            .expect("compile option query")
            .expect("one row");
        let used: i64 = row.try_get_by_index(0).expect("0 or 1");
        assert_eq!(used, 1, "SQLite was built without SQLITE_{option}");
    }
}

async fn backend_pid(db: &DatabaseConnection) -> i32 {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT pg_backend_pid()",
    ))
    .await
    .expect("pg_backend_pid()")
    .expect("a row")
    .try_get_by_index::<i32>(0)
    .expect("a pid")
}

/// The server's pool pings a connection only once it has been idle for
/// `database::PING_AFTER_IDLE`; that ping is what replaces a connection the server closed while
/// it sat in the pool (a PostgreSQL restart, an idle timeout in a proxy).
#[tokio::test]
async fn a_server_connection_closed_while_idle_is_replaced_before_use() {
    let db = TestDb::empty(Backend::Postgres).await;
    // One connection, so the second query cannot be given another one that is still open.
    let mut settings = DatabaseSettings::from_url(db.url.clone());
    settings.max_connections = Some(1);
    let pool = database::connect_server(&settings).await.expect("connect");
    let first = backend_pid(&pool).await;
    // The connection goes back to the pool in a task of sqlx's, after a ping of its own: wait
    // for that, so the termination below hits a connection at rest.
    while pool.get_postgres_connection_pool().num_idle() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let terminated = db
        .conn
        .query_one_raw(Statement::from_string(
            db.conn.get_database_backend(),
            format!("SELECT pg_terminate_backend({first})"),
        ))
        .await
        .expect("pg_terminate_backend")
        .expect("a row")
        .try_get_by_index::<bool>(0)
        .expect("a bool");
    assert!(terminated);
    tokio::time::sleep(database::PING_AFTER_IDLE + Duration::from_millis(200)).await;
    let second = backend_pid(&pool).await;
    assert_ne!(first, second, "the closed connection was handed out again");
}
