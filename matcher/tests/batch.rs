//! Batch deduplication and linkage: identical output whatever the thread count, linkage finding
//! each record's true counterpart, and the clustering chain guard on real scored records.

use std::collections::{BTreeMap, HashSet};

use matcher::batch::{BatchConfig, PairScorer, dedupe, link};
use matcher::{
    BirthDate, NormalizedAddress, NormalizedIdentifier, NormalizedName, NormalizedRecord,
};
use rphonetic::{DoubleMetaphone, Encoder};

/// A plain agreement/disagreement scorer over FEBRL's fields, standing in for a trained model.
struct FieldScorer;

fn agree(a: Option<&str>, b: Option<&str>, yes: f64, no: f64) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => {
            if a == b {
                yes
            } else if strsim::jaro_winkler(a, b) >= 0.9 {
                yes / 2.0
            } else {
                no
            }
        }
        _ => 0.0,
    }
}

fn first(r: &NormalizedRecord) -> Option<&str> {
    r.given.first().map(|n| n.text.as_str())
}
fn last(r: &NormalizedRecord) -> Option<&str> {
    r.family.first().map(|n| n.text.as_str())
}
fn id(r: &NormalizedRecord) -> Option<&str> {
    r.identifiers.first().map(|i| i.value.as_str())
}
fn post(r: &NormalizedRecord) -> Option<&str> {
    r.addresses.first().map(|x| x.postal_code.as_str())
}

impl PairScorer for FieldScorer {
    fn match_weight(&self, a: &NormalizedRecord, b: &NormalizedRecord) -> f64 {
        let dob = match (a.birth_date, b.birth_date) {
            (Some(x), Some(y)) if x == y => 7.0,
            (Some(_), Some(_)) => -5.0,
            _ => 0.0,
        };
        -10.0
            + agree(first(a), first(b), 5.0, -4.0)
            + agree(last(a), last(b), 6.0, -4.0)
            + agree(id(a), id(b), 9.0, -3.0)
            + agree(post(a), post(b), 3.0, -1.0)
            + dob
    }
}

fn name(text: &str) -> NormalizedName {
    NormalizedName {
        text: text.to_owned(),
        phonetic: matcher::PhoneticKeys {
            metaphone: DoubleMetaphone::default().encode(text),
            ..Default::default()
        },
        ..NormalizedName::default()
    }
}

fn febrl(file: &str) -> (Vec<NormalizedRecord>, Vec<u32>) {
    let path = format!(
        "{}/../../shared/data/febrl/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut records = Vec::new();
    let mut entities = Vec::new();
    for row in reader.records() {
        let row = row.expect("csv row");
        let field = |i: usize| row.get(i).unwrap_or("").to_owned();
        entities.push(
            field(0)
                .split('-')
                .nth(1)
                .expect("id")
                .parse()
                .expect("entity"),
        );
        let dob = field(9);
        let birth_date = (dob.len() == 8)
            .then(|| {
                Some(BirthDate {
                    year: dob[..4].parse().ok()?,
                    month: dob[4..6].parse().ok()?,
                    day: dob[6..].parse().ok()?,
                })
            })
            .flatten();
        let names = |s: String| if s.is_empty() { vec![] } else { vec![name(&s)] };
        records.push(NormalizedRecord {
            given: names(field(1)),
            family: names(field(2)),
            birth_date,
            addresses: vec![NormalizedAddress {
                postal_code: field(7),
                ..NormalizedAddress::default()
            }],
            identifiers: vec![NormalizedIdentifier {
                system: "ssn".to_owned(),
                value: field(10),
            }],
            ..NormalizedRecord::default()
        });
    }
    (records, entities)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

#[test]
fn dedupe_gives_the_same_result_on_one_and_four_threads() {
    let (records, entities) = febrl("dataset2.csv");
    let mut config = BatchConfig::default();
    config.cluster.link_threshold = 3.0;
    let one = pool(1).install(|| dedupe(&records, &FieldScorer, &config));
    let four = pool(4).install(|| dedupe(&records, &FieldScorer, &config));
    assert_eq!(one, four);
    assert!(
        one.pairs
            .windows(2)
            .all(|w| (w[0].a, w[0].b) < (w[1].a, w[1].b))
    );

    // And the clusters are the FEBRL persons, nearly always.
    let truth: HashSet<(u32, u32)> = {
        let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (i, &e) in entities.iter().enumerate() {
            groups.entry(e).or_default().push(i as u32);
        }
        groups
            .values()
            .flat_map(|m| {
                m.iter()
                    .enumerate()
                    .flat_map(move |(x, &a)| m[x + 1..].iter().map(move |&b| (a, b)))
            })
            .collect()
    };
    let mut predicted = HashSet::new();
    for c in &one.clustering.clusters {
        for (x, &a) in c.iter().enumerate() {
            for &b in &c[x + 1..] {
                predicted.insert((a, b));
            }
        }
    }
    let tp = predicted.intersection(&truth).count() as f64;
    let (precision, recall) = (tp / predicted.len() as f64, tp / truth.len() as f64);
    eprintln!(
        "FEBRL 2 clusters: {} candidate pairs, precision {precision:.4} recall {recall:.4}",
        one.candidate_pairs
    );
    assert!(
        precision > 0.98 && recall > 0.85,
        "precision {precision} recall {recall}"
    );
}

#[test]
fn link_finds_each_duplicate_original() {
    let (records, entities) = febrl("dataset1.csv");
    let (mut left, mut right, mut le, mut re) = (vec![], vec![], vec![], vec![]);
    for (i, r) in records.into_iter().enumerate() {
        if i % 2 == 0 {
            left.push(r);
            le.push(entities[i]);
        } else {
            right.push(r);
            re.push(entities[i]);
        }
    }
    let config = BatchConfig {
        max_matches: 1,
        review_threshold: 3.0,
        ..BatchConfig::default()
    };
    let result = pool(2).install(|| link(&left, &right, &FieldScorer, &config));
    assert_eq!(
        result,
        pool(1).install(|| link(&left, &right, &FieldScorer, &config))
    );
    // One best match per right record at most, in right-record order.
    assert!(result.matches.windows(2).all(|w| w[0].b < w[1].b));
    let linkable = re.iter().filter(|e| le.contains(e)).count();
    let correct = result
        .matches
        .iter()
        .filter(|m| le[m.a as usize] == re[m.b as usize])
        .count();
    eprintln!(
        "link: {} matches, {correct} correct of {linkable} linkable",
        result.matches.len()
    );
    assert!(correct as f64 >= 0.85 * linkable as f64);
    assert!(correct as f64 >= 0.98 * result.matches.len() as f64);
}

#[test]
fn a_chain_of_weak_links_does_not_become_one_person() {
    // Same family name, postcode and birth year; given names and days drift one step at a time,
    // so neighbours look alike and the ends are clearly different people.
    let given = ["anna", "anne", "annie", "ann", "hannah", "hanna"];
    let records: Vec<NormalizedRecord> = given
        .iter()
        .enumerate()
        .map(|(i, g)| NormalizedRecord {
            given: vec![name(g)],
            family: vec![name("kowalski")],
            birth_date: Some(BirthDate {
                year: 1960,
                month: 5,
                day: 10,
            }),
            addresses: vec![NormalizedAddress {
                postal_code: "4000".to_owned(),
                ..NormalizedAddress::default()
            }],
            identifiers: vec![NormalizedIdentifier {
                system: "ssn".to_owned(),
                value: format!("{}", 1_000_000 + i * 7_777),
            }],
            ..NormalizedRecord::default()
        })
        .collect();
    let mut config = BatchConfig::default();
    config.cluster.link_threshold = 1.0;
    config.cluster.max_diameter = 2;
    let result = dedupe(&records, &FieldScorer, &config);
    let largest = result
        .clustering
        .clusters
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(1);
    // Without the guard all six would be one component.
    let mut open = config.clone();
    open.cluster.max_diameter = usize::MAX;
    open.cluster.cannot_link_threshold = f64::NEG_INFINITY;
    let unguarded = dedupe(&records, &FieldScorer, &open);
    eprintln!(
        "guarded {:?} unguarded {:?}",
        result.clustering.clusters, unguarded.clustering.clusters
    );
    assert_eq!(unguarded.clustering.clusters.len(), 1);
    assert!(largest < records.len());
    assert!(result.clustering.refused_links > 0);
}
