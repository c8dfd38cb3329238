//! `mpi dedupe` killed with SIGKILL in the middle of writing its chunks, then run again, ends
//! exactly where an uninterrupted run on a copy of the same data ends: the same `person_id` of
//! every patient and the same versions (no link applied twice), the same scores, links and
//! review tasks, the same job counts, and an intact audit chain. SQLite (the copy is a
//! `VACUUM INTO` of the imported database).

use std::process::Stdio;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryOrder};

use entity::{dedupe_job, match_score, patient, patient_link, review_task};

use crate::helpers::{ScratchDir, mpi, run_mpi_ok};

/// What a finished dedupe left in a database, in a comparable form.
#[derive(Debug, PartialEq)]
struct Outcome {
    patients: Vec<(uuid::Uuid, uuid::Uuid, i32)>,
    scores: Vec<(uuid::Uuid, uuid::Uuid, String, String, String)>,
    links: Vec<(uuid::Uuid, uuid::Uuid, String, String, Option<String>)>,
    tasks: Vec<(uuid::Uuid, uuid::Uuid, String, String)>,
    job: (String, i64, i64, i64, i64, i64, i64, i64, i64),
}

async fn outcome(db: &DatabaseConnection) -> Outcome {
    let patients = patient::Entity::find()
        .order_by_asc(patient::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.person_id, p.version))
        .collect();
    let mut scores: Vec<_> = match_score::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.patient_a,
                s.patient_b,
                s.model_version,
                format!("{:.12}", s.probability),
                s.breakdown.to_string(),
            )
        })
        .collect();
    scores.sort();
    let mut links: Vec<_> = patient_link::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|l| {
            (
                l.patient_id,
                l.other_patient_id,
                l.r#type.as_str().to_owned(),
                l.origin.as_str().to_owned(),
                l.score.map(|s| format!("{s:.12}")),
            )
        })
        .collect();
    links.sort();
    let mut tasks: Vec<_> = review_task::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            (
                t.patient_a,
                t.patient_b,
                t.status.as_str().to_owned(),
                format!("{:.12}", t.probability),
            )
        })
        .collect();
    tasks.sort();
    let jobs = dedupe_job::Entity::find().all(db).await.unwrap();
    assert_eq!(jobs.len(), 1, "one job, resumed rather than restarted");
    let j = &jobs[0];
    Outcome {
        patients,
        scores,
        links,
        tasks,
        job: (
            j.state.clone(),
            j.patients,
            j.pairs_total,
            j.pairs_done,
            j.scores_written,
            j.links_created,
            j.patients_relinked,
            j.tasks_opened,
            j.judged_pairs_skipped,
        ),
    }
}

async fn running_job(db: &DatabaseConnection) -> Option<dedupe_job::Model> {
    dedupe_job::Entity::find().one(db).await.ok().flatten()
}

#[tokio::test]
async fn dedupe_killed_mid_run_resumes_to_the_uninterrupted_result() {
    let dir = ScratchDir::new();
    let people = dir.path.join("people.csv");
    let people = people.to_str().unwrap();
    run_mpi_ok(
        &dir.path,
        &[
            "gen",
            "--records",
            "3000",
            "--seed",
            "7",
            "--output",
            people,
            "--quiet",
        ],
    );
    let killed_db = dir.path.join("killed.db");
    let killed_url = format!("sqlite://{}?mode=rwc", killed_db.display());
    run_mpi_ok(
        &dir.path,
        &["import", people, "--database-url", &killed_url, "--quiet"],
    );
    let whole_db = dir.path.join("whole.db");
    let whole_url = format!("sqlite://{}?mode=rwc", whole_db.display());
    let killed = Database::connect(killed_url.as_str()).await.expect("open");
    killed
        .execute_unprepared(&format!("VACUUM INTO '{}'", whole_db.display()))
        .await
        .expect("copy the database");

    // The uninterrupted run, on the copy.
    let chunk = ["--chunk-size", "4"];
    let out = run_mpi_ok(
        &dir.path,
        &[
            &["dedupe", "--database-url", &whole_url, "--quiet"][..],
            &chunk,
        ]
        .concat(),
    );
    assert!(out.contains(" completed: "), "{out}");

    // The interrupted run: SIGKILL once a few chunks are committed.
    let mut child = mpi(&dir.path)
        .args(["dedupe", "--database-url", &killed_url, "--quiet"])
        .args(chunk)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mpi dedupe");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(job) = running_job(&killed).await
            && job.chunks_done >= 3
        {
            break;
        }
        assert!(
            child.try_wait().expect("child status").is_none(),
            "mpi dedupe ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no progress to interrupt");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let job = running_job(&killed).await.expect("the job");
    assert_eq!(job.state, "running", "killed mid-run: {job:?}");
    assert!(
        job.pairs_done < job.pairs_total,
        "killed before the end: {job:?}"
    );

    let out = run_mpi_ok(
        &dir.path,
        &[
            &["dedupe", "--database-url", &killed_url, "--quiet"][..],
            &chunk,
        ]
        .concat(),
    );
    assert!(out.contains("completed (resumed)"), "{out}");

    let whole = Database::connect(whole_url.as_str()).await.expect("open");
    let after_kill = outcome(&killed).await;
    let uninterrupted = outcome(&whole).await;
    assert!(
        uninterrupted.links.len() >= 20 && uninterrupted.tasks.len() >= 5,
        "too little work to test: {:?}",
        uninterrupted.job
    );
    assert_eq!(after_kill.job, uninterrupted.job);
    assert_eq!(after_kill.patients, uninterrupted.patients);
    assert_eq!(after_kill.scores, uninterrupted.scores);
    assert_eq!(after_kill.links, uninterrupted.links);
    assert_eq!(after_kill.tasks, uninterrupted.tasks);
    let audit = service::audit::verify(&killed).await.expect("verify");
    assert!(audit.ok, "{audit:?}");
}
