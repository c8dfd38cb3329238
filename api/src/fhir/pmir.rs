//! IHE PMIR's Mobile Patient Identity Feed (ITI-93): `POST /fhir/Bundle` and `POST /fhir`
//! (`$process-message`) take a `message` Bundle whose MessageHeader has the event
//! `urn:ihe:iti:pmir:2019:patient-feed` and focuses a `history` Bundle of Patient entries
//! (POST, PUT, DELETE). The whole message is one call of the service's feed use case, so one
//! transaction: all of it is stored or none. Answers a `message` Bundle (`ok`, or
//! `fatal-error` with an OperationOutcome and the failing entry's status).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use uuid::Uuid;

use service::feed::{self, FeedAction, FeedResult, RecordKey};

use super::conditional::{feed_error, put_action};
use super::fhir_response;
use super::operation_outcome::FhirError;
use super::patient::FhirPatient;
use super::routes::{bad_request, base_url, parse_body};
use crate::auth::Caller;
use crate::error::ApiError;

type FhirResult = Result<HttpResponse, FhirError>;

/// The event of a PMIR feed message.
pub const FEED_EVENT: &str = "urn:ihe:iti:pmir:2019:patient-feed";
/// The event of its response.
pub const FEED_RESPONSE_EVENT: &str = "urn:ihe:iti:pmir:2019:patient-feed-response";

fn invalid(message: String, field: &str) -> FhirError {
    FhirError::Api(ApiError::InvalidValue {
        message,
        field: Some(field.to_owned()),
    })
}

/// The record a request URL names: `Patient/{id}` or `Patient?identifier=SYSTEM|VALUE`.
fn url_key(url: &str, field: &str) -> Result<RecordKey, FhirError> {
    let url = url.trim();
    let bad = || {
        invalid(
            format!("{field}: use Patient/{{id}} or Patient?identifier=SYSTEM|VALUE"),
            field,
        )
    };
    let tail = url.rsplit_once("Patient").map(|(_, t)| t).ok_or_else(bad)?;
    if let Some(id) = tail.strip_prefix('/') {
        return Uuid::parse_str(id).map(RecordKey::Id).map_err(|_| {
            FhirError::Api(ApiError::NotFound {
                message: format!("{field}: no such Patient"),
            })
        });
    }
    let query = tail.strip_prefix('?').ok_or_else(bad)?;
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|_| bad())?
        .into_inner();
    match pairs.as_slice() {
        [(name, value)] if name == "identifier" => match value.split_once('|') {
            Some((s, v)) if !s.trim().is_empty() && !v.trim().is_empty() => {
                Ok(RecordKey::Identifier {
                    system: s.trim().to_owned(),
                    value: v.trim().to_owned(),
                })
            }
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// What the message asks: its header's id and the feed's actions with their request lines.
struct Message {
    header_id: Option<String>,
    entries: Vec<(String, String)>,
    actions: Vec<FeedAction>,
}

/// Reads the message Bundle (400 when it is not a PMIR feed message; 422 naming the entry
/// element that the feed cannot take).
fn read_message(bundle: &Value) -> Result<Message, FhirError> {
    if bundle["resourceType"] != "Bundle" || bundle["type"] != "message" {
        return Err(bad_request(
            "a PMIR feed is a Bundle of type message".to_owned(),
            Some("Bundle.type"),
        ));
    }
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    let header = entries
        .first()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "MessageHeader")
        .ok_or_else(|| {
            bad_request(
                "the message's first entry must be a MessageHeader".to_owned(),
                Some("Bundle.entry[0]"),
            )
        })?;
    if header["eventUri"] != FEED_EVENT {
        return Err(bad_request(
            format!("MessageHeader.eventUri: must be {FEED_EVENT}"),
            Some("MessageHeader.eventUri"),
        ));
    }
    let focus = header["focus"][0]["reference"].as_str().unwrap_or_default();
    let history = entries
        .iter()
        .skip(1)
        .find(|e| {
            e["resource"]["resourceType"] == "Bundle"
                && (focus.is_empty()
                    || e["fullUrl"].as_str() == Some(focus)
                    || e["resource"]["id"]
                        .as_str()
                        .is_some_and(|id| focus == format!("Bundle/{id}")))
        })
        .map(|e| &e["resource"])
        .ok_or_else(|| {
            bad_request(
                "MessageHeader.focus: must name a Bundle of type history in the message".to_owned(),
                Some("MessageHeader.focus"),
            )
        })?;
    if history["type"] != "history" {
        return Err(bad_request(
            "the focus Bundle must be of type history".to_owned(),
            Some("Bundle.entry[1].resource.type"),
        ));
    }
    let items = history["entry"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Err(invalid(
            "the history Bundle carries no entry".to_owned(),
            "Bundle.entry[1].resource.entry",
        ));
    }
    if items.len() > feed::MAX_ACTIONS {
        return Err(invalid(
            format!(
                "the history Bundle carries more than {} entries",
                feed::MAX_ACTIONS
            ),
            "Bundle.entry[1].resource.entry",
        ));
    }
    let mut actions = Vec::with_capacity(items.len());
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("Bundle.entry[1].resource.entry[{i}]");
        let method = item["request"]["method"].as_str().unwrap_or_default();
        let url = item["request"]["url"].as_str().unwrap_or_default();
        let resource = &item["resource"];
        let kind = resource["resourceType"].as_str().unwrap_or_default();
        if method != "DELETE" && kind != "Patient" {
            return Err(invalid(
                format!(
                    "{field}.resource: only Patient entries are supported (RelatedPerson is not)"
                ),
                &format!("{field}.resource"),
            ));
        }
        let patient = || -> Result<FhirPatient, FhirError> {
            serde_json::from_value(resource.clone()).map_err(|e| {
                invalid(
                    format!("{field}.resource: is not a Patient the MPI can read: {e}"),
                    &format!("{field}.resource"),
                )
            })
        };
        let action = match method {
            "POST" => FeedAction::Create {
                input: patient()?.to_input()?,
            },
            "PUT" => {
                let key = url_key(url, &format!("{field}.request.url"))?;
                let resource = patient()?;
                if let (RecordKey::Id(id), Some(given)) = (&key, resource.id.as_deref())
                    && given != id.to_string()
                {
                    return Err(invalid(
                        format!("{field}.resource.id: must equal the id in request.url"),
                        &format!("{field}.resource.id"),
                    ));
                }
                put_action(key, &resource, &format!("{field}.resource"))?
            }
            "DELETE" => FeedAction::Delete {
                key: url_key(url, &format!("{field}.request.url"))?,
            },
            _ => {
                return Err(invalid(
                    format!("{field}.request.method: must be POST, PUT or DELETE"),
                    &format!("{field}.request.method"),
                ));
            }
        };
        actions.push(action);
        lines.push((method.to_owned(), url.to_owned()));
    }
    Ok(Message {
        header_id: header["id"].as_str().map(str::to_owned),
        entries: lines,
        actions,
    })
}

/// The response message: a MessageHeader (`ok` or `fatal-error`) focusing a history Bundle of
/// the entries' answers, and on failure the OperationOutcome.
fn response(
    base: &str,
    header_id: Option<&str>,
    code: &str,
    entries: Vec<Value>,
    outcome: Option<Value>,
) -> Value {
    let history_url = format!("urn:uuid:{}", Uuid::new_v4());
    let mut header = json!({
        "resourceType": "MessageHeader",
        "id": Uuid::new_v4().to_string(),
        "eventUri": FEED_RESPONSE_EVENT,
        "source": {"endpoint": base},
        "response": {"identifier": header_id.unwrap_or("unknown"), "code": code},
        "focus": [{"reference": history_url}],
    });
    let outcome_url = format!("urn:uuid:{}", Uuid::new_v4());
    if outcome.is_some() {
        header["response"]["details"] = json!({"reference": outcome_url});
    }
    let mut entry = vec![
        json!({"fullUrl": format!("urn:uuid:{}", header["id"].as_str().unwrap_or_default()), "resource": header}),
        json!({"fullUrl": history_url, "resource": {
            "resourceType": "Bundle", "type": "history", "entry": entries,
        }}),
    ];
    if let Some(outcome) = outcome {
        entry.push(json!({"fullUrl": outcome_url, "resource": outcome}));
    }
    json!({
        "resourceType": "Bundle",
        "id": Uuid::new_v4().to_string(),
        "type": "message",
        "timestamp": super::patient::instant_text(chrono::Utc::now().fixed_offset()),
        "entry": entry,
    })
}

fn answer_entry(base: &str, line: &(String, String), result: &FeedResult) -> Value {
    let (status, id, version) = match result {
        FeedResult::Created(p) => ("201 Created", p.id(), Some(p.version())),
        FeedResult::Updated(p) => ("200 OK", p.id(), Some(p.version())),
        FeedResult::Merged { retired, .. } => ("200 OK", retired.id(), Some(retired.version())),
        FeedResult::Deleted { id } => ("204 No Content", *id, None),
    };
    let mut response = json!({"status": status, "location": format!("Patient/{id}")});
    if let Some(v) = version {
        response["etag"] = json!(format!("W/\"{v}\""));
    }
    json!({
        "fullUrl": format!("{base}/Patient/{id}"),
        "request": {"method": line.0, "url": if line.1.is_empty() { "Patient".to_owned() } else { line.1.clone() }},
        "response": response,
    })
}

/// `POST /fhir/Bundle` and `POST /fhir`: a PMIR patient feed message.
pub async fn process(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let caller = caller?;
    let bundle: Value = parse_body(&req, &body)?;
    let base = base_url(&req);
    let message = read_message(&bundle)?;
    match feed::apply(&caller.mpi, &caller.ctx, message.actions).await {
        Ok(results) => {
            let entries = message
                .entries
                .iter()
                .zip(&results)
                .map(|(line, r)| answer_entry(&base, line, r))
                .collect();
            Ok(fhir_response(
                HttpResponse::Ok(),
                &response(&base, message.header_id.as_deref(), "ok", entries, None),
            ))
        }
        Err(failure) => {
            let error = feed_error(failure.error);
            let (status, _, _, _) = error.parts();
            if !status.is_client_error() {
                return Err(error);
            }
            let mut outcome = serde_json::to_value(error.outcome())
                .map_err(|e| FhirError::Api(ApiError::internal(e)))?;
            if let Some(issue) = outcome["issue"][0].as_object_mut() {
                issue.insert(
                    "expression".to_owned(),
                    json!([format!("Bundle.entry[1].resource.entry[{}]", failure.index)]),
                );
            }
            let line = message
                .entries
                .get(failure.index)
                .cloned()
                .unwrap_or_default();
            let entries = vec![json!({
                "request": {"method": if line.0.is_empty() { "POST".to_owned() } else { line.0 },
                            "url": if line.1.is_empty() { "Patient".to_owned() } else { line.1 }},
                "response": {"status": format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or_default()),
                             "outcome": outcome.clone()},
            })];
            Ok(fhir_response(
                HttpResponse::build(status),
                &response(
                    &base,
                    message.header_id.as_deref(),
                    "fatal-error",
                    entries,
                    Some(outcome),
                ),
            ))
        }
    }
}
