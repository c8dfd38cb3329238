//! The keyed audit chain in the service: rows appended under a chain key verify with it (both
//! databases, after a round trip through them), and what verification costs at 100,000 rows
//! (a measurement, run on demand: `cargo nextest run -p service --run-ignored only -E
//! 'test(verify_cost)' --no-capture`).

mod common;

use common::*;
use migration::testing::Backend;
use serde_json::json;
use service::audit::{self, AuditEntry};
use service::chain::{ChainKey, Keyring};

fn key(fill: u8) -> ChainKey {
    ChainKey::new(&[fill; 32]).expect("key")
}

/// Rows whose JSON holds what a store may rewrite (floats, big integers, unicode).
async fn append_rows(db: &migration::testing::TestDb, n: usize) {
    let rows: Vec<_> = (0..n)
        .map(|i| {
            (
                desk(),
                AuditEntry::new("read", "patient", Some(format!("p-{i}"))).after(json!({
                    "score": 0.9846800733445221,
                    "big": 1.5e19,
                    "name": "Zoë Ångström",
                    "i": i,
                })),
            )
        })
        .collect();
    for chunk in rows.chunks(5_000) {
        let txn = sea_orm::TransactionTrait::begin(&db.conn).await.unwrap();
        audit::append(&txn, chunk.to_vec()).await.unwrap();
        txn.commit().await.unwrap();
    }
}

#[tokio::test]
async fn keyed_rows_verify_with_their_key_only_on_both_databases() {
    for backend in Backend::ALL {
        let db = migration::testing::TestDb::migrated(backend).await;
        append_rows(&db, 3).await;
        service::chain::use_keyring(Keyring::new(vec![key(1)]));
        append_rows(&db, 3).await;
        service::chain::use_keyring(Keyring::default());

        let both = Keyring::new(vec![key(1)]);
        let report = audit::verify_with(&db.conn, &both, None).await.unwrap();
        assert!(report.ok, "{backend:?}: {report:?}");
        assert_eq!((report.unkeyed_rows, report.keyed_rows), (3, 3));

        let other = Keyring::new(vec![key(2)]);
        let report = audit::verify_with(&db.conn, &other, None).await.unwrap();
        assert!(!report.ok);
        assert_eq!(report.unknown_key_ids, [key(1).id().to_owned()]);
        assert_eq!(report.broken_count, 3);
        assert!(
            report
                .broken
                .iter()
                .all(|b| b.unknown_key && !b.hash_mismatch)
        );

        // A checkpoint of the head verifies; one of a row that is not there does not.
        let head = audit::checkpoint(&db.conn).await.unwrap().expect("head");
        let mut gone = head.clone();
        gone.seq += 10;
        let report = audit::verify_with(&db.conn, &both, Some(&[head.clone(), gone.clone()][..]))
            .await
            .unwrap();
        let checkpoints = report.checkpoints.expect("checkpoints");
        assert_eq!((checkpoints.checked, checkpoints.failed_count), (2, 1));
        assert_eq!(checkpoints.failed[0].seq, gone.seq);
        assert_eq!(checkpoints.failed[0].problem, "missing");
        assert!(!report.ok);
    }
}

/// Rows per second of `verify_with` at 100,000 rows, keyed and unkeyed, on both databases.
/// Prints the figures; asserts only that the chain verifies.
#[allow(clippy::print_stdout)] // the measurement is what it prints
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run on demand"]
async fn verify_cost_at_100k_rows() {
    const ROWS: usize = 100_000;
    for backend in Backend::ALL {
        for keyed in [false, true] {
            let db = migration::testing::TestDb::migrated(backend).await;
            let keyring = if keyed {
                Keyring::new(vec![key(1)])
            } else {
                Keyring::default()
            };
            service::chain::use_keyring(keyring.clone());
            append_rows(&db, ROWS).await;
            let started = std::time::Instant::now();
            let report = audit::verify_with(&db.conn, &keyring, None).await.unwrap();
            let elapsed = started.elapsed();
            assert!(report.ok && report.rows == ROWS as u64, "{report:?}");
            println!(
                "verify {backend:?} keyed={keyed}: {ROWS} rows in {:.2} s = {:.0} rows/s",
                elapsed.as_secs_f64(),
                ROWS as f64 / elapsed.as_secs_f64()
            );
        }
    }
}
