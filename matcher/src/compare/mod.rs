//! Comparators: string metrics (one module each) and field comparisons that map a pair of
//! `NormalizedRecord`s to a comparison level.
//!
//! A field comparison returns the index of the first level that applies in its kind's fixed level
//! list (`ComparisonKind::level_labels`), or `None` when either side is missing the field (missing
//! values weigh nothing). Multi-valued fields take the best level over all value pairs; current and
//! former family names all count. Everything here is allocation-free: it is the scoring hot path.

pub mod damerau;
mod given_parts;
pub mod jaro_winkler;
pub mod levenshtein;

use crate::record::{BirthDate, NormalizedName, NormalizedRecord};
use serde::{Deserialize, Serialize};

/// What a comparison compares; fixes its ordered level list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComparisonKind {
    /// Given names (all tokens, nicknames, phonetics, swapped with family name).
    GivenName,
    /// Family names, current and former.
    FamilyName,
    /// Birth date.
    BirthDate,
    /// Administrative sex.
    Sex,
    /// Identifiers that share a system.
    Identifier,
    /// House number, street and postal code.
    Address,
    /// City / suburb of the addresses.
    City,
    /// Phone numbers.
    Phone,
    /// E-mail addresses (exact, a typo, different).
    Email,
    /// The mother's identifier (see [`crate::maternity`]).
    MotherIdentifier,
    /// The mother's maiden name (see [`crate::maternity`]).
    MotherMaidenName,
}

impl ComparisonKind {
    /// Every kind, in the order of the built-in model.
    pub const ALL: [ComparisonKind; 11] = [
        ComparisonKind::GivenName,
        ComparisonKind::FamilyName,
        ComparisonKind::BirthDate,
        ComparisonKind::Sex,
        ComparisonKind::Identifier,
        ComparisonKind::Address,
        ComparisonKind::City,
        ComparisonKind::Phone,
        ComparisonKind::Email,
        ComparisonKind::MotherIdentifier,
        ComparisonKind::MotherMaidenName,
    ];

    /// The ordered level labels of this kind; the comparator returns an index into this list.
    /// The last level is always the disagreement level.
    pub fn level_labels(self) -> &'static [&'static str] {
        match self {
            ComparisonKind::GivenName => &[
                "exact",
                "swapped",
                "nickname",
                "spelling_variant",
                "phonetic",
                "jaro_winkler_high",
                "initial",
                "shared_part",
                "jaro_winkler_low",
                "different",
            ],
            ComparisonKind::FamilyName => &[
                "exact",
                "swapped",
                "spelling_variant",
                "phonetic",
                "jaro_winkler_high",
                "partial",
                "jaro_winkler_low",
                "different",
            ],
            ComparisonKind::BirthDate => &[
                "exact",
                "day_month_swapped",
                "one_digit_or_transposition",
                "year_off_by_one",
                "mistyped_one_digit",
                "coarser_precision",
                "different",
            ],
            ComparisonKind::Sex => &["agree", "disagree"],
            ComparisonKind::Identifier => &[
                "exact",
                "transposition_or_ocr",
                "near_sequential",
                "one_edit",
                "different",
            ],
            ComparisonKind::Address => &["exact", "fuzzy_street", "postal_code_only", "different"],
            ComparisonKind::City => &["exact", "fuzzy", "different"],
            ComparisonKind::Phone => &["exact", "last_seven_digits", "different"],
            ComparisonKind::Email => &["exact", "fuzzy", "different"],
            ComparisonKind::MotherIdentifier => &["agree", "disagree"],
            ComparisonKind::MotherMaidenName => &["exact", "phonetic", "different"],
        }
    }

    /// The level whose agreement gets a term-frequency adjustment (the value-specific exact level;
    /// for the birth date, agreement on an over-represented date such as a placeholder).
    pub fn tf_level(self) -> Option<u8> {
        match self {
            ComparisonKind::GivenName
            | ComparisonKind::FamilyName
            | ComparisonKind::City
            | ComparisonKind::BirthDate => Some(0),
            _ => None,
        }
    }

    /// Snake-case name (`given_name`, ...), as in model files.
    pub fn as_str(self) -> &'static str {
        match self {
            ComparisonKind::GivenName => "given_name",
            ComparisonKind::FamilyName => "family_name",
            ComparisonKind::BirthDate => "birth_date",
            ComparisonKind::Sex => "sex",
            ComparisonKind::Identifier => "identifier",
            ComparisonKind::Address => "address",
            ComparisonKind::City => "city",
            ComparisonKind::Phone => "phone",
            ComparisonKind::Email => "email",
            ComparisonKind::MotherIdentifier => "mother_identifier",
            ComparisonKind::MotherMaidenName => "mother_maiden_name",
        }
    }
}

/// Similarity thresholds of one comparison (Jaro-Winkler for names, streets, cities, e-mails).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareParams {
    /// Similarity at or above which the "high" (or only) fuzzy level applies.
    pub high: f64,
    /// Similarity at or above which the "low" fuzzy level applies (names only).
    pub low: f64,
}

impl Default for CompareParams {
    fn default() -> Self {
        CompareParams {
            high: 0.92,
            low: 0.80,
        }
    }
}

/// The result of comparing one field of two records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldOutcome<'a> {
    /// Level index into `ComparisonKind::level_labels`, `None` when a side is missing.
    pub level: Option<u8>,
    /// On exact agreement of a term-frequency field, the agreeing value.
    pub value: Option<&'a str>,
}

impl<'a> FieldOutcome<'a> {
    const MISSING: FieldOutcome<'static> = FieldOutcome {
        level: None,
        value: None,
    };
    fn level(level: u8) -> Self {
        FieldOutcome {
            level: Some(level),
            value: None,
        }
    }
}

/// Compares one field of two records.
///
/// ```
/// use matcher::{PersonRecord, normalize::normalize};
/// use matcher::compare::{compare_field, ComparisonKind, CompareParams};
/// let rec = |g: &str| normalize(&PersonRecord {
///     given_names: vec![g.into()],
///     family_names: vec!["Okafor".into()],
///     ..Default::default()
/// });
/// let (a, b) = (rec("William"), rec("Bill"));
/// let out = compare_field(ComparisonKind::GivenName, &CompareParams::default(), &a, &b);
/// assert_eq!(ComparisonKind::GivenName.level_labels()[out.level.unwrap() as usize], "nickname");
/// ```
pub fn compare_field<'a>(
    kind: ComparisonKind,
    params: &CompareParams,
    a: &'a NormalizedRecord,
    b: &'a NormalizedRecord,
) -> FieldOutcome<'a> {
    match kind {
        ComparisonKind::GivenName => given_name(params, a, b),
        ComparisonKind::FamilyName => family_name(params, a, b),
        ComparisonKind::BirthDate => match (a.birth_date, b.birth_date) {
            (Some(x), Some(y)) => FieldOutcome::level(birth_date_level(x, y)),
            _ => FieldOutcome::MISSING,
        },
        ComparisonKind::Sex => match (a.sex, b.sex) {
            (Some(x), Some(y)) => FieldOutcome::level(u8::from(x != y)),
            _ => FieldOutcome::MISSING,
        },
        ComparisonKind::Identifier => identifier(a, b),
        ComparisonKind::Address => address(params, a, b),
        ComparisonKind::City => city(params, a, b),
        ComparisonKind::Phone => phone(a, b),
        ComparisonKind::Email => email(params, a, b),
        ComparisonKind::MotherIdentifier => FieldOutcome {
            level: crate::maternity::mother_identifier_level(a, b),
            value: None,
        },
        ComparisonKind::MotherMaidenName => FieldOutcome {
            level: crate::maternity::mother_maiden_name_level(a, b),
            value: None,
        },
    }
}

/// The string metrics compare: the compact form (no spaces), or the text for hand-built records.
#[inline]
fn key(n: &NormalizedName) -> &str {
    if n.compact.is_empty() {
        &n.text
    } else {
        &n.compact
    }
}

fn phonetic_match(x: &NormalizedName, y: &NormalizedName) -> bool {
    let (p, q) = (&x.phonetic, &y.phonetic);
    (!p.metaphone.is_empty()
        && (p.metaphone == q.metaphone
            || p.metaphone == q.metaphone_alt
            || p.metaphone_alt == q.metaphone
            || (!p.metaphone_alt.is_empty() && p.metaphone_alt == q.metaphone_alt)))
        || (!p.nysiis.is_empty() && p.nysiis == q.nysiis)
}

/// True when a's first given and family names are b's family and given names (exact or with
/// Jaro-Winkler at least `high` on both crossings), and the two names of a differ.
fn swapped(p: &CompareParams, a: &NormalizedRecord, b: &NormalizedRecord) -> bool {
    let (Some(ag), Some(af), Some(bg), Some(bf)) = (
        a.given.first(),
        a.family.first(),
        b.given.first(),
        b.family.first(),
    ) else {
        return false;
    };
    let (ag, af, bg, bf) = (key(ag), key(af), key(bg), key(bf));
    if ag == af || ag.is_empty() || af.is_empty() || bg.is_empty() || bf.is_empty() {
        return false;
    }
    let similar = similar_keys;
    // A given name of several parts (`Min-jun`, two tokens) is one family-name field when
    // swapped (`minjun`).
    let first = similar(ag, bf, p.high) || concat_equals(&a.given, bf);
    let second = similar(af, bg, p.high) || concat_equals(&b.given, af);
    // A typo in one of the crossed names (`Snah Amit` / `Amit Shah`) still leaves the other
    // crossing close.
    (first && (second || similar(af, bg, p.low))) || (second && similar(ag, bf, p.low))
}

/// Two name keys alike enough to be one name written twice: equal, or the same initial and
/// Jaro-Winkler at least `at_least`.
fn similar_keys(x: &str, y: &str, at_least: f64) -> bool {
    x == y
        || (!x.is_empty()
            && !y.is_empty()
            && x.as_bytes()[0] == y.as_bytes()[0]
            && jaro_winkler::similarity(x, y) >= at_least)
}

/// True when the compact forms of `names`, joined in order, are `whole` and there are two or
/// more: `min` + `jun` is `minjun`. Allocation-free.
fn concat_equals(names: &[NormalizedName], whole: &str) -> bool {
    if names.len() < 2 {
        return false;
    }
    let mut rest = whole;
    for n in names {
        match rest.strip_prefix(key(n)) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// Spelling variants of one name: a shared group of the variant table (Mohammed / Muhammad,
/// Lee / Yi / Rhee), the same letters with written-out umlauts (Mueller / Muller), or for given
/// names of several parts the same letters without the break (Min-jun / Minjun / Min Jun).
fn spelling_variant(xs: &[NormalizedName], ys: &[NormalizedName]) -> bool {
    use crate::normalize::{VARIANT_GROUP_BASE, umlaut_equal};
    let variant_group = |x: &NormalizedName, y: &NormalizedName| {
        x.nickname_groups
            .iter()
            .any(|g| *g >= VARIANT_GROUP_BASE && y.nickname_groups.contains(g))
    };
    xs.iter().any(|x| {
        ys.iter()
            .any(|y| variant_group(x, y) || umlaut_equal(key(x), key(y)))
    }) || ys.first().is_some_and(|y| concat_equals(xs, key(y)))
        || xs.first().is_some_and(|x| concat_equals(ys, key(x)))
}

/// Family names that agree once an article or particle is set aside on one side (`al hassan` /
/// `hassan`, `de la cruz` / `cruz`), or that differ only in the Arabic article (`al` / `el`).
fn article_variant(xs: &[NormalizedName], ys: &[NormalizedName]) -> bool {
    use crate::normalize::without_article;
    xs.iter().any(|x| {
        ys.iter().any(|y| {
            let (x, y) = (key(x), key(y));
            let (cx, cy) = (without_article(x), without_article(y));
            let arabic = |s: &str, c: &str| matches!(&s[..s.len() - c.len()], "al" | "el" | "ul");
            cx == y || cy == x || (cx == cy && cx.len() < x.len() && arabic(x, cx) && arabic(y, cy))
        })
    })
}

/// One side's first given name is an initial (one letter) and the other's first given name
/// starts with it: `R. Kumar` and `Rahul Kumar`.
fn initial(xs: &[NormalizedName], ys: &[NormalizedName]) -> bool {
    let (Some(x), Some(y)) = (xs.first(), ys.first()) else {
        return false;
    };
    let (x, y) = (key(x), key(y));
    let is_initial = |s: &str| s.len() == 1;
    (is_initial(x) || is_initial(y))
        && !x.is_empty()
        && !y.is_empty()
        && x.as_bytes()[0] == y.as_bytes()[0]
}

fn exact<'a>(xs: &'a [NormalizedName], ys: &[NormalizedName]) -> Option<&'a str> {
    xs.iter().map(key).find(|x| ys.iter().any(|y| key(y) == *x))
}

fn best_jaro_winkler(xs: &[NormalizedName], ys: &[NormalizedName]) -> f64 {
    let mut best = 0.0f64;
    for x in xs {
        for y in ys {
            best = best.max(jaro_winkler::similarity(key(x), key(y)));
        }
    }
    best
}

fn given_name<'a>(
    p: &CompareParams,
    a: &'a NormalizedRecord,
    b: &'a NormalizedRecord,
) -> FieldOutcome<'a> {
    let (xs, ys) = mononyms(a, b).unwrap_or((&a.given, &b.given));
    if xs.is_empty() || ys.is_empty() || lone_name_across(p, a, b).is_some() {
        return FieldOutcome::MISSING;
    }
    if let Some(v) = exact(xs, ys) {
        if given_parts::shares_part_only(p, a, b) {
            return FieldOutcome::level(7);
        }
        return FieldOutcome {
            level: Some(0),
            value: Some(v),
        };
    }
    if swapped(p, a, b) {
        return FieldOutcome::level(1);
    }
    let pairs = || xs.iter().flat_map(|x| ys.iter().map(move |y| (x, y)));
    let base = crate::normalize::VARIANT_GROUP_BASE;
    if pairs().any(|(x, y)| {
        x.nickname_groups
            .iter()
            .any(|g| *g < base && y.nickname_groups.contains(g))
    }) {
        return FieldOutcome::level(2);
    }
    if spelling_variant(xs, ys) {
        return FieldOutcome::level(3);
    }
    if pairs().any(|(x, y)| phonetic_match(x, y)) {
        return FieldOutcome::level(4);
    }
    let sim = best_jaro_winkler(xs, ys);
    if sim >= p.high {
        return FieldOutcome::level(5);
    }
    if initial(xs, ys) {
        return FieldOutcome::level(6);
    }
    FieldOutcome::level(if sim >= p.low { 8 } else { 9 })
}

/// True when a significant (non-particle, two letters or more) token of one name is a token of
/// the other: `smith jones` and `jones`.
fn partial(xs: &[NormalizedName], ys: &[NormalizedName]) -> bool {
    let significant = |t: &&str| t.len() >= 2 && !crate::normalize::is_particle(t);
    xs.iter().any(|x| {
        x.text.split(' ').filter(significant).any(|t| {
            ys.iter()
                .any(|y| y.text.split(' ').filter(significant).any(|u| u == t))
        })
    })
}

/// The one name of each record when both have one name only (alone in either field, or the same
/// name in both): a mononym (`Sukarno`, `FNU Wati`, `Sri Sri`) names the person, not a family, so
/// the given-name comparison compares the two and the family-name comparison sees a missing
/// field. Compared as family names, two mononyms agreeing would weigh nothing against a member of
/// the same household, who in a family-name culture shares the family name but in a mononym
/// culture does not share the name.
fn mononyms<'a>(
    a: &'a NormalizedRecord,
    b: &'a NormalizedRecord,
) -> Option<(&'a [NormalizedName], &'a [NormalizedName])> {
    fn one(r: &NormalizedRecord) -> Option<&[NormalizedName]> {
        match (r.given.as_slice(), r.family.as_slice()) {
            ([_], []) => Some(&r.given),
            ([], [_]) => Some(&r.family),
            ([g], [f]) if key(g) == key(f) => Some(&r.given),
            _ => None,
        }
    }
    Some((one(a)?, one(b)?))
}

/// One name on each side, in different fields (a given name alone against a family name alone):
/// how a mononym (`Sukarno`) is written by one registration and another. The family-name
/// comparison compares the two; the given-name comparison sees a missing field.
fn across_fields<'a>(
    a: &'a NormalizedRecord,
    b: &'a NormalizedRecord,
) -> Option<(&'a [NormalizedName], &'a [NormalizedName])> {
    match (
        a.given.is_empty(),
        a.family.is_empty(),
        b.given.is_empty(),
        b.family.is_empty(),
    ) {
        (false, true, true, false) => Some((&a.given, &b.family)),
        (true, false, false, true) => Some((&a.family, &b.given)),
        _ => None,
    }
}

/// A record with one name only, written in the field the other record, which has both, uses for
/// its other name: a family name `Holly` alone against `Holly Thomson`, a given name `Thomson`
/// alone against `Holly Thomson` (a desk that typed the one name it was given into whichever field
/// it had). The lone name is like the other record's name in the other field (equal, or the same
/// initial and Jaro-Winkler at least `high`) and unlike the one in its own field. The
/// family-name comparison compares the two, as for a mononym written in either field
/// ([`across_fields`]); the given-name comparison sees a missing field. `None` otherwise, so that
/// a family name alone that is the other record's family name, misspelt or not, compares as a
/// family name.
fn lone_name_across<'a>(
    p: &CompareParams,
    a: &'a NormalizedRecord,
    b: &'a NormalizedRecord,
) -> Option<(&'a [NormalizedName], &'a [NormalizedName])> {
    fn across<'a>(
        p: &CompareParams,
        full: &'a NormalizedRecord,
        lone: &'a NormalizedRecord,
    ) -> Option<(&'a [NormalizedName], &'a [NormalizedName])> {
        if full.given.is_empty() || full.family.is_empty() {
            return None;
        }
        let (own, other, name) = match (lone.given.as_slice(), lone.family.as_slice()) {
            ([name], []) => (&full.given, &full.family, name),
            ([], [name]) => (&full.family, &full.given, name),
            _ => return None,
        };
        let like = |names: &[NormalizedName]| {
            names
                .iter()
                .any(|n| similar_keys(key(n), key(name), p.high))
        };
        (like(other) && !like(own)).then_some((other.as_slice(), std::slice::from_ref(name)))
    }
    across(p, a, b).or_else(|| across(p, b, a).map(|(x, y)| (y, x)))
}

fn family_name<'a>(
    p: &CompareParams,
    a: &'a NormalizedRecord,
    b: &'a NormalizedRecord,
) -> FieldOutcome<'a> {
    if mononyms(a, b).is_some() {
        return FieldOutcome::MISSING;
    }
    // A lone name compared with the other record's given name is no family name: the family
    // names' term frequencies do not describe it, so its exact agreement weighs as the level does.
    let (xs, ys, family_value) = match across_fields(a, b) {
        Some((xs, ys)) => (xs, ys, true),
        None => match lone_name_across(p, a, b) {
            Some((xs, ys)) => (xs, ys, false),
            None => (a.family.as_slice(), b.family.as_slice(), true),
        },
    };
    if xs.is_empty() || ys.is_empty() {
        return FieldOutcome::MISSING;
    }
    if let Some(v) = exact(xs, ys) {
        return FieldOutcome {
            level: Some(0),
            value: family_value.then_some(v),
        };
    }
    if swapped(p, a, b) {
        // One event, the names written in each other's fields: the given-name comparison weighs
        // it (its `swapped` level's u is the chance that strangers' names cross both ways), and
        // counting it here as well would count it twice.
        if exact(&a.given, &b.given).is_none() {
            return FieldOutcome::MISSING;
        }
        return FieldOutcome::level(1);
    }
    if spelling_variant(xs, ys) || article_variant(xs, ys) {
        return FieldOutcome::level(2);
    }
    if xs.iter().any(|x| ys.iter().any(|y| phonetic_match(x, y))) {
        return FieldOutcome::level(3);
    }
    let sim = best_jaro_winkler(xs, ys);
    if sim >= p.high {
        return FieldOutcome::level(4);
    }
    if partial(xs, ys) {
        return FieldOutcome::level(5);
    }
    FieldOutcome::level(if sim >= p.low { 6 } else { 7 })
}

/// The eight digits `YYYYMMDD` of a date.
fn digits(d: BirthDate) -> [u8; 8] {
    let y = d.year;
    [
        (y / 1000 % 10) as u8,
        (y / 100 % 10) as u8,
        (y / 10 % 10) as u8,
        (y % 10) as u8,
        d.month / 10,
        d.month % 10,
        d.day / 10,
        d.day % 10,
    ]
}

/// Birth-date level, one comparison for every kind of date a record may carry:
///
/// - two full calendar dates: exact, day and month swapped, one digit off or two adjacent digits
///   transposed, year off by one (same day and month); a conventional placeholder for an unknown
///   date (1 January or 1 July of an estimated year) on one side and another date of the same
///   year on the other is `coarser_precision` (a real date agrees with its placeholder only on
///   the year), otherwise different;
/// - a mistyped date on either side (`19551192`, see [`BirthDate::is_mistyped`]) is compared as a
///   digit string: one digit off or two adjacent digits transposed is `mistyped_one_digit`, a level
///   with its own m and u, otherwise different;
/// - a partial date on either side (a year, or a year and month) is compared at the coarser of the
///   two precisions: agreeing there is `coarser_precision`, weaker than an exact agreement.
///
/// ```
/// use matcher::BirthDate;
/// use matcher::compare::birth_date_level;
/// let d = |year, month, day| BirthDate { year, month, day };
/// assert_eq!(birth_date_level(d(1980, 3, 7), d(1980, 3, 7)), 0);
/// assert_eq!(birth_date_level(d(1980, 3, 7), d(1980, 7, 3)), 1);
/// assert_eq!(birth_date_level(d(1980, 3, 7), d(1980, 3, 8)), 2);
/// assert_eq!(birth_date_level(d(1980, 3, 7), d(1981, 3, 7)), 2);
/// assert_eq!(birth_date_level(d(1979, 3, 7), d(1980, 3, 7)), 3);
/// assert_eq!(birth_date_level(d(1955, 11, 92), d(1955, 11, 22)), 4); // mistyped
/// assert_eq!(birth_date_level(d(1955, 11, 92), d(1955, 12, 22)), 6);
/// assert_eq!(birth_date_level(d(1980, 0, 0), d(1980, 3, 7)), 5); // the year only
/// assert_eq!(birth_date_level(d(1980, 3, 0), d(1980, 3, 7)), 5); // year and month
/// assert_eq!(birth_date_level(d(1980, 3, 0), d(1980, 4, 7)), 6);
/// assert_eq!(birth_date_level(d(1980, 1, 1), d(1980, 9, 23)), 5); // placeholder, same year
/// assert_eq!(birth_date_level(d(1950, 1, 1), d(1980, 3, 7)), 6);
/// ```
pub fn birth_date_level(a: BirthDate, b: BirthDate) -> u8 {
    use crate::record::DatePrecision;
    const MISTYPED: u8 = 4;
    const COARSER: u8 = 5;
    const DIFFERENT: u8 = 6;
    let precision = a.precision().min(b.precision());
    if precision != DatePrecision::Day {
        let agree = a.year == b.year && (precision == DatePrecision::Year || a.month == b.month);
        return if agree { COARSER } else { DIFFERENT };
    }
    if a == b {
        return 0;
    }
    let (x, y) = (digits(a), digits(b));
    let mut diffs = [0usize; 3];
    let mut n = 0;
    for i in 0..8 {
        if x[i] != y[i] {
            if n < 3 {
                diffs[n] = i;
            }
            n += 1;
        }
    }
    let one_digit = n == 1
        || (n == 2
            && diffs[1] == diffs[0] + 1
            && x[diffs[0]] == y[diffs[1]]
            && x[diffs[1]] == y[diffs[0]]);
    if a.is_mistyped() || b.is_mistyped() {
        return if one_digit { MISTYPED } else { DIFFERENT };
    }
    if a.year == b.year && a.month == b.day && a.day == b.month {
        return 1;
    }
    if one_digit {
        return 2;
    }
    if a.month == b.month && a.day == b.day && a.year.abs_diff(b.year) == 1 {
        return 3;
    }
    if a.year == b.year && (a.is_conventional_placeholder() || b.is_conventional_placeholder()) {
        return COARSER;
    }
    DIFFERENT
}

/// Identifier level over the pairs of values that share a system: exact; one adjacent
/// transposition or one letter-digit confusion of optical or manual reading (`O`/`0`, `I`/`1`,
/// `S`/`5`, ...): evidence of a typing error; near sequential (the same up to a trailing number
/// that differs by at most 10, `M6001`/`M6002`: what two people registered one after the other
/// get, so weak evidence, whatever the data says it is); any other single edit; different.
///
/// ```
/// use matcher::compare::identifier_level;
/// assert_eq!(identifier_level("M6001", "M6001"), 0);
/// assert_eq!(identifier_level("M6012", "M6021"), 1);
/// assert_eq!(identifier_level("M6O01", "M6001"), 1);
/// assert_eq!(identifier_level("M6001", "M6002"), 2);
/// assert_eq!(identifier_level("M6009", "M6010"), 2);
/// assert_eq!(identifier_level("M6001", "M7001"), 3);
/// assert_eq!(identifier_level("M6001", "M600"), 3);
/// assert_eq!(identifier_level("M6001", "M6551"), 4);
/// ```
pub fn identifier_level(a: &str, b: &str) -> u8 {
    if a == b {
        return 0;
    }
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if x.len() == y.len() {
        let mut diffs = (0..x.len()).filter(|&i| x[i] != y[i]);
        let (first, second, third) = (diffs.next(), diffs.next(), diffs.next());
        match (first, second, third) {
            (Some(i), None, _) if ocr_confusable(x[i], y[i]) => return 1,
            (Some(i), Some(j), None) if j == i + 1 && x[i] == y[j] && x[j] == y[i] => return 1,
            _ => {}
        }
    }
    if near_sequential(x, y) {
        return 2;
    }
    if damerau::one_edit_or_transposition(a, b) {
        return 3;
    }
    4
}

/// A letter and a digit that optical character recognition and hurried typing confuse.
fn ocr_confusable(a: u8, b: u8) -> bool {
    let (a, b) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
    let pair = if a < b { (a, b) } else { (b, a) };
    matches!(
        pair,
        (b'0', b'O')
            | (b'0', b'D')
            | (b'0', b'Q')
            | (b'1', b'I')
            | (b'1', b'L')
            | (b'2', b'Z')
            | (b'5', b'S')
            | (b'6', b'G')
            | (b'8', b'B')
    )
}

/// Same length, the same text before a trailing run of digits, and trailing numbers at most 10
/// apart.
fn near_sequential(x: &[u8], y: &[u8]) -> bool {
    if x.len() != y.len() {
        return false;
    }
    let digits = x.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let start = x.len() - digits;
    if digits == 0 || x[..start] != y[..start] || !y[start..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let tail = digits.min(18);
    let number = |v: &[u8]| {
        v[v.len() - tail..]
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'))
    };
    let digits_before_tail_agree = x[start..x.len() - tail] == y[start..y.len() - tail];
    digits_before_tail_agree && number(x).abs_diff(number(y)) <= 10
}

fn identifier<'a>(a: &'a NormalizedRecord, b: &'a NormalizedRecord) -> FieldOutcome<'a> {
    let mut best: Option<u8> = None;
    for x in &a.identifiers {
        for y in &b.identifiers {
            if x.system != y.system {
                continue;
            }
            let level = identifier_level(&x.value, &y.value);
            if level == 0 {
                return FieldOutcome::level(0);
            }
            best = Some(best.map_or(level, |b| b.min(level)));
        }
    }
    FieldOutcome {
        level: best,
        value: None,
    }
}

fn address<'a>(
    p: &CompareParams,
    a: &'a NormalizedRecord,
    b: &'a NormalizedRecord,
) -> FieldOutcome<'a> {
    let mut best: Option<u8> = None;
    for x in &a.addresses {
        if x.street.is_empty() && x.postal_code.is_empty() {
            continue;
        }
        for y in &b.addresses {
            if y.street.is_empty() && y.postal_code.is_empty() {
                continue;
            }
            let postal_agree = !x.postal_code.is_empty() && x.postal_code == y.postal_code;
            let postal_compatible =
                postal_agree || x.postal_code.is_empty() || y.postal_code.is_empty();
            let streets = !x.street.is_empty() && !y.street.is_empty();
            let house_agree = x.house_number == y.house_number;
            let house_close = house_agree
                || x.house_number.is_empty()
                || y.house_number.is_empty()
                || damerau::one_edit_or_transposition(&x.house_number, &y.house_number);
            let level = if streets && x.street == y.street && house_agree && postal_compatible {
                0
            } else if streets
                && house_close
                && jaro_winkler::similarity(&x.street, &y.street) >= p.high
            {
                1
            } else if postal_agree {
                2
            } else {
                3
            };
            if level == 0 {
                return FieldOutcome::level(0);
            }
            best = Some(best.map_or(level, |b| b.min(level)));
        }
    }
    FieldOutcome {
        level: best,
        value: None,
    }
}

fn city<'a>(
    p: &CompareParams,
    a: &'a NormalizedRecord,
    b: &'a NormalizedRecord,
) -> FieldOutcome<'a> {
    let mut best: Option<u8> = None;
    for x in a.addresses.iter().filter(|x| !x.city.is_empty()) {
        for y in b.addresses.iter().filter(|y| !y.city.is_empty()) {
            if x.city == y.city {
                return FieldOutcome {
                    level: Some(0),
                    value: Some(&x.city),
                };
            }
            let level = if jaro_winkler::similarity(&x.city, &y.city) >= p.high {
                1
            } else {
                2
            };
            best = Some(best.map_or(level, |b| b.min(level)));
        }
    }
    FieldOutcome {
        level: best,
        value: None,
    }
}

fn phone<'a>(a: &'a NormalizedRecord, b: &'a NormalizedRecord) -> FieldOutcome<'a> {
    let mut best: Option<u8> = None;
    for x in &a.phones {
        for y in &b.phones {
            let level = if x == y {
                return FieldOutcome::level(0);
            } else if x.len() >= 7
                && y.len() >= 7
                && x.as_bytes()[x.len() - 7..] == y.as_bytes()[y.len() - 7..]
            {
                1
            } else {
                2
            };
            best = Some(best.map_or(level, |b| b.min(level)));
        }
    }
    FieldOutcome {
        level: best,
        value: None,
    }
}

/// E-mail addresses: `fuzzy` is a typo (one edit or an adjacent transposition). Addresses that
/// are only alike (`raj.patel12@` and `raj.patel87@`, `raj.patel@gmail` and `raj.patel@yahoo`)
/// are `different`: they are made from the person's name, so strangers of one name have them
/// as often as one person does, and their likeness would count the names a second time.
fn email<'a>(
    _: &CompareParams,
    a: &'a NormalizedRecord,
    b: &'a NormalizedRecord,
) -> FieldOutcome<'a> {
    let mut best: Option<u8> = None;
    for x in &a.emails {
        for y in &b.emails {
            let level = if x == y {
                return FieldOutcome::level(0);
            } else if damerau::one_edit_or_transposition(x, y) {
                1
            } else {
                2
            };
            best = Some(best.map_or(level, |b| b.min(level)));
        }
    }
    FieldOutcome {
        level: best,
        value: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;
    use crate::record::{Address, Identifier, PersonRecord};

    #[test]
    fn two_mononyms_compare_as_given_names_wherever_they_are_written() {
        use ComparisonKind::{FamilyName, GivenName};
        let wati = [
            ("FNU", "Wati"),
            ("Wati", ""),
            ("Wati", "LNU"),
            ("Wati", "Wati"),
        ];
        for (g1, f1) in wati {
            for (g2, f2) in wati {
                let (a, b) = (person(g1, f1), person(g2, f2));
                assert_eq!(label(GivenName, &a, &b), "exact", "{g1}/{f1} {g2}/{f2}");
                assert_eq!(label(FamilyName, &a, &b), "missing", "{g1}/{f1} {g2}/{f2}");
            }
        }
        assert_eq!(
            label(GivenName, &person("Sri", ""), &person("", "Wati")),
            "different"
        );
        // A full name against a name alone is compared field by field, as before.
        let full = person("Wati", "Susanto");
        assert_eq!(label(GivenName, &full, &person("Wati", "")), "exact");
        assert_eq!(label(FamilyName, &full, &person("Wati", "")), "missing");
    }

    #[test]
    fn a_name_alone_in_the_other_field_is_compared_with_that_name() {
        use ComparisonKind::{FamilyName, GivenName};
        let full = person("Holly", "Thomson");
        // The given name typed alone into the family field, and the family name into the given
        // field, a typo included: compared with the name they are, the other field missing.
        for lone in [
            person("", "Holly"),
            person("", "Hollly"),
            person("Thomson", ""),
        ] {
            for (a, b) in [(&full, &lone), (&lone, &full)] {
                assert_eq!(label(GivenName, a, b), "missing", "{lone:?}");
                assert_ne!(label(FamilyName, a, b), "different", "{lone:?}");
                assert_ne!(label(FamilyName, a, b), "missing", "{lone:?}");
            }
        }
        assert_eq!(label(FamilyName, &full, &person("", "Holly")), "exact");
        // Weighed without the family names' term frequencies, which do not describe a given name;
        // a family name agreeing in its own field keeps them.
        let value = |lone: &PersonRecord| {
            let (a, b) = (normalize(&full), normalize(lone));
            compare_field(FamilyName, &CompareParams::default(), &a, &b)
                .value
                .map(str::to_owned)
        };
        assert_eq!(value(&person("", "Holly")), None);
        assert_eq!(value(&person("", "Thomson")).as_deref(), Some("thomson"));
        // A name alone in its own field compares there, as before.
        assert_eq!(label(FamilyName, &full, &person("", "Thomson")), "exact");
        assert_eq!(label(GivenName, &full, &person("Holly", "")), "exact");
        // Unlike either name: field by field, as before.
        assert_eq!(label(FamilyName, &full, &person("", "Ward")), "different");
        // A lone name like both of the other record's names stays in its field.
        let same = person("Thomas", "Thomson");
        assert_eq!(label(GivenName, &same, &person("", "Thomson")), "missing");
        assert_eq!(label(FamilyName, &same, &person("", "Thomson")), "exact");
    }

    #[test]
    fn a_swap_is_weighed_once_and_survives_a_typo_in_one_crossing() {
        use ComparisonKind::{FamilyName, GivenName};
        let (a, b) = (person("Amit", "Shah"), person("Snah", "Amit"));
        assert_eq!(label(GivenName, &a, &b), "swapped");
        assert_eq!(label(FamilyName, &a, &b), "missing");
        let (a, b) = (person("Alfred", "Merritt"), person("Merrltr", "Alfred"));
        assert_eq!(label(GivenName, &a, &b), "swapped");
        // Both crossings need to be alike: one shared name is not a swap.
        let (a, b) = (person("James", "Robinson"), person("Peter", "James"));
        assert_ne!(label(GivenName, &a, &b), "swapped");
    }

    #[test]
    fn an_email_typo_is_fuzzy_and_an_address_only_alike_is_different() {
        let with = |email: &str| PersonRecord {
            emails: vec![email.into()],
            ..person("Raj", "Patel")
        };
        let l = |x: &str, y: &str| label(ComparisonKind::Email, &with(x), &with(y));
        assert_eq!(l("raj.patel12@gmail.com", "raj.patel12@gmail.com"), "exact");
        assert_eq!(l("raj.patel12@gmail.com", "raj.patle12@gmail.com"), "fuzzy");
        assert_eq!(l("raj.patel12@gmail.com", "raj.patel2@gmail.com"), "fuzzy");
        assert_eq!(
            l("raj.patel12@gmail.com", "raj.patel87@gmail.com"),
            "different"
        );
        assert_eq!(l("raj.patel@gmail.com", "raj.patel@yahoo.com"), "different");
    }

    fn label(kind: ComparisonKind, a: &PersonRecord, b: &PersonRecord) -> &'static str {
        let (a, b) = (normalize(a), normalize(b));
        match compare_field(kind, &CompareParams::default(), &a, &b).level {
            Some(l) => kind.level_labels()[l as usize],
            None => "missing",
        }
    }

    fn person(given: &str, family: &str) -> PersonRecord {
        PersonRecord {
            given_names: vec![given.into()],
            family_names: family.split('|').map(str::to_owned).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn international_name_levels() {
        use ComparisonKind::{FamilyName as F, GivenName as G};
        let l = |kind, a: (&str, &str), b: (&str, &str)| {
            label(kind, &person(a.0, a.1), &person(b.0, b.1))
        };
        // Romanizations of one name, from the shipped table.
        assert_eq!(
            l(G, ("Mohammed", "Ali"), ("Mhd", "Ali")),
            "spelling_variant"
        );
        assert_eq!(
            l(G, ("Yuri", "Ivanov"), ("Iurii", "Ivanov")),
            "spelling_variant"
        );
        assert_eq!(
            l(F, ("Ji-woo", "Lee"), ("Ji-woo", "Rhee")),
            "spelling_variant"
        );
        assert_eq!(l(F, ("Wei", "Zhang"), ("Wei", "Chang")), "spelling_variant");
        // Articles and particles joined, apart or left out; umlauts written out.
        assert_eq!(
            l(F, ("Omar", "Al-Hassan"), ("Omar", "Hassan")),
            "spelling_variant"
        );
        assert_eq!(
            l(F, ("Omar", "Al-Hassan"), ("Omar", "El Hassan")),
            "spelling_variant"
        );
        assert_eq!(l(F, ("Omar", "Al Hassan"), ("Omar", "Alhassan")), "exact");
        assert_eq!(
            l(F, ("Juan", "Dela Cruz"), ("Juan", "Cruz")),
            "spelling_variant"
        );
        assert_eq!(
            l(F, ("Jonas", "Mueller"), ("Jonas", "Müller")),
            "spelling_variant"
        );
        // Two prefixes read as particles never make different names one (`Da-lton`, `De-lton`).
        assert_ne!(
            l(F, ("Ana", "Dalton"), ("Ana", "Delton")),
            "spelling_variant"
        );
        // A syllable break, and a compound given name with a part dropped.
        assert_eq!(
            l(G, ("Min-jun", "Park"), ("Minjun", "Park")),
            "spelling_variant"
        );
        assert_eq!(
            l(G, ("Min Jun", "Park"), ("Minjun", "Park")),
            "spelling_variant"
        );
        assert_eq!(l(G, ("Maria Jose", "Reyes"), ("Maria", "Reyes")), "exact");
        // Siblings sharing a generation syllable are not one name written otherwise.
        assert_ne!(
            l(G, ("Min-jun", "Park"), ("Minseo", "Park")),
            "spelling_variant"
        );
        // Siblings and twins: one part shared, the first given names different names.
        assert_eq!(
            l(G, ("Lan Thi", "Nguyen"), ("Mai Thi", "Nguyen")),
            "shared_part"
        );
        assert_eq!(
            l(G, ("Jose Maria", "Reyes"), ("Pedro Maria", "Reyes")),
            "shared_part"
        );
        // Family name first among the given names is no conflict.
        assert_eq!(
            l(G, ("Minh Van", "Nguyen"), ("Nguyen Van", "Minh")),
            "exact"
        );
        // The first given name shared with the second parts in conflict: the same part,
        // different names (twins Maria Jose and Maria Fernanda, Min-jun and Min-seo).
        assert_eq!(
            l(G, ("Maria Jose", "Reyes"), ("Maria Fernanda", "Reyes")),
            "shared_part"
        );
        assert_eq!(l(G, ("Min-jun", "Kim"), ("Min-seo", "Kim")), "shared_part");
        // A part dropped, abbreviated, misspelt or a nickname is one name written otherwise.
        assert_eq!(l(G, ("John A", "Smith"), ("John Andrew", "Smith")), "exact");
        assert_eq!(
            l(G, ("Maria Jose", "Reyes"), ("Maria Josefa", "Reyes")),
            "exact"
        );
        assert_eq!(
            l(G, ("William John", "Smith"), ("Bill John", "Smith")),
            "exact"
        );
        // Family name first, with a given name of two syllables.
        assert_eq!(l(G, ("Min-jun", "Park"), ("Park", "Min-jun")), "swapped");
        assert_eq!(l(G, ("Min-jun", "Park"), ("Park", "Minjun")), "swapped");
        // Initials: `R. Kumar`, and `Kumar R` written family name first.
        assert_eq!(l(G, ("Rahul", "Kumar"), ("R.", "Kumar")), "initial");
        assert_eq!(l(G, ("Rahul", "Kumar"), ("Kumar", "R")), "initial");
        assert_eq!(l(F, ("Rahul", "Kumar"), ("Kumar", "R")), "exact");
        assert_eq!(l(G, ("Rahul", "Kumar"), ("S.", "Kumar")), "different");
        // Mononyms, wherever written, and a whole name in one field.
        assert_eq!(l(G, ("Sukarno", ""), ("FNU", "Sukarno")), "exact");
        assert_eq!(l(F, ("Sukarno", ""), ("FNU", "Sukarno")), "missing");
        assert_eq!(l(G, ("Sukarno", "Sukarno"), ("", "Sukarno")), "exact");
        assert_eq!(l(G, ("Rahul Kumar", ""), ("Rahul", "Kumar")), "exact");
        assert_eq!(l(F, ("Rahul Kumar", ""), ("Rahul", "Kumar")), "exact");
        assert_eq!(l(G, ("Zhang Wei", ""), ("Wei", "Zhang")), "swapped");
    }

    #[test]
    fn name_levels() {
        use ComparisonKind::{FamilyName as F, GivenName as G};
        assert_eq!(
            label(G, &person("Anne", "Xu"), &person("ANNE", "Yu")),
            "exact"
        );
        assert_eq!(
            label(G, &person("John", "Smith"), &person("Smith", "John")),
            "swapped"
        );
        // The given-name comparison weighs the swap; the family-name one does not count it again.
        assert_eq!(
            label(F, &person("John", "Smith"), &person("Smith", "John")),
            "missing"
        );
        assert_eq!(
            label(G, &person("Margaret", "Xu"), &person("Peggy", "Xu")),
            "nickname"
        );
        assert_eq!(
            label(G, &person("Catherine", "Xu"), &person("Kathryn", "Xu")),
            "phonetic"
        );
        assert_eq!(
            label(G, &person("Jonathon", "Xu"), &person("Jonathan", "Xu")),
            "phonetic"
        );
        assert_eq!(
            label(G, &person("Elizabeth", "Xu"), &person("Xlizabeth", "Xu")),
            "jaro_winkler_high"
        );
        assert_eq!(
            label(G, &person("Mark", "Xu"), &person("Zoe", "Xu")),
            "different"
        );
        assert_eq!(label(G, &person("", "Xu"), &person("Zoe", "Xu")), "missing");
        assert_eq!(
            label(F, &person("A", "Brown|Green"), &person("B", "Green")),
            "exact"
        );
        assert_eq!(
            label(F, &person("A", "Van der Berg"), &person("B", "Vanderberg")),
            "exact"
        );
        assert_eq!(
            label(F, &person("A", "Smith-Jones"), &person("B", "Jones")),
            "partial"
        );
        assert_eq!(
            label(F, &person("A", "Smith"), &person("B", "Smyth")),
            "phonetic"
        );
    }

    #[test]
    fn other_levels() {
        let with = |f: &dyn Fn(&mut PersonRecord)| {
            let mut p = PersonRecord::default();
            f(&mut p);
            p
        };
        let id = |v: &str| {
            with(&|p| {
                p.identifiers = vec![Identifier {
                    system: "ssn".into(),
                    value: v.into(),
                }]
            })
        };
        assert_eq!(
            label(ComparisonKind::Identifier, &id("1234567"), &id("1234567")),
            "exact"
        );
        assert_eq!(
            label(ComparisonKind::Identifier, &id("1234567"), &id("1235467")),
            "transposition_or_ocr"
        );
        assert_eq!(
            label(ComparisonKind::Identifier, &id("M-6001"), &id("M 6002")),
            "near_sequential"
        );
        assert_eq!(
            label(ComparisonKind::Identifier, &id("1234567"), &id("1284567")),
            "one_edit"
        );
        assert_eq!(
            label(ComparisonKind::Identifier, &id("1234567"), &id("7654321")),
            "different"
        );
        let phone = |v: &str| with(&|p| p.phones = vec![v.into()]);
        assert_eq!(
            label(
                ComparisonKind::Phone,
                &phone("02 9999 1234"),
                &phone("(02) 9999-1234")
            ),
            "exact"
        );
        assert_eq!(
            label(
                ComparisonKind::Phone,
                &phone("+61 2 9999 1234"),
                &phone("9999 1234")
            ),
            "last_seven_digits"
        );
        let addr = |line: &str, pc: &str| {
            with(&|p| {
                p.addresses = vec![Address {
                    lines: vec![line.into()],
                    postal_code: Some(pc.into()),
                    city: Some("Cromer".into()),
                    ..Default::default()
                }]
            })
        };
        assert_eq!(
            label(
                ComparisonKind::Address,
                &addr("12 Miller St", "2096"),
                &addr("12 miller street", "2096")
            ),
            "exact"
        );
        assert_eq!(
            label(
                ComparisonKind::Address,
                &addr("12 Miller St", "2096"),
                &addr("12 Millar Street", "2096")
            ),
            "fuzzy_street"
        );
        assert_eq!(
            label(
                ComparisonKind::Address,
                &addr("12 Miller St", "2096"),
                &addr("3 Oak Avenue", "2096")
            ),
            "postal_code_only"
        );
        assert_eq!(
            label(
                ComparisonKind::Address,
                &addr("12 Miller St", "2096"),
                &addr("3 Oak Avenue", "4000")
            ),
            "different"
        );
        assert_eq!(
            label(
                ComparisonKind::City,
                &addr("1 A St", "1"),
                &addr("2 B St", "2")
            ),
            "exact"
        );
    }
}
