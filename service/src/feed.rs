//! The patient identity feed (IHE ITI-104 conditional update and delete, PMIR ITI-93 message
//! feeds): a batch of creates, create-or-updates, merges and deletes applied in one transaction,
//! all or nothing, through the same steps as register, update, merge and delete. A PMIR feed's
//! RelatedPerson entries (create, update by id, delete) are applied in the same transaction,
//! through the steps of [`crate::related_persons`]; a RelatedPerson may name its patient by an
//! earlier action of the feed (the Patient entry the same message creates).

use std::collections::BTreeSet;

use sea_orm::QuerySelect;
use uuid::Uuid;

use entity::patient_identifier;

use crate::keys::Action;
use crate::merge::{self, MergeRequest};
use crate::organizations::{self, OrganizationInput};
use crate::patients::{self, Patient, PatientInput, RegisterOutcome};
use crate::related_persons::{self, RelatedPerson, RelatedPersonInput};
use crate::{Ctx, Error, Mpi, Result, convert};

/// Most actions one feed message may carry.
pub const MAX_ACTIONS: usize = 100;
/// Longest identifier system or value a key may name.
pub const MAX_KEY_TEXT: usize = 255;

/// How an action names a stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordKey {
    /// By the record's id.
    Id(Uuid),
    /// By an identifier (system under any name of its domain, and value) a live record holds.
    Identifier {
        /// The system.
        system: String,
        /// The value.
        value: String,
    },
    /// By the identifiers the record carries (a PMIR entry whose URL id is not one the MPI
    /// assigned): the one live record holding any of those in a domain the caller may assign
    /// (the others ride along as references); none for a create-or-update to create.
    Identifiers(Vec<(String, String)>),
}

/// Most identifiers a [`RecordKey::Identifiers`] may carry.
pub const MAX_KEY_IDENTIFIERS: usize = 50;

/// How a RelatedPerson action names its patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatientRef {
    /// A stored patient, by id.
    Id(Uuid),
    /// The patient an earlier action of the same feed created, updated or retired (0-based).
    Action(usize),
}

/// One action of a feed.
#[derive(Clone, Debug)]
pub enum FeedAction {
    /// Create a RelatedPerson (`id` `None`) or update the one `id` names (it must exist);
    /// `input.patient_id` is replaced by what `patient` names.
    RelatedPerson {
        /// Which stored RelatedPerson to update; `None` creates one.
        id: Option<Uuid>,
        /// Its patient.
        patient: PatientRef,
        /// Its values.
        input: RelatedPersonInput,
    },
    /// Soft-delete a RelatedPerson.
    DeleteRelatedPerson {
        /// Its id.
        id: Uuid,
    },
    /// Register a record (no duplicate check refuses it: a feed reports what a source holds;
    /// certain and probable matches become review tasks, as a forced registration does).
    Create {
        /// The record.
        input: PatientInput,
    },
    /// Create-or-update: update the one record the key names (at its current version; every
    /// list becomes the one given), or, for an identifier nobody holds, register the input,
    /// which must carry that identifier. By id, the record must exist.
    Put {
        /// Which record.
        key: RecordKey,
        /// Its new values.
        input: PatientInput,
        /// The id the sent resource carries, when the sender's id must be the record's (FHIR
        /// conditional update: one match whose id differs is refused, `id_mismatch`).
        resource_id: Option<String>,
    },
    /// Resolve a duplicate: merge the record `key` names into `survivor` (undoable as any merge).
    Merge {
        /// The record retired.
        key: RecordKey,
        /// The record that survives.
        survivor: RecordKey,
        /// As for [`FeedAction::Put`]: the id the retired record must have, when given.
        resource_id: Option<String>,
    },
    /// Soft-delete the record the key names.
    Delete {
        /// Which record.
        key: RecordKey,
    },
    /// Store an organization (a PMIR message's Organization entry): the one holding any of its
    /// identifiers is updated, else it is created. Later Patient actions whose
    /// `managing_organization_id` is `id` are given the stored organization's id.
    Organization {
        /// The id later actions of the feed name it by (the new organization's id when created).
        id: Uuid,
        /// Its values.
        input: OrganizationInput,
    },
}

/// What one action did.
#[derive(Clone, Debug)]
pub enum FeedResult {
    /// A record was registered.
    Created(Box<Patient>),
    /// A record was updated.
    Updated(Box<Patient>),
    /// A record was merged into another.
    Merged {
        /// The merge (give it to `merge::undo`).
        merge_id: Uuid,
        /// The survivor after the merge.
        survivor: Box<Patient>,
        /// The retired record after the merge.
        retired: Box<Patient>,
    },
    /// A record was soft-deleted.
    Deleted {
        /// Its id.
        id: Uuid,
    },
    /// A RelatedPerson was created.
    RelatedCreated(Box<RelatedPerson>),
    /// A RelatedPerson was updated.
    RelatedUpdated(Box<RelatedPerson>),
    /// A RelatedPerson was soft-deleted.
    RelatedDeleted {
        /// Its id.
        id: Uuid,
    },
    /// An organization was stored.
    Organization {
        /// Its id.
        id: Uuid,
        /// Whether it was created (else updated).
        created: bool,
    },
}

/// Why a feed failed: the action at `index` (0-based), and its error. Nothing was stored.
#[derive(Debug)]
pub struct FeedFailure {
    /// Which action failed (0 when the feed as a whole is refused).
    pub index: usize,
    /// Why.
    pub error: Error,
}

fn at(index: usize) -> impl Fn(Error) -> FeedFailure {
    move |error| FeedFailure { index, error }
}

fn check_key(field: &str, key: &RecordKey) -> Result<()> {
    let pairs: Vec<(&String, &String)> = match key {
        RecordKey::Id(_) => Vec::new(),
        RecordKey::Identifier { system, value } => vec![(system, value)],
        RecordKey::Identifiers(list) => {
            if list.is_empty() {
                return Err(Error::validation(field, "needs an identifier"));
            }
            crate::limits::check_count(field, list.len(), MAX_KEY_IDENTIFIERS)?;
            list.iter().map(|(s, v)| (s, v)).collect()
        }
    };
    for (system, value) in pairs {
        for text in [system, value] {
            if text.trim().is_empty() {
                return Err(Error::validation(field, "needs both a system and a value"));
            }
            if text.len() > MAX_KEY_TEXT {
                return Err(Error::validation(
                    field,
                    format!("is longer than {MAX_KEY_TEXT} bytes"),
                ));
            }
        }
    }
    Ok(())
}

/// The live records holding `key`'s identifier (several only if the data is inconsistent).
async fn holders(mpi: &Mpi, txn: &crate::WriteTxn, system: &str, value: &str) -> Result<Vec<Uuid>> {
    let systems = mpi.domains().aliases_of(system);
    let ids: Vec<Uuid> =
        patient_identifier::Entity::find_live_by_systems_value(&systems, value.trim())
            .select_only()
            .column(patient_identifier::Column::PatientId)
            .into_tuple()
            .all(&**txn)
            .await?;
    Ok(ids
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect())
}

/// The record `key` names: `None` for an identifier nobody holds; `Conflict{code:
/// "multiple_matches"}` when several live records hold it; by id, not found when absent. By
/// the record's own identifiers, only those in domains the caller may assign count (refused
/// with 403 `domain_not_authorised` when there is none).
async fn resolve(
    mpi: &Mpi,
    ctx: &Ctx,
    txn: &crate::WriteTxn,
    key: &RecordKey,
) -> Result<Option<Patient>> {
    match key {
        RecordKey::Id(id) => Ok(Some(Patient::load_live(&**txn, *id).await?)),
        RecordKey::Identifier { .. } | RecordKey::Identifiers(_) => {
            let mut ids = BTreeSet::new();
            match key {
                RecordKey::Identifiers(list) => {
                    let domains = mpi.domains();
                    let own: Vec<&(String, String)> = list
                        .iter()
                        .filter(|(system, _)| {
                            ctx.actor
                                .source
                                .as_ref()
                                .is_none_or(|s| domains.may_assign(s, system))
                                && !domains.resolve(system).is_some_and(|d| d.links_records)
                        })
                        .collect();
                    if own.is_empty() {
                        return Err(Error::refused(
                            crate::error::Refusal::NotAuthorised,
                            "domain_not_authorised",
                            "identifier",
                            "the record carries no identifier in a domain the source may assign",
                        ));
                    }
                    for (system, value) in own {
                        ids.extend(holders(mpi, txn, system, value).await?);
                    }
                }
                RecordKey::Identifier { system, value } => {
                    ids.extend(holders(mpi, txn, system, value).await?);
                }
                RecordKey::Id(_) => {}
            }
            let ids: Vec<Uuid> = ids.into_iter().collect();
            match ids.as_slice() {
                [] => Ok(None),
                [id] => Ok(Some(Patient::load_live(&**txn, *id).await?)),
                _ => Err(Error::conflict(
                    "multiple_matches",
                    "more than one live record holds this identifier",
                )),
            }
        }
    }
}

fn not_found(key: &RecordKey) -> Error {
    match key {
        RecordKey::Id(id) => Error::not_found("patient", id),
        RecordKey::Identifier { .. } | RecordKey::Identifiers(_) => Error::refused(
            crate::error::Refusal::Unknown,
            "unknown_identifier",
            "identifier",
            "no live record holds this identifier",
        ),
    }
}

/// A sent resource's id against the record its action matched: refused (`id_mismatch`) when
/// it is given and is not that record's id.
fn check_resource_id(given: Option<&str>, matched: Uuid) -> Result<()> {
    match given {
        Some(given) if Uuid::parse_str(given.trim()).ok() != Some(matched) => Err(Error::conflict(
            "id_mismatch",
            "the resource's id is not the id of the record the condition matched",
        )),
        _ => Ok(()),
    }
}

/// Whether `input` carries `system|value` (under any name of its domain).
pub(crate) fn carries(mpi: &Mpi, input: &PatientInput, system: &str, value: &str) -> bool {
    let aliases = mpi.domains().aliases_of(system);
    input
        .identifiers
        .iter()
        .any(|i| i.value.trim() == value.trim() && aliases.contains(&i.system))
}

/// Applies `actions` in one transaction: every action or none. Each is authorised, validated
/// and audited as its single-record use case is (register, update, merge, delete); the index is
/// refreshed for every record touched after the commit. Refusals name the failing action.
pub async fn apply(
    mpi: &Mpi,
    ctx: &Ctx,
    mut actions: Vec<FeedAction>,
) -> std::result::Result<Vec<FeedResult>, FeedFailure> {
    if actions.is_empty() {
        return Err(at(0)(Error::validation(
            "entry",
            "the feed carries no action",
        )));
    }
    if actions.len() > MAX_ACTIONS {
        return Err(at(0)(Error::validation(
            "entry",
            format!("carries more than {MAX_ACTIONS} actions"),
        )));
    }
    for (index, action) in actions.iter_mut().enumerate() {
        let fail = at(index);
        match action {
            FeedAction::Create { input } => {
                ctx.authorize(Action::Register).map_err(&fail)?;
                patients::check_input(mpi, ctx, input).map_err(&fail)?;
            }
            FeedAction::Put { key, input, .. } => {
                ctx.authorize(Action::Register).map_err(&fail)?;
                ctx.authorize(Action::Update).map_err(&fail)?;
                check_key("identifier", key).map_err(&fail)?;
                patients::check_input(mpi, ctx, input).map_err(&fail)?;
            }
            FeedAction::Merge { key, survivor, .. } => {
                ctx.authorize(Action::Merge).map_err(&fail)?;
                check_key("identifier", key).map_err(&fail)?;
                check_key("link", survivor).map_err(&fail)?;
            }
            FeedAction::Delete { key } => {
                ctx.authorize(Action::Delete).map_err(&fail)?;
                check_key("identifier", key).map_err(&fail)?;
            }
            FeedAction::RelatedPerson { id, patient, input } => {
                if id.is_some() {
                    ctx.authorize(Action::Update).map_err(&fail)?;
                }
                if let PatientRef::Action(earlier) = patient
                    && *earlier >= index
                {
                    return Err(fail(Error::validation(
                        "patient",
                        "names a Patient entry that does not come before it",
                    )));
                }
                related_persons::check_input(ctx, input).map_err(&fail)?;
            }
            FeedAction::DeleteRelatedPerson { .. } => {
                ctx.authorize(Action::Delete).map_err(&fail)?;
            }
            FeedAction::Organization { input, .. } => {
                ctx.authorize(Action::Register).map_err(&fail)?;
                organizations::check_input(input).map_err(&fail)?;
            }
        }
    }
    let txn = mpi.write_txn_for(ctx).await.map_err(at(0))?;
    let mut results = Vec::with_capacity(actions.len());
    let mut touched = BTreeSet::new();
    // The organizations stored so far: the id the feed names each by, and its stored id.
    let mut organization_ids: Vec<(Uuid, Uuid)> = Vec::new();
    for (index, action) in actions.iter_mut().enumerate() {
        if let FeedAction::Create { input } | FeedAction::Put { input, .. } = action
            && let Some(named) = input.managing_organization_id
            && let Some((_, stored)) = organization_ids.iter().find(|(n, _)| *n == named)
        {
            input.managing_organization_id = Some(*stored);
        }
        let outcome = match action {
            FeedAction::Organization { id, input } => {
                organizations::upsert_in(ctx, &txn, *id, input)
                    .await
                    .map(|(stored, created)| {
                        organization_ids.push((*id, stored));
                        FeedResult::Organization {
                            id: stored,
                            created,
                        }
                    })
            }
            FeedAction::RelatedPerson { id, patient, input } => {
                apply_related(ctx, &txn, *id, *patient, input, &results).await
            }
            FeedAction::DeleteRelatedPerson { id } => related_persons::delete_in(ctx, &txn, *id)
                .await
                .map(|()| FeedResult::RelatedDeleted { id: *id }),
            _ => apply_one(mpi, ctx, &txn, action, &mut touched).await,
        };
        match outcome {
            Ok(result) => results.push(result),
            Err(error) => {
                // The error that ended the feed matters more than a failed rollback.
                let _ = txn.rollback().await;
                let error = match patients::disclosed::<()>(mpi, ctx, Err(error)).await {
                    Err(e) => e,
                    Ok(()) => unreachable!("disclosed passes an error through"),
                };
                return Err(FeedFailure { index, error });
            }
        }
    }
    txn.commit().await.map_err(at(0))?;
    let touched: Vec<Uuid> = touched.into_iter().collect();
    mpi.refresh_patients(&touched).await.map_err(at(0))?;
    tracing::info!(
        actions = results.len(),
        records = touched.len(),
        "feed applied"
    );
    let domains = mpi.domains();
    for result in &mut results {
        match result {
            FeedResult::Created(p) | FeedResult::Updated(p) => domains.render_patient(p),
            FeedResult::Merged {
                survivor, retired, ..
            } => {
                domains.render_patient(survivor);
                domains.render_patient(retired);
            }
            FeedResult::Deleted { .. }
            | FeedResult::RelatedCreated(_)
            | FeedResult::RelatedUpdated(_)
            | FeedResult::RelatedDeleted { .. }
            | FeedResult::Organization { .. } => {}
        }
    }
    Ok(results)
}

/// A RelatedPerson action: its patient resolved (an earlier action's record), then created or
/// updated.
async fn apply_related(
    ctx: &Ctx,
    txn: &crate::WriteTxn,
    id: Option<Uuid>,
    patient: PatientRef,
    input: &RelatedPersonInput,
    done: &[FeedResult],
) -> Result<FeedResult> {
    let patient_id = match patient {
        PatientRef::Id(id) => id,
        PatientRef::Action(i) => match done.get(i) {
            Some(FeedResult::Created(p) | FeedResult::Updated(p)) => p.id(),
            Some(FeedResult::Merged { survivor, .. }) => survivor.id(),
            _ => {
                return Err(Error::validation(
                    "patient",
                    "names an entry that is not a stored Patient",
                ));
            }
        },
    };
    let input = RelatedPersonInput {
        patient_id,
        ..input.clone()
    };
    match id {
        None => related_persons::create_in(ctx, txn, &input)
            .await
            .map(|r| FeedResult::RelatedCreated(Box::new(r))),
        Some(id) => related_persons::update_in(ctx, txn, id, None, &input)
            .await
            .map(|r| FeedResult::RelatedUpdated(Box::new(r))),
    }
}

async fn apply_one(
    mpi: &Mpi,
    ctx: &Ctx,
    txn: &crate::WriteTxn,
    action: &FeedAction,
    touched: &mut BTreeSet<Uuid>,
) -> Result<FeedResult> {
    match action {
        FeedAction::Create { input } => {
            let created = register(mpi, ctx, txn, input).await?;
            touched.insert(created.id());
            Ok(FeedResult::Created(created))
        }
        FeedAction::Put {
            key,
            input,
            resource_id,
        } => match resolve(mpi, ctx, txn, key).await? {
            Some(current) => {
                let id = current.id();
                check_resource_id(resource_id.as_deref(), id)?;
                let updated =
                    patients::update_in(mpi, ctx, txn, id, current.version(), input).await?;
                touched.insert(id);
                Ok(FeedResult::Updated(Box::new(updated)))
            }
            None => {
                let (system, value) = match key {
                    RecordKey::Identifier { system, value } => (system, value),
                    // The key is the input's own identifiers: nobody holds them, so create.
                    RecordKey::Identifiers(_) => {
                        let created = register(mpi, ctx, txn, input).await?;
                        touched.insert(created.id());
                        return Ok(FeedResult::Created(created));
                    }
                    RecordKey::Id(_) => return Err(not_found(key)),
                };
                if !carries(mpi, input, system, value) {
                    return Err(Error::validation(
                        "identifiers",
                        "a record created by a conditional update must carry the identifier of the condition",
                    ));
                }
                let created = register(mpi, ctx, txn, input).await?;
                touched.insert(created.id());
                Ok(FeedResult::Created(created))
            }
        },
        FeedAction::Merge {
            key,
            survivor,
            resource_id,
        } => {
            let source = resolve(mpi, ctx, txn, key)
                .await?
                .ok_or_else(|| not_found(key))?;
            check_resource_id(resource_id.as_deref(), source.id())?;
            let target = resolve(mpi, ctx, txn, survivor)
                .await
                .map_err(|e| match e {
                    Error::NotFound { .. } => Error::validation("link", "names no live Patient"),
                    other => other,
                })?
                .ok_or_else(|| Error::validation("link", "names no live Patient"))?;
            let req = MergeRequest {
                target: target.id(),
                source: source.id(),
                preview: false,
                review_task_id: None,
            };
            merge::check_source_authority(mpi, ctx, &**txn, &req).await?;
            let outcome = merge::merge_in_txn(mpi, txn, ctx, &req, None).await?;
            touched.insert(req.target);
            touched.insert(req.source);
            Ok(FeedResult::Merged {
                merge_id: outcome
                    .merge_id
                    .ok_or_else(|| Error::conflict("merge_failed", "the merge has no id"))?,
                survivor: Box::new(outcome.target),
                retired: Box::new(outcome.source),
            })
        }
        FeedAction::Delete { key } => {
            let record = resolve(mpi, ctx, txn, key)
                .await?
                .ok_or_else(|| not_found(key))?;
            let id = record.id();
            patients::delete_in(mpi, ctx, txn, id).await?;
            touched.insert(id);
            Ok(FeedResult::Deleted { id })
        }
        FeedAction::RelatedPerson { .. }
        | FeedAction::DeleteRelatedPerson { .. }
        | FeedAction::Organization { .. } => {
            Err(Error::validation("entry", "is not a Patient action"))
        }
    }
}

async fn register(
    mpi: &Mpi,
    ctx: &Ctx,
    txn: &crate::WriteTxn,
    input: &PatientInput,
) -> Result<Box<Patient>> {
    let normalized = matcher::normalize(&convert::person_from_input(input));
    let candidates = crate::matching::rank_unblocking(
        mpi,
        &normalized,
        &crate::matching::MatchOptions {
            limit: 10,
            ..Default::default()
        },
        std::collections::HashSet::new(),
    )
    .await?;
    match patients::register_in(mpi, ctx, txn, input, candidates, true).await? {
        RegisterOutcome::Created { patient, .. } => Ok(patient),
        RegisterOutcome::Duplicates { .. } => Err(Error::conflict(
            "duplicates",
            "certain or probable matches exist",
        )),
    }
}
