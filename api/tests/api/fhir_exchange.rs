//! FHIR for health-information exchanges (issue 31) through the real server: conditional
//! create (`If-None-Exist`, R4 http.html#ccreate) creating, finding the one holder (200, nothing
//! created, audited as a read), refusing several (412) and malformed conditions (400), in JSON
//! and XML, and concurrent twins making one record; the CapabilityStatement's `messaging` (the
//! PMIR feed received at the endpoint it names, and sent); Patient search by `language`; and
//! `RelatedPerson.communication` stored, returned and bounded. Every resource received is parsed
//! by the independent `fhir.resources` models.

use migration::testing::Backend;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use service::context::Role;

use crate::app::TestApp;
use crate::both_backends;
use crate::fhir::{Answer, Fhir, fhir_person, id_of};
use crate::fhir_xml::{Client, FHIR_XML};

const MRN: &str = "urn:test:mrn";
const NID_URL: &str = "http://example.org/nid";
const BCP47: &str = "urn:ietf:bcp:47";
const ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";

fn enc(text: &str) -> String {
    text.replace('%', "%25")
        .replace('|', "%7C")
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace(',', "%2C")
        .replace('&', "%26")
}

fn assert_issue(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer.body["resourceType"], "OperationOutcome",
        "{}",
        answer.body
    );
}

/// A FHIR Patient with one name, a birth date and the identifiers `(system, value)`.
fn patient(family: &str, given: &str, birth_date: &str, ids: &[(&str, &str)]) -> Value {
    let mut p = fhir_person(family, given, birth_date, "unused");
    p["identifier"] = ids
        .iter()
        .map(|(s, v)| json!({"system": s, "value": v}))
        .collect();
    p
}

/// `POST /fhir/Patient` with `If-None-Exist: condition` (and the extra headers).
async fn create_if_none(
    fhir: &Fhir<'_>,
    condition: &str,
    body: &Value,
    extra: &[(&str, &str)],
) -> Answer {
    let mut headers = vec![("if-none-exist", condition)];
    headers.extend_from_slice(extra);
    fhir.call(Role::Registrar, "POST", "/Patient", &headers, Some(body))
        .await
}

/// How many live records the search by `identifier` finds.
async fn holders(fhir: &Fhir<'_>, system: &str, value: &str) -> u64 {
    let found = fhir
        .get(&format!(
            "/Patient?identifier={}&active=true",
            enc(&format!("{system}|{value}"))
        ))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    found.body["total"].as_u64().expect("total")
}

/// The audit rows of `action` on the patient `id`.
async fn audit_rows(app: &TestApp, action: &str, id: &str) -> Vec<entity::audit_event::Model> {
    entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::EntityType.eq("patient"))
        .filter(entity::audit_event::Column::Action.eq(action))
        .filter(entity::audit_event::Column::EntityId.eq(id))
        .all(&app.db.conn)
        .await
        .expect("read the audit trail")
}

async fn conditional_create_creates_finds_and_refuses(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[&["domains", "add", "NID", "--url", NID_URL, "--links-records"]],
        &[],
    )
    .await;
    let fhir = Fhir::new(&app);
    let condition = format!("identifier={}", enc(&format!("{MRN}|CC-1")));
    let body = patient("Vasquez", "Lucia", "1977-05-21", &[(MRN, "CC-1")]);

    // No match: created as usual (201, Location, ETag), audited as a create.
    let created = create_if_none(&fhir, &condition, &body, &[]).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = id_of(&created.body);
    let location = created.header("location").expect("location").to_owned();
    assert!(
        location.ends_with(&format!("/fhir/Patient/{id}")),
        "{location}"
    );
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    assert_eq!(audit_rows(&app, "create", &id).await.len(), 1);

    // One match: 200 with the stored record where it lives; nothing created or changed, even
    // though the body says something else; audited as a read of that record.
    let mut other_body = body.clone();
    other_body["name"][0]["family"] = json!("Somebody-Else");
    for condition in [
        condition.clone(),
        format!("Patient?{condition}"),
        format!("identifier={MRN}|CC-1"),
    ] {
        let found = create_if_none(&fhir, &condition, &other_body, &[]).await;
        assert_eq!(found.status, 200, "{condition}: {}", found.body);
        assert_eq!(found.body["resourceType"], "Patient");
        assert_eq!(id_of(&found.body), id);
        assert_eq!(found.body["name"][0]["family"], "Vasquez");
        assert_eq!(found.header("location"), Some(location.as_str()));
        assert_eq!(found.header("etag"), Some("W/\"1\""));
    }
    assert_eq!(holders(&fhir, MRN, "CC-1").await, 1);
    let reads = audit_rows(&app, "read", &id).await;
    assert_eq!(reads.len(), 3, "{reads:?}");
    assert!(
        reads
            .iter()
            .all(|r| r.before == Some(json!({"reason": "conditional_create"}))),
        "{reads:?}"
    );

    // Several identifiers must all be held by the record found.
    let both = format!(
        "identifier={}&identifier={}",
        enc(&format!("{MRN}|CC-2")),
        enc(&format!("{NID_URL}|N-2"))
    );
    let body2 = patient(
        "Brennan",
        "Aoife",
        "1990-01-30",
        &[(MRN, "CC-2"), (NID_URL, "N-2")],
    );
    let first = create_if_none(&fhir, &both, &body2, &[]).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = create_if_none(&fhir, &both, &body2, &[]).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(id_of(&again.body), id_of(&first.body));

    // Several live records hold the condition (two records of one person share a
    // links-records national id): 412, nothing created.
    let twin = patient(
        "Brennan",
        "Aoife",
        "1990-01-30",
        &[(MRN, "CC-3"), (NID_URL, "N-2")],
    );
    let joined = fhir.create(&twin).await;
    assert_ne!(id_of(&joined), id_of(&first.body));
    assert_eq!(holders(&fhir, NID_URL, "N-2").await, 2);
    let nid = format!("identifier={}", enc(&format!("{NID_URL}|N-2")));
    let several = create_if_none(
        &fhir,
        &nid,
        &patient("Brennan", "Aoife", "1990-01-30", &[(NID_URL, "N-2")]),
        &[],
    )
    .await;
    assert_issue(&several, 412);
    assert_eq!(several.body["issue"][0]["code"], "multiple-matches");
    assert_eq!(holders(&fhir, NID_URL, "N-2").await, 2);

    // The record created must carry the condition's identifiers: 422, nothing stored.
    let missing = create_if_none(
        &fhir,
        &format!("identifier={}", enc(&format!("{MRN}|CC-9"))),
        &patient("Quinn", "Rory", "1985-08-08", &[(MRN, "CC-8")]),
        &[],
    )
    .await;
    assert_issue(&missing, 422);
    assert_eq!(holders(&fhir, MRN, "CC-8").await, 0);

    // No match still runs the duplicate check: a probable duplicate is 409 until forced.
    let lookalike = patient("Vasquez", "Lucia", "1977-05-21", &[(MRN, "CC-4")]);
    let cc4 = format!("identifier={}", enc(&format!("{MRN}|CC-4")));
    let duplicate = create_if_none(&fhir, &cc4, &lookalike, &[]).await;
    assert_issue(&duplicate, 409);
    assert_eq!(holders(&fhir, MRN, "CC-4").await, 0);
    let forced = create_if_none(&fhir, &cc4, &lookalike, &[("X-MPI-Force", "true")]).await;
    assert_eq!(forced.status, 201, "{}", forced.body);

    // Malformed conditions: 400, nothing stored; no value is echoed.
    let long = "x".repeat(300);
    let many = (0..21)
        .map(|i| format!("identifier={}", enc(&format!("{MRN}|M-{i}"))))
        .collect::<Vec<_>>()
        .join("&");
    let malformed: Vec<(&str, String)> = vec![
        ("another parameter", "family=Vasquez".to_owned()),
        (
            "a modifier",
            format!("identifier:of-type={}", enc(&format!("{MRN}|CC-1"))),
        ),
        ("a value alone", "identifier=CC-1".to_owned()),
        (
            "no value",
            format!("identifier={}", enc(&format!("{MRN}|"))),
        ),
        ("no system", "identifier=%7CCC-1".to_owned()),
        (
            "alternatives",
            format!("identifier={}", enc(&format!("{MRN}|CC-1,{MRN}|CC-5"))),
        ),
        ("empty", String::new()),
        (
            "too long",
            format!("identifier={}", enc(&format!("{MRN}|{long}"))),
        ),
        ("too many", many),
    ];
    for (what, condition) in &malformed {
        let refused = create_if_none(
            &fhir,
            condition,
            &patient("Okoro", "Chidi", "1969-11-11", &[(MRN, "CC-1")]),
            &[],
        )
        .await;
        assert_issue(&refused, 400);
        let text = refused.body.to_string();
        assert!(text.contains("If-None-Exist"), "{what}: {text}");
        assert!(
            !text.contains("Vasquez") && !text.contains(&long),
            "{what}: {text}"
        );
    }
    let twice = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("if-none-exist", &condition), ("if-none-exist", &condition)],
            Some(&body),
        )
        .await;
    assert_issue(&twice, 400);
    assert_eq!(holders(&fhir, MRN, "CC-1").await, 1);

    // A key that may not register may not create conditionally, found or not.
    let auditor = fhir
        .call(
            Role::Auditor,
            "POST",
            "/Patient",
            &[("if-none-exist", &condition)],
            Some(&body),
        )
        .await;
    assert_issue(&auditor, 403);
    fhir.check_all_received();
}
both_backends!(conditional_create_creates_finds_and_refuses);

/// A FHIR XML Patient with one identifier.
fn patient_xml(family: &str, value: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <identifier>
    <system value="{MRN}"/>
    <value value="{value}"/>
  </identifier>
  <name>
    <family value="{family}"/>
    <given value="Imogen"/>
  </name>
  <gender value="female"/>
  <birthDate value="1958-02-17"/>
</Patient>"#
    )
}

async fn conditional_create_speaks_xml(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = Client {
        app: &app,
        kept: Vec::new(),
    };
    let condition = format!("identifier={}", enc(&format!("{MRN}|X-1")));
    let headers = [
        ("content-type", FHIR_XML),
        ("accept", FHIR_XML),
        ("if-none-exist", condition.as_str()),
    ];
    let body = patient_xml("Lockhart", "X-1");
    let created = client
        .send(Role::Registrar, "POST", "/Patient", &headers, Some(&body))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.content_type, FHIR_XML);
    let location = created.location.clone().expect("location");
    let found = client
        .send(
            Role::Registrar,
            "POST",
            "/Patient",
            &headers,
            Some(&patient_xml("Other", "X-1")),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.content_type, FHIR_XML);
    assert_eq!(found.location.as_deref(), Some(location.as_str()));
    assert!(found.text.contains("Lockhart"), "{}", found.text);
    assert!(!found.text.contains("Other"), "{}", found.text);
    // A malformed condition answers an XML OperationOutcome.
    let refused = client
        .send(
            Role::Registrar,
            "POST",
            "/Patient",
            &[
                ("content-type", FHIR_XML),
                ("accept", FHIR_XML),
                ("if-none-exist", "birthdate=1958-02-17"),
            ],
            Some(&body),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.text.contains("<OperationOutcome"),
        "{}",
        refused.text
    );
    client.check_all();
}
both_backends!(conditional_create_speaks_xml);

/// Concurrent conditional creates of one new identifier make one record: one 201, the others
/// 200 with it (on PostgreSQL the database refuses the twins, which then find the record).
async fn concurrent_conditional_creates_make_one_record(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    for round in 0..3 {
        let value = format!("RACE-{round}");
        let condition = format!("identifier={}", enc(&format!("{MRN}|{value}")));
        let body = patient("Ferreira", "Tomas", "1966-06-06", &[(MRN, &value)]);
        let answers = futures_util::future::join_all(
            (0..6).map(|_| create_if_none(&fhir, &condition, &body, &[("X-MPI-Force", "true")])),
        )
        .await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}: {:?}",
            answers.iter().map(|a| &a.body).collect::<Vec<_>>()
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            5,
            "{statuses:?}: {:?}",
            answers
                .iter()
                .filter(|a| a.status != 200 && a.status != 201)
                .map(|a| &a.body)
                .collect::<Vec<_>>()
        );
        let ids: std::collections::BTreeSet<String> =
            answers.iter().map(|a| id_of(&a.body)).collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert_eq!(holders(&fhir, MRN, &value).await, 1);
    }
    fhir.check_all_received();
}
both_backends!(concurrent_conditional_creates_make_one_record);

/// A PMIR feed message creating one Patient.
fn pmir_message(value: &str) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "message",
        "entry": [
            {"fullUrl": "urn:uuid:6d1a1c3e-5a4c-4f57-9d3e-000000000001",
             "resource": {"resourceType": "MessageHeader",
                "id": "6d1a1c3e-5a4c-4f57-9d3e-000000000001",
                "eventUri": "urn:ihe:iti:pmir:2019:patient-feed",
                "destination": [{"endpoint": "http://mpi.example.org/fhir"}],
                "source": {"endpoint": "http://source.example.org"},
                "focus": [{"reference": "urn:uuid:6d1a1c3e-5a4c-4f57-9d3e-000000000002"}]}},
            {"fullUrl": "urn:uuid:6d1a1c3e-5a4c-4f57-9d3e-000000000002",
             "resource": {"resourceType": "Bundle", "type": "history", "entry": [
                {"fullUrl": "urn:uuid:6d1a1c3e-5a4c-4f57-9d3e-000000000003",
                 "resource": patient("Adeyemi", "Tolu", "1992-09-14", &[(MRN, value)]),
                 "request": {"method": "POST", "url": "Patient"},
                 "response": {"status": "201"}}
             ]}}
        ]
    })
}

async fn capability_statement_declares_conditional_create_and_messaging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let base = format!("http://{}/fhir", app.server.addr);
    let metadata = fhir.raw(None, "GET", "/metadata", &[], None).await;
    assert_eq!(metadata.status, 200, "{}", metadata.body);
    let statement = &metadata.body;
    assert_eq!(statement["rest"][0]["resource"][0]["type"], "Patient");
    assert_eq!(
        statement["rest"][0]["resource"][0]["conditionalCreate"],
        true
    );
    let docs = statement["rest"][0]["resource"][0]["documentation"]
        .as_str()
        .expect("documentation");
    assert!(docs.contains("If-None-Exist"), "{docs}");
    assert!(!docs.contains("no conditional create"), "{docs}");

    // messaging: one endpoint (http, this server), no reliable cache, the PMIR feed received
    // and sent.
    let messaging = statement["messaging"].as_array().expect("messaging");
    assert_eq!(messaging.len(), 1, "{messaging:?}");
    let endpoint = &messaging[0]["endpoint"][0];
    assert_eq!(
        endpoint["protocol"],
        json!({"system": "http://terminology.hl7.org/CodeSystem/message-transport", "code": "http"})
    );
    let address = endpoint["address"].as_str().expect("address");
    assert_eq!(address, format!("{base}/$process-message"));
    assert_eq!(messaging[0]["reliableCache"], 0);
    let definition =
        "https://profiles.ihe.net/ITI/PMIR/MessageDefinition/IHE.PMIR.MessageDefinition";
    assert_eq!(
        messaging[0]["supportedMessage"],
        json!([
            {"mode": "receiver", "definition": definition},
            {"mode": "sender", "definition": definition}
        ])
    );

    // The endpoint named takes the feed: a message POSTed there is processed.
    let processed = fhir
        .raw(
            Some(Role::Registrar),
            "POST",
            address,
            &[],
            Some(pmir_message("PM-1").to_string()),
        )
        .await;
    assert_eq!(processed.status, 201, "{}", processed.body);
    assert_eq!(processed.body["type"], "message");
    assert_eq!(
        processed.body["entry"][0]["resource"]["response"]["code"],
        "ok"
    );
    assert_eq!(holders(&fhir, MRN, "PM-1").await, 1);
    let wrong = fhir
        .call(Role::Registrar, "GET", "/$process-message", &[], None)
        .await;
    assert_issue(&wrong, 405);

    // The statement in XML too (element order checked against the models).
    let mut client = Client {
        app: &app,
        kept: Vec::new(),
    };
    let xml = client
        .send(Role::Registrar, "GET", "/metadata?_format=xml", &[], None)
        .await;
    assert_eq!(xml.status, 200, "{}", xml.text);
    assert!(xml.text.contains("<messaging>"), "{}", xml.text);
    assert!(
        xml.text.contains("<conditionalCreate value=\"true\"/>"),
        "{}",
        xml.text
    );
    client.check_all();
    fhir.check_all_received();
}
both_backends!(capability_statement_declares_conditional_create_and_messaging);

/// A Patient speaking `languages` (`(system, code, preferred)`; an empty system none).
fn speaker(family: &str, value: &str, languages: &[(&str, &str, bool)]) -> Value {
    let mut p = patient(family, "Sam", "1970-01-01", &[(MRN, value)]);
    p["communication"] = languages
        .iter()
        .map(|(system, code, preferred)| {
            let mut coding = json!({"code": code});
            if !system.is_empty() {
                coding["system"] = json!(system);
            }
            json!({"language": {"coding": [coding]}, "preferred": preferred})
        })
        .collect();
    p
}

/// The ids a Patient search finds (every page's first 20 is enough here), sorted.
fn found_ids(bundle: &Value) -> Vec<String> {
    let mut ids: Vec<String> = bundle["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| id_of(&e["resource"]))
        .collect();
    ids.sort();
    ids
}

async fn patients_are_found_by_language(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let french = id_of(
        &fhir
            .create(&speaker("Abara", "L-1", &[(BCP47, "fr", true)]))
            .await,
    );
    let english = id_of(
        &fhir
            .create(&speaker(
                "Bello",
                "L-2",
                &[(BCP47, "EN", true), (BCP47, "fr-CA", false)],
            ))
            .await,
    );
    let german = id_of(
        &fhir
            .create(&speaker("Chukwu", "L-3", &[("", "de", false)]))
            .await,
    );
    let _none = fhir.create(&speaker("Dimka", "L-4", &[])).await;
    let sorted = |mut ids: Vec<&String>| {
        ids.sort();
        ids.into_iter().cloned().collect::<Vec<String>>()
    };
    let cases: Vec<(String, Vec<String>)> = vec![
        ("fr".to_owned(), vec![french.clone()]),
        // The code's case is ignored (BCP 47 tags are case-insensitive).
        ("FR".to_owned(), vec![french.clone()]),
        (enc(&format!("{BCP47}|en")), vec![english.clone()]),
        (enc(&format!("{BCP47}|fr-ca")), vec![english.clone()]),
        // `|code`: stored without a system.
        (enc("|de"), vec![german.clone()]),
        (enc(&format!("{BCP47}|de")), vec![]),
        (enc("|fr"), vec![]),
        (enc("urn:other|fr"), vec![]),
        // A comma is OR.
        (enc("fr,de"), sorted(vec![&french, &german])),
        ("es".to_owned(), vec![]),
    ];
    for (value, expected) in &cases {
        let answer = fhir.get(&format!("/Patient?language={value}")).await;
        assert_eq!(answer.status, 200, "{value}: {}", answer.body);
        assert_eq!(&found_ids(&answer.body), expected, "{value}");
        assert_eq!(answer.body["total"], expected.len(), "{value}");
    }
    // Repeated, both must hold; with other criteria.
    let both = fhir
        .get(&format!(
            "/Patient?language=en&language={}",
            enc(&format!("{BCP47}|fr-CA"))
        ))
        .await;
    assert_eq!(found_ids(&both.body), vec![english.clone()]);
    let with_family = fhir.get("/Patient?language=fr&family=Abara").await;
    assert_eq!(found_ids(&with_family.body), vec![french.clone()]);
    let self_link = with_family.body["link"][0]["url"].as_str().expect("self");
    assert!(self_link.contains("language=fr"), "{self_link}");
    // POST _search with the criteria as a form.
    let posted = fhir
        .raw(
            Some(Role::Registrar),
            "POST",
            "/Patient/_search",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(format!("language={}", enc(&format!("{BCP47}|fr")))),
        )
        .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert_eq!(found_ids(&posted.body), vec![french.clone()]);
    // An update replaces the languages, and the search follows.
    let mut changed = fhir.get(&format!("/Patient/{french}")).await.body;
    changed["communication"] = json!([{"language": {"coding": [{"system": BCP47, "code": "it"}]}}]);
    let updated = fhir
        .call(
            Role::Registrar,
            "PUT",
            &format!("/Patient/{french}"),
            &[("if-match", "W/\"1\"")],
            Some(&changed),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        found_ids(&fhir.get("/Patient?language=fr").await.body),
        Vec::<String>::new()
    );
    assert_eq!(
        found_ids(&fhir.get("/Patient?language=it").await.body),
        vec![french.clone()]
    );

    // Errors: a system without a code, too many alternatives, an empty value (422); a
    // modifier under strict handling (400).
    let many = (0..21)
        .map(|i| format!("x{i}"))
        .collect::<Vec<_>>()
        .join(",");
    for value in [enc(&format!("{BCP47}|")), many, String::new()] {
        let refused = fhir.get(&format!("/Patient?language={value}")).await;
        assert_issue(&refused, 422);
    }
    let strict = fhir
        .raw(
            Some(Role::Registrar),
            "GET",
            "/Patient?language:text=French",
            &[("prefer", "handling=strict")],
            None,
        )
        .await;
    assert_issue(&strict, 400);
    fhir.check_all_received();
}
both_backends!(patients_are_found_by_language);

/// A RelatedPerson of `patient` with `communication`.
fn related_speaker(patient: &str, communication: Value) -> Value {
    json!({
        "resourceType": "RelatedPerson",
        "active": true,
        "patient": {"reference": patient},
        "relationship": [{"coding": [{"system": ROLE_CODE, "code": "MTH"}]}],
        "name": [{"family": "Nwosu", "given": ["Ifeoma"]}],
        "communication": communication
    })
}

async fn related_person_communication_is_stored_and_bounded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let child = id_of(
        &fhir
            .create(&fhir_person("Nwosu", "Ada", "2021-03-03", "RC-1"))
            .await,
    );
    let child_ref = format!("Patient/{child}");
    let languages = json!([
        {"language": {"coding": [{"system": BCP47, "code": "ig", "display": "Igbo"}]},
         "preferred": true},
        {"language": {"coding": [{"system": BCP47, "code": "en"}]}}
    ]);
    let created = fhir
        .call(
            Role::Registrar,
            "POST",
            "/RelatedPerson",
            &[],
            Some(&related_speaker(&child_ref, languages.clone())),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = id_of(&created.body);
    assert_eq!(created.body["communication"], languages);
    let read = fhir.get(&format!("/RelatedPerson/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["communication"], languages);

    // Blank parts are left out and the code trimmed, as a Patient's; an update replaces them.
    let mut changed = read.body.clone();
    changed["communication"] = json!([
        {"language": {"coding": [{"system": " ", "code": " yo "}]}, "preferred": false}
    ]);
    let updated = fhir
        .call(
            Role::Registrar,
            "PUT",
            &format!("/RelatedPerson/{id}"),
            &[("if-match", "W/\"1\"")],
            Some(&changed),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        updated.body["communication"],
        json!([{"language": {"coding": [{"code": "yo"}]}}])
    );

    // XML in and out.
    let mut client = Client {
        app: &app,
        kept: Vec::new(),
    };
    let xml_body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<RelatedPerson xmlns="http://hl7.org/fhir">
  <active value="true"/>
  <patient><reference value="{child_ref}"/></patient>
  <relationship><coding><system value="{ROLE_CODE}"/><code value="FTH"/></coding></relationship>
  <name><family value="Nwosu"/><given value="Emeka"/></name>
  <communication>
    <language><coding><system value="{BCP47}"/><code value="ha"/></coding></language>
    <preferred value="true"/>
  </communication>
</RelatedPerson>"#
    );
    let xml = client
        .send(
            Role::Registrar,
            "POST",
            "/RelatedPerson",
            &[("content-type", FHIR_XML), ("accept", FHIR_XML)],
            Some(&xml_body),
        )
        .await;
    assert_eq!(xml.status, 201, "{}", xml.text);
    assert!(
        xml.text.contains("<communication>") && xml.text.contains("<preferred value=\"true\"/>"),
        "{}",
        xml.text
    );
    let xml_id = xml
        .location
        .as_deref()
        .and_then(|l| l.rsplit('/').next())
        .expect("location")
        .to_owned();
    let as_json = fhir.get(&format!("/RelatedPerson/{xml_id}")).await;
    assert_eq!(
        as_json.body["communication"],
        json!([{"language": {"coding": [{"system": BCP47, "code": "ha"}]}, "preferred": true}])
    );
    let read_xml = client
        .send(
            Role::Registrar,
            "GET",
            &format!("/RelatedPerson/{xml_id}?_format=xml"),
            &[],
            None,
        )
        .await;
    assert_eq!(read_xml.status, 200, "{}", read_xml.text);
    client.check_all();

    // Bounded and checked as a Patient's: 422 naming the RelatedPerson element, nothing stored.
    let coded = |code: &str| json!({"language": {"coding": [{"system": BCP47, "code": code}]}});
    let too_many: Vec<Value> = (0..21).map(|i| coded(&format!("x{i}"))).collect();
    let refusals = [
        json!([{"language": {"text": "Igbo"}}]),
        json!([coded("en"), coded("EN")]),
        Value::Array(too_many),
        json!([coded(&"x".repeat(101))]),
        json!([{"language": {"coding": [{"code": "en"}]}, "preferred": "yes"}]),
        json!([{"language": {"coding": [{"code": "en"}]}, "proficiency": []}]),
    ];
    for communication in refusals {
        let refused = fhir
            .call(
                Role::Registrar,
                "POST",
                "/RelatedPerson",
                &[],
                Some(&related_speaker(&child_ref, communication.clone())),
            )
            .await;
        assert!(
            refused.status == 422 || refused.status == 400,
            "{communication}: {}",
            refused.body
        );
        assert_issue(&refused, refused.status);
    }
    let listed = fhir
        .get(&format!("/RelatedPerson?patient={}", enc(&child_ref)))
        .await;
    assert_eq!(listed.body["total"], 2, "{}", listed.body);

    // A PMIR message's RelatedPerson carries its languages too (the same conversion).
    let mut message = pmir_message("RC-PMIR");
    let patient_url = "urn:uuid:6d1a1c3e-5a4c-4f57-9d3e-000000000003";
    message["entry"][1]["resource"]["entry"]
        .as_array_mut()
        .expect("history entries")
        .push(json!({
            "fullUrl": "urn:uuid:6d1a1c3e-5a4c-4f57-9d3e-000000000004",
            "resource": related_speaker(patient_url, json!([
                {"language": {"coding": [{"system": BCP47, "code": "tw"}]}, "preferred": true}
            ])),
            "request": {"method": "POST", "url": "RelatedPerson"},
            "response": {"status": "201"}
        }));
    let processed = fhir
        .call(Role::Registrar, "POST", "/Bundle", &[], Some(&message))
        .await;
    assert_eq!(processed.status, 201, "{}", processed.body);
    let fed = fhir
        .get(&format!(
            "/Patient?identifier={}&_revinclude=RelatedPerson:patient",
            enc(&format!("{MRN}|RC-PMIR"))
        ))
        .await;
    let mother: Vec<&Value> = fed.body["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "RelatedPerson")
        .collect();
    assert_eq!(mother.len(), 1, "{}", fed.body);
    assert_eq!(
        mother[0]["resource"]["communication"],
        json!([{"language": {"coding": [{"system": BCP47, "code": "tw"}]}, "preferred": true}])
    );
    fhir.check_all_received();
}
both_backends!(related_person_communication_is_stored_and_bounded);
