//! The FHIR R4 facade under `/fhir`: metadata, a rich Patient through create and read, search
//! with paging, `$match` grades, `$merge` and its links, versioned update, and errors as
//! OperationOutcome. Every resource received is also parsed by an independent FHIR
//! implementation (the Python `fhir.resources` package, R4B models) in a venv under `target/`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use migration::testing::Backend;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use service::context::Role;
use uuid::Uuid;

use crate::app::TestApp;
use crate::both_backends;
use crate::helpers::ScratchDir;

/// The `fhir.resources` release the checker installs (its `R4B` models parse R4 Patient,
/// Bundle, Parameters, OperationOutcome and CapabilityStatement; the `xml` extra brings lxml,
/// which its XML parser needs).
const FHIR_RESOURCES: &str = "fhir.resources[xml]==7.1.0";

const FHIR_JSON: &str = "application/fhir+json";

/// The venv holding `fhir.resources`: `$MPI_FHIR_VENV`, else `target/fhir-venv` in the workspace.
fn venv() -> PathBuf {
    std::env::var_os("MPI_FHIR_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fhir-venv"))
}

static INSTALL: Mutex<bool> = Mutex::new(false);

/// The venv's python, creating the venv and installing `fhir.resources` when missing.
///
/// nextest runs every test in its own process, so the in-process flag alone let the SQLite and
/// PostgreSQL variants of a test build the venv at the same time on a fresh checkout (one found
/// no `pip` yet); an exclusive lock on a file beside the venv orders them across processes.
pub(crate) fn checker_python() -> PathBuf {
    let venv = venv();
    let python = venv.join("bin/python");
    let mut installed = INSTALL.lock().expect("install lock");
    if *installed {
        return python;
    }
    if let Some(parent) = venv.parent() {
        std::fs::create_dir_all(parent).expect("create the venv's parent directory");
    }
    let lock_path = venv.with_extension("lock");
    let lock_file = std::fs::File::create(&lock_path).expect("create the venv lock file");
    lock_file.lock().expect("lock the venv lock file");
    let ready = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", "import fhir.resources.R4B, lxml"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready(&python) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("run python3 -m venv");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", FHIR_RESOURCES])
            .status()
            .expect("run pip");
        assert!(pip.success(), "pip install {FHIR_RESOURCES} failed");
        assert!(
            ready(&python),
            "fhir.resources does not import after install"
        );
    }
    *installed = true;
    python
}

/// A FHIR client for one test: keeps every resource it receives for the independent check.
pub(crate) struct Fhir<'a> {
    app: &'a TestApp,
    received: Mutex<Vec<Value>>,
}

/// A response: status, headers, JSON body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl<'a> Fhir<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Fhir<'a> {
        Fhir {
            app,
            received: Mutex::new(Vec::new()),
        }
    }

    /// `METHOD /fhir{path}` with `role`'s key (none when `None`), extra headers and a raw body.
    pub(crate) async fn raw(
        &self,
        role: Option<Role>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("http://{}/fhir{path}", self.app.server.addr)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .request(method, url);
        if let Some(role) = role {
            request = request.bearer_auth(self.app.key(role));
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", FHIR_JSON);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: answer is not JSON ({e}): {text}"));
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some(FHIR_JSON),
            "{path}"
        );
        assert!(body["resourceType"].is_string(), "{path}: {body}");
        self.received.lock().expect("lock").push(body.clone());
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn call(
        &self,
        role: Role,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        self.raw(
            Some(role),
            method,
            path,
            headers,
            body.map(Value::to_string),
        )
        .await
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.call(Role::Registrar, "GET", path, &[], None).await
    }

    /// Creates `patient` (forced), asserting 201; returns the stored resource.
    pub(crate) async fn create(&self, patient: &Value) -> Value {
        let answer = self
            .call(
                Role::Registrar,
                "POST",
                "/Patient",
                &[("X-MPI-Force", "true")],
                Some(patient),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body
    }

    /// Parses every received resource with the independent implementation.
    pub(crate) fn check_all_received(&self) {
        let received = self.received.lock().expect("lock");
        let dir = ScratchDir::new();
        for (i, resource) in received.iter().enumerate() {
            std::fs::write(dir.path.join(format!("{i:04}.json")), resource.to_string())
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

/// A version-specific `response.location` (`Type/id/_history/N`) without its version, checking
/// the version is a number; a location without one (an Organization's) as it is.
pub(crate) fn unversioned(location: &str) -> String {
    match location.split_once("/_history/") {
        Some((resource, version)) => {
            assert!(
                !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()),
                "{location}"
            );
            resource.to_owned()
        }
        None => location.to_owned(),
    }
}

pub(crate) fn id_of(resource: &Value) -> String {
    resource["id"].as_str().expect("id").to_owned()
}

/// A FHIR patient with one official name, birth date, MRN, home address and phone.
pub(crate) fn fhir_person(family: &str, given: &str, birth_date: &str, mrn: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "gender": "female",
        "birthDate": birth_date,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "identifier": [{"system": "urn:test:mrn", "value": mrn,
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}}],
        "address": [{"use": "home", "line": ["12 Orchard Lane"], "city": "Exeter",
            "postalCode": "EX4 4QJ", "country": "GB"}],
        "telecom": [{"system": "phone", "value": "01392 555 0101", "use": "home"}]
    })
}

pub(crate) async fn organization(app: &TestApp) -> Uuid {
    let id = Uuid::new_v4();
    let now = chrono::Utc::now().fixed_offset();
    entity::organization::ActiveModel {
        id: Set(id),
        name: Set("Riverside Test Hospital".to_owned()),
        aliases: Set(entity::json_list::StringList(Vec::new())),
        r#type: Set(None),
        part_of: Set(None),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set("test".to_owned()),
        updated_by: Set("test".to_owned()),
    }
    .insert(&app.db.conn)
    .await
    .expect("insert organization");
    id
}

/// A list element with its first (primary) item first and the others sorted: the service keeps
/// the primary item first but not the order of the others. Other values unchanged.
fn primary_then_sorted(value: &Value) -> Value {
    match value.as_array() {
        Some(items) if items.len() > 2 => {
            let mut rest: Vec<Value> = items[1..].to_vec();
            rest.sort_by_key(|v| v.to_string());
            let mut all = vec![items[0].clone()];
            all.extend(rest);
            Value::Array(all)
        }
        _ => value.clone(),
    }
}

async fn rich_patient_round_trips_through_create_and_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let org = organization(&app).await;
    let org_ref = json!({"reference": format!("Organization/{org}")});
    let v2 = "http://terminology.hl7.org/CodeSystem/v2-0203";
    let sent = json!({
        "resourceType": "Patient",
        "active": true,
        "identifier": [
            {"use": "usual", "type": {"coding": [{"system": v2, "code": "MR"}]},
             "system": "urn:test:mrn", "value": "MRN-9001", "assigner": org_ref,
             "period": {"start": "2001-02-03"}},
            {"use": "official", "type": {"coding": [{"system": v2, "code": "SS"}]},
             "system": "urn:test:ssn", "value": "SSN-9001"},
            {"type": {"coding": [{"system": v2, "code": "DL"}]}, "system": "urn:test:dl", "value": "DL-9001"},
            {"type": {"coding": [{"system": v2, "code": "PPN"}]}, "system": "urn:test:ppn", "value": "PPN-9001",
             "period": {"start": "2015-01-01", "end": "2025-01-01"}}
        ],
        "name": [
            {"use": "official", "family": "Featherstonehaugh", "given": ["Araminta", "Jane"],
             "prefix": ["Dr"], "suffix": ["PhD"], "period": {"start": "2004-06-01"}},
            {"use": "maiden", "family": "Pennywhistle", "given": ["Araminta"],
             "period": {"end": "2004-05-31"}}
        ],
        "telecom": [
            {"system": "phone", "value": "01392 555 0199", "use": "mobile", "rank": 1},
            {"system": "email", "value": "araminta@example.org", "use": "work",
             "period": {"start": "2020-01-01"}}
        ],
        "gender": "female",
        "birthDate": "1971-03-09",
        "deceasedDateTime": "2024-11-02T14:30:00.000Z",
        "address": [{"use": "home", "type": "both", "text": "4 Quay Hill, Exeter",
            "line": ["4 Quay Hill", "Flat 2"], "city": "Exeter", "district": "Devon",
            "state": "England", "postalCode": "EX2 4AN", "country": "GB",
            "period": {"start": "2010-09-01"}}],
        "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]},
        "multipleBirthInteger": 2,
        "managingOrganization": org_ref
    });
    let created = fhir
        .call(Role::Registrar, "POST", "/Patient", &[], Some(&sent))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = id_of(&created.body);
    assert!(
        created
            .header("location")
            .is_some_and(|l| l.ends_with(&format!("/fhir/Patient/{id}"))),
        "{:?}",
        created.headers
    );
    assert_eq!(created.header("etag"), Some("W/\"1\""));

    let read = fhir.get(&format!("/Patient/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.header("etag"), Some("W/\"1\""));
    assert_eq!(read.body, created.body);
    let got = &read.body;
    assert_eq!(got["meta"]["versionId"], "1");
    assert!(got["meta"]["lastUpdated"].is_string());
    for element in [
        "active",
        "identifier",
        "name",
        "telecom",
        "gender",
        "birthDate",
        "deceasedDateTime",
        "address",
        "maritalStatus",
        "multipleBirthInteger",
        "managingOrganization",
    ] {
        assert_eq!(
            primary_then_sorted(&got[element]),
            primary_then_sorted(&sent[element]),
            "{element}: {got}"
        );
    }
    assert!(got.get("link").is_none(), "{got}");

    // The other choice types round trip too.
    let mut other = fhir_person("Pennywhistle", "Bartholomew", "1969-07-20", "MRN-9002");
    other["deceasedBoolean"] = json!(true);
    other["multipleBirthBoolean"] = json!(false);
    other["maritalStatus"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "UNK"}]});
    let stored = fhir.create(&other).await;
    for element in [
        "deceasedBoolean",
        "multipleBirthBoolean",
        "maritalStatus",
        "identifier",
    ] {
        assert_eq!(stored[element], other[element], "{element}: {stored}");
    }

    // The facade and /api/v1 show the same record.
    let (status, v1) = app
        .admin("GET", &format!("/api/v1/patients/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(v1["names"][0]["family"], "Featherstonehaugh");
    assert_eq!(v1["version"], 1);

    let metadata = fhir.raw(None, "GET", "/metadata", &[], None).await;
    assert_eq!(metadata.status, 200);
    let statement = &metadata.body;
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    let patient = &statement["rest"][0]["resource"][0];
    assert_eq!(patient["type"], "Patient");
    let interactions: Vec<&str> = patient["interaction"]
        .as_array()
        .expect("interaction")
        .iter()
        .map(|i| i["code"].as_str().expect("code"))
        .collect();
    assert_eq!(
        interactions,
        ["read", "update", "create", "delete", "search-type"]
    );
    let params: Vec<&str> = patient["searchParam"]
        .as_array()
        .expect("searchParam")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        params,
        [
            "_id",
            "_lastUpdated",
            "active",
            "name",
            "family",
            "given",
            "birthdate",
            "gender",
            "identifier",
            "telecom",
            "phone",
            "email",
            "address",
            "address-city",
            "address-state",
            "address-country",
            "address-postalcode",
            "mothersMaidenName",
            "language"
        ]
    );
    let operations: Vec<&str> = patient["operation"]
        .as_array()
        .expect("operation")
        .iter()
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert_eq!(operations, ["match", "ihe-pix", "merge"]);
    assert_eq!(patient["conditionalUpdate"], true);
    assert_eq!(patient["conditionalDelete"], "single");
    assert_eq!(
        statement["instantiates"],
        json!([
            "https://profiles.ihe.net/ITI/PIXm/CapabilityStatement/IHE.PIXm.Manager",
            "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplier",
            "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplierMatch",
            "https://profiles.ihe.net/ITI/PMIR/CapabilityStatement/IHE.PMIR.PatientIdentityRegistry"
        ])
    );
    assert_eq!(
        statement["rest"][0]["operation"][0]["name"],
        "process-message"
    );
    fhir.check_all_received();
}
both_backends!(rich_patient_round_trips_through_create_and_read);

fn entry_ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|entries| entries.iter().map(|e| id_of(&e["resource"])).collect())
        .unwrap_or_default()
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .map(|l| l["url"].as_str().expect("url").to_owned())
}

async fn search_by_each_parameter_with_paging_links(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let a = id_of(
        &fhir
            .create(&fhir_person(
                "Hollingsworth",
                "Perpetua",
                "1984-05-06",
                "MRN-7001",
            ))
            .await,
    );
    let mut b_body = fhir_person("Hollingsworth", "Cornelius", "1990-10-11", "MRN-7002");
    b_body["gender"] = json!("male");
    let b = id_of(&fhir.create(&b_body).await);
    let c = id_of(
        &fhir
            .create(&fhir_person(
                "Ravenscroft",
                "Perpetua",
                "1984-05-06",
                "MRN-7003",
            ))
            .await,
    );

    let search = |query: &'static str| {
        let fhir = &fhir;
        async move {
            let answer = fhir.get(&format!("/Patient?{query}")).await;
            assert_eq!(answer.status, 200, "{query}: {}", answer.body);
            assert_eq!(answer.body["type"], "searchset");
            for entry in answer.body["entry"].as_array().into_iter().flatten() {
                assert_eq!(entry["search"]["mode"], "match");
                assert!(entry["fullUrl"].as_str().is_some_and(|u| {
                    u.ends_with(&format!("/fhir/Patient/{}", id_of(&entry["resource"])))
                }));
            }
            answer.body
        }
    };
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    assert_eq!(
        entry_ids(&search("family=hollings").await),
        sorted(vec![a.clone(), b.clone()])
    );
    assert_eq!(
        entry_ids(&search("given=Perpetua").await),
        sorted(vec![a.clone(), c.clone()])
    );
    assert_eq!(entry_ids(&search("name=raven").await), vec![c.clone()]);
    assert_eq!(
        entry_ids(&search("birthdate=1984-05-06").await),
        sorted(vec![a.clone(), c.clone()])
    );
    assert_eq!(
        entry_ids(&search("birthdate=eq1990-10-11").await),
        vec![b.clone()]
    );
    assert_eq!(entry_ids(&search("gender=male").await), vec![b.clone()]);
    assert_eq!(
        entry_ids(&search("identifier=urn:test:mrn%7CMRN-7003").await),
        vec![c.clone()]
    );
    // A value alone is searched in every system.
    assert_eq!(
        entry_ids(&search("identifier=MRN-7001").await),
        vec![a.clone()]
    );
    assert_eq!(
        entry_ids(&search("family=Hollingsworth&given=Cornelius").await),
        vec![b.clone()]
    );
    let none = search("family=Nobody").await;
    assert_eq!(none["total"], 0);
    assert!(none.get("entry").is_none());

    // Paging: one per page, following the links.
    let first = search("birthdate=1984-05-06&_count=1").await;
    assert_eq!(first["total"], 2);
    assert_eq!(entry_ids(&first).len(), 1);
    assert!(
        link(&first, "self")
            .is_some_and(|u| u.contains("birthdate=1984-05-06") && u.contains("_page=1"))
    );
    assert!(link(&first, "previous").is_none());
    let next = link(&first, "next").expect("next link");
    let second = fhir.get(&next).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["total"], 2);
    assert!(link(&second.body, "next").is_none(), "{}", second.body);
    assert!(link(&second.body, "previous").is_some_and(|u| u.contains("_page=1")));
    let mut paged = entry_ids(&first);
    paged.extend(entry_ids(&second.body));
    assert_eq!(sorted(paged), sorted(vec![a.clone(), c.clone()]));

    // An identifier without a system: none is stored here, so nothing is found (not an error).
    let none = fhir.get("/Patient?identifier=%7CMRN-7001").await;
    assert_eq!(none.status, 200, "{}", none.body);
    assert_eq!(none.body["total"], 0, "{}", none.body);

    // Bad searches (an unknown parameter is ignored, leaving no criterion, unless strict).
    for (query, status) in [
        ("organization=x", 422),
        ("family=a&_page=1&_page=2", 400),
        ("identifier=%7C", 422),
        ("birthdate=1984-5", 422),
        ("birthdate=after1984-05-06", 422),
        ("gender=robot", 422),
        ("_count=0", 422),
        ("_page=0", 422),
        ("_count=5", 422),
    ] {
        let answer = fhir.get(&format!("/Patient?{query}")).await;
        assert_eq!(answer.status, status, "{query}: {}", answer.body);
        assert_eq!(answer.body["resourceType"], "OperationOutcome");
    }
    let strict = fhir
        .raw(
            Some(Role::Registrar),
            "GET",
            "/Patient?organization=x",
            &[("prefer", "handling=strict")],
            None,
        )
        .await;
    assert_eq!(strict.status, 400, "{}", strict.body);
    fhir.check_all_received();
}
both_backends!(search_by_each_parameter_with_paging_links);

async fn match_returns_graded_entries_like_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let exact = id_of(
        &fhir
            .create(&fhir_person(
                "Abernathy",
                "Clementine",
                "1979-04-21",
                "MRN-6001",
            ))
            .await,
    );
    let mut close = fhir_person("Abernathy", "Clementina", "1979-04-21", "MRN-6002");
    close["address"] = json!([]);
    close["telecom"] = json!([]);
    let close = id_of(&fhir.create(&close).await);
    fhir.create(&fhir_person(
        "Quigley",
        "Bartholomew",
        "1950-12-01",
        "MRN-6003",
    ))
    .await;

    let query = fhir_person("Abernathy", "Clementine", "1979-04-21", "MRN-6001");
    let params = json!({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": query},
        {"name": "count", "valueInteger": 5}
    ]});
    let answer = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient/$match",
            &[],
            Some(&params),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let bundle = &answer.body;
    assert_eq!(bundle["type"], "searchset");
    let ids = entry_ids(bundle);
    assert_eq!(ids.first(), Some(&exact), "{bundle}");
    assert!(ids.contains(&close), "{bundle}");

    // The same demographics through /api/v1/match: same candidates, scores and grades.
    let v1_query = json!({
        "gender": "female", "birth_date": "1979-04-21",
        "names": [{"family": "Abernathy", "given": ["Clementine"], "use": "official"}],
        "identifiers": [{"type": "MR", "system": "urn:test:mrn", "value": "MRN-6001"}],
        "addresses": [{"lines": ["12 Orchard Lane"], "city": "Exeter", "postal_code": "EX4 4QJ", "country": "GB", "use": "home"}],
        "telecoms": [{"system": "phone", "value": "01392 555 0101", "use": "home"}],
        "limit": 5
    });
    let (status, v1) = app.admin("POST", "/api/v1/match", Some(&v1_query)).await;
    assert_eq!(status, 200, "{v1}");
    let candidates = v1["candidates"].as_array().expect("candidates");
    let entries = bundle["entry"].as_array().expect("entry");
    assert_eq!(entries.len(), candidates.len());
    assert_eq!(bundle["total"], entries.len());
    for (entry, candidate) in entries.iter().zip(candidates) {
        assert_eq!(entry["resource"]["id"], candidate["patient_id"]);
        assert_eq!(entry["search"]["mode"], "match");
        assert_eq!(entry["search"]["score"], candidate["probability"]);
        let extension = &entry["search"]["extension"][0];
        assert_eq!(
            extension["url"],
            "http://hl7.org/fhir/StructureDefinition/match-grade"
        );
        assert_eq!(extension["valueCode"], candidate["grade"]);
        assert!(matches!(
            extension["valueCode"].as_str(),
            Some("certain" | "probable" | "possible")
        ));
    }
    assert_eq!(
        entries[0]["search"]["extension"][0]["valueCode"], "certain",
        "{bundle}"
    );

    // onlyCertainMatches answers the certain matches only when they are one person (ITI-119).
    let params = json!({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": query},
        {"name": "onlyCertainMatches", "valueBoolean": true}
    ]});
    let certain = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient/$match",
            &[],
            Some(&params),
        )
        .await;
    assert_eq!(certain.status, 200, "{}", certain.body);
    let want: Vec<String> = candidates
        .iter()
        .filter(|c| c["grade"] == "certain")
        .map(|c| c["patient_id"].as_str().expect("id").to_owned())
        .collect();
    // Here the exact record and the close one (two persons) are both certain, so
    // onlyCertainMatches answers none of them; the one-person case is in fhir_ihe.rs.
    assert_eq!(want.len(), 2, "{v1}");
    assert!(want.contains(&exact) && want.contains(&close));
    assert_eq!(entry_ids(&certain.body), Vec::<String>::new());
    assert_eq!(certain.body["total"], 0);

    // count limits; a bad count, no resource or an unknown parameter are refused.
    let params = json!({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": query}, {"name": "count", "valueInteger": 1}]});
    let one = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient/$match",
            &[],
            Some(&params),
        )
        .await;
    assert_eq!(entry_ids(&one.body), vec![exact.clone()]);
    for params in [
        json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": query}, {"name": "count", "valueInteger": 0}]}),
        json!({"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 3}]}),
        json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": query}, {"name": "threshold", "valueInteger": 3}]}),
        json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": {"resourceType": "Patient", "gender": "robot"}}]}),
    ] {
        let refused = fhir
            .call(
                Role::Registrar,
                "POST",
                "/Patient/$match",
                &[],
                Some(&params),
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert_eq!(refused.body["resourceType"], "OperationOutcome");
    }
    let auditor = fhir
        .call(Role::Auditor, "POST", "/Patient/$match", &[], Some(&params))
        .await;
    assert_eq!(auditor.status, 403, "{}", auditor.body);
    fhir.check_all_received();
}
both_backends!(match_returns_graded_entries_like_the_api);

fn links(patient: &Value) -> Vec<(String, String)> {
    patient["link"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["type"].as_str().expect("type").to_owned(),
                l["other"]["reference"]
                    .as_str()
                    .expect("reference")
                    .to_owned(),
            )
        })
        .collect()
}

async fn merge_retires_the_source_with_links(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let target = id_of(
        &fhir
            .create(&fhir_person(
                "Fairweather",
                "Ottilie",
                "1962-08-15",
                "MRN-8001",
            ))
            .await,
    );
    let mut source_body = fhir_person("Fairweather", "Ottilie", "1962-08-15", "MRN-8002");
    source_body["name"]
        .as_array_mut()
        .expect("name")
        .push(json!({"use": "maiden", "family": "Brook", "given": ["Ottilie"]}));
    let source = id_of(&fhir.create(&source_body).await);
    let merge_params = |preview: bool| {
        json!({"resourceType": "Parameters", "parameter": [
            {"name": "source-patient", "valueReference": {"reference": format!("Patient/{source}")}},
            {"name": "target-patient", "valueReference": {"reference": format!("Patient/{target}")}},
            {"name": "preview", "valueBoolean": preview}
        ]})
    };
    let target_before = fhir.get(&format!("/Patient/{target}")).await.body;
    let source_before = fhir.get(&format!("/Patient/{source}")).await.body;

    // A registrar may not merge.
    let refused = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient/$merge",
            &[],
            Some(&merge_params(false)),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // A preview answers the result and changes nothing.
    let preview = fhir
        .call(
            Role::Steward,
            "POST",
            "/Patient/$merge",
            &[],
            Some(&merge_params(true)),
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(preview.body["resourceType"], "Parameters");
    assert_eq!(
        fhir.get(&format!("/Patient/{target}")).await.body,
        target_before
    );
    assert_eq!(
        fhir.get(&format!("/Patient/{source}")).await.body,
        source_before
    );

    let merged = fhir
        .call(
            Role::Steward,
            "POST",
            "/Patient/$merge",
            &[],
            Some(&merge_params(false)),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    let parameter = merged.body["parameter"].as_array().expect("parameter");
    let outcome = &parameter
        .iter()
        .find(|p| p["name"] == "outcome")
        .expect("outcome")["resource"];
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "information");
    let result = &parameter
        .iter()
        .find(|p| p["name"] == "result")
        .expect("result")["resource"];
    assert_eq!(result["resourceType"], "Patient");
    assert_eq!(id_of(result), target);
    assert!(
        result["name"]
            .as_array()
            .expect("name")
            .iter()
            .any(|n| n["family"] == "Brook"),
        "the survivor gains the source's maiden name: {result}"
    );
    assert_eq!(
        links(result),
        vec![("replaces".to_owned(), format!("Patient/{source}"))]
    );

    let retired = fhir.get(&format!("/Patient/{source}")).await.body;
    assert_eq!(retired["active"], false);
    assert_eq!(
        links(&retired),
        vec![("replaced-by".to_owned(), format!("Patient/{target}"))]
    );
    let survivor = fhir.get(&format!("/Patient/{target}")).await.body;
    assert_eq!(&survivor, result);

    // Merging it again is a conflict; unsupported and malformed parameters are refused.
    let again = fhir
        .call(
            Role::Steward,
            "POST",
            "/Patient/$merge",
            &[],
            Some(&merge_params(false)),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.body["issue"][0]["code"], "conflict");
    let with_result = json!({"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": format!("Patient/{source}")}},
        {"name": "target-patient", "valueReference": {"reference": format!("Patient/{target}")}},
        {"name": "result-patient", "resource": survivor}
    ]});
    let bad_reference = json!({"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": "Practitioner/1"}},
        {"name": "target-patient", "valueReference": {"reference": format!("Patient/{target}")}}
    ]});
    let missing = json!({"resourceType": "Parameters", "parameter": [
        {"name": "target-patient", "valueReference": {"reference": format!("Patient/{target}")}}
    ]});
    for params in [with_result, bad_reference, missing] {
        let refused = fhir
            .call(Role::Steward, "POST", "/Patient/$merge", &[], Some(&params))
            .await;
        assert_eq!(refused.status, 422, "{}", refused.body);
    }
    let unknown = json!({"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": format!("Patient/{}", Uuid::new_v4())}},
        {"name": "target-patient", "valueReference": {"reference": format!("Patient/{target}")}}
    ]});
    let gone = fhir
        .call(
            Role::Steward,
            "POST",
            "/Patient/$merge",
            &[],
            Some(&unknown),
        )
        .await;
    assert_eq!(gone.status, 404, "{}", gone.body);

    // seealso and refer links (made through /api/v1/links) show on the record they belong to.
    let other = id_of(
        &fhir
            .create(&fhir_person("Ashdown", "Leopold", "1948-03-03", "MRN-8003"))
            .await,
    );
    for (from, to, kind) in [(&target, &other, "seealso"), (&other, &target, "refer")] {
        let body = json!({"patient_id": from, "other_patient_id": to, "type": kind});
        let (status, answer) = app
            .as_role(Role::Steward, "POST", "/api/v1/links", Some(&body))
            .await;
        assert_eq!(status, 201, "{answer}");
    }
    let survivor = fhir.get(&format!("/Patient/{target}")).await.body;
    let mut kinds: Vec<(String, String)> = links(&survivor);
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("replaces".to_owned(), format!("Patient/{source}")),
            ("seealso".to_owned(), format!("Patient/{other}")),
        ]
    );
    let referring = fhir.get(&format!("/Patient/{other}")).await.body;
    assert_eq!(
        links(&referring),
        vec![("refer".to_owned(), format!("Patient/{target}"))]
    );
    fhir.check_all_received();
}
both_backends!(merge_retires_the_source_with_links);

async fn update_needs_the_current_version(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let stored = fhir
        .create(&fhir_person(
            "Underhill",
            "Lavinia",
            "1958-01-30",
            "MRN-5001",
        ))
        .await;
    let id = id_of(&stored);
    let path = format!("/Patient/{id}");
    let mut changed = stored.clone();
    changed["name"][0]["family"] = json!("Overhill");
    changed["telecom"] = json!([{"system": "email", "value": "lavinia@example.org"}]);

    let updated = fhir
        .call(
            Role::Registrar,
            "PUT",
            &path,
            &[("If-Match", "W/\"1\"")],
            Some(&changed),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.header("etag"), Some("W/\"2\""));
    assert_eq!(updated.body["meta"]["versionId"], "2");
    assert_eq!(updated.body["name"][0]["family"], "Overhill");
    assert_eq!(updated.body["telecom"], changed["telecom"]);
    assert_eq!(fhir.get(&path).await.body, updated.body);

    // Stale If-Match, stale meta.versionId, no version at all: 412.
    let stale = fhir
        .call(
            Role::Registrar,
            "PUT",
            &path,
            &[("If-Match", "W/\"1\"")],
            Some(&changed),
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert_eq!(stale.body["resourceType"], "OperationOutcome");
    let stale_meta = fhir
        .call(Role::Registrar, "PUT", &path, &[], Some(&changed))
        .await;
    assert_eq!(stale_meta.status, 412, "{}", stale_meta.body);
    let mut no_version = changed.clone();
    no_version.as_object_mut().expect("object").remove("meta");
    let none = fhir
        .call(Role::Registrar, "PUT", &path, &[], Some(&no_version))
        .await;
    assert_eq!(none.status, 412, "{}", none.body);

    // meta.versionId works in place of If-Match.
    let mut current = updated.body.clone();
    current["gender"] = json!("other");
    let by_meta = fhir
        .call(Role::Registrar, "PUT", &path, &[], Some(&current))
        .await;
    assert_eq!(by_meta.status, 200, "{}", by_meta.body);
    assert_eq!(by_meta.body["gender"], "other");
    assert_eq!(by_meta.body["meta"]["versionId"], "3");

    // The body's id must be the URL's.
    let mut wrong_id = by_meta.body.clone();
    wrong_id["id"] = json!(Uuid::new_v4().to_string());
    let mismatch = fhir
        .call(
            Role::Registrar,
            "PUT",
            &path,
            &[("If-Match", "W/\"3\"")],
            Some(&wrong_id),
        )
        .await;
    assert_eq!(mismatch.status, 400, "{}", mismatch.body);
    let unknown = format!("/Patient/{}", Uuid::new_v4());
    let mut elsewhere = by_meta.body.clone();
    elsewhere["id"] = json!(unknown.trim_start_matches("/Patient/"));
    let missing = fhir
        .call(
            Role::Registrar,
            "PUT",
            &unknown,
            &[("If-Match", "W/\"1\"")],
            Some(&elsewhere),
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    fhir.check_all_received();
}
both_backends!(update_needs_the_current_version);

async fn errors_are_operation_outcomes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fhir = Fhir::new(&app);
    let body = fhir_person("Winterbottom", "Eudora", "1966-02-14", "MRN-4001");
    let stored = fhir.create(&body).await;
    let id = id_of(&stored);
    let path = format!("/Patient/{id}");

    let check = |answer: &Answer, status: u16, code: &str| {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(
            answer.body["resourceType"], "OperationOutcome",
            "{}",
            answer.body
        );
        assert_eq!(
            answer.body["issue"][0]["severity"], "error",
            "{}",
            answer.body
        );
        assert_eq!(answer.body["issue"][0]["code"], code, "{}", answer.body);
    };
    check(&fhir.raw(None, "GET", &path, &[], None).await, 401, "login");
    let bad_key = fhir
        .raw(
            None,
            "GET",
            &path,
            &[("authorization", "Bearer nope")],
            None,
        )
        .await;
    check(&bad_key, 401, "login");
    check(
        &fhir.call(Role::Auditor, "GET", &path, &[], None).await,
        403,
        "forbidden",
    );
    check(
        &fhir.get(&format!("/Patient/{}", Uuid::new_v4())).await,
        404,
        "not-found",
    );
    check(&fhir.get("/Patient/not-a-uuid").await, 404, "not-found");
    check(&fhir.get("/Observation/1").await, 404, "not-found");
    check(
        &fhir
            .call(Role::Admin, "PATCH", &path, &[], Some(&json!([])))
            .await,
        405,
        "not-supported",
    );

    let post = |text: &'static str, headers: &'static [(&'static str, &'static str)]| {
        let fhir = &fhir;
        async move {
            fhir.raw(
                Some(Role::Registrar),
                "POST",
                "/Patient",
                headers,
                Some(text.to_owned()),
            )
            .await
        }
    };
    check(
        &post("{\"resourceType\": \"Patient\",", &[]).await,
        400,
        "structure",
    );
    check(
        &post(
            "{\"resourceType\": \"Patient\"}",
            &[("content-type", "text/plain")],
        )
        .await,
        415,
        "not-supported",
    );
    let plain_json = post(
        "{\"resourceType\": \"Patient\", \"name\": [{\"family\": \"Plainjson\"}]}",
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(plain_json.status, 201, "{}", plain_json.body);

    // Invalid values: 422 naming the element.
    let invalid = |patch: Value| {
        let mut patient = fhir_person("Winterbottom", "Ione", "1970-01-01", "MRN-4002");
        for (k, v) in patch.as_object().expect("object") {
            patient[k] = v.clone();
        }
        patient
    };
    for (patch, expression) in [
        (json!({"gender": "robot"}), Some("Patient.gender")),
        (
            json!({"birthDate": "2999-01-01"}),
            Some("Patient.birthDate"),
        ),
        (json!({"birthDate": "1970-2"}), Some("Patient.birthDate")),
        // Without a name a record needs an identifier (a newborn not yet named has one).
        (json!({"name": [], "identifier": []}), Some("Patient.name")),
        (
            json!({"modifierExtension": [{"url": "http://example.org/x", "valueBoolean": true}]}),
            None,
        ),
        (json!({"resourceType": "Person"}), Some("resourceType")),
        (
            json!({"maritalStatus": {"text": "married"}}),
            Some("Patient.maritalStatus"),
        ),
        (
            json!({"managingOrganization": {"reference": format!("Organization/{}", Uuid::new_v4())}}),
            Some("Patient.managingOrganization"),
        ),
        (
            json!({"deceasedBoolean": true, "deceasedDateTime": "2020-01-01T00:00:00Z"}),
            None,
        ),
    ] {
        let answer = fhir
            .call(
                Role::Registrar,
                "POST",
                "/Patient",
                &[("X-MPI-Force", "true")],
                Some(&invalid(patch.clone())),
            )
            .await;
        check(&answer, 422, "invalid");
        if let Some(expression) = expression {
            assert_eq!(
                answer.body["issue"][0]["expression"][0], expression,
                "{patch}: {}",
                answer.body
            );
        }
    }

    // The duplicate check: a second registration of the same person is 409 naming the
    // candidate, and nothing is stored; the force header registers it anyway.
    let mut same_person = body.clone();
    same_person["identifier"][0]["value"] = json!("MRN-4009");
    let duplicate = fhir
        .call(Role::Registrar, "POST", "/Patient", &[], Some(&same_person))
        .await;
    check(&duplicate, 409, "duplicate");
    let named = duplicate.body["issue"]
        .as_array()
        .expect("issue")
        .iter()
        .any(|i| {
            i["diagnostics"]
                .as_str()
                .is_some_and(|d| d.starts_with(&format!("Patient/{id} ")))
        });
    assert!(named, "{}", duplicate.body);
    let found = fhir.get("/Patient?family=Winterbottom").await;
    assert_eq!(found.body["total"], 1, "nothing was stored: {}", found.body);
    let bad_force = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("X-MPI-Force", "maybe")],
            Some(&body),
        )
        .await;
    check(&bad_force, 400, "structure");
    // With the identifier the stored record holds, the 409 says that forcing needs it changed,
    // and names it (expression) and its holder.
    let held = fhir
        .call(Role::Registrar, "POST", "/Patient", &[], Some(&body))
        .await;
    check(&held, 409, "duplicate");
    let issues = held.body["issue"].as_array().expect("issue");
    let advice = issues[0]["diagnostics"].as_str().expect("diagnostics");
    assert!(
        advice.contains("Patient.identifier[0]") && advice.contains("removing or correcting"),
        "{advice}"
    );
    assert!(
        issues
            .iter()
            .any(|i| i["expression"][0] == "Patient.identifier[0]"
                && i["diagnostics"]
                    .as_str()
                    .is_some_and(|d| d.ends_with(&format!("belongs to Patient/{id}")))),
        "{}",
        held.body
    );
    // The same identifier cannot be held twice even when forced.
    let forced = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("X-MPI-Force", "true")],
            Some(&body),
        )
        .await;
    check(&forced, 409, "conflict");
    let mut other_mrn = body.clone();
    other_mrn["identifier"][0]["value"] = json!("MRN-4003");
    let forced = fhir
        .call(
            Role::Registrar,
            "POST",
            "/Patient",
            &[("X-MPI-Force", "true")],
            Some(&other_mrn),
        )
        .await;
    assert_eq!(forced.status, 201, "{}", forced.body);
    fhir.check_all_received();
}
both_backends!(errors_are_operation_outcomes);
