//! Candidate selection: `CandidateIndex` insert/update/remove/query behaviour, frequency caps,
//! batch candidate pairs, and blocking recall (pair completeness) on the FEBRL sets.

mod common;
use common::febrl;
use std::collections::{BTreeMap, HashSet};

use matcher::blocking::{BlockingConfig, CandidateIndex, candidate_pairs, candidate_pairs_between};
use matcher::normalize::normalize_name;
use matcher::{BirthDate, NormalizedAddress, NormalizedName, NormalizedRecord};

fn name(text: &str) -> NormalizedName {
    normalize_name(text)
}

fn person(given: &str, family: &str, dob: Option<(u16, u8, u8)>, postal: &str) -> NormalizedRecord {
    NormalizedRecord {
        given: vec![name(given)],
        family: vec![name(family)],
        birth_date: dob.map(|(year, month, day)| BirthDate { year, month, day }),
        addresses: vec![NormalizedAddress {
            postal_code: postal.into(),
            ..NormalizedAddress::default()
        }],
        ..NormalizedRecord::default()
    }
}

fn true_pairs(entities: &[u32]) -> HashSet<(u32, u32)> {
    let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (i, &e) in entities.iter().enumerate() {
        groups.entry(e).or_default().push(i as u32);
    }
    let mut pairs = HashSet::new();
    for members in groups.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                pairs.insert((a, b));
            }
        }
    }
    pairs
}

/// (pair completeness, reduction ratio) of `pairs` against the truth.
fn quality(pairs: &[(u32, u32)], truth: &HashSet<(u32, u32)>, n: usize) -> (f64, f64) {
    let found = pairs.iter().filter(|p| truth.contains(p)).count();
    let all = n * (n - 1) / 2;
    (
        found as f64 / truth.len() as f64,
        1.0 - pairs.len() as f64 / all as f64,
    )
}

#[test]
fn a_duplicate_ranks_first_and_ties_break_by_key() {
    let mut index = CandidateIndex::new();
    index
        .insert(
            10u32,
            &person("alice", "martin", Some((1980, 3, 11)), "2600"),
        )
        .unwrap();
    index
        .insert(20, &person("bob", "stone", Some((1975, 6, 1)), "3000"))
        .unwrap();
    index
        .insert(30, &person("alicia", "martin", Some((1980, 3, 11)), "2600"))
        .unwrap();
    index
        .insert(40, &person("alice", "martin", Some((1980, 3, 11)), "2600"))
        .unwrap();
    assert_eq!(index.len(), 4);

    let query = person("alice", "martinn", Some((1980, 11, 3)), "2600");
    let found = index.candidates(&query, 10);
    let keys: Vec<u32> = found.iter().map(|c| c.key).collect();
    // 10 and 40 are identical, so tie and come in key order; 30 is weaker; 20 shares nothing.
    assert_eq!(keys, vec![10, 40, 30]);
    assert_eq!(found[0].score, found[1].score);
    assert!(found[1].score > found[2].score);
    assert_eq!(index.candidates(&query, 1).len(), 1);
}

#[test]
fn update_and_remove_change_what_queries_see() {
    let mut index = CandidateIndex::new();
    let alice = person("alice", "martin", Some((1980, 3, 11)), "2600");
    let bob = person("bob", "stone", Some((1975, 6, 1)), "3000");
    assert!(index.insert(1u32, &alice).unwrap());
    assert!(index.insert(2, &bob).unwrap());
    assert_eq!(index.candidates(&alice, 5)[0].key, 1);

    // Record 1 becomes Bob: Alice no longer finds it, Bob finds both.
    assert!(index.update(1, &bob).unwrap());
    assert!(index.candidates(&alice, 5).is_empty());
    let keys: Vec<u32> = index.candidates(&bob, 5).iter().map(|c| c.key).collect();
    assert_eq!(keys, vec![1, 2]);
    assert_eq!(index.len(), 2);

    assert!(index.remove(1));
    assert!(!index.remove(1));
    assert!(!index.contains(1));
    assert_eq!(index.len(), 1);
    let keys: Vec<u32> = index.candidates(&bob, 5).iter().map(|c| c.key).collect();
    assert_eq!(keys, vec![2]);

    // The freed slot is reused and the record under the new key is found.
    index.insert(3, &alice).unwrap();
    assert_eq!(index.candidates(&alice, 5)[0].key, 3);
    assert_eq!(index.candidates_of(3, 5).len(), 0);
    assert_eq!(index.stats().records, 2);
}

#[test]
fn oversized_blocks_are_skipped() {
    let config = BlockingConfig {
        max_block_size: 50,
        min_score: 1,
        ..BlockingConfig::default()
    };
    // Records sharing only a birth date (distinct names, no other keys).
    let lone = |i: u32| NormalizedRecord {
        given: vec![name(
            &format!("{}", char::from(b'a' + (i % 26) as u8)).repeat(1),
        )],
        birth_date: Some(BirthDate {
            year: 1990,
            month: 1,
            day: 1,
        }),
        ..NormalizedRecord::default()
    };
    let query = NormalizedRecord {
        birth_date: Some(BirthDate {
            year: 1990,
            month: 1,
            day: 1,
        }),
        ..NormalizedRecord::default()
    };
    let mut index = CandidateIndex::with_config(config);
    for i in 0..50 {
        index.insert(i, &lone(i)).unwrap();
    }
    assert_eq!(index.candidates(&query, 100).len(), 50);
    index.insert(50, &lone(50)).unwrap();
    assert!(
        index.candidates(&query, 100).is_empty(),
        "a block of 51 > cap 50 must be skipped"
    );
    index.remove(50);
    assert_eq!(index.candidates(&query, 100).len(), 50);
}

#[test]
fn common_trigrams_are_capped_and_rare_ones_used() {
    let config = BlockingConfig {
        max_trigrams: 3,
        max_trigram_postings: 10,
        min_score: 1,
        ..BlockingConfig::default()
    };
    let mut index = CandidateIndex::with_config(config);
    // 100 "smith"s with different given names, one "smythe".
    for i in 0..100u32 {
        let given = format!("g{}", char::from(b'a' + (i % 26) as u8));
        index.insert(i, &person(&given, "smith", None, "")).unwrap();
    }
    index
        .insert(1000, &person("zed", "smythe", None, ""))
        .unwrap();
    // "smith" trigrams each hold 100 > 10 postings: unusable, so only rare ones count.
    let found = index.candidates(&person("zed", "smith", None, ""), 10);
    let keys: Vec<u32> = found.iter().map(|c| c.key).collect();
    assert_eq!(keys, vec![1000]);
}

#[test]
fn candidate_pairs_are_sorted_unique_and_ordered() {
    let (records, _) = febrl("dataset1.csv");
    let config = BlockingConfig::batch();
    let pairs = candidate_pairs(&records, &config);
    assert!(pairs.iter().all(|&(i, j)| i < j));
    assert!(pairs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(pairs, candidate_pairs(&records, &config));
    assert!(pairs.len() <= records.len() * config.k);
}

#[test]
fn febrl_blocking_recall() {
    for file in ["dataset1.csv", "dataset2.csv"] {
        let (records, entities) = febrl(file);
        let truth = true_pairs(&entities);

        let pairs = candidate_pairs(&records, &BlockingConfig::batch());
        let (completeness, reduction) = quality(&pairs, &truth, records.len());
        eprintln!(
            "{file}: batch pairs {} pair completeness {completeness:.4} reduction ratio {reduction:.5}",
            pairs.len()
        );
        assert!(
            completeness >= 0.99,
            "{file}: batch pair completeness {completeness}"
        );
        assert!(reduction >= 0.99, "{file}: reduction ratio {reduction}");

        // The interactive index: each record's top 10 among all others.
        let mut index = CandidateIndex::new();
        for (i, r) in records.iter().enumerate() {
            index.insert(i as u32, r).unwrap();
        }
        let mut found = HashSet::new();
        for (i, r) in records.iter().enumerate() {
            for c in index.candidates(r, 11) {
                let i = i as u32;
                if c.key != i {
                    found.insert((i.min(c.key), i.max(c.key)));
                }
            }
        }
        let pairs: Vec<(u32, u32)> = found.into_iter().collect();
        let (completeness, reduction) = quality(&pairs, &truth, records.len());
        eprintln!(
            "{file}: index top-10 pair completeness {completeness:.4} reduction ratio {reduction:.5}"
        );
        assert!(
            completeness >= 0.99,
            "{file}: index pair completeness {completeness}"
        );
    }
}

#[test]
fn linkage_pairs_find_each_duplicate_in_the_other_set() {
    let (records, entities) = febrl("dataset1.csv");
    // Originals on the left, duplicates on the right.
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
    let pairs = candidate_pairs_between(&left, &right, &BlockingConfig::batch());
    assert!(pairs.windows(2).all(|w| w[0] < w[1]));
    let truth: usize = re.iter().filter(|e| le.contains(e)).count();
    let found = pairs
        .iter()
        .filter(|&&(l, r)| le[l as usize] == re[r as usize])
        .count();
    eprintln!(
        "linkage: {} pairs, {found} of {truth} true pairs",
        pairs.len()
    );
    assert!(found as f64 >= 0.99 * truth as f64);
}

#[test]
fn batch_pairs_rank_exactly_like_index_queries() {
    let (records, _) = febrl("dataset2.csv");
    let config = BlockingConfig::batch();
    let mut index = CandidateIndex::with_config(config.clone());
    for (i, r) in records.iter().enumerate() {
        index.insert(i as u32, r).unwrap();
    }
    let mut expected: Vec<(u32, u32)> = (0..records.len() as u32)
        .flat_map(|i| {
            index
                .candidates_of(i, config.k)
                .into_iter()
                .map(move |c| (i.min(c.key), i.max(c.key)))
        })
        .collect();
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(candidate_pairs(&records, &config), expected);
}
