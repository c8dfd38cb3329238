//! FHIR conformance fixes of issue 31's review, through the real server on both databases:
//! `$match` takes a bare Patient (ITI-119), the CapabilityStatement claims what the routes serve
//! (checked against them) and instantiates real IHE canonicals, `_lastUpdated`, lenient
//! handling of unknown parameters by default (ITI-78), an unknown domain answering 404 with a
//! warning, `$ihe-pix` by a Patient's logical id (ITI-83), a conditional update whose
//! resource id is not the matched record's (400), extensions on any element accepted (FHIR R4
//! 2.5) while a modifier extension is still refused, and `_summary=count`. Every resource received is parsed by the
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
    assert_eq!(entry_ids(&bare.body), std::slice::from_ref(&stored));
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

/// A request that exercises one value of a claimed search parameter.
fn sample(param: &str, identifier: &str) -> String {
    match param {
        "_id" => Uuid::new_v4().to_string(),
        "_lastUpdated" => "ge2000".to_owned(),
        "active" => "true".to_owned(),
        "birthdate" => "1972".to_owned(),
        "gender" => "female".to_owned(),
        "identifier" => enc(identifier),
        "telecom" => "01392".to_owned(),
        "language" => enc("urn:ietf:bcp:47|en"),
        _ => "Ha".to_owned(),
    }
}

async fn capability_statement_claims_what_is_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);
    let base = format!("http://{}/fhir", app.server.addr);
    let metadata = fhir.raw(None, "GET", "/metadata", &[], None).await;
    assert_eq!(metadata.status, 200, "{}", metadata.body);
    let statement = &metadata.body;
    assert_eq!(statement["kind"], "instance");
    // cpb-14: an instance names its implementation.
    assert_eq!(statement["implementation"]["url"], base.as_str());
    assert!(statement["implementation"]["description"].is_string());
    // The canonicals of the IG's CapabilityStatements (PDQm has Supplier and SupplierMatch).
    assert_eq!(
        statement["instantiates"],
        json!([
            "https://profiles.ihe.net/ITI/PIXm/CapabilityStatement/IHE.PIXm.Manager",
            "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplier",
            "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplierMatch",
            "https://profiles.ihe.net/ITI/PMIR/CapabilityStatement/IHE.PMIR.PatientIdentityRegistry"
        ])
    );
    let patient = &statement["rest"][0]["resource"][0];
    assert_eq!(patient["type"], "Patient");
    // If-None-Exist is read: conditional create is claimed (and checked below).
    assert_eq!(patient["conditionalCreate"], true);
    assert_eq!(patient["conditionalUpdate"], true);
    assert_eq!(patient["conditionalDelete"], "single");
    assert_eq!(patient["updateCreate"], false);
    assert_eq!(patient["readHistory"], false);

    // Every interaction claimed on Patient is served.
    let identifier = format!("{TEST_URL}|CS-1");
    let body = patient_with(
        "Hartigan",
        "Siobhan",
        &[(TEST_URL, "CS-1"), (NID_URL, "CN-1")],
    );
    let mut codes: Vec<String> = patient["interaction"]
        .as_array()
        .expect("interaction")
        .iter()
        .map(|i| i["code"].as_str().expect("code").to_owned())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        ["create", "delete", "read", "search-type", "update"],
        "a new claim needs its check below"
    );
    let created = fhir.create(&body).await;
    let id = id_of(&created);
    let path = format!("/Patient/{id}");
    assert_eq!(fhir.get(&path).await.status, 200);
    let updated = fhir
        .call(
            Role::Registrar,
            "PUT",
            &path,
            &[("if-match", "W/\"1\"")],
            Some(&created),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let searched = fhir.get("/Patient?family=Hartigan").await;
    assert_eq!(searched.status, 200, "{}", searched.body);
    assert_eq!(entry_ids(&searched.body), std::slice::from_ref(&id));
    let conditional = fhir
        .call(
            Role::Registrar,
            "PUT",
            &format!("/Patient?identifier={}", enc(&identifier)),
            &[],
            Some(&updated.body),
        )
        .await;
    assert_eq!(conditional.status, 200, "{}", conditional.body);
    // Conditional create: the record holding the identifier is the answer, nothing is created.
    let conditional_create = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("if-none-exist", &format!("identifier={}", enc(&identifier)))],
            Some(&body),
        )
        .await;
    assert_eq!(
        conditional_create.status, 200,
        "{}",
        conditional_create.body
    );
    assert_eq!(id_of(&conditional_create.body), id);

    // Every search parameter claimed is served, even when unknown ones would be refused.
    let params: Vec<String> = patient["searchParam"]
        .as_array()
        .expect("searchParam")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect();
    assert!(params.iter().any(|p| p == "_lastUpdated"), "{params:?}");
    for param in &params {
        let answer = fhir
            .raw(
                Some(Role::Registrar),
                "GET",
                &format!("/Patient?{param}={}", sample(param, &identifier)),
                &[("prefer", "handling=strict")],
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{param}: {}", answer.body);
        assert_eq!(answer.body["resourceType"], "Bundle", "{param}");
    }
    // And the include values.
    for (name, value) in [
        (
            "_include",
            patient["searchInclude"][0].as_str().expect("include"),
        ),
        (
            "_revinclude",
            patient["searchRevInclude"][0].as_str().expect("revinclude"),
        ),
    ] {
        let answer = fhir
            .raw(
                Some(Role::Registrar),
                "GET",
                &format!("/Patient?family=Hartigan&{name}={}", enc(value)),
                &[("prefer", "handling=strict")],
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
    }

    // Every operation claimed on Patient answers at its route.
    let operations: Vec<&str> = patient["operation"]
        .as_array()
        .expect("operation")
        .iter()
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert_eq!(operations, ["match", "ihe-pix", "merge"]);
    let matched = post(&fhir, Role::Registrar, "/Patient/$match", &body).await;
    assert_eq!(matched.status, 200, "{}", matched.body);
    let pix = fhir
        .get(&format!(
            "/Patient/$ihe-pix?sourceIdentifier={}",
            enc(&identifier)
        ))
        .await;
    assert_eq!(pix.status, 200, "{}", pix.body);
    let other = id_of(
        &fhir
            .create(&patient_with("Hartigan", "Siobhan", &[(TEST_URL, "CS-2")]))
            .await,
    );
    let merge = post(
        &fhir,
        Role::Steward,
        "/Patient/$merge",
        &json!({"resourceType": "Parameters", "parameter": [
            {"name": "source-patient", "valueReference": {"reference": format!("Patient/{other}")}},
            {"name": "target-patient", "valueReference": {"reference": format!("Patient/{id}")}},
            {"name": "preview", "valueBoolean": true}
        ]}),
    )
    .await;
    assert_eq!(merge.status, 200, "{}", merge.body);
    assert_eq!(
        statement["rest"][0]["operation"][0]["name"],
        "process-message"
    );

    // Delete, by id and by condition, is what `delete` claims.
    let deleted = fhir.call(Role::Admin, "DELETE", &path, &[], None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["resourceType"], "OperationOutcome");
    assert_eq!(fhir.get(&path).await.status, 404);
    let again = fhir.call(Role::Admin, "DELETE", &path, &[], None).await;
    assert_eq!(again.status, 404, "{}", again.body);
    let by_condition = fhir
        .call(
            Role::Admin,
            "DELETE",
            &format!("/Patient?identifier={}", enc(&format!("{TEST_URL}|CS-2"))),
            &[],
            None,
        )
        .await;
    assert_eq!(by_condition.status, 200, "{}", by_condition.body);
    // An auditor may not delete.
    let third = id_of(
        &fhir
            .create(&patient_with("Hartigan", "Siobhan", &[(TEST_URL, "CS-3")]))
            .await,
    );
    let auditor = fhir
        .call(
            Role::Auditor,
            "DELETE",
            &format!("/Patient/{third}"),
            &[],
            None,
        )
        .await;
    assert_eq!(auditor.status, 403, "{}", auditor.body);

    // What is not claimed is not served: patch, history, conditional create.
    let patch = fhir
        .call(
            Role::Admin,
            "PATCH",
            &format!("/Patient/{third}"),
            &[],
            Some(&json!([])),
        )
        .await;
    assert_eq!(patch.status, 405, "{}", patch.body);
    let history = fhir.get(&format!("/Patient/{third}/_history")).await;
    assert!(matches!(history.status, 404 | 405), "{}", history.body);
    fhir.check_all_received();
}
both_backends!(capability_statement_claims_what_is_served);

fn at_offset(instant: &str, hours: i32) -> String {
    let t: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(instant).expect("instant");
    let zone = FixedOffset::east_opt(hours * 3600).expect("zone");
    t.with_timezone(&zone)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

async fn last_updated_compares_when_records_changed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let a = fhir
        .create(&fhir_person(
            "Oyelaran",
            "Funmilayo",
            "1980-05-05",
            "MRN-9201",
        ))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let b = fhir
        .create(&fhir_person(
            "Oyelaran",
            "Kehinde",
            "1981-06-06",
            "MRN-9202",
        ))
        .await;
    let (a_id, b_id) = (id_of(&a), id_of(&b));
    let a_at = a["meta"]["lastUpdated"]
        .as_str()
        .expect("lastUpdated")
        .to_owned();
    let b_at = b["meta"]["lastUpdated"]
        .as_str()
        .expect("lastUpdated")
        .to_owned();
    let found = |q: String| {
        let fhir = &fhir;
        async move {
            let answer = fhir.get(&format!("/Patient?_lastUpdated={q}")).await;
            assert_eq!(answer.status, 200, "{q}: {}", answer.body);
            entry_ids(&answer.body)
        }
    };
    assert_eq!(found(enc(&a_at)).await, std::slice::from_ref(&a_id));
    assert_eq!(
        found(enc(&format!("eq{b_at}"))).await,
        std::slice::from_ref(&b_id)
    );
    assert_eq!(
        found(enc(&format!("gt{a_at}"))).await,
        std::slice::from_ref(&b_id)
    );
    assert_eq!(
        found(enc(&format!("lt{b_at}"))).await,
        std::slice::from_ref(&a_id)
    );
    assert_eq!(
        found(enc(&format!("le{a_at}"))).await,
        std::slice::from_ref(&a_id)
    );
    assert_eq!(
        found(enc(&format!("ne{a_at}"))).await,
        std::slice::from_ref(&b_id)
    );
    assert_eq!(
        found(enc(&format!("{a_at},{b_at}"))).await,
        sorted(&[&a_id, &b_id])
    );
    // The same instant in another zone names the same moment.
    assert_eq!(
        found(enc(&at_offset(&a_at, 5))).await,
        std::slice::from_ref(&a_id)
    );
    assert_eq!(
        found(enc(&at_offset(&a_at, -7))).await,
        std::slice::from_ref(&a_id)
    );
    // Dates and years are periods; repeats must all hold.
    assert_eq!(found("ge2000".to_owned()).await, sorted(&[&a_id, &b_id]));
    assert!(found("lt2000".to_owned()).await.is_empty());
    assert_eq!(
        found(format!("ge2000&_lastUpdated={}", enc(&format!("lt{b_at}")))).await,
        std::slice::from_ref(&a_id)
    );
    // An update moves the record's lastUpdated on.
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let updated = fhir
        .call(
            Role::Registrar,
            "PUT",
            &format!("/Patient/{a_id}"),
            &[("if-match", "W/\"1\"")],
            Some(&a),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        found(enc(&format!("gt{b_at}"))).await,
        std::slice::from_ref(&a_id)
    );
    // The criterion stays in the paging links, and a bad value is refused.
    let answer = fhir
        .get(&format!(
            "/Patient?_lastUpdated={}",
            enc(&format!("gt{b_at}"))
        ))
        .await;
    assert!(
        self_link(&answer.body).contains("_lastUpdated="),
        "{}",
        answer.body
    );
    for bad in ["yesterday", "2026-12-06T10%3A00", "xx2026"] {
        let answer = fhir.get(&format!("/Patient?_lastUpdated={bad}")).await;
        assert_issue(&answer, 422, "error", "invalid");
    }
    fhir.check_all_received();
}
both_backends!(last_updated_compares_when_records_changed);

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
            assert_eq!(entry_ids(&answer.body), std::slice::from_ref(&a), "{q}");
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

fn pix_values(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = body["parameter"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            if p["name"] == "targetId" {
                format!(
                    "targetId {}",
                    p["valueReference"]["reference"]
                        .as_str()
                        .expect("reference")
                )
            } else {
                format!(
                    "{}|{}",
                    p["valueIdentifier"]["system"].as_str().expect("system"),
                    p["valueIdentifier"]["value"].as_str().expect("value")
                )
            }
        })
        .collect();
    out.sort();
    out
}

async fn ihe_pix_takes_a_logical_id_of_ours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);
    let base = format!("http://{}/fhir", app.server.addr);
    let a = id_of(
        &fhir
            .create(&patient_with(
                "Szymanska",
                "Jadwiga",
                &[(TEST_URL, "L-1"), (NID_URL, "LN-1")],
            ))
            .await,
    );
    let pix = |source: String, targets: &'static [&'static str]| {
        let fhir = &fhir;
        async move {
            let mut path = format!("/Patient/$ihe-pix?sourceIdentifier={}", enc(&source));
            for t in targets {
                path.push_str(&format!("&targetSystem={}", enc(t)));
            }
            fhir.get(&path).await
        }
    };
    // By its logical id: the person's identifiers, not the record named again.
    let by_id = pix(format!("{base}|Patient/{a}"), &[]).await;
    assert_eq!(by_id.status, 200, "{}", by_id.body);
    let values = pix_values(&by_id.body);
    assert!(values.contains(&format!("{TEST_URL}|L-1")), "{values:?}");
    assert!(values.contains(&format!("{NID_URL}|LN-1")), "{values:?}");
    assert!(
        !values.iter().any(|v| v.starts_with("targetId")),
        "{values:?}"
    );
    // The same as asking by a business identifier, but for that identifier and the record.
    let by_identifier = pix(format!("{TEST_URL}|L-1"), &[]).await;
    let mut expected: Vec<String> = pix_values(&by_identifier.body)
        .into_iter()
        .filter(|v| !v.starts_with("targetId"))
        .chain([format!("{TEST_URL}|L-1")])
        .collect();
    expected.sort();
    assert_eq!(values, expected);
    // targetSystem restricts it; a trailing slash on the base is the same base; POST too.
    let only_nid = pix(format!("{base}/|Patient/{a}"), &[NID_URL]).await;
    assert_eq!(only_nid.status, 200, "{}", only_nid.body);
    assert_eq!(pix_values(&only_nid.body), [format!("{NID_URL}|LN-1")]);
    let posted = post(
        &fhir,
        Role::Registrar,
        "/Patient/$ihe-pix",
        &json!({"resourceType": "Parameters", "parameter": [
            {"name": "sourceIdentifier", "valueIdentifier": {"system": base, "value": format!("Patient/{a}")}},
            {"name": "targetSystem", "valueUri": NID_URL}
        ]}),
    )
    .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert_eq!(pix_values(&posted.body), pix_values(&only_nid.body));

    // A record merged away answers with its survivor.
    let b = id_of(
        &fhir
            .create(&patient_with("Szymanska", "Jadwiga", &[(TEST_URL, "L-2")]))
            .await,
    );
    let merged = post(
        &fhir,
        Role::Steward,
        "/Patient/$merge",
        &json!({"resourceType": "Parameters", "parameter": [
            {"name": "source-patient", "valueReference": {"reference": format!("Patient/{b}")}},
            {"name": "target-patient", "valueReference": {"reference": format!("Patient/{a}")}}
        ]}),
    )
    .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    let retired = pix(format!("{base}|Patient/{b}"), &[]).await;
    assert_eq!(retired.status, 200, "{}", retired.body);
    let values = pix_values(&retired.body);
    assert!(
        values.contains(&format!("targetId Patient/{a}")),
        "{values:?}"
    );
    assert!(values.contains(&format!("{NID_URL}|LN-1")), "{values:?}");

    // Our base with anything but a Patient we hold: 404 not-found, as any unknown identifier.
    for value in [
        format!("Patient/{}", Uuid::new_v4()),
        "Patient/123".to_owned(),
        format!("RelatedPerson/{a}"),
    ] {
        let answer = pix(format!("{base}|{value}"), &[]).await;
        assert_issue(&answer, 404, "error", "not-found");
    }
    let c = id_of(
        &fhir
            .create(&patient_with("Szymanska", "Halina", &[(TEST_URL, "L-3")]))
            .await,
    );
    let deleted = fhir
        .call(Role::Admin, "DELETE", &format!("/Patient/{c}"), &[], None)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_issue(
        &pix(format!("{base}|Patient/{c}"), &[]).await,
        404,
        "error",
        "not-found",
    );
    // Another server's logical id is another domain: unknown here.
    assert_issue(
        &pix(format!("http://elsewhere.example/fhir|Patient/{b}"), &[]).await,
        400,
        "error",
        "code-invalid",
    );
    fhir.check_all_received();
}
both_backends!(ihe_pix_takes_a_logical_id_of_ours);

async fn conditional_update_refuses_another_records_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);
    let put = |identifier: String, body: Value| {
        let fhir = &fhir;
        async move {
            fhir.call(
                Role::Steward,
                "PUT",
                &format!("/Patient?identifier={}", enc(&identifier)),
                &[],
                Some(&body),
            )
            .await
        }
    };
    let key = format!("{TEST_URL}|M-1");
    let body = patient_with("Castellanos", "Rocio", &[(TEST_URL, "M-1")]);
    let created = put(key.clone(), body.clone()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = id_of(&created.body);

    // One match, another id: 400, and nothing changed.
    for other in [Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let mut wrong = body.clone();
        wrong["id"] = json!(other);
        wrong["name"][0]["given"] = json!(["Rosa"]);
        let answer = put(key.clone(), wrong).await;
        assert_issue(&answer, 400, "error", "invalid");
        assert_eq!(
            answer.body["issue"][0]["expression"][0], "Patient.id",
            "{}",
            answer.body
        );
    }
    let unchanged = fhir.get(&format!("/Patient/{id}")).await;
    assert_eq!(
        unchanged.body["meta"]["versionId"], "1",
        "{}",
        unchanged.body
    );
    assert_eq!(unchanged.body["name"][0]["given"][0], "Rocio");
    // Its own id (or none): updated.
    let mut same = body.clone();
    same["id"] = json!(id.clone());
    same["name"][0]["given"] = json!(["Rosa"]);
    let updated = put(key.clone(), same).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(id_of(&updated.body), id);
    assert_eq!(updated.body["meta"]["versionId"], "2");

    // No match: created under an id of the MPI's, whatever id the resource carries.
    let mut fresh = patient_with("Castellanos", "Iker", &[(TEST_URL, "M-2")]);
    let theirs = Uuid::new_v4().to_string();
    fresh["id"] = json!(theirs.clone());
    let made = put(format!("{TEST_URL}|M-2"), fresh).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let made_id = id_of(&made.body);
    assert_ne!(made_id, theirs);

    // A merge by conditional update checks the id the same way.
    let mut retire = patient_with("Castellanos", "Iker", &[(TEST_URL, "M-2")]);
    retire["active"] = json!(false);
    retire["link"] =
        json!([{"other": {"reference": format!("Patient/{id}")}, "type": "replaced-by"}]);
    retire["id"] = json!(id.clone());
    let refused = put(format!("{TEST_URL}|M-2"), retire.clone()).await;
    assert_issue(&refused, 400, "error", "invalid");
    assert_eq!(
        fhir.get(&format!("/Patient/{made_id}")).await.body["active"],
        true
    );
    retire["id"] = json!(made_id.clone());
    let merged = put(format!("{TEST_URL}|M-2"), retire).await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(merged.body["active"], false, "{}", merged.body);
    fhir.check_all_received();
}
both_backends!(conditional_update_refuses_another_records_id);

/// A Patient as Synthea writes it (US Core race and birth sex, DALY/QALY, geolocation on the
/// address, a maiden name, element ids, `_birthDate` with the birth time), and as PMIR and
/// newborn registrations send it: created, its data stored, its extensions ignored, since FHIR
/// R4 (2.5) says a resource should not be rejected merely for carrying extensions. The same
/// address with a `modifierExtension` is still refused, since that would change its meaning.
async fn extensions_on_any_element_are_accepted_and_modifiers_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let synthea = json!({
        "resourceType": "Patient",
        "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Generated by Synthea</div>"},
        "extension": [
            {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [
                {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3", "display": "White"}},
                {"url": "text", "valueString": "White"}]},
            {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "valueCode": "F"},
            {"url": "http://synthetichealth.github.io/synthea/quality-adjusted-life-years", "valueDecimal": 60.1}
        ],
        "identifier": [
            {"id": "mrn", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "extension": [{"url": "urn:x", "valueString": "y"}]}], "text": "Medical Record Number"},
             "system": "http://hospital.smarthealthit.org", "value": "b9c610cd-28a6-4636"},
            {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-65-4321",
             "extension": [{"url": "urn:x:verified", "valueBoolean": true}]}
        ],
        "name": [
            {"use": "official", "family": "Gleichner", "given": ["Jacinda"], "prefix": ["Mrs."],
             "extension": [{"url": "urn:x:source", "valueString": "desk"}]},
            {"use": "maiden", "family": "Smitham", "given": ["Jacinda"]}
        ],
        "telecom": [{"system": "phone", "value": "555-421-7361", "use": "home",
                     "extension": [{"url": "urn:x:verified", "valueBoolean": false}]}],
        "gender": "female",
        "_gender": {"extension": [{"url": "urn:x:source", "valueString": "self"}]},
        "birthDate": "1950-03-14",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1950-03-14T07:30:00-05:00"}]},
        "address": [{
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/geolocation", "extension": [
                {"url": "latitude", "valueDecimal": 42.35}, {"url": "longitude", "valueDecimal": -71.05}]}],
            "line": ["123 Main St"], "city": "Boston", "state": "MA", "postalCode": "02134", "country": "US",
            "period": {"start": "2001-01-01", "extension": [{"url": "urn:x", "valueString": "z"}]}
        }],
        "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "M"}], "text": "M"},
        "multipleBirthBoolean": false,
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-US", "display": "English"}], "text": "English"},
                           "extension": [{"url": "urn:x", "valueString": "w"}]}]
    });
    let created = fhir.create(&synthea).await;
    assert_eq!(created["name"][0]["family"], "Gleichner", "{created}");
    assert_eq!(created["birthDate"], "1950-03-14", "{created}");
    assert_eq!(created["address"][0]["city"], "Boston", "{created}");
    assert_eq!(created["telecom"][0]["value"], "555-421-7361", "{created}");
    let read = fhir.get(&format!("/Patient/{}", id_of(&created))).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(
        read.body["identifier"].as_array().map(Vec::len),
        Some(2),
        "{}",
        read.body
    );

    // A modifier extension changes what the address means: refused, naming it.
    let mut modified = synthea.clone();
    modified["identifier"] = json!([{"system": "urn:x:mrn", "value": "other-1"}]);
    modified["address"][0]["modifierExtension"] =
        json!([{"url": "urn:x:not-this-address", "valueBoolean": true}]);
    let refused = post(&fhir, Role::Registrar, "/Patient", &modified).await;
    assert_issue(&refused, 422, "error", "invalid");
    assert!(
        refused.body.to_string().contains("modifierExtension"),
        "{}",
        refused.body
    );
    fhir.check_all_received();
}
both_backends!(extensions_on_any_element_are_accepted_and_modifiers_refused);

/// `_summary=count` (and `_count=0`, which FHIR R4 reads the same) answers the total and no
/// entries, its self link saying so; another `_summary` is the resource as it is, or a 400 under
/// strict handling.
async fn summary_count_answers_the_total_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    for (given, mrn) in [("Orla", "SC-1"), ("Nuala", "SC-2")] {
        fhir.create(&fhir_person("Countess", given, "1966-06-06", mrn))
            .await;
    }
    fhir.create(&fhir_person("Elsewhere", "Orla", "1966-06-06", "SC-3"))
        .await;
    for query in [
        "/Patient?family=Countess&_summary=count",
        "/Patient?family=Countess&_count=0",
    ] {
        let answer = fhir.get(query).await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.body);
        assert_eq!(answer.body["resourceType"], "Bundle");
        assert_eq!(answer.body["total"], 2, "{query}: {}", answer.body);
        assert!(
            answer.body.get("entry").is_none(),
            "{query}: {}",
            answer.body
        );
        let self_link = self_link(&answer.body);
        assert!(
            self_link.ends_with("/Patient?family=Countess&_summary=count"),
            "{self_link}"
        );
    }
    let summary = fhir.get("/Patient?family=Countess&_summary=true").await;
    assert_eq!(summary.status, 200, "{}", summary.body);
    assert_eq!(summary.body["entry"].as_array().map(Vec::len), Some(2));
    let strict = fhir
        .raw(
            Some(Role::Registrar),
            "GET",
            "/Patient?family=Countess&_summary=data",
            &[("prefer", "handling=strict")],
            None,
        )
        .await;
    assert_issue(&strict, 400, "error", "structure");
    // A count needs a criterion as a search does.
    let empty = fhir.get("/Patient?_summary=count").await;
    assert_eq!(empty.status, 422, "{}", empty.body);
    fhir.check_all_received();
}
both_backends!(summary_count_answers_the_total_only);
