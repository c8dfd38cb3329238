//! From a received frame to the answer's text: decode and parse, read and check the header
//! (required fields, version, processing id, character set), then route by message type and
//! trigger event to the transaction that handles it. Anything not understood is answered,
//! never dropped; a query refused as a whole is answered by its RSP (MSA AR, ERR, QAK AE).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use hl7_parser::Message;

use crate::ack::{AckCode, ErrorCode, ErrorLocation, HlError, ack, query_refused};
use crate::charset::Charset;
use crate::feed::{self, FeedConfig};
use crate::inbound::{Header, Inbound};
use crate::source::authenticate;
use crate::{pdq_query, pix_query};

/// The message types and trigger events this listener knows, for telling an unsupported
/// message type (200) from an unsupported event of a known type (201).
const KNOWN_TYPES: &[&str] = &["ADT", "QBP", "QCN"];

/// Routes messages to their transactions; one per listener, shared by its connections.
#[derive(Clone)]
pub struct Dispatcher {
    service: Arc<OnceLock<service::Mpi>>,
    feed: FeedConfig,
    observer: Option<Arc<dyn Observer>>,
}

/// Told of every message answered, for metrics: the message type (`ADT^A01`; `other` for a
/// type no transaction handles, so a sender cannot grow the label set), MSA-1 of the answer and
/// the time taken.
pub trait Observer: Send + Sync {
    /// One message answered.
    fn answered(&self, message_type: &str, ack_code: &str, seconds: f64);

    /// PIX Update Notifications (ITI-10) queued for every consumer together.
    fn notification_queue(&self, _depth: u64) {}

    /// A PIX Update Notification that was not delivered (it is retried).
    fn notification_failed(&self) {}
}

/// The label of a message type: a handled type, or `other`.
fn type_label(header: &Header) -> &'static str {
    match (header.message_code.as_str(), header.trigger_event.as_str()) {
        ("ADT", "A01") => "ADT^A01",
        ("ADT", "A04") => "ADT^A04",
        ("ADT", "A05") => "ADT^A05",
        ("ADT", "A08") => "ADT^A08",
        ("ADT", "A28") => "ADT^A28",
        ("ADT", "A31") => "ADT^A31",
        ("ADT", "A40") => "ADT^A40",
        ("QBP", "Q23") => "QBP^Q23",
        ("QBP", "Q22") => "QBP^Q22",
        ("QCN", "J01") => "QCN^J01",
        _ => "other",
    }
}

/// MSA-1 of a rendered answer.
pub(crate) fn ack_code(answer: &str) -> &str {
    answer
        .split('\r')
        .find_map(|s| s.strip_prefix("MSA|"))
        .and_then(|rest| rest.split('|').next())
        .unwrap_or("")
}

impl Dispatcher {
    /// A dispatcher over the service slot that `mpi serve` fills once the service has started.
    pub fn new(service: Arc<OnceLock<service::Mpi>>, feed: FeedConfig) -> Self {
        Self {
            service,
            feed,
            observer: None,
        }
    }

    /// With an observer told of every answer.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn observe(&self, label: &str, answer: &str, started: std::time::Instant) {
        if let Some(observer) = &self.observer {
            observer.answered(label, ack_code(answer), started.elapsed().as_secs_f64());
        }
    }

    /// The answer to one frame's bytes.
    pub async fn answer(&self, bytes: &[u8], peer: SocketAddr) -> String {
        let started = std::time::Instant::now();
        let inbound = Inbound::decode(bytes);
        let message = match inbound.parse() {
            Ok(message) => message,
            Err(error) => {
                tracing::info!(%peer, code = error.code.code(), "HL7 message not parsed");
                let answer = ack(&Header::default(), AckCode::Reject, &[error]).render();
                self.observe("other", &answer, started);
                self.audit(&Header::default(), &answer, peer, &[]).await;
                return answer;
            }
        };
        let header = match Header::read(&message) {
            Ok(header) => header,
            Err(failed) => {
                let (header, error) = *failed;
                tracing::info!(%peer, code = error.code.code(), "HL7 header incomplete");
                let answer = ack(&header, AckCode::Reject, &[error]).render();
                self.observe("other", &answer, started);
                self.audit(&header, &answer, peer, &[]).await;
                return answer;
            }
        };
        let mut touched = Vec::new();
        let answer = self.route(&header, &message, peer, &mut touched).await;
        self.observe(type_label(&header), &answer, started);
        self.audit(&header, &answer, peer, &touched).await;
        tracing::info!(
            %peer,
            message_type = %header.message_code,
            trigger = %header.trigger_event,
            control_id_len = header.control_id.len(),
            "HL7 message answered"
        );
        answer
    }

    /// The answer to a message that was over the size limit (its bytes were not kept, so the
    /// answer cannot name its control id).
    pub fn too_large(&self, size: usize, limit: usize) -> String {
        let started = std::time::Instant::now();
        tracing::info!(size, limit, "HL7 message over the size limit");
        let error = HlError::new(
            ErrorCode::ApplicationInternalError,
            format!("the message has at least {size} bytes; the limit is {limit}"),
        );
        let answer = ack(&Header::default(), AckCode::Reject, &[error]).render();
        self.observe("other", &answer, started);
        answer
    }

    /// [`Dispatcher::too_large`], audited like every other message.
    pub async fn too_large_audited(&self, size: usize, limit: usize, peer: SocketAddr) -> String {
        let answer = self.too_large(size, limit);
        self.audit(&Header::default(), &answer, peer, &[]).await;
        answer
    }

    /// Appends the audit row of one message and its answer (`hl7_in`): the sender, the message
    /// type, the control id, the patients it touched and MSA-1 of the answer; no content.
    /// A message that was not parsed is audited with an empty sender and control id.
    async fn audit(&self, header: &Header, answer: &str, peer: SocketAddr, touched: &[uuid::Uuid]) {
        let Some(mpi) = self.service.get() else {
            return;
        };
        // The actor is the sender as it named itself (whether or not it was authenticated:
        // the row's `outcome` says whether it was answered AR).
        // Header fields are the sender's text: cut to a bounded length (they are names and
        // codes, never patient data).
        let cut = |text: &str| -> String { text.chars().take(64).collect() };
        let sender = if header.sending_application.is_empty() {
            "(none)".to_owned()
        } else {
            cut(&header.sending_application)
        };
        let control_id = cut(&header.control_id);
        let mut ctx = service::Ctx::system(&sender);
        ctx.actor.role = service::context::Role::Registrar;
        ctx.meta.client_addr = Some(peer.ip().to_string());
        ctx.meta.request_id = Some(format!("hl7:{control_id}"));
        let entry = service::audit::AuditEntry::new(
            "hl7_in",
            "hl7_message",
            Some(control_id.clone()),
        )
        .after(serde_json::json!({
            "source": sender,
            "facility": cut(&header.sending_facility),
            "message_type": format!("{}^{}", cut(&header.message_code), cut(&header.trigger_event)),
            "control_id": control_id,
            "ids": touched,
            "outcome": ack_code(answer),
        }));
        if let Err(error) = mpi.audit_read(&ctx, entry).await {
            tracing::warn!(%error, %peer, "HL7 message not audited");
        }
    }

    async fn route(
        &self,
        header: &Header,
        message: &Message<'_>,
        peer: SocketAddr,
        touched: &mut Vec<uuid::Uuid>,
    ) -> String {
        if !header.version.starts_with("2.") {
            let error = HlError::new(
                ErrorCode::UnsupportedVersionId,
                "only HL7 version 2 messages are accepted",
            )
            .at(ErrorLocation::field("MSH", 1, 12));
            return refuse(header, message, error);
        }
        if !matches!(header.processing_id.as_str(), "" | "P" | "D" | "T") {
            let error = HlError::new(
                ErrorCode::UnsupportedProcessingId,
                "the processing id must be P, D or T",
            )
            .at(ErrorLocation::field("MSH", 1, 11));
            return refuse(header, message, error);
        }
        if Charset::from_msh18(&header.charset).is_err() {
            let error = HlError::new(
                ErrorCode::TableValueNotFound,
                "MSH-18 must be ASCII, 8859/1 or UNICODE UTF-8",
            )
            .at(ErrorLocation::field("MSH", 1, 18));
            return refuse(header, message, error);
        }
        let Some(mpi) = self.service.get() else {
            let error = HlError::new(
                ErrorCode::ApplicationInternalError,
                "the service is starting; send the message again shortly",
            );
            return refuse(header, message, error);
        };
        let ctx = match authenticate(mpi, header, peer).await {
            Ok(ctx) => ctx,
            Err(error) => {
                tracing::info!(%peer, "HL7 message from an unknown or unauthenticated source");
                return refuse(header, message, error);
            }
        };
        match (header.message_code.as_str(), header.trigger_event.as_str()) {
            ("QBP", "Q23") => pix_query::answer(mpi, &ctx, header, message, touched).await,
            ("QBP", "Q22") => {
                pdq_query::answer(mpi, &ctx, &self.feed, header, message, touched).await
            }
            // Continuation is stateless (DSC carries the page), so a cancel frees nothing.
            ("QCN", "J01") => ack(header, AckCode::Accept, &[]).render(),
            // A28 and A31 (add and update person information, ADT_A05) are how IHE PAM's
            // Patient Identity Feed (ITI-30) and many registration systems send what ITI-8's
            // A04 and A08 carry: the same register-or-update.
            ("ADT", "A01" | "A04" | "A05" | "A08" | "A28" | "A31" | "A40") => {
                feed::answer(mpi, &ctx, &self.feed, header, message, touched).await
            }
            _ => unsupported(header),
        }
    }
}

/// The answer to a message refused as a whole (AR): a query's RSP (`RSP^K23^RSP_K23`,
/// `RSP^K22^RSP_K21` with QAK `AE`, ITI TF-2 3.9.4.2, 3.21.4.2), an ACK otherwise.
fn refuse(header: &Header, message: &Message<'_>, error: HlError) -> String {
    match (header.message_code.as_str(), header.trigger_event.as_str()) {
        ("QBP", "Q23") => {
            query_refused(header, message, ("K23", "RSP_K23"), AckCode::Reject, error)
        }
        ("QBP", "Q22") => {
            query_refused(header, message, ("K22", "RSP_K21"), AckCode::Reject, error)
        }
        _ => ack(header, AckCode::Reject, &[error]).render(),
    }
}

/// The answer to a message type (200) or trigger event (201) no transaction handles.
fn unsupported(header: &Header) -> String {
    let (code, text) = if KNOWN_TYPES.contains(&header.message_code.as_str()) {
        (
            ErrorCode::UnsupportedEventCode,
            "this trigger event is not handled",
        )
    } else {
        (
            ErrorCode::UnsupportedMessageType,
            "this message type is not handled",
        )
    };
    let error = HlError::new(code, text).at(ErrorLocation::field("MSH", 1, 9));
    ack(header, AckCode::Reject, &[error]).render()
}
