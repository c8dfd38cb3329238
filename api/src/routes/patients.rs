//! `/api/v1/patients`: register (with the duplicate check), read, update, soft-delete, search,
//! and a patient's links.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use service::patients::{self, HeldIdentifier, PatientQuery, RegisterOutcome, parse_code};

use crate::auth::{Caller, ReadCaller};
use crate::dto::{CandidateDto, LinkDto, PageDto, PatientBody, PatientDto, parse_birth_date};
use crate::error::{ApiError, ErrorBody};

/// Query of `POST /patients`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct RegisterQuery {
    /// Register even when certain or probable duplicates exist.
    #[serde(default)]
    pub force: Option<bool>,
    /// When a live record already holds one of the identifiers, update it (200) instead of
    /// answering 409 `duplicate_identifier` (IHE identity feed semantics).
    #[serde(default)]
    pub upsert: Option<bool>,
}

/// The 409 answer of a registration with certain or probable duplicates.
#[derive(Serialize, ToSchema)]
pub(crate) struct DuplicatesBody {
    #[schema(value_type = String, example = "duplicates_found")]
    code: &'static str,
    /// What to do next: resend with `force=true`, or, when an identifier of the request is
    /// already held by another live patient, what must change first.
    message: String,
    field: Option<String>,
    candidates: Vec<CandidateDto>,
    /// The request's identifiers that another live patient already holds (`field` such as
    /// `identifiers[0]`, and the holder): `force=true` cannot give one identifier to two
    /// patients, so a forced registration must leave these out or correct them.
    held_identifiers: Vec<HeldIdentifierDto>,
}

/// An identifier of the request that another live patient holds.
#[derive(Serialize, ToSchema)]
pub(crate) struct HeldIdentifierDto {
    #[schema(example = "identifiers[0]")]
    field: String,
    patient_id: Uuid,
}

/// The advice of a `duplicates_found` answer: it must work when followed.
/// `force` names how to force (`force=true`), `field` how a request names its identifiers
/// (`identifiers`, `Patient.identifier`), `listed` where the holders are listed.
pub(crate) fn duplicates_advice(
    held: &[HeldIdentifier],
    force: &str,
    field: &str,
    listed: &str,
) -> String {
    let base = "certain or probable matches exist; nothing was stored";
    match held {
        [] => format!("{base} (resend the same request with {force} to register anyway)"),
        held => {
            let fields = held
                .iter()
                .map(|h| format!("{field}[{}]", h.index))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "{base}; {fields} already belong(s) to another live patient ({listed}), \
                 most likely this same person: use that record, or resend with {force} after \
                 removing or correcting {fields} (one identifier cannot name two patients)"
            )
        }
    }
}

/// The 201 answer of a registration: the stored patient and the review tasks it opened.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedBody {
    #[serde(flatten)]
    patient: PatientDto,
    review_task_ids: Vec<Uuid>,
}

fn etag(version: i32) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// `POST /api/v1/patients`.
#[utoipa::path(operation_id = "register_patient", post, path = "/api/v1/patients", tag = "patients", params(RegisterQuery),
    request_body = PatientBody,
    responses((status = 201, description = "Stored", body = CreatedBody),
        (status = 200, description = "With `upsert=true`: the live record holding one of the identifiers, updated", body = PatientDto),
        (status = 409, description = "Certain or probable duplicates (`duplicates_found`, nothing stored) or an identifier held by another patient (`duplicate_identifier`)", body = DuplicatesBody),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn register(
    caller: Caller,
    query: web::Query<RegisterQuery>,
    body: crate::extract::Json<PatientBody>,
) -> Result<HttpResponse, ApiError> {
    let force = query.force.or(body.force).unwrap_or(false);
    let input = body.to_input()?;
    let outcome = if query.upsert.unwrap_or(false) {
        match patients::register_or_update(&caller.mpi, &caller.ctx, input, force).await? {
            patients::UpsertOutcome::Registered(outcome) => outcome,
            patients::UpsertOutcome::Updated(patient) => {
                return Ok(HttpResponse::Ok()
                    .insert_header(etag(patient.version()))
                    .json(PatientDto::from(patient.as_ref())));
            }
        }
    } else {
        patients::register(&caller.mpi, &caller.ctx, input, force).await?
    };
    match outcome {
        RegisterOutcome::Created {
            patient,
            review_task_ids,
        } => Ok(HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/api/v1/patients/{}", patient.id()),
            ))
            .insert_header(etag(patient.version()))
            .json(CreatedBody {
                patient: PatientDto::from(patient.as_ref()),
                review_task_ids,
            })),
        RegisterOutcome::Duplicates {
            candidates,
            held_identifiers,
        } => Ok(HttpResponse::Conflict().json(DuplicatesBody {
            code: "duplicates_found",
            message: duplicates_advice(
                &held_identifiers,
                "force=true",
                "identifiers",
                "see held_identifiers",
            ),
            field: None,
            candidates: candidates.iter().map(CandidateDto::from).collect(),
            held_identifiers: held_identifiers
                .iter()
                .map(|h| HeldIdentifierDto {
                    field: format!("identifiers[{}]", h.index),
                    patient_id: h.patient_id,
                })
                .collect(),
        })),
    }
}

/// `GET /api/v1/patients/{id}`.
#[utoipa::path(operation_id = "get_patient", get, path = "/api/v1/patients/{id}", tag = "patients", params(("id" = Uuid, Path, description = "The record's id")),
    responses((status = 200, description = "The whole record; `ETag` is its version", body = PatientDto),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 404, description = "No such record", body = ErrorBody)))]
pub async fn get(
    ReadCaller(caller): ReadCaller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let patient = patients::get(&caller.mpi, &caller.ctx, *id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(patient.version()))
        .json(PatientDto::from(&patient)))
}

/// The version named by `If-Match` (`"3"`, `W/"3"` or `3`), if the header is present.
fn if_match(req: &HttpRequest) -> Result<Option<i32>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i32>()
        .map(Some)
        .map_err(|_| ApiError::BadRequest {
            code: "invalid_header",
            message: "If-Match must name a version, e.g. \"3\"".to_owned(),
            field: Some("If-Match".to_owned()),
        })
}

/// `PUT /api/v1/patients/{id}`: replaces the record's values; needs `If-Match` or `version`.
#[utoipa::path(operation_id = "update_patient", put, path = "/api/v1/patients/{id}", tag = "patients",
    params(("id" = Uuid, Path, description = "The record's id"), ("If-Match" = Option<String>, Header, description = "The version being updated, e.g. \"3\" (or send `version` in the body)")),
    request_body = PatientBody,
    responses((status = 200, description = "Updated", body = PatientDto),
        (status = 412, description = "The version is stale", body = ErrorBody),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 404, description = "No such record", body = ErrorBody), (status = 409, description = "Conflicts with the current state; `code` says why", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn update(
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: crate::extract::Json<PatientBody>,
) -> Result<HttpResponse, ApiError> {
    let version = if_match(&req)?
        .or(body.version)
        .ok_or_else(|| ApiError::InvalidValue {
            message: "version: send the version being updated (If-Match header or version field)"
                .to_owned(),
            field: Some("version".to_owned()),
        })?;
    let input = body.to_input()?;
    let patient = patients::update(&caller.mpi, &caller.ctx, *id, version, input).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(patient.version()))
        .json(PatientDto::from(&patient)))
}

/// `DELETE /api/v1/patients/{id}`: soft delete.
#[utoipa::path(operation_id = "delete_patient", delete, path = "/api/v1/patients/{id}", tag = "patients", params(("id" = Uuid, Path, description = "The record's id")),
    responses((status = 204, description = "Soft-deleted"), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 404, description = "No such record", body = ErrorBody)))]
pub async fn delete(caller: Caller, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    patients::delete(&caller.mpi, &caller.ctx, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Query of `GET /api/v1/patients` (and body of `POST /api/v1/patients/_search`).
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
pub struct SearchQuery {
    /// Any name part (family or given) starting with this.
    pub name: Option<String>,
    /// Family name.
    pub family: Option<String>,
    /// Given name; with `family`, both must be parts of the same name.
    pub given: Option<String>,
    /// `YYYY-MM-DD`, or `YYYY-MM` / `YYYY` for every date inside that month or year.
    pub birth_date: Option<String>,
    /// `system|value` (the system as a URL, `urn:oid:OID`, OID or namespace of a domain), or a
    /// value alone to look it up in every system.
    pub identifier: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// The mother's identifier, `system|value` (the system as any name of a domain) or a value
    /// alone to look it up in every system.
    pub mother_identifier: Option<String>,
    /// The mother's maiden family name: names starting with this, case ignored.
    pub mother_maiden_name: Option<String>,
    /// `male`, `female`, `other`, `unknown`.
    pub gender: Option<String>,
    /// How `family` and `given` are compared: `exact`, `wildcard` (`JO*`, `J?HN`), `alias`
    /// (nicknames of the given name) or `phonetic`; each result then carries `search` (the mode
    /// that found it and a score) and results come best first (at most 1,000). Without it each
    /// name is a prefix.
    pub mode: Option<String>,
    /// Page, from 1.
    pub page: Option<u64>,
    /// Page size (default 20, at most 500).
    pub per_page: Option<u64>,
}

fn non_blank(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl SearchQuery {
    fn to_query(&self) -> Result<PatientQuery, ApiError> {
        let identifier = match non_blank(&self.identifier) {
            None => None,
            Some(text) => match text.split_once('|') {
                Some((system, value)) if !value.trim().is_empty() => {
                    Some((system.trim().to_owned(), value.trim().to_owned()))
                }
                // A value alone (or `|value`) is looked up in every system.
                None => Some((String::new(), text)),
                _ => {
                    return Err(ApiError::InvalidValue {
                        message: "identifier: use system|value or a value alone".to_owned(),
                        field: Some("identifier".to_owned()),
                    });
                }
            },
        };
        let birth_date = non_blank(&self.birth_date)
            .map(|d| parse_birth_date("birth_date", &d))
            .transpose()?;
        let mut more = service::search_criteria::MoreCriteria::default();
        if let Some(text) = non_blank(&self.mother_identifier) {
            let (system, value) = text.split_once('|').unwrap_or(("", text.as_str()));
            if value.trim().is_empty() {
                return Err(ApiError::InvalidValue {
                    message: "mother_identifier: use system|value or a value alone".to_owned(),
                    field: Some("mother_identifier".to_owned()),
                });
            }
            more.mother_identifiers =
                vec![vec![(system.trim().to_owned(), value.trim().to_owned())]];
        }
        if let Some(text) = non_blank(&self.mother_maiden_name) {
            more.mother_maiden_family = vec![service::search_criteria::TextCriterion {
                any_of: vec![text],
                how: service::search_criteria::TextMatch::Prefix,
            }];
        }
        Ok(PatientQuery {
            name: non_blank(&self.name),
            family: non_blank(&self.family),
            given: non_blank(&self.given),
            birth_date: birth_date.map(|(d, _)| d),
            birth_date_precision: birth_date.map(|(_, p)| p).unwrap_or_default(),
            identifier,
            postal_code: non_blank(&self.postal_code),
            gender: non_blank(&self.gender)
                .map(|g| parse_code("gender", &g))
                .transpose()?,
            mode: non_blank(&self.mode)
                .map(|m| m.parse::<patients::SearchMode>())
                .transpose()?,
            page: self.page.unwrap_or(1),
            per_page: self.per_page.unwrap_or(20),
            more,
        })
    }
}

/// `GET /api/v1/patients`: search (at least one criterion).
#[utoipa::path(operation_id = "search_patients", get, path = "/api/v1/patients", tag = "patients", params(SearchQuery),
    responses((status = 200, description = "One page of records, by id", body = PageDto<PatientDto>),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn search(
    ReadCaller(caller): ReadCaller,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = patients::search(&caller.mpi, &caller.ctx, query.to_query()?).await?;
    Ok(HttpResponse::Ok().json(PageDto {
        items: page.items.iter().map(PatientDto::from).collect(),
        total: page.total,
        page: page.page,
        per_page: page.per_page,
    }))
}

/// `POST /api/v1/patients/_search`: the same search with the criteria in a JSON body, so that
/// patient data stays out of URLs (and so out of proxies' and browsers' logs).
#[utoipa::path(operation_id = "search_patients_post", post, path = "/api/v1/patients/_search", tag = "patients",
    request_body(content = SearchQuery, description = "The criteria of `GET /api/v1/patients`, as JSON"),
    responses((status = 200, description = "One page of records, by id", body = PageDto<PatientDto>),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn search_post(
    ReadCaller(caller): ReadCaller,
    body: crate::extract::Json<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = patients::search(&caller.mpi, &caller.ctx, body.to_query()?).await?;
    Ok(HttpResponse::Ok().json(PageDto {
        items: page.items.iter().map(PatientDto::from).collect(),
        total: page.total,
        page: page.page,
        per_page: page.per_page,
    }))
}

/// The answer of `GET /api/v1/patients/{id}/links`.
#[derive(Serialize, ToSchema)]
pub(crate) struct LinksBody {
    items: Vec<LinkDto>,
}

/// `GET /api/v1/patients/{id}/links`.
#[utoipa::path(operation_id = "list_patient_links", get, path = "/api/v1/patients/{id}/links", tag = "links", params(("id" = Uuid, Path, description = "The record's id")),
    responses((status = 200, description = "Links from and to the record", body = LinksBody),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 404, description = "No such record", body = ErrorBody)))]
pub async fn links(caller: Caller, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let links = service::links::list(&caller.mpi, &caller.ctx, *id).await?;
    Ok(HttpResponse::Ok().json(LinksBody {
        items: links.iter().map(LinkDto::from).collect(),
    }))
}
