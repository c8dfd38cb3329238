//! IHE PMIR Subscribe to Patient Updates (ITI-94) through the real binary: a Patient Identity
//! Subscriber creates, reads, searches and deletes a Subscription; a test HTTP receiver written
//! here (a plain TCP listener reading HTTP/1.1 by hand, not the server's client) gets a Mobile
//! Patient Identity Feed message (ITI-93) after a Patient create, an update and a PMIR merge,
//! each parsed by the independent `fhir.resources` checker; a notification queued while the
//! receiver is down arrives once it is up, across a server restart (the Subscription in `error`
//! meanwhile, `active` again after); ITI-94's enable and disable, in JSON and XML; bad
//! Subscriptions are refused with an OperationOutcome and nothing is stored. Over https (the
//! receiver's TLS by rustls here, certificates made by rcgen): an endpoint signed by the CA of
//! `--subscription-ca-file` gets the message, one signed by another CA never does (the rows
//! stay queued, the failures are counted); an unusable CA file stops `mpi serve` at start.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use migration::testing::Backend;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use service::context::Role;

use crate::app::TestApp;
use crate::both_backends;
use crate::fhir::{Fhir, checker_python, fhir_person, id_of};
use crate::helpers::ScratchDir;

/// One request the receiver got: its headers (names in lower case) and its JSON body.
#[derive(Clone, Debug)]
struct Delivery {
    headers: Vec<(String, String)>,
    body: Value,
}

impl Delivery {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The history Bundle's entries.
    fn entries(&self) -> &[Value] {
        self.body["entry"][1]["resource"]["entry"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The entry of `Patient/{id}`, if the message has one.
    fn entry_of(&self, id: &str) -> Option<&Value> {
        let suffix = format!("/Patient/{id}");
        self.entries()
            .iter()
            .find(|e| e["fullUrl"].as_str().is_some_and(|u| u.ends_with(&suffix)))
    }
}

/// A subscriber's endpoint: an HTTP/1.1 listener that keeps every POST and answers 200.
struct Receiver {
    got: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    fn listen(addr: SocketAddr) -> (Receiver, SocketAddr) {
        Receiver::start(addr, None)
    }

    /// Like [`Receiver::listen`], over TLS (rustls here, with the certificate and key given):
    /// an https endpoint.
    fn listen_tls(cert: &Path, key: &Path) -> (Receiver, SocketAddr) {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .expect("certificate file")
            .collect::<Result<_, _>>()
            .expect("certificates");
        let key = PrivateKeyDer::from_pem_file(key).expect("key file");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
        Receiver::start("127.0.0.1:0".parse().expect("addr"), Some(Arc::new(config)))
    }

    fn start(addr: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) -> (Receiver, SocketAddr) {
        let listener = TcpListener::bind(addr).expect("bind the test receiver");
        let local = listener.local_addr().expect("address");
        let got = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&got);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let store = Arc::clone(&store);
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    None => serve_connection(stream, &store),
                    Some(config) => {
                        let Ok(connection) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        serve_connection(rustls::StreamOwned::new(connection, stream), &store);
                    }
                });
            }
        });
        (Receiver { got }, local)
    }

    /// Waits (up to 20 s) until a delivery satisfies `wanted`, and returns it.
    fn wait_for(&self, what: &str, wanted: impl Fn(&Delivery) -> bool) -> Delivery {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = self.got.lock().expect("lock").iter().find(|d| wanted(d)) {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no delivery {what}; got {:#?}",
                self.got.lock().expect("lock")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn all(&self) -> Vec<Delivery> {
        self.got.lock().expect("lock").clone()
    }
}

/// Reads HTTP/1.1 requests on one connection, one after the other (keep-alive), keeping each
/// POST and answering 200; returns when the peer closes or breaks off (a TLS handshake the
/// client refused included).
fn serve_connection(stream: impl Read + Write, store: &Mutex<Vec<Delivery>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        store.lock().expect("lock").push(Delivery { headers, body });
        let answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let writer = reader.get_mut();
        if writer.write_all(answer.as_bytes()).is_err() || writer.flush().is_err() {
            return;
        }
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

const FAST: [&str; 6] = [
    "--subscription-poll-ms",
    "50",
    "--subscription-retry-max-ms",
    "200",
    "--subscription-error-after",
    "2",
];

/// A PMIR Subscription request (ITI-94) to `endpoint`.
fn subscription(endpoint: &str, criteria: &str) -> Value {
    json!({
        "resourceType": "Subscription",
        "meta": {"profile": ["https://profiles.ihe.net/ITI/PMIR/StructureDefinition/IHE.PMIR.Subscription.Request"]},
        "status": "requested",
        "contact": [{"system": "phone", "value": "+1-555-555-1212"}],
        "reason": "To receive Patient changes.",
        "criteria": criteria,
        "channel": {
            "type": "message",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "header": ["Authorization: Bearer subscriber-secret"]
        }
    })
}

/// Parses every message with the independent checker.
fn check_messages(deliveries: &[Delivery]) {
    let dir = ScratchDir::new();
    for (i, d) in deliveries.iter().enumerate() {
        std::fs::write(dir.path.join(format!("{i:04}.json")), d.body.to_string())
            .expect("write message");
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fhir_validate.py");
    let out = Command::new(checker_python())
        .arg(script)
        .arg(&dir.path)
        .output()
        .expect("run fhir_validate.py");
    assert!(
        out.status.success(),
        "the independent FHIR parser rejected a message:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts the shape every PMIR feed message has.
fn assert_feed_message(d: &Delivery, endpoint: &str) {
    assert_eq!(d.header("content-type"), Some("application/fhir+json"));
    assert_eq!(d.header("authorization"), Some("Bearer subscriber-secret"));
    let body = &d.body;
    assert_eq!(body["resourceType"], "Bundle", "{body}");
    assert_eq!(body["type"], "message", "{body}");
    let header = &body["entry"][0]["resource"];
    assert_eq!(header["resourceType"], "MessageHeader");
    assert_eq!(header["eventUri"], "urn:ihe:iti:pmir:2019:patient-feed");
    assert_eq!(header["destination"][0]["endpoint"], endpoint);
    assert!(
        header["source"]["endpoint"]
            .as_str()
            .is_some_and(|e| e.ends_with("/fhir"))
    );
    assert_eq!(header["focus"][0]["reference"], body["entry"][1]["fullUrl"]);
    assert_eq!(body["entry"][1]["resource"]["type"], "history");
}

async fn subscribers_receive_creates_updates_and_merges(backend: Backend) {
    let (receiver, addr) = Receiver::listen("127.0.0.1:0".parse().expect("addr"));
    let endpoint = format!("http://{addr}/pmir");
    let app = TestApp::spawn_with(backend, &[], &FAST).await;
    let fhir = Fhir::new(&app);

    // A registrar may not subscribe (it would receive every record).
    let refused = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Subscription",
            &[],
            Some(&subscription(&endpoint, "Patient")),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    let created = fhir
        .call(
            Role::Steward,
            "POST",
            "/Subscription",
            &[],
            Some(&subscription(&endpoint, "Patient")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["status"], "active");
    let sid = id_of(&created.body);
    assert!(
        created
            .header("location")
            .is_some_and(|l| l.ends_with(&format!("/fhir/Subscription/{sid}"))),
        "{:?}",
        created.headers
    );
    let read = fhir
        .call(
            Role::Steward,
            "GET",
            &format!("/Subscription/{sid}"),
            &[],
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["channel"]["endpoint"], endpoint.as_str());
    assert_eq!(read.body["criteria"], "Patient");
    let search = fhir
        .call(
            Role::Steward,
            "GET",
            "/Subscription?status=active",
            &[],
            None,
        )
        .await;
    assert_eq!(search.status, 200, "{}", search.body);
    assert_eq!(search.body["total"], 1, "{}", search.body);

    // Create: a message whose history entry POSTs the new Patient.
    let a = fhir
        .create(&fhir_person("Quennell", "Ottoline", "1961-02-03", "SUB-1"))
        .await;
    let a_id = id_of(&a);
    let created_msg = receiver.wait_for("for the create", |d| {
        d.entry_of(&a_id)
            .is_some_and(|e| e["request"]["method"] == "POST")
    });
    assert_feed_message(&created_msg, &endpoint);
    let entry = created_msg.entry_of(&a_id).expect("entry");
    assert_eq!(entry["resource"]["name"][0]["family"], "Quennell");
    assert_eq!(entry["request"]["url"], "Patient");

    // Update: PUT Patient/{id} with the new name.
    let mut changed = fhir_person("Quennell-Hart", "Ottoline", "1961-02-03", "SUB-1");
    changed["id"] = json!(a_id);
    let updated = fhir
        .call(
            Role::Registrar,
            "PUT",
            &format!("/Patient/{a_id}"),
            &[("If-Match", "W/\"1\"")],
            Some(&changed),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let updated_msg = receiver.wait_for("for the update", |d| {
        d.entry_of(&a_id).is_some_and(|e| {
            e["request"]["method"] == "PUT" && e["resource"]["name"][0]["family"] == "Quennell-Hart"
        })
    });
    assert_feed_message(&updated_msg, &endpoint);
    assert_eq!(
        updated_msg.entry_of(&a_id).expect("entry")["request"]["url"],
        format!("Patient/{a_id}")
    );

    // A PMIR merge (ITI-93 in): A deprecated, replaced by B; the subscriber is told A is
    // inactive and replaced by B.
    let b = fhir
        .create(&fhir_person("Quennell", "Ottilie", "1961-02-03", "SUB-2"))
        .await;
    let b_id = id_of(&b);
    let mut deprecated = fhir_person("Quennell-Hart", "Ottoline", "1961-02-03", "SUB-1");
    deprecated["id"] = json!(a_id);
    deprecated["active"] = json!(false);
    deprecated["link"] =
        json!([{"type": "replaced-by", "other": {"reference": format!("Patient/{b_id}")}}]);
    let feed = json!({
        "resourceType": "Bundle",
        "type": "message",
        "timestamp": "2026-12-06T08:00:00Z",
        "entry": [
            {"fullUrl": "urn:uuid:7a1d7c52-3b7e-4d8e-9a60-000000000001", "resource": {
                "resourceType": "MessageHeader",
                "id": "7a1d7c52-3b7e-4d8e-9a60-000000000001",
                "eventUri": "urn:ihe:iti:pmir:2019:patient-feed",
                "source": {"endpoint": "http://source.example.org/fhir"},
                "destination": [{"endpoint": "http://mpi.example.org/fhir"}],
                "focus": [{"reference": "urn:uuid:7a1d7c52-3b7e-4d8e-9a60-000000000002"}]
            }},
            {"fullUrl": "urn:uuid:7a1d7c52-3b7e-4d8e-9a60-000000000002", "resource": {
                "resourceType": "Bundle", "type": "history", "entry": [{
                    "fullUrl": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
                    "request": {"method": "PUT", "url": format!("Patient/{a_id}")},
                    "resource": deprecated
                }]
            }}
        ]
    });
    let merged = fhir
        .call(Role::Steward, "POST", "/Bundle", &[], Some(&feed))
        .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    let merge_msg = receiver.wait_for("for the merge", |d| {
        d.entry_of(&a_id)
            .is_some_and(|e| e["request"]["method"] == "PUT" && e["resource"]["active"] == false)
    });
    assert_feed_message(&merge_msg, &endpoint);
    let retired = &merge_msg.entry_of(&a_id).expect("entry")["resource"];
    assert_eq!(retired["link"][0]["type"], "replaced-by", "{retired}");
    assert_eq!(
        retired["link"][0]["other"]["reference"],
        format!("Patient/{b_id}")
    );

    // Every message parses as FHIR R4 (independently); so do the Subscription answers.
    check_messages(&receiver.all());

    // The deliveries are audited (ids, never content).
    let (status, trail) = app
        .as_role(
            Role::Auditor,
            "GET",
            "/api/v1/audit?entity_type=fhir_message&include=images&per_page=500",
            None,
        )
        .await;
    assert_eq!(status, 200, "{trail}");
    assert!(
        trail.to_string().contains(&a_id),
        "no fhir_out audit row names the patient: {trail}"
    );

    // Delete: gone, and no more messages.
    let deleted = fhir
        .call(
            Role::Steward,
            "DELETE",
            &format!("/Subscription/{sid}"),
            &[],
            None,
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let gone = fhir
        .call(
            Role::Steward,
            "GET",
            &format!("/Subscription/{sid}"),
            &[],
            None,
        )
        .await;
    assert_eq!(gone.status, 404, "{}", gone.body);
    let before = receiver.all().len();
    fhir.create(&fhir_person("Ravensworth", "Idris", "1977-07-07", "SUB-3"))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.all().len(), before, "delivered after the delete");
    fhir.check_all_received();
}
both_backends!(subscribers_receive_creates_updates_and_merges);

async fn metric(app: &TestApp, name: &str) -> f64 {
    let url = format!("http://{}/metrics", app.server.addr);
    let text = reqwest::get(url)
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

async fn a_notification_waits_for_a_receiver_that_is_down_across_a_restart(backend: Backend) {
    let down = free_port();
    let endpoint = format!("http://{down}/pmir");
    let app = TestApp::spawn_with(backend, &[], &FAST).await;
    let fhir = Fhir::new(&app);
    let created = fhir
        .call(
            Role::Admin,
            "POST",
            "/Subscription",
            &[],
            Some(&subscription(&endpoint, "Patient?identifier=urn:test:mrn|")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let sid = id_of(&created.body);
    let a = fhir
        .create(&fhir_person("Tallowmere", "Brisa", "1983-03-13", "DOWN-1"))
        .await;
    let a_id = id_of(&a);
    // Attempts fail and are counted; the notification stays queued; the status turns error.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = fhir
            .call(
                Role::Admin,
                "GET",
                &format!("/Subscription/{sid}"),
                &[],
                None,
            )
            .await;
        if metric(&app, "mpi_fhir_subscription_failures_total").await >= 2.0
            && metric(&app, "mpi_fhir_subscription_queue").await >= 1.0
            && read.body["status"] == "error"
        {
            assert!(read.body["error"].is_string(), "{}", read.body);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failure was counted: {}",
            read.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    fhir.check_all_received();
    // The server restarts while it is still queued; then the receiver comes up: the queued
    // notification arrives, and the status is active again.
    let app = app.restart(&FAST);
    let fhir = Fhir::new(&app);
    let (receiver, _) = Receiver::listen(down);
    let got = receiver.wait_for("after the receiver came up", |d| {
        d.entry_of(&a_id).is_some()
    });
    assert_feed_message(&got, &endpoint);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let read = fhir
            .call(
                Role::Admin,
                "GET",
                &format!("/Subscription/{sid}"),
                &[],
                None,
            )
            .await;
        if read.body["status"] == "active" {
            assert!(read.body.get("error").is_none(), "{}", read.body);
            break;
        }
        assert!(Instant::now() < deadline, "still {}", read.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    check_messages(&receiver.all());
    fhir.check_all_received();
}
both_backends!(a_notification_waits_for_a_receiver_that_is_down_across_a_restart);

async fn bad_subscriptions_are_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let good = subscription("http://127.0.0.1:9/pmir", "Patient");
    let mut not_http = good.clone();
    not_http["channel"]["endpoint"] = json!("ftp://example.org/pmir");
    let mut no_criteria = good.clone();
    no_criteria
        .as_object_mut()
        .expect("object")
        .remove("criteria");
    let mut websocket = good.clone();
    websocket["channel"]["type"] = json!("websocket");
    let mut other_resource = good.clone();
    other_resource["criteria"] = json!("Observation?code=1234");
    let mut xml_payload = good.clone();
    xml_payload["channel"]["payload"] = json!("application/fhir+xml");
    let mut unknown_element = good.clone();
    unknown_element["end"] = json!("2027-01-01T00:00:00Z");
    for (what, body, status) in [
        ("a non-http endpoint", not_http, 422),
        ("no criteria", no_criteria, 422),
        ("a websocket channel", websocket, 422),
        ("criteria on Observation", other_resource, 422),
        ("an XML payload", xml_payload, 422),
        ("an element not stored", unknown_element, 422),
    ] {
        let answer = fhir
            .call(Role::Admin, "POST", "/Subscription", &[], Some(&body))
            .await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        assert_eq!(answer.body["resourceType"], "OperationOutcome", "{what}");
    }
    let malformed = fhir
        .raw(
            Some(Role::Admin),
            "POST",
            "/Subscription",
            &[],
            Some("{\"resourceType\": ".to_owned()),
        )
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    let search = fhir
        .call(Role::Admin, "GET", "/Subscription", &[], None)
        .await;
    assert_eq!(search.status, 200, "{}", search.body);
    assert_eq!(search.body["total"], 0, "{}", search.body);
    // The CapabilityStatement lists the resource.
    let metadata = fhir.raw(None, "GET", "/metadata", &[], None).await;
    let resources: Vec<&str> = metadata.body["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    assert!(resources.contains(&"Subscription"), "{resources:?}");
    fhir.check_all_received();
}
both_backends!(bad_subscriptions_are_refused_and_nothing_is_stored);

/// A PMIR Subscription request in FHIR XML (elements in schema order).
const SUBSCRIPTION_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Subscription xmlns="http://hl7.org/fhir">
  <status value="requested"/>
  <reason value="To receive Patient changes."/>
  <criteria value="Patient?identifier=urn:test:mrn|"/>
  <channel>
    <type value="message"/>
    <endpoint value="RECEIVER"/>
    <payload value="application/fhir+json"/>
  </channel>
</Subscription>"#;

async fn subscriptions_are_switched_off_and_on_in_json_and_xml(backend: Backend) {
    let (receiver, addr) = Receiver::listen("127.0.0.1:0".parse().expect("addr"));
    let endpoint = format!("http://{addr}/pmir");
    let app = TestApp::spawn_with(backend, &[], &FAST).await;
    let fhir = Fhir::new(&app);
    let mut xml = crate::fhir_xml::Client {
        app: &app,
        kept: Vec::new(),
    };
    // ITI-94 in XML, answered in XML.
    let created = xml
        .send(
            Role::Steward,
            "POST",
            "/Subscription",
            &[
                ("Content-Type", crate::fhir_xml::FHIR_XML),
                ("Accept", crate::fhir_xml::FHIR_XML),
            ],
            Some(&SUBSCRIPTION_XML.replace("RECEIVER", &endpoint)),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(
        created.text.contains(r#"<status value="active"/>"#),
        "{}",
        created.text
    );
    let sid = created
        .location
        .as_deref()
        .and_then(|l| l.rsplit('/').next())
        .expect("location")
        .to_owned();
    // Off: the change of a record selected is not delivered, and not queued.
    let read = fhir
        .call(
            Role::Steward,
            "GET",
            &format!("/Subscription/{sid}"),
            &[],
            None,
        )
        .await;
    let mut off = read.body.clone();
    off["status"] = json!("off");
    off.as_object_mut().expect("object").remove("meta");
    let switched = fhir
        .call(
            Role::Steward,
            "PUT",
            &format!("/Subscription/{sid}"),
            &[],
            Some(&off),
        )
        .await;
    assert_eq!(switched.status, 200, "{}", switched.body);
    assert_eq!(switched.body["status"], "off");
    let listed = fhir
        .call(Role::Steward, "GET", "/Subscription?status=off", &[], None)
        .await;
    assert_eq!(listed.body["total"], 1, "{}", listed.body);
    let quiet = fhir
        .create(&fhir_person("Underhill", "Marisol", "1990-09-09", "OFF-1"))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(receiver.all().is_empty(), "delivered while off");
    // On again (requested): active, and the next change is delivered.
    let mut on = off.clone();
    on["status"] = json!("requested");
    let switched = fhir
        .call(
            Role::Steward,
            "PUT",
            &format!("/Subscription/{sid}"),
            &[],
            Some(&on),
        )
        .await;
    assert_eq!(switched.status, 200, "{}", switched.body);
    assert_eq!(switched.body["status"], "active");
    let loud = fhir
        .create(&fhir_person("Underhill", "Benedikt", "1991-01-01", "ON-1"))
        .await;
    let loud_id = id_of(&loud);
    receiver.wait_for("after switching on", |d| d.entry_of(&loud_id).is_some());
    // The criteria (identifier system urn:test:mrn) leave out a record without one: the next
    // record that has one is delivered, the one before it without one never is.
    let mut elsewhere = fhir_person("Underhill", "Cosima", "1992-02-02", "X-1");
    elsewhere["identifier"][0]["system"] = json!("urn:test:other");
    let elsewhere_id = id_of(&fhir.create(&elsewhere).await);
    let after = fhir
        .create(&fhir_person("Underhill", "Dorian", "1993-03-03", "ON-2"))
        .await;
    let after_id = id_of(&after);
    receiver.wait_for("after the unselected record", |d| {
        d.entry_of(&after_id).is_some()
    });
    assert!(
        receiver
            .all()
            .iter()
            .all(|d| d.entry_of(&elsewhere_id).is_none()),
        "a record the criteria do not select was delivered"
    );
    assert!(
        receiver
            .all()
            .iter()
            .all(|d| d.entry_of(&id_of(&quiet)).is_none()),
        "the change made while off was delivered"
    );
    // Read in XML.
    let read = xml
        .send(
            Role::Steward,
            "GET",
            &format!("/Subscription/{sid}?_format=xml"),
            &[],
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert!(read.text.contains("<Subscription"), "{}", read.text);
    xml.check_all();
    fhir.check_all_received();
    check_messages(&receiver.all());
}
both_backends!(subscriptions_are_switched_off_and_on_in_json_and_xml);

async fn https_endpoints_are_delivered_to_only_when_their_ca_is_trusted(backend: Backend) {
    let dir = ScratchDir::new();
    let (trusted, foreign) = (dir.path.join("trusted"), dir.path.join("foreign"));
    for d in [&trusted, &foreign] {
        std::fs::create_dir_all(d).expect("mkdir");
        // A CA, and a server certificate for 127.0.0.1 it signed; two such, unrelated.
        crate::tls::write_certificates(d);
    }
    let (good, good_addr) =
        Receiver::listen_tls(&trusted.join("server.pem"), &trusted.join("server.key"));
    let (bad, bad_addr) =
        Receiver::listen_tls(&foreign.join("server.pem"), &foreign.join("server.key"));
    let ca_file = trusted.join("ca.pem");
    let mut args = FAST.to_vec();
    args.extend([
        "--subscription-ca-file",
        ca_file.to_str().expect("utf-8 path"),
    ]);
    let app = TestApp::spawn_with(backend, &[], &args).await;
    let fhir = Fhir::new(&app);
    let good_endpoint = format!("https://{good_addr}/pmir");
    let bad_endpoint = format!("https://{bad_addr}/pmir");
    let mut sids = Vec::new();
    for endpoint in [&good_endpoint, &bad_endpoint] {
        let created = fhir
            .call(
                Role::Steward,
                "POST",
                "/Subscription",
                &[],
                Some(&subscription(endpoint, "Patient")),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        sids.push(id_of(&created.body));
    }
    let a = fhir
        .create(&fhir_person("Ashgrove", "Perpetua", "1958-08-18", "TLS-1"))
        .await;
    let a_id = id_of(&a);
    let got = good.wait_for("over https", |d| d.entry_of(&a_id).is_some());
    assert_feed_message(&got, &good_endpoint);
    assert_eq!(
        got.entry_of(&a_id).expect("entry")["resource"]["name"][0]["family"],
        "Ashgrove"
    );
    check_messages(&good.all());

    // The endpoint whose certificate no trusted CA signed: the TLS handshake fails, nothing
    // reaches it, the failures are counted, its notification stays queued and its status
    // turns error.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = fhir
            .call(
                Role::Steward,
                "GET",
                &format!("/Subscription/{}", sids[1]),
                &[],
                None,
            )
            .await;
        if metric(&app, "mpi_fhir_subscription_failures_total").await >= 2.0
            && metric(&app, "mpi_fhir_subscription_queue").await >= 1.0
            && read.body["status"] == "error"
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the untrusted endpoint did not fail: {}",
            read.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(bad.all().is_empty(), "delivered to an untrusted endpoint");
    // Still queued for it, in the database (the trusted endpoint's rows were deleted).
    let queued = queued_rows(&app, &sids[1]).await;
    assert!(
        queued >= 1,
        "the untrusted endpoint's notification was dropped"
    );
    assert_eq!(queued_rows(&app, &sids[0]).await, 0);
    let good_read = fhir
        .call(
            Role::Steward,
            "GET",
            &format!("/Subscription/{}", sids[0]),
            &[],
            None,
        )
        .await;
    assert_eq!(good_read.body["status"], "active", "{}", good_read.body);
    fhir.check_all_received();
}
both_backends!(https_endpoints_are_delivered_to_only_when_their_ca_is_trusted);

/// The rows of `fhir_subscription_outbox` queued for the Subscription `sid`.
async fn queued_rows(app: &TestApp, sid: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.conn.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM fhir_subscription_outbox WHERE subscription_id = $1"
        }
        _ => "SELECT COUNT(*) AS n FROM fhir_subscription_outbox WHERE subscription_id = ?",
    };
    let id = uuid::Uuid::parse_str(sid).expect("subscription id");
    let row = app
        .db
        .conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [id.into()]))
        .await
        .expect("count the outbox")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("count")
}

#[test]
fn an_unusable_subscription_ca_file_stops_serve_at_start() {
    let dir = ScratchDir::new();
    std::fs::write(dir.path.join("empty.pem"), "no certificate here\n").expect("write");
    for (file, why) in [
        ("missing.pem", "missing.pem"),
        ("empty.pem", "holds no PEM certificate"),
    ] {
        let out = crate::helpers::run_mpi(
            &dir.path,
            &[
                "serve",
                "--database-url",
                "sqlite://ca.db?mode=rwc",
                "--bind",
                "127.0.0.1:0",
                "--subscription-ca-file",
                file,
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}: started anyway:\n{stderr}");
        assert!(
            stderr.contains("--subscription-ca-file") && stderr.contains(why),
            "{file}: {stderr}"
        );
        assert!(!stderr.contains("mpi listening"), "{stderr}");
    }
}
