//! IHE PMIR's Mobile Patient Identity Feed (ITI-93): `POST /fhir/$process-message`,
//! `POST /fhir/Bundle` and `POST /fhir` take a `message` Bundle whose MessageHeader has the event
//! `urn:ihe:iti:pmir:2019:patient-feed` and focuses a `history` Bundle of Patient and
//! RelatedPerson entries (POST, PUT, DELETE; a RelatedPerson names its patient by an earlier
//! entry's fullUrl or as `Patient/{id}`), Organization entries (stored by their identifiers; a
//! Patient's managingOrganization may name one by its fullUrl) and Practitioner entries
//! (accepted, not stored). A `PUT Patient/{id}` whose id is not one the MPI assigned names the
//! record by the resource's own identifiers (create when nobody holds them, else update or
//! merge). The whole message is one call of the service's feed use case, so one transaction:
//! all of it is stored or none. Answers a `message` Bundle: `ok` (201 when an entry created a
//! resource, else 200) with an OperationOutcome naming what was accepted and not stored, or
//! `fatal-error` with an OperationOutcome and the failing entry's status.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use uuid::Uuid;

use service::feed::{self, FeedAction, FeedResult, PatientRef, RecordKey};
use service::organizations::OrganizationInput;

use super::conditional::{feed_error, put_action};
use super::fhir_response;
use super::operation_outcome::{FhirError, OperationOutcome};
use super::patient::FhirPatient;
use super::related_person::FhirRelatedPerson;
use super::routes::{bad_request, base_url, parse_body};
use crate::auth::Caller;
use crate::error::ApiError;

type FhirResult = Result<HttpResponse, FhirError>;

/// The event of a PMIR feed message.
pub const FEED_EVENT: &str = "urn:ihe:iti:pmir:2019:patient-feed";
/// The event of its response.
pub const FEED_RESPONSE_EVENT: &str = "urn:ihe:iti:pmir:2019:patient-feed-response";
/// The MessageDefinition a response names (`MessageHeader.definition`, fixed by PMIR's
/// MessageHeader Response profile).
pub const FEED_RESPONSE_DEFINITION: &str =
    "https://profiles.ihe.net/ITI/PMIR/MessageDefinition/IHE.PMIR.MessageDefinition.Response";
/// PMIR's MessageHeader Response profile, which the response's MessageHeader claims.
pub const FEED_RESPONSE_PROFILE: &str =
    "https://profiles.ihe.net/ITI/PMIR/StructureDefinition/IHE.PMIR.MessageHeader.Response";

fn invalid(message: String, field: &str) -> FhirError {
    FhirError::Api(ApiError::InvalidValue {
        message,
        field: Some(field.to_owned()),
    })
}

/// The record a request URL names: `Patient/{id}` or `Patient?identifier=SYSTEM|VALUE`;
/// `None` for `Patient/{id}` with an id the MPI did not assign (the sender's own id), which
/// names the record by the identifiers the resource carries.
fn url_key(url: &str, field: &str) -> Result<Option<RecordKey>, FhirError> {
    let url = url.trim();
    let bad = || {
        invalid(
            format!("{field}: use Patient/{{id}} or Patient?identifier=SYSTEM|VALUE"),
            field,
        )
    };
    let tail = url.rsplit_once("Patient").map(|(_, t)| t).ok_or_else(bad)?;
    if let Some(id) = tail.strip_prefix('/') {
        return Ok(Uuid::parse_str(id.trim()).ok().map(RecordKey::Id));
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
    .map(Some)
}

/// The key of a record by the identifiers `resource` carries (the ones with a system and a
/// value; the service keeps those in domains the caller may assign).
fn own_identifiers(resource: &FhirPatient, field: &str) -> Result<RecordKey, FhirError> {
    let list: Vec<(String, String)> = resource
        .identifier
        .iter()
        .filter_map(|i| match (i.system.as_deref(), i.value.as_deref()) {
            (Some(s), Some(v)) if !s.trim().is_empty() && !v.trim().is_empty() => {
                Some((s.trim().to_owned(), v.trim().to_owned()))
            }
            _ => None,
        })
        .collect();
    if list.is_empty() {
        return Err(invalid(
            format!(
                "{field}.identifier: a Patient named by an id the MPI did not assign needs an identifier (system and value) to be found by"
            ),
            &format!("{field}.identifier"),
        ));
    }
    Ok(RecordKey::Identifiers(list))
}

/// The entry types a message may carry that are accepted and not stored.
const IGNORED_KINDS: &[&str] = &["Practitioner"];

/// An entry's request method, URL and resource type, and the index of its action (`None` for
/// an entry accepted and not stored).
type Line = (String, String, String, Option<usize>);

/// What the message asks: the feed's actions with their request lines.
struct Message {
    /// Each entry's request method, URL and resource type, and the index of its action
    /// (`None` for an entry accepted and not stored).
    entries: Vec<Line>,
    actions: Vec<FeedAction>,
    /// What was accepted without being stored, for the response's OperationOutcome.
    notes: Vec<(usize, String)>,
}

/// An earlier Organization entry of the message: the URLs it may be referenced by and the id
/// its action names it by.
struct OrganizationEntry {
    urls: Vec<String>,
    id: Uuid,
}

/// The feed action of a Patient entry.
fn patient_action(
    method: &str,
    url: &str,
    resource: &Value,
    field: &str,
    organizations: &[OrganizationEntry],
    notes: &mut Vec<String>,
) -> Result<FeedAction, FhirError> {
    let patient = |notes: &mut Vec<String>| -> Result<FhirPatient, FhirError> {
        let mut patient: FhirPatient = serde_json::from_value(resource.clone()).map_err(|e| {
            invalid(
                format!("{field}.resource: is not a Patient the MPI can read: {e}"),
                &format!("{field}.resource"),
            )
        })?;
        // A managing organization named by an earlier Organization entry of the message.
        if let Some(reference) = patient
            .managing_organization
            .as_mut()
            .and_then(|r| r.reference.as_mut())
            && let Some(org) = organizations
                .iter()
                .find(|o| o.urls.iter().any(|u| u == reference.trim()))
        {
            *reference = format!("Organization/{}", org.id);
        }
        let ignored = patient.ignored();
        if !ignored.is_empty() {
            notes.push(format!(
                "{field}.resource: accepted and not stored: {}",
                ignored.join(", ")
            ));
        }
        Ok(patient)
    };
    match method {
        "POST" => Ok(FeedAction::Create {
            input: patient(notes)?.to_input()?,
        }),
        "PUT" => {
            let resource = patient(notes)?;
            let key = match url_key(url, &format!("{field}.request.url"))? {
                Some(key) => key,
                None => own_identifiers(&resource, &format!("{field}.resource"))?,
            };
            if let (RecordKey::Id(id), Some(given)) = (&key, resource.id.as_deref())
                && given != id.to_string()
            {
                return Err(invalid(
                    format!("{field}.resource.id: must equal the id in request.url"),
                    &format!("{field}.resource.id"),
                ));
            }
            put_action(key, &resource, &format!("{field}.resource"))
        }
        "DELETE" => Ok(FeedAction::Delete {
            key: url_key(url, &format!("{field}.request.url"))?.ok_or_else(|| {
                FhirError::Api(ApiError::NotFound {
                    message: format!(
                        "{field}.request.url: no such Patient (name it by Patient?identifier=SYSTEM|VALUE)"
                    ),
                })
            })?,
        }),
        _ => Err(invalid(
            format!("{field}.request.method: must be POST, PUT or DELETE"),
            &format!("{field}.request.method"),
        )),
    }
}

/// The id of a `RelatedPerson/{id}` request URL.
fn related_id(url: &str, field: &str) -> Result<Uuid, FhirError> {
    let id = url
        .trim()
        .rsplit_once("RelatedPerson/")
        .map(|(_, id)| id)
        .ok_or_else(|| invalid(format!("{field}: use RelatedPerson/{{id}}"), field))?;
    Uuid::parse_str(id).map_err(|_| {
        FhirError::Api(ApiError::NotFound {
            message: format!("{field}: no such RelatedPerson"),
        })
    })
}

/// The feed action of a RelatedPerson entry: its patient is an earlier entry of the message
/// (by that entry's fullUrl) or a stored Patient (`Patient/{id}`).
fn related_action(
    method: &str,
    url: &str,
    resource: &Value,
    field: &str,
    earlier: &[Option<String>],
) -> Result<FeedAction, FhirError> {
    let url_field = format!("{field}.request.url");
    if method == "DELETE" {
        return Ok(FeedAction::DeleteRelatedPerson {
            id: related_id(url, &url_field)?,
        });
    }
    let id = match method {
        "POST" => None,
        "PUT" => Some(related_id(url, &url_field)?),
        _ => {
            return Err(invalid(
                format!("{field}.request.method: must be POST, PUT or DELETE"),
                &format!("{field}.request.method"),
            ));
        }
    };
    let person: FhirRelatedPerson = serde_json::from_value(resource.clone()).map_err(|e| {
        invalid(
            format!("{field}.resource: is not a RelatedPerson the MPI can read: {e}"),
            &format!("{field}.resource"),
        )
    })?;
    if let (Some(id), Some(given)) = (id, person.id.as_deref())
        && given != id.to_string()
    {
        return Err(invalid(
            format!("{field}.resource.id: must equal the id in request.url"),
            &format!("{field}.resource.id"),
        ));
    }
    let reference = person.patient_reference()?;
    let patient = match earlier.iter().position(|u| u.as_deref() == Some(reference)) {
        Some(index) => PatientRef::Action(index),
        None => PatientRef::Id(person.patient_id()?),
    };
    Ok(FeedAction::RelatedPerson {
        id,
        patient,
        input: person.to_input(Uuid::nil())?,
    })
}

/// The feed action of an Organization entry (POST or PUT): stored by its identifiers (the one
/// holding any of them is updated, else one is created); its name and `active` are kept.
fn organization_action(
    method: &str,
    resource: &Value,
    field: &str,
) -> Result<FeedAction, FhirError> {
    if !matches!(method, "POST" | "PUT") {
        return Err(invalid(
            format!("{field}.request.method: an Organization entry must be POST or PUT"),
            &format!("{field}.request.method"),
        ));
    }
    let name = resource["name"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if name.is_empty() {
        return Err(invalid(
            format!("{field}.resource.name: an Organization needs a name"),
            &format!("{field}.resource.name"),
        ));
    }
    let identifiers = match &resource["identifier"] {
        Value::Null => Vec::new(),
        Value::Array(list) => list
            .iter()
            .map(|i| (i["system"].as_str(), i["value"].as_str()))
            .map(|p| match p {
                (Some(s), Some(v)) => Ok((s.trim().to_owned(), v.trim().to_owned())),
                _ => Err(invalid(
                    format!("{field}.resource.identifier: each needs a system and a value"),
                    &format!("{field}.resource.identifier"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(invalid(
                format!("{field}.resource.identifier: must be a list"),
                &format!("{field}.resource.identifier"),
            ));
        }
    };
    Ok(FeedAction::Organization {
        id: Uuid::new_v4(),
        input: OrganizationInput {
            name,
            active: resource["active"].as_bool().unwrap_or(true),
            identifiers,
        },
    })
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
    // Each action's fullUrl, so that a RelatedPerson can name a Patient entry before it.
    let mut full_urls: Vec<Option<String>> = Vec::with_capacity(items.len());
    let mut organizations: Vec<OrganizationEntry> = Vec::new();
    let mut notes = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("Bundle.entry[1].resource.entry[{i}]");
        let method = item["request"]["method"].as_str().unwrap_or_default();
        let url = item["request"]["url"].as_str().unwrap_or_default();
        let resource = &item["resource"];
        let kind = match resource["resourceType"].as_str() {
            Some(kind) => kind,
            // A DELETE carries no resource: the URL names the type.
            None if url.trim_start_matches('/').starts_with("RelatedPerson") => "RelatedPerson",
            None => "Patient",
        };
        let mut entry_notes = Vec::new();
        let action = match kind {
            "Patient" => patient_action(
                method,
                url,
                resource,
                &field,
                &organizations,
                &mut entry_notes,
            )?,
            "RelatedPerson" => related_action(method, url, resource, &field, &full_urls)?,
            "Organization" => {
                let action = organization_action(method, resource, &field)?;
                if let FeedAction::Organization { id, .. } = &action {
                    let mut urls: Vec<String> = item["fullUrl"]
                        .as_str()
                        .map(|u| u.trim().to_owned())
                        .into_iter()
                        .collect();
                    if let Some(own) = resource["id"].as_str() {
                        urls.push(format!("Organization/{}", own.trim()));
                    }
                    organizations.push(OrganizationEntry { urls, id: *id });
                }
                action
            }
            k if IGNORED_KINDS.contains(&k) => {
                notes.push((
                    i,
                    format!("{field}.resource: a {k} is accepted and not stored"),
                ));
                lines.push((method.to_owned(), url.to_owned(), kind.to_owned(), None));
                continue;
            }
            _ => {
                return Err(invalid(
                    format!(
                        "{field}.resource: only Patient, RelatedPerson, Organization and Practitioner entries are supported"
                    ),
                    &format!("{field}.resource"),
                ));
            }
        };
        notes.extend(entry_notes.into_iter().map(|n| (i, n)));
        lines.push((
            method.to_owned(),
            url.to_owned(),
            kind.to_owned(),
            Some(actions.len()),
        ));
        actions.push(action);
        full_urls.push(item["fullUrl"].as_str().map(|u| u.trim().to_owned()));
    }
    mothers_of_the_message(&mut actions);
    Ok(Message {
        entries: lines,
        actions,
        notes,
    })
}

/// A mother sent as a RelatedPerson (`MTH`) of a Patient entry of the same message, with an
/// identifier (PMIR's mother-and-newborn message: FHIR Patient has no element for the mother's
/// identifier), gives that Patient its mother's identifier, as HL7 v2's PID-21 does, unless
/// the Patient names one already. Searches by the mother's identifier and by her maiden name
/// then find the child, and the matcher compares it.
fn mothers_of_the_message(actions: &mut [FeedAction]) {
    let mothers: Vec<(usize, service::patients::MotherIdentifier)> = actions
        .iter()
        .filter_map(|action| match action {
            FeedAction::RelatedPerson {
                patient: PatientRef::Action(index),
                input,
                ..
            } if input.relationship.eq_ignore_ascii_case("MTH") => {
                input.identifiers.first().map(|id| {
                    (
                        *index,
                        service::patients::MotherIdentifier {
                            system: id.system.clone(),
                            value: id.value.clone(),
                        },
                    )
                })
            }
            _ => None,
        })
        .collect();
    for (index, identifier) in mothers {
        if let Some(FeedAction::Create { input } | FeedAction::Put { input, .. }) =
            actions.get_mut(index)
            && input.mother.identifier.is_none()
        {
            input.mother.identifier = Some(identifier);
            input.mother.keep_stored_identifier = false;
        }
    }
}

/// The response message (ITI-93 §2:3.93.4.2, PMIR's MessageHeader Response profile): a
/// MessageHeader with the response event and definition, no destination, `response.identifier`
/// the request MessageHeader's id and `response.code` `ok` or `fatal-error`, focusing a history
/// Bundle with one entry per request entry, in the request's order (on a refusal, the failing
/// entry alone), each with its `response.status` and, for a resource written,
/// `response.location` `Type/id/_history/version`; on failure, and with notes on success, an
/// OperationOutcome as `response.details`.
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
        "meta": {"profile": [FEED_RESPONSE_PROFILE]},
        "eventUri": FEED_RESPONSE_EVENT,
        "source": {"endpoint": base},
        "response": {"identifier": header_id.unwrap_or("unknown"), "code": code},
        "focus": [{"reference": history_url}],
        "definition": FEED_RESPONSE_DEFINITION,
    });
    let outcome_url = format!("urn:uuid:{}", Uuid::new_v4());
    if outcome.is_some() {
        header["response"]["details"] = json!({"reference": outcome_url});
    }
    let mut entry = vec![
        json!({"fullUrl": format!("urn:uuid:{}", header["id"].as_str().unwrap_or_default()), "resource": header}),
        // FHIR JSON has no empty arrays: a refusal naming no entry has none.
        json!({"fullUrl": history_url, "resource": if entries.is_empty() {
            json!({"resourceType": "Bundle", "id": Uuid::new_v4().to_string(), "type": "history"})
        } else {
            json!({"resourceType": "Bundle", "id": Uuid::new_v4().to_string(), "type": "history", "entry": entries})
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

/// The request MessageHeader's id when it is a FHIR `id` (`[A-Za-z0-9\-\.]{1,64}`), the type of
/// `MessageHeader.response.identifier` in R4; another value is not echoed.
fn request_id(bundle: &Value) -> Option<String> {
    let header = &bundle["entry"][0]["resource"];
    if header["resourceType"] != "MessageHeader" {
        return None;
    }
    header["id"]
        .as_str()
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        })
        .map(str::to_owned)
}

/// The `response` of a request entry's answer: its status, and for a resource written the
/// version-specific `location` (`Type/id/_history/version`, as FHIR's transaction responses and
/// PMIR's history entries give it) and the `etag`.
fn answer_entry(base: &str, line: &Line, result: Option<&FeedResult>) -> Value {
    let request = json!({"method": line.0, "url": if line.1.is_empty() { line.2.clone() } else { line.1.clone() }});
    let Some(result) = result else {
        // Accepted and not stored (a Practitioner).
        return json!({
            "request": request,
            "response": {"status": "200 OK", "outcome": OperationOutcome::information(
                format!("a {} is accepted and not stored", line.2))},
        });
    };
    let (status, kind, id, version) = match result {
        FeedResult::Created(p) => ("201 Created", "Patient", p.id(), Some(p.version())),
        FeedResult::Updated(p) => ("200 OK", "Patient", p.id(), Some(p.version())),
        FeedResult::Merged { retired, .. } => {
            ("200 OK", "Patient", retired.id(), Some(retired.version()))
        }
        FeedResult::Deleted { id } => ("204 No Content", "Patient", *id, None),
        FeedResult::RelatedCreated(r) => ("201 Created", "RelatedPerson", r.id, Some(r.version)),
        FeedResult::RelatedUpdated(r) => ("200 OK", "RelatedPerson", r.id, Some(r.version)),
        FeedResult::RelatedDeleted { id } => ("204 No Content", "RelatedPerson", *id, None),
        FeedResult::Organization { id, created } => (
            if *created { "201 Created" } else { "200 OK" },
            "Organization",
            *id,
            None,
        ),
    };
    let mut response = json!({"status": status});
    match version {
        Some(v) => {
            response["location"] = json!(format!("{kind}/{id}/_history/{v}"));
            response["etag"] = json!(format!("W/\"{v}\""));
        }
        // A deleted resource has no version to name; an organization is not versioned.
        None if matches!(result, FeedResult::Organization { .. }) => {
            response["location"] = json!(format!("{kind}/{id}"));
        }
        None => {}
    }
    json!({
        "fullUrl": format!("{base}/{kind}/{id}"),
        "request": request,
        "response": response,
    })
}

/// Whether an action's result created something (the message is then answered 201).
fn created(result: &FeedResult) -> bool {
    matches!(
        result,
        FeedResult::Created(_)
            | FeedResult::RelatedCreated(_)
            | FeedResult::Organization { created: true, .. }
    )
}

/// The `fatal-error` answer to a refused message: the HTTP status of the refusal, the failing
/// entry (when one is known) with its status and outcome, and the OperationOutcome.
fn refusal(
    base: &str,
    header_id: Option<&str>,
    error: FhirError,
    entry: Option<(usize, &Line)>,
) -> FhirResult {
    let (status, _, _, _) = error.parts();
    if !status.is_client_error() {
        return Err(error);
    }
    let mut outcome =
        serde_json::to_value(error.outcome()).map_err(|e| FhirError::Api(ApiError::internal(e)))?;
    let mut entries = Vec::new();
    if let Some((index, line)) = entry {
        if let Some(issue) = outcome["issue"][0].as_object_mut() {
            issue.insert(
                "expression".to_owned(),
                json!([format!("Bundle.entry[1].resource.entry[{index}]")]),
            );
        }
        let kind = if line.2.is_empty() {
            "Patient"
        } else {
            &line.2
        };
        entries.push(json!({
            "request": {"method": if line.0.is_empty() { "POST" } else { &line.0 },
                        "url": if line.1.is_empty() { kind } else { &line.1 }},
            "response": {"status": format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or_default()),
                         "outcome": outcome.clone()},
        }));
    }
    Ok(fhir_response(
        HttpResponse::build(status),
        &response(base, header_id, "fatal-error", entries, Some(outcome)),
    ))
}

/// `POST /fhir/Bundle` and `POST /fhir`: a PMIR patient feed message. Every refusal of a
/// message that could be read as JSON is a `message` Bundle (`fatal-error`, with the
/// OperationOutcome); a success is 201 when an entry created a resource, else 200, and carries
/// an OperationOutcome naming what was accepted without being stored.
pub async fn process(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let caller = caller?;
    let bundle: Value = parse_body(&req, &body)?;
    let base = base_url(&req);
    let header_id = request_id(&bundle);
    let message = match read_message(&bundle) {
        Ok(message) => message,
        Err(error) => return refusal(&base, header_id.as_deref(), error, None),
    };
    match feed::apply(&caller.mpi, &caller.ctx, message.actions).await {
        Ok(results) => {
            let entries = message
                .entries
                .iter()
                .map(|line| answer_entry(&base, line, line.3.and_then(|a| results.get(a))))
                .collect();
            let mut issues: Vec<Value> = message
                .notes
                .iter()
                .map(|(i, note)| {
                    json!({"severity": "information", "code": "informational",
                           "diagnostics": note,
                           "expression": [format!("Bundle.entry[1].resource.entry[{i}]")]})
                })
                .collect();
            if issues.is_empty() {
                issues.push(json!({"severity": "information", "code": "informational",
                                   "diagnostics": "the message was processed"}));
            }
            let outcome = json!({"resourceType": "OperationOutcome", "issue": issues});
            let builder = if results.iter().any(created) {
                HttpResponse::Created()
            } else {
                HttpResponse::Ok()
            };
            Ok(fhir_response(
                builder,
                &response(&base, header_id.as_deref(), "ok", entries, Some(outcome)),
            ))
        }
        Err(failure) => {
            let error = feed_error(failure.error);
            let entry = message
                .entries
                .iter()
                .enumerate()
                .find(|(_, line)| line.3 == Some(failure.index));
            refusal(&base, header_id.as_deref(), error, entry)
        }
    }
}
