//! `POST /api/v1/jobs/dedupe` and `GET /api/v1/jobs/{id}`: roles, 202 then 200 with the job's
//! progress and counts until it completes with the certain pair linked, 409 while another job
//! (for example one started by another replica) is running, 404 for an unknown job.

use std::time::{Duration, Instant};

use migration::testing::Backend;
use serde_json::Value;
use service::context::Role;
use service::{Ctx, Mpi, ServiceConfig};

use crate::app::{TestApp, person};
use crate::both_backends;

async fn wait_until_finished(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, job) = app
            .as_role(Role::Steward, "GET", &format!("/api/v1/jobs/{id}"), None)
            .await;
        assert_eq!(status, 200, "{job}");
        if job["state"] != "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "job still running: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn dedupe_job_over_http(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app
        .register_forced(&person("Fairweather", "Ottilie", "1962-08-15", "MRN-9001"))
        .await;
    let b = app
        .register_forced(&person("Fairweather", "Ottilie", "1962-08-15", "MRN-9002"))
        .await;
    app.register_forced(&person("Quennell", "Bartholomew", "1938-01-30", "MRN-9003"))
        .await;

    // Registrars and auditors may not start or read jobs.
    for role in [Role::Registrar, Role::Auditor] {
        let (status, body) = app.as_role(role, "POST", "/api/v1/jobs/dedupe", None).await;
        assert_eq!(status, 403, "{role:?}: {body}");
    }
    let (status, _) = app
        .server
        .call("POST", "/api/v1/jobs/dedupe", None, &[], None)
        .await;
    assert_eq!(status, 401);

    // Another replica's job is running: 409 naming it.
    let mpi = Mpi::start(
        app.db.conn.clone(),
        matcher::Model::builtin(),
        ServiceConfig::default(),
    )
    .await
    .expect("service starts");
    let other = service::dedupe::start(&mpi, &Ctx::system("replica-2"))
        .await
        .expect("job starts");
    let (status, body) = app
        .as_role(Role::Steward, "POST", "/api/v1/jobs/dedupe", None)
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "job_running", "{body}");
    assert_eq!(body["detail"]["job_id"], other.id.to_string(), "{body}");
    service::dedupe::finish(&mpi, &Ctx::system("replica-2"), other.id, "cancelled", None)
        .await
        .expect("cancel");

    let (status, started) = app
        .as_role(Role::Steward, "POST", "/api/v1/jobs/dedupe", None)
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["kind"], "dedupe");
    let id = started["id"].as_str().expect("job id").to_owned();
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["counts"]["patients"], 3, "{job}");
    assert_eq!(job["counts"]["links_created"], 2, "{job}");
    assert_eq!(
        job["progress"]["pairs_done"], job["progress"]["pairs_total"],
        "{job}"
    );

    // The two Ottilies now share a person and a matcher seealso link.
    let (_, first) = app
        .admin(
            "GET",
            &format!("/api/v1/patients/{}", a["id"].as_str().unwrap()),
            None,
        )
        .await;
    let (_, second) = app
        .admin(
            "GET",
            &format!("/api/v1/patients/{}", b["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(first["person_id"], second["person_id"], "{first} {second}");

    // Admins may read it too; an unknown job is 404.
    let (status, _) = app.admin("GET", &format!("/api/v1/jobs/{id}"), None).await;
    assert_eq!(status, 200);
    let (status, body) = app
        .admin("GET", &format!("/api/v1/jobs/{}", uuid::Uuid::nil()), None)
        .await;
    assert_eq!(status, 404, "{body}");
}
both_backends!(dedupe_job_over_http);

const TWINS: &str = "\
id,given_name,family_name,sex,birth_date,address_line,city,postal_code,phone,mrn,mrn_system
a1,Ottilie,Fairweather,F,1962-08-15,12 Orchard Lane,Exeter,EX4 4QJ,01392 555 0101,MRN-1,urn:test:mrn
a2,Ottilie,Fairweather,F,1962-08-15,12 Orchard Lane,Exeter,EX4 4QJ,01392 555 0101,MRN-2,urn:test:mrn
b1,Bartholomew,Quennell,M,1938-01-30,3 Mill Road,Truro,TR1 2AA,01872 555 0199,MRN-3,urn:test:mrn
b2,Bartholomew,Quennell,M,1938-01-30,3 Mill Road,Truro,TR1 2AA,01872 555 0199,MRN-4,urn:test:mrn
c1,Henrietta,Zylberstein,F,1950-07-01,9 Quay Street,Penzance,TR18 4BD,,MRN-5,urn:test:mrn
";

/// `mpi import` then `mpi dedupe` stopped after one chunk (as if killed after its commit) and
/// run again: the second run resumes the same job and finishes it; both pairs end up linked.
async fn dedupe_command_resumes_an_interrupted_job(backend: Backend) {
    use crate::helpers::{ScratchDir, run_mpi_ok};
    use sea_orm::{EntityTrait, PaginatorTrait};

    let db = migration::testing::TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    let file = dir.path.join("twins.csv");
    std::fs::write(&file, TWINS).expect("write csv");
    let url = db.url.as_str();
    run_mpi_ok(
        &dir.path,
        &[
            "import",
            file.to_str().unwrap(),
            "--database-url",
            url,
            "--quiet",
        ],
    );
    let first = run_mpi_ok(
        &dir.path,
        &[
            "dedupe",
            "--database-url",
            url,
            "--quiet",
            "--chunk-size",
            "1",
            "--stop-after-chunks",
            "1",
        ],
    );
    assert!(first.contains(" running: "), "{first}");
    let second = run_mpi_ok(&dir.path, &["dedupe", "--database-url", url, "--quiet"]);
    assert!(
        second.contains(" completed (resumed): 5 patients"),
        "{second}"
    );
    assert!(second.contains("4 links created"), "{second}");
    let job_id = |s: &str| s.split_whitespace().nth(2).map(str::to_owned);
    assert_eq!(job_id(&first), job_id(&second));
    let jobs = entity::dedupe_job::Entity::find()
        .count(&db.conn)
        .await
        .unwrap();
    assert_eq!(jobs, 1);
    let links = entity::patient_link::Entity::find()
        .count(&db.conn)
        .await
        .unwrap();
    assert_eq!(links, 4);
}
both_backends!(dedupe_command_resumes_an_interrupted_job);
