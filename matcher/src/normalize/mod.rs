//! Normalization: turns a raw `PersonRecord` into the `NormalizedRecord` every comparator works on.
//!
//! Text is folded (Unicode NFKD, diacritics removed, lower case, punctuation to single spaces,
//! apostrophes dropped so `O'Brien` is `obrien`); titles and suffixes are stripped from names;
//! given names are split into tokens and tagged with their nickname groups; family names keep their
//! particles (`van der berg`) and get a compact form without spaces; dates are validated; phones
//! are reduced to digits; postal codes and identifiers lose their separators; addresses have their
//! house number split from the street and street-type abbreviations expanded. Placeholder
//! identities (John Doe, Baby Girl, Test Patient, ...) are flagged.
//!
//! Every text output is a fixed point: normalizing it again gives it back.

mod address;
mod date;
mod nickname;
mod variants;

pub use address::{expand_street, normalize_address};
pub use date::{EARLIEST_YEAR, parse_birth_date, parse_birth_date_kept, parse_birth_date_on};
pub use nickname::{
    group_count, group_names, nickname_equivalent, nickname_group, nickname_groups,
};
pub use variants::{
    VARIANT_GROUP_BASE, spelling_variants, umlaut_equal, variant_group_count, variant_group_names,
    variant_groups, without_article,
};

use crate::phonetic;
use crate::record::{
    CompactString, NormalizedIdentifier, NormalizedName, NormalizedRecord, PersonRecord, Sex,
};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Normalizes one record. Never fails: invalid parts become missing values, except a mistyped or
/// partial birth date, which is kept for comparison (see [`parse_birth_date_kept`]).
///
/// ```
/// use matcher::{PersonRecord, normalize::normalize};
/// let raw = PersonRecord {
///     given_names: vec!["Dr. José-María".into()],
///     family_names: vec!["O'Brien Jr.".into()],
///     birth_date: Some("1970-01-31".into()),
///     phones: vec!["+61 (2) 9999-1234".into()],
///     ..Default::default()
/// };
/// let n = normalize(&raw);
/// assert_eq!(n.given[0].text, "jose");
/// assert_eq!(n.given[1].text, "maria");
/// assert_eq!(n.family[0].text, "obrien");
/// assert_eq!(n.phones, ["61299991234"]);
/// assert_eq!(n.birth_date.map(|d| d.year), Some(1970));
/// ```
pub fn normalize(record: &PersonRecord) -> NormalizedRecord {
    // A newborn placeholder given name ("Baby Girl") is a missing given name (see
    // `crate::maternity`).
    let newborn = crate::maternity::newborn_placeholder(&record.given_names);
    let given_names: &[String] = if newborn.is_some() {
        &[]
    } else {
        &record.given_names
    };
    let split = split_whole_name(given_names, &record.family_names);
    let (mut given_raw, family_raw) = match &split {
        Some((g, f)) => (g.as_slice(), f.as_slice()),
        None => (given_names, record.family_names.as_slice()),
    };
    // A whole name in the given field may hide one too (`Baby Girl Smith`, `NB Okafor`): once
    // split, its given part is read again, so that the normalized record normalizes to itself
    // (found by the idempotence property).
    let newborn = match newborn {
        None if split.is_some() => {
            let found = crate::maternity::newborn_placeholder(given_raw);
            if found.is_some() {
                given_raw = &[];
            }
            found
        }
        found => found,
    };
    let given: Vec<NormalizedName> = given_raw
        .iter()
        .flat_map(|g| given_name_tokens(g))
        .map(name_from_folded)
        .collect();
    let mut family: Vec<NormalizedName> = Vec::with_capacity(family_raw.len());
    for f in family_raw {
        if let Some(text) = family_name_text(f)
            && !family.iter().any(|n| n.text == text)
        {
            family.push(name_from_folded(text));
        }
    }
    let (given, family) = arrange_names(given, family);
    // A newborn's placeholder given name still makes the record a placeholder identity; see
    // `crate::maternity::placeholder_identity` for when the pair's mother excuses it.
    let identity_placeholder = is_placeholder(&given, &family);
    let placeholder = identity_placeholder || newborn.is_some();
    let mut phones: Vec<CompactString> = Vec::new();
    for p in &record.phones {
        let digits = CompactString::from(normalize_phone(p));
        if !digits.is_empty() && !phones.contains(&digits) {
            phones.push(digits);
        }
    }
    let mut emails: Vec<CompactString> = Vec::new();
    for e in &record.emails {
        let e = CompactString::from(normalize_email(e));
        if !e.is_empty() && !emails.contains(&e) {
            emails.push(e);
        }
    }
    let mut identifiers: Vec<NormalizedIdentifier> = Vec::new();
    for id in &record.identifiers {
        let value = normalize_code(&id.value);
        if value.is_empty() {
            continue;
        }
        let n = NormalizedIdentifier {
            system: normalize_system(&id.system).into(),
            value: value.into(),
        };
        if !identifiers.contains(&n) {
            identifiers.push(n);
        }
    }
    let addresses = record
        .addresses
        .iter()
        .map(normalize_address)
        .filter(|a| {
            !(a.house_number.is_empty()
                && a.street.is_empty()
                && a.extra.is_empty()
                && a.city.is_empty()
                && a.postal_code.is_empty())
        })
        .collect();
    let record = NormalizedRecord {
        given,
        family,
        sex: record.sex.filter(|s| *s != Sex::Unknown),
        birth_date: record.birth_date.as_deref().and_then(parse_birth_date_kept),
        addresses,
        phones,
        emails,
        identifiers,
        placeholder,
        maternity: crate::maternity::normalize_maternity(
            record,
            newborn,
            newborn.is_some() && !identity_placeholder,
        ),
    };
    // The strings above were allocated between many temporaries. A clone allocates them again
    // one after the other, so one record's data sits in a few neighbouring cache lines: scoring
    // pairs of records spread over a large set runs about a third faster.
    record.clone()
}

/// A whole name written in the given field with the family field empty (or `LNU`), split where
/// a registration would have: the last word, with the particles before it, is the family name
/// (`Rahul Kumar`, `Kim Min-jun`, `Juan de la Cruz`). A family-first name (`Zhang Wei`) then
/// compares as swapped. Words are split on white space before folding, so a hyphenated given name
/// (`Min-jun`) stays one word. `None` when nothing is to be split. A whole name in the family
/// field stays there (its parts still agree with the family name at the `partial` level).
fn split_whole_name(given: &[String], family: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let filled = |names: &[String]| -> Vec<usize> {
        (0..names.len())
            .filter(|&i| !name_tokens(&names[i]).is_empty())
            .collect()
    };
    // Words of the one filled field, titles and suffixes left out.
    let words = |text: &str| -> Vec<String> {
        text.split_whitespace()
            .filter(|w| !fold(w).split(' ').all(is_title_or_suffix))
            .map(str::to_owned)
            .collect()
    };
    let particle = |w: &str| fold(w).split(' ').any(is_particle);
    let (given_filled, family_filled) = (filled(given), filled(family));
    // Only the given field: a family name of several words alone (`Garcia-Lopez`, `de la Cruz`)
    // is far commoner than a whole name there, and its folded text (`garcia lopez`) must
    // normalize to itself.
    match (given_filled.as_slice(), family_filled.as_slice()) {
        ([g], []) => {
            let words = words(&given[*g]);
            // The family name is the last word with the particles before it (`Juan de la Cruz`).
            let mut start = words.len().checked_sub(1)?;
            while start > 0 && particle(&words[start - 1]) {
                start -= 1;
            }
            if start == 0 {
                return None;
            }
            Some((
                vec![words[..start].join(" ")],
                vec![words[start..].join(" ")],
            ))
        }
        _ => None,
    }
}

/// Puts an initial written in the family field after a full given name (`Kumar`, `R`: written
/// family name first) in the given field, and the name in the family field (after
/// [`split_whole_name`]). A mononym stays in the field it was written in, alone or repeated: a
/// name in one field alone is far more often a missing field than a mononym, and the
/// family-name comparison reads one name across the fields (`compare`).
///
/// ```
/// use matcher::{PersonRecord, normalize::normalize};
/// let n = |g: &str, f: &str| {
///     let r = normalize(&PersonRecord {
///         given_names: vec![g.into()],
///         family_names: vec![f.into()],
///         ..Default::default()
///     });
///     let join = |v: &[matcher::NormalizedName]| {
///         v.iter().map(|n| n.text.as_str()).collect::<Vec<_>>().join(",")
///     };
///     (join(&r.given), join(&r.family))
/// };
/// let pair = |g: &str, f: &str| (g.to_owned(), f.to_owned());
/// assert_eq!(n("Sukarno", ""), pair("sukarno", ""));
/// assert_eq!(n("Sukarno", "Sukarno"), pair("sukarno", "sukarno"));
/// assert_eq!(n("FNU", "Sukarno"), pair("", "sukarno"));
/// assert_eq!(n("Sukarno", "LNU"), pair("sukarno", ""));
/// assert_eq!(n("Rahul Kumar", ""), pair("rahul", "kumar"));
/// assert_eq!(n("Kim Min-jun", ""), pair("kim", "min jun"));
/// assert_eq!(n("", "Rahul Kumar"), pair("", "rahul kumar"));
/// assert_eq!(n("", "de la Cruz"), pair("", "de la cruz"));
/// assert_eq!(n("Juan de la Cruz", ""), pair("juan", "de la cruz"));
/// assert_eq!(n("Dr. Ann", ""), pair("ann", ""));
/// assert_eq!(n("Kumar", "R."), pair("r", "kumar"));
/// assert_eq!(n("Gutierrez Martinez", "J"), pair("j", "gutierrez martinez"));
/// assert_eq!(n("Mary Ann", "Smith"), pair("mary,ann", "smith"));
/// ```
fn arrange_names(
    mut given: Vec<NormalizedName>,
    mut family: Vec<NormalizedName>,
) -> (Vec<NormalizedName>, Vec<NormalizedName>) {
    if family.len() == 1 && family[0].compact.len() == 1 && !given.is_empty() {
        if given.len() == 1 && given[0].compact.len() >= 2 {
            std::mem::swap(&mut given, &mut family);
        } else if given.len() > 1 && given.iter().all(|g| g.compact.len() >= 2) {
            // A family name of several words before the initial (`Gutierrez Martinez`, `J`): a
            // double surname, one family name.
            let whole = given
                .iter()
                .map(|g| g.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            given = std::mem::take(&mut family);
            family = vec![name_from_folded(whole)];
        }
    }
    (given, family)
}

/// Folds text: NFKD, combining marks removed, a few letters without decomposition mapped
/// (`ß`→`ss`, `æ`→`ae`, `ø`→`o`, `ł`→`l`, ...), lower case, apostrophes dropped, every other
/// non-alphanumeric run turned into one space, trimmed.
///
/// ```
/// use matcher::normalize::fold;
/// assert_eq!(fold("  Ångström-Łukasz  O'Neil "), "angstrom lukasz oneil");
/// assert_eq!(fold("STRAßE"), "strasse");
/// assert_eq!(fold(&fold("Zoë")), fold("Zoë"));
/// ```
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        fold_ascii(text)
    } else {
        fold_unicode(text)
    }
}

/// [`fold`] of an ASCII text, byte by byte: what [`fold_unicode`] does to ASCII (no character
/// decomposes or is a combining mark) without its per-character decomposition, which was the
/// largest part of normalizing a record (most names and addresses are ASCII).
fn fold_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(b.to_ascii_lowercase() as char);
        } else if !matches!(b, b'\'' | b'`') {
            pending_space = true;
        }
    }
    out
}

/// [`fold`] of any text.
fn fold_unicode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let push = |out: &mut String, c: char, pending: &mut bool| {
        if *pending && !out.is_empty() {
            out.push(' ');
        }
        *pending = false;
        out.push(c);
    };
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        let special: Option<&str> = match c {
            'ß' | 'ẞ' => Some("ss"),
            'æ' | 'Æ' => Some("ae"),
            'œ' | 'Œ' => Some("oe"),
            'ø' | 'Ø' => Some("o"),
            'ł' | 'Ł' => Some("l"),
            'đ' | 'Đ' | 'ð' | 'Ð' => Some("d"),
            'þ' | 'Þ' => Some("th"),
            'ı' => Some("i"),
            _ => None,
        };
        if let Some(s) = special {
            for sc in s.chars() {
                push(&mut out, sc, &mut pending_space);
            }
            continue;
        }
        if matches!(c, '\'' | '’' | '‘' | '`' | 'ʼ' | '´') {
            continue;
        }
        if c.is_alphanumeric() {
            for lc in c
                .to_lowercase()
                .flat_map(|l| l.nfkd())
                .filter(|l| !is_combining_mark(*l))
            {
                if lc.is_alphanumeric() {
                    push(&mut out, lc, &mut pending_space);
                }
            }
        } else {
            pending_space = true;
        }
    }
    out
}

/// Titles and honorifics removed from names.
const TITLES: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "master",
    "dr",
    "doctor",
    "prof",
    "professor",
    "rev",
    "reverend",
    "fr",
    "father",
    "sr",
    "sister",
    "sir",
    "dame",
    "lord",
    "lady",
    "hon",
    "capt",
    "captain",
    "col",
    "sgt",
    "lt",
    "maj",
    "mme",
    "mlle",
    "herr",
    "frau",
];

/// Generational and professional suffixes removed from names.
const SUFFIXES: &[&str] = &[
    "jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv", "2nd", "3rd", "md", "phd",
    "esq", "dds", "rn", "obe", "mbe",
];

/// Family-name particles kept in the text (`van der berg`) but ignored for token matching.
pub const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "dos", "das",
    "ter", "ten", "op", "st", "saint", "bin", "binti", "al", "el", "ibn", "mac", "ap",
];

/// True for a particle such as `van`, `de` or `la`.
pub fn is_particle(token: &str) -> bool {
    PARTICLES.contains(&token)
}

/// True for a title (`mr`, `dr`) or a generational or professional suffix (`jr`, `iii`, `md`),
/// which normalization removes from a name.
pub(crate) fn is_title_or_suffix(token: &str) -> bool {
    TITLES.contains(&token) || SUFFIXES.contains(&token)
}

/// Folded tokens of a name with titles and suffixes removed (kept when nothing else remains).
fn name_tokens(raw: &str) -> Vec<String> {
    let folded = fold(raw);
    // "First/last name unknown": what registrations (and US agencies, for people with one name
    // only) write in the empty field of a mononym. No name, not a name shared by thousands.
    // Dropped as words too ("NFN A"), so that normalizing a normalized name changes nothing.
    let all: Vec<&str> = folded
        .split(' ')
        .filter(|t| !t.is_empty() && !matches!(*t, "fnu" | "lnu" | "nfn" | "nln"))
        .collect();
    let kept: Vec<&str> = all
        .iter()
        .copied()
        .filter(|t| !is_title_or_suffix(t))
        .collect();
    if kept.is_empty() {
        all.into_iter().map(str::to_owned).collect()
    } else {
        kept.into_iter().map(str::to_owned).collect()
    }
}

/// Given-name tokens: `"Mary-Ann"` is `mary` and `ann`.
fn given_name_tokens(raw: &str) -> Vec<String> {
    name_tokens(raw)
}

/// Folded family-name text with titles and suffixes removed (`None` when empty).
pub fn family_name_text(raw: &str) -> Option<String> {
    let tokens = name_tokens(raw);
    if tokens.is_empty() {
        None
    } else {
        Some(tokens.join(" "))
    }
}

/// Folded given or family name (single name string) with titles and suffixes removed.
pub fn normalize_name_text(raw: &str) -> String {
    name_tokens(raw).join(" ")
}

/// Builds a `NormalizedName` from already folded text (phonetic keys, nickname groups, compact form).
pub fn name_from_folded(text: String) -> NormalizedName {
    let compact: String = text.chars().filter(|c| *c != ' ').collect();
    let mut groups = nickname_groups(&compact).to_vec();
    // Spelling-variant groups follow the nickname groups, above `VARIANT_GROUP_BASE`.
    groups.extend_from_slice(variant_groups(&compact));
    NormalizedName {
        phonetic: phonetic::keys(&compact),
        nickname_group: groups.first().copied().filter(|g| *g < VARIANT_GROUP_BASE),
        nickname_groups: groups,
        compact: compact.into(),
        text: text.into(),
    }
}

/// Builds a `NormalizedName` from raw text (folding, titles and suffixes removed).
pub fn normalize_name(raw: &str) -> NormalizedName {
    name_from_folded(normalize_name_text(raw))
}

/// Phone reduced to its digits (`"+61 (2) 9999-1234"` → `"61299991234"`), without an
/// extension written after the number (`555-123-4567 x22`, `ext. 22`, `#22`): a letter or `#`
/// after at least 7 digits ends the number.
pub fn normalize_phone(raw: &str) -> String {
    let mut digits = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if (c.is_alphabetic() || c == '#') && digits.len() >= 7 {
            break;
        }
    }
    digits
}

/// Postal code or identifier value: ASCII letters and digits only, upper case.
pub fn normalize_code(raw: &str) -> String {
    fold(raw)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Identifier system: trimmed, lower case.
pub fn normalize_system(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// E-mail: trimmed, lower case.
pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

const PLACEHOLDER_GIVEN: &[&str] = &[
    "john",
    "jane",
    "baby",
    "infant",
    "newborn",
    "unknown",
    "unk",
    "test",
    "patient",
    "anonymous",
    "noname",
    "nn",
    "xx",
    "xxx",
    "zz",
    "zzz",
    "trauma",
    "male",
    "female",
    "boy",
    "girl",
    "twin",
];
const PLACEHOLDER_FAMILY: &[&str] = &[
    "doe",
    "unknown",
    "unk",
    "test",
    "patient",
    "anonymous",
    "noname",
    "nn",
    "xx",
    "xxx",
    "zz",
    "zzz",
    "trauma",
    "dummy",
    "sample",
];

/// True when the names are a placeholder identity: John/Jane Doe, Baby Boy/Girl (whatever the family
/// name), Unknown, Test Patient, Patient Unknown, Anonymous, ...
///
/// ```
/// use matcher::normalize::{normalize_name, is_placeholder};
/// let n = |s: &str| vec![normalize_name(s)];
/// assert!(is_placeholder(&n("John"), &n("Doe")));
/// assert!(is_placeholder(&n("Baby Girl"), &n("Nguyen")));
/// assert!(is_placeholder(&n("Test"), &n("Patient")));
/// assert!(is_placeholder(&[], &n("Unknown")));
/// assert!(!is_placeholder(&n("John"), &n("Smith")));
/// ```
pub fn is_placeholder(given: &[NormalizedName], family: &[NormalizedName]) -> bool {
    let mut given_tokens = given.iter().flat_map(|n| n.text.split(' '));
    let (first, second) = (given_tokens.next(), given_tokens.next());
    let fam = family.first().map(|n| n.compact.as_str());
    let placeholder_token = |t: &str| {
        matches!(
            t,
            "unknown"
                | "unk"
                | "anonymous"
                | "noname"
                | "test"
                | "testpatient"
                | "dummy"
                | "xxx"
                | "zzz"
        )
    };
    if given.iter().any(|n| placeholder_token(&n.compact))
        || family.iter().any(|n| placeholder_token(&n.compact))
    {
        return true;
    }
    if matches!(first, Some("baby" | "infant" | "newborn" | "twin"))
        || matches!(
            (first, second),
            (Some("male" | "female"), Some("infant" | "baby"))
        )
    {
        return true;
    }
    if matches!(fam, Some("doe"))
        && first.is_none_or(|g| PLACEHOLDER_GIVEN.contains(&g) || g.len() <= 1)
    {
        return true;
    }
    if matches!(fam, Some("patient") | Some("trauma"))
        && first.is_none_or(|g| PLACEHOLDER_GIVEN.contains(&g))
    {
        return true;
    }
    if let Some(f) = fam
        && PLACEHOLDER_FAMILY.contains(&f)
        && given.is_empty()
    {
        return true;
    }
    given.is_empty() && family.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Identifier;

    proptest::proptest! {
        /// The ASCII fast path folds every ASCII text (control characters, punctuation, runs of
        /// spaces included) exactly as the general path does.
        #[test]
        fn ascii_fold_is_the_unicode_fold(text in "[\\x00-\\x7f]{0,40}") {
            proptest::prop_assert_eq!(fold_ascii(&text), fold_unicode(&text));
        }
    }

    #[test]
    fn fold_takes_the_general_path_for_non_ascii() {
        assert_eq!(fold("O'Neil  Zoë-Müller"), "oneil zoe muller");
        assert_eq!(fold("  ab`c  D "), "abc d");
    }

    #[test]
    fn names_titles_suffixes_particles() {
        assert_eq!(normalize_name_text("Mr. John Smith, Jr."), "john smith");
        assert_eq!(
            family_name_text("van der Berg").as_deref(),
            Some("van der berg")
        );
        assert_eq!(normalize_name("Van Der Berg").compact, "vanderberg");
        assert_eq!(normalize_name("Smith-Jones").text, "smith jones");
        assert_eq!(normalize_name("O'Connor").text, "oconnor");
        assert_eq!(normalize_name("Dr").text, "dr");
        assert_eq!(normalize_name("Müller").text, "muller");
        assert_eq!(
            normalize_name("Bill").nickname_group,
            nickname_group("william")
        );
    }

    #[test]
    fn a_phone_loses_its_extension_not_its_digits() {
        assert_eq!(normalize_phone("+61 (2) 9999-1234"), "61299991234");
        assert_eq!(normalize_phone("555-123-4567 x22"), "5551234567");
        assert_eq!(normalize_phone("555 123 4567 ext. 22"), "5551234567");
        assert_eq!(normalize_phone("(555) 123-4567 #22"), "5551234567");
        assert_eq!(normalize_phone("555-1234 X 9"), "5551234");
        // Too few digits before it for a number: letters are dropped, the digits kept.
        assert_eq!(normalize_phone("Tel 555-12 Ext 3"), "555123");
        assert_eq!(normalize_phone("1-800-FLOWERS"), "1800");
    }

    #[test]
    fn record_fields() {
        let raw = PersonRecord {
            given_names: vec!["Mary-Ann".into()],
            family_names: vec!["Brown".into(), "BROWN".into(), "Green".into()],
            sex: Some(Sex::Unknown),
            birth_date: Some("31/02/1980".into()),
            identifiers: vec![Identifier {
                system: " SSN ".into(),
                value: "123-45.678 9".into(),
            }],
            emails: vec![" Mary@Example.ORG ".into()],
            ..Default::default()
        };
        let n = normalize(&raw);
        assert_eq!(
            n.given.iter().map(|g| g.text.as_str()).collect::<Vec<_>>(),
            ["mary", "ann"]
        );
        assert_eq!(
            n.family.iter().map(|g| g.text.as_str()).collect::<Vec<_>>(),
            ["brown", "green"]
        );
        assert_eq!(n.sex, None);
        let mononym = normalize(&PersonRecord {
            given_names: vec!["FNU".into()],
            family_names: vec!["Sukarno".into(), "LNU".into()],
            ..Default::default()
        });
        assert!(mononym.given.is_empty());
        assert_eq!(
            mononym
                .family
                .iter()
                .map(|n| n.text.as_str())
                .collect::<Vec<_>>(),
            ["sukarno"]
        );
        // A placeholder word beside another ("nFn a", found by the idempotence property) is
        // dropped on the first pass, not on the second.
        let placeholder_word = normalize(&PersonRecord {
            given_names: vec!["nFn a".into()],
            family_names: vec!["William".into()],
            ..Default::default()
        });
        assert!(
            placeholder_word
                .given
                .iter()
                .all(|g| !g.text.split(' ').any(|w| w == "nfn"))
        );
        // 31 February: kept as typed, for a digit-by-digit comparison.
        assert_eq!(
            n.birth_date,
            Some(crate::BirthDate {
                year: 1980,
                month: 2,
                day: 31
            })
        );
        assert!(n.birth_date.is_some_and(crate::BirthDate::is_mistyped));
        assert_eq!(n.identifiers[0].system, "ssn");
        assert_eq!(n.identifiers[0].value, "123456789");
        assert_eq!(n.emails, ["mary@example.org"]);
        assert!(!n.placeholder);
    }

    #[test]
    fn placeholders() {
        let rec = |g: &str, f: &str| PersonRecord {
            given_names: vec![g.into()],
            family_names: vec![f.into()],
            ..Default::default()
        };
        for (g, f) in [
            ("John", "Doe"),
            ("Jane", "DOE"),
            ("Baby Boy", "Smith"),
            ("Unknown", "Unknown"),
            ("Test", "Patient"),
            ("Patient", "Unknown"),
            ("", ""),
        ] {
            assert!(normalize(&rec(g, f)).placeholder, "{g} {f}");
        }
        for (g, f) in [
            ("John", "Smith"),
            ("Jane", "Doherty"),
            ("Patience", "Brown"),
        ] {
            assert!(!normalize(&rec(g, f)).placeholder, "{g} {f}");
        }
        // A newborn's placeholder given name is dropped (a missing given name) and noted (see
        // `maternity`); a newborn named Doe is a placeholder whatever her mother.
        let baby = normalize(&rec("Baby Boy", "Smith"));
        assert!(baby.given.is_empty() && baby.placeholder);
        assert!(baby.maternity.is_some_and(|m| m.newborn_placeholder));
        let doe = normalize(&rec("Baby Girl", "Doe"));
        assert!(doe.placeholder && doe.maternity.is_none_or(|m| !m.newborn_placeholder));
        // The whole name in the given field: the same once split.
        for whole in ["Baby Boy Smith", "NB Smith"] {
            let n = normalize(&rec(whole, ""));
            assert!(n.given.is_empty() && n.placeholder, "{whole}");
            assert_eq!(n.family[0].text, "smith");
            assert!(
                n.maternity.is_some_and(|m| m.newborn_placeholder),
                "{whole}"
            );
        }
        assert_eq!(normalize(&rec("Nobby Smith", "")).given[0].text, "nobby");
    }
}
