//! The `/fhir` handlers: each parses the FHIR request, calls the same service use case as its
//! `/api/v1` twin, and answers FHIR JSON (errors as OperationOutcome).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use matcher::MatchDecision;
use service::conditional_create::{self, ConditionalCreate};
use service::matching::{self, MatchOptions};
use service::merge::{self, MergeRequest};
use service::patients::{self, Patient, RegisterOutcome};

use super::bundle::{Bundle, BundleEntry, BundleLink, EntryResource, EntrySearch, MATCH_GRADE_URL};
use super::capability::{self, FORCE_HEADER};
use super::fhir_response;
use super::operation_outcome::{FhirError, Issue, OperationOutcome};
use super::parameters::{ParameterOut, ParametersIn, ParametersOut, ResourceOut};
use super::patient::{Extension, FhirPatient};
use crate::auth::{Caller, ReadCaller};
use crate::error::ApiError;

type FhirResult = Result<HttpResponse, FhirError>;

/// Largest `count` of `$match` (as `limit` of `/api/v1/match`).
const MAX_LIMIT: usize = 100;

/// `[scheme]://[host]/fhir` of this request, for absolute URLs.
pub(super) fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/fhir", info.scheme(), info.host())
}

pub(super) fn patient_url(base: &str, id: Uuid) -> String {
    format!("{base}/Patient/{id}")
}

pub(super) fn etag(version: i32) -> (header::HeaderName, String) {
    (header::ETAG, format!("W/\"{version}\""))
}

pub(super) fn bad_request(message: String, field: Option<&str>) -> FhirError {
    FhirError::Malformed {
        message,
        field: field.map(str::to_owned),
    }
}

pub(super) fn invalid(message: String, field: &str) -> FhirError {
    FhirError::Api(ApiError::InvalidValue {
        message,
        field: Some(field.to_owned()),
    })
}

/// Parses a JSON body after checking its media type (FHIR or plain JSON): 415 for another
/// type, 400 for malformed JSON, 422 for well-formed JSON with wrong values or elements.
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, FhirError> {
    if let Some(value) = req.headers().get(header::CONTENT_TYPE) {
        let mime = value
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if mime != super::FHIR_JSON && mime != "application/json" {
            return Err(FhirError::Api(ApiError::UnsupportedMediaType));
        }
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            FhirError::Api(ApiError::InvalidValue {
                message: e.to_string(),
                field: None,
            })
        } else {
            bad_request(format!("malformed JSON: {e}"), None)
        }
    })
}

/// The id of the path, or 404 (an id that is not a UUID names no record).
fn path_id(req: &HttpRequest) -> Result<Uuid, FhirError> {
    let text = req.match_info().get("id").unwrap_or_default();
    Uuid::parse_str(text).map_err(|_| {
        FhirError::Api(ApiError::NotFound {
            message: "Patient not found".to_owned(),
        })
    })
}

/// `GET /fhir/metadata` (no key needed: it holds no patient data).
pub async fn metadata(req: HttpRequest) -> HttpResponse {
    fhir_response(HttpResponse::Ok(), &capability::statement(base_url(&req)))
}

/// `GET /fhir/Patient/{id}`.
pub async fn read(caller: Result<ReadCaller, ApiError>, req: HttpRequest) -> FhirResult {
    let ReadCaller(caller) = caller?;
    let id = path_id(&req)?;
    let patient = patients::get(&caller.mpi, &caller.ctx, id).await?;
    let mut builder = HttpResponse::Ok();
    builder.insert_header(etag(patient.version()));
    Ok(fhir_response(builder, &FhirPatient::from(&patient)))
}

/// `POST /fhir/Patient`: registration with the duplicate check (see the CapabilityStatement);
/// with `If-None-Exist`, a conditional create (`service::conditional_create`).
pub async fn create(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let caller = caller?;
    let condition = super::conditional::if_none_exist(&req)?;
    let resource: FhirPatient = parse_body(&req, &body)?;
    let force = match req.headers().get(FORCE_HEADER) {
        None => false,
        Some(v) => match v.to_str().unwrap_or_default().trim() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(bad_request(
                    format!("{FORCE_HEADER} must be true or false"),
                    Some(FORCE_HEADER),
                ));
            }
        },
    };
    let input = resource.to_input()?;
    service::organizations::check_referenced(&caller.mpi, &input).await?;
    let base = base_url(&req);
    let outcome = match condition {
        None => patients::register(&caller.mpi, &caller.ctx, input, force).await?,
        Some(condition) => match conditional_create::create_if_none_exist(
            &caller.mpi,
            &caller.ctx,
            input,
            condition,
            force,
        )
        .await
        .map_err(super::conditional::create_error)?
        {
            ConditionalCreate::Registered(outcome) => outcome,
            // FHIR R4 conditional create, one match: nothing is created; the answer is the
            // record found, where it lives.
            ConditionalCreate::Exists(patient) => {
                let mut builder = HttpResponse::Ok();
                builder
                    .insert_header((header::LOCATION, patient_url(&base, patient.id())))
                    .insert_header(etag(patient.version()));
                return Ok(fhir_response(builder, &FhirPatient::from(patient.as_ref())));
            }
        },
    };
    match outcome {
        RegisterOutcome::Created { patient, .. } => {
            let mut builder = HttpResponse::Created();
            builder
                .insert_header((header::LOCATION, patient_url(&base, patient.id())))
                .insert_header(etag(patient.version()));
            Ok(fhir_response(builder, &FhirPatient::from(patient.as_ref())))
        }
        RegisterOutcome::Duplicates {
            candidates,
            held_identifiers,
        } => {
            let mut issue = vec![Issue {
                severity: "error",
                code: "duplicate",
                details: None,
                diagnostics: Some(crate::routes::patients::duplicates_advice(
                    &held_identifiers,
                    &format!("the header {FORCE_HEADER}: true"),
                    "Patient.identifier",
                    "named below",
                )),
                expression: Vec::new(),
            }];
            issue.extend(held_identifiers.iter().map(|h| Issue {
                severity: "error",
                code: "duplicate",
                details: None,
                diagnostics: Some(format!(
                    "Patient.identifier[{}] belongs to Patient/{}",
                    h.index, h.patient_id
                )),
                expression: vec![format!("Patient.identifier[{}]", h.index)],
            }));
            issue.extend(candidates.iter().map(|c| Issue {
                severity: "information",
                code: "duplicate",
                details: None,
                diagnostics: Some(format!(
                    "Patient/{} grade {} probability {:.4}",
                    c.patient_id,
                    grade_code(c.grade),
                    c.score
                )),
                expression: Vec::new(),
            }));
            Ok(fhir_response(
                HttpResponse::Conflict(),
                &OperationOutcome::new(issue),
            ))
        }
    }
}

/// The version `If-Match` names (`W/"3"`, `"3"` or `3`), else the resource's `meta.versionId`
/// (`version_id`; `resource_type` names it in the error); 412 when neither is given. Patient and
/// RelatedPerson updates share it.
pub(crate) fn wanted_version(
    req: &HttpRequest,
    version_id: Option<&str>,
    resource_type: &str,
) -> Result<i32, FhirError> {
    if let Some(value) = req.headers().get(header::IF_MATCH) {
        let text = value.to_str().unwrap_or_default().trim();
        let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
        return text.parse::<i32>().map_err(|_| {
            bad_request(
                "If-Match must name a version, e.g. W/\"3\"".to_owned(),
                Some("If-Match"),
            )
        });
    }
    match version_id {
        Some(v) => v.trim().parse::<i32>().map_err(|_| {
            invalid(
                "meta.versionId: is not a version".to_owned(),
                &format!("{resource_type}.meta.versionId"),
            )
        }),
        None => Err(FhirError::Api(ApiError::PreconditionFailed {
            message: "send If-Match: W/\"{versionId}\" (or meta.versionId) to update".to_owned(),
        })),
    }
}

/// `PUT /fhir/Patient/{id}`: versioned update.
pub async fn update(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let caller = caller?;
    let id = path_id(&req)?;
    let resource: FhirPatient = parse_body(&req, &body)?;
    if resource.id.as_deref() != Some(id.to_string().as_str()) {
        return Err(bad_request(
            "Patient.id must be given and equal the id in the URL".to_owned(),
            Some("Patient.id"),
        ));
    }
    let version_id = resource.meta.as_ref().and_then(|m| m.version_id.as_deref());
    let version = wanted_version(&req, version_id, "Patient")?;
    let input = resource.to_input()?;
    service::organizations::check_referenced(&caller.mpi, &input).await?;
    let patient = patients::update(&caller.mpi, &caller.ctx, id, version, input).await?;
    let mut builder = HttpResponse::Ok();
    builder.insert_header(etag(patient.version()));
    Ok(fhir_response(builder, &FhirPatient::from(&patient)))
}

/// `DELETE /fhir/Patient/{id}`: soft delete, the same use case as `DELETE /api/v1/patients/{id}`
/// and ITI-104's conditional delete; 200 with an informational OperationOutcome, 404 when no
/// live record has the id.
pub async fn delete(caller: Result<Caller, ApiError>, req: HttpRequest) -> FhirResult {
    let caller = caller?;
    let id = path_id(&req)?;
    patients::delete(&caller.mpi, &caller.ctx, id).await?;
    Ok(fhir_response(
        HttpResponse::Ok(),
        &OperationOutcome::information(format!("Patient/{id} deleted")),
    ))
}

/// Percent-encodes a query value.
pub(super) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /fhir/Patient?...`: a searchset Bundle with `total` and self/next/previous links.
pub async fn search(caller: Result<ReadCaller, ApiError>, req: HttpRequest) -> FhirResult {
    search_with(caller, req, None).await
}

/// `POST /fhir/Patient/_search`: the criteria as a form body (and in the URL).
pub async fn search_post(
    caller: Result<ReadCaller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    search_with(caller, req, Some(&body)).await
}

async fn search_with(
    caller: Result<ReadCaller, ApiError>,
    req: HttpRequest,
    form: Option<&[u8]>,
) -> FhirResult {
    let ReadCaller(caller) = caller?;
    let (query, criteria, includes, count_only) = super::pdqm::search_query(&req, form)?;
    // IHE PDQm ITI-78 Case 4: a domain the server does not know answers 404 with an
    // OperationOutcome whose issue is a warning (not-found).
    let refused = |e: service::Error| match e {
        service::Error::Refused {
            code: "unknown_domain",
            ..
        } => FhirError::from(e).warning(),
        other => FhirError::from(other),
    };
    let base = base_url(&req);
    // The search's own URL, its criteria as given, ready for the paging or summary parameters.
    let criteria_url = || {
        let mut url = format!("{base}/Patient?");
        for (name, value) in &criteria {
            url.push_str(&format!("{name}={}&", encode(value)));
        }
        url
    };
    if count_only {
        // FHIR R4 search 3.1.1.5.6: `_summary=count` answers the total and no entries.
        let total = patients::count(&caller.mpi, &caller.ctx, query)
            .await
            .map_err(refused)?;
        let link = vec![BundleLink {
            relation: "self",
            url: criteria_url() + "_summary=count",
        }];
        return Ok(fhir_response(
            HttpResponse::Ok(),
            &Bundle::searchset(total, link, Vec::new()),
        ));
    }
    let page = patients::search(&caller.mpi, &caller.ctx, query)
        .await
        .map_err(refused)?;
    let link_to = |relation: &'static str, number: u64| BundleLink {
        relation,
        url: criteria_url() + &format!("_count={}&_page={number}", page.per_page),
    };
    let mut link = vec![link_to("self", page.page)];
    if page.page.saturating_mul(page.per_page) < page.total {
        link.push(link_to("next", page.page + 1));
    }
    if page.page > 1 {
        link.push(link_to("previous", page.page - 1));
    }
    let mut entry: Vec<BundleEntry> = page
        .items
        .iter()
        .map(|p| BundleEntry {
            full_url: patient_url(&base, p.id()),
            resource: EntryResource::Patient(Box::new(FhirPatient::from(p))),
            search: EntrySearch {
                extension: Vec::new(),
                mode: "match",
                score: None,
            },
        })
        .collect();
    let include = || EntrySearch {
        extension: Vec::new(),
        mode: "include",
        score: None,
    };
    if includes.organization {
        let ids: Vec<Uuid> = page
            .items
            .iter()
            .filter_map(|p| p.record.patient.managing_organization_id)
            .collect();
        for o in service::organizations::get_many(&caller.mpi, &ids).await? {
            entry.push(BundleEntry {
                full_url: format!("{base}/Organization/{}", o.id),
                resource: EntryResource::Organization(Box::new(
                    super::organization::FhirOrganization::from(&o),
                )),
                search: include(),
            });
        }
    }
    if includes.related_persons {
        let ids: Vec<Uuid> = page.items.iter().map(Patient::id).collect();
        for r in service::related_persons::of_patients(&caller.mpi, &caller.ctx, &ids).await? {
            entry.push(super::related_person::entry_of(&base, &r, "include"));
        }
    }
    Ok(fhir_response(
        HttpResponse::Ok(),
        &Bundle::searchset(page.total, link, entry),
    ))
}

/// The match-grade code of a grade.
pub(super) fn grade_code(grade: MatchDecision) -> &'static str {
    match grade {
        MatchDecision::Certain => "certain",
        MatchDecision::Probable => "probable",
        MatchDecision::Possible => "possible",
        MatchDecision::NonMatch => "certainly-not",
    }
}

/// `POST /fhir/Patient/$match`.
pub async fn match_patients(
    caller: Result<ReadCaller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let ReadCaller(caller) = caller?;
    // ITI-119 (2:3.119.4.1.2): a bare Patient body is a Parameters resource holding it as
    // `resource` and nothing else.
    let body: serde_json::Value = parse_body(&req, &body)?;
    let (resource, params) =
        if body.get("resourceType").and_then(serde_json::Value::as_str) == Some("Patient") {
            let resource: FhirPatient = serde_json::from_value(body).map_err(|e| {
                invalid(
                    format!("resource: is not a Patient the MPI can read: {e}"),
                    "resource",
                )
            })?;
            (resource, ParametersIn::default())
        } else {
            let params: ParametersIn = serde_json::from_value(body).map_err(|e| {
                FhirError::Api(ApiError::InvalidValue {
                    message: e.to_string(),
                    field: None,
                })
            })?;
            params.check(&["resource", "onlyCertainMatches", "count"])?;
            let resource = params
                .patient("resource")?
                .ok_or_else(|| invalid("resource: a Patient is required".to_owned(), "resource"))?;
            (resource, params)
        };
    let only_certain = params.boolean("onlyCertainMatches")?.unwrap_or(false);
    let count = match params.integer("count")? {
        None => 10,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid(format!("count: must be between 1 and {MAX_LIMIT}"), "count"))?,
    };
    let input = resource.to_input()?;
    // A stored record's own id leaves it (and the records judged not its duplicates) out.
    let exclude = resource
        .id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok());
    let found = matching::find_matches_for_input(
        &caller.mpi,
        &caller.ctx,
        &input,
        MatchOptions {
            limit: count,
            min_probability: None,
            exclude,
        },
    )
    .await?;
    // onlyCertainMatches (ITI-119): the certain matches, and only when they are one person;
    // anything else (none, or certain matches of two persons) answers an empty Bundle.
    let found = if only_certain {
        let certain: Vec<_> = found
            .into_iter()
            .filter(|c| c.grade == MatchDecision::Certain)
            .collect();
        let persons: std::collections::HashSet<Uuid> =
            certain.iter().map(|c| c.person_id).collect();
        if persons.len() == 1 {
            certain
        } else {
            Vec::new()
        }
    } else {
        found
    };
    let base = base_url(&req);
    let mut entry = Vec::with_capacity(found.len());
    for candidate in found {
        // The match itself is audited with the candidates' ids; a candidate deleted since is
        // left out.
        let patient = match Patient::load_live(caller.mpi.db(), candidate.patient_id).await {
            Ok(p) => p,
            Err(service::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        entry.push(BundleEntry {
            full_url: patient_url(&base, candidate.patient_id),
            resource: EntryResource::Patient(Box::new(FhirPatient::from(&patient))),
            search: EntrySearch {
                extension: vec![Extension {
                    url: MATCH_GRADE_URL.to_owned(),
                    value_code: grade_code(candidate.grade).to_owned(),
                }],
                mode: "match",
                score: Some(candidate.score),
            },
        });
    }
    Ok(fhir_response(
        HttpResponse::Ok(),
        &Bundle::searchset(entry.len() as u64, Vec::new(), entry),
    ))
}

/// `POST /fhir/Patient/$merge`.
pub async fn merge_patients(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let caller = caller?;
    let params: ParametersIn = parse_body(&req, &body)?;
    params.check(&[
        "source-patient",
        "target-patient",
        "preview",
        "result-patient",
        "source-patient-identifier",
        "target-patient-identifier",
    ])?;
    for unsupported in [
        "result-patient",
        "source-patient-identifier",
        "target-patient-identifier",
    ] {
        if params.get(unsupported).is_some() {
            return Err(invalid(
                format!(
                    "{unsupported}: not supported (name both records by reference; the target keeps its values and gains what the source has and it lacks)"
                ),
                unsupported,
            ));
        }
    }
    let reference = |name: &str| -> Result<Uuid, FhirError> {
        params
            .reference(name)?
            .ok_or_else(|| invalid(format!("{name}: is required"), name))?
            .id_of("Patient", name)
            .map_err(FhirError::Api)
    };
    let source = reference("source-patient")?;
    let target = reference("target-patient")?;
    let preview = params.boolean("preview")?.unwrap_or(false);
    let outcome = merge::merge(
        &caller.mpi,
        &caller.ctx,
        MergeRequest {
            target,
            source,
            preview,
            review_task_id: None,
        },
    )
    .await?;
    let diagnostics = match outcome.merge_id {
        Some(merge_id) => format!(
            "Patient/{source} merged into Patient/{target}; merge id {merge_id} (undo: POST /api/v1/merges/{merge_id}/undo)"
        ),
        None => format!(
            "preview: merging Patient/{source} into Patient/{target} would give this result; nothing was changed"
        ),
    };
    let answer = ParametersOut {
        resource_type: "Parameters",
        parameter: vec![
            ParameterOut {
                name: "outcome",
                resource: ResourceOut::Outcome(OperationOutcome::information(diagnostics)),
            },
            ParameterOut {
                name: "result",
                resource: ResourceOut::Patient(Box::new(FhirPatient::from(&outcome.target))),
            },
        ],
    };
    Ok(fhir_response(HttpResponse::Ok(), &answer))
}

/// Answer for `/fhir` paths no route matches.
pub async fn not_found() -> FhirResult {
    Err(FhirError::Api(ApiError::NotFound {
        message: "no such FHIR route (supported: metadata, Patient, Patient/{id}, Patient/$match, Patient/$merge, Patient/$ihe-pix, RelatedPerson, RelatedPerson/{id}, Subscription, Subscription/{id}, AuditEvent, Bundle, $process-message)".to_owned(),
    }))
}

/// Answer for a known `/fhir` path with a method it does not accept.
pub async fn method_not_allowed() -> FhirResult {
    Err(FhirError::Api(ApiError::MethodNotAllowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("urn:x|A 1"), "urn%3Ax%7CA%201");
        assert_eq!(encode("Zoë"), "Zo%C3%AB");
    }

    #[test]
    fn every_grade_has_a_match_grade_code() {
        assert_eq!(grade_code(MatchDecision::Probable), "probable");
        assert_eq!(grade_code(MatchDecision::NonMatch), "certainly-not");
    }
}
