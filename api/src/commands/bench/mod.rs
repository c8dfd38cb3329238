//! `mpi bench`: drives a running `mpi serve` over HTTP with concurrent clients for one scenario
//! (lookup by id, match, registration with its duplicate check, search) and reports the request
//! count, requests per second, latency percentiles and the status counts.
//!
//! The requests are made from the records of a person CSV: the file that was imported with
//! `mpi import` (so lookups and searches find them, and registering them again meets the
//! duplicate check), or a fresh one (so registrations create patients). Either every client sends
//! its next request as soon as the previous one is answered (closed loop, the default), or the
//! clients share a fixed schedule (`--rate`), in which case latency counts from each request's
//! scheduled time, so a server that falls behind shows up as latency rather than as fewer
//! requests. Nothing about the records is printed, only counts and timings.
//!
//! The `hl7-*` scenarios drive the HL7 v2 listener (`--mllp`) instead, one MLLP connection per
//! client, as a registered source (`--hl7-sender`): ITI-8 feed (ADT^A01 of each record under a
//! fresh identifier, so each is a registration acknowledged after its commit), ITI-9 PIX query
//! by the import identifier, ITI-21 PDQ query by family and given name. Their answers are
//! counted as statuses 200 (AA), 422 (AE) and 400 (AR) (`mllp.rs`). The `fhir-*` scenarios ask
//! the FHIR face (`fhir.rs`): PIXm `$ihe-pix` by the import identifier, PDQm search by family
//! and birth date, and PMIR feed messages of one new Patient each. `--requests N` stops after N
//! measured requests and reports the time they took (the PMIR target: 1,000 messages).
//!
//! The client is actix's own (`awc`), which shares its HTTP code with the server: the `reqwest`
//! client this used before brought hyper, tower and their kin into the server's build for this
//! one command. awc's client is not `Send`, so the clients are tasks of one thread (a
//! `LocalSet`); one thread issues requests far faster than the two-core server answers them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use service::patients::PatientInput;

use crate::commands::import::patient_input;
use crate::configuration::BenchTarget;
use crate::person_csv::PersonCsvReader;

mod fhir;
mod mllp;

/// Stands in a feed scenario's message for a number new with every message sent in a run (the
/// request's slot in the schedule), so every message registers a new record.
const FRESH: &str = "@SEQ@";

/// What the clients ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `GET /api/v1/patients/{id}`; the ids are first looked up by the records' import identifiers.
    Get,
    /// `POST /api/v1/match` with each record's demographics (`limit` 10).
    Match,
    /// `POST /api/v1/patients` with each record: the duplicate check, then 409 (the record is
    /// already stored) or 201 (created).
    Register,
    /// `GET /api/v1/patients?identifier=urn:mpi:import:SOURCE|ID` for each record.
    SearchIdentifier,
    /// `GET /api/v1/patients?family=FAMILY&given=GIVEN` for each record's first name.
    SearchName,
    /// `GET /api/v1/xref?identifier=urn:mpi:import:SOURCE|ID` for each record the import stored
    /// (looked up first, as for `get`): the person's enterprise id and identifiers in the other
    /// domains (IHE PIX).
    Xref,
    /// HL7 v2 ITI-8: ADT^A01 of each record with PID-3 `BRUN-N^^^BENCH_FEED` (new for every
    /// message).
    Hl7Feed,
    /// HL7 v2 ITI-9: QBP^Q23 for each stored record's import identifier.
    Hl7Pix,
    /// HL7 v2 ITI-21: QBP^Q22 by each record's family and given name.
    Hl7Pdq,
    /// FHIR PIXm (ITI-83): `GET /fhir/Patient/$ihe-pix?sourceIdentifier=urn:mpi:import:SOURCE|ID`
    /// for each stored record.
    FhirPix,
    /// FHIR PDQm (ITI-78): `GET /fhir/Patient?family=FAMILY&birthdate=YYYY-MM-DD`.
    FhirPdqm,
    /// FHIR PMIR (ITI-93): `POST /fhir/Bundle`, a feed message creating one Patient with each
    /// record's demographics under `urn:mpi:bench:pmir|PRUN-N` (new for every message).
    FhirPmir,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Get => "get",
            Scenario::Match => "match",
            Scenario::Register => "register",
            Scenario::SearchIdentifier => "search-identifier",
            Scenario::SearchName => "search-name",
            Scenario::Xref => "xref",
            Scenario::Hl7Feed => "hl7-feed",
            Scenario::Hl7Pix => "hl7-pix",
            Scenario::Hl7Pdq => "hl7-pdq",
            Scenario::FhirPix => "fhir-pix",
            Scenario::FhirPdqm => "fhir-pdqm",
            Scenario::FhirPmir => "fhir-pmir",
        }
    }

    /// Its messages carry [`FRESH`].
    fn is_feed(self) -> bool {
        matches!(self, Scenario::Hl7Feed | Scenario::FhirPmir)
    }
}

/// Arguments of `mpi bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The server and the key.
    #[command(flatten)]
    pub target: BenchTarget,
    /// What to ask for.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Person CSV whose records make the requests.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Import source name of --input (its records carry `urn:mpi:import:SOURCE|id`; default: the
    /// file name's stem, as `mpi import` names it).
    #[arg(long)]
    pub source: Option<String>,
    /// How many records of --input to use (from the start of the file, round robin).
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    pub records: usize,
    /// Concurrent clients (one connection each).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds measured (at most, with --requests).
    #[arg(long, value_name = "S", default_value_t = 20)]
    pub duration_secs: u64,
    /// Stop after this many measured requests and report the time they took.
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Seconds of requests before measuring (answered but not counted).
    #[arg(long, value_name = "S", default_value_t = 3)]
    pub warmup_secs: u64,
    /// A fixed total rate (requests/s) instead of as fast as possible; latency then counts from
    /// each request's scheduled time.
    #[arg(long, value_name = "PER_SEC")]
    pub rate: Option<f64>,
    /// Print the result as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The server's MLLP listener (`HOST:PORT`), for the `hl7-*` scenarios.
    #[arg(long, value_name = "HOST:PORT")]
    pub mllp: Option<String>,
    /// The HL7 sending application (MSH-3) of the `hl7-*` scenarios: a registered source
    /// (`mpi sources add MPI_BENCH --role registrar`).
    #[arg(long, default_value = "MPI_BENCH")]
    pub hl7_sender: String,
}

/// One prepared request.
#[derive(Clone, Debug)]
enum Request {
    Get(String),
    Post(String, String),
    /// An HL7 v2 message, sent on the client's MLLP connection.
    Hl7(String),
}

/// What one run measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchReport {
    /// The scenario's name.
    pub scenario: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds measured.
    pub seconds: f64,
    /// Requests answered in the measured window.
    pub requests: u64,
    /// Requests per second over the measured window.
    pub per_second: f64,
    /// Latency percentiles in milliseconds: p50, p90, p99, p99.9 and the maximum.
    pub p50_ms: f64,
    /// 90th percentile (ms).
    pub p90_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// 99.9th percentile (ms).
    pub p999_ms: f64,
    /// Slowest request (ms).
    pub max_ms: f64,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (connection refused, reset, timeout).
    pub errors: u64,
    /// Why the first of them got none (the client's error with its causes).
    pub first_error: Option<String>,
}

impl BenchReport {
    fn to_json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "clients": self.clients,
            "seconds": self.seconds,
            "requests": self.requests,
            "per_second": self.per_second,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "p999_ms": self.p999_ms,
            "max_ms": self.max_ms,
            "statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "errors": self.errors,
            "first_error": self.first_error,
        })
    }
}

/// Runs `mpi bench`, printing the report to `out`.
pub async fn run(args: BenchArgs, out: &mut dyn Write) -> anyhow::Result<BenchReport> {
    tokio::task::LocalSet::new()
        .run_until(run_local(args, out))
        .await
}

/// [`run`] on the current thread, whose `LocalSet` runs the clients.
async fn run_local(args: BenchArgs, out: &mut dyn Write) -> anyhow::Result<BenchReport> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number");
    }
    if args.requests == Some(0) {
        bail!("--requests must be at least 1");
    }
    let source = match &args.source {
        Some(s) => s.clone(),
        None => args
            .input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned()),
    };
    let records = read_records(&args.input, &source, args.records.max(1))?;
    if records.is_empty() {
        bail!("{} has no usable record", args.input.display());
    }
    let base = args.target.url.trim_end_matches('/').to_owned();
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(args.concurrency))
        .timeout(Duration::from_secs(30))
        .finish();
    let key = Arc::new(args.target.key.clone());
    let system = service::import::source_system(&source);
    // Identifiers the feed scenarios create are new in each run (and, with FRESH, in each
    // message of it).
    let run = chrono::Utc::now().format("%y%m%d%H%M%S%3f").to_string();
    // The scenarios that ask by import identifier or id ask only for the records stored.
    let asks_stored = matches!(
        args.scenario,
        Scenario::Get | Scenario::Xref | Scenario::Hl7Pix | Scenario::FhirPix
    );
    let mut ids = Vec::new();
    let records = if asks_stored {
        ids = resolve_ids(&client, &base, &key, &system, &records, args.concurrency).await?;
        if ids.is_empty() {
            bail!(
                "none of the records of {} is stored under {system}: import the file first \
                 (or give --source)",
                args.input.display()
            );
        }
        ids.iter().map(|(n, _)| records[*n].clone()).collect()
    } else {
        records
    };
    let requests: Vec<Request> = match args.scenario {
        Scenario::Get => ids
            .iter()
            .map(|(_, id)| Request::Get(format!("{base}/api/v1/patients/{id}")))
            .collect(),
        Scenario::Match => records
            .iter()
            .map(|(_, input)| {
                let mut body = patient_json(input);
                body["limit"] = json!(10);
                Request::Post(format!("{base}/api/v1/match"), body.to_string())
            })
            .collect(),
        Scenario::Register => records
            .iter()
            .map(|(_, input)| {
                Request::Post(
                    format!("{base}/api/v1/patients"),
                    patient_json(input).to_string(),
                )
            })
            .collect(),
        Scenario::SearchIdentifier => records
            .iter()
            .map(|(id, _)| Request::Get(identifier_search(&base, &system, id)))
            .collect(),
        Scenario::Xref => records
            .iter()
            .map(|(id, _)| {
                Request::Get(format!(
                    "{base}/api/v1/xref?identifier={}",
                    encode(&format!("{system}|{id}"))
                ))
            })
            .collect(),
        Scenario::Hl7Feed | Scenario::Hl7Pix | Scenario::Hl7Pdq => {
            if args.mllp.is_none() {
                bail!("the hl7-* scenarios need --mllp HOST:PORT");
            }
            mllp::requests(args.scenario, &args.hl7_sender, &system, &run, &records)
        }
        Scenario::FhirPix | Scenario::FhirPdqm | Scenario::FhirPmir => {
            fhir::requests(args.scenario, &base, &system, &run, &records)
        }
        Scenario::SearchName => records
            .iter()
            .filter_map(|(_, input)| {
                let name = input.names.first()?;
                let family = name.family.as_deref()?;
                let given = name.given.first()?;
                Some(Request::Get(format!(
                    "{base}/api/v1/patients?family={}&given={}",
                    encode(family),
                    encode(given)
                )))
            })
            .collect(),
    };
    if requests.is_empty() {
        bail!("no request could be made from {}", args.input.display());
    }
    let report = drive(
        &client,
        args.mllp.clone().map(Arc::new),
        key,
        Arc::new(requests),
        args.scenario,
        args.concurrency,
        Duration::from_secs(args.warmup_secs),
        Duration::from_secs(args.duration_secs.max(1)),
        args.rate,
        args.requests,
    )
    .await;
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        write_text(out, &report, args.rate, args.requests.is_some())?;
    }
    Ok(report)
}

/// The first `limit` usable records of `path` as (source id, patient input).
fn read_records(
    path: &std::path::Path,
    source: &str,
    limit: usize,
) -> anyhow::Result<Vec<(String, PatientInput)>> {
    let reader = PersonCsvReader::open(path, &[])?;
    let mut records = Vec::new();
    for row in reader {
        let Ok(row) = row else { continue };
        if let Ok(input) = patient_input(&row.record, source)
            && !input.names.is_empty()
        {
            records.push((row.id, input));
        }
        if records.len() >= limit {
            break;
        }
    }
    Ok(records)
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn identifier_search(base: &str, system: &str, id: &str) -> String {
    format!(
        "{base}/api/v1/patients?identifier={}&per_page=1",
        encode(&format!("{system}|{id}"))
    )
}

/// The JSON body of `POST /patients` and `POST /match` for `input`.
fn patient_json(input: &PatientInput) -> Value {
    json!({
        "gender": input.gender.map(|g| g.as_str()),
        "birth_date": input.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
        "names": input.names.iter().map(|n| json!({
            "family": n.family,
            "given": n.given,
            "use": n.r#use.map(|u| u.as_str()),
        })).collect::<Vec<_>>(),
        "identifiers": input.identifiers.iter().map(|i| json!({
            "system": i.system,
            "value": i.value,
        })).collect::<Vec<_>>(),
        "addresses": input.addresses.iter().map(|a| json!({
            "lines": a.lines,
            "city": a.city,
            "state": a.state,
            "postal_code": a.postal_code,
            "country": a.country,
        })).collect::<Vec<_>>(),
        "telecoms": input.telecoms.iter().map(|t| json!({
            "system": t.system.as_str(),
            "value": t.value,
        })).collect::<Vec<_>>(),
    })
}

/// Looks up the stored id of each record by its import identifier, `clients` at a time: the
/// records found with their ids, in the order of `records` (the import rejects some records of
/// a generated file, which no query can find).
async fn resolve_ids(
    client: &awc::Client,
    base: &str,
    key: &Arc<String>,
    system: &str,
    records: &[(String, PatientInput)],
    clients: usize,
) -> anyhow::Result<Vec<(usize, String)>> {
    let urls: Vec<String> = records
        .iter()
        .map(|(id, _)| identifier_search(base, system, id))
        .collect();
    let urls = Arc::new(urls);
    let mut tasks = Vec::new();
    for first in 0..clients.min(urls.len()) {
        let (client, key, urls) = (client.clone(), key.clone(), urls.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let mut ids = Vec::new();
            for (n, url) in urls.iter().enumerate().skip(first).step_by(clients) {
                let mut answer = client
                    .get(url)
                    .bearer_auth(key.as_str())
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let status = answer.status();
                if status == awc::http::StatusCode::UNAUTHORIZED
                    || status == awc::http::StatusCode::FORBIDDEN
                {
                    anyhow::bail!("the server refused the key ({status})");
                }
                let body: Value = answer
                    .json()
                    .limit(MAX_ANSWER_BYTES)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if let Some(id) = body["items"][0]["id"].as_str() {
                    ids.push((n, id.to_owned()));
                }
            }
            Ok(ids)
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.context("a lookup task failed")??);
    }
    ids.sort_unstable();
    Ok(ids)
}

/// The largest answer body read (a search page or a match list is far smaller).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// What one client saw in the measured window.
#[derive(Default)]
struct ClientTally {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    first_error: Option<String>,
    /// When the last measured request was answered.
    last_done: Option<Instant>,
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    client: &awc::Client,
    mllp: Option<Arc<String>>,
    key: Arc<String>,
    requests: Arc<Vec<Request>>,
    scenario: Scenario,
    clients: usize,
    warmup: Duration,
    measured: Duration,
    rate: Option<f64>,
    cap: Option<u64>,
) -> BenchReport {
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + warmup;
    let end = measure_from + measured;
    // Measured requests claimed so far, for --requests.
    let claimed = Arc::new(AtomicU64::new(0));
    let fresh = scenario.is_feed();
    let mut tasks = Vec::new();
    for me in 0..clients {
        let (client, key, requests) = (client.clone(), key.clone(), requests.clone());
        let (mllp, claimed) = (mllp.clone(), claimed.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let mut tally = ClientTally::default();
            let mut connection: Option<mllp::Connection> = None;
            let mut k = me;
            tokio::time::sleep_until(start.into()).await;
            loop {
                let scheduled = match rate {
                    Some(r) => start + Duration::from_secs_f64(k as f64 / r),
                    None => Instant::now(),
                };
                if scheduled >= end {
                    break;
                }
                if rate.is_some() {
                    tokio::time::sleep_until(scheduled.into()).await;
                }
                if let Some(cap) = cap
                    && scheduled >= measure_from
                    && claimed.fetch_add(1, Ordering::Relaxed) >= cap
                {
                    break;
                }
                // A feed's message registers a record of its own: its slot `k` is new in the run.
                let seq = k.to_string();
                let request = &requests[k % requests.len()];
                let status: Result<u16, String> = match request {
                    Request::Hl7(text) if fresh => {
                        let addr = mllp.as_deref().map(String::as_str).unwrap_or("");
                        mllp::exchange(&mut connection, addr, &text.replace(FRESH, &seq)).await
                    }
                    Request::Hl7(text) => {
                        let addr = mllp.as_deref().map(String::as_str).unwrap_or("");
                        mllp::exchange(&mut connection, addr, text).await
                    }
                    Request::Get(_) | Request::Post(..) => {
                        let sent = match request {
                            Request::Post(url, body) => {
                                client
                                    .post(url)
                                    .insert_header((
                                        awc::http::header::CONTENT_TYPE,
                                        "application/json",
                                    ))
                                    .bearer_auth(key.as_str())
                                    .send_body(if fresh {
                                        body.replace(FRESH, &seq)
                                    } else {
                                        body.clone()
                                    })
                                    .await
                            }
                            Request::Get(url) | Request::Hl7(url) => {
                                client.get(url).bearer_auth(key.as_str()).send().await
                            }
                        };
                        match sent {
                            Ok(mut answer) => {
                                let status = answer.status().as_u16();
                                // Read the whole body: the request is done when the answer is.
                                answer
                                    .body()
                                    .limit(MAX_ANSWER_BYTES)
                                    .await
                                    .map(|_| status)
                                    .map_err(|e| e.to_string())
                            }
                            Err(error) => Err(error.to_string()),
                        }
                    }
                };
                let done = Instant::now();
                if scheduled >= measure_from {
                    tally
                        .latencies_us
                        .push(done.duration_since(scheduled).as_micros() as u64);
                    tally.last_done = Some(done);
                    match status {
                        Ok(s) => *tally.statuses.entry(s).or_default() += 1,
                        Err(error) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert(error);
                        }
                    }
                }
                // Client `me` takes requests me, me + clients, ...: in rate mode these are its
                // slots of the shared schedule.
                k += clients;
            }
            tally
        }));
    }
    let mut all = ClientTally::default();
    for task in tasks {
        if let Ok(t) = task.await {
            all.latencies_us.extend(t.latencies_us);
            for (s, n) in t.statuses {
                *all.statuses.entry(s).or_default() += n;
            }
            all.errors += t.errors;
            all.first_error = all.first_error.or(t.first_error);
            all.last_done = all.last_done.max(t.last_done);
        }
    }
    // With --requests, the time from the start of the measured window to the last answer.
    let seconds = match (cap, all.last_done) {
        (Some(_), Some(last)) => last.duration_since(measure_from).as_secs_f64().max(1e-6),
        _ => measured.as_secs_f64(),
    };
    let mut lat = all.latencies_us;
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let rank = ((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len());
        lat[rank - 1] as f64 / 1000.0
    };
    BenchReport {
        scenario: scenario.name().to_owned(),
        clients,
        seconds,
        requests: lat.len() as u64,
        per_second: lat.len() as f64 / seconds,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        max_ms: lat.last().map_or(0.0, |&us| us as f64 / 1000.0),
        statuses: all.statuses,
        errors: all.errors,
        first_error: all.first_error,
    }
}

fn write_text(
    out: &mut dyn Write,
    r: &BenchReport,
    rate: Option<f64>,
    counted: bool,
) -> anyhow::Result<()> {
    let mode = match rate {
        Some(rate) => format!("fixed rate {rate} req/s"),
        None => "closed loop".to_owned(),
    };
    // A counted run's time is the figure itself; a timed run's is the chosen window.
    let digits = if counted { 2 } else { 0 };
    writeln!(
        out,
        "{}: {} clients, {mode}, {:.digits$} s measured",
        r.scenario, r.clients, r.seconds
    )?;
    writeln!(out, "requests {}  ({:.1} req/s)", r.requests, r.per_second)?;
    writeln!(
        out,
        "latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms, r.max_ms
    )?;
    let statuses: Vec<String> = r
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    writeln!(
        out,
        "status  {}  no answer: {}",
        statuses.join("  "),
        r.errors
    )?;
    if let Some(why) = &r.first_error {
        writeln!(out, "first request without an answer: {why}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("urn:mpi|7 a"), "urn%3Ampi%7C7%20a");
        assert_eq!(encode("Zoë"), "Zo%C3%AB");
        assert_eq!(encode("plain-1.2_x~"), "plain-1.2_x~");
    }
}
