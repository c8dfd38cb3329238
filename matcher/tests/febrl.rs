//! The unsupervised pipeline on the FEBRL 1 and 2 development sets: normalize, block, train by EM
//! without labels, decide; pairwise F1 must reach 0.99 on both.
//!
//! The data sets live in the repository, in `data/febrl/` (`../data/febrl` from this crate). Labels (`rec-<N>-...`) are used only to evaluate, never to train.

mod common;
use common::febrl_people;
use matcher::NormalizedRecord;
use matcher::blocking::{BlockingConfig, candidate_pairs};
use matcher::normalize::normalize;
use matcher::scoring::MatchDecision;
use matcher::training::{TrainConfig, train};
use std::collections::HashSet;

struct Quality {
    precision: f64,
    recall: f64,
    f1: f64,
    blocking_recall: f64,
}

fn run(file: &str) -> Quality {
    let rows = febrl_people(file);
    let entities: Vec<u32> = rows.iter().map(|r| r.0).collect();
    let records: Vec<NormalizedRecord> = rows.iter().map(|r| normalize(&r.1)).collect();
    let pairs = candidate_pairs(&records, &BlockingConfig::batch());
    let report = train(&records, &pairs, &TrainConfig::default()).expect("training succeeds");
    let model = &report.model;

    let mut truth: HashSet<(u32, u32)> = HashSet::new();
    for i in 0..records.len() {
        for j in i + 1..records.len() {
            if entities[i] == entities[j] {
                truth.insert((i as u32, j as u32));
            }
        }
    }
    let found_by_blocking = pairs.iter().filter(|p| truth.contains(p)).count();
    let predicted: Vec<(u32, u32)> = pairs
        .iter()
        .copied()
        .filter(|&(i, j)| {
            let (a, b) = (&records[i as usize], &records[j as usize]);
            model.decide(&model.score(a, b), a, b) == MatchDecision::Certain
        })
        .collect();
    let tp = predicted.iter().filter(|p| truth.contains(p)).count() as f64;
    let precision = tp / predicted.len().max(1) as f64;
    let recall = tp / truth.len() as f64;
    let f1 = 2.0 * precision * recall / (precision + recall).max(f64::MIN_POSITIVE);
    eprintln!(
        "{file}: records {} candidates {} true {} blocking recall {:.4} | EM {} iterations (converged {}), prior {:.2e}, match share among candidates {:.4}, household share {:.2e} (twins {:.3}, juniors {:.3}) | predicted {} precision {precision:.4} recall {recall:.4} F1 {f1:.4}",
        records.len(),
        pairs.len(),
        truth.len(),
        found_by_blocking as f64 / truth.len() as f64,
        report.iterations,
        report.converged,
        report.prior,
        report.candidate_match_share,
        report.household_share,
        report.twins,
        report.juniors,
        predicted.len(),
    );
    if std::env::var_os("FEBRL_DEBUG").is_some() {
        for l in &report.levels {
            eprintln!(
                "  {:12} {:28} m {:.5} u {:.6} u_household {:.6}",
                l.comparison, l.level, l.m, l.u, l.u_household
            );
        }
        let mut scored: Vec<(f64, bool)> = pairs
            .iter()
            .map(|&(i, j)| {
                (
                    model
                        .score(&records[i as usize], &records[j as usize])
                        .match_weight,
                    truth.contains(&(i, j)),
                )
            })
            .collect();
        scored.sort_by(|x, y| y.0.total_cmp(&x.0));
        let mut tp = 0.0;
        for (k, (w, t)) in scored.iter().enumerate() {
            if *t {
                tp += 1.0;
            }
            let (p, r) = (tp / (k + 1) as f64, tp / truth.len() as f64);
            if k % 25 == 0 && (1850..2100).contains(&k) {
                eprintln!(
                    "  top {k}: weight {w:.2} precision {p:.4} recall {r:.4} F1 {:.4}",
                    2.0 * p * r / (p + r)
                );
            }
        }
        let pset: HashSet<(u32, u32)> = predicted.iter().copied().collect();
        for &(i, j) in pairs
            .iter()
            .filter(|p| truth.contains(p) != pset.contains(p))
            .take(40)
        {
            let (a, b) = (&records[i as usize], &records[j as usize]);
            let e = model.explain(a, b);
            eprintln!(
                "  {} w {:.2}",
                if truth.contains(&(i, j)) { "FN" } else { "FP" },
                e.match_weight
            );
            for c in &e.comparisons {
                eprintln!(
                    "     {:12} {:26} {:6.2}  {} / {}",
                    c.comparison, c.level, c.weight, c.left, c.right
                );
            }
        }
    }
    Quality {
        precision,
        recall,
        f1,
        blocking_recall: found_by_blocking as f64 / truth.len() as f64,
    }
}

#[test]
fn febrl1_unsupervised_f1_at_least_099() {
    let q = run("dataset1.csv");
    assert!(
        q.blocking_recall >= 0.99,
        "blocking recall {}",
        q.blocking_recall
    );
    assert!(
        q.f1 >= 0.99,
        "precision {} recall {} F1 {}",
        q.precision,
        q.recall,
        q.f1
    );
}

#[test]
fn febrl2_unsupervised_f1_at_least_099() {
    let q = run("dataset2.csv");
    assert!(
        q.blocking_recall >= 0.99,
        "blocking recall {}",
        q.blocking_recall
    );
    assert!(
        q.f1 >= 0.99,
        "precision {} recall {} F1 {}",
        q.precision,
        q.recall,
        q.f1
    );
}
