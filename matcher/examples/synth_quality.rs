//! Matching quality on synthetic data with ground truth: blocking recall and reduction ratio,
//! pairwise and B-cubed scores of the built-in model's clustering, and recall and false
//! positives broken down by hard case, so a weak spot of the matcher shows by name.
//!
//! `cargo run --release -p matcher --example synth_quality -- [RECORDS] [SEED]`
//!
//! Prints counts and ratios only (to stderr): no names, dates or other record contents.

use std::time::Instant;

use matcher::Model;
use matcher::batch::{BatchConfig, dedupe, normalize_all};
use matcher::blocking::candidate_pairs;
use matcher::eval::Truth;
use matcher::synth::{GeneratorConfig, HardCase, SyntheticRecord, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let records = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let seed = args.next().map_or(Ok(42), |s| s.parse())?;

    let clock = Instant::now();
    let data = generate(&GeneratorConfig {
        records,
        seed,
        ..Default::default()
    });
    eprintln!(
        "generated {records} records in {:.1} s",
        clock.elapsed().as_secs_f64()
    );
    let truth = Truth::new(
        data.iter()
            .enumerate()
            .map(|(i, r)| (i as u32, r.cluster_id)),
    )?;

    let clock = Instant::now();
    let raw: Vec<_> = data.iter().map(|r| r.record.clone()).collect();
    let normalized = normalize_all(&raw);
    drop(raw);
    eprintln!("normalized in {:.1} s", clock.elapsed().as_secs_f64());

    let config = BatchConfig::default();
    let clock = Instant::now();
    let candidates = candidate_pairs(&normalized, &config.blocking);
    let blocking = truth.blocking(candidates.iter().map(|(a, b)| (a, b)))?;
    eprintln!(
        "blocking in {:.1} s: {} candidate pairs, pair completeness {:.4}, reduction ratio {:.6}, \
         pair quality {:.4} ({} of {} true pairs)",
        clock.elapsed().as_secs_f64(),
        blocking.candidate_pairs,
        blocking.pair_completeness,
        blocking.reduction_ratio,
        blocking.pair_quality,
        blocking.true_pairs_found,
        blocking.true_pairs
    );
    let mut candidate_keys: Vec<u64> = candidates
        .iter()
        .map(|&(a, b)| u64::from(a.min(b)) << 32 | u64::from(a.max(b)))
        .collect();
    drop(candidates);
    candidate_keys.sort_unstable();

    let model = Model::builtin();
    let clock = Instant::now();
    let result = dedupe(&normalized, &model, &config);
    eprintln!(
        "dedupe in {:.1} s: {} candidate pairs scored, {} pairs reported, {} refused links",
        clock.elapsed().as_secs_f64(),
        result.candidate_pairs,
        result.pairs.len(),
        result.clustering.refused_links
    );
    let labels = &result.clustering.labels;
    let ids: Vec<u32> = (0..data.len() as u32).collect();
    let metrics = truth.clusters(ids.iter().map(|i| (i, labels[*i as usize])))?;
    let p = metrics.pairwise;
    eprintln!(
        "clusters: pairwise precision {:.4} recall {:.4} F1 {:.4} (TP {} FP {} FN {}); \
         B-cubed precision {:.4} recall {:.4} F1 {:.4}; {} predicted vs {} true persons",
        p.precision,
        p.recall,
        p.f1,
        p.true_positives,
        p.false_positives,
        p.false_negatives,
        metrics.bcubed.precision,
        metrics.bcubed.recall,
        metrics.bcubed.f1,
        metrics.predicted_clusters,
        metrics.true_clusters
    );

    report_by_case(&data, labels, &candidate_keys);
    Ok(())
}

/// Per hard case: how many true pairs involve a record with that case, how many blocking kept,
/// how many ended in one predicted cluster; and the false positives among household members.
fn report_by_case(data: &[SyntheticRecord], labels: &[u32], candidates: &[u64]) {
    let mut by_cluster: std::collections::HashMap<u64, Vec<u32>> = Default::default();
    for (i, r) in data.iter().enumerate() {
        by_cluster.entry(r.cluster_id).or_default().push(i as u32);
    }
    let cases = HardCase::ALL.len();
    let (mut pairs, mut blocked, mut linked) =
        (vec![0u64; cases], vec![0u64; cases], vec![0u64; cases]);
    let (mut all, mut all_blocked, mut all_linked) = (0u64, 0u64, 0u64);
    for members in by_cluster.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                let key = u64::from(a.min(b)) << 32 | u64::from(a.max(b));
                let found = candidates.binary_search(&key).is_ok();
                let same = labels[a as usize] == labels[b as usize];
                all += 1;
                all_blocked += u64::from(found);
                all_linked += u64::from(same);
                let mut involved = data[a as usize].cases;
                for c in data[b as usize].cases.iter() {
                    involved.insert(c);
                }
                for c in involved.iter() {
                    pairs[c as usize] += 1;
                    blocked[c as usize] += u64::from(found);
                    linked[c as usize] += u64::from(same);
                }
            }
        }
    }
    eprintln!(
        "true pairs: {all}, blocked {:.4}, linked {:.4}",
        all_blocked as f64 / all.max(1) as f64,
        all_linked as f64 / all.max(1) as f64
    );
    eprintln!(
        "{:<15} {:>9} {:>9} {:>9}",
        "hard case", "pairs", "blocked", "linked"
    );
    for c in HardCase::ALL {
        let i = c as usize;
        let n = pairs[i].max(1) as f64;
        eprintln!(
            "{:<15} {:>9} {:>9.4} {:>9.4}",
            c.name(),
            pairs[i],
            blocked[i] as f64 / n,
            linked[i] as f64 / n
        );
    }

    // False positives: predicted clusters holding several true persons, split by whether those
    // persons share a household (the classic MPI false positive) or not.
    let mut by_label: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    for (i, &l) in labels.iter().enumerate() {
        by_label.entry(l).or_default().push(i as u32);
    }
    let (mut household_fp, mut other_fp) = (0u64, 0u64);
    let mut fp_cases = vec![0u64; cases];
    for members in by_label.values().filter(|m| m.len() > 1) {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                let (ra, rb) = (&data[a as usize], &data[b as usize]);
                if ra.cluster_id == rb.cluster_id {
                    continue;
                }
                if ra.household_id == rb.household_id {
                    household_fp += 1;
                } else {
                    other_fp += 1;
                }
                let mut involved = ra.cases;
                for c in rb.cases.iter() {
                    involved.insert(c);
                }
                for c in involved.iter() {
                    fp_cases[c as usize] += 1;
                }
            }
        }
    }
    eprintln!(
        "false positive pairs: {household_fp} within a household, {other_fp} across households"
    );
    let by_case: Vec<String> = HardCase::ALL
        .iter()
        .filter(|c| fp_cases[**c as usize] > 0)
        .map(|c| format!("{} {}", c.name(), fp_cases[*c as usize]))
        .collect();
    eprintln!(
        "false positive pairs by hard case involved: {}",
        by_case.join(", ")
    );
}
