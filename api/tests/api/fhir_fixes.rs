//! FHIR conformance fixes of issue 31's review, through the real server on both databases:
//! `$match` takes a bare Patient (ITI-119), the CapabilityStatement claims what the routes serve
//! (checked against them) and instantiates real IHE canonicals, `_lastUpdated`, lenient
//! handling of unknown parameters by default (ITI-78), an unknown domain answering 404 with a
//! warning, `$ihe-pix` by a Patient's logical id (ITI-83), and a conditional update whose
//! resource id is not the matched record's (400). Every resource received is parsed by the
//! independent `fhir.resources` models.

use chrono::{DateTime, FixedOffset};
use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;
use uuid::Uuid;

use crate::app::TestApp;
use crate::both_backends;
use crate::fhir::{Answer, Fhir, fhir_person, id_of};

const TEST_URL: &str = "http://ohie.org/test/test";
const NID_URL: &str = "http://ohie.org/test/nid";

fn enc(text: &str) -> String {
    text.replace('%', "%25")
        .replace('|', "%7C")
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace('+', "%2B")
}

async fn add_domains(app: &TestApp) {
    for body in [
        json!({"name": "TEST", "oid": "2.16.840.1.113883.3.72.5.9.1", "url": TEST_URL}),
        json!({"name": "NID", "oid": "2.16.840.1.113883.3.72.5.9.9", "url": NID_URL}),
    ] {
        let (status, answer) = app.admin("POST", "/api/v1/domains", Some(&body)).await;
        assert_eq!(status, 201, "{answer}");
    }
}

fn patient_with(family: &str, given: &str, ids: &[(&str, &str)]) -> Value {
    let mut p = fhir_person(family, given, "1972-03-14", "unused");
    p["identifier"] = ids
        .iter()
        .map(|(s, v)| json!({"system": s, "value": v}))
        .collect();
    p
}

fn entry_ids(bundle: &Value) -> Vec<String> {
    let mut ids: Vec<String> = bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| id_of(&e["resource"]))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    out.sort();
    out
}

fn self_link(bundle: &Value) -> String {
    bundle["link"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["relation"] == "self"))
        .and_then(|l| l["url"].as_str())
        .expect("self link")
        .to_owned()
}

fn assert_issue(answer: &Answer, status: u16, severity: &str, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer.body["resourceType"], "OperationOutcome",
        "{}",
        answer.body
    );
    assert_eq!(
        answer.body["issue"][0]["severity"], severity,
        "{}",
        answer.body
    );
    assert_eq!(answer.body["issue"][0]["code"], code, "{}", answer.body);
}

async fn post(fhir: &Fhir<'_>, role: Role, path: &str, body: &Value) -> Answer {
    fhir.call(role, "POST", path, &[], Some(body)).await
}

async fn match_takes_a_bare_patient(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let stored = id_of(
        &fhir
            .create(&fhir_person(
                "Haverkamp",
                "Liesbeth",
                "1969-11-02",
                "MRN-9101",
            ))
            .await,
    );
    let query = fhir_person("Haverkamp", "Liesbeth", "1969-11-02", "MRN-9101");
    // The Patient alone is the same as a Parameters resource holding it as `resource`.
    let bare = post(&fhir, Role::Registrar, "/Patient/$match", &query).await;
    assert_eq!(bare.status, 200, "{}", bare.body);
    assert_eq!(bare.body["resourceType"], "Bundle");
    assert_eq!(entry_ids(&bare.body), [stored.clone()]);
    let wrapped = post(
        &fhir,
        Role::Registrar,
        "/Patient/$match",
        &json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": query}]}),
    )
    .await;
    assert_eq!(wrapped.status, 200, "{}", wrapped.body);
    assert_eq!(entry_ids(&wrapped.body), entry_ids(&bare.body));
    // A bare Patient is still read strictly, and another resource is no input.
    let mut odd = query.clone();
    odd["shoeSize"] = json!(9);
    let refused = post(&fhir, Role::Registrar, "/Patient/$match", &odd).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let other = post(
        &fhir,
        Role::Registrar,
        "/Patient/$match",
        &json!({"resourceType": "Observation"}),
    )
    .await;
    assert_eq!(other.status, 422, "{}", other.body);
    // The same rights as before: an auditor may not match.
    let auditor = post(&fhir, Role::Auditor, "/Patient/$match", &query).await;
    assert_eq!(auditor.status, 403, "{}", auditor.body);
    fhir.check_all_received();
}
both_backends!(match_takes_a_bare_patient);

async fn unknown_parameters_are_ignored_unless_strict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let a = id_of(
        &fhir
            .create(&fhir_person(
                "Ruiz-Tagle",
                "Amparo",
                "1990-01-01",
                "MRN-9301",
            ))
            .await,
    );
    // By default (and with handling=lenient): unknown parameters, modifiers and include values
    // are ignored and left out of the self link.
    for prefer in [None, Some("handling=lenient")] {
        let headers: Vec<(&str, &str)> = prefer.map(|p| ("prefer", p)).into_iter().collect();
        for q in [
            "family=Ruiz&shoeSize=9",
            "family=Ruiz&given:phonetic=Ampara",
            "family=Ruiz&gender:missing=true",
            "family=Ruiz&_include=Patient:generalPractitioner",
        ] {
            let answer = fhir
                .raw(
                    Some(Role::Registrar),
                    "GET",
                    &format!("/Patient?{q}"),
                    &headers,
                    None,
                )
                .await;
            assert_eq!(answer.status, 200, "{q}: {}", answer.body);
            assert_eq!(entry_ids(&answer.body), [a.clone()], "{q}");
            let link = self_link(&answer.body);
            assert!(link.contains("family=Ruiz"), "{link}");
            for gone in ["shoeSize", "phonetic", "missing", "generalPractitioner"] {
                assert!(!link.contains(gone), "{q}: {link}");
            }
        }
    }
    // handling=strict refuses each of them.
    for q in [
        "family=Ruiz&shoeSize=9",
        "family=Ruiz&given:phonetic=Ampara",
        "family=Ruiz&_include=Patient:generalPractitioner",
    ] {
        let answer = fhir
            .raw(
                Some(Role::Registrar),
                "GET",
                &format!("/Patient?{q}"),
                &[("prefer", "handling=strict")],
                None,
            )
            .await;
        assert_issue(&answer, 400, "error", "structure");
    }
    // A search left with no criterion at all is still refused.
    let nothing = fhir.get("/Patient?shoeSize=9").await;
    assert!(matches!(nothing.status, 400 | 422), "{}", nothing.body);
    fhir.check_all_received();
}
both_backends!(unknown_parameters_are_ignored_unless_strict);

async fn unknown_domain_is_a_404_warning(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);
    fhir.create(&patient_with("Lemaire", "Odile", &[(TEST_URL, "W-1")]))
        .await;
    for q in [
        "http://unknown.example/ids|X-1",
        "http://unknown.example/ids|",
    ] {
        let answer = fhir.get(&format!("/Patient?identifier={}", enc(q))).await;
        assert_issue(&answer, 404, "warning", "not-found");
    }
    // A known domain is no warning: found, or an empty Bundle.
    let known = fhir
        .get(&format!(
            "/Patient?identifier={}",
            enc(&format!("{TEST_URL}|NOBODY"))
        ))
        .await;
    assert_eq!(known.status, 200, "{}", known.body);
    assert_eq!(known.body["total"], 0, "{}", known.body);
    // Other errors keep their severity.
    let bad = fhir.get("/Patient?birthdate=1961-13").await;
    assert_issue(&bad, 422, "error", "invalid");
    fhir.check_all_received();
}
both_backends!(unknown_domain_is_a_404_warning);

