//! `mpi import FILE`: a person CSV round trip into the database, rejects with line numbers and
//! columns, idempotent re-import (keyed on the source identifier), and `--dry-run` writing
//! nothing; on SQLite and PostgreSQL through the real binary.

use migration::testing::{Backend, TestDb};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use entity::{audit_event, patient, patient_identifier, patient_name};

use crate::both_backends;
use crate::helpers::{ScratchDir, run_mpi_ok};

const PEOPLE: &str = "\
id,given_name,family_name,sex,birth_date,address_line,city,postal_code,phone,mrn,mrn_system,cluster_id
p1,Ottilie,Fairweather,F,1962-08-15,12 Orchard Lane,Exeter,EX4 4QJ,01392 555 0101,MRN-1,urn:test:mrn,c1
p2,Bartholomew,Quennell,M,19380130,3 Mill Road,Truro,TR1 2AA,,MRN-2,urn:test:mrn,c2
p3,Ada,Lovelace,female,1915-12-10,,London,,,MRN-3,,c3
p4,Bad,Date,F,1990-02-30,,,,,MRN-4,urn:test:mrn,c4
p5,Same,Mrn,M,1970-01-01,,,,,MRN-1,urn:test:mrn,c5
,No,Id,M,1970-01-01,,,,,,,c6
p7,Grace,Hopper,X,1906-12-09,,,,,,,c7
";

async fn patients(db: &TestDb) -> u64 {
    patient::Entity::find()
        .count(&db.conn)
        .await
        .expect("count")
}

async fn import_round_trip(backend: Backend) {
    let db = TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    let file = dir.path.join("people.csv");
    std::fs::write(&file, PEOPLE).expect("write csv");
    let file = file.to_str().expect("utf-8 path");
    let args = |extra: &[&'static str]| {
        let mut v = vec!["import", file, "--database-url", db.url.as_str(), "--quiet"];
        v.extend_from_slice(extra);
        v
    };

    // A dry run validates and writes nothing (not even the audit trail).
    let out = run_mpi_ok(&dir.path, &args(&["--dry-run"]));
    assert!(out.contains("dry run: 7 rows: 3 imported"), "{out}");
    assert_eq!(patients(&db).await, 0);
    assert_eq!(
        audit_event::Entity::find().count(&db.conn).await.unwrap(),
        0
    );

    let out = run_mpi_ok(&dir.path, &args(&[]));
    assert!(
        out.contains("7 rows: 3 imported, 0 already imported, 4 rejected"),
        "{out}"
    );
    assert_eq!(patients(&db).await, 3);
    if backend == Backend::Postgres {
        // The import left the planner statistics of what it filled (a table never analyzed
        // has reltuples -1; autovacuum waits a minute before it looks), and vacuumed it: its
        // pages are marked all-visible (a table never vacuumed has relallvisible 0).
        let row = db
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT reltuples::float8 AS n, relpages, relallvisible \
                 FROM pg_class WHERE relname = 'patient_name'",
            ))
            .await
            .unwrap()
            .unwrap();
        let analyzed: f64 = row.try_get("", "n").unwrap();
        assert_eq!(analyzed, 3.0, "patient_name statistics after the import");
        let pages: i32 = row.try_get("", "relpages").unwrap();
        let visible: i32 = row.try_get("", "relallvisible").unwrap();
        assert!(pages > 0, "patient_name has pages");
        assert_eq!(visible, pages, "every page of patient_name is all-visible");
    }
    let rejects =
        std::fs::read_to_string(dir.path.join("people.csv.rejects.csv")).expect("rejects");
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines[0], "line,column,reason");
    let mut rejected: Vec<(String, String)> = lines[1..]
        .iter()
        .map(|l| {
            let mut parts = l.splitn(3, ',');
            (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            )
        })
        .collect();
    rejected.sort();
    assert_eq!(
        rejected,
        vec![
            ("5".to_owned(), "birth_date".to_owned()),
            ("6".to_owned(), "identifiers[0]".to_owned()),
            ("7".to_owned(), "id".to_owned()),
            ("8".to_owned(), "sex".to_owned()),
        ],
        "{rejects}"
    );

    // The fields arrived, and each record carries its source identifier.
    let ada = patient_name::Entity::find()
        .filter(patient_name::Column::Family.eq("Lovelace"))
        .one(&db.conn)
        .await
        .unwrap()
        .expect("Ada imported");
    let ids: Vec<(String, String)> = patient_identifier::Entity::find()
        .filter(patient_identifier::Column::PatientId.eq(ada.patient_id))
        .all(&db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.system, i.value))
        .collect();
    assert!(
        ids.contains(&("urn:mpi:import:people".into(), "p3".into())),
        "{ids:?}"
    );
    assert!(
        ids.contains(&("urn:mpi:import:people:mrn".into(), "MRN-3".into())),
        "{ids:?}"
    );
    let stored = patient::Entity::find_by_id(ada.patient_id)
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.birth_date.map(|d| d.to_string()).as_deref(),
        Some("1915-12-10")
    );
    let audits = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("import"))
        .count(&db.conn)
        .await
        .unwrap();
    assert_eq!(audits, 1, "one audit row per batch");

    // Importing the same file again creates nothing.
    let out = run_mpi_ok(&dir.path, &args(&[]));
    assert!(
        out.contains("7 rows: 0 imported, 3 already imported, 4 rejected"),
        "{out}"
    );
    assert_eq!(patients(&db).await, 3);
}
both_backends!(import_round_trip);
