//! Expectation-maximisation recovers known parameters: comparison patterns are drawn from a
//! Fellegi-Sunter mixture with known lambda, m and u; EM, started away from the truth, must find
//! them again within a tolerance. Then the same through `train` on records built so that their
//! field agreements follow known m.

use matcher::normalize::normalize;
use matcher::training::{EmParams, PatternCount, TrainConfig, em, train};
use matcher::{Identifier, PersonRecord};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

fn draw(rng: &mut ChaCha8Rng, probabilities: &[f64]) -> u8 {
    let x: f64 = rng.random();
    let mut acc = 0.0;
    for (i, p) in probabilities.iter().enumerate() {
        acc += p;
        if x < acc {
            return i as u8;
        }
    }
    (probabilities.len() - 1) as u8
}

#[test]
fn em_recovers_lambda_m_and_u() {
    let truth = EmParams {
        lambda: 0.15,
        m: vec![
            vec![0.85, 0.10, 0.05],
            vec![0.90, 0.07, 0.03],
            vec![0.80, 0.20],
            vec![0.70, 0.20, 0.10],
            vec![0.95, 0.05],
        ],
        u: vec![
            vec![0.02, 0.08, 0.90],
            vec![0.05, 0.05, 0.90],
            vec![0.10, 0.90],
            vec![0.01, 0.09, 0.90],
            vec![0.50, 0.50],
        ],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut counts: BTreeMap<Vec<Option<u8>>, f64> = BTreeMap::new();
    for _ in 0..200_000 {
        let is_match = rng.random::<f64>() < truth.lambda;
        let table = if is_match { &truth.m } else { &truth.u };
        let levels: Vec<Option<u8>> = table
            .iter()
            .map(|row| {
                // 5% of values missing, independent of match status.
                (rng.random::<f64>() >= 0.05).then(|| draw(&mut rng, row))
            })
            .collect();
        *counts.entry(levels).or_default() += 1.0;
    }
    let patterns: Vec<PatternCount> = counts
        .into_iter()
        .map(|(levels, count)| PatternCount { levels, count })
        .collect();
    // Start from a neutral guess: every m favours the first level, every u the last.
    let start = EmParams {
        lambda: 0.3,
        m: truth
            .m
            .iter()
            .map(|r| {
                let mut v = vec![0.3 / (r.len() - 1) as f64; r.len()];
                v[0] = 0.7;
                v
            })
            .collect(),
        u: truth
            .u
            .iter()
            .map(|r| {
                let mut v = vec![0.3 / (r.len() - 1) as f64; r.len()];
                v[r.len() - 1] = 0.7;
                v
            })
            .collect(),
    };
    let free = vec![true; truth.m.len()];
    let fit = em(&patterns, &start, &free, 500, 1e-8).unwrap();
    assert!(
        fit.converged,
        "EM did not converge in {} iterations",
        fit.iterations
    );
    assert!(
        (fit.params.lambda - truth.lambda).abs() < 0.01,
        "lambda {}",
        fit.params.lambda
    );
    for k in 0..truth.m.len() {
        for l in 0..truth.m[k].len() {
            let (m, u) = (fit.params.m[k][l], fit.params.u[k][l]);
            assert!(
                (m - truth.m[k][l]).abs() < 0.02,
                "m[{k}][{l}] = {m}, truth {}",
                truth.m[k][l]
            );
            assert!(
                (u - truth.u[k][l]).abs() < 0.02,
                "u[{k}][{l}] = {u}, truth {}",
                truth.u[k][l]
            );
        }
    }
}

#[test]
fn em_with_fixed_u_keeps_u_and_recovers_m() {
    let m_true = [0.9, 0.1];
    let u_true = [0.05, 0.95];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut counts: BTreeMap<Vec<Option<u8>>, f64> = BTreeMap::new();
    for _ in 0..100_000 {
        let is_match = rng.random::<f64>() < 0.2;
        let row = if is_match { &m_true } else { &u_true };
        let levels = (0..3).map(|_| Some(draw(&mut rng, row))).collect();
        *counts.entry(levels).or_default() += 1.0;
    }
    let patterns: Vec<PatternCount> = counts
        .into_iter()
        .map(|(levels, count)| PatternCount { levels, count })
        .collect();
    let start = EmParams {
        lambda: 0.5,
        m: vec![vec![0.6, 0.4]; 3],
        u: vec![u_true.to_vec(); 3],
    };
    let fit = em(&patterns, &start, &[false, false, false], 500, 1e-9).unwrap();
    assert!(
        (fit.params.lambda - 0.2).abs() < 0.01,
        "lambda {}",
        fit.params.lambda
    );
    for k in 0..3 {
        assert_eq!(fit.params.u[k], u_true.to_vec());
        assert!(
            (fit.params.m[k][0] - 0.9).abs() < 0.015,
            "m {}",
            fit.params.m[k][0]
        );
    }
}

/// Records in pairs: a true pair agrees on the identifier with probability 0.9 and on the birth
/// date with probability 0.8; a non-pair never does by construction (values unique per person).
/// Given names agree exactly with probability 0.85 on true pairs.
#[test]
fn train_recovers_m_of_generated_pairs() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let given = [
        "anna", "bruno", "clara", "dmitri", "elena", "farid", "greta", "hugo", "ines", "jonas",
        "kira", "lars",
    ];
    let mut records = Vec::new();
    let mut pairs = Vec::new();
    let person = |g: String, f: String, dob: String, id: String| {
        normalize(&PersonRecord {
            given_names: vec![g],
            family_names: vec![f],
            birth_date: Some(dob),
            identifiers: vec![Identifier {
                system: "nid".into(),
                value: id,
            }],
            ..Default::default()
        })
    };
    let persons = 3_000;
    for p in 0..persons {
        let g = given[rng.random_range(0..given.len())].to_owned();
        let f = format!("fam{}", rng.random_range(0..400));
        let dob = format!(
            "19{:02}-{:02}-{:02}",
            20 + p % 80,
            1 + p % 12,
            1 + (p / 12) % 28
        );
        let id = format!("{:07}", 1_000_000 + p * 7);
        let a = person(g.clone(), f.clone(), dob.clone(), id.clone());
        let g2 = if rng.random::<f64>() < 0.85 {
            g
        } else {
            format!("x{}", rng.random_range(0..100_000))
        };
        let dob2 = if rng.random::<f64>() < 0.8 {
            dob
        } else {
            format!("18{:02}-06-15", 60 + p % 40)
        };
        let id2 = if rng.random::<f64>() < 0.9 {
            id
        } else {
            format!("{:07}", 9_000_000 - p * 13)
        };
        let b = person(g2, f, dob2, id2);
        let i = records.len() as u32;
        records.push(a);
        records.push(b);
        pairs.push((i, i + 1));
        // A non-matching candidate: this person's first record against the previous person's.
        if i >= 2 {
            pairs.push((i - 2, i));
        }
    }
    let report = train(
        &records,
        &pairs,
        &TrainConfig {
            random_pairs: 100_000,
            ..Default::default()
        },
    )
    .unwrap();
    let m = |comparison: &str, level: &str| {
        report
            .levels
            .iter()
            .find(|l| l.comparison == comparison && l.level == level)
            .map(|l| l.m)
            .unwrap()
    };
    assert!(
        (report.candidate_match_share - 0.5).abs() < 0.02,
        "share of matches among candidates {}",
        report.candidate_match_share
    );
    assert!(
        (m("identifier", "exact") - 0.9).abs() < 0.03,
        "{}",
        m("identifier", "exact")
    );
    assert!(
        (m("birth_date", "exact") - 0.8).abs() < 0.03,
        "{}",
        m("birth_date", "exact")
    );
    assert!(
        (m("given_name", "exact") - 0.85).abs() < 0.03,
        "{}",
        m("given_name", "exact")
    );
}

/// Placeholder birth dates: a tenth of the people have an unknown date, written 1 January of an
/// estimated year. Training learns those dates from the input (a term-frequency table of the
/// over-represented dates), so agreeing on one weighs less than agreeing on a typical date, and
/// a placeholder against a real date of the same year is partial agreement.
#[test]
fn placeholder_birth_dates_are_learned_and_weigh_little() {
    use matcher::blocking::{BlockingConfig, candidate_pairs};
    use matcher::compare::ComparisonKind;
    use matcher::synth::{GeneratorConfig, generate};
    let mut raw: Vec<PersonRecord> = generate(&GeneratorConfig {
        records: 20_000,
        seed: 3,
        ..Default::default()
    })
    .into_iter()
    .map(|r| r.record)
    .collect();
    let mut placeholders = 0;
    for (i, r) in raw.iter_mut().enumerate() {
        if i % 10 == 0
            && let Some(year) = r
                .birth_date
                .as_deref()
                .and_then(|d| d.get(..4))
                .map(str::to_owned)
        {
            r.birth_date = Some(format!("{year}-01-01"));
            placeholders += 1;
        }
    }
    assert!(placeholders > 1_500);
    let records: Vec<_> = raw.iter().map(normalize).collect();
    let pairs = candidate_pairs(&records, &BlockingConfig::batch());
    let model = train(&records, &pairs, &TrainConfig::default())
        .expect("training")
        .model;
    let birth = model
        .comparisons()
        .iter()
        .find(|c| c.kind() == ComparisonKind::BirthDate)
        .expect("birth date comparison");
    let table = birth.term_frequencies();
    assert!(table.len() >= 20, "{table:?}");
    assert!(table.keys().all(|d| d.ends_with("-01-01")), "{table:?}");

    let person = |dob: &str| {
        normalize(&PersonRecord {
            given_names: vec!["Olwen".into()],
            family_names: vec!["Pryce".into()],
            birth_date: Some(dob.into()),
            ..Default::default()
        })
    };
    let weight = |a: &str, b: &str| model.score(&person(a), &person(b)).match_weight;
    let placeholder_key = table.keys().next().expect("a placeholder").clone();
    let year = &placeholder_key[..4];
    let real = format!("{year}-06-17");
    assert!(
        weight(&placeholder_key, &placeholder_key) + 1.0 < weight(&real, &real),
        "agreeing on a placeholder weighs less: {} vs {}",
        weight(&placeholder_key, &placeholder_key),
        weight(&real, &real)
    );
    let explanation = model.explain(&person(&placeholder_key), &person(&real));
    let level = explanation
        .comparisons
        .iter()
        .find(|c| c.comparison == "birth_date")
        .map(|c| c.level.clone());
    assert_eq!(level.as_deref(), Some("coarser_precision"));
    assert!(
        weight(&placeholder_key, &real)
            > weight(
                &placeholder_key,
                &format!("{}-06-17", year.parse::<u32>().unwrap() + 7)
            )
    );
}

/// Siblings and twins of families that give a generation syllable or a shared first part of a
/// compound name agree on the given name at `shared_part` far more often than strangers do:
/// training estimates that level's household share, and leaves the other given-name levels at the
/// strangers' u (so that the household class cannot take matches with a mistyped given name).
#[test]
fn households_share_given_name_parts_more_than_strangers() {
    use matcher::batch::{BatchConfig, normalize_all};
    use matcher::blocking::candidate_pairs;
    use matcher::synth::{GeneratorConfig, generate};
    let raw: Vec<PersonRecord> = generate(&GeneratorConfig {
        records: 30_000,
        seed: 5,
        international: 0.5,
        ..Default::default()
    })
    .into_iter()
    .map(|s| s.record)
    .collect();
    let records = normalize_all(&raw);
    let pairs = candidate_pairs(&records, &BatchConfig::default().blocking);
    let given = |config: &TrainConfig| {
        train(&records, &pairs, config)
            .expect("trains")
            .levels
            .into_iter()
            .filter(|l| l.comparison == "given_name")
            .map(|l| (l.level, l.u, l.u_household))
            .collect::<Vec<_>>()
    };
    let levels = given(&TrainConfig::default());
    let &(_, shared_u, shared_household) = levels
        .iter()
        .find(|(level, _, _)| level == "shared_part")
        .expect("a shared_part level");
    assert!(
        shared_household > 2.0 * shared_u,
        "u {shared_u}, household {shared_household}"
    );
    for (level, u, household) in levels.iter().filter(|(l, _, _)| l != "shared_part") {
        // The other levels share what is left in the strangers' proportions.
        let expected = u / (1.0 - shared_u) * (1.0 - shared_household);
        assert!(
            (household - expected).abs() <= 1e-9 + 1e-6 * expected,
            "{level}: u {u}, household {household}"
        );
    }
    // Off, the household members agree on every given-name level as strangers do.
    let off = given(&TrainConfig {
        household_shared_part: false,
        ..TrainConfig::default()
    });
    assert!(
        off.iter().all(|(_, u, household)| u == household),
        "{off:?}"
    );
}
