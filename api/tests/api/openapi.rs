//! The generated OpenAPI document and the Swagger UI served from the binary (no network).

use std::collections::HashSet;

use crate::helpers::{ScratchDir, TestServer};

#[tokio::test]
async fn openapi_document_covers_every_route_and_swagger_ui_is_served_offline() {
    let dir = ScratchDir::new();
    let server = TestServer::start(&dir.path, &["--workers", "1"]);
    let (status, doc) = server.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200, "{doc}");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    let expected = [
        ("/api/v1/patients", vec!["post", "get"]),
        ("/api/v1/patients/{id}", vec!["get", "put", "delete"]),
        ("/api/v1/patients/{id}/links", vec!["get"]),
        ("/api/v1/match", vec!["post"]),
        ("/api/v1/merges", vec!["post", "get"]),
        ("/api/v1/patients/_search", vec!["post"]),
        ("/api/v1/merges/{id}/undo", vec!["post"]),
        ("/api/v1/links", vec!["post"]),
        ("/api/v1/links/{id}", vec!["delete"]),
        ("/api/v1/review-tasks", vec!["get"]),
        ("/api/v1/review-tasks/{id}", vec!["get"]),
        ("/api/v1/review-tasks/{id}/decision", vec!["post"]),
        ("/api/v1/audit", vec!["get"]),
        ("/api/v1/audit/verify", vec!["get"]),
        ("/health", vec!["get"]),
        ("/ready", vec!["get"]),
        ("/metrics", vec!["get"]),
    ];
    let mut operation_ids = HashSet::new();
    for (path, methods) in expected {
        for method in methods {
            let operation = &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method];
            assert!(operation.is_object(), "{method} {path} missing");
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(
                operation_ids.insert(id.to_owned()),
                "duplicate operationId {id}"
            );
            if path.starts_with("/api/v1") {
                // Every status the server can answer is documented.
                let mut statuses = vec!["400", "401", "403", "408", "422", "500", "503"];
                if operation["requestBody"].is_object() {
                    statuses.extend(["413", "415"]);
                }
                for status in statuses {
                    assert!(
                        operation["responses"][status].is_object(),
                        "{method} {path} lacks {status}"
                    );
                }
            }
            let open = operation["security"] == serde_json::json!([{}]);
            assert_eq!(
                open,
                !path.starts_with("/api/v1"),
                "{method} {path} security"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer_key"]["scheme"],
        "bearer"
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let patient = &schemas["PatientDto"]["properties"];
    for field in [
        "id",
        "person_id",
        "active",
        "gender",
        "birth_date",
        "names",
        "identifiers",
        "addresses",
        "telecoms",
        "links",
        "version",
        "replaced_by",
    ] {
        assert!(patient[field].is_object(), "PatientDto.{field} missing");
    }
    assert!(schemas["NameDto"]["properties"]["use"].is_object());
    assert!(schemas["ErrorBody"]["properties"]["field"].is_object());

    let response = server
        .call_raw("GET", "/api/v1/docs/", None, &[], None)
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains("Swagger UI"), "{html}");
    let response = server
        .call_raw("GET", "/api/v1/docs/swagger-ui-bundle.js", None, &[], None)
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let js = response.text().await.expect("js");
    assert!(
        js.len() > 100_000,
        "the bundled Swagger UI is {} bytes",
        js.len()
    );
    let response = server
        .call_raw(
            "GET",
            "/api/v1/docs/swagger-initializer.js",
            None,
            &[],
            None,
        )
        .await;
    let init: String = response.text().await.expect("js");
    assert!(init.contains("/api/v1/openapi.json"), "{init}");

    // Typed without the slash, the address leads to the UI (a client that does not follow).
    let no_follow = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let response = no_follow
        .get(format!("http://{}/api/v1/docs", server.addr))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers()["location"], "/api/v1/docs/");
    // A following client lands on the UI itself.
    let response = server
        .call_raw("GET", "/api/v1/docs", None, &[], None)
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.expect("html").contains("Swagger UI"));
}
