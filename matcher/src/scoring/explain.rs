//! Explanations: why a pair scored what it scored, comparison by comparison, for a data steward.
//!
//! An explanation holds the normalized values compared, so it is patient data: show it to an
//! authorised user, never log it.

use super::{MatchDecision, Model, ReviewReason, Score};
use crate::compare::ComparisonKind;
use crate::record::{CompactString, NormalizedRecord};
use serde::Serialize;

/// One comparison's part in a score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComparisonExplanation {
    /// Comparison name (`given_name`, ...).
    pub comparison: String,
    /// Level label (`exact`, `nickname`, ...) or `missing`.
    pub level: String,
    /// Weight this comparison added, term-frequency adjustment included (0 when missing), before
    /// the household rule (`Explanation::household_cap_adjustment`).
    pub weight: f64,
    /// The term-frequency part of `weight`.
    pub tf_adjustment: f64,
    /// Normalized values of the left record (several values joined with `" | "`).
    pub left: String,
    /// Normalized values of the right record.
    pub right: String,
}

/// The whole story of one score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// Model version.
    pub model_version: String,
    /// Prior weight.
    pub prior_weight: f64,
    /// Per comparison, in model order.
    pub comparisons: Vec<ComparisonExplanation>,
    /// Whether the pair is scored as a household: with the household mixture, the weight against
    /// a household member is the lower; with the household cap, family name and address or phone
    /// agree, and identity comparisons weigh with their household u.
    pub shared_household: bool,
    /// Weight removed by the household rule (0 or negative): with the household mixture, the
    /// difference between the match weight and the weight against strangers (prior plus the
    /// comparison weights); with the household cap, what the cap removed.
    pub household_cap_adjustment: f64,
    /// Weight given back because the location comparisons (address, city, phone) disagree
    /// together, as they do for a person who moved (0 or positive). The
    /// match weight is the prior, plus the comparisons' weights, plus this, plus
    /// `household_cap_adjustment`.
    pub move_adjustment: f64,
    /// Total match weight (equals `Model::score`'s).
    pub match_weight: f64,
    /// Match probability.
    pub probability: f64,
    /// Decision (review rules applied; the near-tie rule needs the other candidates).
    pub decision: MatchDecision,
    /// The review rule that kept a `Certain` score out of `Certain`, if any.
    pub review_reason: Option<ReviewReason>,
}

fn join<'a>(values: impl Iterator<Item = &'a str>) -> String {
    values
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn values(kind: ComparisonKind, r: &NormalizedRecord) -> String {
    match kind {
        ComparisonKind::GivenName => join(r.given.iter().map(|n| n.text.as_str())),
        ComparisonKind::FamilyName => join(r.family.iter().map(|n| n.text.as_str())),
        ComparisonKind::BirthDate => r
            .birth_date
            .map(|d| match d.precision() {
                crate::record::DatePrecision::Year => format!("{:04}", d.year),
                crate::record::DatePrecision::Month => format!("{:04}-{:02}", d.year, d.month),
                crate::record::DatePrecision::Day => {
                    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
                }
            })
            .unwrap_or_default(),
        ComparisonKind::Sex => r
            .sex
            .map(|s| format!("{s:?}").to_lowercase())
            .unwrap_or_default(),
        ComparisonKind::Identifier => r
            .identifiers
            .iter()
            .map(|i| format!("{}:{}", i.system, i.value))
            .collect::<Vec<_>>()
            .join(" | "),
        ComparisonKind::Address => r
            .addresses
            .iter()
            .map(|a| {
                [
                    a.house_number.as_str(),
                    a.street.as_str(),
                    a.postal_code.as_str(),
                ]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
            })
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" | "),
        ComparisonKind::City => join(r.addresses.iter().map(|a| a.city.as_str())),
        ComparisonKind::Phone => join(r.phones.iter().map(CompactString::as_str)),
        ComparisonKind::Email => join(r.emails.iter().map(CompactString::as_str)),
        ComparisonKind::MotherIdentifier => r
            .maternity
            .as_ref()
            .and_then(|m| m.mother_identifier.as_ref())
            .map(|i| format!("{}:{}", i.system, i.value))
            .unwrap_or_default(),
        ComparisonKind::MotherMaidenName => r
            .maternity
            .as_ref()
            .and_then(|m| m.mother_maiden_name.as_ref())
            .map(|n| n.text.to_string())
            .unwrap_or_default(),
    }
}

impl Model {
    /// Explains the score of a pair.
    ///
    /// ```
    /// use matcher::{PersonRecord, normalize::normalize, scoring::Model};
    /// let rec = |g: &str| normalize(&PersonRecord {
    ///     given_names: vec![g.into()],
    ///     family_names: vec!["Nguyen".into()],
    ///     ..Default::default()
    /// });
    /// let model = Model::builtin();
    /// let (a, b) = (rec("Margaret"), rec("Peggy"));
    /// let e = model.explain(&a, &b);
    /// assert_eq!(e.comparisons[0].level, "nickname");
    /// assert_eq!(e.match_weight, model.score(&a, &b).match_weight);
    /// ```
    pub fn explain(&self, a: &NormalizedRecord, b: &NormalizedRecord) -> Explanation {
        let mut levels = [None; super::MAX_COMPARISONS];
        for (slot, c) in levels.iter_mut().zip(&self.comparisons) {
            *slot = c.evaluate(a, b);
        }
        let (match_weight, adjustment, shared) = self.combine(&levels);
        let legacy_shared = shared && self.household.is_none();
        let comparisons = self
            .comparisons
            .iter()
            .zip(levels)
            .map(|(c, slot)| {
                let (level, w, tf) = match slot {
                    Some((level, base, tf)) => {
                        let l = &c.levels[level as usize];
                        let base = if legacy_shared && !c.household {
                            l.household_weight
                        } else {
                            base
                        };
                        (l.label.clone(), base + tf, tf)
                    }
                    None => ("missing".to_owned(), 0.0, 0.0),
                };
                ComparisonExplanation {
                    comparison: c.name.clone(),
                    level,
                    weight: w,
                    tf_adjustment: tf,
                    left: values(c.kind, a),
                    right: values(c.kind, b),
                }
            })
            .collect();
        let score = Score::from_weight(match_weight);
        Explanation {
            model_version: self.version.clone(),
            prior_weight: self.prior_weight,
            comparisons,
            shared_household: shared,
            household_cap_adjustment: adjustment,
            move_adjustment: self.moved(&levels),
            match_weight: score.match_weight,
            probability: score.probability,
            decision: self.decide(&score, a, b),
            review_reason: (self.thresholds.zone(score.probability) == MatchDecision::Certain)
                .then(|| self.review_reason(a, b))
                .flatten(),
        }
    }
}
