//! `GET /fhir/AuditEvent` (auditor and admin): the audit trail searched by `date`, `entity`,
//! `agent` and `action` through the service's trail reader (`service::audit::read_trail`,
//! itself audited), each row rendered as an AuditEvent shaped after IHE's Basic Audit Log
//! Patterns (BALP): a RESTful-operation type with the interaction as subtype, the key as the
//! requesting agent, the server as source, the record as entity. Rows hold no patient data.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use entity::audit_event;
use service::audit::{self, AuditFilter};

use super::fhir_response;
use super::operation_outcome::FhirError;
use super::routes::{bad_request, base_url, encode, invalid};
use crate::auth::Caller;
use crate::error::ApiError;

type FhirResult = Result<HttpResponse, FhirError>;

/// Each trail action: its FHIR AuditEvent action code (C, R, U, D, E) and its BALP subtype
/// (a `restful-interaction` code). An action missing here renders as `E` / `operation` and is
/// not found by `action=`.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("create", "C", "create"),
    ("create_forced", "C", "create"),
    ("import", "C", "create"),
    ("link.create", "C", "create"),
    ("read", "R", "read"),
    ("review.read", "R", "read"),
    ("link.list", "R", "search-type"),
    ("audit_read", "R", "search-type"),
    ("update", "U", "update"),
    ("merge", "U", "operation"),
    ("merge.undo", "U", "operation"),
    ("review.decide", "U", "operation"),
    ("delete", "D", "delete"),
    ("link.delete", "D", "delete"),
    ("search", "E", "search-type"),
    ("match", "E", "operation"),
    ("xref", "E", "operation"),
    ("duplicate_check", "E", "operation"),
    ("merge.preview", "E", "operation"),
    ("dedupe.start", "E", "operation"),
    ("dedupe.finish", "E", "operation"),
];

fn codes_of(action: &str) -> (&'static str, &'static str) {
    ACTIONS
        .iter()
        .find(|(a, _, _)| *a == action)
        .map_or(("E", "operation"), |(_, code, subtype)| (*code, *subtype))
}

/// A half-open time range `[from, to)`; `None` leaves that side open.
type Bounds = (Option<DateTime<FixedOffset>>, Option<DateTime<FixedOffset>>);

/// A `date` value with its prefix as a half-open range.
fn date_bounds(value: &str) -> Result<Bounds, FhirError> {
    let (prefix, text) = match value.get(..2) {
        Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &value[2..]),
        _ => ("eq", value),
    };
    let bad = || {
        invalid(
            "date: use [eq|ge|gt|le|lt]YYYY-MM-DD or a dateTime with a time zone".to_owned(),
            "date",
        )
    };
    // A day covers [start, next day); an instant is a point.
    let (start, end) = if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let start = Utc
            .from_utc_datetime(&day.and_hms_opt(0, 0, 0).ok_or_else(bad)?)
            .fixed_offset();
        (start, start + Duration::days(1))
    } else {
        let t = DateTime::parse_from_rfc3339(text).map_err(|_| bad())?;
        (t, t + Duration::microseconds(1))
    };
    Ok(match prefix {
        "ge" => (Some(start), None),
        "gt" => (Some(end), None),
        "le" => (None, Some(end)),
        "lt" => (None, Some(start)),
        _ => (Some(start), Some(end)),
    })
}

/// The filter and the criteria to repeat in paging links.
fn filter_of(req: &HttpRequest) -> Result<(AuditFilter, Vec<(String, String)>), FhirError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| bad_request(format!("malformed query: {e}"), None))?
        .into_inner();
    let mut filter = AuditFilter {
        page: 1,
        per_page: 20,
        ..AuditFilter::default()
    };
    let mut criteria = Vec::new();
    for (name, value) in &pairs {
        let value = value.trim();
        let number = |field: &str| {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid(format!("{field}: must be a positive integer"), field))
        };
        match name.as_str() {
            "_count" => filter.per_page = number("_count")?.min(service::MAX_PER_PAGE),
            "_page" => filter.page = number("_page")?,
            "_format" if matches!(value, "json" | "application/json" | "application/fhir+json") => {
            }
            "date" => {
                let (from, to) = date_bounds(value)?;
                if let Some(from) = from {
                    filter.from = Some(filter.from.map_or(from, |f| f.max(from)));
                }
                if let Some(to) = to {
                    filter.to = Some(filter.to.map_or(to, |t| t.min(to)));
                }
            }
            "entity" if filter.entity_id.is_none() => {
                let (kind, id) = match value.rsplit_once('/') {
                    Some((kind, id)) => {
                        let kind = kind.rsplit('/').next().unwrap_or(kind);
                        (Some(kind.to_ascii_lowercase()), id)
                    }
                    None => (None, value),
                };
                if id.is_empty() {
                    return Err(invalid("entity: is empty".to_owned(), "entity"));
                }
                filter.entity_type = kind;
                filter.entity_id = Some(id.to_owned());
            }
            "agent" | "agent-name" if filter.actor.is_none() => {
                if value.is_empty() {
                    return Err(invalid(format!("{name}: is empty"), name));
                }
                filter.actor = Some(value.to_owned());
            }
            "action" => {
                for code in value.split(',').map(str::trim) {
                    if !matches!(code, "C" | "R" | "U" | "D" | "E") {
                        return Err(invalid(
                            "action: use C, R, U, D or E (comma for any of them)".to_owned(),
                            "action",
                        ));
                    }
                    filter.actions.extend(
                        ACTIONS
                            .iter()
                            .filter(|(_, c, _)| *c == code)
                            .map(|(a, _, _)| (*a).to_owned()),
                    );
                }
            }
            _ => {
                return Err(bad_request(
                    format!(
                        "{name}: unsupported (supported: date, entity, agent, action, _count, _page; entity and agent once)"
                    ),
                    Some(name),
                ));
            }
        }
        if matches!(
            name.as_str(),
            "date" | "entity" | "agent" | "agent-name" | "action"
        ) {
            criteria.push((name.clone(), value.to_owned()));
        }
    }
    Ok((filter, criteria))
}

/// One trail row as a BALP-shaped AuditEvent.
fn render(row: &audit_event::Model) -> Value {
    let (action, subtype) = codes_of(&row.action);
    let mut agent = json!({
        "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM",
                              "code": "110153", "display": "Source Role ID"}]},
        "who": {"display": row.actor},
        "requestor": true,
    });
    if let Some(addr) = &row.client_addr {
        agent["network"] = json!({"address": addr, "type": "2"});
    }
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": row.seq.to_string(),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                 "code": "rest", "display": "Restful Operation"},
        "subtype": [
            {"system": "http://hl7.org/fhir/restful-interaction", "code": subtype},
            {"system": "urn:mpi:audit-action", "code": row.action},
        ],
        "action": action,
        "recorded": super::patient::instant_text(row.occurred_at),
        "outcome": "0",
        "agent": [agent],
        "source": {
            "observer": {"display": "mpi"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                      "code": "4", "display": "Application Server"}],
        },
    });
    let mut entity = Vec::new();
    if let (Some(kind), Some(id)) = (&row.entity_type, &row.entity_id) {
        if kind == "patient" {
            entity.push(json!({
                "what": {"reference": format!("Patient/{id}")},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                         "code": "1", "display": "Person"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role",
                         "code": "1", "display": "Patient"},
            }));
        } else {
            entity.push(json!({
                "what": {"identifier": {"system": format!("urn:mpi:{kind}"), "value": id}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                         "code": "2", "display": "System Object"},
            }));
        }
    }
    if let Some(request_id) = &row.request_id {
        entity.push(json!({
            "what": {"identifier": {"value": request_id}},
            "type": {"system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType",
                     "code": "XrequestId"},
        }));
    }
    if !entity.is_empty() {
        event["entity"] = Value::Array(entity);
    }
    event
}

/// `GET /fhir/AuditEvent?...`: a searchset Bundle, newest first, with `total` and paging links.
pub async fn search(caller: Result<Caller, ApiError>, req: HttpRequest) -> FhirResult {
    let caller = caller?;
    let (filter, criteria) = filter_of(&req)?;
    let page = audit::read_trail(&caller.mpi, &caller.ctx, filter, false).await?;
    let base = base_url(&req);
    let link_to = |relation: &'static str, number: u64| {
        let mut url = format!("{base}/AuditEvent?");
        for (name, value) in &criteria {
            url.push_str(&format!("{name}={}&", encode(value)));
        }
        url.push_str(&format!("_count={}&_page={number}", page.per_page));
        json!({"relation": relation, "url": url})
    };
    let mut link = vec![link_to("self", page.page)];
    if page.page.saturating_mul(page.per_page) < page.total {
        link.push(link_to("next", page.page + 1));
    }
    if page.page > 1 {
        link.push(link_to("previous", page.page - 1));
    }
    let entry: Vec<Value> = page
        .items
        .iter()
        .map(|row| {
            json!({
                "fullUrl": format!("{base}/AuditEvent/{}", row.seq),
                "resource": render(row),
                "search": {"mode": "match"},
            })
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": link,
    });
    if !entry.is_empty() {
        bundle["entry"] = Value::Array(entry);
    }
    Ok(fhir_response(HttpResponse::Ok(), &bundle))
}
