//! Fellegi-Sunter scoring in Splink's vocabulary.
//!
//! A [`Model`] holds a prior (the probability `lambda` that a candidate pair is a match), ordered
//! [`Comparison`]s whose [`ComparisonLevel`]s each carry `m = P(level | match)` and
//! `u = P(level | non-match)`, term-frequency tables and decision [`Thresholds`]. The match weight of
//! a pair is `log2(lambda / (1 - lambda)) + sum log2(m / u)` over the comparisons whose values are
//! present on both sides (missing values weigh 0); the probability is `2^w / (1 + 2^w)`.
//!
//! Exact agreement on a given name, family name or city is adjusted by the value's frequency:
//! `log2(u_exact / max(tf(value), tf_floor))` is added (times the comparison's `tf_adjustment`),
//! so agreeing on a rare surname weighs more than agreeing on "smith".
//!
//! People who live together share family name, address, city and phone. The positive weight these
//! household comparisons can add together is capped (`household_cap`), so given name, birth date
//! and identifiers carry the decision.

mod explain;

pub use explain::{ComparisonExplanation, Explanation};

use crate::compare::{CompareParams, ComparisonKind, compare_field};
use crate::error::{Error, Result};
use crate::record::NormalizedRecord;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const BUILTIN_JSON: &str = include_str!("../../models/default.json");

/// The score of one pair.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Prior weight plus the sum of the comparison weights, in bits (log2 odds).
    pub match_weight: f64,
    /// Match probability `2^w / (1 + 2^w)`.
    pub probability: f64,
}

impl Score {
    /// The score of a match weight.
    pub fn from_weight(match_weight: f64) -> Score {
        Score {
            match_weight,
            probability: probability(match_weight),
        }
    }
}

/// `2^w / (1 + 2^w)`, computed without overflow.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

/// Match weight (log2 odds) of a probability in `(0, 1)`.
pub fn weight_of_probability(p: f64) -> f64 {
    (p / (1.0 - p)).log2()
}

/// Decision zones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchDecision {
    /// Below the possible threshold: a different person.
    NonMatch,
    /// Worth a look by a data steward (low priority review).
    Possible,
    /// Probably the same person (review).
    Probable,
    /// The same person: link automatically.
    Certain,
}

/// Probability thresholds of the decision zones and the near-tie margin.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// At or above: `Certain` (auto-link).
    pub certain: f64,
    /// At or above: `Probable` (review).
    pub probable: f64,
    /// At or above: `Possible` (review).
    pub possible: f64,
    /// When the best two candidates' match weights are within this many bits, a `Certain` best
    /// candidate is demoted to `Probable`.
    pub near_tie_margin: f64,
}

impl Thresholds {
    /// Validates `0 < possible <= probable <= certain < 1` and a finite, non-negative margin.
    pub fn new(
        certain: f64,
        probable: f64,
        possible: f64,
        near_tie_margin: f64,
    ) -> Result<Thresholds> {
        let t = Thresholds {
            certain,
            probable,
            possible,
            near_tie_margin,
        };
        t.validate()?;
        Ok(t)
    }

    fn validate(&self) -> Result<()> {
        let ok = 0.0 < self.possible
            && self.possible <= self.probable
            && self.probable <= self.certain
            && self.certain < 1.0;
        if !ok {
            return Err(invalid(
                "thresholds",
                "need 0 < possible <= probable <= certain < 1",
            ));
        }
        if !(self.near_tie_margin.is_finite() && self.near_tie_margin >= 0.0) {
            return Err(invalid(
                "thresholds.near_tie_margin",
                "must be finite and >= 0",
            ));
        }
        Ok(())
    }

    /// The zone of a probability, ignoring placeholder and tie rules.
    pub fn zone(&self, probability: f64) -> MatchDecision {
        if probability >= self.certain {
            MatchDecision::Certain
        } else if probability >= self.probable {
            MatchDecision::Probable
        } else if probability >= self.possible {
            MatchDecision::Possible
        } else {
            MatchDecision::NonMatch
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            certain: 0.999,
            probable: 0.95,
            possible: 0.5,
            near_tie_margin: 2.0,
        }
    }
}

fn invalid(name: &str, reason: &str) -> Error {
    Error::InvalidParameter {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

/// One level of a comparison with its m and u probabilities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LevelFile", into = "LevelFile")]
pub struct ComparisonLevel {
    label: String,
    m: f64,
    u: f64,
    weight: f64,
}

#[derive(Serialize, Deserialize)]
struct LevelFile {
    label: String,
    m: f64,
    u: f64,
}

impl TryFrom<LevelFile> for ComparisonLevel {
    type Error = Error;
    fn try_from(f: LevelFile) -> Result<Self> {
        ComparisonLevel::new(f.label, f.m, f.u)
    }
}

impl From<ComparisonLevel> for LevelFile {
    fn from(l: ComparisonLevel) -> Self {
        LevelFile {
            label: l.label,
            m: l.m,
            u: l.u,
        }
    }
}

impl ComparisonLevel {
    /// A level; `m` and `u` must lie strictly between 0 and 1.
    ///
    /// ```
    /// use matcher::scoring::ComparisonLevel;
    /// let l = ComparisonLevel::new("exact", 0.9, 0.01).unwrap();
    /// assert!((l.weight() - (0.9f64 / 0.01).log2()).abs() < 1e-12);
    /// assert!(ComparisonLevel::new("exact", 1.0, 0.01).is_err());
    /// assert!(ComparisonLevel::new("exact", 0.5, 0.0).is_err());
    /// ```
    pub fn new(label: impl Into<String>, m: f64, u: f64) -> Result<ComparisonLevel> {
        let label = label.into();
        for (name, v) in [("m", m), ("u", u)] {
            if !(v > 0.0 && v < 1.0) {
                return Err(Error::InvalidParameter {
                    name: format!("{label}.{name}"),
                    reason: "must lie strictly between 0 and 1".into(),
                });
            }
        }
        Ok(ComparisonLevel {
            weight: (m / u).log2(),
            label,
            m,
            u,
        })
    }

    /// Level label (`exact`, `nickname`, ...).
    pub fn label(&self) -> &str {
        &self.label
    }
    /// P(level | match).
    pub fn m(&self) -> f64 {
        self.m
    }
    /// P(level | non-match).
    pub fn u(&self) -> f64 {
        self.u
    }
    /// Match weight `log2(m / u)`.
    pub fn weight(&self) -> f64 {
        self.weight
    }
}

/// One comparison: a kind (which fixes the level order), thresholds, levels with m/u, and for
/// name and city comparisons a term-frequency table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ComparisonFile", into = "ComparisonFile")]
pub struct Comparison {
    name: String,
    kind: ComparisonKind,
    params: CompareParams,
    levels: Vec<ComparisonLevel>,
    tf_adjustment: f64,
    household: bool,
    term_frequencies: BTreeMap<String, f64>,
    // Derived: value -> weight adjustment on exact agreement.
    tf_weights: FxHashMap<String, f64>,
}

#[derive(Serialize, Deserialize)]
struct ComparisonFile {
    name: String,
    kind: ComparisonKind,
    #[serde(default)]
    params: CompareParams,
    levels: Vec<ComparisonLevel>,
    #[serde(default)]
    tf_adjustment: f64,
    #[serde(default)]
    household: bool,
    #[serde(default)]
    term_frequencies: BTreeMap<String, f64>,
}

impl TryFrom<ComparisonFile> for Comparison {
    type Error = Error;
    fn try_from(f: ComparisonFile) -> Result<Self> {
        let mut c = Comparison::new(f.name, f.kind, f.params, f.levels)?;
        c.household = f.household;
        c.set_term_frequencies(f.term_frequencies, f.tf_adjustment, DEFAULT_TF_FLOOR)?;
        Ok(c)
    }
}

impl From<Comparison> for ComparisonFile {
    fn from(c: Comparison) -> Self {
        ComparisonFile {
            name: c.name,
            kind: c.kind,
            params: c.params,
            levels: c.levels,
            tf_adjustment: c.tf_adjustment,
            household: c.household,
            term_frequencies: c.term_frequencies,
        }
    }
}

/// Smallest frequency a term-frequency adjustment uses (a value seen once in a small set would
/// otherwise weigh without bound).
pub const DEFAULT_TF_FLOOR: f64 = 1e-4;

impl Comparison {
    /// A comparison; `levels` must carry exactly the labels of `kind.level_labels()`, in order.
    pub fn new(
        name: impl Into<String>,
        kind: ComparisonKind,
        params: CompareParams,
        levels: Vec<ComparisonLevel>,
    ) -> Result<Comparison> {
        let name = name.into();
        let expected = kind.level_labels();
        let labels: Vec<&str> = levels.iter().map(|l| l.label.as_str()).collect();
        if labels != expected {
            return Err(Error::InvalidParameter {
                name: format!("{name}.levels"),
                reason: format!("expected levels {expected:?}, found {labels:?}"),
            });
        }
        if !(params.high.is_finite() && params.low.is_finite() && params.low <= params.high) {
            return Err(invalid(&name, "params need low <= high"));
        }
        Ok(Comparison {
            name,
            kind,
            params,
            levels,
            tf_adjustment: 0.0,
            household: false,
            term_frequencies: BTreeMap::new(),
            tf_weights: FxHashMap::default(),
        })
    }

    /// Sets the term-frequency table (value -> share of records, in `(0, 1]`) and the adjustment
    /// strength (0 = off, 1 = Splink's full adjustment). Only kinds with a value-specific exact
    /// level (given name, family name, city) accept a non-empty table.
    pub fn set_term_frequencies(
        &mut self,
        table: BTreeMap<String, f64>,
        tf_adjustment: f64,
        floor: f64,
    ) -> Result<()> {
        if !(0.0..=1.0).contains(&tf_adjustment) {
            return Err(invalid(&self.name, "tf_adjustment must lie in 0..=1"));
        }
        if !(floor > 0.0 && floor < 1.0) {
            return Err(invalid(&self.name, "tf floor must lie in (0, 1)"));
        }
        let Some(level) = self.kind.tf_level() else {
            if table.is_empty() {
                self.tf_adjustment = tf_adjustment;
                return Ok(());
            }
            return Err(invalid(
                &self.name,
                "this comparison kind has no term-frequency level",
            ));
        };
        let u_exact = self.levels[level as usize].u;
        let mut weights = FxHashMap::default();
        for (value, &tf) in &table {
            if !(tf > 0.0 && tf <= 1.0) {
                return Err(invalid(&self.name, "term frequencies must lie in (0, 1]"));
            }
            weights.insert(
                value.clone(),
                tf_adjustment * (u_exact / tf.max(floor)).log2(),
            );
        }
        self.tf_weights = weights;
        self.term_frequencies = table;
        self.tf_adjustment = tf_adjustment;
        Ok(())
    }

    /// Marks this comparison as a household field (shared by people living together); the sum of
    /// positive household weights is capped by the model.
    pub fn with_household(mut self, household: bool) -> Comparison {
        self.household = household;
        self
    }

    /// Comparison name (`given_name`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// What it compares.
    pub fn kind(&self) -> ComparisonKind {
        self.kind
    }
    /// Similarity thresholds.
    pub fn params(&self) -> &CompareParams {
        &self.params
    }
    /// Ordered levels.
    pub fn levels(&self) -> &[ComparisonLevel] {
        &self.levels
    }
    /// Whether this is a household field.
    pub fn household(&self) -> bool {
        self.household
    }
    /// Term-frequency adjustment strength (0..=1).
    pub fn tf_adjustment(&self) -> f64 {
        self.tf_adjustment
    }
    /// Term-frequency table.
    pub fn term_frequencies(&self) -> &BTreeMap<String, f64> {
        &self.term_frequencies
    }

    /// The term-frequency weight adjustment for exact agreement on `value` (0 when unknown).
    #[inline]
    pub fn tf_weight(&self, value: &str) -> f64 {
        if self.tf_weights.is_empty() {
            return 0.0;
        }
        self.tf_weights.get(value).copied().unwrap_or(0.0)
    }

    /// Level index and weight (TF adjustment included, household cap not applied) for a pair.
    #[inline]
    fn evaluate(&self, a: &NormalizedRecord, b: &NormalizedRecord) -> Option<(u8, f64, f64)> {
        let out = compare_field(self.kind, &self.params, a, b);
        let level = out.level?;
        let base = self.levels[level as usize].weight;
        let tf = match out.value {
            Some(v) if Some(level) == self.kind.tf_level() => self.tf_weight(v),
            _ => 0.0,
        };
        Some((level, base, tf))
    }
}

/// A Fellegi-Sunter model: prior, comparisons, term frequencies, thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ModelFile", into = "ModelFile")]
pub struct Model {
    version: String,
    prior: f64,
    household_cap: f64,
    comparisons: Vec<Comparison>,
    thresholds: Thresholds,
    prior_weight: f64,
}

#[derive(Serialize, Deserialize)]
struct ModelFile {
    version: String,
    /// Probability that a candidate pair is a match (lambda).
    prior: f64,
    /// Largest positive weight the household comparisons may add together.
    household_cap: f64,
    thresholds: Thresholds,
    comparisons: Vec<Comparison>,
}

impl TryFrom<ModelFile> for Model {
    type Error = Error;
    fn try_from(f: ModelFile) -> Result<Self> {
        Model::new(
            f.version,
            f.prior,
            f.comparisons,
            f.thresholds,
            f.household_cap,
        )
    }
}

impl From<Model> for ModelFile {
    fn from(m: Model) -> Self {
        ModelFile {
            version: m.version,
            prior: m.prior,
            household_cap: m.household_cap,
            thresholds: m.thresholds,
            comparisons: m.comparisons,
        }
    }
}

impl Model {
    /// A model. `prior` is the probability that a candidate pair is a match, in `(0, 1)`;
    /// `household_cap` (bits, >= 0, may be infinite) bounds the positive weight household
    /// comparisons add together.
    pub fn new(
        version: impl Into<String>,
        prior: f64,
        comparisons: Vec<Comparison>,
        thresholds: Thresholds,
        household_cap: f64,
    ) -> Result<Model> {
        if !(prior > 0.0 && prior < 1.0) {
            return Err(invalid("prior", "must lie strictly between 0 and 1"));
        }
        if household_cap.is_nan() || household_cap < 0.0 {
            return Err(invalid("household_cap", "must be >= 0"));
        }
        thresholds.validate()?;
        if comparisons.is_empty() {
            return Err(invalid(
                "comparisons",
                "a model needs at least one comparison",
            ));
        }
        Ok(Model {
            version: version.into(),
            prior_weight: weight_of_probability(prior),
            prior,
            household_cap,
            comparisons,
            thresholds,
        })
    }

    /// The default model shipped with the crate (`matcher/models/default.json`): hand-set m and u
    /// values that work without training; train on your own data for better ones.
    ///
    /// ```
    /// use matcher::{PersonRecord, normalize::normalize, scoring::{Model, MatchDecision}};
    /// let model = Model::builtin();
    /// let rec = |given: &str, dob: &str| normalize(&PersonRecord {
    ///     given_names: vec![given.into()],
    ///     family_names: vec!["Okafor".into()],
    ///     birth_date: Some(dob.into()),
    ///     ..Default::default()
    /// });
    /// let (a, b) = (rec("William", "1961-04-12"), rec("Bill", "1961-04-12"));
    /// let score = model.score(&a, &b);
    /// assert!(score.probability > 0.9);
    /// assert!(model.decide(&score, &a, &b) >= MatchDecision::Probable);
    /// ```
    pub fn builtin() -> Model {
        // The file ships inside the crate and a unit test parses it: it cannot fail at run time.
        #[allow(clippy::expect_used)]
        Model::from_json(BUILTIN_JSON).expect("the built-in model file is valid")
    }

    /// Parses and validates a model file.
    pub fn from_json(json: &str) -> Result<Model> {
        Ok(serde_json::from_str(json)?)
    }

    /// Serializes the model (pretty JSON; term-frequency tables sorted, so the output is stable).
    pub fn to_json(&self) -> String {
        // Serializing plain structs, string-keyed maps and finite floats cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a model file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Model> {
        Model::from_json(&std::fs::read_to_string(path)?)
    }

    /// Writes the model file.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        Ok(std::fs::write(path, self.to_json())?)
    }

    /// Version string.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// Prior probability that a candidate pair is a match.
    pub fn prior(&self) -> f64 {
        self.prior
    }
    /// Prior match weight `log2(prior / (1 - prior))`.
    pub fn prior_weight(&self) -> f64 {
        self.prior_weight
    }
    /// Cap on the positive weight of household comparisons.
    pub fn household_cap(&self) -> f64 {
        self.household_cap
    }
    /// The comparisons, in scoring order.
    pub fn comparisons(&self) -> &[Comparison] {
        &self.comparisons
    }
    /// Decision thresholds.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// A copy with other thresholds.
    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Result<Model> {
        thresholds.validate()?;
        self.thresholds = thresholds;
        Ok(self)
    }

    /// A copy with another version string.
    pub fn with_version(mut self, version: impl Into<String>) -> Model {
        self.version = version.into();
        self
    }

    /// Scores a pair: the hot path (no allocation).
    pub fn score(&self, a: &NormalizedRecord, b: &NormalizedRecord) -> Score {
        let mut weight = self.prior_weight;
        let mut household = 0.0f64;
        for c in &self.comparisons {
            if let Some((_, base, tf)) = c.evaluate(a, b) {
                let w = base + tf;
                if c.household && w > 0.0 {
                    household += w;
                } else {
                    weight += w;
                }
            }
        }
        Score::from_weight(weight + household.min(self.household_cap))
    }

    /// The decision zone of a score. Placeholder identities (either side) never reach `Certain`:
    /// they are capped at `Probable`.
    pub fn decide(
        &self,
        score: &Score,
        a: &NormalizedRecord,
        b: &NormalizedRecord,
    ) -> MatchDecision {
        let zone = self.thresholds.zone(score.probability);
        if zone == MatchDecision::Certain && (a.placeholder || b.placeholder) {
            MatchDecision::Probable
        } else {
            zone
        }
    }

    /// Applies the near-tie rule with this model's margin (see [`apply_near_tie_rule`]).
    pub fn resolve_near_ties(&self, ranked: &mut [ScoredCandidate]) {
        apply_near_tie_rule(ranked, self.thresholds.near_tie_margin);
    }
}

/// A candidate of a query with its score and decision.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredCandidate {
    /// Candidate id (record index or database id).
    pub id: u64,
    /// Its score against the query.
    pub score: Score,
    /// Its decision.
    pub decision: MatchDecision,
}

/// Ranks candidates (match weight descending, then id ascending) and, when the best two are
/// within `margin` bits of each other, demotes every `Certain` candidate within the margin of the
/// best to `Probable`: two near-equal candidates mean a steward must choose.
///
/// ```
/// use matcher::scoring::{apply_near_tie_rule, MatchDecision, Score, ScoredCandidate};
/// let c = |id, w| ScoredCandidate { id, score: Score::from_weight(w), decision: MatchDecision::Certain };
/// let mut ranked = vec![c(1, 20.0), c(2, 19.5), c(3, 5.0)];
/// apply_near_tie_rule(&mut ranked, 2.0);
/// assert_eq!(ranked[0].decision, MatchDecision::Probable);
/// assert_eq!(ranked[1].decision, MatchDecision::Probable);
/// assert_eq!(ranked[2].decision, MatchDecision::Certain);
/// let mut clear = vec![c(1, 20.0), c(2, 10.0)];
/// apply_near_tie_rule(&mut clear, 2.0);
/// assert_eq!(clear[0].decision, MatchDecision::Certain);
/// ```
pub fn apply_near_tie_rule(ranked: &mut [ScoredCandidate], margin: f64) {
    ranked.sort_by(|x, y| {
        y.score
            .match_weight
            .total_cmp(&x.score.match_weight)
            .then(x.id.cmp(&y.id))
    });
    if ranked.len() < 2 {
        return;
    }
    let best = ranked[0].score.match_weight;
    if best - ranked[1].score.match_weight > margin {
        return;
    }
    for c in ranked
        .iter_mut()
        .take_while(|c| best - c.score.match_weight <= margin)
    {
        if c.decision == MatchDecision::Certain {
            c.decision = MatchDecision::Probable;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_round_trips() {
        let m = Model::builtin();
        let again = Model::from_json(&m.to_json()).unwrap();
        assert_eq!(m, again);
        assert_eq!(m.comparisons().len(), ComparisonKind::ALL.len());
    }

    #[test]
    fn probability_and_weight() {
        assert!((probability(0.0) - 0.5).abs() < 1e-12);
        assert!((probability(3.0) - 8.0 / 9.0).abs() < 1e-12);
        assert!((weight_of_probability(0.8) - 2.0).abs() < 1e-12);
        assert_eq!(probability(-2000.0), 0.0);
        assert_eq!(probability(2000.0), 1.0);
    }

    #[test]
    fn invalid_models_are_rejected() {
        let json = Model::builtin().to_json();
        assert!(Model::from_json(&json.replacen("\"prior\": ", "\"prior\": 1", 1)).is_err());
        assert!(
            Model::from_json(&json.replacen("\"label\": \"exact\"", "\"label\": \"same\"", 1))
                .is_err()
        );
        assert!(Thresholds::new(0.5, 0.9, 0.1, 1.0).is_err());
        assert!(Model::from_json("{").is_err());
    }
}
