//! IHE PIXm's Patient Identity Feed FHIR (ITI-104): conditional create-or-update
//! `PUT /fhir/Patient?identifier=SYSTEM|VALUE` and conditional `DELETE`, over the service's feed
//! use case (`service::feed`). A PUT of an inactive Patient whose `link` is `replaced-by`
//! another record resolves a duplicate: it merges the two (undoable as any merge). And FHIR
//! R4's conditional create: the `If-None-Exist` header of `POST /fhir/Patient` read into the
//! identifiers `service::conditional_create` decides by.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use service::conditional_create::MAX_CONDITION_IDENTIFIERS;
use service::feed::{self, FeedAction, FeedFailure, FeedResult, MAX_KEY_TEXT, RecordKey};

use super::fhir_response;
use super::operation_outcome::{FhirError, OperationOutcome};
use super::patient::{FhirPatient, Reference};
use super::routes::{bad_request, base_url, etag, parse_body, patient_url};
use crate::auth::Caller;
use crate::error::ApiError;

type FhirResult = Result<HttpResponse, FhirError>;

/// The record a conditional interaction names: its one `identifier=SYSTEM|VALUE` criterion.
fn condition(req: &HttpRequest) -> Result<RecordKey, FhirError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| bad_request(format!("malformed query: {e}"), None))?
        .into_inner();
    let mut key = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "identifier" if key.is_none() => match value.trim().split_once('|') {
                Some((system, v)) if !system.trim().is_empty() && !v.trim().is_empty() => {
                    key = Some(RecordKey::Identifier {
                        system: system.trim().to_owned(),
                        value: v.trim().to_owned(),
                    });
                }
                _ => {
                    return Err(bad_request(
                        "identifier: use SYSTEM|VALUE (both are required)".to_owned(),
                        Some("identifier"),
                    ));
                }
            },
            "_format"
                if matches!(
                    value.trim(),
                    "json" | "application/json" | "application/fhir+json"
                ) => {}
            _ => {
                return Err(bad_request(
                    format!(
                        "{name}: a conditional update or delete takes exactly one identifier=SYSTEM|VALUE"
                    ),
                    Some(name),
                ));
            }
        }
    }
    key.ok_or_else(|| {
        bad_request(
            "identifier: a conditional update or delete needs identifier=SYSTEM|VALUE".to_owned(),
            Some("identifier"),
        )
    })
}

/// The header of a conditional create.
pub const IF_NONE_EXIST: &str = "if-none-exist";

/// The condition of a conditional create (FHIR R4 http.html#ccreate): the `If-None-Exist`
/// header's search parameters (`identifier=SYSTEM|VALUE`, repeated with `&` for several, all of
/// which must hold; percent-encoded as in a URL; `Patient?` before them is allowed), or `None`
/// without the header. Anything else is a 400 naming the header, never echoing a value: another
/// parameter or a modifier (only identifiers make a condition the database can hold to, see
/// `service::conditional_create`), a comma (alternatives), a missing system or value, more than
/// [`MAX_CONDITION_IDENTIFIERS`] identifiers, a system or value over [`MAX_KEY_TEXT`] bytes, the
/// header given twice.
pub(super) fn if_none_exist(req: &HttpRequest) -> Result<Option<Vec<(String, String)>>, FhirError> {
    let mut values = req.headers().get_all(IF_NONE_EXIST);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let malformed =
        |message: String| bad_request(format!("If-None-Exist: {message}"), Some("If-None-Exist"));
    if values.next().is_some() {
        return Err(malformed("given more than once".to_owned()));
    }
    let text = value
        .to_str()
        .map_err(|_| malformed("is not ASCII text".to_owned()))?
        .trim();
    let text = text.strip_prefix("Patient?").unwrap_or(text);
    if text.is_empty() {
        return Err(malformed(
            "is empty (give identifier=SYSTEM|VALUE)".to_owned(),
        ));
    }
    let pairs = web::Query::<Vec<(String, String)>>::from_query(text)
        .map_err(|_| malformed("is not a search query (identifier=SYSTEM|VALUE)".to_owned()))?
        .into_inner();
    let mut condition = Vec::with_capacity(pairs.len());
    for (name, value) in &pairs {
        if name != "identifier" {
            return Err(malformed(format!(
                "{}: not supported in a conditional create; its condition is \
                 identifier=SYSTEM|VALUE, repeated with & for several",
                super::pdqm::safe(name)
            )));
        }
        if value.contains(',') {
            return Err(malformed(
                "identifier: alternatives (a comma) are not supported; repeat identifier= for \
                 identifiers that must all be held"
                    .to_owned(),
            ));
        }
        match value.split_once('|') {
            Some((system, v)) if !system.trim().is_empty() && !v.trim().is_empty() => {
                if system.trim().len() > MAX_KEY_TEXT || v.trim().len() > MAX_KEY_TEXT {
                    return Err(malformed(format!(
                        "identifier: a system or value is longer than {MAX_KEY_TEXT} bytes"
                    )));
                }
                condition.push((system.trim().to_owned(), v.trim().to_owned()));
            }
            _ => {
                return Err(malformed(
                    "identifier: use SYSTEM|VALUE (both are required)".to_owned(),
                ));
            }
        }
    }
    if condition.len() > MAX_CONDITION_IDENTIFIERS {
        return Err(malformed(format!(
            "at most {MAX_CONDITION_IDENTIFIERS} identifiers"
        )));
    }
    if condition.is_empty() {
        return Err(malformed("names no identifier".to_owned()));
    }
    Ok(Some(condition))
}

/// A conditional create's refusal in FHIR terms: several records holding the condition's
/// identifiers 412 (`multiple-matches`, R4 http.html#ccreate); the rest as the API maps them.
pub(super) fn create_error(error: service::Error) -> FhirError {
    match &error {
        service::Error::Conflict {
            code: "multiple_matches",
            message,
            ..
        } => FhirError::Profile {
            status: StatusCode::PRECONDITION_FAILED,
            issue: "multiple-matches",
            code: "multiple_matches",
            message: message.clone(),
            field: Some("If-None-Exist".to_owned()),
        },
        _ => FhirError::Api(ApiError::from(error)),
    }
}

/// The record a `replaced-by` link names: `Patient/{id}` or a logical reference by identifier.
pub(super) fn link_key(other: &Reference, field: &str) -> Result<RecordKey, FhirError> {
    if other.reference.is_some() {
        return Ok(RecordKey::Id(
            other.id_of("Patient", field).map_err(FhirError::Api)?,
        ));
    }
    match other.identifier.as_deref() {
        Some(i) => match (i.system.as_deref(), i.value.as_deref()) {
            (Some(system), Some(value))
                if !system.trim().is_empty() && !value.trim().is_empty() =>
            {
                Ok(RecordKey::Identifier {
                    system: system.trim().to_owned(),
                    value: value.trim().to_owned(),
                })
            }
            _ => Err(FhirError::Api(ApiError::InvalidValue {
                message: format!("{field}: the identifier needs a system and a value"),
                field: Some(field.to_owned()),
            })),
        },
        None => Err(FhirError::Api(ApiError::InvalidValue {
            message: format!("{field}: give a reference Patient/{{id}} or an identifier"),
            field: Some(field.to_owned()),
        })),
    }
}

/// The feed action a PUT of `resource` at `key` asks for: a merge when the Patient is inactive
/// and `replaced-by` another, else a create-or-update.
pub(super) fn put_action(
    key: RecordKey,
    resource: &FhirPatient,
    field: &str,
) -> Result<FeedAction, FhirError> {
    let replaced_by: Vec<(usize, &Reference)> = resource
        .link
        .iter()
        .enumerate()
        .filter(|(_, l)| l.type_ == "replaced-by")
        .map(|(i, l)| (i, &l.other))
        .collect();
    match replaced_by.as_slice() {
        [] => Ok(FeedAction::Put {
            key,
            input: resource.to_input()?,
            resource_id: None,
        }),
        [(i, other)] => {
            if resource.active != Some(false) {
                return Err(FhirError::Api(ApiError::InvalidValue {
                    message: format!(
                        "{field}.active: a Patient replaced-by another must be active=false"
                    ),
                    field: Some(format!("{field}.active")),
                }));
            }
            let survivor = link_key(other, &format!("{field}.link[{i}].other"))?;
            Ok(FeedAction::Merge {
                key,
                survivor,
                resource_id: None,
            })
        }
        _ => Err(FhirError::Api(ApiError::InvalidValue {
            message: format!("{field}.link: at most one replaced-by link"),
            field: Some(format!("{field}.link")),
        })),
    }
}

/// A feed's refusal in FHIR terms: several records match 412 (`multiple-matches`), an attempt
/// to change (unmerge) a merged-away record 405, a resource id that is not the matched record's
/// 400; the rest as the API maps them.
pub(super) fn feed_error(error: service::Error) -> FhirError {
    match &error {
        service::Error::Conflict {
            code: "id_mismatch",
            message,
            ..
        } => FhirError::Profile {
            status: StatusCode::BAD_REQUEST,
            issue: "invalid",
            code: "id_mismatch",
            message: format!("Patient.id: {message}"),
            field: Some("Patient.id".to_owned()),
        },
        service::Error::Conflict {
            code: "multiple_matches",
            message,
            ..
        } => FhirError::Profile {
            status: StatusCode::PRECONDITION_FAILED,
            issue: "multiple-matches",
            code: "multiple_matches",
            message: message.clone(),
            field: Some("identifier".to_owned()),
        },
        service::Error::Conflict {
            code: "already_merged",
            ..
        } => FhirError::Profile {
            status: StatusCode::METHOD_NOT_ALLOWED,
            issue: "business-rule",
            code: "unmerge_not_supported",
            message: "this Patient was merged into another record (replaced-by); undoing a merge is not a feed action (POST /api/v1/merges/{id}/undo)".to_owned(),
            field: None,
        },
        _ => FhirError::Api(ApiError::from(error)),
    }
}

fn only(result: Result<Vec<FeedResult>, FeedFailure>) -> Result<FeedResult, FhirError> {
    let mut results = result.map_err(|f| feed_error(f.error))?;
    results.pop().ok_or_else(|| {
        FhirError::Api(ApiError::internal(service::Error::conflict(
            "empty_feed",
            "the feed answered nothing",
        )))
    })
}

/// `PUT /fhir/Patient?identifier=SYSTEM|VALUE` (ITI-104).
pub async fn update(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let caller = caller?;
    let key = condition(&req)?;
    let resource: FhirPatient = parse_body(&req, &body)?;
    let mut action = put_action(key, &resource, "Patient")?;
    // FHIR R4 conditional update: with one match, a resource id that is not the matched
    // record's is a 400 (with none, the record is created and the id is not used: there is
    // no update-as-create).
    if let FeedAction::Put { resource_id, .. } | FeedAction::Merge { resource_id, .. } = &mut action
    {
        resource_id.clone_from(&resource.id);
    }
    let base = base_url(&req);
    match only(feed::apply(&caller.mpi, &caller.ctx, vec![action]).await)? {
        FeedResult::Created(patient) => {
            let mut builder = HttpResponse::Created();
            builder
                .insert_header((header::LOCATION, patient_url(&base, patient.id())))
                .insert_header(etag(patient.version()));
            Ok(fhir_response(builder, &FhirPatient::from(patient.as_ref())))
        }
        FeedResult::Updated(patient) => {
            let mut builder = HttpResponse::Ok();
            builder.insert_header(etag(patient.version()));
            Ok(fhir_response(builder, &FhirPatient::from(patient.as_ref())))
        }
        FeedResult::Merged { retired, .. } => {
            let mut builder = HttpResponse::Ok();
            builder.insert_header(etag(retired.version()));
            Ok(fhir_response(builder, &FhirPatient::from(retired.as_ref())))
        }
        // A Patient PUT never deletes and never touches a RelatedPerson.
        FeedResult::Deleted { .. }
        | FeedResult::RelatedCreated(_)
        | FeedResult::RelatedUpdated(_)
        | FeedResult::RelatedDeleted { .. }
        | FeedResult::Organization { .. } => Err(FhirError::Api(ApiError::MethodNotAllowed)),
    }
}

/// `DELETE /fhir/Patient?identifier=SYSTEM|VALUE` (ITI-104's Remove Patient option): 200 with
/// an informational OperationOutcome; 404 when no live record holds the identifier.
pub async fn delete(caller: Result<Caller, ApiError>, req: HttpRequest) -> FhirResult {
    let caller = caller?;
    let key = condition(&req)?;
    let id: Uuid = match only(
        feed::apply(&caller.mpi, &caller.ctx, vec![FeedAction::Delete { key }]).await,
    )? {
        FeedResult::Deleted { id } => id,
        _ => return Err(FhirError::Api(ApiError::MethodNotAllowed)),
    };
    Ok(fhir_response(
        HttpResponse::Ok(),
        &OperationOutcome::information(format!("Patient/{id} deleted")),
    ))
}
