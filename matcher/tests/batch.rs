//! Batch deduplication and linkage: identical output whatever the thread count, linkage finding
//! each record's true counterpart, and the clustering chain guard on real scored records.

mod common;
use common::febrl;
use std::collections::{BTreeMap, HashSet};

use matcher::batch::{BatchConfig, dedupe, link};
use matcher::normalize::normalize;
use matcher::scoring::Model;
use matcher::{Address, NormalizedRecord, PersonRecord};

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

#[test]
fn dedupe_gives_the_same_result_on_one_and_four_threads() {
    let (records, entities) = febrl("dataset2.csv");
    let model = Model::builtin();
    let config = BatchConfig::for_model(&model);
    let one = pool(1).install(|| dedupe(&records, &model, &config));
    let four = pool(4).install(|| dedupe(&records, &model, &config));
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
        precision > 0.99 && recall > 0.93,
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
    let model = Model::builtin();
    let config = BatchConfig {
        max_matches: 1,
        ..BatchConfig::default()
    };
    let result = pool(2).install(|| link(&left, &right, &model, &config));
    assert_eq!(
        result,
        pool(1).install(|| link(&left, &right, &model, &config))
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
    assert!(correct as f64 >= 0.98 * linkable as f64);
    assert!(correct as f64 >= 0.98 * result.matches.len() as f64);
}

#[test]
fn a_chain_of_weak_links_does_not_become_one_person() {
    // One household: same family name, address and phone; given names and birth dates drift one
    // step at a time, so neighbours look alike and the ends are clearly different people.
    let people = [
        ("anna", "1960-05-10"),
        ("anne", "1960-05-10"),
        ("annie", "1960-05-01"),
        ("ann", "1961-05-01"),
        ("hannah", "1961-01-05"),
        ("hanna", "1971-01-05"),
    ];
    let raw: Vec<PersonRecord> = people
        .iter()
        .map(|(given, dob)| PersonRecord {
            given_names: vec![(*given).to_owned()],
            family_names: vec!["Kowalski".to_owned()],
            birth_date: Some((*dob).to_owned()),
            addresses: vec![Address {
                lines: vec!["12 Elm Street".to_owned()],
                city: Some("Springfield".to_owned()),
                postal_code: Some("4000".to_owned()),
                ..Address::default()
            }],
            phones: vec!["555 123 4567".to_owned()],
            ..PersonRecord::default()
        })
        .collect();
    let records: Vec<NormalizedRecord> = raw.iter().map(normalize).collect();
    let model = Model::builtin();
    // Link at the chain's weakest neighbour link, so without the guard the whole chain is one
    // component whatever the model's exact weights.
    let weakest = (0..records.len() - 1)
        .map(|i| model.score(&records[i], &records[i + 1]).match_weight)
        .fold(f64::INFINITY, f64::min);
    let ends = model.score(&records[0], &records[5]).match_weight;
    eprintln!("weakest neighbour link {weakest:.1}, ends {ends:.1}");
    assert!(
        weakest > ends + 4.0,
        "the chain must be stronger than its ends"
    );
    let mut guarded = BatchConfig::for_model(&model);
    guarded.review_threshold = f64::NEG_INFINITY;
    guarded.cluster.link_threshold = weakest;
    guarded.cluster.max_diameter = 2;
    let mut open = guarded.clone();
    open.cluster.max_diameter = usize::MAX;
    open.cluster.cannot_link_threshold = f64::NEG_INFINITY;
    let unguarded = dedupe(&records, &model, &open);
    let guarded = dedupe(&records, &model, &guarded);
    eprintln!(
        "guarded {:?} unguarded {:?}",
        guarded.clustering.clusters, unguarded.clustering.clusters
    );
    assert_eq!(
        unguarded.clustering.clusters,
        vec![(0..6).collect::<Vec<u32>>()]
    );
    let labels = &guarded.clustering.labels;
    assert_ne!(
        labels[0], labels[5],
        "the ends of the chain must stay apart"
    );
    assert!(guarded.clustering.refused_links > 0);
}

#[test]
fn review_rules_keep_twins_and_placeholders_out_of_clusters() {
    use matcher::batch::cluster_reviewed;
    use matcher::cluster::{ClusterConfig, cluster};
    use matcher::record::{Identifier, Maternity};
    use matcher::scoring::ReviewReason;

    let child = |given: &str, family: &str, mother: Option<&str>| {
        normalize(&PersonRecord {
            given_names: vec![given.to_owned()],
            family_names: vec![family.to_owned()],
            birth_date: Some("2026-10-01".to_owned()),
            maternity: Maternity {
                mother_identifier: mother.map(|v| Identifier {
                    system: "urn:test:mrn".to_owned(),
                    value: v.to_owned(),
                }),
                ..Maternity::default()
            },
            ..PersonRecord::default()
        })
    };
    // Twins of one mother, a newborn placeholder naming her (either twin's match), two
    // "Baby Boy" newborns without a mother, one person registered twice.
    let records = vec![
        child("Ava", "Khumalo", Some("M-1")),
        child("Zoe", "Khumalo", Some("M-1")),
        child("Baby Girl", "Khumalo", Some("M-1")),
        child("Baby Boy", "Okafor", None),
        child("Baby Boy", "Okafor", None),
        child("Margaret", "Whitfield", None),
        child("Margeret", "Whitfield", None),
    ];
    // Every pair weighs far above the link threshold: only the rules keep pairs apart.
    let original = vec![
        (0, 1, 30.0),
        (0, 2, 29.0),
        (1, 2, 29.0),
        (3, 4, 30.0),
        (5, 6, 30.0),
    ];
    let config = ClusterConfig {
        link_threshold: 10.0,
        ..ClusterConfig::default()
    };
    let model = Model::builtin();
    assert_eq!(
        cluster(records.len(), &original, &config).clusters,
        vec![vec![0, 1, 2], vec![3, 4], vec![5, 6]]
    );
    let mut weighed = original.clone();
    let (clustering, held) = cluster_reviewed(&model, &records, &mut weighed, &config, 5.0);
    assert_eq!(weighed, original, "the weights are restored");
    assert_eq!(
        held,
        vec![
            (0, ReviewReason::TwinsOfOneMother),
            (3, ReviewReason::Placeholder)
        ]
    );
    // The placeholder newborn joins the first twin (equal weights: the lower pair first), and
    // cannot then bring in the second.
    assert_eq!(clustering.clusters, vec![vec![0, 2], vec![5, 6]]);
    let four = pool(4).install(|| cluster_reviewed(&model, &records, &mut weighed, &config, 5.0));
    assert_eq!(four, (clustering, held));

    // Twins whose own pair is only in the review band, each linked to the newborn placeholder:
    // held from the review threshold up, as the database job does, so the placeholder joins one
    // twin only. Below the review threshold the rule is not asked, and the pair is left alone.
    let band = vec![(0, 1, 7.0), (0, 2, 29.0), (1, 2, 29.0)];
    assert_eq!(
        cluster(3, &band, &config).clusters,
        vec![vec![0, 1, 2]],
        "without the rule the placeholder joins both twins"
    );
    let mut weighed = band.clone();
    let (clustering, held) = cluster_reviewed(&model, &records[..3], &mut weighed, &config, 5.0);
    assert_eq!(weighed, band, "the weights are restored");
    assert_eq!(held, vec![(0, ReviewReason::TwinsOfOneMother)]);
    assert_eq!(clustering.clusters, vec![vec![0, 2]]);
    let (clustering, held) = cluster_reviewed(&model, &records[..3], &mut weighed, &config, 8.0);
    assert!(
        held.is_empty(),
        "a pair below the review threshold is not asked"
    );
    assert_eq!(clustering.clusters, vec![vec![0, 1, 2]]);
}
