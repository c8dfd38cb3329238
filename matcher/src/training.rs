//! Training without labels: u from random pairs, m (and the prior) by expectation-maximisation over
//! blocked candidate pairs, term frequencies from the data.
//!
//! # How
//! 1. Every candidate pair becomes a comparison pattern (a level per comparison); EM works on the
//!    distinct patterns with their counts, so an iteration costs the number of patterns.
//! 2. u of every level is measured on seeded random pairs.
//! 3. EM fits the two-class mixture on the *identity* comparisons only (given name, birth date,
//!    sex, identifier, e-mail), with m, u and the share of matches free (u among candidates differs
//!    from u among random pairs because blocking selected the pairs on these very fields).
//! 4. One M-step with those posteriors gives m and candidate u of every comparison, household
//!    comparisons included.
//! 5. The model keeps, for identity comparisons, the geometric mean of random-pair and candidate u
//!    (see [`IdentityU`]: random-pair u alone counts the blocking evidence twice); for household comparisons
//!    (family name, address, city, phone), the larger of the random-pair and the candidate u on
//!    every agreeing level; and, when the data has real households, a household u for identity
//!    levels (see below). Term-frequency tables come from the records.
//!
//! # Households
//! People who live together share family name, address, city and phone: the household
//! comparisons are strongly correlated among household members, which breaks the conditional
//! independence EM assumes, so they do not shape the classes (step 3). Among candidate pairs,
//! agreement on them is common, so their u comes from the candidates when that is larger (step 5),
//! and the scorer caps their summed weight. Different people in one household also agree on birth
//! date (twins) and given name (a father and his junior) far more often than strangers: the
//! identity levels get a `u_household` measured among the non-matching candidate pairs that share a
//! household, used when a scored pair shares one. It is estimated only when such pairs make up at
//! least 1% of the candidates (and 200 pairs); otherwise the data has no real households.
//!
//! Everything is seeded and sequential: the same input and config give the same model.

use crate::compare::compare_field;
use crate::error::{Error, Result};
use crate::record::NormalizedRecord;
use crate::scoring::{Comparison, ComparisonLevel, DEFAULT_TF_FLOOR, Model, Thresholds};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
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
    /// household cap, review rules and the starting m values and prior.
    pub base: Model,
    /// Version string of the trained model.
    pub version: String,
    /// Smallest frequency used in term-frequency adjustments.
    pub tf_floor: f64,
    /// Which u the identity comparisons (given name, birth date, sex, identifier, e-mail) keep.
    pub identity_u: IdentityU,
    /// Decision thresholds of the trained model. The default (certain 0.95, probable 0.8,
    /// possible 0.5, near-tie margin 2 bits) was chosen on FEBRL and synthetic data; the built-in
    /// model's own thresholds suit its hand-set weights, not trained ones.
    pub thresholds: Thresholds,
}

/// Where the u of identity comparisons comes from.
///
/// The model's prior is the share of matches among candidate pairs. Blocking chose those pairs
/// on the identity fields, so non-matching candidates agree on them far more often than random
/// pairs do: random-pair u then counts the blocking evidence twice (overconfident as the data
/// grows: strangers sharing a given name and a birth date get linked), candidate u not at all
/// (underconfident). Measured with the default thresholds (certain 0.95), pairwise precision and
/// recall of the `Certain` pairs on 100k synthetic records: random (0.952, 0.983), candidate
/// (0.994, 0.947), geometric (0.992, 0.977); FEBRL 2 F1: candidate 0.977, geometric 0.993.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IdentityU {
    /// u among random pairs (Splink's choice): agreement weighs what it weighs between strangers.
    RandomPairs,
    /// u among non-matching candidate pairs (EM estimate).
    CandidatePairs,
    /// Geometric mean of the two: half the weight difference is put down to blocking.
    #[default]
    Geometric,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 42,
            random_pairs: 200_000,
            max_iterations: 200,
            tolerance: 1e-6,
            base: Model::builtin(),
            version: "trained".to_owned(),
            tf_floor: DEFAULT_TF_FLOOR,
            identity_u: IdentityU::default(),
            thresholds: Thresholds {
                certain: 0.95,
                probable: 0.8,
                possible: 0.5,
                near_tie_margin: 2.0,
            },
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
    /// u among random pairs.
    pub u_random: f64,
    /// u among candidate pairs (EM estimate for household comparisons, else equal to `u_random`).
    pub u_candidates: f64,
    /// u the model uses.
    pub u: f64,
    /// u among different people sharing a household (identity comparisons, when estimated).
    pub u_household: Option<f64>,
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
    /// Estimated share of matches among the candidate pairs (the model's prior).
    pub prior: f64,
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
    for _ in 0..config.random_pairs {
        let i = rng.random_range(0..n);
        let mut j = rng.random_range(0..n - 1);
        if j >= i {
            j += 1;
        }
        let code = pattern(comparisons, &records[i], &records[j]);
        for (k, row) in counts.iter_mut().enumerate() {
            if let Some(l) = level_of(code, k) {
                row[l] += 1.0;
            }
        }
    }
    counts.iter().map(|row| distribution(row, 0.5)).collect()
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

/// m and u of every comparison from the posteriors the identity comparisons (those not flagged
/// in `excluded`) give under `params`.
fn m_step(
    patterns: &[PatternCount],
    params: &EmParams,
    excluded: &[bool],
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut m_acc: Vec<Vec<f64>> = params.m.iter().map(|r| vec![0.0; r.len()]).collect();
    let mut u_acc = m_acc.clone();
    let (prior_m, prior_u) = (params.lambda.ln(), (1.0 - params.lambda).ln());
    for p in patterns {
        let (mut lm, mut lu) = (prior_m, prior_u);
        for (k, l) in p.levels.iter().enumerate() {
            if let (Some(l), false) = (l, excluded[k]) {
                lm += params.m[k][*l as usize].ln();
                lu += params.u[k][*l as usize].ln();
            }
        }
        let post = 1.0 / (1.0 + (lu - lm).exp());
        for (k, l) in p.levels.iter().enumerate() {
            if let Some(l) = l {
                m_acc[k][*l as usize] += p.count * post;
                u_acc[k][*l as usize] += p.count * (1.0 - post);
            }
        }
    }
    (
        m_acc.iter().map(|r| distribution(r, 1e-3)).collect(),
        u_acc.iter().map(|r| distribution(r, 1e-3)).collect(),
    )
}

/// Fewest (posterior-weighted) non-matching household pairs needed to estimate household u.
const MIN_HOUSEHOLD_PAIRS: f64 = 200.0;
/// Smallest share of the candidate pairs those must make up. Below it the data has no real
/// households and the few "household non-matches" are mostly true matches EM was unsure of
/// (their agreement would wrongly lower the weight of every match inside a household).
const MIN_HOUSEHOLD_SHARE: f64 = 0.01;

/// u of every level among the non-matching candidate pairs that share a household (family name
/// exact and address exact or fuzzy, or phone exact), weighted by the identity posteriors; `None`
/// when the data has too few such pairs or the model lacks the comparisons.
fn household_u(
    patterns: &[PatternCount],
    params: &EmParams,
    excluded: &[bool],
    comparisons: &[Comparison],
) -> Option<Vec<Vec<f64>>> {
    use crate::compare::ComparisonKind as K;
    let index = |kind: K| comparisons.iter().position(|c| c.kind() == kind);
    let family = index(K::FamilyName)?;
    let (address, phone) = (index(K::Address), index(K::Phone));
    let mut acc: Vec<Vec<f64>> = params.m.iter().map(|r| vec![0.0; r.len()]).collect();
    let mut mass = 0.0;
    let (prior_m, prior_u) = (params.lambda.ln(), (1.0 - params.lambda).ln());
    for p in patterns {
        let level = |i: Option<usize>| i.and_then(|i| p.levels[i]);
        let shared = level(Some(family)) == Some(0)
            && (matches!(level(address), Some(0 | 1)) || level(phone) == Some(0));
        if !shared {
            continue;
        }
        let (mut lm, mut lu) = (prior_m, prior_u);
        for (k, l) in p.levels.iter().enumerate() {
            if let (Some(l), false) = (l, excluded[k]) {
                lm += params.m[k][*l as usize].ln();
                lu += params.u[k][*l as usize].ln();
            }
        }
        let non_match = p.count * (1.0 - 1.0 / (1.0 + (lu - lm).exp()));
        mass += non_match;
        for (k, l) in p.levels.iter().enumerate() {
            if let Some(l) = l {
                acc[k][*l as usize] += non_match;
            }
        }
    }
    let total: f64 = patterns.iter().map(|p| p.count).sum();
    (mass >= MIN_HOUSEHOLD_PAIRS && mass >= MIN_HOUSEHOLD_SHARE * total)
        .then(|| acc.iter().map(|r| distribution(r, 0.5)).collect())
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
    let mut pattern_counts: FxHashMap<u64, f64> = FxHashMap::default();
    for &(i, j) in candidate_pairs {
        let (i, j) = (i as usize, j as usize);
        if i >= n || j >= n || i == j {
            return Err(invalid(
                "candidate_pairs",
                "pair index out of range or self pair",
            ));
        }
        *pattern_counts
            .entry(pattern(comparisons, &records[i], &records[j]))
            .or_default() += 1.0;
    }
    let mut codes: Vec<(u64, f64)> = pattern_counts.into_iter().collect();
    codes.sort_unstable_by_key(|p| p.0);
    let patterns: Vec<PatternCount> = codes
        .iter()
        .map(|&(code, count)| PatternCount {
            levels: (0..comparisons.len())
                .map(|k| level_of(code, k).map(|l| l as u8))
                .collect(),
            count,
        })
        .collect();

    let u_random = random_pair_u(records, comparisons, config);
    let start = EmParams {
        lambda: base.prior().clamp(0.001, 0.5),
        m: comparisons
            .iter()
            .map(|c| c.levels().iter().map(ComparisonLevel::m).collect())
            .collect(),
        u: u_random.clone(),
    };
    let free_u: Vec<bool> = comparisons.iter().map(Comparison::household).collect();
    // EM sees only the identity comparisons: household fields are strongly correlated among
    // household members (conditional independence fails), so they must not shape the classes.
    let identity_patterns: Vec<PatternCount> = patterns
        .iter()
        .map(|p| PatternCount {
            levels: p
                .levels
                .iter()
                .zip(&free_u)
                .map(|(l, household)| if *household { None } else { *l })
                .collect(),
            count: p.count,
        })
        .collect();
    let em_free = vec![true; comparisons.len()];
    let estimate = em(
        &identity_patterns,
        &start,
        &em_free,
        config.max_iterations,
        config.tolerance,
    )?;
    // One M-step with the identity posteriors gives m and u of every comparison.
    let (m, u) = m_step(&patterns, &estimate.params, &free_u);
    let u_household = household_u(&patterns, &estimate.params, &free_u, comparisons);
    let lambda = estimate.params.lambda;
    let (iterations, converged) = (estimate.iterations, estimate.converged);

    // Final u: for household comparisons the larger of random-pair and candidate u on every
    // agreeing level (the last level is the disagreement level and keeps the random-pair u).
    let mut levels = Vec::new();
    let mut trained = Vec::with_capacity(comparisons.len());
    for (k, c) in comparisons.iter().enumerate() {
        let last = c.levels().len() - 1;
        let mut new_levels = Vec::with_capacity(c.levels().len());
        for (l, level) in c.levels().iter().enumerate() {
            let u_used = if free_u[k] && l < last {
                u_random[k][l].max(u[k][l])
            } else if free_u[k] {
                u_random[k][l]
            } else {
                match config.identity_u {
                    IdentityU::RandomPairs => u_random[k][l],
                    IdentityU::CandidatePairs => u[k][l],
                    IdentityU::Geometric => (u_random[k][l] * u[k][l]).sqrt(),
                }
            };
            let (m_kl, u_kl) = (clamp(m[k][l]), clamp(u_used));
            let u_hh = u_household
                .as_ref()
                .filter(|_| !free_u[k])
                .map(|u| clamp(u[k][l]));
            levels.push(LevelEstimate {
                comparison: c.name().to_owned(),
                level: level.label().to_owned(),
                m: m_kl,
                u_random: u_random[k][l],
                u_candidates: u[k][l],
                u: u_kl,
                u_household: u_hh,
            });
            new_levels
                .push(ComparisonLevel::new(level.label(), m_kl, u_kl)?.with_u_household(u_hh)?);
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
    let model = Model::new(
        config.version.clone(),
        clamp(lambda),
        trained,
        config.thresholds,
        base.household_cap(),
    )?
    .with_review_rules(*base.review_rules());
    Ok(TrainReport {
        model,
        iterations,
        converged,
        prior: clamp(lambda),
        levels,
        candidate_pairs: candidate_pairs.len(),
        patterns: patterns.len(),
    })
}
