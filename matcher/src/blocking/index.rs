//! `CandidateIndex`: an in-memory inverted index from blocking features to records, with
//! insert, update and remove, answering top-K candidate queries.
//!
//! Layout: every distinct feature gets a dense `u32` id; each feature id owns a posting list of
//! `u32` slots; each slot holds the record's key and the ids of its features (needed to remove
//! it). Removal swap-removes the slot from each posting list and puts the slot on a free list.

use std::hash::Hash;
use std::sync::Mutex;

use rustc_hash::FxHashMap;

use super::BlockingConfig;
use super::features::{FeatureKind, record_features};
use crate::error::{Error, Result};
use crate::record::NormalizedRecord;

/// One candidate returned by a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Candidate<K> {
    /// The candidate record's key.
    pub key: K,
    /// Its blocking score: the summed weights of the features it shares with the query.
    pub score: u32,
}

/// Size figures of an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexStats {
    /// Records held.
    pub records: usize,
    /// Distinct features seen.
    pub features: usize,
    /// Posting entries (record-feature pairs).
    pub postings: usize,
    /// Approximate heap bytes held by the index.
    pub heap_bytes: usize,
}

/// Per-query working memory: a dense score per slot plus the list of slots touched, so a
/// query adds scores with plain array writes and resets only what it touched. Kept in a pool
/// on the index (one per concurrent query), so queries stay `&self`.
/// Scores are `u16` (saturating) to halve the array a query scatters into: at a million
/// records it stays mostly in cache.
#[derive(Default)]
pub(crate) struct Scratch {
    scores: Vec<u16>,
    touched: Vec<u32>,
}

impl Scratch {
    /// Adds `weight` to the score of every slot in each `(posting, weight)` list and returns
    /// how many distinct slots were touched (the first that many entries of `touched`).
    ///
    /// Branch-free on purpose: whether a slot is new is a coin toss the CPU cannot predict,
    /// and with a branch each mispredicted toss waited for its score's cache miss. Here every
    /// slot is written to `touched` at the current end, and the end moves on only when the
    /// score was zero, so the loads of the next slots' scores go ahead while this one's is
    /// still on its way.
    fn scatter<'a>(&mut self, lists: impl Iterator<Item = (&'a [u32], u16)> + Clone) -> usize {
        let total: usize = lists.clone().map(|(posting, _)| posting.len()).sum();
        if self.touched.len() < total {
            self.touched.resize(total, 0);
        }
        let (scores, touched) = (&mut self.scores, &mut self.touched);
        let mut end = 0;
        for (posting, weight) in lists {
            for &slot in posting {
                let score = &mut scores[slot as usize];
                touched[end] = slot;
                end += usize::from(*score == 0);
                *score = score.saturating_add(weight);
            }
        }
        end
    }
}

/// A pool of scratches, one per concurrent query.
#[derive(Default)]
pub(crate) struct ScratchPool(Mutex<Vec<Scratch>>);

impl ScratchPool {
    fn take(&self, slots: usize) -> Scratch {
        let mut scratch = self
            .0
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default();
        if scratch.scores.len() < slots {
            scratch.scores.resize(slots, 0);
        }
        scratch
    }

    fn give(&self, scratch: Scratch) {
        if let Ok(mut pool) = self.0.lock() {
            pool.push(scratch);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.0.lock().map_or(0, |pool| {
            pool.iter()
                .map(|s| s.scores.capacity() * 2 + s.touched.capacity() * 4)
                .sum()
        })
    }
}

/// Where a ranking reads the index: posting lists and feature values by feature id, and the
/// key of a slot (`None` for a free slot).
pub(crate) trait PostingSource<K> {
    /// Number of slots (an upper bound on slot numbers).
    fn slot_count(&self) -> usize;
    /// The slots holding feature `fid`.
    fn posting(&self, fid: u32) -> &[u32];
    /// The feature with id `fid`.
    fn feature(&self, fid: u32) -> u64;
    /// The key of `slot`.
    fn key(&self, slot: u32) -> Option<K>;
}

/// Top-k ranking over the records sharing features `fids` (see the module documentation of
/// `blocking` for the scoring and the caps), `exclude` left out.
pub(crate) fn rank<K: Copy + Ord, S: PostingSource<K>>(
    source: &S,
    config: &BlockingConfig,
    pool: &ScratchPool,
    fids: &[u32],
    exclude: Option<u32>,
    k: usize,
) -> Vec<Candidate<K>> {
    if k == 0 {
        return Vec::new();
    }
    let cfg = config;
    let weight = |kind| u16::try_from(cfg.weights.weight(kind)).unwrap_or(u16::MAX);
    // (posting length, feature, id): the feature value, not the id, breaks ties, so the
    // choice does not depend on the order in which features were first seen.
    let mut trigrams: Vec<(usize, u64, u32)> = Vec::new();
    // (posting list, weight) of every list the ranking adds up.
    let mut lists: Vec<(&[u32], u16)> = Vec::with_capacity(fids.len());
    for &fid in fids {
        let posting = source.posting(fid);
        let feature = source.feature(fid);
        let kind = FeatureKind::of(feature);
        let w = weight(kind);
        if w == 0 {
            continue;
        }
        if kind == FeatureKind::Trigram {
            trigrams.push((posting.len(), feature, fid));
            continue;
        }
        if posting.len() > cfg.max_block_size {
            continue;
        }
        lists.push((posting, w));
    }
    trigrams.sort_unstable();
    let mut budget = cfg.max_trigram_postings;
    let w = weight(FeatureKind::Trigram);
    for &(len, _, fid) in trigrams.iter().take(cfg.max_trigrams) {
        if len > budget || w == 0 {
            break;
        }
        budget -= len;
        lists.push((source.posting(fid), w));
    }
    let mut scratch = pool.take(source.slot_count());
    let touched_count = scratch.scatter(lists.iter().copied());
    let mut ranked: Vec<(u32, K)> = Vec::new();
    for i in 0..touched_count {
        let s = scratch.touched[i];
        let score = u32::from(std::mem::take(&mut scratch.scores[s as usize]));
        if score < cfg.min_score || Some(s) == exclude {
            continue;
        }
        if let Some(key) = source.key(s) {
            ranked.push((score, key));
        }
    }
    pool.give(scratch);
    let order = |a: &(u32, K), b: &(u32, K)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
    if ranked.len() > k {
        ranked.select_nth_unstable_by(k - 1, order);
        ranked.truncate(k);
    }
    ranked.sort_unstable_by(order);
    ranked
        .into_iter()
        .map(|(score, key)| Candidate { key, score })
        .collect()
}

struct Slot<K> {
    key: K,
    features: Box<[u32]>,
}

/// In-memory candidate index over normalized records, keyed by `K` (a `Uuid` in the service,
/// a `u32` record number in batch).
pub struct CandidateIndex<K> {
    config: BlockingConfig,
    feature_ids: FxHashMap<u64, u32>,
    /// The feature of each feature id (its kind is in the top byte).
    feature_values: Vec<u64>,
    postings: Vec<Vec<u32>>,
    slots: Vec<Option<Slot<K>>>,
    free: Vec<u32>,
    by_key: FxHashMap<K, u32>,
    scratch: ScratchPool,
}

impl<K: Copy + Eq + Hash + Ord> Default for CandidateIndex<K> {
    fn default() -> Self {
        Self::with_config(BlockingConfig::default())
    }
}

impl<K: Copy + Eq + Hash + Ord> CandidateIndex<K> {
    /// An empty index with the default interactive configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty index with `config` (see [`BlockingConfig::validate`]).
    pub fn with_config(config: BlockingConfig) -> Self {
        Self {
            config,
            feature_ids: FxHashMap::default(),
            feature_values: Vec::new(),
            postings: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            by_key: FxHashMap::default(),
            scratch: ScratchPool::default(),
        }
    }

    /// The configuration queries use.
    pub fn config(&self) -> &BlockingConfig {
        &self.config
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// True when a record with `key` is held.
    pub fn contains(&self, key: K) -> bool {
        self.by_key.contains_key(&key)
    }

    /// Adds `record` under `key`; a record already held under `key` is replaced.
    /// Returns true when the key was new. Fails only when the index already holds
    /// `u32::MAX` records or features.
    pub fn insert(&mut self, key: K, record: &NormalizedRecord) -> Result<bool> {
        let replaced = self.remove(key);
        self.insert_features(key, &record_features(record))?;
        Ok(!replaced)
    }

    /// Replaces the record held under `key` (adds it when absent). Returns true when a record
    /// was replaced.
    pub fn update(&mut self, key: K, record: &NormalizedRecord) -> Result<bool> {
        Ok(!self.insert(key, record)?)
    }

    /// Removes the record held under `key`. Returns true when there was one.
    pub fn remove(&mut self, key: K) -> bool {
        let Some(slot_id) = self.by_key.remove(&key) else {
            return false;
        };
        let Some(slot) = self.slots.get_mut(slot_id as usize).and_then(Option::take) else {
            return false;
        };
        for &fid in slot.features.iter() {
            if let Some(posting) = self.postings.get_mut(fid as usize) {
                if let Some(at) = posting.iter().position(|&s| s == slot_id) {
                    posting.swap_remove(at);
                }
                if posting.is_empty() {
                    *posting = Vec::new();
                } else if posting.capacity() > 4 * posting.len() {
                    posting.shrink_to_fit();
                }
            }
        }
        self.free.push(slot_id);
        true
    }

    /// The top `k` candidates for `record`, best first: ranked by blocking score descending,
    /// ties broken by key ascending. Candidates scoring below the configured `min_score` are
    /// left out, so fewer than `k` may come back.
    pub fn candidates(&self, record: &NormalizedRecord, k: usize) -> Vec<Candidate<K>> {
        let fids: Vec<u32> = record_features(record)
            .iter()
            .filter_map(|f| self.feature_ids.get(f).copied())
            .collect();
        self.top_k(&fids, None, k)
    }

    /// The candidates of the record held under `key`, itself excluded; empty when absent.
    pub fn candidates_of(&self, key: K, k: usize) -> Vec<Candidate<K>> {
        let Some(&slot_id) = self.by_key.get(&key) else {
            return Vec::new();
        };
        match self.slots.get(slot_id as usize) {
            Some(Some(slot)) => self.top_k(&slot.features, Some(slot_id), k),
            _ => Vec::new(),
        }
    }

    /// Size figures, including an approximation of the heap memory held.
    pub fn stats(&self) -> IndexStats {
        use std::mem::size_of;
        let postings: usize = self.postings.iter().map(Vec::len).sum();
        let posting_capacity: usize = self.postings.iter().map(Vec::capacity).sum();
        let slot_features: usize = self.slots.iter().flatten().map(|s| s.features.len()).sum();
        // hashbrown: one control byte per bucket plus the entry; load factor 7/8.
        let map_bytes = |len: usize, entry: usize| len * 8 / 7 * (entry + 1);
        let heap_bytes = map_bytes(self.feature_ids.capacity(), size_of::<(u64, u32)>())
            + map_bytes(self.by_key.capacity(), size_of::<(K, u32)>())
            + self.feature_values.capacity() * size_of::<u64>()
            + self.postings.capacity() * size_of::<Vec<u32>>()
            + posting_capacity * size_of::<u32>()
            + self.slots.capacity() * size_of::<Option<Slot<K>>>()
            + slot_features * size_of::<u32>()
            + self.free.capacity() * size_of::<u32>()
            + self.scratch.heap_bytes();
        IndexStats {
            records: self.len(),
            features: self.feature_values.len(),
            postings,
            heap_bytes,
        }
    }

    /// Adds a record given its features (sorted, deduplicated); the key must be absent.
    pub(crate) fn insert_features(&mut self, key: K, features: &[u64]) -> Result<()> {
        let slot_id = match self.free.pop() {
            Some(s) => s,
            None => u32::try_from(self.slots.len()).map_err(|_| full("records"))?,
        };
        let mut fids = Vec::with_capacity(features.len());
        for &feature in features {
            let fid = match self.feature_ids.get(&feature) {
                Some(&fid) => fid,
                None => {
                    let fid = u32::try_from(self.postings.len()).map_err(|_| full("features"))?;
                    self.feature_ids.insert(feature, fid);
                    self.feature_values.push(feature);
                    self.postings.push(Vec::new());
                    fid
                }
            };
            self.postings[fid as usize].push(slot_id);
            fids.push(fid);
        }
        let slot = Slot {
            key,
            features: fids.into_boxed_slice(),
        };
        if slot_id as usize == self.slots.len() {
            self.slots.push(Some(slot));
        } else {
            self.slots[slot_id as usize] = Some(slot);
        }
        self.by_key.insert(key, slot_id);
        Ok(())
    }

    /// Top-k ranking over the records sharing features `fids`, `exclude` left out.
    pub(crate) fn top_k(&self, fids: &[u32], exclude: Option<u32>, k: usize) -> Vec<Candidate<K>> {
        rank(self, &self.config, &self.scratch, fids, exclude, k)
    }
}

impl<K: Copy> PostingSource<K> for CandidateIndex<K> {
    fn slot_count(&self) -> usize {
        self.slots.len()
    }

    fn posting(&self, fid: u32) -> &[u32] {
        self.postings.get(fid as usize).map_or(&[], Vec::as_slice)
    }

    fn feature(&self, fid: u32) -> u64 {
        self.feature_values.get(fid as usize).copied().unwrap_or(0)
    }

    fn key(&self, slot: u32) -> Option<K> {
        self.slots
            .get(slot as usize)
            .and_then(Option::as_ref)
            .map(|s| s.key)
    }
}

fn full(what: &str) -> Error {
    Error::InvalidParameter {
        name: "candidate_index".to_owned(),
        reason: format!("holds the maximum number of {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::Scratch;

    #[test]
    fn scatter_sums_weights_per_slot_and_lists_each_touched_slot_once() {
        let mut scratch = Scratch {
            scores: vec![0; 8],
            touched: Vec::new(),
        };
        let lists: [(&[u32], u16); 3] = [(&[5, 1, 7], 4), (&[1, 5, 2], 2), (&[7, 1], u16::MAX)];
        let touched = scratch.scatter(lists.iter().copied());
        assert_eq!(touched, 4);
        assert_eq!(&scratch.touched[..touched], &[5, 1, 7, 2]);
        assert_eq!(scratch.scores, vec![0, u16::MAX, 2, 0, 0, 6, 0, u16::MAX]);
    }

    #[test]
    fn scatter_on_a_reused_scratch_counts_from_zero() {
        let mut scratch = Scratch {
            scores: vec![0; 4],
            touched: vec![3, 3, 3, 3, 3, 3],
        };
        let touched = scratch.scatter([(&[2u32, 2, 0][..], 1)].into_iter());
        assert_eq!(&scratch.touched[..touched], &[2, 0]);
        assert_eq!(scratch.scores, vec![1, 0, 2, 0]);
    }
}
