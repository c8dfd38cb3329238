//! Generates synthetic person records and prints counts (records, persons, households, cluster
//! sizes, hard cases) to stderr: the release-mode measurement of the generator.
//!
//! `cargo run --release -p matcher --example gen -- [RECORDS] [SEED] [--show N]`
//!
//! With `--show N` the first N records are printed to stderr as well (synthetic data only).
//! With `--collect` all records are generated into one `Vec` instead of streamed (to measure the
//! memory of the in-memory form).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use matcher::synth::{Generator, GeneratorConfig, HardCase};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = args.iter().take_while(|a| !a.starts_with("--"));
    let records = positional.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let seed = positional.next().map_or(Ok(42), |s| s.parse())?;
    let show = match args.iter().position(|a| a == "--show") {
        Some(i) => args.get(i + 1).map_or(Ok(10), |s| s.parse())?,
        None => 0usize,
    };
    let generator = Generator::new(GeneratorConfig {
        records,
        seed,
        ..Default::default()
    })?;

    if args.iter().any(|a| a == "--collect") {
        // The in-memory form: every record at once (peak memory = the whole set).
        let started = Instant::now();
        let all = generator.generate();
        eprintln!(
            "generated {} records into one Vec in {:.2} s with {} threads",
            all.len(),
            started.elapsed().as_secs_f64(),
            rayon::current_num_threads()
        );
        return Ok(());
    }
    let started = Instant::now();
    let mut generating = std::time::Duration::ZERO;
    let mut total = 0usize;
    let mut cluster_sizes: HashMap<u64, usize> = HashMap::new();
    let mut households: HashMap<u64, usize> = HashMap::new();
    let mut cases = [0usize; HardCase::ALL.len()];
    let mut shown = 0;
    // Streaming: one chunk in memory at a time (plus the parallel batch being generated).
    let mut chunks = generator.chunks();
    loop {
        let asked = Instant::now();
        let Some(chunk) = chunks.next() else { break };
        generating += asked.elapsed();
        for r in &chunk {
            total += 1;
            *cluster_sizes.entry(r.cluster_id).or_default() += 1;
            *households.entry(r.household_id).or_default() += 1;
            for case in r.cases.iter() {
                cases[case as usize] += 1;
            }
            if shown < show {
                eprintln!(
                    "{} {} {:?} {:?}",
                    r.id,
                    r.cluster_id,
                    r.cases.iter().collect::<Vec<_>>(),
                    r.record
                );
                shown += 1;
            }
        }
    }
    let elapsed = started.elapsed();

    let mut size_histogram: BTreeMap<usize, usize> = BTreeMap::new();
    for &size in cluster_sizes.values() {
        *size_histogram.entry(size).or_default() += 1;
    }
    let true_pairs: usize = cluster_sizes.values().map(|&n| n * (n - 1) / 2).sum();
    eprintln!(
        "generated {total} records in {:.2} s ({:.0} records/s) with {} threads; {:.2} s in total with counting",
        generating.as_secs_f64(),
        total as f64 / generating.as_secs_f64(),
        rayon::current_num_threads(),
        elapsed.as_secs_f64(),
    );
    eprintln!(
        "persons {}, households {}, true pairs {true_pairs}",
        cluster_sizes.len(),
        households.len()
    );
    eprintln!("cluster sizes {size_histogram:?}");
    for case in HardCase::ALL {
        let n = cases[case as usize];
        eprintln!(
            "  {:<15} {:>9} records ({:.2} %)",
            case.name(),
            n,
            100.0 * n as f64 / total.max(1) as f64
        );
    }
    Ok(())
}
