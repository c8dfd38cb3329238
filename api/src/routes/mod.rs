//! HTTP routes, one module per area; [`configure`] mounts them all.

mod audit;
mod health;
mod links;
mod matching;
mod merges;
mod patients;
mod review;

use actix_web::{HttpResponse, web};

use crate::error::ApiError;

/// Mounts every route on the application.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/health")
            .get(health::health)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ready")
            .get(health::ready)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/metrics")
            .get(crate::metrics::metrics)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::scope("/api/v1")
            .service(
                web::resource("/patients")
                    .post(patients::register)
                    .get(patients::search)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/patients/{id}")
                    .get(patients::get)
                    .put(patients::update)
                    .delete(patients::delete)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/patients/{id}/links")
                    .get(patients::links)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/match")
                    .post(matching::find)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/merges")
                    .post(merges::create)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/merges/{id}/undo")
                    .post(merges::undo)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/links")
                    .post(links::create)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/links/{id}")
                    .delete(links::delete)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/review-tasks")
                    .get(review::list)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/review-tasks/{id}")
                    .get(review::get)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/review-tasks/{id}/decision")
                    .post(review::decide)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/audit")
                    .get(audit::list)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/audit/verify")
                    .get(audit::verify)
                    .default_service(web::to(method_not_allowed)),
            ),
    );
}

/// Answer for paths no route matches.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        message: "no such route".to_owned(),
    })
}

/// Answer for a known path with a method it does not accept.
pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}
