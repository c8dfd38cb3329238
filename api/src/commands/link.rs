//! `mpi link --left A --right B --output DIR`: links two person CSVs without a database, each
//! record of B to its best match in A. Writes `DIR/pairs.csv` (`id_a` from A, `id_b` from B: each
//! B record's best A record when it scores at or above the review threshold) and
//! `DIR/clusters.csv` over the ids of both files (an A record is its own cluster, named by its
//! id; a B record joins the cluster of its best A record when that pair reaches the auto-link
//! threshold, else it is alone). Ids must be unique across the two files, since clusters.csv
//! names records by id alone.
//!
//! A pair at or above the auto-link threshold that one of the model's review rules catches
//! (twins of one mother, a placeholder identity; [`matcher::Model::review_reason`]) is never
//! linked: the B record's best A record is then its strongest pair that no rule catches, if that
//! one reaches the auto-link threshold, else its strongest pair, written to pairs.csv with the rule
//! (`review_reason`) and not linked.
//!
//! Without `--model`, the model is fitted by EM without labels to the two files together, over the
//! cross-file candidate pairs. Unless `--strict`, `DIR/warnings.csv` is `file,line,column,reason`.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use matcher::batch::BatchConfig;
use matcher::blocking::candidate_pairs_between;
use matcher::scoring::{ReviewReason, probability, weight_of_probability};

use super::dedupe_file::weigh;
use super::file_mode::{
    Progress, ReadArgs, Warnings, blocking, fit_or_builtin, load_model, read_records, say,
    write_clusters, write_pairs,
};
use crate::exit_code::InputDataError;

/// Arguments of `mpi link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The person CSV linked to (A).
    #[arg(long, value_name = "FILE")]
    pub left: PathBuf,
    /// The person CSV whose records are linked, each to its best match in A (B).
    #[arg(long, value_name = "FILE")]
    pub right: PathBuf,
    /// Directory for pairs.csv and clusters.csv (created if missing; files replaced).
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// A trained model (JSON, from `mpi train`); default: fit one to the two files without labels.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// How to read the inputs.
    #[command(flatten)]
    pub reading: ReadArgs,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `mpi link`, printing a summary to `out`.
pub fn run(args: LinkArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = Progress::new(args.quiet);
    let loaded = args.model.as_deref().map(load_model).transpose()?;
    let options = args.reading.options()?;
    let mut warnings = if args.reading.strict {
        None
    } else {
        Some(Warnings::create(args.output.join("warnings.csv"), true)?)
    };
    let left = read_records(&args.left, progress, &options, warnings.as_mut())?;
    let right = read_records(&args.right, progress, &options, warnings.as_mut())?;
    if let Some(w) = warnings {
        w.finish()?;
    }
    {
        let left_ids: HashSet<&str> = left.ids.iter().map(String::as_str).collect();
        if let Some(line) = right
            .ids
            .iter()
            .position(|id| left_ids.contains(id.as_str()))
        {
            return Err(InputDataError(format!(
                "{}: the id on data row {} is also in {} (ids must be unique across both files)",
                args.right.display(),
                line + 1,
                args.left.display()
            ))
            .into());
        }
    }
    let n_left = left.records.len();
    let mut all = left.records;
    all.extend(right.records);
    let (l, r) = all.split_at(n_left);

    let bar = progress.phase("blocking");
    let candidates = candidate_pairs_between(l, r, &blocking());
    bar.finish_and_clear();
    let (model, source) = match loaded {
        Some(m) => m,
        None => {
            let bar = progress.phase("fitting the model (EM)");
            let combined: Vec<(u32, u32)> = candidates
                .iter()
                .map(|&(a, b)| (a, n_left as u32 + b))
                .collect();
            let fitted = fit_or_builtin(&all, &combined);
            bar.finish_and_clear();
            fitted
        }
    };
    let config = BatchConfig::for_model(&model);
    let auto_link = weight_of_probability(model.thresholds().certain);

    let bar = progress.count(candidates.len() as u64, "scoring pairs");
    let mut weighed = weigh(&model, &candidates, l, r, &bar);
    let candidate_count = candidates.len();
    drop(candidates);
    // Best left match of each right record: by right record, weight descending, left record.
    weighed.sort_unstable_by(|x, y| x.1.cmp(&y.1).then(y.2.total_cmp(&x.2)).then(x.0.cmp(&y.0)));
    // Each group's pairs at or above the auto-link threshold, strongest first, until one that no
    // review rule catches: the rules run on those few pairs only.
    let mut best: Vec<Option<(u32, f64, Option<ReviewReason>)>> = vec![None; r.len()];
    for group in weighed.chunk_by(|x, y| x.1 == y.1) {
        let (top_a, b, top_w) = group[0];
        let mut chosen = (top_a, top_w, None);
        for (i, &(a, _, w)) in group
            .iter()
            .enumerate()
            .take_while(|(_, p)| p.2 >= auto_link)
        {
            match model.review_reason(&l[a as usize], &r[b as usize]) {
                None => {
                    chosen = (a, w, None);
                    break;
                }
                Some(reason) if i == 0 => chosen.2 = Some(reason),
                Some(_) => {}
            }
        }
        best[b as usize] = Some(chosen);
    }
    drop(weighed);
    bar.finish_and_clear();

    let (left_ids, right_ids) = (&left.ids, &right.ids);
    let (_, pair_count) = write_pairs(
        &args.output,
        best.iter().enumerate().filter_map(|(b, m)| {
            let (a, w, reason) = (*m)?;
            (w >= config.review_threshold).then(|| {
                (
                    left_ids[a as usize].as_str(),
                    right_ids[b].as_str(),
                    probability(w),
                    w,
                    reason,
                )
            })
        }),
    )?;
    let linked_to = |m: &Option<(u32, f64, Option<ReviewReason>)>| match *m {
        Some((a, w, None)) if w >= auto_link => Some(a),
        _ => None,
    };
    let linked = best.iter().filter(|m| linked_to(m).is_some()).count();
    let held = best
        .iter()
        .filter(|m| m.is_some_and(|(_, w, reason)| reason.is_some() && w >= auto_link))
        .count();
    write_clusters(
        &args.output,
        left_ids.iter().map(|id| (id.as_str(), id.as_str())).chain(
            right_ids
                .iter()
                .zip(&best)
                .map(|(id, m)| match linked_to(m) {
                    Some(a) => (id.as_str(), left_ids[a as usize].as_str()),
                    None => (id.as_str(), id.as_str()),
                }),
        ),
    )?;

    say(out, format_args!("model: {} ({})", model.version(), source))?;
    say(
        out,
        format_args!(
            "{} left and {} right records, {candidate_count} candidate pairs, {pair_count} right records matched at or above the review threshold (p >= {}), {linked} linked at the auto-link threshold (p >= {}), {held} held for review by a rule",
            n_left,
            r.len(),
            model.thresholds().possible,
            model.thresholds().certain
        ),
    )?;
    say(
        out,
        format_args!(
            "wrote {} and {} in {:.1} s",
            args.output.join("pairs.csv").display(),
            args.output.join("clusters.csv").display(),
            started.elapsed().as_secs_f64()
        ),
    )
}
