//! A client too slow to send its request head (issue 28 §4: "every error on `/api/v1` the JSON
//! error body, 408 included"): raw TCP and TLS clients send part of a head and wait past
//! `--request-head-timeout-secs`; they get a 408 with the JSON error body (an OperationOutcome
//! when the request line shows a `/fhir` target) and the connection closed, while the one
//! HTTP worker keeps answering. On both databases, through the real binary.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use migration::testing::{Backend, TestDb};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::{ScratchDir, TestServer};

/// The head timeout the servers of these tests run with.
const TIMEOUT: Duration = Duration::from_secs(1);

/// A raw answer: status, lower-cased headers, body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn parse(raw: &[u8]) -> Answer {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete answer: {text:?}"));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {text:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// Connects and sends `start` (a head's beginning, or a whole request).
async fn partial(server: &TestServer, start: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(start.as_bytes()).await.expect("send");
    stream
}

/// Reads until the server closes the connection (at most 10 s): what it sent.
async fn read_raw_until_closed(mut stream: TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the server closed the connection within 10 s")
        .expect("read");
    raw
}

/// Reads until the server closes the connection (at most 10 s): the answer and when it came.
async fn read_until_closed(stream: TcpStream) -> (Answer, Instant) {
    let raw = read_raw_until_closed(stream).await;
    (Answer::parse(&raw), Instant::now())
}

async fn a_slow_request_head_gets_the_error_body_and_the_server_answers_others(backend: Backend) {
    let db = TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    let timeout = TIMEOUT.as_secs().to_string();
    let server = TestServer::start(
        &dir.path,
        &[
            "--database-url",
            db.url.as_str(),
            "--workers",
            "1",
            "--request-head-timeout-secs",
            &timeout,
        ],
    );
    let started = Instant::now();
    let api = partial(
        &server,
        "GET /api/v1/patients?family=x HTTP/1.1\r\nHost: mpi\r\n",
    )
    .await;
    let fhir = partial(
        &server,
        "GET /fhir/Patient?family=x HTTP/1.1\r\nHost: mpi\r\n",
    )
    .await;
    let silent = partial(&server, "").await;
    let cut = partial(&server, "GET /fh").await;

    // The one worker is not held by the waiting connections.
    let health = Instant::now();
    let (status, _) = server.get("/health").await;
    assert_eq!(status, 200);
    assert!(
        health.elapsed() < TIMEOUT,
        "/health took {:?} beside four slow heads",
        health.elapsed()
    );

    let (answer, at) = read_until_closed(api).await;
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("connection"), Some("close"));
    let body = answer.json();
    assert_eq!(body["code"], "request_timeout", "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert!(body["field"].is_null(), "{body}");
    let waited = at - started;
    assert!(
        waited >= TIMEOUT && waited < TIMEOUT * 4,
        "answered after {waited:?} for a {TIMEOUT:?} timeout"
    );

    // A `/fhir` target shown by the partial head: an OperationOutcome.
    let (answer, _) = read_until_closed(fhir).await;
    assert_eq!(answer.status, 408);
    assert_eq!(
        answer.header("content-type"),
        Some("application/fhir+json"),
        "{}",
        answer.body
    );
    let outcome = answer.json();
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    assert_eq!(outcome["issue"][0]["code"], "timeout", "{outcome}");
    assert_eq!(outcome["issue"][0]["details"]["text"], "request_timeout");

    // Nothing sent, or a target cut before it shows `/fhir`: the JSON error body.
    for stream in [silent, cut] {
        let (answer, _) = read_until_closed(stream).await;
        assert_eq!(answer.status, 408);
        assert_eq!(answer.json()["code"], "request_timeout");
    }

    // A head sent in slow pieces but within the time is served; the connection stays open
    // (keep-alive) past the head timeout, and pipelined requests on it are answered.
    let mut stream = partial(&server, "GET /health HTTP/1.1\r\n").await;
    tokio::time::sleep(TIMEOUT / 2).await;
    stream.write_all(b"Host: mpi\r\n\r\n").await.unwrap();
    let mut first = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut first))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    assert!(
        first[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );
    tokio::time::sleep(TIMEOUT * 3 / 2).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: mpi\r\n\r\nGET /health HTTP/1.1\r\nHost: mpi\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut rest = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut rest))
        .await
        .expect("answers within 5 s")
        .unwrap();
    assert_eq!(rest.matches("HTTP/1.1 200").count(), 2, "{rest}");

    // Graceful shutdown with a slow head waiting: as actix does with every connection that has
    // no request in flight, it is closed at once (no answer), and the server stops cleanly
    // without waiting for the head's deadline, let alone its 30 s shutdown timeout.
    let waiting = partial(&server, "POST /api/v1/patients HTTP/1.1\r\n").await;
    let reader = tokio::spawn(read_raw_until_closed(waiting));
    // Once a later connection is served, the server has accepted the waiting one (accepts are
    // in order), so SIGTERM finds it open.
    let later = partial(
        &server,
        "GET /health HTTP/1.1\r\nHost: mpi\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(read_until_closed(later).await.0.status, 200);
    let stopping = Instant::now();
    let (clean, log) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(clean, "the server did not stop cleanly:\n{log}");
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "stopping took {:?}",
        stopping.elapsed()
    );
    let raw = reader.await.unwrap();
    assert!(
        raw.is_empty() || raw.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
}

both_backends!(a_slow_request_head_gets_the_error_body_and_the_server_answers_others);

async fn a_slow_request_head_over_tls_gets_the_error_body(backend: Backend) {
    let db = TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    crate::tls::write_certificates(&dir.path);
    let timeout = TIMEOUT.as_secs().to_string();
    let server = TestServer::start(
        &dir.path,
        &[
            "--database-url",
            db.url.as_str(),
            "--workers",
            "1",
            "--request-head-timeout-secs",
            &timeout,
            "--tls-cert",
            "server.pem",
            "--tls-key",
            "server.key",
        ],
    );
    let (addr, ca) = (server.addr, dir.path.join("ca.pem"));
    let (raw, waited) = tokio::task::spawn_blocking(move || {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(&ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = "localhost".try_into().unwrap();
        let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let socket = std::net::TcpStream::connect(addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut tls = rustls::StreamOwned::new(connection, socket);
        let started = Instant::now();
        tls.write_all(b"GET /api/v1/patients HTTP/1.1\r\nHost: localhost\r\n")
            .unwrap();
        tls.flush().unwrap();
        let mut raw = Vec::new();
        tls.read_to_end(&mut raw).expect("read until close_notify");
        (raw, started.elapsed())
    })
    .await
    .unwrap();
    let answer = Answer::parse(&raw);
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json()["code"], "request_timeout");
    assert!(
        waited >= TIMEOUT && waited < TIMEOUT * 4,
        "after {waited:?}"
    );
    // And the server still answers over TLS.
    let out = std::process::Command::new("curl")
        .current_dir(&dir.path)
        .args([
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            "ca.pem",
            "-o",
            "/dev/null",
        ])
        .args(["-w", "%{http_code}"])
        .arg(format!("https://{}/health", server.addr))
        .output()
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
}

both_backends!(a_slow_request_head_over_tls_gets_the_error_body);
