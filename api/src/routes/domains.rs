//! `/api/v1/domains` (admin): the identifier domains; and `/api/v1/xref` (registrar and up):
//! a person's identifiers in the other domains (IHE PIX).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use service::domains::{self, Domain, DomainInput};
use service::xref::{self, Xref, XrefQuery};

use crate::auth::{Caller, ReadCaller};
use crate::error::{ApiError, ErrorBody};

/// An identifier domain (assigning authority).
#[derive(Serialize, ToSchema)]
pub(crate) struct DomainDto {
    /// Namespace (HL7 HD.1).
    name: String,
    /// OID (HL7 HD.2).
    oid: Option<String>,
    /// URL (FHIR `Identifier.system`).
    url: Option<String>,
    /// The system REST and FHIR show for its identifiers (the URL, else `urn:oid:OID`).
    system: String,
    /// The HL7 v2 assigning authority (`NS&OID&ISO`).
    hl7_authority: String,
    /// Free text.
    description: Option<String>,
    /// Records sharing a value are one person.
    links_records: bool,
    /// Sources that may assign here (empty: any authorised caller).
    assigners: Vec<String>,
    /// Whether this is the MPI's own domain (`person_id`); it cannot be changed here.
    enterprise: bool,
}

impl From<&Domain> for DomainDto {
    fn from(d: &Domain) -> DomainDto {
        DomainDto {
            name: d.name.clone(),
            oid: d.oid.clone(),
            url: d.url.clone(),
            system: d.system(),
            hl7_authority: d.hl7_authority(),
            description: d.description.clone(),
            links_records: d.links_records,
            assigners: d.assigners.clone(),
            enterprise: d.enterprise,
        }
    }
}

/// The body of `POST` and `PUT /api/v1/domains`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DomainBody {
    /// Namespace (HL7 HD.1); required.
    name: String,
    /// OID.
    oid: Option<String>,
    /// URL.
    url: Option<String>,
    /// Free text.
    description: Option<String>,
    /// Records sharing a value are one person.
    #[serde(default)]
    links_records: bool,
    /// Names of the sources that may assign here.
    #[serde(default)]
    assigners: Vec<String>,
}

impl DomainBody {
    fn input(&self) -> DomainInput {
        DomainInput {
            name: self.name.clone(),
            oid: self.oid.clone(),
            url: self.url.clone(),
            description: self.description.clone(),
            links_records: self.links_records,
            assigners: self.assigners.clone(),
        }
    }
}

/// The answer of `GET /api/v1/domains`.
#[derive(Serialize, ToSchema)]
pub(crate) struct DomainsBody {
    items: Vec<DomainDto>,
}

/// `GET /api/v1/domains`.
#[utoipa::path(operation_id = "list_domains", get, path = "/api/v1/domains", tag = "domains",
    responses((status = 200, description = "Every registered domain, the MPI's own last", body = DomainsBody),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "Not an admin key", body = ErrorBody)))]
pub async fn list(caller: Caller) -> Result<HttpResponse, ApiError> {
    let all = domains::list(&caller.mpi, &caller.ctx).await?;
    Ok(HttpResponse::Ok().json(DomainsBody {
        items: all.iter().map(DomainDto::from).collect(),
    }))
}

/// `POST /api/v1/domains`.
#[utoipa::path(operation_id = "add_domain", post, path = "/api/v1/domains", tag = "domains", request_body = DomainBody,
    responses((status = 201, description = "Registered", body = DomainDto),
        (status = 409, description = "Another domain has this name, OID or URL (`duplicate_domain`)", body = ErrorBody),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "Not an admin key", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn add(caller: Caller, body: web::Json<DomainBody>) -> Result<HttpResponse, ApiError> {
    let d = domains::add(&caller.mpi, &caller.ctx, body.input()).await?;
    Ok(HttpResponse::Created().json(DomainDto::from(&d)))
}

/// `PUT /api/v1/domains/{name}`: replaces the domain named by its namespace, OID or URL.
#[utoipa::path(operation_id = "update_domain", put, path = "/api/v1/domains/{name}", tag = "domains",
    params(("name" = String, Path, description = "The domain's namespace (or OID)")), request_body = DomainBody,
    responses((status = 200, description = "Changed", body = DomainDto), (status = 404, description = "No such domain", body = ErrorBody),
        (status = 409, description = "Another domain has this name, OID or URL (`duplicate_domain`)", body = ErrorBody),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "Not an admin key", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn update(
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<DomainBody>,
) -> Result<HttpResponse, ApiError> {
    let d = domains::update(&caller.mpi, &caller.ctx, &name, body.input()).await?;
    Ok(HttpResponse::Ok().json(DomainDto::from(&d)))
}

/// `DELETE /api/v1/domains/{name}`: identifiers stored in it stay as they are.
#[utoipa::path(operation_id = "remove_domain", delete, path = "/api/v1/domains/{name}", tag = "domains",
    params(("name" = String, Path, description = "The domain's namespace (or OID)")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such domain", body = ErrorBody),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "Not an admin key", body = ErrorBody)))]
pub async fn remove(caller: Caller, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    domains::remove(&caller.mpi, &caller.ctx, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One identifier of a cross-reference answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct XrefIdentifierDto {
    /// The domain's URL, else `urn:oid:OID` (an unregistered system as stored).
    system: String,
    value: String,
    /// The domain's namespace, when registered.
    domain: Option<String>,
    /// HL7 v2 assigning authority (`NS&OID&ISO`), when registered.
    hl7_authority: Option<String>,
    /// The record holding it (null for the enterprise id).
    patient_id: Option<Uuid>,
}

/// The answer of `GET /api/v1/xref`.
#[derive(Serialize, ToSchema)]
pub(crate) struct XrefBody {
    /// The enterprise id.
    person_id: Uuid,
    /// The person's live records.
    patient_ids: Vec<Uuid>,
    /// Their identifiers in the other (or the target) domains, the enterprise id first.
    identifiers: Vec<XrefIdentifierDto>,
}

impl From<Xref> for XrefBody {
    fn from(x: Xref) -> XrefBody {
        XrefBody {
            person_id: x.person_id,
            patient_ids: x.patient_ids,
            identifiers: x
                .identifiers
                .into_iter()
                .map(|i| XrefIdentifierDto {
                    system: i.system,
                    value: i.value,
                    domain: i.domain,
                    hl7_authority: i.hl7_authority,
                    patient_id: i.patient_id,
                })
                .collect(),
        }
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::InvalidValue {
        message: format!("{field}: {message}"),
        field: Some(field.to_owned()),
    }
}

/// `GET /api/v1/xref?identifier=SYSTEM|VALUE[&target=SYSTEM]...`.
#[utoipa::path(operation_id = "xref", get, path = "/api/v1/xref", tag = "domains",
    params(("identifier" = String, Query, description = "`system|value`, the system as any name of its domain"),
        ("target" = Option<Vec<String>>, Query, description = "Domains wanted (repeat); none: every domain")),
    responses((status = 200, description = "The person's enterprise id, live records and identifiers in the other domains (never the queried one)", body = XrefBody),
        (status = 404, description = "No record holds the identifier (`unknown_identifier`)", body = ErrorBody),
        (status = 422, description = "The identifier's or a target's system is not a known domain (`unknown_domain`, field `identifier` or `target[n]`)", body = ErrorBody),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody)))]
pub async fn xref(
    ReadCaller(caller): ReadCaller,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let mut identifier = None;
    let mut targets = Vec::new();
    for (key, value) in query.into_inner() {
        match key.as_str() {
            "identifier" if identifier.is_none() => identifier = Some(value),
            "identifier" => return Err(invalid("identifier", "give one identifier")),
            "target" => {
                if targets.len() == xref::MAX_TARGETS {
                    return Err(invalid("target", "too many targets"));
                }
                targets.push(value);
            }
            _ => {
                return Err(ApiError::BadRequest {
                    code: "invalid_query",
                    message: "unknown query parameter (use identifier and target)".to_owned(),
                    field: None,
                });
            }
        }
    }
    let identifier = identifier.ok_or_else(|| invalid("identifier", "is required"))?;
    let (system, value) = identifier
        .split_once('|')
        .filter(|(s, v)| !s.trim().is_empty() && !v.trim().is_empty())
        .ok_or_else(|| invalid("identifier", "use system|value"))?;
    let answer = xref::xref(
        &caller.mpi,
        &caller.ctx,
        XrefQuery {
            system: system.to_owned(),
            value: value.to_owned(),
            targets,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(XrefBody::from(answer)))
}
