//! The ITI-8 feed's mapping of PID-24/25 (multiple birth, birth order), PID-29/30 (death) and
//! PID-15 (primary language), sent with the independent `hl7` package and read back through the
//! FHIR face.

use migration::testing::Backend;
use serde_json::Value;

use crate::hl7_mllp::{Hl7Server, adt, send_with_hl7_package};

/// The FHIR Patient holding `system|value`.
async fn fhir_patient(app: &Hl7Server, key: &str, identifier: &str) -> Value {
    let path = format!("/fhir/Patient?identifier={identifier}");
    let (status, bundle) = app.server.call("GET", &path, Some(key), &[], None).await;
    assert_eq!(status, 200, "{bundle}");
    bundle["entry"][0]["resource"].clone()
}

async fn multiple_birth_and_death_are_mapped(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let key = app.admin_key();
    let oid = "2.16.840.1.113883.3.72.5.9.1";
    let pid =
        |id: &str, rest: &str| format!("PID|||{id}^^^TEST&{oid}&ISO||MBEKI^ZOLA||20240303|F{rest}");
    // PID-24 is field 24, PID-25 field 25, PID-29 field 29, PID-30 field 30.
    let twin = pid("T-501", "||||||||||||||||Y|2");
    let died = pid("T-502", "|||||||||||||||||||||20261101|Y");
    let died_no_flag = pid("T-503", "|||||||||||||||||||||20261102");
    let alive = pid("T-504", "|||||||||||||||||||||20261103|N");
    let bad_order = pid("T-505", "||||||||||||||||Y|second");
    let bad_death = pid("T-506", "|||||||||||||||||||||2026AB01|Y");
    let impossible_death = pid("T-507", "|||||||||||||||||||||20261345|Y");
    // PID-15 is field 15: the primary language, stored as the preferred one.
    let speaks = pid("T-508", "|||||||fr^French^HL70296");
    let messages: Vec<String> = [
        &twin,
        &died,
        &died_no_flag,
        &alive,
        &bad_order,
        &bad_death,
        &impossible_death,
        &speaks,
    ]
    .iter()
    .enumerate()
    .map(|(n, p)| {
        adt(
            "TEST_HARNESS",
            "A01",
            &format!("P{n}"),
            "2.5",
            &[p.as_str()],
        )
    })
    .collect();
    let answers = send_with_hl7_package(app.mllp, &messages);
    for a in &answers[..4] {
        assert_eq!(a["msa1"], "AA", "{a}");
    }
    // A birth order that is no number, a date of death that is no date: AE at the field.
    assert_eq!(answers[4]["msa1"], "AE", "{}", answers[4]);
    assert_eq!(answers[4]["err"][0][1], "PID^1^25", "{}", answers[4]);
    assert_eq!(answers[5]["msa1"], "AE", "{}", answers[5]);
    assert_eq!(answers[5]["err"][0][1], "PID^1^29", "{}", answers[5]);
    assert_eq!(answers[6]["msa1"], "AE", "{}", answers[6]);
    assert_eq!(answers[6]["err"][0][1], "PID^1^29", "{}", answers[6]);
    assert_eq!(answers[7]["msa1"], "AA", "{}", answers[7]);

    let system = "http://ohie.org/test/test";
    let twin = fhir_patient(&app, &key, &format!("{system}|T-501")).await;
    assert_eq!(twin["multipleBirthInteger"], 2, "{twin}");
    let died = fhir_patient(&app, &key, &format!("{system}|T-502")).await;
    assert!(
        died["deceasedDateTime"]
            .as_str()
            .is_some_and(|d| d.starts_with("2026-11-01")),
        "{died}"
    );
    let died = fhir_patient(&app, &key, &format!("{system}|T-503")).await;
    assert!(
        died["deceasedDateTime"]
            .as_str()
            .is_some_and(|d| d.starts_with("2026-11-02")),
        "{died}"
    );
    let alive = fhir_patient(&app, &key, &format!("{system}|T-504")).await;
    assert!(alive.get("deceasedDateTime").is_none(), "{alive}");
    assert_ne!(alive["deceasedBoolean"], true, "{alive}");
    let speaks = fhir_patient(&app, &key, &format!("{system}|T-508")).await;
    assert_eq!(
        speaks["communication"],
        serde_json::json!([{"language": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0296",
            "code": "fr", "display": "French"}]}, "preferred": true}]),
        "{speaks}"
    );
    // Nothing half-stored for the refused ones.
    let (_, none) = app
        .server
        .call(
            "GET",
            &format!("/fhir/Patient?identifier={system}|T-505"),
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(none["total"], 0, "{none}");
}

#[tokio::test]
async fn multiple_birth_and_death_are_mapped_on_sqlite() {
    multiple_birth_and_death_are_mapped(Backend::Sqlite).await;
}

#[tokio::test]
async fn multiple_birth_and_death_are_mapped_on_postgres() {
    multiple_birth_and_death_are_mapped(Backend::Postgres).await;
}
