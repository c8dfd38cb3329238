//! Mothers and newborns (issue 29 §7): the mother's maiden name and identifier as match
//! evidence, newborn placeholder given names, and the rule that keeps twins of one mother apart.
//!
//! * A newborn registered before it is named carries a placeholder given name ("Baby Girl",
//!   "BG", "Infant", "Newborn", "Twin A", "Female"): [`newborn_placeholder`] recognizes it and
//!   normalization drops it, so the given name is *missing* (it weighs nothing) instead of
//!   disagreeing with the name the child gets later. Such a record is still a placeholder
//!   identity (never `Certain`) unless the pair names the same mother
//!   ([`placeholder_identity`]): "Baby Girl Jones", her mother's identifier and her birth date
//!   then match her later named record.
//! * The mother's identifier agrees or disagrees ([`mother_identifier_level`]) and the mother's
//!   maiden name agrees exactly, phonetically or not ([`mother_maiden_name_level`]): comparisons
//!   of the model like the others. Siblings share a mother, so in the built-in model the maiden
//!   name is household evidence (capped with the family name, address and phone), and the
//!   mother's identifier weighs strongly between records of different households but little
//!   inside one (its household u), as a shared birth date does.
//! * Twins of one mother ([`twins_of_one_mother`]): same mother's identifier, same birth date and
//!   a different birth order or clearly different given names are never auto-linked, whatever the
//!   weight (the pair goes to review).

use crate::compare::{CompareParams, ComparisonKind, compare_field};
use crate::normalize::{family_name_text, name_from_folded, normalize_code, normalize_system};
use crate::record::{
    CompactString, NormalizedIdentifier, NormalizedMaternity, NormalizedRecord, PersonRecord,
};

/// A newborn placeholder given name, with the birth order it states ("Twin B" is 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Newborn {
    /// The birth order the placeholder states, if any.
    pub birth_order: Option<u32>,
}

/// Words a newborn placeholder starts with.
const HEADS: &[&str] = &[
    "baby", "babygirl", "babyboy", "bb", "bg", "infant", "newborn", "nb", "twin", "triplet",
    "female", "male",
];

/// Words that may follow a head word.
const FOLLOWERS: &[&str] = &[
    "baby", "girl", "boy", "female", "male", "infant", "newborn", "twin", "triplet", "of",
];

/// The birth order a token states: a letter `a`-`f`, a digit or a Roman numeral.
fn order_of(token: &str) -> Option<u32> {
    match token {
        "a" | "1" | "i" => Some(1),
        "b" | "2" | "ii" => Some(2),
        "c" | "3" | "iii" => Some(3),
        "d" | "4" | "iv" => Some(4),
        "e" | "5" | "v" => Some(5),
        "f" | "6" | "vi" => Some(6),
        _ => None,
    }
}

/// Whether the given names are a newborn placeholder: a head word (Baby, BG, BB, Infant,
/// Newborn, Twin, Female, Male...) followed only by such words and at most one birth-order
/// token (`A`, `B`, `2`, `II`). "Baby Mary" is not one (Mary is a name).
///
/// ```
/// use matcher::maternity::newborn_placeholder;
/// let given = |s: &str| vec![s.to_owned()];
/// assert!(newborn_placeholder(&given("Baby Girl")).is_some());
/// assert!(newborn_placeholder(&given("BG")).is_some());
/// assert!(newborn_placeholder(&given("B'G")).is_some());
/// assert_eq!(newborn_placeholder(&given("Twin B")).and_then(|n| n.birth_order), Some(2));
/// assert!(newborn_placeholder(&given("Female")).is_some());
/// assert!(newborn_placeholder(&given("BB Jr")).is_some());
/// assert!(newborn_placeholder(&given("Mr Baby Boy")).is_some());
/// assert!(newborn_placeholder(&given("Baby Mary")).is_none());
/// assert!(newborn_placeholder(&given("Mary")).is_none());
/// ```
pub fn newborn_placeholder(given_names: &[String]) -> Option<Newborn> {
    let mut words = given_names.iter().flat_map(|g| {
        // Folded as the normalized name is (`ñb` is `nb`, `B'G` is `bg`: an apostrophe joins),
        // then split into its words, so that a record reads the same after normalizing as
        // before (found by the idempotence property, twice).
        // A title or suffix, which normalization removes (`Baby Boy Jr`, `Mr BB`), is no part of
        // the name either, so that `BB Jr` reads as `BB` does once normalized (found by the
        // idempotence property); a Roman numeral stays, a birth order.
        crate::normalize::fold(g)
            .split(' ')
            .filter(|w| !w.is_empty())
            .filter(|w| order_of(w).is_some() || !crate::normalize::is_title_or_suffix(w))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    });
    let head = words.next()?;
    if !HEADS.contains(&head.as_str()) {
        return None;
    }
    let mut birth_order = None;
    for w in words {
        if FOLLOWERS.contains(&w.as_str()) {
            continue;
        }
        match order_of(&w) {
            Some(o) if birth_order.is_none() => birth_order = Some(o),
            _ => return None,
        }
    }
    Some(Newborn { birth_order })
}

/// The normalized maternity of a record; `None` when it says nothing of a mother, a birth order
/// or a newborn placeholder. `excusable`: the record is a placeholder identity only because of
/// its newborn placeholder given name (not, say, a newborn "Baby Girl Doe").
pub fn normalize_maternity(
    record: &PersonRecord,
    newborn: Option<Newborn>,
    excusable: bool,
) -> Option<Box<NormalizedMaternity>> {
    let m = &record.maternity;
    let mother_maiden_name = m
        .mother_maiden_name
        .as_deref()
        .and_then(family_name_text)
        .map(name_from_folded);
    let mother_identifier = m.mother_identifier.as_ref().and_then(|id| {
        let value = normalize_code(&id.value);
        (!value.is_empty()).then(|| NormalizedIdentifier {
            system: normalize_system(&id.system).into(),
            value: value.into(),
        })
    });
    let birth_order = m.birth_order.or(newborn.and_then(|n| n.birth_order));
    let out = NormalizedMaternity {
        mother_maiden_name,
        mother_identifier,
        birth_order,
        newborn_placeholder: excusable,
    };
    (out != NormalizedMaternity::default()).then(|| Box::new(out))
}

fn maternity(r: &NormalizedRecord) -> Option<&NormalizedMaternity> {
    r.maternity.as_deref()
}

/// The mother's identifiers of two records: 0 agree, 1 disagree; `None` when a side has none
/// or the two are of different systems (an empty system is any system).
pub fn mother_identifier_level(a: &NormalizedRecord, b: &NormalizedRecord) -> Option<u8> {
    let x = maternity(a)?.mother_identifier.as_ref()?;
    let y = maternity(b)?.mother_identifier.as_ref()?;
    if !x.system.is_empty() && !y.system.is_empty() && x.system != y.system {
        return None;
    }
    Some(u8::from(x.value != y.value))
}

/// The mother's maiden names of two records: 0 exact, 1 phonetic (a Double Metaphone or NYSIIS
/// code in common), 2 different; `None` when a side has none.
pub fn mother_maiden_name_level(a: &NormalizedRecord, b: &NormalizedRecord) -> Option<u8> {
    let x = maternity(a)?.mother_maiden_name.as_ref()?;
    let y = maternity(b)?.mother_maiden_name.as_ref()?;
    if (x.compact == y.compact && !x.compact.is_empty()) || x.text == y.text {
        return Some(0);
    }
    let (p, q) = (&x.phonetic, &y.phonetic);
    let shared = |s: &CompactString, t: &CompactString| !s.is_empty() && s == t;
    if shared(&p.metaphone, &q.metaphone)
        || shared(&p.metaphone, &q.metaphone_alt)
        || shared(&p.metaphone_alt, &q.metaphone)
        || shared(&p.nysiis, &q.nysiis)
    {
        return Some(1);
    }
    Some(2)
}

/// Whether the pair holds a placeholder identity (John Doe, Baby Girl, ...) that keeps it out
/// of `Certain`. A newborn placeholder ("Baby Girl Jones") is excused when the two records name
/// the same mother: born on a date she is any Jones girl born that day, unless her mother is
/// known.
pub fn placeholder_identity(a: &NormalizedRecord, b: &NormalizedRecord) -> bool {
    let same_mother = mother_identifier_level(a, b) == Some(0);
    let excused =
        |r: &NormalizedRecord| same_mother && maternity(r).is_some_and(|m| m.newborn_placeholder);
    (a.placeholder && !excused(a)) || (b.placeholder && !excused(b))
}

/// Twins of one mother: both records name the same mother, were born on the same (full) date,
/// and either state different birth orders or carry clearly different given names (neither a
/// placeholder: different, or alike only at the lowest Jaro-Winkler level). Such a pair is
/// never linked automatically, whatever its weight. This is the mother-based twin rule only;
/// twins recognized from demographics alone are another rule's business.
///
/// ```
/// use matcher::{Identifier, PersonRecord, normalize::normalize, record::Maternity};
/// use matcher::maternity::twins_of_one_mother;
/// let child = |given: &str, order: Option<u32>| normalize(&PersonRecord {
///     given_names: vec![given.into()],
///     family_names: vec!["Jones".into()],
///     birth_date: Some("2026-11-02".into()),
///     maternity: Maternity {
///         mother_identifier: Some(Identifier { system: "mrn".into(), value: "M1".into() }),
///         birth_order: order,
///         ..Default::default()
///     },
///     ..Default::default()
/// });
/// assert!(twins_of_one_mother(&child("Twin A", None), &child("Twin B", None)));
/// assert!(twins_of_one_mother(&child("Ava", Some(1)), &child("Ava", Some(2))));
/// assert!(twins_of_one_mother(&child("Ava", None), &child("Noah", None)));
/// assert!(!twins_of_one_mother(&child("Baby Girl", None), &child("Ava", None)));
/// ```
pub fn twins_of_one_mother(a: &NormalizedRecord, b: &NormalizedRecord) -> bool {
    if mother_identifier_level(a, b) != Some(0) {
        return false;
    }
    match (a.birth_date, b.birth_date) {
        (Some(x), Some(y)) if x == y && x.day != 0 => {}
        _ => return false,
    }
    let order = |r: &NormalizedRecord| maternity(r).and_then(|m| m.birth_order);
    if let (Some(p), Some(q)) = (order(a), order(b))
        && p != q
    {
        return true;
    }
    if a.given.is_empty() || b.given.is_empty() {
        return false;
    }
    let labels = ComparisonKind::GivenName.level_labels();
    compare_field(ComparisonKind::GivenName, &CompareParams::default(), a, b)
        .level
        .is_some_and(|l| matches!(labels[l as usize], "jaro_winkler_low" | "different"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;
    use crate::record::{Identifier, Maternity};
    use crate::scoring::{MatchDecision, Model, ReviewReason};

    fn child(given: &str, sex: crate::Sex, dob: &str, mother: Option<&str>) -> PersonRecord {
        PersonRecord {
            given_names: vec![given.into()],
            family_names: vec!["Jones".into()],
            sex: Some(sex),
            birth_date: Some(dob.into()),
            maternity: Maternity {
                mother_maiden_name: Some("Smith".into()),
                mother_identifier: mother.map(|v| Identifier {
                    system: "urn:oid:1.2.3".into(),
                    value: v.into(),
                }),
                birth_order: None,
            },
            ..Default::default()
        }
    }

    #[test]
    fn placeholder_names_are_a_missing_given_name() {
        use crate::Sex::Female;
        for placeholder in [
            "Baby",
            "Baby Girl",
            "Baby Boy",
            "BG",
            "BB",
            "Infant",
            "Newborn",
            "Twin A",
            "Twin B",
            "Female",
            "Male",
            "Baby-Girl",
            "INFANT FEMALE",
        ] {
            let n = normalize(&child(placeholder, Female, "2026-11-02", Some("M1")));
            assert!(n.given.is_empty(), "{placeholder}");
            assert!(n.placeholder, "{placeholder}");
            assert!(
                n.maternity.as_ref().is_some_and(|m| m.newborn_placeholder),
                "{placeholder}"
            );
        }
        for name in ["Mary", "Baby Mary", "Bianca", "Twinkle"] {
            let n = normalize(&child(name, Female, "2026-11-02", Some("M1")));
            assert!(!n.given.is_empty(), "{name}");
            assert!(!n.maternity.as_ref().is_some_and(|m| m.newborn_placeholder));
        }
        assert_eq!(
            normalize(&child("Twin B", Female, "2026-11-02", None))
                .maternity
                .and_then(|m| m.birth_order),
            Some(2)
        );
    }

    #[test]
    fn a_newborn_with_her_mother_matches_her_named_record() {
        use crate::Sex::Female;
        let model = Model::builtin();
        let baby = normalize(&child("Baby Girl", Female, "2026-11-02", Some("M1")));
        let named = normalize(&child("Olivia", Female, "2026-11-02", Some("M1")));
        let score = model.score(&baby, &named);
        assert_eq!(model.decide(&score, &baby, &named), MatchDecision::Certain);
        // Without the mother the placeholder is any Jones girl born that day: reviewed.
        let (a, b) = (
            normalize(&child("Baby Girl", Female, "2026-11-02", None)),
            normalize(&child("Olivia", Female, "2026-11-02", None)),
        );
        assert_eq!(model.review_reason(&a, &b), Some(ReviewReason::Placeholder));
        // Another mother's identifier weighs against.
        let other = normalize(&child("Olivia", Female, "2026-11-02", Some("M2")));
        assert!(model.score(&baby, &other).match_weight < score.match_weight - 3.0);
        assert_ne!(
            model.decide(&model.score(&baby, &other), &baby, &other),
            MatchDecision::Certain
        );
    }

    #[test]
    fn twins_of_one_mother_are_never_certain() {
        use crate::Sex::Female;
        let model = Model::builtin();
        let twin = |given: &str, order: Option<u32>| {
            let mut r = child(given, Female, "2026-11-02", Some("M1"));
            r.maternity.birth_order = order;
            normalize(&r)
        };
        for (a, b) in [
            (twin("Twin A", None), twin("Twin B", None)),
            (twin("Baby Girl", Some(1)), twin("Baby Girl", Some(2))),
            (twin("Ava", None), twin("Mia", None)),
            (twin("Ava", Some(1)), twin("Ava", Some(2))),
        ] {
            assert!(twins_of_one_mother(&a, &b));
            let score = model.score(&a, &b);
            assert_ne!(model.decide(&score, &a, &b), MatchDecision::Certain);
            assert_eq!(
                model.review_reason(&a, &b),
                Some(ReviewReason::TwinsOfOneMother)
            );
        }
        // One child registered twice (same order, or a typo in the name) is not twins.
        assert!(!twins_of_one_mother(
            &twin("Ava", Some(1)),
            &twin("Ava", Some(1))
        ));
        assert!(!twins_of_one_mother(
            &twin("Olivia", None),
            &twin("Olivai", None)
        ));
        // Another birth date: siblings, not twins (their dates already disagree).
        let sibling = normalize(&child("Mia", Female, "2024-03-09", Some("M1")));
        assert!(!twins_of_one_mother(&twin("Ava", None), &sibling));
    }

    #[test]
    fn mother_levels() {
        use crate::Sex::Female;
        let a = normalize(&child("Ava", Female, "2026-11-02", Some("M-1")));
        let b = normalize(&child("Ava", Female, "2026-11-02", Some("m1")));
        let c = normalize(&child("Ava", Female, "2026-11-02", Some("M2")));
        let none = normalize(&child("Ava", Female, "2026-11-02", None));
        assert_eq!(mother_identifier_level(&a, &b), Some(0));
        assert_eq!(mother_identifier_level(&a, &c), Some(1));
        assert_eq!(mother_identifier_level(&a, &none), None);
        let mut smyth = child("Ava", Female, "2026-11-02", None);
        smyth.maternity.mother_maiden_name = Some("Smyth".into());
        let mut brown = smyth.clone();
        brown.maternity.mother_maiden_name = Some("Brown".into());
        assert_eq!(mother_maiden_name_level(&a, &none), Some(0));
        assert_eq!(mother_maiden_name_level(&a, &normalize(&smyth)), Some(1));
        assert_eq!(mother_maiden_name_level(&a, &normalize(&brown)), Some(2));
    }
}
