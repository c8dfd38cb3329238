//! `mpi dedupe` over the database (no `--input`): runs the service's resumable dedupe job
//! (`service::dedupe`) to the end, resuming an interrupted job if one is waiting, with a progress
//! bar on stderr (hidden when stderr is not a terminal or with `--quiet`) and a summary on stdout.
//!
//! Interrupting it (Ctrl-C, kill) loses at most the chunk being written; running it again
//! resumes after the last committed chunk.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use service::dedupe::{self, DedupeOptions, Progress};
use service::{Ctx, Mpi, ServiceConfig};

use crate::configuration::DatabaseSettings;
use crate::database;

/// Arguments of the database mode of `mpi dedupe`.
#[derive(Debug, Args)]
pub struct DedupeDbArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// A trained scoring model (JSON); default: the built-in model. Must be the model the
    /// interrupted job started with to resume it (else that job is failed and a new one starts).
    #[arg(long, env = "MPI_MODEL", value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Pairs written per transaction.
    #[arg(long, default_value_t = 2_000)]
    pub chunk_size: usize,
    /// Stop after this many chunks (the job stays resumable); for bounded runs and tests.
    #[arg(long, hide = true)]
    pub stop_after_chunks: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs (or resumes) the database dedupe, writing a summary to `out`.
pub async fn run(args: DedupeDbArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let model = match &args.model {
        Some(path) => matcher::Model::load(path)
            .with_context(|| format!("cannot load the model {}", path.display()))?,
        None => matcher::Model::builtin(),
    };
    let db = database::connect(&args.database)
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
    let visible = !args.quiet && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        None,
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>8} [{bar:30}] {human_pos}/{human_len} pairs {per_sec} ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("dedupe");
    let on_progress = |p: Progress| {
        if bar.length() != Some(p.pairs_total) {
            bar.set_length(p.pairs_total);
            bar.reset_eta();
        }
        bar.set_position(p.pairs_done);
    };
    let options = DedupeOptions {
        chunk_size: args.chunk_size,
        stop_after_chunks: args.stop_after_chunks,
    };
    let job = dedupe::run(&mpi, &ctx, job.id, &options, &on_progress)
        .await
        .context("the dedupe job failed")?;
    bar.finish_and_clear();
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
