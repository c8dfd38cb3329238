//! `mpi import` of FHIR files: patients exported through one server's FHIR facade (a searchset
//! Bundle, and the same resources as NDJSON) imported into another server's database read back
//! the same through its facade and are found by its matcher; re-importing creates nothing;
//! rejects carry the line or entry and the FHIR path; `--dry-run` reports identifier clashes
//! within the file, across batches, exactly as the import does. SQLite and PostgreSQL, through
//! the real binary.

use std::time::{Duration, Instant};

use entity::patient_identifier;
use migration::testing::Backend;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Statement};
use serde_json::{Value, json};
use service::context::Role;

use crate::app::TestApp;
use crate::both_backends;
use crate::helpers::{ScratchDir, run_mpi, run_mpi_ok};

const V2: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";

/// Three invented people, rich enough to exercise every stored element.
fn people() -> Vec<Value> {
    vec![
        json!({
            "resourceType": "Patient",
            "active": true,
            "identifier": [
                {"use": "usual", "type": {"coding": [{"system": V2, "code": "MR"}]},
                 "system": "urn:test:mrn", "value": "MRN-7001", "period": {"start": "2001-02-03"}},
                {"use": "official", "type": {"coding": [{"system": V2, "code": "SS"}]},
                 "system": "urn:test:ssn", "value": "SSN-7001"},
                {"system": "urn:test:dl", "value": "DL-7001"}
            ],
            "name": [
                {"use": "official", "family": "Featherstonehaugh", "given": ["Araminta", "Jane"],
                 "prefix": ["Dr"], "suffix": ["PhD"], "period": {"start": "2004-06-01"}},
                {"use": "maiden", "family": "Pennywhistle", "given": ["Araminta"],
                 "period": {"end": "2004-05-31"}},
                {"use": "nickname", "given": ["Minty"]}
            ],
            "telecom": [
                {"system": "phone", "value": "01392 555 0199", "use": "mobile", "rank": 1},
                {"system": "email", "value": "araminta@example.org", "use": "work"},
                {"system": "phone", "value": "01392 555 0100", "use": "home"}
            ],
            "gender": "female",
            "birthDate": "1971-03-09",
            "deceasedDateTime": "2024-11-02T14:30:00.000Z",
            "address": [
                {"use": "home", "type": "both", "text": "4 Quay Hill, Exeter",
                 "line": ["4 Quay Hill", "Flat 2"], "city": "Exeter", "district": "Devon",
                 "state": "England", "postalCode": "EX2 4AN", "country": "GB",
                 "period": {"start": "2010-09-01"}},
                {"use": "old", "line": ["1 Mill Lane"], "city": "Truro", "country": "GB"}
            ],
            "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]},
            "multipleBirthInteger": 2
        }),
        json!({
            "resourceType": "Patient",
            "active": true,
            "identifier": [{"system": "urn:test:mrn", "value": "MRN-7002"}],
            "name": [{"use": "official", "family": "Quennell", "given": ["Bartholomew"]}],
            "gender": "male",
            "birthDate": "1938-01-30",
            "deceasedBoolean": true,
            "multipleBirthBoolean": false
        }),
        json!({
            "resourceType": "Patient",
            "active": true,
            "identifier": [{"system": "urn:test:mrn", "value": "MRN-7003"}],
            "name": [{"family": "Zylberstein", "given": ["Henrietta"]}],
            "birthDate": "1950-07-01",
            "address": [{"city": "Penzance", "postalCode": "TR18 4BD"}]
        }),
    ]
}

/// `resource` without what the receiving MPI sets itself: `id`, `meta`, and the source
/// identifier the import added.
fn comparable(resource: &Value, source_system: &str) -> Value {
    let mut r = resource.clone();
    let o = r.as_object_mut().expect("resource object");
    o.remove("id");
    o.remove("meta");
    if let Some(ids) = o.get_mut("identifier").and_then(Value::as_array_mut) {
        ids.retain(|i| i["system"] != source_system);
    }
    r
}

async fn fhir_export_imports_into_another_mpi(backend: Backend) {
    // Export: the patients as the first server's FHIR facade answers a search.
    let origin = TestApp::spawn(backend).await;
    for p in people() {
        let (status, body) = origin
            .server
            .call(
                "POST",
                "/fhir/Patient",
                Some(origin.key(Role::Registrar)),
                &[("X-MPI-Force", "true")],
                Some(&p),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // One searchset Bundle holding the entries the facade answers (search needs a criterion).
    let mut bundle = Value::Null;
    let mut entries = Vec::new();
    for mrn in ["MRN-7001", "MRN-7002", "MRN-7003"] {
        let (status, found) = origin
            .as_role(
                Role::Registrar,
                "GET",
                &format!("/fhir/Patient?identifier=urn:test:mrn|{mrn}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{found}");
        entries.extend(found["entry"].as_array().expect("entries").iter().cloned());
        bundle = found;
    }
    bundle["entry"] = Value::Array(entries);
    bundle["total"] = json!(3);
    let exported: Vec<Value> = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"].clone())
        .collect();
    assert_eq!(exported.len(), 3, "{bundle}");
    let dir = ScratchDir::new();
    let bundle_file = dir.path.join("export.json");
    std::fs::write(&bundle_file, serde_json::to_string_pretty(&bundle).unwrap()).unwrap();
    let ndjson_file = dir.path.join("export.ndjson");
    let lines: Vec<String> = exported.iter().map(Value::to_string).collect();
    std::fs::write(&ndjson_file, lines.join("\n") + "\n").unwrap();

    // Import into a second MPI whose server is running.
    let target = TestApp::spawn(backend).await;
    let import = |file: &std::path::Path| {
        run_mpi_ok(
            &dir.path,
            &[
                "import",
                file.to_str().unwrap(),
                "--database-url",
                target.db.url.as_str(),
                "--quiet",
            ],
        )
    };
    let out = import(&bundle_file);
    assert!(
        out.contains("3 entries: 3 imported, 0 already imported, 0 rejected"),
        "{out}"
    );

    // Read back through the target's facade: the same resources, plus the source identifier.
    let system = "urn:mpi:import:export";
    for sent in &exported {
        let old_id = sent["id"].as_str().unwrap();
        let (status, found) = target
            .as_role(
                Role::Registrar,
                "GET",
                &format!("/fhir/Patient?identifier={system}|{old_id}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["total"], 1, "{found}");
        let got = &found["entry"][0]["resource"];
        assert_ne!(got["id"], sent["id"]);
        assert_eq!(
            got["identifier"].as_array().unwrap().last().unwrap(),
            &json!({"system": system, "value": old_id}),
            "{got}"
        );
        assert_eq!(
            comparable(got, system),
            comparable(sent, system),
            "round trip"
        );
    }

    // The running server caught up from change_log: its matcher finds an imported patient.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, answer) = target
            .as_role(
                Role::Registrar,
                "POST",
                "/api/v1/match",
                Some(&json!({
                    "names": [{"family": "Quennell", "given": ["Bartholomew"]}],
                    "birth_date": "1938-01-30", "gender": "male"
                })),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        if !answer["candidates"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the server never caught up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The same records as NDJSON (same source name, from the file stem): nothing new.
    let out = import(&ndjson_file);
    assert!(
        out.contains("3 rows: 0 imported, 3 already imported, 0 rejected"),
        "{out}"
    );
    let patients = entity::patient::Entity::find()
        .count(&target.db.conn)
        .await
        .expect("count");
    assert_eq!(patients, 3);
}
both_backends!(fhir_export_imports_into_another_mpi);

/// Reads a rejects file into (position, field) pairs, checking its header.
fn rejects(path: &std::path::Path, header: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).expect("rejects file");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader
            .headers()
            .unwrap()
            .iter()
            .collect::<Vec<_>>()
            .join(","),
        header
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect()
}

async fn fhir_rejects_name_the_position_and_the_element(backend: Backend) {
    let db = migration::testing::TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    let good = |id: &str, mrn: &str| {
        json!({"resourceType": "Patient", "id": id, "name": [{"family": "Fairweather"}],
               "identifier": [{"system": "urn:test:mrn", "value": mrn}]})
        .to_string()
    };
    let ndjson = [
        good("n1", "M1"),
        r#"{"resourceType":"Patient","id":"n2","birthDate":"1962-13-45","name":[{"family":"X"}]}"#
            .to_owned(),
        String::new(),
        r#"{"resourceType":"Patient","id":"n4","modifierExtension":[{"url":"x","valueBoolean":true}],"name":[{"family":"X"}]}"#
            .to_owned(),
        r#"{"resourceType":"Observation","id":"o5"}"#.to_owned(),
        good("n6", "M1"),
        r#"{"resourceType":"Patient","name":[{"family":"X"}]}"#.to_owned(),
        r#"{"resourceType":"Patient","id":"n8","name":[{"family":"X"}],"managingOrganization":{"reference":"Organization/5f0c6a52-3c55-4b0e-9a53-2a1d2f0e8c11"}}"#.to_owned(),
        r#"{"resourceType":"Patient","id":"n9","name":[{"family":"X"}]"#.to_owned(),
        good("n1", "M9"),
        good("n11", "M11"),
    ]
    .join("\n");
    let file = dir.path.join("people.ndjson");
    std::fs::write(&file, ndjson).unwrap();
    let url = db.url.as_str();
    let args = |extra: &'static str| {
        let mut v = vec![
            "import",
            file.to_str().unwrap(),
            "--database-url",
            url,
            "--quiet",
            "--batch-size",
            "2",
        ];
        if !extra.is_empty() {
            v.push(extra);
        }
        v
    };
    let expected_rejects = vec![
        ("2".to_owned(), "Patient.birthDate".to_owned()),
        ("4".to_owned(), "Patient.modifierExtension".to_owned()),
        ("5".to_owned(), "resourceType".to_owned()),
        ("6".to_owned(), "Patient.identifier[0]".to_owned()),
        ("7".to_owned(), "Patient.id".to_owned()),
        ("8".to_owned(), "Patient.managingOrganization".to_owned()),
        ("9".to_owned(), String::new()),
    ];
    let summary = "10 rows: 2 imported, 1 already imported, 7 rejected";
    let rejects_file = dir.path.join("people.ndjson.rejects.csv");
    let dry = run_mpi_ok(&dir.path, &args("--dry-run"));
    assert!(dry.contains(&format!("dry run: {summary}")), "{dry}");
    assert_eq!(
        rejects(&rejects_file, "line,field,reason"),
        expected_rejects
    );
    let real = run_mpi_ok(&dir.path, &args(""));
    assert!(real.contains(summary), "{real}");
    assert_eq!(
        rejects(&rejects_file, "line,field,reason"),
        expected_rejects
    );

    // A Bundle: rejects by entry index (from 0); a damaged tail stops the import with exit
    // code 3 after the entries before it were imported.
    let bundle = format!(
        r#"{{"resourceType":"Bundle","type":"collection","entry":[
            {{"resource":{}}},
            {{"resource":{{"resourceType":"Patient","id":"b2","gender":"robot","name":[{{"family":"X"}}]}}}},
            {{"fullUrl":"urn:x"}},
            {{"resource":{}}},
            {{"resource":{{"resourceType":"Patient","id":"b5""#,
        good("b1", "B1"),
        good("b4", "B4"),
    );
    let file = dir.path.join("batch.json");
    std::fs::write(&file, bundle).unwrap();
    let out = run_mpi(
        &dir.path,
        &[
            "import",
            file.to_str().unwrap(),
            "--database-url",
            url,
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("4 entries: 2 imported, 0 already imported, 2 rejected"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("batch.json:6:"), "{stderr}");
    assert_eq!(
        rejects(
            &dir.path.join("batch.json.rejects.csv"),
            "entry,field,reason"
        ),
        vec![
            ("1".to_owned(), "Patient.gender".to_owned()),
            ("2".to_owned(), "resource".to_owned()),
        ]
    );
}
both_backends!(fhir_rejects_name_the_position_and_the_element);

/// Two rows holding one MRN, and one id given twice, in different batches: the dry run reports
/// exactly what the import then does.
async fn dry_run_reports_clashes_within_the_file(backend: Backend) {
    let db = migration::testing::TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    let file = dir.path.join("clash.csv");
    std::fs::write(
        &file,
        "id,given_name,family_name,birth_date,mrn,mrn_system\n\
         c1,Ada,Lovelace,1915-12-10,M-1,urn:test:mrn\n\
         c2,Grace,Hopper,1906-12-09,M-2,urn:test:mrn\n\
         c3,Mary,Somerville,1880-12-26,M-3,urn:test:mrn\n\
         c4,Emmy,Noether,1882-03-23,M-2,urn:test:mrn\n\
         c1,Ada,Byron,1915-12-10,M-5,urn:test:mrn\n\
         c6,Sofia,Kovalevskaya,1850-01-15,M-6,urn:test:mrn\n",
    )
    .unwrap();
    let url = db.url.as_str();
    let run = |dry: bool| {
        let mut args = vec![
            "import",
            file.to_str().unwrap(),
            "--database-url",
            url,
            "--quiet",
            "--batch-size",
            "2",
        ];
        if dry {
            args.push("--dry-run");
        }
        let out = run_mpi_ok(&dir.path, &args);
        let rejects = std::fs::read_to_string(dir.path.join("clash.csv.rejects.csv")).unwrap();
        (out, rejects)
    };
    let (dry, dry_rejects) = run(true);
    let summary = "6 rows: 4 imported, 1 already imported, 1 rejected";
    assert!(dry.contains(&format!("dry run: {summary}")), "{dry}");
    assert!(
        dry_rejects.contains("5,identifiers[0],another live patient"),
        "{dry_rejects}"
    );
    let (real, real_rejects) = run(false);
    assert!(real.contains(summary), "{real}");
    assert_eq!(dry_rejects, real_rejects);
    // The batches are written while the next is prepared (two at once on PostgreSQL): the
    // clash across batches is still refused, the first holder keeps the MRN, and each batch
    // with something new is one audited transaction.
    let count = |sql: &'static str| {
        let conn = &db.conn;
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
                .await
                .expect("query")
                .expect("a row");
            row.try_get_by_index::<i64>(0).expect("count")
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM patient").await, 4);
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_event WHERE action = 'import'").await,
        3
    );
    let holder: Vec<uuid::Uuid> = patient_identifier::Entity::find()
        .filter(patient_identifier::Column::Value.eq("M-2"))
        .all(&db.conn)
        .await
        .expect("identifiers")
        .into_iter()
        .map(|i| i.patient_id)
        .collect();
    assert_eq!(holder.len(), 1, "one patient holds M-2");
    let c2 = patient_identifier::Entity::find()
        .filter(patient_identifier::Column::Value.eq("c2"))
        .one(&db.conn)
        .await
        .expect("source identifier")
        .expect("c2 was imported");
    assert_eq!(holder[0], c2.patient_id, "c2 came first");
}
both_backends!(dry_run_reports_clashes_within_the_file);
