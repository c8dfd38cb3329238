//! FHIR conditional create (R4 http.html#ccreate, `POST /fhir/Patient` with `If-None-Exist`):
//! register a patient unless a live record already holds the identifiers the condition names.
//! The decision and the registration are one use case, in one write transaction: the holders
//! are looked up again inside it, after the writers that came first. On SQLite the write gate and
//! `BEGIN IMMEDIATE` order every writer; on PostgreSQL a transaction-scoped advisory lock per
//! identifier of the condition orders the conditional creates naming it, so the second one's
//! look-up (a fresh snapshot under READ COMMITTED) sees the first one's record. Against any other
//! writer the record created must carry every identifier of the condition, so the unique index
//! over live identifiers refuses a second record (`duplicate_identifier`); a request refused so
//! decides again, once, and finds the record that won.
//!
//! The condition is one or more `(system, value)` identifiers, all of which the record must
//! hold (FHIR's repeated parameters are ANDed). Only identifiers: a condition on names or dates
//! could not be closed by the database (nothing unique holds them), so two concurrent requests
//! could each find nothing and both create.

use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, DbBackend, QuerySelect, Statement};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use entity::patient_identifier;

use crate::audit::AuditEntry;
use crate::keys::Action;
use crate::patients::{self, Patient, PatientInput, RegisterOutcome};
use crate::{Ctx, Error, Mpi, Result, convert, feed, matching};

/// Most identifiers one condition may name.
pub const MAX_CONDITION_IDENTIFIERS: usize = 20;

/// What a conditional create did.
#[derive(Clone, Debug)]
pub enum ConditionalCreate {
    /// No live record held the condition's identifiers: the registration, as
    /// [`patients::register`] answers it (created, or refused for its duplicates).
    Registered(RegisterOutcome),
    /// One live record holds them: nothing was stored; this is the record (its read audited).
    Exists(Box<Patient>),
}

/// Registers `input` unless one live record holds every identifier of `condition` (then that
/// record is the answer, audited as a read); several such records are `Conflict{code:
/// "multiple_matches"}`. The registration is [`patients::register`]'s (the duplicate check
/// unless `force`, review tasks, audited as `create`). `input` must carry every identifier of
/// the condition (a validation error on `identifiers` otherwise): what makes the database
/// refuse a concurrent twin. Needs the register and the read right.
pub async fn create_if_none_exist(
    mpi: &Mpi,
    ctx: &Ctx,
    mut input: PatientInput,
    condition: Vec<(String, String)>,
    force: bool,
) -> Result<ConditionalCreate> {
    ctx.authorize(Action::Register)?;
    ctx.authorize(Action::Read)?;
    check_condition(&condition)?;
    patients::check_input(mpi, ctx, &mut input)?;
    if let Some(i) = condition
        .iter()
        .position(|(system, value)| !feed::carries(mpi, &input, system, value))
    {
        return Err(Error::validation(
            "identifiers",
            format!(
                "a record created by a conditional create must carry every identifier of its \
                 condition (the condition's identifier {} is missing)",
                i + 1
            ),
        ));
    }
    // A request whose identifier another writer stored meanwhile (committed between its
    // look-up and its insert, or refused by the unique index) decides again, once: that
    // record is found now. An identifier held for another reason is refused again.
    let outcome = match attempt(mpi, ctx, &input, &condition, force).await {
        Err(Error::Conflict {
            code: "duplicate_identifier",
            ..
        }) => {
            tracing::info!("a concurrent writer stored the identifier first; deciding again");
            attempt(mpi, ctx, &input, &condition, force).await
        }
        other => other,
    };
    // Only the answer the caller gets discloses a holder (audited as its read).
    patients::disclosed(mpi, ctx, outcome).await
}

/// Bounds and shape of a condition (the FHIR layer refuses a malformed header first).
fn check_condition(condition: &[(String, String)]) -> Result<()> {
    if condition.is_empty() {
        return Err(Error::validation("If-None-Exist", "names no identifier"));
    }
    crate::limits::check_count("If-None-Exist", condition.len(), MAX_CONDITION_IDENTIFIERS)?;
    for (system, value) in condition {
        for text in [system, value] {
            if text.trim().is_empty() {
                return Err(Error::validation(
                    "If-None-Exist",
                    "an identifier needs both a system and a value",
                ));
            }
            if text.len() > feed::MAX_KEY_TEXT {
                return Err(Error::validation(
                    "If-None-Exist",
                    format!("is longer than {} bytes", feed::MAX_KEY_TEXT),
                ));
            }
            crate::limits::check_text(|| "If-None-Exist".to_owned(), text, feed::MAX_KEY_TEXT)?;
        }
    }
    Ok(())
}

/// The live records holding every identifier of `condition` (each under any name of its
/// domain).
async fn holders<C: ConnectionTrait>(
    mpi: &Mpi,
    db: &C,
    condition: &[(String, String)],
) -> Result<Vec<Uuid>> {
    let domains = mpi.domains();
    let mut all: Option<BTreeSet<Uuid>> = None;
    for (system, value) in condition {
        let ids: Vec<Uuid> = patient_identifier::Entity::find_live_by_systems_value(
            &domains.aliases_of(system),
            value.trim(),
        )
        .select_only()
        .column(patient_identifier::Column::PatientId)
        .into_tuple()
        .all(db)
        .await?;
        let ids: BTreeSet<Uuid> = ids.into_iter().collect();
        all = Some(match all {
            None => ids,
            Some(before) => before.intersection(&ids).copied().collect(),
        });
        if all.as_ref().is_some_and(BTreeSet::is_empty) {
            break;
        }
    }
    Ok(all.unwrap_or_default().into_iter().collect())
}

/// The namespace of the conditional-create advisory locks (PostgreSQL's two-key form, a lock
/// space apart from the audit chain's one-key lock).
const LOCK_NAMESPACE: i32 = 0x4d50_4343;

/// On PostgreSQL, takes the transaction's advisory lock of each identifier of the condition
/// (its domain's canonical system and its value, hashed), in order, so that conditional creates
/// naming one identifier run one after the other; nothing on SQLite, whose writers are ordered
/// already. Two identifiers sharing a hash only wait for each other.
async fn lock_condition(
    mpi: &Mpi,
    txn: &crate::WriteTxn,
    condition: &[(String, String)],
) -> Result<()> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let domains = mpi.domains();
    let mut keys: Vec<i32> = condition
        .iter()
        .map(|(system, value)| {
            let system = domains
                .resolve(system)
                .map_or_else(|| system.trim().to_owned(), |d| d.system());
            let digest = Sha256::new()
                .chain_update(system.as_bytes())
                .chain_update([0])
                .chain_update(value.trim().as_bytes())
                .finalize();
            i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1, $2)",
            [LOCK_NAMESPACE.into(), key.into()],
        ))
        .await?;
    }
    Ok(())
}

fn multiple() -> Error {
    Error::conflict(
        "multiple_matches",
        "more than one live record holds the identifiers of the condition",
    )
}

/// The one record found, read as `get` reads it and audited as a read (the condition's
/// reason noted, never its values).
async fn existing(mpi: &Mpi, ctx: &Ctx, id: Uuid) -> Result<ConditionalCreate> {
    let entry = AuditEntry::new("read", "patient", Some(id.to_string()))
        .before(json!({ "reason": "conditional_create" }));
    let (patient, audited) =
        tokio::join!(Patient::load_live(mpi.db(), id), mpi.audit_read(ctx, entry));
    audited?;
    let mut patient = patient?;
    mpi.domains().render_patient(&mut patient);
    crate::mothers::show_mothers(mpi.db(), &mpi.domains(), std::slice::from_mut(&mut patient))
        .await?;
    Ok(ConditionalCreate::Exists(Box::new(patient)))
}

async fn attempt(
    mpi: &Mpi,
    ctx: &Ctx,
    input: &PatientInput,
    condition: &[(String, String)],
    force: bool,
) -> Result<ConditionalCreate> {
    // Outside the write gate first: a repeated request (the common case) is a read.
    match holders(mpi, mpi.db(), condition).await?.as_slice() {
        [] => {}
        [id] => return existing(mpi, ctx, *id).await,
        _ => return Err(multiple()),
    }
    // Scored before the write gate is taken, as `patients::register` does.
    let normalized = matcher::normalize(&convert::person_from_input(input));
    let candidates = matching::rank_unblocking(
        mpi,
        &normalized,
        &matching::MatchOptions {
            limit: 10,
            ..matching::MatchOptions::default()
        },
        std::collections::HashSet::new(),
    )
    .await?;
    let txn = mpi.write_txn_for(ctx).await?;
    // Decided again inside the transaction, after the writers ordered before it (see the
    // module's notes).
    let found = match lock_condition(mpi, &txn, condition).await {
        Ok(()) => holders(mpi, &*txn, condition).await,
        Err(e) => Err(e),
    };
    let found = match found {
        Ok(found) => found,
        Err(e) => return patients::finish(txn, Err(e)).await,
    };
    if !found.is_empty() {
        txn.rollback().await?;
        return match found.as_slice() {
            [id] => existing(mpi, ctx, *id).await,
            _ => Err(multiple()),
        };
    }
    let result = patients::register_in(mpi, ctx, &txn, input, candidates, force).await;
    let mut outcome = patients::finish(txn, result).await?;
    if let RegisterOutcome::Created { patient, .. } = &mut outcome {
        tracing::info!(patient_id = %patient.id(), "patient registered by a conditional create");
        patients::after_registration(mpi, patient).await?;
    }
    Ok(ConditionalCreate::Registered(outcome))
}
