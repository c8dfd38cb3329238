//! Batch matching with rayon: deduplication of one set ([`dedupe`]) and linkage of two
//! ([`link`]). Both run candidate selection ([`crate::blocking`]), score every candidate pair in
//! parallel, and sort what they return, so the output is the same whatever the number of threads;
//! running inside a one-thread pool (`rayon::ThreadPoolBuilder::new().num_threads(1)`) is the
//! sequential path and gives identical results.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::blocking::{BlockingConfig, candidate_pairs, candidate_pairs_between};
use crate::cluster::{ClusterConfig, Clustering, cluster};
use crate::normalize::normalize;
use crate::record::{CompactString, NormalizedName, NormalizedRecord, PersonRecord};
use crate::scoring::{MatchDecision, Model, ReviewReason, Score, weight_of_probability};

/// Normalizes `records` in parallel, in order, and trims every string and list to its length:
/// a batch holds millions of records, and spare capacity costs about a third of their memory.
pub fn normalize_all(records: &[PersonRecord]) -> Vec<NormalizedRecord> {
    records
        .par_iter()
        .map(|r| {
            let mut n = normalize(r);
            shrink(&mut n);
            n
        })
        .collect()
}

fn shrink_name(n: &mut NormalizedName) {
    n.text.shrink_to_fit();
    n.compact.shrink_to_fit();
    n.phonetic.metaphone.shrink_to_fit();
    n.phonetic.metaphone_alt.shrink_to_fit();
    n.phonetic.nysiis.shrink_to_fit();
    n.nickname_groups.shrink_to_fit();
}

/// Releases spare capacity of every string and list of `record`.
pub fn shrink(record: &mut NormalizedRecord) {
    record.given.iter_mut().for_each(shrink_name);
    record.family.iter_mut().for_each(shrink_name);
    record.given.shrink_to_fit();
    record.family.shrink_to_fit();
    for a in &mut record.addresses {
        for s in [
            &mut a.house_number,
            &mut a.street,
            &mut a.extra,
            &mut a.city,
            &mut a.state,
            &mut a.postal_code,
            &mut a.country,
        ] {
            s.shrink_to_fit();
        }
    }
    record.addresses.shrink_to_fit();
    record
        .phones
        .iter_mut()
        .for_each(CompactString::shrink_to_fit);
    record.phones.shrink_to_fit();
    record
        .emails
        .iter_mut()
        .for_each(CompactString::shrink_to_fit);
    record.emails.shrink_to_fit();
    for id in &mut record.identifiers {
        id.system.shrink_to_fit();
        id.value.shrink_to_fit();
    }
    record.identifiers.shrink_to_fit();
}

/// What batch matching needs from a model: a score and a decision for a pair. Implemented by
/// [`Model`]; tests may plug in simpler scorers.
pub trait PairScorer: Sync {
    /// The score of `a` against `b`.
    fn score_pair(&self, a: &NormalizedRecord, b: &NormalizedRecord) -> Score;

    /// The decision zone of a pair's score.
    fn decide_pair(
        &self,
        score: &Score,
        a: &NormalizedRecord,
        b: &NormalizedRecord,
    ) -> MatchDecision;
}

impl PairScorer for Model {
    fn score_pair(&self, a: &NormalizedRecord, b: &NormalizedRecord) -> Score {
        self.score(a, b)
    }

    fn decide_pair(
        &self,
        score: &Score,
        a: &NormalizedRecord,
        b: &NormalizedRecord,
    ) -> MatchDecision {
        self.decide(score, a, b)
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

impl BatchConfig {
    /// Settings taking their thresholds from `model`: pairs are reported from its "possible"
    /// threshold and linked into clusters from its "probable" threshold.
    pub fn for_model(model: &Model) -> Self {
        let t = model.thresholds();
        let mut config = Self {
            review_threshold: weight_of_probability(t.possible),
            ..Self::default()
        };
        config.cluster.link_threshold = weight_of_probability(t.probable);
        config
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
    /// The model's decision for the pair alone (linkage does not apply the near-tie rule here).
    pub decision: MatchDecision,
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

/// Match weights of `pairs` (indices into `left` and `right`), in parallel, in order.
fn weigh_pairs<S: PairScorer>(
    pairs: &[(u32, u32)],
    left: &[NormalizedRecord],
    right: &[NormalizedRecord],
    scorer: &S,
) -> Vec<(u32, u32, f64)> {
    pairs
        .par_iter()
        .map(|&(a, b)| {
            let w = scorer
                .score_pair(&left[a as usize], &right[b as usize])
                .match_weight;
            (a, b, w)
        })
        .collect()
}

/// The reported form of the weighed pairs at or above `threshold`, with probability and
/// decision (recomputed for these few, so the full candidate set stays 16 bytes a pair).
fn report_pairs<S: PairScorer>(
    weighed: &[(u32, u32, f64)],
    threshold: f64,
    left: &[NormalizedRecord],
    right: &[NormalizedRecord],
    scorer: &S,
) -> Vec<ScoredPair> {
    weighed
        .par_iter()
        .filter(|p| p.2 >= threshold)
        .map(|&(a, b, _)| {
            let (x, y) = (&left[a as usize], &right[b as usize]);
            let score = scorer.score_pair(x, y);
            ScoredPair {
                a,
                b,
                match_weight: score.match_weight,
                probability: score.probability,
                decision: scorer.decide_pair(&score, x, y),
            }
        })
        .collect()
}

/// A pair that one of the model's review rules ([`Model::review_reason`]) keeps from being linked
/// automatically: its index in the weighed pairs and the rule.
pub type Held = (usize, ReviewReason);

/// Clusters records `0..records.len()` as [`cluster`] does, except that a pair at or above the link
/// threshold that a review rule of `model` catches (placeholder identity, twins of one mother,
/// and the rules the model turns on: no agreeing anchor, sibling pattern) is not a link: the
/// file mode's counterpart of the database job, where `Model::decide` sends such a pair to review.
/// Twins of one mother are a cannot-link besides, from `review_threshold` up (as in the database
/// job), so no third record (a "Baby Girl" naming the same mother, which matches either twin) can
/// put them in one cluster, even when the twins' own pair is only in the review band; the other
/// rules leave a pair uncertain, not different, and it just falls below the link threshold.
///
/// The rules are evaluated only for pairs at or above `review_threshold` (a few per record).
/// `weighed` holds `(a, b, match_weight)` with record numbers into `records`; its weights are
/// changed while clustering and restored before returning. Returns the clustering and the pairs
/// held back, by index: every pair above the link threshold that a rule catches, and the twins
/// in the review band.
pub fn cluster_reviewed(
    model: &Model,
    records: &[NormalizedRecord],
    weighed: &mut [(u32, u32, f64)],
    config: &ClusterConfig,
    review_threshold: f64,
) -> (Clustering, Vec<Held>) {
    let n = records.len();
    let asked_from = review_threshold.min(config.link_threshold);
    let held: Vec<Held> = weighed
        .par_iter()
        .enumerate()
        .filter(|&(_, &(a, b, w))| {
            w >= asked_from && a != b && (a as usize) < n && (b as usize) < n
        })
        .filter_map(|(i, &(a, b, w))| {
            model
                .review_reason(&records[a as usize], &records[b as usize])
                .filter(|&r| w >= config.link_threshold || r == ReviewReason::TwinsOfOneMother)
                .map(|r| (i, r))
        })
        .collect();
    let weights: Vec<f64> = held.iter().map(|&(i, _)| weighed[i].2).collect();
    for &(i, reason) in &held {
        weighed[i].2 = match reason {
            ReviewReason::TwinsOfOneMother => f64::NEG_INFINITY,
            _ => config.link_threshold.next_down(),
        };
    }
    let clustering = cluster(n, weighed, config);
    for (&(i, _), w) in held.iter().zip(weights) {
        weighed[i].2 = w;
    }
    (clustering, held)
}

/// Deduplicates `records`: candidate pairs, their scores, and clusters of records believed to be
/// one person. Record numbers are indices into `records`.
pub fn dedupe<S: PairScorer>(
    records: &[NormalizedRecord],
    scorer: &S,
    config: &BatchConfig,
) -> DedupeResult {
    let candidates = candidate_pairs(records, &config.blocking);
    let candidate_count = candidates.len();
    let weighed = weigh_pairs(&candidates, records, records, scorer);
    drop(candidates);
    let pairs = report_pairs(&weighed, config.review_threshold, records, records, scorer);
    let clustering = cluster(records.len(), &weighed, &config.cluster);
    DedupeResult {
        candidate_pairs: candidate_count,
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
    let weighed = weigh_pairs(&candidates, left, right, scorer);
    let mut scored = report_pairs(&weighed, config.review_threshold, left, right, scorer);
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
