//! Quality of the model fitted by EM without labels (what `mpi dedupe --input` uses without
//! `--model`) on synthetic records seen as the person CSV shows them, against the built-in model:
//! the fitted parameters, the estimated against the true number of matches among candidates,
//! pairwise precision and recall of `Certain` pairs and of the clusters, and the commonest
//! comparison patterns among false positives and false negatives.
//!
//! `cargo run --release -p matcher --example em_quality -- [RECORDS] [SEED]`
//!
//! With `EM_INTERNATIONAL=0.3` a share of the households is of an international origin (see
//! `GeneratorConfig::international`); the report then adds pairwise precision, recall and F1 of
//! the clusters per hard case (the true pairs with a record carrying the case, and the false
//! pairs put in one cluster with such a record), and for the pairs of the US-style population.
//! `EM_ESTIMATED_DOB=0.1` gives that share of persons an estimated birth date on their first
//! record, `EM_SEQUENTIAL_MRNS=1` numbers records in registration order (issue 32, sections 4
//! and 5).
//!
//! The clusters are formed as `mpi dedupe --input` forms them: a pair a review rule catches is
//! not a link (`matcher::batch::cluster_reviewed`); the pairwise and B-cubed figures of the
//! clusters formed without the rules (as the file mode did before) are printed too, and
//! `EM_CLUSTER_PLAIN=1` reports those clusters per hard case. `EM_REVIEW_RULES=anchor,sibling`
//! turns on the model's optional rules (`ReviewRules::require_anchor`, `sibling_guard`).
//!
//! `EM_TWIN_MOTHERS=1` gives every record of a twin its mother's identifier (one per household),
//! as a maternity ward registers newborns, so that the rule on twins of one mother can act
//! (the generator writes no mothers).
//!
//! `EM_NO_EMAIL=1` empties the e-mail column (the generator makes addresses from names and small
//! name pools, so at 1M strangers of one name share an address as no mail provider allows).
//!
//! `EM_HOUSEHOLD_GIVEN=1` fits the model with the given name's household distribution estimated
//! (`TrainConfig::household_given_name`). `EM_EXPLAIN_TWINS=N` prints the levels and weights of the first N pairs of twins scored
//! `Certain`.
//!
//! Prints counts, ratios and level names only: no record contents.
#![allow(clippy::print_stderr)]

use std::collections::HashMap;
use std::time::Instant;

use matcher::batch::{BatchConfig, cluster_reviewed, normalize_all};
use matcher::blocking::candidate_pairs;
use matcher::cluster::cluster;
use matcher::compare::compare_field;
use matcher::eval::Truth;
use matcher::scoring::{MatchDecision, ReviewRules, weight_of_probability};
use matcher::synth::{GeneratorConfig, HardCase, HardCases, NATIONAL_ID_SYSTEM, generate};
use matcher::training::{TrainConfig, train};
use matcher::{Address, Identifier, Model, NormalizedRecord, PersonRecord};

/// The record as the person CSV carries it: first address, phone, e-mail; national id and one
/// other identifier; current family name only.
fn csv_view(r: &PersonRecord) -> PersonRecord {
    let mut given = Vec::new();
    if let Some(g) = r.given_names.first() {
        given.push(g.clone());
    }
    if r.given_names.len() > 1 {
        given.push(r.given_names[1..].join(" "));
    }
    let address = r.addresses.first().map(|a| {
        let mut lines = Vec::new();
        if let Some(l) = a.lines.first() {
            lines.push(l.clone());
        }
        if a.lines.len() > 1 {
            lines.push(a.lines[1..].join(", "));
        }
        Address { lines, ..a.clone() }
    });
    let mut identifiers: Vec<_> = r
        .identifiers
        .iter()
        .filter(|i| i.system == NATIONAL_ID_SYSTEM)
        .take(1)
        .cloned()
        .collect();
    identifiers.extend(
        r.identifiers
            .iter()
            .filter(|i| i.system != NATIONAL_ID_SYSTEM)
            .take(1)
            .cloned(),
    );
    PersonRecord {
        given_names: given,
        family_names: r.family_names.first().cloned().into_iter().collect(),
        sex: r.sex,
        birth_date: r.birth_date.clone(),
        addresses: address.into_iter().collect(),
        phones: r.phones.first().cloned().into_iter().collect(),
        emails: r.emails.first().cloned().into_iter().collect(),
        identifiers,
        maternity: Default::default(),
    }
}

fn pattern(model: &Model, a: &NormalizedRecord, b: &NormalizedRecord) -> String {
    model
        .comparisons()
        .iter()
        .map(|c| match compare_field(c.kind(), c.params(), a, b).level {
            Some(l) => {
                let label = c.kind().level_labels()[l as usize];
                label.chars().take(4).collect::<String>()
            }
            None => "-".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

struct Data {
    records: Vec<NormalizedRecord>,
    cluster: Vec<u64>,
    household: Vec<u64>,
    cases: Vec<HardCases>,
    /// Records of persons of an international origin.
    international: Vec<bool>,
    candidates: Vec<(u32, u32)>,
}

fn evaluate(name: &str, model: &Model, data: &Data) {
    let truth =
        Truth::new(data.cluster.iter().enumerate().map(|(i, c)| (i as u32, *c))).expect("labels");
    let records = &data.records;
    let mut weighed: Vec<(u32, u32, f64)> = data
        .candidates
        .iter()
        .map(|&(a, b)| {
            (
                a,
                b,
                model
                    .score(&records[a as usize], &records[b as usize])
                    .match_weight,
            )
        })
        .collect();
    let certain = weight_of_probability(model.thresholds().certain);
    let mut tp = 0u64;
    let mut fp = 0u64;
    let mut fp_household = 0u64;
    let mut fp_patterns: HashMap<String, u64> = HashMap::new();
    let mut fn_patterns: HashMap<String, u64> = HashMap::new();
    let mut found = 0u64;
    let mut explain_twins: usize = std::env::var("EM_EXPLAIN_TWINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for &(a, b, w) in &weighed {
        let (x, y) = (&records[a as usize], &records[b as usize]);
        let same = data.cluster[a as usize] == data.cluster[b as usize];
        found += u64::from(same);
        let predicted =
            w >= certain && model.decide(&model.score(x, y), x, y) == MatchDecision::Certain;
        if predicted && same {
            tp += 1;
        } else if predicted {
            fp += 1;
            if data.household[a as usize] == data.household[b as usize] {
                fp_household += 1;
            }
            *fp_patterns.entry(pattern(model, x, y)).or_default() += 1;
            let twins = [a, b]
                .iter()
                .all(|&i| data.cases[i as usize].contains(HardCase::Twin));
            if twins && explain_twins > 0 {
                explain_twins -= 1;
                explain_levels(model, x, y);
            }
        } else if same {
            *fn_patterns.entry(pattern(model, x, y)).or_default() += 1;
        }
    }
    let true_pairs = truth.true_pairs();
    let p = tp as f64 / (tp + fp).max(1) as f64;
    let r = tp as f64 / true_pairs as f64;
    eprintln!(
        "[{name}] prior {:.3e} ({:.2} bits); candidates {} true among them {} (blocking recall {:.4}); certain pairs: P {p:.4} R {r:.4} F1 {:.4}; FP {fp} ({fp_household} same household)",
        model.prior(),
        model.prior_weight(),
        weighed.len(),
        found,
        found as f64 / true_pairs as f64,
        2.0 * p * r / (p + r)
    );
    let mut config = BatchConfig::for_model(model).cluster;
    config.link_threshold = certain;
    let ids: Vec<u32> = (0..records.len() as u32).collect();
    let plain = cluster(records.len(), &weighed, &config);
    let review_threshold = BatchConfig::for_model(model).review_threshold;
    let (reviewed, held) =
        cluster_reviewed(model, records, &mut weighed, &config, review_threshold);
    let held_true = held
        .iter()
        .filter(|&&(i, _)| {
            let (a, b, _) = weighed[i];
            data.cluster[a as usize] == data.cluster[b as usize]
        })
        .count();
    eprintln!(
        "[{name}] pairs held back by a review rule: {} ({held_true} of them true matches)",
        held.len()
    );
    for (what, clustering) in [
        ("clusters without the review rules", &plain),
        ("clusters", &reviewed),
    ] {
        let m = truth
            .clusters(ids.iter().zip(clustering.labels.iter().copied()))
            .expect("clusters");
        eprintln!(
            "[{name}] {what}: pairwise P {:.4} R {:.4} F1 {:.4}; B-cubed P {:.4} R {:.4} F1 {:.4}",
            m.pairwise.precision,
            m.pairwise.recall,
            m.pairwise.f1,
            m.bcubed.precision,
            m.bcubed.recall,
            m.bcubed.f1
        );
    }
    let clustering = if std::env::var_os("EM_CLUSTER_PLAIN").is_some() {
        plain
    } else {
        reviewed
    };
    report_by_case(data, &clustering.labels);
    let heads = model
        .comparisons()
        .iter()
        .map(|c| c.name().chars().take(4).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ");
    for (what, patterns) in [("FP", fp_patterns), ("FN", fn_patterns)] {
        let mut v: Vec<_> = patterns.into_iter().collect();
        v.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        eprintln!("  {what} patterns ({heads}):");
        for (pat, count) in v.iter().take(12) {
            eprintln!("    {count:7}  {pat}");
        }
    }
}

/// A false-positive pair's explanation without its values: per comparison the level and its
/// weight against strangers, and what the household mixture took off (`EM_EXPLAIN_TWINS=N` prints
/// the first N pairs of twins scored `Certain`).
fn explain_levels(model: &Model, a: &NormalizedRecord, b: &NormalizedRecord) {
    let e = model.explain(a, b);
    let parts = e
        .comparisons
        .iter()
        .map(|c| format!("{}={}:{:+.1}", c.comparison, c.level, c.weight))
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!(
        "  twins FP: weight {:.1} household {:+.1}; {parts}",
        e.match_weight, e.household_cap_adjustment
    );
}

/// Pairwise precision, recall and F1 of the clusters per hard case, and over the pairs of the
/// US-style population (both records without an international origin).
fn report_by_case(data: &Data, labels: &[u32]) {
    const US: usize = HardCase::ALL.len();
    // Per case (and the US-style pairs last): true pairs, true pairs linked, false pairs linked.
    let mut counts = vec![(0u64, 0u64, 0u64); US + 1];
    let mut tally = |a: usize, b: usize, same: bool, linked: bool| {
        let mut involved = data.cases[a];
        for c in data.cases[b].iter() {
            involved.insert(c);
        }
        let slots = involved
            .iter()
            .map(|c| c as usize)
            .chain((!data.international[a] && !data.international[b]).then_some(US));
        for i in slots {
            let t = &mut counts[i];
            t.0 += u64::from(same);
            t.1 += u64::from(same && linked);
            t.2 += u64::from(!same && linked);
        }
    };
    let mut by_cluster: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, c) in data.cluster.iter().enumerate() {
        by_cluster.entry(*c).or_default().push(i);
    }
    for members in by_cluster.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                tally(a, b, true, labels[a] == labels[b]);
            }
        }
    }
    let mut by_label: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, l) in labels.iter().enumerate() {
        by_label.entry(*l).or_default().push(i);
    }
    for members in by_label.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                if data.cluster[a] != data.cluster[b] {
                    tally(a, b, false, true);
                }
            }
        }
    }
    eprintln!(
        "  {:<16} {:>8} {:>7} {:>7} {:>7} {:>6}",
        "pairs with", "true", "P", "R", "F1", "FP"
    );
    let names = HardCase::ALL
        .iter()
        .map(|c| c.name())
        .chain(std::iter::once("us_style"));
    for (name, &(true_pairs, tp, fp)) in names.zip(&counts) {
        if true_pairs == 0 && fp == 0 {
            continue;
        }
        let p = tp as f64 / (tp + fp).max(1) as f64;
        let r = tp as f64 / true_pairs.max(1) as f64;
        let f1 = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        eprintln!("  {name:<16} {true_pairs:>8} {p:>7.4} {r:>7.4} {f1:>7.4} {fp:>6}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let seed: u64 = args.next().map_or(Ok(7), |s| s.parse())?;
    let clock = Instant::now();
    let international: f64 = std::env::var("EM_INTERNATIONAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let mut config = GeneratorConfig {
        records: n,
        seed,
        international,
        sequential_mrns: std::env::var_os("EM_SEQUENTIAL_MRNS").is_some(),
        ..Default::default()
    };
    if let Some(rate) = std::env::var("EM_ESTIMATED_DOB")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.rates.estimated_birth_date = rate;
    }
    let synthetic = generate(&config);
    let dense: Option<u16> = std::env::var("EM_DENSE_YEARS")
        .ok()
        .and_then(|v| v.parse().ok());
    let twin_mothers = std::env::var_os("EM_TWIN_MOTHERS").is_some();
    let no_email = std::env::var_os("EM_NO_EMAIL").is_some();
    let raw: Vec<PersonRecord> = synthetic
        .iter()
        .map(|s| {
            let mut r = csv_view(&s.record);
            if no_email {
                r.emails.clear();
            }
            if twin_mothers && s.cases.contains(HardCase::Twin) {
                // The twins' mother, known to the facility: one identifier per household.
                r.maternity.mother_identifier = Some(Identifier {
                    system: "urn:em:mother".to_owned(),
                    value: format!("H{}", s.household_id),
                });
            }
            if let (Some(years), Some(d)) = (dense, r.birth_date.as_mut()) {
                // Everyone born within a few years (a paediatric registry).
                let digits: String = d.chars().filter(char::is_ascii_digit).collect();
                if let Ok(year) = digits[..4].parse::<u16>() {
                    *d = format!("{}{}", 2010 + year % years, &digits[4..]);
                }
            }
            r
        })
        .collect();
    let records = normalize_all(&raw);
    drop(raw);
    let cluster: Vec<u64> = synthetic.iter().map(|s| s.cluster_id).collect();
    let household: Vec<u64> = synthetic.iter().map(|s| s.household_id).collect();
    let cases: Vec<HardCases> = synthetic.iter().map(|s| s.cases).collect();
    let international_record: Vec<bool> = synthetic.iter().map(|s| s.origin.is_some()).collect();
    drop(synthetic);
    let candidates = candidate_pairs(&records, &BatchConfig::default().blocking);
    eprintln!(
        "{n} records, {} candidate pairs in {:.1} s",
        candidates.len(),
        clock.elapsed().as_secs_f64()
    );
    let data = Data {
        records,
        cluster,
        household,
        cases,
        international: international_record,
        candidates,
    };
    let clock = Instant::now();
    let config = TrainConfig {
        household_given_name: std::env::var_os("EM_HOUSEHOLD_GIVEN").is_some(),
        ..TrainConfig::default()
    };
    let report = train(&data.records, &data.candidates, &config)?;
    let true_share = data
        .candidates
        .iter()
        .filter(|&&(a, b)| data.cluster[a as usize] == data.cluster[b as usize])
        .count() as f64
        / data.candidates.len() as f64;
    eprintln!(
        "EM: {:.1} s, {} iterations, converged {}, {} patterns, share of matches among candidates {:.4} (true {true_share:.4}), prior {:.3e}, household share {:.3e} (twins {:.3}, juniors {:.3})",
        clock.elapsed().as_secs_f64(),
        report.iterations,
        report.converged,
        report.patterns,
        report.candidate_match_share,
        report.prior,
        report.household_share,
        report.twins,
        report.juniors,
    );
    for l in &report.levels {
        eprintln!(
            "  {:12} {:28} m {:.5} u {:.2e} u_household {:.2e}",
            l.comparison, l.level, l.m, l.u, l.u_household
        );
    }
    let rules = std::env::var("EM_REVIEW_RULES").unwrap_or_default();
    let rules = ReviewRules {
        require_anchor: rules.contains("anchor"),
        sibling_guard: rules.contains("sibling"),
    };
    evaluate("EM", &report.model.clone().with_review_rules(rules), &data);
    if std::env::var_os("EM_ONLY").is_none() {
        evaluate("builtin", &Model::builtin().with_review_rules(rules), &data);
    }
    Ok(())
}
