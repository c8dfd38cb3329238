//! Mothers written after their children (issue 29 §7), on both backends: the lookup of the
//! children naming a mother's identifiers is served by migration 20's index on the mother's
//! identifier (no scan of `patient`), and a registration or an update gives those children
//! their mother in its transaction, audited as updates of the children. The REST face of the
//! same is tested in `api/tests/api/mothers_late.rs`.

mod common;

use common::*;
use entity::audit_event;
use migration::testing::Backend;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryTrait,
    Statement, TransactionTrait,
};
use service::import::{ImportRow, Importer};
use service::patients::{self, IdentifierInput, MotherIdentifier, MotherInput, RegisterOutcome};
use uuid::Uuid;

/// The plan of `statement` with its values: SQLite's `EXPLAIN QUERY PLAN`, PostgreSQL's
/// `EXPLAIN` with sequential scans off (so an index is chosen whenever one can serve).
async fn plan(conn: &sea_orm::DatabaseConnection, statement: Statement) -> String {
    let backend = statement.db_backend;
    let txn = conn.begin().await.expect("begin");
    if backend == DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await
            .expect("set");
    }
    let prefix = if backend == DbBackend::Postgres {
        "EXPLAIN"
    } else {
        "EXPLAIN QUERY PLAN"
    };
    let rows = txn
        .query_all_raw(Statement {
            sql: format!("{prefix} {}", statement.sql),
            ..statement
        })
        .await
        .expect("explain");
    let column = if backend == DbBackend::Postgres {
        "QUERY PLAN"
    } else {
        "detail"
    };
    let lines: Vec<String> = rows
        .iter()
        .map(|row| row.try_get::<String>("", column).expect("plan line"))
        .collect();
    txn.rollback().await.expect("rollback");
    lines.join("\n")
}

#[tokio::test]
async fn the_children_of_a_mother_are_found_through_the_index() {
    for backend in Backend::ALL {
        let (db, _mpi) = setup(backend).await;
        // Planner statistics of a table with patients, few of them naming a mother (on an empty
        // table every index costs the same and the plan says nothing).
        let rows = (0..1000)
            .map(|n| {
                let mut input = margaret();
                input.identifiers.clear();
                if n % 100 == 0 {
                    input.mother = child_of(&format!("M-{n}"), "unused").mother;
                }
                ImportRow {
                    line: n,
                    source_id: format!("r{n}"),
                    input,
                }
            })
            .collect();
        let admin = ctx_as("admin", service::context::Role::Admin);
        Importer::new("plan", false)
            .batch(&db.conn, &admin, rows)
            .await
            .expect("import");
        db.conn
            .execute_unprepared("ANALYZE")
            .await
            .expect("analyze");
        let named = vec![
            (
                vec!["urn:test:mrn".to_owned(), "MRN".to_owned()],
                "M-1".to_owned(),
            ),
            (vec!["urn:test:nid".to_owned()], "N-1".to_owned()),
        ];
        let query = service::mothers::children_naming(&named, Uuid::new_v4()).into_query();
        let statement = db.conn.get_database_backend().build(&query);
        let plan = plan(&db.conn, statement).await;
        assert!(
            plan.contains("idx_patient_mother_identifier"),
            "{backend:?}: {plan}"
        );
        assert!(
            !plan.contains("SCAN patient\n") && !plan.ends_with("SCAN patient"),
            "{backend:?}: {plan}"
        );
        assert!(!plan.contains("Seq Scan"), "{backend:?}: {plan}");
    }
}

fn child_of(mother_mrn: &str, own_mrn: &str) -> patients::PatientInput {
    let mut input = margaret();
    input.names = vec![name("Whitfield", &["Baby Girl"])];
    input.birth_date = Some(date(2026, 10, 1));
    input.identifiers = vec![IdentifierInput {
        system: "urn:test:mrn".to_owned(),
        value: own_mrn.to_owned(),
        ..Default::default()
    }];
    input.mother = MotherInput {
        maiden_family: Some("Dlamini".to_owned()),
        identifier: Some(MotherIdentifier {
            system: "urn:test:mrn".to_owned(),
            value: mother_mrn.to_owned(),
        }),
        ..Default::default()
    };
    input
}

fn created(outcome: RegisterOutcome) -> patients::Patient {
    match outcome {
        RegisterOutcome::Created { patient, .. } => *patient,
        RegisterOutcome::Duplicates { .. } => panic!("a new patient must be created"),
    }
}

#[tokio::test]
async fn a_mother_registered_later_is_given_to_her_children() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let desk = desk();
        let twin_a = created(
            patients::register(&mpi, &desk, child_of("M-1", "C-1"), true)
                .await
                .unwrap(),
        );
        let twin_b = created(
            patients::register(&mpi, &desk, child_of("M-1", "C-2"), true)
                .await
                .unwrap(),
        );
        // A deleted child is left as it is.
        let gone = created(
            patients::register(&mpi, &desk, child_of("M-1", "C-3"), true)
                .await
                .unwrap(),
        );
        patients::delete(
            &mpi,
            &ctx_as("admin", service::context::Role::Admin),
            gone.id(),
        )
        .await
        .unwrap();
        assert_eq!(twin_a.record.patient.mother_patient_id, None);

        let mut mother = margaret();
        mother.identifiers = vec![IdentifierInput {
            system: "urn:test:mrn".to_owned(),
            value: "M-1".to_owned(),
            ..Default::default()
        }];
        let mother = created(patients::register(&mpi, &desk, mother, true).await.unwrap());
        for twin in [&twin_a, &twin_b] {
            let now = patients::get(&mpi, &desk, twin.id()).await.unwrap();
            assert_eq!(
                now.record.patient.mother_patient_id,
                Some(mother.id()),
                "{backend:?}"
            );
            assert_eq!(now.version(), twin.version() + 1, "{backend:?}");
            assert_eq!(now.record.patient.updated_by, "desk-1");
            let updates = audit_event::Entity::find()
                .filter(audit_event::Column::Action.eq("update"))
                .filter(audit_event::Column::EntityId.eq(twin.id().to_string()))
                .count(&db.conn)
                .await
                .unwrap();
            assert_eq!(updates, 1, "{backend:?}");
        }
        let row = entity::patient::Entity::find_by_id(gone.id())
            .one(&db.conn)
            .await
            .unwrap()
            .expect("deleted row kept");
        assert_eq!(row.mother_patient_id, None, "{backend:?}");
    }
}
