//! The OAuth 2.0 client-credentials token endpoint (`POST /auth/oauth2_token`) through the real
//! server, as the OpenHIE Client Registry FHIR test harness uses it: a token for a source
//! without a secret (identified by name, as on MLLP), with a secret right and wrong, by form and
//! by HTTP Basic; a token acts with its source's role and authority over identifier domains;
//! unknown clients, wrong grant types, malformed requests and expired tokens are refused.

use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;

use crate::app::TestApp;
use crate::both_backends;

const TEST_URL: &str = "http://ohie.org/test/test";
const NID_URL: &str = "http://ohie.org/test/nid";
const LAB_SECRET: &str = "a-long-shared-secret";
const FORM: &str = "application/x-www-form-urlencoded";

/// The suite's set-up (sources without secrets, each assigning one domain) and a source with a
/// secret.
const SETUP: &[&[&str]] = &[
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
        "sources",
        "add",
        "LAB",
        "--role",
        "registrar",
        "--secret",
        LAB_SECRET,
    ],
    &[
        "domains",
        "add",
        "TEST",
        "--oid",
        "2.16.840.1.113883.3.72.5.9.1",
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
        "2.16.840.1.113883.3.72.5.9.9",
        "--url",
        NID_URL,
        "--assigner",
        "NID_AUTH",
    ],
];

/// `POST path` with a raw body, a content type and extra headers; status, headers, JSON body.
async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(format!("http://{}{path}", app.server.addr))
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, headers, body)
}

/// A token request with this form body.
async fn token_request(app: &TestApp, form: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    post_raw(app, "/auth/oauth2_token", FORM, &[], form.to_owned()).await
}

/// The token of `client_id` (with `client_secret`), asserting success.
async fn token(app: &TestApp, client_id: &str, client_secret: &str) -> String {
    let (status, _, body) = token_request(
        app,
        &format!(
            "grant_type=client_credentials&scope=*&client_id={client_id}&client_secret={client_secret}"
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

fn fhir_patient(family: &str, system: &str, value: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "active": true,
        "identifier": [{"system": system, "value": value}],
        "name": [{"use": "official", "family": family, "given": ["Olly"]}],
        "gender": "male",
        "birthDate": "1983-02-05"
    })
}

async fn fhir_create(app: &TestApp, bearer: &str, patient: &Value) -> (u16, Value) {
    app.server
        .call(
            "POST",
            "/fhir/Patient",
            Some(bearer),
            &[("content-type", "application/fhir+json")],
            Some(patient),
        )
        .await
}

async fn a_token_acts_as_its_source(backend: Backend) {
    let app = TestApp::spawn_with(backend, SETUP, &["--unknown-domains", "reject"]).await;
    // The server counted the sources that have no secret when it started (by number: the
    // names are for `mpi sources list`, the log stays free of what messages carry).
    let log = app.server.wait_for_log("sources without a secret");
    let warning = log
        .lines()
        .find(|l| l.contains("sources without a secret"))
        .expect("warning line");
    let open = SETUP
        .iter()
        .filter(|args| args[..2] == ["sources", "add"] && !args.contains(&"--secret"))
        .count();
    assert!(
        warning.contains(&format!("sources_without_secret={open}")),
        "{open}: {warning}"
    );
    assert!(!warning.contains("TEST_HARNESS"), "{warning}");

    // As the suite asks: a source without a secret, with a client_secret it ignores.
    let (status, headers, body) = token_request(
        &app,
        "grant_type=client_credentials&scope=*&client_id=TEST_HARNESS&client_secret=TEST_HARNESS",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "steward");
    assert_eq!(headers["cache-control"], "no-store");
    let harness = body["access_token"].as_str().expect("token").to_owned();
    assert!(
        harness.starts_with("mpt_") && harness.len() == 68,
        "{harness}"
    );
    // Another token for the same client is another secret; the other address serves too.
    let (status, _, again) = post_raw(
        &app,
        "/oauth2/token",
        FORM,
        &[],
        "grant_type=client_credentials&client_id=TEST_HARNESS".into(),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["access_token"], body["access_token"]);

    // The token registers in the domain its source assigns, and is refused in another one.
    let (status, created) =
        fhir_create(&app, &harness, &fhir_patient("Oid", TEST_URL, "FHR-403")).await;
    assert_eq!(status, 201, "{created}");
    let (status, refused) = fhir_create(&app, &harness, &fhir_patient("Nid", NID_URL, "N-1")).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["resourceType"], "OperationOutcome", "{refused}");
    // Reads take the token too (the cached-key path of searches).
    let (status, found) = app
        .server
        .call(
            "GET",
            &format!("/fhir/Patient?identifier={TEST_URL}|FHR-403"),
            Some(&harness),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["entry"].as_array().map(Vec::len), Some(1), "{found}");

    // The NID authority's token registers in NID, not in TEST, and has a registrar's rights.
    let nid = token(&app, "NID_AUTH", "whatever").await;
    let (status, created) = fhir_create(&app, &nid, &fhir_patient("Nid", NID_URL, "N-1")).await;
    assert_eq!(status, 201, "{created}");
    let (status, refused) =
        fhir_create(&app, &nid, &fhir_patient("Oid", TEST_URL, "FHR-999")).await;
    assert_eq!(status, 403, "{refused}");
    let (status, _) = app
        .server
        .call("GET", "/api/v1/review-tasks", Some(&nid), &[], None)
        .await;
    assert_eq!(
        status, 403,
        "a registrar's token may not work the review queue"
    );
    let (status, queue) = app
        .server
        .call("GET", "/api/v1/review-tasks", Some(&harness), &[], None)
        .await;
    assert_eq!(status, 200, "a steward's token may: {queue}");

    // A source with a secret: by the form and by HTTP Basic.
    let lab = token(&app, "LAB", LAB_SECRET).await;
    let (status, _) = app
        .server
        .call("GET", "/api/v1/patients?family=Oid", Some(&lab), &[], None)
        .await;
    assert_eq!(status, 200);
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("LAB:{LAB_SECRET}")
        )
    );
    let (status, _, body) = post_raw(
        &app,
        "/auth/oauth2_token",
        FORM,
        &[("authorization", &basic)],
        "grant_type=client_credentials".into(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "registrar");

    // Issuance is audited with the source as the actor; no token or secret in the log.
    let (status, trail) = app
        .as_role(
            Role::Auditor,
            "GET",
            "/api/v1/audit?actor=TEST_HARNESS&entity_type=source",
            None,
        )
        .await;
    assert_eq!(status, 200, "{trail}");
    let issued = trail["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["action"] == "token.issue")
        .count();
    assert_eq!(issued, 2, "{trail}");
    let log = app.server.log();
    for secret in [harness.as_str(), nid.as_str(), lab.as_str(), LAB_SECRET] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}
both_backends!(a_token_acts_as_its_source);

async fn bad_requests_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, SETUP, &[]).await;
    let invalid_client = |status: u16, headers: &reqwest::header::HeaderMap, body: &Value| {
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client", "{body}");
        assert!(headers.contains_key("www-authenticate"), "{headers:?}");
    };
    // A source with a secret: the wrong one, or none, is refused; nothing echoed.
    for form in [
        "grant_type=client_credentials&client_id=LAB&client_secret=not-the-secret-at-all",
        "grant_type=client_credentials&client_id=LAB",
        "grant_type=client_credentials&client_id=NOBODY&client_secret=whatever-secret",
        "grant_type=client_credentials",
    ] {
        let (status, headers, body) = token_request(&app, form).await;
        invalid_client(status, &headers, &body);
        assert!(!body.to_string().contains("not-the-secret"), "{body}");
    }
    let wrong_basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "LAB:not-the-secret-at-all"
        )
    );
    let (status, headers, body) = post_raw(
        &app,
        "/auth/oauth2_token",
        FORM,
        &[("authorization", &wrong_basic)],
        "grant_type=client_credentials".into(),
    )
    .await;
    invalid_client(status, &headers, &body);
    // The right secret works.
    token(&app, "LAB", LAB_SECRET).await;

    // Grants and forms.
    let (status, _, body) = token_request(
        &app,
        "grant_type=password&client_id=LAB&client_secret=a-long-shared-secret",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    for form in [
        "client_id=LAB&client_secret=a-long-shared-secret",
        "grant_type=client_credentials&grant_type=client_credentials&client_id=LAB",
    ] {
        let (status, _, body) = token_request(&app, form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{form}"
        );
    }
    let (status, _, body) = post_raw(
        &app,
        "/auth/oauth2_token",
        "application/json",
        &[],
        json!({"grant_type": "client_credentials", "client_id": "LAB"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _, body) = token_request(
        &app,
        &format!(
            "grant_type=client_credentials&client_id=LAB&scope={}",
            "x".repeat(5000)
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("invalid_request"))
    );
    let (status, _) = app.server.get("/auth/oauth2_token").await;
    assert_eq!(status, 405);

    // A token this server never issued.
    let forged = format!("mpt_{}", "0".repeat(64));
    let (status, _) = app
        .server
        .call("GET", "/fhir/Patient?family=Oid", Some(&forged), &[], None)
        .await;
    assert_eq!(status, 401);

    // Refusals are audited (under the name the client gave).
    let (_, trail) = app
        .as_role(
            Role::Auditor,
            "GET",
            "/api/v1/audit?actor=LAB&entity_type=source",
            None,
        )
        .await;
    let refused = trail["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["action"] == "token.refuse")
        .count();
    assert_eq!(refused, 3, "{trail}");
}
both_backends!(bad_requests_are_refused);

async fn an_expired_token_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, SETUP, &["--token-ttl-secs", "1"]).await;
    let (status, _, body) = token_request(
        &app,
        "grant_type=client_credentials&scope=*&client_id=TEST_HARNESS",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 1);
    let bearer = body["access_token"].as_str().expect("token").to_owned();
    let (status, _) = app
        .server
        .call(
            "GET",
            "/api/v1/patients?family=Oid",
            Some(&bearer),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for path in ["/api/v1/patients?family=Oid", "/fhir/Patient?family=Oid"] {
        let (status, body) = app.server.call("GET", path, Some(&bearer), &[], None).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
}
both_backends!(an_expired_token_is_refused);
