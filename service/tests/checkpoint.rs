//! SQLite WAL checkpoints under a steady stream of writes: once the WAL is large, a checkpoint
//! copies every frame in it, so that the next write starts the WAL again instead of letting it
//! grow without end; PostgreSQL has no WAL of ours to checkpoint.

mod common;

use std::time::Duration;

use common::*;
use migration::testing::{Backend, TestDb};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use service::patients::PatientInput;
use service::{Mpi, ServiceConfig, WalCheckpoint};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_wal_is_copied_whole_and_started_again() {
    let db = TestDb::migrated(Backend::Sqlite).await;
    // Several connections, as `mpi serve` has: a checkpoint must not wait for a connection.
    let mut options = ConnectOptions::new(db.url.clone());
    options.max_connections(4).sqlx_logging(false);
    let conn = Database::connect(options).await.expect("a pool");
    conn.execute_unprepared("PRAGMA journal_mode=WAL")
        .await
        .expect("WAL mode");
    let mpi = Mpi::start(
        conn.clone(),
        matcher::Model::builtin(),
        ServiceConfig {
            wal_restart_frames: 1,
            ..Default::default()
        },
    )
    .await
    .expect("service starts");

    register(&mpi, margaret()).await;

    // A writer of this process is in the middle of a transaction: the checkpoint copies what
    // is committed, then waits for that writer, so that no commit can slip in after its
    // second pass.
    let txn = mpi.write_txn().await.expect("a write transaction");
    txn.execute_unprepared("UPDATE patient SET version = version + 1")
        .await
        .expect("an update");
    let checkpoint = tokio::spawn({
        let mpi = mpi.clone();
        async move { mpi.checkpoint_wal().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !checkpoint.is_finished(),
        "the checkpoint did not wait for the open write transaction"
    );
    txn.commit().await.expect("commit");
    let done = checkpoint
        .await
        .expect("the checkpoint ran")
        .expect("checkpoint succeeds")
        .expect("SQLite has a WAL");
    assert!(done.wal_frames > 0, "nothing to copy: {done:?}");
    assert_eq!(
        done.copied_frames, done.wal_frames,
        "the checkpoint left frames behind: {done:?}"
    );

    // The next write starts the WAL again: it then holds that write's frames only, instead of
    // those frames on top of everything before.
    for n in 0..20 {
        register(&mpi, named(&format!("Quiet{n}"))).await;
    }
    let before = checkpoint_wal(&mpi).await;
    assert_eq!(before.copied_frames, before.wal_frames);
    register(&mpi, named("Last")).await;
    let after = checkpoint_wal(&mpi).await;
    assert!(
        after.wal_frames < before.wal_frames,
        "the WAL was not started again: {before:?} then {after:?}"
    );

    let (_pg_db, pg) = setup(Backend::Postgres).await;
    assert_eq!(pg.checkpoint_wal().await.expect("no-op"), None);
}

/// A patient known by a family name alone.
fn named(family: &str) -> PatientInput {
    PatientInput {
        names: vec![name(family, &["Bo"])],
        ..Default::default()
    }
}

/// Runs the service's checkpoint on SQLite.
async fn checkpoint_wal(mpi: &Mpi) -> WalCheckpoint {
    mpi.checkpoint_wal()
        .await
        .expect("checkpoint runs")
        .expect("SQLite has a WAL")
}
