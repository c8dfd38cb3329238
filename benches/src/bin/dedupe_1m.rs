//! One full batch deduplication of N synthetic records (default 1,000,000) with the built-in
//! model, phase by phase: generation + normalization, dedupe (blocking, scoring, clustering),
//! then quality against the generator's ground truth (blocking pair completeness, reduction
//! ratio, pairwise precision/recall/F1 of the clusters). Measure wall time and peak memory with
//! `/usr/bin/time -v`:
//!
//! `cargo build --release -p benches --bin dedupe_1m && /usr/bin/time -v target/release/dedupe_1m [N]`
//!
//! Pass `--no-eval` after N to skip the quality phase (it recomputes candidate pairs).
#![allow(clippy::print_stdout)]

use std::time::Instant;

use matcher::batch::{BatchConfig, dedupe};
use matcher::blocking::candidate_pairs;
use matcher::scoring::Model;

fn main() {
    let requested: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let eval = !std::env::args().any(|a| a == "--no-eval");
    println!("threads: {}", rayon_threads());

    let start = Instant::now();
    let fixture = benches::synthetic(requested, 2026);
    let n = fixture.records.len();
    let prepared = start.elapsed();
    println!(
        "generate + normalize {n} records: {prepared:.1?} wall, {:.1} s CPU; RSS {:.0} MB",
        cpu_seconds(),
        benches::rss_mb()
    );

    let model = Model::builtin();
    let config = BatchConfig::for_model(&model);
    let start = Instant::now();
    let cpu = cpu_seconds();
    let result = dedupe(&fixture.records, &model, &config);
    let deduped = start.elapsed();
    println!(
        "dedupe: {deduped:.1?} wall, {:.1} s CPU; {} candidate pairs, {} pairs >= review threshold, {} clusters, {} refused links",
        cpu_seconds() - cpu,
        result.candidate_pairs,
        result.pairs.len(),
        result.clustering.clusters.len(),
        result.clustering.refused_links
    );
    println!("peak RSS through dedupe {:.0} MB", benches::peak_rss_mb());
    if !eval {
        return;
    }
    let start = Instant::now();
    let cpu = cpu_seconds();
    let pairs = candidate_pairs(&fixture.records, &config.blocking);
    println!(
        "candidate pairs alone (the blocking share of dedupe): {:.1?} wall, {:.1} s CPU",
        start.elapsed(),
        cpu_seconds() - cpu
    );
    let truth = benches::truth(&fixture.persons);
    match truth.blocking(pairs.iter().map(|(a, b)| (a, b))) {
        Ok(m) => println!(
            "blocking: {} candidate pairs, pair completeness {:.4} ({} of {} true pairs), reduction ratio {:.7}",
            m.candidate_pairs,
            m.pair_completeness,
            m.true_pairs_found,
            m.true_pairs,
            m.reduction_ratio
        ),
        Err(e) => println!("blocking metrics failed: {e}"),
    }
    drop(pairs);
    let ids: Vec<u32> = (0..n as u32).collect();
    match truth.clusters(ids.iter().zip(result.clustering.labels.iter().copied())) {
        Ok(m) => println!(
            "clusters: pairwise precision {:.4} recall {:.4} F1 {:.4}; B-cubed precision {:.4} recall {:.4} F1 {:.4}; {} predicted / {} true clusters (eval {:.1?})",
            m.pairwise.precision,
            m.pairwise.recall,
            m.pairwise.f1,
            m.bcubed.precision,
            m.bcubed.recall,
            m.bcubed.f1,
            m.predicted_clusters,
            m.true_clusters,
            start.elapsed()
        ),
        Err(e) => println!("cluster metrics failed: {e}"),
    }
    println!("peak RSS so far {:.0} MB", benches::peak_rss_mb());
}

/// User + system CPU seconds of this process so far (from `/proc/self/stat`, 100 Hz ticks):
/// on a shared machine, wall time also counts waiting for a core.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
