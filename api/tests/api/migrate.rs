//! `mpi migrate up|down|status` on both backends.

use migration::testing::{Backend, TestDb};
use migration::{Migrator, MigratorTrait};

use crate::helpers::{ScratchDir, run_mpi, run_mpi_ok};

fn count(status: &str, word: &str) -> usize {
    status.lines().filter(|l| l.starts_with(word)).count()
}

async fn applied(db: &TestDb) -> usize {
    Migrator::get_applied_migrations(&db.conn)
        .await
        .expect("migration state")
        .len()
}

async fn migrate_up_down_status(backend: Backend) {
    let db = TestDb::empty(backend).await;
    let dir = ScratchDir::new();
    let url = db.url.as_str();
    let all = Migrator::migrations().len();
    assert!(all >= 2, "this test needs at least two migrations");

    let status = run_mpi_ok(&dir.path, &["migrate", "status", "--database-url", url]);
    assert_eq!(count(&status, "pending  m"), all, "{status}");
    assert!(
        status.ends_with(&format!("0 applied, {all} pending\n")),
        "{status}"
    );

    let out = run_mpi_ok(
        &dir.path,
        &["migrate", "up", "--steps", "1", "--database-url", url],
    );
    assert!(
        out.ends_with(&format!("1 applied, {} pending\n", all - 1)),
        "{out}"
    );
    assert_eq!(applied(&db).await, 1);

    let out = run_mpi_ok(&dir.path, &["migrate", "up", "--database-url", url]);
    assert_eq!(count(&out, "applied  m"), all, "{out}");
    assert_eq!(applied(&db).await, all);

    let out = run_mpi_ok(
        &dir.path,
        &["migrate", "down", "--steps", "1", "--database-url", url],
    );
    assert!(
        out.ends_with(&format!("{} applied, 1 pending\n", all - 1)),
        "{out}"
    );
    // The reverted migration is the newest one.
    let last = out.lines().rev().nth(1).unwrap_or_default().to_owned();
    assert!(last.starts_with("pending  m"), "{out}");
    assert_eq!(applied(&db).await, all - 1);

    let out = run_mpi_ok(&dir.path, &["migrate", "down", "--database-url", url]);
    assert!(
        out.ends_with(&format!("0 applied, {all} pending\n")),
        "{out}"
    );
    assert_eq!(applied(&db).await, 0);

    // Up again after a full down: the down migrations really reversed everything.
    let out = run_mpi_ok(&dir.path, &["migrate", "up", "--database-url", url]);
    assert!(
        out.ends_with(&format!("{all} applied, 0 pending\n")),
        "{out}"
    );
    assert_eq!(applied(&db).await, all);
    assert!(
        dir.entries().is_empty(),
        "migrate wrote into the working directory"
    );
}

#[tokio::test]
async fn migrate_up_down_status_on_sqlite() {
    migrate_up_down_status(Backend::Sqlite).await;
}

#[tokio::test]
async fn migrate_up_down_status_on_postgres() {
    migrate_up_down_status(Backend::Postgres).await;
}

#[test]
fn migrate_without_configuration_uses_mpi_db_in_the_working_directory() {
    let dir = ScratchDir::new();
    let out = run_mpi_ok(&dir.path, &["migrate", "up"]);
    assert!(out.ends_with(" pending\n"), "{out}");
    assert!(
        dir.entries().contains(&"mpi.db".to_owned()),
        "{:?}",
        dir.entries()
    );
    let status = run_mpi_ok(&dir.path, &["migrate", "status"]);
    assert_eq!(count(&status, "pending  m"), 0, "{status}");
}

#[test]
fn a_database_url_with_an_unknown_scheme_is_rejected_with_a_clear_message() {
    let dir = ScratchDir::new();
    let out = run_mpi(
        &dir.path,
        &["migrate", "status", "--database-url", "mysql://h/db"],
    );
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit with 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("expected a sqlite:// or postgres:// URL"),
        "{stderr}"
    );
    assert!(dir.entries().is_empty());
}

#[test]
fn an_unreachable_database_fails_with_a_nonzero_exit_and_no_password_in_the_message() {
    let dir = ScratchDir::new();
    let out = run_mpi(
        &dir.path,
        &[
            "migrate",
            "status",
            "--database-url",
            "postgres://mpi:hunter2@127.0.0.1:1/mpi",
            "--database-timeout-secs",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot open postgres://mpi:***@127.0.0.1:1/mpi"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
