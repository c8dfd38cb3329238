//! `GET /api/v1/audit` (the trail, filtered) and `GET /api/v1/audit/verify` (the hash chain).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

use service::audit::{self, AuditFilter};
use service::keys::Action;

use crate::auth::Caller;
use crate::dto::{AuditEventDto, PageDto};
use crate::error::ApiError;

/// Query of `GET /audit`.
#[derive(Debug, Default, Deserialize)]
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
}

/// `GET /api/v1/audit`: newest first.
pub async fn list(caller: Caller, query: web::Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
    caller.ctx.authorize(Action::Audit)?;
    let q = query.into_inner();
    let page = audit::query(
        caller.mpi.db(),
        AuditFilter {
            entity_type: q.entity_type,
            entity_id: q.entity_id,
            actor: q.actor,
            from: q.from,
            to: q.to,
            page: q.page.unwrap_or(1),
            per_page: q.per_page.unwrap_or(20),
        },
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
pub async fn verify(caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.ctx.authorize(Action::Audit)?;
    let report = audit::verify(caller.mpi.db()).await?;
    Ok(HttpResponse::Ok().json(report))
}
