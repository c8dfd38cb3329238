//! The FHIR face of `mpi bench`: the requests of the `fhir-*` scenarios (IHE PIXm `$ihe-pix`,
//! PDQm search by family and birth date, PMIR single-Patient feed messages), built from the
//! generated records and sent over HTTP by the bench's client like the other scenarios.

use serde_json::{Value, json};

use service::patients::PatientInput;

use super::{FRESH, Request, Scenario, encode};

/// The identifier system of the Patients a `fhir-pmir` run creates.
pub(super) const PMIR_SYSTEM: &str = "urn:mpi:bench:pmir";

/// The requests of a `fhir-*` scenario against `base`; `system` is the import identifiers'
/// system of the records, `run` makes the feed's identifiers new in each run (with [`FRESH`],
/// new for each message sent).
pub(super) fn requests(
    scenario: Scenario,
    base: &str,
    system: &str,
    run: &str,
    records: &[(String, PatientInput)],
) -> Vec<Request> {
    records
        .iter()
        .filter_map(|(id, input)| match scenario {
            Scenario::FhirPix => Some(Request::Get(format!(
                "{base}/fhir/Patient/$ihe-pix?sourceIdentifier={}",
                encode(&format!("{system}|{id}"))
            ))),
            Scenario::FhirPdqm => {
                let family = input.names.first()?.family.as_deref()?;
                let born = input.birth_date?;
                Some(Request::Get(format!(
                    "{base}/fhir/Patient?family={}&birthdate={}",
                    encode(family),
                    born.format("%Y-%m-%d")
                )))
            }
            Scenario::FhirPmir => Some(Request::Post(
                format!("{base}/fhir/Bundle"),
                feed_message(input, run).to_string(),
            )),
            _ => None,
        })
        .collect()
}

/// A PMIR (ITI-93) feed message creating one Patient with `input`'s demographics under the
/// identifier `PMIR_SYSTEM|P{run}-{FRESH}`.
fn feed_message(input: &PatientInput, run: &str) -> Value {
    let patient = json!({
        "resourceType": "Patient",
        "identifier": [{"system": PMIR_SYSTEM, "value": format!("P{run}-{FRESH}")}],
        "name": input.names.iter().map(|n| json!({
            "family": n.family,
            "given": n.given,
        })).collect::<Vec<_>>(),
        "gender": input.gender.map(|g| g.as_str()),
        "birthDate": input.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
        "address": input.addresses.iter().map(|a| json!({
            "line": a.lines,
            "city": a.city,
            "state": a.state,
            "postalCode": a.postal_code,
            "country": a.country,
        })).collect::<Vec<_>>(),
        "telecom": input.telecoms.iter().map(|t| json!({
            "system": t.system.as_str(),
            "value": t.value,
        })).collect::<Vec<_>>(),
    });
    let patient = strip_nulls(patient);
    json!({
        "resourceType": "Bundle",
        "type": "message",
        "entry": [
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-00000000b001", "resource": {
                "resourceType": "MessageHeader",
                "id": "00000000-0000-4000-8000-00000000b001",
                "eventUri": "urn:ihe:iti:pmir:2019:patient-feed",
                "source": {"endpoint": "urn:mpi:bench"},
                "focus": [{"reference": "urn:uuid:00000000-0000-4000-8000-00000000b002"}]
            }},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-00000000b002", "resource": {
                "resourceType": "Bundle",
                "type": "history",
                "entry": [{
                    "fullUrl": "urn:uuid:00000000-0000-4000-8000-00000000b003",
                    "resource": patient,
                    "request": {"method": "POST", "url": "Patient"}
                }]
            }}
        ]
    })
}

/// `value` without its null members and empty arrays (FHIR JSON has neither).
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, strip_nulls(v)))
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_json_has_no_null_or_empty_members() {
        let stripped = strip_nulls(json!({
            "a": null, "b": [], "c": [{"d": null, "e": "x"}], "f": {"g": null}
        }));
        assert_eq!(stripped, json!({"c": [{"e": "x"}], "f": {}}));
    }
}
