//! Identifier domains and cross-referencing through the real server (issue 29): the three
//! names of a domain name one domain in registration, search and xref (identifiers stored
//! before the domain was added too), reject mode, the enterprise id, xref's answers and errors,
//! xref after a merge and after its undo, the domains API, and search by a value alone.

use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;

use crate::app::{TestApp, id_of};
use crate::both_backends;

const TEST_OID: &str = "2.16.840.1.113883.3.72.5.9.1";
const TEST_URL: &str = "http://ohie.org/test/test";
const NID_OID: &str = "2.16.840.1.113883.3.72.5.9.9";
const NID_URL: &str = "http://ohie.org/test/nid";

/// The set-up the conformance suite runs (issue 29), as written there.
const CONFORMANCE_SETUP: &[&[&str]] = &[
    &[
        "sources",
        "add",
        "TEST_HARNESS",
        "--facility",
        "TEST",
        "--role",
        "steward",
    ],
    &[
        "sources",
        "add",
        "NID_AUTH",
        "--facility",
        "TEST",
        "--role",
        "registrar",
    ],
    &[
        "domains",
        "add",
        "TEST",
        "--oid",
        TEST_OID,
        "--url",
        TEST_URL,
        "--assigner",
        "TEST_HARNESS",
    ],
    &[
        "domains",
        "add",
        "NID",
        "--oid",
        NID_OID,
        "--url",
        NID_URL,
        "--assigner",
        "NID_AUTH",
        "--links-records",
    ],
];

fn patient(family: &str, given: &str, birth_date: &str, identifiers: Value) -> Value {
    json!({
        "gender": "female",
        "birth_date": birth_date,
        "names": [{"family": family, "given": [given], "use": "official"}],
        "identifiers": identifiers,
    })
}

/// `(system, value)` pairs of a patient or xref answer's identifiers.
fn pairs(identifiers: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = identifiers
        .as_array()
        .expect("identifiers")
        .iter()
        .map(|i| {
            (
                i["system"].as_str().expect("system").to_owned(),
                i["value"].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pair(system: &str, value: &str) -> (String, String) {
    (system.to_owned(), value.to_owned())
}

fn enc(text: &str) -> String {
    text.replace('|', "%7C")
        .replace(':', "%3A")
        .replace('/', "%2F")
}

async fn xref(app: &TestApp, identifier: &str, targets: &[&str]) -> (u16, Value) {
    let mut path = format!("/api/v1/xref?identifier={}", enc(identifier));
    for t in targets {
        path.push_str(&format!("&target={}", enc(t)));
    }
    app.as_role(Role::Registrar, "GET", &path, None).await
}

async fn search_ids(app: &TestApp, identifier: &str) -> Vec<String> {
    let (status, page) = app
        .as_role(
            Role::Registrar,
            "GET",
            &format!("/api/v1/patients?identifier={}", enc(identifier)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect();
    ids.sort();
    ids
}

async fn three_forms_name_one_domain(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Stored before the domain exists, under its namespace and under its OID.
    let old_a = app
        .register_forced(&patient(
            "Quennell",
            "Aurelie",
            "1971-03-02",
            json!([{"system": "ST_MARYS", "value": "A-1"}]),
        ))
        .await;
    let old_b = app
        .register_forced(&patient(
            "Pettigrew",
            "Lysander",
            "1948-11-30",
            json!([{"system": "urn:oid:1.3.6.1.4.1.21367.13.20.1000", "value": "B-1"}]),
        ))
        .await;
    assert_eq!(old_a["identifiers"][0]["system"], "ST_MARYS");

    let (status, domain) = app
        .admin(
            "POST",
            "/api/v1/domains",
            Some(
                &json!({"name": "ST_MARYS", "oid": "1.3.6.1.4.1.21367.13.20.1000",
                         "url": "http://stmarys.example.org/mrn"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{domain}");
    assert_eq!(domain["system"], "http://stmarys.example.org/mrn");
    assert_eq!(
        domain["hl7_authority"],
        "ST_MARYS&1.3.6.1.4.1.21367.13.20.1000&ISO"
    );

    // The old identifiers now show in the domain's URL form.
    let (status, a) = app
        .admin("GET", &format!("/api/v1/patients/{}", id_of(&old_a)), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        pairs(&a["identifiers"]),
        [pair("http://stmarys.example.org/mrn", "A-1")]
    );

    // Search by any of the four forms finds both old records.
    for system in [
        "ST_MARYS",
        "1.3.6.1.4.1.21367.13.20.1000",
        "urn:oid:1.3.6.1.4.1.21367.13.20.1000",
        "http://stmarys.example.org/mrn",
    ] {
        assert_eq!(
            search_ids(&app, &format!("{system}|A-1")).await,
            [id_of(&old_a)],
            "{system}"
        );
        assert_eq!(
            search_ids(&app, &format!("{system}|B-1")).await,
            [id_of(&old_b)],
            "{system}"
        );
        let (status, answer) = xref(&app, &format!("{system}|A-1"), &[]).await;
        assert_eq!(status, 200, "{system}: {answer}");
        assert_eq!(answer["patient_ids"], json!([id_of(&old_a)]));
    }

    // A new record naming the domain by its OID is stored in the URL form, and the value held
    // under the namespace is taken whichever form names it.
    let (status, fresh) = app
        .admin(
            "POST",
            "/api/v1/patients?force=true",
            Some(&patient(
                "Ravenscroft",
                "Tamsin",
                "1990-05-05",
                json!([{"system": "1.3.6.1.4.1.21367.13.20.1000", "value": "C-1"}]),
            )),
        )
        .await;
    assert_eq!(status, 201, "{fresh}");
    assert_eq!(
        pairs(&fresh["identifiers"]),
        [pair("http://stmarys.example.org/mrn", "C-1")]
    );
    let (status, clash) = app
        .admin(
            "POST",
            "/api/v1/patients?force=true",
            Some(&patient(
                "Ravenscroft",
                "Tamsin",
                "1990-05-05",
                json!([{"system": "http://stmarys.example.org/mrn", "value": "A-1"}]),
            )),
        )
        .await;
    assert_eq!(status, 409, "{clash}");
    assert_eq!(clash["code"], "duplicate_identifier");
    // Two names of one domain in one record are one identifier repeated.
    let (status, repeated) = app
        .admin(
            "POST",
            "/api/v1/patients?force=true",
            Some(&patient(
                "Ravenscroft",
                "Tamsin",
                "1990-05-05",
                json!([{"system": "ST_MARYS", "value": "D-1"},
                       {"system": "urn:oid:1.3.6.1.4.1.21367.13.20.1000", "value": "D-1"}]),
            )),
        )
        .await;
    assert_eq!(status, 422, "{repeated}");
    assert_eq!(repeated["field"], "identifiers[1]");
}
both_backends!(three_forms_name_one_domain);

async fn reject_mode_refuses_unknown_domains(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, CONFORMANCE_SETUP, &["--unknown-domains", "reject"]).await;
    let body = patient(
        "Underhill",
        "Perpetua",
        "1966-02-14",
        json!([{"system": TEST_URL, "value": "T-1"}, {"system": "urn:other:mrn", "value": "X-1"}]),
    );
    let (status, refused) = app
        .admin("POST", "/api/v1/patients?force=true", Some(&body))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "unknown_domain");
    assert_eq!(refused["field"], "identifiers[1].system");
    // The domain is named as given (an assigning authority is no patient data); the
    // identifier's value is not echoed.
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("\"urn:other:mrn\" is not a registered identifier domain"),
        "{refused}"
    );
    assert!(
        !message.contains("X-1"),
        "the value is not echoed: {refused}"
    );
    // FHIR's OperationOutcome says the same in its diagnostics.
    let (status, outcome) = app
        .server
        .call(
            "POST",
            "/fhir/Patient",
            Some(app.key(Role::Admin)),
            &[("Content-Type", "application/fhir+json")],
            Some(&json!({"resourceType": "Patient",
                "name": [{"family": "Underhill", "given": ["Perpetua"]}],
                "identifier": [{"system": "urn:other:mrn", "value": "X-1"}]})),
        )
        .await;
    assert_eq!(status, 422, "{outcome}");
    let diagnostics = outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default();
    assert!(diagnostics.contains("\"urn:other:mrn\""), "{outcome}");
    assert!(!diagnostics.contains("X-1"), "{outcome}");
    // Nothing was stored.
    let (status, page) = app
        .admin("GET", "/api/v1/patients?family=Underhill", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 0, "{page}");

    // The MPI's own domain is the MPI's to assign.
    let (status, refused) = app
        .admin(
            "POST",
            "/api/v1/patients?force=true",
            Some(&patient(
                "Underhill",
                "Perpetua",
                "1966-02-14",
                json!([{"system": "urn:mpi:person", "value": "whatever"}]),
            )),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["field"], "identifiers[0].system");

    // Registered domains are accepted under each of their names; an update adding an
    // unregistered system is refused and leaves the record as it was.
    let stored = app
        .register_forced(&patient(
            "Underhill",
            "Perpetua",
            "1966-02-14",
            json!([{"system": "TEST", "value": "T-1"}, {"system": NID_OID, "value": "N-1"}]),
        ))
        .await;
    assert_eq!(
        pairs(&stored["identifiers"]),
        [pair(NID_URL, "N-1"), pair(TEST_URL, "T-1")]
    );
    let mut changed = patient(
        "Underhill",
        "Perpetua",
        "1966-02-14",
        json!([{"system": "TEST", "value": "T-1"}, {"system": "LOCAL", "value": "L-1"}]),
    );
    changed["version"] = json!(1);
    let (status, refused) = app
        .admin(
            "PUT",
            &format!("/api/v1/patients/{}", id_of(&stored)),
            Some(&changed),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "unknown_domain");
    let (_, now) = app
        .admin("GET", &format!("/api/v1/patients/{}", id_of(&stored)), None)
        .await;
    assert_eq!(now["version"], 1);
    assert_eq!(pairs(&now["identifiers"]), pairs(&stored["identifiers"]));
}
both_backends!(reject_mode_refuses_unknown_domains);

async fn xref_answers_and_errors(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, CONFORMANCE_SETUP, &["--unknown-domains", "reject"]).await;
    let both = app
        .register_forced(&patient(
            "Vandermeer",
            "Hesper",
            "1979-09-09",
            json!([{"system": TEST_URL, "value": "T-100"}, {"system": NID_URL, "value": "N-100"}]),
        ))
        .await;
    let only_test = app
        .register_forced(&patient(
            "Oyelaran",
            "Folasade",
            "1985-01-20",
            json!([{"system": "TEST", "value": "T-200"}]),
        ))
        .await;
    let person = both["person_id"].as_str().unwrap().to_owned();

    // Each name of the domain asks the same question; the answer never holds the identifier
    // asked about, and lists the enterprise id first.
    for system in ["TEST", TEST_OID, &format!("urn:oid:{TEST_OID}"), TEST_URL] {
        let (status, answer) = xref(&app, &format!("{system}|T-100"), &[]).await;
        assert_eq!(status, 200, "{system}: {answer}");
        assert_eq!(answer["person_id"], person.as_str());
        assert_eq!(answer["patient_ids"], json!([id_of(&both)]));
        assert_eq!(answer["identifiers"][0]["system"], "urn:mpi:person");
        assert_eq!(answer["identifiers"][0]["value"], person.as_str());
        assert_eq!(
            pairs(&answer["identifiers"]),
            [pair(NID_URL, "N-100"), pair("urn:mpi:person", &person)]
        );
        assert_eq!(
            answer["identifiers"][1]["hl7_authority"],
            format!("NID&{NID_OID}&ISO")
        );
    }
    // Targets restrict the answer, in any of their names.
    let (status, answer) = xref(&app, "TEST|T-100", &[NID_OID]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(pairs(&answer["identifiers"]), [pair(NID_URL, "N-100")]);
    // The enterprise id answers too, and as a target gives the enterprise id alone.
    let (status, answer) = xref(&app, &format!("urn:mpi:person|{person}"), &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        pairs(&answer["identifiers"]),
        [pair(NID_URL, "N-100"), pair(TEST_URL, "T-100")]
    );
    let (status, answer) = xref(&app, "NID|N-100", &["MPI"]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        pairs(&answer["identifiers"]),
        [pair("urn:mpi:person", &person)]
    );
    // No identifier in the target domain: an empty list.
    let (status, answer) = xref(&app, "TEST|T-200", &["NID"]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["identifiers"], json!([]));
    assert_eq!(answer["patient_ids"], json!([id_of(&only_test)]));

    // Errors.
    let (status, error) = xref(&app, "TEST|T-999", &[]).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (404, Some("unknown_identifier"))
    );
    assert_eq!(error["field"], "identifier");
    let (status, error) = xref(&app, "urn:nowhere|T-100", &[]).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (422, Some("unknown_domain"))
    );
    assert_eq!(error["field"], "identifier");
    let (status, error) = xref(&app, "TEST|T-100", &["NID", "urn:nowhere"]).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (422, Some("unknown_domain"))
    );
    assert_eq!(error["field"], "target[1]");
    let (status, error) = xref(&app, "T-100", &[]).await;
    assert_eq!((status, error["field"].as_str()), (422, Some("identifier")));
    let (status, _) = app
        .as_role(
            Role::Auditor,
            "GET",
            &format!("/api/v1/xref?identifier={}", enc("TEST|T-100")),
            None,
        )
        .await;
    assert_eq!(status, 403);

    // Audited as a read: every query that looked for the identifier (found or not), not those
    // refused before (unknown domains, a malformed identifier, a role without the right).
    let (status, audit) = app
        .as_role(Role::Auditor, "GET", "/api/v1/audit?per_page=500", None)
        .await;
    assert_eq!(status, 200, "{audit}");
    let xrefs = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "xref")
        .count();
    assert_eq!(xrefs, 9, "{audit}");
}
both_backends!(xref_answers_and_errors);

async fn xref_after_merge_and_undo(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFORMANCE_SETUP, &[]).await;
    let survivor = app
        .register_forced(&patient(
            "Lindqvist",
            "Saoirse",
            "1958-12-01",
            json!([{"system": "TEST", "value": "T-1"}]),
        ))
        .await;
    let retired = app
        .register_forced(&patient(
            "Lindqvist",
            "Saoirse",
            "1958-12-01",
            json!([{"system": "TEST", "value": "T-2"}, {"system": "NID", "value": "N-2"}]),
        ))
        .await;
    let (s_id, r_id) = (id_of(&survivor), id_of(&retired));
    let (status, merged) = app
        .as_role(
            Role::Steward,
            "POST",
            "/api/v1/merges",
            Some(&json!({"target": s_id, "source": r_id})),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    let merge_id = merged["merge_id"].as_str().unwrap().to_owned();

    // The retired record's identifier answers for the survivor.
    let (status, answer) = xref(&app, "TEST|T-2", &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["person_id"], survivor["person_id"]);
    assert_eq!(answer["patient_ids"], json!([s_id]));
    let got = pairs(&answer["identifiers"]);
    assert!(got.contains(&pair(TEST_URL, "T-1")), "{answer}");
    assert!(got.contains(&pair(NID_URL, "N-2")), "{answer}");
    assert!(!got.contains(&pair(TEST_URL, "T-2")), "{answer}");

    let (status, undone) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/merges/{merge_id}/undo"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{undone}");
    let (status, answer) = xref(&app, "TEST|T-2", &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["person_id"], retired["person_id"]);
    assert_eq!(answer["patient_ids"], json!([r_id]));
    assert_eq!(
        pairs(&answer["identifiers"]),
        [
            pair(NID_URL, "N-2"),
            pair("urn:mpi:person", retired["person_id"].as_str().unwrap())
        ]
    );
    let (status, answer) = xref(&app, "TEST|T-1", &["NID"]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["identifiers"], json!([]));
}
both_backends!(xref_after_merge_and_undo);

async fn domains_api_is_for_admins(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFORMANCE_SETUP, &[]).await;
    let (status, list) = app.admin("GET", "/api/v1/domains", None).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["NID", "TEST", "MPI"]);
    assert_eq!(list["items"][0]["assigners"], json!(["NID_AUTH"]));
    assert_eq!(list["items"][0]["links_records"], true);
    assert_eq!(list["items"][2]["enterprise"], true);
    for role in [Role::Registrar, Role::Steward, Role::Auditor] {
        let (status, _) = app.as_role(role, "GET", "/api/v1/domains", None).await;
        assert_eq!(status, 403, "{role:?}");
    }
    // Each name is unique across all three forms.
    for (body, field) in [
        (json!({"name": "OTHER", "oid": TEST_OID}), "oid"),
        (json!({"name": "OTHER", "url": NID_URL}), "url"),
        (json!({"name": "TEST"}), "name"),
        (json!({"name": "MPI"}), "name"),
    ] {
        let (status, error) = app.admin("POST", "/api/v1/domains", Some(&body)).await;
        assert_eq!(status, 409, "{body}: {error}");
        assert_eq!(error["code"], "duplicate_domain");
        assert_eq!(error["detail"]["field"], field);
    }
    for (body, field) in [
        (json!({"name": "LAB", "oid": "not.an.oid"}), "oid"),
        (json!({"name": "LAB", "url": "no scheme"}), "url"),
        (json!({"name": "LA|B"}), "name"),
        (json!({"name": " "}), "name"),
        (
            json!({"name": "LAB", "assigners": ["NOBODY"]}),
            "assigners[0]",
        ),
    ] {
        let (status, error) = app.admin("POST", "/api/v1/domains", Some(&body)).await;
        assert_eq!(status, 422, "{body}: {error}");
        assert_eq!(error["field"], field);
    }
    let (status, lab) = app
        .admin(
            "POST",
            "/api/v1/domains",
            Some(&json!({"name": "LAB", "oid": "1.2.840.99.1", "assigners": ["TEST_HARNESS"]})),
        )
        .await;
    assert_eq!(status, 201, "{lab}");
    assert_eq!(lab["system"], "urn:oid:1.2.840.99.1");
    let (status, lab) = app
        .admin(
            "PUT",
            "/api/v1/domains/LAB",
            Some(
                &json!({"name": "LAB", "oid": "1.2.840.99.1", "url": "http://lab.example.org/id"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{lab}");
    assert_eq!(lab["system"], "http://lab.example.org/id");
    assert_eq!(lab["assigners"], json!([]));
    let (status, _) = app.admin("DELETE", "/api/v1/domains/LAB", None).await;
    assert_eq!(status, 204);
    let (status, error) = app.admin("DELETE", "/api/v1/domains/LAB", None).await;
    assert_eq!(status, 404, "{error}");
    let (status, _) = app
        .as_role(Role::Steward, "DELETE", "/api/v1/domains/TEST", None)
        .await;
    assert_eq!(status, 403);
}
both_backends!(domains_api_is_for_admins);

async fn search_by_a_value_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app
        .register_forced(&patient(
            "Achterberg",
            "Wilhelmina",
            "1970-07-07",
            json!([{"system": "urn:hospital:a", "value": "1001"}]),
        ))
        .await;
    let b = app
        .register_forced(&patient(
            "Brightwater",
            "Eustace",
            "1940-04-04",
            json!([{"system": "urn:hospital:b", "value": "1001"},
                   {"system": "urn:hospital:a", "value": "2002"}]),
        ))
        .await;
    let mut both = vec![id_of(&a), id_of(&b)];
    both.sort();
    assert_eq!(search_ids(&app, "1001").await, both);
    assert_eq!(search_ids(&app, "urn:hospital:b|1001").await, [id_of(&b)]);
    assert_eq!(search_ids(&app, "2002").await, [id_of(&b)]);
    assert!(search_ids(&app, "3003").await.is_empty());
    let (status, page) = app
        .as_role(
            Role::Registrar,
            "POST",
            "/api/v1/patients/_search",
            Some(&json!({"identifier": "1001"})),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2);
}
both_backends!(search_by_a_value_alone);

/// A key acting as `source`, made with `mpi keys create --source` as an operator would.
fn source_key(app: &TestApp, name: &str, role: &str, source: &str) -> String {
    let dir = crate::helpers::ScratchDir::new();
    let out = crate::helpers::run_mpi_ok(
        &dir.path,
        &[
            "keys",
            "create",
            "--name",
            name,
            "--role",
            role,
            "--source",
            source,
            "--database-url",
            &app.db.url,
        ],
    );
    out.lines().last().expect("secret line").trim().to_owned()
}

async fn sources_hold_to_their_domains(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, CONFORMANCE_SETUP, &["--unknown-domains", "reject"]).await;
    let harness = source_key(&app, "harness", "registrar", "TEST_HARNESS");
    let harness_steward = source_key(&app, "harness-steward", "steward", "TEST_HARNESS");
    let nid = source_key(&app, "nid", "registrar", "NID_AUTH");
    let call = |key: &str, method: &'static str, path: String, body: Option<Value>| {
        let key = key.to_owned();
        let app = &app;
        async move {
            app.server
                .call(method, &path, Some(&key), &[], body.as_ref())
                .await
        }
    };

    // Its own domain, with another domain's identifier riding along as a reference.
    let (status, own) = call(
        &harness,
        "POST",
        "/api/v1/patients?force=true".into(),
        Some(patient(
            "Abernethy",
            "Clementine",
            "1980-02-02",
            json!([{"system": "TEST", "value": "T-1"}, {"system": "NID", "value": "N-1"}]),
        )),
    )
    .await;
    assert_eq!(status, 201, "{own}");
    // Only a domain it does not assign, or no identifier at all: refused, nothing stored.
    for identifiers in [json!([{"system": NID_URL, "value": "N-5"}]), json!([])] {
        let (status, refused) = call(
            &harness,
            "POST",
            "/api/v1/patients?force=true".into(),
            Some(patient("Blackwood", "Ignatius", "1975-06-06", identifiers)),
        )
        .await;
        assert_eq!(status, 403, "{refused}");
        assert_eq!(refused["code"], "domain_not_authorised");
        assert_eq!(refused["field"], "identifiers");
    }
    let (_, page) = app
        .admin("GET", "/api/v1/patients?family=Blackwood", None)
        .await;
    assert_eq!(page["total"], 0, "{page}");
    // An admin is not a source and keeps its rights.
    let nid_only = app
        .register_forced(&patient(
            "Blackwood",
            "Ignatius",
            "1975-06-06",
            json!([{"system": NID_URL, "value": "N-5"}]),
        ))
        .await;

    // The NID authority may not update a record it holds no identifier of.
    let test_only = app
        .register_forced(&patient(
            "Castellanos",
            "Dorotea",
            "1991-10-10",
            json!([{"system": "TEST", "value": "T-9"}]),
        ))
        .await;
    let mut change = patient(
        "Castellanos",
        "Dorotea",
        "1991-10-11",
        json!([{"system": "TEST", "value": "T-9"}, {"system": "NID", "value": "N-9"}]),
    );
    change["version"] = json!(1);
    let (status, refused) = call(
        &nid,
        "PUT",
        format!("/api/v1/patients/{}", id_of(&test_only)),
        Some(change.clone()),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "domain_not_authorised");
    let (status, updated) = call(
        &harness,
        "PUT",
        format!("/api/v1/patients/{}", id_of(&test_only)),
        Some(change),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["birth_date"], "1991-10-11");

    // A source merges only records it holds identifiers of, on both sides.
    let request = json!({"target": id_of(&own), "source": id_of(&nid_only)});
    let (status, refused) = call(
        &harness_steward,
        "POST",
        "/api/v1/merges".into(),
        Some(request),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "domain_not_authorised");
    assert_eq!(refused["field"], "source");
    let request = json!({"target": id_of(&own), "source": id_of(&test_only)});
    let (status, merged) = call(
        &harness_steward,
        "POST",
        "/api/v1/merges".into(),
        Some(request),
    )
    .await;
    assert_eq!(status, 200, "{merged}");

    // A key for a source that does not exist is refused by the CLI.
    let dir = crate::helpers::ScratchDir::new();
    let out = crate::helpers::run_mpi(
        &dir.path,
        &[
            "keys",
            "create",
            "--name",
            "ghost",
            "--role",
            "registrar",
            "--source",
            "NOBODY",
            "--database-url",
            &app.db.url,
        ],
    );
    assert!(!out.status.success());
}
both_backends!(sources_hold_to_their_domains);

async fn import_rejects_unknown_domains(backend: Backend) {
    let db = migration::testing::TestDb::migrated(backend).await;
    let dir = crate::helpers::ScratchDir::new();
    let url = db.url.as_str();
    for command in CONFORMANCE_SETUP {
        let mut args = command.to_vec();
        args.extend(["--database-url", url]);
        crate::helpers::run_mpi_ok(&dir.path, &args);
    }
    let file = dir.path.join("people.csv");
    std::fs::write(
        &file,
        "id,given_name,family_name,sex,birth_date,mrn,mrn_system\n\
         p1,Ottilie,Fairweather,F,1962-08-15,T-1,TEST\n\
         p2,Bartholomew,Quennell,M,1938-01-30,X-2,urn:elsewhere:mrn\n\
         p3,Ada,Lovelace,F,1915-12-10,T-3,urn:oid:2.16.840.1.113883.3.72.5.9.1\n",
    )
    .expect("write csv");
    let out = crate::helpers::run_mpi_ok(
        &dir.path,
        &[
            "import",
            file.to_str().unwrap(),
            "--database-url",
            url,
            "--quiet",
            "--unknown-domains",
            "reject",
        ],
    );
    assert!(out.contains("3 rows: 2 imported"), "{out}");
    let rejects =
        std::fs::read_to_string(dir.path.join("people.csv.rejects.csv")).expect("rejects");
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines.len(), 2, "{rejects}");
    assert!(lines[1].starts_with("3,"), "{rejects}");
    assert!(
        lines[1].contains("registered identifier domain"),
        "{rejects}"
    );
    // The refusal names the domain as given (no patient data), never the identifier's value.
    assert!(rejects.contains("urn:elsewhere"), "{rejects}");
    // The accepted records' identifiers are stored in the domain's URL form.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let stored = entity::patient_identifier::Entity::find()
        .filter(entity::patient_identifier::Column::System.eq(TEST_URL))
        .all(&db.conn)
        .await
        .unwrap();
    let mut values: Vec<String> = stored.into_iter().map(|r| r.value).collect();
    values.sort();
    assert_eq!(values, ["T-1", "T-3"]);
}
both_backends!(import_rejects_unknown_domains);

async fn upsert_updates_the_record_holding_the_identifier(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFORMANCE_SETUP, &[]).await;
    let harness = source_key(&app, "harness", "registrar", "TEST_HARNESS");
    let send = |path: &'static str, body: Value| {
        let key = harness.clone();
        let app = &app;
        async move {
            app.server
                .call("POST", path, Some(&key), &[], Some(&body))
                .await
        }
    };
    let first = patient(
        "Esterhazy",
        "Philippa",
        "1983-04-04",
        json!([{"system": "TEST", "value": "U-1"}]),
    );
    let (status, created) = send("/api/v1/patients", first).await;
    assert_eq!(status, 201, "{created}");
    let mut second = patient(
        "Esterhazy",
        "Philippa Jane",
        "1983-04-05",
        json!([{"system": TEST_URL, "value": "U-1"}, {"system": "NID", "value": "N-77"}]),
    );
    second["telecoms"] = json!([{"system": "phone", "value": "0117 496 0000"}]);
    // Without upsert the identifier is taken.
    let (status, refused) = send("/api/v1/patients?force=true", second.clone()).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "duplicate_identifier");
    // With it, the record holding the identifier is updated.
    let (status, updated) = send("/api/v1/patients?upsert=true", second).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["birth_date"], "1983-04-05");
    assert_eq!(
        pairs(&updated["identifiers"]),
        [pair(NID_URL, "N-77"), pair(TEST_URL, "U-1")]
    );
    // A new identifier is a registration.
    let (status, fresh) = send(
        "/api/v1/patients?upsert=true&force=true",
        patient(
            "Fitzwilliam",
            "Oswin",
            "1950-01-01",
            json!([{"system": "TEST", "value": "U-2"}]),
        ),
    )
    .await;
    assert_eq!(status, 201, "{fresh}");
    assert_ne!(fresh["id"], created["id"]);
}
both_backends!(upsert_updates_the_record_holding_the_identifier);

async fn domains_and_sources_from_the_command_line(backend: Backend) {
    let db = migration::testing::TestDb::migrated(backend).await;
    let dir = crate::helpers::ScratchDir::new();
    let url = db.url.as_str();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--database-url", url]);
        crate::helpers::run_mpi(&dir.path, &all)
    };
    for command in CONFORMANCE_SETUP {
        let out = run(command);
        assert!(out.status.success(), "{command:?}: {out:?}");
    }
    let out = run(&["sources", "add", "LAB", "--secret", "a-long-shared-secret"]);
    assert!(out.status.success(), "{out:?}");
    let listed =
        String::from_utf8(run(&["domains", "list", "--enterprise-oid", "1.2.3.9"]).stdout).unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 4, "{listed}");
    assert!(
        lines[1].starts_with("NID ") && lines[1].contains(NID_URL),
        "{listed}"
    );
    assert!(
        lines[1].contains("yes") && lines[1].contains("NID_AUTH"),
        "{listed}"
    );
    assert!(
        lines[3].starts_with("MPI ") && lines[3].contains("1.2.3.9"),
        "{listed}"
    );
    let sources = String::from_utf8(run(&["sources", "list"]).stdout).unwrap();
    assert!(
        sources
            .lines()
            .any(|l| l.starts_with("LAB ") && l.ends_with("set")),
        "{sources}"
    );
    assert!(!sources.contains("a-long-shared-secret"), "{sources}");
    // Refusals: a name taken in another form, a source still assigning, a short secret.
    let taken = run(&["domains", "add", "OTHER", "--url", TEST_URL]);
    assert!(!taken.status.success());
    assert!(
        String::from_utf8_lossy(&taken.stderr).contains("duplicate_domain"),
        "{taken:?}"
    );
    assert!(!run(&["sources", "remove", "NID_AUTH"]).status.success());
    assert!(
        !run(&["sources", "add", "SHORT", "--secret", "short"])
            .status
            .success()
    );
    // Removed by its OID; its source can go then.
    assert!(run(&["domains", "remove", NID_OID]).status.success());
    assert!(run(&["sources", "remove", "NID_AUTH"]).status.success());
    let listed = String::from_utf8(run(&["domains", "list"]).stdout).unwrap();
    assert!(!listed.contains("NID"), "{listed}");
}
both_backends!(domains_and_sources_from_the_command_line);

const LAB_URL: &str = "http://lab.example.org/mrn";

async fn records_sharing_a_links_records_identifier_are_one_person(backend: Backend) {
    let mut setup: Vec<&[&str]> = CONFORMANCE_SETUP.to_vec();
    setup.push(&["sources", "add", "LAB", "--role", "registrar"]);
    setup.push(&[
        "domains",
        "add",
        "LABMRN",
        "--url",
        LAB_URL,
        "--assigner",
        "LAB",
    ]);
    let app = TestApp::spawn_with(backend, &setup, &["--unknown-domains", "reject"]).await;
    let harness = source_key(&app, "harness", "registrar", "TEST_HARNESS");
    let lab = source_key(&app, "lab", "registrar", "LAB");
    let call = |key: &str, method: &'static str, path: String, body: Option<Value>| {
        let key = key.to_owned();
        let app = &app;
        async move {
            app.server
                .call(method, &path, Some(&key), &[], body.as_ref())
                .await
        }
    };

    // The hospital's record, with the national id riding along.
    let (status, hospital) = call(
        &harness,
        "POST",
        "/api/v1/patients".into(),
        Some(patient(
            "Quennell",
            "Rosamund",
            "1961-03-09",
            json!([{"system": "TEST", "value": "T-100"}, {"system": "NID", "value": "N-500"}]),
        )),
    )
    .await;
    assert_eq!(status, 201, "{hospital}");
    // The lab's record of the same national id, demographics unlike the hospital's: linked,
    // not refused.
    let (status, labrec) = call(
        &lab,
        "POST",
        "/api/v1/patients".into(),
        Some(patient(
            "Okonkwo",
            "Bartholomew",
            "2001-11-30",
            json!([{"system": LAB_URL, "value": "L-7"}, {"system": NID_OID, "value": "N-500"}]),
        )),
    )
    .await;
    assert_eq!(status, 201, "{labrec}");
    assert_eq!(labrec["person_id"], hospital["person_id"], "{labrec}");
    assert_eq!(
        pairs(&labrec["identifiers"]),
        [pair(LAB_URL, "L-7"), pair(NID_URL, "N-500")]
    );
    let link = labrec["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["patient_id"] == labrec["id"])
        .expect("a link from the lab's record");
    assert_eq!(link["type"], "seealso", "{labrec}");
    assert_eq!(link["origin"], "matcher");
    assert_eq!(link["other_patient_id"], hospital["id"]);
    assert!(
        link["reason"].as_str().expect("reason").contains("NID"),
        "{link}"
    );
    let (_, hospital_now) = app
        .admin(
            "GET",
            &format!("/api/v1/patients/{}", id_of(&hospital)),
            None,
        )
        .await;
    assert_eq!(hospital_now["version"], 2, "{hospital_now}");
    assert!(
        hospital_now["links"]
            .as_array()
            .expect("links")
            .iter()
            .any(|l| l["other_patient_id"] == labrec["id"] && l["origin"] == "matcher"),
        "{hospital_now}"
    );

    // xref from the lab's MRN: the person, both records, the hospital's MRN and the NID.
    let (status, answer) = xref(&app, &format!("{LAB_URL}|L-7"), &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["person_id"], hospital["person_id"]);
    assert_eq!(answer["patient_ids"].as_array().expect("ids").len(), 2);
    let person = hospital["person_id"].as_str().expect("person id");
    assert_eq!(
        pairs(&answer["identifiers"]),
        [
            pair(NID_URL, "N-500"),
            pair(TEST_URL, "T-100"),
            pair("urn:mpi:person", person),
        ]
    );
    let (_, only_test) = xref(&app, &format!("{LAB_URL}|L-7"), &["TEST"]).await;
    assert_eq!(pairs(&only_test["identifiers"]), [pair(TEST_URL, "T-100")]);
    // And from the NID: both MRNs.
    let (_, by_nid) = xref(&app, "NID|N-500", &["TEST", "LABMRN"]).await;
    assert_eq!(
        pairs(&by_nid["identifiers"]),
        [pair(LAB_URL, "L-7"), pair(TEST_URL, "T-100")]
    );

    // Each record is updated keeping the shared value.
    let mut changed = patient(
        "Okonkwo",
        "Bartholomew",
        "2001-12-01",
        json!([{"system": LAB_URL, "value": "L-7"}, {"system": NID_URL, "value": "N-500"}]),
    );
    changed["version"] = labrec["version"].clone();
    let (status, updated) = call(
        &lab,
        "PUT",
        format!("/api/v1/patients/{}", id_of(&labrec)),
        Some(changed),
    )
    .await;
    assert_eq!(status, 200, "{updated}");

    // An identifier of a domain that does not link records stays one record's (409), except
    // as a reference a source carries from a domain it does not assign: the record then
    // joins the person that value names (issue 29 §3; see `cr_gaps`).
    let (status, joined) = call(
        &lab,
        "POST",
        "/api/v1/patients?force=true".into(),
        Some(patient(
            "Pemberton",
            "Wilhelmina",
            "1990-01-01",
            json!([{"system": LAB_URL, "value": "L-8"}, {"system": "TEST", "value": "T-100"}]),
        )),
    )
    .await;
    assert_eq!(status, 201, "{joined}");
    assert_eq!(joined["person_id"], hospital["person_id"], "{joined}");
    let (status, refused) = app
        .admin(
            "POST",
            "/api/v1/patients?force=true",
            Some(&patient(
                "Pemberton",
                "Wilhelmina",
                "1990-01-01",
                json!([{"system": "TEST", "value": "T-100"}]),
            )),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "duplicate_identifier");
    assert_eq!(refused["detail"]["field"], "identifiers[0]", "{refused}");
    // Two national ids naming two persons: refused, nothing stored.
    let (status, other) = call(
        &harness,
        "POST",
        "/api/v1/patients".into(),
        Some(patient(
            "Sandoval",
            "Evangeline",
            "1972-07-21",
            json!([{"system": "TEST", "value": "T-101"}, {"system": "NID", "value": "N-501"}]),
        )),
    )
    .await;
    assert_eq!(status, 201, "{other}");
    let (status, refused) = call(
        &lab,
        "POST",
        "/api/v1/patients?force=true".into(),
        Some(patient(
            "Sandoval",
            "Evangeline",
            "1972-07-21",
            json!([
                {"system": LAB_URL, "value": "L-9"},
                {"system": "NID", "value": "N-500"},
                {"system": "NID", "value": "N-501"},
            ]),
        )),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "duplicate_identifier");
    assert_eq!(refused["detail"]["field"], "identifiers[2]", "{refused}");
    let (status, _) = xref(&app, &format!("{LAB_URL}|L-9"), &[]).await;
    assert_eq!(status, 404);
}
both_backends!(records_sharing_a_links_records_identifier_are_one_person);

async fn a_review_merge_holds_a_source_to_its_domains(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFORMANCE_SETUP, &[]).await;
    let harness = source_key(&app, "harness", "registrar", "TEST_HARNESS");
    let harness_steward = source_key(&app, "harness-steward", "steward", "TEST_HARNESS");
    // A record the harness holds no identifier of, and its own record of the same person.
    let nid_only = app
        .register_forced(&patient(
            "Lindqvist",
            "Margarethe",
            "1958-08-08",
            json!([{"system": "NID", "value": "N-40"}]),
        ))
        .await;
    let (status, own) = app
        .server
        .call(
            "POST",
            "/api/v1/patients?force=true",
            Some(&harness),
            &[],
            Some(&patient(
                "Lindqvist",
                "Margarethe",
                "1958-08-08",
                json!([{"system": "TEST", "value": "T-40"}]),
            )),
        )
        .await;
    assert_eq!(status, 201, "{own}");
    let task = own["review_task_ids"][0].as_str().expect("a review task");
    let path = format!("/api/v1/review-tasks/{task}/decision");
    let decision = json!({"action": "merge", "target": id_of(&own)});
    let (status, refused) = app
        .server
        .call("POST", &path, Some(&harness_steward), &[], Some(&decision))
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "domain_not_authorised");
    assert_eq!(refused["field"], "source");
    let (_, still) = app
        .admin(
            "GET",
            &format!("/api/v1/patients/{}", id_of(&nid_only)),
            None,
        )
        .await;
    assert_eq!(still["active"], true, "{still}");
    // A steward that is no source keeps its right.
    let (status, merged) = app
        .as_role(Role::Steward, "POST", &path, Some(&decision))
        .await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["task"]["status"], "merged");
}
both_backends!(a_review_merge_holds_a_source_to_its_domains);

async fn birth_dates_keep_their_precision(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = std::collections::HashMap::new();
    for (key, family, given, birth_date) in [
        ("year", "Vantongeren", "Isolde", "1984"),
        ("month", "Wetherall", "Casimir", "1984-01"),
        ("day", "Xiradakis", "Leontyne", "1984-01-25"),
        ("other_year", "Yarborough", "Thaddeus", "1985-01-25"),
    ] {
        let stored = app
            .register_forced(&patient(
                family,
                given,
                birth_date,
                json!([{"system": "urn:test:mrn", "value": key}]),
            ))
            .await;
        // Answered as given, not widened to a day.
        assert_eq!(stored["birth_date"], birth_date, "{stored}");
        ids.insert(key, id_of(&stored));
    }
    let found = |query: &'static str| {
        let app = &app;
        async move {
            let (status, page) = app
                .admin("GET", &format!("/api/v1/patients?{query}"), None)
                .await;
            assert_eq!(status, 200, "{query}: {page}");
            let mut got: Vec<String> = page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(id_of)
                .collect();
            got.sort();
            got
        }
    };
    let expect = |keys: &[&str]| {
        let mut want: Vec<String> = keys.iter().map(|k| ids[k].clone()).collect();
        want.sort();
        want
    };
    // A year finds every date inside it, whatever its precision.
    assert_eq!(
        found("birth_date=1984").await,
        expect(&["year", "month", "day"])
    );
    // A month finds the dates inside it; a record born "in 1984" is not known to be one.
    assert_eq!(found("birth_date=1984-01").await, expect(&["month", "day"]));
    assert_eq!(found("birth_date=1984-01-25").await, expect(&["day"]));
    assert_eq!(found("birth_date=1984-01-01").await, expect(&[]));
    for bad in ["84", "1984-13", "1984-1", "1984-01-32", "1984-01-25-01"] {
        let (status, body) = app
            .admin("GET", &format!("/api/v1/patients?birth_date={bad}"), None)
            .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["field"], "birth_date");
        let (status, body) = app
            .admin(
                "POST",
                "/api/v1/patients?force=true",
                Some(&patient("Zeffirelli", "Ottilie", bad, json!([]))),
            )
            .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["field"], "birth_date");
    }

    // FHIR shows and searches the same precision.
    let (status, fhir) = app
        .admin("GET", &format!("/fhir/Patient/{}", ids["month"]), None)
        .await;
    assert_eq!(status, 200, "{fhir}");
    assert_eq!(fhir["birthDate"], "1984-01", "{fhir}");
    let (status, bundle) = app.admin("GET", "/fhir/Patient?birthdate=1984", None).await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(bundle["total"], 3, "{bundle}");

    // The matcher compares at the coarser precision, weighing that less than an exact date.
    let query = |birth_date: &str| {
        json!({
            "gender": "female",
            "birth_date": birth_date,
            "names": [{"family": "Xiradakis", "given": ["Leontyne"]}],
        })
    };
    let weight_of = |answer: &Value| {
        answer["candidates"]
            .as_array()
            .expect("candidates")
            .iter()
            .find(|c| c["patient_id"] == ids["day"].as_str())
            .map(|c| c["match_weight"].as_f64().expect("weight"))
    };
    let (status, exact) = app
        .admin("POST", "/api/v1/match", Some(&query("1984-01-25")))
        .await;
    assert_eq!(status, 200, "{exact}");
    let (_, by_year) = app
        .admin("POST", "/api/v1/match", Some(&query("1984")))
        .await;
    let (_, other_year) = app
        .admin("POST", "/api/v1/match", Some(&query("1985")))
        .await;
    let exact = weight_of(&exact).expect("found with the full date");
    let by_year = weight_of(&by_year).expect("found with the year");
    assert!(by_year < exact, "year {by_year} vs exact {exact}");
    if let Some(other) = weight_of(&other_year) {
        assert!(other < by_year, "other year {other} vs year {by_year}");
    }
}
both_backends!(birth_dates_keep_their_precision);

async fn name_search_modes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = std::collections::HashMap::new();
    for (key, family, given, birth_date) in [
        ("johnson", "Johnson", "William", "1970-01-01"),
        ("jonson", "Jonson", "Bill", "1971-02-02"),
        ("johnston", "Johnston", "Mary", "1972-03-03"),
        ("smith", "Smith", "Robert", "1973-04-04"),
        ("smyth", "Smyth", "Bob", "1974-05-05"),
    ] {
        let stored = app
            .register_forced(&patient(
                family,
                given,
                birth_date,
                json!([{"system": "urn:test:mrn", "value": key}]),
            ))
            .await;
        ids.insert(id_of(&stored), key);
    }
    let search = |query: &'static str| {
        let app = &app;
        let ids = &ids;
        async move {
            let (status, page) = app
                .as_role(
                    Role::Registrar,
                    "GET",
                    &format!("/api/v1/patients?{query}"),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{query}: {page}");
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|p| {
                    let score = p["search"]["score"].as_f64().expect("a score");
                    assert!((0.0..=1.0).contains(&score), "{p}");
                    (
                        ids[&id_of(p)],
                        p["search"]["mode"].as_str().expect("a mode").to_owned(),
                        score,
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    fn keys(hits: &[(&'static str, String, f64)]) -> Vec<&'static str> {
        let mut k: Vec<&str> = hits.iter().map(|h| h.0).collect();
        k.sort_unstable();
        k
    }

    let exact = search("family=JOHNSON&mode=exact").await;
    assert_eq!(exact, vec![("johnson", "exact".to_owned(), 1.0)]);
    // Without a mode, a family name is a prefix, as before (and no search field).
    let (_, plain) = app
        .admin("GET", "/api/v1/patients?family=johns", None)
        .await;
    assert_eq!(plain["total"], 2, "{plain}");
    assert!(plain["items"][0].get("search").is_none(), "{plain}");

    let wild = search("family=JO*&mode=wildcard").await;
    assert_eq!(keys(&wild), ["johnson", "johnston", "jonson"]);
    assert!(wild.iter().all(|h| h.1 == "wildcard"), "{wild:?}");
    assert_eq!(
        keys(&search("family=J%3Fhn*&mode=wildcard").await),
        ["johnson", "johnston"]
    );
    assert_eq!(
        keys(&search("family=*ston&mode=wildcard").await),
        ["johnston"]
    );

    // Phonetic: the equal name first, as exact, then the ones that sound alike.
    let sounds = search("family=Smith&mode=phonetic").await;
    assert_eq!(keys(&sounds), ["smith", "smyth"]);
    assert_eq!(sounds[0].0, "smith");
    assert_eq!(sounds[0].1, "exact");
    assert_eq!(sounds[0].2, 1.0);
    assert_eq!(sounds[1].1, "phonetic");
    assert!(sounds[1].2 < 1.0);
    assert_eq!(
        keys(&search("family=Smith&mode=phonetic&birth_date=1974").await),
        ["smyth"]
    );

    // Alias: a given name's nicknames, the family name exact.
    let alias = search("family=Johnson&given=Bill&mode=alias").await;
    assert_eq!(keys(&alias), ["johnson"]);
    assert_eq!(alias[0].1, "alias");
    assert_eq!(
        keys(&search("family=Smyth&given=Robert&mode=alias").await),
        ["smyth"]
    );
    assert!(
        search("family=Smith&given=Bill&mode=alias")
            .await
            .is_empty()
    );

    // Bad modes and patterns: 422 naming the field, the value not echoed.
    for (query, field) in [
        ("family=Smith&mode=fuzzy", "mode"),
        ("family=***&mode=wildcard", "family"),
        ("family=a*b*c*d*e*f&mode=wildcard", "family"),
        ("name=Smith&mode=phonetic", "name"),
        ("birth_date=1974&mode=phonetic", "mode"),
    ] {
        let (status, body) = app
            .admin("GET", &format!("/api/v1/patients?{query}"), None)
            .await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
        assert!(!body["message"].as_str().unwrap_or("").contains("fuzzy"));
    }
}
both_backends!(name_search_modes);
