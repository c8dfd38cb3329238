//! Gaps the OpenHIE Client Registry test cases showed, through the real server on both
//! databases: a newborn registered before it is named (REST, FHIR and HL7 A01 with an empty
//! PID-5), a source registering a record that carries another source's identifier as a
//! reference (OHIE CR 04-FHIR step 3: created and joined to that identifier's person), the
//! domains a `domain_not_authorised` refusal names, and a FHIR identifier whose assigner is a
//! display-only reference.

use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;

use crate::app::{TestApp, id_of};
use crate::both_backends;
use crate::hl7_mllp::{Hl7Server, send_with_hl7_package};

const TEST_A_URL: &str = "http://ohie.org/test/test_a";
const TEST_B_URL: &str = "http://ohie.org/test/test_b";
const FHIR_JSON: &str = "application/fhir+json";

/// Two sources, each the only assigner of its own domain (the OHIE CR set-up).
const SETUP: &[&[&str]] = &[
    &[
        "sources",
        "add",
        "TEST_HARNESS_A",
        "--facility",
        "TEST",
        "--role",
        "registrar",
    ],
    &[
        "sources",
        "add",
        "TEST_HARNESS_B",
        "--facility",
        "TEST",
        "--role",
        "registrar",
    ],
    &[
        "domains",
        "add",
        "TEST_A",
        "--oid",
        "2.16.840.1.113883.3.72.5.9.2",
        "--url",
        TEST_A_URL,
        "--assigner",
        "TEST_HARNESS_A",
    ],
    &[
        "domains",
        "add",
        "TEST_B",
        "--oid",
        "2.16.840.1.113883.3.72.5.9.3",
        "--url",
        TEST_B_URL,
        "--assigner",
        "TEST_HARNESS_B",
    ],
];

/// A registrar key acting as `source`, made with `mpi keys create --source`.
fn source_key(app: &TestApp, name: &str, source: &str) -> String {
    let dir = crate::helpers::ScratchDir::new();
    let out = crate::helpers::run_mpi_ok(
        &dir.path,
        &[
            "keys",
            "create",
            "--name",
            name,
            "--role",
            "registrar",
            "--source",
            source,
            "--database-url",
            &app.db.url,
        ],
    );
    out.lines().last().expect("secret line").trim().to_owned()
}

fn jones(identifiers: Value) -> Value {
    json!({
        "gender": "female",
        "birth_date": "1984-01-25",
        "names": [{"family": "JONES", "given": ["JENNIFER"], "use": "official"}],
        "identifiers": identifiers,
    })
}

async fn a_newborn_without_a_name_is_registered_found_and_rendered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let newborn = json!({
        "gender": "female",
        "birth_date": "2026-11-30",
        "identifiers": [{"type": "MR", "system": "urn:test:mrn", "value": "NB-1"}],
    });
    let (status, stored) = app.admin("POST", "/api/v1/patients", Some(&newborn)).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["names"], json!([]), "{stored}");
    let id = id_of(&stored);

    // Its twin, also unnamed: the matcher scores the pair without names and, not certain
    // they are one child, leaves it to a steward instead of refusing or merging it.
    let mut twin = newborn.clone();
    twin["identifiers"][0]["value"] = json!("NB-2");
    let (status, second) = app
        .admin("POST", "/api/v1/patients?force=true", Some(&twin))
        .await;
    assert_eq!(status, 201, "{second}");
    assert_ne!(second["person_id"], stored["person_id"], "{second}");
    let (status, _) = app.admin("GET", "/api/v1/review-tasks", None).await;
    assert_eq!(status, 200);

    // Read, searched by identifier and by birth date, matched.
    let (status, read) = app
        .admin("GET", &format!("/api/v1/patients/{id}"), None)
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["names"], json!([]));
    let (status, page) = app
        .admin("GET", "/api/v1/patients?identifier=urn:test:mrn|NB-1", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1, "{page}");
    let (status, page) = app
        .admin("GET", "/api/v1/patients?birth_date=2026-11-30", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2, "{page}");
    let (status, page) = app
        .admin("GET", "/api/v1/patients?family=JONES", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 0, "{page}");
    let (status, matched) = app.admin("POST", "/api/v1/match", Some(&newborn)).await;
    assert_eq!(status, 200, "{matched}");

    // Named later: an update adds the name.
    let mut named = newborn.clone();
    named["names"] = json!([{"family": "OKONKWO", "given": ["ADA"]}]);
    named["version"] = read["version"].clone();
    let (status, updated) = app
        .admin("PUT", &format!("/api/v1/patients/{id}"), Some(&named))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["names"][0]["family"], "OKONKWO");

    // Without names a record needs an identifier and a birth date or a gender; blank name
    // parts are refused as before.
    for body in [
        json!({"gender": "female", "birth_date": "2026-11-30", "identifiers": []}),
        json!({"identifiers": [{"system": "urn:test:mrn", "value": "NB-3"}]}),
    ] {
        let (status, refused) = app.admin("POST", "/api/v1/patients", Some(&body)).await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["field"], "names", "{refused}");
    }
    let mut blank = newborn.clone();
    blank["identifiers"][0]["value"] = json!("NB-4");
    blank["names"] = json!([{"family": " "}]);
    let (status, refused) = app.admin("POST", "/api/v1/patients", Some(&blank)).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["field"], "names[0].family", "{refused}");

    // FHIR: a Patient without `name` is created and rendered without one.
    let fhir_newborn = json!({
        "resourceType": "Patient",
        "gender": "male",
        "birthDate": "2026-12-01",
        "identifier": [{"system": "urn:test:mrn", "value": "NB-5"}],
    });
    let (status, created) = app
        .server
        .call(
            "POST",
            "/fhir/Patient",
            Some(app.key(Role::Registrar)),
            &[("content-type", FHIR_JSON)],
            Some(&fhir_newborn),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("name").is_none(), "{created}");
    let (status, bundle) = app
        .as_role(
            Role::Registrar,
            "GET",
            "/fhir/Patient?identifier=urn:test:mrn|NB-5",
            None,
        )
        .await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(bundle["total"], 1, "{bundle}");
    assert!(bundle["entry"][0]["resource"].get("name").is_none());
    let (status, bundle) = app
        .as_role(
            Role::Registrar,
            "GET",
            "/fhir/Patient?birthdate=2026-12-01",
            None,
        )
        .await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(bundle["total"], 1, "{bundle}");
}
both_backends!(a_newborn_without_a_name_is_registered_found_and_rendered);

fn adt_a01(control_id: &str, pid: &str) -> String {
    format!(
        "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||ADT^A01^ADT_A01|{control_id}|P|2.5\r\
         EVN|A01|20261206120000\r{pid}\rPV1||I\r"
    )
}

async fn an_hl7_a01_with_an_empty_pid_5_registers_a_newborn(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let answers = send_with_hl7_package(
        app.mllp,
        &[
            adt_a01("N1", "PID|||NB-10^^^TEST||||20261130|F"),
            // No name, no birth date, no sex: nothing says who this is.
            adt_a01("N2", "PID|||NB-11^^^TEST||||||"),
            "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||QBP^Q22^QBP_Q21|N3|P|2.5\r\
             QPD|IHE PDQ Query|T-N3|@PID.3.1^NB-10~@PID.3.4.1^TEST\rRCP|I\r"
                .to_owned(),
        ],
    );
    assert_eq!(answers[0]["msa1"], "AA", "{}", answers[0]);
    assert_eq!(answers[1]["msa1"], "AE", "{}", answers[1]);
    assert_eq!(answers[1]["err"][0][1], "PID^1^5", "{}", answers[1]);
    // The PDQ answer renders the nameless record with PID-5 (required) holding only the name
    // type U, unspecified (HL7 table 0200).
    let raw = answers[2]["raw"].as_str().expect("raw answer");
    let pid = raw
        .split('\r')
        .find(|s| s.starts_with("PID|"))
        .unwrap_or_else(|| panic!("a PID segment: {raw}"));
    let fields: Vec<&str> = pid.split('|').collect();
    assert!(fields[3].starts_with("NB-10^^^TEST"), "{pid}");
    assert_eq!(fields[5], "^^^^^^U", "{pid}");
    assert_eq!(fields[7], "20261130", "{pid}");
    assert_eq!(fields[8], "F", "{pid}");

    let key = app.admin_key();
    let (status, page) = app
        .server
        .call(
            "GET",
            "/api/v1/patients?identifier=TEST|NB-10",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["names"], json!([]), "{page}");
    let (_, page) = app
        .server
        .call(
            "GET",
            "/api/v1/patients?identifier=TEST|NB-11",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(page["total"], 0, "{page}");
}
both_backends!(an_hl7_a01_with_an_empty_pid_5_registers_a_newborn);

async fn another_sources_identifier_rides_along_and_joins_its_person(backend: Backend) {
    let app = TestApp::spawn_with(backend, SETUP, &["--unknown-domains", "reject"]).await;
    let a = source_key(&app, "harness-a", "TEST_HARNESS_A");
    let b = source_key(&app, "harness-b", "TEST_HARNESS_B");

    // Source A registers its patient in TEST_A.
    let (status, held) = app
        .server
        .call(
            "POST",
            "/api/v1/patients",
            Some(&a),
            &[],
            Some(&jones(json!([{"system": TEST_A_URL, "value": "FHRA-040"}]))),
        )
        .await;
    assert_eq!(status, 201, "{held}");
    let held_id = id_of(&held);

    // Source B registers the same patient in TEST_B, FHRA-040 riding along as a reference
    // (OHIE CR 04-FHIR step 3, sent as written there: display-only assigners).
    let resource = json!({
        "resourceType": "Patient",
        "active": true,
        "identifier": [
            {"use": "usual", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PT"}]},
             "system": TEST_A_URL, "value": "FHRA-040",
             "assigner": {"display": "Test Harness A Patient Identity"}},
            {"use": "official", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]},
             "system": TEST_B_URL, "value": "FHRB-042",
             "assigner": {"display": "Test Harness B Patient Identity"}}
        ],
        "name": [{"use": "official", "family": "JONES", "given": ["JENNIFER"]}],
        "gender": "female",
        "birthDate": "1984-01-25"
    });
    let (status, created) = app
        .server
        .call(
            "POST",
            "/fhir/Patient",
            Some(&b),
            &[("content-type", FHIR_JSON)],
            Some(&resource),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let created_id = created["id"].as_str().expect("id").to_owned();
    assert!(
        created["identifier"]
            .as_array()
            .expect("identifiers")
            .iter()
            .all(|i| i.get("assigner").is_none()),
        "{created}"
    );
    let (status, bundle) = app
        .server
        .call(
            "GET",
            &format!("/fhir/Patient?identifier={TEST_B_URL}|FHRB-042"),
            Some(&b),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(bundle["total"], 1, "{bundle}");
    let found = &bundle["entry"][0]["resource"];
    let systems: Vec<&str> = found["identifier"]
        .as_array()
        .expect("identifiers")
        .iter()
        .filter_map(|i| i["system"].as_str())
        .collect();
    assert!(
        systems.contains(&TEST_A_URL) && systems.contains(&TEST_B_URL),
        "{found}"
    );
    assert!(
        found["link"]
            .as_array()
            .expect("links")
            .iter()
            .any(|l| l["type"] == "seealso"
                && l["other"]["reference"] == format!("Patient/{held_id}")),
        "{found}"
    );

    // One person: a shared person_id and a link naming the domain.
    let (_, joined) = app
        .admin("GET", &format!("/api/v1/patients/{created_id}"), None)
        .await;
    assert_eq!(joined["person_id"], held["person_id"], "{joined}");
    let (_, links) = app
        .admin("GET", &format!("/api/v1/patients/{created_id}/links"), None)
        .await;
    assert!(
        links.to_string().contains("TEST_A"),
        "the link's reason names the domain: {links}"
    );

    // Both sources keep updating their own records with the shared value on them.
    let mut change = jones(json!([{"system": TEST_A_URL, "value": "FHRA-040"}]));
    let (_, now) = app
        .admin("GET", &format!("/api/v1/patients/{held_id}"), None)
        .await;
    change["version"] = now["version"].clone();
    change["gender"] = json!("female");
    change["names"][0]["given"] = json!(["JENNIFER", "ANNE"]);
    let (status, updated) = app
        .server
        .call(
            "PUT",
            &format!("/api/v1/patients/{held_id}"),
            Some(&a),
            &[],
            Some(&change),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    let mut change = jones(json!([
        {"system": TEST_B_URL, "value": "FHRB-042"},
        {"system": TEST_A_URL, "value": "FHRA-040"}
    ]));
    change["version"] = joined["version"].clone();
    change["birth_date"] = json!("1984-01-26");
    let (status, updated) = app
        .server
        .call(
            "PUT",
            &format!("/api/v1/patients/{created_id}"),
            Some(&b),
            &[],
            Some(&change),
        )
        .await;
    assert_eq!(status, 200, "{updated}");

    // A's identity feed (register-or-update) with FHRA-040 updates A's own record, never B's
    // record that carries it as a reference.
    let mut feed = jones(json!([{"system": TEST_A_URL, "value": "FHRA-040"}]));
    feed["names"][0]["given"] = json!(["JENNY"]);
    let (status, upserted) = app
        .server
        .call(
            "POST",
            "/api/v1/patients?upsert=true",
            Some(&a),
            &[],
            Some(&feed),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {upserted}");
    assert_eq!(upserted["id"], held_id.as_str(), "{upserted}");
    let (_, theirs) = app
        .admin("GET", &format!("/api/v1/patients/{created_id}"), None)
        .await;
    assert_eq!(theirs["names"][0]["given"], json!(["JENNIFER"]), "{theirs}");
    assert_eq!(theirs["identifiers"].as_array().expect("ids").len(), 2);

    // B still creates nothing, and updates nothing, through TEST_A alone; the refusal names
    // the domain it lacks.
    let (status, refused) = app
        .server
        .call(
            "POST",
            "/api/v1/patients?force=true",
            Some(&b),
            &[],
            Some(&jones(json!([{"system": TEST_A_URL, "value": "FHRA-041"}]))),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "domain_not_authorised");
    assert_eq!(refused["field"], "identifiers");
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("TEST_A"),
        "{refused}"
    );
    let (_, now) = app
        .admin("GET", &format!("/api/v1/patients/{held_id}"), None)
        .await;
    let mut change = jones(json!([
        {"system": TEST_A_URL, "value": "FHRA-040"},
        {"system": TEST_B_URL, "value": "FHRB-099"}
    ]));
    change["version"] = now["version"].clone();
    let (status, refused) = app
        .server
        .call(
            "PUT",
            &format!("/api/v1/patients/{held_id}"),
            Some(&b),
            &[],
            Some(&change),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["field"], "id");
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("TEST_A"),
        "{refused}"
    );
    // And a value of A's domain that is not held yet rides along without joining anyone.
    let (status, alone) = app
        .server
        .call(
            "POST",
            "/api/v1/patients?force=true",
            Some(&b),
            &[],
            Some(&json!({
                "gender": "male",
                "birth_date": "1970-03-03",
                "names": [{"family": "OKAFOR", "given": ["EMEKA"]}],
                "identifiers": [
                    {"system": TEST_B_URL, "value": "FHRB-100"},
                    {"system": TEST_A_URL, "value": "FHRA-100"}
                ],
            })),
        )
        .await;
    assert_eq!(status, 201, "{alone}");
    assert_ne!(alone["person_id"], held["person_id"]);
}
both_backends!(another_sources_identifier_rides_along_and_joins_its_person);

async fn a_display_only_assigner_is_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut resource = crate::fhir::fhir_person("Marchetti", "Giulia", "1979-05-05", "AS-1");
    resource["identifier"][0]["assigner"] = json!({"display": "St Elsewhere Registry"});
    let (status, created) = app
        .server
        .call(
            "POST",
            "/fhir/Patient",
            Some(app.key(Role::Registrar)),
            &[("content-type", FHIR_JSON), ("X-MPI-Force", "true")],
            Some(&resource),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["identifier"][0]["value"], "AS-1");
    // A reference that points somewhere must still point at an Organization.
    resource["identifier"][0]["value"] = json!("AS-2");
    resource["identifier"][0]["assigner"] =
        json!({"reference": "Practitioner/1", "display": "Dr Who"});
    let (status, refused) = app
        .server
        .call(
            "POST",
            "/fhir/Patient",
            Some(app.key(Role::Registrar)),
            &[("content-type", FHIR_JSON), ("X-MPI-Force", "true")],
            Some(&resource),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["resourceType"], "OperationOutcome");
}
both_backends!(a_display_only_assigner_is_accepted);
