//! `GET /metrics`: Prometheus text with request, match, review queue, merge, undo and index
//! metrics, labelled by route pattern and never by patient data.

use migration::testing::Backend;
use serde_json::json;
use service::context::Role;

use crate::app::{TestApp, id_of, person};
use crate::both_backends;

async fn metrics_name_every_family_without_patient_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app
        .register_forced(&person("Zabriskie", "Oona", "1977-07-07", "MRN-1501"))
        .await;
    let b = app
        .register_forced(&person("Zabriskie", "Oona", "1977-07-07", "MRN-1502"))
        .await;
    let (status, _) = app
        .as_role(
            Role::Registrar,
            "GET",
            &format!("/api/v1/patients/{}", id_of(&a)),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .admin(
            "POST",
            "/api/v1/match",
            Some(&json!({"names": [{"family": "Zabriskie", "given": ["Oona"]}], "birth_date": "1977-07-07"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, merged) = app
        .admin(
            "POST",
            "/api/v1/merges",
            Some(&json!({"target": id_of(&a), "source": id_of(&b)})),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    let merge_id = merged["merge_id"].as_str().expect("merge_id");
    let (status, _) = app
        .admin("POST", &format!("/api/v1/merges/{merge_id}/undo"), None)
        .await;
    assert_eq!(status, 200);

    let response = app
        .server
        .call_raw("GET", "/metrics", None, &[], None)
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("content type")
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("body");
    for name in [
        "mpi_http_requests_total",
        "mpi_http_request_duration_seconds_bucket",
        "mpi_match_duration_seconds_count 1",
        "mpi_match_candidates_count 1",
        "mpi_review_queue_depth",
        "mpi_merges_total 1",
        "mpi_merge_undos_total 1",
        "mpi_index_size 2",
    ] {
        assert!(text.contains(name), "no {name:?} in\n{text}");
    }
    assert!(
        text.contains(
            r#"mpi_http_requests_total{method="GET",route="/api/v1/patients/{id}",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains(&id_of(&a)), "a patient id in metrics");
    assert!(!text.contains("Zabriskie"));
}
both_backends!(metrics_name_every_family_without_patient_data);
