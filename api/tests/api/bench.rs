//! `mpi bench` against a real server (HTTP and MLLP) over imported generated records: each
//! scenario of the HL7 v2 and FHIR faces, and the cross-reference query, runs for a moment and
//! must report requests, all answered 200 (HL7 v2: AA), none without an answer; the feeds must
//! register a new patient with every message. On SQLite and PostgreSQL.

use migration::testing::{Backend, TestDb};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::Value;

use entity::patient;

use crate::both_backends;
use crate::helpers::{ScratchDir, TestServer, run_mpi, run_mpi_ok};

async fn patients(db: &TestDb) -> u64 {
    patient::Entity::find()
        .count(&db.conn)
        .await
        .expect("count patients")
}

/// Runs `mpi bench SCENARIO --json ...` and returns its report.
fn bench(
    dir: &ScratchDir,
    server: &TestServer,
    mllp: &str,
    key: &str,
    scenario: &str,
    extra: &[&str],
) -> Value {
    let url = format!("http://{}", server.addr);
    let mut args = vec![
        "bench",
        scenario,
        "--url",
        &url,
        "--key",
        key,
        "--input",
        "people.csv",
        "--mllp",
        mllp,
        "--records",
        "20",
        "--concurrency",
        "2",
        "--warmup-secs",
        "0",
        "--json",
    ];
    args.extend_from_slice(extra);
    if !extra.contains(&"--duration-secs") {
        args.extend_from_slice(&["--duration-secs", "1"]);
    }
    let out = run_mpi(&dir.path, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mpi bench {scenario} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{scenario}: the report is not JSON ({e}): {stdout}"));
    assert_eq!(report["scenario"], scenario, "{report}");
    assert_eq!(report["errors"], 0, "{scenario}: {report}");
    let requests = report["requests"].as_u64().expect("requests");
    assert!(requests > 0, "{scenario}: no request measured: {report}");
    let statuses = report["statuses"].as_object().expect("statuses");
    // A PMIR message that creates a Patient answers 201 (OHIE CR test cases); the rest 200.
    let ok = if scenario == "fhir-pmir" {
        "201"
    } else {
        "200"
    };
    assert_eq!(
        statuses.keys().collect::<Vec<_>>(),
        [ok],
        "{scenario}: {report}"
    );
    assert_eq!(statuses[ok], requests, "{scenario}: {report}");
    assert!(report["p99_ms"].as_f64().expect("p99") > 0.0, "{report}");
    report
}

async fn bench_scenarios_of_every_face(backend: Backend) {
    let db = TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    let with_db = |args: &[&str]| {
        let mut v = args.to_vec();
        v.extend_from_slice(&["--database-url", &db.url]);
        run_mpi_ok(&dir.path, &v)
    };
    run_mpi_ok(
        &dir.path,
        &[
            "gen",
            "--records",
            "40",
            "--seed",
            "5",
            "--output",
            "people.csv",
            "--quiet",
        ],
    );
    with_db(&["import", "people.csv", "--quiet"]);
    with_db(&[
        "sources",
        "add",
        "MPI_BENCH",
        "--facility",
        "BENCH",
        "--role",
        "registrar",
    ]);
    let key = with_db(&["keys", "create", "--name", "bench", "--role", "registrar"]);
    let key = key.lines().last().expect("key line").trim().to_owned();

    let server = TestServer::start(
        &dir.path,
        &["--database-url", &db.url, "--mllp-bind", "127.0.0.1:0"],
    );
    let log = server.wait_for_log("mpi listening on mllp://");
    let mllp = log
        .lines()
        .find_map(|l| l.strip_prefix("mpi listening on mllp://"))
        .expect("the server names its MLLP address")
        .to_owned();

    // Queries: every one finds what it asks for (PIX by an imported identifier answers AA,
    // an unknown one AE, which the report would count as 422).
    for scenario in ["xref", "hl7-pix", "hl7-pdq", "fhir-pix", "fhir-pdqm"] {
        bench(&dir, &server, &mllp, &key, scenario, &[]);
    }

    // Feeds: every message sent registers a new record (none is an update of an earlier one).
    let before = patients(&db).await;
    let report = bench(&dir, &server, &mllp, &key, "hl7-feed", &[]);
    let after = patients(&db).await;
    let sent = report["requests"].as_u64().expect("requests");
    assert!(
        after - before >= sent,
        "hl7-feed: {sent} messages acknowledged, {} patients registered",
        after - before
    );

    // PMIR: --requests stops after that many and reports the time they took.
    let before = after;
    let report = bench(
        &dir,
        &server,
        &mllp,
        &key,
        "fhir-pmir",
        &["--requests", "12", "--duration-secs", "120"],
    );
    assert_eq!(report["requests"], 12, "{report}");
    let seconds = report["seconds"].as_f64().expect("seconds");
    assert!(seconds > 0.0 && seconds < 120.0, "{report}");
    assert_eq!(patients(&db).await - before, 12, "{report}");
}
both_backends!(bench_scenarios_of_every_face);
