//! `GET /api/v1/audit` (the trail, filtered) and `GET /api/v1/audit/verify` (the hash chain).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

use service::audit::{self, AuditFilter};
use service::keys::Action;

use crate::auth::Caller;
use crate::dto::{AuditEventDto, PageDto, VerifyDto};
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

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

/// `GET /api/v1/audit/verify`: every row's hash (with the server's chain keys) and, when the
/// server writes checkpoints to a file, every checkpoint in it. Runs on the service's runtime,
/// not on this worker.
#[utoipa::path(operation_id = "verify_audit_chain", get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "The chain's state; `broken` names the rows that do not verify, `checkpoints` the checkpoints the chain contradicts", body = VerifyDto),
        (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody)))]
pub async fn verify(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.ctx.authorize(Action::Audit)?;
    let checkpoints = match state.audit_checkpoint_file.clone() {
        Some(path) => {
            let read = web::block(move || crate::commands::audit::read_checkpoints(&path))
                .await
                .map_err(|e| ApiError::Internal(e.to_string().into()))?;
            Some(read.map_err(|e| ApiError::Internal(format!("{e:#}").into()))?)
        }
        None => None,
    };
    let unreadable = checkpoints.as_ref().map(|(_, n)| *n).unwrap_or(0);
    let report = caller
        .mpi
        .verify_audit(checkpoints.map(|(c, _)| c))
        .await?
        .with_unreadable_checkpoints(unreadable);
    Ok(HttpResponse::Ok().json(VerifyDto::from(report)))
}
