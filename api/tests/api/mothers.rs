//! Mothers and newborns (issue 29 §7, issue 30 PID-6/PID-21, issue 31 mothersMaidenName)
//! through the real server on SQLite and PostgreSQL: the mother's maiden name and identifier in
//! REST (register, read, search, match), in the HL7 v2 feed and PDQ answers and parameters (sent
//! and read with the independent Python `hl7` package), and in FHIR Patient (JSON and XML,
//! parsed by `fhir.resources`) with the PDQm `mothersMaidenName` parameter. A newborn "Baby
//! Girl" with her mother's identifier is a certain match of her later named record; twins of one
//! mother are not.

use std::path::PathBuf;
use std::process::Command;

use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;

use crate::app::{TestApp, id_of, person};
use crate::both_backends;
use crate::fhir::{Fhir, checker_python, fhir_person};
use crate::helpers::ScratchDir;
use crate::hl7_mllp::{Hl7Server, adt, send_with_hl7_package};

const MRN: &str = "urn:test:mrn";
const MAIDEN_URL: &str = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName";

/// `person(...)` with the mother's maiden name and MRN and, when given, a birth order.
fn child(given: &str, born: &str, mrn: &str, mother: &str, order: Option<i32>) -> Value {
    let mut body = person("Jones", given, born, mrn);
    body["mother"] = json!({
        "maiden_family": "Smith",
        "maiden_given": "Naledi",
        "identifier": {"system": MRN, "value": mother}
    });
    if let Some(order) = order {
        body["multiple_birth"] = json!(true);
        body["multiple_birth_order"] = json!(order);
    }
    body
}

/// The ids a REST search answers, sorted.
async fn search_ids(app: &TestApp, query: &str) -> Vec<String> {
    let (status, page) = app
        .admin("GET", &format!("/api/v1/patients?{query}"), None)
        .await;
    assert_eq!(status, 200, "{query}: {page}");
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect();
    ids.sort();
    ids
}

/// `POST /api/v1/match` with `body` (identifiers left out, so only demographics and the mother
/// speak); the candidate `id`'s entry.
async fn candidate(app: &TestApp, body: &Value, id: &str) -> Value {
    let mut body = body.clone();
    body["identifiers"] = json!([]);
    let (status, answer) = app.admin("POST", "/api/v1/match", Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    answer["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .find(|c| c["patient_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} is no candidate: {answer}"))
}

fn level_of(candidate: &Value, comparison: &str) -> String {
    candidate["explanation"]["comparisons"]
        .as_array()
        .expect("comparisons")
        .iter()
        .find(|c| c["comparison"] == comparison)
        .and_then(|c| c["level"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn rest_mother_fields_search_and_match(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mother = app
        .register_forced(&person("Smith", "Naledi", "1995-03-01", "M-100"))
        .await;
    let mother_id = id_of(&mother);
    assert!(mother.get("mother").is_none(), "{mother}");

    // A newborn registered before she is named, with her mother's identifier.
    let baby = app
        .register_forced(&child("Baby Girl", "2026-11-01", "NB-1", "M-100", None))
        .await;
    let baby_id = id_of(&baby);
    assert_eq!(baby["mother"]["maiden_family"], "Smith", "{baby}");
    assert_eq!(baby["mother"]["maiden_given"], "Naledi", "{baby}");
    assert_eq!(baby["mother"]["identifier"]["value"], "M-100", "{baby}");
    assert_eq!(baby["mother"]["patient_id"], mother_id.as_str(), "{baby}");
    let (status, read) = app
        .admin("GET", &format!("/api/v1/patients/{baby_id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["mother"], baby["mother"], "{read}");

    // Search by the mother's identifier (system|value, a value alone) and maiden name.
    assert_eq!(
        search_ids(&app, "mother_identifier=urn:test:mrn%7CM-100").await,
        vec![baby_id.clone()]
    );
    assert_eq!(
        search_ids(&app, "mother_identifier=M-100").await,
        vec![baby_id.clone()]
    );
    assert!(
        search_ids(&app, "mother_identifier=urn:test:mrn%7CM-999")
            .await
            .is_empty()
    );
    assert_eq!(
        search_ids(&app, "mother_maiden_name=smi").await,
        vec![baby_id.clone()]
    );
    assert_eq!(
        search_ids(&app, "mother_maiden_name=SMITH&family=jones").await,
        vec![baby_id.clone()]
    );
    assert!(
        search_ids(&app, "mother_maiden_name=jones")
            .await
            .is_empty()
    );
    let (status, body) = app
        .admin(
            "GET",
            "/api/v1/patients?mother_identifier=urn:test:mrn%7C",
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "mother_identifier", "{body}");

    // Her later named record: the mother's identifier and the birth date make the placeholder
    // a certain match; without the mother it stays a placeholder (reviewed at most).
    let named = child("Olivia", "2026-11-01", "CH-1", "M-100", None);
    let found = candidate(&app, &named, &baby_id).await;
    assert_eq!(found["grade"], "certain", "{found}");
    assert_eq!(level_of(&found, "mother_identifier"), "agree", "{found}");
    assert_eq!(level_of(&found, "mother_maiden_name"), "exact", "{found}");
    let mut anonymous = named.clone();
    anonymous.as_object_mut().expect("body").remove("mother");
    let found = candidate(&app, &anonymous, &baby_id).await;
    assert_ne!(found["grade"], "certain", "{found}");

    // Twins of one mother, same birth date, birth orders 1 and 2: never certain, though they
    // agree on everything else.
    let first = app
        .register_forced(&child("Baby Girl", "2026-10-05", "TW-1", "M-200", Some(1)))
        .await;
    assert_eq!(first["multiple_birth_order"], 1, "{first}");
    let second = child("Baby Girl", "2026-10-05", "TW-2", "M-200", Some(2));
    let found = candidate(&app, &second, &id_of(&first)).await;
    assert!(found["probability"].as_f64().expect("p") > 0.99, "{found}");
    assert_ne!(found["grade"], "certain", "{found}");
    assert_eq!(
        found["explanation"]["review_reason"], "twins_of_one_mother",
        "{found}"
    );
    // The same child again (same birth order) is certain.
    let again = child("Baby Girl", "2026-10-05", "TW-1B", "M-200", Some(1));
    let found = candidate(&app, &again, &id_of(&first)).await;
    assert_eq!(found["grade"], "certain", "{found}");

    // Bounds and blanks, named by field, values never echoed.
    let mut blank = child("Ava", "2026-11-01", "NB-9", "M-100", None);
    blank["mother"]["maiden_family"] = json!("   ");
    let (status, body) = app
        .admin("POST", "/api/v1/patients?force=true", Some(&blank))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "mother.maiden_family", "{body}");
    let mut long = child("Ava", "2026-11-01", "NB-9", "M-100", None);
    let secret = "X".repeat(300);
    long["mother"]["identifier"]["value"] = json!(secret);
    let (status, body) = app
        .admin("POST", "/api/v1/patients?force=true", Some(&long))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "mother.identifier.value", "{body}");
    assert!(!body.to_string().contains(&secret), "{body}");

    // An update without the mother removes her; with her, restores.
    let mut update = person("Jones", "Baby Girl", "2026-11-01", "NB-1");
    update["version"] = baby["version"].clone();
    let (status, updated) = app
        .admin("PUT", &format!("/api/v1/patients/{baby_id}"), Some(&update))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated.get("mother").is_none(), "{updated}");
    assert!(search_ids(&app, "mother_identifier=M-100").await.is_empty());
    let mut update = child("Baby Girl", "2026-11-01", "NB-1", "M-100", None);
    update["version"] = updated["version"].clone();
    let (status, updated) = app
        .admin("PUT", &format!("/api/v1/patients/{baby_id}"), Some(&update))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["mother"]["patient_id"],
        mother_id.as_str(),
        "{updated}"
    );

    // A merge keeps each record's mother (the survivor's own, the retired one's on it); undo
    // gives both back.
    let mut target = child("Ava", "2025-05-05", "MG-1", "M-300", None);
    target["mother"]["maiden_family"] = json!("Mokoena");
    let target = app.register_forced(&target).await;
    let source = app
        .register_forced(&child("Ava", "2025-05-05", "MG-2", "M-301", None))
        .await;
    let request = json!({"target": id_of(&target), "source": id_of(&source)});
    let (status, merged) = app
        .as_role(Role::Steward, "POST", "/api/v1/merges", Some(&request))
        .await;
    assert_eq!(status, 200, "{merged}");
    let read = |id: String| {
        let app = &app;
        async move {
            let (status, body) = app
                .admin("GET", &format!("/api/v1/patients/{id}"), None)
                .await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    assert_eq!(read(id_of(&target)).await["mother"], target["mother"]);
    assert_eq!(read(id_of(&source)).await["mother"], source["mother"]);
    let merge_id = merged["merge_id"].as_str().expect("merge_id");
    let (status, undone) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/merges/{merge_id}/undo"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(read(id_of(&target)).await["mother"], target["mother"]);
    assert_eq!(read(id_of(&source)).await["mother"], source["mother"]);

    // The OpenAPI document describes the fields and parameters.
    let (_, doc) = app.server.get("/api/v1/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["MotherDto"].is_object(), "no MotherDto schema");
    let params = doc["paths"]["/api/v1/patients"]["get"]["parameters"].to_string();
    assert!(params.contains("mother_identifier"), "{params}");
    assert!(params.contains("mother_maiden_name"), "{params}");
}

both_backends!(rest_mother_fields_search_and_match);

/// A PID segment: identifier (`VALUE^^^AUTHORITY`), name, mother's maiden name (PID-6), birth
/// date, sex, mother's identifier (PID-21) and the birth order (PID-24 `Y` and PID-25).
fn pid(id: &str, name: &str, maiden: &str, born: &str, mother: &str, order: &str) -> String {
    let mut fields = vec![String::new(); 26];
    fields[0] = "PID".to_owned();
    fields[3] = id.to_owned();
    fields[5] = name.to_owned();
    fields[6] = maiden.to_owned();
    fields[7] = born.to_owned();
    fields[8] = "F".to_owned();
    fields[21] = mother.to_owned();
    if !order.is_empty() {
        fields[24] = "Y".to_owned();
        fields[25] = order.to_owned();
    }
    fields.join("|")
}

fn pdq(control_id: &str, params: &str) -> String {
    format!(
        "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||QBP^Q22^QBP_Q21|{control_id}|P|2.5\r\
         QPD|IHE PDQ Query|T-{control_id}|{params}\rRCP|I|10^RD\r"
    )
}

/// The PID segments of an answer, each split into fields.
fn pids(answer: &Value) -> Vec<Vec<String>> {
    answer["raw"]
        .as_str()
        .expect("raw")
        .split('\r')
        .filter(|s| s.starts_with("PID|"))
        .map(|s| s.split('|').map(str::to_owned).collect())
        .collect()
}

/// The PID-3 values of an answer's PIDs, sorted.
fn pid3_values(answer: &Value) -> Vec<String> {
    let mut v: Vec<String> = pids(answer)
        .iter()
        .map(|p| p[3].split('^').next().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

/// The REST view of the record holding `identifier`.
async fn rest_record(app: &Hl7Server, key: &str, identifier: &str) -> Value {
    let path = format!("/api/v1/patients?identifier={identifier}");
    let (status, page) = app.server.call("GET", &path, Some(key), &[], None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1, "{identifier}: {page}");
    page["items"][0].clone()
}

async fn hl7_newborns_mothers_and_twins(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let key = app.admin_key();
    let test = "http://ohie.org/test/test";
    let feed = [
        // The mother, her newborn "Baby Girl" (PID-21 = the mother's MRN), then the child's
        // named record from another facility.
        (
            "TEST_HARNESS",
            pid("MOM-1^^^TEST", "SMITH^NALEDI", "", "19950301", "", ""),
        ),
        (
            "TEST_HARNESS",
            pid(
                "NB-1^^^TEST",
                "JONES^BABY GIRL",
                "SMITH^NALEDI",
                "20261101",
                "MOM-1^^^TEST",
                "",
            ),
        ),
        (
            "TEST_HARNESS_A",
            pid(
                "CH-1^^^TEST_A",
                "JONES^OLIVIA",
                "SMITH",
                "20261101",
                "MOM-1^^^&2.16.840.1.113883.3.72.5.9.1&ISO",
                "",
            ),
        ),
        // Twins of another mother, one birth date, birth orders 1 and 2.
        (
            "TEST_HARNESS",
            pid(
                "TW-1^^^TEST",
                "DUBE^BABY GIRL",
                "MOYO",
                "20261005",
                "MOM-2^^^TEST",
                "1",
            ),
        ),
        (
            "TEST_HARNESS_A",
            pid(
                "TW-2^^^TEST_A",
                "DUBE^BABY GIRL",
                "MOYO",
                "20261005",
                "MOM-2^^^TEST",
                "2",
            ),
        ),
    ];
    let messages: Vec<String> = feed
        .iter()
        .enumerate()
        .map(|(n, (sender, p))| adt(sender, "A01", &format!("MB{n}"), "2.5", &[p.as_str()]))
        .collect();
    let answers = send_with_hl7_package(app.mllp, &messages);
    for a in &answers {
        assert_eq!(a["msa1"], "AA", "{a}");
    }

    let mother = rest_record(&app, &key, &format!("{test}%7CMOM-1")).await;
    let baby = rest_record(&app, &key, &format!("{test}%7CNB-1")).await;
    let named = rest_record(&app, &key, "http://ohie.org/test/test_a%7CCH-1").await;
    // PID-6 and PID-21 stored; the HD in either form names the TEST domain, and resolves to
    // the mother's record.
    assert_eq!(baby["mother"]["maiden_family"], "SMITH", "{baby}");
    assert_eq!(baby["mother"]["maiden_given"], "NALEDI", "{baby}");
    assert_eq!(baby["mother"]["identifier"]["system"], test, "{baby}");
    assert_eq!(baby["mother"]["patient_id"], mother["id"], "{baby}");
    assert_eq!(named["mother"]["identifier"]["system"], test, "{named}");
    assert_eq!(named["mother"]["patient_id"], mother["id"], "{named}");

    // The named record is a certain match of the newborn (the feed leaves it for review).
    let mut body = named.clone();
    body["identifiers"] = json!([]);
    let (status, matched) = app
        .server
        .call("POST", "/api/v1/match", Some(&key), &[], Some(&body))
        .await;
    assert_eq!(status, 200, "{matched}");
    let hit = matched["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .find(|c| c["patient_id"] == baby["id"])
        .cloned()
        .unwrap_or_else(|| panic!("the newborn is no candidate: {matched}"));
    assert_eq!(hit["grade"], "certain", "{hit}");

    // The twins stay two persons, and a match of one never grades the other certain.
    let one = rest_record(&app, &key, &format!("{test}%7CTW-1")).await;
    let two = rest_record(&app, &key, "http://ohie.org/test/test_a%7CTW-2").await;
    assert_ne!(one["person_id"], two["person_id"]);
    assert_eq!(two["multiple_birth_order"], 2, "{two}");
    let mut body = two.clone();
    body["identifiers"] = json!([]);
    let (_, matched) = app
        .server
        .call("POST", "/api/v1/match", Some(&key), &[], Some(&body))
        .await;
    for c in matched["candidates"].as_array().expect("candidates") {
        if c["patient_id"] == one["id"] {
            assert_ne!(c["grade"], "certain", "{c}");
        }
    }

    // PDQ by the mother's maiden name and identifier; PID-6 and PID-21 answered.
    let answers = send_with_hl7_package(
        app.mllp,
        &[
            pdq("Q1", "@PID.6.1^SMITH"),
            pdq("Q2", "@PID.21.1^MOM-1~@PID.21.4.1^TEST"),
            pdq("Q3", "@PID.21.1^MOM-2"),
            pdq("Q4", "@PID.6.1^MOYO~@PID.6.2^NAL"),
            pdq("Q5", "@PID.6.1^SMITH~@PID.6.2^NAL"),
            pdq(
                "Q6",
                "@PID.21.1^MOM-1~@PID.21.4.2^2.16.840.1.113883.3.72.5.9.1",
            ),
        ],
    );
    for a in &answers {
        assert_eq!(a["msa1"], "AA", "{a}");
    }
    assert_eq!(
        pid3_values(&answers[0]),
        vec!["CH-1", "NB-1"],
        "{}",
        answers[0]
    );
    assert_eq!(
        pid3_values(&answers[1]),
        vec!["CH-1", "NB-1"],
        "{}",
        answers[1]
    );
    assert_eq!(
        pid3_values(&answers[2]),
        vec!["TW-1", "TW-2"],
        "{}",
        answers[2]
    );
    assert!(pid3_values(&answers[3]).is_empty(), "{}", answers[3]);
    assert_eq!(pid3_values(&answers[4]), vec!["NB-1"], "{}", answers[4]);
    assert_eq!(
        pid3_values(&answers[5]),
        vec!["CH-1", "NB-1"],
        "{}",
        answers[5]
    );
    let newborn = pids(&answers[4]).remove(0);
    // PID-6 with its name type (XPN.7 `L`, as OHIE CR 08-30 expects).
    assert_eq!(newborn[6], "SMITH^NALEDI^^^^^L", "{newborn:?}");
    assert!(newborn[21].starts_with("MOM-1^^^TEST"), "{newborn:?}");
}

both_backends!(hl7_newborns_mothers_and_twins);

async fn fhir_mothers_maiden_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let mut resource = fhir_person("Jones", "Olivia", "2026-11-01", "FH-1");
    resource["extension"] = json!([{"url": MAIDEN_URL, "valueString": "Smith"}]);
    let created = fhir.create(&resource).await;
    assert_eq!(created["extension"], resource["extension"], "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let read = fhir.get(&format!("/Patient/{id}")).await;
    assert_eq!(
        read.body["extension"], resource["extension"],
        "{}",
        read.body
    );
    let other = fhir
        .create(&fhir_person("Jones", "Ava", "2024-02-02", "FH-2"))
        .await;
    assert!(other.get("extension").is_none(), "{other}");

    // PDQm mothersMaidenName: a prefix by default, :exact and :contains.
    for (query, hits) in [
        ("mothersMaidenName=smi", 1),
        ("mothersMaidenName=SMITH", 1),
        ("mothersMaidenName:exact=Smith", 1),
        ("mothersMaidenName:exact=smith", 0),
        ("mothersMaidenName:contains=mit", 1),
        ("mothersMaidenName=jones", 0),
        ("family=jones&mothersMaidenName=smith", 1),
    ] {
        let answer = fhir.get(&format!("/Patient?{query}")).await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.body);
        assert_eq!(answer.body["total"], hits, "{query}: {}", answer.body);
        if hits == 1 {
            assert_eq!(answer.body["entry"][0]["resource"]["id"], id.as_str());
        }
    }
    let metadata = fhir.get("/metadata").await;
    assert!(
        metadata.body.to_string().contains("mothersMaidenName"),
        "{}",
        metadata.body
    );

    // Any other extension is not a modifier: accepted and not stored (FHIR R4 2.4.5); a
    // modifierExtension is refused.
    let mut unknown = fhir_person("Jones", "Mia", "2026-11-01", "FH-3");
    unknown["extension"] = json!([{"url": "urn:x", "valueString": "y"}]);
    let accepted = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("X-MPI-Force", "true")],
            Some(&unknown),
        )
        .await;
    assert_eq!(accepted.status, 201, "{}", accepted.body);
    assert!(
        accepted.body.get("extension").is_none(),
        "{}",
        accepted.body
    );
    let mut modifier = fhir_person("Jones", "Mia", "2026-11-01", "FH-4");
    modifier["modifierExtension"] = json!([{"url": "urn:x", "valueString": "y"}]);
    let refused = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("X-MPI-Force", "true")],
            Some(&modifier),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.body["resourceType"], "OperationOutcome");

    // XML: the extension comes out in its place and goes in again.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let xml = client
        .get(format!(
            "http://{}/fhir/Patient/{id}?_format=xml",
            app.server.addr
        ))
        .bearer_auth(app.key(Role::Registrar))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(
        xml.contains(&format!(
            r#"<extension url="{MAIDEN_URL}"><valueString value="Smith"/></extension>"#
        )),
        "{xml}"
    );
    let posted = xml
        .replace(&format!(r#"<id value="{id}"/>"#), "")
        .replace("FH-1", "FH-4")
        .replace("Smith", "Nkosi");
    let answer = client
        .post(format!("http://{}/fhir/Patient", app.server.addr))
        .bearer_auth(app.key(Role::Registrar))
        .header("content-type", "application/fhir+xml")
        .header("accept", "application/fhir+json")
        .header("X-MPI-Force", "true")
        .body(posted)
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status().as_u16(), 201);
    let stored: Value = answer.json().await.expect("json");
    assert_eq!(stored["extension"][0]["valueString"], "Nkosi", "{stored}");

    // The independent parser reads the JSON and the XML (with its element order).
    fhir.check_all_received();
    let dir = ScratchDir::new();
    std::fs::write(dir.path.join("patient.xml"), &xml).expect("write");
    std::fs::write(dir.path.join("stored.json"), stored.to_string()).expect("write");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fhir_validate.py");
    let out = Command::new(checker_python())
        .arg(script)
        .arg(&dir.path)
        .output()
        .expect("run fhir_validate.py");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

both_backends!(fhir_mothers_maiden_name);
