//! Training without labels: u from random pairs, m, the share of matches and the household
//! component by expectation-maximisation over blocked candidate pairs, term frequencies from the
//! data.
//!
//! # The model fitted
//! Every pair of records in the input is one of three kinds:
//! - a **match** (the same person), share `lambda_m` of all pairs, levels distributed by `m`;
//! - **different people of one household** (spouses, siblings, twins, a father and his junior),
//!   share `lambda_h`, levels distributed by `u_household`: they agree on family name, address,
//!   city and phone about as often as matches do, and on birth date (twins) and given name
//!   (juniors) far more often than strangers;
//! - **strangers**, the rest, levels distributed by `u`, measured on seeded random pairs, with
//!   the comparisons independent.
//!
//! The shares are shares of *all* `n (n - 1) / 2` pairs, not of the candidate pairs: the
//! chance that two strangers agree on a given name and a birth date is the same in 100k records as
//! in 1M, but a record has ten times as many strangers to agree with in 1M, and only a prior over
//! all pairs says so. Blocking is taken to keep every match and every household pair and to select
//! pairs by their comparison levels, so EM runs over the candidate pairs alone and counts every
//! pair it dropped as strangers: the posteriors of candidate pairs are then the posteriors among
//! all pairs.
//!
//! Fitting a two-class mixture with u free over the candidate pairs instead (the earlier design)
//! finds whatever split dominates the candidates: on 1M synthetic records it was "shares a birth
//! date or a given name", not "is the same person" (pairwise precision 0.60). With u fixed to the
//! random-pair u and the household class modelled, the split is the one wanted at any size.
//!
//! # How
//! 1. Every candidate pair becomes a comparison pattern (a level per comparison); EM works on the
//!    distinct patterns with their counts, so an iteration costs the number of patterns.
//! 2. u of every level is measured on seeded random pairs; the birth date's exact u is computed
//!    from the birth-date frequencies (exact, where sampling sees only a few agreeing pairs).
//! 3. EM fits `lambda_m`, `lambda_h`, m and `u_household` with u fixed.
//! 4. The model scores a pair by its weight against strangers (prior plus the sum of
//!    `log2(m/u)`) and against a household member (`log2(lambda_m/lambda_h)` plus the sum of
//!    `log2(m/u_household)`), combined as the posterior of the three-way mixture does (see
//!    [`crate::scoring`]). Term-frequency tables come from the records.
//!
//! Everything is seeded, and the parallel parts count integers: the same input and config give
//! the same model whatever the number of threads.

use crate::compare::compare_field;
use crate::error::{Error, Result};
use crate::record::NormalizedRecord;
use crate::scoring::{
    Comparison, ComparisonLevel, DEFAULT_TF_FLOOR, HouseholdMixture, Model, Thresholds,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::BTreeMap;

/// Smallest and largest probability a trained m or u may take.
const PROBABILITY_FLOOR: f64 = 1e-6;
/// Pattern code of a missing comparison (4 bits per comparison).
const MISSING: u64 = 0xF;

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Seed of the random-pair sampler.
    pub seed: u64,
    /// Number of random pairs sampled to estimate u.
    pub random_pairs: usize,
    /// EM iteration limit.
    pub max_iterations: usize,
    /// EM stops when no parameter moves more than this.
    pub tolerance: f64,
    /// Comparisons (kinds, similarity thresholds, level lists, household flags, TF strength),
    /// review rules and the starting m values (household comparisons also start `u_household`
    /// from their m: household members share them).
    pub base: Model,
    /// Version string of the trained model.
    pub version: String,
    /// Smallest frequency used in term-frequency adjustments.
    pub tf_floor: f64,
    /// Decision thresholds of the trained model. The default (certain 0.95, probable 0.8,
    /// possible 0.5, near-tie margin 2 bits) was chosen on FEBRL and synthetic data; the built-in
    /// model's own thresholds suit its hand-set weights, not trained ones.
    pub thresholds: Thresholds,
    /// Estimate how different people of one household (other than a father and his junior)
    /// agree on the given name, instead of taking the strangers' u: siblings and twins of some
    /// origins share a generation syllable or a part of a compound name (`shared_part`) far more
    /// often than strangers do. See [`crate::scoring`]. Off by default: on the international
    /// 100k set it lifts twins' F1 from 0.903 to 0.921, but on FEBRL (no households) the
    /// household class takes matches with a mistyped given name (FEBRL 2 recall 0.9964 ->
    /// 0.9928, FEBRL 1 F1 0.9990 -> 0.9980).
    pub household_given_name: bool,
    /// Estimates how often household members other than juniors agree on the given name at its
    /// `shared_part` level only (a generation syllable, a part of a compound name, a gendered
    /// middle name: Min-jun and Min-seo, María José and Ana María, Lan Thi and Mai Thi), the other
    /// levels keeping the strangers' u. Siblings and twins of these origins show it far more
    /// often than strangers; unlike `household_given_name`, it leaves typo levels alone, so the
    /// household class cannot take matches with a mistyped given name.
    pub household_shared_part: bool,
    /// Most candidate pairs whose comparison patterns EM counts. Above it, an evenly spaced
    /// sample of this many pairs is counted (every `n / max`-th pair of the sorted list) and its
    /// counts are scaled to the whole: the patterns' shares are what EM uses, and a sample of
    /// millions estimates them to a few parts in a thousand, while comparing every pair of a
    /// 10M-record file twice (here and when scoring) was a quarter of its run. Inputs up to
    /// about 1M records (6M candidate pairs) are counted whole, as before.
    pub max_pattern_pairs: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 42,
            random_pairs: 300_000,
            max_iterations: 200,
            tolerance: 1e-6,
            base: Model::builtin(),
            version: "trained".to_owned(),
            tf_floor: DEFAULT_TF_FLOOR,
            thresholds: Thresholds {
                certain: 0.95,
                probable: 0.8,
                possible: 0.5,
                near_tie_margin: 2.0,
            },
            household_given_name: false,
            household_shared_part: true,
            max_pattern_pairs: 8_000_000,
        }
    }
}

/// The estimates of one level.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelEstimate {
    /// Comparison name.
    pub comparison: String,
    /// Level label.
    pub level: String,
    /// m estimated by EM.
    pub m: f64,
    /// u among random pairs (strangers), as the model uses it.
    pub u: f64,
    /// u among different people of one household: estimated by EM for household comparisons,
    /// equal to `u` for the others (twins' birth dates and juniors' given names excepted, see
    /// [`crate::scoring`]).
    pub u_household: f64,
}

/// The outcome of training.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// The trained model.
    pub model: Model,
    /// EM iterations run.
    pub iterations: usize,
    /// Whether EM converged within `max_iterations`.
    pub converged: bool,
    /// Estimated probability that two records of the input, drawn at random, are one person (the
    /// model's prior).
    pub prior: f64,
    /// Estimated probability that two records drawn at random are different people of one
    /// household.
    pub household_share: f64,
    /// Estimated shares of twins and of a father and his junior among household pairs.
    pub twins: f64,
    /// See `twins`.
    pub juniors: f64,
    /// Estimated share of matches among the candidate pairs.
    pub candidate_match_share: f64,
    /// Per comparison level, in model order.
    pub levels: Vec<LevelEstimate>,
    /// Number of candidate pairs and of distinct comparison patterns EM ran on.
    pub candidate_pairs: usize,
    /// Distinct comparison patterns.
    pub patterns: usize,
}

/// The level codes of a pair, 4 bits per comparison (`0xF` = missing).
fn pattern(comparisons: &[Comparison], a: &NormalizedRecord, b: &NormalizedRecord) -> u64 {
    let mut code = 0u64;
    for (i, c) in comparisons.iter().enumerate() {
        let level = compare_field(c.kind(), c.params(), a, b)
            .level
            .map_or(MISSING, u64::from);
        code |= level << (4 * i);
    }
    code
}

fn level_of(code: u64, i: usize) -> Option<usize> {
    let l = (code >> (4 * i)) & 0xF;
    (l != MISSING).then_some(l as usize)
}

fn clamp(p: f64) -> f64 {
    p.clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
}

/// Normalizes counts (plus a pseudo-count) into probabilities.
fn distribution(counts: &[f64], pseudo: f64) -> Vec<f64> {
    let total: f64 = counts.iter().sum::<f64>() + pseudo * counts.len() as f64;
    counts.iter().map(|c| clamp((c + pseudo) / total)).collect()
}

/// u of every level among `n` seeded random pairs.
fn random_pair_u(
    records: &[NormalizedRecord],
    comparisons: &[Comparison],
    config: &TrainConfig,
) -> Vec<Vec<f64>> {
    let mut counts: Vec<Vec<f64>> = comparisons
        .iter()
        .map(|c| vec![0.0; c.levels().len()])
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let n = records.len();
    // The pairs are drawn in sequence (seeded), their patterns counted in parallel: the counts
    // are integers, so the result does not depend on the number of threads.
    let pairs: Vec<(u32, u32)> = (0..config.random_pairs)
        .map(|_| {
            let i = rng.random_range(0..n);
            let mut j = rng.random_range(0..n - 1);
            if j >= i {
                j += 1;
            }
            (i as u32, j as u32)
        })
        .collect();
    for (code, count) in count_patterns(records, comparisons, &pairs) {
        for (k, row) in counts.iter_mut().enumerate() {
            if let Some(l) = level_of(code, k) {
                row[l] += count;
            }
        }
    }
    counts.iter().map(|row| distribution(row, 0.5)).collect()
}

/// The distinct patterns of `pairs` (valid indices into `records`) with their counts, in
/// parallel; sorted by pattern code.
fn count_patterns(
    records: &[NormalizedRecord],
    comparisons: &[Comparison],
    pairs: &[(u32, u32)],
) -> Vec<(u64, f64)> {
    let counts = pairs
        .par_chunks(4_096)
        .fold(FxHashMap::<u64, u64>::default, |mut acc, chunk| {
            for &(i, j) in chunk {
                *acc.entry(pattern(
                    comparisons,
                    &records[i as usize],
                    &records[j as usize],
                ))
                .or_default() += 1;
            }
            acc
        })
        .reduce(FxHashMap::default, |mut a, b| {
            for (code, c) in b {
                *a.entry(code).or_default() += c;
            }
            a
        });
    let mut codes: Vec<(u64, f64)> = counts.into_iter().map(|(k, c)| (k, c as f64)).collect();
    codes.sort_unstable_by_key(|p| p.0);
    codes
}

/// [`count_patterns`] over at most `config.max_pattern_pairs` of `pairs` (evenly spaced), with
/// the counts scaled to all of `pairs` (see [`TrainConfig::max_pattern_pairs`]).
fn count_sampled_patterns(
    records: &[NormalizedRecord],
    comparisons: &[Comparison],
    pairs: &[(u32, u32)],
    config: &TrainConfig,
) -> Vec<(u64, f64)> {
    let stride = pairs.len().div_ceil(config.max_pattern_pairs.max(1)).max(1);
    if stride == 1 {
        return count_patterns(records, comparisons, pairs);
    }
    let sample: Vec<(u32, u32)> = pairs.iter().step_by(stride).copied().collect();
    let scale = pairs.len() as f64 / sample.len() as f64;
    count_patterns(records, comparisons, &sample)
        .into_iter()
        .map(|(code, count)| (code, count * scale))
        .collect()
}

/// Term-frequency table of a comparison's values over the records (share of all value
/// occurrences), or an empty table when the comparison takes no TF adjustment.
fn term_frequencies(
    records: &[NormalizedRecord],
    comparison: &Comparison,
) -> BTreeMap<String, f64> {
    use crate::compare::ComparisonKind as K;
    if comparison.tf_adjustment() <= 0.0 || comparison.kind().tf_level().is_none() {
        return BTreeMap::new();
    }
    if comparison.kind() == K::BirthDate {
        return over_represented_dates(records);
    }
    let mut counts: FxHashMap<&str, u64> = FxHashMap::default();
    let mut total = 0u64;
    for r in records {
        let values: Vec<&str> = match comparison.kind() {
            K::GivenName => r
                .given
                .iter()
                .map(|n| {
                    if n.compact.is_empty() {
                        n.text.as_str()
                    } else {
                        n.compact.as_str()
                    }
                })
                .collect(),
            K::FamilyName => r
                .family
                .iter()
                .map(|n| {
                    if n.compact.is_empty() {
                        n.text.as_str()
                    } else {
                        n.compact.as_str()
                    }
                })
                .collect(),
            K::City => r
                .addresses
                .iter()
                .map(|a| a.city.as_str())
                .filter(|c| !c.is_empty())
                .collect(),
            _ => Vec::new(),
        };
        for v in values {
            *counts.entry(v).or_default() += 1;
            total += 1;
        }
    }
    counts
        .into_iter()
        .map(|(v, c)| (v.to_owned(), c as f64 / total as f64))
        .collect()
}

/// One distinct comparison pattern (a level per comparison, `None` = missing) and how many pairs
/// show it.
#[derive(Clone, Debug, PartialEq)]
pub struct PatternCount {
    /// Level index per comparison.
    pub levels: Vec<Option<u8>>,
    /// Number of pairs (may be fractional: a weight).
    pub count: f64,
}

/// Parameters of the two-class mixture EM fits.
#[derive(Clone, Debug, PartialEq)]
pub struct EmParams {
    /// Share of matches.
    pub lambda: f64,
    /// `m[comparison][level]`.
    pub m: Vec<Vec<f64>>,
    /// `u[comparison][level]`.
    pub u: Vec<Vec<f64>>,
}

/// The result of [`em`].
#[derive(Clone, Debug, PartialEq)]
pub struct EmEstimate {
    /// Fitted parameters.
    pub params: EmParams,
    /// Iterations run.
    pub iterations: usize,
    /// Whether the largest parameter change fell below the tolerance.
    pub converged: bool,
}

/// Expectation-maximisation of the Fellegi-Sunter mixture over comparison patterns, under
/// conditional independence. m and lambda are always re-estimated; `u` only for the comparisons
/// whose `free_u` is true (the others keep `start.u`). Deterministic.
pub fn em(
    patterns: &[PatternCount],
    start: &EmParams,
    free_u: &[bool],
    max_iterations: usize,
    tolerance: f64,
) -> Result<EmEstimate> {
    let invalid = |reason: &str| Error::InvalidParameter {
        name: "em".into(),
        reason: reason.into(),
    };
    let k_count = start.m.len();
    if start.u.len() != k_count || free_u.len() != k_count {
        return Err(invalid("m, u and free_u must have one row per comparison"));
    }
    if start
        .m
        .iter()
        .zip(&start.u)
        .any(|(m, u)| m.len() != u.len() || m.is_empty())
    {
        return Err(invalid("m and u rows must have the same, non-zero length"));
    }
    for p in patterns {
        if p.levels.len() != k_count
            || p.levels
                .iter()
                .zip(&start.m)
                .any(|(l, row)| l.is_some_and(|l| l as usize >= row.len()))
            || p.count.is_nan()
            || p.count < 0.0
        {
            return Err(invalid("pattern does not fit the comparisons"));
        }
    }
    let total: f64 = patterns.iter().map(|p| p.count).sum();
    if total <= 0.0 {
        return Err(invalid("no pairs"));
    }
    let mut params = EmParams {
        lambda: clamp(start.lambda),
        m: start
            .m
            .iter()
            .map(|r| r.iter().map(|&p| clamp(p)).collect())
            .collect(),
        u: start
            .u
            .iter()
            .map(|r| r.iter().map(|&p| clamp(p)).collect())
            .collect(),
    };
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iterations {
        iterations += 1;
        let mut m_acc: Vec<Vec<f64>> = params.m.iter().map(|r| vec![0.0; r.len()]).collect();
        let mut u_acc = m_acc.clone();
        let mut matches = 0.0;
        let log_m: Vec<Vec<f64>> = params
            .m
            .iter()
            .map(|r| r.iter().map(|p| p.ln()).collect())
            .collect();
        let log_u: Vec<Vec<f64>> = params
            .u
            .iter()
            .map(|r| r.iter().map(|p| p.ln()).collect())
            .collect();
        let (prior_m, prior_u) = (params.lambda.ln(), (1.0 - params.lambda).ln());
        for p in patterns {
            let (mut lm, mut lu) = (prior_m, prior_u);
            for (k, l) in p.levels.iter().enumerate() {
                if let Some(l) = l {
                    lm += log_m[k][*l as usize];
                    lu += log_u[k][*l as usize];
                }
            }
            let post = 1.0 / (1.0 + (lu - lm).exp());
            matches += p.count * post;
            for (k, l) in p.levels.iter().enumerate() {
                if let Some(l) = l {
                    m_acc[k][*l as usize] += p.count * post;
                    u_acc[k][*l as usize] += p.count * (1.0 - post);
                }
            }
        }
        let new_lambda = clamp(matches / total);
        let mut delta = (new_lambda - params.lambda).abs();
        params.lambda = new_lambda;
        for k in 0..k_count {
            let new_m = distribution(&m_acc[k], 1e-3);
            for (old, new) in params.m[k].iter_mut().zip(&new_m) {
                delta = delta.max((*old - new).abs());
                *old = *new;
            }
            if free_u[k] {
                let new_u = distribution(&u_acc[k], 1e-3);
                for (old, new) in params.u[k].iter_mut().zip(&new_u) {
                    delta = delta.max((*old - new).abs());
                    *old = *new;
                }
            }
        }
        if delta < tolerance {
            converged = true;
            break;
        }
    }
    Ok(EmEstimate {
        params,
        iterations,
        converged,
    })
}

/// Parameters of the mixture (matches, household members, strangers) over all pairs.
#[derive(Clone, Debug)]
struct MixtureParams {
    /// Share of all pairs that are matches.
    lambda_m: f64,
    /// Share of all pairs that are different people of one household.
    lambda_h: f64,
    /// Shares of twins and of juniors among household pairs.
    twins: f64,
    juniors: f64,
    m: Vec<Vec<f64>>,
    /// Levels of the household comparisons among household members (other rows unused).
    u_household: Vec<Vec<f64>>,
}

/// Smallest share a mixture class may take (a share of all pairs, so it can be tiny: one match
/// among 10^12 pairs).
const SHARE_FLOOR: f64 = 1e-15;

/// Which comparisons play which part in the household explanations (see [`crate::scoring`]).
struct Roles {
    household: Vec<bool>,
    given: Option<usize>,
    birth: Option<usize>,
    /// Whether the given name's household distribution is estimated (row `given` of
    /// `u_household`, among household members other than juniors).
    household_given: bool,
    /// The given name's `shared_part` level, when only its household share is estimated (the
    /// other levels keep the strangers' u): see `TrainConfig::household_shared_part`.
    household_shared: Option<usize>,
}

impl Roles {
    /// Whether the given name has a household distribution of its own (fully or at one level).
    fn given_household(&self) -> bool {
        self.household_given || self.household_shared.is_some()
    }
}

/// EM of the mixture over the candidate patterns, with the strangers' `u` fixed and every pair
/// that is not a candidate counted as strangers (`total_pairs` is the number of all pairs).
/// Household members: household comparisons by `u_household`, the others as strangers, except
/// twins' birth dates and juniors' given names, distributed as matches'. Deterministic. Returns
/// the parameters, the iterations run and whether it converged.
fn mixture_em(
    patterns: &[PatternCount],
    u: &[Vec<f64>],
    roles: &Roles,
    start: MixtureParams,
    total_pairs: f64,
    max_iterations: usize,
    tolerance: f64,
) -> (MixtureParams, usize, bool) {
    let mut params = start;
    let log_u: Vec<Vec<f64>> = u
        .iter()
        .map(|r| r.iter().map(|p| p.ln()).collect())
        .collect();
    let mut iterations = 0;
    let mut converged = false;
    let ln = |rows: &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        rows.iter()
            .map(|r| r.iter().map(|p| p.ln()).collect())
            .collect()
    };
    while iterations < max_iterations {
        iterations += 1;
        let (log_m, log_h) = (ln(&params.m), ln(&params.u_household));
        let lambda_s = 1.0 - params.lambda_m - params.lambda_h;
        let (prior_m, prior_s) = (params.lambda_m.ln(), lambda_s.ln());
        let prior_o = (params.lambda_h * (1.0 - params.twins - params.juniors)).ln();
        let prior_t = (params.lambda_h * params.twins).ln();
        let prior_j = (params.lambda_h * params.juniors).ln();
        let mut m_acc: Vec<Vec<f64>> = params.m.iter().map(|r| vec![0.0; r.len()]).collect();
        let mut h_acc = m_acc.clone();
        let (mut matches, mut others, mut twins, mut juniors) = (0.0, 0.0, 0.0, 0.0);
        for p in patterns {
            let (mut lm, mut ls, mut lh) = (prior_m, prior_s, 0.0);
            for (k, l) in p.levels.iter().enumerate() {
                if let Some(l) = l {
                    let l = *l as usize;
                    lm += log_m[k][l];
                    ls += log_u[k][l];
                    lh += if roles.household[k] {
                        log_h[k][l]
                    } else {
                        log_u[k][l]
                    };
                }
            }
            // Twins share a birth date as matches do; juniors a given name. Other members agree
            // on the given name as household members do, when that is estimated.
            let swap = |i: Option<usize>| {
                i.and_then(|k| p.levels[k].map(|l| log_m[k][l as usize] - log_u[k][l as usize]))
                    .unwrap_or(0.0)
            };
            let given_level = roles
                .given
                .and_then(|k| p.levels[k].map(|l| (k, l as usize)));
            let sibling = match given_level {
                Some((k, l)) if roles.given_household() => log_h[k][l] - log_u[k][l],
                _ => 0.0,
            };
            let classes = [
                lm,
                ls,
                prior_o + lh + sibling,
                prior_t + lh + sibling + swap(roles.birth),
                prior_j + lh + swap(roles.given),
            ];
            let top = classes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e = classes.map(|c| (c - top).exp());
            let sum: f64 = e.iter().sum();
            let post = e.map(|x| p.count * x / sum);
            matches += post[0];
            others += post[2];
            twins += post[3];
            juniors += post[4];
            let household = post[2] + post[3] + post[4];
            for (k, l) in p.levels.iter().enumerate() {
                if let Some(l) = l {
                    m_acc[k][*l as usize] += post[0];
                    h_acc[k][*l as usize] += if Some(k) == roles.given {
                        post[2] + post[3]
                    } else {
                        household
                    };
                }
            }
        }
        let households = others + twins + juniors;
        let new_m = (matches / total_pairs).max(SHARE_FLOOR);
        let new_h = (households / total_pairs).max(SHARE_FLOOR);
        let new_t = (twins / households.max(SHARE_FLOOR)).clamp(1e-4, 0.45);
        let new_j = (juniors / households.max(SHARE_FLOOR)).clamp(1e-4, 0.45);
        let mut delta = ((new_m - params.lambda_m) / params.lambda_m)
            .abs()
            .max(((new_h - params.lambda_h) / params.lambda_h).abs())
            .max((new_t - params.twins).abs())
            .max((new_j - params.juniors).abs());
        params.lambda_m = new_m;
        params.lambda_h = new_h;
        params.twins = new_t;
        params.juniors = new_j;
        for (k, counts) in m_acc.iter().enumerate() {
            for (old, new) in params.m[k].iter_mut().zip(distribution(counts, 1e-3)) {
                delta = delta.max((*old - new).abs());
                *old = new;
            }
            if roles.household[k] || (roles.given_household() && Some(k) == roles.given) {
                let mut estimate = distribution(&h_acc[k], 1e-3);
                if Some(k) == roles.given {
                    match roles.household_shared {
                        Some(shared) if !roles.household_given => {
                            one_level_estimated(&mut estimate, &u[k], shared);
                        }
                        // Household members other than juniors share a given name as strangers
                        // do; left free, the exact level would take the juniors' part.
                        _ => exact_as_strangers(&mut estimate, u[k][0]),
                    }
                }
                for (old, new) in params.u_household[k].iter_mut().zip(estimate) {
                    delta = delta.max((*old - new).abs());
                    *old = new;
                }
            }
        }
        if delta < tolerance {
            converged = true;
            break;
        }
    }
    (params, iterations, converged)
}

/// Keeps the estimate of level `kept` and gives the others the strangers' distribution `u`,
/// scaled to fill the rest.
fn one_level_estimated(levels: &mut [f64], u: &[f64], kept: usize) {
    let share = levels[kept];
    let rest: f64 = u
        .iter()
        .enumerate()
        .filter(|&(l, _)| l != kept)
        .map(|(_, p)| p)
        .sum();
    for (l, p) in levels.iter_mut().enumerate() {
        if l != kept {
            *p = clamp(u[l] / rest * (1.0 - share));
        }
    }
}

/// Sets the first (exact) level of a distribution to `exact` and scales the others to fill the
/// rest.
fn exact_as_strangers(levels: &mut [f64], exact: f64) {
    let rest: f64 = levels[1..].iter().sum();
    for p in &mut levels[1..] {
        *p = clamp(*p / rest * (1.0 - exact));
    }
    levels[0] = exact;
}

/// Full birth dates held by at least 5 records and by more than 4 times the records a date of
/// typical frequency has (the share whose square sums to the chance two random records share a
/// date): the placeholders registries write for an unknown date (1 January or 1 July of an
/// estimated year) and the like, with their share of the records' full dates.
fn over_represented_dates(records: &[NormalizedRecord]) -> BTreeMap<String, f64> {
    let mut counts: FxHashMap<crate::record::BirthDate, u64> = FxHashMap::default();
    for d in records
        .iter()
        .filter_map(|r| r.birth_date)
        .filter(|d| d.precision() == crate::record::DatePrecision::Day && !d.is_mistyped())
    {
        *counts.entry(d).or_default() += 1;
    }
    let total: u64 = counts.values().sum();
    if total == 0 {
        return BTreeMap::new();
    }
    let n = total as f64;
    let typical: f64 = counts.values().map(|&c| (c as f64 / n).powi(2)).sum();
    counts
        .into_iter()
        .filter(|&(_, c)| c >= 5 && c as f64 / n > 4.0 * typical)
        .map(|(d, c)| {
            (
                format!("{:04}-{:02}-{:02}", d.year, d.month, d.day),
                c as f64 / n,
            )
        })
        .collect()
}

/// The probability that two different records drawn at random share a birth date, from the
/// birth-date frequencies (exact; random pairs see too few agreeing pairs to measure it).
fn birth_date_agreement(records: &[NormalizedRecord]) -> Option<f64> {
    let mut counts: FxHashMap<crate::record::BirthDate, u64> = FxHashMap::default();
    for d in records
        .iter()
        .filter_map(|r| r.birth_date)
        .filter(|d| d.precision() == crate::record::DatePrecision::Day && !d.is_mistyped())
    {
        *counts.entry(d).or_default() += 1;
    }
    let n: u64 = counts.values().sum();
    if n < 2 {
        return None;
    }
    let agreeing: f64 = counts.values().map(|&c| (c * (c - 1)) as f64).sum();
    Some(agreeing / (n * (n - 1)) as f64)
}

/// Trains a model on unlabelled records and their blocked candidate pairs (indices into
/// `records`).
///
/// ```
/// use matcher::{PersonRecord, normalize::normalize, training::{train, TrainConfig}};
/// let names = ["ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo"];
/// let mut records = Vec::new();
/// for (i, g) in names.iter().enumerate() {
///     for copy in 0..2 {
///         records.push(normalize(&PersonRecord {
///             given_names: vec![g.to_string()],
///             family_names: vec![format!("fam{}", i % 3)],
///             birth_date: Some(format!("19{:02}-0{}-1{}", 40 + i, 1 + i % 9, copy)),
///             ..Default::default()
///         }));
///     }
/// }
/// let pairs: Vec<(u32, u32)> = (0..records.len() as u32)
///     .flat_map(|i| (i + 1..records.len() as u32).map(move |j| (i, j)))
///     .collect();
/// let report = train(&records, &pairs, &TrainConfig { random_pairs: 2_000, ..Default::default() }).unwrap();
/// assert!(report.prior > 0.0 && report.prior < 1.0);
/// ```
pub fn train(
    records: &[NormalizedRecord],
    candidate_pairs: &[(u32, u32)],
    config: &TrainConfig,
) -> Result<TrainReport> {
    let invalid = |name: &str, reason: &str| Error::InvalidParameter {
        name: name.into(),
        reason: reason.into(),
    };
    if records.len() < 2 {
        return Err(invalid("records", "training needs at least two records"));
    }
    if candidate_pairs.is_empty() {
        return Err(invalid("candidate_pairs", "training needs candidate pairs"));
    }
    if config.random_pairs == 0 || config.max_iterations == 0 {
        return Err(invalid(
            "config",
            "random_pairs and max_iterations must be positive",
        ));
    }
    let base = &config.base;
    let comparisons = base.comparisons();
    if comparisons.len() > 16
        || comparisons
            .iter()
            .any(|c| c.levels().len() >= MISSING as usize)
    {
        return Err(invalid(
            "base",
            "at most 16 comparisons of at most 15 levels",
        ));
    }
    let n = records.len();

    // Distinct patterns among candidate pairs, in a deterministic order.
    if candidate_pairs
        .iter()
        .any(|&(i, j)| i as usize >= n || j as usize >= n || i == j)
    {
        return Err(invalid(
            "candidate_pairs",
            "pair index out of range or self pair",
        ));
    }
    let codes = count_sampled_patterns(records, comparisons, candidate_pairs, config);
    let patterns: Vec<PatternCount> = codes
        .iter()
        .map(|&(code, count)| PatternCount {
            levels: (0..comparisons.len())
                .map(|k| level_of(code, k).map(|l| l as u8))
                .collect(),
            count,
        })
        .collect();

    let mut u = random_pair_u(records, comparisons, config);
    if let (Some(k), Some(agree)) = (
        comparisons
            .iter()
            .position(|c| c.kind() == crate::compare::ComparisonKind::BirthDate),
        birth_date_agreement(records),
    ) {
        // Replace the sampled exact level, keeping the other levels' proportions.
        let exact = clamp(agree);
        let rest: f64 = u[k][1..].iter().sum();
        for p in &mut u[k][1..] {
            *p = clamp(*p / rest * (1.0 - exact));
        }
        u[k][0] = exact;
    }

    let total_pairs = n as f64 * (n as f64 - 1.0) / 2.0;
    let candidates = candidate_pairs.len() as f64;
    // Start: the base model's share of matches among candidates, as a share of all pairs, and as
    // many household pairs; m from the base model; household members agree on the household
    // comparisons as matches do.
    let start_share = (base.prior() * candidates / total_pairs).clamp(SHARE_FLOOR, 0.25);
    let start = MixtureParams {
        lambda_m: start_share,
        lambda_h: start_share,
        twins: 0.05,
        juniors: 0.05,
        m: comparisons
            .iter()
            .map(|c| c.levels().iter().map(|l| clamp(l.m())).collect())
            .collect(),
        u_household: comparisons
            .iter()
            .map(|c| c.levels().iter().map(|l| clamp(l.m())).collect())
            .collect(),
    };
    use crate::compare::ComparisonKind as K;
    let roles = Roles {
        household: comparisons.iter().map(Comparison::household).collect(),
        given: comparisons
            .iter()
            .position(|c| !c.household() && c.kind() == K::GivenName),
        birth: comparisons
            .iter()
            .position(|c| !c.household() && c.kind() == K::BirthDate),
        household_given: config.household_given_name,
        household_shared: comparisons
            .iter()
            .find(|c| !c.household() && c.kind() == K::GivenName)
            .and_then(|c| c.levels().iter().position(|l| l.label() == "shared_part"))
            .filter(|_| config.household_shared_part),
    };
    let mut start = start;
    if let Some(k) = roles.given {
        // Household members start agreeing on the given name as strangers do.
        start.u_household[k] = u[k].clone();
    }
    let (params, iterations, converged) = mixture_em(
        &patterns,
        &u,
        &roles,
        start,
        total_pairs,
        config.max_iterations,
        config.tolerance,
    );

    let mut levels = Vec::new();
    let mut trained = Vec::with_capacity(comparisons.len());
    for (k, c) in comparisons.iter().enumerate() {
        let mut new_levels = Vec::with_capacity(c.levels().len());
        for (l, level) in c.levels().iter().enumerate() {
            let (m_kl, u_kl) = (clamp(params.m[k][l]), clamp(u[k][l]));
            let given_household = roles.given_household() && Some(k) == roles.given;
            let h_kl = if roles.household[k] || given_household {
                clamp(params.u_household[k][l])
            } else {
                u_kl
            };
            levels.push(LevelEstimate {
                comparison: c.name().to_owned(),
                level: level.label().to_owned(),
                m: m_kl,
                u: u_kl,
                u_household: h_kl,
            });
            new_levels.push(
                ComparisonLevel::new(level.label(), m_kl, u_kl)?
                    .with_u_household((roles.household[k] || given_household).then_some(h_kl))?,
            );
        }
        let mut comparison = Comparison::new(c.name(), c.kind(), *c.params(), new_levels)?
            .with_household(c.household());
        comparison.set_term_frequencies(
            term_frequencies(records, c),
            c.tf_adjustment(),
            config.tf_floor,
        )?;
        trained.push(comparison);
    }
    let lambda_s = 1.0 - params.lambda_m - params.lambda_h;
    let prior = params.lambda_m / (params.lambda_m + lambda_s);
    let household_share = params.lambda_h / lambda_s;
    let model = Model::new(
        config.version.clone(),
        prior,
        trained,
        config.thresholds,
        base.household_cap(),
    )?
    .with_household_mixture(Some(HouseholdMixture {
        share: household_share.clamp(SHARE_FLOOR, 0.5),
        twins: params.twins,
        juniors: params.juniors,
    }))?
    .with_review_rules(*base.review_rules());
    Ok(TrainReport {
        model,
        iterations,
        converged,
        prior,
        household_share: params.lambda_h,
        twins: params.twins,
        juniors: params.juniors,
        candidate_match_share: (params.lambda_m * total_pairs / candidates).min(1.0),
        levels,
        candidate_pairs: candidate_pairs.len(),
        patterns: patterns.len(),
    })
}
