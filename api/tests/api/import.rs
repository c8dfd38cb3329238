//! `mpi import FILE`: a person CSV round trip into the database, rejects with line numbers and
//! columns, idempotent re-import (keyed on the source identifier), and `--dry-run` writing
//! nothing; on SQLite and PostgreSQL through the real binary.

use migration::testing::{Backend, TestDb};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use entity::{audit_event, patient, patient_identifier, patient_name};

use crate::both_backends;
use crate::helpers::{ScratchDir, run_mpi, run_mpi_ok};

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

/// The stored patient row of the one imported record of this family name.
async fn patient_named(db: &TestDb, family: &str) -> patient::Model {
    let name = patient_name::Entity::find()
        .filter(patient_name::Column::Family.eq(family))
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{family} imported"));
    patient::Entity::find_by_id(name.patient_id)
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap()
}

/// Partial birth dates (a year, a year and month) are stored with their precision, as REST
/// stores them, whether the CSV is read strictly or leniently; a date of neither form is still
/// a reject.
async fn import_stores_partial_birth_dates(backend: Backend) {
    use entity::enums::DatePrecision;
    let db = TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    let file = dir.path.join("partial.csv");
    std::fs::write(
        &file,
        "id,given_name,family_name,birth_date\n\
         y,Yara,Year,1984\n\
         m,Mona,Month,1984-01\n\
         d,Dana,Day,1984-01-25\n\
         x,Xena,Bad,1984-13\n",
    )
    .expect("write csv");
    let file = file.to_str().expect("utf-8 path");
    let out = run_mpi_ok(
        &dir.path,
        &["import", file, "--database-url", db.url.as_str(), "--quiet"],
    );
    assert!(out.contains("4 rows: 3 imported"), "{out}");
    for (family, date, precision) in [
        ("Year", "1984-01-01", DatePrecision::Year),
        ("Month", "1984-01-01", DatePrecision::Month),
        ("Day", "1984-01-25", DatePrecision::Day),
    ] {
        let stored = patient_named(&db, family).await;
        assert_eq!(
            stored.birth_date.map(|d| d.to_string()).as_deref(),
            Some(date),
            "{family}"
        );
        assert_eq!(stored.birth_date_precision, Some(precision), "{family}");
    }
    let rejects = std::fs::read_to_string(dir.path.join("partial.csv.rejects.csv")).unwrap();
    assert!(rejects.contains("5,birth_date,"), "{rejects}");
}
both_backends!(import_stores_partial_birth_dates);

/// A US export writes birth dates month first: `--date-order mdy` stores them as written; without
/// it, in a file whose dates fit one order as often as the other (`11/25` only month first,
/// `25/03` only day first) they are rejects (no order can be assumed), and a date the order
/// cannot read still is. A file whose dates say one order is read in it without being told. The
/// file's own id header and delimiter are given as for the file-mode commands.
async fn import_reads_dates_in_the_order_the_file_writes_them(backend: Backend) {
    let db = TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    let file = dir.path.join("us.csv");
    std::fs::write(
        &file,
        "KEY;given_name;family_name;birth_date\n\
         a;Ann;March;03/05/1972\n\
         b;Bob;Late;11/25/1980\n\
         c;Cy;Dotted;07.04.1990\n\
         d;Di;Wrong;25/03/1972\n",
    )
    .expect("write csv");
    let file = file.to_str().expect("utf-8 path");
    let import = |extra: &[&str]| {
        let mut args = vec!["import", file, "--database-url", db.url.as_str(), "--quiet"];
        args.extend_from_slice(&["--columns", "id=KEY"]);
        args.extend_from_slice(extra);
        run_mpi_ok(&dir.path, &args)
    };
    let out = import(&[]);
    assert!(out.contains("4 rows: 0 imported"), "{out}");
    let rejects = std::fs::read_to_string(dir.path.join("us.csv.rejects.csv")).unwrap();
    assert_eq!(rejects.matches(",birth_date,").count(), 4, "{rejects}");
    let out = import(&["--date-order", "mdy", "--delimiter", ";"]);
    assert!(out.contains("4 rows: 3 imported"), "{out}");
    for (family, date) in [
        ("March", "1972-03-05"),
        ("Late", "1980-11-25"),
        ("Dotted", "1990-07-04"),
    ] {
        let stored = patient_named(&db, family).await;
        assert_eq!(
            stored.birth_date.map(|d| d.to_string()).as_deref(),
            Some(date),
            "{family}"
        );
    }
    let rejects = std::fs::read_to_string(dir.path.join("us.csv.rejects.csv")).unwrap();
    assert!(rejects.contains("5,birth_date,"), "{rejects}");
    // Without --date-order: 12/25 fits only month first, so 04/06 is April 6.
    let file = dir.path.join("us2.csv");
    std::fs::write(
        &file,
        "id,given_name,family_name,birth_date\n\
         e,Eve,Inferred,04/06/1972\n\
         f,Fay,Christmas,12/25/1980\n",
    )
    .expect("write csv");
    let file = file.to_str().expect("utf-8 path");
    let out = run_mpi(
        &dir.path,
        &["import", file, "--database-url", db.url.as_str(), "--quiet"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 rows: 2 imported"));
    assert!(
        stderr.contains(
            "us2.csv: delimiter ','; columns id, given_name, family_name, birth_date; ignored: none"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("birth dates read as MM/DD/YYYY (inferred from the first rows: 0 fit only day first, 1 only month first"),
        "{stderr}"
    );
    for (family, date) in [("Inferred", "1972-04-06"), ("Christmas", "1980-12-25")] {
        let stored = patient_named(&db, family).await;
        assert_eq!(
            stored.birth_date.map(|d| d.to_string()).as_deref(),
            Some(date),
            "{family}"
        );
    }
}
both_backends!(import_reads_dates_in_the_order_the_file_writes_them);

/// Records from different facilities sharing an identifier of a `--links-records` domain are
/// one person, as registration makes them: within one file and against records already stored.
/// An identifier of another domain held twice is still a reject.
async fn import_links_records_sharing_a_links_records_identifier(backend: Backend) {
    use entity::patient_link;
    let db = TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    let url = db.url.as_str();
    run_mpi_ok(
        &dir.path,
        &[
            "domains",
            "add",
            "SSN",
            "--url",
            "http://hl7.org/fhir/sid/us-ssn",
            "--links-records",
            "--database-url",
            url,
        ],
    );
    let import = |name: &str, text: &str| {
        let file = dir.path.join(name);
        std::fs::write(&file, text).expect("write csv");
        run_mpi_ok(
            &dir.path,
            &[
                "import",
                file.to_str().expect("utf-8 path"),
                "--database-url",
                url,
                "--quiet",
            ],
        )
    };
    let out = import(
        "hospital.csv",
        "id,given_name,family_name,birth_date,national_id,mrn,mrn_system\n\
         h1,Ottilie,Fairweather,1962-08-15,123-45-6789,A-1,urn:hospital:a\n\
         h2,Ottie,Fairweather,1962-08-15,123-45-6789,B-7,urn:hospital:b\n\
         h3,Ada,Lovelace,1915-12-10,987-65-4321,A-1,urn:hospital:a\n",
    );
    assert!(
        out.contains("3 rows: 2 imported, 0 already imported, 1 rejected"),
        "{out}"
    );
    let out = import(
        "clinic.csv",
        "id,given_name,family_name,birth_date,national_id,mrn,mrn_system\n\
         c1,O.,Fairweather,1962,123-45-6789,C-3,urn:clinic\n",
    );
    assert!(
        out.contains("1 rows: 1 imported") || out.contains("1 row: 1 imported"),
        "{out}"
    );

    let holders: Vec<patient_identifier::Model> = patient_identifier::Entity::find()
        .filter(patient_identifier::Column::Value.eq("123456789"))
        .all(&db.conn)
        .await
        .unwrap();
    let holders = if holders.is_empty() {
        patient_identifier::Entity::find()
            .filter(patient_identifier::Column::Value.eq("123-45-6789"))
            .all(&db.conn)
            .await
            .unwrap()
    } else {
        holders
    };
    assert_eq!(holders.len(), 3, "{holders:?}");
    let mut persons = Vec::new();
    for h in &holders {
        let p = patient::Entity::find_by_id(h.patient_id)
            .one(&db.conn)
            .await
            .unwrap()
            .unwrap();
        persons.push(p.person_id);
    }
    persons.dedup();
    assert_eq!(persons.len(), 1, "one person: {persons:?}");
    // The first holder keeps the plain row, each later record its own copy.
    let plain = holders.iter().filter(|h| h.link_key.is_empty()).count();
    assert_eq!(plain, 1, "{holders:?}");
    let links = patient_link::Entity::find().all(&db.conn).await.unwrap();
    assert_eq!(
        links.len(),
        4,
        "a link each way per joined record: {links:?}"
    );
    assert!(
        links
            .iter()
            .all(|l| l.reason.as_deref().is_some_and(|r| r.contains("SSN"))),
        "{links:?}"
    );
    let audited = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("link.create"))
        .count(&db.conn)
        .await
        .unwrap();
    assert_eq!(audited, 4);
    let rejects =
        std::fs::read_to_string(dir.path.join("hospital.csv.rejects.csv")).expect("rejects");
    assert!(rejects.contains("4,identifiers["), "{rejects}");
}
both_backends!(import_links_records_sharing_a_links_records_identifier);
