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
use crate::helpers::{ScratchDir, run_mpi_ok};

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

const BIRTHS: &str = "\
id,given_name,family_name,sex,birth_date,mrn,mrn_system,mother_identifier,mother_identifier_system,mother_identifier_value,mothers_maiden_name
c1,Baby Girl,Khumalo,F,2026-10-01,C-1,urn:test:mrn,urn:test:mrn|M-900,,,Dlamini
c2,Baby Boy,Mokoena,M,2026-10-02,C-2,urn:test:mrn,,urn:test:mrn,M-901,Zulu
m2,Thandi,Mokoena,F,1990-01-01,M-901,urn:test:mrn,,,,
c3,Sipho,Nkosi,M,2026-10-03,C-3,,M-903,,,
m3,Lindiwe,Nkosi,F,1991-01-01,M-903,,,,,
m4,Zanele,Khoza,F,1992-02-02,M-904,urn:test:mrn,,,,
b1,Bad,Pipe,F,2026-10-04,C-5,urn:test:mrn,urn:test:mrn|,,,
b2,Bad,System,F,2026-10-05,C-6,urn:test:mrn,,urn:test:mrn,,
b3,Bad,Both,F,2026-10-06,C-7,urn:test:mrn,urn:test:mrn|M-900,,M-900,
";

/// The one live patient holding `system|value`.
async fn holder(app: &TestApp, system: &str, value: &str) -> Value {
    let (status, page) = app
        .admin(
            "GET",
            &format!("/api/v1/patients?identifier={system}%7C{value}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1, "{system}|{value}: {page}");
    page["items"][0].clone()
}

async fn import_mother_columns(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Before the import: a mother whose child is in the file, and a child whose mother is.
    let mother = app
        .register_forced(&woman(
            "Khumalo",
            "Naledi",
            json!([{"system": MRN, "value": "M-900"}]),
        ))
        .await;
    let earlier = app
        .register_forced(&newborn("Khoza", "2026-09-09", "C-4", MRN, "M-904"))
        .await;
    assert!(earlier["mother"].get("patient_id").is_none(), "{earlier}");

    let dir = ScratchDir::new();
    let file = dir.path.join("births.csv");
    std::fs::write(&file, BIRTHS).expect("write csv");
    let file = file.to_str().expect("utf-8 path");
    let url = app.db.url.clone();
    let out = run_mpi_ok(
        &dir.path,
        &["import", file, "--database-url", url.as_str(), "--quiet"],
    );
    assert!(
        out.contains("9 rows: 6 imported, 0 already imported, 3 rejected"),
        "{out}"
    );
    let rejects =
        std::fs::read_to_string(dir.path.join("births.csv.rejects.csv")).expect("rejects");
    let mut rejected: Vec<&str> = rejects
        .lines()
        .skip(1)
        .map(|l| {
            let mut parts = l.splitn(3, ',');
            let line = parts.next().unwrap_or_default();
            let column = parts.next().unwrap_or_default();
            match (line, column) {
                ("8", "mother_identifier") => "b1",
                ("9", "mother_identifier_system") => "b2",
                ("10", "mother_identifier") => "b3",
                _ => l,
            }
        })
        .collect();
    rejected.sort_unstable();
    assert_eq!(rejected, vec!["b1", "b2", "b3"], "{rejects}");
    assert!(
        !rejects.contains("M-900"),
        "a reject quotes a value: {rejects}"
    );

    // SYSTEM|VALUE, a mother registered before the import.
    let c1 = holder(&app, MRN, "C-1").await;
    assert_eq!(
        c1["mother"],
        json!({"maiden_family": "Dlamini", "maiden_given": null,
               "identifier": {"system": MRN, "value": "M-900"},
               "patient_id": id_of(&mother)}),
        "{c1}"
    );
    // The two columns, a mother later in the file.
    let c2 = holder(&app, MRN, "C-2").await;
    let m2 = holder(&app, MRN, "M-901").await;
    assert_eq!(c2["mother"]["maiden_family"], "Zulu", "{c2}");
    assert_eq!(c2["mother"]["patient_id"], m2["id"], "{c2}");
    // A value alone: the source's own MRNs, as an `mrn` without `mrn_system`.
    let own = "urn:mpi:import:births:mrn";
    let c3 = holder(&app, own, "C-3").await;
    let m3 = holder(&app, own, "M-903").await;
    assert_eq!(c3["mother"]["identifier"]["system"], own, "{c3}");
    assert_eq!(c3["mother"]["patient_id"], m3["id"], "{c3}");
    assert!(c3["mother"].get("maiden_family").is_none_or(Value::is_null));
    // A child registered before the import, whose mother it brought: resolved, its version
    // raised, audited as an update.
    let m4 = holder(&app, MRN, "M-904").await;
    let now = read(&app, &id_of(&earlier)).await;
    assert_eq!(now["mother"]["patient_id"], m4["id"], "{now}");
    assert_eq!(version(&now), version(&earlier) + 1);
    assert_eq!(audited(&app, "update", &id_of(&earlier)).await, 1);
    // Searchable as REST-registered children are.
    let (status, page) = app
        .admin("GET", "/api/v1/patients?mother_maiden_name=zul", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["id"], c2["id"], "{page}");

    // Lenient: a bad mother's identifier costs only itself, with a warning.
    let lenient = dir.path.join("lenient.csv");
    std::fs::write(
        &lenient,
        "id,given_name,family_name,birth_date,mrn,mrn_system,mother_identifier,maiden_name_of_mother\n\
         l1,Lerato,Pipe,2026-10-04,L-1,urn:test:mrn,urn:test:mrn|,Ndlovu\n\
         l2,Palesa,Pipe,2026-10-04,L-2,urn:test:mrn,urn:test:mrn|???,Ndlovu\n",
    )
    .expect("write csv");
    let lenient = lenient.to_str().expect("utf-8 path");
    let out = run_mpi_ok(
        &dir.path,
        &[
            "import",
            lenient,
            "--database-url",
            url.as_str(),
            "--quiet",
            "--lenient",
        ],
    );
    assert!(out.contains("2 rows: 2 imported"), "{out}");
    let warnings =
        std::fs::read_to_string(dir.path.join("lenient.csv.rejects.csv")).expect("rejects");
    assert!(
        warnings.contains("2,mother_identifier,warning: the mother's identifier has no value"),
        "{warnings}"
    );
    assert!(
        warnings.contains("3,mother_identifier,warning: no letter or digit"),
        "{warnings}"
    );
    for mrn in ["L-1", "L-2"] {
        let kept = holder(&app, MRN, mrn).await;
        assert_eq!(
            kept["mother"],
            json!({"maiden_family": "Ndlovu", "maiden_given": null, "identifier": null}),
            "{kept}"
        );
    }

    // One record per batch, each child just before her mother: whichever batch is written last
    // finds the other (PostgreSQL writes two batches at once, so neither may: then the pass
    // after the last batch does).
    let small = dir.path.join("small.csv");
    let mut text = String::from("id,given_name,family_name,birth_date,mrn,mother_identifier\n");
    for n in 0..6 {
        text.push_str(&format!(
            "k{n},Baby,Mabaso,2026-10-0{},K-{n},K-M{n}\n",
            n + 1
        ));
        text.push_str(&format!("q{n},Mother,Mabaso,1990-01-0{},K-M{n},\n", n + 1));
    }
    std::fs::write(&small, text).expect("write csv");
    let small = small.to_str().expect("utf-8 path");
    let out = run_mpi_ok(
        &dir.path,
        &[
            "import",
            small,
            "--database-url",
            url.as_str(),
            "--quiet",
            "--batch-size",
            "1",
        ],
    );
    assert!(out.contains("12 rows: 12 imported"), "{out}");
    let own = "urn:mpi:import:small:mrn";
    for n in 0..6 {
        let child = holder(&app, own, &format!("K-{n}")).await;
        let mother = holder(&app, own, &format!("K-M{n}")).await;
        assert_eq!(child["mother"]["patient_id"], mother["id"], "{child}");
    }

    // FHIR Patient NDJSON carries the maiden name (its extension), not the mother's identifier.
    let ndjson = dir.path.join("patients.ndjson");
    let resource = json!({
        "resourceType": "Patient", "id": "f1", "gender": "female", "birthDate": "2026-10-07",
        "name": [{"family": "Sithole", "given": ["Ayanda"]}],
        "identifier": [{"system": MRN, "value": "F-1"}],
        "extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
            "valueString": "Ngcobo"
        }]
    });
    std::fs::write(&ndjson, format!("{resource}\n")).expect("write ndjson");
    let ndjson = ndjson.to_str().expect("utf-8 path");
    let out = run_mpi_ok(
        &dir.path,
        &["import", ndjson, "--database-url", url.as_str(), "--quiet"],
    );
    assert!(out.contains("1 rows: 1 imported"), "{out}");
    let f1 = holder(&app, MRN, "F-1").await;
    assert_eq!(f1["mother"]["maiden_family"], "Ngcobo", "{f1}");
}

both_backends!(import_mother_columns);

/// `mpi dedupe --input` reads the mother's columns into the matcher: with the built-in model, a
/// newborn placeholder ("Baby Girl") and her named record weigh more as a pair when both name
/// the same mother than when the file's mother columns are not understood.
#[test]
fn dedupe_input_weighs_the_mother_columns() {
    let dir = ScratchDir::new();
    matcher::Model::builtin()
        .save(dir.path.join("model.json"))
        .expect("save the built-in model");
    let rows = "\
a,Baby Girl,Khumalo,F,2026-10-01,12 Orchard Lane,Exeter,urn:test:mrn|M-1,Dlamini
b,Olivia,Khumalo,F,2026-10-01,12 Orchard Lane,Exeter,urn:test:mrn|M-1,Dlamini
c,Ottilie,Fairweather,F,1962-08-15,3 Mill Road,Truro,,
d,Bartholomew,Quennell,M,1938-01-30,9 Quay Hill,Leeds,,
";
    // The match weight of the pair (a, b) in pairs.csv (none: below the review threshold).
    let weight = |header: &str, name: &str| -> Option<f64> {
        std::fs::write(dir.path.join(name), format!("{header}\n{rows}")).expect("write csv");
        let out = format!("out-{name}");
        run_mpi_ok(
            &dir.path,
            &[
                "dedupe",
                "--input",
                name,
                "--output",
                out.as_str(),
                "--model",
                "model.json",
            ],
        );
        let text =
            std::fs::read_to_string(dir.path.join(&out).join("pairs.csv")).expect("pairs.csv");
        text.lines()
            .find_map(|l| l.strip_prefix("a,b,"))
            .map(|rest| {
                rest.split(',')
                    .nth(1)
                    .expect("weight")
                    .parse()
                    .expect("number")
            })
    };
    let with = weight(
        "id,given_name,family_name,sex,birth_date,address_line,city,mother_identifier,mother_maiden_name",
        "with.csv",
    )
    .expect("the pair naming one mother is a candidate");
    // The same rows with the mother's columns under names the reader does not know.
    let without = weight(
        "id,given_name,family_name,sex,birth_date,address_line,city,mom,mom_name",
        "without.csv",
    );
    assert!(
        without.is_none_or(|w| with > w + 1.0),
        "with the mother {with}, without {without:?}"
    );
}
