//! Mothers known after their children (issue 29 §7), through the real server on SQLite and
//! PostgreSQL: a child registered before its mother gets her record when she is registered (or
//! updated to hold the identifier it names, by any name of her domain), in the same transaction,
//! its version raised and the change audited as an update of the child; after a merge retires
//! the mother's record the child reads the survivor, and the retired record again after the
//! undo. `mpi import` reads the mother's columns of a person CSV (`mother_identifier` as
//! `SYSTEM|VALUE`, or `mother_identifier_system` and `mother_identifier_value`, and
//! `mother_maiden_name` or a synonym), stores them as REST does, resolves mothers in the file and
//! in the database both ways, and rejects (or, with `--lenient`, warns about) bad values; from
//! FHIR Patient NDJSON it keeps the maiden name (its extension).

use migration::testing::Backend;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use service::context::Role;

use entity::audit_event;

use crate::app::{TestApp, id_of, person};
use crate::both_backends;

const MRN: &str = "urn:test:mrn";
const RIVERSIDE_URL: &str = "http://riverside.example.org/mrn";
const RIVERSIDE_OID: &str = "1.3.6.1.4.1.21367.13.20.2000";

/// A newborn naming its mother by `(system, value)`.
fn newborn(family: &str, born: &str, mrn: &str, system: &str, mother: &str) -> Value {
    let mut body = person(family, "Baby Girl", born, mrn);
    body["mother"] = json!({
        "maiden_family": "Dlamini",
        "identifier": {"system": system, "value": mother}
    });
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

async fn mother_registered_after_her_child(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, domain) = app
        .admin(
            "POST",
            "/api/v1/domains",
            Some(&json!({"name": "RIVERSIDE", "oid": RIVERSIDE_OID, "url": RIVERSIDE_URL})),
        )
        .await;
    assert_eq!(status, 201, "{domain}");

    // The child first, naming her mother by the domain's namespace; nobody holds it yet.
    let baby = app
        .register_forced(&newborn(
            "Khumalo",
            "2026-11-02",
            "NB-50",
            "RIVERSIDE",
            "M-500",
        ))
        .await;
    let baby_id = id_of(&baby);
    assert!(baby["mother"].get("patient_id").is_none(), "{baby}");
    assert_eq!(baby["mother"]["identifier"]["system"], RIVERSIDE_URL);

    // Then the mother, with the identifier as an OID: the child reads her record.
    let mother = app
        .register_forced(&woman(
            "Khumalo",
            "Naledi",
            json!([{"system": format!("urn:oid:{RIVERSIDE_OID}"), "value": "M-500"}]),
        ))
        .await;
    let mother_id = id_of(&mother);
    let after = read(&app, &baby_id).await;
    assert_eq!(after["mother"]["patient_id"], mother_id.as_str(), "{after}");
    assert_eq!(version(&after), version(&baby) + 1, "{after}");
    assert_eq!(after["mother"]["maiden_family"], "Dlamini", "{after}");
    // Written as an update of the child, in the mother's registration.
    assert_eq!(audited(&app, "update", &baby_id).await, 1);
    let (status, page) = app
        .admin(
            "GET",
            "/api/v1/patients?mother_identifier=RIVERSIDE%7CM-500",
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["id"], baby_id.as_str(), "{page}");
    assert_eq!(page["items"][0]["mother"]["patient_id"], mother_id.as_str());

    // The usual order still resolves at once, and touches no other child.
    let sister = app
        .register_forced(&newborn(
            "Khumalo",
            "2025-01-05",
            "NB-51",
            RIVERSIDE_URL,
            "M-500",
        ))
        .await;
    assert_eq!(
        sister["mother"]["patient_id"],
        mother_id.as_str(),
        "{sister}"
    );
    assert_eq!(version(&read(&app, &baby_id).await), version(&after));

    // A mother registered without the identifier and given it by an update.
    let cousin = app
        .register_forced(&newborn("Mokoena", "2026-11-12", "NB-70", MRN, "M-700"))
        .await;
    let aunt = app
        .register_forced(&woman(
            "Mokoena",
            "Thandi",
            json!([{"system": MRN, "value": "A-1"}]),
        ))
        .await;
    assert!(
        read(&app, &id_of(&cousin)).await["mother"]
            .get("patient_id")
            .is_none()
    );
    let mut update = woman(
        "Mokoena",
        "Thandi",
        json!([{"system": MRN, "value": "A-1"}, {"system": MRN, "value": "M-700"}]),
    );
    update["version"] = aunt["version"].clone();
    let (status, updated) = app
        .admin(
            "PUT",
            &format!("/api/v1/patients/{}", id_of(&aunt)),
            Some(&update),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    let cousin_now = read(&app, &id_of(&cousin)).await;
    assert_eq!(
        cousin_now["mother"]["patient_id"],
        id_of(&aunt).as_str(),
        "{cousin_now}"
    );
    assert_eq!(version(&cousin_now), version(&cousin) + 1);

    // The mother's record merged into another: the children read the survivor; after the
    // undo, her record again.
    let survivor = app
        .register_forced(&woman(
            "Khumalo",
            "Naledi",
            json!([{"system": RIVERSIDE_URL, "value": "M-500B"}]),
        ))
        .await;
    let survivor_id = id_of(&survivor);
    let request = json!({"target": survivor_id, "source": mother_id});
    let (status, merged) = app
        .as_role(Role::Steward, "POST", "/api/v1/merges", Some(&request))
        .await;
    assert_eq!(status, 200, "{merged}");
    for child in [&baby_id, &id_of(&sister)] {
        let now = read(&app, child).await;
        assert_eq!(now["mother"]["patient_id"], survivor_id.as_str(), "{now}");
    }
    let (status, page) = app
        .admin("GET", "/api/v1/patients?mother_identifier=M-500", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2, "{page}");
    for item in page["items"].as_array().expect("items") {
        assert_eq!(item["mother"]["patient_id"], survivor_id.as_str(), "{item}");
    }
    let merge_id = merged["merge_id"].as_str().expect("merge_id");
    let (status, undone) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/merges/{merge_id}/undo"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{undone}");
    let now = read(&app, &baby_id).await;
    assert_eq!(now["mother"]["patient_id"], mother_id.as_str(), "{now}");
}

both_backends!(mother_registered_after_her_child);
