//! FHIR R4 XML through the real server (issue 31): a Patient created in XML and read back in
//! XML and JSON, a search Bundle, `$match` Parameters, AuditEvents, an OperationOutcome and the
//! CapabilityStatement in XML, chosen by `Accept`, `_format` and `Content-Type`; 406 and 415
//! (in JSON) for formats the server does not speak. Every answer is parsed by the independent
//! `fhir.resources` models, XML ones also checked for the schema's element order, and the
//! server's order table is compared with those models type by type.

use std::path::PathBuf;
use std::process::Command;

use migration::testing::Backend;
use serde_json::Value;
use service::context::Role;

use crate::app::TestApp;
use crate::both_backends;
use crate::fhir::checker_python;
use crate::helpers::ScratchDir;

pub(crate) const FHIR_XML: &str = "application/fhir+xml";

/// An answer: status, content type, text.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) location: Option<String>,
    pub(crate) text: String,
}

/// Sends requests and keeps every answer for the independent check.
pub(crate) struct Client<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) kept: Vec<(String, String)>,
}

impl Client<'_> {
    pub(crate) async fn send(
        &mut self,
        role: Role,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let url = format!("http://{}/fhir{path}", self.app.server.addr);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .request(method, url)
            .bearer_auth(self.app.key(role));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let location = header("location");
        let text = response.text().await.expect("body");
        let extension = if content_type == FHIR_XML {
            assert!(text.starts_with("<?xml"), "{path}: {text}");
            "xml"
        } else {
            assert_eq!(content_type, "application/fhir+json", "{path}: {text}");
            "json"
        };
        self.kept.push((extension.to_owned(), text.clone()));
        Reply {
            status,
            content_type,
            location,
            text,
        }
    }

    /// Parses every kept answer with the independent implementation.
    pub(crate) fn check_all(&self) {
        let dir = ScratchDir::new();
        for (i, (extension, text)) in self.kept.iter().enumerate() {
            std::fs::write(dir.path.join(format!("{i:04}.{extension}")), text)
                .expect("write resource");
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fhir_validate.py");
        let out = Command::new(checker_python())
            .arg(script)
            .arg(&dir.path)
            .output()
            .expect("run fhir_validate.py");
        assert!(
            out.status.success(),
            "the independent FHIR parser rejected resources:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A Patient in FHIR XML (elements in schema order; a narrative; a line break in a value).
const PATIENT_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <text>
    <status value="generated"/>
    <div xmlns="http://www.w3.org/1999/xhtml"><p>Ann May O&apos;Hara &amp; co</p></div>
  </text>
  <identifier>
    <system value="urn:test:mrn"/>
    <value value="MRN-XML-1"/>
  </identifier>
  <name>
    <use value="official"/>
    <family value="O'Hara"/>
    <given value="Ann"/>
    <given value="May"/>
  </name>
  <telecom>
    <system value="phone"/>
    <value value="01392 555 0101"/>
    <use value="home"/>
  </telecom>
  <gender value="female"/>
  <birthDate value="1961-04-12"/>
  <address>
    <use value="home"/>
    <line value="12 Orchard Lane"/>
    <line value="Flat 2"/>
    <city value="Exeter"/>
    <postalCode value="EX4 4QJ"/>
    <country value="GB"/>
  </address>
</Patient>"#;

fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "missing {needle} in {text}");
}

async fn fhir_xml_in_and_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for body in [
        serde_json::json!({"name": "MRN", "oid": "2.16.840.1.113883.3.72.5.9.7", "url": "urn:test:mrn"}),
        serde_json::json!({"name": "NID", "oid": "2.16.840.1.113883.3.72.5.9.9", "url": "http://ohie.org/test/nid"}),
    ] {
        let (status, answer) = app.admin("POST", "/api/v1/domains", Some(&body)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let mut c = Client {
        app: &app,
        kept: Vec::new(),
    };
    let xml = [("accept", FHIR_XML)];

    // The CapabilityStatement in XML, announcing both formats.
    let metadata = c
        .send(Role::Registrar, "GET", "/metadata", &xml, None)
        .await;
    assert_eq!(metadata.status, 200, "{}", metadata.text);
    has(
        &metadata.text,
        r#"<CapabilityStatement xmlns="http://hl7.org/fhir">"#,
    );
    has(&metadata.text, r#"<format value="application/fhir+xml"/>"#);
    has(&metadata.text, r#"<format value="application/fhir+json"/>"#);

    // Create in XML, answered in XML.
    let created = c
        .send(
            Role::Registrar,
            "POST",
            "/Patient",
            &[
                ("content-type", FHIR_XML),
                ("accept", FHIR_XML),
                ("x-mpi-force", "true"),
            ],
            Some(PATIENT_XML),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.content_type, FHIR_XML);
    has(&created.text, r#"<family value="O&apos;Hara"/>"#);
    let location = created.location.expect("Location");
    let id = location
        .split("/Patient/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("id in Location")
        .to_owned();

    // Read in XML (_format) and in JSON (no preference): the same record, every value kept.
    let read_xml = c
        .send(
            Role::Registrar,
            "GET",
            &format!("/Patient/{id}?_format=xml"),
            &[],
            None,
        )
        .await;
    assert_eq!(read_xml.status, 200, "{}", read_xml.text);
    assert_eq!(read_xml.content_type, FHIR_XML);
    has(&read_xml.text, &format!(r#"<id value="{id}"/>"#));
    has(
        &read_xml.text,
        r#"<given value="Ann"/><given value="May"/>"#,
    );
    let read_json = c
        .send(Role::Registrar, "GET", &format!("/Patient/{id}"), &[], None)
        .await;
    assert_eq!(read_json.status, 200, "{}", read_json.text);
    let patient: Value = serde_json::from_str(&read_json.text).expect("JSON");
    assert_eq!(patient["name"][0]["family"], "O'Hara");
    assert_eq!(
        patient["name"][0]["given"],
        serde_json::json!(["Ann", "May"])
    );
    assert_eq!(patient["birthDate"], "1961-04-12");
    assert_eq!(patient["gender"], "female");
    assert_eq!(patient["identifier"][0]["value"], "MRN-XML-1");
    assert_eq!(
        patient["address"][0]["line"],
        serde_json::json!(["12 Orchard Lane", "Flat 2"])
    );
    assert_eq!(patient["telecom"][0]["value"], "01392 555 0101");

    // Search: a Bundle in XML (`+` of the media type written as %2B).
    let search = c
        .send(
            Role::Registrar,
            "GET",
            "/Patient?identifier=urn%3Atest%3Amrn%7CMRN-XML-1&_format=application%2Ffhir%2Bxml",
            &[],
            None,
        )
        .await;
    assert_eq!(search.status, 200, "{}", search.text);
    assert_eq!(search.content_type, FHIR_XML);
    has(&search.text, r#"<Bundle xmlns="http://hl7.org/fhir">"#);
    has(&search.text, r#"<total value="1"/>"#);
    has(&search.text, "<resource><Patient>");
    // Its links keep `_format`, so that following them stays in XML.
    has(&search.text, r#"&amp;_format=application%2Ffhir%2Bxml"/>"#);

    // The same search by POST, `_format` among the form criteria.
    let posted = c
        .send(
            Role::Registrar,
            "POST",
            "/Patient/_search",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some("identifier=urn%3Atest%3Amrn%7CMRN-XML-1&_format=xml"),
        )
        .await;
    assert_eq!(posted.status, 200, "{}", posted.text);
    assert_eq!(posted.content_type, FHIR_XML);
    has(&posted.text, r#"<total value="1"/>"#);

    // $match: Parameters in XML (a boolean and an integer parameter), Bundle out in XML.
    let parameters = format!(
        r#"<Parameters xmlns="http://hl7.org/fhir">
  <parameter><name value="resource"/><resource>{}</resource></parameter>
  <parameter><name value="onlyCertainMatches"/><valueBoolean value="false"/></parameter>
  <parameter><name value="count"/><valueInteger value="5"/></parameter>
</Parameters>"#,
        PATIENT_XML
            .trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
            .replace(r#" xmlns="http://hl7.org/fhir""#, "")
    );
    let matched = c
        .send(
            Role::Registrar,
            "POST",
            "/Patient/$match",
            &[("content-type", "application/xml"), ("accept", "text/xml")],
            Some(&parameters),
        )
        .await;
    assert_eq!(matched.status, 200, "{}", matched.text);
    assert_eq!(matched.content_type, FHIR_XML);
    has(&matched.text, &format!(r#"<id value="{id}"/>"#));
    has(&matched.text, r#"<mode value="match"/>"#);

    // The audit trail in XML.
    let audit = c
        .send(
            Role::Auditor,
            "GET",
            &format!("/AuditEvent?entity=Patient/{id}&_format=xml"),
            &[],
            None,
        )
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    has(&audit.text, "<resource><AuditEvent>");

    // Errors in XML: an unknown record, and a body that is not well-formed XML.
    let missing = c
        .send(
            Role::Registrar,
            "GET",
            "/Patient/00000000-0000-4000-8000-000000000000",
            &xml,
            None,
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.text);
    assert_eq!(missing.content_type, FHIR_XML);
    has(
        &missing.text,
        r#"<OperationOutcome xmlns="http://hl7.org/fhir">"#,
    );
    has(&missing.text, r#"<code value="not-found"/>"#);
    for bad in [
        "<Patient xmlns=\"http://hl7.org/fhir\"><gender value=\"female\"/>",
        "<Patient xmlns=\"http://hl7.org/fhir\"><active value=\"yes\"/></Patient>",
        "<!DOCTYPE Patient [<!ENTITY x \"y\">]><Patient xmlns=\"http://hl7.org/fhir\"/>",
        "<Patient><gender value=\"female\"/></Patient>",
    ] {
        let answer = c
            .send(
                Role::Registrar,
                "POST",
                "/Patient",
                &[("content-type", FHIR_XML), ("accept", FHIR_XML)],
                Some(bad),
            )
            .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
        has(&answer.text, r#"<code value="structure"/>"#);
    }

    // A PMIR (ITI-93) feed message in XML: a MessageHeader and a history Bundle whose entry
    // creates a Patient; the response message comes back in XML.
    let feed = r#"<Bundle xmlns="http://hl7.org/fhir">
  <type value="message"/>
  <timestamp value="2026-12-06T08:00:00Z"/>
  <entry>
    <fullUrl value="urn:uuid:5b6f1e0e-2a2b-4c1d-9d6e-000000000001"/>
    <resource><MessageHeader>
      <id value="5b6f1e0e-2a2b-4c1d-9d6e-000000000001"/>
      <eventUri value="urn:ihe:iti:pmir:2019:patient-feed"/>
      <destination><endpoint value="http://mpi.example.org/fhir"/></destination>
      <source><endpoint value="http://source.example.org/fhir"/></source>
      <focus><reference value="urn:uuid:5b6f1e0e-2a2b-4c1d-9d6e-000000000002"/></focus>
    </MessageHeader></resource>
  </entry>
  <entry>
    <fullUrl value="urn:uuid:5b6f1e0e-2a2b-4c1d-9d6e-000000000002"/>
    <resource><Bundle>
      <type value="history"/>
      <entry>
        <fullUrl value="urn:uuid:5b6f1e0e-2a2b-4c1d-9d6e-000000000003"/>
        <resource><Patient>
          <identifier><system value="urn:test:mrn"/><value value="MRN-XML-2"/></identifier>
          <identifier><system value="http://ohie.org/test/nid"/><value value="NID-XML-2"/></identifier>
          <name><family value="Haraldsen"/><given value="Solveig"/></name>
          <gender value="female"/>
          <birthDate value="1975-05-05"/>
        </Patient></resource>
        <request><method value="POST"/><url value="Patient"/></request>
      </entry>
    </Bundle></resource>
  </entry>
</Bundle>"#;
    let fed = c
        .send(
            Role::Steward,
            "POST",
            "/Bundle",
            &[("content-type", FHIR_XML), ("accept", FHIR_XML)],
            Some(feed),
        )
        .await;
    assert_eq!(fed.status, 201, "{}", fed.text);
    has(&fed.text, r#"<code value="ok"/>"#);
    has(&fed.text, r#"<status value="201 Created"/>"#);
    has(&fed.text, r#"/_history/1"/>"#);
    has(
        &fed.text,
        r#"<definition value="https://profiles.ihe.net/ITI/PMIR/MessageDefinition/IHE.PMIR.MessageDefinition.Response"/>"#,
    );
    let held = c
        .send(
            Role::Registrar,
            "GET",
            "/Patient?identifier=urn%3Atest%3Amrn%7CMRN-XML-2",
            &[],
            None,
        )
        .await;
    let held: Value = serde_json::from_str(&held.text).expect("JSON");
    assert_eq!(held["total"], 1, "{held}");
    assert_eq!(
        held["entry"][0]["resource"]["name"][0]["given"][0],
        "Solveig"
    );

    // PIXm $ihe-pix: Parameters out in XML, the person's identifier in the other domain.
    let pix = c
        .send(
            Role::Registrar,
            "GET",
            "/Patient/$ihe-pix?sourceIdentifier=urn%3Atest%3Amrn%7CMRN-XML-2&_format=xml",
            &[],
            None,
        )
        .await;
    assert_eq!(pix.status, 200, "{}", pix.text);
    has(&pix.text, r#"<Parameters xmlns="http://hl7.org/fhir">"#);
    has(
        &pix.text,
        r#"<name value="targetIdentifier"/><valueIdentifier>"#,
    );
    has(&pix.text, r#"<value value="NID-XML-2"/>"#);

    // An XML body over the /fhir size limit: 413, as an OperationOutcome in XML.
    let huge = format!(
        "<Patient xmlns=\"http://hl7.org/fhir\"><!--{}--></Patient>",
        "a".repeat(300_000)
    );
    let too_large = c
        .send(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("content-type", FHIR_XML), ("accept", FHIR_XML)],
            Some(&huge),
        )
        .await;
    assert_eq!(too_large.status, 413, "{}", too_large.text);
    has(&too_large.text, r#"<code value="too-costly"/>"#);

    // Formats the server does not speak: 406 (Accept, _format) and 415 (Content-Type), in JSON.
    for (path, headers) in [
        ("/metadata", vec![("accept", "text/html")]),
        ("/metadata?_format=turtle", vec![]),
        (
            "/Patient?identifier=urn%3Atest%3Amrn%7CMRN-XML-1",
            vec![("accept", "application/fhir+turtle")],
        ),
    ] {
        let answer = c.send(Role::Registrar, "GET", path, &headers, None).await;
        assert_eq!(answer.status, 406, "{path}: {}", answer.text);
        assert_eq!(answer.content_type, "application/fhir+json");
        let outcome: Value = serde_json::from_str(&answer.text).expect("JSON");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["code"], "not-supported");
    }
    let unsupported = c
        .send(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("content-type", "text/plain"), ("accept", FHIR_XML)],
            Some("Patient O'Hara"),
        )
        .await;
    assert_eq!(unsupported.status, 415, "{}", unsupported.text);
    assert_eq!(unsupported.content_type, "application/fhir+json");
    let outcome: Value = serde_json::from_str(&unsupported.text).expect("JSON");
    assert_eq!(outcome["resourceType"], "OperationOutcome");

    c.check_all();
}
both_backends!(fhir_xml_in_and_out);

/// The server's table of element orders (`api::fhir::xml`) agrees, type by type, with the
/// order of the independent `fhir.resources` models (which follow the StructureDefinitions).
#[test]
fn element_orders_agree_with_an_independent_implementation() {
    let dir = ScratchDir::new();
    let table = serde_json::to_string(&api::fhir::xml::element_orders()).expect("JSON");
    let file = dir.path.join("orders.json");
    std::fs::write(&file, table).expect("write the table");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fhir_validate.py");
    let out = Command::new(checker_python())
        .arg(script)
        .arg("--orders")
        .arg(&file)
        .output()
        .expect("run fhir_validate.py");
    assert!(
        out.status.success(),
        "element orders differ:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
