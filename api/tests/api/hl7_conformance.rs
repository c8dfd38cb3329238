//! HL7 v2 conformance fixes of issue 30's review, through the real MLLP listener: the patient
//! account number (PID-18) fed and queried (`@PID.18`, NIST ITI-21-Query-Case2), the one
//! acknowledgement MSH-15 and MSH-16 ask for, character sets (MSH-18 echoed and the answer's
//! bytes in it), A40 without CX.4, HL7 code tables 0002/0200/0190 both ways, refused queries
//! answered by their RSP, QPD echoed under other delimiters, PID-5 for a record without a
//! name, MSH-5's whole HD in the answer's MSH-3, and A28/A31 (IHE PAM's person feed) taken as
//! A04/A08. Answers are read by the Python `hl7`
//! package, or from bytes written and read here by hand where the bytes are the point.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use migration::testing::Backend;
use serde_json::Value;

use crate::hl7_mllp::{Hl7Server, adt, send_with_hl7_package};

const TEST_OID: &str = "2.16.840.1.113883.3.72.5.9.1";

/// A PID with PID-3 `id` (value^^^authority) and the given fields after it (`extra[n]` is
/// field `n`), the rest empty.
fn pid(id: &str, fields: &[(usize, &str)]) -> String {
    let last = fields.iter().map(|(n, _)| *n).max().unwrap_or(3).max(3);
    let mut out = vec![String::new(); last + 1];
    out[0] = "PID".to_owned();
    out[3] = id.to_owned();
    for (n, value) in fields {
        out[*n] = (*value).to_owned();
    }
    out.join("|")
}

fn pdq(sender: &str, control_id: &str, params: &str) -> String {
    format!(
        "MSH|^~\\&|{sender}|TEST|MPI|HOSP|20261206120000||QBP^Q22^QBP_Q21|{control_id}|P|2.5\r\
         QPD|IHE PDQ Query|T-{control_id}|{params}\rRCP|I|20^RD\r"
    )
}

/// The lines of segment `name` in an answer's raw text.
fn lines<'a>(answer: &'a Value, name: &str) -> Vec<&'a str> {
    answer["raw"]
        .as_str()
        .unwrap_or_default()
        .split('\r')
        .filter(|s| s.starts_with(&format!("{name}|")))
        .collect()
}

/// Field `n` of a segment line (not MSH).
fn field(line: &str, n: usize) -> &str {
    line.split('|').nth(n).unwrap_or_default()
}

/// Sends one frame of raw bytes on a new connection and returns the answer's bytes.
fn exchange(addr: SocketAddr, message: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut frame = vec![0x0B];
    frame.extend_from_slice(message);
    frame.extend_from_slice(b"\x1c\r");
    stream.write_all(&frame).expect("write");
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\x1c\r") {
        stream.read_exact(&mut byte).expect("read the answer");
        bytes.push(byte[0]);
    }
    assert_eq!(bytes[0], 0x0B);
    bytes[1..bytes.len() - 2].to_vec()
}

/// Field `n` of MSH (MSH-1 is the separator) from raw answer bytes read as Latin-1.
fn msh(answer: &[u8], n: usize) -> String {
    let text: String = answer.iter().map(|&b| char::from(b)).collect();
    let first = text.split('\r').next().unwrap_or_default().to_owned();
    first.split('|').nth(n - 1).unwrap_or_default().to_owned()
}

async fn account_numbers_are_fed_and_queried(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let fed = send_with_hl7_package(
        app.mllp,
        &[
            adt(
                "TEST_HARNESS",
                "A01",
                "AN1",
                "2.5",
                &[&pid(
                    &format!("T-700^^^TEST&{TEST_OID}&ISO"),
                    &[
                        (5, "DUPONT^ALINE"),
                        (7, "19700101"),
                        (8, "F"),
                        (18, &format!("1007240^^^TEST&{TEST_OID}&ISO^AN")),
                    ],
                )],
            ),
            // PID-18 without CX.4: the source's own domain, as PID-3.
            adt(
                "TEST_HARNESS",
                "A01",
                "AN2",
                "2.5",
                &[&pid(
                    "T-701^^^TEST",
                    &[(5, "DUPONT^BRUNO"), (7, "19710101"), (18, "1007241")],
                )],
            ),
            // A source with no single domain cannot leave PID-18's CX.4 out.
            adt(
                "REG_APP",
                "A01",
                "AN3",
                "2.5",
                &[&pid(
                    "T-702^^^TEST",
                    &[(5, "DUPONT^CLARA"), (18, "1007242")],
                )],
            )
            .replace("|REG_APP|TEST|", "|REG_APP|WARD_7|"),
            // Another patient with the first one's account number: an account number does not
            // name the record to update, and another live record holds it (duplicate key).
            adt(
                "TEST_HARNESS",
                "A01",
                "AN4",
                "2.5",
                &[&pid(
                    &format!("T-703^^^TEST&{TEST_OID}&ISO"),
                    &[
                        (5, "MARTIN^DENIS"),
                        (7, "19800101"),
                        (18, &format!("1007240^^^TEST&{TEST_OID}&ISO^AN")),
                    ],
                )],
            ),
        ],
    );
    assert_eq!(fed[3]["msa1"], "AE", "{}", fed[3]);
    assert_eq!(fed[0]["msa1"], "AA", "{}", fed[0]);
    assert_eq!(fed[1]["msa1"], "AA", "{}", fed[1]);
    assert_eq!(fed[2]["msa1"], "AE", "{}", fed[2]);
    assert_eq!(fed[2]["err"][0][1], "PID^1^18^^4", "{}", fed[2]);

    let a = send_with_hl7_package(
        app.mllp,
        &[
            // NIST ITI-21-Query-Case2 step 6.
            pdq("TEST_HARNESS", "Q1", "@PID.18.1^1007240"),
            pdq("TEST_HARNESS", "Q2", "@PID.18.1^1007241~@PID.18.4.1^TEST"),
            pdq(
                "TEST_HARNESS",
                "Q3",
                &format!("@PID.18^1007241~@PID.18.4.2^{TEST_OID}~@PID.5.1.1^DUPONT"),
            ),
            pdq("TEST_HARNESS", "Q4", "@PID.18.1^1007240~@PID.18.4.1^NOPE"),
            pdq("TEST_HARNESS", "Q5", "@PID.18.1^999"),
            // Two identifiers combine with AND.
            pdq("TEST_HARNESS", "Q6", "@PID.18.1^1007240~@PID.3.1^T-701"),
            // A PIX query: the account number is no cross-reference.
            "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||QBP^Q23^QBP_Q21|Q7|P|2.5\r\
                 QPD|IHE PIX Query|T-Q7|T-700^^^TEST\rRCP|I\r"
                .to_owned(),
        ],
    );
    assert_eq!(a[0]["msa1"], "AA", "{}", a[0]);
    assert_eq!(lines(&a[0], "QAK"), vec!["QAK|T-Q1|OK||1|1|0"], "{}", a[0]);
    let pids = lines(&a[0], "PID");
    assert_eq!(pids.len(), 1, "{}", a[0]);
    // The account number is answered in PID-18, not among PID-3's patient identifiers.
    assert_eq!(
        field(pids[0], 18),
        format!("1007240^^^TEST&{TEST_OID}&ISO"),
        "{}",
        pids[0]
    );
    assert!(field(pids[0], 3).contains("T-700^^^TEST"), "{}", pids[0]);
    assert!(!field(pids[0], 3).contains("T-703"), "{}", pids[0]);
    assert!(field(pids[0], 5).starts_with("DUPONT^ALINE"), "{}", pids[0]);
    assert!(!field(pids[0], 3).contains("1007240"), "{}", pids[0]);
    for answer in [&a[1], &a[2]] {
        let pids = lines(answer, "PID");
        assert_eq!(pids.len(), 1, "{answer}");
        assert!(field(pids[0], 3).contains("T-701"), "{answer}");
    }
    assert_eq!(a[3]["msa1"], "AE", "{}", a[3]);
    assert!(a[3]["err"][0][2].as_str().unwrap().starts_with("204^"));
    assert_eq!(a[4]["msa1"], "AA");
    assert_eq!(lines(&a[4], "QAK"), vec!["QAK|T-Q5|NF||0|0|0"]);
    assert_eq!(lines(&a[5], "QAK"), vec!["QAK|T-Q6|NF||0|0|0"], "{}", a[5]);
    assert_eq!(a[6]["msa1"], "AA", "{}", a[6]);
    let pix = lines(&a[6], "PID");
    assert_eq!(pix.len(), 1, "{}", a[6]);
    assert!(field(pix[0], 3).contains("^^^MPI"), "{}", pix[0]);
    assert!(!pix[0].contains("1007240"), "{}", pix[0]);
}

#[tokio::test]
async fn account_numbers_are_fed_and_queried_on_sqlite() {
    account_numbers_are_fed_and_queried(Backend::Sqlite).await;
}

#[tokio::test]
async fn account_numbers_are_fed_and_queried_on_postgres() {
    account_numbers_are_fed_and_queried(Backend::Postgres).await;
}

async fn a40_fills_a_missing_assigning_authority(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let key = app.admin_key();
    let person = |id: &str, name: &str| {
        adt(
            "TEST_HARNESS",
            "A01",
            &format!("R-{id}"),
            "2.5",
            &[&pid(&format!("{id}^^^TEST"), &[(5, name), (7, "19800101")])],
        )
    };
    let a = send_with_hl7_package(
        app.mllp,
        &[
            person("T-801", "OBI^KEMI"),
            person("T-802", "OBI^KEMI"),
            // ITI8-019: no CX.4 in PID-3 nor MRG-1: the sender's own domain.
            adt(
                "TEST_HARNESS",
                "A40",
                "M1",
                "2.5",
                &["PID|||T-801", "MRG|T-802"],
            ),
            // A source with no single domain: its CX.4 cannot be guessed.
            adt("REG_APP", "A40", "M2", "2.5", &["PID|||T-801", "MRG|T-802"])
                .replace("|REG_APP|TEST|", "|REG_APP|WARD_7|"),
        ],
    );
    assert_eq!(a[0]["msa1"], "AA", "{}", a[0]);
    assert_eq!(a[1]["msa1"], "AA", "{}", a[1]);
    assert_eq!(a[2]["msa1"], "AA", "{}", a[2]);
    assert_eq!(a[3]["msa1"], "AE", "{}", a[3]);
    assert_eq!(a[3]["err"][0][1], "PID^1^3^1^4", "{}", a[3]);
    assert!(a[3]["err"][0][2].as_str().unwrap().starts_with("101^"));
    let (status, found) = app
        .server
        .call(
            "GET",
            "/api/v1/patients?identifier=http://ohie.org/test/test|T-801",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let survivor = found["items"][0]["id"].as_str().expect("id").to_owned();
    let (status, merges) = app
        .server
        .call(
            "GET",
            &format!("/api/v1/merges?patient_id={survivor}"),
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{merges}");
    assert_eq!(
        merges["items"].as_array().map(Vec::len),
        Some(1),
        "{merges}"
    );
}

#[tokio::test]
async fn a40_fills_a_missing_assigning_authority_on_sqlite() {
    a40_fills_a_missing_assigning_authority(Backend::Sqlite).await;
}

#[tokio::test]
async fn a40_fills_a_missing_assigning_authority_on_postgres() {
    a40_fills_a_missing_assigning_authority(Backend::Postgres).await;
}

/// An A01 whose MSH-15 and MSH-16 are `accept` and `application`.
fn a01_with_modes(control_id: &str, accept: &str, application: &str, pid_segment: &str) -> String {
    format!(
        "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||ADT^A01^ADT_A01|{control_id}|P|2.5|||{accept}|{application}\r\
         EVN|A01|20261206120000\r{pid_segment}\r"
    )
}

#[tokio::test]
async fn one_acknowledgement_as_msh_15_and_msh_16_ask() {
    let app = Hl7Server::start(Backend::Sqlite, &[]).await;
    let good = |id: &str| pid(&format!("{id}^^^TEST"), &[(5, "MODE^TESS")]);
    let bad = "PV1||O";
    let cases = [
        ("", "", good("T-901"), "AA"),
        ("AL", "AL", good("T-902"), "AA"),
        ("AL", "NE", good("T-903"), "CA"),
        ("AL", "", good("T-904"), "CA"),
        ("NE", "ER", bad.to_owned(), "AE"),
        ("AL", "ER", good("T-905"), "CA"),
        ("AL", "ER", bad.to_owned(), "AE"),
        ("AL", "SU", good("T-906"), "AA"),
        ("AL", "NE", bad.to_owned(), "CE"),
        // Neither asks: still one answer, the accept acknowledgement (documented).
        ("NE", "NE", good("T-907"), "CA"),
    ];
    let messages: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(n, (accept, application, segment, _))| {
            a01_with_modes(&format!("K{n}"), accept, application, segment)
        })
        .collect();
    let mut all = messages.clone();
    // A query gets its RSP (MSA AA), whatever MSH-15 and MSH-16 say.
    all.push(pdq("TEST_HARNESS", "KQ", "@PID.5.1.1^MODE").replace("|P|2.5\r", "|P|2.5|||AL|NE\r"));
    let answers = send_with_hl7_package(app.mllp, &all);
    assert_eq!(answers.len(), cases.len() + 1, "one answer per message");
    for (n, (accept, application, _, expected)) in cases.iter().enumerate() {
        let a = &answers[n];
        assert_eq!(a["msa2"], format!("K{n}"), "{a}");
        assert_eq!(
            a["msa1"], *expected,
            "MSH-15 {accept:?} MSH-16 {application:?}: {a}"
        );
    }
    let q = &answers[cases.len()];
    assert_eq!(q["msh9"], "RSP^K22^RSP_K21", "{q}");
    assert_eq!(q["msa1"], "AA", "{q}");
}

#[tokio::test]
async fn answers_are_in_the_character_set_the_request_names() {
    let app = Hl7Server::start(Backend::Sqlite, &[]).await;
    let fed = send_with_hl7_package(
        app.mllp,
        &[adt(
            "TEST_HARNESS",
            "A01",
            "C1",
            "2.5",
            &[&pid(
                "T-950^^^TEST",
                &[(5, "MÜLLER^ŁUCJA"), (7, "19660606")],
            )],
        )],
    );
    assert_eq!(fed[0]["msa1"], "AA", "{}", fed[0]);
    let query = |charset: &str| {
        format!(
            "MSH|^~\\&|TEST_HARNESS|TEST|PDQ_SUPPLIER^1.2.3.4^ISO|HOSP^9.8^ISO|20261206120000||QBP^Q22^QBP_Q21|C-{charset}|P|2.5||||||{charset}\r\
             QPD|IHE PDQ Query|T-1|@PID.3.1^T-950\rRCP|I\r"
        )
    };
    // Latin-1: MSH-18 echoed, Ü one byte, Ł (not in Latin-1) a question mark.
    let answer = exchange(app.mllp, query("8859/1").as_bytes());
    assert_eq!(msh(&answer, 18), "8859/1");
    let window = |bytes: &[u8], needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(window(&answer, b"|M\xDCLLER^?UCJA"), "{answer:?}");
    // ITI21-15: MSH-5 as received (the whole HD) in MSH-3, MSH-6 in MSH-4.
    assert_eq!(msh(&answer, 3), "PDQ_SUPPLIER^1.2.3.4^ISO");
    assert_eq!(msh(&answer, 4), "HOSP^9.8^ISO");
    // ASCII: both letters outside it become question marks.
    let answer = exchange(app.mllp, query("ASCII").as_bytes());
    assert_eq!(msh(&answer, 18), "ASCII");
    assert!(window(&answer, b"|M?LLER^?UCJA"), "{answer:?}");
    assert!(answer.is_ascii());
    // UTF-8 asked for, or nothing said: UTF-8, and MSH-18 says so.
    for charset in ["UNICODE UTF-8", ""] {
        let answer = exchange(app.mllp, query(charset).as_bytes());
        let text = String::from_utf8(answer).expect("UTF-8");
        assert!(text.contains("|MÜLLER^ŁUCJA"), "{text}");
        let msh18 = text.split('\r').next().unwrap().split('|').nth(17);
        assert_eq!(msh18, Some("UNICODE UTF-8"), "{text}");
    }
    // A request in Latin-1 is read as Latin-1 and found.
    let mut latin1 = query("8859/1").replace("@PID.3.1^T-950", "@PID.5.1.1^M\u{DC}LLER");
    latin1 = latin1.replace("C-8859/1", "C-L1");
    let bytes: Vec<u8> = latin1.chars().map(|c| c as u8).collect();
    let answer = exchange(app.mllp, &bytes);
    assert!(window(&answer, b"QAK|T-1|OK"), "{answer:?}");
    // Another character set: refused with its RSP, ERR 103 at MSH-18.
    let answer = exchange(app.mllp, query("8859/7").as_bytes());
    let text = String::from_utf8(answer).expect("ASCII");
    assert!(text.contains("\rMSA|AR|C-8859/7"), "{text}");
    assert!(text.contains("|MSH^1^18|103^"), "{text}");
    assert!(text.contains("\rQAK|T-1|AE"), "{text}");
}

#[tokio::test]
async fn refused_queries_are_answered_by_their_rsp() {
    let app = Hl7Server::start(Backend::Sqlite, &[]).await;
    let pix = |sender: &str, id: &str, version: &str, processing: &str| {
        format!(
            "MSH|^~\\&|{sender}|TEST|MPI|HOSP|20261206120000||QBP^Q23^QBP_Q21|{id}|{processing}|{version}\r\
             QPD|IHE PIX Query|Q-{id}|X-1^^^TEST\rRCP|I\r"
        )
    };
    let a = send_with_hl7_package(
        app.mllp,
        &[
            pix("TEST_HARNESS", "V1", "3.0", "P"),
            pix("TEST_HARNESS", "V2", "2.5", "X"),
            pix("STRANGER", "V3", "2.5", "P"),
            pdq("STRANGER", "V4", "@PID.5.1.1^X"),
        ],
    );
    for (answer, (structure, tag, code)) in a.iter().zip([
        ("RSP^K23^RSP_K23", "Q-V1", "203^"),
        ("RSP^K23^RSP_K23", "Q-V2", "202^"),
        ("RSP^K23^RSP_K23", "Q-V3", "207^"),
        ("RSP^K22^RSP_K21", "T-V4", "207^"),
    ]) {
        assert_eq!(answer["msh9"], structure, "{answer}");
        assert_eq!(answer["msa1"], "AR", "{answer}");
        assert!(
            answer["err"][0][2].as_str().unwrap().starts_with(code),
            "{answer}"
        );
        assert_eq!(
            lines(answer, "QAK"),
            vec![format!("QAK|{tag}|AE")],
            "{answer}"
        );
        assert_eq!(lines(answer, "QPD").len(), 1, "QPD echoed: {answer}");
        assert_eq!(
            answer["segments"],
            serde_json::json!(["MSH", "MSA", "ERR", "QAK", "QPD"]),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn qpd_is_echoed_under_other_delimiters() {
    let app = Hl7Server::start(Backend::Sqlite, &[]).await;
    let fed = send_with_hl7_package(
        app.mllp,
        &[adt(
            "TEST_HARNESS",
            "A01",
            "D1",
            "2.5",
            &[&pid("T-960^^^TEST", &[(5, "O'HARA^SEAN")])],
        )],
    );
    assert_eq!(fed[0]["msa1"], "AA", "{}", fed[0]);
    // Components `$`, repetitions `*`, escape `!`, subcomponents `%`; `^` is plain text.
    let query = "MSH|$*!%|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||QBP$Q22$QBP_Q21|D2|P|2.5\r\
                 QPD|IHE PDQ Query|T-D2|@PID.5.1.1$O'HARA*@PID.3.4.1$TEST|||||^^^TEST%X\rRCP|I\r";
    let answer = String::from_utf8(exchange(app.mllp, query.as_bytes())).expect("UTF-8");
    let qpd = answer
        .split('\r')
        .find(|s| s.starts_with("QPD|"))
        .unwrap_or_else(|| panic!("QPD echoed: {answer}"));
    assert_eq!(
        qpd,
        "QPD|IHE PDQ Query|T-D2|@PID.5.1.1^O'HARA~@PID.3.4.1^TEST|||||\\S\\\\S\\\\S\\TEST&X"
    );
    assert!(answer.contains("\rQAK|T-D2|"), "{answer}");
}

async fn code_tables_and_unnamed_records(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let key = app.admin_key();
    let fed = send_with_hl7_package(
        app.mllp,
        &[
            adt(
                "TEST_HARNESS",
                "A01",
                "T1",
                "2.5",
                &[&pid(
                    "T-970^^^TEST",
                    &[
                        (5, "TALL^TREE^^^^^T~TALL^TREE^^^^^L"),
                        (7, "19500505"),
                        (11, "1 Bad St^^Nowhere^^^^BA~2 Born Rd^^Birthtown^^^^BDL"),
                        (16, "A"),
                    ],
                )],
            ),
            // No name at all: stored (the identifier is enough), answered with a name of type U.
            adt(
                "TEST_HARNESS",
                "A01",
                "T2",
                "2.5",
                &[&pid("T-971^^^TEST", &[(7, "20010101"), (8, "U")])],
            ),
        ],
    );
    assert!(fed.iter().all(|a| a["msa1"] == "AA"), "{fed:?}");
    let (status, found) = app
        .server
        .call(
            "GET",
            "/api/v1/patients?identifier=http://ohie.org/test/test|T-970",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let patient = &found["items"][0];
    // HL7 A (separated) is FHIR L, not FHIR A (annulled).
    assert_eq!(patient["marital_status"], "L", "{patient}");
    let names = patient["names"].to_string();
    assert!(
        !names.contains("temp"),
        "T is a tribal name, not a temporary one: {names}"
    );
    let addresses = patient["addresses"].as_array().expect("addresses");
    let used = |city: &str| {
        addresses
            .iter()
            .find(|a| a["city"] == city)
            .map(|a| a["use"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(used("Nowhere"), "old", "{addresses:?}");
    assert_eq!(used("Birthtown"), Value::Null, "{addresses:?}");

    // Stored codes with no v2.5 equivalent, registered through REST.
    let rest = serde_json::json!({
        "marital_status": "A",
        "names": [{"family": "TEMPO", "given": ["RARY"], "use": "temp"}],
        "addresses": [{"lines": ["9 Old Rd"], "city": "Formerly", "use": "old"}],
        "identifiers": [{"system": "http://ohie.org/test/test", "value": "T-972"}]
    });
    let (status, body) = app
        .server
        .call(
            "POST",
            "/api/v1/patients?force=true",
            Some(&key),
            &[],
            Some(&rest),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let a = send_with_hl7_package(
        app.mllp,
        &[
            pdq("TEST_HARNESS", "P1", "@PID.3.1^T-970"),
            pdq("TEST_HARNESS", "P2", "@PID.3.1^T-971"),
            pdq("TEST_HARNESS", "P3", "@PID.3.1^T-972"),
        ],
    );
    let pid_of = |answer: &Value| -> String {
        let pids = lines(answer, "PID");
        assert_eq!(pids.len(), 1, "{answer}");
        pids[0].to_owned()
    };
    let p1 = pid_of(&a[0]);
    assert_eq!(
        field(&p1, 16),
        "E",
        "FHIR L is HL7 E (legally separated): {p1}"
    );
    let names: Vec<&str> = field(&p1, 5).split('~').collect();
    assert!(names.contains(&"TALL^TREE^^^^^L"), "{p1}");
    assert!(
        names.contains(&"TALL^TREE"),
        "a tribal name is answered without a type: {p1}"
    );
    assert!(field(&p1, 11).contains("1 Bad St^^Nowhere"), "{p1}");
    assert!(
        !field(&p1, 11).contains("^BA"),
        "an old address is no bad address: {p1}"
    );
    let p2 = pid_of(&a[1]);
    assert_eq!(field(&p2, 5), "^^^^^^U", "{p2}");
    let p3 = pid_of(&a[2]);
    assert_eq!(field(&p3, 16), "N", "FHIR A (annulled) is HL7 N: {p3}");
    assert_eq!(
        field(&p3, 5),
        "TEMPO^RARY",
        "no T for a temporary name: {p3}"
    );
    assert!(!field(&p3, 11).contains("^BA"), "{p3}");
}

#[tokio::test]
async fn code_tables_and_unnamed_records_on_sqlite() {
    code_tables_and_unnamed_records(Backend::Sqlite).await;
}

#[tokio::test]
async fn code_tables_and_unnamed_records_on_postgres() {
    code_tables_and_unnamed_records(Backend::Postgres).await;
}

/// ADT^A28 (add person information) and ADT^A31 (update person information), structure ADT_A05,
/// as IHE PAM's Patient Identity Feed (ITI-30) and many registration systems send them: A28
/// registers, A31 updates the same record (an identifier this source's live record holds), and a
/// PIX query then finds it; an event no transaction handles (A03) is still AR 201.
async fn person_information_events_feed_as_a04_and_a08(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let key = app.admin_key();
    let person = |event: &str, control: &str, name: &str| {
        adt(
            "TEST_HARNESS",
            event,
            control,
            "2.5",
            &[&pid(
                "T-951^^^TEST",
                &[(5, name), (7, "19790312"), (8, "F")],
            )],
        )
        .replace("^ADT_A01|", "^ADT_A05|")
    };
    let a = send_with_hl7_package(
        app.mllp,
        &[
            person("A28", "P1", "NWOSU^ADAEZE"),
            person("A31", "P2", "NWOSU-BELL^ADAEZE"),
            person("A03", "P3", "NWOSU^ADAEZE"),
        ],
    );
    assert_eq!(a[0]["msa1"], "AA", "{}", a[0]);
    assert_eq!(a[0]["msh9"], "ACK^A28^ACK", "{}", a[0]);
    assert_eq!(a[1]["msa1"], "AA", "{}", a[1]);
    assert_eq!(a[1]["msh9"], "ACK^A31^ACK", "{}", a[1]);
    assert_eq!(a[2]["msa1"], "AR", "{}", a[2]);
    assert!(
        a[2]["err"][0][2].as_str().unwrap().starts_with("201^"),
        "{}",
        a[2]
    );
    let (status, found) = app
        .server
        .call(
            "GET",
            "/api/v1/patients?identifier=http://ohie.org/test/test|T-951",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    let names = found["items"][0]["names"].to_string();
    assert!(
        names.contains("NWOSU-BELL"),
        "A31 updated the record: {names}"
    );
}

#[tokio::test]
async fn person_information_events_feed_as_a04_and_a08_on_sqlite() {
    person_information_events_feed_as_a04_and_a08(Backend::Sqlite).await;
}

#[tokio::test]
async fn person_information_events_feed_as_a04_and_a08_on_postgres() {
    person_information_events_feed_as_a04_and_a08(Backend::Postgres).await;
}
