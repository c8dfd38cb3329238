//! Bearer-key authentication: the [`Caller`] extractor turns `Authorization: Bearer <key>` into
//! the service's [`Ctx`] (actor plus request id, client address and user agent for the audit).
//! The bearer is an API key (`mpi_...`) or an OAuth access token a source got from
//! `POST /auth/oauth2_token` (`mpt_...`, see `routes::oauth`), which acts as that source.
//!
//! A missing, unknown, revoked or expired key or token is 401 before any handler runs; role
//! checks (403) happen in the service's use cases (`Ctx::authorize`).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use service::{Ctx, Mpi, RequestMeta};

use crate::error::ApiError;
use crate::startup::AppState;

/// Header carrying the caller's request id (generated when absent).
pub const REQUEST_ID: &str = "x-request-id";

/// Longest request id kept from a client (longer ones are replaced by a generated id).
const MAX_REQUEST_ID: usize = 128;

/// An authenticated request: the service handle and who is asking.
pub struct Caller {
    /// The service.
    pub mpi: Mpi,
    /// The caller, for authorisation and audit.
    pub ctx: Ctx,
}

/// The bearer secret of a request, if it has one.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let secret = secret.trim();
    (!secret.is_empty()).then(|| secret.to_owned())
}

/// The request's id: the client's `X-Request-Id` when it is short printable ASCII, else the id
/// the request log line carries (so audit rows and logs can be joined), else a new UUID.
pub fn request_id(req: &HttpRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned)
        .or_else(|| {
            req.extensions()
                .get::<tracing_actix_web::RequestId>()
                .map(ToString::to_string)
        })
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The audit metadata of a request: its id, the client address and the user agent.
pub(crate) fn meta(req: &HttpRequest) -> RequestMeta {
    RequestMeta {
        request_id: Some(request_id(req)),
        client_addr: req.peer_addr().map(|a| a.ip().to_string()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect()),
    }
}

/// An authenticated request to a handler whose use case always appends a read's audit row
/// before it answers: `GET /patients/{id}`, the patient search and `POST /match` (and their FHIR
/// twins: read, search and `$match`), the hot paths of a registration desk. A key this server
/// checked against the database within the last minute is taken from its cache without a
/// query, and the audit append confirms that the key is still live (see
/// `service::keys::authenticate_read`): a revoked key is refused as promptly as with
/// [`Caller`], one database round trip sooner for every live one.
pub struct ReadCaller(pub Caller);

/// What both extractors share: the bearer secret, the request's metadata, and how the key is
/// checked (`confirm_with_audit`: see [`ReadCaller`]).
fn authenticate(
    req: &HttpRequest,
    confirm_with_audit: bool,
) -> Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let secret = bearer(req);
    let meta = meta(req);
    Box::pin(async move {
        let Some(secret) = secret else {
            return Err(ApiError::Unauthorized);
        };
        let state = state.ok_or(ApiError::ServiceStarting)?;
        let mpi = state.require_mpi()?.clone();
        let (actor, unconfirmed_key) = if secret.starts_with(service::tokens::TOKEN_PREFIX) {
            // An OAuth access token (`POST /auth/oauth2_token`): held in memory, checked there.
            let actor = state.tokens.actor(&secret).ok_or(ApiError::Unauthorized)?;
            (actor, None)
        } else if confirm_with_audit {
            service::keys::authenticate_read(&mpi, &secret).await?
        } else {
            (
                service::keys::authenticate_request(&mpi, &secret).await?,
                None,
            )
        };
        Ok(Caller {
            mpi,
            ctx: Ctx {
                actor,
                meta,
                unconfirmed_key,
            },
        })
    })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authenticate(req, false)
    }
}

impl FromRequest for ReadCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<ReadCaller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = authenticate(req, true);
        Box::pin(async move { caller.await.map(ReadCaller) })
    }
}
