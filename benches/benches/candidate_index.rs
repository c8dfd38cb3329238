//! Top-K candidate query over a `CandidateIndex` of N synthetic records, one `BenchmarkId` per N
//! (10k, 100k, 1M). Criterion reports means; `src/bin/query_latency.rs` prints p50/p99.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use matcher::blocking::CandidateIndex;

fn candidate_index(c: &mut Criterion) {
    let mut group = c.benchmark_group("candidate_index/top10");
    group.sample_size(20);
    for n in [10_000usize, 100_000, 1_000_000] {
        let fixture = benches::synthetic(n, 3);
        let mut index = CandidateIndex::new();
        for (i, r) in fixture.records.iter().enumerate() {
            if let Err(e) = index.insert(i as u32, r) {
                panic!("insert: {e}");
            }
        }
        // 1,000 queries spread over the set, cycled.
        let step = (n / 1_000).max(1);
        let queries: Vec<_> = fixture.records.iter().step_by(step).collect();
        let mut next = 0;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                next = (next + 1) % queries.len();
                black_box(index.candidates(queries[next], 10))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, candidate_index);
criterion_main!(benches);
