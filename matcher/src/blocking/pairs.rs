//! Batch candidate pairs: every record of a set (or of the right-hand set, for linkage) queries a
//! read-only index built over the set (or the left-hand set), ranked exactly like a
//! `CandidateIndex` query. Features are computed and queries run in parallel with rayon; results
//! are sorted, so the output does not depend on the number of threads.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::BlockingConfig;
use super::features::record_features;
use super::index::{PostingSource, ScratchPool, rank};
use crate::record::NormalizedRecord;

/// Records per chunk when features are computed in parallel: at most one chunk of feature lists
/// is held at a time.
const CHUNK: usize = 65_536;

/// A read-only index over a whole set, built once for batch work: all posting lists in one
/// array (compressed sparse rows), slot = record number. A fraction of the memory of
/// `CandidateIndex`, which must support removal.
struct FrozenIndex {
    feature_ids: FxHashMap<u64, u32>,
    feature_values: Vec<u64>,
    /// The posting list of feature `f` is `postings[offsets[f]..offsets[f + 1]]`.
    offsets: Vec<usize>,
    postings: Vec<u32>,
    records: usize,
}

impl FrozenIndex {
    /// Two passes over the records: count each feature's records, then fill the lists (features
    /// are recomputed rather than held). Lists are in ascending record order.
    fn build(records: &[NormalizedRecord]) -> Self {
        let mut feature_ids: FxHashMap<u64, u32> = FxHashMap::default();
        let mut feature_values: Vec<u64> = Vec::new();
        let mut counts: Vec<usize> = Vec::new();
        for chunk in records.chunks(CHUNK) {
            let features: Vec<Vec<u64>> = chunk.par_iter().map(record_features).collect();
            for &f in features.iter().flatten() {
                let fid = *feature_ids.entry(f).or_insert_with(|| {
                    feature_values.push(f);
                    counts.push(0);
                    (feature_values.len() - 1) as u32
                });
                counts[fid as usize] += 1;
            }
        }
        let mut offsets = Vec::with_capacity(counts.len() + 1);
        let mut total = 0usize;
        offsets.push(0);
        for c in &counts {
            total += c;
            offsets.push(total);
        }
        drop(counts);
        let mut cursor: Vec<usize> = offsets[..offsets.len() - 1].to_vec();
        let mut postings = vec![0u32; total];
        for (c, chunk) in records.chunks(CHUNK).enumerate() {
            let features: Vec<Vec<u64>> = chunk.par_iter().map(record_features).collect();
            for (i, fs) in features.iter().enumerate() {
                let slot = (c * CHUNK + i) as u32;
                for f in fs {
                    if let Some(&fid) = feature_ids.get(f) {
                        let at = &mut cursor[fid as usize];
                        postings[*at] = slot;
                        *at += 1;
                    }
                }
            }
        }
        Self {
            feature_ids,
            feature_values,
            offsets,
            postings,
            records: records.len(),
        }
    }

    fn fids(&self, record: &NormalizedRecord) -> Vec<u32> {
        record_features(record)
            .iter()
            .filter_map(|f| self.feature_ids.get(f).copied())
            .collect()
    }
}

impl PostingSource<u32> for FrozenIndex {
    fn slot_count(&self) -> usize {
        self.records
    }

    fn posting(&self, fid: u32) -> &[u32] {
        let f = fid as usize;
        match (self.offsets.get(f), self.offsets.get(f + 1)) {
            (Some(&a), Some(&b)) => &self.postings[a..b],
            _ => &[],
        }
    }

    fn feature(&self, fid: u32) -> u64 {
        self.feature_values.get(fid as usize).copied().unwrap_or(0)
    }

    fn key(&self, slot: u32) -> Option<u32> {
        ((slot as usize) < self.records).then_some(slot)
    }
}

/// Records ranked per step of [`candidate_pairs`].
const PAIR_CHUNK: usize = 1 << 20;

/// Candidate pairs `(i, j)`, `i < j`, of one set for deduplication: each record's top
/// `config.k` candidates. Sorted and without duplicates.
///
/// Sets of more than `u32::MAX` records are truncated to the first `u32::MAX`.
pub fn candidate_pairs(records: &[NormalizedRecord], config: &BlockingConfig) -> Vec<(u32, u32)> {
    candidate_pairs_by_chunks(records, config, PAIR_CHUNK)
}

/// [`candidate_pairs`], ranking `chunk_len` records per step.
fn candidate_pairs_by_chunks(
    records: &[NormalizedRecord],
    config: &BlockingConfig,
    chunk_len: usize,
) -> Vec<(u32, u32)> {
    let chunk_len = chunk_len.max(1);
    let records = &records[..records.len().min(u32::MAX as usize)];
    let index = FrozenIndex::build(records);
    let pool = ScratchPool::default();
    // Records are ranked a chunk at a time, each chunk's pairs collected, sorted and
    // deduplicated before they are appended: collecting all at once held every pair twice
    // (rayon's per-thread lists, then the list they are copied into), 1.3 GB of a 10M-record
    // run. With more than one chunk, room for `k` pairs a record is reserved (address space,
    // not memory, until written) so that appending never moves the list.
    let chunks = records.len().div_ceil(chunk_len);
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    if chunks > 1 {
        pairs.reserve_exact(records.len().saturating_mul(config.k));
    }
    for (c, chunk) in records.chunks(chunk_len).enumerate() {
        let base = c * chunk_len;
        let mut part: Vec<(u32, u32)> = chunk
            .par_iter()
            .enumerate()
            .flat_map_iter(|(offset, record)| {
                let i = (base + offset) as u32;
                let fids = index.fids(record);
                rank(&index, config, &pool, &fids, Some(i), config.k)
                    .into_iter()
                    .map(move |c| (i.min(c.key), i.max(c.key)))
            })
            .collect();
        part.par_sort_unstable();
        part.dedup();
        if chunks == 1 {
            pairs = part;
        } else {
            pairs.extend_from_slice(&part);
        }
    }
    drop(index);
    if chunks > 1 {
        pairs.par_sort_unstable();
        pairs.dedup();
    }
    pairs.shrink_to_fit();
    pairs
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
    let index = FrozenIndex::build(left);
    let pool = ScratchPool::default();
    let mut pairs: Vec<(u32, u32)> = right
        .par_iter()
        .enumerate()
        .flat_map_iter(|(r, record)| {
            let r = r as u32;
            rank(&index, config, &pool, &index.fids(record), None, config.k)
                .into_iter()
                .map(move |c| (c.key, r))
        })
        .collect();
    drop(index);
    pairs.par_sort_unstable();
    pairs.dedup();
    pairs.shrink_to_fit();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::normalize_all;
    use crate::synth::{GeneratorConfig, generate};

    /// Ranking a chunk at a time (sorting, deduplicating and appending each chunk's pairs, then
    /// the whole) gives exactly the pairs of one step, whatever the chunk length.
    #[test]
    fn chunks_give_the_pairs_of_one_step() {
        let raw: Vec<_> = generate(&GeneratorConfig {
            records: 3_000,
            seed: 11,
            ..Default::default()
        })
        .into_iter()
        .map(|r| r.record)
        .collect();
        let records = normalize_all(&raw);
        let config = BlockingConfig::batch();
        let whole = candidate_pairs_by_chunks(&records, &config, records.len());
        assert!(whole.len() > records.len(), "{} pairs", whole.len());
        for chunk_len in [1, 7, 1_000, 2_999] {
            assert_eq!(
                candidate_pairs_by_chunks(&records, &config, chunk_len),
                whole,
                "chunk length {chunk_len}"
            );
        }
    }
}
