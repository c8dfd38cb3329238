//! `POST /api/v1/merges` and `/merges/{id}/undo`: preview, merge, already merged, undo restoring
//! every field, racing merges, and links.

use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;

use crate::app::{TestApp, id_of, person};
use crate::both_backends;

/// The record as answered, without what a merge and its undo legitimately move on.
fn comparable(patient: &Value) -> Value {
    let mut p = patient.clone();
    let object = p.as_object_mut().expect("object");
    object.remove("version");
    object.remove("updated_at");
    p
}

async fn get(app: &TestApp, id: &str) -> Value {
    let (status, patient) = app
        .admin("GET", &format!("/api/v1/patients/{id}"), None)
        .await;
    assert_eq!(status, 200, "{patient}");
    patient
}

async fn merge_then_undo_restores_every_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let target = app
        .register_forced(&person("Fairweather", "Ottilie", "1962-08-15", "MRN-8001"))
        .await;
    let mut source_body = person("Fairweather", "Ottilie", "1962-08-15", "MRN-8002");
    source_body["names"]
        .as_array_mut()
        .expect("names")
        .push(json!({"family": "Brook", "given": ["Ottilie"], "use": "maiden"}));
    source_body["identifiers"]
        .as_array_mut()
        .expect("identifiers")
        .push(json!({"type": "SS", "system": "urn:test:ssn", "value": "SSN-8002"}));
    source_body["telecoms"] = json!([{"system": "email", "value": "ottilie@example.org"}]);
    let source = app.register_forced(&source_body).await;
    let (t_id, s_id) = (id_of(&target), id_of(&source));
    let target_before = get(&app, &t_id).await;
    let source_before = get(&app, &s_id).await;

    // A preview changes nothing.
    let request = json!({"target": t_id, "source": s_id, "preview": true});
    let (status, preview) = app
        .as_role(Role::Steward, "POST", "/api/v1/merges", Some(&request))
        .await;
    assert_eq!(status, 200, "{preview}");
    assert!(preview["merge_id"].is_null());
    assert_eq!(preview["source"]["active"], false);
    assert_eq!(get(&app, &t_id).await, target_before);
    assert_eq!(get(&app, &s_id).await, source_before);

    let request = json!({"target": t_id, "source": s_id});
    let (status, merged) = app
        .as_role(Role::Steward, "POST", "/api/v1/merges", Some(&request))
        .await;
    assert_eq!(status, 200, "{merged}");
    let merge_id = merged["merge_id"].as_str().expect("merge_id").to_owned();
    let survivor = get(&app, &t_id).await;
    let retired = get(&app, &s_id).await;
    assert_eq!(retired["active"], false);
    assert_eq!(retired["replaced_by"], json!(t_id));
    assert_eq!(retired["person_id"], survivor["person_id"]);
    let gained: Vec<&Value> = survivor["identifiers"]
        .as_array()
        .expect("identifiers")
        .iter()
        .filter(|i| i["source_patient_id"] == json!(s_id))
        .collect();
    assert!(
        gained.iter().any(|i| i["value"] == "SSN-8002"),
        "{survivor}"
    );
    assert!(
        survivor["names"]
            .as_array()
            .expect("names")
            .iter()
            .any(|n| n["family"] == "Brook" && n["source_patient_id"] == json!(s_id)),
        "{survivor}"
    );
    assert!(
        survivor["links"]
            .as_array()
            .expect("links")
            .iter()
            .any(|l| l["type"] == "replaces" && l["other_patient_id"] == json!(s_id)),
        "{survivor}"
    );

    // Merging the retired record again names the survivor.
    let (status, again) = app
        .as_role(Role::Steward, "POST", "/api/v1/merges", Some(&request))
        .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["code"], "already_merged");
    assert_eq!(again["detail"]["replaced_by"], json!(t_id));

    let (status, undone) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/merges/{merge_id}/undo"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(
        comparable(&get(&app, &t_id).await),
        comparable(&target_before)
    );
    assert_eq!(
        comparable(&get(&app, &s_id).await),
        comparable(&source_before)
    );

    let (status, twice) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/merges/{merge_id}/undo"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{twice}");
    assert_eq!(twice["code"], "undo_impossible");
    let (status, unknown) = app
        .admin(
            "POST",
            &format!("/api/v1/merges/{}/undo", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, 404, "{unknown}");
}
both_backends!(merge_then_undo_restores_every_field);

async fn two_concurrent_merges_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = id_of(
        &app.register_forced(&person("Ashdown", "Petra", "1971-01-01", "MRN-9001"))
            .await,
    );
    let b = id_of(
        &app.register_forced(&person("Ashdown", "Petra", "1971-01-01", "MRN-9002"))
            .await,
    );
    let c = id_of(
        &app.register_forced(&person("Ashdown", "Petra", "1971-01-01", "MRN-9003"))
            .await,
    );
    let one = json!({"target": a, "source": b});
    let two = json!({"target": c, "source": b});
    let (first, second) = tokio::join!(
        app.as_role(Role::Steward, "POST", "/api/v1/merges", Some(&one)),
        app.as_role(Role::Steward, "POST", "/api/v1/merges", Some(&two)),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{first:?}\n{second:?}");
    let winner = if first.0 == 200 { &a } else { &c };
    let loser = if first.0 == 200 { &c } else { &a };
    let retired = get(&app, &b).await;
    assert_eq!(retired["replaced_by"], json!(winner));
    let untouched = get(&app, loser).await;
    assert_eq!(untouched["version"], 1, "{untouched}");
    assert!(
        untouched["identifiers"]
            .as_array()
            .expect("identifiers")
            .iter()
            .all(|i| i["source_patient_id"].is_null()),
        "{untouched}"
    );
}
both_backends!(two_concurrent_merges_one_wins);

async fn links_create_list_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = id_of(
        &app.register_forced(&person("Penhaligon", "Rosa", "1988-02-02", "MRN-1101"))
            .await,
    );
    let b = id_of(
        &app.register_forced(&person("Treloar", "Jago", "1949-09-19", "MRN-1102"))
            .await,
    );
    let (status, link) = app
        .as_role(
            Role::Steward,
            "POST",
            "/api/v1/links",
            Some(&json!({"patient_id": a, "other_patient_id": b, "type": "seealso", "reason": "same family doctor record"})),
        )
        .await;
    assert_eq!(status, 201, "{link}");
    assert_eq!(link["type"], "seealso");
    assert_eq!(link["origin"], "person");
    let (status, links) = app
        .as_role(
            Role::Registrar,
            "GET",
            &format!("/api/v1/patients/{a}/links"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{links}");
    assert!(
        links["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|l| l["id"] == link["id"])
    );
    let (status, dup) = app
        .admin(
            "POST",
            "/api/v1/links",
            Some(&json!({"patient_id": a, "other_patient_id": b, "type": "seealso"})),
        )
        .await;
    assert_eq!(status, 409, "{dup}");
    let (status, bad) = app
        .admin(
            "POST",
            "/api/v1/links",
            Some(&json!({"patient_id": a, "other_patient_id": b, "type": "cousin"})),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["field"], "type");
    let link_id = link["id"].as_str().expect("id");
    let (status, _) = app
        .as_role(
            Role::Steward,
            "DELETE",
            &format!("/api/v1/links/{link_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, links) = app
        .admin("GET", &format!("/api/v1/patients/{a}/links"), None)
        .await;
    assert_eq!(links["items"], json!([]));
    let (status, _) = app
        .as_role(
            Role::Steward,
            "DELETE",
            &format!("/api/v1/links/{link_id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}
both_backends!(links_create_list_delete);

async fn recent_merges_and_a_patients_merge_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app
        .register_forced(&person("Okonjo", "Adaeze", "1979-02-14", "MRN-7101"))
        .await;
    let b = app
        .register_forced(&person("Okonjo", "Adaeze", "1979-02-14", "MRN-7102"))
        .await;
    let c = app
        .register_forced(&person("Lindqvist", "Oskar", "1977-01-30", "MRN-7103"))
        .await;
    let (status, first) = app
        .as_role(
            Role::Steward,
            "POST",
            "/api/v1/merges",
            Some(&json!({"target": id_of(&a), "source": id_of(&b)})),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    let first_id = first["merge_id"].as_str().expect("merge_id").to_owned();
    let (status, _) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/merges/{first_id}/undo"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, second) = app
        .as_role(
            Role::Steward,
            "POST",
            "/api/v1/merges",
            Some(&json!({"target": id_of(&c), "source": id_of(&b)})),
        )
        .await;
    let second_id = second["merge_id"].as_str().expect("merge_id").to_owned();

    let (status, all) = app
        .as_role(Role::Steward, "GET", "/api/v1/merges", None)
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"], 2);
    assert_eq!(all["items"][0]["id"], json!(second_id), "newest first");
    assert_eq!(all["items"][0]["target"], c["id"]);
    assert_eq!(all["items"][0]["source"], b["id"]);
    assert_eq!(all["items"][0]["actor"], "steward");
    assert!(all["items"][0]["undone_at"].is_null());
    assert_eq!(all["items"][1]["id"], json!(first_id));
    assert_eq!(all["items"][1]["undone_by"], "steward");
    assert!(
        all["items"][0].get("target_before").is_none(),
        "no before-images"
    );

    let (_, in_force) = app
        .as_role(Role::Steward, "GET", "/api/v1/merges?undone=false", None)
        .await;
    assert_eq!(in_force["total"], 1);
    assert_eq!(in_force["items"][0]["id"], json!(second_id));
    let (_, history) = app
        .as_role(
            Role::Registrar,
            "GET",
            &format!("/api/v1/merges?patient_id={}", id_of(&a)),
            None,
        )
        .await;
    assert_eq!(history["total"], 1, "{history}");
    assert_eq!(history["items"][0]["id"], json!(first_id));
    let (_, page) = app
        .admin("GET", "/api/v1/merges?page=2&per_page=1", None)
        .await;
    assert_eq!(page["items"][0]["id"], json!(first_id));
    assert_eq!(
        (page["page"].clone(), page["per_page"].clone()),
        (json!(2), json!(1))
    );

    let (status, bad) = app
        .admin("GET", "/api/v1/merges?patient_id=nope", None)
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["code"], "invalid_query");
    let (status, _) = app
        .as_role(Role::Auditor, "GET", "/api/v1/merges", None)
        .await;
    assert_eq!(status, 403);
    let (_, audit) = app
        .as_role(
            Role::Auditor,
            "GET",
            "/api/v1/audit?entity_type=merge",
            None,
        )
        .await;
    assert!(
        audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|e| e["action"] == "merge.list"),
        "listing merges is audited: {audit}"
    );
}
both_backends!(recent_merges_and_a_patients_merge_history);
