//! Batch matching with rayon: deduplication of one set ([`dedupe`]) and linkage of two
//! ([`link`]). Both run candidate selection ([`crate::blocking`]), score every candidate pair in
//! parallel, and sort what they return, so the output is the same whatever the number of threads;
//! running inside a one-thread pool (`rayon::ThreadPoolBuilder::new().num_threads(1)`) is the
//! sequential path and gives identical results.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::blocking::{BlockingConfig, candidate_pairs, candidate_pairs_between};
use crate::cluster::{ClusterConfig, Clustering, cluster};
use crate::record::NormalizedRecord;

/// What batch matching needs from a model: the match weight of a pair (log2 odds, prior
/// included).
pub trait PairScorer: Sync {
    /// The match weight of `a` against `b`.
    fn match_weight(&self, a: &NormalizedRecord, b: &NormalizedRecord) -> f64;

    /// The match probability for a match weight: `2^w / (1 + 2^w)`.
    fn probability(&self, match_weight: f64) -> f64 {
        1.0 / (1.0 + (-match_weight).exp2())
    }
}

/// Settings of a batch run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchConfig {
    /// Candidate selection.
    pub blocking: BlockingConfig,
    /// Scored pairs with a match weight below this are not reported.
    pub review_threshold: f64,
    /// Clustering into persons (deduplication only).
    pub cluster: ClusterConfig,
    /// Linkage: at most this many matches per right-hand record, best first.
    pub max_matches: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            blocking: BlockingConfig::batch(),
            review_threshold: 0.0,
            cluster: ClusterConfig::default(),
            max_matches: 2,
        }
    }
}

/// One scored pair of records.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredPair {
    /// Record number (deduplication: the smaller one; linkage: in the left set).
    pub a: u32,
    /// Record number (deduplication: the larger one; linkage: in the right set).
    pub b: u32,
    /// Match weight.
    pub match_weight: f64,
    /// Match probability.
    pub probability: f64,
}

/// Result of deduplicating one set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DedupeResult {
    /// Candidate pairs scored.
    pub candidate_pairs: usize,
    /// Pairs scoring at least the review threshold, sorted by `(a, b)`.
    pub pairs: Vec<ScoredPair>,
    /// The persons found.
    pub clustering: Clustering,
}

/// Result of linking a right-hand set to a left-hand set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkResult {
    /// Candidate pairs scored.
    pub candidate_pairs: usize,
    /// For each right record (`b`) with any, its best left matches (`a`) scoring at least the
    /// review threshold; sorted by right record, then weight descending, then left record.
    pub matches: Vec<ScoredPair>,
}

fn score_pairs<S: PairScorer>(
    pairs: &[(u32, u32)],
    left: &[NormalizedRecord],
    right: &[NormalizedRecord],
    scorer: &S,
) -> Vec<ScoredPair> {
    pairs
        .par_iter()
        .map(|&(a, b)| {
            let w = scorer.match_weight(&left[a as usize], &right[b as usize]);
            ScoredPair {
                a,
                b,
                match_weight: w,
                probability: scorer.probability(w),
            }
        })
        .collect()
}

/// Deduplicates `records`: candidate pairs, their scores, and clusters of records believed to be
/// one person. Record numbers are indices into `records`.
pub fn dedupe<S: PairScorer>(
    records: &[NormalizedRecord],
    scorer: &S,
    config: &BatchConfig,
) -> DedupeResult {
    let candidates = candidate_pairs(records, &config.blocking);
    let scored = score_pairs(&candidates, records, records, scorer);
    let edges: Vec<(u32, u32, f64)> = scored.iter().map(|p| (p.a, p.b, p.match_weight)).collect();
    let clustering = cluster(records.len(), &edges, &config.cluster);
    drop(edges);
    let pairs = scored
        .into_iter()
        .filter(|p| p.match_weight >= config.review_threshold)
        .collect();
    DedupeResult {
        candidate_pairs: candidates.len(),
        pairs,
        clustering,
    }
}

/// Links `right` to `left`: for each right record, its best match(es) in `left`.
pub fn link<S: PairScorer>(
    left: &[NormalizedRecord],
    right: &[NormalizedRecord],
    scorer: &S,
    config: &BatchConfig,
) -> LinkResult {
    let candidates = candidate_pairs_between(left, right, &config.blocking);
    let mut scored: Vec<ScoredPair> = score_pairs(&candidates, left, right, scorer)
        .into_iter()
        .filter(|p| p.match_weight >= config.review_threshold)
        .collect();
    scored.par_sort_unstable_by(|x, y| {
        x.b.cmp(&y.b)
            .then(y.match_weight.total_cmp(&x.match_weight))
            .then(x.a.cmp(&y.a))
    });
    let mut matches = Vec::new();
    for group in scored.chunk_by(|x, y| x.b == y.b) {
        matches.extend(group.iter().take(config.max_matches));
    }
    LinkResult {
        candidate_pairs: candidates.len(),
        matches,
    }
}
