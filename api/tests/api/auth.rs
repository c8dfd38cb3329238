//! Bearer keys: 401 without a valid key, 403 for a role that may not, the `mpi keys` commands.

use entity::audit_event;
use migration::testing::{Backend, TestDb};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use service::context::Role;

use crate::app::{TestApp, person};
use crate::both_backends;
use crate::helpers::{ScratchDir, TestServer, run_mpi, run_mpi_ok};

/// Every authenticated endpoint with a request body good enough to pass the role check.
fn endpoints(patient: &str) -> Vec<(&'static str, String, Option<Value>)> {
    let unknown = uuid::Uuid::new_v4();
    vec![
        (
            "POST",
            "/api/v1/patients?force=true".to_owned(),
            Some(person("Role", "Check", "1970-01-01", "MRN-R")),
        ),
        ("GET", format!("/api/v1/patients/{patient}"), None),
        (
            "PUT",
            format!("/api/v1/patients/{unknown}"),
            Some(json!({"version": 1, "names": [{"family": "X"}]})),
        ),
        ("DELETE", format!("/api/v1/patients/{unknown}"), None),
        ("GET", "/api/v1/patients?family=Role".to_owned(), None),
        ("GET", format!("/api/v1/patients/{patient}/links"), None),
        (
            "POST",
            "/api/v1/match".to_owned(),
            Some(json!({"names": [{"family": "Role"}]})),
        ),
        (
            "POST",
            "/api/v1/merges".to_owned(),
            Some(json!({"target": unknown, "source": patient, "preview": true})),
        ),
        ("POST", format!("/api/v1/merges/{unknown}/undo"), None),
        (
            "POST",
            "/api/v1/links".to_owned(),
            Some(json!({"patient_id": patient, "other_patient_id": unknown, "type": "seealso"})),
        ),
        ("DELETE", format!("/api/v1/links/{unknown}"), None),
        ("GET", "/api/v1/review-tasks".to_owned(), None),
        ("GET", format!("/api/v1/review-tasks/{unknown}"), None),
        (
            "POST",
            format!("/api/v1/review-tasks/{unknown}/decision"),
            Some(json!({"action": "link"})),
        ),
        ("GET", "/api/v1/audit".to_owned(), None),
        ("GET", "/api/v1/audit/verify".to_owned(), None),
    ]
}

/// Whether `role` may call the endpoint at `index` of [`endpoints`].
fn allowed(role: Role, index: usize) -> bool {
    let registrar = index <= 6;
    let steward = index <= 13;
    let auditor = index >= 14;
    match role {
        Role::Admin => true,
        Role::Registrar => registrar,
        Role::Steward => steward,
        Role::Auditor => auditor,
    }
}

async fn keys_and_roles_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app
        .register_forced(&person("Matrix", "Ida", "1966-06-16", "MRN-1401"))
        .await;
    let patient = stored["id"].as_str().expect("id").to_owned();
    for (index, (method, path, body)) in endpoints(&patient).iter().enumerate() {
        let (status, answer) = app
            .server
            .call(method, path, None, &[], body.as_ref())
            .await;
        assert_eq!(status, 401, "{method} {path} without a key: {answer}");
        assert_eq!(answer["code"], "unauthorized");
        let (status, _) = app
            .server
            .call(
                method,
                path,
                Some("mpi_0123456789abcdef"),
                &[],
                body.as_ref(),
            )
            .await;
        assert_eq!(status, 401, "{method} {path} with an unknown key");
        let (status, _) = app
            .server
            .call(
                method,
                path,
                None,
                &[("Authorization", "Basic dXNlcjpwdw==")],
                body.as_ref(),
            )
            .await;
        assert_eq!(status, 401, "{method} {path} with basic auth");
        for role in Role::ALL {
            let (status, answer) = app.as_role(*role, method, path, body.as_ref()).await;
            if allowed(*role, index) {
                assert!(
                    status != 401 && status != 403 && status < 500,
                    "{role:?} {method} {path}: {status} {answer}"
                );
            } else {
                assert_eq!(status, 403, "{role:?} {method} {path}: {answer}");
                assert_eq!(answer["code"], "forbidden");
            }
        }
    }
    // Health, readiness and metrics need no key.
    for path in ["/health", "/ready"] {
        let (status, _) = app.server.get(path).await;
        assert_eq!(status, 200, "{path}");
    }
    let response = app
        .server
        .call_raw("GET", "/metrics", None, &[], None)
        .await;
    assert_eq!(response.status().as_u16(), 200);
}
both_backends!(keys_and_roles_matrix);

async fn keys_cli_create_list_revoke(backend: Backend) {
    let db = TestDb::empty(backend).await;
    let dir = ScratchDir::new();
    let url = db.url.as_str();
    let out = run_mpi_ok(
        &dir.path,
        &[
            "keys",
            "create",
            "--name",
            "ward-7",
            "--role",
            "steward",
            "--database-url",
            url,
        ],
    );
    let secret = out.lines().last().expect("a last line").trim().to_owned();
    assert!(secret.starts_with("mpi_"), "{out}");
    assert!(
        !out.lines()
            .take(out.lines().count() - 1)
            .any(|l| l.contains(&secret))
    );
    let refused = run_mpi(
        &dir.path,
        &[
            "keys",
            "create",
            "--name",
            "x",
            "--role",
            "janitor",
            "--database-url",
            url,
        ],
    );
    assert!(!refused.status.success());

    let server = TestServer::start(&dir.path, &["--database-url", url, "--workers", "1"]);
    let (status, body) = server
        .call("GET", "/api/v1/review-tasks", Some(&secret), &[], None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server
        .call("GET", "/api/v1/audit", Some(&secret), &[], None)
        .await;
    assert_eq!(status, 403);
    // The desk's hot paths: a lookup, a search and a match, each sent twice, so that the
    // second comes with the key from the server's cache.
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/patients?force=true",
            Some(&secret),
            &[],
            Some(&person("Revoke", "Check", "1970-01-01", "MRN-REV")),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let patient = body["id"].as_str().expect("an id").to_owned();
    let match_body = person("Revoke", "Check", "1970-01-01", "MRN-REV");
    let fhir_match = json!({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {
            "resourceType": "Patient",
            "name": [{"family": "Revoke", "given": ["Check"]}],
            "birthDate": "1970-01-01",
        }},
    ]});
    let reads = [
        ("GET", format!("/api/v1/patients/{patient}"), None),
        ("GET", "/api/v1/patients?family=Revoke".to_owned(), None),
        ("POST", "/api/v1/match".to_owned(), Some(&match_body)),
        ("GET", format!("/fhir/Patient/{patient}"), None),
        ("GET", "/fhir/Patient?family=Revoke".to_owned(), None),
        ("POST", "/fhir/Patient/$match".to_owned(), Some(&fhir_match)),
    ];
    for _ in 0..2 {
        for (method, path, body) in &reads {
            let (status, answer) = server.call(method, path, Some(&secret), &[], *body).await;
            assert_eq!(status, 200, "{method} {path}: {answer}");
        }
    }
    // Each of those twelve reads left its audit row.
    assert_eq!(reads_audited(&db, "ward-7").await, 12);

    let list = run_mpi_ok(&dir.path, &["keys", "list", "--database-url", url]);
    let line = list
        .lines()
        .find(|l| l.trim_start().starts_with("ward-7"))
        .unwrap_or_else(|| panic!("no ward-7 in {list}"));
    assert!(line.contains("steward"), "{line}");
    assert!(!list.contains(&secret));
    // A table: the header's columns start where the rows' do.
    let header = list.lines().next().expect("header");
    for column in ["role", "created", "last used", "revoked"] {
        let at = header
            .find(column)
            .unwrap_or_else(|| panic!("{column} in {header}"));
        assert!(at > 0 && line.len() > at, "{list}");
    }
    assert_eq!(
        line.find("steward"),
        header.find("role"),
        "columns aligned:\n{list}"
    );

    run_mpi_ok(
        &dir.path,
        &["keys", "revoke", "ward-7", "--database-url", url],
    );
    // The revocation's time is listed in the same format as the creation's.
    let list = run_mpi_ok(&dir.path, &["keys", "list", "--database-url", url]);
    let line = list
        .lines()
        .find(|l| l.trim_start().starts_with("ward-7"))
        .unwrap_or_else(|| panic!("no ward-7 in {list}"));
    // name, role, then created, last used (a time, or "-" if the use is not yet recorded) and
    // revoked, each "YYYY-MM-DD HH:MM:SS UTC".
    let words: Vec<&str> = line.split_whitespace().collect();
    let stamps: Vec<&[&str]> = words[2..]
        .split(|w| *w == "-")
        .flat_map(|run| run.chunks(3))
        .collect();
    assert!(
        stamps.len() == 3 || (stamps.len() == 2 && words.contains(&"-")),
        "{line}"
    );
    for stamp in stamps {
        assert_eq!(stamp.len(), 3, "{line}");
        assert!(
            chrono::NaiveDate::parse_from_str(stamp[0], "%Y-%m-%d").is_ok(),
            "{line}"
        );
        assert!(
            chrono::NaiveTime::parse_from_str(stamp[1], "%H:%M:%S").is_ok(),
            "{line}"
        );
        assert_eq!(stamp[2], "UTC", "{line}");
    }
    // Refused at once, on the cached paths too, and without an audit row.
    for (method, path, body) in &reads {
        let (status, answer) = server.call(method, path, Some(&secret), &[], *body).await;
        assert_eq!(status, 401, "{method} {path}: {answer}");
    }
    assert_eq!(reads_audited(&db, "ward-7").await, 12);
    let (status, body) = server
        .call("GET", "/api/v1/review-tasks", Some(&secret), &[], None)
        .await;
    assert_eq!(status, 401, "{body}");
    let gone = run_mpi(
        &dir.path,
        &["keys", "revoke", "nobody", "--database-url", url],
    );
    assert!(!gone.status.success());
}
both_backends!(keys_cli_create_list_revoke);

/// Audit rows of lookups, searches and matches by the key named `actor`.
async fn reads_audited(db: &TestDb, actor: &str) -> u64 {
    audit_event::Entity::find()
        .filter(audit_event::Column::Actor.eq(actor))
        .filter(audit_event::Column::Action.is_in(["read", "search", "match"]))
        .count(&db.conn)
        .await
        .expect("count audit rows")
}
