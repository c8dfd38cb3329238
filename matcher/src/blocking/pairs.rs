//! Batch candidate pairs: every record of a set (or of the right-hand set, for linkage) queries a
//! `CandidateIndex` built over the set (or the left-hand set). Features are computed and queries
//! run in parallel with rayon; results are sorted, so the output does not depend on the number
//! of threads.

use rayon::prelude::*;

use super::BlockingConfig;
use super::features::record_features;
use super::index::CandidateIndex;
use crate::record::NormalizedRecord;

fn build_index(records: &[NormalizedRecord], config: &BlockingConfig) -> CandidateIndex<u32> {
    let features: Vec<Vec<u64>> = records.par_iter().map(record_features).collect();
    let mut index = CandidateIndex::with_config(config.clone());
    for (i, f) in features.iter().enumerate() {
        let key = i as u32;
        if index.insert_features(key, f).is_err() {
            break;
        }
    }
    index
}

/// Candidate pairs `(i, j)`, `i < j`, of one set for deduplication: each record's top
/// `config.k` candidates. Sorted and without duplicates.
///
/// Sets of more than `u32::MAX` records are truncated to the first `u32::MAX`.
pub fn candidate_pairs(records: &[NormalizedRecord], config: &BlockingConfig) -> Vec<(u32, u32)> {
    let records = &records[..records.len().min(u32::MAX as usize)];
    let index = build_index(records, config);
    let mut pairs: Vec<u64> = (0..records.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            let i = i as u32;
            index.candidates_of(i, config.k).into_iter().map(move |c| {
                let (a, b) = if i < c.key { (i, c.key) } else { (c.key, i) };
                (u64::from(a) << 32) | u64::from(b)
            })
        })
        .collect();
    pairs.par_sort_unstable();
    pairs.dedup();
    pairs.into_iter().map(split).collect()
}

/// Candidate pairs `(l, r)` for linking `right` to `left`: for each right record, its top
/// `config.k` candidates in `left`. Sorted by `(l, r)`, without duplicates.
pub fn candidate_pairs_between(
    left: &[NormalizedRecord],
    right: &[NormalizedRecord],
    config: &BlockingConfig,
) -> Vec<(u32, u32)> {
    let left = &left[..left.len().min(u32::MAX as usize)];
    let right = &right[..right.len().min(u32::MAX as usize)];
    let index = build_index(left, config);
    let mut pairs: Vec<u64> = right
        .par_iter()
        .enumerate()
        .flat_map_iter(|(r, record)| {
            let r = r as u32;
            let fids = index.known_features(&record_features(record));
            index
                .top_k(&fids, None, config.k)
                .into_iter()
                .map(move |c| (u64::from(c.key) << 32) | u64::from(r))
        })
        .collect();
    pairs.par_sort_unstable();
    pairs.dedup();
    pairs.into_iter().map(split).collect()
}

fn split(pair: u64) -> (u32, u32) {
    ((pair >> 32) as u32, pair as u32)
}
