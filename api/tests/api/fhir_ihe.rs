//! The IHE FHIR profiles through the real server (issue 31): PIXm `$ihe-pix` (ITI-83) and its
//! errors, the ITI-104 feed (conditional update and delete, a merge by `replaced-by` and its
//! undo), PMIR (ITI-93) message feeds as one transaction (a message failing halfway stores
//! nothing; an unmerge is 405), and `$match` onlyCertainMatches. Every resource received is
//! parsed by the independent `fhir.resources` models.

use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;
use uuid::Uuid;

use crate::app::TestApp;
use crate::both_backends;
use crate::fhir::{Answer, Fhir, fhir_person, id_of};

const TEST_OID: &str = "2.16.840.1.113883.3.72.5.9.1";
const TEST_URL: &str = "http://ohie.org/test/test";
const NID_URL: &str = "http://ohie.org/test/nid";

fn enc(text: &str) -> String {
    text.replace('|', "%7C")
        .replace(':', "%3A")
        .replace('/', "%2F")
}

async fn add_domains(app: &TestApp) {
    for body in [
        json!({"name": "TEST", "oid": TEST_OID, "url": TEST_URL}),
        json!({"name": "NID", "oid": "2.16.840.1.113883.3.72.5.9.9", "url": NID_URL}),
    ] {
        let (status, answer) = app.admin("POST", "/api/v1/domains", Some(&body)).await;
        assert_eq!(status, 201, "{answer}");
    }
}

/// A FHIR Patient with identifiers `(system, value)`.
fn patient_with(family: &str, given: &str, birth_date: &str, ids: &[(&str, &str)]) -> Value {
    let mut p = fhir_person(family, given, birth_date, "unused");
    p["identifier"] = ids
        .iter()
        .map(|(s, v)| json!({"system": s, "value": v}))
        .collect();
    p
}

/// `(name, system|value or reference)` of a `$ihe-pix` answer, sorted.
fn pix_pairs(body: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = body["parameter"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("name").to_owned();
            let value = if name == "targetId" {
                p["valueReference"]["reference"]
                    .as_str()
                    .expect("reference")
                    .to_owned()
            } else {
                format!(
                    "{}|{}",
                    p["valueIdentifier"]["system"].as_str().expect("system"),
                    p["valueIdentifier"]["value"].as_str().expect("value")
                )
            };
            (name, value)
        })
        .collect();
    out.sort();
    out
}

fn target_ids(body: &Value) -> Vec<String> {
    pix_pairs(body)
        .into_iter()
        .filter(|(n, _)| n == "targetId")
        .map(|(_, v)| v)
        .collect()
}

async fn pix(fhir: &Fhir<'_>, source: &str, targets: &[&str]) -> Answer {
    let mut path = format!("/Patient/$ihe-pix?sourceIdentifier={}", enc(source));
    for t in targets {
        path.push_str(&format!("&targetSystem={}", enc(t)));
    }
    fhir.get(&path).await
}

fn assert_issue(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer.body["resourceType"], "OperationOutcome",
        "{}",
        answer.body
    );
    assert_eq!(answer.body["issue"][0]["code"], code, "{}", answer.body);
}

async fn ihe_pix_cross_references_and_answers_pixm_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);
    let stored = fhir
        .create(&patient_with(
            "Okonkwo",
            "Adaeze",
            "1984-07-19",
            &[(TEST_URL, "T-100"), (NID_URL, "N-100")],
        ))
        .await;
    let id = id_of(&stored);

    // By the domain's URL and by its OID: the other identifiers and the record, never the
    // source identifier itself.
    for source in [
        format!("{TEST_URL}|T-100"),
        format!("urn:oid:{TEST_OID}|T-100"),
    ] {
        let answer = pix(&fhir, &source, &[]).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["resourceType"], "Parameters");
        let pairs = pix_pairs(&answer.body);
        assert!(
            pairs.contains(&("targetIdentifier".to_owned(), format!("{NID_URL}|N-100"))),
            "{pairs:?}"
        );
        assert!(
            !pairs.iter().any(|(_, v)| v.ends_with("|T-100")),
            "{pairs:?}"
        );
        assert_eq!(target_ids(&answer.body), [format!("Patient/{id}")]);
    }
    // targetSystem restricts the identifiers.
    let only_nid = pix(&fhir, &format!("{TEST_URL}|T-100"), &[NID_URL]).await;
    assert_eq!(only_nid.status, 200, "{}", only_nid.body);
    let identifiers: Vec<_> = pix_pairs(&only_nid.body)
        .into_iter()
        .filter(|(n, _)| n == "targetIdentifier")
        .collect();
    assert_eq!(
        identifiers,
        [("targetIdentifier".to_owned(), format!("{NID_URL}|N-100"))]
    );
    // POST with a Parameters body answers the same.
    let params = json!({"resourceType": "Parameters", "parameter": [
        {"name": "sourceIdentifier", "valueIdentifier": {"system": TEST_URL, "value": "T-100"}},
        {"name": "targetSystem", "valueUri": NID_URL}
    ]});
    let posted = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient/$ihe-pix",
            &[],
            Some(&params),
        )
        .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert_eq!(pix_pairs(&posted.body), pix_pairs(&only_nid.body));

    // PIXm's errors.
    assert_issue(
        &pix(&fhir, &format!("{TEST_URL}|NOBODY"), &[]).await,
        404,
        "not-found",
    );
    assert_issue(
        &pix(&fhir, "urn:nowhere:at:all|T-100", &[]).await,
        400,
        "code-invalid",
    );
    assert_issue(
        &pix(&fhir, &format!("{TEST_URL}|T-100"), &["urn:nowhere:at:all"]).await,
        403,
        "code-invalid",
    );
    let missing = fhir.get("/Patient/$ihe-pix").await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    let half = fhir.get("/Patient/$ihe-pix?sourceIdentifier=T-100").await;
    assert_eq!(half.status, 400, "{}", half.body);
    let auditor = fhir
        .call(
            Role::Auditor,
            "GET",
            &format!(
                "/Patient/$ihe-pix?sourceIdentifier={}",
                enc(&format!("{TEST_URL}|T-100"))
            ),
            &[],
            None,
        )
        .await;
    assert_eq!(auditor.status, 403, "{}", auditor.body);
    let deleted = fhir
        .call(Role::Registrar, "DELETE", "/Patient/$ihe-pix", &[], None)
        .await;
    assert_eq!(deleted.status, 405, "{}", deleted.body);
    fhir.check_all_received();
}
both_backends!(ihe_pix_cross_references_and_answers_pixm_errors);

async fn conditional_put(fhir: &Fhir<'_>, role: Role, identifier: &str, body: &Value) -> Answer {
    fhir.call(
        role,
        "PUT",
        &format!("/Patient?identifier={}", enc(identifier)),
        &[],
        Some(body),
    )
    .await
}

async fn iti104_feed_creates_updates_merges_and_deletes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);
    let a_key = format!("{TEST_URL}|A-1");
    let a_body = patient_with("Lindqvist", "Ingrid", "1961-02-03", &[(TEST_URL, "A-1")]);

    // Absent: created (201, Location); present: updated (200, next version).
    let created = conditional_put(&fhir, Role::Registrar, &a_key, &a_body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let a = id_of(&created.body);
    assert!(created.header("location").is_some_and(|l| l.ends_with(&a)));
    let mut renamed = a_body.clone();
    renamed["name"][0]["given"] = json!(["Inga"]);
    let updated = conditional_put(&fhir, Role::Registrar, &a_key, &renamed).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(id_of(&updated.body), a);
    assert_eq!(updated.body["meta"]["versionId"], "2");
    assert_eq!(updated.body["name"][0]["given"][0], "Inga");

    // A record created by the condition must carry its identifier; the condition is required.
    let elsewhere =
        conditional_put(&fhir, Role::Registrar, &format!("{TEST_URL}|Z-9"), &a_body).await;
    assert_eq!(elsewhere.status, 422, "{}", elsewhere.body);
    let no_condition = fhir
        .call(Role::Registrar, "PUT", "/Patient", &[], Some(&a_body))
        .await;
    assert_eq!(no_condition.status, 400, "{}", no_condition.body);
    let bad_condition = fhir
        .call(
            Role::Registrar,
            "PUT",
            "/Patient?family=Lindqvist",
            &[],
            Some(&a_body),
        )
        .await;
    assert_eq!(bad_condition.status, 400, "{}", bad_condition.body);

    // Resolving a duplicate: the subsumed record, inactive and replaced-by the survivor.
    let b_key = format!("{TEST_URL}|B-1");
    let b_body = patient_with(
        "Lindqvist",
        "Ingrid",
        "1961-02-03",
        &[(TEST_URL, "B-1"), (NID_URL, "NB-1")],
    );
    let b = id_of(
        &conditional_put(&fhir, Role::Registrar, &b_key, &b_body)
            .await
            .body,
    );
    let mut subsumed = b_body.clone();
    subsumed["active"] = json!(false);
    subsumed["link"] =
        json!([{"type": "replaced-by", "other": {"reference": format!("Patient/{a}")}}]);
    // Merging needs the merge right.
    let registrar = conditional_put(&fhir, Role::Registrar, &b_key, &subsumed).await;
    assert_eq!(registrar.status, 403, "{}", registrar.body);
    let mut still_active = subsumed.clone();
    still_active["active"] = json!(true);
    let active = conditional_put(&fhir, Role::Steward, &b_key, &still_active).await;
    assert_eq!(active.status, 422, "{}", active.body);
    let merged = conditional_put(&fhir, Role::Steward, &b_key, &subsumed).await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(id_of(&merged.body), b);
    assert_eq!(merged.body["active"], false);
    assert!(
        merged.body["link"].as_array().expect("link").iter().any(
            |l| l["type"] == "replaced-by" && l["other"]["reference"] == format!("Patient/{a}")
        ),
        "{}",
        merged.body
    );
    // $ihe-pix on the retired record's identifiers answers with the survivor.
    let after = pix(&fhir, &format!("{NID_URL}|NB-1"), &[]).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(target_ids(&after.body), [format!("Patient/{a}")]);

    // PDQm on the retired identifier: the retired record comes back inactive, replaced-by.
    let found = fhir
        .get(&format!(
            "/Patient?identifier={}",
            enc(&format!("{NID_URL}|NB-1"))
        ))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let entries = found.body["entry"].as_array().expect("entries");
    assert!(!entries.is_empty(), "{}", found.body);
    for entry in entries {
        let resource = &entry["resource"];
        if id_of(resource) == b {
            assert_eq!(resource["active"], false, "{resource}");
            assert!(
                resource["link"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|l| l["type"] == "replaced-by")),
                "{resource}"
            );
        } else {
            assert_eq!(id_of(resource), a, "{resource}");
        }
    }

    // The merge is undoable as any merge.
    let (status, merges) = app
        .admin("GET", &format!("/api/v1/merges?patient_id={b}"), None)
        .await;
    assert_eq!(status, 200, "{merges}");
    let merge_id = merges["items"][0]["id"]
        .as_str()
        .expect("merge id")
        .to_owned();
    let (status, undone) = app
        .admin("POST", &format!("/api/v1/merges/{merge_id}/undo"), None)
        .await;
    assert_eq!(status, 200, "{undone}");
    let back = pix(&fhir, &format!("{NID_URL}|NB-1"), &[]).await;
    assert_eq!(target_ids(&back.body), [format!("Patient/{b}")]);

    // The survivor named by identifier (a logical reference) merges too.
    subsumed["link"] = json!([{"type": "replaced-by",
        "other": {"identifier": {"system": TEST_URL, "value": "A-1"}}}]);
    let by_identifier = conditional_put(&fhir, Role::Steward, &b_key, &subsumed).await;
    assert_eq!(by_identifier.status, 200, "{}", by_identifier.body);
    assert_eq!(by_identifier.body["active"], false);
    let unknown_survivor = {
        let c_key = format!("{TEST_URL}|C-1");
        let c = patient_with("Marchetti", "Paolo", "1990-10-10", &[(TEST_URL, "C-1")]);
        assert_eq!(
            conditional_put(&fhir, Role::Registrar, &c_key, &c)
                .await
                .status,
            201
        );
        let mut gone = c.clone();
        gone["active"] = json!(false);
        gone["link"] = json!([{"type": "replaced-by", "other": {"reference": format!("Patient/{}", Uuid::new_v4())}}]);
        conditional_put(&fhir, Role::Steward, &c_key, &gone).await
    };
    assert_eq!(unknown_survivor.status, 422, "{}", unknown_survivor.body);

    // Conditional delete: the one holder, then nobody.
    let c_path = format!("/Patient?identifier={}", enc(&format!("{TEST_URL}|C-1")));
    let deleted = fhir
        .call(Role::Registrar, "DELETE", &c_path, &[], None)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["resourceType"], "OperationOutcome");
    let again = fhir
        .call(Role::Registrar, "DELETE", &c_path, &[], None)
        .await;
    assert_issue(&again, 404, "not-found");
    let gone = pix(&fhir, &format!("{TEST_URL}|C-1"), &[]).await;
    assert_eq!(gone.status, 404, "{}", gone.body);
    fhir.check_all_received();
}
both_backends!(iti104_feed_creates_updates_merges_and_deletes);

/// A PMIR feed message of `entries` (each `(method, url, resource)`).
fn message(entries: &[(&str, &str, Option<Value>)]) -> Value {
    let history: Vec<Value> = entries
        .iter()
        .map(|(method, url, resource)| {
            let mut e = json!({"fullUrl": format!("urn:uuid:{}", Uuid::new_v4()),
                "request": {"method": method, "url": url}});
            if let Some(r) = resource {
                e["resource"] = r.clone();
            }
            e
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "message",
        "timestamp": "2026-12-06T08:00:00Z",
        "entry": [
            {"fullUrl": "urn:uuid:5b6f1e0e-2a2b-4c1d-9d6e-000000000001", "resource": {
                "resourceType": "MessageHeader",
                "id": "5b6f1e0e-2a2b-4c1d-9d6e-000000000001",
                "eventUri": "urn:ihe:iti:pmir:2019:patient-feed",
                "source": {"endpoint": "http://source.example.org/fhir"},
                "destination": [{"endpoint": "http://mpi.example.org/fhir"}],
                "focus": [{"reference": "urn:uuid:5b6f1e0e-2a2b-4c1d-9d6e-000000000002"}]
            }},
            {"fullUrl": "urn:uuid:5b6f1e0e-2a2b-4c1d-9d6e-000000000002", "resource": {
                "resourceType": "Bundle", "type": "history", "entry": history
            }}
        ]
    })
}

/// The statuses of the answers of a response message, and its response code.
fn statuses(answer: &Answer) -> (String, Vec<String>) {
    let body = &answer.body;
    assert_eq!(body["resourceType"], "Bundle", "{body}");
    assert_eq!(body["type"], "message", "{body}");
    let header = &body["entry"][0]["resource"];
    assert_eq!(header["resourceType"], "MessageHeader", "{body}");
    assert_eq!(
        header["eventUri"],
        "urn:ihe:iti:pmir:2019:patient-feed-response"
    );
    assert_eq!(
        header["response"]["identifier"],
        "5b6f1e0e-2a2b-4c1d-9d6e-000000000001"
    );
    // PMIR's MessageHeader Response profile: its definition, no destination.
    assert_eq!(
        header["definition"],
        "https://profiles.ihe.net/ITI/PMIR/MessageDefinition/IHE.PMIR.MessageDefinition.Response"
    );
    assert_eq!(
        header["meta"]["profile"][0],
        "https://profiles.ihe.net/ITI/PMIR/StructureDefinition/IHE.PMIR.MessageHeader.Response"
    );
    assert!(header.get("destination").is_none(), "{header}");
    // The focus is the history Bundle of the answers.
    assert_eq!(header["focus"][0]["reference"], body["entry"][1]["fullUrl"]);
    let code = header["response"]["code"]
        .as_str()
        .expect("code")
        .to_owned();
    let history = &body["entry"][1]["resource"];
    assert_eq!(history["type"], "history", "{body}");
    let statuses = history["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["response"]["status"].as_str().expect("status").to_owned())
        .collect();
    (code, statuses)
}

/// A refused PMIR message: a `message` Bundle (`fatal-error`) with `status` and an
/// OperationOutcome whose first issue has `code`, never a bare OperationOutcome.
fn assert_refused(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let (response, _) = statuses(answer);
    assert_eq!(response, "fatal-error", "{}", answer.body);
    let outcome = answer.body["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "OperationOutcome")
        .expect("an OperationOutcome entry");
    assert_eq!(outcome["issue"][0]["code"], code, "{}", answer.body);
}

async fn count_holding(fhir: &Fhir<'_>, identifier: &str) -> u64 {
    let answer = fhir
        .get(&format!("/Patient?identifier={}", enc(identifier)))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["total"].as_u64().expect("total")
}

async fn pmir_feed_is_one_transaction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);
    let p1 = patient_with("Haraldsen", "Solveig", "1975-05-05", &[(TEST_URL, "P-1")]);
    let p2 = patient_with(
        "Haraldsen",
        "Solveig",
        "1975-05-05",
        &[(TEST_URL, "P-2"), (NID_URL, "NP-2")],
    );

    // Two creates in one message.
    let answer = fhir
        .call(
            Role::Steward,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[
                ("POST", "Patient", Some(p1.clone())),
                ("POST", "Patient", Some(p2.clone())),
            ])),
        )
        .await;
    // Something was created: 201 (an update or a merge alone is 200).
    assert_eq!(answer.status, 201, "{}", answer.body);
    let (code, got) = statuses(&answer);
    assert_eq!(code, "ok");
    assert_eq!(got, ["201 Created", "201 Created"]);
    // Each created Patient's location names its first version (`Patient/ID/_history/1`).
    let location = |i: usize| -> String {
        let location = answer.body["entry"][1]["resource"]["entry"][i]["response"]["location"]
            .as_str()
            .expect("location");
        assert!(location.ends_with("/_history/1"), "{location}");
        crate::fhir::unversioned(location)
            .trim_start_matches("Patient/")
            .to_owned()
    };
    let (id1, id2) = (location(0), location(1));

    // A merge: the deprecated record PUT inactive, replaced-by the survivor (POST /fhir too).
    let mut deprecated = p2.clone();
    deprecated["id"] = json!(id2);
    deprecated["active"] = json!(false);
    deprecated["link"] =
        json!([{"type": "replaced-by", "other": {"reference": format!("Patient/{id1}")}}]);
    let merged = fhir
        .call(
            Role::Steward,
            "POST",
            "",
            &[],
            Some(&message(&[(
                "PUT",
                &format!("Patient/{id2}"),
                Some(deprecated.clone()),
            )])),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(
        statuses(&merged),
        ("ok".to_owned(), vec!["200 OK".to_owned()])
    );
    // The merge's answer names the retired record's new version.
    let read = fhir.get(&format!("/Patient/{id2}")).await;
    let version = read.body["meta"]["versionId"].as_str().expect("versionId");
    assert_ne!(version, "1");
    let answered = &merged.body["entry"][1]["resource"]["entry"][0]["response"];
    assert_eq!(
        answered["location"],
        format!("Patient/{id2}/_history/{version}"),
        "{}",
        merged.body
    );
    assert_eq!(answered["etag"], format!("W/\"{version}\""));
    let after = pix(&fhir, &format!("{NID_URL}|NP-2"), &[]).await;
    assert_eq!(target_ids(&after.body), [format!("Patient/{id1}")]);
    let read = fhir.get(&format!("/Patient/{id2}")).await;
    assert_eq!(read.body["active"], false, "{}", read.body);

    // An unmerge attempt: 405, nothing changes.
    let mut revived = p2.clone();
    revived["id"] = json!(id2);
    revived["active"] = json!(true);
    let unmerge = fhir
        .call(
            Role::Steward,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[(
                "PUT",
                &format!("Patient/{id2}"),
                Some(revived),
            )])),
        )
        .await;
    assert_eq!(unmerge.status, 405, "{}", unmerge.body);
    let (code, got) = statuses(&unmerge);
    assert_eq!(code, "fatal-error");
    assert_eq!(got, ["405 Method Not Allowed"]);
    assert_eq!(
        unmerge.body["entry"][2]["resource"]["resourceType"],
        "OperationOutcome"
    );

    // A message that fails halfway stores nothing of its first half.
    let p3 = patient_with("Oyelaran", "Tunde", "1988-08-08", &[(TEST_URL, "P-3")]);
    let failing = fhir
        .call(
            Role::Steward,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[
                ("POST", "Patient", Some(p3.clone())),
                ("DELETE", &format!("Patient/{}", Uuid::new_v4()), None),
            ])),
        )
        .await;
    assert_eq!(failing.status, 404, "{}", failing.body);
    let (code, _) = statuses(&failing);
    assert_eq!(code, "fatal-error");
    let outcome = &failing.body["entry"][2]["resource"];
    assert_eq!(
        outcome["issue"][0]["expression"][0], "Bundle.entry[1].resource.entry[1]",
        "{outcome}"
    );
    assert_eq!(count_holding(&fhir, &format!("{TEST_URL}|P-3")).await, 0);
    // An identifier two entries of one message claim: the second fails, neither is stored.
    let dup = fhir
        .call(
            Role::Steward,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[
                ("POST", "Patient", Some(p3.clone())),
                ("POST", "Patient", Some(p3.clone())),
            ])),
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.body);
    assert_eq!(count_holding(&fhir, &format!("{TEST_URL}|P-3")).await, 0);

    // A PUT whose resource id is not the one in request.url is refused.
    let mut elsewhere = p1.clone();
    elsewhere["id"] = json!(id2);
    let mismatch = fhir
        .call(
            Role::Steward,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[(
                "PUT",
                &format!("Patient/{id1}"),
                Some(elsewhere),
            )])),
        )
        .await;
    assert_refused(&mismatch, 422, "invalid");

    // Not a PMIR feed message: 400; a RelatedPerson without a relationship is refused; a
    // registrar may not merge.
    let mut wrong_event = message(&[("POST", "Patient", Some(p3.clone()))]);
    wrong_event["entry"][0]["resource"]["eventUri"] = json!("urn:example:other");
    let refused = fhir
        .call(Role::Steward, "POST", "/Bundle", &[], Some(&wrong_event))
        .await;
    assert_refused(&refused, 400, "structure");
    let related = fhir
        .call(
            Role::Steward,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[(
                "POST",
                "RelatedPerson",
                Some(json!({"resourceType": "RelatedPerson", "patient": {"reference": format!("Patient/{id1}")}})),
            )])),
        )
        .await;
    assert_refused(&related, 422, "invalid");
    let registrar = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Bundle",
            &[],
            Some(&message(&[(
                "PUT",
                &format!("Patient/{id2}"),
                Some(deprecated),
            )])),
        )
        .await;
    assert_eq!(registrar.status, 403, "{}", registrar.body);
    fhir.check_all_received();
}
both_backends!(pmir_feed_is_one_transaction);

async fn only_certain_matches_needs_exactly_one_person(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let first = id_of(
        &fhir
            .create(&fhir_person(
                "Vandermeer",
                "Rosalind",
                "1966-06-16",
                "MRN-7101",
            ))
            .await,
    );
    let query = fhir_person("Vandermeer", "Rosalind", "1966-06-16", "MRN-7101");
    let only_certain = |count: Option<i64>| {
        let mut parameter = vec![
            json!({"name": "resource", "resource": query}),
            json!({"name": "onlyCertainMatches", "valueBoolean": true}),
        ];
        if let Some(c) = count {
            parameter.push(json!({"name": "count", "valueInteger": c}));
        }
        json!({"resourceType": "Parameters", "parameter": parameter})
    };
    let one = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient/$match",
            &[],
            Some(&only_certain(None)),
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    let ids: Vec<&str> = one.body["entry"]
        .as_array()
        .expect("entry")
        .iter()
        .map(|e| e["resource"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [first.as_str()]);

    // A second person with the same demographics: two certain persons, so no certain answer.
    fhir.create(&fhir_person(
        "Vandermeer",
        "Rosalind",
        "1966-06-16",
        "MRN-7102",
    ))
    .await;
    let two = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient/$match",
            &[],
            Some(&only_certain(Some(5))),
        )
        .await;
    assert_eq!(two.status, 200, "{}", two.body);
    assert_eq!(two.body["total"], 0, "{}", two.body);
    assert!(two.body.get("entry").is_none(), "{}", two.body);
    fhir.check_all_received();
}
both_backends!(only_certain_matches_needs_exactly_one_person);

async fn pdqm_search_by_post_and_prefer_handling(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let a = id_of(
        &fhir
            .create(&fhir_person(
                "Achterberg",
                "Wilhelmina",
                "1958-09-30",
                "MRN-8101",
            ))
            .await,
    );
    let mut other = fhir_person("Achterberg", "Joost", "1961-01-12", "MRN-8102");
    other["address"][0]["postalCode"] = json!("TR1 2AB");
    fhir.create(&other).await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let posted = fhir
        .raw(
            Some(Role::Registrar),
            "POST",
            "/Patient/_search",
            &form,
            Some("family=Achterberg&address-postalcode=EX4%204QJ".to_owned()),
        )
        .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert_eq!(posted.body["total"], 1, "{}", posted.body);
    assert_eq!(id_of(&posted.body["entry"][0]["resource"]), a);
    let json_body = fhir
        .raw(
            Some(Role::Registrar),
            "POST",
            "/Patient/_search",
            &[],
            Some("{}".to_owned()),
        )
        .await;
    assert_eq!(json_body.status, 415, "{}", json_body.body);

    // An unknown parameter: refused with handling=strict, ignored by default and if lenient.
    let strict = fhir
        .raw(
            Some(Role::Registrar),
            "GET",
            "/Patient?family=Achterberg&shoeSize=9",
            &[("prefer", "handling=strict")],
            None,
        )
        .await;
    assert_eq!(strict.status, 400, "{}", strict.body);
    for prefer in [None, Some("handling=lenient")] {
        let headers: Vec<(&str, &str)> = prefer.map(|p| ("prefer", p)).into_iter().collect();
        let lenient = fhir
            .raw(
                Some(Role::Registrar),
                "GET",
                "/Patient?family=Achterberg&shoeSize=9",
                &headers,
                None,
            )
            .await;
        assert_eq!(lenient.status, 200, "{}", lenient.body);
        assert_eq!(lenient.body["total"], 2, "{}", lenient.body);
        let self_link = lenient.body["link"][0]["url"].as_str().expect("self");
        assert!(!self_link.contains("shoeSize"), "{self_link}");
    }
    let odd = fhir
        .raw(
            Some(Role::Registrar),
            "GET",
            "/Patient?family=Achterberg",
            &[("prefer", "handling=sloppy")],
            None,
        )
        .await;
    assert_eq!(odd.status, 400, "{}", odd.body);
    fhir.check_all_received();
}
both_backends!(pdqm_search_by_post_and_prefer_handling);

async fn audit_events_search_the_trail_in_balp_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let id = id_of(
        &fhir
            .create(&fhir_person(
                "Quartermaine",
                "Eugenie",
                "1949-03-03",
                "MRN-8801",
            ))
            .await,
    );
    assert_eq!(fhir.get(&format!("/Patient/{id}")).await.status, 200);
    let audit = |query: String| {
        let fhir = &fhir;
        async move {
            fhir.call(
                Role::Auditor,
                "GET",
                &format!("/AuditEvent?{query}"),
                &[],
                None,
            )
            .await
        }
    };
    let all = audit(format!("entity=Patient/{id}")).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["type"], "searchset");
    let events: Vec<&Value> = all.body["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert!(
        actions.contains(&"C") && actions.contains(&"R"),
        "{actions:?}"
    );
    for event in &events {
        assert_eq!(event["type"]["code"], "rest", "{event}");
        assert_eq!(
            event["entity"][0]["what"]["reference"],
            format!("Patient/{id}")
        );
        assert_eq!(event["agent"][0]["requestor"], true);
        assert_eq!(event["agent"][0]["who"]["display"], "registrar");
    }
    let creates = audit(format!("entity=Patient/{id}&action=C")).await;
    assert_eq!(creates.status, 200, "{}", creates.body);
    assert_eq!(creates.body["total"], 1, "{}", creates.body);
    assert_eq!(
        creates.body["entry"][0]["resource"]["subtype"][0]["code"],
        "create"
    );
    let by_agent = audit(format!("entity=Patient/{id}&agent=registrar&action=C,R")).await;
    assert_eq!(
        by_agent.body["total"], all.body["total"],
        "{}",
        by_agent.body
    );
    let nobody = audit(format!("entity=Patient/{id}&agent=nobody")).await;
    assert_eq!(nobody.body["total"], 0, "{}", nobody.body);
    let today = chrono::Utc::now().date_naive();
    let dated = audit(format!("entity=Patient/{id}&date=ge{today}")).await;
    assert_eq!(dated.body["total"], all.body["total"], "{}", dated.body);
    let before = audit(format!("entity=Patient/{id}&date=lt{today}")).await;
    assert_eq!(before.body["total"], 0, "{}", before.body);
    let paged = audit(format!("entity=Patient/{id}&_count=1")).await;
    assert_eq!(paged.body["entry"].as_array().expect("entry").len(), 1);
    assert!(
        paged.body["link"]
            .as_array()
            .expect("links")
            .iter()
            .any(|l| l["relation"] == "next")
    );

    for (query, status) in [
        ("date=yesterday", 422),
        ("action=X", 422),
        ("shoeSize=9", 400),
        ("_count=0", 422),
    ] {
        let refused = audit(query.to_owned()).await;
        assert_eq!(refused.status, status, "{query}: {}", refused.body);
        assert_eq!(refused.body["resourceType"], "OperationOutcome");
    }
    let registrar = fhir.get("/AuditEvent").await;
    assert_eq!(registrar.status, 403, "{}", registrar.body);
    fhir.check_all_received();
}
both_backends!(audit_events_search_the_trail_in_balp_shape);
