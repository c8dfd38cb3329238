//! Synthetic data generator: determinism (seed, thread count, streaming), ground truth that holds
//! up (households, twins, juniors, clusters), hard cases at their configured rates, and records the
//! normalizer accepts.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use matcher::normalize::{nickname_equivalent, normalize};
use matcher::synth::{
    Generator, GeneratorConfig, HardCase, HardCaseRates, NATIONAL_ID_SYSTEM, SyntheticRecord,
    generate,
};
use matcher::{PersonRecord, Sex};

const N: usize = 50_000;

static DATA: LazyLock<Vec<SyntheticRecord>> = LazyLock::new(|| {
    generate(&GeneratorConfig {
        records: N,
        seed: 2024,
        ..Default::default()
    })
});

fn by_cluster(data: &[SyntheticRecord]) -> BTreeMap<u64, Vec<&SyntheticRecord>> {
    let mut map: BTreeMap<u64, Vec<&SyntheticRecord>> = BTreeMap::new();
    for r in data {
        map.entry(r.cluster_id).or_default().push(r);
    }
    map
}

fn by_household(data: &[SyntheticRecord]) -> BTreeMap<u64, Vec<&SyntheticRecord>> {
    let mut map: BTreeMap<u64, Vec<&SyntheticRecord>> = BTreeMap::new();
    for r in data {
        map.entry(r.household_id).or_default().push(r);
    }
    map
}

fn count(data: &[SyntheticRecord], case: HardCase) -> usize {
    data.iter().filter(|r| r.cases.contains(case)).count()
}

/// Records after a person's first: where record-level hard cases may apply.
fn later_records(data: &[SyntheticRecord]) -> usize {
    data.len() - by_cluster(data).len()
}

fn assert_near(what: &str, observed: f64, expected: f64, tolerance: f64) {
    assert!(
        (observed - expected).abs() <= tolerance,
        "{what}: observed {observed:.4}, expected {expected:.4} +- {tolerance}"
    );
}

/// A record is "clean" for a field when no hard case could have altered that field.
fn clean_names(r: &SyntheticRecord) -> bool {
    [
        HardCase::Nickname,
        HardCase::Typo,
        HardCase::Ocr,
        HardCase::NameSwap,
        HardCase::Placeholder,
        HardCase::NameChange,
        HardCase::Spelling,
    ]
    .iter()
    .all(|&c| !r.cases.contains(c))
}

fn clean_date(r: &SyntheticRecord) -> Option<&str> {
    let altered = [
        HardCase::DayMonthSwap,
        HardCase::DateError,
        HardCase::Placeholder,
    ]
    .iter()
    .any(|&c| r.cases.contains(c));
    if altered {
        None
    } else {
        r.record.birth_date.as_deref()
    }
}

/// Birth date digits only (the two formats differ in dashes).
fn date_digits(date: &str) -> String {
    date.chars().filter(char::is_ascii_digit).collect()
}

fn first_given(r: &PersonRecord) -> String {
    r.given_names
        .first()
        .map(|g| g.to_lowercase())
        .unwrap_or_default()
}

fn first_family(r: &PersonRecord) -> String {
    r.family_names
        .first()
        .map(|f| f.to_lowercase())
        .unwrap_or_default()
}

/// House number and 5-digit postal code: equal for the same home whatever the writing style.
fn home_key(r: &PersonRecord) -> Option<(String, String)> {
    let address = r.addresses.first()?;
    let number = address.lines.first()?.split(' ').next()?.to_owned();
    let zip = address.postal_code.as_deref()?.get(..5)?.to_owned();
    Some((number, zip))
}

#[test]
fn same_seed_same_records_different_seed_different_records() {
    let config = GeneratorConfig {
        records: 20_000,
        seed: 7,
        ..Default::default()
    };
    let a = generate(&config);
    assert_eq!(a, generate(&config));
    let b = generate(&GeneratorConfig { seed: 8, ..config });
    assert_eq!(a.len(), b.len());
    let same = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x.record == y.record)
        .count();
    assert_eq!(same, 0);
}

#[test]
fn thread_count_and_streaming_do_not_change_the_output() {
    let config = GeneratorConfig {
        records: 30_000,
        seed: 99,
        ..Default::default()
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| generate(&config))
    };
    let one = run(1);
    assert_eq!(one, run(3));
    let generator = Generator::new(config).unwrap();
    let streamed: Vec<SyntheticRecord> = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(|| generator.chunks().flatten().collect());
    assert_eq!(one, streamed);
}

#[test]
fn exact_count_and_unique_ids() {
    assert_eq!(DATA.len(), N);
    let ids: HashSet<&str> = DATA.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), N);
    let small = generate(&GeneratorConfig {
        records: 7,
        ..Default::default()
    });
    assert_eq!(small.len(), 7);
    assert!(
        generate(&GeneratorConfig {
            records: 0,
            ..Default::default()
        })
        .is_empty()
    );
}

#[test]
fn cluster_sizes_follow_the_duplicate_rate() {
    let clusters = by_cluster(&DATA);
    let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
    for records in clusters.values() {
        *sizes.entry(records.len()).or_default() += 1;
    }
    let persons = clusters.len() as f64;
    let duplicated = clusters.values().filter(|c| c.len() > 1).count() as f64;
    // 20 % of persons registered more than once (a few chunk tails are forced to singletons).
    assert_near("duplicated persons", duplicated / persons, 0.20, 0.015);
    assert_eq!(sizes.keys().next(), Some(&1));
    assert_eq!(sizes.keys().last(), Some(&6), "{sizes:?}");
    // Pairs dominate: each size is rarer than the one before.
    let counts: Vec<usize> = sizes.values().copied().collect();
    assert!(counts.windows(2).all(|w| w[0] > w[1]), "{sizes:?}");
    // A person lives in one household.
    for records in clusters.values() {
        let households: HashSet<u64> = records.iter().map(|r| r.household_id).collect();
        assert_eq!(households.len(), 1);
    }
}

#[test]
fn households_share_a_home_but_are_different_people() {
    let households = by_household(&DATA);
    let mut multi = 0;
    let mut shared_phone = 0;
    for records in households.values() {
        let persons: BTreeSet<u64> = records.iter().map(|r| r.cluster_id).collect();
        let flagged = records
            .iter()
            .all(|r| r.cases.contains(HardCase::Household));
        assert_eq!(
            persons.len() > 1,
            flagged,
            "household flag matches membership"
        );
        if persons.len() < 2 {
            continue;
        }
        multi += 1;
        // Records that show the current home all show the same one.
        let homes: HashSet<(String, String)> = records
            .iter()
            .filter(|r| {
                ![HardCase::Moved, HardCase::Typo, HardCase::Ocr]
                    .iter()
                    .any(|&c| r.cases.contains(c))
            })
            .filter_map(|r| home_key(&r.record))
            .collect();
        assert!(homes.len() <= 1, "one home per household: {homes:?}");
        let phones: HashMap<String, BTreeSet<u64>> =
            records.iter().fold(HashMap::new(), |mut m, r| {
                for p in &r.record.phones {
                    let digits: String = p.chars().filter(char::is_ascii_digit).collect();
                    let digits = digits.trim_start_matches('1').to_owned();
                    m.entry(digits).or_default().insert(r.cluster_id);
                }
                m
            });
        if phones.values().any(|persons| persons.len() > 1) {
            shared_phone += 1;
        }
    }
    let share = f64::from(multi) / households.len() as f64;
    // 35 % by rate, plus the households that twins and juniors make multi-person.
    assert_near("multi-person households", share, 0.365, 0.02);
    // Landlines and a parent's mobile on a child's record make shared phones common.
    assert!(
        f64::from(shared_phone) / f64::from(multi) > 0.25,
        "{shared_phone} of {multi}"
    );
}

#[test]
fn twins_share_birth_date_and_family_but_not_given_name() {
    let households = by_household(&DATA);
    let mut twin_households = 0;
    for records in households.values() {
        let twins: BTreeMap<u64, Vec<&&SyntheticRecord>> = records
            .iter()
            .filter(|r| r.cases.contains(HardCase::Twin))
            .fold(BTreeMap::new(), |mut m, r| {
                m.entry(r.cluster_id).or_default().push(r);
                m
            });
        if twins.is_empty() {
            continue;
        }
        twin_households += 1;
        assert_eq!(twins.len(), 2, "twins come in pairs");
        let dates: Vec<BTreeSet<String>> = twins
            .values()
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| clean_date(r))
                    .map(date_digits)
                    .collect()
            })
            .collect();
        if !dates[0].is_empty() && !dates[1].is_empty() {
            assert_eq!(dates[0], dates[1]);
        }
        let names: Vec<BTreeSet<String>> = twins
            .values()
            .map(|rs| {
                rs.iter()
                    .filter(|r| clean_names(r))
                    .map(|r| first_given(&r.record))
                    .collect()
            })
            .collect();
        assert!(names[0].is_disjoint(&names[1]), "{names:?}");
    }
    let share = f64::from(twin_households) / households.len() as f64;
    assert_near("households with twins", share, 0.01, 0.003);
}

#[test]
fn father_and_junior_share_names_but_not_birth_date() {
    let households = by_household(&DATA);
    let mut junior_households = 0;
    for records in households.values() {
        let pair: BTreeMap<u64, Vec<&&SyntheticRecord>> = records
            .iter()
            .filter(|r| r.cases.contains(HardCase::Junior))
            .fold(BTreeMap::new(), |mut m, r| {
                m.entry(r.cluster_id).or_default().push(r);
                m
            });
        if pair.is_empty() {
            continue;
        }
        junior_households += 1;
        assert_eq!(pair.len(), 2, "a father and one junior");
        let given: BTreeSet<String> = pair
            .values()
            .flatten()
            .filter(|r| clean_names(r))
            .map(|r| first_given(&r.record))
            .collect();
        assert!(given.len() <= 1, "same given name: {given:?}");
        let dates: Vec<BTreeSet<String>> = pair
            .values()
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| clean_date(r))
                    .map(date_digits)
                    .collect()
            })
            .collect();
        assert!(dates[0].is_disjoint(&dates[1]));
        for r in pair.values().flatten() {
            assert_eq!(r.record.sex.unwrap_or(Sex::Male), Sex::Male);
        }
    }
    let share = f64::from(junior_households) / households.len() as f64;
    assert_near("households with a junior", share, 0.01, 0.003);
}

#[test]
fn record_level_hard_cases_appear_at_their_rates() {
    let rates = HardCaseRates::default();
    let later = later_records(&DATA) as f64;
    let rate = |case| count(&DATA, case) as f64 / later;
    // Applied with the configured probability to every later record.
    assert_near(
        "name swap",
        rate(HardCase::NameSwap),
        rates.name_swap,
        0.005,
    );
    // Typos and OCR confusions apply unless the drawn field is absent or cannot change.
    assert_near("typo", rate(HardCase::Typo), rates.typo, 0.03);
    assert!(rate(HardCase::Typo) <= rates.typo + 0.01);
    assert_near("ocr", rate(HardCase::Ocr), rates.ocr, 0.012);
    // Only dates with day <= 12 and day != month can be swapped: about 36 % of them.
    assert_near(
        "day-month swap",
        rate(HardCase::DayMonthSwap),
        rates.day_month_swap * 0.36,
        0.006,
    );
    // About three quarters of the drawn date errors give a valid different date.
    assert_near(
        "date error",
        rate(HardCase::DateError),
        rates.date_error * 0.75,
        0.008,
    );
    // Only given names in the nickname table get one.
    let nickname = rate(HardCase::Nickname);
    assert!(
        nickname > rates.nickname * 0.3 && nickname <= rates.nickname + 0.005,
        "nickname {nickname}"
    );
    // Per record: placeholders and missing fields.
    let n = DATA.len() as f64;
    assert_near(
        "placeholder",
        count(&DATA, HardCase::Placeholder) as f64 / n,
        rates.placeholder,
        0.001,
    );
    // Six optional fields, most present: 1 - 0.95^k for k around 4.5 to 6.
    let missing = count(&DATA, HardCase::MissingField) as f64 / n;
    assert!((0.18..=0.27).contains(&missing), "missing {missing}");
}

#[test]
fn person_level_hard_cases_appear_at_their_rates() {
    let rates = HardCaseRates::default();
    let clusters = by_cluster(&DATA);
    let multi: Vec<&Vec<&SyntheticRecord>> = clusters.values().filter(|c| c.len() > 1).collect();
    let movers = multi
        .iter()
        .filter(|c| c.iter().any(|r| r.cases.contains(HardCase::Moved)))
        .count();
    assert_near(
        "movers",
        movers as f64 / multi.len() as f64,
        rates.mover,
        0.015,
    );
    // Name changes: adult women only, about 45 % of the persons registered more than once.
    let changed = multi
        .iter()
        .filter(|c| c.iter().any(|r| r.cases.contains(HardCase::NameChange)))
        .count() as f64
        / multi.len() as f64;
    assert!(
        (rates.name_change * 0.3..=rates.name_change * 0.6).contains(&changed),
        "name change share {changed}"
    );
}

#[test]
fn hard_cases_change_what_they_say() {
    let clusters = by_cluster(&DATA);
    for records in clusters.values() {
        let clean: Vec<&&SyntheticRecord> = records.iter().filter(|r| clean_names(r)).collect();
        for r in records {
            // Exactly one record of a mover shows the old home, and it differs from the new one.
            if r.cases.contains(HardCase::Moved) {
                let others: Vec<_> = records
                    .iter()
                    .filter(|o| {
                        ![HardCase::Moved, HardCase::Typo, HardCase::Ocr]
                            .iter()
                            .any(|&c| o.cases.contains(c))
                    })
                    .filter_map(|o| home_key(&o.record))
                    .collect();
                if let Some(old) = home_key(&r.record) {
                    assert!(others.iter().all(|o| *o != old));
                }
            }
            // A nickname is nickname-equivalent to the clean given name, and differs from it.
            if r.cases.contains(HardCase::Nickname)
                && !r.cases.contains(HardCase::Typo)
                && !r.cases.contains(HardCase::Ocr)
                && !r.cases.contains(HardCase::NameSwap)
                && !r.cases.contains(HardCase::Placeholder)
                && !r.cases.contains(HardCase::Spelling)
            {
                let nick = first_given(&r.record);
                for c in &clean {
                    let formal = first_given(&c.record);
                    assert_ne!(nick, formal);
                    assert!(nickname_equivalent(&nick, &formal), "{nick} ~ {formal}");
                }
            }
            // A name swap puts the family name first.
            if r.cases.contains(HardCase::NameSwap)
                && !r.cases.contains(HardCase::Typo)
                && !r.cases.contains(HardCase::Ocr)
                && !r.cases.contains(HardCase::Placeholder)
                && !r.cases.contains(HardCase::NameChange)
                && !r.cases.contains(HardCase::Spelling)
            {
                let swapped_family = first_given(&r.record);
                for c in &clean {
                    let family = first_family(&c.record);
                    let family = family.trim_end_matches(" jr").trim_end_matches(" sr");
                    let swapped = swapped_family
                        .trim_end_matches(" jr")
                        .trim_end_matches(" sr");
                    assert_eq!(swapped, family);
                }
            }
            // A name change shows a family name no clean record has as current.
            if r.cases.contains(HardCase::NameChange) && !r.cases.contains(HardCase::NameSwap) {
                let old = first_family(&r.record);
                assert!(clean.iter().all(|c| first_family(&c.record) != old));
            }
        }
    }
}

#[test]
fn spelling_variants_normalize_to_the_same_name() {
    let mut checked = 0;
    for records in by_cluster(&DATA).values() {
        let Some(clean) = records.iter().find(|r| clean_names(r)) else {
            continue;
        };
        let reference = normalize(&clean.record);
        for r in records {
            let only_spelling = r.cases.contains(HardCase::Spelling)
                && [
                    HardCase::Nickname,
                    HardCase::Typo,
                    HardCase::Ocr,
                    HardCase::NameSwap,
                    HardCase::Placeholder,
                    HardCase::NameChange,
                ]
                .iter()
                .all(|&c| !r.cases.contains(c));
            if !only_spelling {
                continue;
            }
            let n = normalize(&r.record);
            // Accents fold away and compound names compare without spaces or apostrophes.
            assert_eq!(n.family[0].compact, reference.family[0].compact, "{}", r.id);
            assert_eq!(n.given[0].compact, reference.given[0].compact, "{}", r.id);
            assert!(
                r.record.family_names[0] != clean.record.family_names[0]
                    || r.record.given_names[0] != clean.record.given_names[0]
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn surnames_follow_a_zipf_like_distribution() {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for records in by_cluster(&DATA).values() {
        if let Some(r) = records.iter().find(|r| clean_names(r)) {
            let family = first_family(&r.record);
            *counts.entry(family).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let persons: usize = ranked.iter().map(|r| r.1).sum();
    let top: Vec<&str> = ranked.iter().take(5).map(|r| r.0.as_str()).collect();
    assert_eq!(top[0], "smith", "{top:?}");
    assert!(
        top.contains(&"johnson") && top.contains(&"williams"),
        "{top:?}"
    );
    // Smith about 1.4 % of persons (1 % of the census, 1.4 % of the names shipped);
    // households share surnames, so allow some spread.
    let smith = ranked[0].1 as f64 / persons as f64;
    assert!((0.009..0.02).contains(&smith), "smith {smith}");
    // A long tail: thousands of surnames seen once.
    let once = ranked.iter().filter(|r| r.1 == 1).count();
    assert!(once > 3_000, "{once} singletons");
}

#[test]
fn identifiers_are_unique_per_person() {
    let mut owner: HashMap<String, u64> = HashMap::new();
    for r in DATA
        .iter()
        .filter(|r| !r.cases.contains(HardCase::Typo) && !r.cases.contains(HardCase::Ocr))
    {
        for id in r
            .record
            .identifiers
            .iter()
            .filter(|i| i.system == NATIONAL_ID_SYSTEM)
        {
            let digits: String = id.value.chars().filter(char::is_ascii_digit).collect();
            let previous = owner.insert(digits, r.cluster_id);
            assert!(previous.is_none_or(|p| p == r.cluster_id));
        }
    }
    // Medical record numbers: unique per facility, shared only by records of one person.
    let mut mrn_owner: HashMap<(String, String), u64> = HashMap::new();
    for r in DATA.iter() {
        for id in r
            .record
            .identifiers
            .iter()
            .filter(|i| i.system != NATIONAL_ID_SYSTEM)
        {
            let previous = mrn_owner.insert((id.system.clone(), id.value.clone()), r.cluster_id);
            assert!(previous.is_none_or(|p| p == r.cluster_id));
        }
    }
}

#[test]
fn generated_records_normalize_cleanly() {
    let mut with_date = 0;
    let mut placeholders = 0;
    let mut detected = 0;
    for r in DATA.iter() {
        let n = normalize(&r.record);
        if r.record.birth_date.is_some() {
            with_date += 1;
            // Every written date is a real calendar date in the past (the errors keep it valid).
            assert!(n.birth_date.is_some(), "{} has an invalid date", r.id);
        }
        // A newborn's placeholder given name ("Baby Girl") is dropped: a missing given name.
        assert!(
            !n.given.is_empty()
                || r.record.given_names.is_empty()
                || matcher::maternity::newborn_placeholder(&r.record.given_names).is_some()
        );
        assert!(!n.family.is_empty(), "{} lost its family name", r.id);
        if r.cases.contains(HardCase::Placeholder) {
            placeholders += 1;
            detected += usize::from(n.placeholder);
        } else if n.placeholder {
            // Only a real person named Doe, Test or Unknown may look like a placeholder.
            let names = format!("{:?} {:?}", n.given, n.family);
            assert!(
                ["doe", "test", "unknown", "patient", "baby", "trauma"]
                    .iter()
                    .any(|w| names.contains(w)),
                "{} flagged as placeholder",
                r.id
            );
        }
    }
    assert!(with_date > N * 9 / 10);
    assert!(placeholders > 50);
    // Typos and name swaps can hide a placeholder; nearly all are still recognised.
    assert!(
        detected * 100 >= placeholders * 90,
        "{detected} of {placeholders}"
    );
}

#[test]
fn distinct_identifiers_give_each_record_its_own_and_change_nothing_else() {
    let config = GeneratorConfig {
        records: 20_000,
        seed: 11,
        ..Default::default()
    };
    let plain = generate(&config);
    let distinct = generate(&GeneratorConfig {
        distinct_identifiers: true,
        ..config
    });
    assert_eq!(plain.len(), distinct.len());
    let mut seen = std::collections::HashSet::new();
    let mut shared_before = 0;
    let mut seen_before = std::collections::HashSet::new();
    for (p, d) in plain.iter().zip(&distinct) {
        assert_eq!(
            (p.cluster_id, &p.record.given_names),
            (d.cluster_id, &d.record.given_names)
        );
        assert_eq!(
            (&p.record.birth_date, &p.record.addresses),
            (&d.record.birth_date, &d.record.addresses)
        );
        for i in &d.record.identifiers {
            let value: String = i
                .value
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            assert!(seen.insert((i.system.clone(), value)), "{i:?} given twice");
        }
        for i in &p.record.identifiers {
            let value: String = i
                .value
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            shared_before += usize::from(!seen_before.insert((i.system.clone(), value)));
        }
    }
    // Without the option, duplicates share identifiers (what `mpi import` refuses).
    assert!(shared_before > 1_000, "{shared_before}");
}

/// A population with international origins (issue 32, section 3).
static INTERNATIONAL: LazyLock<Vec<SyntheticRecord>> = LazyLock::new(|| {
    generate(&GeneratorConfig {
        records: 30_000,
        seed: 32,
        international: 0.5,
        ..Default::default()
    })
});

#[test]
fn international_origins_are_seeded_and_off_by_default() {
    assert!(DATA.iter().all(|r| r.origin.is_none()));
    let again = generate(&GeneratorConfig {
        records: 30_000,
        seed: 32,
        international: 0.5,
        ..Default::default()
    });
    assert_eq!(*INTERNATIONAL, again);
    let mut households: HashMap<&str, BTreeSet<u64>> = HashMap::new();
    for r in INTERNATIONAL.iter() {
        if let Some(origin) = r.origin {
            households.entry(origin).or_default().insert(r.household_id);
        }
    }
    assert_eq!(households.len(), 11, "{:?}", households.keys());
    let all: usize = households.values().map(BTreeSet::len).sum();
    let total = by_household(&INTERNATIONAL).len();
    assert_near(
        "international households",
        all as f64 / total as f64,
        0.5,
        0.03,
    );
    let hispanic = households["hispanic"].len() as f64 / all as f64;
    assert_near("Hispanic share of them", hispanic, 22.0 / 100.0, 0.03);
}

#[test]
fn every_international_hard_case_appears_and_says_what_it_did() {
    let international = [
        HardCase::NameOrder,
        HardCase::Mononym,
        HardCase::WholeName,
        HardCase::Initials,
        HardCase::Transliteration,
        HardCase::Article,
        HardCase::Particle,
        HardCase::DoubleSurname,
        HardCase::CompoundGiven,
        HardCase::HyphenSpace,
        HardCase::Diacritics,
    ];
    for case in international {
        let n = count(&INTERNATIONAL, case);
        assert!(n >= 15, "{}: {n}", case.name());
        // Only persons of an international origin carry these.
        assert!(
            INTERNATIONAL
                .iter()
                .filter(|r| r.cases.contains(case))
                .all(|r| r.origin.is_some())
        );
    }
    let names = |r: &SyntheticRecord| {
        (
            r.record.given_names.first().cloned().unwrap_or_default(),
            r.record.family_names.first().cloned().unwrap_or_default(),
        )
    };
    for r in INTERNATIONAL.iter() {
        let (given, family) = names(r);
        if r.cases.contains(HardCase::WholeName) && !r.cases.contains(HardCase::Typo) {
            assert!(given.is_empty() != family.is_empty(), "{}", r.id);
        }
        let altered = [HardCase::Placeholder, HardCase::Typo, HardCase::Ocr];
        if r.cases.contains(HardCase::Mononym) && altered.iter().all(|c| !r.cases.contains(*c)) {
            // One name: alone, repeated, or beside a placeholder for the missing one.
            let words: BTreeSet<String> = [given.to_lowercase(), family.to_lowercase()]
                .into_iter()
                .filter(|w| !matches!(w.as_str(), "" | "fnu" | "lnu"))
                .collect();
            assert_eq!(words.len(), 1, "{}", r.id);
        }
        if r.cases.contains(HardCase::Article) && !r.cases.contains(HardCase::Typo) {
            assert!(
                !family.starts_with("Al-") && !family.starts_with("AL-"),
                "{}",
                r.id
            );
        }
    }
}

#[test]
fn international_siblings_and_twins_are_different_people_with_similar_names() {
    let mut twin_pairs = 0;
    let mut shared_syllable = 0;
    for records in by_household(&INTERNATIONAL).values() {
        if records[0].origin.is_none() {
            continue;
        }
        let twins: BTreeMap<u64, &&SyntheticRecord> = records
            .iter()
            .filter(|r| r.cases.contains(HardCase::Twin) && r.cases.iter().count() <= 2)
            .map(|r| (r.cluster_id, r))
            .collect();
        if twins.len() == 2 {
            twin_pairs += 1;
            let g: Vec<String> = twins.values().map(|r| first_given(&r.record)).collect();
            assert_ne!(g[0], g[1], "twins share a given name");
        }
        if records[0].origin == Some("korean") {
            let firsts: BTreeSet<String> = records
                .iter()
                .map(|r| first_given(&r.record))
                .filter_map(|g| g.split('-').next().map(str::to_owned))
                .collect();
            let people: BTreeSet<u64> = records.iter().map(|r| r.cluster_id).collect();
            shared_syllable += usize::from(people.len() >= 3 && firsts.len() < people.len());
        }
    }
    assert!(twin_pairs > 0);
    assert!(shared_syllable > 10, "{shared_syllable}");
}

#[test]
fn estimated_birth_dates_and_sequential_mrns_when_asked_for() {
    let rates = HardCaseRates {
        estimated_birth_date: 0.1,
        ..Default::default()
    };
    let data = generate(&GeneratorConfig {
        records: 20_000,
        seed: 5,
        rates,
        sequential_mrns: true,
        ..Default::default()
    });
    let estimated: Vec<&SyntheticRecord> = data
        .iter()
        .filter(|r| r.cases.contains(HardCase::EstimatedBirthDate))
        .collect();
    assert!(estimated.len() > 1_000, "{}", estimated.len());
    let placeholder_like = estimated
        .iter()
        .filter_map(|r| r.record.birth_date.as_deref())
        .map(date_digits)
        .filter(|d| d.ends_with("0101") || d.ends_with("0701") || d.ends_with("15"))
        .count();
    // Day-month swaps and date errors may alter a few.
    assert!(placeholder_like * 100 >= estimated.len() * 90);
    // Medical record numbers: a facility's numbers run in registration order, unique per person.
    let mut numbers: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for r in &data {
        for id in r
            .record
            .identifiers
            .iter()
            .filter(|i| i.system != NATIONAL_ID_SYSTEM)
        {
            let n: u64 = id.value.parse().expect("digits");
            numbers
                .entry(id.system.clone())
                .or_default()
                .push((n, r.cluster_id));
        }
    }
    let mut near = 0;
    for list in numbers.values_mut() {
        list.sort_unstable();
        for w in list.windows(2) {
            assert!(
                w[0].0 != w[1].0 || w[0].1 == w[1].1,
                "one number, two people"
            );
            near += usize::from(w[1].0 - w[0].0 <= 10 && w[0].1 != w[1].1);
        }
    }
    assert!(near > 10_000, "{near}");
}
