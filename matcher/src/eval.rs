//! Quality evaluation against ground truth: pairwise precision, recall and F1, cluster-level
//! B-cubed, and blocking quality (pair completeness, reduction ratio, pair quality).
//!
//! Truth is a cluster label per record id ([`Truth`]). Predictions are either pairs of ids (fed to
//! a [`PairCounter`], one pair at a time so a large `pairs.csv` can be streamed) or a predicted
//! cluster per id (fed to a [`ClusterCounter`]). Counting is exact integer arithmetic; true pairs
//! are counted per cluster as n(n-1)/2 and never materialised.
//!
//! Conventions for empty denominators: precision is 1 when nothing was predicted and recall is 1
//! when there is nothing to find (nothing wrong was said / nothing was missed).
//!
//! ```
//! use matcher::eval::Truth;
//!
//! // a, b, c are one person; d, e another.
//! let truth = Truth::new([("a", 1), ("b", 1), ("c", 1), ("d", 2), ("e", 2)]).unwrap();
//! let m = truth.pairwise([("a", "b"), ("c", "d"), ("c", "e"), ("d", "e")]).unwrap();
//! assert_eq!((m.true_positives, m.false_positives, m.false_negatives), (2, 2, 2));
//! assert_eq!(m.f1, 0.5);
//! ```

use std::borrow::Borrow;
use std::fmt::Debug;
use std::hash::Hash;

use rustc_hash::FxHashMap;

/// Why an evaluation input was rejected. Carries record ids only, never patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The same record id appears twice in the truth or in a predicted clustering.
    #[error("record id {0} appears more than once")]
    DuplicateId(String),
    /// A prediction names a record id that the truth does not know.
    #[error("record id {0} is not in the truth")]
    UnknownId(String),
    /// There are more records or clusters than the evaluation can index (over 4 billion).
    #[error("too many records to evaluate")]
    TooMany,
}

/// Ground truth: a cluster label per record id.
#[derive(Debug, Clone)]
pub struct Truth<Id> {
    index: FxHashMap<Id, u32>,
    /// Dense cluster number per record (by record index).
    cluster: Vec<u32>,
    /// Records per cluster.
    sizes: Vec<u64>,
}

fn pairs_in(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// `num / den`, or 1 when `den` is 0.
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

fn harmonic(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

impl<Id: Hash + Eq + Debug> Truth<Id> {
    /// Truth from `(record id, cluster label)` pairs. Fails on a repeated id.
    pub fn new<L: Hash + Eq>(labels: impl IntoIterator<Item = (Id, L)>) -> Result<Self, EvalError> {
        let mut index = FxHashMap::default();
        let mut cluster = Vec::new();
        let mut sizes: Vec<u64> = Vec::new();
        let mut dense: FxHashMap<L, u32> = FxHashMap::default();
        for (id, label) in labels {
            let next = u32::try_from(dense.len()).map_err(|_| EvalError::TooMany)?;
            let c = *dense.entry(label).or_insert(next);
            if c == next {
                sizes.push(0);
            }
            sizes[c as usize] += 1;
            let record = u32::try_from(cluster.len()).map_err(|_| EvalError::TooMany)?;
            if index.contains_key(&id) {
                return Err(EvalError::DuplicateId(format!("{id:?}")));
            }
            index.insert(id, record);
            cluster.push(c);
        }
        Ok(Self {
            index,
            cluster,
            sizes,
        })
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.cluster.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.cluster.is_empty()
    }

    /// Number of true clusters (persons), singletons included.
    pub fn cluster_count(&self) -> usize {
        self.sizes.len()
    }

    /// Number of true matching pairs: the sum over clusters of n(n-1)/2.
    pub fn true_pairs(&self) -> u64 {
        self.sizes.iter().map(|&n| pairs_in(n)).sum()
    }

    /// Number of distinct record pairs: N(N-1)/2.
    pub fn total_pairs(&self) -> u64 {
        pairs_in(self.len() as u64)
    }

    /// Whether two records are the same person; `None` when either id is unknown.
    pub fn same<Q>(&self, a: &Q, b: &Q) -> Option<bool>
    where
        Id: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (a, b) = (*self.index.get(a)?, *self.index.get(b)?);
        Some(self.cluster[a as usize] == self.cluster[b as usize])
    }

    fn lookup<Q>(&self, id: &Q) -> Result<u32, EvalError>
    where
        Id: Borrow<Q>,
        Q: Hash + Eq + Debug + ?Sized,
    {
        self.index
            .get(id)
            .copied()
            .ok_or_else(|| EvalError::UnknownId(format!("{id:?}")))
    }

    /// A counter for predicted (or candidate) pairs.
    pub fn pair_counter(&self) -> PairCounter<'_, Id> {
        PairCounter {
            truth: self,
            pairs: Vec::new(),
        }
    }

    /// Pairwise metrics of predicted matching pairs (order, repeats and self-pairs ignored).
    pub fn pairwise<'q, Q>(
        &self,
        pairs: impl IntoIterator<Item = (&'q Q, &'q Q)>,
    ) -> Result<PairwiseMetrics, EvalError>
    where
        Id: Borrow<Q>,
        Q: Hash + Eq + Debug + ?Sized + 'q,
    {
        let mut counter = self.pair_counter();
        for (a, b) in pairs {
            counter.add(a, b)?;
        }
        Ok(counter.finish().pairwise())
    }

    /// Blocking metrics of candidate pairs (order, repeats and self-pairs ignored).
    pub fn blocking<'q, Q>(
        &self,
        pairs: impl IntoIterator<Item = (&'q Q, &'q Q)>,
    ) -> Result<BlockingMetrics, EvalError>
    where
        Id: Borrow<Q>,
        Q: Hash + Eq + Debug + ?Sized + 'q,
    {
        let mut counter = self.pair_counter();
        for (a, b) in pairs {
            counter.add(a, b)?;
        }
        Ok(counter.finish().blocking())
    }

    /// A counter for a predicted clustering (a cluster label per record).
    pub fn cluster_counter<L: Hash + Eq>(&self) -> ClusterCounter<'_, Id, L> {
        ClusterCounter {
            truth: self,
            predicted: vec![u32::MAX; self.len()],
            labels: FxHashMap::default(),
        }
    }

    /// Cluster metrics of a predicted clustering. Records the prediction leaves out count as
    /// singletons.
    pub fn clusters<'q, L, Q>(
        &self,
        predicted: impl IntoIterator<Item = (&'q Q, L)>,
    ) -> Result<ClusterMetrics, EvalError>
    where
        L: Hash + Eq,
        Id: Borrow<Q>,
        Q: Hash + Eq + Debug + ?Sized + 'q,
    {
        let mut counter = self.cluster_counter();
        for (id, label) in predicted {
            counter.assign(id, label)?;
        }
        Ok(counter.finish())
    }
}

/// Accumulates pairs of record ids, then counts how many are true (see [`Truth::pair_counter`]).
#[derive(Debug)]
pub struct PairCounter<'a, Id> {
    truth: &'a Truth<Id>,
    /// Distinct-pair keys (smaller index in the high half), deduplicated at the end.
    pairs: Vec<u64>,
}

impl<Id: Hash + Eq + Debug> PairCounter<'_, Id> {
    /// Adds one pair. Fails when either id is not in the truth.
    pub fn add<Q>(&mut self, a: &Q, b: &Q) -> Result<(), EvalError>
    where
        Id: Borrow<Q>,
        Q: Hash + Eq + Debug + ?Sized,
    {
        let (a, b) = (self.truth.lookup(a)?, self.truth.lookup(b)?);
        if a != b {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            self.pairs.push(u64::from(lo) << 32 | u64::from(hi));
        }
        Ok(())
    }

    /// The counts over the distinct pairs added.
    pub fn finish(mut self) -> PairCounts {
        self.pairs.sort_unstable();
        self.pairs.dedup();
        let cluster = &self.truth.cluster;
        let true_positives = self
            .pairs
            .iter()
            .filter(|&&key| cluster[(key >> 32) as usize] == cluster[(key & 0xFFFF_FFFF) as usize])
            .count() as u64;
        PairCounts {
            predicted: self.pairs.len() as u64,
            true_positives,
            true_pairs: self.truth.true_pairs(),
            total_pairs: self.truth.total_pairs(),
        }
    }
}

/// Exact pair counts: the raw material of pairwise and blocking metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairCounts {
    /// Distinct predicted (or candidate) pairs.
    pub predicted: u64,
    /// Predicted pairs that are true matches.
    pub true_positives: u64,
    /// True matching pairs in the truth.
    pub true_pairs: u64,
    /// All distinct record pairs, N(N-1)/2.
    pub total_pairs: u64,
}

impl PairCounts {
    /// Precision, recall and F1 of the pairs as match predictions.
    pub fn pairwise(&self) -> PairwiseMetrics {
        let precision = ratio(self.true_positives, self.predicted);
        let recall = ratio(self.true_positives, self.true_pairs);
        PairwiseMetrics {
            true_positives: self.true_positives,
            false_positives: self.predicted - self.true_positives,
            false_negatives: self.true_pairs - self.true_positives,
            precision,
            recall,
            f1: harmonic(precision, recall),
        }
    }

    /// Pair completeness, reduction ratio and pair quality of the pairs as blocking candidates.
    pub fn blocking(&self) -> BlockingMetrics {
        BlockingMetrics {
            candidate_pairs: self.predicted,
            true_pairs_found: self.true_positives,
            true_pairs: self.true_pairs,
            total_pairs: self.total_pairs,
            pair_completeness: ratio(self.true_positives, self.true_pairs),
            reduction_ratio: 1.0 - ratio(self.predicted, self.total_pairs).min(1.0),
            pair_quality: ratio(self.true_positives, self.predicted),
        }
    }
}

/// Pairwise quality of predicted matching pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairwiseMetrics {
    /// Predicted pairs that are true matches.
    pub true_positives: u64,
    /// Predicted pairs that are not.
    pub false_positives: u64,
    /// True matching pairs not predicted.
    pub false_negatives: u64,
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// Quality of candidate selection (blocking).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockingMetrics {
    /// Distinct candidate pairs.
    pub candidate_pairs: u64,
    /// Candidate pairs that are true matches.
    pub true_pairs_found: u64,
    /// True matching pairs in the truth.
    pub true_pairs: u64,
    /// All distinct record pairs, N(N-1)/2.
    pub total_pairs: u64,
    /// Blocking recall: true pairs found / true pairs.
    pub pair_completeness: f64,
    /// 1 - candidate pairs / all pairs.
    pub reduction_ratio: f64,
    /// Precision of the candidates: true pairs found / candidate pairs.
    pub pair_quality: f64,
}

/// Accumulates a predicted cluster label per record (see [`Truth::cluster_counter`]).
#[derive(Debug)]
pub struct ClusterCounter<'a, Id, L> {
    truth: &'a Truth<Id>,
    /// Dense predicted cluster per record; `u32::MAX` until assigned.
    predicted: Vec<u32>,
    labels: FxHashMap<L, u32>,
}

impl<Id: Hash + Eq + Debug, L: Hash + Eq> ClusterCounter<'_, Id, L> {
    /// Puts record `id` in predicted cluster `label`. Fails on an unknown or repeated id.
    pub fn assign<Q>(&mut self, id: &Q, label: L) -> Result<(), EvalError>
    where
        Id: Borrow<Q>,
        Q: Hash + Eq + Debug + ?Sized,
    {
        let record = self.truth.lookup(id)? as usize;
        if self.predicted[record] != u32::MAX {
            return Err(EvalError::DuplicateId(format!("{id:?}")));
        }
        let next = u32::try_from(self.labels.len()).map_err(|_| EvalError::TooMany)?;
        if next == u32::MAX {
            return Err(EvalError::TooMany);
        }
        self.predicted[record] = *self.labels.entry(label).or_insert(next);
        Ok(())
    }

    /// B-cubed and pairwise metrics of the clustering; unassigned records are singletons.
    pub fn finish(self) -> ClusterMetrics {
        let n = self.predicted.len();
        // Unassigned records get fresh singleton labels.
        let mut next = self.labels.len() as u64;
        let predicted: Vec<u64> = self
            .predicted
            .iter()
            .map(|&p| {
                if p == u32::MAX {
                    next += 1;
                    next - 1
                } else {
                    u64::from(p)
                }
            })
            .collect();
        let mut predicted_sizes = vec![0u64; next as usize];
        for &p in &predicted {
            predicted_sizes[p as usize] += 1;
        }
        // Contingency table: records per (predicted, true) cluster.
        let mut overlap: FxHashMap<(u64, u32), u64> = FxHashMap::default();
        for (record, &p) in predicted.iter().enumerate() {
            *overlap.entry((p, self.truth.cluster[record])).or_insert(0) += 1;
        }
        // B-cubed: sum over records of |C ∩ T| / |C| equals sum over cells of n_ct^2 / |C|.
        let (mut precision_sum, mut recall_sum, mut true_positives) = (0.0, 0.0, 0u64);
        for (&(p, t), &count) in &overlap {
            let squared = (count * count) as f64;
            precision_sum += squared / predicted_sizes[p as usize] as f64;
            recall_sum += squared / self.truth.sizes[t as usize] as f64;
            true_positives += pairs_in(count);
        }
        let (precision, recall) = if n == 0 {
            (1.0, 1.0)
        } else {
            (precision_sum / n as f64, recall_sum / n as f64)
        };
        let counts = PairCounts {
            predicted: predicted_sizes.iter().map(|&s| pairs_in(s)).sum(),
            true_positives,
            true_pairs: self.truth.true_pairs(),
            total_pairs: self.truth.total_pairs(),
        };
        ClusterMetrics {
            predicted_clusters: predicted_sizes.len() as u64,
            true_clusters: self.truth.cluster_count() as u64,
            bcubed: BCubed {
                precision,
                recall,
                f1: harmonic(precision, recall),
            },
            pairwise: counts.pairwise(),
        }
    }
}

/// B-cubed precision, recall and F1 (Bagga and Baldwin, 1998): per-record overlap of the
/// predicted and true clusters, averaged over records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BCubed {
    /// Mean over records of |predicted ∩ true| / |predicted|.
    pub precision: f64,
    /// Mean over records of |predicted ∩ true| / |true|.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// Quality of a predicted clustering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterMetrics {
    /// Number of predicted clusters, singletons included.
    pub predicted_clusters: u64,
    /// Number of true clusters, singletons included.
    pub true_clusters: u64,
    /// B-cubed metrics.
    pub bcubed: BCubed,
    /// Pairwise metrics of the pairs the clustering implies (every pair inside a cluster).
    pub pairwise: PairwiseMetrics,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// a, b, c are person 1; d, e are person 2.
    fn truth() -> Truth<String> {
        Truth::new(
            [("a", 1), ("b", 1), ("c", 1), ("d", 2), ("e", 2)]
                .map(|(id, label)| (id.to_owned(), label)),
        )
        .unwrap()
    }

    #[test]
    fn truth_counts_pairs_per_cluster() {
        let t = truth();
        assert_eq!((t.len(), t.cluster_count()), (5, 2));
        assert_eq!(t.true_pairs(), 3 + 1);
        assert_eq!(t.total_pairs(), 10);
        assert_eq!(t.same("a", "c"), Some(true));
        assert_eq!(t.same("a", "d"), Some(false));
        assert_eq!(t.same("a", "z"), None);
    }

    #[test]
    fn pairwise_by_hand() {
        // Predicted ab, cd, ce, de (+ repeats, a reversed pair and a self-pair, all ignored).
        let m = truth()
            .pairwise([
                ("a", "b"),
                ("b", "a"),
                ("c", "d"),
                ("c", "e"),
                ("d", "e"),
                ("d", "e"),
                ("e", "e"),
            ])
            .unwrap();
        // True pairs ab, ac, bc, de: found ab and de.
        assert_eq!(
            (m.true_positives, m.false_positives, m.false_negatives),
            (2, 2, 2)
        );
        assert!(close(m.precision, 0.5) && close(m.recall, 0.5) && close(m.f1, 0.5));

        // Perfect prediction; and nothing predicted.
        let all = [("a", "b"), ("a", "c"), ("b", "c"), ("d", "e")];
        assert!(close(truth().pairwise(all).unwrap().f1, 1.0));
        let none: [(&str, &str); 0] = [];
        let m = truth().pairwise(none).unwrap();
        assert_eq!((m.precision, m.recall, m.f1), (1.0, 0.0, 0.0));
    }

    #[test]
    fn pairwise_precision_recall_differ() {
        // ab only: precision 1, recall 1/4, F1 = 2 * 0.25 / 1.25 = 0.4.
        let m = truth().pairwise([("a", "b")]).unwrap();
        assert!(close(m.precision, 1.0) && close(m.recall, 0.25) && close(m.f1, 0.4));
    }

    #[test]
    fn unknown_and_duplicate_ids_are_errors() {
        assert_eq!(
            truth().pairwise([("a", "zz")]).unwrap_err(),
            EvalError::UnknownId("\"zz\"".to_owned())
        );
        assert!(matches!(
            Truth::new([("a", 1), ("a", 2)]),
            Err(EvalError::DuplicateId(_))
        ));
        let t = truth();
        let mut c = t.cluster_counter();
        c.assign("a", 1).unwrap();
        assert!(matches!(c.assign("a", 2), Err(EvalError::DuplicateId(_))));
    }

    #[test]
    fn bcubed_by_hand() {
        // Predicted {a, b} and {c, d, e}. Per record (precision, recall):
        // a, b: (2/2, 2/3); c: (1/3, 1/3); d, e: (2/3, 2/2).
        // Precision = (1 + 1 + 1/3 + 2/3 + 2/3) / 5 = 11/15; recall = (2/3 + 2/3 + 1/3 + 1 + 1) / 5
        // = 11/15.
        let m = truth()
            .clusters([("a", "x"), ("b", "x"), ("c", "y"), ("d", "y"), ("e", "y")])
            .unwrap();
        assert!(close(m.bcubed.precision, 11.0 / 15.0));
        assert!(close(m.bcubed.recall, 11.0 / 15.0));
        assert!(close(m.bcubed.f1, 11.0 / 15.0));
        assert_eq!((m.predicted_clusters, m.true_clusters), (2, 2));
        // The pairs the clustering implies are ab, cd, ce, de: the pairwise example above.
        assert_eq!(m.pairwise.true_positives, 2);
        assert!(close(m.pairwise.f1, 0.5));
    }

    #[test]
    fn bcubed_extremes() {
        let t = truth();
        // Everything in one cluster: recall 1; precision (3*3/5 + 2*2/5) / 5 = 13/25.
        let one = t
            .clusters(["a", "b", "c", "d", "e"].map(|id| (id, 0)))
            .unwrap();
        assert!(close(one.bcubed.recall, 1.0));
        assert!(close(one.bcubed.precision, 13.0 / 25.0));
        // Nothing assigned: all singletons, precision 1, recall (3 * 1/3 + 2 * 1/2) / 5 = 2/5.
        let none: [(&str, u8); 0] = [];
        let singles = t.clusters(none).unwrap();
        assert!(close(singles.bcubed.precision, 1.0));
        assert!(close(singles.bcubed.recall, 0.4));
        assert_eq!(singles.predicted_clusters, 5);
        assert_eq!(singles.pairwise.true_positives, 0);
        // The truth itself: all ones.
        let exact = t
            .clusters([("a", 1), ("b", 1), ("c", 1), ("d", 2), ("e", 2)])
            .unwrap();
        assert_eq!((exact.bcubed.precision, exact.bcubed.recall), (1.0, 1.0));
        assert_eq!(exact.pairwise.f1, 1.0);
    }

    #[test]
    fn bcubed_penalises_one_misplaced_record() {
        // Truth {1,2,3,4} {5,6,7}; predicted {1,2,3} {4,5,6,7}: record 4 is in the wrong
        // cluster. Precision = (3 * 3/3 + 1/4 + 3 * 3/4) / 7 = (3 + 0.25 + 2.25) / 7
        // = 5.5/7; recall = (3 * 3/4 + 1/4 + 3 * 3/3) / 7 = 5.5/7.
        let ids: Vec<u32> = (1..=7).collect();
        let t = Truth::new(ids.iter().map(|&i| (i, i > 4))).unwrap();
        let m = t.clusters(ids.iter().map(|i| (i, *i > 3))).unwrap();
        assert!(close(m.bcubed.precision, 5.5 / 7.0));
        assert!(close(m.bcubed.recall, 5.5 / 7.0));
    }

    proptest::proptest! {
        /// The contingency-table counts agree with brute force over records and pairs.
        #[test]
        fn cluster_counts_match_brute_force(
            labels in proptest::collection::vec((0u8..6, 0u8..6), 0..40)
        ) {
            let n = labels.len();
            let ids: Vec<usize> = (0..n).collect();
            let truth = Truth::new(ids.iter().map(|&i| (i, labels[i].0))).unwrap();
            let m = truth.clusters(ids.iter().map(|i| (i, labels[*i].1))).unwrap();

            // B-cubed record by record.
            let (mut p_sum, mut r_sum) = (0.0, 0.0);
            for i in 0..n {
                let pred = (0..n).filter(|&j| labels[j].1 == labels[i].1).count() as f64;
                let real = (0..n).filter(|&j| labels[j].0 == labels[i].0).count() as f64;
                let both = (0..n)
                    .filter(|&j| labels[j].0 == labels[i].0 && labels[j].1 == labels[i].1)
                    .count() as f64;
                p_sum += both / pred;
                r_sum += both / real;
            }
            if n > 0 {
                proptest::prop_assert!((m.bcubed.precision - p_sum / n as f64).abs() < 1e-9);
                proptest::prop_assert!((m.bcubed.recall - r_sum / n as f64).abs() < 1e-9);
            }

            // Pairwise: the clustering's pairs fed one by one give the same counts.
            let pairs: Vec<(usize, usize)> = (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .filter(|&(i, j)| labels[i].1 == labels[j].1)
                .collect();
            let by_pairs = truth.pairwise(pairs.iter().map(|(a, b)| (a, b))).unwrap();
            proptest::prop_assert_eq!(by_pairs, m.pairwise);
            let true_pairs = (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .filter(|&(i, j)| labels[i].0 == labels[j].0)
                .count() as u64;
            proptest::prop_assert_eq!(truth.true_pairs(), true_pairs);
        }
    }

    #[test]
    fn blocking_by_hand() {
        // Candidates ab, ac, bd, de, ce among 10 pairs: 3 of 4 true pairs found.
        let b = truth()
            .blocking([("a", "b"), ("a", "c"), ("b", "d"), ("d", "e"), ("c", "e")])
            .unwrap();
        assert_eq!(
            (b.candidate_pairs, b.true_pairs_found, b.true_pairs),
            (5, 3, 4)
        );
        assert!(close(b.pair_completeness, 0.75));
        assert!(close(b.reduction_ratio, 0.5));
        assert!(close(b.pair_quality, 0.6));
    }
}
