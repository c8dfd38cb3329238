//! `GET /api/v1/audit` (the trail, filtered) and `GET /api/v1/audit/verify` (the hash chain).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

use service::audit::{self, AuditFilter};
use service::keys::Action;

use crate::auth::Caller;
use crate::dto::{AuditEventDto, PageDto, VerifyDto};
use crate::error::{ApiError, ErrorBody};

/// Query of `GET /audit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// `patient`, `merge`, `review_task`, ...
    pub entity_type: Option<String>,
    /// The entity's id.
    pub entity_id: Option<String>,
    /// The key name that acted.
    pub actor: Option<String>,
    /// From this time (RFC 3339, inclusive).
    pub from: Option<DateTime<FixedOffset>>,
    /// Until this time (RFC 3339, exclusive).
    pub to: Option<DateTime<FixedOffset>>,
    /// Page, from 1.
    pub page: Option<u64>,
    /// Page size (default 20, at most 500).
    pub per_page: Option<u64>,
    /// `images`: answer each row's `before` and `after` (whole patient records), audited as
    /// reads of those patients. Without it they are left out.
    pub include: Option<String>,
}

/// `GET /api/v1/audit`: newest first; audited (`audit_read`), images only with
/// `include=images`.
#[utoipa::path(operation_id = "list_audit_events", get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "One page of audit rows", body = PageDto<AuditEventDto>),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody)))]
pub async fn list(caller: Caller, query: web::Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
    caller.ctx.authorize(Action::Audit)?;
    let q = query.into_inner();
    let include_images = match q.include.as_deref() {
        None | Some("") => false,
        Some("images") => true,
        Some(_) => {
            return Err(ApiError::InvalidValue {
                message: "include: the only value is `images`".to_owned(),
                field: Some("include".to_owned()),
            });
        }
    };
    let page = audit::read_trail(
        &caller.mpi,
        &caller.ctx,
        AuditFilter {
            entity_type: q.entity_type,
            entity_id: q.entity_id,
            actor: q.actor,
            from: q.from,
            to: q.to,
            page: q.page.unwrap_or(1),
            per_page: q.per_page.unwrap_or(20),
            ..AuditFilter::default()
        },
        include_images,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PageDto {
        items: page.items.iter().map(AuditEventDto::from).collect(),
        total: page.total,
        page: page.page,
        per_page: page.per_page,
    }))
}

/// `GET /api/v1/audit/verify`: `{rows, ok, first_broken_seq}`.
#[utoipa::path(operation_id = "verify_audit_chain", get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "The chain's state; `first_broken_seq` names the first altered row", body = VerifyDto),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody)))]
pub async fn verify(caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.ctx.authorize(Action::Audit)?;
    let report = audit::verify(caller.mpi.db()).await?;
    Ok(HttpResponse::Ok().json(VerifyDto::from(report)))
}
