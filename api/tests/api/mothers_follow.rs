//! A child's mother's record follows the record that holds the mother's identifier (issue 29
//! §7, its leftovers), through the real server on SQLite and PostgreSQL: a merge gives the
//! survivor, holding the retired record's identifiers now, to the children still unresolved
//! (written and audited as an update of each child), and the undo of that merge passes them back
//! to the record holding the identifier again; a soft-deleted mother (REST or FHIR delete) is
//! no longer shown, and her children pass to the next record registered with her identifier;
//! a child registered at the same moment as its mother reads her, whichever transaction
//! commits first; a read shows the live holder of the identifier even where the child's row
//! is behind (a domain registered after both records).

use migration::testing::Backend;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use service::context::Role;

use entity::audit_event;

use crate::app::{TestApp, id_of, person};
use crate::both_backends;

const MRN: &str = "urn:test:mrn";
const RIVERSIDE_URL: &str = "http://riverside.example.org/mrn";

/// A newborn naming its mother by `(system, value)`.
fn newborn(family: &str, mrn: &str, system: &str, mother: &str) -> Value {
    let mut body = person(family, "Baby Girl", "2026-11-02", mrn);
    body["mother"] = json!({"identifier": {"system": system, "value": mother}});
    body
}

/// A woman holding `identifiers`.
fn woman(family: &str, given: &str, identifiers: Value) -> Value {
    let mut body = person(family, given, "1994-06-01", "unused");
    body["identifiers"] = identifiers;
    body
}

async fn read(app: &TestApp, id: &str) -> Value {
    let (status, body) = app
        .admin("GET", &format!("/api/v1/patients/{id}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The mother's record a read of `child` shows (`None`: none).
async fn mother_of(app: &TestApp, child: &str) -> Option<String> {
    read(app, child).await["mother"]["patient_id"]
        .as_str()
        .map(str::to_owned)
}

/// The audit rows of `action` about the patient `id`.
async fn audited(app: &TestApp, action: &str, id: &str) -> u64 {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(action))
        .filter(audit_event::Column::EntityId.eq(id))
        .count(&app.db.conn)
        .await
        .expect("count audit rows")
}

fn version(body: &Value) -> i64 {
    body["version"].as_i64().expect("version")
}

async fn merge(app: &TestApp, target: &str, source: &str) -> String {
    let request = json!({"target": target, "source": source});
    let (status, merged) = app
        .as_role(Role::Steward, "POST", "/api/v1/merges", Some(&request))
        .await;
    assert_eq!(status, 200, "{merged}");
    merged["merge_id"].as_str().expect("merge_id").to_owned()
}

async fn undo(app: &TestApp, merge_id: &str) {
    let (status, undone) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/merges/{merge_id}/undo"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{undone}");
}

async fn merge_resolves_and_undo_follows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The child names its mother by a namespace no domain knows yet, her record holds the
    // identifier under the domain's URL: the write resolves nothing.
    let baby = app
        .register_forced(&newborn("Khumalo", "NB-1", "RIVERSIDE", "M-1"))
        .await;
    let baby_id = id_of(&baby);
    let mother = app
        .register_forced(&woman(
            "Khumalo",
            "Naledi",
            json!([{"system": RIVERSIDE_URL, "value": "M-1"}]),
        ))
        .await;
    let mother_id = id_of(&mother);
    let survivor = app
        .register_forced(&woman(
            "Khumalo",
            "Naledi",
            json!([{"system": MRN, "value": "S-1"}]),
        ))
        .await;
    let survivor_id = id_of(&survivor);
    assert_eq!(mother_of(&app, &baby_id).await, None);
    let (status, domain) = app
        .admin(
            "POST",
            "/api/v1/domains",
            Some(&json!({"name": "RIVERSIDE", "url": RIVERSIDE_URL})),
        )
        .await;
    assert_eq!(status, 201, "{domain}");

    // The merge: the survivor holds M-1 now, and becomes the child's mother's record, written
    // in the child's row (its version raised, audited as an update).
    let merge_id = merge(&app, &survivor_id, &mother_id).await;
    let after_merge = read(&app, &baby_id).await;
    assert_eq!(
        after_merge["mother"]["patient_id"],
        survivor_id.as_str(),
        "{after_merge}"
    );
    assert_eq!(version(&after_merge), version(&baby) + 1, "{after_merge}");
    assert_eq!(audited(&app, "update", &baby_id).await, 1);

    // A sister registered while the merge is in force names M-1: the survivor holds it.
    let sister = app
        .register_forced(&newborn("Khumalo", "NB-2", RIVERSIDE_URL, "M-1"))
        .await;
    let sister_id = id_of(&sister);
    assert_eq!(sister["mother"]["patient_id"], survivor_id.as_str());

    // The undo gives M-1 back to the mother's record: both children follow it, written and
    // audited again.
    undo(&app, &merge_id).await;
    for (child, updates) in [(&baby_id, 2), (&sister_id, 1)] {
        assert_eq!(
            mother_of(&app, child).await.as_deref(),
            Some(mother_id.as_str()),
            "{child}"
        );
        assert_eq!(audited(&app, "update", child).await, updates, "{child}");
    }
    assert_eq!(version(&read(&app, &baby_id).await), version(&baby) + 2);

    // Merged again the other way round (the mother's record survives): nothing to resolve, the
    // children keep her.
    let merge_id = merge(&app, &mother_id, &survivor_id).await;
    assert_eq!(
        mother_of(&app, &baby_id).await.as_deref(),
        Some(mother_id.as_str())
    );
    undo(&app, &merge_id).await;
    assert_eq!(audited(&app, "update", &baby_id).await, 2);
    assert_eq!(
        mother_of(&app, &sister_id).await.as_deref(),
        Some(mother_id.as_str())
    );
}

both_backends!(merge_resolves_and_undo_follows);

async fn deleted_mother_is_no_mother(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir_key = app.key(Role::Admin).to_owned();
    for (n, over_fhir) in [(1, false), (2, true)] {
        let mrn = format!("M-{n}");
        let mother = app
            .register_forced(&woman(
                "Dlamini",
                "Thandi",
                json!([{"system": MRN, "value": mrn}]),
            ))
            .await;
        let mother_id = id_of(&mother);
        let child = app
            .register_forced(&newborn("Dlamini", &format!("NB-{n}"), MRN, &mrn))
            .await;
        let child_id = id_of(&child);
        assert_eq!(child["mother"]["patient_id"], mother_id.as_str(), "{child}");

        let status = if over_fhir {
            app.server
                .call(
                    "DELETE",
                    &format!("/fhir/Patient/{mother_id}"),
                    Some(&fhir_key),
                    &[],
                    None,
                )
                .await
                .0
        } else {
            app.admin("DELETE", &format!("/api/v1/patients/{mother_id}"), None)
                .await
                .0
        };
        assert!(status == 200 || status == 204, "delete: {status}");

        // Not shown on a read nor in a search; the child's own data (the identifier it names)
        // stays.
        let now = read(&app, &child_id).await;
        assert!(now["mother"].get("patient_id").is_none(), "{now}");
        assert_eq!(now["mother"]["identifier"]["value"], mrn.as_str(), "{now}");
        assert_eq!(audited(&app, "update", &child_id).await, 1);
        let (status, page) = app
            .admin(
                "GET",
                &format!("/api/v1/patients?mother_identifier={MRN}%7C{mrn}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["items"][0]["id"], child_id.as_str(), "{page}");
        assert!(page["items"][0]["mother"].get("patient_id").is_none());

        // Another record registered with her identifier is the child's mother now.
        let next = app
            .register_forced(&woman(
                "Dlamini",
                "Thandiwe",
                json!([{"system": MRN, "value": mrn}]),
            ))
            .await;
        assert_eq!(
            mother_of(&app, &child_id).await.as_deref(),
            Some(id_of(&next).as_str())
        );
        assert_eq!(audited(&app, "update", &child_id).await, 2);
    }
}

both_backends!(deleted_mother_is_no_mother);

/// A read shows the live record holding the mother's identifier even when the child's row
/// does not name it (here: a domain registered after both records made the two names one).
async fn read_shows_the_live_holder(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let baby = app
        .register_forced(&newborn("Mokoena", "NB-1", "RIVERSIDE", "M-9"))
        .await;
    let mother = app
        .register_forced(&woman(
            "Mokoena",
            "Lindiwe",
            json!([{"system": RIVERSIDE_URL, "value": "M-9"}]),
        ))
        .await;
    assert_eq!(mother_of(&app, &id_of(&baby)).await, None);
    let (status, domain) = app
        .admin(
            "POST",
            "/api/v1/domains",
            Some(&json!({"name": "RIVERSIDE", "url": RIVERSIDE_URL})),
        )
        .await;
    assert_eq!(status, 201, "{domain}");
    assert_eq!(
        mother_of(&app, &id_of(&baby)).await.as_deref(),
        Some(id_of(&mother).as_str())
    );
    let (status, page) = app
        .admin("GET", "/api/v1/patients?mother_identifier=M-9", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["items"][0]["mother"]["patient_id"],
        id_of(&mother).as_str()
    );
}

both_backends!(read_shows_the_live_holder);

/// A child and its mother registered at the same moment, repeatedly: on PostgreSQL neither
/// transaction may see the other, so neither row names the other; every read of the child shows
/// its mother all the same.
async fn child_and_mother_registered_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for round in 0..12 {
        let mrn = format!("MR-{round}");
        let child_body = newborn("Nkosi", &format!("NB-{round}"), MRN, &mrn);
        let mother_body = woman(
            "Nkosi",
            "Zanele",
            json!([{"system": MRN, "value": mrn.as_str()}]),
        );
        let (child, mother) = tokio::join!(
            app.register_forced(&child_body),
            app.register_forced(&mother_body)
        );
        assert_eq!(
            mother_of(&app, &id_of(&child)).await.as_deref(),
            Some(id_of(&mother).as_str()),
            "round {round}"
        );
    }
}

both_backends!(child_and_mother_registered_at_once);
