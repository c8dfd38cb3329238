//! `mpi import FILE`: loads a person CSV into the database in batches (one transaction and one
//! audit row per batch, through `service::import`), streaming the file in constant memory, with a
//! progress bar (rate and ETA) on stderr unless `--quiet` or stderr is not a terminal.
//!
//! Bad rows (unreadable fields, invalid values, an identifier another live patient holds) go to
//! the rejects file (`FILE.rejects.csv` or `--rejects PATH`: `line,column,reason`) while good rows
//! are imported. Each record is keyed on its source identifier (`urn:mpi:import:<source>` with
//! the row's `id`; `--source` defaults to the file's stem), so importing a file again creates no
//! duplicates. A `mrn` without `mrn_system` gets the system `urn:mpi:import:<source>:mrn`.
//! `--dry-run` validates everything (against the database too) and writes nothing.
//! No duplicate check is applied: run `mpi dedupe` afterwards.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use entity::enums::{Gender, NameUse, TelecomSystem};
use matcher::{PersonRecord, Sex};
use service::import::{self, ImportRow, Rejected};
use service::patients::{AddressInput, IdentifierInput, NameInput, PatientInput, TelecomInput};
use service::{Ctx, import::BatchOutcome};

use crate::configuration::DatabaseSettings;
use crate::database;
use crate::person_csv::PersonCsvReader;

/// Arguments of `mpi import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The person CSV to import.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where rejected rows go (default: FILE.rejects.csv).
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,
    /// The source's name in the records' source identifiers (default: the file name's stem).
    #[arg(long)]
    pub source: Option<String>,
    /// Records per transaction.
    #[arg(long, default_value_t = 5_000)]
    pub batch_size: usize,
    /// Validate only; write nothing to the database.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Rows read (good and bad).
    pub rows: u64,
    /// Patients created (would be created, for a dry run).
    pub created: u64,
    /// Rows already imported before.
    pub skipped: u64,
    /// Rows rejected.
    pub rejected: u64,
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
    let rejects_path = args
        .rejects
        .clone()
        .unwrap_or_else(|| default_rejects(&args.file));
    let reader = PersonCsvReader::open(&args.file, &[])?;
    let size = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    let db = database::connect(&args.database)
        .await
        .with_context(|| format!("cannot open {}", args.database.redacted_url()))?;
    database::migrate_up(&db, None)
        .await
        .context("cannot apply migrations")?;
    let ctx = Ctx::system("mpi-import");
    let mut rejects = csv::Writer::from_path(&rejects_path)
        .with_context(|| format!("cannot create {}", rejects_path.display()))?;
    rejects.write_record(["line", "column", "reason"])?;

    let visible = !args.quiet && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        Some(size),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>8} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("import");

    let mut summary = ImportSummary::default();
    let mut batch: Vec<ImportRow> = Vec::with_capacity(args.batch_size.max(1));
    let mut bytes_seen = 0u64;
    for item in reader {
        match item {
            Ok(row) => {
                summary.rows += 1;
                bytes_seen =
                    bytes_seen.saturating_add(approx_len(&row.record) + row.id.len() as u64);
                match patient_input(&row.record, &source) {
                    Ok(input) => batch.push(ImportRow {
                        line: row.line,
                        source_id: row.id,
                        input,
                    }),
                    Err(r) => write_reject(&mut rejects, row.line, &r.0, &r.1)?,
                }
            }
            Err(e) => match e.row() {
                Some(r) => {
                    summary.rows += 1;
                    write_reject(&mut rejects, r.line, &r.column, &r.reason)?;
                }
                None => return Err(e.into()),
            },
        }
        if batch.len() >= args.batch_size.max(1) {
            let outcome =
                import::import_batch(&db, &ctx, &source, std::mem::take(&mut batch), args.dry_run)
                    .await
                    .context("cannot import a batch")?;
            tally(&mut summary, &outcome, &mut rejects)?;
            bar.set_position(bytes_seen.min(size));
        }
    }
    if !batch.is_empty() {
        let outcome = import::import_batch(&db, &ctx, &source, batch, args.dry_run)
            .await
            .context("cannot import a batch")?;
        tally(&mut summary, &outcome, &mut rejects)?;
    }
    bar.finish_and_clear();
    rejects.flush()?;
    // Every row read was imported, skipped as imported before, or rejected.
    summary.rejected = summary.rows - summary.created - summary.skipped;
    writeln!(
        out,
        "{}{} rows: {} imported, {} already imported, {} rejected (see {}); source {}; {:.1} s",
        if args.dry_run { "dry run: " } else { "" },
        summary.rows,
        summary.created,
        summary.skipped,
        summary.rejected,
        rejects_path.display(),
        import::source_system(&source),
        started.elapsed().as_secs_f64()
    )?;
    db.close().await.context("cannot close the database")?;
    Ok(summary)
}

fn tally(
    summary: &mut ImportSummary,
    outcome: &BatchOutcome,
    rejects: &mut csv::Writer<std::fs::File>,
) -> anyhow::Result<()> {
    summary.created += outcome.created.len() as u64;
    summary.skipped += outcome.skipped.len() as u64;
    for Rejected {
        line,
        field,
        reason,
    } in &outcome.rejected
    {
        write_reject(rejects, *line, field, reason)?;
    }
    Ok(())
}

fn write_reject(
    rejects: &mut csv::Writer<std::fs::File>,
    line: u64,
    column: &str,
    reason: &str,
) -> anyhow::Result<()> {
    rejects.write_record([line.to_string().as_str(), column, reason])?;
    Ok(())
}

/// Rough byte length of a row, for the progress bar.
fn approx_len(r: &PersonRecord) -> u64 {
    let strings = r
        .given_names
        .iter()
        .chain(&r.family_names)
        .chain(&r.phones)
        .chain(&r.emails);
    let mut n: usize = strings.map(|s| s.len() + 1).sum();
    n += r.birth_date.as_ref().map_or(0, |s| s.len() + 1);
    for a in &r.addresses {
        n += a.lines.iter().map(|s| s.len() + 1).sum::<usize>();
        for s in [&a.city, &a.state, &a.postal_code, &a.country]
            .into_iter()
            .flatten()
        {
            n += s.len() + 1;
        }
    }
    n += r
        .identifiers
        .iter()
        .map(|i| i.system.len() + i.value.len() + 2)
        .sum::<usize>();
    n as u64 + 4
}

/// Parses `YYYY-MM-DD` or `YYYYMMDD`.
fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"))
        .ok()
}

/// The patient a person CSV row describes; `Err((column, reason))` for a value the service
/// cannot store.
pub fn patient_input(r: &PersonRecord, source: &str) -> Result<PatientInput, (String, String)> {
    let birth_date = match &r.birth_date {
        Some(text) => Some(parse_date(text).ok_or_else(|| {
            (
                "birth_date".to_owned(),
                "not a date (YYYY-MM-DD or YYYYMMDD)".to_owned(),
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
    Ok(PatientInput {
        gender,
        birth_date,
        names,
        identifiers,
        addresses,
        telecoms,
        ..Default::default()
    })
}

/// The default rejects file of `file`.
pub fn default_rejects(file: &Path) -> PathBuf {
    let mut p = file.to_path_buf().into_os_string();
    p.push(".rejects.csv");
    PathBuf::from(p)
}
