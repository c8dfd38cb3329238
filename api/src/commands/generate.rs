//! `mpi gen`: writes a synthetic person CSV with a ground-truth `cluster_id` column, streamed
//! chunk by chunk from the matcher's seeded generator (the same seed gives the same file).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use matcher::synth::{Generator, GeneratorConfig};

use super::file_mode::{Progress, say};
use crate::person_csv::PersonCsvWriter;

/// Arguments of `mpi gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Number of records to generate.
    #[arg(long, value_name = "N")]
    pub records: usize,
    /// Seed: the same seed and record count give the same file.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Share of persons registered more than once.
    #[arg(long, value_name = "RATE", default_value_t = 0.2)]
    pub duplicate_rate: f64,
    /// Give every record identifiers of its own, as separate facilities would (a fresh MRN; the
    /// national id on a person's first record only), so that `mpi import` takes every record.
    #[arg(long)]
    pub distinct_identifiers: bool,
    /// The person CSV to write (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `mpi gen`, printing a summary to `out`.
pub fn run(args: GenArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let generator = Generator::new(GeneratorConfig {
        records: args.records,
        seed: args.seed,
        duplicate_rate: args.duplicate_rate,
        distinct_identifiers: args.distinct_identifiers,
        ..Default::default()
    })
    .context("invalid generator settings")?;
    let mut writer = PersonCsvWriter::create(&args.output, &["cluster_id"])?;
    let bar = Progress::new(args.quiet).count(args.records as u64, "generating");
    let mut cluster = String::new();
    for chunk in generator.chunks() {
        for r in &chunk {
            cluster.clear();
            use std::fmt::Write as _;
            let _ = write!(cluster, "{}", r.cluster_id);
            writer.write(&r.id, &r.record, &[&cluster])?;
        }
        bar.inc(chunk.len() as u64);
    }
    writer.finish()?;
    bar.finish_and_clear();
    say(
        out,
        format_args!(
            "wrote {} records (seed {}) to {} in {:.1} s",
            args.records,
            args.seed,
            args.output.display(),
            started.elapsed().as_secs_f64()
        ),
    )
}
