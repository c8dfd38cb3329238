//! A patient's languages (FHIR `Patient.communication`, issue 31) stored, on SQLite and
//! PostgreSQL: through REST (`communication: [{language, preferred}]`, bounded, a repeated
//! language refused), a merge (the survivor gains the languages of the retired record it lacks,
//! not preferred, the retired record keeps its own) and its undo (both records as before), and
//! FHIR JSON and XML (create, read, update, refusal of a language without a code). Every FHIR
//! answer is parsed by the independent `fhir.resources` models.

use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;

use crate::app::{TestApp, id_of, person};
use crate::both_backends;
use crate::fhir::{Fhir, fhir_person};
use crate::fhir_xml::{Client, FHIR_XML};

const BCP47: &str = "urn:ietf:bcp:47";

fn language(code: &str, preferred: bool) -> Value {
    json!({"language": {"system": BCP47, "code": code}, "preferred": preferred})
}

/// The (code, preferred, merged from) of each language of a REST patient answer.
fn languages(patient: &Value) -> Vec<(String, bool, Option<String>)> {
    patient["communication"]
        .as_array()
        .expect("communication")
        .iter()
        .map(|c| {
            (
                c["language"]["code"].as_str().expect("code").to_owned(),
                c["preferred"].as_bool().expect("preferred"),
                c["source_patient_id"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn get(app: &TestApp, id: &str) -> Value {
    let (status, patient) = app
        .admin("GET", &format!("/api/v1/patients/{id}"), None)
        .await;
    assert_eq!(status, 200, "{patient}");
    patient
}

/// The record as answered, without what a merge and its undo legitimately move on.
fn comparable(patient: &Value) -> Value {
    let mut p = patient.clone();
    let object = p.as_object_mut().expect("object");
    object.remove("version");
    object.remove("updated_at");
    p
}

async fn rest_languages_are_stored_and_kept_by_merge_and_undo(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut target_body = person("Abernethy", "Rosalind", "1971-03-09", "MRN-9101");
    target_body["communication"] = json!([
        {"language": {"system": BCP47, "code": "en", "display": "English"}, "preferred": true}
    ]);
    let target = app.register_forced(&target_body).await;
    assert_eq!(
        languages(&target),
        [("en".to_owned(), true, None)],
        "{target}"
    );
    assert_eq!(target["communication"][0]["language"]["display"], "English");

    // The retired record speaks French (preferred) and English (written otherwise).
    let mut source_body = person("Abernethy", "Rosalind", "1971-03-09", "MRN-9102");
    source_body["communication"] = json!([language("fr", true), language("EN", false)]);
    let source = app.register_forced(&source_body).await;
    let (t_id, s_id) = (id_of(&target), id_of(&source));
    let target_before = get(&app, &t_id).await;
    let source_before = get(&app, &s_id).await;
    assert_eq!(
        languages(&source_before),
        [
            ("fr".to_owned(), true, None),
            ("EN".to_owned(), false, None)
        ]
    );

    // Bounds and repeats are refused, naming the field and not echoing the value.
    let mut repeated = person("Abernethy", "Rosalind", "1971-03-09", "MRN-9103");
    repeated["communication"] = json!([language("de", false), language("DE", true)]);
    let (status, refused) = app
        .admin("POST", "/api/v1/patients?force=true", Some(&repeated))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["field"], "communication[1]", "{refused}");
    let mut long = person("Abernethy", "Rosalind", "1971-03-09", "MRN-9104");
    let code = "x".repeat(101);
    long["communication"] = json!([language(&code, false)]);
    let (status, refused) = app
        .admin("POST", "/api/v1/patients?force=true", Some(&long))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["field"], "communication[0].language.code",
        "{refused}"
    );
    assert!(!refused.to_string().contains(&code), "{refused}");
    let mut many = person("Abernethy", "Rosalind", "1971-03-09", "MRN-9105");
    many["communication"] = Value::Array(
        (0..21)
            .map(|i| language(&format!("x-l{i}"), false))
            .collect(),
    );
    let (status, refused) = app
        .admin("POST", "/api/v1/patients?force=true", Some(&many))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["field"], "communication", "{refused}");
    let mut blank = person("Abernethy", "Rosalind", "1971-03-09", "MRN-9106");
    blank["communication"] = json!([{"language": {"system": BCP47, "code": " "}}]);
    let (status, refused) = app
        .admin("POST", "/api/v1/patients?force=true", Some(&blank))
        .await;
    assert_eq!(status, 422, "{refused}");

    // The merge: the survivor keeps its own language and preference and gains French, not
    // preferred, from the retired record; English written otherwise is not copied again.
    let request = json!({"target": t_id, "source": s_id});
    let (status, merged) = app
        .as_role(Role::Steward, "POST", "/api/v1/merges", Some(&request))
        .await;
    assert_eq!(status, 200, "{merged}");
    let merge_id = merged["merge_id"].as_str().expect("merge_id").to_owned();
    let survivor = get(&app, &t_id).await;
    assert_eq!(
        languages(&survivor),
        [
            ("en".to_owned(), true, None),
            ("fr".to_owned(), false, Some(s_id.clone()))
        ],
        "{survivor}"
    );
    let retired = get(&app, &s_id).await;
    assert_eq!(retired["active"], false);
    assert_eq!(languages(&retired), languages(&source_before));

    // The undo gives both records back as they were.
    let (status, undone) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/merges/{merge_id}/undo"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(
        comparable(&get(&app, &t_id).await),
        comparable(&target_before)
    );
    assert_eq!(
        comparable(&get(&app, &s_id).await),
        comparable(&source_before)
    );

    // An update replaces the list (the first language the primary one).
    let mut body = source_body.clone();
    body["communication"] = json!([language("es", true)]);
    // (The merge and its undo each moved the version on.)
    body["version"] = get(&app, &s_id).await["version"].clone();
    let (status, updated) = app
        .admin("PUT", &format!("/api/v1/patients/{s_id}"), Some(&body))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(languages(&updated), [("es".to_owned(), true, None)]);
}
both_backends!(rest_languages_are_stored_and_kept_by_merge_and_undo);

/// The codes, systems and preferences of a FHIR Patient's communication.
fn fhir_languages(patient: &Value) -> Vec<(String, String, bool)> {
    patient["communication"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let coding = &c["language"]["coding"][0];
            (
                coding["system"].as_str().unwrap_or_default().to_owned(),
                coding["code"].as_str().expect("code").to_owned(),
                c["preferred"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

async fn fhir_communication_round_trips_in_json_and_xml(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let mut patient = fhir_person("Lefebvre", "Amélie", "1980-11-02", "MRN-9201");
    patient["communication"] = json!([
        {"language": {"coding": [{"system": BCP47, "code": "fr-CA", "display": "French (Canada)"}],
                      "text": "French"},
         "preferred": true},
        {"language": {"coding": [{"system": BCP47, "code": "en"}]}}
    ]);
    let created = fhir.create(&patient).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let expected = vec![
        (BCP47.to_owned(), "fr-CA".to_owned(), true),
        (BCP47.to_owned(), "en".to_owned(), false),
    ];
    assert_eq!(fhir_languages(&created), expected, "{created}");
    assert_eq!(
        created["communication"][0]["language"]["coding"][0]["display"],
        "French (Canada)"
    );
    // A language not preferred is written without `preferred`.
    assert!(created["communication"][1].get("preferred").is_none());
    let read = fhir.get(&format!("/Patient/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(fhir_languages(&read.body), expected);

    // An update replaces the list.
    let mut changed = read.body.clone();
    changed["communication"] = json!([{"language": {"coding": [{"system": BCP47, "code": "en"}]},
                                      "preferred": true}]);
    let version = read.body["meta"]["versionId"]
        .as_str()
        .expect("versionId")
        .to_owned();
    let updated = fhir
        .call(
            Role::Registrar,
            "PUT",
            &format!("/Patient/{id}"),
            &[("If-Match", &format!("W/\"{version}\""))],
            Some(&changed),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        fhir_languages(&updated.body),
        [(BCP47.to_owned(), "en".to_owned(), true)]
    );

    // A language without a code cannot be stored: 422 naming it.
    let mut uncoded = fhir_person("Lefebvre", "Amélie", "1980-11-02", "MRN-9202");
    uncoded["communication"] = json!([{"language": {"text": "French"}}]);
    let refused = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("X-MPI-Force", "true")],
            Some(&uncoded),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        refused.body["issue"][0]["expression"][0], "Patient.communication[0].language",
        "{}",
        refused.body
    );
    fhir.check_all_received();

    // XML: read in XML; create in XML and read back in JSON.
    let mut client = Client {
        app: &app,
        kept: Vec::new(),
    };
    let xml = client
        .send(
            Role::Registrar,
            "GET",
            &format!("/Patient/{id}"),
            &[("accept", FHIR_XML)],
            None,
        )
        .await;
    assert_eq!(xml.status, 200, "{}", xml.text);
    assert!(
        xml.text.contains(
            r#"<communication><language><coding><system value="urn:ietf:bcp:47"/><code value="en"/></coding></language><preferred value="true"/></communication>"#
        ),
        "{}",
        xml.text
    );
    let body = r#"<Patient xmlns="http://hl7.org/fhir">
  <identifier><system value="urn:test:mrn"/><value value="MRN-9203"/></identifier>
  <name><family value="Okonkwo"/><given value="Chidi"/></name>
  <gender value="male"/>
  <birthDate value="1977-04-21"/>
  <communication>
    <language><coding><system value="urn:ietf:bcp:47"/><code value="ig"/><display value="Igbo"/></coding></language>
    <preferred value="true"/>
  </communication>
</Patient>"#;
    let made = client
        .send(
            Role::Registrar,
            "POST",
            "/Patient",
            &[
                ("content-type", FHIR_XML),
                ("accept", FHIR_XML),
                ("X-MPI-Force", "true"),
            ],
            Some(body),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert!(made.text.contains(r#"<code value="ig"/>"#), "{}", made.text);
    let location = made.location.expect("location");
    let made_id = location
        .split("/Patient/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("id in location")
        .to_owned();
    let json_read = client
        .send(
            Role::Registrar,
            "GET",
            &format!("/Patient/{made_id}"),
            &[],
            None,
        )
        .await;
    let json_read: Value = serde_json::from_str(&json_read.text).expect("JSON");
    assert_eq!(
        fhir_languages(&json_read),
        [(BCP47.to_owned(), "ig".to_owned(), true)]
    );
    assert_eq!(
        json_read["communication"][0]["language"]["coding"][0]["display"],
        "Igbo"
    );
    client.check_all();
}
both_backends!(fhir_communication_round_trips_in_json_and_xml);
