//! `mpi dedupe --input FILE --output DIR`: deduplicates a person CSV without a database. Writes
//! `DIR/pairs.csv` (every candidate pair at or above the model's review threshold) and
//! `DIR/clusters.csv` (every record with its cluster, at the model's auto-link threshold; a
//! cluster is named by the id of its first record in file order). A pair above that threshold
//! that one of the model's review rules catches (twins of one mother, a placeholder identity; see
//! [`matcher::batch::cluster_reviewed`]) is not linked, and its row of pairs.csv names the rule
//! (`review_reason`), where the database job would open a review task.
//!
//! Without `--model`, the model is fitted to the input itself by EM without labels, over the same
//! candidate pairs that are then scored (blocking runs once).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::ProgressBar;
use matcher::batch::cluster_reviewed;
use matcher::blocking::candidate_pairs;
use matcher::scoring::{probability, weight_of_probability};
use matcher::{Model, NormalizedRecord};
use rayon::prelude::*;

use super::file_mode::{
    Progress, ReadArgs, Warnings, blocking, fit_or_builtin, load_model, read_records, say,
    write_clusters, write_pairs,
};
use matcher::batch::BatchConfig;

/// Arguments of the file mode of `mpi dedupe`.
#[derive(Debug, Args)]
pub struct DedupeFileArgs {
    /// The person CSV to deduplicate.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Directory for pairs.csv and clusters.csv (created if missing; files replaced).
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// A trained model (JSON, from `mpi train`); default: fit one to the input without labels.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// How to read the input.
    #[command(flatten)]
    pub reading: ReadArgs,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Pairs scored by weight: `(a, b, match_weight)`, record numbers into one set.
pub type Weighed = Vec<(u32, u32, f64)>;

/// Pairs counted on one thread before they are added to the shared progress bar.
const PROGRESS_STEP: u64 = 8_192;

/// A thread's count of scored pairs, added to the bar every [`PROGRESS_STEP`] pairs and when
/// the thread's share of the work ends.
struct Tally<'a> {
    bar: &'a ProgressBar,
    pending: u64,
}

impl Tally<'_> {
    fn one(&mut self) {
        self.pending += 1;
        if self.pending == PROGRESS_STEP {
            self.bar.inc(PROGRESS_STEP);
            self.pending = 0;
        }
    }
}

impl Drop for Tally<'_> {
    fn drop(&mut self) {
        self.bar.inc(self.pending);
    }
}

/// Match weights of `pairs` between `left` and `right`, in parallel, in order; `bar` counts the
/// pairs scored (its rate is pairs per second).
pub fn weigh(
    model: &Model,
    pairs: &[(u32, u32)],
    left: &[NormalizedRecord],
    right: &[NormalizedRecord],
    bar: &ProgressBar,
) -> Weighed {
    pairs
        .par_iter()
        .map_init(
            || Tally { bar, pending: 0 },
            |tally, &(a, b)| {
                tally.one();
                let w = model
                    .score(&left[a as usize], &right[b as usize])
                    .match_weight;
                (a, b, w)
            },
        )
        .collect()
}

/// Wall time of each phase of a run, and the process's peak memory: where a large run's time
/// and memory go, printed with its summary.
#[derive(Debug)]
pub struct Phases {
    since: Instant,
    ended: Vec<(&'static str, f64)>,
}

impl Default for Phases {
    fn default() -> Self {
        Phases {
            since: Instant::now(),
            ended: Vec::new(),
        }
    }
}

impl Phases {
    /// Ends the phase `name`, which began when the previous one ended.
    pub fn end(&mut self, name: &'static str) {
        let now = Instant::now();
        self.ended
            .push((name, now.duration_since(self.since).as_secs_f64()));
        self.since = now;
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("phases:")?;
        for (i, (name, secs)) in self.ended.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{name} {secs:.1} s")?;
        }
        match peak_memory_mib() {
            Some(mib) => write!(f, "; peak memory {mib} MiB"),
            None => Ok(()),
        }
    }
}

/// The process's peak resident memory (`VmHWM` of `/proc/self/status`), where Linux tells it.
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// ` (placeholder 3, twins_of_one_mother 1)`: the pairs held back by each review rule, or nothing.
pub fn held_by_rule(held: &[matcher::batch::Held]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for (_, reason) in held {
        *counts.entry(reason.as_str()).or_default() += 1;
    }
    if counts.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = counts.iter().map(|(r, c)| format!("{r} {c}")).collect();
    format!(" ({})", parts.join(", "))
}

/// Runs the file mode of `mpi dedupe`, printing a summary to `out`.
pub fn run(args: DedupeFileArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    run_file(
        &args.input,
        &args.output,
        args.model.as_deref(),
        &args.reading,
        args.quiet,
        out,
    )
}

/// Deduplicates the person CSV `input` into `output` (see the module documentation).
pub fn run_file(
    input: &Path,
    output: &Path,
    model: Option<&Path>,
    reading: &ReadArgs,
    quiet: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = Progress::new(quiet);
    // Load the model first: a bad model path fails before minutes of work.
    let loaded = model.map(load_model).transpose()?;
    let options = reading.options()?;
    let mut warnings = if reading.strict {
        None
    } else {
        Some(Warnings::create(output.join("warnings.csv"), false)?)
    };
    let mut phases = Phases::default();
    let data = read_records(input, progress, &options, warnings.as_mut())?;
    phases.end("reading");
    if let Some(w) = warnings {
        w.finish()?;
    }
    let records = &data.records;
    let n = records.len();

    let bar = progress.phase("blocking");
    let candidates = candidate_pairs(records, &blocking());
    bar.finish_and_clear();
    phases.end("blocking");
    let (model, source) = match loaded {
        Some(m) => m,
        None => {
            let bar = progress.phase("fitting the model (EM)");
            let fitted = fit_or_builtin(records, &candidates);
            bar.finish_and_clear();
            phases.end("fitting");
            fitted
        }
    };
    let config = BatchConfig::for_model(&model);
    let mut cluster_config = config.cluster.clone();
    cluster_config.link_threshold = weight_of_probability(model.thresholds().certain);

    let bar = progress.count(candidates.len() as u64, "scoring pairs");
    let mut weighed = weigh(&model, &candidates, records, records, &bar);
    let candidate_count = candidates.len();
    drop(candidates);
    bar.finish_and_clear();
    phases.end("scoring");

    let bar = progress.phase("clustering");
    let (clustering, held) = cluster_reviewed(
        &model,
        records,
        &mut weighed,
        &cluster_config,
        config.review_threshold,
    );
    bar.finish_and_clear();
    phases.end("clustering");

    let bar = progress.phase("writing");
    let ids = &data.ids;
    // `held` is by index into `weighed`, ascending (every held pair is at or above the review
    // threshold, so in pairs.csv).
    let mut reasons = held.iter().peekable();
    let (_, pair_count) = write_pairs(
        output,
        weighed
            .iter()
            .enumerate()
            .filter(|(_, p)| p.2 >= config.review_threshold)
            .map(|(i, &(a, b, w))| {
                while reasons.next_if(|h| h.0 < i).is_some() {}
                let reason = reasons.next_if(|h| h.0 == i).map(|h| h.1);
                (
                    ids[a as usize].as_str(),
                    ids[b as usize].as_str(),
                    probability(w),
                    w,
                    reason,
                )
            }),
    )?;
    write_clusters(
        output,
        ids.iter()
            .zip(&clustering.labels)
            .map(|(id, &label)| (id.as_str(), ids[label as usize].as_str())),
    )?;
    bar.finish_and_clear();
    phases.end("writing");

    say(out, format_args!("model: {} ({})", model.version(), source))?;
    say(
        out,
        format_args!(
            "{n} records, {candidate_count} candidate pairs, {pair_count} pairs at or above the review threshold (p >= {}), {} multi-record clusters at the auto-link threshold (p >= {}), {} links refused, {} pairs held for review by a rule{}",
            model.thresholds().possible,
            clustering.clusters.len(),
            model.thresholds().certain,
            clustering.refused_links,
            held.len(),
            held_by_rule(&held),
        ),
    )?;
    say(out, format_args!("{phases}"))?;
    say(
        out,
        format_args!(
            "wrote {} and {} in {:.1} s",
            output.join("pairs.csv").display(),
            output.join("clusters.csv").display(),
            started.elapsed().as_secs_f64()
        ),
    )
}
