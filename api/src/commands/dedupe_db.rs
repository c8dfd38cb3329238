//! `mpi dedupe`: with `--input FILE --output DIR` the file mode ([`super::dedupe_file`]);
//! without `--input`, over the database: runs the service's resumable dedupe job
//! (`service::dedupe`) to the end, resuming an interrupted job if one is waiting, with one progress
//! display on stderr ([`crate::progress`], the log lines written through it) (hidden when stderr is not a terminal or with `--quiet`) and a summary on stdout.
//!
//! Interrupting it (Ctrl-C, kill) loses at most the chunk being written; running it again
//! resumes after the last committed chunk.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use service::dedupe::{self, DedupeOptions, Progress};
use service::{Ctx, Mpi, ServiceConfig};

use crate::configuration::DatabaseSettings;
use crate::database;
use crate::progress::Display;

/// Arguments of `mpi dedupe` (both modes).
#[derive(Debug, Args)]
pub struct DedupeArgs {
    /// Database settings (database mode).
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// File mode: the person CSV to deduplicate (no database is used).
    #[arg(long, value_name = "FILE", requires = "output")]
    pub input: Option<PathBuf>,
    /// File mode: directory for pairs.csv and clusters.csv (created if missing; files replaced).
    #[arg(long, value_name = "DIR", requires = "input")]
    pub output: Option<PathBuf>,
    /// A trained model (JSON, from `mpi train`). Default: file mode fits one to the input
    /// without labels; database mode uses the built-in model. To resume an interrupted database
    /// job, give the model it started with (else that job is failed and a new one starts).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Database mode: pairs written per transaction.
    #[arg(long, default_value_t = 2_000)]
    pub chunk_size: usize,
    /// Stop after this many chunks (the job stays resumable); for bounded runs and tests.
    #[arg(long, hide = true)]
    pub stop_after_chunks: Option<u64>,
    /// File mode: how to read the input.
    #[command(flatten)]
    pub reading: super::file_mode::ReadArgs,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the file mode when `--input` is given, else the database mode.
pub async fn run(args: DedupeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match (&args.input, &args.output) {
        (Some(input), Some(output)) => super::dedupe_file::run_file(
            input,
            output,
            args.model.as_deref(),
            &args.reading,
            args.quiet,
            out,
        ),
        _ => run_database(args, out).await,
    }
}

/// Runs (or resumes) the database dedupe, writing a summary to `out`.
pub async fn run_database(args: DedupeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let model = match &args.model {
        Some(path) => matcher::Model::load(path)
            .with_context(|| format!("cannot load the model {}", path.display()))?,
        None => matcher::Model::builtin(),
    };
    let db = database::connect_bulk(&args.database)
        .await
        .with_context(|| format!("cannot open {}", args.database.redacted_url()))?;
    database::migrate_up(&db, None)
        .await
        .context("cannot apply migrations")?;
    let mpi = Mpi::start(db.clone(), model, ServiceConfig::default())
        .await
        .context("cannot start the service")?;
    let ctx = Ctx::system("mpi-dedupe");
    let job = dedupe::resume_or_start(&mpi, &ctx)
        .await
        .context("cannot start the dedupe job")?;
    let resumed = job.chunks_done > 0;
    let display = Display::new(args.quiet);
    // First the job scores every candidate pair (no count yet), then it writes them in chunks.
    let scoring = Mutex::new(Some(display.step("dedupe", "scoring the candidate pairs")));
    let bar: OnceLock<ProgressBar> = OnceLock::new();
    let on_progress = |p: Progress| {
        let bar = bar.get_or_init(|| {
            if let Some(step) = scoring.lock().ok().and_then(|mut s| s.take()) {
                step.done();
            }
            // The rate counts from the first chunk reported (or, resumed, from the last chunk
            // written before), never from 0, which would show a burst.
            display.counter_at("write", "pairs", p.pairs_total, p.pairs_done)
        });
        if bar.length() != Some(p.pairs_total) {
            bar.set_length(p.pairs_total);
        }
        bar.set_position(p.pairs_done);
    };
    let options = DedupeOptions {
        chunk_size: args.chunk_size,
        stop_after_chunks: args.stop_after_chunks,
        // This process ends with the job: keeping its candidate index current is wasted work.
        refresh_index: false,
    };
    let job = dedupe::run(&mpi, &ctx, job.id, &options, &on_progress)
        .await
        .context("the dedupe job failed")?;
    if let Some(step) = scoring.lock().ok().and_then(|mut s| s.take()) {
        step.done();
    }
    if let Some(bar) = bar.get() {
        display.finish_counter(bar, "pairs");
    }
    writeln!(
        out,
        "dedupe job {} {}{}: {} patients, {} candidate pairs, {}/{} pairs written in {} chunks; \
         {} links created, {} patients given a shared person, {} review tasks opened, \
         {} judged pairs left alone; model {}; {:.1} s",
        job.id,
        job.state,
        if resumed { " (resumed)" } else { "" },
        job.patients,
        job.candidate_pairs,
        job.pairs_done,
        job.pairs_total,
        job.chunks_done,
        job.links_created,
        job.patients_relinked,
        job.tasks_opened,
        job.judged_pairs_skipped,
        job.model_version,
        started.elapsed().as_secs_f64()
    )?;
    db.close().await.context("cannot close the database")?;
    Ok(())
}
