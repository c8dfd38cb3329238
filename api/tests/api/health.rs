//! `mpi serve`, `/health` and `/ready` on both backends.

use migration::testing::{Backend, TestDb};
use migration::{Migrator, MigratorTrait};

use crate::helpers::{ScratchDir, TestServer, run_mpi_ok};

#[tokio::test]
async fn serve_in_an_empty_directory_answers_health_and_ready_and_leaves_mpi_db() {
    let dir = ScratchDir::new();
    assert!(dir.entries().is_empty());
    let server = TestServer::start(&dir.path, &[]);

    let (status, body) = server.get("/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");

    let (status, body) = server.get("/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "sqlite");
    assert_eq!(body["migrations_applied"], Migrator::migrations().len());

    let (clean, log) = server.terminate();
    assert!(clean, "mpi serve did not exit cleanly on SIGTERM:\n{log}");
    // Log lines are written by a thread of their own; the last one must still reach stderr.
    let last = log.lines().last().unwrap_or_default();
    assert!(last.contains("stopped"), "last line {last:?} of:\n{log}");
    assert!(
        dir.entries().contains(&"mpi.db".to_owned()),
        "no mpi.db in {:?}",
        dir.entries()
    );
}

#[tokio::test]
async fn serve_migrates_an_empty_postgres_database_and_answers_ready() {
    let db = TestDb::empty(Backend::Postgres).await;
    let dir = ScratchDir::new();
    let server = TestServer::start(&dir.path, &["--database-url", &db.url, "--workers", "1"]);

    let (status, body) = server.get("/health").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.get("/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"], "postgres");

    let pending = Migrator::get_pending_migrations(&db.conn)
        .await
        .expect("migration state");
    assert!(pending.is_empty(), "server left migrations pending");
    assert_eq!(
        Migrator::get_applied_migrations(&db.conn)
            .await
            .expect("migration state")
            .len(),
        Migrator::migrations().len()
    );
    assert!(
        dir.entries().is_empty(),
        "PostgreSQL mode wrote files: {:?}",
        dir.entries()
    );
}

/// /ready follows the schema: 503 with every migration pending, 200 after `mpi migrate up`,
/// 503 again after `mpi migrate down --steps 1`.
async fn ready_tracks_pending_migrations(backend: Backend) {
    let db = TestDb::empty(backend).await;
    let dir = ScratchDir::new();
    let server = TestServer::start(
        &dir.path,
        &["--database-url", &db.url, "--no-migrate", "--workers", "1"],
    );
    let all = Migrator::migrations().len();
    assert!(all > 0, "the workspace defines no migrations");

    let (status, body) = server.get("/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "migrations_pending");
    assert!(body["field"].is_null());
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("{all} migration"))
    );
    let (status, _) = server.get("/health").await;
    assert_eq!(status, 200, "/health must not depend on the schema");

    run_mpi_ok(&dir.path, &["migrate", "up", "--database-url", &db.url]);
    let (status, body) = server.get("/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["migrations_applied"], all);

    run_mpi_ok(
        &dir.path,
        &["migrate", "down", "--steps", "1", "--database-url", &db.url],
    );
    let (status, body) = server.get("/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "migrations_pending");
}

#[tokio::test]
async fn ready_tracks_pending_migrations_on_sqlite() {
    ready_tracks_pending_migrations(Backend::Sqlite).await;
}

#[tokio::test]
async fn ready_tracks_pending_migrations_on_postgres() {
    ready_tracks_pending_migrations(Backend::Postgres).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors_and_logs_hold_no_query_values() {
    let dir = ScratchDir::new();
    let server = TestServer::start(&dir.path, &["--workers", "1"]);

    let (status, body) = server.get("/api/v1/nothing-here?family=Zebedeeson").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        serde_json::json!({"code": "not_found", "message": "no such route", "field": null})
    );
    let (status, body) = server.post_empty("/health").await;
    assert_eq!(status, 405);
    assert_eq!(body["code"], "method_not_allowed");

    let log = server.wait_for_log("status=405");
    assert!(log.contains("status=404"), "request not logged:\n{log}");
    assert!(log.contains("status=405"), "request not logged:\n{log}");
    assert!(
        !log.contains("Zebedeeson"),
        "query string leaked into the log:\n{log}"
    );
    assert!(
        !log.contains("nothing-here"),
        "raw path leaked into the log:\n{log}"
    );
}

#[tokio::test]
async fn json_log_format_writes_one_json_object_per_line() {
    let dir = ScratchDir::new();
    let server = TestServer::start(&dir.path, &["--workers", "1", "--log-format", "json"]);
    let (status, _) = server.get("/nowhere").await;
    assert_eq!(status, 404);
    let log = server.wait_for_log("\"status\":404");
    let mut json_lines = 0;
    for line in log.lines().filter(|l| !l.starts_with("mpi listening on ")) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value.get("level").is_some(), "no level in {line}");
        json_lines += 1;
    }
    assert!(json_lines >= 3, "too few log lines:\n{log}");
    assert!(log.contains("\"status\":404"), "request not logged:\n{log}");
}
