//! The generator's international population: origins with their naming conventions (family name
//! first, mononyms, double surnames, articles and particles, generation syllables, diacritics)
//! and the ways a registration writes their names differently (each a [`HardCase`]).
//!
//! Name lists are in `data/origins.csv` (sources cited there); spelling variants come from the
//! normalizer's own table (`normalize/name_variants.csv`), as nicknames do, so the variants
//! generated are the ones the matcher is meant to recognise.

use std::collections::HashMap;
use std::sync::LazyLock;

use rand::{Rng, RngExt};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::HardCase;
use super::tables::Weighted;
use crate::normalize::{fold, variant_group_names, variant_groups};
use crate::record::Sex;

const ORIGINS_CSV: &str = include_str!("data/origins.csv");

/// How an origin writes names; what the generator varies between registrations.
#[derive(Debug)]
pub(crate) struct Origin {
    pub(crate) name: &'static str,
    /// Share among the international households (a multi-ethnic US city, approximate).
    weight: u64,
    /// The family name is written first (Chinese, Korean, Vietnamese, Japanese): clerks swap the
    /// fields.
    family_first: bool,
    /// Share of persons with one name only.
    mononym: f64,
    /// Given names are two syllables (`Min-jun`, `Xiaoming`); siblings share the first.
    syllables: Option<Syllables>,
    /// Two surnames, paternal then maternal (`García López`).
    double_surname: bool,
    /// Women keep their family name at marriage.
    keeps_name: bool,
    /// Writing variants of later registrations and their weights.
    variants: &'static [(HardCase, u32)],
    given_male: Weighted<&'static str>,
    given_female: Weighted<&'static str>,
    family: Weighted<&'static str>,
    /// Vietnamese middle names by sex (`Văn`, `Thị`).
    middle: Option<(&'static str, &'static str)>,
}

#[derive(Debug)]
struct Syllables {
    /// How the two syllables are written in the reference form: `Min-jun` or `Xiaoming`.
    hyphen: bool,
    first: Vec<&'static str>,
    second: Vec<&'static str>,
    /// Every `first x second` given name, index `i * second.len() + j`.
    names: Vec<String>,
}

/// One origin's settings: name, weight, family name first, mononym share, women keep their name,
/// writing variants with their weights.
type Setting = (
    &'static str,
    u64,
    bool,
    f64,
    bool,
    &'static [(HardCase, u32)],
);

/// Origin settings; the name lists come from `data/origins.csv`.
const SETTINGS: &[Setting] = {
    use HardCase::*;
    &[
        // name, weight, family_first, mononym, keeps_name, variants
        (
            "chinese",
            12,
            true,
            0.0,
            true,
            &[
                (NameOrder, 5),
                (HyphenSpace, 3),
                (Transliteration, 3),
                (WholeName, 1),
            ],
        ),
        (
            "korean",
            8,
            true,
            0.0,
            true,
            &[
                (NameOrder, 5),
                (HyphenSpace, 4),
                (Transliteration, 3),
                (WholeName, 1),
            ],
        ),
        (
            "vietnamese",
            8,
            true,
            0.0,
            true,
            &[(NameOrder, 5), (WholeName, 2), (Transliteration, 1)],
        ),
        (
            "japanese",
            4,
            true,
            0.0,
            false,
            &[(NameOrder, 4), (Transliteration, 3)],
        ),
        (
            "arabic",
            10,
            false,
            0.0,
            true,
            &[
                (Transliteration, 5),
                (Article, 4),
                (WholeName, 1),
                (Initials, 1),
            ],
        ),
        (
            "south_asian",
            14,
            false,
            0.05,
            false,
            &[
                (Initials, 4),
                (WholeName, 2),
                (Transliteration, 2),
                (NameOrder, 1),
            ],
        ),
        (
            "hispanic",
            22,
            false,
            0.0,
            true,
            &[(DoubleSurname, 6), (CompoundGiven, 3), (Initials, 1)],
        ),
        (
            "filipino",
            8,
            false,
            0.0,
            false,
            &[(Particle, 4), (CompoundGiven, 3), (Initials, 1)],
        ),
        (
            "russian",
            6,
            false,
            0.0,
            false,
            &[(Transliteration, 5), (Initials, 1)],
        ),
        (
            "german",
            4,
            false,
            0.0,
            false,
            &[(Diacritics, 4), (Initials, 1)],
        ),
        (
            "indonesian",
            4,
            false,
            0.4,
            false,
            &[(WholeName, 2), (Initials, 1)],
        ),
    ]
};

fn zipf(names: Vec<&'static str>) -> Weighted<&'static str> {
    Weighted::new(
        names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, 10_000 / (i as u64 + 1)))
            .collect(),
    )
}

/// The origins, with their name lists parsed.
pub(crate) struct Origins {
    origins: Vec<Origin>,
    pick: Weighted<usize>,
}

pub(crate) static ORIGINS: LazyLock<Origins> = LazyLock::new(|| {
    let mut lists: HashMap<(&'static str, &'static str), Vec<&'static str>> = HashMap::new();
    for line in ORIGINS_CSV
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut fields = line.splitn(3, ',');
        let (Some(origin), Some(list), Some(names)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        lists.insert((origin, list), names.split(';').map(str::trim).collect());
    }
    let mut take = |origin: &'static str, list: &'static str| {
        lists.remove(&(origin, list)).unwrap_or_default()
    };
    let origins: Vec<Origin> = SETTINGS
        .iter()
        .map(
            |&(name, weight, family_first, mononym, keeps_name, variants)| {
                let first = take(name, "syllable1");
                let syllables = (!first.is_empty()).then(|| {
                    let second = take(name, "syllable2");
                    let hyphen = name == "korean";
                    let names = first
                        .iter()
                        .flat_map(|a| {
                            second.iter().map(move |b| {
                                if hyphen {
                                    format!("{a}-{b}")
                                } else {
                                    format!("{a}{b}")
                                }
                            })
                        })
                        .collect();
                    Syllables {
                        hyphen,
                        first,
                        second,
                        names,
                    }
                });
                Origin {
                    name,
                    weight,
                    family_first,
                    mononym,
                    syllables,
                    double_surname: name == "hispanic",
                    keeps_name,
                    variants,
                    given_male: zipf(take(name, "given_male")),
                    given_female: zipf(take(name, "given_female")),
                    family: zipf(take(name, "family")),
                    middle: (name == "vietnamese").then_some(("Văn", "Thị")),
                }
            },
        )
        .collect();
    let pick = Weighted::new(
        origins
            .iter()
            .enumerate()
            .map(|(i, o)| (i, o.weight))
            .collect(),
    );
    Origins { origins, pick }
});

impl Origins {
    /// One origin, drawn by weight.
    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> &Origin {
        &self.origins[*self.pick.sample(rng)]
    }
}

/// A household's shared naming: its generation syllable (siblings' given names share it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Generation(usize);

impl Origin {
    /// A family name of this origin (a double surname for Hispanic origins: two drawn).
    pub(crate) fn family<R: Rng + ?Sized>(&self, rng: &mut R) -> String {
        let first = *self.family.sample(rng);
        if self.double_surname {
            let mut second = *self.family.sample(rng);
            for _ in 0..5 {
                if second != first {
                    break;
                }
                second = *self.family.sample(rng);
            }
            format!("{first} {second}")
        } else {
            first.to_owned()
        }
    }

    /// The paternal part of a double surname (the whole name otherwise).
    pub(crate) fn paternal<'a>(&self, family: &'a str) -> &'a str {
        if self.double_surname {
            family.split(' ').next().unwrap_or(family)
        } else {
            family
        }
    }

    /// Whether a spouse takes the head's family name.
    pub(crate) fn keeps_name(&self) -> bool {
        self.keeps_name
    }

    /// A generation syllable for a household's children, for origins with syllable names.
    pub(crate) fn generation<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Generation> {
        let s = self.syllables.as_ref()?;
        Some(Generation(rng.random_range(0..s.first.len())))
    }

    /// A given name; a child of a household with a generation syllable shares it most of the
    /// time (siblings Min-jun and Min-seo).
    pub(crate) fn given<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        sex: Sex,
        generation: Option<Generation>,
    ) -> String {
        if let Some(s) = &self.syllables {
            let first = match generation {
                Some(Generation(g)) if rng.random::<f64>() < 0.7 => g,
                _ => rng.random_range(0..s.first.len()),
            };
            let second = rng.random_range(0..s.second.len());
            return s.names[first * s.second.len() + second].clone();
        }
        let list = if sex == Sex::Female {
            &self.given_female
        } else {
            &self.given_male
        };
        (*list.sample(rng)).to_owned()
    }

    /// A middle name (Vietnamese `Văn` / `Thị`), if the origin uses one.
    pub(crate) fn middle(&self, sex: Sex) -> Option<&'static str> {
        self.middle
            .map(|(m, f)| if sex == Sex::Female { f } else { m })
    }

    /// Whether a person of this origin has one name only.
    pub(crate) fn draws_mononym<R: Rng + ?Sized>(&self, rng: &mut R) -> bool {
        self.mononym > 0.0 && rng.random::<f64>() < self.mononym
    }

    /// One writing variant for a later registration.
    fn variant<R: Rng + ?Sized>(&self, rng: &mut R) -> HardCase {
        let total: u32 = self.variants.iter().map(|v| v.1).sum();
        let mut roll = rng.random_range(0..total.max(1));
        for &(case, w) in self.variants {
            if roll < w {
                return case;
            }
            roll -= w;
        }
        self.variants[0].0
    }
}

/// Text without diacritics (`Nguyễn` -> `Nguyen`, `Müller` -> `Muller`, `Đặng` -> `Dang`).
pub(crate) fn ascii(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'Đ' => 'D',
            'đ' => 'd',
            other => other,
        })
        .collect()
}

/// German umlauts written out (`Müller` -> `Mueller`); `None` when the text has none.
fn umlauts_written_out(text: &str) -> Option<String> {
    if !text.contains(['ä', 'ö', 'ü', 'Ä', 'Ö', 'Ü']) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'Ä' => out.push_str("Ae"),
            'Ö' => out.push_str("Oe"),
            'Ü' => out.push_str("Ue"),
            c => out.push(c),
        }
    }
    Some(out)
}

fn title(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
}

/// Another spelling of `name` from the variant table, in title case.
fn transliterated<R: Rng + ?Sized>(rng: &mut R, name: &str) -> Option<String> {
    let folded: String = fold(name).chars().filter(|c| *c != ' ').collect();
    let others: Vec<&str> = variant_groups(&folded)
        .iter()
        .flat_map(|&g| variant_group_names(g).iter().copied())
        .filter(|n| *n != folded)
        .collect();
    if others.is_empty() {
        return None;
    }
    Some(title(others[rng.random_range(0..others.len())]))
}

/// The names of one registration, as the fields will be filled.
#[derive(Debug)]
pub(crate) struct Names {
    pub(crate) given: String,
    pub(crate) middle: Option<String>,
    pub(crate) family: String,
}

/// Writes a mononym the way one registration does: in the family field alone, in the given
/// field alone, in both, or with `FNU` / `LNU` in the other field.
pub(crate) fn mononym<R: Rng + ?Sized>(rng: &mut R, name: &str) -> Names {
    let (given, family) = match rng.random_range(0..5u8) {
        0 => (String::new(), name.to_owned()),
        1 => (name.to_owned(), String::new()),
        2 => (name.to_owned(), name.to_owned()),
        3 => ("FNU".to_owned(), name.to_owned()),
        _ => (name.to_owned(), "LNU".to_owned()),
    };
    Names {
        given,
        middle: None,
        family,
    }
}

/// Applies one writing variant of `origin` to a later registration's names; returns the hard case
/// when the names changed.
pub(crate) fn vary<R: Rng + ?Sized>(
    rng: &mut R,
    origin: &Origin,
    names: &mut Names,
) -> Option<HardCase> {
    let case = origin.variant(rng);
    let before = (
        names.given.clone(),
        names.family.clone(),
        names.middle.clone(),
    );
    match case {
        HardCase::NameOrder => std::mem::swap(&mut names.given, &mut names.family),
        HardCase::WholeName => {
            let whole = if origin.family_first {
                format!("{} {}", names.family, names.given)
            } else {
                format!("{} {}", names.given, names.family)
            };
            if rng.random::<f64>() < 0.7 {
                names.given = whole;
                names.family = String::new();
            } else {
                names.family = whole;
                names.given = String::new();
            }
            names.middle = None;
        }
        HardCase::Initials => {
            let initial: String = names.given.chars().take(1).collect();
            if rng.random::<f64>() < 0.6 {
                names.given = if rng.random::<f64>() < 0.5 {
                    format!("{initial}.")
                } else {
                    initial
                };
            } else {
                // Written family name first with the initial after it: `Kumar R`.
                names.given = std::mem::take(&mut names.family);
                names.family = initial;
            }
            names.middle = None;
        }
        HardCase::Transliteration => {
            let given = transliterated(rng, &names.given);
            let family = transliterated(rng, &names.family);
            match (given, family) {
                (Some(g), Some(f)) => {
                    if rng.random::<f64>() < 0.5 {
                        names.given = g;
                    } else {
                        names.family = f;
                    }
                }
                (Some(g), None) => names.given = g,
                (None, Some(f)) => names.family = f,
                (None, None) => {}
            }
        }
        HardCase::Article => {
            if let Some(rest) = names.family.strip_prefix("Al-") {
                names.family = match rng.random_range(0..4u8) {
                    0 => format!("Al {rest}"),
                    1 => format!("Al{}", rest.to_lowercase()),
                    2 => format!("El-{rest}"),
                    _ => rest.to_owned(),
                };
            }
        }
        HardCase::Particle => {
            let lower = names.family.to_lowercase();
            let parts: Vec<&str> = names.family.split(' ').collect();
            if parts.len() >= 2 {
                let last = parts[parts.len() - 1];
                names.family = match rng.random_range(0..4u8) {
                    0 if lower.starts_with("dela ") => format!("De la {last}"),
                    0 | 1 => parts.concat(),
                    2 => parts.join(" ").to_uppercase(),
                    _ => last.to_owned(),
                };
            }
        }
        HardCase::DoubleSurname => {
            if let Some((paternal, maternal)) = names.family.split_once(' ') {
                let (p, m) = (paternal.to_owned(), maternal.to_owned());
                match rng.random_range(0..3u8) {
                    0 => names.family = p,
                    1 => names.family = format!("{p}-{m}"),
                    _ => {
                        names.family = p;
                        names.middle = Some(m);
                    }
                }
            }
        }
        HardCase::CompoundGiven => {
            if let Some((first, _)) = names.given.split_once(' ') {
                names.given = first.to_owned();
            }
        }
        HardCase::HyphenSpace => {
            let joined: String = names.given.chars().filter(|c| *c != '-').collect();
            if names.given.contains('-') {
                names.given = if rng.random::<f64>() < 0.5 {
                    joined
                } else {
                    names.given.replace('-', " ")
                };
            } else if let Some(split) = split_syllables(origin, &names.given, rng.random()) {
                names.given = split;
            }
        }
        HardCase::Diacritics => {
            if let Some(out) = umlauts_written_out(&names.family) {
                names.family = out;
            } else if let Some(out) = umlauts_written_out(&names.given) {
                names.given = out;
            }
        }
        _ => {}
    }
    let after = (
        names.given.clone(),
        names.family.clone(),
        names.middle.clone(),
    );
    (after != before).then_some(case)
}

/// A two-syllable given name written apart or hyphenated (`Xiaoming` -> `Xiao Ming`).
fn split_syllables(origin: &Origin, given: &str, hyphen: bool) -> Option<String> {
    let s = origin.syllables.as_ref()?;
    let first = s.first.iter().find(|f| given.starts_with(**f))?;
    let rest = &given[first.len()..];
    if rest.is_empty() {
        return None;
    }
    let sep = if s.hyphen || hyphen { "-" } else { " " };
    Some(format!("{first}{sep}{}", title(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn every_origin_has_names() {
        for o in &ORIGINS.origins {
            assert!(o.family.len() >= 10, "{}", o.name);
            if o.syllables.is_none() {
                assert!(o.given_male.len() >= 10, "{}", o.name);
                assert!(o.given_female.len() >= 10, "{}", o.name);
            }
        }
        assert_eq!(ORIGINS.origins.len(), SETTINGS.len());
    }

    #[test]
    fn variants_change_the_names_as_labelled() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let origin = ORIGINS.origins.iter().find(|o| o.name == "arabic").unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut names = Names {
                given: "Muhammad".into(),
                middle: None,
                family: "Al-Hassan".into(),
            };
            if let Some(case) = vary(&mut rng, origin, &mut names) {
                seen.insert(case);
                if case == HardCase::Article {
                    assert!(names.family.to_lowercase().contains("hassan"));
                }
            }
        }
        assert!(seen.contains(&HardCase::Transliteration));
        assert!(seen.contains(&HardCase::Article));
        assert_eq!(ascii("Nguyễn Đặng"), "Nguyen Dang");
        assert_eq!(umlauts_written_out("Müller").as_deref(), Some("Mueller"));
    }
}
