//! Per-query latency of the candidate index: builds a `CandidateIndex` over N synthetic records
//! (default 1,000,000), runs Q top-K queries (default 10,000, K = 10) one at a time and prints
//! wall-time p50/p90/p99/max (with the load average: preemption by other processes shows up
//! in the tail), plus build time, the index's approximate heap size and resident memory.
//!
//! Run: `cargo run --release -p benches --bin query_latency -- [N] [Q] [K]`
//!
//! The index uses `BlockingConfig::default()`; to try other caps set `MAX_BLOCK_SIZE`,
//! `MAX_TRIGRAMS` or `MAX_TRIGRAM_POSTINGS` in the environment.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::time::Instant;

use matcher::blocking::{BlockingConfig, CandidateIndex};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (n, q, k) = (arg(1, 1_000_000), arg(2, 10_000), arg(3, 10));
    let start = Instant::now();
    let fixture = benches::synthetic(n, 3);
    println!(
        "generated and normalized {n} records in {:.1?}; RSS {:.0} MB",
        start.elapsed(),
        benches::rss_mb()
    );

    let start = Instant::now();
    let defaults = BlockingConfig::default();
    let config = BlockingConfig {
        max_block_size: env("MAX_BLOCK_SIZE", defaults.max_block_size),
        max_trigrams: env("MAX_TRIGRAMS", defaults.max_trigrams),
        max_trigram_postings: env("MAX_TRIGRAM_POSTINGS", defaults.max_trigram_postings),
        ..defaults
    };
    println!(
        "caps: max_block_size {}, max_trigrams {}, max_trigram_postings {}",
        config.max_block_size, config.max_trigrams, config.max_trigram_postings
    );
    let mut index = CandidateIndex::with_config(config);
    for (i, r) in fixture.records.iter().enumerate() {
        if let Err(e) = index.insert(i as u32, r) {
            println!("insert failed: {e}");
            return;
        }
    }
    let stats = index.stats();
    println!(
        "built index in {:.1?}: {} records, {} features, {} postings, ~{:.0} MB heap; RSS {:.0} MB",
        start.elapsed(),
        stats.records,
        stats.features,
        stats.postings,
        stats.heap_bytes as f64 / 1e6,
        benches::rss_mb()
    );

    let step = (n / q.max(1)).max(1);
    // Each query's true partners (other records of the same person), to report how many of
    // them its top-K holds: the index's pair completeness over the sampled queries.
    let mut by_person: HashMap<u64, Vec<u32>> = HashMap::new();
    for (i, &p) in fixture.persons.iter().enumerate() {
        by_person.entry(p).or_default().push(i as u32);
    }
    let mut nanos: Vec<u64> = Vec::with_capacity(q);
    let mut returned = 0usize;
    let (mut partners, mut partners_found) = (0usize, 0usize);
    for (i, record) in fixture.records.iter().enumerate().step_by(step).take(q) {
        let t = Instant::now();
        // One more than K: the query record itself is in the index.
        let found = index.candidates(record, k + 1);
        nanos.push(t.elapsed().as_nanos() as u64);
        returned += found.len();
        let own = &by_person[&fixture.persons[i]];
        partners += own.len() - 1;
        partners_found += found
            .iter()
            .filter(|c| c.key != i as u32 && own.contains(&c.key))
            .count();
    }
    println!(
        "true partners of the queried records found in their top-{k}: {partners_found} of {partners} ({:.4})",
        partners_found as f64 / partners.max(1) as f64
    );
    nanos.sort_unstable();
    let us = |p: f64| benches::percentile(&nanos, p) as f64 / 1e3;
    println!(
        "{} queries, top-{k}: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs, mean candidates {:.1}",
        nanos.len(),
        us(50.0),
        us(90.0),
        us(99.0),
        us(100.0),
        returned as f64 / nanos.len().max(1) as f64
    );
    // Wall time: on a shared machine, a query preempted by another process counts its wait.
    println!(
        "load average while measuring: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
