//! Prometheus metrics: a registry owned by the application, the request middleware that counts
//! and times every request by route pattern and status, and the `GET /metrics` handler.
//!
//! Labels never carry patient data: routes are recorded as their patterns
//! (`/api/v1/patients/{id}`), and unmatched paths as `unmatched`.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

use crate::error::ApiError;
use crate::startup::AppState;

/// Every metric the server exports, registered in its own [`Registry`].
pub struct Metrics {
    registry: Registry,
    /// `mpi_http_requests_total{method, route, status}`.
    pub requests: IntCounterVec,
    /// `mpi_http_request_duration_seconds{method, route, status}`.
    pub request_duration: HistogramVec,
    /// `mpi_match_duration_seconds`: time to answer a `POST /match` once its body is read:
    /// ranking the candidates and committing the match's audit row.
    pub match_duration: Histogram,
    /// `mpi_match_candidates`: candidates returned per match.
    pub match_candidates: Histogram,
    /// `mpi_review_queue_depth`: open review tasks (updated on scrape).
    pub review_queue_depth: IntGauge,
    /// `mpi_merges_total`: merges committed (previews not counted).
    pub merges: IntCounter,
    /// `mpi_merge_undos_total`: merges undone.
    pub undos: IntCounter,
    /// `mpi_index_size`: patients in the in-memory candidate index (updated on scrape).
    pub index_size: IntGauge,
    /// `mpi_hl7_messages_total{type, ack}`: HL7 v2 messages answered, by message type (handled
    /// types, else `other`) and MSA-1 of the answer.
    pub hl7_messages: IntCounterVec,
    /// `mpi_hl7_message_duration_seconds{type}`: time from a message's last byte to its answer.
    pub hl7_duration: HistogramVec,
    /// `mpi_pix_notification_queue`: PIX Update Notifications (ITI-10) queued in the outbox,
    /// all consumers together (refreshed every two seconds by the notification task).
    pub pix_queue: IntGauge,
    /// `mpi_pix_notification_failures_total`: notifications not delivered at an attempt (the
    /// consumer was down, did not answer in time or did not accept); each is retried.
    pub pix_failures: IntCounter,
    /// `mpi_fhir_subscription_queue`: PMIR notifications (ITI-94 subscriptions, ITI-93
    /// messages) queued in the outbox, all subscriptions together (refreshed by the delivery
    /// task).
    pub subscription_queue: IntGauge,
    /// `mpi_fhir_subscription_failures_total`: PMIR notification messages not delivered at an
    /// attempt (the endpoint was down, slow or did not answer 2xx); each is retried.
    pub subscription_failures: IntCounter,
}

impl hl7v2::Observer for Metrics {
    fn answered(&self, message_type: &str, ack_code: &str, seconds: f64) {
        self.hl7_messages
            .with_label_values(&[message_type, ack_code])
            .inc();
        self.hl7_duration
            .with_label_values(&[message_type])
            .observe(seconds);
    }

    fn notification_queue(&self, depth: u64) {
        self.pix_queue.set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    fn notification_failed(&self) {
        self.pix_failures.inc();
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let labels = ["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new("mpi_http_requests_total", "HTTP requests answered"),
            &labels,
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "mpi_http_request_duration_seconds",
                "HTTP request latency in seconds",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &labels,
        )?;
        let match_duration = Histogram::with_opts(
            HistogramOpts::new(
                "mpi_match_duration_seconds",
                "Time to rank the candidates of POST /match and commit its audit row, in seconds",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
            ]),
        )?;
        let match_candidates = Histogram::with_opts(
            HistogramOpts::new("mpi_match_candidates", "Candidates returned per match")
                .buckets(vec![0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0]),
        )?;
        let review_queue_depth = IntGauge::new("mpi_review_queue_depth", "Open review tasks")?;
        let merges = IntCounter::new("mpi_merges_total", "Merges committed")?;
        let undos = IntCounter::new("mpi_merge_undos_total", "Merges undone")?;
        let index_size = IntGauge::new(
            "mpi_index_size",
            "Patients in the in-memory candidate index",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(match_duration.clone()))?;
        registry.register(Box::new(match_candidates.clone()))?;
        registry.register(Box::new(review_queue_depth.clone()))?;
        registry.register(Box::new(merges.clone()))?;
        registry.register(Box::new(undos.clone()))?;
        let hl7_messages = IntCounterVec::new(
            Opts::new("mpi_hl7_messages_total", "HL7 v2 messages answered"),
            &["type", "ack"],
        )?;
        let hl7_duration = HistogramVec::new(
            HistogramOpts::new(
                "mpi_hl7_message_duration_seconds",
                "Time from an HL7 v2 message's last byte to its answer, in seconds",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["type"],
        )?;
        registry.register(Box::new(index_size.clone()))?;
        registry.register(Box::new(hl7_messages.clone()))?;
        registry.register(Box::new(hl7_duration.clone()))?;
        let pix_queue = IntGauge::new(
            "mpi_pix_notification_queue",
            "PIX update notifications queued for delivery, all consumers together",
        )?;
        let pix_failures = IntCounter::new(
            "mpi_pix_notification_failures_total",
            "PIX update notifications not delivered at an attempt (retried)",
        )?;
        registry.register(Box::new(pix_queue.clone()))?;
        registry.register(Box::new(pix_failures.clone()))?;
        let subscription_queue = IntGauge::new(
            "mpi_fhir_subscription_queue",
            "PMIR patient notifications queued for delivery, all FHIR subscriptions together",
        )?;
        let subscription_failures = IntCounter::new(
            "mpi_fhir_subscription_failures_total",
            "PMIR notification messages not delivered at an attempt (retried)",
        )?;
        registry.register(Box::new(subscription_queue.clone()))?;
        registry.register(Box::new(subscription_failures.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            request_duration,
            match_duration,
            match_candidates,
            review_queue_depth,
            merges,
            undos,
            index_size,
            hl7_messages,
            hl7_duration,
            pix_queue,
            pix_failures,
            subscription_queue,
            subscription_failures,
        })
    }

    /// The registry's content in the Prometheus text format.
    pub fn render(&self) -> Result<String, ApiError> {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .map_err(ApiError::internal)?;
        String::from_utf8(buffer).map_err(ApiError::internal)
    }
}

/// Middleware: counts and times every request by method, route pattern and status.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().as_str().to_owned();
    let response = next.call(req).await;
    if let Some(state) = state {
        let (route, status) = match &response {
            Ok(res) => (
                res.request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".to_owned()),
                res.status().as_u16(),
            ),
            Err(error) => (
                "unmatched".to_owned(),
                error.as_response_error().status_code().as_u16(),
            ),
        };
        let status = status.to_string();
        let labels = [method.as_str(), route.as_str(), status.as_str()];
        state.metrics.requests.with_label_values(&labels).inc();
        state
            .metrics
            .request_duration
            .with_label_values(&labels)
            .observe(started.elapsed().as_secs_f64());
    }
    response
}

/// `GET /metrics`: refreshes the gauges (review queue depth, index size), then answers the
/// registry in the Prometheus text format. Needs no key.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(mpi) = state.mpi() {
        state.metrics.index_size.set(mpi.index().len() as i64);
        match service::review::queue_depth(mpi.db()).await {
            Ok(depth) => state.metrics.review_queue_depth.set(depth as i64),
            Err(error) => tracing::warn!(%error, "metrics: cannot read the review queue depth"),
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render()?))
}
