//! Building and running the HTTP server: listener, shared state, middleware, routes, shutdown.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, Protocol};
use actix_server::{GracefulShutdownSignal, Server};
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_service, map_config,
};
use actix_tls::accept::TlsError;
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::dev::AppConfig;
use actix_web::{App, web};
use sea_orm::DatabaseConnection;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing_actix_web::TracingLogger;

use crate::configuration::{DatabaseKind, SHUTDOWN_TIMEOUT, ServerSettings};
use crate::error::ApiError;
use crate::head_deadline::{self, HeadDeadline};
use crate::metrics::{self, Metrics};
use crate::routes;
use crate::telemetry::PhiSafeRootSpan;

/// Largest JSON body accepted.
pub const JSON_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// What every request handler can reach (through `web::Data<AppState>`).
#[derive(Clone)]
pub struct AppState {
    /// The database connection pool.
    pub db: DatabaseConnection,
    /// Which engine the pool talks to.
    pub database_kind: DatabaseKind,
    /// The service handle, once started (it needs a migrated schema; `mpi serve --no-migrate`
    /// on a fresh database starts it later, from the catch-up task).
    pub service: Arc<OnceLock<service::Mpi>>,
    /// The application's Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The audit chain's checkpoint file (`--audit-checkpoint-file`), which
    /// `GET /api/v1/audit/verify` checks the chain against.
    pub audit_checkpoint_file: Option<std::path::PathBuf>,
    /// The OAuth access tokens this server issued to sources (in memory only).
    pub tokens: Arc<service::tokens::TokenStore>,
}

impl AppState {
    /// The service handle, if it has started.
    pub fn mpi(&self) -> Option<&service::Mpi> {
        self.service.get()
    }

    /// The service handle, or 503 `service_starting`.
    pub fn require_mpi(&self) -> Result<&service::Mpi, ApiError> {
        self.mpi().ok_or(ApiError::ServiceStarting)
    }
}

/// A bound, not yet running HTTP server.
pub struct Application {
    server: Server,
    local_addr: SocketAddr,
    scheme: &'static str,
}

impl Application {
    /// Binds `settings.bind` and prepares the server (it starts with [`Self::run_until_stopped`]).
    ///
    /// The server is assembled from actix-web's parts as `HttpServer` assembles it (same
    /// defaults: keep-alive, 1 s disconnect timeout, half-closed reads, graceful shutdown of
    /// idle connections, TLS handshake timeout), except that each connection's stream is wrapped
    /// in a [`HeadDeadline`], which answers a slow request head with our error body.
    pub fn build(settings: &ServerSettings, state: AppState) -> io::Result<Application> {
        let listener = TcpListener::bind(settings.bind.as_str()).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen on {}: {e}", settings.bind))
        })?;
        let local_addr = listener.local_addr()?;
        let tls = crate::tls::TlsFiles::from_args(
            settings.tls_cert.as_deref(),
            settings.tls_key.as_deref(),
            settings.tls_client_ca.as_deref(),
        )
        .and_then(|files| files.map(|f| f.server_config()).transpose())
        .map_err(io::Error::other)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let data = web::Data::new(state);
        let mut builder = Server::build()
            .disable_signals()
            .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs());
        if let Some(workers) = settings.workers {
            builder = builder.workers(workers.max(1));
        }
        let http = Http {
            data,
            head_timeout: Duration::from_secs(settings.request_head_timeout_secs),
            addr: local_addr,
            secure: tls.is_some(),
            shutdown: builder.graceful_shutdown_signal(),
        };
        let builder = match tls {
            Some(config) => builder.listen("mpi-https", listener, move || {
                let head_timeout = http.head_timeout;
                Acceptor::new(config.clone())
                    .map_err(TlsError::into_service_error)
                    .map(move |io: TlsStream<TcpStream>| {
                        let peer = io.get_ref().0.peer_addr().ok();
                        if io.get_ref().1.alpn_protocol() == Some(&b"h2"[..]) {
                            (HeadDeadline::unwatched(io), Protocol::Http2, peer)
                        } else {
                            (HeadDeadline::new(io, head_timeout), Protocol::Http1, peer)
                        }
                    })
                    .and_then(http.service().map_err(TlsError::Service))
            })?,
            None => builder.listen("mpi-http", listener, move || {
                let head_timeout = http.head_timeout;
                fn_service(move |io: TcpStream| {
                    let peer = io.peer_addr().ok();
                    let io = HeadDeadline::new(io, head_timeout);
                    std::future::ready(Ok((io, Protocol::Http1, peer)))
                })
                .and_then(http.service())
            })?,
        };
        Ok(Application {
            server: builder.run(),
            local_addr,
            scheme,
        })
    }

    /// `https` when serving TLS, otherwise `http`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until Ctrl-C or SIGTERM, then stops gracefully: no new connections, in-flight
    /// requests finish (up to [`SHUTDOWN_TIMEOUT`]).
    pub async fn run_until_stopped(self) -> io::Result<()> {
        let handle = self.server.handle();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown signal received; finishing in-flight requests");
            handle.stop(true).await;
        });
        self.server.await
    }
}

/// What every worker's HTTP service is made from.
#[derive(Clone)]
struct Http {
    data: web::Data<AppState>,
    head_timeout: Duration,
    addr: SocketAddr,
    secure: bool,
    shutdown: GracefulShutdownSignal,
}

impl Http {
    /// One worker's HTTP service over streams of type `T` (HTTP/1.1, and HTTP/2 when the
    /// connection chose it by ALPN): the app (state, middleware, routes), with actix-http's
    /// own head timer set after ours.
    fn service<T>(
        &self,
    ) -> impl ServiceFactory<
        (T, Protocol, Option<SocketAddr>),
        Config = (),
        Response = (),
        Error = DispatchError,
        InitError = (),
    > + use<T>
    where
        T: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let shutdown = self.shutdown.clone();
        let (secure, addr) = (self.secure, self.addr);
        let host = addr.to_string();
        let app = App::new()
            .wrap(actix_web::middleware::from_fn(crate::guard::guard))
            .wrap(actix_web::middleware::from_fn(metrics::track))
            .wrap(TracingLogger::<PhiSafeRootSpan>::new())
            .app_data(self.data.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(JSON_LIMIT_BYTES)
                    .error_handler(|e, _| ApiError::from(e).into()),
            )
            .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::from(e).into()))
            .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::from(e).into()))
            .configure(routes::configure)
            .configure(crate::fhir::configure)
            .default_service(web::to(routes::not_found))
            .into_factory()
            .map_err(|error| error.error_response());
        HttpService::build()
            .graceful_shutdown_signal(move || {
                let signal = shutdown.clone();
                async move { signal.notified().await }
            })
            .client_request_timeout(self.head_timeout + head_deadline::ACTIX_BACKSTOP)
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(addr)
            .finish(map_config(app, move |()| {
                // `AppConfig`'s constructor is crate-private; this is the one its test server
                // (and so every custom server) uses.
                AppConfig::__priv_test_new(secure, host.clone(), addr)
            }))
    }
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
