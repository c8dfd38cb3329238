//! Shared fixtures for the criterion benchmarks (`benches/`) and the measurement binaries
//! (`src/bin/`): synthetic records from the matcher's seeded generator, normalized, with their
//! true person ids, their ground truth for `matcher::eval`, and small measurement helpers.

use matcher::NormalizedRecord;
use matcher::batch::normalize_all;
use matcher::eval::Truth;
use matcher::synth::{Generator, GeneratorConfig};

/// Normalized synthetic records with ground truth.
pub struct Fixture {
    /// The records, normalized.
    pub records: Vec<NormalizedRecord>,
    /// The true person of each record.
    pub persons: Vec<u64>,
}

/// `n` synthetic records from seed `seed` with the generator's default hard-case rates,
/// generated chunk by chunk and normalized in parallel so raw records never pile up.
pub fn synthetic(n: usize, seed: u64) -> Fixture {
    let config = GeneratorConfig {
        records: n,
        seed,
        ..GeneratorConfig::default()
    };
    let generator = match Generator::new(config) {
        Ok(g) => g,
        Err(e) => panic!("generator config: {e}"),
    };
    let mut records = Vec::with_capacity(n);
    let mut persons = Vec::with_capacity(n);
    for chunk in generator.chunks() {
        persons.extend(chunk.iter().map(|r| r.cluster_id));
        let raw: Vec<_> = chunk.into_iter().map(|r| r.record).collect();
        records.extend(normalize_all(&raw));
    }
    Fixture { records, persons }
}

/// Resident memory of this process now, in MB (from `/proc/self/status`; 0 elsewhere).
pub fn rss_mb() -> f64 {
    proc_status_kb("VmRSS:") / 1024.0
}

/// Peak resident memory of this process so far, in MB (from `/proc/self/status`; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    proc_status_kb("VmHWM:") / 1024.0
}

fn proc_status_kb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

/// The ground truth of `fixture` for `matcher::eval`, keyed by record number.
pub fn truth(persons: &[u64]) -> Truth<u32> {
    match Truth::new(persons.iter().enumerate().map(|(i, &p)| (i as u32, p))) {
        Ok(t) => t,
        Err(e) => panic!("truth: {e}"),
    }
}

/// The `p`-th percentile (0..=100) of ascending `sorted` values (nearest rank).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
    }
}
