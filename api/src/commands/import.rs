//! `mpi import FILE`: loads patients into the database in batches (one transaction and one
//! audit row per batch, through `service::import`), streaming the file in constant memory, with a
//! progress display on stderr unless `--quiet` or stderr is not a terminal: records written
//! (against the file's records, estimated from the bytes read until the whole file is read),
//! their rate and the time left, then the final phases (PostgreSQL's vacuum, closing the
//! database) as steps of their own. Rejects are explained on stderr at the end.
//!
//! Formats (`--format`, default `auto`): a person CSV; FHIR R4 Patient NDJSON (one Patient per
//! line); a FHIR Bundle whose entries hold Patient resources. `auto` goes by the extension
//! (`.csv`; `.ndjson`, `.jsonl`) and otherwise by the content (see [`crate::fhir::import`]).
//!
//! The file is read, parsed and validated on a thread of its own, one batch ahead of the
//! database writes (a bounded channel of two batches keeps memory constant), so parsing and
//! writing overlap.
//!
//! Bad records (unreadable fields, invalid values, an identifier another live patient or an
//! earlier record holds) go to the rejects file (`FILE.rejects.csv` or `--rejects PATH`), sorted
//! by position within each batch, while good records are imported. Its columns are
//! `line,column,reason` for a CSV, `line,field,reason` for NDJSON and `entry,field,reason` for a
//! Bundle (fields as FHIR paths, entries counted from 0). Each record is keyed on its source
//! identifier (`urn:mpi:import:<source>` with the row's `id` or the Patient's `id`; `--source`
//! defaults to the file's stem), so importing a file again creates no duplicates. In a CSV, a
//! `mrn` without `mrn_system` gets the system `urn:mpi:import:<source>:mrn`, and so does a
//! mother's identifier without a system (`mother_identifier_value` alone, or `mother_identifier`
//! without `SYSTEM|`): the mother of a facility's child is most often its own patient.
//! `--dry-run` validates everything (against the database, and across the whole file) and writes
//! nothing. No duplicate check is applied: run `mpi dedupe` afterwards.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use indicatif::HumanCount;
use tokio::task::JoinHandle;

use entity::enums::{DatePrecision, Gender, NameUse, TelecomSystem};
use matcher::{PersonRecord, Sex};
use service::Ctx;
use service::import::{self, BatchOutcome, ImportRow, Importer, Rejected};
use service::patients::{
    AddressInput, IdentifierInput, MotherIdentifier, MotherInput, NameInput, PatientInput,
    TelecomInput,
};

use crate::configuration::{DatabaseKind, DatabaseSettings, DomainSettings};
use crate::database;
use crate::exit_code::InputDataError;
use crate::fhir::import::{FhirLayout, FhirRecord};
use crate::fhir::operation_outcome::fhir_expression;
use crate::person_csv::PersonCsvReader;
use crate::progress::{self, Display};

/// Arguments of `mpi import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The file to import: a person CSV, FHIR Patient NDJSON or a FHIR Bundle.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The file's format.
    #[arg(long, value_enum, default_value_t = ImportFormat::Auto)]
    pub format: ImportFormat,
    /// Where rejected records go (default: FILE.rejects.csv).
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,
    /// The source's name in the records' source identifiers (default: the file name's stem).
    #[arg(long)]
    pub source: Option<String>,
    /// Records per transaction (default: 50,000 on SQLite, 10,000 on PostgreSQL).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Validate only; write nothing to the database.
    #[arg(long)]
    pub dry_run: bool,
    /// CSV: store a record with a bad field (date, sex code, phone, ...) without that field,
    /// listed in the rejects file as a `warning:`, instead of rejecting the record.
    #[arg(long)]
    pub lenient: bool,
    /// CSV: the file's own columns, delimiter and date order.
    #[command(flatten)]
    pub layout: super::file_mode::LayoutArgs,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Identifier domains: with `--unknown-domains reject`, a record holding an identifier of
    /// an unregistered system is a reject line.
    #[command(flatten)]
    pub domains: DomainSettings,
}

/// The layouts `mpi import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// By extension, then by content.
    Auto,
    /// A person CSV.
    Csv,
    /// FHIR R4 Patient resources, one per line.
    Ndjson,
    /// A FHIR Bundle of Patient resources.
    Bundle,
}

/// Records per transaction on SQLite unless `--batch-size` says otherwise. SQLite has one writer
/// and rewrites every index page a transaction touches (in the WAL, then at the checkpoint), so
/// fewer, larger transactions write less: at 1M records 50,000 took 270 s where 10,000 took
/// 327 s, for a peak of 2.0 GB instead of 1.1 GB.
pub const SQLITE_BATCH: usize = 50_000;

/// Records per transaction on PostgreSQL unless `--batch-size` says otherwise (two batches are
/// written at once).
pub const POSTGRES_BATCH: usize = 10_000;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Records read (good and bad).
    pub rows: u64,
    /// Patients created (would be created, for a dry run).
    pub created: u64,
    /// Records already imported before.
    pub skipped: u64,
    /// Records rejected.
    pub rejected: u64,
}

/// One reject: position, column or field, reason.
type Reject = (u64, String, String);

/// A batch being written: what it did and the records the reading thread refused in it.
/// The records of the batch (good and bad) ride along, for the progress display.
type BatchWrite = JoinHandle<service::Result<(BatchOutcome, Vec<Reject>, u64)>>;

/// What the reading thread hands over: a batch of records and the records it refused.
struct Chunk {
    rows: Vec<ImportRow>,
    rejects: Vec<Reject>,
    /// Records read in this chunk (good and bad).
    read: u64,
    /// Bytes of the file read when the chunk was full (for the estimate of the file's records).
    bytes: u64,
}

/// The opened input file.
enum Input {
    Csv(Box<PersonCsvReader<Counting>>),
    Fhir(Counting, FhirLayout),
}

/// A file that cannot be read any further.
enum Stop {
    /// The content is at fault (exit code 3).
    Input(String),
    /// I/O.
    Io(String),
}

/// Runs `mpi import`, printing a summary to `out`.
pub async fn run(args: ImportArgs, out: &mut dyn Write) -> anyhow::Result<ImportSummary> {
    let started = Instant::now();
    let source = match &args.source {
        Some(s) => s.clone(),
        None => args
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned()),
    };
    let format = detect(&args.file, args.format)?;
    let rejects_path = args
        .rejects
        .clone()
        .unwrap_or_else(|| default_rejects(&args.file));
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?
        .len();
    // Bytes the reading thread has consumed, for the progress bar.
    let bytes_read = Arc::new(AtomicU64::new(0));
    let input = Counting::open(&args.file, Arc::clone(&bytes_read))?;
    // Open the CSV before touching the database, so a bad header fails fast.
    let input = match format {
        ImportFormat::Csv => Input::Csv(Box::new(
            PersonCsvReader::with_options(
                input,
                &args.file,
                &[],
                &args.layout.options(args.lenient)?,
            )
            .map_err(InputDataError::from)?,
        )),
        ImportFormat::Bundle => Input::Fhir(input, FhirLayout::Bundle),
        _ => Input::Fhir(input, FhirLayout::Ndjson),
    };
    if let Input::Csv(reader) = &input {
        crate::commands::file_mode::describe_columns(reader);
    }
    let db = database::connect_bulk(&args.database)
        .await
        .with_context(|| format!("cannot open {}", args.database.redacted_url()))?;
    database::migrate_up(&db, None)
        .await
        .context("cannot apply migrations")?;
    let ctx = Ctx::system("mpi-import");
    let mut rejects = csv::Writer::from_path(&rejects_path)
        .with_context(|| format!("cannot create {}", rejects_path.display()))?;
    let (unit, header) = match format {
        ImportFormat::Bundle => ("entries", ["entry", "field", "reason"]),
        ImportFormat::Ndjson => ("rows", ["line", "field", "reason"]),
        _ => ("rows", ["line", "column", "reason"]),
    };
    rejects.write_record(header)?;

    // Counts records written (imported, skipped or rejected) against an estimate of the file's
    // records from the bytes read so far, exact once the whole file is read.
    let display = Display::new(args.quiet);
    let bar = display.counter(if args.dry_run { "check" } else { "import" }, unit, 0);
    // The reading thread: parse and validate one batch ahead of the writes.
    let postgres = args.database.kind() == DatabaseKind::Postgres;
    let batch_size = args
        .batch_size
        .unwrap_or(if postgres {
            POSTGRES_BATCH
        } else {
            SQLITE_BATCH
        })
        .max(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Chunk, Stop>>(2);
    let file = args.file.clone();
    let source_for_reader = source.clone();
    let bytes = Arc::clone(&bytes_read);
    let reader = std::thread::spawn(move || match input {
        Input::Csv(reader) => read_csv(*reader, &source_for_reader, batch_size, &tx, &bytes),
        Input::Fhir(input, layout) => read_fhir(input, &file, layout, batch_size, &tx, &bytes),
    });

    let registry = service::domains::Registry::load(
        &db,
        &args.domains.enterprise(),
        args.domains.unknown_domains,
    )
    .await
    .context("cannot read the identifier domains")?;
    let mut importer = Importer::new(&source, args.dry_run).with_domains(Arc::new(registry));
    let mut summary = ImportSummary::default();
    let fhir = format != ImportFormat::Csv;
    let mut stopped: Option<Stop> = None;
    let mut read: u64 = 0;
    // Batch k is written while batch k+1 is read, checked and turned into statements. SQLite
    // takes one writer at a time; PostgreSQL takes two batches at once on separate
    // connections (each its own transaction), so both cores work.
    let in_flight = if postgres { 2 } else { 1 };
    let mut writes: VecDeque<BatchWrite> = VecDeque::new();
    // How often each (column, reason) occurred, to explain the rejects at the end.
    let mut reasons: HashMap<(String, String), u64> = HashMap::new();
    // Records whose mother a batch did not find (on PostgreSQL she may be in the batch written
    // beside it), looked for again after the last batch.
    let mut unresolved_mothers = Vec::new();
    let mut report = |done: (BatchOutcome, Vec<Reject>, u64)| -> anyhow::Result<()> {
        let (mut outcome, mut all_rejects, records) = done;
        if postgres {
            unresolved_mothers.append(&mut outcome.unresolved_mothers);
        }
        let outcome_records = records;
        tally(&mut summary, &outcome, &mut all_rejects, fhir);
        all_rejects.sort_by_key(|r| r.0);
        for (line, column, reason) in &all_rejects {
            rejects.write_record([line.to_string().as_str(), column, reason])?;
            *reasons.entry((column.clone(), reason.clone())).or_default() += 1;
        }
        bar.inc(outcome_records);
        Ok(())
    };
    let result: anyhow::Result<()> = async {
        while let Some(item) = rx.recv().await {
            let chunk = match item {
                Ok(chunk) => chunk,
                Err(stop) => {
                    stopped = Some(stop);
                    break;
                }
            };
            read += chunk.read;
            // The file's records, estimated from the share of its bytes read so far.
            let bytes = chunk.bytes.clamp(1, size.max(1));
            let estimate = (read as f64 * size as f64 / bytes as f64).round() as u64;
            bar.set_length(estimate.max(read));
            let records = chunk.read;
            let prepared = importer
                .prepare(&db, &ctx, chunk.rows)
                .await
                .context("cannot import a batch")?;
            while writes.len() >= in_flight {
                if let Some(write) = writes.pop_front() {
                    report(finish(write).await?)?;
                }
            }
            let (db, ctx, rejects) = (db.clone(), ctx.clone(), chunk.rejects);
            writes.push_back(tokio::spawn(async move {
                Ok((prepared.write(&db, &ctx).await?, rejects, records))
            }));
        }
        // The whole file is read: its count is known.
        bar.set_length(read);
        while let Some(write) = writes.pop_front() {
            report(finish(write).await?)?;
        }
        Ok(())
    }
    .await;
    if result.is_err() {
        // Batches still in flight roll back.
        for write in &writes {
            write.abort();
        }
    }
    result?;
    summary.rows = read;
    drop(rx);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    display.finish_counter(&bar, unit);
    if stopped.is_none() && !unresolved_mothers.is_empty() {
        import::resolve_late_mothers(&db, &ctx, unresolved_mothers)
            .await
            .context("cannot resolve the mothers of the imported records")?;
    }
    if summary.created > 0 && !args.dry_run && postgres {
        let step = display.step("vacuum", "VACUUM (ANALYZE) of the patient tables");
        import::settle_imported_tables(&db)
            .await
            .context("cannot vacuum and analyze the imported tables")?;
        step.done();
    }
    rejects.flush()?;
    let step = display.step(
        "close",
        if postgres {
            "closing the database"
        } else {
            "checkpoint of the write-ahead log"
        },
    );
    db.close().await.context("cannot close the database")?;
    step.done();
    // Every record read was imported, skipped as imported before, or rejected.
    summary.rejected = summary.rows - summary.created - summary.skipped;
    writeln!(
        out,
        "{}{} {unit}: {} imported, {} already imported, {} rejected (see {}); source {}; {:.1} s",
        if args.dry_run { "dry run: " } else { "" },
        summary.rows,
        summary.created,
        summary.skipped,
        summary.rejected,
        rejects_path.display(),
        importer.system(),
        started.elapsed().as_secs_f64()
    )?;
    if summary.rejected > 0 {
        explain_rejects(&reasons, summary.rejected, unit, &rejects_path, fhir);
    }
    match stopped {
        None => Ok(summary),
        Some(Stop::Input(message)) => {
            Err(InputDataError(format!("{message} (the records before it were imported)")).into())
        }
        Some(Stop::Io(message)) => Err(anyhow::anyhow!(message)),
    }
}

/// Says on stderr what the rejects are: the commonest reasons with their counts, what the most
/// surprising one means, and where the rejected records are.
fn explain_rejects(
    reasons: &HashMap<(String, String), u64>,
    rejected: u64,
    unit: &str,
    rejects_path: &Path,
    fhir: bool,
) {
    let mut counted: Vec<(&(String, String), &u64)> = reasons.iter().collect();
    counted.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let place = if fhir { "field" } else { "column" };
    let mut lines = vec![format!(
        "mpi import: {} {unit} rejected, not imported; each is in {} with its position and \
         reason. Most common reasons:",
        HumanCount(rejected),
        rejects_path.display()
    )];
    const SHOWN: usize = 5;
    for ((column, reason), count) in counted.iter().take(SHOWN) {
        let at = if column.is_empty() {
            String::new()
        } else {
            format!("{place} {column}: ")
        };
        lines.push(format!(
            "{:>12}  {at}{reason}",
            HumanCount(**count).to_string()
        ));
    }
    if counted.len() > SHOWN {
        lines.push(format!(
            "{:>12}  ({} other reasons)",
            "",
            counted.len() - SHOWN
        ));
    }
    if reasons
        .keys()
        .any(|(_, reason)| reason == import::IDENTIFIER_TAKEN)
    {
        lines.extend(
            [
                "An identifier names one patient: a record whose identifier (system and value) a",
                "live patient or an earlier record of the file already holds is rejected, not stored",
                "as a second patient. If such records are separate registrations of one person (true",
                "duplicates), import them with identifiers of their own (as each facility assigns",
                "them) or without the shared one, then let `mpi dedupe` link them.",
            ]
            .map(str::to_owned),
        );
    }
    progress::eprint_line(&lines.join("\n"));
}

/// Waits for a batch's write.
async fn finish(write: BatchWrite) -> anyhow::Result<(BatchOutcome, Vec<Reject>, u64)> {
    write
        .await
        .context("a batch's write stopped")?
        .context("cannot import a batch")
}

/// The format of `file`: the one asked for, else by extension, else by content.
pub(crate) fn detect(file: &Path, asked: ImportFormat) -> anyhow::Result<ImportFormat> {
    if asked != ImportFormat::Auto {
        return Ok(asked);
    }
    let extension = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("csv") => return Ok(ImportFormat::Csv),
        Some("ndjson" | "jsonl") => return Ok(ImportFormat::Ndjson),
        _ => {}
    }
    let mut start = Vec::with_capacity(1 << 20);
    File::open(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .take(1 << 20)
        .read_to_end(&mut start)
        .with_context(|| format!("cannot read {}", file.display()))?;
    Ok(match crate::fhir::import::sniff(&start) {
        Some(FhirLayout::Ndjson) => ImportFormat::Ndjson,
        Some(FhirLayout::Bundle) => ImportFormat::Bundle,
        None => ImportFormat::Csv,
    })
}

fn tally(
    summary: &mut ImportSummary,
    outcome: &BatchOutcome,
    rejects: &mut Vec<Reject>,
    fhir: bool,
) {
    summary.created += outcome.created.len() as u64;
    summary.skipped += outcome.skipped.len() as u64;
    for Rejected {
        line,
        field,
        reason,
    } in &outcome.rejected
    {
        let field = if fhir {
            fhir_field(field)
        } else {
            field.clone()
        };
        rejects.push((*line, field, reason.clone()));
    }
}

/// A field the service names (`identifiers[1]`, `names[0].family`, `id`) as a FHIR path.
fn fhir_field(field: &str) -> String {
    match field {
        "" => String::new(),
        "id" => "Patient.id".to_owned(),
        f => fhir_expression(f),
    }
}

/// A buffered file reader that counts the bytes it has read, for the progress bar.
struct Counting {
    inner: std::io::BufReader<File>,
    count: Arc<AtomicU64>,
}

impl Counting {
    fn open(path: &Path, count: Arc<AtomicU64>) -> anyhow::Result<Counting> {
        let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Counting {
            inner: std::io::BufReader::with_capacity(1 << 16, file),
            count,
        })
    }
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Sender = tokio::sync::mpsc::Sender<Result<Chunk, Stop>>;

/// Hands a full chunk over (waiting while two are queued), noting the bytes read so far; false
/// when the import stopped.
fn hand_over(tx: &Sender, chunk: &mut Chunk, capacity: usize, bytes: &AtomicU64) -> bool {
    chunk.bytes = bytes.load(Ordering::Relaxed);
    tx.blocking_send(Ok(std::mem::replace(chunk, new_chunk(capacity))))
        .is_ok()
}

fn read_csv(
    reader: PersonCsvReader<Counting>,
    source: &str,
    batch_size: usize,
    tx: &Sender,
    bytes: &AtomicU64,
) {
    let mut chunk = new_chunk(batch_size);
    for item in reader {
        match item {
            Ok(mut row) => {
                chunk.read += 1;
                lenient_warnings(&mut row, &mut chunk.rejects);
                match patient_input(&row.record, source) {
                    Ok(input) => chunk.rows.push(ImportRow {
                        line: row.line,
                        source_id: row.id,
                        input,
                    }),
                    Err((column, reason)) => chunk.rejects.push((row.line, column, reason)),
                }
            }
            Err(e) => match e.row() {
                Some(r) => {
                    chunk.read += 1;
                    chunk
                        .rejects
                        .push((r.line, r.column.clone(), r.reason.clone()));
                }
                None => {
                    hand_over(tx, &mut chunk, 0, bytes);
                    let _ = tx.blocking_send(Err(Stop::Io(e.to_string())));
                    return;
                }
            },
        }
        if chunk.rows.len() >= batch_size && !hand_over(tx, &mut chunk, batch_size, bytes) {
            return;
        }
    }
    hand_over(tx, &mut chunk, 0, bytes);
}

/// A lenient read's warnings, as `warning:` lines of the rejects file; a birth date the reader
/// kept for the matcher (mistyped or partial) cannot be stored and is dropped.
fn lenient_warnings(row: &mut crate::person_csv::PersonRow, rejects: &mut Vec<Reject>) {
    let unstorable = row
        .record
        .birth_date
        .as_deref()
        .is_some_and(|d| parse_date(d).is_none());
    if unstorable && !row.warnings.is_empty() {
        row.record.birth_date = None;
    }
    for w in row.warnings.drain(..) {
        let reason = if w.column == "birth_date" && unstorable {
            "invalid date (stored without a birth date)".to_owned()
        } else {
            w.reason
        };
        rejects.push((w.line, w.column, format!("warning: {reason}")));
    }
}

fn read_fhir(
    input: Counting,
    file: &Path,
    layout: FhirLayout,
    batch_size: usize,
    tx: &Sender,
    bytes: &AtomicU64,
) {
    let records: Box<dyn Iterator<Item = crate::fhir::import::FhirItem>> = match layout {
        FhirLayout::Ndjson => Box::new(crate::fhir::import::NdjsonReader::new(
            std::io::BufReader::new(input),
            file,
        )),
        FhirLayout::Bundle => Box::new(crate::fhir::import::BundleReader::new(input, file)),
    };
    let mut chunk = new_chunk(batch_size);
    for item in records {
        match item {
            Ok(FhirRecord::Patient {
                position,
                id,
                input,
            }) => {
                chunk.read += 1;
                chunk.rows.push(ImportRow {
                    line: position,
                    source_id: id,
                    input: *input,
                });
            }
            Ok(FhirRecord::Rejected {
                position,
                field,
                reason,
            }) => {
                chunk.read += 1;
                chunk.rejects.push((position, field, reason));
            }
            Err(e) => {
                hand_over(tx, &mut chunk, 0, bytes);
                let _ = tx.blocking_send(Err(Stop::Input(e.to_string())));
                return;
            }
        }
        if chunk.rows.len() >= batch_size && !hand_over(tx, &mut chunk, batch_size, bytes) {
            return;
        }
    }
    hand_over(tx, &mut chunk, 0, bytes);
}

fn new_chunk(capacity: usize) -> Chunk {
    Chunk {
        rows: Vec::with_capacity(capacity),
        rejects: Vec::new(),
        read: 0,
        bytes: 0,
    }
}

/// Parses `YYYY-MM-DD` or `YYYYMMDD` (a full date), or `YYYY` or `YYYY-MM` (a partial date, its
/// first day with its precision, as REST stores one).
fn parse_date(text: &str) -> Option<(NaiveDate, DatePrecision)> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"))
        .ok()
        .map(|d| (d, DatePrecision::Day))
        .or_else(|| service::patients::parse_partial_date(text))
}

/// The patient a person CSV row describes; `Err((column, reason))` for a value the service
/// cannot store.
pub fn patient_input(r: &PersonRecord, source: &str) -> Result<PatientInput, (String, String)> {
    let birth = match &r.birth_date {
        Some(text) => Some(parse_date(text).ok_or_else(|| {
            (
                "birth_date".to_owned(),
                "not a date (YYYY-MM-DD, YYYYMMDD, YYYY-MM or YYYY)".to_owned(),
            )
        })?),
        None => None,
    };
    let gender = r.sex.map(|s| match s {
        Sex::Male => Gender::Male,
        Sex::Female => Gender::Female,
        Sex::Other => Gender::Other,
        Sex::Unknown => Gender::Unknown,
    });
    let names = if r.given_names.is_empty() && r.family_names.is_empty() {
        Vec::new()
    } else {
        vec![NameInput {
            family: r.family_names.first().cloned(),
            given: r.given_names.clone(),
            r#use: Some(NameUse::Official),
            ..Default::default()
        }]
    };
    let identifiers = r
        .identifiers
        .iter()
        .map(|i| IdentifierInput {
            system: if i.system.trim().is_empty() {
                format!("{}:mrn", import::source_system(source))
            } else {
                i.system.clone()
            },
            value: i.value.clone(),
            ..Default::default()
        })
        .collect();
    let addresses = r
        .addresses
        .iter()
        .map(|a| AddressInput {
            lines: a.lines.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
            ..Default::default()
        })
        .collect();
    let telecom = |system: TelecomSystem, value: &String| TelecomInput {
        system,
        value: value.clone(),
        r#use: None,
        rank: None,
        period: None,
    };
    let telecoms = r
        .phones
        .iter()
        .map(|p| telecom(TelecomSystem::Phone, p))
        .chain(r.emails.iter().map(|e| telecom(TelecomSystem::Email, e)))
        .collect();
    // The mother's identifier without a system is, like an `mrn` without one, the source's.
    let mother = MotherInput {
        maiden_family: r.maternity.mother_maiden_name.clone(),
        maiden_given: None,
        identifier: r
            .maternity
            .mother_identifier
            .as_ref()
            .map(|i| MotherIdentifier {
                system: if i.system.trim().is_empty() {
                    format!("{}:mrn", import::source_system(source))
                } else {
                    i.system.clone()
                },
                value: i.value.clone(),
            }),
        keep_stored_identifier: false,
    };
    Ok(PatientInput {
        gender,
        birth_date: birth.map(|b| b.0),
        birth_date_precision: birth.map_or(DatePrecision::Day, |b| b.1),
        names,
        identifiers,
        addresses,
        telecoms,
        mother,
        ..Default::default()
    })
}

/// The default rejects file of `file`.
pub fn default_rejects(file: &Path) -> PathBuf {
    let mut p = file.to_path_buf().into_os_string();
    p.push(".rejects.csv");
    PathBuf::from(p)
}
