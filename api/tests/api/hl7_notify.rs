//! IHE ITI-10 PIX Update Notification through the real binary: consumers subscribed with
//! `mpi consumers add`, a test consumer that is a plain MLLP listener written here (frames and
//! acknowledgements by hand, not the server's encoder), notifications after a registration and
//! a merge, ones queued while the consumer was down and across a server restart; every message
//! in and out audited; MLLP over TLS with and without client certificates; consumers reached
//! over TLS (a rustls test consumer requiring a client certificate), and one whose CA file does
//! not vouch for the consumer retried and counted as a failure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use migration::testing::Backend;
use serde_json::Value;

use crate::helpers::run_mpi_ok;
use crate::hl7_mllp::{Hl7Server, adt, hl7_python, send_with_hl7_package};

const TEST_OID: &str = "2.16.840.1.113883.3.72.5.9.1";
const TEST_A_OID: &str = "2.16.840.1.113883.3.72.5.9.2";

/// A PIX consumer: an MLLP listener that keeps every message received and acknowledges each
/// with `AA` (hand-written ACK echoing MSH-10 in MSA-2).
struct Consumer {
    received: Arc<Mutex<Vec<String>>>,
}

impl Consumer {
    /// Listens on `addr` (a port reserved earlier, or 0) in a thread of its own.
    fn listen(addr: SocketAddr) -> (Consumer, SocketAddr) {
        Self::listen_with(addr, None)
    }

    /// Listens as [`Consumer::listen`], in TLS with `tls` when given.
    fn listen_with(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> (Consumer, SocketAddr) {
        let listener = TcpListener::bind(addr).expect("bind the test consumer");
        let local = listener.local_addr().expect("address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let store = Arc::clone(&store);
                let tls = tls.clone();
                std::thread::spawn(move || {
                    let mut stream: Box<dyn ReadWrite> = match tls {
                        None => Box::new(stream),
                        Some(config) => match rustls::ServerConnection::new(config) {
                            Ok(conn) => Box::new(rustls::StreamOwned::new(conn, stream)),
                            Err(_) => return,
                        },
                    };
                    while let Some(message) = read_frame_or_eof(&mut stream) {
                        let control_id = message
                            .split('\r')
                            .next()
                            .and_then(|msh| msh.split('|').nth(9))
                            .unwrap_or("")
                            .to_owned();
                        store.lock().unwrap().push(message);
                        let ack = format!(
                            "\x0bMSH|^~\\&|CONSUMER|HIE|MPI|MPI|20261206120000||ACK^A31^ACK|ACK-{control_id}|P|2.5\r\
                             MSA|AA|{control_id}\r\x1c\r"
                        );
                        if stream.write_all(ack.as_bytes()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (Consumer { received }, local)
    }

    /// Waits until a received message satisfies `wanted`; returns every message so far.
    fn wait_for(&self, wanted: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.received.lock().unwrap().clone();
            if wanted(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the consumer did not receive the expected notifications; got {got:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A connection of the test consumer: plain TCP or TLS over it.
trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// One MLLP frame, or `None` when the peer closed the connection (or the handshake failed).
fn read_frame_or_eof(stream: &mut impl Read) -> Option<String> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return None,
            Ok(_) => bytes.push(byte[0]),
        }
        if bytes.ends_with(&[0x1C, 0x0D]) {
            break;
        }
    }
    let start = bytes.iter().position(|b| *b == 0x0B)? + 1;
    Some(String::from_utf8_lossy(&bytes[start..bytes.len() - 2]).into_owned())
}

/// A free local port (bound and released at once).
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// Field `n` of the first segment `name` of `message`.
fn field<'a>(message: &'a str, name: &str, n: usize) -> &'a str {
    message
        .split('\r')
        .find(|s| s.starts_with(&format!("{name}|")))
        .and_then(|s| {
            // MSH-1 is the field separator itself.
            let skip = if name == "MSH" { n - 1 } else { n };
            s.split('|').nth(skip)
        })
        .unwrap_or("")
}

/// The PID-3 repetitions of `message`.
fn pid3(message: &str) -> Vec<String> {
    field(message, "PID", 3)
        .split('~')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

fn add_consumer(app: &Hl7Server, name: &str, addr: SocketAddr, domains: &[&str]) {
    let mllp = addr.to_string();
    let mut args = vec![
        "consumers",
        "add",
        name,
        "--mllp",
        &mllp,
        "--database-url",
        &app.db.url,
    ];
    for d in domains {
        args.extend_from_slice(&["--domain", d]);
    }
    let out = run_mpi_ok(&app.dir.path, &args);
    assert!(out.contains(&format!("added consumer {name}")), "{out}");
}

fn feed(app: &Hl7Server, messages: &[String]) {
    for a in send_with_hl7_package(app.mllp, messages) {
        assert_eq!(a["msa1"], "AA", "{a}");
    }
}

/// The server's metric `name` (first sample).
async fn metric(app: &Hl7Server, name: &str) -> f64 {
    let url = format!("http://{}/metrics", app.server.addr);
    let text = reqwest::get(url)
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// The HL7 message audit rows (`entity_type` `hl7_message`), newest first, with their content.
async fn message_audit(app: &Hl7Server, key: &str) -> Vec<Value> {
    let (status, body) = app
        .server
        .call(
            "GET",
            "/api/v1/audit?entity_type=hl7_message&include=images&per_page=500",
            Some(key),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().expect("items").clone()
}

async fn consumers_are_notified_of_registrations_and_merges(backend: Backend) {
    let app = Hl7Server::start(backend, &["--pix-poll-ms", "50"]).await;
    let key = app.admin_key();
    let (consumer, addr) = Consumer::listen("127.0.0.1:0".parse().unwrap());
    let (everything, all_addr) = Consumer::listen("127.0.0.1:0".parse().unwrap());
    add_consumer(&app, "HIE", addr, &["TEST", TEST_A_OID]);
    // A consumer with a receiving facility of its own (MSH-6 of its notifications).
    let out = run_mpi_ok(
        &app.dir.path,
        &[
            "consumers",
            "add",
            "ALL",
            "--mllp",
            &all_addr.to_string(),
            "--facility",
            "ALL_FACILITY",
            "--database-url",
            &app.db.url,
        ],
    );
    assert!(out.contains("added consumer ALL"), "{out}");
    // An unknown domain is refused, naming it by position.
    let out = Command::new(env!("CARGO_BIN_EXE_mpi"))
        .current_dir(&app.dir.path)
        .args(["consumers", "add", "BAD", "--mllp", "127.0.0.1:9"])
        .args(["--domain", "NOPE", "--database-url", &app.db.url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("domains[0]"));
    let list = run_mpi_ok(
        &app.dir.path,
        &["consumers", "list", "--database-url", &app.db.url],
    );
    assert!(
        list.contains("HIE") && list.contains("TEST,TEST_A"),
        "{list}"
    );

    // Registration: one A31 per person, PID-3 = its identifiers in the consumer's domains.
    feed(
        &app,
        &[adt(
            "TEST_HARNESS",
            "A01",
            "N1",
            "2.5",
            &[
                &format!("PID|||T-300^^^TEST&{TEST_OID}&ISO||WANJIRU^AMANI||19800202|F"),
                "PV1||O",
            ],
        )],
    );
    let got = consumer.wait_for(|m| m.iter().any(|m| m.contains("T-300")));
    let a31 = got.iter().find(|m| m.contains("T-300")).unwrap();
    assert_eq!(field(a31, "MSH", 9), "ADT^A31^ADT_A05");
    assert_eq!(field(a31, "MSH", 12), "2.5");
    assert_eq!(field(a31, "MSH", 5), "HIE");
    // MSH-6 is never empty: the consumer's name when it has no facility of its own.
    assert_eq!(field(a31, "MSH", 6), "HIE");
    assert_eq!(field(a31, "MSH", 18), "UNICODE UTF-8");
    assert_eq!(field(a31, "PV1", 2), "N");
    assert!(
        !a31.contains("WANJIRU"),
        "a PIX notification carries no name: {a31}"
    );
    assert_eq!(pid3(a31), vec![format!("T-300^^^TEST&{TEST_OID}&ISO^PI")]);
    // The consumer of every domain also gets the enterprise id (MPI).
    let all = everything.wait_for(|m| m.iter().any(|m| m.contains("T-300")));
    let to_all = all.iter().find(|m| m.contains("T-300")).unwrap();
    assert_eq!(field(to_all, "MSH", 5), "ALL");
    assert_eq!(field(to_all, "MSH", 6), "ALL_FACILITY");
    let ids = pid3(to_all);
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids[0].contains("^^^MPI"), "{ids:?}");

    // A second person, then an A40 merging it into the first: the survivor's A31 lists both
    // identifiers (the merge copies the retired record's identifiers to the survivor).
    feed(
        &app,
        &[
            adt(
                "TEST_HARNESS",
                "A01",
                "N2",
                "2.5",
                &[&format!(
                    "PID|||T-301^^^TEST&{TEST_OID}&ISO||KAMAU^JOHN||19550505|M"
                )],
            ),
            adt(
                "TEST_HARNESS",
                "A40",
                "N3",
                "2.5",
                &[
                    &format!("PID|||T-300^^^TEST&{TEST_OID}&ISO"),
                    &format!("MRG|T-301^^^TEST&{TEST_OID}&ISO"),
                ],
            ),
        ],
    );
    let got = consumer.wait_for(|m| m.iter().any(|m| m.contains("T-300") && m.contains("T-301")));
    let merged = got
        .iter()
        .find(|m| m.contains("T-300") && m.contains("T-301"))
        .unwrap();
    let mut ids = pid3(merged);
    ids.sort();
    assert_eq!(
        ids,
        vec![
            format!("T-300^^^TEST&{TEST_OID}&ISO^PI"),
            format!("T-301^^^TEST&{TEST_OID}&ISO^PI"),
        ]
    );
    // Nothing is left queued, nothing failed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&app, "mpi_pix_notification_queue").await > 0.0 {
        assert!(Instant::now() < deadline, "the queue did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        metric(&app, "mpi_pix_notification_failures_total").await,
        0.0
    );

    // Every message in and out is audited: sender, type, control id, patients, outcome; one
    // that is not HL7 at all too (with no sender or control id).
    let mut garbage = TcpStream::connect(app.mllp).unwrap();
    garbage.write_all(b"\x0bNOT AN HL7 MESSAGE\x1c\r").unwrap();
    let answer = crate::hl7_mllp::read_frame(&mut garbage);
    assert!(answer.contains("\rMSA|AR"), "{answer}");
    let rows = message_audit(&app, &key).await;
    assert!(
        rows.iter().any(|r| r["action"] == "hl7_in"
            && r["actor"] == "(none)"
            && r["after"]["outcome"] == "AR"),
        "{rows:#?}"
    );
    let inbound: Vec<&Value> = rows.iter().filter(|r| r["action"] == "hl7_in").collect();
    let n3 = inbound
        .iter()
        .find(|r| r["entity_id"] == "N3")
        .expect("the A40 is audited");
    assert_eq!(n3["after"]["source"], "TEST_HARNESS");
    assert_eq!(n3["after"]["message_type"], "ADT^A40");
    assert_eq!(n3["after"]["outcome"], "AA");
    assert_eq!(n3["after"]["ids"].as_array().unwrap().len(), 2);
    let outbound: Vec<&Value> = rows.iter().filter(|r| r["action"] == "hl7_out").collect();
    assert!(
        outbound
            .iter()
            .any(|r| r["after"]["consumer"] == "HIE" && r["after"]["outcome"] == "AA"),
        "{outbound:#?}"
    );
    assert!(
        !serde_json::to_string(&rows).unwrap().contains("WANJIRU"),
        "message audit rows hold no names"
    );

    // A consumer can be removed.
    run_mpi_ok(
        &app.dir.path,
        &["consumers", "remove", "ALL", "--database-url", &app.db.url],
    );
    let list = run_mpi_ok(
        &app.dir.path,
        &["consumers", "list", "--database-url", &app.db.url],
    );
    assert!(list.contains("HIE") && !list.contains("ALL"), "{list}");
}

#[tokio::test]
async fn consumers_are_notified_of_registrations_and_merges_on_sqlite() {
    consumers_are_notified_of_registrations_and_merges(Backend::Sqlite).await;
}

#[tokio::test]
async fn consumers_are_notified_of_registrations_and_merges_on_postgres() {
    consumers_are_notified_of_registrations_and_merges(Backend::Postgres).await;
}

async fn notifications_wait_for_a_consumer_that_is_down_even_across_a_restart(backend: Backend) {
    let fast = ["--pix-poll-ms", "50", "--pix-retry-max-ms", "200"];
    let app = Hl7Server::start(backend, &fast).await;
    let down = free_port();
    add_consumer(&app, "LATE", down, &["TEST"]);
    // Let the server see the consumer before the change.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    feed(
        &app,
        &[adt(
            "TEST_HARNESS",
            "A04",
            "D1",
            "2.5",
            &[&format!(
                "PID|||T-401^^^TEST&{TEST_OID}&ISO||OYELARAN^TUNDE||19650505|M"
            )],
        )],
    );
    // Attempts fail and are counted; the notification stays queued.
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(&app, "mpi_pix_notification_failures_total").await < 2.0
        || metric(&app, "mpi_pix_notification_queue").await < 1.0
    {
        assert!(Instant::now() < deadline, "no failed attempt was counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Restart while it is still queued, and register another person on the new server.
    let app = app.restart(&fast);
    feed(
        &app,
        &[adt(
            "TEST_HARNESS",
            "A04",
            "D2",
            "2.5",
            &[&format!(
                "PID|||T-402^^^TEST&{TEST_OID}&ISO||OYELARAN^BISI||19700707|F"
            )],
        )],
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The consumer comes up: both arrive, in the order of the changes.
    let (consumer, _) = Consumer::listen(down);
    let got = consumer.wait_for(|m| {
        m.iter().any(|m| m.contains("T-401")) && m.iter().any(|m| m.contains("T-402"))
    });
    let first = got.iter().position(|m| m.contains("T-401")).unwrap();
    let second = got.iter().position(|m| m.contains("T-402")).unwrap();
    assert!(first < second, "{got:#?}");
}

#[tokio::test]
async fn notifications_wait_for_a_consumer_that_is_down_even_across_a_restart_on_sqlite() {
    notifications_wait_for_a_consumer_that_is_down_even_across_a_restart(Backend::Sqlite).await;
}

#[tokio::test]
async fn notifications_wait_for_a_consumer_that_is_down_even_across_a_restart_on_postgres() {
    notifications_wait_for_a_consumer_that_is_down_even_across_a_restart(Backend::Postgres).await;
}

/// Sends one framed message over TLS with Python's `ssl` module (OpenSSL, not the server's
/// rustls), optionally with a client certificate; prints the answer's MSA-1, or `refused`.
fn tls_exchange(dir: &Path, addr: SocketAddr, client: Option<&str>, message: &str) -> String {
    let script = r#"
import socket, ssl, sys
host, port, client, message = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
context = ssl.create_default_context(cafile="ca.pem")
if client:
    context.load_cert_chain(client + ".pem", client + ".key")
try:
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"\x0b" + message.encode() + b"\x1c\r")
            data = b""
            while not data.endswith(b"\x1c\r"):
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
except (ssl.SSLError, ConnectionError, OSError):
    print("refused")
    sys.exit(0)
if not data:
    print("refused")
    sys.exit(0)
for segment in data.strip(b"\x0b\x1c\r").decode().split("\r"):
    if segment.startswith("MSA|"):
        print(segment.split("|")[1])
"#;
    let out = Command::new(hl7_python())
        .current_dir(dir)
        .args([
            "-c",
            script,
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ])
        .arg(client.unwrap_or(""))
        .arg(message)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn mllp_over_tls_with_and_without_client_certificates() {
    let query = |id: &str| {
        format!(
            "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||QBP^Q23^QBP_Q21|{id}|P|2.5\r\
             QPD|IHE PIX Query|Q-{id}|NOBODY^^^TEST&{TEST_OID}&ISO\rRCP|I\r"
        )
    };
    // TLS without client certificates: a TLS client is answered; plain TCP is not.
    let app = Hl7Server::start(Backend::Sqlite, &[]).await;
    crate::tls::write_certificates(&app.dir.path);
    let tls = [
        "--mllp-tls-cert",
        "server.pem",
        "--mllp-tls-key",
        "server.key",
    ];
    let app = app.restart(&tls);
    assert!(app.server.log().contains("mpi listening on mllps://"));
    assert_eq!(
        tls_exchange(&app.dir.path, app.mllp, None, &query("T1")),
        "AE"
    );
    let mut plain = TcpStream::connect(app.mllp).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(format!("\x0b{}\x1c\r", query("T2")).as_bytes())
        .unwrap();
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).unwrap_or(0);
    assert!(
        !buf[..n].windows(4).any(|w| w == b"MSA|"),
        "a plain client gets no HL7 answer from a TLS listener"
    );

    // With a client CA: a client certificate from it is answered; none, or one from another
    // CA, is refused during the handshake.
    let mut required = tls.to_vec();
    required.extend_from_slice(&["--mllp-tls-client-ca", "ca.pem"]);
    let app = app.restart(&required);
    assert_eq!(
        tls_exchange(&app.dir.path, app.mllp, Some("client"), &query("T3")),
        "AE"
    );
    assert_eq!(
        tls_exchange(&app.dir.path, app.mllp, None, &query("T4")),
        "refused"
    );
    assert_eq!(
        tls_exchange(&app.dir.path, app.mllp, Some("other-client"), &query("T5")),
        "refused"
    );
}

/// The test consumer's TLS: `server.pem` for `localhost` and 127.0.0.1, requiring a client
/// certificate from `ca.pem` (files of [`crate::tls::write_certificates`]).
fn consumer_tls(dir: &Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// `other-ca.pem`: a CA that signed nothing the test consumer presents.
fn write_other_ca(dir: &Path) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Not the consumer's CA");
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("other-ca.pem"), cert.pem()).unwrap();
}

async fn consumers_over_tls_are_notified_and_a_wrong_ca_is_retried(backend: Backend) {
    let app = Hl7Server::start(backend, &["--pix-poll-ms", "50"]).await;
    crate::tls::write_certificates(&app.dir.path);
    write_other_ca(&app.dir.path);
    let (secure, addr) = Consumer::listen_with(
        "127.0.0.1:0".parse().unwrap(),
        Some(consumer_tls(&app.dir.path)),
    );
    let mllp = addr.to_string();
    let add = |name: &str, tls: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mpi"))
            .current_dir(&app.dir.path)
            .args(["consumers", "add", name, "--mllp", &mllp])
            .args(tls)
            .args(["--database-url", &app.db.url])
            .output()
            .unwrap()
    };
    // Files that cannot be used are refused when the consumer is added, naming the file.
    for (tls, why) in [
        (&["--tls", "--tls-cert", "client.pem"][..], "--tls-key"),
        (&["--tls-ca", "ca.pem"][..], "--tls"),
        (&["--tls", "--tls-ca", "missing.pem"][..], "missing.pem"),
        (
            &["--tls", "--tls-ca", "server.key"][..],
            "holds no certificate",
        ),
    ] {
        let out = add("BAD", tls);
        assert!(!out.status.success(), "{tls:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{tls:?}: {stderr}");
    }
    // The consumer's CA and a client certificate it accepts; and one trusting another CA.
    let out = add(
        "SECURE",
        &[
            "--tls",
            "--tls-ca",
            "ca.pem",
            "--tls-cert",
            "client.pem",
            "--tls-key",
            "client.key",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = add("WRONG_CA", &["--tls", "--tls-ca", "other-ca.pem"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = run_mpi_ok(
        &app.dir.path,
        &["consumers", "list", "--database-url", &app.db.url],
    );
    assert!(list.contains(&format!("mllps {mllp}")), "{list}");

    feed(
        &app,
        &[adt(
            "TEST_HARNESS",
            "A01",
            "S1",
            "2.5",
            &[&format!(
                "PID|||T-400^^^TEST&{TEST_OID}&ISO||ODHIAMBO^ACHIENG||19900909|F"
            )],
        )],
    );
    let got = secure.wait_for(|m| m.iter().any(|m| m.contains("T-400")));
    let a31 = got.iter().find(|m| m.contains("T-400")).unwrap();
    assert_eq!(field(a31, "MSH", 9), "ADT^A31^ADT_A05");
    assert_eq!(field(a31, "MSH", 5), "SECURE");
    assert!(
        pid3(a31).contains(&format!("T-400^^^TEST&{TEST_OID}&ISO^PI")),
        "{a31}"
    );
    // The consumer whose CA does not vouch for the server certificate: never delivered, each
    // attempt counted as a failure and retried; its notification stays queued; the server
    // keeps serving.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&app, "mpi_pix_notification_failures_total").await < 2.0 {
        assert!(
            Instant::now() < deadline,
            "the failed deliveries were not retried"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The gauge is refreshed every two seconds: wait for a refresh after the feed.
    while metric(&app, "mpi_pix_notification_queue").await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the undelivered notification is not queued"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !secure
            .received
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("|WRONG_CA|")),
        "nothing reaches the consumer through a failed handshake"
    );
    let pix = send_with_hl7_package(
        app.mllp,
        &[format!(
            "MSH|^~\\&|TEST_HARNESS|TEST|MPI|HOSP|20261206120000||QBP^Q23^QBP_Q21|S2|P|2.5\r\
             QPD|IHE PIX Query|Q-S2|T-400^^^TEST&{TEST_OID}&ISO\rRCP|I\r"
        )],
    );
    assert_eq!(pix[0]["msa1"], "AA", "{}", pix[0]);
}

#[tokio::test]
async fn consumers_over_tls_are_notified_and_a_wrong_ca_is_retried_on_sqlite() {
    consumers_over_tls_are_notified_and_a_wrong_ca_is_retried(Backend::Sqlite).await;
}

#[tokio::test]
async fn consumers_over_tls_are_notified_and_a_wrong_ca_is_retried_on_postgres() {
    consumers_over_tls_are_notified_and_a_wrong_ca_is_retried(Backend::Postgres).await;
}

/// The id of the live record holding `system|value`, through the REST search.
async fn record_id(app: &Hl7Server, key: &str, system: &str, value: &str) -> String {
    let (status, body) = app
        .server
        .call(
            "GET",
            &format!("/api/v1/patients?identifier={system}|{value}"),
            Some(key),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
    body["items"][0]["id"].as_str().unwrap().to_owned()
}

/// The PID-3 lists (sorted) of `messages`.
fn lists(messages: &[String]) -> Vec<Vec<String>> {
    messages
        .iter()
        .map(|m| {
            let mut ids = pid3(m);
            ids.sort();
            ids
        })
        .collect()
}

/// ITI-10 after a merge through REST and its undo (ITI TF-2 3.10.4.1.1: every resulting set of
/// cross-referenced identifiers is notified). The merge: the survivor's set, now holding the
/// retired record's identifiers (ITI TF-2 3.8.4.2.3: references to the retired id now lead to
/// the survivor), and the set the retired record left (a record linked with it by a national
/// id), without them. The undo splits them again: both sides get their own set back.
async fn merge_and_undo_notify_every_resulting_set(backend: Backend) {
    let app = Hl7Server::start(backend, &["--pix-poll-ms", "50"]).await;
    let key = app.admin_key();
    let (consumer, addr) = Consumer::listen("127.0.0.1:0".parse().unwrap());
    add_consumer(&app, "HIE", addr, &["TEST", "TEST_A"]);
    // Let the server pick the consumer up before anything changes.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    feed(
        &app,
        &[
            adt(
                "TEST_HARNESS",
                "A01",
                "U1",
                "2.5",
                &[&format!(
                    "PID|||T-500^^^TEST&{TEST_OID}&ISO||MWANGI^ZAWADI||19700101|F"
                )],
            ),
            adt(
                "TEST_HARNESS",
                "A01",
                "U2",
                "2.5",
                &[&format!(
                    "PID|||T-501^^^TEST&{TEST_OID}&ISO~NID-77^^^NID||OTIENO^BARACK||19600606|M"
                )],
            ),
            adt(
                "TEST_HARNESS_A",
                "A01",
                "U3",
                "2.5",
                &[&format!(
                    "PID|||TA-1^^^TEST_A&{TEST_A_OID}&ISO~NID-77^^^NID||OTIENO^BARACK||19600606|M"
                )],
            ),
        ],
    );
    let survivor_alone = vec![format!("T-500^^^TEST&{TEST_OID}&ISO^PI")];
    let linked = vec![
        format!("T-501^^^TEST&{TEST_OID}&ISO^PI"),
        format!("TA-1^^^TEST_A&{TEST_A_OID}&ISO^PI"),
    ];
    consumer.wait_for(|m| lists(m).contains(&linked));
    let survivor = record_id(&app, &key, "http://ohie.org/test/test", "T-500").await;
    let retired = record_id(&app, &key, "http://ohie.org/test/test", "T-501").await;

    let from = consumer.received.lock().unwrap().len();
    let (status, merged) = app
        .server
        .call(
            "POST",
            "/api/v1/merges",
            Some(key.as_str()),
            &[],
            Some(&serde_json::json!({"target": survivor, "source": retired})),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    let merge_id = merged["merge_id"].as_str().unwrap().to_owned();
    let merged_set = vec![
        format!("T-500^^^TEST&{TEST_OID}&ISO^PI"),
        format!("T-501^^^TEST&{TEST_OID}&ISO^PI"),
    ];
    let left_behind = vec![format!("TA-1^^^TEST_A&{TEST_A_OID}&ISO^PI")];
    consumer.wait_for(|m| {
        let sets = lists(&m[from..]);
        sets.contains(&merged_set) && sets.contains(&left_behind)
    });

    let from = consumer.received.lock().unwrap().len();
    let (status, undone) = app
        .server
        .call(
            "POST",
            &format!("/api/v1/merges/{merge_id}/undo"),
            Some(key.as_str()),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{undone}");
    consumer.wait_for(|m| {
        let sets = lists(&m[from..]);
        sets.contains(&survivor_alone) && sets.contains(&linked)
    });
    // No message after the undo still puts the retired identifier with the survivor.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&app, "mpi_pix_notification_queue").await > 0.0 {
        assert!(Instant::now() < deadline, "the queue did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after_undo = lists(&consumer.received.lock().unwrap()[from..]);
    assert!(!after_undo.contains(&merged_set), "{after_undo:?}");
}

#[tokio::test]
async fn merge_and_undo_notify_every_resulting_set_on_sqlite() {
    merge_and_undo_notify_every_resulting_set(Backend::Sqlite).await;
}

#[tokio::test]
async fn merge_and_undo_notify_every_resulting_set_on_postgres() {
    merge_and_undo_notify_every_resulting_set(Backend::Postgres).await;
}
