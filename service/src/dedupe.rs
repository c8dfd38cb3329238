//! Batch deduplication over the database (`mpi dedupe`, `POST /api/v1/jobs/dedupe`): scores every
//! live active patient against its blocking candidates in parallel, stores the scores, gives
//! certain matches one `person_id` with a matcher-made `seealso` link, opens review tasks for the
//! review band, and leaves pairs judged `not_duplicate` alone.
//!
//! # How a job runs
//! 1. [`start`] (or [`resume_or_start`]) writes a `dedupe_job` row in state `running`; a partial
//!    unique index allows one running job per database, so two processes cannot both start one.
//! 2. [`run`] plans: it takes every live active patient's normalized record from the service's
//!    candidate index (ordered by id), finds candidate pairs with `matcher::blocking`, scores them
//!    on rayon's pool, and clusters them with `matcher::cluster` at the model's auto-link
//!    decision (a pair is a link only when `Model::decide` says `Certain`; `not_duplicate` pairs
//!    are cannot-links). The pairs scoring at least the review threshold are the job's work,
//!    sorted by (patient_a, patient_b).
//! 3. The work is written in chunks. Each chunk is one transaction that also moves the job's
//!    cursor (the last pair written) and counts, so an interrupted job (Ctrl-C, kill -9, a crash)
//!    resumes after its last committed chunk. Every write is idempotent per pair (`match_score`
//!    is upserted per pair and model version, links are inserted unless present, review tasks
//!    are opened once per unordered pair and never reopened once decided, as `pairs::open_task`
//!    does, and a `person_id` is only changed when it differs), so even a plan that differs
//!    after a restart (patients changed meanwhile) cannot double anything. A chunk's writes are
//!    set-based (a few statements per 500 pairs, not several per pair).
//!
//! Per pair: the score goes to `match_score`; a linked pair gets the cluster's `person_id`
//! (the person of the cluster's smallest patient id) on both records and a `seealso` link in each
//! direction (origin `matcher`, with the probability); a pair in the review band whose records
//! did not end up in one cluster gets a review task (never reopened once decided), and an open
//! task of a linked pair is closed as `linked` by the job; a pair judged
//! `not_duplicate` only has its score stored. Changing `person_id` or adding a link raises the
//! patient's version. The job's start and finish are audited (with the counts), not each pair.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use rayon::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition,
    ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use serde::Serialize;
use uuid::Uuid;

use entity::dedupe_job::{self, state};
use entity::enums::{LinkOrigin, LinkType, ReviewStatus};
use entity::pair::ordered_pair;
use entity::{match_score, patient, patient_link, review_task};
use matcher::batch::BatchConfig;
use matcher::blocking::candidate_pairs;
use matcher::cluster::cluster;
use matcher::scoring::{MatchDecision, weight_of_probability};
use matcher::{Model, NormalizedRecord};

use crate::audit::{self, AuditEntry};
use crate::keys::Action;
use crate::pairs::{TaskScore, new_task, rescored_task};
use crate::{Ctx, Error, Mpi, Result};

/// Tunables of a dedupe run.
#[derive(Clone, Debug, PartialEq)]
pub struct DedupeOptions {
    /// Pairs written per transaction.
    pub chunk_size: usize,
    /// Stop (leaving the job `running`, to be resumed) after this many chunks in this call.
    /// For tests of resumption and for bounded runs.
    pub stop_after_chunks: Option<u64>,
    /// Refresh the changed patients in the service's candidate index after each chunk. A server
    /// must (its matching reads the index); a command that exits when the job ends need not,
    /// since the plan is made once, before the first chunk.
    pub refresh_index: bool,
}

impl Default for DedupeOptions {
    fn default() -> Self {
        Self {
            chunk_size: 2_000,
            stop_after_chunks: None,
            refresh_index: true,
        }
    }
}

/// A job's progress, given to the progress callback after each committed chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Pairs written so far (by this job, all runs).
    pub pairs_done: u64,
    /// Pairs to write.
    pub pairs_total: u64,
}

/// Starts a new dedupe job (state `running`). `Conflict job_running` (with the running job's id)
/// when one is running already. Steward or admin. Audited.
pub async fn start(mpi: &Mpi, ctx: &Ctx) -> Result<dedupe_job::Model> {
    ctx.authorize(Action::Merge)?;
    let txn = mpi.write_txn_for(ctx).await?;
    if let Some(running) = running_job(&*txn).await? {
        return Err(job_running(running.id));
    }
    let now = chrono::Utc::now().fixed_offset();
    let actor = ctx.actor.name.clone();
    let job = dedupe_job::ActiveModel {
        id: Set(Uuid::now_v7()),
        state: Set(state::RUNNING.to_owned()),
        model_version: Set(mpi.model().version().to_owned()),
        chunk_size: Set(0),
        patients: Set(0),
        candidate_pairs: Set(0),
        pairs_total: Set(0),
        pairs_done: Set(0),
        chunks_done: Set(0),
        cursor_a: Set(None),
        cursor_b: Set(None),
        scores_written: Set(0),
        links_created: Set(0),
        patients_relinked: Set(0),
        tasks_opened: Set(0),
        judged_pairs_skipped: Set(0),
        error: Set(None),
        started_at: Set(now),
        finished_at: Set(None),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.clone()),
        updated_by: Set(actor),
    }
    .insert(&*txn)
    .await
    .map_err(|e| match e.sql_err() {
        // Another process started one between our check and insert.
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::conflict("job_running", "a dedupe job is running already")
        }
        _ => Error::Db(e),
    })?;
    audit::record(
        &*txn,
        ctx,
        AuditEntry::new("dedupe.start", "dedupe_job", Some(job.id.to_string()))
            .after(audit::json(&job)),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(job_id = %job.id, "dedupe job started");
    Ok(job)
}

/// The running job to resume (an interrupted one), or a new one. A running job scored with
/// another model version is marked `failed` and a new job started. Steward or admin.
///
/// Use it from one process at a time: it cannot tell an interrupted job from one another
/// process is running right now (both would then write the same idempotent rows).
pub async fn resume_or_start(mpi: &Mpi, ctx: &Ctx) -> Result<dedupe_job::Model> {
    ctx.authorize(Action::Merge)?;
    if let Some(job) = running_job(mpi.db()).await? {
        if job.model_version == mpi.model().version() {
            tracing::info!(job_id = %job.id, chunks_done = job.chunks_done, "resuming dedupe job");
            return Ok(job);
        }
        finish(
            mpi,
            ctx,
            job.id,
            state::FAILED,
            Some(format!(
                "the model changed from version {} to {}",
                job.model_version,
                mpi.model().version()
            )),
        )
        .await?;
    }
    start(mpi, ctx).await
}

/// One job by id.
pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<dedupe_job::Model> {
    dedupe_job::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("dedupe_job", id))
}

/// The running job, if any.
pub async fn running_job<C: ConnectionTrait>(db: &C) -> Result<Option<dedupe_job::Model>> {
    Ok(dedupe_job::Entity::find()
        .filter(dedupe_job::Column::State.eq(state::RUNNING))
        .one(db)
        .await?)
}

fn job_running(id: Uuid) -> Error {
    Error::Conflict {
        code: "job_running",
        message: format!("dedupe job {id} is running"),
        detail: Some(serde_json::json!({ "job_id": id })),
    }
}

/// What to do with one pair of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PairAction {
    /// Same person: one `person_id`, `seealso` links.
    Link,
    /// Review band: open a task.
    Review,
    /// Score only (judged `not_duplicate`, or in one cluster without being a link).
    ScoreOnly,
}

/// One pair to write.
#[derive(Clone, Copy, Debug)]
struct WorkPair {
    a: u32,
    b: u32,
    match_weight: f64,
    probability: f64,
    action: PairAction,
    judged: bool,
}

/// The whole job in memory: the records (ordered by id) and the pairs to write.
struct Plan {
    ids: Vec<Uuid>,
    /// For each record, the `person_id` its cluster gets.
    person_of: Vec<Uuid>,
    records: Vec<NormalizedRecord>,
    candidate_pairs: usize,
    work: Vec<WorkPair>,
}

fn plan(
    model: &Model,
    ids: Vec<Uuid>,
    persons: Vec<Uuid>,
    records: Vec<NormalizedRecord>,
    judged: &HashSet<(Uuid, Uuid)>,
) -> Plan {
    let config = BatchConfig::for_model(model);
    let certain = weight_of_probability(model.thresholds().certain);
    let link_threshold = certain;
    let candidates = candidate_pairs(&records, &config.blocking);
    let candidate_count = candidates.len();
    // (a, b, weight for clustering, weight, probability, decision, judged)
    let scored: Vec<(u32, u32, f64, f64, f64, MatchDecision, bool)> = candidates
        .par_iter()
        .map(|&(a, b)| {
            let (x, y) = (&records[a as usize], &records[b as usize]);
            let score = model.score(x, y);
            let is_judged = judged.contains(&(ids[a as usize], ids[b as usize]));
            let decision = if score.match_weight >= config.review_threshold {
                model.decide(&score, x, y)
            } else {
                MatchDecision::NonMatch
            };
            // Twins of one mother are two people whatever they score: a cannot-link, so that no
            // third record matching either (a "Baby Girl" naming the same mother) puts them in
            // one cluster, as `matcher::batch::cluster_reviewed` does in file mode. The rule is
            // asked only of pairs in the review band or above (a few per record).
            let twins = score.match_weight >= config.review_threshold
                && model.review_reason(x, y)
                    == Some(matcher::scoring::ReviewReason::TwinsOfOneMother);
            let cluster_weight = if is_judged || twins {
                f64::NEG_INFINITY
            } else if score.match_weight >= link_threshold && decision != MatchDecision::Certain {
                // Above the line but a review rule says a person must look: not a link.
                link_threshold - 1e-6
            } else {
                score.match_weight
            };
            (
                a,
                b,
                cluster_weight,
                score.match_weight,
                score.probability,
                decision,
                is_judged,
            )
        })
        .collect();
    drop(candidates);
    let weighed: Vec<(u32, u32, f64)> = scored.iter().map(|s| (s.0, s.1, s.2)).collect();
    let mut cluster_config = config.cluster.clone();
    cluster_config.link_threshold = link_threshold;
    let clustering = cluster(records.len(), &weighed, &cluster_config);
    drop(weighed);
    let person_of: Vec<Uuid> = clustering
        .labels
        .iter()
        .map(|&root| persons[root as usize])
        .collect();
    let work = scored
        .into_iter()
        .filter(|s| s.3 >= config.review_threshold)
        .map(|(a, b, cw, w, p, decision, is_judged)| {
            let together = clustering.labels[a as usize] == clustering.labels[b as usize];
            let action = if is_judged {
                PairAction::ScoreOnly
            } else if together && cw >= link_threshold {
                PairAction::Link
            } else if together || decision == MatchDecision::NonMatch {
                PairAction::ScoreOnly
            } else {
                PairAction::Review
            };
            WorkPair {
                a,
                b,
                match_weight: w,
                probability: p,
                action,
                judged: is_judged,
            }
        })
        .collect();
    Plan {
        ids,
        person_of,
        records,
        candidate_pairs: candidate_count,
        work,
    }
}

/// Counts of one chunk.
#[derive(Default)]
struct ChunkCounts {
    scores: i64,
    links: i64,
    relinked: i64,
    tasks: i64,
    judged: i64,
}

/// Runs (or resumes) job `job_id` to the end, or until `options.stop_after_chunks` chunks were
/// written in this call (the job then stays `running`). `progress` is called after each chunk.
/// On an error the job is marked `failed` and the error returned.
pub async fn run(
    mpi: &Mpi,
    ctx: &Ctx,
    job_id: Uuid,
    options: &DedupeOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<dedupe_job::Model> {
    ctx.authorize(Action::Merge)?;
    match run_inner(mpi, ctx, job_id, options, progress).await {
        Ok(job) => Ok(job),
        Err(error) => {
            tracing::error!(job_id = %job_id, %error, "dedupe job failed");
            if let Err(e) = finish(mpi, ctx, job_id, state::FAILED, Some(error.to_string())).await {
                tracing::error!(job_id = %job_id, error = %e, "could not mark the job failed");
            }
            Err(error)
        }
    }
}

async fn run_inner(
    mpi: &Mpi,
    ctx: &Ctx,
    job_id: Uuid,
    options: &DedupeOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<dedupe_job::Model> {
    let job = get(mpi.db(), job_id).await?;
    if job.state != state::RUNNING {
        return Err(Error::conflict(
            "job_not_running",
            format!("dedupe job {job_id} is {}", job.state),
        ));
    }
    let chunk_size = options.chunk_size.max(1);

    // Every live active patient, by id, with the record the service's index holds.
    let db_ids: Vec<Uuid> = patient::Entity::find_active()
        .select_only()
        .column(patient::Column::Id)
        .order_by_asc(patient::Column::Id)
        .into_tuple()
        .all(mpi.db())
        .await?;
    let (ids, persons, records) = {
        let data = mpi.index().read();
        let mut ids = Vec::with_capacity(db_ids.len());
        let mut persons = Vec::with_capacity(db_ids.len());
        let mut records = Vec::with_capacity(db_ids.len());
        for id in db_ids {
            if let Some(entry) = data.entry(id) {
                ids.push(id);
                persons.push(entry.person_id);
                records.push((*entry.record).clone());
            }
        }
        (ids, persons, records)
    };
    let judged: HashSet<(Uuid, Uuid)> = review_task::Entity::find()
        .select_only()
        .column(review_task::Column::PatientA)
        .column(review_task::Column::PatientB)
        .filter(review_task::Column::Status.eq(ReviewStatus::NotDuplicate))
        .into_tuple::<(Uuid, Uuid)>()
        .all(mpi.db())
        .await?
        .into_iter()
        .collect();

    // The CPU part on rayon's pool, so an async caller's runtime threads stay free.
    let model = mpi.model().clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(plan(&model, ids, persons, records, &judged));
    });
    let plan = Arc::new(
        rx.await
            .map_err(|_| Error::conflict("job_failed", "the dedupe planning thread stopped"))?,
    );
    tracing::info!(
        job_id = %job_id,
        patients = plan.ids.len(),
        candidate_pairs = plan.candidate_pairs,
        pairs = plan.work.len(),
        "dedupe planned"
    );

    // Resume after the last committed pair.
    let start_at = match (job.cursor_a, job.cursor_b) {
        (Some(ca), Some(cb)) => plan
            .work
            .partition_point(|w| (plan.ids[w.a as usize], plan.ids[w.b as usize]) <= (ca, cb)),
        _ => 0,
    };
    let pairs_total = plan.work.len() as i64;
    let mut pairs_done = job.pairs_done;
    for (chunks_this_call, chunk) in plan.work[start_at..].chunks(chunk_size).enumerate() {
        if options
            .stop_after_chunks
            .is_some_and(|limit| chunks_this_call as u64 >= limit)
        {
            return get(mpi.db(), job_id).await;
        }
        let relinked = write_chunk(mpi, ctx, job_id, &plan, chunk, pairs_total, chunk_size).await?;
        if options.refresh_index {
            mpi.refresh_patients(&relinked).await?;
        }
        pairs_done += chunk.len() as i64;
        progress(Progress {
            pairs_done: u64::try_from(pairs_done).unwrap_or(0),
            pairs_total: pairs_total as u64,
        });
    }
    if start_at == plan.work.len() {
        // Nothing (left) to write: still record the plan's figures.
        let mut am: dedupe_job::ActiveModel = get(mpi.db(), job_id).await?.into();
        am.patients = Set(plan.ids.len() as i64);
        am.candidate_pairs = Set(plan.candidate_pairs as i64);
        am.pairs_total = Set(pairs_total);
        am.chunk_size = Set(chunk_size as i64);
        let txn = mpi.write_txn().await?;
        am.update(&*txn).await?;
        txn.commit().await?;
    }
    finish(mpi, ctx, job_id, state::COMPLETED, None).await
}

/// Writes one chunk and the job's progress in one transaction; returns the patients whose
/// `person_id` changed or who got a link (to refresh in the index after commit).
async fn write_chunk(
    mpi: &Mpi,
    ctx: &Ctx,
    job_id: Uuid,
    plan: &Plan,
    chunk: &[WorkPair],
    pairs_total: i64,
    chunk_size: usize,
) -> Result<Vec<Uuid>> {
    let model = mpi.model();
    let actor = ctx.actor.name.as_str();
    let now = chrono::Utc::now().fixed_offset();
    let breakdowns: Vec<serde_json::Value> = chunk
        .par_iter()
        .map(|w| {
            audit::json(&model.explain(&plan.records[w.a as usize], &plan.records[w.b as usize]))
        })
        .collect();
    let reason = format!("dedupe job {job_id}");
    let mut counts = ChunkCounts::default();
    let mut changed: Vec<Uuid> = Vec::new();

    let txn = mpi.write_txn_for(ctx).await?;
    let job = get(&*txn, job_id).await?;
    if job.state != state::RUNNING {
        return Err(Error::conflict(
            "job_not_running",
            format!("dedupe job {job_id} is {}", job.state),
        ));
    }
    // Which of the chunk's patients are still live and active (they may have changed since
    // the plan was made).
    let chunk_ids: Vec<Uuid> = {
        let mut v: Vec<Uuid> = chunk
            .iter()
            .filter(|w| w.action == PairAction::Link)
            .flat_map(|w| [plan.ids[w.a as usize], plan.ids[w.b as usize]])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut live: HashSet<Uuid> = HashSet::new();
    for part in chunk_ids.chunks(500) {
        let rows: Vec<Uuid> = patient::Entity::find_active()
            .select_only()
            .column(patient::Column::Id)
            .filter(patient::Column::Id.is_in(part.iter().copied()))
            .into_tuple()
            .all(&*txn)
            .await?;
        live.extend(rows);
    }

    // Scores, upserted per pair and model version.
    let version = model.version();
    let score_rows: Vec<match_score::ActiveModel> = chunk
        .iter()
        .zip(&breakdowns)
        .map(|(w, breakdown)| match_score::ActiveModel {
            id: Set(Uuid::now_v7()),
            patient_a: Set(plan.ids[w.a as usize]),
            patient_b: Set(plan.ids[w.b as usize]),
            probability: Set(w.probability),
            match_weight: Set(w.match_weight),
            breakdown: Set(breakdown.clone()),
            model_version: Set(version.to_owned()),
            computed_at: Set(now),
            created_at: NotSet,
            updated_at: Set(now),
            created_by: Set(actor.to_owned()),
            updated_by: Set(actor.to_owned()),
        })
        .collect();
    for part in score_rows.chunks(500) {
        match_score::Entity::insert_many(part.to_vec())
            .on_conflict(
                OnConflict::columns([
                    match_score::Column::PatientA,
                    match_score::Column::PatientB,
                    match_score::Column::ModelVersion,
                ])
                .update_columns([
                    match_score::Column::Probability,
                    match_score::Column::MatchWeight,
                    match_score::Column::Breakdown,
                    match_score::Column::ComputedAt,
                    match_score::Column::UpdatedAt,
                    match_score::Column::UpdatedBy,
                ])
                .to_owned(),
            )
            .exec_without_returning(&*txn)
            .await?;
    }
    counts.scores = chunk.len() as i64;

    counts.judged = chunk.iter().filter(|w| w.judged).count() as i64;
    let review: Vec<(Uuid, Uuid, &WorkPair, &serde_json::Value)> = chunk
        .iter()
        .zip(&breakdowns)
        .filter(|(w, _)| w.action == PairAction::Review)
        .map(|(w, breakdown)| {
            let (a, b) = ordered_pair(plan.ids[w.a as usize], plan.ids[w.b as usize]);
            (a, b, w, breakdown)
        })
        .filter(|(a, b, _, _)| a != b)
        .collect();
    counts.tasks = open_tasks(&*txn, actor, now, &review).await?;

    // Linked pairs whose records are both still live.
    let links: Vec<(Uuid, Uuid, &WorkPair)> = chunk
        .iter()
        .filter(|w| w.action == PairAction::Link)
        .map(|w| (plan.ids[w.a as usize], plan.ids[w.b as usize], w))
        .filter(|(a, b, _)| live.contains(a) && live.contains(b))
        .collect();
    // One person per cluster: the records of a person that still carry another person_id.
    let mut by_person: BTreeMap<Uuid, BTreeSet<Uuid>> = BTreeMap::new();
    for (a, b, w) in &links {
        by_person
            .entry(plan.person_of[w.a as usize])
            .or_default()
            .extend([*a, *b]);
    }
    for (person, members) in &by_person {
        let members: Vec<Uuid> = members.iter().copied().collect();
        for part in members.chunks(500) {
            let moved = patient::Entity::update_many()
                .col_expr(patient::Column::PersonId, Expr::value(*person))
                .col_expr(
                    patient::Column::Version,
                    Expr::col(patient::Column::Version).add(1),
                )
                .col_expr(patient::Column::UpdatedAt, Expr::value(now))
                .col_expr(patient::Column::UpdatedBy, Expr::value(actor))
                .filter(patient::Column::Id.is_in(part.iter().copied()))
                .filter(patient::Column::PersonId.ne(*person))
                .exec(&*txn)
                .await?;
            counts.relinked += moved.rows_affected as i64;
            if moved.rows_affected > 0 {
                changed.extend(part.iter().copied());
            }
        }
    }
    // Open tasks of linked pairs (say from a forced registration) are settled now.
    for part in links.chunks(200) {
        let mut pairs = Condition::any();
        for (a, b, _) in part {
            let (first, second) = ordered_pair(*a, *b);
            pairs = pairs.add(
                Condition::all()
                    .add(review_task::Column::PatientA.eq(first))
                    .add(review_task::Column::PatientB.eq(second)),
            );
        }
        review_task::Entity::update_many()
            .col_expr(
                review_task::Column::Status,
                Expr::value(ReviewStatus::Linked),
            )
            .col_expr(review_task::Column::DecidedBy, Expr::value(actor))
            .col_expr(review_task::Column::DecidedAt, Expr::value(now))
            .col_expr(review_task::Column::Note, Expr::value(reason.as_str()))
            .col_expr(review_task::Column::UpdatedAt, Expr::value(now))
            .col_expr(review_task::Column::UpdatedBy, Expr::value(actor))
            .filter(review_task::Column::Status.eq(ReviewStatus::Open))
            .filter(pairs)
            .exec(&*txn)
            .await?;
    }
    // A matcher `seealso` link each way, unless present; each new link raises its record's
    // version.
    let wanted: Vec<(Uuid, Uuid, f64)> = links
        .iter()
        .flat_map(|(a, b, w)| [(*a, *b, w.probability), (*b, *a, w.probability)])
        .collect();
    let new_links = insert_matcher_links(&*txn, actor, &wanted, &reason).await?;
    counts.links = new_links.len() as i64;
    let mut per_record: BTreeMap<Uuid, i32> = BTreeMap::new();
    for from in &new_links {
        *per_record.entry(*from).or_default() += 1;
    }
    let mut by_count: BTreeMap<i32, Vec<Uuid>> = BTreeMap::new();
    for (id, n) in per_record {
        by_count.entry(n).or_default().push(id);
    }
    for (n, ids) in &by_count {
        for part in ids.chunks(500) {
            patient::Entity::update_many()
                .col_expr(
                    patient::Column::Version,
                    Expr::col(patient::Column::Version).add(*n),
                )
                .col_expr(patient::Column::UpdatedAt, Expr::value(now))
                .col_expr(patient::Column::UpdatedBy, Expr::value(actor))
                .filter(patient::Column::Id.is_in(part.iter().copied()))
                .exec(&*txn)
                .await?;
        }
        changed.extend(ids.iter().copied());
    }

    let last = chunk
        .last()
        .map(|w| (plan.ids[w.a as usize], plan.ids[w.b as usize]));
    let mut am: dedupe_job::ActiveModel = job.clone().into();
    am.chunk_size = Set(chunk_size as i64);
    am.patients = Set(plan.ids.len() as i64);
    am.candidate_pairs = Set(plan.candidate_pairs as i64);
    am.pairs_total = Set(pairs_total);
    am.pairs_done = Set(job.pairs_done + chunk.len() as i64);
    am.chunks_done = Set(job.chunks_done + 1);
    am.cursor_a = Set(last.map(|l| l.0));
    am.cursor_b = Set(last.map(|l| l.1));
    am.scores_written = Set(job.scores_written + counts.scores);
    am.links_created = Set(job.links_created + counts.links);
    am.patients_relinked = Set(job.patients_relinked + counts.relinked);
    am.tasks_opened = Set(job.tasks_opened + counts.tasks);
    am.judged_pairs_skipped = Set(job.judged_pairs_skipped + counts.judged);
    am.updated_at = Set(now);
    am.updated_by = Set(actor.to_owned());
    am.update(&*txn).await?;
    txn.commit().await?;
    changed.sort_unstable();
    changed.dedup();
    Ok(changed)
}

/// Inserts the matcher's `seealso` links `from -> to` that do not exist yet; returns the `from`
/// of each link inserted. Two statements per 500 links: which exist, and one multi-row INSERT
/// (`ON CONFLICT DO NOTHING`, in case a steward adds the same link meanwhile).
async fn insert_matcher_links<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    wanted: &[(Uuid, Uuid, f64)],
    reason: &str,
) -> Result<Vec<Uuid>> {
    let mut inserted = Vec::new();
    for part in wanted.chunks(500) {
        let froms: BTreeSet<Uuid> = part.iter().map(|l| l.0).collect();
        let existing: HashSet<(Uuid, Uuid)> = patient_link::Entity::find()
            .select_only()
            .column(patient_link::Column::PatientId)
            .column(patient_link::Column::OtherPatientId)
            .filter(patient_link::Column::PatientId.is_in(froms))
            .filter(patient_link::Column::Type.eq(LinkType::SeeAlso))
            .into_tuple::<(Uuid, Uuid)>()
            .all(txn)
            .await?
            .into_iter()
            .collect();
        let mut seen = HashSet::new();
        let fresh: Vec<&(Uuid, Uuid, f64)> = part
            .iter()
            .filter(|(from, to, _)| !existing.contains(&(*from, *to)) && seen.insert((*from, *to)))
            .collect();
        if fresh.is_empty() {
            continue;
        }
        let rows = fresh
            .iter()
            .map(|(from, to, probability)| patient_link::ActiveModel {
                id: Set(Uuid::now_v7()),
                patient_id: Set(*from),
                other_patient_id: Set(*to),
                r#type: Set(LinkType::SeeAlso),
                origin: Set(LinkOrigin::Matcher),
                reason: Set(Some(reason.to_owned())),
                score: Set(Some(*probability)),
                created_at: NotSet,
                updated_at: NotSet,
                created_by: Set(actor.to_owned()),
                updated_by: Set(actor.to_owned()),
            });
        patient_link::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    patient_link::Column::PatientId,
                    patient_link::Column::OtherPatientId,
                    patient_link::Column::Type,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        inserted.extend(fresh.iter().map(|l| l.0));
    }
    Ok(inserted)
}

/// Opens a review task for each pair (ordered) unless one exists: an open one gets the new
/// score, a decided one is left alone (never reopened). Returns how many tasks were opened or
/// refreshed, as [`crate::pairs::open_task`] counts them. One query per 500 pairs to find the existing
/// tasks, multi-row INSERTs for the new ones.
async fn open_tasks<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    now: chrono::DateTime<chrono::FixedOffset>,
    review: &[(Uuid, Uuid, &WorkPair, &serde_json::Value)],
) -> Result<i64> {
    let mut count = 0i64;
    for part in review.chunks(500) {
        let firsts: BTreeSet<Uuid> = part.iter().map(|r| r.0).collect();
        let wanted: HashSet<(Uuid, Uuid)> = part.iter().map(|r| (r.0, r.1)).collect();
        let existing: HashMap<(Uuid, Uuid), review_task::Model> = review_task::Entity::find()
            .filter(review_task::Column::PatientA.is_in(firsts))
            .all(txn)
            .await?
            .into_iter()
            .filter(|t| wanted.contains(&(t.patient_a, t.patient_b)))
            .map(|t| ((t.patient_a, t.patient_b), t))
            .collect();
        let mut fresh = Vec::new();
        for (a, b, w, breakdown) in part {
            match existing.get(&(*a, *b)) {
                Some(task) if task.status == ReviewStatus::Open => {
                    rescored_task(task.clone(), score(w, breakdown), actor, now)
                        .update(txn)
                        .await?;
                    count += 1;
                }
                Some(_) => {}
                None => {
                    fresh.push(new_task((*a, *b), score(w, breakdown), actor));
                    count += 1;
                }
            }
        }
        if !fresh.is_empty() {
            review_task::Entity::insert_many(fresh)
                .exec_without_returning(txn)
                .await?;
        }
    }
    Ok(count)
}

/// A pair's score as its review task stores it.
fn score(w: &WorkPair, breakdown: &serde_json::Value) -> TaskScore {
    TaskScore {
        probability: w.probability,
        match_weight: w.match_weight,
        breakdown: breakdown.clone(),
    }
}

/// Ends job `job_id` in `final_state` (audited with its counts). A job that is not running is
/// returned unchanged.
pub async fn finish(
    mpi: &Mpi,
    ctx: &Ctx,
    job_id: Uuid,
    final_state: &str,
    error: Option<String>,
) -> Result<dedupe_job::Model> {
    let txn = mpi.write_txn_for(ctx).await?;
    let job = get(&*txn, job_id).await?;
    if job.state != state::RUNNING {
        txn.rollback().await?;
        return Ok(job);
    }
    let now = chrono::Utc::now().fixed_offset();
    let mut am: dedupe_job::ActiveModel = job.into();
    am.state = Set(final_state.to_owned());
    am.error = Set(error);
    am.finished_at = Set(Some(now));
    am.updated_at = Set(now);
    am.updated_by = Set(ctx.actor.name.clone());
    let job = am.update(&*txn).await?;
    audit::record(
        &*txn,
        ctx,
        AuditEntry::new("dedupe.finish", "dedupe_job", Some(job.id.to_string()))
            .after(audit::json(&job)),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(
        job_id = %job.id,
        state = %job.state,
        pairs = job.pairs_done,
        links = job.links_created,
        relinked = job.patients_relinked,
        tasks = job.tasks_opened,
        "dedupe job finished"
    );
    Ok(job)
}
