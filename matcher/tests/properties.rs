//! Property tests: comparator symmetry, range and identity; the allocation-free Jaro-Winkler equals
//! strsim's; folding and normalization are idempotent; scoring is symmetric; and copying a field
//! of one record into the other (more agreement) never lowers the match weight; the name
//! arrangement (mononyms, whole names in one field) does not depend on the field a name came in,
//! and the spelling keys (articles, umlauts, variant groups) are symmetric and bounded.

use matcher::compare::{damerau, jaro_winkler, levenshtein};
use matcher::normalize::{fold, normalize, spelling_variants, umlaut_equal, without_article};
use matcher::scoring::Model;
use matcher::{
    Address, Identifier, NormalizedAddress, NormalizedIdentifier, NormalizedName, NormalizedRecord,
    PersonRecord, Sex,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "William",
            "Bill",
            "Margaret",
            "Peggy",
            "José",
            "Zoë",
            "O'Brien",
            "van der Berg",
            "Smith-Jones",
            "MÜLLER",
            "Nguyen",
            "Dr. Ann",
            "Robert Jr.",
            "Łukasz",
            "Ærø",
            "Straße",
            "Mohammed",
            "Mhd",
            "Al-Hassan",
            "El Hassan",
            "Dela Cruz",
            "Mueller",
            "Min-jun",
            "Kim Min-jun",
            "R.",
            "FNU",
            "Sukarno",
            "",
        ])
        .prop_map(str::to_owned),
        "[A-Za-zÀ-ÿ' .-]{0,14}",
    ]
}

fn person() -> impl Strategy<Value = PersonRecord> {
    (
        name(),
        name(),
        prop::option::of(prop::sample::select(vec![Sex::Male, Sex::Female])),
        prop::option::of(prop::sample::select(vec![
            "1961-04-12",
            "12/04/1961",
            "1961-12-04",
            "1962-04-12",
            "1990-01-01",
        ])),
        prop::option::of(prop::sample::select(vec![
            "14 Kent St",
            "14 Kent Street",
            "3 Ocean Pde",
            "15 Kent St",
        ])),
        prop::option::of(prop::sample::select(vec!["2600", "2601", "4217"])),
        prop::option::of(prop::sample::select(vec!["Canberra", "Canbera", "Dapto"])),
        prop::option::of(prop::sample::select(vec![
            "02 6123 4567",
            "6123 4567",
            "07 5500 1111",
        ])),
        prop::option::of(prop::sample::select(vec!["4455667", "4455676", "9988776"])),
    )
        .prop_map(|(g, f, sex, dob, line, pc, city, phone, id)| PersonRecord {
            given_names: vec![g],
            family_names: vec![f],
            sex,
            birth_date: dob.map(str::to_owned),
            addresses: vec![Address {
                lines: line.map(str::to_owned).into_iter().collect(),
                postal_code: pc.map(str::to_owned),
                city: city.map(str::to_owned),
                ..Default::default()
            }],
            phones: phone.map(str::to_owned).into_iter().collect(),
            identifiers: id
                .map(|v| Identifier {
                    system: "nid".into(),
                    value: v.to_owned(),
                })
                .into_iter()
                .collect(),
            ..Default::default()
        })
}

/// A raw record rebuilt from a normalized one's text outputs.
fn raw_from(n: &NormalizedRecord) -> PersonRecord {
    PersonRecord {
        given_names: n.given.iter().map(|g| g.text.to_string()).collect(),
        family_names: n.family.iter().map(|f| f.text.to_string()).collect(),
        sex: n.sex,
        birth_date: n
            .birth_date
            .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)),
        addresses: n
            .addresses
            .iter()
            .map(|a| Address {
                lines: [
                    format!("{} {}", a.house_number, a.street).trim().to_owned(),
                    a.extra.to_string(),
                ]
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect(),
                city: Some(a.city.to_string()),
                state: Some(a.state.to_string()),
                postal_code: Some(a.postal_code.to_string()),
                country: Some(a.country.to_string()),
            })
            .collect(),
        phones: n.phones.iter().map(ToString::to_string).collect(),
        emails: n.emails.iter().map(ToString::to_string).collect(),
        identifiers: n
            .identifiers
            .iter()
            .map(|i| Identifier {
                system: i.system.to_string(),
                value: i.value.to_string(),
            })
            .collect(),
        maternity: Default::default(),
    }
}

/// A hand-built normalized record with arbitrary (not normalized) text everywhere.
fn raw_normalized() -> impl Strategy<Value = NormalizedRecord> {
    let text = || "\\PC{0,12}";
    (
        prop::collection::vec(text(), 0..3),
        prop::collection::vec(text(), 0..3),
        prop::collection::vec((text(), text(), text()), 0..2),
        prop::collection::vec(text(), 0..2),
        prop::collection::vec((text(), text()), 0..2),
    )
        .prop_map(|(given, family, addresses, phones, ids)| {
            let name = |t: String| NormalizedName {
                text: t.into(),
                ..Default::default()
            };
            NormalizedRecord {
                given: given.into_iter().map(name).collect(),
                family: family.into_iter().map(name).collect(),
                addresses: addresses
                    .into_iter()
                    .map(|(h, s, p)| NormalizedAddress {
                        house_number: h.into(),
                        street: s.into(),
                        postal_code: p.clone().into(),
                        city: p.into(),
                        ..Default::default()
                    })
                    .collect(),
                phones: phones.iter().map(Into::into).collect(),
                emails: phones.into_iter().map(Into::into).collect(),
                identifiers: ids
                    .into_iter()
                    .map(|(system, value)| NormalizedIdentifier {
                        system: system.into(),
                        value: value.into(),
                    })
                    .collect(),
                ..Default::default()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn scoring_hand_built_records_never_panics(a in raw_normalized(), b in raw_normalized()) {
        let model = Model::builtin();
        let score = model.score(&a, &b);
        prop_assert!(score.match_weight.is_finite());
        prop_assert!((0.0..=1.0).contains(&score.probability));
        prop_assert_eq!(model.explain(&a, &b).match_weight, score.match_weight);
    }

    #[test]
    fn metrics_are_symmetric_bounded_and_reflexive(a in "[a-zé ]{0,20}", b in "[a-zé ]{0,20}") {
        for sim in [jaro_winkler::similarity, levenshtein::similarity, damerau::similarity] {
            let (x, y) = (sim(&a, &b), sim(&b, &a));
            prop_assert!((x - y).abs() < 1e-12, "{x} vs {y}");
            prop_assert!((0.0..=1.0).contains(&x));
            prop_assert_eq!(sim(&a, &a), 1.0);
        }
    }

    #[test]
    fn fast_jaro_winkler_equals_strsim(a in "[a-c0-2p-r ]{0,70}", b in "[a-c0-2p-r ]{0,70}") {
        prop_assert_eq!(jaro_winkler::similarity(&a, &b), strsim::jaro_winkler(&a, &b));
    }

    #[test]
    fn one_edit_agrees_with_damerau_distance(a in "[0-3]{0,8}", b in "[0-3]{0,8}") {
        let osa_one = a != b && strsim::osa_distance(&a, &b) == 1;
        prop_assert_eq!(damerau::one_edit_or_transposition(&a, &b), osa_one);
    }

    #[test]
    fn folding_is_idempotent(s in "\\PC{0,30}") {
        let once = fold(&s);
        prop_assert_eq!(fold(&once), once);
    }

    #[test]
    fn normalization_is_idempotent(p in person()) {
        // A newborn placeholder given name ("Baby Girl", "ñb") leaves the names and is kept as
        // the record's maternity, which `raw_from` cannot write back.
        // So may the given part of a whole name in the given field (`NB Àa`), a run of its
        // first words.
        prop_assume!(matcher::maternity::newborn_placeholder(&p.given_names).is_none());
        let first_words = p.given_names.iter().flat_map(|g| {
            let words: Vec<&str> = g.split_whitespace().collect();
            (1..=words.len()).map(move |k| words[..k].join(" "))
        });
        prop_assume!(first_words
            .into_iter()
            .all(|g| matcher::maternity::newborn_placeholder(&[g]).is_none()));
        let once = normalize(&p);
        let twice = normalize(&raw_from(&once));
        prop_assert_eq!(twice, once);
    }

    #[test]
    fn scoring_is_symmetric(a in person(), b in person()) {
        let model = Model::builtin();
        let (a, b) = (normalize(&a), normalize(&b));
        prop_assert_eq!(model.score(&a, &b).match_weight, model.score(&b, &a).match_weight);
    }

    #[test]
    fn more_agreement_never_lowers_the_weight(a in person(), b in person(), field in 0usize..7) {
        let model = Model::builtin();
        let mut better = b.clone();
        match field {
            0 => { better.given_names = a.given_names.clone(); better.family_names = a.family_names.clone(); }
            1 => better.sex = a.sex,
            2 => better.birth_date = a.birth_date.clone(),
            3 => better.addresses = a.addresses.clone(),
            4 => better.phones = a.phones.clone(),
            5 => better.identifiers = a.identifiers.clone(),
            _ => better = a.clone(),
        }
        let (na, nb, nbetter) = (normalize(&a), normalize(&b), normalize(&better));
        // The one designed exception: agreement that turns a pair into a household (same family
        // name plus address or phone) switches the identity fields to their household u, so a
        // shared given name weighs less between people who live together (twins, juniors).
        // Monotonicity holds within one household context; across it the issue stays open.
        prop_assume!(model.pair_shares_household(&na, &nb) == model.pair_shares_household(&na, &nbetter));
        let (before, after) = (model.score(&na, &nb).match_weight, model.score(&na, &nbetter).match_weight);
        prop_assert!(after >= before - 1e-9, "field {field}: {before} -> {after}");
    }

    #[test]
    fn a_mononym_agrees_in_whichever_field_it_is_written(word in "[A-Z][a-z]{2,10}", x in 0usize..5, y in 0usize..5) {
        use matcher::compare::{compare_field, CompareParams, ComparisonKind};
        // The placeholders themselves ("Fnu") are no name at all.
        prop_assume!(!matches!(word.to_ascii_lowercase().as_str(), "fnu" | "lnu" | "nfn" | "nln"));
        let ways = [("", word.as_str()), (word.as_str(), ""), (word.as_str(), word.as_str()), ("FNU", word.as_str()), (word.as_str(), "LNU")];
        let rec = |(g, f): (&str, &str)| normalize(&PersonRecord {
            given_names: vec![g.to_owned()],
            family_names: vec![f.to_owned()],
            ..Default::default()
        });
        let (a, b) = (rec(ways[x]), rec(ways[y]));
        let params = CompareParams::default();
        let given = compare_field(ComparisonKind::GivenName, &params, &a, &b).level;
        let family = compare_field(ComparisonKind::FamilyName, &params, &a, &b).level;
        // Exact agreement on one of the two fields, never disagreement on the other.
        prop_assert!(given == Some(0) || family == Some(0), "{:?} {:?}: {given:?} {family:?}", ways[x], ways[y]);
        prop_assert!(given.is_none_or(|l| l == 0) && family.is_none_or(|l| l == 0));
    }

    #[test]
    fn a_whole_name_in_the_given_field_is_split_at_its_last_word(
        given in "[A-Z][a-z]{2,8}",
        family in "[A-Z][a-z]{2,8}",
    ) {
        let rec = |g: &str, f: &str| normalize(&PersonRecord {
            given_names: vec![g.to_owned()],
            family_names: vec![f.to_owned()],
            ..Default::default()
        });
        let split = rec(&given, &family);
        let whole = format!("{given} {family}");
        let in_given = rec(&whole, "");
        // Particles and titles keep their word with the name (`de la Cruz`, `Dr.`).
        prop_assume!(split.given.len() == 1 && split.family.len() == 1);
        prop_assume!(!matcher::normalize::is_particle(&split.given[0].text));
        prop_assume!(matcher::normalize::normalize_name_text(&whole).split(' ').count() == 2);
        prop_assert_eq!(&in_given.given, &split.given);
        prop_assert_eq!(&in_given.family, &split.family);
    }

    #[test]
    fn spelling_keys_are_symmetric_and_bounded(a in "[a-z]{0,12}", b in "[a-z]{0,12}") {
        prop_assert_eq!(umlaut_equal(&a, &b), umlaut_equal(&b, &a));
        prop_assert_eq!(spelling_variants(&a, &b), spelling_variants(&b, &a));
        prop_assert!(!umlaut_equal(&a, &a));
        let core = without_article(&a);
        prop_assert!(a.ends_with(core));
        prop_assert!(core == a || core.len() >= 3);
        prop_assert_eq!(without_article(&a), without_article(&a));
    }
}
