//! `mpi eval`: quality of a `pairs.csv` (and optionally a `clusters.csv`) against ground truth in
//! one or more person CSVs: pairwise precision, recall and F1 of the pairs at or above a
//! probability, blocking recall (pair completeness of every pair in the file), and pairwise and
//! B-cubed figures of the clusters. Prints a table, or JSON with `--json`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use matcher::eval::{BlockingMetrics, ClusterMetrics, PairwiseMetrics, Truth};
use serde_json::json;

use super::file_mode::say;
use crate::exit_code::InputDataError;

/// Arguments of `mpi eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The pairs.csv written by `mpi dedupe` or `mpi link`.
    #[arg(long, value_name = "FILE")]
    pub pairs: PathBuf,
    /// Person CSV(s) with the ground truth (repeat for `mpi link`'s two files).
    #[arg(long, value_name = "FILE", required = true)]
    pub truth: Vec<PathBuf>,
    /// The ground-truth column of the truth file(s): records sharing a value are one person.
    #[arg(long, value_name = "NAME", default_value = "cluster_id")]
    pub truth_column: String,
    /// Count as predicted matches only pairs with match_probability at least this (default: every
    /// pair in the file).
    #[arg(long, value_name = "P")]
    pub threshold: Option<f64>,
    /// The clusters.csv to evaluate too (pairwise and B-cubed).
    #[arg(long, value_name = "FILE")]
    pub clusters: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A CSV reader with the named columns located, erroring with the file name.
fn open_csv(
    path: &Path,
    columns: &[&str],
) -> anyhow::Result<(csv::Reader<TruthInput>, Vec<usize>)> {
    // A truth file from elsewhere may be written with `;`, a tab or `|`, or in UTF-16, as the
    // person reader takes it: the delimiter is the one its header row holds most of.
    let mut input = std::fs::File::open(path)
        .and_then(crate::person_csv::decoded)
        .map(std::io::BufReader::new)
        .with_context(|| format!("{}: cannot open", path.display()))?;
    let head = input
        .fill_buf()
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .delimiter(crate::person_csv::detect_delimiter(head))
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| InputDataError(format!("{}:1: header: {e}", path.display())))?
        .clone();
    let mut positions = Vec::new();
    for c in columns {
        // The header as written, else one the person reader takes for this column (`rec_id`,
        // `unique_id`, `Patient ID` name the id column there too).
        let bare = |h: &str| h.trim_start_matches('\u{feff}').to_owned();
        let p = headers
            .iter()
            .position(|h| bare(h) == *c)
            .or_else(|| {
                headers
                    .iter()
                    .position(|h| crate::person_csv::column_of_header(h) == Some(*c))
            })
            .ok_or_else(|| {
                InputDataError(format!("{}:1: header: no {c} column", path.display()))
            })?;
        positions.push(p);
    }
    Ok((reader, positions))
}

/// A truth or pairs file as [`open_csv`] reads it.
type TruthInput = std::io::BufReader<crate::person_csv::Decoded<std::fs::File>>;

/// Each row's values of the located columns, with its line; row errors name file and line.
fn rows(
    path: &Path,
    reader: csv::Reader<TruthInput>,
    positions: Vec<usize>,
) -> impl Iterator<Item = anyhow::Result<(u64, Vec<String>)>> {
    let path = path.to_owned();
    reader.into_records().map(move |row| {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            InputDataError(format!("{}:{line}: {e}", path.display()))
        })?;
        let line = row.position().map_or(0, csv::Position::line);
        Ok((
            line,
            positions
                .iter()
                .map(|&p| row.get(p).unwrap_or("").to_owned())
                .collect(),
        ))
    })
}

/// What `mpi eval` measured.
#[derive(Debug)]
pub struct Evaluation {
    /// Pairwise figures of the pairs at or above the threshold.
    pub pairwise: PairwiseMetrics,
    /// Pair completeness of every pair in the file.
    pub blocking: BlockingMetrics,
    /// Figures of the clusters, when a clusters.csv was given.
    pub clusters: Option<ClusterMetrics>,
}

/// Evaluates (see the module documentation).
pub fn evaluate(args: &EvalArgs) -> anyhow::Result<Evaluation> {
    let mut labels: Vec<(String, String)> = Vec::new();
    for path in &args.truth {
        let (reader, positions) = open_csv(path, &["id", &args.truth_column])?;
        for row in rows(path, reader, positions) {
            let (line, mut v) = row?;
            let label = v.pop().unwrap_or_default();
            let id = v.pop().unwrap_or_default();
            if id.is_empty() || label.is_empty() {
                return Err(InputDataError(format!(
                    "{}:{line}: column {}: missing value",
                    path.display(),
                    if id.is_empty() {
                        "id"
                    } else {
                        &args.truth_column
                    }
                ))
                .into());
            }
            labels.push((id, label));
        }
    }
    let truth = Truth::new(labels).map_err(|e| InputDataError(format!("truth: {e}")))?;

    let (reader, positions) = open_csv(&args.pairs, &["id_a", "id_b", "match_probability"])?;
    let mut predicted = truth.pair_counter();
    let mut all = truth.pair_counter();
    let pairs_path = args.pairs.display();
    for row in rows(&args.pairs, reader, positions) {
        let (line, v) = row?;
        let probability: f64 = v[2].parse().map_err(|_| {
            InputDataError(format!(
                "{pairs_path}:{line}: column match_probability: not a number"
            ))
        })?;
        let unknown = |e| InputDataError(format!("{pairs_path}:{line}: {e}"));
        all.add(v[0].as_str(), v[1].as_str()).map_err(unknown)?;
        if args.threshold.is_none_or(|t| probability >= t) {
            predicted
                .add(v[0].as_str(), v[1].as_str())
                .map_err(unknown)?;
        }
    }
    let pairwise = predicted.finish().pairwise();
    let blocking = all.finish().blocking();

    let clusters = match &args.clusters {
        None => None,
        Some(path) => {
            let (reader, positions) = open_csv(path, &["id", "cluster_id"])?;
            let mut counter = truth.cluster_counter::<String>();
            for row in rows(path, reader, positions) {
                let (line, mut v) = row?;
                let label = v.pop().unwrap_or_default();
                let id = v.pop().unwrap_or_default();
                counter
                    .assign(id.as_str(), label)
                    .map_err(|e| InputDataError(format!("{}:{line}: {e}", path.display())))?;
            }
            Some(counter.finish())
        }
    };
    Ok(Evaluation {
        pairwise,
        blocking,
        clusters,
    })
}

/// Runs `mpi eval`, printing to `out`.
pub fn run(args: EvalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let e = evaluate(&args)?;
    if args.json {
        let pairwise = |m: &PairwiseMetrics| {
            json!({
                "precision": m.precision, "recall": m.recall, "f1": m.f1,
                "true_positives": m.true_positives, "false_positives": m.false_positives,
                "false_negatives": m.false_negatives,
            })
        };
        let value = json!({
            "threshold": args.threshold,
            "pairwise": pairwise(&e.pairwise),
            "blocking": {
                "pair_completeness": e.blocking.pair_completeness,
                "pairs": e.blocking.candidate_pairs,
                "true_pairs_found": e.blocking.true_pairs_found,
                "true_pairs": e.blocking.true_pairs,
            },
            "clusters": e.clusters.map(|c| json!({
                "pairwise": pairwise(&c.pairwise),
                "bcubed": {"precision": c.bcubed.precision, "recall": c.bcubed.recall, "f1": c.bcubed.f1},
                "predicted_clusters": c.predicted_clusters,
                "true_clusters": c.true_clusters,
            })),
        });
        return say(out, format_args!("{value:#}"));
    }
    let threshold = args
        .threshold
        .map_or("every pair in the file".to_owned(), |t| format!("p >= {t}"));
    say(
        out,
        format_args!("{:<28} {:>9} {:>9} {:>9}", "", "precision", "recall", "F1"),
    )?;
    let line = |out: &mut dyn Write, name: &str, p: f64, r: f64, f: f64| {
        say(out, format_args!("{name:<28} {p:>9.4} {r:>9.4} {f:>9.4}"))
    };
    let m = &e.pairwise;
    line(out, "pairs (pairwise)", m.precision, m.recall, m.f1)?;
    if let Some(c) = &e.clusters {
        let m = &c.pairwise;
        line(out, "clusters (pairwise)", m.precision, m.recall, m.f1)?;
        let b = &c.bcubed;
        line(out, "clusters (B-cubed)", b.precision, b.recall, b.f1)?;
    }
    say(
        out,
        format_args!(
            "pairs counted: {threshold}; {} true positives, {} false positives, {} false negatives",
            m.true_positives, m.false_positives, m.false_negatives
        ),
    )?;
    say(
        out,
        format_args!(
            "blocking recall (pair completeness of the pairs file): {:.4} ({} of {} true pairs)",
            e.blocking.pair_completeness, e.blocking.true_pairs_found, e.blocking.true_pairs
        ),
    )?;
    if let Some(c) = &e.clusters {
        say(
            out,
            format_args!(
                "clusters: {} predicted, {} true",
                c.predicted_clusters, c.true_clusters
            ),
        )?;
    }
    Ok(())
}
