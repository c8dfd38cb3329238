//! `/api/v1/patients`: registration with the duplicate check, read, update with optimistic
//! concurrency, soft delete, search, and the error bodies of bad input.

use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;

use crate::app::{TestApp, id_of, person};
use crate::both_backends;

async fn register_read_update_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = person("Hartley", "Imogen", "1984-07-19", "MRN-1001");
    let (status, stored) = app
        .as_role(Role::Registrar, "POST", "/api/v1/patients", Some(&body))
        .await;
    assert_eq!(status, 201, "{stored}");
    let id = id_of(&stored);
    assert_eq!(stored["version"], 1);
    assert_eq!(stored["active"], true);
    assert_eq!(stored["gender"], "female");
    assert_eq!(stored["birth_date"], "1984-07-19");
    assert_eq!(stored["names"][0]["family"], "Hartley");
    assert_eq!(stored["names"][0]["given"], json!(["Imogen"]));
    assert_eq!(stored["names"][0]["use"], "official");
    assert_eq!(stored["identifiers"][0]["system"], "urn:test:mrn");
    assert_eq!(stored["identifiers"][0]["value"], "MRN-1001");
    assert_eq!(stored["identifiers"][0]["type"], "MR");
    assert_eq!(stored["addresses"][0]["postal_code"], "EX4 4QJ");
    assert_eq!(stored["addresses"][0]["lines"], json!(["12 Orchard Lane"]));
    assert_eq!(stored["telecoms"][0]["system"], "phone");
    assert!(stored["person_id"].is_string());
    assert_eq!(stored["links"], json!([]));

    let response = app
        .server
        .call_raw(
            "GET",
            &format!("/api/v1/patients/{id}"),
            Some(app.key(Role::Registrar)),
            &[],
            None,
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let read: Value = response.json().await.expect("JSON");
    let mut created = stored.clone();
    created
        .as_object_mut()
        .expect("object")
        .remove("review_task_ids");
    assert_eq!(read, created);

    // Update with If-Match: the version goes up; a stale If-Match is 412.
    let mut changed = body.clone();
    changed["names"][0]["family"] = json!("Hartley-Stone");
    changed["addresses"][0]["postal_code"] = json!("EX1 1AA");
    let (status, updated) = app
        .server
        .call(
            "PUT",
            &format!("/api/v1/patients/{id}"),
            Some(app.key(Role::Registrar)),
            &[("If-Match", "\"1\"")],
            Some(&changed),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["names"][0]["family"], "Hartley-Stone");
    assert_eq!(updated["addresses"][0]["postal_code"], "EX1 1AA");
    let (status, stale) = app
        .server
        .call(
            "PUT",
            &format!("/api/v1/patients/{id}"),
            Some(app.key(Role::Registrar)),
            &[("If-Match", "\"1\"")],
            Some(&changed),
        )
        .await;
    assert_eq!(status, 412, "{stale}");
    assert_eq!(stale["code"], "version_mismatch");

    // The version may come in the body instead; without any version the update is refused.
    let mut with_version = changed.clone();
    with_version["version"] = json!(2);
    with_version["gender"] = json!("other");
    let (status, updated) = app
        .admin(
            "PUT",
            &format!("/api/v1/patients/{id}"),
            Some(&with_version),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 3);
    assert_eq!(updated["gender"], "other");
    let (status, stale) = app
        .admin(
            "PUT",
            &format!("/api/v1/patients/{id}"),
            Some(&with_version),
        )
        .await;
    assert_eq!(status, 412, "{stale}");
    let (status, missing) = app
        .admin("PUT", &format!("/api/v1/patients/{id}"), Some(&changed))
        .await;
    assert_eq!(status, 422, "{missing}");
    assert_eq!(missing["field"], "version");

    // Soft delete: gone for reads, updates and searches.
    let (status, _) = app
        .as_role(
            Role::Registrar,
            "DELETE",
            &format!("/api/v1/patients/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, gone) = app
        .admin("GET", &format!("/api/v1/patients/{id}"), None)
        .await;
    assert_eq!(status, 404, "{gone}");
    assert_eq!(gone["code"], "not_found");
    let (status, found) = app
        .admin(
            "GET",
            "/api/v1/patients?identifier=urn:test:mrn|MRN-1001",
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["total"], 0);
}
both_backends!(register_read_update_delete);

async fn duplicate_check_warns_then_force_registers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app
        .register_forced(&person("Okonkwo", "Adaeze", "1990-03-02", "MRN-2001"))
        .await;
    // Same person, new MRN (a second registration at another desk).
    let again = person("Okonkwo", "Adaeze", "1990-03-02", "MRN-2002");
    let (status, warning) = app
        .as_role(Role::Registrar, "POST", "/api/v1/patients", Some(&again))
        .await;
    assert_eq!(status, 409, "{warning}");
    assert_eq!(warning["code"], "duplicates_found");
    let candidates = warning["candidates"].as_array().expect("candidates");
    assert_eq!(candidates[0]["patient_id"], first["id"]);
    assert!(matches!(
        candidates[0]["grade"].as_str(),
        Some("certain" | "probable")
    ));
    assert!(candidates[0]["probability"].as_f64().expect("probability") > 0.5);
    assert!(candidates[0]["match_weight"].is_number());
    assert!(
        !candidates[0]["explanation"]["comparisons"]
            .as_array()
            .expect("comparisons")
            .is_empty()
    );
    // Nothing was stored.
    let (_, found) = app
        .admin(
            "GET",
            "/api/v1/patients?identifier=urn:test:mrn|MRN-2002",
            None,
        )
        .await;
    assert_eq!(found["total"], 0, "{found}");

    // force=true (query) stores it and leaves the pair for a steward.
    let (status, forced) = app
        .as_role(
            Role::Registrar,
            "POST",
            "/api/v1/patients?force=true",
            Some(&again),
        )
        .await;
    assert_eq!(status, 201, "{forced}");
    assert!(
        !forced["review_task_ids"]
            .as_array()
            .expect("review task ids")
            .is_empty()
    );
    // The body flag works too.
    let mut third = person("Okonkwo", "Adaeze", "1990-03-02", "MRN-2003");
    third["force"] = json!(true);
    let (status, forced) = app
        .as_role(Role::Registrar, "POST", "/api/v1/patients", Some(&third))
        .await;
    assert_eq!(status, 201, "{forced}");
    let (_, found) = app
        .admin("GET", "/api/v1/patients?family=Okonkwo&per_page=10", None)
        .await;
    assert_eq!(found["total"], 3, "{found}");
}
both_backends!(duplicate_check_warns_then_force_registers);

/// The 409's advice works when followed: with a fresh identifier, the same request with
/// `force=true`; with an identifier the candidate holds, the answer names it, says that forcing
/// needs it removed, and forcing without it succeeds.
async fn duplicates_found_advice_works_when_followed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app
        .register_forced(&person("O'Connell", "Siobhán", "1971-05-09", "MRN-5001"))
        .await;

    // A fresh identifier: "resend the same request with force=true".
    let fresh = person("O'Connell", "Siobhán", "1971-05-09", "MRN-5002");
    let (status, warning) = app
        .as_role(Role::Registrar, "POST", "/api/v1/patients", Some(&fresh))
        .await;
    assert_eq!(status, 409, "{warning}");
    assert_eq!(warning["code"], "duplicates_found");
    assert_eq!(warning["held_identifiers"], json!([]));
    let message = warning["message"].as_str().expect("message");
    assert!(
        message.contains("resend the same request with force=true"),
        "{message}"
    );
    let (status, forced) = app
        .as_role(
            Role::Registrar,
            "POST",
            "/api/v1/patients?force=true",
            Some(&fresh),
        )
        .await;
    assert_eq!(status, 201, "{forced}");

    // The same identifier as the first record: forcing alone cannot work, and the answer says so.
    let same = person("O'Connell", "Siobhán", "1971-05-09", "MRN-5001");
    let (status, warning) = app
        .as_role(Role::Registrar, "POST", "/api/v1/patients", Some(&same))
        .await;
    assert_eq!(status, 409, "{warning}");
    assert_eq!(warning["code"], "duplicates_found");
    assert_eq!(
        warning["held_identifiers"],
        json!([{"field": "identifiers[0]", "patient_id": first["id"]}])
    );
    let message = warning["message"].as_str().expect("message");
    assert!(message.contains("identifiers[0]"), "{message}");
    assert!(message.contains("removing or correcting"), "{message}");
    assert!(
        !message.contains("MRN-5001"),
        "the value is never echoed: {message}"
    );
    // What the old advice led to: the same body forced is refused on the identifier.
    let (status, refused) = app
        .as_role(
            Role::Registrar,
            "POST",
            "/api/v1/patients?force=true",
            Some(&same),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "duplicate_identifier");
    // Following the advice: without that identifier, forcing registers.
    let mut without = same.clone();
    without["identifiers"] = json!([]);
    let (status, forced) = app
        .as_role(
            Role::Registrar,
            "POST",
            "/api/v1/patients?force=true",
            Some(&without),
        )
        .await;
    assert_eq!(status, 201, "{forced}");
}
both_backends!(duplicates_found_advice_works_when_followed);

async fn search_by_name_birth_date_identifier_postal_code_with_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app
        .register_forced(&person("Lindqvist", "Sofia", "1975-11-30", "MRN-3001"))
        .await;
    let mut b_body = person("Lindqvist", "Oskar", "2001-05-14", "MRN-3002");
    b_body["addresses"][0]["postal_code"] = json!("PL1 2AB");
    let b = app.register_forced(&b_body).await;
    let _c = app
        .register_forced(&person("Moreau", "Camille", "1975-11-30", "MRN-3003"))
        .await;

    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(id_of)
            .collect()
    };
    let (status, page) = app
        .as_role(
            Role::Registrar,
            "GET",
            "/api/v1/patients?family=lindqvist",
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2);
    let mut both = vec![id_of(&a), id_of(&b)];
    both.sort();
    let mut got = ids(&page);
    got.sort();
    assert_eq!(got, both);

    let (_, page) = app.admin("GET", "/api/v1/patients?name=Oskar", None).await;
    assert_eq!(ids(&page), vec![id_of(&b)]);
    let (_, page) = app
        .admin(
            "GET",
            "/api/v1/patients?birth_date=1975-11-30&family=Lindqvist",
            None,
        )
        .await;
    assert_eq!(ids(&page), vec![id_of(&a)]);
    let (_, page) = app
        .admin(
            "GET",
            "/api/v1/patients?identifier=urn:test:mrn|MRN-3002",
            None,
        )
        .await;
    assert_eq!(ids(&page), vec![id_of(&b)]);
    let (_, page) = app
        .admin("GET", "/api/v1/patients?postal_code=PL1%202AB", None)
        .await;
    assert_eq!(ids(&page), vec![id_of(&b)]);
    let (_, page) = app
        .admin(
            "GET",
            "/api/v1/patients?birth_date=1975-11-30&per_page=1&page=2",
            None,
        )
        .await;
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["page"], 2);
    assert_eq!(page["per_page"], 1);
    assert_eq!(page["items"].as_array().expect("items").len(), 1);

    // A value alone (an MRN typed at a desk) is looked up in every system; a system without a
    // value is refused.
    let (status, page) = app
        .admin("GET", "/api/v1/patients?identifier=MRN-3002", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1, "{page}");
    let (status, bad) = app
        .admin("GET", "/api/v1/patients?identifier=urn:test:mrn|", None)
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["field"], "identifier");
    let (status, bad) = app
        .admin("GET", "/api/v1/patients?birth_date=30/11/1975", None)
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["field"], "birth_date");
    let (status, bad) = app.admin("GET", "/api/v1/patients?page=abc", None).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["code"], "invalid_query");

    // The same search with the criteria in a JSON body, so patient data stays out of URLs.
    let app = &app;
    let search = |body: Value| async move {
        app.as_role(
            Role::Registrar,
            "POST",
            "/api/v1/patients/_search",
            Some(&body),
        )
        .await
    };
    let (status, page) = search(json!({"birth_date": "1975-11-30", "family": "Lindqvist"})).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), vec![id_of(&a)]);
    let (_, page) = search(json!({"identifier": "urn:test:mrn|MRN-3002", "per_page": 5})).await;
    assert_eq!(ids(&page), vec![id_of(&b)]);
    assert_eq!(page["per_page"], 5);
    let (_, page) = search(json!({"name": "lindq", "per_page": 1, "page": 2})).await;
    assert_eq!(
        (page["total"].clone(), page["page"].clone()),
        (json!(2), json!(2))
    );
    let (status, bad) = search(json!({"birth_date": "30/11/1975"})).await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["field"], "birth_date");
    let (status, bad) = search(json!({"page": "two"})).await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["code"], "invalid_value");
    let (status, _) = app
        .as_role(
            Role::Auditor,
            "POST",
            "/api/v1/patients/_search",
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.admin("GET", "/api/v1/patients/_search", None).await;
    assert_eq!(status, 405);
}
both_backends!(search_by_name_birth_date_identifier_postal_code_with_pages);

async fn bad_input_answers_json_errors_never_500(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.key(Role::Admin);
    // Malformed JSON: 400.
    let response = app
        .server
        .call_raw(
            "POST",
            "/api/v1/patients",
            Some(key),
            &[("content-type", "application/json")],
            None,
        )
        .await;
    assert_eq!(response.status().as_u16(), 400);
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let response = client
        .post(format!("http://{}/api/v1/patients", app.server.addr))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body("{\"names\": [")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["code"], "malformed_json");
    assert!(body["field"].is_null());
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("malformed JSON")
    );

    // Invalid values: 422 naming the field.
    let mut future = person("Vance", "Ruth", "2999-01-01", "MRN-4001");
    let (status, body) = app.admin("POST", "/api/v1/patients", Some(&future)).await;
    assert_eq!(status, 422, "{body}\n{}", app.server.log());
    assert_eq!(body["code"], "invalid_value");
    assert_eq!(body["field"], "birth_date");
    future["birth_date"] = json!("1980-13-45");
    let (status, body) = app.admin("POST", "/api/v1/patients", Some(&future)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "birth_date");
    let mut gender = person("Vance", "Ruth", "1980-01-01", "MRN-4001");
    gender["gender"] = json!("martian");
    let (status, body) = app.admin("POST", "/api/v1/patients", Some(&gender)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "gender");
    let mut nameless = person("Vance", "Ruth", "1980-01-01", "MRN-4001");
    nameless["names"] = json!([]);
    // Without names a record needs an identifier (and a birth date or a gender).
    nameless["identifiers"] = json!([]);
    let (status, body) = app.admin("POST", "/api/v1/patients", Some(&nameless)).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["field"].as_str().expect("field").starts_with("names"),
        "{body}"
    );
    let (status, body) = app
        .admin("POST", "/api/v1/patients", Some(&json!({"names": "Ruth"})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid_value");

    // An unknown id is 404; a malformed one 400.
    let (status, body) = app
        .admin(
            "GET",
            &format!("/api/v1/patients/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found");
    let (status, body) = app.admin("GET", "/api/v1/patients/not-a-uuid", None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_path");
    assert!(body["message"].is_string());
    // A bad If-Match: 400.
    let stored = app
        .register_forced(&person("Vance", "Ruth", "1980-01-01", "MRN-4001"))
        .await;
    let (status, body) = app
        .server
        .call(
            "PUT",
            &format!("/api/v1/patients/{}", id_of(&stored)),
            Some(key),
            &[("If-Match", "yesterday")],
            Some(&person("Vance", "Ruth", "1980-01-01", "MRN-4001")),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "If-Match");
    assert_eq!(body["code"], "invalid_header");

    // The server logged no patient data while answering all that.
    let log = app.server.log();
    for phi in ["Vance", "Ruth", "MRN-4001", "1980-01-01", "Orchard"] {
        assert!(!log.contains(phi), "the log holds {phi:?}:\n{log}");
    }
}
both_backends!(bad_input_answers_json_errors_never_500);

async fn concurrent_registrations_with_one_identifier_leave_one_patient(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = person("Castellanos", "Marta", "1968-09-09", "MRN-5001");
    let b = person("Whitfield", "George", "1955-02-28", "MRN-5001");
    let path = "/api/v1/patients?force=true";
    let (first, second) = tokio::join!(
        app.as_role(Role::Registrar, "POST", path, Some(&a)),
        app.as_role(Role::Registrar, "POST", path, Some(&b)),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{first:?} {second:?}");
    let refused = if first.0 == 409 { &first.1 } else { &second.1 };
    assert_eq!(refused["code"], "duplicate_identifier", "{refused}");
    let (_, found) = app
        .admin(
            "GET",
            "/api/v1/patients?identifier=urn:test:mrn|MRN-5001",
            None,
        )
        .await;
    assert_eq!(found["total"], 1, "{found}");
}
both_backends!(concurrent_registrations_with_one_identifier_leave_one_patient);
