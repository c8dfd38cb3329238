//! FHIR R4 Subscription for IHE PMIR Subscribe to Patient Updates (ITI-94): the resource (the
//! elements the registry stores, read strictly), its mapping to `service::subscriptions`, and
//! the handlers of `POST/GET/PUT/DELETE /fhir/Subscription[/{id}]` and
//! `GET /fhir/Subscription?status=`. A Subscription is stored `active` when it is accepted
//! (`requested` in the request, as PMIR's Subscription request profile asks), and the delivery
//! task (`fhir::notify`) sends its endpoint a Mobile Patient Identity Feed message (ITI-93) for
//! every Patient its criteria select that is created, changed, merged or deleted.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use service::subscriptions::{self, Subscription, SubscriptionInput};

use super::fhir_response;
use super::operation_outcome::{FhirError, OperationOutcome};
use super::patient::instant_text;
use super::routes::{bad_request, base_url, invalid, parse_body};
use crate::auth::Caller;
use crate::error::ApiError;

type FhirResult = Result<HttpResponse, FhirError>;

/// PMIR's Subscription profile, which stored Subscriptions claim.
pub const PMIR_SUBSCRIPTION_PROFILE: &str =
    "https://profiles.ihe.net/ITI/PMIR/StructureDefinition/IHE.PMIR.Subscription";

/// `Subscription.channel`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Channel {
    /// `message` (PMIR) or `rest-hook`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Where notifications go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `application/fhir+json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// `Name: value` headers sent with every notification.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub header: Vec<String>,
    /// Element id: accepted, not stored.
    #[serde(skip_serializing)]
    pub id: Option<String>,
}

/// A FHIR R4 Subscription, limited to what the registry stores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FhirSubscription {
    /// Always `Subscription`.
    pub resource_type: String,
    /// Its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Last update (and, in a request, profiles: accepted and ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
    /// Narrative: accepted and ignored, never written.
    #[serde(skip_serializing)]
    pub text: Option<serde_json::Value>,
    /// `requested`, `active`, `error`, `off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Contact points for the subscriber (kept as given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contact: Vec<serde_json::Value>,
    /// Why it was made (required by R4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which Patients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criteria: Option<String>,
    /// Why deliveries fail (status `error`); written by the registry only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How notifications are sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
}

impl FhirSubscription {
    /// The service input, or a 422 naming the missing element.
    fn to_input(&self) -> Result<SubscriptionInput, FhirError> {
        if self.resource_type != "Subscription" {
            return Err(invalid(
                "resourceType: must be Subscription".to_owned(),
                "Subscription.resourceType",
            ));
        }
        let channel = self
            .channel
            .clone()
            .ok_or_else(|| invalid("channel: is required".to_owned(), "Subscription.channel"))?;
        let reason = self.reason.clone().filter(|r| !r.trim().is_empty());
        if reason.is_none() {
            return Err(invalid(
                "reason: is required".to_owned(),
                "Subscription.reason",
            ));
        }
        if self.contact.len() > 1 {
            return Err(invalid(
                "contact: at most one contact point is stored".to_owned(),
                "Subscription.contact",
            ));
        }
        Ok(SubscriptionInput {
            status: self.status.clone().unwrap_or_default(),
            criteria: self.criteria.clone().unwrap_or_default(),
            channel_type: channel.type_.unwrap_or_default(),
            endpoint: channel.endpoint.unwrap_or_default(),
            payload: channel.payload.unwrap_or_default(),
            headers: channel.header,
            reason,
            contact: self.contact.first().cloned(),
        })
    }
}

impl From<&Subscription> for FhirSubscription {
    fn from(s: &Subscription) -> FhirSubscription {
        FhirSubscription {
            resource_type: "Subscription".to_owned(),
            id: Some(s.id.to_string()),
            meta: Some(json!({
                "lastUpdated": instant_text(s.updated_at),
                "profile": [PMIR_SUBSCRIPTION_PROFILE],
            })),
            text: None,
            status: Some(s.status.clone()),
            contact: s.contact.iter().cloned().collect(),
            reason: s.reason.clone(),
            criteria: Some(s.criteria.clone()),
            error: s.error.clone(),
            channel: Some(Channel {
                type_: Some(s.channel_type.clone()),
                endpoint: Some(s.endpoint.clone()),
                payload: Some(s.payload.clone()),
                header: s.headers.clone(),
                id: None,
            }),
        }
    }
}

fn subscription_url(base: &str, id: Uuid) -> String {
    format!("{base}/Subscription/{id}")
}

fn path_id(req: &HttpRequest) -> Result<Uuid, FhirError> {
    Uuid::parse_str(req.match_info().get("id").unwrap_or_default()).map_err(|_| {
        FhirError::Api(ApiError::NotFound {
            message: "Subscription not found".to_owned(),
        })
    })
}

fn read_resource(req: &HttpRequest, body: &[u8]) -> Result<FhirSubscription, FhirError> {
    parse_body(req, body)
}

/// `POST /fhir/Subscription` (ITI-94 Subscribe to Patient Updates): 201 with the stored
/// Subscription (`active`) and its Location.
pub async fn create(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let caller = caller?;
    let resource = read_resource(&req, &body)?;
    if resource.error.is_some() {
        return Err(invalid(
            "error: is written by the registry".to_owned(),
            "Subscription.error",
        ));
    }
    let input = resource.to_input()?;
    let created = subscriptions::create(&caller.mpi, &caller.ctx, input).await?;
    let mut builder = HttpResponse::Created();
    builder.insert_header((
        header::LOCATION,
        subscription_url(&base_url(&req), created.id),
    ));
    Ok(fhir_response(builder, &FhirSubscription::from(&created)))
}

/// `GET /fhir/Subscription/{id}` (ITI-94 Get Patient Subscription).
pub async fn read(caller: Result<Caller, ApiError>, req: HttpRequest) -> FhirResult {
    let caller = caller?;
    let id = path_id(&req)?;
    let found = subscriptions::get(&caller.mpi, &caller.ctx, id).await?;
    Ok(fhir_response(
        HttpResponse::Ok(),
        &FhirSubscription::from(&found),
    ))
}

/// `PUT /fhir/Subscription/{id}` (ITI-94 Enable/Disable): `off` stops it, `requested` makes it
/// `active` again (clearing an error); the other elements are replaced as given.
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
            "Subscription.id must be given and equal the id in the URL".to_owned(),
            Some("Subscription.id"),
        ));
    }
    let input = resource.to_input()?;
    let updated = subscriptions::update(&caller.mpi, &caller.ctx, id, input).await?;
    Ok(fhir_response(
        HttpResponse::Ok(),
        &FhirSubscription::from(&updated),
    ))
}

/// `DELETE /fhir/Subscription/{id}`: deleted with its undelivered notifications; 200 with an
/// informational OperationOutcome.
pub async fn delete(caller: Result<Caller, ApiError>, req: HttpRequest) -> FhirResult {
    let caller = caller?;
    let id = path_id(&req)?;
    subscriptions::delete(&caller.mpi, &caller.ctx, id).await?;
    Ok(fhir_response(
        HttpResponse::Ok(),
        &OperationOutcome::information(format!("Subscription/{id} deleted")),
    ))
}

/// `GET /fhir/Subscription[?status=CODE]`: every subscription (at most
/// `service::subscriptions::MAX_SUBSCRIPTIONS`), as a searchset Bundle.
pub async fn search(caller: Result<Caller, ApiError>, req: HttpRequest) -> FhirResult {
    let caller = caller?;
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| bad_request(format!("malformed query: {e}"), None))?
        .into_inner();
    let lenient = super::pdqm::lenient(&req)?;
    let mut status = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "status" => match value.trim() {
                v @ ("requested" | "active" | "error" | "off") => status = Some(v.to_owned()),
                _ => {
                    return Err(invalid(
                        "status: must be requested, active, error or off".to_owned(),
                        "status",
                    ));
                }
            },
            _ if lenient => {}
            other => {
                return Err(bad_request(
                    format!("unsupported search parameter {other}"),
                    Some(other),
                ));
            }
        }
    }
    let found = subscriptions::list(&caller.mpi, &caller.ctx, status.as_deref()).await?;
    let base = base_url(&req);
    let entry: Vec<serde_json::Value> = found
        .iter()
        .map(|s| {
            json!({
                "fullUrl": subscription_url(&base, s.id),
                "resource": FhirSubscription::from(s),
                "search": { "mode": "match" },
            })
        })
        .collect();
    let self_url = match &status {
        Some(s) => format!("{base}/Subscription?status={s}"),
        None => format!("{base}/Subscription"),
    };
    Ok(fhir_response(
        HttpResponse::Ok(),
        &json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": found.len(),
            "link": [{ "relation": "self", "url": self_url }],
            "entry": entry,
        }),
    ))
}
