//! Scoring one record pair with the built-in Fellegi-Sunter model (target: under 1 µs a pair).
//! Measured over a fixed mix of candidate pairs from synthetic data: a batch of pairs per
//! iteration, reported as pairs per second, plus one matching and one non-matching pair alone;
//! and the same mix with a model fitted to the data by EM (its household mixture is scored too).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use matcher::blocking::{BlockingConfig, candidate_pairs};
use matcher::scoring::Model;
use matcher::training::{TrainConfig, train};

fn scoring(c: &mut Criterion) {
    let fixture = benches::synthetic(5_000, 11);
    let records = &fixture.records;
    let model = Model::builtin();
    // Candidate pairs are what scoring really sees: mostly near misses, some true matches.
    let all_pairs = candidate_pairs(records, &BlockingConfig::batch());
    let fitted = train(records, &all_pairs, &TrainConfig::default())
        .map(|r| r.model)
        .unwrap_or_else(|_| Model::builtin());
    let pairs: Vec<(u32, u32)> = all_pairs.into_iter().take(2_000).collect();
    let mut group = c.benchmark_group("scoring");
    group.throughput(Throughput::Elements(pairs.len() as u64));
    for (label, model) in [
        ("candidate_pairs", &model),
        ("candidate_pairs_fitted", &fitted),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| {
                for &(i, j) in &pairs {
                    black_box(model.score(&records[i as usize], &records[j as usize]));
                }
            })
        });
    }
    group.finish();

    let persons = &fixture.persons;
    let same = |&&(i, j): &&(u32, u32)| persons[i as usize] == persons[j as usize];
    let matching = pairs.iter().find(same);
    let different = pairs.iter().find(|p| !same(p));
    for (label, pair) in [
        ("one_pair/match", matching),
        ("one_pair/non_match", different),
    ] {
        if let Some(&(i, j)) = pair {
            let (a, b) = (&records[i as usize], &records[j as usize]);
            c.bench_function(label, |bench| {
                bench.iter(|| black_box(model.score(black_box(a), black_box(b))))
            });
        }
    }
}

criterion_group!(benches, scoring);
criterion_main!(benches);
