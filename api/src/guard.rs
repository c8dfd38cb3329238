//! The last line of defence around every route: a handler that panics answers a 500 in its
//! API's error shape (the JSON error body, or an OperationOutcome under `/fhir`) instead of
//! dropping the connection, and is logged as one structured line; an error answer that an
//! extractor or actix itself wrote as plain text (a `/fhir` body over its size limit was a
//! `413 text/plain`) is rewritten in its API's error shape.

use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use futures_util::FutureExt;

use crate::error::ApiError;
use crate::fhir::operation_outcome::FhirError;

/// Largest body a `/fhir` route reads (actix-web's default for `Bytes`).
pub const FHIR_BODY_LIMIT_BYTES: usize = 262_144;

/// The middleware (mounted with `actix_web::middleware::from_fn`).
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Not a clone of the request: routing needs the only reference to it.
    let fhir = req.path().starts_with("/fhir");
    let method = req.method().clone();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(Ok(response)) => Ok(reshape(response.map_into_boxed_body())),
        Ok(Err(error)) => Err(error),
        Err(_) => {
            // The panic itself was logged by the hook of [`log_panics`].
            tracing::error!(%method, fhir, "a request handler panicked; answered 500");
            let panicked = ApiError::Internal("the request handler panicked".into());
            // Answered by the layers outside, from the error's own `error_response`.
            Err(if fhir {
                FhirError::from(panicked).into()
            } else {
                panicked.into()
            })
        }
    }
}

/// `error` as the route's API answers errors.
fn shaped(http: &HttpRequest, error: ApiError) -> HttpResponse {
    if http.path().starts_with("/fhir") {
        FhirError::from(error).error_response()
    } else {
        error.error_response()
    }
}

/// An error answer whose body is not JSON, rewritten as its API's error; others unchanged.
fn reshape(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json") || v == crate::fhir::xml::FHIR_XML);
    // (A FHIR XML error answer is an OperationOutcome already: see `crate::fhir::xml`.)
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let path = response.request().path();
    // Pages, the OpenAPI document and the Swagger UI keep their own answers.
    if !(path.starts_with("/api/v1") || path.starts_with("/fhir")) {
        return response;
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: if path.starts_with("/fhir") {
                FHIR_BODY_LIMIT_BYTES
            } else {
                crate::startup::JSON_LIMIT_BYTES
            },
        },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        StatusCode::NOT_FOUND => ApiError::NotFound {
            message: "no such route".to_owned(),
        },
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::BAD_REQUEST => ApiError::BadRequest {
            code: "bad_request",
            message: "the request is malformed".to_owned(),
            field: None,
        },
        s if s.is_server_error() => ApiError::Internal("an error answer without a body".into()),
        _ => return response,
    };
    let (request, _) = response.into_parts();
    let answer = shaped(&request, error);
    ServiceResponse::new(request, answer)
}

/// Replaces the default panic hook (several lines of plain text on standard error) by one
/// structured log line with the panic's location. The panic's message is logged only when it
/// is a fixed text: a formatted message may hold request data, which never goes to the log.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&'static str>()
            .copied()
            .unwrap_or("(formatted message withheld)");
        tracing::error!(%location, message, "panic");
    }));
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test, web};

    use super::*;

    async fn panics() -> HttpResponse {
        let items: Vec<u64> = Vec::new();
        HttpResponse::Ok().body(items[3].to_string())
    }

    #[actix_web::test]
    async fn a_panicking_handler_answers_500_in_its_apis_shape() {
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(guard))
                .route("/api/v1/boom", web::get().to(panics))
                .route("/fhir/boom", web::get().to(panics)),
        )
        .await;
        // The guard answers the panic as an error, which actix turns into the response.
        for (uri, key, value) in [
            ("/api/v1/boom", "code", "internal"),
            ("/fhir/boom", "resourceType", "OperationOutcome"),
        ] {
            let request = test::TestRequest::get().uri(uri).to_request();
            let error = test::try_call_service(&app, request)
                .await
                .expect_err("the panic is answered as an error");
            let response = error.error_response();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let bytes = actix_web::body::to_bytes(response.into_body())
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body[key], value, "{uri}: {body}");
        }
    }
}
