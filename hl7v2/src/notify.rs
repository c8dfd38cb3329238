//! IHE PIX Update Notification (ITI-10), the sending side: one task per registered consumer
//! drains that consumer's queue in the durable outbox (`service::notifications`), sending for
//! each person whose identifiers changed an ADT^A31 (v2.5, ADT_A05 structure) whose PID-3 lists
//! the person's identifiers in the consumer's domains, and deleting the queued rows only once
//! the consumer acknowledged (AA or CA): delivery is at least once, in the order of the
//! changes, retried with exponential back-off, and survives a restart because the queue is in
//! the database. It runs beside the request handlers and never holds them up. Each A31 names
//! its receiver in MSH-5 (the consumer's name) and MSH-6 (its `--facility`, else its name) and
//! is UTF-8 with MSH-18 `UNICODE UTF-8`.
//!
//! A consumer added with TLS is reached over MLLP in TLS (rustls): its server certificate must
//! chain to the consumer's CA file (or the Mozilla roots) and name its host; a client
//! certificate is presented when one is configured. A failed handshake is a failed delivery,
//! retried like a refused connection.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;
use service::audit::AuditEntry;
use service::notifications::{self, Consumer, ConsumerTls, Pending};
use service::{Ctx, Mpi};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use uuid::Uuid;

use crate::dispatch::{Observer, ack_code};
use crate::encode::{Cx, Hd, Outbound, Segment, Value, next_control_id};
use crate::mllp::{Frame, MllpCodec};
use crate::pix_query::hd_of;

/// Timing of the notification task.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// How often an idle consumer's queue is looked at again.
    pub poll_interval: Duration,
    /// How often the list of consumers and the queue depth gauge are refreshed.
    pub refresh_interval: Duration,
    /// The first wait after a failed delivery; doubled after each further failure.
    pub retry_min: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
    /// How long a connection attempt, and then the consumer's acknowledgement, may take.
    pub answer_timeout: Duration,
    /// The largest acknowledgement accepted, in bytes.
    pub max_message_bytes: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            refresh_interval: Duration::from_secs(2),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            answer_timeout: Duration::from_secs(10),
            max_message_bytes: 1024 * 1024,
        }
    }
}

/// Queued rows read per round for one consumer.
const BATCH: u64 = 200;

/// Runs the notification task until `shutdown` completes: starts a task per consumer, and
/// every [`NotifyConfig::refresh_interval`] starts the tasks of new consumers, stops those of
/// removed or changed ones, and reports the queue depth to the observer.
pub async fn run(
    service: Arc<OnceLock<Mpi>>,
    config: NotifyConfig,
    observer: Option<Arc<dyn Observer>>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut running: HashMap<Uuid, (Consumer, tokio::task::JoinHandle<()>)> = HashMap::new();
    let mut ticker = tokio::time::interval(config.refresh_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        let Some(mpi) = service.get() else { continue };
        let consumers = match notifications::list_consumers(mpi.db()).await {
            Ok(consumers) => consumers,
            Err(error) => {
                tracing::warn!(%error, "cannot read the PIX consumers");
                continue;
            }
        };
        running.retain(|id, (known, task)| {
            let keep = consumers.contains(known) && !task.is_finished();
            if !keep {
                task.abort();
                tracing::info!(consumer_id = %id, "PIX consumer task stopped");
            }
            keep
        });
        for consumer in consumers {
            if running.contains_key(&consumer.id) {
                continue;
            }
            tracing::info!(consumer_id = %consumer.id, "PIX consumer task started");
            let task = tokio::spawn(serve_consumer(
                mpi.clone(),
                consumer.clone(),
                config.clone(),
                observer.clone(),
            ));
            running.insert(consumer.id, (consumer, task));
        }
        if let Some(observer) = &observer {
            match notifications::queue_depth(mpi).await {
                Ok(depth) => observer.notification_queue(depth),
                Err(error) => tracing::warn!(%error, "cannot count the PIX notification queue"),
            }
        }
    }
    for (_, (_, task)) in running {
        task.abort();
    }
}

/// Why one notification was not delivered (no patient data in it).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no acknowledgement in time")]
    Timeout,
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed before the acknowledgement")]
    Closed,
    #[error("acknowledgement over the size limit")]
    TooLarge,
    #[error("acknowledged {0}")]
    Refused(String),
    #[error("acknowledgement for another message")]
    WrongAck,
    #[error(transparent)]
    Service(#[from] service::Error),
}

/// The notifications of `rows` grouped by person, each person at the place of its last change
/// (a notification carries the person's state when it is sent, so one per person and round
/// tells everything the earlier ones would have).
fn by_person(rows: &[Pending]) -> Vec<(Uuid, Vec<i64>)> {
    let mut last: HashMap<Uuid, usize> = HashMap::new();
    for (n, row) in rows.iter().enumerate() {
        last.insert(row.person_id, n);
    }
    let mut groups: Vec<(usize, Uuid, Vec<i64>)> = Vec::new();
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    for row in rows {
        let at = *index.entry(row.person_id).or_insert_with(|| {
            groups.push((last[&row.person_id], row.person_id, Vec::new()));
            groups.len() - 1
        });
        groups[at].2.push(row.seq);
    }
    groups.sort_by_key(|(position, _, _)| *position);
    groups
        .into_iter()
        .map(|(_, person, seqs)| (person, seqs))
        .collect()
}

/// A byte stream to a consumer: plain TCP or TLS over it.
trait Transport: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Transport for T {}

type Connection = Framed<Box<dyn Transport>, MllpCodec>;

/// Why a consumer's TLS settings cannot be used (names the file, never its content).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// rustls refused the certificates or key.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The rustls client configuration for a consumer: the CA file's certificates as roots (the
/// Mozilla roots without one), and the client certificate and key when given.
pub fn client_config(tls: &ConsumerTls) -> Result<rustls::ClientConfig, TlsSetupError> {
    let file_error = |path: &str, why: String| TlsSetupError::File {
        path: path.to_owned(),
        why,
    };
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca {
        Some(path) => {
            for cert in
                CertificateDer::pem_file_iter(path).map_err(|e| file_error(path, e.to_string()))?
            {
                let cert = cert.map_err(|e| file_error(path, e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| file_error(path, e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(file_error(path, "holds no certificate".to_owned()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Config(e.to_string()))?
        .with_root_certificates(roots);
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect())
                .map_err(|e| file_error(cert, e.to_string()))?;
            if chain.is_empty() {
                return Err(file_error(cert, "holds no certificate".to_owned()));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| file_error(key, format!("no private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsSetupError::Config(e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// Opens the connection to a consumer: TCP, then the TLS handshake when it has TLS settings.
async fn connect(
    consumer: &Consumer,
    tls: Option<&Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<Box<dyn Transport>, Failure> {
    let address = (consumer.host.as_str(), consumer.port);
    let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
        .await
        .map_err(|_| Failure::Connect("timed out".to_owned()))?
        .map_err(|e| Failure::Connect(e.kind().to_string()))?;
    let _ = stream.set_nodelay(true);
    let Some(config) = tls else {
        return Ok(Box::new(stream));
    };
    let name = ServerName::try_from(consumer.host.as_str())
        .map(|name| name.to_owned())
        .map_err(|_| Failure::Connect("the host is not a valid TLS server name".to_owned()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
    let stream = tokio::time::timeout(timeout, connector.connect(name, stream))
        .await
        .map_err(|_| Failure::Connect("TLS handshake timed out".to_owned()))?
        .map_err(|e| Failure::Connect(format!("TLS handshake failed: {e}")))?;
    Ok(Box::new(stream))
}

/// Drains one consumer's queue for as long as the server runs.
async fn serve_consumer(
    mpi: Mpi,
    consumer: Consumer,
    config: NotifyConfig,
    observer: Option<Arc<dyn Observer>>,
) {
    let ctx = Ctx::system("hl7 pix notifications");
    let mut connection: Option<Connection> = None;
    let mut backoff = config.retry_min;
    // TLS settings are read once per task (the task restarts when the consumer changes); files
    // that cannot be used fail every delivery, counted and retried, until they are fixed.
    let mut tls: Option<Arc<rustls::ClientConfig>> = None;
    loop {
        if let (Some(settings), None) = (&consumer.tls, &tls) {
            match client_config(settings) {
                Ok(made) => tls = Some(Arc::new(made)),
                Err(error) => {
                    if let Some(observer) = &observer {
                        observer.notification_failed();
                    }
                    tracing::warn!(
                        consumer_id = %consumer.id,
                        %error,
                        retry_in_ms = backoff.as_millis() as u64,
                        "PIX consumer TLS settings unusable"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(config.retry_max);
                    continue;
                }
            }
        }
        let rows = match notifications::pending(&mpi, consumer.id, BATCH).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, consumer_id = %consumer.id, "cannot read the PIX outbox");
                tokio::time::sleep(config.retry_max.min(Duration::from_secs(5))).await;
                continue;
            }
        };
        if rows.is_empty() {
            tokio::time::sleep(config.poll_interval).await;
            continue;
        }
        let mut failed = false;
        for (person, seqs) in by_person(&rows) {
            let sent = notify_one(
                &mpi,
                &ctx,
                &consumer,
                person,
                &seqs,
                Link {
                    connection: &mut connection,
                    tls: tls.as_ref(),
                },
                &config,
            )
            .await;
            match sent {
                Ok(()) => backoff = config.retry_min,
                Err(failure) => {
                    if let Some(observer) = &observer {
                        observer.notification_failed();
                    }
                    tracing::warn!(
                        consumer_id = %consumer.id,
                        %person,
                        error = %failure,
                        retry_in_ms = backoff.as_millis() as u64,
                        "PIX notification not delivered"
                    );
                    connection = None;
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(config.retry_max);
        }
    }
}

/// The ADT^A31 telling `consumer` the person's identifiers (ITI TF-2a 3.10.4.1.2: MSH, EVN,
/// PID with PID-3 the identifiers and PID-5 an empty name followed by a pseudo-name, as in
/// ITI-9's answer, PV1 with PV1-2 `N`).
fn a31(consumer: &Consumer, control_id: &str, ids: &[Cx]) -> String {
    // MSH-5 the consumer's name, MSH-6 its facility (its name when none was registered).
    let hd = |namespace: &str| Hd {
        namespace: namespace.to_owned(),
        ..Hd::default()
    };
    let facility = consumer.facility.as_deref().unwrap_or(&consumer.name);
    let mut message = Outbound::unsolicited(
        &hd(&consumer.name),
        &hd(facility),
        "ADT",
        "A31",
        "ADT_A05",
        control_id,
    );
    let now = chrono::Local::now().format("%Y%m%d%H%M%S%z").to_string();
    message.push(Segment::new("EVN").field(1, "A31").field(2, now));
    let mut pseudo = vec![Vec::new(); 7];
    pseudo[6] = vec!["S".to_owned()];
    message.push(
        Segment::new("PID")
            .field(3, Cx::list(ids))
            .field(5, Value::Repeated(vec![vec![], pseudo])),
    );
    message.push(Segment::new("PV1").field(2, "N"));
    message.render()
}

/// The connection to a consumer (opened when needed) and its TLS settings.
struct Link<'a> {
    connection: &'a mut Option<Connection>,
    tls: Option<&'a Arc<rustls::ClientConfig>>,
}

/// Sends one person's notification and marks its queued rows delivered once acknowledged.
async fn notify_one(
    mpi: &Mpi,
    ctx: &Ctx,
    consumer: &Consumer,
    person: Uuid,
    seqs: &[i64],
    link: Link<'_>,
    config: &NotifyConfig,
) -> Result<(), Failure> {
    let found = notifications::person_identifiers(mpi, person, &consumer.domains).await?;
    if found.identifiers.is_empty() {
        // Nothing in the consumer's domains (or the person has no live record left).
        notifications::delivered(mpi, ctx, consumer.id, seqs, None).await?;
        return Ok(());
    }
    let ids: Vec<Cx> = found
        .identifiers
        .iter()
        .map(|i| Cx {
            id: i.value.clone(),
            authority: hd_of(i.hl7_authority.as_deref(), &i.system),
            type_code: "PI".to_owned(),
        })
        .collect();
    let control_id = next_control_id();
    let text = a31(consumer, &control_id, &ids);
    let audit = |outcome: &str| {
        AuditEntry::new("hl7_out", "hl7_message", Some(control_id.clone())).after(json!({
            "message_type": "ADT^A31",
            "control_id": control_id,
            "consumer": consumer.name,
            "person_id": person,
            "ids": found.patient_ids,
            "outcome": outcome,
        }))
    };
    let outcome = exchange(consumer, &text, &control_id, link, config).await;
    match outcome {
        Ok(code) if code == "AA" || code == "CA" => {
            notifications::delivered(mpi, ctx, consumer.id, seqs, Some(audit(&code))).await?;
            Ok(())
        }
        Ok(code) => {
            mpi.audit_read(ctx, audit(&code)).await?;
            Err(Failure::Refused(code))
        }
        Err(failure) => {
            // Sent but not acknowledged (or not sent at all): the attempt is audited only when
            // the message may have reached the consumer.
            if !matches!(failure, Failure::Connect(_)) {
                mpi.audit_read(ctx, audit("no_ack")).await?;
            }
            Err(failure)
        }
    }
}

/// Sends `text` on the consumer's connection (opening it when needed) and returns MSA-1 of the
/// acknowledgement whose MSA-2 is `control_id`.
async fn exchange(
    consumer: &Consumer,
    text: &str,
    control_id: &str,
    link: Link<'_>,
    config: &NotifyConfig,
) -> Result<String, Failure> {
    let connection = link.connection;
    if connection.is_none() {
        let stream = connect(consumer, link.tls, config.answer_timeout).await?;
        *connection = Some(Framed::new(
            stream,
            MllpCodec::new(config.max_message_bytes),
        ));
    }
    let Some(framed) = connection.as_mut() else {
        return Err(Failure::Closed);
    };
    framed.send(text).await?;
    let frame = tokio::time::timeout(config.answer_timeout, framed.next())
        .await
        .map_err(|_| Failure::Timeout)?;
    let bytes = match frame {
        None => return Err(Failure::Closed),
        Some(Err(error)) => return Err(Failure::Io(error)),
        Some(Ok(Frame::TooLarge { .. })) => return Err(Failure::TooLarge),
        Some(Ok(Frame::Message(bytes))) => bytes,
    };
    let answer = String::from_utf8_lossy(&bytes)
        .replace("\r\n", "\r")
        .replace('\n', "\r");
    let acknowledged = answer
        .split('\r')
        .find_map(|s| s.strip_prefix("MSA|"))
        .and_then(|rest| rest.split('|').nth(1))
        .unwrap_or("");
    if acknowledged != control_id {
        return Err(Failure::WrongAck);
    }
    Ok(ack_code(&answer).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notification_per_person_at_its_last_change() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let rows = [
            Pending {
                seq: 1,
                person_id: a,
            },
            Pending {
                seq: 2,
                person_id: b,
            },
            Pending {
                seq: 3,
                person_id: a,
            },
        ];
        assert_eq!(by_person(&rows), vec![(b, vec![2]), (a, vec![1, 3])]);
    }
}
