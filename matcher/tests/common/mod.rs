//! Fixtures shared by the matcher's integration tests: the FEBRL development sets in
//! `data/febrl` at the repository root (see its README for the layout and the ground truth).
#![allow(dead_code)] // each test binary uses part of it

use std::path::PathBuf;

use matcher::batch::normalize_all;
use matcher::{Address, Identifier, NormalizedRecord, PersonRecord};

pub fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data/febrl")
        .join(file)
}

/// Reads a FEBRL file into (true entity id, raw record).
pub fn febrl_people(file: &str) -> Vec<(u32, PersonRecord)> {
    let path = data_path(file);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    reader
        .records()
        .map(|row| {
            let row = row.expect("well-formed FEBRL row");
            let f = |i: usize| row.get(i).unwrap_or("");
            let entity: u32 = f(0)
                .split('-')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .expect("rec-<N>-... id");
            let line1 = format!("{} {}", f(3), f(4)).trim().to_owned();
            let record = PersonRecord {
                given_names: opt(f(1)).into_iter().collect(),
                family_names: opt(f(2)).into_iter().collect(),
                birth_date: opt(f(9)),
                addresses: vec![Address {
                    lines: [line1, f(5).to_owned()]
                        .into_iter()
                        .filter(|l| !l.is_empty())
                        .collect(),
                    city: opt(f(6)),
                    state: opt(f(8)),
                    postal_code: opt(f(7)),
                    country: None,
                }],
                identifiers: opt(f(10))
                    .map(|v| Identifier {
                        system: "soc_sec_id".into(),
                        value: v,
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            };
            (entity, record)
        })
        .collect()
}

/// A FEBRL set normalized by the matcher, with the true entity number of each record.
pub fn febrl(file: &str) -> (Vec<NormalizedRecord>, Vec<u32>) {
    let (entities, records): (Vec<u32>, Vec<PersonRecord>) = febrl_people(file).into_iter().unzip();
    (normalize_all(&records), entities)
}
