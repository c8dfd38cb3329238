//! Real-time matching: candidates from the in-memory index, scored by the model, graded, with
//! the near-tie rule applied and pairs a steward judged `not_duplicate` left out.
//!
//! Order of work: top-K blocking candidates -> score each -> grade (`Model::decide`) -> drop the
//! excluded patient and its `not_duplicate` partners -> rank by match weight (ties by id) ->
//! near-tie rule -> `min_probability` -> `limit`.

use std::collections::HashSet;

use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use matcher::scoring::{Explanation, MatchDecision, Score, ScoredCandidate, apply_near_tie_rule};
use matcher::{NormalizedRecord, PersonRecord};

use crate::audit::{self, AuditEntry};
use crate::keys::Action;
use crate::patients::PatientInput;
use crate::{Ctx, Mpi, Result, convert, pairs};

/// Options of a match query.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchOptions {
    /// At most this many candidates come back.
    pub limit: usize,
    /// Candidates below this probability are left out; `None` means the model's `possible`
    /// threshold (so non-matches never come back unless asked for).
    pub min_probability: Option<f64>,
    /// The patient the query is about, if it is a stored one: it and every patient a steward
    /// judged `not_duplicate` with it are left out.
    pub exclude: Option<Uuid>,
}

impl Default for MatchOptions {
    fn default() -> Self {
        Self {
            limit: 10,
            min_probability: None,
            exclude: None,
        }
    }
}

/// One ranked candidate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatchCandidate {
    /// The candidate patient.
    pub patient_id: Uuid,
    /// Its person id.
    pub person_id: Uuid,
    /// Match probability (0..=1).
    pub score: f64,
    /// Match weight in bits.
    pub match_weight: f64,
    /// Certain, probable, possible (or non_match when asked for with a low `min_probability`).
    pub grade: MatchDecision,
    /// Per-field explanation (patient data: show only to authorised users, never log).
    pub explanation: Explanation,
}

/// Ranks the indexed patients against `query` without auditing, reading `not_duplicate`
/// partners through `db` (pass the open transaction inside a use case).
pub async fn rank<C: ConnectionTrait>(
    mpi: &Mpi,
    db: &C,
    query: &NormalizedRecord,
    options: &MatchOptions,
) -> Result<Vec<MatchCandidate>> {
    let excluded: HashSet<Uuid> = match options.exclude {
        Some(id) => {
            let mut set = pairs::not_duplicate_partners(db, id).await?;
            set.insert(id);
            set
        }
        None => HashSet::new(),
    };
    rank_unblocking(mpi, query, options, excluded).await
}

/// Most bytes of name and address text a query may have for [`rank_unblocking`] to score it on
/// the caller's task; a larger one is scored on tokio's blocking pool. Comparing names is
/// quadratic in their length: an ordinary record (a few names and an address, under 200 bytes)
/// scores in microseconds and is not worth a hand-off to another thread (two wake-ups on the
/// hot path of `POST /match`), while the largest record within `crate::limits` took about half
/// a second, which must not hold an HTTP worker.
pub const INLINE_SCORING_BYTES: usize = 512;

/// The bytes of text scoring `query` compares: its names and address parts.
fn scoring_bytes(query: &NormalizedRecord) -> usize {
    let names: usize = query
        .given
        .iter()
        .chain(&query.family)
        .map(|n| n.text.len())
        .sum();
    let addresses: usize = query
        .addresses
        .iter()
        .map(|a| a.street.len() + a.extra.len() + a.city.len())
        .sum();
    names + addresses
}

/// [`rank_excluding`], on tokio's blocking pool when `query` is larger than
/// [`INLINE_SCORING_BYTES`], so that a large record never holds an async worker (an HTTP
/// worker serves every connection it accepted on one thread).
pub async fn rank_unblocking(
    mpi: &Mpi,
    query: &NormalizedRecord,
    options: &MatchOptions,
    excluded: HashSet<Uuid>,
) -> Result<Vec<MatchCandidate>> {
    if scoring_bytes(query) <= INLINE_SCORING_BYTES {
        return Ok(rank_excluding(mpi, query, options, &excluded));
    }
    let (mpi, query, options) = (mpi.clone(), query.clone(), options.clone());
    tokio::task::spawn_blocking(move || rank_excluding(&mpi, &query, &options, &excluded))
        .await
        .map_err(|e| crate::Error::Db(sea_orm::DbErr::Custom(format!("scoring failed: {e}"))))
}

/// The in-memory part of [`rank`]: no database access.
pub fn rank_excluding(
    mpi: &Mpi,
    query: &NormalizedRecord,
    options: &MatchOptions,
    excluded: &HashSet<Uuid>,
) -> Vec<MatchCandidate> {
    let model = mpi.model();
    let data = mpi.index().read();
    let mut scored: Vec<(
        Uuid,
        Uuid,
        Score,
        MatchDecision,
        std::sync::Arc<NormalizedRecord>,
    )> = data
        .candidates(query, mpi.config().candidates)
        .into_iter()
        .filter(|c| !excluded.contains(&c.key))
        .filter_map(|c| {
            let entry = data.entry(c.key)?;
            let score = model.score(query, &entry.record);
            let grade = model.decide(&score, query, &entry.record);
            Some((c.key, entry.person_id, score, grade, entry.record.clone()))
        })
        .collect();
    drop(data);
    scored.sort_by(|x, y| {
        y.2.match_weight
            .total_cmp(&x.2.match_weight)
            .then(x.0.cmp(&y.0))
    });
    // The matcher's near-tie rule works on u64 ids: use the rank position, which keeps the
    // (weight desc, id asc) order the rule sorts by.
    let mut ranked: Vec<ScoredCandidate> = scored
        .iter()
        .enumerate()
        .map(|(i, s)| ScoredCandidate {
            id: i as u64,
            score: s.2,
            decision: s.3,
        })
        .collect();
    apply_near_tie_rule(&mut ranked, mpi.near_tie_margin());
    let min_probability = options
        .min_probability
        .unwrap_or(model.thresholds().possible);
    ranked
        .into_iter()
        .filter(|r| r.score.probability >= min_probability)
        .take(options.limit)
        .filter_map(|r| {
            let (patient_id, person_id, score, _, record) = scored.get(r.id as usize)?;
            let mut explanation = model.explain(query, record);
            explanation.decision = r.decision;
            Some(MatchCandidate {
                patient_id: *patient_id,
                person_id: *person_id,
                score: score.probability,
                match_weight: score.match_weight,
                grade: r.decision,
                explanation,
            })
        })
        .collect()
}

/// Finds the stored patients that may be the person described by `query`. Audited (action
/// `match`, entity `patient`; the query in `before`, the candidate ids in `after`).
pub async fn find_matches(
    mpi: &Mpi,
    ctx: &Ctx,
    query: &PersonRecord,
    options: MatchOptions,
) -> Result<Vec<MatchCandidate>> {
    ctx.authorize(Action::Match)?;
    let normalized = matcher::normalize(query);
    let found = match options.exclude {
        // The `not_duplicate` partners of the excluded patient come from the database.
        Some(_) => rank(mpi, mpi.db(), &normalized, &options).await?,
        None => rank_unblocking(mpi, &normalized, &options, HashSet::new()).await?,
    };
    mpi.audit_read(
        ctx,
        AuditEntry::new("match", "patient", options.exclude.map(|id| id.to_string()))
            .before(audit::json(query))
            .after(json!({
                "candidates": found.iter().map(|c| c.patient_id).collect::<Vec<_>>(),
            })),
    )
    .await?;
    Ok(found)
}

/// [`find_matches`] for a patient input (not validated: partial demographics are fine).
pub async fn find_matches_for_input(
    mpi: &Mpi,
    ctx: &Ctx,
    input: &PatientInput,
    options: MatchOptions,
) -> Result<Vec<MatchCandidate>> {
    crate::limits::check_patient(input)?;
    find_matches(mpi, ctx, &convert::person_from_input(input), options).await
}
