//! `POST /auth/oauth2_token` (also `/oauth2/token`): the OAuth 2.0 token endpoint for the
//! client-credentials grant (RFC 6749 §4.4, answers §5.1 and §5.2). A registered source
//! authenticates with its name as `client_id` and its shared secret as `client_secret` (in the
//! form body or HTTP Basic, §2.3.1) and gets a bearer token that acts as the source
//! (`service::tokens`), as the OpenHIE Client Registry test harness authenticates.
//! `POST /auth/oauth2_revoke` (also `/oauth2/revoke`): token revocation (RFC 7009), the client
//! authenticated the same way, through `service::tokens::revoke`.
//!
//! Errors are OAuth's `{"error", "error_description"}`, never echoing a value; the secret and
//! the token never reach a log or an audit row.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use service::audit::AuditEntry;
use service::sources::{MAX_SECRET_LEN, MAX_SOURCE_LEN};
use service::tokens::{self, Issue, Revocation};
use service::{Ctx, Error};

use crate::startup::AppState;

/// Largest form body read: four short fields.
pub const TOKEN_BODY_LIMIT_BYTES: usize = 4096;

/// The form of a token request (`application/x-www-form-urlencoded`). Any `scope` is accepted
/// and ignored: a token carries its source's role.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    grant_type: Option<String>,
    /// Ignored (the suite sends `*`).
    #[allow(dead_code)]
    scope: Option<String>,
    /// The source's name (or given by HTTP Basic).
    client_id: Option<String>,
    /// The source's shared secret, when it has one (or given by HTTP Basic).
    client_secret: Option<String>,
}

/// A token (RFC 6749 §5.1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The bearer token (`mpt_` and 64 hex digits).
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the token expires (`--token-ttl-secs`).
    expires_in: u64,
    /// What the token may do: the source's role (`registrar` or `steward`).
    scope: &'static str,
}

/// The form of a revocation request (RFC 7009 §2.1, `application/x-www-form-urlencoded`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RevokeRequest {
    /// The token to revoke (one this client was issued).
    token: Option<String>,
    /// `access_token` or `refresh_token`; accepted and not needed (only access tokens exist).
    token_type_hint: Option<String>,
    /// The source's name (or given by HTTP Basic).
    client_id: Option<String>,
    /// The source's shared secret, when it has one (or given by HTTP Basic).
    client_secret: Option<String>,
}

/// An OAuth error answer (RFC 6749 §5.2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenError {
    /// `invalid_request`, `invalid_client`, `unauthorized_client`, `unsupported_grant_type`,
    /// `server_error` or `temporarily_unavailable`.
    error: &'static str,
    /// What was wrong (never a value from the request).
    error_description: &'static str,
}

fn no_store(builder: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
}

fn oauth_error(
    status: StatusCode,
    error: &'static str,
    error_description: &'static str,
) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    no_store(&mut builder);
    if status == StatusCode::UNAUTHORIZED {
        builder.insert_header((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mpi\""),
        ));
    }
    builder.json(TokenError {
        error,
        error_description,
    })
}

fn invalid_request(description: &'static str) -> HttpResponse {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_client() -> HttpResponse {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    )
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space, `%XX` a byte).
fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The client id and secret of an `Authorization: Basic` header (RFC 6749 §2.3.1: each
/// form-encoded, then joined by `:` and base64-encoded); `Some(None)` when the header is there
/// but malformed, `None` when there is no Basic header.
fn basic_credentials(req: &HttpRequest) -> Option<Option<(String, String)>> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    Some(decoded.and_then(|text| {
        let (id, secret) = text.split_once(':')?;
        Some((form_decode(id)?, form_decode(secret)?))
    }))
}

/// Reads an OAuth form body: `application/x-www-form-urlencoded`, at most
/// [`TOKEN_BODY_LIMIT_BYTES`], no parameter repeated (RFC 6749 §3.2, as serde reports a
/// duplicate field); otherwise the OAuth error to answer.
async fn read_form<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, HttpResponse> {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let body = match payload.to_bytes_limited(TOKEN_BODY_LIMIT_BYTES).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return Err(invalid_request("the body could not be read")),
        Err(_) => {
            return Err(oauth_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the body is larger than 4096 bytes",
            ));
        }
    };
    serde_urlencoded::from_bytes::<T>(&body)
        .map_err(|_| invalid_request("the form is malformed or repeats a parameter"))
}

/// The client's id and secret, from HTTP Basic or the form (one method per request, RFC 6749
/// §2.3), bounded; otherwise the OAuth error to answer.
fn client_credentials(
    req: &HttpRequest,
    form_id: Option<String>,
    form_secret: Option<String>,
) -> Result<(String, Option<String>), Box<HttpResponse>> {
    let (client_id, client_secret) = match basic_credentials(req) {
        Some(None) => return Err(Box::new(invalid_client())),
        Some(Some((id, secret))) => {
            if form_secret.is_some() || form_id.as_ref().is_some_and(|f| *f != id) {
                return Err(Box::new(invalid_request("client credentials given twice")));
            }
            (id, Some(secret))
        }
        None => match form_id {
            Some(id) => (id, form_secret),
            None => return Err(Box::new(invalid_client())),
        },
    };
    if client_id.trim().is_empty()
        || client_id.chars().count() > MAX_SOURCE_LEN
        || client_secret
            .as_ref()
            .is_some_and(|s| s.len() > MAX_SECRET_LEN)
    {
        return Err(Box::new(invalid_client()));
    }
    Ok((client_id, client_secret))
}

/// Issues a token to a registered source.
#[utoipa::path(post, path = "/auth/oauth2_token", tag = "auth", security(()),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded",
        description = "grant_type=client_credentials, client_id (a source's name), client_secret (its secret, when it has one); or the client's credentials by HTTP Basic. Also served at /oauth2/token."),
    responses(
        (status = 200, description = "A bearer token acting as the source; use it as `Authorization: Bearer` on /fhir and /api/v1", body = TokenResponse),
        (status = 400, description = "`invalid_request` or `unsupported_grant_type`", body = TokenError),
        (status = 401, description = "`invalid_client`: unknown source or wrong secret", body = TokenError),
        (status = 413, description = "The body is larger than 4 KiB", body = TokenError),
        (status = 503, description = "`temporarily_unavailable`: too many tokens outstanding, or the service is starting", body = TokenError),
    ))]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: TokenRequest = match read_form(&req, payload).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    match form.grant_type.as_deref() {
        None => return invalid_request("grant_type is required"),
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only the client_credentials grant is supported",
            );
        }
    }
    let (client_id, client_secret) =
        match client_credentials(&req, form.client_id, form.client_secret) {
            Ok(credentials) => credentials,
            Err(answer) => return *answer,
        };
    let Some(mpi) = state.mpi() else {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is starting",
        );
    };
    let meta = crate::auth::meta(&req);
    let (source, stamp) =
        match tokens::authenticate_client(mpi.db(), &client_id, client_secret.as_deref()).await {
            Ok(found) => found,
            Err(Error::Unauthenticated(reason)) => {
                tokens::audit_refused(mpi, meta, &client_id, "token").await;
                tracing::info!(reason, "token request refused: invalid_client");
                return invalid_client();
            }
            Err(error) => {
                tracing::error!(%error, "token request: the client could not be checked");
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the client could not be checked",
                );
            }
        };
    let actor = tokens::source_actor(&source);
    let role = actor.role;
    let ctx = Ctx {
        actor: actor.clone(),
        meta,
        unconfirmed_key: None,
    };
    let issued = match state.tokens.issue(actor, stamp) {
        Ok(issued) => issued,
        Err(Issue::Full) => {
            tracing::warn!(
                source_id = %source.id,
                "token not issued: as many tokens are outstanding as the server holds"
            );
            return oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "too many tokens are outstanding; try again later",
            );
        }
    };
    let entry = AuditEntry::new("token.issue", "source", Some(source.id.to_string())).after(
        serde_json::json!({
            "client_id": source.name,
            "grant_type": "client_credentials",
            "expires_in": issued.expires_in,
        }),
    );
    if let Err(error) = mpi.audit_read(&ctx, entry).await {
        state.tokens.revoke(&issued.access_token);
        tracing::error!(%error, source_id = %source.id, "token issuance not audited; token withdrawn");
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the token could not be issued",
        );
    }
    tracing::info!(source_id = %source.id, expires_in = issued.expires_in, "token issued");
    let mut builder = HttpResponse::Ok();
    no_store(&mut builder);
    builder.json(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: role.as_str(),
    })
}

/// Revokes a token (RFC 7009): the client authenticates as at the token endpoint; its own
/// token stops working at once on this server.
#[utoipa::path(post, path = "/auth/oauth2_revoke", tag = "auth", security(()),
    request_body(content = RevokeRequest, content_type = "application/x-www-form-urlencoded",
        description = "token (required), token_type_hint (optional, ignored), client_id and client_secret as at the token endpoint (or HTTP Basic). Also served at /oauth2/revoke."),
    responses(
        (status = 200, description = "Revoked, or no such live token (RFC 7009 §2.2); an empty body"),
        (status = 400, description = "`invalid_request` (no token), or `unauthorized_client`: the token was issued to another client and is left alone", body = TokenError),
        (status = 401, description = "`invalid_client`: unknown source or wrong secret", body = TokenError),
        (status = 413, description = "The body is larger than 4 KiB", body = TokenError),
        (status = 503, description = "`temporarily_unavailable`: the service is starting", body = TokenError),
    ))]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: RevokeRequest = match read_form(&req, payload).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    let (client_id, client_secret) =
        match client_credentials(&req, form.client_id, form.client_secret) {
            Ok(credentials) => credentials,
            Err(answer) => return *answer,
        };
    let Some(token) = form.token.filter(|t| !t.is_empty()) else {
        return invalid_request("token is required");
    };
    let Some(mpi) = state.mpi() else {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is starting",
        );
    };
    let revoked = tokens::revoke(
        mpi,
        &state.tokens,
        crate::auth::meta(&req),
        &client_id,
        client_secret.as_deref(),
        &token,
        form.token_type_hint.as_deref(),
    )
    .await;
    match revoked {
        Ok(Revocation::Revoked | Revocation::Unknown) => {
            let mut builder = HttpResponse::Ok();
            no_store(&mut builder);
            builder.finish()
        }
        Ok(Revocation::NotOwn) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "the token was not issued to this client",
        ),
        Err(Error::Unauthenticated(reason)) => {
            tracing::info!(reason, "revocation refused: invalid_client");
            invalid_client()
        }
        Err(error) => {
            tracing::error!(%error, "token revocation failed");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the token could not be revoked",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn form_components_decode() {
        assert_eq!(form_decode("TEST_HARNESS").as_deref(), Some("TEST_HARNESS"));
        assert_eq!(form_decode("a+b%3Ac%25").as_deref(), Some("a b:c%"));
        assert_eq!(form_decode("bad%2"), None);
        assert_eq!(form_decode("bad%zz"), None);
    }
}
