//! HTTP routes, one module per area; [`configure`] mounts them all.

mod health;

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
