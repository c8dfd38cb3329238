//! Stewards undo merges in whatever order they find the mistakes: with three merges stacked on
//! one survivor, every order of undoing them succeeds, each undo gives back its retired record
//! exactly, the survivor keeps what the merges still in force gave it, and after the last undo
//! every record is exactly as before the merges (every field, child row and link).

mod common;

use common::*;
use entity::patient_ext::PatientRecord;
use migration::testing::Backend;
use service::context::Role;
use service::merge::{self, MergeRequest, same_except_version};
use service::patients::PatientInput;
use uuid::Uuid;

const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// The survivor and three duplicates; the first two duplicates share an address and a phone
/// the survivor lacks, so the second merge copies neither (the first merge's copies are there).
fn people() -> [PatientInput; 4] {
    let survivor = margaret();
    let mut first = margaret();
    first.names[0].given = vec!["Maggie".into()];
    first.identifiers = vec![ident("urn:mrn:calvary", "C-1")];
    first.addresses = vec![address("9 Shared Road", "Curtin", "2605")];
    first.telecoms = vec![phone("0400 999 001")];
    let mut second = first.clone();
    second.names[0].given = vec!["Meg".into()];
    second.identifiers = vec![ident("urn:mrn:calvary", "C-2")];
    let mut third = margaret();
    third.names[0].family = Some("Whitfeld".into());
    third.identifiers = vec![ident("urn:mrn:calvary", "C-3")];
    third.addresses = vec![address("2 Other Street", "Garran", "2605")];
    third.telecoms = vec![phone("0400 999 003")];
    [survivor, first, second, third]
}

async fn load(db: &migration::testing::TestDb, id: Uuid) -> PatientRecord {
    PatientRecord::load(&db.conn, id).await.unwrap().unwrap()
}

fn address_lines(record: &PatientRecord) -> Vec<String> {
    let mut lines: Vec<String> = record
        .addresses
        .iter()
        .map(|a| format!("{:?}", a.lines))
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn every_order_of_undoing_three_stacked_merges_restores_every_record_exactly() {
    for backend in Backend::ALL {
        for order in ORDERS {
            let (db, mpi) = setup(backend).await;
            let steward = ctx_as("steward-1", Role::Steward);
            let mut ids = Vec::new();
            for input in people() {
                ids.push(register(&mpi, input).await.id());
            }
            let mut originals = Vec::new();
            for id in &ids {
                originals.push(load(&db, *id).await);
            }
            let survivor = ids[0];
            let mut merges = Vec::new();
            for source in &ids[1..] {
                let done = merge::merge(
                    &mpi,
                    &steward,
                    MergeRequest {
                        target: survivor,
                        source: *source,
                        preview: false,
                        review_task_id: None,
                    },
                )
                .await
                .unwrap();
                merges.push(done.merge_id.unwrap());
            }
            let mut in_force = [true; 3];
            for &m in &order {
                merge::undo(&mpi, &steward, merges[m])
                    .await
                    .unwrap_or_else(|e| panic!("{backend:?} {order:?}: undo {m}: {e}"));
                in_force[m] = false;
                let source = load(&db, ids[m + 1]).await;
                assert!(
                    same_except_version(&source, &originals[m + 1]),
                    "{backend:?} {order:?}: duplicate {m} not restored exactly"
                );
                // The survivor holds its own rows and those of every merge still in force.
                let now = load(&db, survivor).await;
                let mut expected = address_lines(&originals[0]);
                for (k, force) in in_force.iter().enumerate() {
                    if *force {
                        expected.extend(address_lines(&originals[k + 1]));
                    }
                }
                expected.sort();
                expected.dedup();
                assert_eq!(
                    address_lines(&now),
                    expected,
                    "{backend:?} {order:?} after {m}"
                );
                assert_eq!(
                    now.identifiers.len(),
                    originals[0].identifiers.len() + in_force.iter().filter(|f| **f).count(),
                    "{backend:?} {order:?} after {m}"
                );
            }
            for (id, original) in ids.iter().zip(&originals) {
                let now = load(&db, *id).await;
                assert!(
                    same_except_version(&now, original),
                    "{backend:?} {order:?}: {id} differs:\n{now:?}\n{original:?}"
                );
            }
            // Undone merges stay undone; the chain verifies.
            for m in merges {
                assert!(merge::undo(&mpi, &steward, m).await.is_err());
            }
            assert!(service::audit::verify(&db.conn).await.unwrap().ok);
        }
    }
}
