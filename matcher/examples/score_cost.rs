//! Instruction cost of scoring candidate pairs with the built-in and with an EM-fitted model,
//! for callgrind: the setup (5,000 synthetic records, their candidate pairs, the fit) is the
//! same whatever the argument, so the difference between two runs is the scoring alone.
//!
//! `valgrind --tool=callgrind target/release/examples/score_cost {none|builtin|fitted}`
#![allow(clippy::print_stderr)]

use std::hint::black_box;

use matcher::Model;
use matcher::batch::normalize_all;
use matcher::blocking::{BlockingConfig, candidate_pairs};
use matcher::synth::{GeneratorConfig, generate};
use matcher::training::{TrainConfig, train};

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "none".to_owned());
    let raw: Vec<_> = generate(&GeneratorConfig {
        records: 5_000,
        seed: 11,
        ..Default::default()
    })
    .into_iter()
    .map(|s| s.record)
    .collect();
    let records = normalize_all(&raw);
    let all = candidate_pairs(&records, &BlockingConfig::batch());
    let config = TrainConfig {
        random_pairs: 20_000,
        ..Default::default()
    };
    let fitted = train(&records, &all, &config).map(|r| r.model);
    let builtin = Model::builtin();
    let model = match (which.as_str(), &fitted) {
        ("builtin", _) => Some(&builtin),
        ("fitted", Ok(m)) => Some(m),
        _ => None,
    };
    let pairs: Vec<(u32, u32)> = all.into_iter().take(2_000).collect();
    let rounds = 20;
    let mut total = 0.0;
    if let Some(model) = model {
        for _ in 0..rounds {
            for &(i, j) in &pairs {
                total +=
                    black_box(model.score(&records[i as usize], &records[j as usize])).match_weight;
            }
        }
    }
    eprintln!(
        "{which}: {} pair scores, sum {total:.1}",
        pairs.len() * rounds
    );
}
