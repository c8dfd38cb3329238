//! IHE ITI-21 query parameters over MLLP (issue 30): birth date full or partial (`@PID.7`),
//! sex, address parts (`@PID.11.1` street, `.3` city, `.4` state, `.5` postal code, `.6`
//! country), phone (`@PID.13`, `@PID.13.1`, the `.5`/`.6`/`.7` components, digits compared
//! without punctuation) and e-mail (`@PID.13.4`), all combined with AND; a bad value or an
//! unknown parameter is AE with an ERR naming it. Sent and read with the Python `hl7` package.

use migration::testing::Backend;
use serde_json::Value;

use crate::hl7_mllp::{Hl7Server, adt, send_with_hl7_package};

fn pdq(control_id: &str, params: &str) -> String {
    format!(
        "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||QBP^Q22^QBP_Q21|{control_id}|P|2.5\r\
         QPD|IHE PDQ Query|T-{control_id}|{params}\rRCP|I|20^RD\r"
    )
}

/// The PID-3.1 values of the answer's PIDs, sorted.
fn found(answer: &Value) -> Vec<String> {
    let mut ids: Vec<String> = answer["raw"]
        .as_str()
        .unwrap_or_default()
        .split('\r')
        .filter(|s| s.starts_with("PID|"))
        .map(|p| {
            let pid3 = p.split('|').nth(3).unwrap_or_default();
            pid3.split('^').next().unwrap_or_default().to_owned()
        })
        .collect();
    ids.sort();
    ids
}

async fn pdq_parameters_find_by_date_address_and_phone(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let people = [
        // id, name, birth date, sex, address, phones
        (
            "Q-1",
            "ABERNATHY^ROSE",
            "19840517",
            "F",
            "12 Main Street^Apt 4^Springfield^IL^62701^USA^H",
            "(555) 123-4567^PRN^PH~^NET^Internet^rose@example.org",
        ),
        (
            "Q-2",
            "ABERNATHY^LILY",
            "1984",
            "F",
            "40 Oak Avenue^^Springfield^MO^65801^USA^H",
            "+1 555 987 6543^PRN^CP",
        ),
        (
            "Q-3",
            "ABERNATHY^TOM",
            "19850101",
            "M",
            "12 Main Road^^Shelbyville^IL^62565^USA^H",
            "^PRN^PH^^^555^7654321",
        ),
        (
            "Q-4",
            "BOATENG^AMA",
            "198405",
            "F",
            "3 Ring Road^^Accra^^00233^GHA^H",
            "024.555.0101^PRN^PH",
        ),
    ];
    let feed: Vec<String> = people
        .iter()
        .map(|(id, name, born, sex, address, phones)| {
            adt(
                "TEST_HARNESS",
                "A01",
                &format!("F{id}"),
                "2.5",
                &[&format!(
                    "PID|||{id}^^^TEST||{name}||{born}|{sex}|||{address}||{phones}"
                )],
            )
        })
        .collect();
    let fed = send_with_hl7_package(app.mllp, &feed);
    assert!(fed.iter().all(|a| a["msa1"] == "AA"), "{fed:?}");

    let queries = [
        // Birth dates: a year finds every date inside it and the record known only by its
        // year; a month every date in the month (and the month-only record), not the year-only
        // one; a full date that day.
        ("D1", "@PID.7^1984"),
        ("D2", "@PID.7^198405"),
        ("D3", "@PID.7^19840517"),
        ("D4", "@PID.7^19840517~@PID.8^M"),
        // Address parts, each a case-insensitive prefix; combined with AND.
        ("A1", "@PID.11.1^12 main"),
        ("A2", "@PID.11.1^12 Main~@PID.11.3^Springfield"),
        ("A3", "@PID.11.3^springfield~@PID.11.4^MO"),
        ("A4", "@PID.11.6^GHA"),
        ("A5", "@PID.11.5^62701"),
        ("A6", "@PID.11.5^627*"),
        ("A7", "@PID.11.5^627"),
        ("A8", "@PID.11.4^IL~@PID.8^F~@PID.5.1^ABERNATHY"),
        // Phones by their digits, however written on either side.
        ("T1", "@PID.13^555-123-4567"),
        ("T2", "@PID.13.1^(555)1234567"),
        ("T3", "@PID.13.6^555~@PID.13.7^123-4567"),
        ("T4", "@PID.13.7^9876543"),
        ("T5", "@PID.13.5^1~@PID.13.6^555~@PID.13.7^9876543"),
        ("T6", "@PID.13^0245550101"),
        ("T7", "@PID.13^5551234"),
        ("T8", "@PID.13.4^rose@example.org"),
        ("T9", "@PID.13.6^555~@PID.13.7^7654321"),
        // Errors: AE naming the parameter at its repetition.
        ("E1", "@PID.5.1^ABERNATHY~@PID.7^1984-05"),
        ("E2", "@PID.11.9^X"),
        ("E3", "@PID.13^none"),
        ("E4", "@PID.13.6^555"),
    ];
    let messages: Vec<String> = queries.iter().map(|(id, q)| pdq(id, q)).collect();
    let answers = send_with_hl7_package(app.mllp, &messages);
    let at = |id: &str| queries.iter().position(|(q, _)| *q == id).unwrap();
    let expect = [
        ("D1", vec!["Q-1", "Q-2", "Q-4"]),
        ("D2", vec!["Q-1", "Q-4"]),
        ("D3", vec!["Q-1"]),
        ("D4", vec![]),
        ("A1", vec!["Q-1", "Q-3"]),
        ("A2", vec!["Q-1"]),
        ("A3", vec!["Q-2"]),
        ("A4", vec!["Q-4"]),
        ("A5", vec!["Q-1"]),
        ("A6", vec!["Q-1"]),
        ("A7", vec![]),
        ("A8", vec!["Q-1"]),
        ("T1", vec!["Q-1"]),
        ("T2", vec!["Q-1"]),
        ("T3", vec!["Q-1"]),
        ("T4", vec!["Q-2"]),
        ("T5", vec!["Q-2"]),
        ("T6", vec!["Q-4"]),
        ("T7", vec![]),
        ("T8", vec!["Q-1"]),
        ("T9", vec!["Q-3"]),
    ];
    for (id, wanted) in expect {
        let a = &answers[at(id)];
        assert_eq!(a["msa1"], "AA", "{id}: {a}");
        assert_eq!(found(a), wanted, "{id}: {a}");
    }
    let errors = [
        ("E1", "QPD^1^3^2", "102^", "PID.7"),
        ("E2", "QPD^1^3^1", "103^", "PID.11.9"),
        ("E3", "QPD^1^3^1", "102^", "PID.13"),
        ("E4", "QPD^1^3^1", "101^", "PID.13.7"),
    ];
    for (id, location, code, named) in errors {
        let a = &answers[at(id)];
        assert_eq!(a["msa1"], "AE", "{id}: {a}");
        assert_eq!(a["err"][0][1], location, "{id}: {a}");
        assert!(
            a["err"][0][2]
                .as_str()
                .unwrap_or_default()
                .starts_with(code),
            "{id}: {a}"
        );
        assert!(
            a["err"][0][7].as_str().unwrap_or_default().contains(named),
            "{id}: {a}"
        );
        assert!(
            !a["raw"].as_str().unwrap_or_default().contains("PID|"),
            "{id}: no patient in an error answer"
        );
    }
}

#[tokio::test]
async fn pdq_parameters_find_by_date_address_and_phone_on_sqlite() {
    pdq_parameters_find_by_date_address_and_phone(Backend::Sqlite).await;
}

#[tokio::test]
async fn pdq_parameters_find_by_date_address_and_phone_on_postgres() {
    pdq_parameters_find_by_date_address_and_phone(Backend::Postgres).await;
}

fn segments<'a>(answer: &'a Value, name: &str) -> Vec<&'a str> {
    answer["raw"]
        .as_str()
        .unwrap_or_default()
        .split('\r')
        .filter(|s| s.starts_with(&format!("{name}|")))
        .collect()
}

/// ITI TF-2a 3.21.4.2.2.8: with domains in QPD-8, a patient with no identifier in any of them
/// is left out of the answer and of QAK's counts (not answered with an empty PID-3).
async fn pdq_leaves_out_patients_without_an_identifier_in_the_domains_asked(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let people = [
        ("W-1", "W-1^^^TEST~NW-1^^^NID", "WINTERBOTTOM^ANNE"),
        ("W-2", "W-2^^^TEST", "WINTERBOTTOM^BEN"),
        ("W-3", "W-3^^^TEST~NW-3^^^NID", "WINTERBOTTOM^CORA"),
    ];
    let feed: Vec<String> = people
        .iter()
        .map(|(id, ids, name)| {
            adt(
                "TEST_HARNESS",
                "A01",
                &format!("F{id}"),
                "2.5",
                &[&format!("PID|||{ids}||{name}||19700101|F")],
            )
        })
        .collect();
    let fed = send_with_hl7_package(app.mllp, &feed);
    assert!(fed.iter().all(|a| a["msa1"] == "AA"), "{fed:?}");
    let query = |id: &str, qpd8: &str, rcp: &str, dsc: Option<&str>| {
        let mut text = format!(
            "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||QBP^Q22^QBP_Q21|{id}|P|2.5\r\
             QPD|IHE PDQ Query|T-{id}|@PID.5.1.1^WINTERBOTTOM|||||{qpd8}\rRCP|I|{rcp}\r"
        );
        if let Some(pointer) = dsc {
            text.push_str(&format!("DSC|{pointer}|I\r"));
        }
        text
    };
    let answers = send_with_hl7_package(
        app.mllp,
        &[
            query("N1", "", "10^RD", None),
            query("N2", "^^^NID", "10^RD", None),
            query("N3", "^^^NID", "1^RD", None),
            query("N4", "^^^NID", "1^RD", Some("page:2")),
            query("N5", "^^^NID~^^^TEST", "10^RD", None),
        ],
    );
    for a in &answers {
        assert_eq!(a["msa1"], "AA", "{a}");
    }
    // Without QPD-8: all three, every identifier.
    assert_eq!(segments(&answers[0], "QAK"), ["QAK|T-N1|OK||3|3|0"]);
    // NID only: W-2 holds none, so it is neither answered nor counted; no PID-3 is empty.
    assert_eq!(segments(&answers[1], "QAK"), ["QAK|T-N2|OK||2|2|0"]);
    let pids = segments(&answers[1], "PID");
    assert_eq!(pids.len(), 2, "{}", answers[1]);
    for pid in &pids {
        let pid3 = pid.split('|').nth(3).unwrap_or_default();
        assert!(pid3.starts_with("NW-"), "{pid}");
        assert!(!pid3.contains("^^^TEST"), "{pid}");
    }
    // Paged one at a time, the counts and the continuation agree with that.
    assert_eq!(segments(&answers[2], "QAK"), ["QAK|T-N3|OK||2|1|1"]);
    assert_eq!(segments(&answers[2], "DSC"), ["DSC|page:2|I"]);
    assert_eq!(segments(&answers[3], "QAK"), ["QAK|T-N4|OK||2|1|0"]);
    // Either domain: all three again.
    assert_eq!(segments(&answers[4], "QAK"), ["QAK|T-N5|OK||3|3|0"]);
}

#[tokio::test]
async fn pdq_leaves_out_patients_without_an_identifier_in_the_domains_asked_on_sqlite() {
    pdq_leaves_out_patients_without_an_identifier_in_the_domains_asked(Backend::Sqlite).await;
}

#[tokio::test]
async fn pdq_leaves_out_patients_without_an_identifier_in_the_domains_asked_on_postgres() {
    pdq_leaves_out_patients_without_an_identifier_in_the_domains_asked(Backend::Postgres).await;
}
