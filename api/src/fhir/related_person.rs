//! FHIR R4 RelatedPerson (issue 31 §6): the resource (only the elements the MPI stores, read
//! strictly as Patient is), its mapping to and from `service::related_persons`, and the
//! handlers of `POST/GET/PUT/DELETE /fhir/RelatedPerson[/{id}]` and
//! `GET /fhir/RelatedPerson?patient=Patient/{id}&relationship=CODE&identifier=SYSTEM|VALUE`.
//!
//! The relationship is a coding of HL7 v3 RoleCode (`MTH`, `FTH`, `GUARD`, `NOK`...); the
//! patient a reference `Patient/{id}` to a live record (a merged-away one resolves to its
//! survivor; another is a 422); `communication` is read and written as a Patient's.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use service::patients::{
    AddressInput, CommunicationInput, IdentifierInput, NameInput, TelecomInput,
};
use service::related_persons::{
    self, ROLE_CODE_SYSTEM, RelatedPerson, RelatedPersonInput, RelatedPersonQuery,
    relationship_display,
};

use super::bundle::{Bundle, BundleEntry, BundleLink, EntryResource, EntrySearch};
use super::fhir_response;
use super::operation_outcome::{FhirError, OperationOutcome};
use super::patient::{
    Address, CodeableConcept, Coding, ContactPoint, FhirPatient, HumanName, Identifier, Meta,
    PatientCommunication, Reference, V2_0203, instant_text, period_out,
};
use super::routes::{bad_request, base_url, encode, etag, invalid, parse_body};
use crate::auth::Caller;
use crate::error::ApiError;

type FhirResult = Result<HttpResponse, FhirError>;

/// A FHIR R4 RelatedPerson, limited to what the MPI stores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FhirRelatedPerson {
    /// Always `RelatedPerson`.
    pub resource_type: String,
    /// The record's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Version and last update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Narrative: accepted and ignored, never written.
    #[serde(skip_serializing)]
    pub text: Option<serde_json::Value>,
    /// Identifiers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    /// Whether the record is in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The patient (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<Reference>,
    /// The relationship (a v3-RoleCode coding).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relationship: Vec<CodeableConcept>,
    /// Names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
    /// Contact points.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    /// `male`, `female`, `other`, `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// Addresses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<Address>,
    /// Languages, as a Patient's (the first coding with a code is the one stored).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub communication: Vec<PatientCommunication>,
}

impl From<&RelatedPerson> for FhirRelatedPerson {
    fn from(r: &RelatedPerson) -> FhirRelatedPerson {
        FhirRelatedPerson {
            resource_type: "RelatedPerson".to_owned(),
            id: Some(r.id.to_string()),
            meta: Some(Meta {
                version_id: Some(r.version.to_string()),
                last_updated: Some(instant_text(r.updated_at)),
            }),
            text: None,
            identifier: r.identifiers.iter().map(identifier_out).collect(),
            active: Some(r.active),
            patient: Some(Reference::to("Patient", r.patient_id)),
            relationship: vec![CodeableConcept {
                coding: vec![Coding {
                    system: Some(ROLE_CODE_SYSTEM.to_owned()),
                    code: Some(r.relationship.clone()),
                    display: relationship_display(&r.relationship).map(str::to_owned),
                    ..Default::default()
                }],
                text: None,
                ..Default::default()
            }],
            name: r.names.iter().map(name_out).collect(),
            telecom: r.telecoms.iter().map(telecom_out).collect(),
            gender: r.gender.map(|g| g.as_str().to_owned()),
            birth_date: crate::dto::birth_date_text(r.birth_date, Some(r.birth_date_precision)),
            address: r.addresses.iter().map(address_out).collect(),
            communication: r.communications.iter().map(communication_out).collect(),
        }
    }
}

fn communication_out(c: &CommunicationInput) -> PatientCommunication {
    PatientCommunication {
        language: CodeableConcept {
            coding: vec![Coding {
                system: c.system.clone(),
                code: Some(c.code.clone()),
                display: c.display.clone(),
                ..Default::default()
            }],
            text: None,
            ..Default::default()
        },
        preferred: c.preferred.then_some(true),
        ..Default::default()
    }
}

fn identifier_out(i: &IdentifierInput) -> Identifier {
    Identifier {
        use_: i.r#use.map(|u| u.as_str().to_owned()),
        type_: i
            .r#type
            .map(|t| CodeableConcept::coded(V2_0203, t.as_str())),
        system: Some(i.system.clone()),
        value: Some(i.value.clone()),
        period: i.period.as_ref().and_then(|p| period_out(p.start, p.end)),
        assigner: i.assigner.map(|o| Reference::to("Organization", o)),
        ..Default::default()
    }
}

fn name_out(n: &NameInput) -> HumanName {
    HumanName {
        use_: n.r#use.map(|u| u.as_str().to_owned()),
        text: n.text.clone(),
        family: n.family.clone(),
        given: n.given.clone(),
        prefix: n.prefix.clone(),
        suffix: n.suffix.clone(),
        period: n.period.as_ref().and_then(|p| period_out(p.start, p.end)),
        ..Default::default()
    }
}

fn telecom_out(t: &TelecomInput) -> ContactPoint {
    ContactPoint {
        system: Some(t.system.as_str().to_owned()),
        value: Some(t.value.clone()),
        use_: t.r#use.map(|u| u.as_str().to_owned()),
        rank: t.rank.and_then(|r| u32::try_from(r).ok()),
        period: t.period.as_ref().and_then(|p| period_out(p.start, p.end)),
        ..Default::default()
    }
}

fn address_out(a: &AddressInput) -> Address {
    Address {
        use_: a.r#use.map(|u| u.as_str().to_owned()),
        type_: a.r#type.map(|t| t.as_str().to_owned()),
        text: a.text.clone(),
        line: a.lines.clone(),
        city: a.city.clone(),
        district: a.district.clone(),
        state: a.state.clone(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone(),
        period: a.period.as_ref().and_then(|p| period_out(p.start, p.end)),
        ..Default::default()
    }
}

/// A Patient element path of an error rewritten as the RelatedPerson's.
fn as_related(error: ApiError) -> ApiError {
    match error {
        ApiError::InvalidValue { message, field } => ApiError::InvalidValue {
            message: message.replace("Patient.", "RelatedPerson."),
            field: field.map(|f| f.replace("Patient.", "RelatedPerson.")),
        },
        other => other,
    }
}

impl FhirRelatedPerson {
    /// The `patient.reference` text (422 when absent).
    pub fn patient_reference(&self) -> Result<&str, ApiError> {
        self.patient
            .as_ref()
            .and_then(|p| p.reference.as_deref())
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ApiError::InvalidValue {
                message: "RelatedPerson.patient: a reference Patient/{id} is required".to_owned(),
                field: Some("RelatedPerson.patient".to_owned()),
            })
    }

    /// The patient's id (`Patient/{id}`, or an absolute URL ending so).
    pub fn patient_id(&self) -> Result<Uuid, ApiError> {
        let reference = Reference {
            reference: Some(self.patient_reference()?.to_owned()),
            ..Reference::default()
        };
        reference.id_of("Patient", "RelatedPerson.patient")
    }

    /// The relationship code: the first v3-RoleCode coding (422 when there is none).
    fn relationship_code(&self) -> Result<String, ApiError> {
        let field = "RelatedPerson.relationship";
        let code = self
            .relationship
            .iter()
            .flat_map(|c| &c.coding)
            .find(|c| c.system.as_deref() == Some(ROLE_CODE_SYSTEM))
            .and_then(|c| c.code.as_deref())
            .map(str::trim)
            .ok_or_else(|| ApiError::InvalidValue {
                message: format!("{field}: needs a coding from {ROLE_CODE_SYSTEM}"),
                field: Some(field.to_owned()),
            })?;
        if relationship_display(code).is_none() {
            return Err(ApiError::InvalidValue {
                message: format!("{field}: is not a supported v3-RoleCode relationship"),
                field: Some(field.to_owned()),
            });
        }
        Ok(code.to_owned())
    }

    /// Converts to the service's input for the patient `patient_id` (422 naming the FHIR
    /// element on a bad value).
    pub fn to_input(&self, patient_id: Uuid) -> Result<RelatedPersonInput, ApiError> {
        if self.resource_type != "RelatedPerson" {
            return Err(ApiError::InvalidValue {
                message: "resourceType: must be RelatedPerson".to_owned(),
                field: Some("resourceType".to_owned()),
            });
        }
        let relationship = self.relationship_code()?;
        // The parts a RelatedPerson shares with a Patient are read as a Patient's.
        let parts = FhirPatient {
            resource_type: "Patient".to_owned(),
            active: self.active,
            identifier: self.identifier.clone(),
            name: self.name.clone(),
            telecom: self.telecom.clone(),
            gender: self.gender.clone(),
            birth_date: self.birth_date.clone(),
            address: self.address.clone(),
            communication: self.communication.clone(),
            ..FhirPatient::default()
        }
        .to_input()
        .map_err(as_related)?;
        Ok(RelatedPersonInput {
            patient_id,
            relationship,
            active: parts.active,
            gender: parts.gender,
            birth_date: parts.birth_date,
            birth_date_precision: parts.birth_date_precision,
            names: parts.names,
            identifiers: parts.identifiers,
            telecoms: parts.telecoms,
            addresses: parts.addresses,
            communications: parts.communications,
        })
    }
}

fn related_url(base: &str, id: Uuid) -> String {
    format!("{base}/RelatedPerson/{id}")
}

/// The id of the path, or 404 (an id that is not a UUID names no record).
fn path_id(req: &HttpRequest) -> Result<Uuid, FhirError> {
    let text = req.match_info().get("id").unwrap_or_default();
    Uuid::parse_str(text).map_err(|_| {
        FhirError::Api(ApiError::NotFound {
            message: "RelatedPerson not found".to_owned(),
        })
    })
}

fn read_resource(req: &HttpRequest, body: &[u8]) -> Result<FhirRelatedPerson, FhirError> {
    parse_body(req, body)
}

/// `POST /fhir/RelatedPerson`.
pub async fn create(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let caller = caller?;
    let resource = read_resource(&req, &body)?;
    let input = resource.to_input(resource.patient_id()?)?;
    let created = related_persons::create(&caller.mpi, &caller.ctx, input).await?;
    let mut builder = HttpResponse::Created();
    builder
        .insert_header((header::LOCATION, related_url(&base_url(&req), created.id)))
        .insert_header(etag(created.version));
    Ok(fhir_response(builder, &FhirRelatedPerson::from(&created)))
}

/// `GET /fhir/RelatedPerson/{id}`.
pub async fn read(caller: Result<Caller, ApiError>, req: HttpRequest) -> FhirResult {
    let caller = caller?;
    let id = path_id(&req)?;
    let found = related_persons::get(&caller.mpi, &caller.ctx, id).await?;
    let mut builder = HttpResponse::Ok();
    builder.insert_header(etag(found.version));
    Ok(fhir_response(builder, &FhirRelatedPerson::from(&found)))
}

/// `PUT /fhir/RelatedPerson/{id}`: versioned update.
pub async fn update(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let caller = caller?;
    let id = path_id(&req)?;
    let resource = read_resource(&req, &body)?;
    if resource.id.as_deref() != Some(id.to_string().as_str()) {
        return Err(bad_request(
            "RelatedPerson.id must be given and equal the id in the URL".to_owned(),
            Some("RelatedPerson.id"),
        ));
    }
    let version_id = resource.meta.as_ref().and_then(|m| m.version_id.as_deref());
    let version = super::routes::wanted_version(&req, version_id, "RelatedPerson")?;
    let input = resource.to_input(resource.patient_id()?)?;
    let updated = related_persons::update(&caller.mpi, &caller.ctx, id, version, input).await?;
    let mut builder = HttpResponse::Ok();
    builder.insert_header(etag(updated.version));
    Ok(fhir_response(builder, &FhirRelatedPerson::from(&updated)))
}

/// `DELETE /fhir/RelatedPerson/{id}`: soft delete; 200 with an informational OperationOutcome.
pub async fn delete(caller: Result<Caller, ApiError>, req: HttpRequest) -> FhirResult {
    let caller = caller?;
    let id = path_id(&req)?;
    related_persons::delete(&caller.mpi, &caller.ctx, id).await?;
    Ok(fhir_response(
        HttpResponse::Ok(),
        &OperationOutcome::information(format!("RelatedPerson/{id} deleted")),
    ))
}

/// The search parameters of RelatedPerson: name, type, what it does (the CapabilityStatement
/// lists them).
pub(super) const SEARCH_PARAMS: [(&str, &str, &str); 3] = [
    (
        "patient",
        "reference",
        "Patient/{id} (or the id alone); a comma separates alternatives; a merged-away \
         record's survivor is searched, with the records merged into it",
    ),
    (
        "relationship",
        "token",
        "A v3-RoleCode code (MTH, FTH, GUARD, NOK...), or system|code; a comma separates \
         alternatives",
    ),
    (
        "identifier",
        "token",
        "SYSTEM|VALUE (the system under any name of its domain); a comma separates \
         alternatives",
    ),
];

/// The patient id of a search value: `Patient/{id}`, an URL ending so, or the id alone; one
/// that is not a UUID finds nothing.
fn patient_of(value: &str) -> Uuid {
    let tail = value
        .rsplit_once("Patient/")
        .map_or(value, |(_, id)| id)
        .trim();
    Uuid::parse_str(tail).unwrap_or(Uuid::nil())
}

/// `GET /fhir/RelatedPerson?patient=...&relationship=...&identifier=SYSTEM|VALUE`: a
/// searchset Bundle.
pub async fn search(caller: Result<Caller, ApiError>, req: HttpRequest) -> FhirResult {
    let caller = caller?;
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| bad_request(format!("malformed query: {e}"), None))?
        .into_inner();
    let lenient = super::pdqm::lenient(&req)?;
    let mut query = RelatedPersonQuery {
        page: 1,
        per_page: 20,
        ..RelatedPersonQuery::default()
    };
    let mut criteria = Vec::new();
    for (name, value) in &pairs {
        let value = value.trim();
        let alternatives = || value.split(',').map(str::trim).filter(|v| !v.is_empty());
        let number = |field: &str| {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid(format!("{field}: must be a positive integer"), field))
        };
        match name.as_str() {
            "patient" => query.patients.extend(alternatives().map(patient_of)),
            "identifier" => {
                for a in alternatives() {
                    match a.split_once('|') {
                        Some((system, v)) if !system.trim().is_empty() && !v.trim().is_empty() => {
                            query
                                .identifiers
                                .push((system.trim().to_owned(), v.trim().to_owned()));
                        }
                        _ => {
                            return Err(invalid(
                                "identifier: use SYSTEM|VALUE (both are required)".to_owned(),
                                "identifier",
                            ));
                        }
                    }
                }
            }
            "relationship" => {
                for a in alternatives() {
                    let code = match a.split_once('|') {
                        Some((system, code)) if system.is_empty() || system == ROLE_CODE_SYSTEM => {
                            code
                        }
                        Some(_) => {
                            return Err(invalid(
                                format!("relationship: the system must be {ROLE_CODE_SYSTEM}"),
                                "relationship",
                            ));
                        }
                        None => a,
                    };
                    query.relationships.push(code.to_owned());
                }
            }
            "_count" => query.per_page = number("_count")?.min(service::MAX_PER_PAGE),
            "_page" => query.page = number("_page")?,
            _ if lenient => continue,
            _ => {
                return Err(bad_request(
                    "unsupported search parameter (supported: patient, relationship, identifier, _count, _page)"
                        .to_owned(),
                    None,
                ));
            }
        }
        if !matches!(name.as_str(), "_count" | "_page") {
            criteria.push((name.clone(), value.to_owned()));
        }
    }
    let page = related_persons::search(&caller.mpi, &caller.ctx, query).await?;
    let base = base_url(&req);
    let link_to = |relation: &'static str, number: u64| {
        let mut url = format!("{base}/RelatedPerson?");
        for (name, value) in &criteria {
            url.push_str(&format!("{name}={}&", encode(value)));
        }
        url.push_str(&format!("_count={}&_page={number}", page.per_page));
        BundleLink { relation, url }
    };
    let mut link = vec![link_to("self", page.page)];
    if page.page.saturating_mul(page.per_page) < page.total {
        link.push(link_to("next", page.page + 1));
    }
    if page.page > 1 {
        link.push(link_to("previous", page.page - 1));
    }
    let entry = page
        .items
        .iter()
        .map(|r| entry_of(&base, r, "match"))
        .collect();
    Ok(fhir_response(
        HttpResponse::Ok(),
        &Bundle::searchset(page.total, link, entry),
    ))
}

/// A searchset entry of a related person (`mode` `match` or `include`).
pub(super) fn entry_of(base: &str, r: &RelatedPerson, mode: &'static str) -> BundleEntry {
    BundleEntry {
        full_url: related_url(base, r.id),
        resource: EntryResource::RelatedPerson(Box::new(FhirRelatedPerson::from(r))),
        search: EntrySearch {
            extension: Vec::new(),
            mode,
            score: None,
        },
    }
}
