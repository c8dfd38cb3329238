//! The OpenHIE Client Registry FHIR test cases' shapes through the real server: a PMIR message
//! like OHIE-CR-07 (two Organizations, a Practitioner, a Patient carrying elements the MPI does
//! not store, a RelatedPerson) stored as one transaction with the Patient's managing
//! organization resolved to the stored Organization; OHIE-CR-08's registrations and merge by
//! `PUT Patient/{sender's id}`; 201 for a message that created something; refusals as
//! `fatal-error` message Bundles; `_include=Organization:managingOrganization`; RelatedPerson
//! search by identifier. Every resource received is parsed by the independent `fhir.resources`
//! models.

use migration::testing::Backend;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use service::context::Role;

use crate::app::TestApp;
use crate::both_backends;
use crate::fhir::{Answer, Fhir, id_of};

const TEST_URL: &str = "http://ohie.org/test/test";
const TEST_A_URL: &str = "http://ohie.org/test/test_a";
const NID_URL: &str = "http://ohie.org/test/nid";
const ORGS_URL: &str = "http://ohie.org/test/orgs";

fn enc(text: &str) -> String {
    text.replace('|', "%7C")
        .replace(':', "%3A")
        .replace('/', "%2F")
}

async fn add_domains(app: &TestApp) {
    for (name, oid, url) in [
        ("TEST", "2.16.840.1.113883.3.72.5.9.1", TEST_URL),
        ("TEST_A", "2.16.840.1.113883.3.72.5.9.2", TEST_A_URL),
        ("NID", "2.16.840.1.113883.3.72.5.9.9", NID_URL),
    ] {
        let body = json!({"name": name, "oid": oid, "url": url});
        let (status, answer) = app.admin("POST", "/api/v1/domains", Some(&body)).await;
        assert_eq!(status, 201, "{answer}");
    }
}

/// A PMIR message as the test cases write it: the header's focus names the history Bundle as
/// `Bundle/{id}`; history entries are `(fullUrl, method, url, resource)`.
fn message(id: &str, entries: &[(&str, &str, &str, Value)]) -> Value {
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
            {"fullUrl": format!("MessageHeader/{id}"), "resource": {
                "resourceType": "MessageHeader",
                "id": "1",
                "eventUri": "urn:ihe:iti:pmir:2019:patient-feed",
                "source": {"endpoint": "http://ohie.org/test/test_harness"},
                "focus": [{"reference": format!("Bundle/{id}")}],
                "destination": [{"endpoint": "http://ohie.org/test/endpoint/Bundle"}]
            }},
            {"fullUrl": format!("http://test.ohie.org/fhir/Bundle/{id}"), "resource": {
                "resourceType": "Bundle", "id": id, "type": "history", "entry": history
            }}
        ]
    })
}

/// The response code, each history entry's (status, location), and the OperationOutcome.
fn answered(answer: &Answer) -> (String, Vec<(String, String)>, Value) {
    let body = &answer.body;
    assert_eq!(body["type"], "message", "{body}");
    let header = &body["entry"][0]["resource"];
    assert_eq!(header["resourceType"], "MessageHeader", "{body}");
    let entries = body["entry"][1]["resource"]["entry"]
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
    let outcome = body["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"].clone())
        .find(|r| r["resourceType"] == "OperationOutcome")
        .expect("an OperationOutcome entry");
    (
        header["response"]["code"]
            .as_str()
            .expect("code")
            .to_owned(),
        entries,
        outcome,
    )
}

async fn send(fhir: &Fhir<'_>, role: Role, message: &Value) -> Answer {
    fhir.call(role, "POST", "/Bundle", &[], Some(message)).await
}

/// OHIE-CR-07's message, its resources as the test case writes them.
fn flynn_message(id: &str) -> Value {
    let acme = json!({
        "resourceType": "Organization", "id": "ohie-cr-07-10-fhir-acme",
        "identifier": [{"use": "usual", "system": ORGS_URL, "value": "FHR-072"}],
        "name": "ACME Insurance Providers Corp.",
        "address": [{"use": "work", "type": "physical", "line": ["321 James St. North"],
                     "city": "Hamilton", "state": "ON", "postalCode": "L8K5X2", "country": "CA"}]
    });
    let manager = json!({
        "resourceType": "Organization", "id": "ohie-cr-07-fhir-mgr",
        "identifier": [{"use": "usual", "system": ORGS_URL, "value": "FHR-073"}],
        "name": "University Medical Centre"
    });
    let practitioner = json!({
        "resourceType": "Practitioner", "id": "ohie-cr-07-fhir-pract",
        "identifier": [{"use": "usual", "system": "http://ohie.org/test/practs", "value": "FHR-074"}],
        "name": [{"use": "usual", "family": "Profile", "prefix": ["Dr"]}]
    });
    let patient = json!({
        "resourceType": "Patient", "id": "ohie-cr-07-10-fhir-flyn", "active": true,
        "identifier": [{"use": "official", "system": TEST_URL, "value": "FHR-070"}],
        "name": [
            {"use": "official", "family": "Profile", "given": ["Flynn", "Full"],
             "prefix": ["Dr"], "suffix": ["III"]},
            {"use": "usual", "family": "Profile", "prefix": ["Dr"]}
        ],
        "address": [{"use": "home", "type": "both",
                     "text": "123 Ontario St. Beamsville, Lincoln County, Ontario, Canada, L0R2A0",
                     "line": ["123 Ontario St", "Unit 32"], "city": "Beamsville",
                     "district": "Lincoln County", "state": "ON", "postalCode": "L0R2A0",
                     "country": "CA"}],
        "telecom": [
            {"system": "phone", "value": "+12039203099", "use": "work"},
            {"system": "phone", "value": "+10293829343", "use": "mobile"},
            {"system": "email", "value": "flynn@ohie.org", "use": "home"}
        ],
        "gender": "male",
        "birthDate": "1982-03-02",
        "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                                      "code": "M", "display": "Married"}]},
        "multipleBirthBoolean": true,
        "contact": [
            {"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
             "name": {"use": "usual", "family": "Profile", "given": ["Allison"]},
             "telecom": [{"system": "phone", "value": "+13049303940", "use": "mobile"}]},
            {"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "I"}]}],
             "organization": {"reference": "http://test.ohie.org/fhir/Organization/ohie-cr-07-10-fhir-acme",
                              "display": "ACME Insurance Corp."}}
        ],
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en", "display": "English"}]},
             "preferred": true},
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr", "display": "French"}]},
             "preferred": false}
        ],
        "generalPractitioner": {"reference": "http://test.ohie.org/fhir/Practitioner/ohie-cr-07-fhir-pract",
                                "display": "Dr. Andrew Fudd"},
        "managingOrganization": {"reference": "http://test.ohie.org/fhir/Organization/ohie-cr-07-fhir-mgr",
                                 "display": "University Medical Centre"}
    });
    let wife = json!({
        "resourceType": "RelatedPerson", "id": "ohie-cr-07-10-fhir-wife",
        "identifier": [
            {"use": "usual", "system": TEST_URL, "value": "FHR-071"},
            {"use": "usual", "system": NID_URL, "value": "NID071"}
        ],
        "patient": {"reference": "http://test.ohie.org/fhir/Patient/ohie-cr-07-10-fhir-flyn"},
        "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                      "code": "WIFE"}]}],
        "name": [{"use": "usual", "family": "Profile", "given": ["Allison"]}],
        "gender": "female"
    });
    message(
        id,
        &[
            (
                "http://test.ohie.org/fhir/Organization/ohie-cr-07-10-fhir-acme",
                "POST",
                "Organization/ohie-cr-07-fhir-acme",
                acme,
            ),
            (
                "http://test.ohie.org/fhir/Organization/ohie-cr-07-fhir-mgr",
                "POST",
                "Organization/ohie-cr-07-fhir-mgr",
                manager,
            ),
            (
                "http://test.ohie.org/fhir/Practitioner/ohie-cr-07-fhir-pract",
                "POST",
                "Practitioner/ohie-cr-07-fhir-pract",
                practitioner,
            ),
            (
                "http://test.ohie.org/fhir/Patient/ohie-cr-07-10-fhir-flyn",
                "POST",
                "Patient/ohie-cr-01-10-fhir-flyn",
                patient,
            ),
            (
                "http://test.ohie.org/fhir/RelatedPerson/ohie-cr-07-10-fhir-wife",
                "POST",
                "RelatedPerson",
                wife,
            ),
        ],
    )
}

async fn pmir_full_registration_with_organizations_and_practitioner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);

    let answer = send(&fhir, Role::Registrar, &flynn_message("ohie-cr-07-10-fhir")).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let (code, entries, outcome) = answered(&answer);
    assert_eq!(code, "ok");
    let statuses: Vec<&str> = entries.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "201 Created",
            "201 Created",
            "200 OK",
            "201 Created",
            "201 Created"
        ]
    );
    // What was accepted and not stored is named: the Practitioner, and the Patient's contact
    // and generalPractitioner; its communication is stored, so not named.
    let notes = outcome.to_string();
    for element in ["Practitioner", "contact", "generalPractitioner"] {
        assert!(notes.contains(element), "{element}: {notes}");
    }
    assert!(!notes.contains("communication"), "{notes}");
    let manager = entries[1].1.trim_start_matches("Organization/").to_owned();
    let patient = entries[3].1.trim_start_matches("Patient/").to_owned();
    let wife = entries[4].1.trim_start_matches("RelatedPerson/").to_owned();

    // The Patient stored what the MPI keeps, its managing organization the stored one.
    let read = fhir.get(&format!("/Patient/{patient}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(
        read.body["managingOrganization"]["reference"],
        format!("Organization/{manager}")
    );
    assert_eq!(read.body["maritalStatus"]["coding"][0]["code"], "M");
    assert_eq!(read.body["name"][0]["suffix"][0], "III");
    assert!(read.body.get("contact").is_none(), "{}", read.body);
    // OHIE-CR-07's languages: English preferred, then French.
    let languages: Vec<(&str, bool)> = read.body["communication"]
        .as_array()
        .expect("communication")
        .iter()
        .map(|c| {
            (
                c["language"]["coding"][0]["code"]
                    .as_str()
                    .unwrap_or_default(),
                c["preferred"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(languages, [("en", true), ("fr", false)], "{}", read.body);

    // 07's PDQm query with its spelling of the include.
    let search = fhir
        .get(&format!(
            "/Patient?identifier={}&_include=Organization:managingOrganization",
            enc(&format!("{TEST_URL}|FHR-070"))
        ))
        .await;
    assert_eq!(search.status, 200, "{}", search.body);
    let included: Vec<String> = search.body["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["search"]["mode"] == "include")
        .map(|e| id_of(&e["resource"]))
        .collect();
    assert_eq!(included, std::slice::from_ref(&manager), "{}", search.body);

    // The wife by her identifier (either of them), and by nothing else.
    for identifier in [format!("{TEST_URL}|FHR-071"), format!("{NID_URL}|NID071")] {
        let found = fhir
            .get(&format!("/RelatedPerson?identifier={}", enc(&identifier)))
            .await;
        assert_eq!(found.status, 200, "{}", found.body);
        assert_eq!(found.body["total"], 1, "{}", found.body);
        assert_eq!(id_of(&found.body["entry"][0]["resource"]), wife);
    }
    let nobody = fhir
        .get(&format!(
            "/RelatedPerson?identifier={}",
            enc(&format!("{TEST_URL}|FHR-07"))
        ))
        .await;
    assert_eq!(nobody.body["total"], 0, "{}", nobody.body);
    let malformed = fhir.get("/RelatedPerson?identifier=FHR-071").await;
    assert_eq!(malformed.status, 422, "{}", malformed.body);

    // The same organizations sent again are the stored ones (updated, not duplicated); the
    // Patient's identifier is taken, so the message fails and stores nothing.
    let again = send(&fhir, Role::Registrar, &flynn_message("ohie-cr-07-11-fhir")).await;
    let (code, _, _) = answered(&again);
    assert_eq!(code, "fatal-error", "{}", again.body);
    assert!((400..500).contains(&again.status), "{}", again.body);
    let mut only_orgs = flynn_message("ohie-cr-07-12-fhir");
    let history = only_orgs["entry"][1]["resource"]["entry"]
        .as_array_mut()
        .expect("history");
    history.truncate(2);
    let orgs = send(&fhir, Role::Registrar, &only_orgs).await;
    assert_eq!(orgs.status, 200, "{}", orgs.body);
    let (_, entries, _) = answered(&orgs);
    assert_eq!(
        entries[1],
        ("200 OK".to_owned(), format!("Organization/{manager}"))
    );
    let stored = entity::organization::Entity::find()
        .all(&app.db.conn)
        .await
        .expect("organizations");
    assert_eq!(stored.len(), 2, "{stored:?}");

    // A Patient carrying R4 elements the MPI does not store (and a language, which it stores)
    // is accepted by a plain create too; modifierExtension and non-R4 elements stay refused.
    let mut plain = json!({
        "resourceType": "Patient",
        "identifier": [{"system": TEST_URL, "value": "FHR-075"}],
        "name": [{"family": "Profile", "given": ["Gwen"]}],
        "gender": "female", "birthDate": "1990-01-01",
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}]}}],
        "photo": [{"contentType": "image/png", "url": "http://example.org/p.png"}],
        "generalPractitioner": [{"reference": "Practitioner/x"}]
    });
    let created = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("X-MPI-Force", "true")],
            Some(&plain),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    plain["modifierExtension"] = json!([{"url": "http://example.org/x", "valueBoolean": true}]);
    let refused = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("X-MPI-Force", "true")],
            Some(&plain),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    fhir.check_all_received();
}
both_backends!(pmir_full_registration_with_organizations_and_practitioner);

/// OHIE-CR-08's Patient `ohie-cr-08-{step}-fhir` with identifiers `(system, value)`.
fn mergy(step: &str, family: &str, ids: &[(&str, &str)]) -> Value {
    json!({
        "resourceType": "Patient",
        "id": format!("ohie-cr-08-{step}-fhir"),
        "active": true,
        "identifier": ids.iter().map(|(s, v)| json!({
            "use": "official",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]},
            "system": s, "value": v
        })).collect::<Vec<_>>(),
        "name": [{"use": "official", "family": family, "given": ["MERGY"]}],
        "gender": "male",
        "birthDate": "1986-05-25"
    })
}

async fn pmir_put_by_a_senders_id_registers_updates_and_merges(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);
    let first = mergy(
        "10",
        "SMITH",
        &[(TEST_A_URL, "FHRA-080"), (NID_URL, "NID080")],
    );
    let second = mergy("20", "SMYTHE", &[(TEST_A_URL, "FHRA-081")]);
    let put = |id: &str, patient: &Value, step: &str| {
        message(
            &format!("ohie-cr-08-{step}-fhir"),
            &[(
                &format!("http://ohie.org/test/Patient/{id}"),
                "PUT",
                &format!("Patient/{id}"),
                patient.clone(),
            )],
        )
    };

    // Registrations by the sender's own ids: created (201), keyed by their identifiers.
    let a = send(
        &fhir,
        Role::Steward,
        &put("ohie-cr-08-10-fhir", &first, "10"),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let (code, entries, _) = answered(&a);
    assert_eq!(code, "ok");
    assert_eq!(entries[0].0, "201 Created");
    let survivor = entries[0].1.trim_start_matches("Patient/").to_owned();
    let b = send(
        &fhir,
        Role::Steward,
        &put("ohie-cr-08-20-fhir", &second, "20"),
    )
    .await;
    assert_eq!(b.status, 201, "{}", b.body);
    let retired = answered(&b).1[0]
        .1
        .trim_start_matches("Patient/")
        .to_owned();
    assert_ne!(survivor, retired);

    // The same PUT again updates the record its identifiers name: 200, no new record.
    let mut renamed = first.clone();
    renamed["name"][0]["given"] = json!(["MERGY", "J"]);
    let c = send(
        &fhir,
        Role::Steward,
        &put("ohie-cr-08-10-fhir", &renamed, "11"),
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(
        answered(&c).1[0],
        ("200 OK".to_owned(), format!("Patient/{survivor}"))
    );

    // 08's merge: the record FHRA-081 names, inactive and replaced-by FHRA-080 (a logical
    // reference by identifier), PUT at a URL id the MPI never assigned.
    let mut deprecated = second.clone();
    deprecated["active"] = json!(false);
    deprecated["link"] = json!([{
        "other": {"type": "Patient", "identifier": {"value": "FHRA-080", "system": TEST_A_URL}},
        "type": "replaced-by"
    }]);
    let merged = send(
        &fhir,
        Role::Steward,
        &put("ohie-cr-08-30-fhir", &deprecated, "30"),
    )
    .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    let (code, entries, _) = answered(&merged);
    assert_eq!(code, "ok");
    assert_eq!(
        entries[0],
        ("200 OK".to_owned(), format!("Patient/{retired}"))
    );
    let read = fhir.get(&format!("/Patient/{retired}")).await;
    assert_eq!(read.body["active"], false, "{}", read.body);
    let pix = fhir
        .get(&format!(
            "/Patient/$ihe-pix?sourceIdentifier={}",
            enc(&format!("{TEST_A_URL}|FHRA-081"))
        ))
        .await;
    assert_eq!(pix.status, 200, "{}", pix.body);
    assert!(
        pix.body
            .to_string()
            .contains(&format!("Patient/{survivor}")),
        "{}",
        pix.body
    );

    // Refusals are message Bundles with fatal-error and an OperationOutcome, never bare: a
    // Patient with no identifier to be found by, a DELETE by a sender's id, a registrar
    // merging.
    let mut anonymous = mergy("40", "NOBODY", &[]);
    anonymous
        .as_object_mut()
        .expect("object")
        .remove("identifier");
    let refused = send(
        &fhir,
        Role::Steward,
        &put("ohie-cr-08-40-fhir", &anonymous, "40"),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let (code, _, outcome) = answered(&refused);
    assert_eq!(code, "fatal-error");
    assert_eq!(outcome["issue"][0]["severity"], "error", "{outcome}");
    let delete = json!({
        "resourceType": "Bundle", "type": "message",
        "entry": [
            message("x", &[])["entry"][0].clone(),
            {"fullUrl": "http://test.ohie.org/fhir/Bundle/x", "resource": {
                "resourceType": "Bundle", "id": "x", "type": "history", "entry": [
                    {"request": {"method": "DELETE", "url": "Patient/ohie-cr-08-10-fhir"}}
                ]
            }}
        ]
    });
    let deleted = send(&fhir, Role::Admin, &delete).await;
    assert_eq!(deleted.status, 404, "{}", deleted.body);
    assert_eq!(answered(&deleted).0, "fatal-error");
    let registrar = send(
        &fhir,
        Role::Registrar,
        &put("ohie-cr-08-30-fhir", &deprecated, "31"),
    )
    .await;
    assert_eq!(registrar.status, 403, "{}", registrar.body);
    assert_eq!(answered(&registrar).0, "fatal-error");
    fhir.check_all_received();
}
both_backends!(pmir_put_by_a_senders_id_registers_updates_and_merges);

/// OHIE-CR-05: a nameless newborn, her mother as a RelatedPerson known by her identifier only,
/// and the mother as a Patient whose maiden name is a name of use `maiden`, in one message. The
/// newborn is found with her mother by `_revinclude`, and by `mothersMaidenName` through the
/// mother's own record.
async fn pmir_newborn_with_her_mother(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);
    let mth = json!([{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}]}]);
    let baby = json!({"resourceType": "Patient", "id": "ohie-cr-05-20-fhir-baby", "active": true,
        "identifier": [{"use": "official", "system": TEST_URL, "value": "FHR-051"}],
        "gender": "female", "birthDate": "2021-04-25"});
    let mother_rp = json!({"resourceType": "RelatedPerson", "id": "ohie-cr-05-10-fhir-mother-rp",
        "identifier": [{"use": "official", "system": TEST_URL, "value": "FHR-052"}],
        "patient": {"reference": "Patient/ohie-cr-05-20-fhir-baby"}, "relationship": mth});
    let mother = json!({"resourceType": "Patient", "id": "ohie-cr-05-10-fhir-mother",
        "identifier": [{"use": "official", "system": TEST_URL, "value": "FHR-052"}],
        "name": [{"use": "maiden", "family": "Abels", "given": ["Sarah"]}],
        "gender": "female", "birthDate": "1984-05-25"});
    let answer = send(
        &fhir,
        Role::Registrar,
        &message(
            "ohie-cr-05-20-fhir",
            &[
                (
                    "Patient/ohie-cr-05-20-fhir-baby",
                    "POST",
                    "Patient/ohie-cr-05-20-fhir-baby",
                    baby,
                ),
                (
                    "RelatedPerson/ohie-cr-05-20-fhir-mother-rp",
                    "POST",
                    "RelatedPerson/ohie-cr-05-20-fhir-mother-rp",
                    mother_rp,
                ),
                (
                    "Patient/ohie-cr-05-20-fhir-mother",
                    "POST",
                    "Patient/ohie-cr-05-20-fhir-mother",
                    mother,
                ),
            ],
        ),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answered(&answer).0, "ok");

    let found = fhir
        .get(&format!(
            "/Patient?identifier={}&_revinclude=RelatedPerson%3Apatient",
            enc(&format!("{TEST_URL}|FHR-051"))
        ))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let kinds: Vec<&str> = found.body["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["Patient", "RelatedPerson"], "{}", found.body);

    let by_maiden_name = fhir.get("/Patient?mothersMaidenName=Abels").await;
    assert_eq!(by_maiden_name.status, 200, "{}", by_maiden_name.body);
    assert_eq!(by_maiden_name.body["total"], 1, "{}", by_maiden_name.body);
    let values: Vec<&str> = by_maiden_name.body["entry"][0]["resource"]["identifier"]
        .as_array()
        .expect("identifiers")
        .iter()
        .filter_map(|i| i["value"].as_str())
        .collect();
    assert!(values.contains(&"FHR-051"), "{}", by_maiden_name.body);
    let nobody = fhir.get("/Patient?mothersMaidenName=Zyx").await;
    assert_eq!(nobody.body["total"], 0, "{}", nobody.body);
    fhir.check_all_received();
}
both_backends!(pmir_newborn_with_her_mother);
