//! The OAuth 2.0 client-credentials token endpoint (`POST /auth/oauth2_token`) through the real
//! server, as the OpenHIE Client Registry FHIR test harness uses it: a token for a source
//! without a secret (identified by name, as on MLLP), with a secret right and wrong, by form and
//! by HTTP Basic; a token acts with its source's role and authority over identifier domains;
//! unknown clients, wrong grant types, malformed requests and expired tokens are refused.
//! Revocation (`POST /auth/oauth2_revoke`, RFC 7009): a client revokes its own token (401 on
//! /fhir and /api/v1 at once), not another's; unknown tokens answer 200; every outcome is
//! audited; a source removed by `mpi sources remove` or whose secret changed in the database
//! loses its tokens within the catch-up interval.

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

/// `POST path` with a raw body, a content type and extra headers; status, headers, JSON body
/// (`null` when the body is empty).
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
    if text.is_empty() {
        return (status, headers, Value::Null);
    }
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

/// A revocation request with this form body and extra headers.
async fn revoke_request(
    app: &TestApp,
    form: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    post_raw(app, "/auth/oauth2_revoke", FORM, headers, form.to_owned()).await
}

/// The status `bearer` gets on a FHIR search and on a REST search.
async fn statuses_with(app: &TestApp, bearer: &str) -> [u16; 2] {
    let mut out = [0; 2];
    for (i, path) in ["/fhir/Patient?family=Oid", "/api/v1/patients?family=Oid"]
        .iter()
        .enumerate()
    {
        out[i] = app
            .server
            .call("GET", path, Some(bearer), &[], None)
            .await
            .0;
    }
    out
}

/// The `token.revoke` audit rows acting as `actor`: their outcomes, sorted.
async fn revocations(app: &TestApp, actor: &str) -> Vec<String> {
    let (status, trail) = app
        .as_role(
            Role::Auditor,
            "GET",
            &format!("/api/v1/audit?actor={actor}&entity_type=source&include=images&per_page=500"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{trail}");
    let mut outcomes: Vec<String> = trail["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["action"] == "token.revoke")
        .map(|r| r.to_string())
        .collect();
    outcomes.sort();
    outcomes
}

async fn a_client_revokes_its_own_tokens(backend: Backend) {
    let app = TestApp::spawn_with(backend, SETUP, &[]).await;
    let harness = token(&app, "TEST_HARNESS", "TEST_HARNESS").await;
    let lab = token(&app, "LAB", LAB_SECRET).await;
    let lab_again = token(&app, "LAB", LAB_SECRET).await;
    for bearer in [&harness, &lab, &lab_again] {
        assert_eq!(statuses_with(&app, bearer).await, [200, 200]);
    }
    let lab_form = |token: &str| format!("token={token}&client_id=LAB&client_secret={LAB_SECRET}");

    // Another client's token: refused, and it keeps working.
    let (status, headers, body) = revoke_request(&app, &lab_form(&harness), &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(statuses_with(&app, &harness).await, [200, 200]);

    // Client authentication as at the token endpoint: a wrong secret, or none, is 401.
    for form in [
        format!("token={lab}&client_id=LAB&client_secret=not-the-secret-at-all"),
        format!("token={lab}&client_id=LAB"),
        format!("token={lab}"),
    ] {
        let (status, headers, body) = revoke_request(&app, &form, &[]).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client", "{body}");
        assert!(headers.contains_key("www-authenticate"), "{headers:?}");
    }
    assert_eq!(statuses_with(&app, &lab).await, [200, 200]);

    // Malformed requests: 400 invalid_request, never a 5xx; nothing revoked.
    for form in [
        format!("client_id=LAB&client_secret={LAB_SECRET}"),
        format!("token=&client_id=LAB&client_secret={LAB_SECRET}"),
        format!("token={lab}&token={lab}&client_id=LAB&client_secret={LAB_SECRET}"),
    ] {
        let (status, _, body) = revoke_request(&app, &form, &[]).await;
        assert_eq!(status, 400, "{form}: {body}");
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
    let (status, _, body) = post_raw(
        &app,
        "/auth/oauth2_revoke",
        "application/json",
        &[],
        format!("{{\"token\":\"{lab}\"}}"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = revoke_request(
        &app,
        &format!("{}&pad={}", lab_form(&lab), "x".repeat(5000)),
        &[],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(statuses_with(&app, &lab).await, [200, 200]);

    // Its own token, with a hint: 200 with no body, and the token answers 401 at once, on
    // both faces; the client's other token still works.
    let (status, headers, body) = revoke_request(
        &app,
        &format!("{}&token_type_hint=access_token", lab_form(&lab)),
        &[],
    )
    .await;
    assert_eq!((status, &body), (200, &Value::Null));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(statuses_with(&app, &lab).await, [401, 401]);
    assert_eq!(statuses_with(&app, &lab_again).await, [200, 200]);

    // Revoked already, or never a token: 200 all the same (RFC 7009 §2.2).
    for unknown in [lab.as_str(), "mpt_00", "not-a-token"] {
        let (status, _, body) = revoke_request(&app, &lab_form(unknown), &[]).await;
        assert_eq!(status, 200, "{body}");
    }

    // By HTTP Basic, as a source without a secret.
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "TEST_HARNESS:TEST_HARNESS"
        )
    );
    let (status, _, body) = revoke_request(
        &app,
        &format!("token={harness}"),
        &[("authorization", basic.as_str())],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(statuses_with(&app, &harness).await, [401, 401]);

    // Every outcome audited as the client, never the token; the refusals as token.refuse.
    let lab_rows = revocations(&app, "LAB").await;
    let count = |rows: &[String], outcome: &str| {
        rows.iter()
            .filter(|r| r.contains(&format!("\"outcome\":\"{outcome}\"")))
            .count()
    };
    assert_eq!(lab_rows.len(), 5, "{lab_rows:#?}");
    assert_eq!(count(&lab_rows, "refused_not_own_token"), 1);
    assert_eq!(count(&lab_rows, "revoked"), 1);
    assert_eq!(count(&lab_rows, "unknown_token"), 3);
    let harness_rows = revocations(&app, "TEST_HARNESS").await;
    assert_eq!(count(&harness_rows, "revoked"), 1, "{harness_rows:#?}");
    let (_, trail) = app
        .as_role(
            Role::Auditor,
            "GET",
            "/api/v1/audit?actor=LAB&entity_type=source&include=images&per_page=500",
            None,
        )
        .await;
    let refused = trail["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["action"] == "token.refuse")
        .count();
    assert_eq!(refused, 2, "{trail}");
    let text = trail.to_string();
    let log = app.server.log();
    for secret in [
        harness.as_str(),
        lab.as_str(),
        lab_again.as_str(),
        LAB_SECRET,
    ] {
        assert!(!text.contains(secret), "a secret reached the audit trail");
        assert!(!log.contains(secret), "a secret reached the log");
    }
}
both_backends!(a_client_revokes_its_own_tokens);

/// Waits (up to 10 s) until `bearer` answers 401 on both faces.
async fn wait_until_refused(app: &TestApp, bearer: &str, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let statuses = statuses_with(app, bearer).await;
        if statuses == [401, 401] {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: the token still answers {statuses:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn tokens_end_with_their_source_or_its_secret(backend: Backend) {
    let app = TestApp::spawn_with(backend, SETUP, &[]).await;
    let dir = crate::helpers::ScratchDir::new();
    let url = app.db.url.clone();
    let lab = token(&app, "LAB", LAB_SECRET).await;
    let harness = token(&app, "TEST_HARNESS", "TEST_HARNESS").await;
    assert_eq!(statuses_with(&app, &lab).await, [200, 200]);

    // The secret changed in the database (by another tool): the token issued against the old
    // secret stops working within the catch-up interval; the new secret gets a new one.
    const NEW_SECRET: &str = "another-long-shared-secret";
    {
        use sea_orm::{ConnectionTrait, Statement};
        let conn = &app.db.conn;
        let sql = match conn.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                "UPDATE source SET secret_hash = $1 WHERE name = 'LAB'"
            }
            _ => "UPDATE source SET secret_hash = ? WHERE name = 'LAB'",
        };
        conn.execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            sql,
            [service::keys::hash_secret(NEW_SECRET).into()],
        ))
        .await
        .expect("change the secret");
    }
    wait_until_refused(&app, &lab, "after the secret changed").await;
    let lab = token(&app, "LAB", NEW_SECRET).await;
    assert_eq!(statuses_with(&app, &lab).await, [200, 200]);

    // Removed by `mpi sources remove` (another process): its token stops working; added back
    // under the same name with the same secret, the old token stays dead.
    crate::helpers::run_mpi_ok(
        &dir.path,
        &["sources", "remove", "LAB", "--database-url", &url],
    );
    wait_until_refused(&app, &lab, "after the source was removed").await;
    crate::helpers::run_mpi_ok(
        &dir.path,
        &[
            "sources",
            "add",
            "LAB",
            "--role",
            "registrar",
            "--secret",
            NEW_SECRET,
            "--database-url",
            &url,
        ],
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(statuses_with(&app, &lab).await, [401, 401]);
    let fresh = token(&app, "LAB", NEW_SECRET).await;
    assert_eq!(statuses_with(&app, &fresh).await, [200, 200]);
    // Another source's token is untouched.
    assert_eq!(statuses_with(&app, &harness).await, [200, 200]);

    // Each forgetting is audited (`token.revoke`, the count; never the token).
    let (status, trail) = app
        .as_role(
            Role::Auditor,
            "GET",
            "/api/v1/audit?entity_type=source&include=images&per_page=500",
            None,
        )
        .await;
    assert_eq!(status, 200, "{trail}");
    let forgotten: Vec<&Value> = trail["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| {
            r["action"] == "token.revoke" && r.to_string().contains("source_removed_or_changed")
        })
        .collect();
    assert_eq!(forgotten.len(), 2, "{trail}");
    assert!(
        !trail.to_string().contains(&lab),
        "a token reached the audit trail"
    );
}
both_backends!(tokens_end_with_their_source_or_its_secret);
