//! Fellegi-Sunter scoring in Splink's vocabulary.
//!
//! A [`Model`] holds a prior (the probability `lambda` that a candidate pair is a match), ordered
//! [`Comparison`]s whose [`ComparisonLevel`]s each carry `m = P(level | match)` and
//! `u = P(level | non-match)`, term-frequency tables and decision [`Thresholds`]. The match weight of
//! a pair is `log2(lambda / (1 - lambda)) + sum log2(m / u)` over the comparisons whose values are
//! present on both sides (missing values weigh 0); the probability is `2^w / (1 + 2^w)`.
//! The location comparisons (address, city, phone) that disagree weigh together at least about
//! the chance that a match has moved (`Model::moved`), since a move changes them all at once.
//!
//! Exact agreement on a given name, family name or city is adjusted by the value's frequency:
//! `log2(sum(tf^2) / max(tf(value), tf_floor))` is added (times the comparison's
//! `tf_adjustment`); `sum(tf^2)` is the chance that two random records agree on the field, so a
//! value of typical frequency gets no adjustment, agreeing on a rare surname weighs more and
//! agreeing on "smith" less.
//!
//! # Households
//! People who live together (spouses, siblings, twins, a father and his junior) share family
//! name, address, city and phone, and agree on birth date (twins) or given name (juniors) far
//! more often than strangers do: the classic false positives of an MPI. A model handles them in
//! one of two ways.
//!
//! - **Household mixture** (trained models, `household` set): a non-match is a pair of strangers
//!   (levels distributed by `u`) or of different people of one household, `household.share` times
//!   as likely a priori. Household members agree on the household comparisons (family name,
//!   address, city, phone) as `u_household` says, and on the personal ones (given name, birth
//!   date, sex, identifiers, e-mail) as strangers do, except twins (share `household.twins` of
//!   household pairs), who share a birth date as a match does, and a father and his junior
//!   (`household.juniors`), who share a given name as a match does. A trained model also
//!   estimates how household members other than juniors agree on the given name (the given
//!   name's `u_household`): siblings and twins of some origins share a generation syllable or a
//!   part of a compound name (`shared_part`: Min-jun and Min-seo, María José and María Fernanda)
//!   far more often than strangers do, so that level weighs against a pair explained as
//!   siblings or twins while it weighs little against strangers. The match weight is the
//!   posterior log-odds of this mixture: with `S` the weight against strangers
//!   (`prior + sum log2(m/u)`, term frequencies included) and `H` the weight against each kind of
//!   household member, `w = -log2(2^-S + sum 2^-H)`, a soft minimum: a pair must beat every
//!   explanation. A pair that agrees on given name and birth date cannot be explained as twins
//!   or juniors; one that differs on them is explained as household members when it shares a
//!   home, however much the shared home adds against strangers.
//! - **Household cap** (hand-set models such as the built-in one): the positive weight the
//!   household comparisons add together is capped (`household_cap`), and pairs that share a
//!   household (family name exact and address or phone agreeing) weigh identity levels with their
//!   `u_household`.
//!
//! Either way given name, birth date and identifiers carry the decision.

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

/// Rules that keep a pair out of `Certain` (it goes to review as `Probable`) whatever its weight.
/// Both are off by default (they cost recall on data where identifiers and birth dates are often
/// missing or corrupted); a deployment that prefers review to any doubtful auto-link turns them on
/// in its model file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRules {
    /// `Certain` needs positive evidence from an anchor: birth date or identifier. Name plus
    /// address alone (a father and his junior, one of them without a birth date) is reviewed.
    pub require_anchor: bool,
    /// `Certain` is refused when the given names disagree outright while the family names agree
    /// exactly: the pattern of siblings and twins.
    pub sibling_guard: bool,
}

/// Why a pair that scored `Certain` was sent to review instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    /// One side is a placeholder identity (John Doe, Baby Girl, ...).
    Placeholder,
    /// No anchor (birth date, identifier) agrees.
    NoAnchor,
    /// Different given names under the same family name (siblings, twins).
    SiblingPattern,
    /// Twins of one mother: same mother's identifier and birth date, different birth orders or
    /// given names ([`crate::maternity::twins_of_one_mother`]).
    TwinsOfOneMother,
}

impl ReviewReason {
    /// The reason's name, as serde writes it (`twins_of_one_mother`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewReason::Placeholder => "placeholder",
            ReviewReason::NoAnchor => "no_anchor",
            ReviewReason::SiblingPattern => "sibling_pattern",
            ReviewReason::TwinsOfOneMother => "twins_of_one_mother",
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
    u_household: Option<f64>,
    weight: f64,
    household_weight: f64,
}

#[derive(Serialize, Deserialize)]
struct LevelFile {
    label: String,
    m: f64,
    u: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u_household: Option<f64>,
}

impl TryFrom<LevelFile> for ComparisonLevel {
    type Error = Error;
    fn try_from(f: LevelFile) -> Result<Self> {
        ComparisonLevel::new(f.label, f.m, f.u)?.with_u_household(f.u_household)
    }
}

impl From<ComparisonLevel> for LevelFile {
    fn from(l: ComparisonLevel) -> Self {
        LevelFile {
            label: l.label,
            m: l.m,
            u: l.u,
            u_household: l.u_household,
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
            household_weight: (m / u).log2(),
            label,
            m,
            u,
            u_household: None,
        })
    }

    /// Sets (or clears) the u of this level among pairs of different people who share a household
    /// (family name and address or phone agree): used instead of `u` for such pairs, so that a
    /// birth date shared by twins or a given name shared by a father and his junior weighs what it
    /// weighs inside a household, not what it weighs between strangers.
    ///
    /// ```
    /// use matcher::scoring::ComparisonLevel;
    /// let l = ComparisonLevel::new("exact", 0.9, 0.0001).unwrap().with_u_household(Some(0.03)).unwrap();
    /// assert!((l.household_weight() - (0.9f64 / 0.03).log2()).abs() < 1e-12);
    /// ```
    pub fn with_u_household(mut self, u_household: Option<f64>) -> Result<ComparisonLevel> {
        if let Some(u) = u_household
            && !(u > 0.0 && u < 1.0)
        {
            return Err(Error::InvalidParameter {
                name: format!("{}.u_household", self.label),
                reason: "must lie strictly between 0 and 1".into(),
            });
        }
        self.household_weight = (self.m / u_household.unwrap_or(self.u)).log2();
        self.u_household = u_household;
        Ok(self)
    }

    /// u among different people sharing a household, when estimated.
    pub fn u_household(&self) -> Option<f64> {
        self.u_household
    }

    /// Weight `log2(m / u_household)` used for pairs sharing a household (equals `weight` when
    /// no household u is set).
    pub fn household_weight(&self) -> f64 {
        self.household_weight
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
    // Derived, birth date only: over-represented date -> weight adjustment on exact agreement.
    date_tf_weights: FxHashMap<crate::record::BirthDate, f64>,
    // Derived (household mixture, household comparisons): per level, log2(m / u_household),
    // agreeing levels raised to at least 0.
    mixture_weights: Vec<f64>,
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
        let levels = upgrade_levels(f.kind, f.levels);
        let mut c = Comparison::new(f.name, f.kind, f.params, levels)?;
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

/// Reads the level lists of model files written before the birth date gained the
/// `mistyped_one_digit` and `coarser_precision` levels, the identifier split its
/// `one_edit_or_transposition` level in three and the names gained `spelling_variant` (and the
/// given name `initial`): the new levels take the m and u of the level they come from (a weight
/// of 0 for `coarser_precision`; a name variant weighs as a nickname or a phonetic agreement, an
/// initial as a different given name, as they mostly scored before), so an old model scores
/// about as it did. The given name's `shared_part` level (one part shared, the other a different
/// name: twins Min-jun and Min-seo) was `exact` before and takes its m and u.
fn upgrade_levels(kind: ComparisonKind, levels: Vec<ComparisonLevel>) -> Vec<ComparisonLevel> {
    let mut levels = levels;
    loop {
        let before = levels.len();
        levels = upgrade_step(kind, levels);
        if levels.len() == before {
            return levels;
        }
    }
}

/// One step of [`upgrade_levels`]: the next level list of an old one, or the list unchanged.
fn upgrade_step(kind: ComparisonKind, levels: Vec<ComparisonLevel>) -> Vec<ComparisonLevel> {
    let labels: Vec<&str> = levels.iter().map(|l| l.label.as_str()).collect();
    let renamed = |l: &ComparisonLevel, label: &str| ComparisonLevel {
        label: label.to_owned(),
        ..l.clone()
    };
    match (kind, labels.as_slice()) {
        (
            ComparisonKind::BirthDate,
            [
                "exact",
                "day_month_swapped",
                "one_digit_or_transposition",
                "year_off_by_one",
                "different",
            ],
        ) => {
            let neutral = ComparisonLevel::new("coarser_precision", 0.001, 0.001);
            let mut out = levels[..4].to_vec();
            out.push(renamed(&levels[2], "mistyped_one_digit"));
            out.extend(neutral);
            out.push(levels[4].clone());
            out
        }
        (
            ComparisonKind::GivenName,
            [
                "exact",
                "swapped",
                "nickname",
                "phonetic",
                "jaro_winkler_high",
                "jaro_winkler_low",
                "different",
            ],
        ) => vec![
            levels[0].clone(),
            levels[1].clone(),
            levels[2].clone(),
            renamed(&levels[2], "spelling_variant"),
            levels[3].clone(),
            levels[4].clone(),
            renamed(&levels[6], "initial"),
            levels[5].clone(),
            levels[6].clone(),
        ],
        (
            ComparisonKind::FamilyName,
            [
                "exact",
                "swapped",
                "phonetic",
                "jaro_winkler_high",
                "partial",
                "jaro_winkler_low",
                "different",
            ],
        ) => {
            let mut out = levels[..2].to_vec();
            out.push(renamed(&levels[2], "spelling_variant"));
            out.extend_from_slice(&levels[2..]);
            out
        }
        (
            ComparisonKind::GivenName,
            [
                "exact",
                "swapped",
                "nickname",
                "spelling_variant",
                "phonetic",
                "jaro_winkler_high",
                "initial",
                "jaro_winkler_low",
                "different",
            ],
        ) => {
            let mut out = levels[..7].to_vec();
            out.push(renamed(&levels[0], "shared_part"));
            out.extend_from_slice(&levels[7..]);
            out
        }
        (ComparisonKind::Identifier, ["exact", "one_edit_or_transposition", "different"]) => vec![
            levels[0].clone(),
            renamed(&levels[1], "transposition_or_ocr"),
            renamed(&levels[1], "near_sequential"),
            renamed(&levels[1], "one_edit"),
            levels[2].clone(),
        ],
        _ => levels,
    }
}

/// Inside a household a partial agreement never weighs more than the exact one: the exact level
/// gets a household u (twins share a birth date, a junior his father's given name) while partial
/// levels keep the strangers' u, so without this cap a day-month swapped birth date would outweigh
/// an identical one between people who live together, and correcting a typo would lower a score.
fn cap_partial_household_weights(levels: &mut [ComparisonLevel]) {
    let Some((exact, rest)) = levels.split_first_mut() else {
        return;
    };
    let Some((_, partial)) = rest.split_last_mut() else {
        return;
    };
    for level in partial {
        level.household_weight = level.household_weight.min(exact.household_weight);
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
        let mut levels = levels;
        cap_partial_household_weights(&mut levels);
        Ok(Comparison {
            name,
            kind,
            params,
            levels,
            tf_adjustment: 0.0,
            household: false,
            term_frequencies: BTreeMap::new(),
            tf_weights: FxHashMap::default(),
            date_tf_weights: FxHashMap::default(),
            mixture_weights: Vec::new(),
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
        let _ = level;
        if self.kind == ComparisonKind::BirthDate {
            return self.set_date_frequencies(table, tf_adjustment);
        }
        // The reference is the chance that two random records agree on this field, sum of tf^2:
        // a value of typical frequency gets no adjustment, a rare one more, a common one less.
        let reference: f64 = table
            .values()
            .map(|tf| tf * tf)
            .sum::<f64>()
            .max(floor * floor);
        let mut weights = FxHashMap::default();
        for (value, &tf) in &table {
            if !(tf > 0.0 && tf <= 1.0) {
                return Err(invalid(&self.name, "term frequencies must lie in (0, 1]"));
            }
            weights.insert(
                value.clone(),
                tf_adjustment * (reference / tf.max(floor)).log2(),
            );
        }
        self.tf_weights = weights;
        self.term_frequencies = table;
        self.tf_adjustment = tf_adjustment;
        Ok(())
    }

    /// The birth date's table holds only the over-represented dates (`YYYY-MM-DD` -> share of
    /// the records' full dates): the 1 January or 1 July a registry writes for an unknown date,
    /// and the like. Agreeing on one weighs `log2(u / share)` less than agreeing on a date of
    /// typical frequency, u being the exact level's (the chance two random records share a date).
    fn set_date_frequencies(&mut self, table: BTreeMap<String, f64>, strength: f64) -> Result<()> {
        let reference = self.levels[0].u;
        let mut weights = FxHashMap::default();
        for (value, &tf) in &table {
            if !(tf > 0.0 && tf <= 1.0) {
                return Err(invalid(&self.name, "term frequencies must lie in (0, 1]"));
            }
            let date = crate::normalize::parse_birth_date_kept(value)
                .filter(|d| d.precision() == crate::record::DatePrecision::Day && !d.is_mistyped())
                .ok_or_else(|| {
                    invalid(&self.name, "term-frequency keys must be YYYY-MM-DD dates")
                })?;
            weights.insert(date, strength * (reference / tf).log2().min(0.0));
        }
        self.date_tf_weights = weights;
        self.term_frequencies = table;
        self.tf_adjustment = strength;
        Ok(())
    }

    /// Weights against a household member (household mixture, household comparisons):
    /// `log2(m / u_household)` per level (`u` where no household u is set); agreeing levels are
    /// raised to at least 0, so that agreement where there was none never lowers a score.
    fn compute_mixture_weights(&mut self) {
        let last = self.levels.len() - 1;
        self.mixture_weights = self
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let w = (l.m / l.u_household.unwrap_or(l.u)).log2();
                if i < last { w.max(0.0) } else { w }
            })
            .collect();
    }

    /// The given name's weights against a household member other than a junior (a sibling, a
    /// twin, a spouse): `log2(m / u_household)` per level, as estimated, not raised to 0: a given
    /// name that shares a part with a sibling's (`shared_part`) is what siblings of some origins
    /// have, and weighs against the pair when it is explained as a household.
    fn compute_sibling_given_weights(&mut self) {
        self.mixture_weights = self
            .levels
            .iter()
            .map(|l| (l.m / l.u_household.unwrap_or(l.u)).log2())
            .collect();
    }

    /// The weight of a level against a household member, as the household mixture uses it.
    pub fn household_mixture_weight(&self, level: usize) -> f64 {
        self.mixture_weights.get(level).copied().unwrap_or(0.0)
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
            None if level == 0 && !self.date_tf_weights.is_empty() => a
                .birth_date
                .and_then(|d| self.date_tf_weights.get(&d).copied())
                .unwrap_or(0.0),
            _ => 0.0,
        };
        Some((level, base, tf))
    }
}

/// The household component of a model's non-matches (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HouseholdMixture {
    /// How much likelier two records drawn at random are different people of one household than
    /// strangers, in `(0, 1)`.
    pub share: f64,
    /// Share of household pairs that are twins (share a birth date as a match does).
    pub twins: f64,
    /// Share of household pairs that are a father and his junior (share a given name as a match
    /// does).
    pub juniors: f64,
}

impl HouseholdMixture {
    fn validate(&self) -> Result<()> {
        let open = |v: f64| v > 0.0 && v < 1.0;
        if !(open(self.share) && open(self.twins) && open(self.juniors))
            || self.twins + self.juniors >= 1.0
        {
            return Err(invalid(
                "household",
                "share, twins and juniors must lie in (0, 1), twins + juniors below 1",
            ));
        }
        Ok(())
    }
}

/// Precomputed terms of the household mixture.
#[derive(Clone, Copy, Debug, PartialEq)]
struct MixtureTerms {
    /// `-log2(share)`.
    household: f64,
    /// `-log2` of the other members', twins' and juniors' shares of household pairs.
    others: f64,
    twins: f64,
    juniors: f64,
}

/// What a comparison contributes to the household explanations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Household,
    Personal,
    GivenName,
    BirthDate,
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
    review_rules: ReviewRules,
    household: Option<HouseholdMixture>,
    mixture: Option<MixtureTerms>,
    roles: Vec<Role>,
    prior_weight: f64,
    family_index: Option<usize>,
    address_index: Option<usize>,
    phone_index: Option<usize>,
    /// `log2` of the chance that a match's addresses differ (the address comparison's last level's
    /// `m`): the least the location comparisons weigh together (see `Model::moved`).
    move_floor: f64,
    /// Which comparisons say where a person lives (address, city, phone).
    location: Vec<bool>,
}

/// Most comparisons a model may hold.
pub const MAX_COMPARISONS: usize = 16;

#[derive(Serialize, Deserialize)]
struct ModelFile {
    version: String,
    /// Probability that a candidate pair is a match (lambda).
    prior: f64,
    /// Largest positive weight the household comparisons may add together.
    household_cap: f64,
    thresholds: Thresholds,
    #[serde(default)]
    review_rules: ReviewRules,
    /// The household mixture (absent: the household cap applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    household: Option<HouseholdMixture>,
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
        )?
        .with_review_rules(f.review_rules)
        .with_household_mixture(f.household)
    }
}

impl From<Model> for ModelFile {
    fn from(m: Model) -> Self {
        ModelFile {
            version: m.version,
            prior: m.prior,
            household_cap: m.household_cap,
            thresholds: m.thresholds,
            review_rules: m.review_rules,
            household: m.household,
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
        if comparisons.is_empty() || comparisons.len() > MAX_COMPARISONS {
            return Err(invalid("comparisons", "a model needs 1 to 16 comparisons"));
        }
        let index = |kind: ComparisonKind| comparisons.iter().position(|c| c.kind == kind);
        let (family_index, address_index, phone_index) = (
            index(ComparisonKind::FamilyName),
            index(ComparisonKind::Address),
            index(ComparisonKind::Phone),
        );
        let move_floor = address_index
            .and_then(|i| comparisons[i].levels.last())
            .map_or(f64::NEG_INFINITY, |l| l.m.log2());
        let location = comparisons
            .iter()
            .map(|c| {
                matches!(
                    c.kind,
                    ComparisonKind::Address | ComparisonKind::City | ComparisonKind::Phone
                )
            })
            .collect();
        Ok(Model {
            family_index,
            address_index,
            phone_index,
            move_floor,
            location,
            version: version.into(),
            prior_weight: weight_of_probability(prior),
            prior,
            household_cap,
            comparisons,
            thresholds,
            review_rules: ReviewRules::default(),
            household: None,
            mixture: None,
            roles: Vec::new(),
        })
    }

    /// A copy scoring households with the household mixture (see the module documentation);
    /// `None` goes back to the household cap.
    pub fn with_household_mixture(mut self, household: Option<HouseholdMixture>) -> Result<Model> {
        if let Some(h) = &household {
            h.validate()?;
        }
        self.household = household;
        self.mixture = household.map(|h| MixtureTerms {
            household: -h.share.log2(),
            others: -(1.0 - h.twins - h.juniors).log2(),
            twins: -h.twins.log2(),
            juniors: -h.juniors.log2(),
        });
        self.roles = self
            .comparisons
            .iter()
            .map(|c| match c.kind {
                _ if c.household => Role::Household,
                ComparisonKind::GivenName => Role::GivenName,
                ComparisonKind::BirthDate => Role::BirthDate,
                _ => Role::Personal,
            })
            .collect();
        for c in &mut self.comparisons {
            if household.is_some() && c.household {
                c.compute_mixture_weights();
            } else if household.is_some()
                && c.kind == ComparisonKind::GivenName
                && c.levels.iter().all(|l| l.u_household.is_some())
            {
                c.compute_sibling_given_weights();
            } else {
                c.mixture_weights = Vec::new();
            }
        }
        Ok(self)
    }

    /// The household mixture, when the model uses one.
    pub fn household_mixture(&self) -> Option<&HouseholdMixture> {
        self.household.as_ref()
    }

    /// A copy with other review rules.
    pub fn with_review_rules(mut self, rules: ReviewRules) -> Model {
        self.review_rules = rules;
        self
    }

    /// The review rules.
    pub fn review_rules(&self) -> &ReviewRules {
        &self.review_rules
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
        let mut levels = [None; MAX_COMPARISONS];
        for (slot, c) in levels.iter_mut().zip(&self.comparisons) {
            *slot = c.evaluate(a, b);
        }
        Score::from_weight(self.combine(&levels).0)
    }

    /// The match weight of evaluated levels, with the weight the household rule removed (0 or
    /// negative) and whether the pair looks like a household (see the module documentation).
    fn combine(&self, levels: &[Option<(u8, f64, f64)>]) -> (f64, f64, bool) {
        if let Some(t) = &self.mixture {
            // Weight against strangers, and the parts of the weights against household members.
            let (mut strangers, mut household, mut personal) = (self.prior_weight, 0.0, 0.0);
            let (mut sibling_given, mut birth) = (0.0, 0.0);
            strangers += self.moved(levels);
            for ((c, slot), role) in self.comparisons.iter().zip(levels).zip(&self.roles) {
                if let Some((level, base, tf)) = *slot {
                    let w = base + tf;
                    strangers += w;
                    match role {
                        Role::Household => household += c.mixture_weights[level as usize],
                        Role::Personal => personal += w,
                        Role::GivenName => {
                            sibling_given =
                                c.mixture_weights.get(level as usize).map_or(w, |h| h + tf);
                        }
                        Role::BirthDate => birth = w,
                    }
                }
            }
            let members = self.prior_weight + t.household + household + personal;
            let others = members + sibling_given + birth + t.others;
            let twins = members + sibling_given + t.twins;
            let juniors = members + birth + t.juniors;
            let lowest = strangers.min(others).min(twins).min(juniors);
            let sum = [strangers, others, twins, juniors]
                .iter()
                .map(|w| (lowest - w).exp2())
                .sum::<f64>();
            let weight = lowest - sum.log2();
            return (weight, weight - strangers, lowest < strangers);
        }
        let shared = self.shares_household(levels);
        let mut weight = self.prior_weight + self.moved(levels);
        let mut household = 0.0f64;
        for (c, slot) in self.comparisons.iter().zip(levels) {
            if let Some((level, base, tf)) = *slot {
                if c.household {
                    let w = base + tf;
                    if w > 0.0 { household += w } else { weight += w }
                } else if shared {
                    weight += c.levels[level as usize].household_weight + tf;
                } else {
                    weight += base + tf;
                }
            }
        }
        let capped = household.min(self.household_cap);
        (weight + capped, capped - household, shared)
    }

    /// What a move gives back (0 or positive, bits): a person who moved has another address, often
    /// another city and phone, so a match's location comparisons disagree together, not each on its
    /// own as their product of `m`s says. The location comparisons that disagree (address, city,
    /// phone weighing below 0, `L` their sum) weigh together `log2(2^L + q)` instead of `L`, with
    /// `q` the chance that a match's addresses differ: a mixture of matches who stayed (scored by
    /// the fitted `m`s) and matches who moved (whose locations agree as strangers' do). A pair
    /// agreeing on its location is unchanged; one whose address, city and phone all differ loses
    /// about `log2 q` (about 3.5 bits) instead of each comparison's weight (about 9). Only the
    /// disagreeing weights take part, so that more agreement never lowers a score: agreement
    /// weighs positive, and the household cap may hold it back.
    fn moved(&self, levels: &[Option<(u8, f64, f64)>]) -> f64 {
        let mut against = 0.0f64;
        for (slot, is_location) in levels.iter().zip(&self.location) {
            if let (Some((_, base, tf)), true) = (slot, is_location)
                && base + tf < 0.0
            {
                against += base + tf;
            }
        }
        if against < 0.0 {
            (self.move_floor - against).exp2().ln_1p() / std::f64::consts::LN_2
        } else {
            0.0
        }
    }

    /// Whether the evaluated levels say the two records share a household: the family names agree
    /// exactly and the addresses agree (exactly or on a fuzzy street) or the phones agree exactly.
    fn shares_household(&self, levels: &[Option<(u8, f64, f64)>]) -> bool {
        let level = |i: Option<usize>| i.and_then(|i| levels[i]).map(|l| l.0);
        level(self.family_index) == Some(0)
            && (matches!(level(self.address_index), Some(0 | 1))
                || level(self.phone_index) == Some(0))
    }

    /// Whether a pair is scored as a household: with the household mixture, whether the weight
    /// against a household member is below the weight against strangers; with the household cap,
    /// whether the family names agree exactly and the addresses or phones agree.
    pub fn pair_shares_household(&self, a: &NormalizedRecord, b: &NormalizedRecord) -> bool {
        let mut levels = [None; MAX_COMPARISONS];
        for (slot, c) in levels.iter_mut().zip(&self.comparisons) {
            *slot = c.evaluate(a, b);
        }
        self.combine(&levels).2
    }

    /// The decision zone of a score. A `Certain` pair that a review rule catches (placeholder
    /// identity, no agreeing anchor, sibling pattern; see [`ReviewRules`]) is `Probable` instead.
    pub fn decide(
        &self,
        score: &Score,
        a: &NormalizedRecord,
        b: &NormalizedRecord,
    ) -> MatchDecision {
        let zone = self.thresholds.zone(score.probability);
        if zone == MatchDecision::Certain && self.review_reason(a, b).is_some() {
            MatchDecision::Probable
        } else {
            zone
        }
    }

    /// The review rule, if any, that keeps this pair out of `Certain`.
    pub fn review_reason(
        &self,
        a: &NormalizedRecord,
        b: &NormalizedRecord,
    ) -> Option<ReviewReason> {
        if crate::maternity::placeholder_identity(a, b) {
            return Some(ReviewReason::Placeholder);
        }
        if crate::maternity::twins_of_one_mother(a, b) {
            return Some(ReviewReason::TwinsOfOneMother);
        }
        let rules = &self.review_rules;
        if rules.require_anchor {
            let mut anchors = self
                .comparisons
                .iter()
                .filter(|c| {
                    matches!(
                        c.kind,
                        ComparisonKind::BirthDate | ComparisonKind::Identifier
                    )
                })
                .peekable();
            if anchors.peek().is_some()
                && !anchors.any(|c| c.evaluate(a, b).is_some_and(|(_, w, _)| w > 0.0))
            {
                return Some(ReviewReason::NoAnchor);
            }
        }
        if rules.sibling_guard {
            let level = |kind: ComparisonKind| {
                self.comparisons
                    .iter()
                    .find(|c| c.kind == kind)
                    .and_then(|c| {
                        compare_field(kind, &c.params, a, b)
                            .level
                            .map(|l| (l, c.levels.len() as u8 - 1))
                    })
            };
            let given_different =
                level(ComparisonKind::GivenName).is_some_and(|(l, last)| l == last);
            let family_exact = level(ComparisonKind::FamilyName).is_some_and(|(l, _)| l == 0);
            if given_different && family_exact {
                return Some(ReviewReason::SiblingPattern);
            }
        }
        None
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

    #[test]
    fn sequential_identifiers_weigh_less_than_a_typo_in_the_builtin_model() {
        let model = Model::builtin();
        let person = |mrn: &str| {
            crate::normalize::normalize(&crate::PersonRecord {
                given_names: vec!["Ada".into()],
                identifiers: vec![crate::Identifier {
                    system: "urn:h".into(),
                    value: mrn.into(),
                }],
                ..Default::default()
            })
        };
        let weight = |a: &str, b: &str| model.score(&person(a), &person(b)).match_weight;
        let sequential = weight("M-6001", "M-6002");
        let transposed = weight("M-6012", "M-6021");
        let ocr = weight("M-6O01", "M-6001");
        assert!(sequential + 2.0 < transposed, "{sequential} {transposed}");
        assert!((ocr - transposed).abs() < 1e-9);
    }

    #[test]
    fn a_model_file_with_the_earlier_level_lists_loads_and_scores_as_before() {
        let mut file: serde_json::Value = serde_json::from_str(BUILTIN_JSON).expect("json");
        let level =
            |label: &str, m: f64, u: f64| serde_json::json!({"label": label, "m": m, "u": u});
        for c in file["comparisons"].as_array_mut().expect("comparisons") {
            match c["kind"].as_str() {
                Some("birth_date") => {
                    c["levels"] = serde_json::json!([
                        level("exact", 0.92, 0.002),
                        level("day_month_swapped", 0.01, 0.0002),
                        level("one_digit_or_transposition", 0.04, 0.004),
                        level("year_off_by_one", 0.01, 0.002),
                        level("different", 0.02, 0.9918),
                    ]);
                }
                Some("identifier") => {
                    c["levels"] = serde_json::json!([
                        level("exact", 0.965, 0.0005),
                        level("one_edit_or_transposition", 0.03, 0.002),
                        level("different", 0.005, 0.9975),
                    ]);
                }
                _ => {}
            }
        }
        let model = Model::from_json(&file.to_string()).expect("an old model file loads");
        let weights = |kind: ComparisonKind| -> Vec<(String, f64)> {
            let c = model
                .comparisons()
                .iter()
                .find(|c| c.kind() == kind)
                .expect("comparison");
            c.levels()
                .iter()
                .map(|l| (l.label().to_owned(), (l.weight() * 1000.0).round() / 1000.0))
                .collect()
        };
        let one_digit = (0.04f64 / 0.004).log2();
        let one_edit = (0.03f64 / 0.002).log2();
        let r = |w: f64| (w * 1000.0).round() / 1000.0;
        assert_eq!(
            weights(ComparisonKind::BirthDate)
                .into_iter()
                .skip(4)
                .collect::<Vec<_>>(),
            [
                ("mistyped_one_digit".to_owned(), r(one_digit)),
                ("coarser_precision".to_owned(), 0.0),
                ("different".to_owned(), r((0.02f64 / 0.9918).log2())),
            ]
        );
        assert_eq!(
            weights(ComparisonKind::Identifier)[1..4]
                .iter()
                .map(|(_, w)| *w)
                .collect::<Vec<_>>(),
            [r(one_edit); 3]
        );
    }
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

    fn person(given: &str, family: &str, dob: Option<&str>) -> NormalizedRecord {
        crate::normalize::normalize(&crate::record::PersonRecord {
            given_names: vec![given.into()],
            family_names: vec![family.into()],
            birth_date: dob.map(str::to_owned),
            addresses: vec![crate::record::Address {
                lines: vec!["9 Elm Court".into()],
                postal_code: Some("2000".into()),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    #[test]
    fn review_reason_names_are_their_serde_names() {
        for r in [
            ReviewReason::Placeholder,
            ReviewReason::NoAnchor,
            ReviewReason::SiblingPattern,
            ReviewReason::TwinsOfOneMother,
        ] {
            assert_eq!(serde_json::to_value(r).ok(), Some(r.as_str().into()));
        }
    }

    #[test]
    fn review_rules_keep_weak_certain_pairs_in_review() {
        let strict = Model::builtin()
            .with_thresholds(Thresholds::new(0.6, 0.55, 0.5, 2.0).unwrap())
            .unwrap()
            .with_review_rules(ReviewRules {
                require_anchor: true,
                sibling_guard: true,
            });
        let (a, b) = (person("Ann", "Lee", None), person("Ann", "Lee", None));
        let score = strict.score(&a, &b);
        assert_eq!(
            strict.thresholds().zone(score.probability),
            MatchDecision::Certain
        );
        assert_eq!(strict.review_reason(&a, &b), Some(ReviewReason::NoAnchor));
        assert_eq!(strict.decide(&score, &a, &b), MatchDecision::Probable);
        let lenient = strict.clone().with_review_rules(ReviewRules::default());
        assert_eq!(lenient.decide(&score, &a, &b), MatchDecision::Certain);

        let (c, d) = (
            person("Ann", "Lee", Some("1990-01-01")),
            person("Zoe", "Lee", Some("1990-01-01")),
        );
        assert_eq!(
            strict.review_reason(&c, &d),
            Some(ReviewReason::SiblingPattern)
        );
        assert_eq!(
            strict.explain(&a, &b).review_reason,
            Some(ReviewReason::NoAnchor)
        );
    }

    #[test]
    fn household_u_lowers_shared_birth_date_weight_inside_a_household() {
        let model = Model::builtin();
        let (a, b) = (
            person("Ann", "Lee", Some("1990-01-01")),
            person("Zoe", "Lee", Some("1990-01-01")),
        );
        assert!(model.pair_shares_household(&a, &b));
        let e = model.explain(&a, &b);
        assert!(e.shared_household);
        let dob = e
            .comparisons
            .iter()
            .find(|c| c.comparison == "birth_date")
            .unwrap();
        let level = &model.comparisons()[2].levels()[0];
        assert_eq!(dob.weight, level.household_weight());
        assert!(level.household_weight() < level.weight());
        let elsewhere = person("Zoe", "Park", Some("1990-01-01"));
        assert!(!model.pair_shares_household(&a, &elsewhere));
    }

    #[test]
    fn inside_a_household_correcting_a_swapped_birth_date_never_lowers_the_score() {
        // Found by the monotonicity property: same names and address, birth dates 1961-12-04 and
        // 1961-04-12. The swapped level kept the strangers' u while exact agreement took the
        // household u, so fixing the swap lowered the weight by 0.7 bits.
        let model = Model::builtin();
        let a = person("William", "Bill", Some("1961-12-04"));
        let swapped = person("William", "Bill", Some("1961-04-12"));
        assert!(model.pair_shares_household(&a, &swapped));
        let (before, after) = (
            model.score(&a, &swapped).match_weight,
            model.score(&a, &a.clone()).match_weight,
        );
        assert!(after >= before, "{before} -> {after}");
        for c in model.comparisons() {
            let exact = c.levels()[0].household_weight();
            for l in &c.levels()[1..] {
                assert!(l.household_weight() <= exact, "{}.{}", c.name(), l.label());
            }
        }
    }

    /// The built-in comparisons as a household mixture: household members share the household
    /// comparisons as matches do; one pair in 10^3 is a match, one in 10^3 household members.
    #[test]
    fn a_move_costs_the_chance_of_moving_not_each_location_comparison() {
        let with_home = |line: &str, postal: &str, city: &str, phone: &str| {
            crate::normalize::normalize(&crate::record::PersonRecord {
                given_names: vec!["Ann".into()],
                family_names: vec!["Lee".into()],
                birth_date: Some("1990-01-01".into()),
                addresses: vec![crate::record::Address {
                    lines: vec![line.into()],
                    city: Some(city.into()),
                    postal_code: Some(postal.into()),
                    ..Default::default()
                }],
                phones: vec![phone.into()],
                ..Default::default()
            })
        };
        let before = with_home("9 Elm Court", "2000", "Springfield", "555 201 3344");
        let after = with_home("41 Harbour Road", "7310", "Lakeside", "555 877 1902");
        for model in [Model::builtin(), mixture_model()] {
            let e = model.explain(&before, &after);
            let location: f64 = e
                .comparisons
                .iter()
                .filter(|c| matches!(c.comparison.as_str(), "address" | "city" | "phone"))
                .map(|c| c.weight)
                .sum();
            assert!(location < -5.0, "{location}");
            // Together the three weigh about log2 of the chance that a match's address differs.
            let floor = model.move_floor;
            assert!(floor.is_finite() && floor < -1.0, "{floor}");
            let together = location + e.move_adjustment;
            assert!((together - floor).abs() < 0.5, "{together} against {floor}");
            let parts = e.prior_weight
                + e.comparisons.iter().map(|c| c.weight).sum::<f64>()
                + e.move_adjustment
                + e.household_cap_adjustment;
            assert!((parts - e.match_weight).abs() < 1e-9);
            assert_eq!(e.match_weight, model.score(&before, &after).match_weight);
            // Staying put changes nothing.
            let stayed = model.explain(&before, &before);
            assert!(stayed.move_adjustment < 1e-6, "{}", stayed.move_adjustment);
        }
    }

    fn mixture_model() -> Model {
        let mut model = Model::builtin();
        for c in &mut model.comparisons {
            if c.household {
                c.levels = c
                    .levels
                    .iter()
                    .map(|l| l.clone().with_u_household(Some(l.m)).unwrap())
                    .collect();
            }
        }
        let model = Model::new(
            "mixture",
            1e-3,
            model.comparisons,
            Thresholds::new(0.99, 0.95, 0.5, 2.0).unwrap(),
            7.0,
        )
        .unwrap()
        .with_household_mixture(Some(HouseholdMixture {
            share: 1e-3,
            twins: 0.05,
            juniors: 0.05,
        }))
        .unwrap();
        Model::from_json(&model.to_json()).unwrap()
    }

    #[test]
    fn the_household_mixture_tells_a_duplicate_from_twins_and_juniors() {
        let model = mixture_model();
        assert!(model.household_mixture().is_some());
        let same = person("Ann", "Lee", Some("1990-01-01"));
        let twin = person("Zoe", "Lee", Some("1990-01-01"));
        let junior = person("Ann", "Lee", Some("1962-07-30"));
        let duplicate = model.score(&same, &same);
        assert_eq!(
            model.decide(&duplicate, &same, &same),
            MatchDecision::Certain
        );
        for other in [&twin, &junior] {
            let score = model.score(&same, other);
            assert!(score.probability < 0.5, "{score:?}");
            let e = model.explain(&same, other);
            assert!(e.shared_household);
            assert!(e.household_cap_adjustment < 0.0);
            let parts: f64 = e.prior_weight
                + e.comparisons.iter().map(|c| c.weight).sum::<f64>()
                + e.move_adjustment
                + e.household_cap_adjustment;
            assert!((parts - score.match_weight).abs() < 1e-9);
            assert_eq!(e.match_weight, score.match_weight);
        }
        // Strangers who share given name and birth date but nothing of a home: the household
        // explanation does not apply.
        let mut elsewhere = person("Ann", "Park", Some("1990-01-01"));
        elsewhere.addresses.clear();
        assert!(!model.explain(&same, &elsewhere).shared_household);
    }

    #[test]
    fn rare_values_weigh_more_than_common_ones() {
        let mut model = Model::builtin();
        let family = model.comparisons[1].clone();
        let mut with_tf = family.clone();
        let table: BTreeMap<String, f64> = [
            ("smith".to_owned(), 0.2),
            ("zeller".to_owned(), 0.001),
            ("lee".to_owned(), 0.05),
        ]
        .into();
        with_tf
            .set_term_frequencies(table, 1.0, DEFAULT_TF_FLOOR)
            .unwrap();
        assert!(with_tf.tf_weight("zeller") > 0.0);
        assert!(with_tf.tf_weight("smith") < 0.0);
        assert_eq!(with_tf.tf_weight("unseen"), 0.0);
        model.comparisons[1] = with_tf;
        let (a, b) = (person("Ann", "Zeller", None), person("Bea", "Smith", None));
        let rare = model.explain(&a, &a).comparisons[1].weight;
        let common = model.explain(&b, &b).comparisons[1].weight;
        assert!(rare > common, "{rare} vs {common}");
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
