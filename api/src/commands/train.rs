//! `mpi train --input FILE --output model.json`: fits a Fellegi-Sunter model to a person CSV by EM
//! without labels and writes it as JSON, for `mpi serve --model` and the batch commands' `--model`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use matcher::blocking::candidate_pairs;

use super::file_mode::{Progress, ReadArgs, Warnings, blocking, fit_model, read_records, say};

/// Arguments of `mpi train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The person CSV to train on (no labels needed).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write the model (JSON; replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// How to read the input; unless `--strict`, warnings go to OUTPUT.warnings.csv.
    #[command(flatten)]
    pub reading: ReadArgs,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `mpi train`, printing a summary to `out`.
pub fn run(args: TrainArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = Progress::new(args.quiet);
    let options = args.reading.options()?;
    let mut warnings = if args.reading.strict {
        None
    } else {
        let mut path = args.output.clone().into_os_string();
        path.push(".warnings.csv");
        Some(Warnings::create(path.into(), false)?)
    };
    let data = read_records(&args.input, progress, &options, warnings.as_mut())?;
    if let Some(w) = warnings {
        w.finish()?;
    }
    let bar = progress.phase("blocking");
    let candidates = candidate_pairs(&data.records, &blocking());
    bar.finish_and_clear();
    let bar = progress.phase("fitting the model (EM)");
    let (model, source) = fit_model(&data.records, &candidates)?;
    bar.finish_and_clear();
    model
        .save(&args.output)
        .with_context(|| format!("cannot write the model {}", args.output.display()))?;
    say(
        out,
        format_args!(
            "model {} {} on {} records and {} candidate pairs",
            model.version(),
            source,
            data.records.len(),
            candidates.len()
        ),
    )?;
    say(
        out,
        format_args!(
            "wrote {} in {:.1} s",
            args.output.display(),
            started.elapsed().as_secs_f64()
        ),
    )
}
