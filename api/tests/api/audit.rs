//! `/api/v1/audit`: reads and writes leave rows naming actor, role, request id, client and user
//! agent; the chain verifies, and a row altered behind the service's back is found.

use migration::testing::Backend;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use service::context::Role;

use crate::app::{TestApp, id_of, person};
use crate::both_backends;

async fn audit_rows_filters_and_tamper_detection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app
        .register_forced(&person("Kowalczyk", "Hanna", "1981-01-21", "MRN-1301"))
        .await;
    let id = id_of(&stored);
    let (status, _) = app
        .server
        .call(
            "GET",
            &format!("/api/v1/patients/{id}"),
            Some(app.key(Role::Registrar)),
            &[
                ("X-Request-Id", "req-audit-1"),
                ("User-Agent", "desk-client/2.1"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200);

    let (status, page) = app
        .as_role(
            Role::Auditor,
            "GET",
            &format!("/api/v1/audit?entity_type=patient&entity_id={id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let rows = page["items"].as_array().expect("items");
    let read = rows
        .iter()
        .find(|r| r["action"] == "read")
        .unwrap_or_else(|| panic!("no read row: {page}"));
    assert_eq!(read["actor"], "registrar");
    assert_eq!(read["role"], "registrar");
    assert_eq!(read["request_id"], "req-audit-1");
    assert_eq!(read["user_agent"], "desk-client/2.1");
    assert_eq!(read["client_addr"], "127.0.0.1");
    let created = rows
        .iter()
        .find(|r| {
            r["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("create"))
        })
        .unwrap_or_else(|| panic!("no create row: {page}"));
    assert_eq!(created["actor"], "admin");
    // Without X-Request-Id the row carries the id the request's log line carries.
    assert!(
        created["request_id"]
            .as_str()
            .is_some_and(|r| uuid::Uuid::parse_str(r).is_ok()),
        "{created}"
    );
    // Patient images are left out unless asked for.
    assert!(created["after"].is_null(), "{created}");
    let (status, with_images) = app
        .as_role(
            Role::Auditor,
            "GET",
            &format!("/api/v1/audit?entity_type=patient&entity_id={id}&include=images"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{with_images}");
    assert!(
        with_images["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|r| r["after"].is_object()),
        "{with_images}"
    );
    let (status, bad) = app
        .as_role(
            Role::Auditor,
            "GET",
            "/api/v1/audit?include=everything",
            None,
        )
        .await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (422, Some("include")),
        "{bad}"
    );
    // Both reads of the trail are audited with their filters, and the one with images as a
    // read of the patient.
    let (_, own) = app
        .as_role(
            Role::Auditor,
            "GET",
            "/api/v1/audit?actor=auditor&include=images",
            None,
        )
        .await;
    let own = own["items"].as_array().expect("items");
    let trail_reads: Vec<&Value> = own.iter().filter(|r| r["action"] == "audit_read").collect();
    // Newest first: the read with images, then the one without (a refused read reads nothing).
    assert_eq!(trail_reads.len(), 2, "{own:?}");
    assert_eq!(trail_reads[0]["before"]["include_images"], true, "{own:?}");
    assert_eq!(
        trail_reads[0]["before"]["entity_id"],
        id.as_str(),
        "{own:?}"
    );
    assert_eq!(trail_reads[1]["before"]["include_images"], false, "{own:?}");
    assert!(
        own.iter().any(|r| r["action"] == "read"
            && r["entity_type"] == "patient"
            && r["entity_id"] == id.as_str()),
        "{own:?}"
    );

    let (_, by_actor) = app
        .as_role(Role::Auditor, "GET", "/api/v1/audit?actor=registrar", None)
        .await;
    assert!(
        by_actor["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|r| r["actor"] == "registrar"),
        "{by_actor}"
    );
    let (_, future) = app
        .as_role(
            Role::Auditor,
            "GET",
            "/api/v1/audit?from=2999-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(future["total"], 0, "{future}");
    let (status, bad) = app
        .as_role(Role::Auditor, "GET", "/api/v1/audit?from=yesterday", None)
        .await;
    assert_eq!(status, 400, "{bad}");

    let (status, report) = app
        .as_role(Role::Auditor, "GET", "/api/v1/audit/verify", None)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["first_broken_seq"].is_null());
    let total = report["rows"].as_u64().expect("rows");
    assert!(total >= 2, "{report}");

    // Alter the read row behind the service's back.
    let seq = read["seq"].as_i64().expect("seq");
    let conn = &app.db.conn;
    match backend {
        Backend::Sqlite => {
            conn.execute_unprepared("DROP TRIGGER trg_audit_event_no_update")
                .await
                .expect("drop trigger");
        }
        Backend::Postgres => {
            conn.execute_unprepared("ALTER TABLE audit_event DISABLE TRIGGER USER")
                .await
                .expect("disable triggers");
        }
    }
    conn.execute_unprepared(&format!(
        "UPDATE audit_event SET actor = 'someone-else' WHERE seq = {seq}"
    ))
    .await
    .expect("tamper");
    let (status, report): (u16, Value) = app
        .as_role(Role::Auditor, "GET", "/api/v1/audit/verify", None)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_broken_seq"], seq, "{report}");
    assert_eq!(report["broken_count"], 1, "{report}");
    assert_eq!(report["broken"][0]["seq"], seq, "{report}");
    assert_eq!(report["broken"][0]["hash_mismatch"], true, "{report}");
    assert!(
        report["rows"].as_u64().unwrap() >= total,
        "every row is checked: {report}"
    );
}
both_backends!(audit_rows_filters_and_tamper_detection);
