//! FHIR RelatedPerson through the real server (issue 31 §6, §4, §7): create, read, versioned
//! update, search by patient and relationship, soft delete and their errors (unknown patient,
//! unsupported relationship, elements the MPI does not store), a merged-away patient resolving
//! to its survivor, XML in and out, PMIR messages carrying a Patient and its mother as one
//! transaction (and storing nothing when they fail halfway), PDQm's `_include` and
//! `_revinclude`, and `_pretty`. Every resource received is parsed by the independent
//! `fhir.resources` models; every read and write leaves its audit row.

use migration::testing::Backend;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use service::context::Role;
use uuid::Uuid;

use crate::app::TestApp;
use crate::both_backends;
use crate::fhir::{Answer, Fhir, fhir_person, id_of, organization};
use crate::fhir_xml::{Client, FHIR_XML};

const ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";

/// A RelatedPerson of `patient` (a reference) with `code`, one name and one identifier.
fn related(patient: &str, code: &str, family: &str, given: &str) -> Value {
    json!({
        "resourceType": "RelatedPerson",
        "active": true,
        "patient": {"reference": patient},
        "relationship": [{"coding": [{"system": ROLE_CODE, "code": code}]}],
        "identifier": [{"system": "urn:test:nid", "value": format!("NID-{family}-{given}")}],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "telecom": [{"system": "phone", "value": "+1 555 0100", "use": "mobile"}],
        "gender": "female",
        "birthDate": "1980-03",
        "address": [{"line": ["1 Main St"], "city": "Springfield", "country": "US"}]
    })
}

fn assert_issue(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer.body["resourceType"], "OperationOutcome",
        "{}",
        answer.body
    );
}

fn enc(text: &str) -> String {
    text.replace('|', "%7C")
        .replace(':', "%3A")
        .replace('/', "%2F")
}

/// The ids of the entries of a searchset whose `search.mode` is `mode`, by resource type.
fn entries(bundle: &Value, mode: &str, kind: &str) -> Vec<String> {
    let mut ids: Vec<String> = bundle["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["search"]["mode"] == mode && e["resource"]["resourceType"] == kind)
        .map(|e| id_of(&e["resource"]))
        .collect();
    ids.sort();
    ids
}

/// How many audit rows of `action` on related persons the trail holds.
async fn audited(app: &TestApp, action: &str) -> usize {
    entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::EntityType.eq("related_person"))
        .filter(entity::audit_event::Column::Action.eq(action))
        .all(&app.db.conn)
        .await
        .expect("read the audit trail")
        .len()
}

async fn related_person_crud_search_and_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let child = id_of(
        &fhir
            .create(&fhir_person("Okafor", "Ada", "2020-02-02", "C-1"))
            .await,
    );
    let child_ref = format!("Patient/{child}");

    // Create the mother: 201 with Location and ETag, the relationship shown with its display.
    let created = fhir
        .call(
            Role::Registrar,
            "POST",
            "/RelatedPerson",
            &[],
            Some(&related(&child_ref, "MTH", "Okafor", "Ngozi")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let mother = id_of(&created.body);
    assert!(
        created
            .header("location")
            .is_some_and(|l| l.ends_with(&format!("/fhir/RelatedPerson/{mother}"))),
        "{:?}",
        created.header("location")
    );
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    assert_eq!(created.body["patient"]["reference"], child_ref.as_str());
    assert_eq!(
        created.body["relationship"][0]["coding"][0],
        json!({"system": ROLE_CODE, "code": "MTH", "display": "mother"})
    );
    assert_eq!(created.body["birthDate"], "1980-03");
    assert_eq!(created.body["name"][0]["given"], json!(["Ngozi"]));

    // Read: the same resource.
    let read = fhir.get(&format!("/RelatedPerson/{mother}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body, created.body);

    // Versioned update: If-Match names the version; a stale one is 412; none is 412 too.
    let mut changed = created.body.clone();
    changed["telecom"] = json!([{"system": "email", "value": "ngozi@example.org"}]);
    let update = |headers: &'static [(&'static str, &'static str)], body: Value| {
        let fhir = &fhir;
        let mother = mother.clone();
        async move {
            fhir.call(
                Role::Registrar,
                "PUT",
                &format!("/RelatedPerson/{mother}"),
                headers,
                Some(&body),
            )
            .await
        }
    };
    let updated = update(&[("If-Match", "W/\"1\"")], changed.clone()).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["meta"]["versionId"], "2");
    assert_eq!(updated.body["telecom"][0]["value"], "ngozi@example.org");
    let stale = update(&[("If-Match", "W/\"1\"")], changed.clone()).await;
    assert_issue(&stale, 412);
    let mut no_version = changed.clone();
    no_version["meta"] = json!({});
    assert_issue(&update(&[], no_version).await, 412);

    // A father too; search by patient, by relationship, both, and with alternatives.
    let father = fhir
        .call(
            Role::Registrar,
            "POST",
            "/RelatedPerson",
            &[],
            Some(&related(&child_ref, "FTH", "Okafor", "Emeka")),
        )
        .await;
    assert_eq!(father.status, 201, "{}", father.body);
    let father = id_of(&father.body);
    let search = |query: String| {
        let fhir = &fhir;
        async move { fhir.get(&format!("/RelatedPerson?{query}")).await }
    };
    let mut both = vec![mother.clone(), father.clone()];
    both.sort();
    let by_patient = search(format!("patient={}", enc(&child_ref))).await;
    assert_eq!(by_patient.status, 200, "{}", by_patient.body);
    assert_eq!(by_patient.body["total"], 2);
    assert_eq!(entries(&by_patient.body, "match", "RelatedPerson"), both);
    let mothers = search(format!("patient={}&relationship=MTH", enc(&child_ref))).await;
    assert_eq!(
        entries(&mothers.body, "match", "RelatedPerson"),
        std::slice::from_ref(&mother)
    );
    let by_system = search(format!(
        "patient={child}&relationship={}",
        enc(&format!("{ROLE_CODE}|FTH"))
    ))
    .await;
    assert_eq!(
        entries(&by_system.body, "match", "RelatedPerson"),
        std::slice::from_ref(&father)
    );
    let either = search(format!("patient={}&relationship=MTH,FTH", enc(&child_ref))).await;
    assert_eq!(either.body["total"], 2);
    let nobody = search(format!("patient=Patient/{}", Uuid::new_v4())).await;
    assert_eq!(nobody.status, 200, "{}", nobody.body);
    assert_eq!(nobody.body["total"], 0);
    assert_issue(&search("relationship=XYZ".to_owned()).await, 422);
    // An unknown parameter is ignored (then no criterion is left: 422), or refused when strict.
    assert_issue(&search("name=Okafor".to_owned()).await, 422);
    let strict = fhir
        .call(
            Role::Registrar,
            "GET",
            "/RelatedPerson?name=Okafor",
            &[("Prefer", "handling=strict")],
            None,
        )
        .await;
    assert_issue(&strict, 400);
    assert_issue(&search(String::new()).await, 422);

    // Errors: an unknown patient, a relationship outside the codes, another code system, an
    // element the MPI does not store, no patient, no name; an unknown id is 404.
    let post = |body: Value| {
        let fhir = &fhir;
        async move {
            fhir.call(Role::Registrar, "POST", "/RelatedPerson", &[], Some(&body))
                .await
        }
    };
    let unknown = post(related(
        &format!("Patient/{}", Uuid::new_v4()),
        "MTH",
        "Nobody",
        "Ann",
    ))
    .await;
    assert_issue(&unknown, 422);
    assert!(
        unknown.body["issue"][0]["diagnostics"]
            .as_str()
            .is_some_and(|d| d.contains("patient")),
        "{}",
        unknown.body
    );
    assert_issue(
        &post(related(&child_ref, "ZZZ", "Okafor", "Ann")).await,
        422,
    );
    let mut other_system = related(&child_ref, "MTH", "Okafor", "Ann");
    other_system["relationship"][0]["coding"][0]["system"] = json!("urn:example:roles");
    assert_issue(&post(other_system).await, 422);
    let mut photo = related(&child_ref, "MTH", "Okafor", "Ann");
    photo["photo"] = json!([{"contentType": "image/png"}]);
    assert_issue(&post(photo).await, 422);
    let mut orphan = related(&child_ref, "MTH", "Okafor", "Ann");
    orphan.as_object_mut().expect("object").remove("patient");
    assert_issue(&post(orphan).await, 422);
    // A mother may be known by her identifier alone (PMIR's mother-and-newborn message:
    // `fhir_cr::pmir_newborn_with_her_mother`), but a related person with neither a name nor
    // an identifier says nothing of who she is.
    let mut nameless = related(&child_ref, "MTH", "Okafor", "Ann");
    nameless["name"] = json!([]);
    nameless["identifier"] = json!([]);
    assert_issue(&post(nameless).await, 422);
    assert_issue(
        &fhir
            .get(&format!("/RelatedPerson/{}", Uuid::new_v4()))
            .await,
        404,
    );
    assert_issue(&fhir.get("/RelatedPerson/not-a-uuid").await, 404);
    // An auditor key reads no patient data.
    let auditor = fhir
        .call(
            Role::Auditor,
            "GET",
            &format!("/RelatedPerson/{mother}"),
            &[],
            None,
        )
        .await;
    assert_issue(&auditor, 403);

    // A merged-away patient resolves to its survivor, at create and in searches.
    let retired = id_of(
        &fhir
            .create(&fhir_person("Okafor", "Adah", "2020-02-02", "C-2"))
            .await,
    );
    let merge = json!({"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": format!("Patient/{retired}")}},
        {"name": "target-patient", "valueReference": {"reference": child_ref}}
    ]});
    let merged = fhir
        .call(Role::Steward, "POST", "/Patient/$merge", &[], Some(&merge))
        .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    let guardian = post(related(
        &format!("Patient/{retired}"),
        "GUARD",
        "Mensah",
        "Kofi",
    ))
    .await;
    assert_eq!(guardian.status, 201, "{}", guardian.body);
    assert_eq!(guardian.body["patient"]["reference"], child_ref.as_str());
    let via_retired = search(format!("patient=Patient/{retired}")).await;
    assert_eq!(via_retired.body["total"], 3, "{}", via_retired.body);

    // Delete: 200, then the record is gone for read and search.
    let deleted = fhir
        .call(
            Role::Admin,
            "DELETE",
            &format!("/RelatedPerson/{father}"),
            &[],
            None,
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_issue(&fhir.get(&format!("/RelatedPerson/{father}")).await, 404);
    let after = search(format!("patient={}", enc(&child_ref))).await;
    assert_eq!(after.body["total"], 2, "{}", after.body);

    // Every write and read left its audit row.
    assert_eq!(audited(&app, "create").await, 3);
    assert_eq!(audited(&app, "update").await, 1);
    assert_eq!(audited(&app, "delete").await, 1);
    assert!(audited(&app, "read").await >= 2);
    assert!(audited(&app, "search").await >= 7);
    fhir.check_all_received();
}
both_backends!(related_person_crud_search_and_errors);

/// A RelatedPerson in FHIR XML (elements in schema order).
fn related_xml(patient: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<RelatedPerson xmlns="http://hl7.org/fhir">
  <identifier>
    <system value="urn:test:nid"/>
    <value value="NID-XML-1"/>
  </identifier>
  <active value="true"/>
  <patient>
    <reference value="{patient}"/>
  </patient>
  <relationship>
    <coding>
      <system value="{ROLE_CODE}"/>
      <code value="MTH"/>
    </coding>
  </relationship>
  <name>
    <family value="O&apos;Neill"/>
    <given value="Siobhan"/>
  </name>
  <gender value="female"/>
  <birthDate value="1979-11-30"/>
</RelatedPerson>"#
    )
}

async fn related_person_in_xml(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let child = id_of(
        &fhir
            .create(&fhir_person("ONeill", "Aoife", "2021-01-05", "X-1"))
            .await,
    );
    let mut c = Client {
        app: &app,
        kept: Vec::new(),
    };
    let created = c
        .send(
            Role::Registrar,
            "POST",
            "/RelatedPerson",
            &[("content-type", FHIR_XML), ("accept", FHIR_XML)],
            Some(&related_xml(&format!("Patient/{child}"))),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.content_type, FHIR_XML);
    assert!(
        created.text.contains(r#"<family value="O&apos;Neill"/>"#),
        "{}",
        created.text
    );
    let id = created
        .location
        .as_deref()
        .and_then(|l| l.rsplit_once("/RelatedPerson/"))
        .map(|(_, id)| id.to_owned())
        .expect("Location");
    let read_xml = c
        .send(
            Role::Registrar,
            "GET",
            &format!("/RelatedPerson/{id}?_format=xml"),
            &[],
            None,
        )
        .await;
    assert_eq!(read_xml.status, 200, "{}", read_xml.text);
    assert!(
        read_xml.text.contains(r#"<code value="MTH"/>"#),
        "{}",
        read_xml.text
    );
    let read_json = fhir.get(&format!("/RelatedPerson/{id}")).await;
    assert_eq!(read_json.body["name"][0]["family"], "O'Neill");
    assert_eq!(read_json.body["birthDate"], "1979-11-30");
    assert_eq!(read_json.body["identifier"][0]["value"], "NID-XML-1");
    let bundle = c
        .send(
            Role::Registrar,
            "GET",
            &format!("/RelatedPerson?patient=Patient/{child}"),
            &[("accept", FHIR_XML)],
            None,
        )
        .await;
    assert_eq!(bundle.status, 200, "{}", bundle.text);
    assert!(bundle.text.contains("<RelatedPerson>"), "{}", bundle.text);
    c.check_all();
    fhir.check_all_received();
}
both_backends!(related_person_in_xml);

/// A PMIR feed message whose history entries are `(fullUrl, method, url, resource)`.
fn message(entries: &[(&str, &str, &str, Value)]) -> Value {
    let history: Vec<Value> = entries
        .iter()
        .map(|(full_url, method, url, resource)| {
            json!({"fullUrl": full_url, "resource": resource,
                   "request": {"method": method, "url": url}})
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "message",
        "entry": [
            {"fullUrl": "urn:uuid:7a1e0c52-4d1f-4b8e-9a65-000000000001", "resource": {
                "resourceType": "MessageHeader",
                "id": "7a1e0c52-4d1f-4b8e-9a65-000000000001",
                "eventUri": "urn:ihe:iti:pmir:2019:patient-feed",
                "source": {"endpoint": "http://source.example.org/fhir"},
                "focus": [{"reference": "urn:uuid:7a1e0c52-4d1f-4b8e-9a65-000000000002"}]
            }},
            {"fullUrl": "urn:uuid:7a1e0c52-4d1f-4b8e-9a65-000000000002", "resource": {
                "resourceType": "Bundle", "type": "history", "entry": history
            }}
        ]
    })
}

fn history_answers(answer: &Answer) -> (String, Vec<(String, String)>) {
    let body = &answer.body;
    let code = body["entry"][0]["resource"]["response"]["code"]
        .as_str()
        .expect("code")
        .to_owned();
    // A refusal before any entry ran names none.
    let answers = body["entry"][1]["resource"]["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["response"]["status"].as_str().expect("status").to_owned(),
                e["response"]["location"]
                    .as_str()
                    .map(crate::fhir::unversioned)
                    .unwrap_or_default(),
            )
        })
        .collect();
    (code, answers)
}

async fn patients_holding(fhir: &Fhir<'_>, identifier: &str) -> u64 {
    let answer = fhir
        .get(&format!("/Patient?identifier={}", enc(identifier)))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["total"].as_u64().expect("total")
}

async fn pmir_feeds_a_child_and_its_mother_in_one_transaction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let child_url = "urn:uuid:0c7d7f0e-4f33-4b7a-8d1e-0000000000c1";
    let child = fhir_person("Banda", "Chikondi", "2024-06-01", "PMIR-C-1");
    let mother = related(child_url, "MTH", "Banda", "Thoko");

    // A Patient and her mother, the RelatedPerson naming the Patient entry by its fullUrl.
    let answer = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[
                (child_url, "POST", "Patient", child.clone()),
                (
                    "urn:uuid:0c7d7f0e-4f33-4b7a-8d1e-0000000000c2",
                    "POST",
                    "RelatedPerson",
                    mother.clone(),
                ),
            ])),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let (code, answers) = history_answers(&answer);
    assert_eq!(code, "ok");
    assert_eq!(answers[0].0, "201 Created");
    assert_eq!(answers[1].0, "201 Created");
    let child_id = answers[0].1.trim_start_matches("Patient/").to_owned();
    let mother_id = answers[1]
        .1
        .strip_prefix("RelatedPerson/")
        .expect("a RelatedPerson location")
        .to_owned();
    let stored = fhir.get(&format!("/RelatedPerson/{mother_id}")).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(
        stored.body["patient"]["reference"],
        format!("Patient/{child_id}")
    );
    let mothers = fhir
        .get(&format!(
            "/RelatedPerson?patient=Patient/{child_id}&relationship=MTH"
        ))
        .await;
    assert_eq!(
        entries(&mothers.body, "match", "RelatedPerson"),
        std::slice::from_ref(&mother_id)
    );

    // An update of the mother by id, in a later message naming the stored Patient.
    let mut renamed = related(&format!("Patient/{child_id}"), "MTH", "Phiri", "Thoko");
    renamed["id"] = json!(mother_id);
    let update = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[(
                "urn:uuid:0c7d7f0e-4f33-4b7a-8d1e-0000000000c3",
                "PUT",
                &format!("RelatedPerson/{mother_id}"),
                renamed,
            )])),
        )
        .await;
    assert_eq!(update.status, 200, "{}", update.body);
    assert_eq!(history_answers(&update).1[0].0, "200 OK");
    let reread = fhir.get(&format!("/RelatedPerson/{mother_id}")).await;
    assert_eq!(reread.body["name"][0]["family"], "Phiri");
    assert_eq!(reread.body["meta"]["versionId"], "2");

    // Failing halfway: a new Patient, then a RelatedPerson of a patient nobody holds. The
    // message is refused and the Patient created before the failure is not stored.
    let sibling = fhir_person("Banda", "Mphatso", "2024-06-01", "PMIR-C-2");
    let failed = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[
                (
                    "urn:uuid:0c7d7f0e-4f33-4b7a-8d1e-0000000000c4",
                    "POST",
                    "Patient",
                    sibling,
                ),
                (
                    "urn:uuid:0c7d7f0e-4f33-4b7a-8d1e-0000000000c5",
                    "POST",
                    "RelatedPerson",
                    related(
                        &format!("Patient/{}", Uuid::new_v4()),
                        "MTH",
                        "Banda",
                        "Thoko",
                    ),
                ),
            ])),
        )
        .await;
    assert_eq!(failed.status, 422, "{}", failed.body);
    let (code, answers) = history_answers(&failed);
    assert_eq!(code, "fatal-error");
    assert!(answers[0].0.starts_with("422"), "{answers:?}");
    assert_eq!(patients_holding(&fhir, "urn:test:mrn|PMIR-C-2").await, 0);
    assert_eq!(patients_holding(&fhir, "urn:test:mrn|PMIR-C-1").await, 1);
    let still_one = fhir.get("/RelatedPerson?relationship=MTH").await;
    assert_eq!(still_one.body["total"], 1, "{}", still_one.body);

    // A RelatedPerson naming an entry that comes after it is refused before anything runs.
    let forward = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[
                (
                    "urn:uuid:0c7d7f0e-4f33-4b7a-8d1e-0000000000c6",
                    "POST",
                    "RelatedPerson",
                    related(
                        "urn:uuid:0c7d7f0e-4f33-4b7a-8d1e-0000000000c7",
                        "MTH",
                        "Banda",
                        "Thoko",
                    ),
                ),
                (
                    "urn:uuid:0c7d7f0e-4f33-4b7a-8d1e-0000000000c7",
                    "POST",
                    "Patient",
                    fhir_person("Banda", "Chisomo", "2024-06-01", "PMIR-C-3"),
                ),
            ])),
        )
        .await;
    assert_eq!(forward.status, 422, "{}", forward.body);
    assert_eq!(history_answers(&forward).0, "fatal-error");
    assert_eq!(patients_holding(&fhir, "urn:test:mrn|PMIR-C-3").await, 0);

    // A delete of the mother.
    let delete = fhir
        .call(
            Role::Admin,
            "POST",
            "/Bundle",
            &[],
            Some(&json!({
                "resourceType": "Bundle", "type": "message",
                "entry": [
                    message(&[])["entry"][0].clone(),
                    {"fullUrl": "urn:uuid:7a1e0c52-4d1f-4b8e-9a65-000000000002", "resource": {
                        "resourceType": "Bundle", "type": "history", "entry": [
                            {"request": {"method": "DELETE", "url": format!("RelatedPerson/{mother_id}")}}
                        ]
                    }}
                ]
            })),
        )
        .await;
    assert_eq!(delete.status, 200, "{}", delete.body);
    assert_eq!(history_answers(&delete).1[0].0, "204 No Content");
    assert_issue(&fhir.get(&format!("/RelatedPerson/{mother_id}")).await, 404);
    fhir.check_all_received();
}
both_backends!(pmir_feeds_a_child_and_its_mother_in_one_transaction);

async fn pdqm_include_revinclude_and_pretty(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let org = organization(&app).await;
    let mut patient = fhir_person("Zhivago", "Lara", "1990-09-09", "INC-1");
    patient["managingOrganization"] = json!({"reference": format!("Organization/{org}")});
    let patient = id_of(&fhir.create(&patient).await);
    let other = id_of(
        &fhir
            .create(&fhir_person("Zhivago", "Yuri", "1988-08-08", "INC-2"))
            .await,
    );
    let mut persons = Vec::new();
    for (target, code, given) in [
        (&patient, "MTH", "Anna"),
        (&patient, "GUARD", "Pavel"),
        (&other, "SPS", "Tonya"),
    ] {
        let answer = fhir
            .call(
                Role::Registrar,
                "POST",
                "/RelatedPerson",
                &[],
                Some(&related(
                    &format!("Patient/{target}"),
                    code,
                    "Zhivago",
                    given,
                )),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        persons.push(id_of(&answer.body));
    }

    // _include and _revinclude: the matches, then their organization and related persons.
    let found = fhir
        .get("/Patient?family=Zhivago&given=Lara&_include=Patient:organization&_revinclude=RelatedPerson:patient")
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["total"], 1, "{}", found.body);
    assert_eq!(
        entries(&found.body, "match", "Patient"),
        std::slice::from_ref(&patient)
    );
    assert_eq!(
        entries(&found.body, "include", "Organization"),
        [org.to_string()]
    );
    let mut of_patient = vec![persons[0].clone(), persons[1].clone()];
    of_patient.sort();
    assert_eq!(entries(&found.body, "include", "RelatedPerson"), of_patient);
    let self_link = found.body["link"][0]["url"].as_str().expect("self");
    assert!(
        self_link.contains("_revinclude=RelatedPerson%3Apatient"),
        "{self_link}"
    );
    let org_entry = found.body["entry"]
        .as_array()
        .expect("entry")
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Organization")
        .expect("organization entry");
    assert_eq!(org_entry["resource"]["name"], "Riverside Test Hospital");
    assert!(
        org_entry["fullUrl"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/Organization/{org}")))
    );

    // Both patients: each one's related persons; without the parameters, matches only.
    let all = fhir
        .get("/Patient?family=Zhivago&_revinclude=RelatedPerson:patient")
        .await;
    assert_eq!(all.body["total"], 2, "{}", all.body);
    let mut everyone = persons.clone();
    everyone.sort();
    assert_eq!(entries(&all.body, "include", "RelatedPerson"), everyone);
    assert!(entries(&all.body, "include", "Organization").is_empty());
    let plain = fhir.get("/Patient?family=Zhivago").await;
    assert_eq!(
        plain.body["entry"].as_array().expect("entry").len(),
        2,
        "{}",
        plain.body
    );

    // Unsupported values: 400 under Prefer: handling=strict, ignored by default or lenient.
    let strict = fhir
        .call(
            Role::Registrar,
            "GET",
            "/Patient?family=Zhivago&_include=Patient:general-practitioner",
            &[("Prefer", "handling=strict")],
            None,
        )
        .await;
    assert_issue(&strict, 400);
    let lenient = fhir
        .call(
            Role::Registrar,
            "GET",
            "/Patient?family=Zhivago&_revinclude=Provenance:target",
            &[("Prefer", "handling=lenient")],
            None,
        )
        .await;
    assert_eq!(lenient.status, 200, "{}", lenient.body);
    assert_eq!(lenient.body["entry"].as_array().expect("entry").len(), 2);

    // _pretty=true: the same answer, indented, elements in their order; false or absent:
    // compact; another value: 400. On a search, a read, an error and the metadata.
    let text = |path: String| {
        let app = &app;
        async move {
            let response = reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client")
                .get(format!("http://{}/fhir{path}", app.server.addr))
                .bearer_auth(app.key(Role::Registrar))
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            (status, response.text().await.expect("body"))
        }
    };
    for path in [
        format!("/Patient/{patient}"),
        format!("/RelatedPerson/{}", persons[0]),
        "/Patient?family=Zhivago&_revinclude=RelatedPerson:patient".to_owned(),
        "/metadata".to_owned(),
        format!("/RelatedPerson/{}", Uuid::new_v4()),
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, pretty) = text(format!("{path}{sep}_pretty=true")).await;
        let (plain_status, compact) = text(path.clone()).await;
        assert_eq!(status, plain_status, "{path}");
        assert!(
            pretty.starts_with("{\n  \"resourceType\": "),
            "{path}: {pretty}"
        );
        assert!(!compact.contains('\n'), "{path}: {compact}");
        let a: Value = serde_json::from_str(&pretty).expect("pretty JSON");
        let mut b: Value = serde_json::from_str(&compact).expect("compact JSON");
        if path == "/metadata" {
            b["date"] = a["date"].clone();
        }
        assert_eq!(a, b, "{path}");
        let (_, off) = text(format!("{path}{sep}_pretty=false")).await;
        assert!(!off.contains('\n'), "{path}: {off}");
    }
    let (status, bad) = text(format!("/Patient/{patient}?_pretty=yes")).await;
    assert_eq!(status, 400, "{bad}");
    // In a form body too (POST .../_search), where it is no search criterion.
    let pretty_search = fhir
        .raw(
            Some(Role::Registrar),
            "POST",
            "/Patient/_search",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some("family=Zhivago&_pretty=true".to_owned()),
        )
        .await;
    assert_eq!(pretty_search.status, 200, "{}", pretty_search.body);
    assert_eq!(pretty_search.body["total"], 2);
    fhir.check_all_received();
}
both_backends!(pdqm_include_revinclude_and_pretty);
