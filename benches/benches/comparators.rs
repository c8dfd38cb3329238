//! Our string comparators against the raw `strsim` functions they build on, over name pairs
//! taken from synthetic records (true duplicates and unrelated pairs mixed).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use matcher::compare::{damerau, jaro_winkler, levenshtein};

fn name_pairs() -> Vec<(String, String)> {
    let fixture = benches::synthetic(2_000, 7);
    let family = |i: usize| {
        fixture.records[i]
            .family
            .first()
            .map(|n| n.text.to_string())
            .unwrap_or_default()
    };
    // Neighbours in generation order are often the same person (true duplicates sit together).
    (0..fixture.records.len() - 1)
        .map(|i| (family(i), family(i + 1)))
        .collect()
}

fn comparators(c: &mut Criterion) {
    let pairs = name_pairs();
    let mut group = c.benchmark_group("comparators");
    group.throughput(Throughput::Elements(pairs.len() as u64));
    group.bench_function("jaro_winkler/ours", |b| {
        b.iter(|| {
            for (x, y) in &pairs {
                black_box(jaro_winkler::similarity(black_box(x), black_box(y)));
            }
        })
    });
    group.bench_function("jaro_winkler/strsim", |b| {
        b.iter(|| {
            for (x, y) in &pairs {
                black_box(strsim::jaro_winkler(black_box(x), black_box(y)));
            }
        })
    });
    group.bench_function("levenshtein/ours", |b| {
        b.iter(|| {
            for (x, y) in &pairs {
                black_box(levenshtein::similarity(black_box(x), black_box(y)));
            }
        })
    });
    group.bench_function("levenshtein/strsim", |b| {
        b.iter(|| {
            for (x, y) in &pairs {
                black_box(strsim::normalized_levenshtein(black_box(x), black_box(y)));
            }
        })
    });
    group.bench_function("damerau/ours", |b| {
        b.iter(|| {
            for (x, y) in &pairs {
                black_box(damerau::similarity(black_box(x), black_box(y)));
            }
        })
    });
    group.bench_function("damerau/strsim", |b| {
        b.iter(|| {
            for (x, y) in &pairs {
                black_box(strsim::normalized_damerau_levenshtein(
                    black_box(x),
                    black_box(y),
                ));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, comparators);
criterion_main!(benches);
