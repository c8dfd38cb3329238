//! FHIR R4 XML (<https://hl7.org/fhir/R4/xml.html>) in and out of the `/fhir` face: content
//! negotiation (`_format`, `Accept`, `Content-Type`) as a middleware around the scope, and a
//! generic JSON <-> XML conversion by the FHIR rules. Hand-written on quick-xml because no
//! maintained Rust crate models FHIR R4 XML; the handlers keep speaking JSON only.
//!
//! The XML needs what JSON does not carry: element ORDER (the schema's), which elements repeat,
//! and which primitives are booleans or numbers. [`SCHEMA`] holds that for every type this
//! server reads or writes, taken from the R4 StructureDefinitions (the "Structure" tab of
//! <https://hl7.org/fhir/R4/patient.html>, `bundle.html`, `parameters.html`,
//! `operationoutcome.html`, `capabilitystatement.html`, `auditevent.html`,
//! `messageheader.html`, and <https://hl7.org/fhir/R4/datatypes.html>). Elements not in it are
//! written after the known ones in JSON order, and read as strings (repeated when they repeat).

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use quick_xml::Reader;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Map, Value};

use super::operation_outcome::FhirError;
use crate::error::ApiError;

/// The FHIR XML media type.
pub const FHIR_XML: &str = "application/fhir+xml";

/// The FHIR namespace of every FHIR XML element.
const FHIR_NS: &str = "http://hl7.org/fhir";

/// Deepest element nesting read (FHIR resources this server reads nest well under 30).
const MAX_DEPTH: usize = 64;

/// The wire format of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// FHIR JSON.
    Json,
    /// FHIR XML.
    Xml,
}

/// The format a `_format` value or media type names, `None` for an unsupported one.
pub fn format_of(value: &str) -> Option<Format> {
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        // `+` in a query string decodes to a space.
        "json" | "application/json" | "application/fhir+json" | "application/fhir json" => {
            Some(Format::Json)
        }
        "xml"
        | "application/xml"
        | "text/xml"
        | "application/fhir+xml"
        | "application/fhir xml" => Some(Format::Xml),
        _ => None,
    }
}

/// The answer format of an `Accept` header: the supported type of highest quality (`*/*` and
/// `application/*` mean JSON), `None` when it accepts no supported type.
fn format_of_accept(accept: &str) -> Option<Format> {
    let mut best: Option<(f32, Format)> = None;
    for item in accept.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let mut parts = item.split(';');
        let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality <= 0.0 {
            continue;
        }
        let format = match mime.as_str() {
            "*/*" | "application/*" => Some(Format::Json),
            "json" | "xml" => None,
            other => format_of(other),
        };
        if let Some(format) = format
            && best.is_none_or(|(q, _)| quality > q)
        {
            best = Some((quality, format));
        }
    }
    best.map(|(_, f)| f)
}

fn not_acceptable(message: &str, field: Option<&str>) -> FhirError {
    FhirError::Profile {
        status: StatusCode::NOT_ACCEPTABLE,
        issue: "not-supported",
        code: "not_acceptable",
        message: message.to_owned(),
        field: field.map(str::to_owned),
    }
}

/// The answer format a request asks for: `_format` first, then `Accept`; JSON when neither.
fn wanted(req: &ServiceRequest) -> Result<Format, FhirError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    if let Some((_, value)) = pairs.iter().find(|(name, _)| name == "_format") {
        return format_of(value).ok_or_else(|| {
            not_acceptable(
                "_format must be json, xml, application/fhir+json or application/fhir+xml",
                Some("_format"),
            )
        });
    }
    match req
        .headers()
        .get(header::ACCEPT)
        .map(|v| v.to_str().unwrap_or_default())
    {
        None => Ok(Format::Json),
        Some(accept) if accept.trim().is_empty() => Ok(Format::Json),
        Some(accept) => format_of_accept(accept).ok_or_else(|| {
            not_acceptable(
                "Accept names no supported type (application/fhir+json, application/fhir+xml)",
                None,
            )
        }),
    }
}

/// The query string without its `_format` and `_pretty` parameters (the handlers know only
/// JSON and refuse a parameter they do not know; the format and its layout are this
/// middleware's business).
fn without_format(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| !matches!(pair.split('=').next(), Some("_format" | "_pretty")))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether `_pretty=true` is among `pairs` (a query string or a form body); `Ok(None)` when
/// absent; a value other than `true` or `false` is a 400.
fn pretty_in(pairs: &str) -> Result<Option<bool>, FhirError> {
    let found = web::Query::<Vec<(String, String)>>::from_query(pairs)
        .map(web::Query::into_inner)
        .unwrap_or_default()
        .into_iter()
        .find(|(name, _)| name == "_pretty");
    match found.as_ref().map(|(_, v)| v.trim()) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(FhirError::Malformed {
            message: "_pretty must be true or false".to_owned(),
            field: Some("_pretty".to_owned()),
        }),
    }
}

/// The middleware around `/fhir`: refuses an unsupported answer format (406, in JSON), turns an
/// XML body into the JSON the handlers read, and writes a FHIR JSON answer as XML when asked.
/// 406 and 415 answers stay JSON (the client could not read the format it asked for).
pub async fn negotiate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mut format = match wanted(&req) {
        Ok(format) => format,
        Err(error) => return Ok(req.into_response(error.error_response())),
    };
    let mut pretty = match pretty_in(req.query_string()) {
        Ok(pretty) => pretty,
        Err(error) => return Ok(req.into_response(error.error_response())),
    };
    // Kept for the answer's paging links, which the handler writes without it.
    let mut format_pair = req
        .query_string()
        .split('&')
        .find(|pair| pair.split('=').next() == Some("_format"))
        .map(str::to_owned);
    if format_pair.is_some() || pretty.is_some() {
        let query = without_format(req.query_string());
        let path = req.path().to_owned();
        let uri = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        if let Ok(uri) = uri.parse() {
            req.head_mut().uri = uri;
        }
    }
    // `POST .../_search` may carry `_format` among its form criteria: it is taken out the same
    // way (the query's `_format` wins when both are given).
    let form_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if form_body {
        let bytes = match req.extract::<web::Bytes>().await {
            Ok(bytes) => bytes,
            Err(error) => {
                let answer = req.into_response(read_error(&error).error_response());
                return Ok(in_format(format, None, answer).await);
            }
        };
        let form = std::str::from_utf8(&bytes).unwrap_or_default();
        if pretty.is_none() {
            pretty = match pretty_in(form) {
                Ok(p) => p,
                Err(error) => return Ok(req.into_response(error.error_response())),
            };
        }
        let pair = form
            .split('&')
            .find(|pair| pair.split('=').next() == Some("_format"))
            .map(str::to_owned);
        match pair {
            Some(pair) => {
                if format_pair.is_none() {
                    let value = web::Query::<Vec<(String, String)>>::from_query(&pair)
                        .ok()
                        .and_then(|q| q.into_inner().pop())
                        .map(|(_, value)| value)
                        .unwrap_or_default();
                    match format_of(&value) {
                        Some(asked) => format = asked,
                        None => {
                            let error = not_acceptable(
                                "_format must be json, xml, application/fhir+json or \
                                 application/fhir+xml",
                                Some("_format"),
                            );
                            return Ok(req.into_response(error.error_response()));
                        }
                    }
                    format_pair = Some(pair);
                }
                req.set_payload(web::Bytes::from(without_format(form)).into());
            }
            None => req.set_payload(web::Bytes::from(without_format(form)).into()),
        }
    }
    let xml_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(format_of)
        == Some(Format::Xml);
    if xml_body {
        let bytes = match req.extract::<web::Bytes>().await {
            Ok(bytes) => bytes,
            Err(error) => {
                let answer = req.into_response(read_error(&error).error_response());
                return Ok(in_format(format, None, answer).await);
            }
        };
        // An empty body stays empty: the handler answers it as it answers an empty JSON body.
        let json = match std::str::from_utf8(&bytes)
            .map_err(|_| "the XML body is not UTF-8".to_owned())
            .and_then(|text| {
                if text.trim().is_empty() {
                    Ok(None)
                } else {
                    xml_to_json(text).map(Some)
                }
            }) {
            Ok(json) => json,
            Err(message) => {
                let error = FhirError::Malformed {
                    message: format!("malformed FHIR XML: {message}"),
                    field: None,
                };
                return Ok(
                    in_format(format, None, req.into_response(error.error_response())).await,
                );
            }
        };
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(super::FHIR_JSON),
        );
        let body = json.map(|j| j.to_string()).unwrap_or_default();
        req.set_payload(web::Bytes::from(body).into());
    }
    let response = next.call(req).await?.map_into_boxed_body();
    let response = in_format(format, format_pair.as_deref(), response).await;
    Ok(if pretty == Some(true) {
        indented(response).await
    } else {
        response
    })
}

/// A FHIR JSON answer indented (`_pretty=true`); any other answer as it is.
async fn indented(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let is_fhir_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        == Some(super::FHIR_JSON);
    if !is_fhir_json {
        return response;
    }
    let (http, response) = response.into_parts();
    let (response, body) = response.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let error = FhirError::Api(ApiError::Internal("the answer could not be read".into()));
            return ServiceResponse::new(http, error.error_response());
        }
    };
    let body = web::Bytes::from(indent_json(&bytes));
    ServiceResponse::new(http, response.set_body(BoxBody::new(body)))
}

/// JSON text indented by two spaces per level, its elements in their order (parsing into a
/// `serde_json::Value` would sort them by name). Whitespace outside strings is dropped and
/// written anew; strings are copied as they are.
fn indent_json(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * 2));
    };
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        i += 1;
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                let close = if b == b'{' { b'}' } else { b']' };
                let next = json[i..].iter().find(|c| !c.is_ascii_whitespace());
                if next == Some(&close) {
                    // An empty object or array stays on its line.
                    while json[i] != close {
                        i += 1;
                    }
                    out.push(close);
                    i += 1;
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b' ' | b'\t' | b'\n' | b'\r' => {}
            other => out.push(other),
        }
    }
    out
}

/// The answer to a body that could not be read: 413 over the `/fhir` limit, else 400.
fn read_error(error: &actix_web::Error) -> FhirError {
    if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
        FhirError::Api(ApiError::PayloadTooLarge {
            limit: crate::guard::FHIR_BODY_LIMIT_BYTES,
        })
    } else {
        FhirError::Malformed {
            message: "the body could not be read".to_owned(),
            field: None,
        }
    }
}

/// `response` in `format`: a FHIR JSON answer rewritten as FHIR XML when XML is asked for
/// (a Bundle's links keep the request's `format_pair`, so that following them stays in XML).
async fn in_format(
    format: Format,
    format_pair: Option<&str>,
    response: ServiceResponse<BoxBody>,
) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let is_fhir_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        == Some(super::FHIR_JSON);
    if format == Format::Json
        || !is_fhir_json
        || status == StatusCode::NOT_ACCEPTABLE
        || status == StatusCode::UNSUPPORTED_MEDIA_TYPE
    {
        return response;
    }
    let (http, response) = response.into_parts();
    let (mut response, body) = response.into_parts();
    let xml = match actix_web::body::to_bytes(body).await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|mut v| {
                if let Some(pair) = format_pair {
                    with_format_in_links(&mut v, pair);
                }
                json_to_xml(&v)
            }),
        Err(_) => Err("the answer could not be read".to_owned()),
    };
    match xml {
        Ok(xml) => {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(FHIR_XML),
            );
            let response = response.set_body(BoxBody::new(xml));
            ServiceResponse::new(http, response)
        }
        Err(cause) => {
            tracing::error!(%cause, "cannot write a FHIR answer as XML");
            let error = FhirError::Api(ApiError::Internal(cause.into()));
            ServiceResponse::new(http, error.error_response())
        }
    }
}

/// Appends `pair` (`_format=...`) to the URL of every link of a Bundle.
fn with_format_in_links(bundle: &mut Value, pair: &str) {
    let Some(links) = bundle.get_mut("link").and_then(Value::as_array_mut) else {
        return;
    };
    for link in links {
        if let Some(Value::String(url)) = link.get_mut("url") {
            let separator = if url.contains('?') { '&' } else { '?' };
            url.push(separator);
            url.push_str(pair);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The schema: per type, its elements in schema order.

/// One element of a type.
#[derive(Debug)]
struct Element {
    /// The JSON/XML name; a choice element keeps its `[x]` stem (`value`).
    name: &'static str,
    /// The type (`string`, `boolean`, `Identifier`, `Patient.contact`, `Resource`, `[x]`).
    ty: &'static str,
    /// Repeats (max `*`).
    many: bool,
}

/// The elements every DomainResource starts with.
const DOMAIN_RESOURCE: &str = "id id, meta Meta, implicitRules uri, language code, \
text Narrative, contained Resource*, extension Extension*, modifierExtension Extension*";
/// The elements every Resource starts with.
const RESOURCE: &str = "id id, meta Meta, implicitRules uri, language code";
/// The elements every BackboneElement starts with (its `id` is an attribute).
const BACKBONE: &str = "extension Extension*, modifierExtension Extension*";
/// The elements every other Element starts with.
const ELEMENT: &str = "extension Extension*";

/// Per type: its base (`D` DomainResource, `R` Resource, `B` BackboneElement, `E` Element)
/// and its own elements in schema order (`*` repeats; `name[x]` a choice).
const TYPES: &[(&str, char, &str)] = &[
    // https://hl7.org/fhir/R4/patient.html
    (
        "Patient",
        'D',
        "identifier Identifier*, active boolean, name HumanName*, telecom ContactPoint*, \
         gender code, birthDate date, deceased[x], address Address*, \
         maritalStatus CodeableConcept, multipleBirth[x], photo Attachment*, \
         contact Patient.contact*, communication Patient.communication*, \
         generalPractitioner Reference*, managingOrganization Reference, link Patient.link*",
    ),
    (
        "Patient.contact",
        'B',
        "relationship CodeableConcept*, name HumanName, telecom ContactPoint*, \
         address Address, gender code, organization Reference, period Period",
    ),
    (
        "Patient.communication",
        'B',
        "language CodeableConcept, preferred boolean",
    ),
    ("Patient.link", 'B', "other Reference, type code"),
    // https://hl7.org/fhir/R4/relatedperson.html
    (
        "RelatedPerson",
        'D',
        "identifier Identifier*, active boolean, patient Reference, \
         relationship CodeableConcept*, name HumanName*, telecom ContactPoint*, gender code, \
         birthDate date, address Address*, photo Attachment*, period Period, \
         communication RelatedPerson.communication*",
    ),
    (
        "RelatedPerson.communication",
        'B',
        "language CodeableConcept, preferred boolean",
    ),
    // https://hl7.org/fhir/R4/organization.html
    (
        "Organization",
        'D',
        "identifier Identifier*, active boolean, type CodeableConcept*, name string, \
         alias string*, telecom ContactPoint*, address Address*, partOf Reference, \
         contact Organization.contact*, endpoint Reference*",
    ),
    (
        "Organization.contact",
        'B',
        "purpose CodeableConcept, name HumanName, telecom ContactPoint*, address Address",
    ),
    // https://hl7.org/fhir/R4/bundle.html
    (
        "Bundle",
        'R',
        "identifier Identifier, type code, timestamp instant, total unsignedInt, \
         link Bundle.link*, entry Bundle.entry*, signature Signature",
    ),
    ("Bundle.link", 'B', "relation string, url uri"),
    (
        "Bundle.entry",
        'B',
        "link Bundle.link*, fullUrl uri, resource Resource, search Bundle.entry.search, \
         request Bundle.entry.request, response Bundle.entry.response",
    ),
    ("Bundle.entry.search", 'B', "mode code, score decimal"),
    (
        "Bundle.entry.request",
        'B',
        "method code, url uri, ifNoneMatch string, ifModifiedSince instant, ifMatch string, \
         ifNoneExist string",
    ),
    (
        "Bundle.entry.response",
        'B',
        "status string, location uri, etag string, lastModified instant, outcome Resource",
    ),
    // https://hl7.org/fhir/R4/parameters.html
    ("Parameters", 'R', "parameter Parameters.parameter*"),
    (
        "Parameters.parameter",
        'B',
        "name string, value[x], resource Resource, part Parameters.parameter*",
    ),
    // https://hl7.org/fhir/R4/operationoutcome.html
    ("OperationOutcome", 'D', "issue OperationOutcome.issue*"),
    (
        "OperationOutcome.issue",
        'B',
        "severity code, code code, details CodeableConcept, diagnostics string, \
         location string*, expression string*",
    ),
    // https://hl7.org/fhir/R4/capabilitystatement.html
    (
        "CapabilityStatement",
        'D',
        "url uri, version string, name string, title string, status code, \
         experimental boolean, date dateTime, publisher string, contact ContactDetail*, \
         description markdown, useContext UsageContext*, jurisdiction CodeableConcept*, \
         purpose markdown, copyright markdown, kind code, instantiates canonical*, \
         imports canonical*, software CapabilityStatement.software, \
         implementation CapabilityStatement.implementation, fhirVersion code, format code*, \
         patchFormat code*, implementationGuide canonical*, rest CapabilityStatement.rest*, \
         messaging CapabilityStatement.messaging*, document CapabilityStatement.document*",
    ),
    (
        "CapabilityStatement.software",
        'B',
        "name string, version string, releaseDate dateTime",
    ),
    (
        "CapabilityStatement.implementation",
        'B',
        "description string, url url, custodian Reference",
    ),
    (
        "CapabilityStatement.rest",
        'B',
        "mode code, documentation markdown, security CapabilityStatement.rest.security, \
         resource CapabilityStatement.rest.resource*, \
         interaction CapabilityStatement.rest.interaction*, \
         searchParam CapabilityStatement.rest.resource.searchParam*, \
         operation CapabilityStatement.rest.resource.operation*, compartment canonical*",
    ),
    (
        "CapabilityStatement.rest.security",
        'B',
        "cors boolean, service CodeableConcept*, description markdown",
    ),
    (
        "CapabilityStatement.rest.resource",
        'B',
        "type code, profile canonical, supportedProfile canonical*, documentation markdown, \
         interaction CapabilityStatement.rest.resource.interaction*, versioning code, \
         readHistory boolean, updateCreate boolean, conditionalCreate boolean, \
         conditionalRead code, conditionalUpdate boolean, conditionalDelete code, \
         referencePolicy code*, searchInclude string*, searchRevInclude string*, \
         searchParam CapabilityStatement.rest.resource.searchParam*, \
         operation CapabilityStatement.rest.resource.operation*",
    ),
    (
        "CapabilityStatement.rest.resource.interaction",
        'B',
        "code code, documentation markdown",
    ),
    (
        "CapabilityStatement.rest.resource.searchParam",
        'B',
        "name string, definition canonical, type code, documentation markdown",
    ),
    (
        "CapabilityStatement.rest.resource.operation",
        'B',
        "name string, definition canonical, documentation markdown",
    ),
    (
        "CapabilityStatement.rest.interaction",
        'B',
        "code code, documentation markdown",
    ),
    (
        "CapabilityStatement.messaging",
        'B',
        "endpoint CapabilityStatement.messaging.endpoint*, reliableCache unsignedInt, \
         documentation markdown, supportedMessage CapabilityStatement.messaging.supportedMessage*",
    ),
    (
        "CapabilityStatement.messaging.endpoint",
        'B',
        "protocol Coding, address url",
    ),
    (
        "CapabilityStatement.messaging.supportedMessage",
        'B',
        "mode code, definition canonical",
    ),
    (
        "CapabilityStatement.document",
        'B',
        "mode code, documentation markdown, profile canonical",
    ),
    // https://hl7.org/fhir/R4/auditevent.html
    (
        "AuditEvent",
        'D',
        "type Coding, subtype Coding*, action code, period Period, recorded instant, \
         outcome code, outcomeDesc string, purposeOfEvent CodeableConcept*, \
         agent AuditEvent.agent*, source AuditEvent.source, entity AuditEvent.entity*",
    ),
    (
        "AuditEvent.agent",
        'B',
        "type CodeableConcept, role CodeableConcept*, who Reference, altId string, \
         name string, requestor boolean, location Reference, policy uri*, media Coding, \
         network AuditEvent.agent.network, purposeOfUse CodeableConcept*",
    ),
    ("AuditEvent.agent.network", 'B', "address string, type code"),
    (
        "AuditEvent.source",
        'B',
        "site string, observer Reference, type Coding*",
    ),
    (
        "AuditEvent.entity",
        'B',
        "what Reference, type Coding, role Coding, lifecycle Coding, securityLabel Coding*, \
         name string, description string, query base64Binary, detail AuditEvent.entity.detail*",
    ),
    ("AuditEvent.entity.detail", 'B', "type string, value[x]"),
    // https://hl7.org/fhir/R4/subscription.html (PMIR ITI-94)
    (
        "Subscription",
        'D',
        "status code, contact ContactPoint*, end instant, reason string, criteria string, \
         error string, channel Subscription.channel",
    ),
    (
        "Subscription.channel",
        'B',
        "type code, endpoint url, payload code, header string*",
    ),
    // https://hl7.org/fhir/R4/messageheader.html (PMIR feed messages)
    (
        "MessageHeader",
        'D',
        "event[x], destination MessageHeader.destination*, sender Reference, \
         enterer Reference, author Reference, source MessageHeader.source, \
         responsible Reference, reason CodeableConcept, response MessageHeader.response, \
         focus Reference*, definition canonical",
    ),
    (
        "MessageHeader.destination",
        'B',
        "name string, target Reference, endpoint url, receiver Reference",
    ),
    (
        "MessageHeader.source",
        'B',
        "name string, software string, version string, contact ContactPoint, endpoint url",
    ),
    (
        "MessageHeader.response",
        'B',
        "identifier id, code code, details Reference",
    ),
    // https://hl7.org/fhir/R4/datatypes.html and metadatatypes.html
    (
        "Identifier",
        'E',
        "use code, type CodeableConcept, system uri, value string, period Period, \
         assigner Reference",
    ),
    (
        "HumanName",
        'E',
        "use code, text string, family string, given string*, prefix string*, \
         suffix string*, period Period",
    ),
    (
        "ContactPoint",
        'E',
        "system code, value string, use code, rank positiveInt, period Period",
    ),
    (
        "Address",
        'E',
        "use code, type code, text string, line string*, city string, district string, \
         state string, postalCode string, country string, period Period",
    ),
    ("CodeableConcept", 'E', "coding Coding*, text string"),
    (
        "Coding",
        'E',
        "system uri, version string, code code, display string, userSelected boolean",
    ),
    (
        "Reference",
        'E',
        "reference string, type uri, identifier Identifier, display string",
    ),
    ("Period", 'E', "start dateTime, end dateTime"),
    (
        "Meta",
        'E',
        "versionId id, lastUpdated instant, source uri, profile canonical*, \
         security Coding*, tag Coding*",
    ),
    ("Narrative", 'E', "status code, div xhtml"),
    (
        "Attachment",
        'E',
        "contentType code, language code, data base64Binary, url url, size unsignedInt, \
         hash base64Binary, title string, creation dateTime",
    ),
    ("Extension", 'E', "value[x]"),
    (
        "Quantity",
        'E',
        "value decimal, comparator code, unit string, system uri, code code",
    ),
    ("ContactDetail", 'E', "name string, telecom ContactPoint*"),
    ("UsageContext", 'E', "code Coding, value[x]"),
];

/// Type name -> its elements in order.
static SCHEMA: LazyLock<HashMap<&'static str, Vec<Element>>> = LazyLock::new(|| {
    fn parse(list: &'static str, into: &mut Vec<Element>) {
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, ty) = match item.split_once(' ') {
                Some((name, ty)) => (name, ty.trim()),
                None => (item, "[x]"),
            };
            let many = ty.ends_with('*');
            let ty = ty.trim_end_matches('*');
            let name = name.strip_suffix("[x]").unwrap_or(name);
            into.push(Element { name, ty, many });
        }
    }
    TYPES
        .iter()
        .map(|(ty, base, own)| {
            let mut elements = Vec::new();
            match base {
                'D' => parse(DOMAIN_RESOURCE, &mut elements),
                'R' => parse(RESOURCE, &mut elements),
                'B' => parse(BACKBONE, &mut elements),
                _ => parse(ELEMENT, &mut elements),
            }
            parse(own, &mut elements);
            (*ty, elements)
        })
        .collect()
});

/// Every type of the table with its base (`DomainResource`, `Resource`, `BackboneElement`,
/// `Element`) and its own elements in order (a choice as `value[x]`): for the test that
/// compares the table with an independent FHIR implementation.
pub fn element_orders() -> Vec<(&'static str, &'static str, Vec<String>)> {
    TYPES
        .iter()
        .map(|(ty, base, own)| {
            let base = match base {
                'D' => "DomainResource",
                'R' => "Resource",
                'B' => "BackboneElement",
                _ => "Element",
            };
            let names = own
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(|i| i.split(' ').next().unwrap_or(i).to_owned())
                .collect();
            (*ty, base, names)
        })
        .collect()
}

/// The type and repetition of element `name` of type `ty` (`None` when unknown). A choice
/// element (`valueBoolean`) has the type its suffix names.
fn element_of(ty: &str, name: &str) -> Option<(String, bool)> {
    let elements = SCHEMA.get(ty)?;
    for e in elements {
        if e.ty == "[x]" {
            if let Some(suffix) = name.strip_prefix(e.name)
                && suffix.starts_with(|c: char| c.is_ascii_uppercase())
            {
                return Some((choice_type(suffix), e.many));
            }
        } else if e.name == name {
            return Some((e.ty.to_owned(), e.many));
        }
    }
    None
}

/// The type a choice suffix names: primitives start lower case (`DateTime` -> `dateTime`).
fn choice_type(suffix: &str) -> String {
    const PRIMITIVES: [&str; 19] = [
        "Base64Binary",
        "Boolean",
        "Canonical",
        "Code",
        "Date",
        "DateTime",
        "Decimal",
        "Id",
        "Instant",
        "Integer",
        "Markdown",
        "Oid",
        "PositiveInt",
        "String",
        "Time",
        "UnsignedInt",
        "Uri",
        "Url",
        "Uuid",
    ];
    if PRIMITIVES.contains(&suffix) {
        let mut chars = suffix.chars();
        let first = chars.next().unwrap_or('s').to_ascii_lowercase();
        format!("{first}{}", chars.as_str())
    } else {
        suffix.to_owned()
    }
}

/// A FHIR primitive type (lower case first letter), as opposed to a complex one.
fn is_primitive(ty: &str) -> bool {
    ty.starts_with(|c: char| c.is_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------------
// JSON -> XML

/// A FHIR JSON resource as FHIR XML (UTF-8, with the XML declaration).
pub fn json_to_xml(resource: &Value) -> Result<Vec<u8>, String> {
    let object = resource
        .as_object()
        .ok_or("the resource is not an object")?;
    let ty = object
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or("the resource has no resourceType")?;
    let mut writer = quick_xml::Writer::new(Vec::new());
    writer
        .write_event(Event::Decl(quick_xml::events::BytesDecl::new(
            "1.0",
            Some("UTF-8"),
            None,
        )))
        .map_err(|e| e.to_string())?;
    write_resource(&mut writer, ty, object, true).map_err(|e| e.to_string())?;
    Ok(writer.into_inner())
}

type XmlWriter = quick_xml::Writer<Vec<u8>>;

/// An attribute value escaped so that reading it back gives the same text (line breaks and
/// tabs as character references: attribute normalisation would turn them into spaces).
fn attribute_value(text: &str) -> String {
    quick_xml::escape::escape(text)
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

fn start<'a>(name: &'a str, attributes: &[(&str, &str)]) -> BytesStart<'a> {
    let mut element = BytesStart::new(name);
    for (key, value) in attributes {
        let escaped = attribute_value(value);
        element.push_attribute(quick_xml::events::attributes::Attribute {
            key: quick_xml::name::QName(key),
            value: std::borrow::Cow::Owned(escaped),
        });
    }
    element
}

fn write_resource(
    w: &mut XmlWriter,
    ty: &str,
    object: &Map<String, Value>,
    root: bool,
) -> std::io::Result<()> {
    let attributes: &[(&str, &str)] = if root { &[("xmlns", FHIR_NS)] } else { &[] };
    w.write_event(Event::Start(start(ty, attributes)))?;
    write_members(w, ty, object, true)?;
    w.write_event(Event::End(BytesEnd::new(ty)))
}

/// The members of `object` (of type `ty`) in schema order, then the unknown ones.
fn write_members(
    w: &mut XmlWriter,
    ty: &str,
    object: &Map<String, Value>,
    resource: bool,
) -> std::io::Result<()> {
    let mut done: Vec<&str> = vec!["resourceType"];
    if !resource {
        // An element's `id` (and an extension's `url`) are attributes, written by the caller.
        done.push("id");
        if ty == "Extension" {
            done.push("url");
        }
    }
    if let Some(elements) = SCHEMA.get(ty) {
        for e in elements {
            let keys: Vec<&String> = object
                .keys()
                .filter(|k| {
                    if e.ty == "[x]" {
                        k.strip_prefix(e.name)
                            .is_some_and(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
                    } else {
                        k.as_str() == e.name
                    }
                })
                .collect();
            for key in keys {
                if done.contains(&key.as_str()) {
                    continue;
                }
                let child = element_of(ty, key).map(|(t, _)| t);
                write_member(w, key, child.as_deref(), object)?;
                done.push(key);
            }
        }
    }
    for key in object.keys() {
        let plain = key.strip_prefix('_').unwrap_or(key);
        if done.contains(&key.as_str()) || done.contains(&plain) {
            continue;
        }
        write_member(w, plain, None, object)?;
        done.push(plain);
    }
    Ok(())
}

/// Member `name` of `object` (and its `_name` twin) as one or more elements.
fn write_member(
    w: &mut XmlWriter,
    name: &str,
    ty: Option<&str>,
    object: &Map<String, Value>,
) -> std::io::Result<()> {
    let value = object.get(name).unwrap_or(&Value::Null);
    let twin = object.get(&format!("_{name}")).unwrap_or(&Value::Null);
    match (value, twin) {
        (Value::Array(values), _) => {
            let twins = twin.as_array();
            for (i, v) in values.iter().enumerate() {
                let t = twins.and_then(|t| t.get(i)).unwrap_or(&Value::Null);
                write_element(w, name, ty, v, t)?;
            }
            // `_name` entries beyond the values are not FHIR (the arrays pair up); none is written.
            Ok(())
        }
        (Value::Null, Value::Array(twins)) => {
            for t in twins {
                write_element(w, name, ty, &Value::Null, t)?;
            }
            Ok(())
        }
        _ => write_element(w, name, ty, value, twin),
    }
}

/// One element: a primitive (`value` attribute, `twin` holding its id and extensions), the
/// XHTML `div`, a resource container, or a complex element.
fn write_element(
    w: &mut XmlWriter,
    name: &str,
    ty: Option<&str>,
    value: &Value,
    twin: &Value,
) -> std::io::Result<()> {
    match value {
        Value::Object(object) => {
            if let Some(inner) = object.get("resourceType").and_then(Value::as_str) {
                w.write_event(Event::Start(start(name, &[])))?;
                write_resource(w, inner, object, false)?;
                return w.write_event(Event::End(BytesEnd::new(name)));
            }
            let mut attributes = Vec::new();
            if let Some(id) = object.get("id").and_then(Value::as_str) {
                attributes.push(("id", id));
            }
            let ty = ty.unwrap_or("");
            if ty == "Extension"
                && let Some(url) = object.get("url").and_then(Value::as_str)
            {
                attributes.push(("url", url));
            }
            w.write_event(Event::Start(start(name, &attributes)))?;
            write_members(w, ty, object, false)?;
            w.write_event(Event::End(BytesEnd::new(name)))
        }
        Value::String(text) if name == "div" => {
            // The narrative's XHTML, written as it is (it carries its own namespace).
            w.write_event(Event::Text(BytesText::from_escaped(text.as_str())))
        }
        _ => {
            let text = match value {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            let twin = twin.as_object();
            let mut attributes = Vec::new();
            if let Some(id) = twin.and_then(|t| t.get("id")).and_then(Value::as_str) {
                attributes.push(("id", id));
            }
            if let Some(text) = text.as_deref() {
                attributes.push(("value", text));
            }
            let extensions = twin
                .and_then(|t| t.get("extension"))
                .and_then(Value::as_array);
            if attributes.is_empty() && extensions.is_none_or(Vec::is_empty) {
                // A JSON null with nothing beside it: no element (an empty one is not FHIR).
                return Ok(());
            }
            match extensions {
                Some(extensions) if !extensions.is_empty() => {
                    w.write_event(Event::Start(start(name, &attributes)))?;
                    for e in extensions {
                        write_element(w, "extension", Some("Extension"), e, &Value::Null)?;
                    }
                    w.write_event(Event::End(BytesEnd::new(name)))
                }
                _ => w.write_event(Event::Empty(start(name, &attributes))),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// XML -> JSON

/// An element as read: its attributes, child elements, and (for `div`) its XHTML as written.
#[derive(Debug, Default)]
struct Node {
    name: String,
    value: Option<String>,
    id: Option<String>,
    url: Option<String>,
    children: Vec<Node>,
    xhtml: Option<String>,
}

/// A FHIR XML resource as FHIR JSON (`Err` says what is wrong, never quoting a value).
pub fn xml_to_json(text: &str) -> Result<Value, String> {
    let root = read_tree(text)?;
    if root.name.starts_with(|c: char| !c.is_ascii_uppercase()) {
        return Err("the root element is not a resource".to_owned());
    }
    resource_json(&root)
}

fn attr_text(attribute: &quick_xml::events::attributes::Attribute<'_>) -> Result<String, String> {
    attribute
        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
        .map(|v| v.into_owned())
        // Not the error's text: it may quote part of the value.
        .map_err(|_| "an attribute value holds a bad character or entity reference".to_owned())
}

fn read_tree(text: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err("content after the root element".to_owned());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nest deeper than {MAX_DEPTH}"));
                }
                let local = start.local_name();
                let name = local.as_ref().to_owned();
                if name == "div" {
                    // The XHTML as written, up to its matching end tag.
                    let end = start.to_end().into_owned();
                    reader
                        .read_to_end(end.name())
                        .map_err(|e| format!("in div: {e}"))?;
                    let from = usize::try_from(position).unwrap_or(usize::MAX);
                    let to = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                    let xhtml = text
                        .get(from..to)
                        .ok_or("the div cannot be read")?
                        .trim()
                        .to_owned();
                    let node = Node {
                        name,
                        xhtml: Some(xhtml),
                        ..Node::default()
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Err("the root element is a div".to_owned()),
                    }
                    continue;
                }
                let mut node = Node {
                    name,
                    ..Node::default()
                };
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|e| format!("bad attribute: {e}"))?;
                    match attribute.key.as_ref() {
                        "value" => node.value = Some(attr_text(&attribute)?),
                        "id" => node.id = Some(attr_text(&attribute)?),
                        "url" => node.url = Some(attr_text(&attribute)?),
                        "xmlns" if stack.is_empty() && attr_text(&attribute)? != FHIR_NS => {
                            return Err(format!("the root is not in the {FHIR_NS} namespace"));
                        }
                        _ => {}
                    }
                }
                if stack.is_empty()
                    && !start
                        .attributes()
                        .flatten()
                        .any(|a| a.key.as_ref() == "xmlns")
                {
                    return Err(format!("the root is not in the {FHIR_NS} namespace"));
                }
                stack.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("an end tag without a start")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                if !t.xml10_content().trim().is_empty() {
                    return Err("text outside a value attribute".to_owned());
                }
            }
            Event::CData(_) | Event::GeneralRef(_) => {
                return Err("text outside a value attribute".to_owned());
            }
            Event::DocType(_) => return Err("a DOCTYPE is not allowed".to_owned()),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::Empty(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".to_owned());
    }
    root.ok_or_else(|| "no root element".to_owned())
}

fn resource_json(node: &Node) -> Result<Value, String> {
    let mut object = Map::new();
    object.insert("resourceType".to_owned(), Value::String(node.name.clone()));
    members_json(node, &node.name, &mut object)?;
    Ok(Value::Object(object))
}

/// The child elements of `node` (of type `ty`) as members of `object`.
fn members_json(node: &Node, ty: &str, object: &mut Map<String, Value>) -> Result<(), String> {
    let mut names: Vec<&str> = Vec::new();
    for child in &node.children {
        if !names.contains(&child.name.as_str()) {
            names.push(&child.name);
        }
    }
    for name in names {
        let children: Vec<&Node> = node.children.iter().filter(|c| c.name == name).collect();
        let known = element_of(ty, name);
        let many = known.as_ref().map_or(children.len() > 1, |(_, m)| *m);
        if !many && children.len() > 1 {
            return Err(format!("{name} repeats but may occur once"));
        }
        let child_ty = known.map(|(t, _)| t);
        let mut values = Vec::new();
        let mut twins = Vec::new();
        for child in &children {
            let (value, twin) = element_json(child, child_ty.as_deref())?;
            values.push(value);
            twins.push(twin);
        }
        let has_twin = twins.iter().any(|t| !t.is_null());
        if many {
            object.insert(name.to_owned(), Value::Array(values));
            if has_twin {
                object.insert(format!("_{name}"), Value::Array(twins));
            }
        } else {
            let value = values.pop().unwrap_or(Value::Null);
            if !value.is_null() {
                object.insert(name.to_owned(), value);
            }
            if has_twin {
                object.insert(format!("_{name}"), twins.pop().unwrap_or(Value::Null));
            }
        }
    }
    Ok(())
}

/// One element as its JSON value and its `_` twin (id and extensions of a primitive).
fn element_json(node: &Node, ty: Option<&str>) -> Result<(Value, Value), String> {
    if let Some(xhtml) = &node.xhtml {
        return Ok((Value::String(xhtml.clone()), Value::Null));
    }
    let only_resource = node.children.len() == 1
        && node.children[0]
            .name
            .starts_with(|c: char| c.is_ascii_uppercase());
    if ty == Some("Resource") || (ty.is_none() && only_resource) {
        let [inner] = node.children.as_slice() else {
            return Err(format!("{} must hold exactly one resource", node.name));
        };
        return Ok((resource_json(inner)?, Value::Null));
    }
    let primitive = match ty {
        Some(ty) => is_primitive(ty),
        None => node.value.is_some(),
    };
    if primitive {
        let value = match &node.value {
            None => Value::Null,
            Some(text) => primitive_json(&node.name, ty.unwrap_or("string"), text)?,
        };
        let mut twin = Map::new();
        if let Some(id) = &node.id {
            twin.insert("id".to_owned(), Value::String(id.clone()));
        }
        let extensions: Vec<&Node> = node
            .children
            .iter()
            .filter(|c| c.name == "extension")
            .collect();
        if extensions.len() != node.children.len() {
            return Err(format!("{} holds elements other than extension", node.name));
        }
        if !extensions.is_empty() {
            let list = extensions
                .iter()
                .map(|e| element_json(e, Some("Extension")).map(|(v, _)| v))
                .collect::<Result<Vec<_>, _>>()?;
            twin.insert("extension".to_owned(), Value::Array(list));
        }
        if value.is_null() && twin.is_empty() {
            return Err(format!("{} has no value", node.name));
        }
        let twin = if twin.is_empty() {
            Value::Null
        } else {
            Value::Object(twin)
        };
        return Ok((value, twin));
    }
    if node.value.is_some() {
        return Err(format!("{} is not a primitive", node.name));
    }
    let mut object = Map::new();
    if let Some(id) = &node.id {
        object.insert("id".to_owned(), Value::String(id.clone()));
    }
    if let Some(url) = &node.url {
        object.insert("url".to_owned(), Value::String(url.clone()));
    }
    members_json(node, ty.unwrap_or(""), &mut object)?;
    Ok((Value::Object(object), Value::Null))
}

/// A primitive's `value` attribute as JSON: booleans and numbers as such, the rest as text.
fn primitive_json(name: &str, ty: &str, text: &str) -> Result<Value, String> {
    match ty {
        "boolean" => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{name} must be true or false")),
        },
        "integer" | "positiveInt" | "unsignedInt" => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{name} must be an integer")),
        "decimal" => text
            .parse::<serde_json::Number>()
            .map(Value::Number)
            .map_err(|_| format!("{name} must be a decimal")),
        _ => Ok(Value::String(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_json_keeps_the_order_and_the_strings() {
        let compact =
            br#"{"resourceType":"Bundle","entry":[],"a":{"b":[1,{"c":"x, {y}: \"z\""}]},"d":{}}"#;
        let pretty = String::from_utf8(indent_json(compact)).expect("UTF-8");
        assert_eq!(
            pretty,
            "{\n  \"resourceType\": \"Bundle\",\n  \"entry\": [],\n  \"a\": {\n    \"b\": [\n      1,\n      {\n        \"c\": \"x, {y}: \\\"z\\\"\"\n      }\n    ]\n  },\n  \"d\": {}\n}"
        );
        let back: Value = serde_json::from_str(&pretty).expect("still JSON");
        let original: Value = serde_json::from_slice(compact).expect("JSON");
        assert_eq!(back, original);
    }

    #[test]
    fn a_patient_goes_to_xml_in_schema_order_and_back() {
        let patient = json!({
            "resourceType": "Patient",
            "birthDate": "1970-01-01",
            "name": [{"given": ["Ann", "May"], "family": "Lee", "use": "official"}],
            "active": true,
            "id": "p1",
            "multipleBirthInteger": 2,
            "_birthDate": {"extension": [{"url": "urn:x", "valueString": "a<b"}]},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x &amp; y</p></div>"}
        });
        let xml = String::from_utf8(json_to_xml(&patient).expect("xml")).expect("utf8");
        let id = xml.find("<id").expect("id");
        let text = xml.find("<text").expect("text");
        let active = xml.find("<active").expect("active");
        let name = xml.find("<name").expect("name");
        let birth = xml.find("<birthDate").expect("birthDate");
        assert!(
            id < text && text < active && active < name && name < birth,
            "{xml}"
        );
        assert!(
            xml.contains("<family value=\"Lee\"/><given value=\"Ann\"/>"),
            "{xml}"
        );
        assert!(xml.contains("value=\"a&lt;b\""), "{xml}");
        let back = xml_to_json(&xml).expect("json");
        assert_eq!(back, patient);
    }

    #[test]
    fn a_bundle_holds_its_resources_in_containers() {
        let bundle = json!({
            "resourceType": "Bundle", "type": "searchset", "total": 1,
            "entry": [{"fullUrl": "urn:a", "resource": {"resourceType": "Patient", "id": "a"},
                       "search": {"mode": "match", "score": 0.5}}]
        });
        let xml = String::from_utf8(json_to_xml(&bundle).expect("xml")).expect("utf8");
        assert!(
            xml.contains("<resource><Patient><id value=\"a\"/></Patient></resource>"),
            "{xml}"
        );
        assert_eq!(xml_to_json(&xml).expect("json"), bundle);
    }

    #[test]
    fn line_breaks_survive_and_nulls_write_nothing() {
        let outcome = json!({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "invalid", "diagnostics": "one\ntwo\tthree"}]});
        let xml = String::from_utf8(json_to_xml(&outcome).expect("xml")).expect("utf8");
        assert_eq!(xml_to_json(&xml).expect("json"), outcome);
        let with_null = json!({"resourceType": "Patient", "gender": null, "active": false});
        let xml = String::from_utf8(json_to_xml(&with_null).expect("xml")).expect("utf8");
        assert!(!xml.contains("gender"), "{xml}");
        assert!(xml.contains("<active value=\"false\"/>"), "{xml}");
    }

    #[test]
    fn bad_xml_is_refused() {
        for bad in [
            "<Patient><id value=\"a\"/></Patient>",
            "<Patient xmlns=\"http://hl7.org/fhir\"><active value=\"yes\"/></Patient>",
            "<Patient xmlns=\"http://hl7.org/fhir\"><gender value=\"a\"/><gender value=\"b\"/></Patient>",
            "<!DOCTYPE x [<!ENTITY e \"x\">]><Patient xmlns=\"http://hl7.org/fhir\"/>",
            "<Patient xmlns=\"http://hl7.org/fhir\"><id value=\"a\"/>",
            "<Patient xmlns=\"http://hl7.org/fhir\">text</Patient>",
        ] {
            assert!(xml_to_json(bad).is_err(), "{bad}");
        }
        let deep = format!(
            "<Patient xmlns=\"http://hl7.org/fhir\">{}{}</Patient>",
            "<extension>".repeat(MAX_DEPTH),
            "</extension>".repeat(MAX_DEPTH)
        );
        let error = xml_to_json(&deep).expect_err("too deep");
        assert!(error.contains("deeper"), "{error}");
    }

    #[test]
    fn accept_picks_the_best_supported_type() {
        assert_eq!(format_of_accept("application/fhir+xml"), Some(Format::Xml));
        assert_eq!(
            format_of_accept("application/xml;q=0.9, */*;q=0.8"),
            Some(Format::Xml)
        );
        assert_eq!(
            format_of_accept("application/fhir+xml;q=0.5, application/fhir+json"),
            Some(Format::Json)
        );
        assert_eq!(format_of_accept("text/html"), None);
        assert_eq!(format_of("application/fhir xml"), Some(Format::Xml));
        assert_eq!(without_format("a=1&_format=xml&b=2"), "a=1&b=2");
    }
}
