//! Hostile and careless requests through the real server: none answers a 5xx or drops the
//! connection, and each error is in its API's shape (the JSON error body under `/api/v1`, an
//! OperationOutcome under `/fhir`), naming the field and never echoing the value.

use serde_json::{Value, json};
use service::context::Role;

use crate::app::{TestApp, person};
use crate::both_backends;

const OVERFLOW: &str = "9223372036854775808";

async fn hostile_requests_answer_4xx_in_the_apis_shape(backend: migration::testing::Backend) {
    let app = TestApp::spawn(backend).await;
    app.register_forced(&person("Hartley", "Imogen", "1984-07-19", "1001"))
        .await;

    // Page numbers that overflowed the offset, on every paginated route.
    for (role, method, path, body) in [
        (
            Role::Admin,
            "GET",
            format!("/api/v1/patients?family=Hartley&page={OVERFLOW}"),
            None,
        ),
        (
            Role::Admin,
            "POST",
            "/api/v1/patients/_search".to_owned(),
            Some(json!({"family": "Hartley", "page": 9_223_372_036_854_775_808u64})),
        ),
        (
            Role::Admin,
            "GET",
            format!("/api/v1/merges?page={OVERFLOW}&per_page=500"),
            None,
        ),
        (
            Role::Admin,
            "GET",
            format!("/api/v1/review-tasks?page={OVERFLOW}"),
            None,
        ),
        (
            Role::Auditor,
            "GET",
            format!("/api/v1/audit?page={OVERFLOW}"),
            None,
        ),
    ] {
        let (status, answer) = app.as_role(role, method, &path, body.as_ref()).await;
        assert_eq!(status, 422, "{backend:?} {path}: {answer}");
        assert_eq!(answer["field"], "page", "{path}: {answer}");
    }
    let (status, outcome) = app
        .admin(
            "GET",
            &format!("/fhir/Patient?family=Hartley&_page={OVERFLOW}"),
            None,
        )
        .await;
    assert_eq!(status, 422, "{backend:?}: {outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");

    // Control characters, over-long and over-many values, deceased_at alone.
    let mut nul = person("Hart\u{0}ley", "Imogen", "1984-07-19", "2001");
    let mut escape = person("Hartley", "Imogen", "1984-07-19", "2002");
    escape["addresses"][0]["lines"][0] = json!("12 Orchard Lane\u{1b}[2J");
    let mut long = person("Hartley", "Imogen", "1984-07-19", "2003");
    long["names"][0]["family"] = json!("H".repeat(80_000));
    let mut many = person("Hartley", "Imogen", "1984-07-19", "2004");
    many["identifiers"] = Value::Array(
        (0..3_000)
            .map(|i| json!({"system": "urn:test:mrn", "value": format!("M{i}")}))
            .collect(),
    );
    let mut deceased_at = person("Hartley", "Imogen", "1984-07-19", "2005");
    deceased_at["deceased_at"] = json!("2020-01-02T03:04:05Z");
    for (body, field) in [
        (&mut nul, "names[0].family"),
        (&mut escape, "addresses[0].lines[0]"),
        (&mut long, "names[0].family"),
        (&mut many, "identifiers"),
        (&mut deceased_at, "deceased_at"),
    ] {
        let (status, answer) = app
            .admin("POST", "/api/v1/patients?force=true", Some(body))
            .await;
        assert_eq!(status, 422, "{backend:?} {field}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
        assert!(!answer.to_string().contains("HHHH"), "the value is echoed");
    }
    let (status, answer) = app
        .admin("GET", "/api/v1/patients?family=Hart%00ley", None)
        .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (422, Some("family")),
        "{backend:?}: {answer}"
    );
    let (status, answer) = app
        .as_role(Role::Auditor, "GET", "/api/v1/audit?actor=x%00y", None)
        .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (422, Some("actor")),
        "{backend:?}: {answer}"
    );
    let (_, found) = app
        .admin("GET", "/api/v1/patients?family=Hartley", None)
        .await;
    assert_eq!(found["total"], 1, "nothing else was stored: {found}");

    // A `/fhir` body over its limit is an OperationOutcome, not text.
    let mut huge = json!({"resourceType": "Patient", "name": [{"family": "Hartley"}]});
    huge["name"][0]["given"] = json!(vec!["Imogen"; 40_000]);
    let response = app
        .server
        .call_raw(
            "POST",
            "/fhir/Patient",
            Some(app.key(Role::Admin)),
            &[("content-type", "application/fhir+json")],
            Some(&huge),
        )
        .await;
    assert_eq!(response.status().as_u16(), 413);
    let outcome: Value = response.json().await.expect("an OperationOutcome");
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
}
both_backends!(hostile_requests_answer_4xx_in_the_apis_shape);
