//! The HL7 v2 listener (`mpi serve --mllp-bind`) through the real binary: answers read by an
//! independent client (the PyPI `hl7` package, run from the venv that `scripts/test` prepares in
//! `$MPI_HL7_VENV`) and, for what a client library would never send, frames written by hand.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use migration::testing::{Backend, TestDb};
use serde_json::Value;

use crate::helpers::{ScratchDir, TestServer, run_mpi_ok};

/// A server with an MLLP listener on a free port, over a fresh database.
pub(crate) struct Hl7Server {
    pub(crate) server: TestServer,
    pub(crate) mllp: SocketAddr,
    pub(crate) db: TestDb,
    pub(crate) dir: ScratchDir,
}

/// The set-up the external conformance suite runs (issue 30), through the real CLI, plus a
/// source with a facility of its own and a secret.
const CONFORMANCE_SETUP: &[&[&str]] = &[
    &[
        "sources",
        "add",
        "TEST_HARNESS",
        "--facility",
        "TEST",
        "--role",
        "steward",
    ],
    &[
        "sources",
        "add",
        "TEST_HARNESS_A",
        "--facility",
        "TEST",
        "--role",
        "steward",
    ],
    &[
        "sources",
        "add",
        "TEST_HARNESS_B",
        "--facility",
        "TEST",
        "--role",
        "steward",
    ],
    &[
        "sources",
        "add",
        "NID_AUTH",
        "--facility",
        "TEST",
        "--role",
        "registrar",
    ],
    &[
        "sources",
        "add",
        "REG_APP",
        "--facility",
        "WARD_7",
        "--role",
        "registrar",
    ],
    &[
        "sources",
        "add",
        "LOCKED",
        "--facility",
        "TEST",
        "--role",
        "registrar",
        "--secret",
        "s3cret-passphrase",
    ],
    &[
        "domains",
        "add",
        "TEST",
        "--oid",
        "2.16.840.1.113883.3.72.5.9.1",
        "--url",
        "http://ohie.org/test/test",
        "--assigner",
        "TEST_HARNESS",
    ],
    &[
        "domains",
        "add",
        "TEST_A",
        "--oid",
        "2.16.840.1.113883.3.72.5.9.2",
        "--url",
        "http://ohie.org/test/test_a",
        "--assigner",
        "TEST_HARNESS_A",
    ],
    &[
        "domains",
        "add",
        "TEST_B",
        "--oid",
        "2.16.840.1.113883.3.72.5.9.3",
        "--url",
        "http://ohie.org/test/test_b",
        "--assigner",
        "TEST_HARNESS_B",
    ],
    &[
        "domains",
        "add",
        "NID",
        "--oid",
        "2.16.840.1.113883.3.72.5.9.9",
        "--url",
        "http://ohie.org/test/nid",
        "--assigner",
        "NID_AUTH",
        "--links-records",
    ],
];

impl Hl7Server {
    pub(crate) async fn start(backend: Backend, extra: &[&str]) -> Self {
        let db = TestDb::migrated(backend).await;
        let dir = ScratchDir::new();
        for command in CONFORMANCE_SETUP {
            let mut args = command.to_vec();
            args.extend_from_slice(&["--database-url", &db.url]);
            run_mpi_ok(&dir.path, &args);
        }
        Self::serve(db, dir, extra)
    }

    /// Stops the server (SIGTERM) and starts another on the same database and directory.
    pub(crate) fn restart(self, extra: &[&str]) -> Self {
        let Hl7Server {
            server, db, dir, ..
        } = self;
        // Give a server that has only just started the time to install its signal handlers.
        std::thread::sleep(Duration::from_millis(500));
        let (clean, log) = server.terminate();
        assert!(clean, "the server did not stop cleanly:\n{log}");
        Self::serve(db, dir, extra)
    }

    /// `mpi serve` with MLLP (plain or TLS) on `db`, run in `dir`.
    pub(crate) fn serve(db: TestDb, dir: ScratchDir, extra: &[&str]) -> Self {
        let mut args = vec![
            "--database-url",
            &db.url,
            "--mllp-bind",
            "127.0.0.1:0",
            "--unknown-domains",
            "reject",
        ];
        args.extend_from_slice(extra);
        let server = TestServer::start(&dir.path, &args);
        let log = server.wait_for_log("mpi listening on mllp");
        let mllp = log
            .lines()
            .find_map(|l| {
                l.strip_prefix("mpi listening on mllp://")
                    .or_else(|| l.strip_prefix("mpi listening on mllps://"))
            })
            .expect("the server names its MLLP address")
            .parse()
            .expect("socket address");
        Self {
            server,
            mllp,
            db,
            dir,
        }
    }

    /// `GET /api/v1/patients?identifier=SYSTEM|VALUE` with `key`.
    async fn find_by_identifier(&self, key: &str, identifier: &str) -> (u16, Value) {
        let path = format!("/api/v1/patients?identifier={identifier}");
        self.server.call("GET", &path, Some(key), &[], None).await
    }

    /// An admin key made with the real CLI.
    pub(crate) fn admin_key(&self) -> String {
        let out = run_mpi_ok(
            &self.dir.path,
            &[
                "keys",
                "create",
                "--name",
                "hl7-test-admin",
                "--role",
                "admin",
                "--database-url",
                &self.db.url,
            ],
        );
        out.lines().last().expect("key line").trim().to_owned()
    }
}

/// The python of the venv with the `hl7` package.
pub(crate) fn hl7_python() -> PathBuf {
    let venv = std::env::var_os("MPI_HL7_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/hl7-venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "no HL7 client venv at {} (scripts/test prepares it: python3 -m venv DIR && \
         DIR/bin/pip install hl7==0.4.5; or set MPI_HL7_VENV)",
        venv.display()
    );
    python
}

/// Sends `messages` over one MLLP connection with the `hl7` package; its parse of each answer.
pub(crate) fn send_with_hl7_package(addr: SocketAddr, messages: &[String]) -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hl7_client.py");
    let mut child = Command::new(hl7_python())
        .arg(script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the hl7 client");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(serde_json::to_string(messages).expect("json").as_bytes())
        .expect("write messages");
    let output = child.wait_with_output().expect("hl7 client");
    assert!(
        output.status.success(),
        "hl7 client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("client JSON")
}

fn message(version: &str, kind: &str, control_id: &str, rest: &[&str]) -> String {
    let mut text = format!(
        "MSH|^~\\&|REG_APP|WARD_7|MPI|HOSP|20261206120000||{kind}|{control_id}|P|{version}\r"
    );
    for segment in rest {
        text.push_str(segment);
        text.push('\r');
    }
    text
}

async fn unsupported_and_malformed_messages_are_answered(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let messages = vec![
        message("2.5", "ORM^O01^ORM_O01", "C-1", &["PID|||1^^^X"]),
        message("2.5", "ADT^A99^ADT_A01", "C-2", &[]),
        message("3.0", "ADT^A01^ADT_A01", "C-3", &[]),
        message("2.3.1", "ZZZ^Z01", "C-4", &[]),
        "MSH|^~\\&|REG_APP|WARD_7|MPI|HOSP|20261206120000||ADT^A01|||2.5\r".to_owned(),
        message("2.5", "ADT^A01^ADT_A01", "C-6", &[]).replace("|P|", "|X|"),
    ];
    let answers = send_with_hl7_package(app.mllp, &messages);
    assert_eq!(answers.len(), messages.len());
    let err = |a: &Value| a["err"][0].clone();

    // Unknown message type: AR, 200 at MSH-9, addressed back to the sender.
    let a = &answers[0];
    assert_eq!(a["msa1"], "AR", "{a}");
    assert_eq!(a["msa2"], "C-1");
    assert_eq!(a["msh5"], "REG_APP");
    assert_eq!(a["msh6"], "WARD_7");
    assert_eq!(a["msh3"], "MPI");
    assert_eq!(a["msh9"], "ACK^O01^ACK");
    assert_eq!(a["msh12"], "2.5");
    assert_eq!(a["segments"], serde_json::json!(["MSH", "MSA", "ERR"]));
    assert_eq!(err(a)[1], "MSH^1^9");
    assert!(err(a)[2].as_str().unwrap().starts_with("200^"), "{a}");
    assert_eq!(err(a)[3], "E");

    // Known type, unknown event: 201.
    assert!(err(&answers[1])[2].as_str().unwrap().starts_with("201^"));
    assert_eq!(answers[1]["msa2"], "C-2");
    // Not version 2: 203 at MSH-12.
    assert_eq!(answers[2]["msa1"], "AR");
    assert_eq!(err(&answers[2])[1], "MSH^1^12");
    assert!(err(&answers[2])[2].as_str().unwrap().starts_with("203^"));
    // v2.3.1 answers carry the error in ERR-1 and the text in MSA-3.
    let a = &answers[3];
    assert_eq!(a["msh12"], "2.3.1");
    assert!(
        err(a)[0].as_str().unwrap().starts_with("MSH^1^9^200&"),
        "{a}"
    );
    assert!(a["raw"].as_str().unwrap().contains("\rMSA|AR|C-4|"), "{a}");
    // No control id: 101 at MSH-10.
    assert_eq!(answers[4]["msa1"], "AR");
    assert_eq!(err(&answers[4])[1], "MSH^1^10");
    assert!(err(&answers[4])[2].as_str().unwrap().starts_with("101^"));
    // An unknown processing id: 202 at MSH-11.
    assert_eq!(err(&answers[5])[1], "MSH^1^11");
    assert!(err(&answers[5])[2].as_str().unwrap().starts_with("202^"));

    // Every outbound control id is unique.
    let mut ids: Vec<&str> = answers
        .iter()
        .map(|a| a["msh10"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), answers.len());
}

#[tokio::test]
async fn unsupported_and_malformed_messages_are_answered_on_sqlite() {
    unsupported_and_malformed_messages_are_answered(Backend::Sqlite).await;
}

#[tokio::test]
async fn unsupported_and_malformed_messages_are_answered_on_postgres() {
    unsupported_and_malformed_messages_are_answered(Backend::Postgres).await;
}

/// Reads one MLLP frame (hand-parsed) from `stream`.
pub(crate) fn read_frame(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        stream.read_exact(&mut byte).expect("read an answer");
        bytes.push(byte[0]);
        if bytes.ends_with(&[0x1C, 0x0D]) {
            break;
        }
    }
    assert_eq!(bytes[0], 0x0B, "an answer starts with VT");
    String::from_utf8(bytes[1..bytes.len() - 2].to_vec()).expect("UTF-8 answer")
}

fn msa(answer: &str) -> Vec<&str> {
    answer
        .split('\r')
        .find(|s| s.starts_with("MSA|"))
        .expect("MSA")
        .split('|')
        .collect()
}

#[tokio::test]
async fn garbage_split_frames_pipelined_and_oversized_messages_never_break_the_listener() {
    let app = Hl7Server::start(Backend::Sqlite, &["--mllp-max-message-bytes", "2048"]).await;
    let mut stream = TcpStream::connect(app.mllp).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");

    // Noise before a frame is skipped; a frame written a byte at a time is read once.
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    let framed = format!("\x0b{}\x1c\r", message("2.5", "ZZZ^Z01", "S-1", &[]));
    for b in framed.as_bytes() {
        stream.write_all(&[*b]).expect("write");
    }
    let answer = read_frame(&mut stream);
    assert_eq!(msa(&answer)[2], "S-1", "{answer}");

    // Two frames in one write, LF line ends and a BOM: two answers, in order.
    let two = format!(
        "\x0b\u{feff}{}\x1c\r\x0b{}\x1c\r",
        message("2.5", "ZZZ^Z01", "P-1", &["PID|||1"]).replace('\r', "\n"),
        message("2.5", "ZZZ^Z01", "P-2", &[])
    );
    stream.write_all(two.as_bytes()).expect("write");
    assert_eq!(msa(&read_frame(&mut stream))[2], "P-1");
    assert_eq!(msa(&read_frame(&mut stream))[2], "P-2");

    // Over the limit: answered AR, and the connection goes on.
    let big = message(
        "2.5",
        "ADT^A01^ADT_A01",
        "BIG",
        &[&format!("PID|||{}", "9".repeat(5000))],
    );
    stream
        .write_all(format!("\x0b{big}\x1c\r").as_bytes())
        .expect("write");
    let answer = read_frame(&mut stream);
    assert_eq!(msa(&answer)[1], "AR", "{answer}");
    assert!(answer.contains("|207^"), "{answer}");
    stream
        .write_all(format!("\x0b{}\x1c\r", message("2.5", "ZZZ^Z01", "AFTER", &[])).as_bytes())
        .expect("write");
    assert_eq!(msa(&read_frame(&mut stream))[2], "AFTER");

    // Bytes that are not HL7 inside a frame: AR 100, still answered.
    stream
        .write_all(b"\x0b\x00\xff\xfe not hl7 \x1c\r")
        .expect("write");
    let answer = read_frame(&mut stream);
    assert_eq!(msa(&answer)[1], "AR", "{answer}");
    assert!(answer.contains("|100^"), "{answer}");

    // A cut frame and a closed socket leave the server serving HTTP and MLLP.
    stream
        .write_all(b"\x0bMSH|^~\\&|half a mess")
        .expect("write");
    drop(stream);
    let (status, _) = app.server.get("/health").await;
    assert_eq!(status, 200);
    let mut again = TcpStream::connect(app.mllp).expect("connect again");
    again
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    again
        .write_all(format!("\x0b{}\x1c\r", message("2.5", "ZZZ^Z01", "NEW", &[])).as_bytes())
        .expect("write");
    assert_eq!(msa(&read_frame(&mut again))[2], "NEW");
    // No message content reaches the log.
    assert!(!app.server.log().contains("half a mess"));
    assert!(!app.server.log().contains("REG_APP"));
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let app = Hl7Server::start(Backend::Sqlite, &["--mllp-idle-timeout-secs", "1"]).await;
    let mut stream = TcpStream::connect(app.mllp).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = stream
        .read(&mut buf)
        .expect("the server closes, it does not hang");
    assert_eq!(n, 0, "closed without an answer");
    assert!(started.elapsed() < Duration::from_secs(15));
}

fn pix_query(sender: &str, control_id: &str, qpd3: &str, qpd4: &str) -> String {
    format!(
        "MSH|^~\\&|{sender}|TEST|MPI|HOSP|20261206120000||QBP^Q23^QBP_Q21|{control_id}|P|2.5\r\
         QPD|IHE PIX Query|Q-{control_id}|{qpd3}|{qpd4}\rRCP|I\r"
    )
}

/// PID-3's repetitions as (value, HD.1, HD.2, HD.3), read from the raw answer.
fn pid3(answer: &Value) -> Vec<(String, String, String, String)> {
    let raw = answer["raw"].as_str().expect("raw");
    let Some(pid) = raw.split('\r').find(|s| s.starts_with("PID|")) else {
        return Vec::new();
    };
    let field = pid.split('|').nth(3).unwrap_or_default();
    field
        .split('~')
        .map(|cx| {
            let parts: Vec<&str> = cx.split('^').collect();
            let hd: Vec<&str> = parts.get(3).unwrap_or(&"").split('&').collect();
            let get = |v: &[&str], i: usize| v.get(i).copied().unwrap_or_default().to_owned();
            (get(&parts, 0), get(&hd, 0), get(&hd, 1), get(&hd, 2))
        })
        .collect()
}

async fn pix_query_answers_as_iti_9_says(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let key = app.admin_key();
    let patient = serde_json::json!({
        "gender": "female", "birth_date": "1961-03-14",
        "names": [{"family": "Okonkwo", "given": ["Adaeze"]}],
        "identifiers": [
            {"system": "http://ohie.org/test/test", "value": "PIX-1"},
            {"system": "urn:oid:2.16.840.1.113883.3.72.5.9.2", "value": "A-1"}
        ]
    });
    let (status, stored) = app
        .server
        .call(
            "POST",
            "/api/v1/patients?force=true",
            Some(&key),
            &[],
            Some(&patient),
        )
        .await;
    assert_eq!(status, 201, "{stored}");
    let person = stored["person_id"].as_str().expect("person_id").to_owned();

    let test = "PIX-1^^^TEST&2.16.840.1.113883.3.72.5.9.1&ISO";
    let messages = vec![
        pix_query("TEST_HARNESS", "Q1", test, ""),
        pix_query("TEST_HARNESS", "Q2", test, "^^^TEST_A"),
        pix_query(
            "TEST_HARNESS",
            "Q3",
            "PIX-1^^^&2.16.840.1.113883.3.72.5.9.1&ISO",
            "^^^&2.16.840.1.113883.3.72.5.9.2&ISO",
        ),
        pix_query("TEST_HARNESS", "Q4", test, "^^^NID"),
        pix_query("TEST_HARNESS", "Q5", "PIX-404^^^TEST", ""),
        pix_query("TEST_HARNESS", "Q6", "PIX-1^^^NOPE&1.2.3.999&ISO", ""),
        pix_query("TEST_HARNESS", "Q7", test, "^^^TEST_A~^^^NOPE"),
        pix_query("STRANGER", "Q8", test, ""),
        pix_query("TEST_HARNESS", "Q9", "^^^TEST", ""),
    ];
    let a = send_with_hl7_package(app.mllp, &messages);
    let segments = |a: &Value| a["segments"].clone();
    let err = |a: &Value| a["err"][0].clone();
    let qak = |a: &Value| {
        a["raw"]
            .as_str()
            .unwrap()
            .split('\r')
            .find(|s| s.starts_with("QAK|"))
            .unwrap_or_default()
            .to_owned()
    };

    // Found: every other identifier with complete HD, the enterprise id included, not the query's.
    assert_eq!(a[0]["msh9"], "RSP^K23^RSP_K23", "{}", a[0]);
    assert_eq!(a[0]["msa1"], "AA", "{}", a[0]);
    assert_eq!(a[0]["msa2"], "Q1");
    assert_eq!(qak(&a[0]), "QAK|Q-Q1|OK");
    assert_eq!(
        segments(&a[0]),
        serde_json::json!(["MSH", "MSA", "QAK", "QPD", "PID"])
    );
    let ids = pid3(&a[0]);
    assert!(
        ids.contains(&(
            "A-1".into(),
            "TEST_A".into(),
            "2.16.840.1.113883.3.72.5.9.2".into(),
            "ISO".into()
        )),
        "{ids:?}"
    );
    assert!(ids.iter().any(|i| i.0 == person && i.1 == "MPI"), "{ids:?}");
    assert!(
        !ids.iter().any(|i| i.0 == "PIX-1"),
        "the queried identifier is left out: {ids:?}"
    );
    assert!(
        a[0]["raw"].as_str().unwrap().contains("\rPID|||")
            && a[0]["raw"].as_str().unwrap().contains("||~^^^^^^S"),
        "{}",
        a[0]
    );
    // Only the requested domain, by namespace or by OID alone.
    for answer in [&a[1], &a[2]] {
        assert_eq!(answer["msa1"], "AA", "{answer}");
        assert_eq!(
            pid3(answer),
            vec![(
                "A-1".into(),
                "TEST_A".into(),
                "2.16.840.1.113883.3.72.5.9.2".into(),
                "ISO".into()
            )]
        );
    }
    // Nothing in the requested domain: AA, NF, no PID.
    assert_eq!(a[3]["msa1"], "AA");
    assert_eq!(qak(&a[3]), "QAK|Q-Q4|NF");
    assert_eq!(
        segments(&a[3]),
        serde_json::json!(["MSH", "MSA", "QAK", "QPD"])
    );
    // Unknown identifier in a known domain: AE, 204 at QPD-3.1.
    assert_eq!(a[4]["msa1"], "AE");
    assert_eq!(qak(&a[4]), "QAK|Q-Q5|AE");
    assert_eq!(err(&a[4])[1], "QPD^1^3^1^1");
    assert!(err(&a[4])[2].as_str().unwrap().starts_with("204^"));
    // Unknown domain in QPD-3: 204 at QPD-3.4.
    assert_eq!(a[5]["msa1"], "AE");
    assert_eq!(err(&a[5])[1], "QPD^1^3^1^4");
    // Unknown domain in QPD-4: 204 at the repetition.
    assert_eq!(a[6]["msa1"], "AE");
    assert_eq!(err(&a[6])[1], "QPD^1^4^2");
    assert_eq!(
        segments(&a[6]),
        serde_json::json!(["MSH", "MSA", "ERR", "QAK", "QPD"])
    );
    // Unknown source: rejected, nothing answered.
    assert_eq!(a[7]["msa1"], "AR");
    assert!(
        err(&a[7])[7]
            .as_str()
            .unwrap()
            .contains("not a registered source"),
        "{}",
        a[7]
    );
    // No identifier value: 101.
    assert_eq!(a[8]["msa1"], "AE");
    assert!(err(&a[8])[2].as_str().unwrap().starts_with("101^"));

    // A source with a secret must send it in MSH-8.
    let locked = |security: &str, id: &str| {
        format!(
            "MSH|^~\\&|LOCKED|TEST|MPI|HOSP|20261206120000|{security}|QBP^Q23^QBP_Q21|{id}|P|2.5\r\
             QPD|IHE PIX Query|T-{id}|{test}\rRCP|I\r"
        )
    };
    let a = send_with_hl7_package(
        app.mllp,
        &[
            locked("", "S1"),
            locked("LOCKED+wrong", "S2"),
            locked("LOCKED+s3cret-passphrase", "S3"),
        ],
    );
    assert_eq!(a[0]["msa1"], "AR");
    assert_eq!(a[1]["msa1"], "AR");
    assert_eq!(err(&a[1])[1], "MSH^1^8");
    assert_eq!(a[2]["msa1"], "AA", "{}", a[2]);

    // The query is audited as a read, by the source.
    let (status, trail) = app
        .server
        .call("GET", "/api/v1/audit?per_page=100", Some(&key), &[], None)
        .await;
    assert_eq!(status, 200, "{trail}");
    assert!(trail.to_string().contains("TEST_HARNESS"), "{trail}");
    // No identifier reaches the log.
    assert!(!app.server.log().contains("PIX-1"));
    // Messages are counted by type and acknowledgment code.
    let metrics = reqwest::get(format!("http://{}/metrics", app.server.addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("mpi_hl7_messages_total{ack=\"AA\",type=\"QBP^Q23\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("mpi_hl7_messages_total{ack=\"AR\",type=\"QBP^Q23\"}"));
    assert!(metrics.contains("mpi_hl7_message_duration_seconds_count{type=\"QBP^Q23\"}"));
}

#[tokio::test]
async fn pix_query_answers_as_iti_9_says_on_sqlite() {
    pix_query_answers_as_iti_9_says(Backend::Sqlite).await;
}

#[tokio::test]
async fn pix_query_answers_as_iti_9_says_on_postgres() {
    pix_query_answers_as_iti_9_says(Backend::Postgres).await;
}

pub(crate) fn adt(
    sender: &str,
    event: &str,
    control_id: &str,
    version: &str,
    rest: &[&str],
) -> String {
    let structure = if event == "A40" { "ADT_A39" } else { "ADT_A01" };
    let mut text = format!(
        "MSH|^~\\&|{sender}|TEST|MPI|HOSP|20261206120000||ADT^{event}^{structure}|{control_id}|P|{version}\r\
         EVN|{event}|20261206120000\r"
    );
    for segment in rest {
        text.push_str(segment);
        text.push('\r');
    }
    text
}

async fn identity_feed_registers_updates_and_merges(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let key = app.admin_key();
    let test = "2.16.840.1.113883.3.72.5.9.1";
    let pid_100 = format!(
        "PID|||T-100^^^TEST&{test}&ISO^PI~NID-9^^^NID||ALHASSAN^MARIAM^K^^^^L~NOUR^MARIAM^^^^^M||19840125|F|||12 Harbour Rd^Apt 3^Seaton^NSW^2999^AU^H||^PRN^PH^^^02^55501234~^NET^Internet^mariam@example.org|||M"
    );
    let messages = vec![
        adt("TEST_HARNESS", "A01", "F1", "2.3.1", &[&pid_100, "PV1||O"]),
        adt(
            "TEST_HARNESS",
            "A04",
            "F2",
            "2.5",
            &["PID|||T-101||OKAFOR^IFEOMA||19700704|F"],
        ),
        adt(
            "TEST_HARNESS",
            "A01",
            "F3",
            "2.5",
            &["PID|||A-555^^^TEST_A||ROSSI^LUCA||19910101|M"],
        ),
        adt(
            "TEST_HARNESS",
            "A01",
            "F4",
            "2.5",
            &["PID|||X-1^^^NOPE&1.2.3.4.5&ISO||ROSSI^LUCA||19910101|M"],
        ),
        adt(
            "TEST_HARNESS",
            "A08",
            "F5",
            "2.5",
            &[&pid_100.replace("^MARIAM^K", "^MARYAM^K")],
        ),
        adt(
            "TEST_HARNESS",
            "A04",
            "F6",
            "2.5",
            &["PID|||T-200^^^TEST||ALHASAN^MARYAM||19840125|F"],
        ),
        adt(
            "NID_AUTH",
            "A40",
            "F7",
            "2.5",
            &[
                &format!("PID|||T-100^^^TEST&{test}&ISO"),
                "MRG|T-200^^^TEST",
            ],
        ),
        adt(
            "TEST_HARNESS",
            "A40",
            "F8",
            "2.5",
            &[
                &format!("PID|||T-100^^^TEST&{test}&ISO"),
                "MRG|T-200^^^TEST",
            ],
        ),
        adt("TEST_HARNESS", "A01", "F9", "2.5", &["PV1||O"]),
        adt(
            "TEST_HARNESS",
            "A01",
            "F10",
            "2.5",
            &["PID|||T-300^^^TEST||DOE^JANE||19551392|F"],
        ),
        pix_query("TEST_HARNESS_A", "F11", "T-200^^^TEST", ""),
        adt(
            "TEST_HARNESS",
            "A04",
            "F12",
            "2.5",
            &["PID|||T-400^^^TEST||KOWALCZYK^HALINA||196207|F"],
        ),
    ];
    let a = send_with_hl7_package(app.mllp, &messages);
    let err = |a: &Value| a["err"][0].clone();

    // A01 in v2.3.1: AA, answered as ACK^A01^ACK in the request's version.
    assert_eq!(a[0]["msa1"], "AA", "{}", a[0]);
    assert_eq!(a[0]["msh9"], "ACK^A01^ACK");
    assert_eq!(a[0]["msh12"], "2.3.1");
    let (status, found) = app
        .find_by_identifier(&key, "http://ohie.org/test/test|T-100")
        .await;
    assert_eq!(status, 200, "{found}");
    let patient = &found["items"][0];
    assert_eq!(patient["birth_date"], "1984-01-25", "{patient}");
    assert_eq!(patient["gender"], "female");
    let names = patient["names"].to_string();
    assert!(
        names.contains("ALHASSAN") && names.contains("maiden"),
        "{names}"
    );
    let all = patient.to_string();
    assert!(
        // XTN.6 and XTN.7 are kept apart, in XTN.1's format.
        all.contains("Seaton")
            && all.contains("(02) 55501234")
            && all.contains("mariam@example.org"),
        "{all}"
    );
    assert!(
        all.contains("NID-9"),
        "the national id rides along as a reference: {all}"
    );

    // A missing CX.4 is the source's own domain.
    assert_eq!(a[1]["msa1"], "AA", "{}", a[1]);
    let (_, found) = app
        .find_by_identifier(&key, "urn:oid:2.16.840.1.113883.3.72.5.9.1|T-101")
        .await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    // A record only in a domain the source does not assign: refused, nothing stored.
    assert_eq!(a[2]["msa1"], "AE", "{}", a[2]);
    let (_, found) = app
        .find_by_identifier(&key, "http://ohie.org/test/test_a|A-555")
        .await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(0), "{found}");
    // An unknown domain: AE 204 at PID-3.4.
    assert_eq!(a[3]["msa1"], "AE", "{}", a[3]);
    assert_eq!(err(&a[3])[1], "PID^1^3^1^4");
    assert!(err(&a[3])[2].as_str().unwrap().starts_with("204^"));
    // A08 updates the same record.
    assert_eq!(a[4]["msa1"], "AA", "{}", a[4]);
    let (_, found) = app
        .find_by_identifier(&key, "http://ohie.org/test/test|T-100")
        .await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1));
    assert!(
        found["items"][0]["names"].to_string().contains("MARYAM"),
        "{found}"
    );
    let survivor = found["items"][0]["id"].as_str().unwrap().to_owned();
    // A near-duplicate is stored, never refused.
    assert_eq!(a[5]["msa1"], "AA", "{}", a[5]);
    // A merge needs a steward source.
    assert_eq!(a[6]["msa1"], "AR", "{}", a[6]);
    // A40: merged into the survivor.
    assert_eq!(a[7]["msa1"], "AA", "{}", a[7]);
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
    // No PID: 100; an impossible birth date: 102 at PID-7.
    assert_eq!(a[8]["msa1"], "AE");
    assert!(err(&a[8])[2].as_str().unwrap().starts_with("100^"));
    assert_eq!(a[9]["msa1"], "AE");
    assert_eq!(err(&a[9])[1], "PID^1^7");
    // The retired identifier answers for the survivor.
    assert_eq!(a[10]["msa1"], "AA", "{}", a[10]);
    assert!(pid3(&a[10]).iter().any(|i| i.0 == "T-100"), "{}", a[10]);
    // A year and month alone (HL7 TS YYYYMM) is stored at that precision.
    assert_eq!(a[11]["msa1"], "AA", "{}", a[11]);
    let (status, found) = app
        .find_by_identifier(&key, "http://ohie.org/test/test|T-400")
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"][0]["birth_date"], "1962-07", "{found}");
    // Nothing of the messages' content reaches the log.
    let log = app.server.log();
    assert!(!log.contains("ALHASSAN") && !log.contains("T-100") && !log.contains("19840125"));
}

#[tokio::test]
async fn identity_feed_registers_updates_and_merges_on_sqlite() {
    identity_feed_registers_updates_and_merges(Backend::Sqlite).await;
}

#[tokio::test]
async fn identity_feed_registers_updates_and_merges_on_postgres() {
    identity_feed_registers_updates_and_merges(Backend::Postgres).await;
}

fn pdq(control_id: &str, params: &str, qpd8: &str, rcp: &str, dsc: Option<&str>) -> String {
    let mut text = format!(
        "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||QBP^Q22^QBP_Q21|{control_id}|P|2.5\r\
         QPD|IHE PDQ Query|T-{control_id}|{params}|||||{qpd8}\rRCP|I|{rcp}\r"
    );
    if let Some(pointer) = dsc {
        text.push_str(&format!("DSC|{pointer}|I\r"));
    }
    text
}

fn segment_lines<'a>(answer: &'a Value, name: &str) -> Vec<&'a str> {
    answer["raw"]
        .as_str()
        .unwrap()
        .split('\r')
        .filter(|s| s.starts_with(&format!("{name}|")))
        .collect()
}

async fn pdq_query_finds_demographics(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let feed: Vec<String> = (1..=3)
        .map(|n| {
            adt(
                "TEST_HARNESS",
                "A01",
                &format!("R{n}"),
                "2.5",
                &[&format!(
                    "PID|||PDQ-{n}^^^TEST~NB-{n}^^^NID||KOWALCZYK^ZOFIA{n}||1950020{n}|F|||1 Rynek^^Opole^^45-0{n}^PL^H"
                )],
            )
        })
        .collect();
    let fed = send_with_hl7_package(app.mllp, &feed);
    assert!(fed.iter().all(|a| a["msa1"] == "AA"), "{fed:?}");

    let a = send_with_hl7_package(
        app.mllp,
        &[
            pdq(
                "P1",
                "@PID.5.1.1^KOWALCZYK~@PID.7^19500202",
                "",
                "10^RD",
                None,
            ),
            pdq("P2", "@PID.5.1.1^KOWAL*", "^^^NID", "2^RD", None),
            pdq("P3", "@PID.5.1.1^KOWAL*", "^^^NID", "2^RD", Some("page:2")),
            pdq("P4", "@PID.3.1^PDQ-3~@PID.3.4.1^TEST", "", "", None),
            pdq("P5", "@PID.5.1.1^NOBODY", "", "", None),
            pdq("P6", "@PID.99^X", "", "", None),
            pdq("P7", "@PID.5.1.1^KOWALCZYK", "^^^NOPE", "", None),
        ],
    );
    // Name and birth date: one patient, every field in PID, a QRI after it.
    assert_eq!(a[0]["msh9"], "RSP^K22^RSP_K21", "{}", a[0]);
    assert_eq!(a[0]["msa1"], "AA");
    assert_eq!(segment_lines(&a[0], "QAK"), vec!["QAK|T-P1|OK||1|1|0"]);
    let pids = segment_lines(&a[0], "PID");
    assert_eq!(pids.len(), 1, "{}", a[0]);
    assert!(
        pids[0].contains("PDQ-2^^^TEST&2.16.840.1.113883.3.72.5.9.1&ISO"),
        "{}",
        pids[0]
    );
    assert!(
        pids[0].contains("|KOWALCZYK^ZOFIA2|") || pids[0].contains("|KOWALCZYK^ZOFIA2^"),
        "{}",
        pids[0]
    );
    assert!(pids[0].contains("|19500202|F|"), "{}", pids[0]);
    assert!(pids[0].contains("Opole"), "{}", pids[0]);
    assert_eq!(segment_lines(&a[0], "QRI").len(), 1);
    // Wildcard, two per answer, only the NID domain; then the continuation.
    assert_eq!(segment_lines(&a[1], "QAK"), vec!["QAK|T-P2|OK||3|2|1"]);
    let pids = segment_lines(&a[1], "PID");
    assert_eq!(pids.len(), 2);
    assert!(
        pids.iter()
            .all(|p| p.contains("^^^NID&2.16.840.1.113883.3.72.5.9.9&ISO") && !p.contains("PDQ-")),
        "{pids:?}"
    );
    assert_eq!(segment_lines(&a[1], "DSC"), vec!["DSC|page:2|I"]);
    assert_eq!(segment_lines(&a[2], "QAK"), vec!["QAK|T-P3|OK||3|1|0"]);
    assert!(segment_lines(&a[2], "DSC").is_empty());
    // By identifier.
    let pids = segment_lines(&a[3], "PID");
    assert_eq!(pids.len(), 1, "{}", a[3]);
    assert!(pids[0].contains("PDQ-3^^^"));
    // Nothing found: AA, NF.
    assert_eq!(a[4]["msa1"], "AA");
    assert_eq!(segment_lines(&a[4], "QAK"), vec!["QAK|T-P5|NF||0|0|0"]);
    // An unknown parameter: AE naming it.
    assert_eq!(a[5]["msa1"], "AE");
    assert!(
        a[5]["err"][0][7].as_str().unwrap().contains("PID.99"),
        "{}",
        a[5]
    );
    assert_eq!(a[5]["err"][0][1], "QPD^1^3^1");
    // An unknown domain in QPD-8: AE at its repetition.
    assert_eq!(a[6]["msa1"], "AE");
    assert_eq!(a[6]["err"][0][1], "QPD^1^8^1");
    assert!(a[6]["err"][0][2].as_str().unwrap().starts_with("204^"));
}

#[tokio::test]
async fn pdq_query_finds_demographics_on_sqlite() {
    pdq_query_finds_demographics(Backend::Sqlite).await;
}

#[tokio::test]
async fn pdq_query_finds_demographics_on_postgres() {
    pdq_query_finds_demographics(Backend::Postgres).await;
}
