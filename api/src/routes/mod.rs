//! HTTP routes, one module per area; [`configure`] mounts them all.

mod audit;
mod domains;
mod health;
mod jobs;
mod links;
mod matching;
mod merges;
pub mod oauth;
pub(crate) mod patients;
mod review;
pub mod ui;

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;

/// The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
/// DTOs' `ToSchema` derives; served at `/api/v1/openapi.json` with Swagger UI at `/api/v1/docs/`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Master Patient Index",
        description = "Register, match, merge and link patient records; the stewards' review queue; the audit trail. Every /api/v1 route needs `Authorization: Bearer <key>` (keys from `mpi keys create`)."
    ),
    paths(
        health::health,
        health::ready,
        crate::metrics::metrics,
        patients::register,
        patients::search,
        patients::search_post,
        patients::get,
        patients::update,
        patients::delete,
        patients::links,
        matching::find,
        merges::create,
        merges::list,
        merges::undo,
        links::create,
        links::delete,
        review::list,
        review::get,
        review::decide,
        audit::list,
        audit::verify,
        jobs::start_dedupe,
        jobs::get,
        domains::list,
        domains::add,
        domains::update,
        domains::remove,
        domains::xref,
        oauth::token,
        oauth::revoke,
    ),
    modifiers(&BearerKey, &ErrorStatuses),
    security(("bearer_key" = [])),
    tags(
        (name = "patients", description = "Registration with the duplicate check, read, update, delete, search"),
        (name = "matching", description = "Ranked candidates for demographics"),
        (name = "merges", description = "Merge two records and undo a merge"),
        (name = "links", description = "seealso and refer links between records"),
        (name = "review", description = "The data stewards' review queue"),
        (name = "audit", description = "The hash-chained audit trail"),
        (name = "domains", description = "Identifier domains (assigning authorities) and cross-referencing (PIX)"),
        (name = "jobs", description = "Background batch jobs: the database dedupe"),
        (name = "operations", description = "Health, readiness and metrics (no key needed)"),
        (name = "auth", description = "OAuth 2.0 client-credentials tokens for sources (no key needed)"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer_key` security scheme the document's operations refer to.
struct BearerKey;

impl utoipa::Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Lists, on every `/api/v1` operation, each error status the server can answer for any
/// operation (a malformed path or query, no key, a wrong role, a timeout, a body too large or
/// not JSON, an invalid value, an internal error, the database away), with the JSON error body,
/// unless the operation documents the status itself. So a client (and schemathesis's
/// status-code conformance check) knows every answer an operation can give.
struct ErrorStatuses;

impl utoipa::Modify for ErrorStatuses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let common: [(&str, &str, bool); 10] = [
            (
                "400",
                "Malformed request: path (`invalid_path`), query (`invalid_query`), header or JSON",
                false,
            ),
            ("401", "No valid bearer key", false),
            ("403", "The key's role may not do this", false),
            ("404", "No such resource", false),
            (
                "408",
                "The request head was not received in time (`request_timeout`)",
                false,
            ),
            ("413", "The body is larger than the limit", true),
            ("415", "The body is not application/json", true),
            ("422", "A value is not acceptable (`field` names it)", false),
            (
                "500",
                "Internal error (logged; the body says nothing more)",
                false,
            ),
            (
                "503",
                "The database does not answer, or the service is starting",
                false,
            ),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1") {
                continue;
            }
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let has_body = operation.request_body.is_some();
                for (status, description, body_only) in common {
                    if body_only && !has_body {
                        continue;
                    }
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(description)
                                .content(
                                    "application/json",
                                    ContentBuilder::new()
                                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                                        .build(),
                                )
                                .build()
                                .into()
                        });
                }
            }
        }
    }
}

/// Mounts every route on the application.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .get(ui::index)
            .route(web::head().to(ui::index))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ui/{file}")
            .get(ui::file)
            .route(web::head().to(ui::file))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
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
        web::resource(["/auth/oauth2_token", "/oauth2/token"])
            .post(oauth::token)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource(["/auth/oauth2_revoke", "/oauth2/revoke"])
            .post(oauth::revoke)
            .default_service(web::to(method_not_allowed)),
    )
    // The Swagger UI lives under a folder; its address typed without the slash leads there.
    .service(web::redirect("/api/v1/docs", "/api/v1/docs/").permanent())
    .service(SwaggerUi::new("/api/v1/docs/{_:.*}").url("/api/v1/openapi.json", ApiDoc::openapi()))
    .service(
        web::scope("/api/v1")
            .service(
                web::resource("/patients")
                    .post(patients::register)
                    .get(patients::search)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/patients/_search")
                    .post(patients::search_post)
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
                    .get(merges::list)
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
            )
            .service(
                web::resource("/domains")
                    .get(domains::list)
                    .post(domains::add)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/domains/{name}")
                    .put(domains::update)
                    .delete(domains::remove)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/xref")
                    .get(domains::xref)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/jobs/dedupe")
                    .post(jobs::start_dedupe)
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/jobs/{id}")
                    .get(jobs::get)
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
