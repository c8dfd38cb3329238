//! Structured logging: the `tracing` subscriber and the per-request root span.
//!
//! Logs go to standard error (standard output is kept for command output such as
//! `mpi migrate status`), written by a thread of their own: a request hands its log line over
//! and goes on, so a slow reader of standard error (a pipe to journald or a container runtime,
//! a file on a busy disk) does not hold up the requests of a server worker. No line is dropped:
//! when the hand-over buffer is full, the logging thread waits, and [`LogGuard`] flushes it at
//! exit. Lines pass through the batch commands' progress display ([`crate::progress`]), which
//! clears its bars for each line and draws them again below it. The request span records the method, the matched route *pattern*
//! (`/api/v1/patients/{id}`, never the concrete path or the query string, which may carry
//! names or identifiers), the status, the latency and a request id: no patient data.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::configuration::{LogFormat, TelemetrySettings};

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter (`--log-filter` / `RUST_LOG`) does not parse.
    #[error("invalid log filter {filter:?}: {source}")]
    Filter {
        /// The rejected filter text.
        filter: String,
        /// What the parser said.
        source: tracing_subscriber::filter::ParseError,
    },
}

/// Keeps the log-writing thread running; dropping it writes the lines still buffered and
/// stops the thread. Hold it until the process ends.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: WorkerGuard,
}

/// Installs the global subscriber, writing to standard error from a thread of its own (see the
/// module docs). Calling it again leaves the first subscriber in place.
pub fn init(settings: &TelemetrySettings) -> Result<LogGuard, TelemetryError> {
    let filter =
        EnvFilter::try_new(&settings.log_filter).map_err(|source| TelemetryError::Filter {
            filter: settings.log_filter.clone(),
            source,
        })?;
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("mpi-log-writer")
        // Through the batch commands' progress display, so a line never leaves a stale bar.
        .finish(crate::progress::LogWriter);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(writer),
            )
            .try_init(),
    };
    // `try_init` only fails when a global subscriber is already set: keep that one.
    drop(result);
    Ok(LogGuard { _writer: guard })
}

/// Routes whose successful requests are logged at DEBUG rather than INFO (probes poll them).
const QUIET_ROUTES: [&str; 2] = ["/health", "/ready"];

/// When a request started, kept in the request's extensions to log its latency.
#[derive(Clone, Copy)]
struct RequestStart(Instant);

/// Root span for every HTTP request, free of patient data (see the module docs).
pub struct PhiSafeRootSpan;

impl RootSpanBuilder for PhiSafeRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request
            .extensions_mut()
            .insert(RequestStart(Instant::now()));
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            http.method = %request.method(),
            http.route = %route,
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            error = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let _entered = span.enter();
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                span.record("http.status_code", status);
                if let Some(error) = response.response().error() {
                    // ApiError displays as its snake_case code only, never patient data.
                    span.record("error", tracing::field::display(error));
                }
                let elapsed_ms = response
                    .request()
                    .extensions()
                    .get::<RequestStart>()
                    .map(|start| start.0.elapsed().as_secs_f64() * 1000.0)
                    .unwrap_or_default();
                let route = response.request().match_pattern().unwrap_or_default();
                if status < 400 && QUIET_ROUTES.contains(&route.as_str()) {
                    tracing::debug!(status, elapsed_ms, "request completed");
                } else if status >= 500 {
                    tracing::warn!(status, elapsed_ms, "request failed");
                } else {
                    tracing::info!(status, elapsed_ms, "request completed");
                }
            }
            Err(error) => {
                let status = error.as_response_error().status_code().as_u16();
                span.record("http.status_code", status);
                tracing::warn!(status, "request failed before a response was built");
            }
        }
    }
}
