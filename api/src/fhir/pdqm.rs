//! What IHE PDQm (ITI-78) adds to the Patient search of `routes.rs`: `POST
//! /fhir/Patient/_search` with the criteria as a form body, and the `Prefer: handling=` header
//! (strict, the default: an unknown parameter is refused; lenient: it is ignored).

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web;

use super::operation_outcome::FhirError;
use super::routes::bad_request;
use crate::error::ApiError;

/// Whether the request asks for lenient handling of unknown search parameters
/// (`Prefer: handling=lenient`); `handling=strict` or no preference: strict. Another
/// `handling` value is a 400.
pub(super) fn lenient(req: &HttpRequest) -> Result<bool, FhirError> {
    let mut lenient = false;
    for value in req.headers().get_all("prefer") {
        let text = value.to_str().unwrap_or_default();
        for part in text.split([',', ';']) {
            let Some((name, v)) = part.split_once('=') else {
                continue;
            };
            if !name.trim().eq_ignore_ascii_case("handling") {
                continue;
            }
            match v.trim().trim_matches('"') {
                "lenient" => lenient = true,
                "strict" => lenient = false,
                _ => {
                    return Err(bad_request(
                        "Prefer: handling must be strict or lenient".to_owned(),
                        Some("Prefer"),
                    ));
                }
            }
        }
    }
    Ok(lenient)
}

/// The criteria of a `POST .../_search` body (`application/x-www-form-urlencoded`; 415 for
/// another media type).
pub(super) fn form_pairs(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Vec<(String, String)>, FhirError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime != "application/x-www-form-urlencoded" {
        return Err(FhirError::Api(ApiError::UnsupportedMediaType));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| bad_request("the form body is not UTF-8".to_owned(), None))?;
    web::Query::<Vec<(String, String)>>::from_query(text)
        .map(web::Query::into_inner)
        .map_err(|e| bad_request(format!("malformed form body: {e}"), None))
}
