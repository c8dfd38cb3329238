//! IHE ITI-21 name search modes over MLLP (issue 30): QPD-5 or `--hl7-pdq-mode` selects the
//! service's exact, wildcard, phonetic or alias search, and every PID is followed by a QRI
//! with the hit's score and the algorithm that found it. Sent and read with the independent
//! Python `hl7` package.

use migration::testing::Backend;
use serde_json::Value;

use crate::hl7_mllp::{Hl7Server, adt, send_with_hl7_package};

/// A PDQ query with QPD-5 (the search mode; empty for none).
fn pdq_in_mode(control_id: &str, params: &str, mode: &str) -> String {
    format!(
        "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||QBP^Q22^QBP_Q21|{control_id}|P|2.5\r\
         QPD|IHE PDQ Query|T-{control_id}|{params}||{mode}\rRCP|I|10^RD\r"
    )
}

fn lines<'a>(answer: &'a Value, name: &str) -> Vec<&'a str> {
    answer["raw"]
        .as_str()
        .unwrap_or_default()
        .split('\r')
        .filter(|s| s.starts_with(&format!("{name}|")))
        .collect()
}

/// The family names of the PIDs, in answer order.
fn families(answer: &Value) -> Vec<String> {
    lines(answer, "PID")
        .iter()
        .map(|p| {
            let field = p.split('|').nth(5).unwrap_or_default();
            field.split('^').next().unwrap_or_default().to_owned()
        })
        .collect()
}

/// `(score, reason, algorithm code)` of each QRI.
fn qris(answer: &Value) -> Vec<(f64, String, String)> {
    lines(answer, "QRI")
        .iter()
        .map(|q| {
            let f: Vec<&str> = q.split('|').collect();
            (
                f[1].parse().expect("QRI-1 is a number"),
                f[2].to_owned(),
                f[3].split('^').next().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn pdq_modes_search_names_and_report_scores(backend: Backend) {
    let app = Hl7Server::start(backend, &["--hl7-pdq-mode", "phonetic"]).await;
    let people = [
        ("M-1", "JOHNSON^JOHN", "19700101", "M"),
        ("M-2", "JOHNSTON^JON", "19710202", "M"),
        ("M-3", "SMITH^BILL", "19600303", "M"),
        ("M-4", "SMYTH^WILLIAM", "19610404", "M"),
        ("M-5", "NGUYEN^ANH", "19800505", "F"),
    ];
    let feed: Vec<String> = people
        .iter()
        .map(|(id, name, born, sex)| {
            adt(
                "TEST_HARNESS",
                "A01",
                &format!("F{id}"),
                "2.5",
                &[&format!("PID|||{id}^^^TEST||{name}||{born}|{sex}")],
            )
        })
        .collect();
    let fed = send_with_hl7_package(app.mllp, &feed);
    assert!(fed.iter().all(|a| a["msa1"] == "AA"), "{fed:?}");

    let a = send_with_hl7_package(
        app.mllp,
        &[
            pdq_in_mode("Q1", "@PID.5.1.1^SMITH", "phonetic"),
            pdq_in_mode("Q2", "@PID.5.1.1^JOHNS*N", "wildcard"),
            pdq_in_mode("Q3", "@PID.5.1.1^SMITH~@PID.5.2^WILLIAM", "alias"),
            pdq_in_mode("Q4", "@PID.5.1.1^JOHNS", "exact"),
            pdq_in_mode("Q5", "@PID.5.1.1^JOHNSON", "EXACT"),
            pdq_in_mode("Q6", "@PID.5.1.1^SMITH", "fuzzy"),
            // No QPD-5: the configured default (phonetic).
            pdq_in_mode("Q7", "@PID.5.1.1^SMYTHE", ""),
            // A mode with only a wildcard's letters missing: AE, not a crash.
            pdq_in_mode("Q8", "@PID.5.1.1^J*O*H*N*S*N", "wildcard"),
        ],
    );
    // Phonetic: the same name first (score 1, found exactly), then the one that sounds alike.
    assert_eq!(a[0]["msa1"], "AA", "{}", a[0]);
    assert_eq!(families(&a[0]), ["SMITH", "SMYTH"], "{}", a[0]);
    let q = qris(&a[0]);
    assert_eq!(q.len(), 2, "{}", a[0]);
    assert_eq!((q[0].0, q[0].2.as_str()), (1.0, "exact"), "{q:?}");
    assert_eq!(
        (q[1].1.as_str(), q[1].2.as_str()),
        ("NP", "phonetic"),
        "{q:?}"
    );
    assert!(q[1].0 > 0.5 && q[1].0 < 1.0, "{q:?}");
    // Wildcard: a pattern over the whole name.
    let mut found = families(&a[1]);
    found.sort();
    assert_eq!(found, ["JOHNSON", "JOHNSTON"], "{}", a[1]);
    assert!(
        qris(&a[1])
            .iter()
            .all(|q| q.2 == "wildcard" || q.2 == "exact"),
        "{}",
        a[1]
    );
    // Alias: William finds Bill (the family name exact, so not Smyth).
    assert_eq!(families(&a[2]), ["SMITH"], "{}", a[2]);
    assert_eq!(qris(&a[2])[0].2, "alias", "{}", a[2]);
    // Exact: no prefix; the mode's code is not case-sensitive.
    assert_eq!(lines(&a[3], "QAK")[0], "QAK|T-Q4|NF||0|0|0", "{}", a[3]);
    assert_eq!(families(&a[4]), ["JOHNSON"], "{}", a[4]);
    assert_eq!(qris(&a[4])[0].0, 1.0);
    // An unknown mode: AE at QPD-5.
    assert_eq!(a[5]["msa1"], "AE", "{}", a[5]);
    assert_eq!(a[5]["err"][0][1], "QPD^1^5", "{}", a[5]);
    assert!(
        a[5]["err"][0][2]
            .as_str()
            .unwrap_or_default()
            .starts_with("103^"),
        "{}",
        a[5]
    );
    // The default mode; the closer name first.
    assert_eq!(families(&a[6]), ["SMYTH", "SMITH"], "{}", a[6]);
    assert!(qris(&a[6]).iter().all(|q| q.1 == "NP"), "{}", a[6]);
    // Too many wildcards: AE.
    assert_eq!(a[7]["msa1"], "AE", "{}", a[7]);
}

#[tokio::test]
async fn pdq_modes_search_names_and_report_scores_on_sqlite() {
    pdq_modes_search_names_and_report_scores(Backend::Sqlite).await;
}

#[tokio::test]
async fn pdq_modes_search_names_and_report_scores_on_postgres() {
    pdq_modes_search_names_and_report_scores(Backend::Postgres).await;
}
