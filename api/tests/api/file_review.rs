//! The review rules in file mode (issue 32), through the real `mpi` binary: `mpi dedupe --input`
//! and `mpi link` never put twins of one mother or placeholder newborns in one cluster, however
//! high they score, and say why in pairs.csv (`review_reason`), as the database job sends such
//! pairs to review; a true duplicate of the same file still clusters.

use std::collections::HashMap;
use std::path::Path;

use crate::helpers::{ScratchDir, run_mpi_ok};

/// `id -> cluster_id` of a clusters.csv.
fn clusters(path: &Path) -> HashMap<String, String> {
    let mut reader = csv::Reader::from_path(path).expect("clusters.csv");
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect()
}

/// `(id_a, id_b) -> (match_probability, review_reason)` of a pairs.csv, checking its header.
fn pairs(path: &Path) -> HashMap<(String, String), (f64, String)> {
    let mut reader = csv::Reader::from_path(path).expect("pairs.csv");
    assert_eq!(
        reader.headers().expect("header"),
        vec![
            "id_a",
            "id_b",
            "match_probability",
            "match_weight",
            "review_reason"
        ],
        "the review_reason column comes last, after the columns of earlier versions"
    );
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            let p: f64 = r[2].parse().expect("probability");
            ((r[0].to_owned(), r[1].to_owned()), (p, r[4].to_owned()))
        })
        .collect()
}

const HEADER: &str = "id,given_name,family_name,sex,birth_date,address_line,city,postal_code,\
                      phone,national_id,mother_identifier,mother_maiden_name";

/// Twins of one mother (`t1`, `t2`: her identifier and maiden name, their birth date, home,
/// phone and the mother's national id they were registered under, different given names), a
/// newborn placeholder naming the same mother (`t3`, who matches either twin), two newborns
/// registered as "Baby Boy" of one family without a mother (`p1`, `p2`), a true duplicate
/// (`d1`, `d2`: a typo in the given name), and strangers.
const ROWS: &str = "\
t1,Ava,Khumalo,F,2026-10-01,12 Orchard Lane,Exeter,EX1 2AB,01392 555 010,AB123456C,urn:test:mrn|M-1,Dlamini
t2,Zoe,Khumalo,F,2026-10-01,12 Orchard Lane,Exeter,EX1 2AB,01392 555 010,AB123456C,urn:test:mrn|M-1,Dlamini
t3,Baby Girl,Khumalo,F,2026-10-01,12 Orchard Lane,Exeter,EX1 2AB,01392 555 010,AB123456C,urn:test:mrn|M-1,Dlamini
p1,Baby Boy,Okafor,M,2026-11-14,7 Harbour Street,Plymouth,PL1 4XY,01752 555 020,CD654321E,,
p2,Baby Boy,Okafor,M,2026-11-14,7 Harbour Street,Plymouth,PL1 4XY,01752 555 020,CD654321E,,
d1,Margaret,Whitfield,F,1961-04-12,3 Mill Road,Truro,TR1 1AA,01872 555 030,EF111222G,,
d2,Margeret,Whitfield,F,1961-04-12,3 Mill Road,Truro,TR1 1AA,01872 555 030,EF111222G,,
s1,Ottilie,Fairweather,F,1962-08-15,9 Quay Hill,Leeds,LS1 5QH,0113 555 040,GH333444J,,
s2,Bartholomew,Quennell,M,1938-01-30,21 Castle Street,York,YO1 9RN,01904 555 050,JK555666L,,
";

/// Writes the built-in model (fitting one by EM to a handful of records says little) and `ROWS`.
fn setup(dir: &ScratchDir) {
    matcher::Model::builtin()
        .save(dir.path.join("model.json"))
        .expect("save the built-in model");
    std::fs::write(dir.path.join("people.csv"), format!("{HEADER}\n{ROWS}")).expect("write");
}

#[test]
fn dedupe_input_keeps_twins_and_placeholder_newborns_apart_and_says_why() {
    let dir = ScratchDir::new();
    setup(&dir);
    let stdout = run_mpi_ok(
        &dir.path,
        &[
            "dedupe",
            "--input",
            "people.csv",
            "--output",
            "out",
            "--model",
            "model.json",
            "--quiet",
        ],
    );
    let clusters = clusters(&dir.path.join("out/clusters.csv"));
    let pairs = pairs(&dir.path.join("out/pairs.csv"));
    let together = |a: &str, b: &str| clusters[a] == clusters[b];
    // The built-in model's auto-link threshold is p >= 0.99.
    let certain = |a: &str, b: &str| pairs.get(&(a.into(), b.into())).map(|p| p.0 >= 0.99);
    let reason = |a: &str, b: &str| pairs.get(&(a.into(), b.into())).map(|p| p.1.as_str());

    // Each of these pairs scores above the auto-link threshold: without the rules, it would be
    // one cluster.
    for (a, b) in [("t1", "t2"), ("p1", "p2"), ("d1", "d2")] {
        assert_eq!(certain(a, b), Some(true), "{a} {b}: {pairs:?}");
    }
    assert!(!together("t1", "t2"), "twins of one mother: {clusters:?}");
    assert_eq!(reason("t1", "t2"), Some("twins_of_one_mother"));
    assert!(!together("p1", "p2"), "two Baby Boys: {clusters:?}");
    assert_eq!(reason("p1", "p2"), Some("placeholder"));
    // The newborn naming the twins' mother matches either twin (her mother excuses her
    // placeholder name), but cannot bring them together: she joins one of them.
    assert_eq!(reason("t1", "t3"), Some(""));
    assert!(
        together("t3", "t1") != together("t3", "t2"),
        "the placeholder newborn joins one twin: {clusters:?}"
    );
    // The true duplicate still clusters; strangers stay alone.
    assert!(together("d1", "d2"), "{clusters:?}");
    assert_eq!(reason("d1", "d2"), Some(""));
    assert_eq!(clusters["s1"], "s1");
    assert_eq!(clusters["s2"], "s2");
    assert!(
        stdout.contains("pairs held for review by a rule (placeholder 1, twins_of_one_mother 1)"),
        "{stdout}"
    );
}

#[test]
fn link_never_links_twins_of_one_mother_or_placeholder_newborns() {
    let dir = ScratchDir::new();
    setup(&dir);
    // Left: one twin, one Baby Boy, one duplicate's first record. Right: the other twin, the
    // other Baby Boy, the duplicate's second record.
    let rows: Vec<&str> = ROWS.lines().collect();
    let pick = |ids: &[&str]| -> String {
        let mut text = format!("{HEADER}\n");
        for line in &rows {
            if ids.iter().any(|id| line.starts_with(&format!("{id},"))) {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    };
    std::fs::write(dir.path.join("a.csv"), pick(&["t1", "p1", "d1", "s1"])).expect("write");
    std::fs::write(dir.path.join("b.csv"), pick(&["t2", "p2", "d2", "s2"])).expect("write");
    let stdout = run_mpi_ok(
        &dir.path,
        &[
            "link",
            "--left",
            "a.csv",
            "--right",
            "b.csv",
            "--output",
            "out",
            "--model",
            "model.json",
            "--quiet",
        ],
    );
    let clusters = clusters(&dir.path.join("out/clusters.csv"));
    let pairs = pairs(&dir.path.join("out/pairs.csv"));
    let reason = |a: &str, b: &str| pairs.get(&(a.into(), b.into())).map(|p| p.1.as_str());
    assert_eq!(reason("t1", "t2"), Some("twins_of_one_mother"), "{pairs:?}");
    assert_eq!(reason("p1", "p2"), Some("placeholder"), "{pairs:?}");
    assert_eq!(reason("d1", "d2"), Some(""), "{pairs:?}");
    assert_eq!(clusters["t2"], "t2", "{clusters:?}");
    assert_eq!(clusters["p2"], "p2", "{clusters:?}");
    assert_eq!(clusters["d2"], "d1", "{clusters:?}");
    assert!(
        stdout.contains("1 linked at the auto-link threshold (p >= 0.99), 2 held for review"),
        "{stdout}"
    );
}
