//! The model EM fits without labels must stay precise as the data grows, on data with real
//! households. A record has ten times as many strangers to agree with in 1M records as in 100k,
//! so the same agreement (a given name and a birth date) must weigh less: the prior is a share of
//! all pairs, not of the candidate pairs. The earlier two-class EM over candidate pairs kept its
//! prior at the share of matches among candidates whatever the size and reached pairwise
//! precision 0.60 on 1M synthetic records; its fitted prior did not move between the two sizes
//! below.

use matcher::batch::normalize_all;
use matcher::blocking::{BlockingConfig, candidate_pairs};
use matcher::scoring::MatchDecision;
use matcher::synth::{GeneratorConfig, generate};
use matcher::training::{TrainConfig, TrainReport, train};
use matcher::{NormalizedRecord, PersonRecord, Sex, normalize};

struct Fit {
    report: TrainReport,
    records: Vec<NormalizedRecord>,
    persons: Vec<u64>,
    candidates: Vec<(u32, u32)>,
}

fn fit(records: usize) -> Fit {
    let synthetic = generate(&GeneratorConfig {
        records,
        seed: 5,
        ..Default::default()
    });
    let raw: Vec<PersonRecord> = synthetic.iter().map(|s| s.record.clone()).collect();
    let records = normalize_all(&raw);
    let candidates = candidate_pairs(&records, &BlockingConfig::batch());
    let config = TrainConfig {
        random_pairs: 100_000,
        ..Default::default()
    };
    let report = train(&records, &candidates, &config).expect("training succeeds");
    Fit {
        report,
        records,
        persons: synthetic.iter().map(|s| s.cluster_id).collect(),
        candidates,
    }
}

/// Precision and recall of the `Certain` candidate pairs, and the true share of matches among
/// candidates.
fn quality(fit: &Fit) -> (f64, f64, f64) {
    let model = &fit.report.model;
    let (mut tp, mut fp, mut found) = (0u64, 0u64, 0u64);
    for &(i, j) in &fit.candidates {
        let (a, b) = (&fit.records[i as usize], &fit.records[j as usize]);
        let same = fit.persons[i as usize] == fit.persons[j as usize];
        found += u64::from(same);
        if model.decide(&model.score(a, b), a, b) == MatchDecision::Certain {
            if same {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    (
        tp as f64 / (tp + fp).max(1) as f64,
        tp as f64 / found.max(1) as f64,
        found as f64 / fit.candidates.len() as f64,
    )
}

#[test]
fn fitted_model_stays_precise_as_the_data_grows() {
    let small = fit(8_000);
    let large = fit(32_000);

    for (name, f) in [("8k", &small), ("32k", &large)] {
        let (precision, recall, share) = quality(f);
        eprintln!(
            "{name}: prior {:.3e}, match share among candidates {:.4} (true {share:.4}), household share {:.2e}, certain pairs precision {precision:.4} recall {recall:.4}",
            f.report.prior, f.report.candidate_match_share, f.report.household_share
        );
        // EM found the match / non-match split, not another one.
        assert!(
            (f.report.candidate_match_share - share).abs() < 0.1 * share,
            "{name}: EM's share of matches among candidates {} vs true {share}",
            f.report.candidate_match_share
        );
        assert!(precision >= 0.99, "{name}: precision {precision}");
        assert!(recall >= 0.96, "{name}: recall {recall}");
    }

    // Four times the records: sixteen times the pairs, four times the matches, so the prior of
    // a pair falls by about two bits.
    let drop = small.report.model.prior_weight() - large.report.model.prior_weight();
    assert!(
        (1.4..=2.6).contains(&drop),
        "prior weight fell by {drop} bits"
    );

    // Two strangers who share only a given name, a birth date and sex weigh less in the larger
    // set, and are not linked there.
    let person = |family: &str| {
        normalize(&PersonRecord {
            given_names: vec!["Mary".into()],
            family_names: vec![family.into()],
            sex: Some(Sex::Female),
            birth_date: Some("1980-05-17".into()),
            ..Default::default()
        })
    };
    let (a, b) = (person("Okafor"), person("Lindqvist"));
    let (w_small, w_large) = (
        small.report.model.score(&a, &b).match_weight,
        large.report.model.score(&a, &b).match_weight,
    );
    assert!(w_large < w_small - 0.5, "{w_small} -> {w_large}");
    for model in [&small.report.model, &large.report.model] {
        assert!(model.decide(&model.score(&a, &b), &a, &b) < MatchDecision::Certain);
    }
}
