//! Batch deduplication of N synthetic records (blocking, scoring, clustering) with the built-in
//! model; small N here, the 1M run is `src/bin/dedupe_1m.rs`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use matcher::batch::{BatchConfig, dedupe};
use matcher::scoring::Model;

fn batch(c: &mut Criterion) {
    let model = Model::builtin();
    let config = BatchConfig::for_model(&model);
    let mut group = c.benchmark_group("batch/dedupe");
    group.sample_size(10);
    for n in [1_000usize, 10_000] {
        let fixture = benches::synthetic(n, 5);
        group.bench_with_input(
            BenchmarkId::from_parameter(n),
            &fixture.records,
            |b, records| b.iter(|| black_box(dedupe(records, &model, &config))),
        );
    }
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
