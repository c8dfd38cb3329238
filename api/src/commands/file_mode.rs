//! What the file-mode batch commands (`mpi dedupe --input`, `mpi link`, `mpi train`) share: reading
//! a person CSV into normalized records, choosing the model (a file, or one fitted to the input by
//! EM without labels), scoring and clustering, writing `pairs.csv` and `clusters.csv`, and progress
//! bars on stderr.
//!
//! Input is read leniently unless `--strict` ([`ReadArgs`]): a bad field costs the field (see
//! [`crate::person_csv`]), a bad row (no id, a duplicate id, a wrong number of fields) is skipped,
//! and each is a `line,column,reason` row of a warnings file (never the value), counted in one
//! line on stderr. Before the work starts, the columns understood and ignored go to stderr.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use matcher::batch::normalize_all;
use matcher::blocking::BlockingConfig;
use matcher::scoring::ReviewReason;
use matcher::training::{TrainConfig, train};
use matcher::{Model, NormalizedRecord, PersonRecord};

use super::import::ImportFormat;
use crate::exit_code::InputDataError;
use crate::fhir::import::{BundleReader, FhirItem, FhirLayout, FhirRecord, NdjsonReader};
use crate::person_csv::{PersonCsvError, PersonCsvReader, PersonRow, ReadOptions, RowError};

/// Rows read and normalized at a time: raw records never pile up.
const READ_CHUNK: usize = 8_192;

/// Records of one person CSV, normalized, with their ids and lines.
#[derive(Debug, Default)]
pub struct Records {
    /// Ids in file order.
    pub ids: Vec<String>,
    /// Normalized records, parallel to `ids`.
    pub records: Vec<NormalizedRecord>,
}

/// Progress reporting on stderr: hidden when stderr is not a terminal or with `--quiet`.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    visible: bool,
}

impl Progress {
    /// Progress shown unless `quiet` or stderr is not a terminal.
    pub fn new(quiet: bool) -> Self {
        Progress {
            visible: !quiet && std::io::stderr().is_terminal(),
        }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }

    /// A byte-counting bar over a file of `len` bytes (rate and ETA).
    pub fn bytes(&self, len: u64, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(len), self.target());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar
    }

    /// A counting bar of `len` items (rate and ETA).
    pub fn count(&self, len: u64, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(len), self.target());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {human_pos}/{human_len} {per_sec} ETA {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar
    }

    /// A spinner for a phase of unknown length.
    pub fn phase(&self, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.target());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }
}

/// `--columns`: `COLUMN=HEADER,...`.
#[derive(Clone, Debug)]
pub struct ColumnMap(pub Vec<(String, String)>);

fn parse_column_map(text: &str) -> Result<ColumnMap, String> {
    ReadOptions::parse_columns(text).map(ColumnMap)
}

/// How the file-mode commands read a person CSV.
#[derive(Clone, Debug, Default, Args)]
pub struct ReadArgs {
    /// Refuse the input at its first bad field or row (exit code 3) instead of keeping every
    /// record and listing what was dropped in the warnings file.
    #[arg(long)]
    pub strict: bool,
    /// The file's layout.
    #[command(flatten)]
    pub layout: LayoutArgs,
}

impl ReadArgs {
    /// The reader options these flags ask for.
    pub fn options(&self) -> anyhow::Result<ReadOptions> {
        self.layout.options(!self.strict)
    }
}

/// A person CSV's own layout: its columns, delimiter and date order (the file-mode commands and
/// `mpi import`).
#[derive(Clone, Debug, Default, Args)]
pub struct LayoutArgs {
    /// Column mapping ahead of the recognised synonyms: `given_name=FirstName,family_name=LAST`.
    #[arg(long, value_name = "COLUMN=HEADER,...", value_parser = parse_column_map)]
    pub columns: Option<ColumnMap>,
    /// A file of `COLUMN=HEADER` lines (`#` starts a comment), read after `--columns`.
    #[arg(long, value_name = "FILE")]
    pub columns_file: Option<PathBuf>,
    /// The field delimiter (`,`, `;`, `|` or `tab`); default: detected from the header row.
    #[arg(long, value_name = "CHAR", value_parser = ReadOptions::parse_delimiter)]
    pub delimiter: Option<u8>,
    /// How the file writes birth dates of three numbers with the year last: `dmy`
    /// (`DD/MM/YYYY`) or `mdy` (`MM/DD/YYYY`, the United States). Default: inferred from the
    /// first 10,000 rows' dates that fit only one order; when they do not tell, such a date is
    /// a warning, read day first unless the first number cannot be a day's month, and no date
    /// `mpi import` can store.
    #[arg(long, value_name = "ORDER", value_enum)]
    pub date_order: Option<crate::person_csv::DateOrder>,
}

impl LayoutArgs {
    /// The reader options these flags ask for, reading leniently or not.
    pub fn options(&self, lenient: bool) -> anyhow::Result<ReadOptions> {
        let mut columns = self.columns.clone().map(|c| c.0).unwrap_or_default();
        if let Some(path) = &self.columns_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the column mapping {}", path.display()))?;
            columns.extend(
                ReadOptions::parse_columns(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            );
        }
        Ok(ReadOptions {
            lenient,
            delimiter: self.delimiter,
            columns,
            date_order: self.date_order,
            line_ids: false,
        })
    }
}

/// The warnings file of a lenient read: `line,column,reason` (`file,line,column,reason` when
/// several inputs share it), written as rows are read.
pub struct Warnings {
    path: PathBuf,
    writer: csv::Writer<std::fs::File>,
    with_file: bool,
    count: u64,
    skipped: u64,
}

impl Warnings {
    /// Creates (or replaces) `path`, creating its directory.
    pub fn create(path: PathBuf, with_file: bool) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        }
        let mut writer = csv::Writer::from_path(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let header: &[&str] = if with_file {
            &["file", "line", "column", "reason"]
        } else {
            &["line", "column", "reason"]
        };
        writer
            .write_record(header)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Warnings {
            path,
            writer,
            with_file,
            count: 0,
            skipped: 0,
        })
    }

    fn add(&mut self, file: &Path, e: &RowError, skipped: bool) -> anyhow::Result<()> {
        let reason = if skipped {
            format!("{} (row skipped)", e.reason)
        } else {
            e.reason.clone()
        };
        let line = e.line.to_string();
        let file = file.display().to_string();
        let mut fields = vec![line.as_str(), e.column.as_str(), reason.as_str()];
        if self.with_file {
            fields.insert(0, &file);
        }
        self.writer
            .write_record(&fields)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.count += 1;
        self.skipped += u64::from(skipped);
        Ok(())
    }

    /// Flushes the file and says on stderr how many warnings it holds.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.writer
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        if self.count > 0 {
            eprintln!(
                "{} warnings ({} rows skipped, the other records kept without the bad field): see {}",
                self.count,
                self.skipped,
                self.path.display()
            );
        }
        Ok(())
    }
}

/// Says on stderr how `reader` reads its file: delimiter, columns understood, columns ignored,
/// and the order of day and month inferred.
pub fn describe_columns<R: std::io::Read>(reader: &PersonCsvReader<R>) {
    let delimiter = match reader.delimiter() {
        b'\t' => "tab".to_owned(),
        d => format!("'{}'", d as char),
    };
    let mapping: Vec<String> = reader
        .mapping()
        .iter()
        .map(|(column, header)| {
            if column == header {
                (*column).to_owned()
            } else {
                format!("{column}={header}")
            }
        })
        .collect();
    let ignored = reader.ignored();
    let mapping = if reader.ids_are_line_numbers() {
        let mut with_lines = vec!["id=(line number: the file has no id column)".to_owned()];
        with_lines.extend(mapping);
        with_lines
    } else {
        mapping
    };
    eprintln!(
        "{}: delimiter {delimiter}; columns {}; ignored: {}",
        reader.path().display(),
        mapping.join(", "),
        if ignored.is_empty() {
            "none".to_owned()
        } else {
            ignored.join(", ")
        }
    );
    if let Some(note) = date_order_note(reader) {
        eprintln!("{}: {note}", reader.path().display());
    }
}

/// What `reader` inferred about its file's order of day and month, for stderr; `None` when the
/// order was given or the file has no birth dates written `A/B/YYYY`. Counts only, no value.
fn date_order_note<R: std::io::Read>(reader: &PersonCsvReader<R>) -> Option<String> {
    let inferred = reader.date_order()?;
    let (dmy, mdy) = (inferred.day_first, inferred.month_first);
    Some(match inferred.order {
        Some(order) => format!(
            "birth dates read as {} (inferred from the first rows: {} fit only day first, {} only \
             month first; --date-order says otherwise)",
            order.pattern(),
            dmy,
            mdy
        ),
        None if dmy + mdy == 0 => return None,
        None => format!(
            "birth dates written A/B/YYYY in both orders ({dmy} fit only day first, {mdy} only \
             month first): each is read day first unless it cannot be; --date-order says how \
             the file writes them"
        ),
    })
}

/// Reads and normalizes every row of `path`. Strict (`warnings` is `None`): the first bad row, a
/// duplicate id or an empty file is an [`InputDataError`]. Lenient: bad fields and skipped rows
/// go to `warnings`; only an unreadable header or a file without any good row is an error.
pub fn read_records(
    path: &Path,
    progress: Progress,
    options: &ReadOptions,
    mut warnings: Option<&mut Warnings>,
) -> anyhow::Result<Records> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read", path.display()))?
        .len();
    let options = ReadOptions {
        lenient: warnings.is_some(),
        // Strict reading refuses a file without an id column, as it did before.
        line_ids: warnings.is_some(),
        ..options.clone()
    };
    let reader: Box<dyn Iterator<Item = Result<PersonRow, PersonCsvError>>> =
        match super::import::detect(path, ImportFormat::Auto)? {
            ImportFormat::Ndjson => Box::new(fhir_rows(path, FhirLayout::Ndjson)?),
            ImportFormat::Bundle => Box::new(fhir_rows(path, FhirLayout::Bundle)?),
            ImportFormat::Auto | ImportFormat::Csv => {
                let reader =
                    PersonCsvReader::open_with(path, &[], &options).map_err(input_or_runtime)?;
                describe_columns(&reader);
                Box::new(reader)
            }
        };
    let bar = progress.bytes(len, "reading");
    let started = std::time::Instant::now();
    let mut ids: Vec<String> = Vec::new();
    // Parsing (this thread) and normalizing (another thread, fanned out over rayon's pool) run
    // side by side, a chunk at a time: in turns, parsing a 10M-record file waited for each
    // chunk's normalization and left a core idle for most of the minute and a half it read.
    let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<PersonRecord>>(2);
    let records = std::thread::scope(|scope| -> anyhow::Result<Vec<NormalizedRecord>> {
        let normalizer = scope.spawn(move || {
            let mut records: Vec<NormalizedRecord> = Vec::new();
            for chunk in received {
                records.extend(normalize_all(&chunk));
            }
            records
        });
        let mut records_read = 0u64;
        let mut lines: HashMap<String, u64> = HashMap::new();
        let mut raw: Vec<PersonRecord> = Vec::with_capacity(READ_CHUNK);
        let mut read_bytes = 0u64;
        for row in reader {
            let row = match (row, warnings.as_deref_mut()) {
                (Ok(row), _) => row,
                (Err(e), Some(w)) if e.row().is_some() => {
                    if let Some(r) = e.row() {
                        w.add(path, r, true)?;
                    }
                    continue;
                }
                (Err(e), _) => return Err(input_or_runtime(e)),
            };
            if let Some(&first) = lines.get(&row.id) {
                let reason = format!("duplicate id (first on line {first})");
                match warnings.as_deref_mut() {
                    Some(w) => {
                        let e = RowError {
                            line: row.line,
                            column: "id".into(),
                            reason,
                        };
                        w.add(path, &e, true)?;
                        continue;
                    }
                    None => {
                        return Err(InputDataError(format!(
                            "{}:{}: column id: {reason}",
                            path.display(),
                            row.line
                        ))
                        .into());
                    }
                }
            }
            lines.insert(row.id.clone(), row.line);
            if let Some(w) = warnings.as_deref_mut() {
                for e in &row.warnings {
                    w.add(path, e, false)?;
                }
            }
            // An approximation of the bytes consumed (the reader does not expose its offset).
            read_bytes += estimate_len(&row.record) + row.id.len() as u64;
            ids.push(row.id);
            raw.push(row.record);
            if raw.len() == READ_CHUNK {
                records_read += raw.len() as u64;
                let full = std::mem::replace(&mut raw, Vec::with_capacity(READ_CHUNK));
                chunks
                    .send(full)
                    .map_err(|_| anyhow::anyhow!("the normalizing thread stopped"))?;
                bar.set_position(read_bytes.min(len));
                let rate = records_read as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!("reading {:.0}k rec/s", rate / 1000.0));
            }
        }
        if !raw.is_empty() {
            chunks
                .send(raw)
                .map_err(|_| anyhow::anyhow!("the normalizing thread stopped"))?;
        }
        drop(chunks);
        drop(lines);
        normalizer
            .join()
            .map_err(|_| anyhow::anyhow!("normalizing the records failed"))
    })?;
    let out = Records { ids, records };
    bar.finish_and_clear();
    if out.ids.is_empty() {
        return Err(InputDataError(format!("{}: no records", path.display())).into());
    }
    if out.ids.len() > u32::MAX as usize {
        return Err(InputDataError(format!("{}: too many records", path.display())).into());
    }
    Ok(out)
}

/// The Patient resources of a FHIR NDJSON file or Bundle (as `mpi import` reads them, each
/// through the FHIR facade's mapping) as rows: a row's id is its `Patient.id`, its line the
/// NDJSON line or the Bundle entry's index; a resource the facade refuses is a bad row naming the
/// element (`Patient.birthDate`), skipped with a warning when reading leniently.
fn fhir_rows(
    path: &Path,
    layout: FhirLayout,
) -> anyhow::Result<impl Iterator<Item = Result<PersonRow, PersonCsvError>>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let items: Box<dyn Iterator<Item = FhirItem>> = match layout {
        FhirLayout::Ndjson => Box::new(NdjsonReader::new(
            std::io::BufReader::with_capacity(1 << 16, file),
            path,
        )),
        FhirLayout::Bundle => Box::new(BundleReader::new(
            std::io::BufReader::with_capacity(1 << 16, file),
            path,
        )),
    };
    let kind = match layout {
        FhirLayout::Ndjson => "FHIR NDJSON, a line per Patient",
        FhirLayout::Bundle => "a FHIR Bundle, warnings at entry indexes from 0",
    };
    eprintln!(
        "{}: {kind}; the Patient resources' ids, names, gender, birth dates, addresses, telecoms and identifiers read",
        path.display()
    );
    let path = path.to_owned();
    Ok(items.map(move |item| match item {
        Ok(FhirRecord::Patient {
            position,
            id,
            input,
        }) => Ok(PersonRow {
            line: position,
            id,
            record: service::convert::person_from_input(&input),
            extra: Vec::new(),
            warnings: Vec::new(),
        }),
        Ok(FhirRecord::Rejected {
            position,
            field,
            reason,
        }) => Err(PersonCsvError::Row(
            RowError {
                line: position,
                column: field,
                reason,
            },
            path.clone(),
        )),
        Err(e) => Err(PersonCsvError::Unreadable(e.0)),
    }))
}

fn estimate_len(r: &PersonRecord) -> u64 {
    let strings = r.given_names.iter().map(String::len).sum::<usize>()
        + r.family_names.iter().map(String::len).sum::<usize>()
        + r.birth_date.as_ref().map_or(0, String::len)
        + r.addresses
            .iter()
            .map(|a| {
                a.lines.iter().map(String::len).sum::<usize>()
                    + [&a.city, &a.state, &a.postal_code, &a.country]
                        .iter()
                        .map(|v| v.as_ref().map_or(0, String::len))
                        .sum::<usize>()
            })
            .sum::<usize>()
        + r.phones.iter().map(String::len).sum::<usize>()
        + r.emails.iter().map(String::len).sum::<usize>()
        + r.identifiers
            .iter()
            .map(|i| i.system.len() + i.value.len())
            .sum::<usize>();
    (strings + 24) as u64
}

/// Row and header errors are input data errors; I/O errors are runtime errors.
fn input_or_runtime(e: PersonCsvError) -> anyhow::Error {
    match e {
        PersonCsvError::Open { .. } | PersonCsvError::Io { .. } => anyhow::Error::new(e),
        _ => InputDataError::from(e).into(),
    }
}

/// Candidate selection of the file-mode commands (the batch blocking of the matcher).
pub fn blocking() -> BlockingConfig {
    BlockingConfig::batch()
}

/// Which model a command used, for its summary line.
#[derive(Clone, Debug)]
pub enum ModelSource {
    /// Loaded from a file.
    File(PathBuf),
    /// Fitted to the input by EM without labels.
    Fitted {
        /// EM iterations.
        iterations: usize,
        /// Whether EM converged.
        converged: bool,
        /// Estimated share of matches among candidate pairs.
        match_share: f64,
    },
    /// The built-in model, because no model could be fitted to the input.
    Builtin {
        /// Why fitting failed.
        reason: String,
    },
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::File(p) => write!(f, "loaded from {}", p.display()),
            ModelSource::Fitted {
                iterations,
                converged,
                match_share,
            } => write!(
                f,
                "fitted to the input without labels (EM: {iterations} iterations, {}, match share among candidates {match_share:.4})",
                if *converged {
                    "converged"
                } else {
                    "not converged"
                }
            ),
            ModelSource::Builtin { reason } => write!(
                f,
                "built-in: no model could be fitted to the input ({reason}); pass --model to choose one"
            ),
        }
    }
}

/// Loads `path`.
pub fn load_model(path: &Path) -> anyhow::Result<(Model, ModelSource)> {
    let model =
        Model::load(path).with_context(|| format!("cannot load the model {}", path.display()))?;
    Ok((model, ModelSource::File(path.to_owned())))
}

/// Why no model was fitted to an input.
#[derive(Debug)]
pub enum NoFit {
    /// EM could not run (too few records or candidate pairs).
    Failed(matcher::Error),
    /// EM settled on "every candidate pair is a non-match" (see [`expects_a_match`]).
    NoMatch {
        /// Candidate pairs fitted over.
        pairs: usize,
        /// EM iterations.
        iterations: usize,
        /// The fitted share of matches among the candidates.
        match_share: f64,
    },
}

impl std::fmt::Display for NoFit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoFit::Failed(e) => write!(f, "{e}"),
            NoFit::NoMatch {
                pairs,
                iterations,
                match_share,
            } => write!(
                f,
                "the fit found no match among the {pairs} candidate pairs (EM: {iterations} \
                 iterations, match share {match_share:.2e})"
            ),
        }
    }
}

/// Fits a model to `records` over `pairs` (indices into `records`) by EM without labels.
pub fn fit(
    records: &[NormalizedRecord],
    pairs: &[(u32, u32)],
) -> Result<(Model, ModelSource), NoFit> {
    let report = train(records, pairs, &TrainConfig::default()).map_err(NoFit::Failed)?;
    if !expects_a_match(report.candidate_match_share, pairs.len()) {
        return Err(NoFit::NoMatch {
            pairs: pairs.len(),
            iterations: report.iterations,
            match_share: report.candidate_match_share,
        });
    }
    let source = ModelSource::Fitted {
        iterations: report.iterations,
        converged: report.converged,
        match_share: report.candidate_match_share,
    };
    Ok((report.model, source))
}

/// [`fit`] for a model to be written (`mpi train`): a fit that finds no match is an error, since
/// such a model calls every pair a non-match.
pub fn fit_model(
    records: &[NormalizedRecord],
    pairs: &[(u32, u32)],
) -> anyhow::Result<(Model, ModelSource)> {
    fit(records, pairs).map_err(|why| match why {
        NoFit::Failed(e) => anyhow::Error::new(e)
            .context("cannot fit a model to the input (too few records or candidate pairs?)"),
        NoFit::NoMatch { .. } => anyhow::anyhow!(
            "{why}: such a model calls every pair a non-match, so it is not written; train on a \
             larger file (`mpi dedupe --input` without --model scores such a file with the \
             built-in model)"
        ),
    })
}

/// [`fit`], or the built-in model when the input cannot be fitted (too few records or no
/// candidate pairs) or the fit found no match at all among the candidates (EM settling on "every
/// candidate pair is a non-match", which a small file of a few dozen records can lead it to): a
/// batch run still gives its answer, and says which model gave it.
pub fn fit_or_builtin(records: &[NormalizedRecord], pairs: &[(u32, u32)]) -> (Model, ModelSource) {
    fit(records, pairs).unwrap_or_else(|why| {
        (
            Model::builtin(),
            ModelSource::Builtin {
                reason: why.to_string(),
            },
        )
    })
}

/// Whether a fitted match share expects at least half a matching pair among `pairs` candidates:
/// below that the fitted model calls every pair a non-match, whatever its evidence.
fn expects_a_match(match_share: f64, pairs: usize) -> bool {
    match_share * pairs as f64 >= 0.5
}

/// Creates `dir` (and parents) and opens `dir/name` for buffered writing.
pub fn create_output(
    dir: &Path,
    name: &str,
) -> anyhow::Result<(PathBuf, csv::Writer<std::fs::File>)> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the output directory {}", dir.display()))?;
    let path = dir.join(name);
    let writer = csv::WriterBuilder::new()
        .buffer_capacity(1 << 20)
        .from_path(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok((path, writer))
}

/// One row of `pairs.csv`: the two ids, the match probability and weight, and the review rule
/// that kept the pair from being linked automatically, if any.
pub type PairRow<'a> = (&'a str, &'a str, f64, f64, Option<ReviewReason>);

/// Writes `pairs.csv`: `id_a,id_b,match_probability,match_weight,review_reason`, one row per pair
/// (`review_reason` empty unless a review rule held the pair back from the clusters).
pub fn write_pairs<'a>(
    dir: &Path,
    pairs: impl Iterator<Item = PairRow<'a>>,
) -> anyhow::Result<(PathBuf, usize)> {
    let (path, mut w) = create_output(dir, "pairs.csv")?;
    let context = || format!("cannot write {}", path.display());
    w.write_record([
        "id_a",
        "id_b",
        "match_probability",
        "match_weight",
        "review_reason",
    ])
    .with_context(context)?;
    let mut count = 0;
    let mut p = String::new();
    let mut m = String::new();
    for (a, b, probability, weight, reason) in pairs {
        p.clear();
        m.clear();
        use std::fmt::Write as _;
        let _ = write!(p, "{probability:.6}");
        let _ = write!(m, "{weight:.4}");
        let reason = reason.map_or("", ReviewReason::as_str);
        w.write_record([a, b, p.as_str(), m.as_str(), reason])
            .with_context(context)?;
        count += 1;
    }
    w.flush().with_context(context)?;
    Ok((path, count))
}

/// Writes `clusters.csv`: `id,cluster_id`, one row per record.
pub fn write_clusters<'a>(
    dir: &Path,
    rows: impl Iterator<Item = (&'a str, &'a str)>,
) -> anyhow::Result<PathBuf> {
    let (path, mut w) = create_output(dir, "clusters.csv")?;
    let context = || format!("cannot write {}", path.display());
    w.write_record(["id", "cluster_id"]).with_context(context)?;
    for (id, cluster) in rows {
        w.write_record([id, cluster]).with_context(context)?;
    }
    w.flush().with_context(context)?;
    Ok(path)
}

/// Writes a summary line to stdout.
pub fn say(out: &mut dyn Write, line: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    writeln!(out, "{line}").context("cannot write to standard output")
}
