//! `GET /health` (the process is alive) and `GET /ready` (it can take traffic).

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::database;
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

/// Always 200 while the process serves requests; touches no database.
#[utoipa::path(get, path = "/health", tag = "operations", security(()),
    responses((status = 200, description = "The process is alive")))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Serialize)]
struct Ready {
    status: &'static str,
    #[serde(flatten)]
    readiness: database::Readiness,
}

/// 200 when the database answers and no migration is pending; 503 with the reason otherwise.
#[utoipa::path(get, path = "/ready", tag = "operations", security(()),
    responses((status = 200, description = "Ready for traffic"),
        (status = 503, description = "Database unavailable or migrations pending", body = crate::error::ErrorBody)))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let readiness = database::check_ready(&state.db, state.database_kind).await?;
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready",
        readiness,
    }))
}
