//! The FHIR R4 facade under `/fhir`: Patient read, create, update and search, `$match` and
//! `$merge`, RelatedPerson, Subscription (PMIR ITI-94, delivered by [`notify`]), over the same
//! service use cases, keys, roles and audit as `/api/v1`.
//! `_pretty=true` indents any JSON answer (see [`xml::negotiate`]).
//!
//! Answers are `application/fhir+json`, or `application/fhir+xml` when `_format` or `Accept`
//! asks for XML; request bodies may be FHIR JSON or FHIR XML (the [`xml`] middleware converts
//! XML to and from the JSON the handlers speak). Every error is an OperationOutcome
//! ([`operation_outcome::FhirError`]).

mod audit_event;
pub mod bundle;
pub mod capability;
mod conditional;
pub mod import;
pub mod notify;
pub mod operation_outcome;
pub mod organization;
pub mod parameters;
pub mod patient;
mod pdqm;
mod pixm;
mod pmir;
pub mod related_person;
mod routes;
mod subscription;
pub mod xml;

use actix_web::{HttpResponse, HttpResponseBuilder, http::header, web};
use serde::Serialize;

/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";

/// A response with `body` as FHIR JSON.
pub fn fhir_response<T: Serialize>(mut builder: HttpResponseBuilder, body: &T) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => builder
            .insert_header((header::CONTENT_TYPE, FHIR_JSON))
            .body(bytes),
        Err(error) => {
            tracing::error!(%error, "cannot serialise a FHIR resource");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Mounts the `/fhir` routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/fhir")
            .wrap(actix_web::middleware::from_fn(xml::negotiate))
            .service(
                web::resource("/metadata")
                    .get(routes::metadata)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/AuditEvent")
                    .get(audit_event::search)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/Patient/$match")
                    .post(routes::match_patients)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/Patient/$ihe-pix")
                    .get(pixm::get)
                    .post(pixm::post)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource(["", "/", "/Bundle", "/$process-message"])
                    .post(pmir::process)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/Patient/_search")
                    .post(routes::search_post)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/Patient/$merge")
                    .post(routes::merge_patients)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/Patient")
                    .get(routes::search)
                    .post(routes::create)
                    .put(conditional::update)
                    .delete(conditional::delete)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/RelatedPerson")
                    .get(related_person::search)
                    .post(related_person::create)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/RelatedPerson/{id}")
                    .get(related_person::read)
                    .put(related_person::update)
                    .delete(related_person::delete)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/Subscription")
                    .get(subscription::search)
                    .post(subscription::create)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/Subscription/{id}")
                    .get(subscription::read)
                    .put(subscription::update)
                    .delete(subscription::delete)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .service(
                web::resource("/Patient/{id}")
                    .get(routes::read)
                    .put(routes::update)
                    .delete(routes::delete)
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .default_service(web::to(routes::not_found)),
    );
}
