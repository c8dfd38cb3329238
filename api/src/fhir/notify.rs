//! IHE PMIR's Patient Identity Registry as a Supplier of the Mobile Patient Identity Feed
//! (ITI-93) to the subscribers of ITI-94: one task per delivering Subscription drains its queue
//! in the durable outbox (`service::subscriptions`), and POSTs to the Subscription's endpoint a
//! FHIR `message` Bundle (`Content-Type: application/fhir+json`, the channel's headers) whose
//! MessageHeader has the event `urn:ihe:iti:pmir:2019:patient-feed` and focuses a `history`
//! Bundle with one entry per Patient its criteria select, as the Patient is now: `POST` for a
//! record created, `PUT` for one changed or merged away (then `active` false with its
//! `replaced-by` link), `DELETE` for one deleted. The queued rows are deleted only after a 2xx
//! answer, so delivery is at least once; failures are retried with exponential back-off, and
//! the queue survives a restart because it is in the database. After
//! [`DeliveryConfig::error_after`] failures in a row the Subscription's status becomes `error`
//! with the reason (R4 Subscription), and the first delivery that succeeds makes it `active`
//! again.
//!
//! The HTTP client is actix's own (`awc`), which is not `Send`: it runs on a thread of its own
//! ([`Sender`]) with a single-threaded runtime, and the delivery tasks, which use the database
//! on the server's runtime, hand it each request through a channel. Nothing here holds up a
//! request handler. Logs and audit rows name ids, never patient data.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use service::audit::AuditEntry;
use service::subscriptions::{self, Pending, Subscription};
use service::{Ctx, Mpi};

use super::patient::{FhirPatient, instant_text};
use super::pmir::FEED_EVENT;
use crate::metrics::Metrics;

/// The MessageDefinition of the feed message (`MessageHeader.definition`).
pub const FEED_DEFINITION: &str =
    "https://profiles.ihe.net/ITI/PMIR/MessageDefinition/IHE.PMIR.MessageDefinition";

/// Timing of the delivery task.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// This server's FHIR base URL (`MessageHeader.source.endpoint`, the entries' fullUrl).
    pub base_url: String,
    /// How often an idle Subscription's queue is looked at again.
    pub poll_interval: Duration,
    /// How often the list of Subscriptions and the queue depth gauge are refreshed.
    pub refresh_interval: Duration,
    /// The first wait after a failed delivery; doubled after each further failure.
    pub retry_min: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
    /// How long a delivery (connecting, sending, the answer) may take.
    pub timeout: Duration,
    /// Failures in a row after which the Subscription's status becomes `error`.
    pub error_after: u32,
    /// The TLS client configuration for https endpoints (`tls::subscription_client_config`:
    /// the public roots and `--subscription-ca-file`'s).
    pub tls: Arc<rustls::ClientConfig>,
}

/// Queued rows read per message.
const BATCH: u64 = 100;

/// One POST for the sending thread.
struct Post {
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    reply: oneshot::Sender<Result<u16, String>>,
}

/// The HTTP client's thread: a single-threaded runtime running `awc` requests handed over by
/// [`Sender::post`]; it ends when every `Sender` is dropped.
#[derive(Clone)]
struct Sender {
    queue: mpsc::UnboundedSender<Post>,
}

impl Sender {
    fn start(timeout: Duration, tls: Arc<rustls::ClientConfig>) -> std::io::Result<Sender> {
        let (queue, mut requests) = mpsc::unbounded_channel::<Post>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("fhir-notify-http".to_owned())
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let connector = awc::Connector::new().timeout(timeout).rustls_0_23(tls);
                    let client = awc::Client::builder()
                        .connector(connector)
                        .timeout(timeout)
                        .disable_redirects()
                        .finish();
                    while let Some(post) = requests.recv().await {
                        let client = client.clone();
                        tokio::task::spawn_local(async move {
                            let answer = send(&client, post.url, post.headers, post.body).await;
                            let _ = post.reply.send(answer);
                        });
                    }
                });
            })?;
        Ok(Sender { queue })
    }

    async fn post(
        &self,
        url: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<u16, String> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Post {
                url: url.to_owned(),
                headers,
                body,
                reply,
            })
            .map_err(|_| "the HTTP client has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the HTTP client has stopped".to_owned())?
    }
}

/// POSTs `body` and returns the answer's status (its body is read and dropped, at most 1 MiB).
async fn send(
    client: &awc::Client,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Result<u16, String> {
    let mut request = client
        .post(url)
        .insert_header(("Content-Type", super::FHIR_JSON));
    for (name, value) in headers {
        request = request.insert_header((name, value));
    }
    let mut response = request
        .send_body(body)
        .await
        .map_err(|e| format!("not delivered: {e}"))?;
    let _ = response.body().limit(1024 * 1024).await;
    Ok(response.status().as_u16())
}

/// What identifies the delivery of a Subscription: its task restarts when one of these changes.
fn delivery_key(s: &Subscription) -> (String, String, Vec<String>, String) {
    (
        s.endpoint.clone(),
        s.criteria.clone(),
        s.headers.clone(),
        s.updated_at.to_rfc3339(),
    )
}

/// Runs the delivery task until `shutdown` completes: a task per delivering Subscription,
/// started and stopped as Subscriptions come and go (every
/// [`DeliveryConfig::refresh_interval`]), and the queue depth reported to the metrics.
pub async fn run(
    service: Arc<OnceLock<Mpi>>,
    config: DeliveryConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let sender = match Sender::start(config.timeout, Arc::clone(&config.tls)) {
        Ok(sender) => sender,
        Err(error) => {
            tracing::error!(%error, "cannot start the subscription HTTP client; no PMIR notifications");
            return;
        }
    };
    tokio::pin!(shutdown);
    type Running = (
        (String, String, Vec<String>, String),
        tokio::task::JoinHandle<()>,
    );
    let mut running: HashMap<Uuid, Running> = HashMap::new();
    let mut ticker = tokio::time::interval(config.refresh_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        let Some(mpi) = service.get() else { continue };
        let subscriptions = match subscriptions::delivering(mpi).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "cannot read the FHIR subscriptions");
                continue;
            }
        };
        running.retain(|id, (key, task)| {
            let keep = subscriptions
                .iter()
                .any(|s| s.id == *id && delivery_key(s) == *key)
                && !task.is_finished();
            if !keep {
                task.abort();
                tracing::info!(subscription_id = %id, "subscription delivery stopped");
            }
            keep
        });
        for subscription in subscriptions {
            if running.contains_key(&subscription.id) {
                continue;
            }
            tracing::info!(subscription_id = %subscription.id, "subscription delivery started");
            let key = delivery_key(&subscription);
            let id = subscription.id;
            let task = tokio::spawn(serve_subscription(
                mpi.clone(),
                subscription,
                config.clone(),
                Arc::clone(&metrics),
                sender.clone(),
            ));
            running.insert(id, (key, task));
        }
        match subscriptions::queue_depth(mpi).await {
            Ok(depth) => metrics
                .subscription_queue
                .set(i64::try_from(depth).unwrap_or(i64::MAX)),
            Err(error) => tracing::warn!(%error, "cannot count the subscription queue"),
        }
    }
    for (_, (_, task)) in running {
        task.abort();
    }
}

/// The channel's headers as name and value.
fn header_pairs(subscription: &Subscription) -> Vec<(String, String)> {
    subscription
        .headers
        .iter()
        .filter_map(|h| h.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Drains one Subscription's queue for as long as the server runs.
async fn serve_subscription(
    mpi: Mpi,
    subscription: Subscription,
    config: DeliveryConfig,
    metrics: Arc<Metrics>,
    sender: Sender,
) {
    let ctx = Ctx::system("fhir subscription notifications");
    let criteria = subscription.criteria();
    let headers = header_pairs(&subscription);
    let mut backoff = config.retry_min;
    let mut failures: u32 = 0;
    loop {
        let rows = match subscriptions::pending(&mpi, subscription.id, BATCH).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, subscription_id = %subscription.id, "cannot read the subscription outbox");
                tokio::time::sleep(config.retry_max.min(Duration::from_secs(5))).await;
                continue;
            }
        };
        if rows.is_empty() {
            tokio::time::sleep(config.poll_interval).await;
            continue;
        }
        let sent = deliver(
            &mpi,
            &ctx,
            &subscription,
            &criteria,
            &headers,
            &rows,
            &config,
            &sender,
        )
        .await;
        match sent {
            Ok(()) => {
                backoff = config.retry_min;
                failures = 0;
            }
            Err(why) => {
                metrics.subscription_failures.inc();
                failures = failures.saturating_add(1);
                tracing::warn!(
                    subscription_id = %subscription.id,
                    error = %why,
                    failures,
                    retry_in_ms = backoff.as_millis() as u64,
                    "PMIR notification not delivered"
                );
                if failures == config.error_after
                    && let Err(error) =
                        subscriptions::failed(&mpi, &ctx, subscription.id, &why).await
                {
                    tracing::warn!(%error, subscription_id = %subscription.id, "cannot set the subscription's error status");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.retry_max);
            }
        }
    }
}

/// The patients of `rows`, each once, in the order of their first change, with the events
/// queued for it.
fn by_patient(rows: &[Pending]) -> Vec<(Uuid, Vec<&str>)> {
    let mut order: Vec<(Uuid, Vec<&str>)> = Vec::new();
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    for row in rows {
        let at = *index.entry(row.patient_id).or_insert_with(|| {
            order.push((row.patient_id, Vec::new()));
            order.len() - 1
        });
        order[at].1.push(row.event.as_str());
    }
    order
}

/// Sends one message for `rows` (or none when the criteria select none of their patients)
/// and marks them delivered; `Err` with why not (no patient data).
#[allow(clippy::too_many_arguments)]
async fn deliver(
    mpi: &Mpi,
    ctx: &Ctx,
    subscription: &Subscription,
    criteria: &subscriptions::Criteria,
    headers: &[(String, String)],
    rows: &[Pending],
    config: &DeliveryConfig,
    sender: &Sender,
) -> Result<(), String> {
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let groups = by_patient(rows);
    let ids: Vec<Uuid> = groups.iter().map(|(id, _)| *id).collect();
    let now = subscriptions::patients_now(mpi, &ids)
        .await
        .map_err(|e| e.to_string())?;
    let base = config.base_url.trim_end_matches('/');
    let mut entries = Vec::new();
    let mut patient_ids = Vec::new();
    for ((id, events), (_, patient)) in groups.iter().zip(&now) {
        if !criteria.selects(mpi, *id, patient.as_ref()) {
            continue;
        }
        patient_ids.push(*id);
        entries.push(history_entry(base, *id, events, patient.as_ref()));
    }
    if entries.is_empty() {
        return subscriptions::delivered(mpi, ctx, subscription.id, &seqs, None)
            .await
            .map_err(|e| e.to_string());
    }
    let message_id = Uuid::new_v4();
    let bundle = message(base, subscription, message_id, entries);
    let body = serde_json::to_vec(&bundle).map_err(|e| e.to_string())?;
    let audit = |outcome: String| {
        AuditEntry::new("fhir_out", "fhir_message", Some(message_id.to_string())).after(json!({
            "event": FEED_EVENT,
            "subscription_id": subscription.id,
            "endpoint": subscription.endpoint,
            "ids": patient_ids,
            "outcome": outcome,
        }))
    };
    match sender
        .post(&subscription.endpoint, headers.to_vec(), body)
        .await
    {
        Ok(status) if (200..300).contains(&status) => subscriptions::delivered(
            mpi,
            ctx,
            subscription.id,
            &seqs,
            Some(audit(status.to_string())),
        )
        .await
        .map_err(|e| e.to_string()),
        Ok(status) => {
            // It reached the endpoint, which refused it: the attempt is audited.
            let _ = mpi.audit_read(ctx, audit(status.to_string())).await;
            Err(format!("the endpoint answered HTTP {status}"))
        }
        Err(why) => Err(why),
    }
}

/// A history entry for a patient as it is now: DELETE when it is deleted (or gone), POST when
/// it was created since the last message, PUT otherwise.
fn history_entry(
    base: &str,
    id: Uuid,
    events: &[&str],
    patient: Option<&service::patients::Patient>,
) -> Value {
    let full_url = format!("{base}/Patient/{id}");
    match patient {
        Some(p) if !p.record.patient.is_deleted() => {
            let created = events.contains(&"create");
            let (method, url, status) = if created {
                ("POST", "Patient".to_owned(), "201")
            } else {
                ("PUT", format!("Patient/{id}"), "200")
            };
            json!({
                "fullUrl": full_url,
                "resource": FhirPatient::from(p),
                "request": { "method": method, "url": url },
                "response": { "status": status },
            })
        }
        _ => json!({
            "fullUrl": full_url,
            "request": { "method": "DELETE", "url": format!("Patient/{id}") },
            "response": { "status": "204" },
        }),
    }
}

/// The Mobile Patient Identity Feed message: MessageHeader, then the history Bundle it focuses.
fn message(base: &str, subscription: &Subscription, id: Uuid, entries: Vec<Value>) -> Value {
    let header_id = Uuid::new_v4();
    let history_id = Uuid::new_v4();
    let now = instant_text(chrono::Utc::now().fixed_offset());
    json!({
        "resourceType": "Bundle",
        "id": id.to_string(),
        "type": "message",
        "timestamp": now,
        "entry": [
            {
                "fullUrl": format!("urn:uuid:{header_id}"),
                "resource": {
                    "resourceType": "MessageHeader",
                    "id": header_id.to_string(),
                    "eventUri": FEED_EVENT,
                    "destination": [{ "endpoint": subscription.endpoint }],
                    "source": {
                        "name": "mpi",
                        "software": "mpi",
                        "version": env!("CARGO_PKG_VERSION"),
                        "endpoint": base,
                    },
                    "focus": [{ "reference": format!("urn:uuid:{history_id}") }],
                    "definition": FEED_DEFINITION,
                },
            },
            {
                "fullUrl": format!("urn:uuid:{history_id}"),
                "resource": {
                    "resourceType": "Bundle",
                    "id": history_id.to_string(),
                    "type": "history",
                    "timestamp": now,
                    "entry": entries,
                },
            },
        ],
    })
}
