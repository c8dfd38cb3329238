//! A patient's mother as a record (issue 29 §7): the other directions of
//! [`crate::patients::resolve_mother`], which resolves a child's mother when the child is
//! written.
//!
//! The rule: a child's mother's record is the live record (active, not deleted, not merged away)
//! that holds the mother's identifier the child names (any name of its domain), other than the
//! child. A soft-deleted or inactive record is no live reference (FHIR: a deleted resource is
//! gone, its references dangle), so it is never shown as a mother; a merged-away mother is
//! answered by her survivor, which holds her identifiers since the merge. The mother's
//! identifier and maiden name themselves are the child's own data, as its source sent them
//! (REST `mother.identifier`, HL7 v2 PID-21 and PID-6, FHIR's `patient-mothersMaidenName`): they
//! are always rendered, whatever became of the record they name.
//!
//! * The child's row keeps the record found when it was last written (`mother_patient_id`),
//!   kept true by the writes below, each audited as an `update` of the child (its whole record
//!   before and after, its version raised, as for any write):
//!   * [`resolve_children`]: a mother registered (or given an identifier) after her child. Every
//!     write of a live patient (`register_in` and `update_in`, which REST, FHIR, the HL7 v2 feed
//!     and PMIR all go through) gives the live children that name one of its identifiers and
//!     have no `mother_patient_id` yet this record as their mother, in the same transaction. The
//!     lookup is served by migration 20's index `idx_patient_mother_identifier
//!     (mother_identifier_value, mother_identifier_system)`.
//!   * [`resolve_children_of_survivor`]: a merge (any path: REST, review decision, HL7 v2 A40,
//!     PMIR) gives the survivor, which now holds the retired record's identifiers too, as mother
//!     to the unresolved children naming any identifier it holds.
//!   * [`follow_holders`]: a record that stops holding identifiers (soft-deleted; the survivor
//!     of a merge being undone, which gives the copies back to the retired record) passes the
//!     children resolved to it that name one of those identifiers on to the live record holding
//!     it now (the retired record live again after the undo), or to none.
//!
//!   A child whose mother was merged away keeps her record in its row (the undo of the merge
//!   makes it live again).
//! * [`show_mothers`]: every read (REST read and search, and so FHIR PDQm and HL7 v2 PDQ, which
//!   search) shows the rule's answer as it is at the read, not the row: one statement asks the
//!   live holders of the children's mother identifiers (the partial index of live identifiers),
//!   and the stored record is shown when it is one of them, else the first holder by id, else
//!   none.
//!
//! Why the read decides (issue 29's race): on PostgreSQL a child registered while its mother is
//! being registered, in two concurrent transactions, sees no mother (hers is not committed), and
//! the mother's registration sees no child (not committed either), so both commit with the child
//! unresolved. A lock would serialize every registration with an identifier; a re-run after each
//! commit would cost every registration a second transaction. Deciding at the read costs only
//! reads of children that name a mother (one indexed statement per page), nothing for a
//! write, and is right whatever order transactions commit in, as it is for rows written before
//! these rules or changed by any writer (another replica, `mpi import`). The child's row catches
//! up at its next write or its mother's.
use std::collections::HashMap;

use chrono::Utc;
use entity::patient_ext::PatientRecord;
use entity::{patient, patient_identifier};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect,
    Select, Statement,
};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::domains::Registry;
use crate::patients::{IdentifierInput, Patient};
use crate::{Ctx, Mpi, Result};

/// Most children one write resolves. A mother's identifier that more live records name than
/// this is more likely a placeholder value than one woman; the others keep their identifier
/// (searches by it find them) and resolve at their own next write.
pub const MAX_CHILDREN_RESOLVED: u64 = 50;

/// Gives `mother` (a live record just written with `identifiers`, in canonical form) as the
/// mother of the live children naming one of those identifiers whose mother is not resolved
/// yet (see the module documentation). Returns the children written, in id order.
pub(crate) async fn resolve_children(
    mpi: &Mpi,
    ctx: &Ctx,
    txn: &sea_orm::DatabaseTransaction,
    mother: Uuid,
    identifiers: &[IdentifierInput],
) -> Result<Vec<Uuid>> {
    let named: Vec<(String, String)> = identifiers
        .iter()
        .map(|i| (i.system.clone(), i.value.clone()))
        .collect();
    resolve_named(mpi, ctx, txn, mother, &named).await
}

/// After a merge: gives the survivor (live, holding the retired record's identifiers beside its
/// own now: `survivor`, loaded after the merge) as mother to the live, unresolved children
/// naming any identifier it holds. Returns the children written, in id order.
pub(crate) async fn resolve_children_of_survivor(
    mpi: &Mpi,
    ctx: &Ctx,
    txn: &sea_orm::DatabaseTransaction,
    survivor: &PatientRecord,
) -> Result<Vec<Uuid>> {
    let held: Vec<(String, String)> = survivor
        .identifiers
        .iter()
        .map(|i| (i.system.clone(), i.value.clone()))
        .collect();
    resolve_named(mpi, ctx, txn, survivor.patient.id, &held).await
}

/// [`resolve_children`] for `(system, value)` pairs.
async fn resolve_named(
    mpi: &Mpi,
    ctx: &Ctx,
    txn: &sea_orm::DatabaseTransaction,
    mother: Uuid,
    identifiers: &[(String, String)],
) -> Result<Vec<Uuid>> {
    if identifiers.is_empty() {
        return Ok(Vec::new());
    }
    let named = named_in_domains(&mpi.domains(), identifiers);
    let children: Vec<(Uuid, i32)> = children_naming(&named, mother)
        .into_tuple()
        .all(txn)
        .await?;
    let children: Vec<(Uuid, i32, Uuid)> = children
        .into_iter()
        .map(|(child, version)| (child, version, mother))
        .collect();
    give_mothers(txn, ctx, children).await
}

/// Each identifier as `(every system its domain may be stored under, trimmed value)`.
fn named_in_domains(
    domains: &Registry,
    identifiers: &[(String, String)],
) -> Vec<(Vec<String>, String)> {
    identifiers
        .iter()
        .map(|(system, value)| (domains.aliases_of(system), value.trim().to_owned()))
        .collect()
}

/// A child naming one of `named` as its mother's identifier.
fn naming_any(named: &[(Vec<String>, String)]) -> Condition {
    let mut any = Condition::any();
    for (systems, value) in named {
        any = any.add(
            Condition::all()
                .add(patient::Column::MotherIdentifierValue.eq(value.as_str()))
                .add(patient::Column::MotherIdentifierSystem.is_in(systems.iter().cloned())),
        );
    }
    any
}

/// After `record` stopped holding `identifiers` live (it was soft-deleted; a merge into it was
/// undone, which took back the copies of the retired record's identifiers): the live children
/// resolved to `record` that name one of them get the live record holding their mother's
/// identifier now (the retired record, live again after an undo), or none. At most
/// [`MAX_CHILDREN_RESOLVED`]; the others are shown right by [`show_mothers`] and written at
/// their next write. Returns the children written, in id order.
pub(crate) async fn follow_holders<C: ConnectionTrait>(
    mpi: &Mpi,
    ctx: &Ctx,
    txn: &C,
    record: Uuid,
    identifiers: &[(String, String)],
) -> Result<Vec<Uuid>> {
    if identifiers.is_empty() {
        return Ok(Vec::new());
    }
    let domains = mpi.domains();
    let named = named_in_domains(&domains, identifiers);
    type Row = (Uuid, i32, Option<String>, Option<String>);
    let children: Vec<Row> = patient::Entity::find()
        .select_only()
        .column(patient::Column::Id)
        .column(patient::Column::Version)
        .column(patient::Column::MotherIdentifierSystem)
        .column(patient::Column::MotherIdentifierValue)
        .filter(naming_any(&named))
        .filter(patient::Column::MotherPatientId.eq(record))
        .filter(patient::Column::Active.eq(true))
        .filter(patient::Column::DeletedAt.is_null())
        .limit(MAX_CHILDREN_RESOLVED)
        .into_tuple()
        .all(txn)
        .await?;
    if children.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<(String, String)> = children
        .iter()
        .map(|(_, _, s, v)| (s.clone().unwrap_or_default(), v.clone().unwrap_or_default()))
        .collect();
    let holders = live_holders(txn, &named_in_domains(&domains, &wanted)).await?;
    let moved: Vec<(Uuid, i32, Option<Uuid>)> = children
        .iter()
        .zip(&holders)
        .filter_map(|((child, version, _, _), holders)| {
            let now = choose(Some(record), holders, *child);
            (now != Some(record)).then_some((*child, *version, now))
        })
        .collect();
    write_mothers(txn, ctx, moved, Some(record)).await
}

/// The live records holding each of `wanted` (`(systems naming one domain, value)`), in id
/// order: one statement over the partial index of live patients' identifiers (its condition
/// stated literally).
async fn live_holders<C: ConnectionTrait>(
    db: &C,
    wanted: &[(Vec<String>, String)],
) -> Result<Vec<Vec<Uuid>>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut any = Condition::any();
    for (systems, value) in wanted {
        any = any.add(
            Condition::all()
                .add(patient_identifier::Column::Value.eq(value.as_str()))
                .add(patient_identifier::Column::System.is_in(systems.iter().cloned())),
        );
    }
    let rows: Vec<(Uuid, String, String)> = patient_identifier::Entity::find()
        .select_only()
        .column(patient_identifier::Column::PatientId)
        .column(patient_identifier::Column::System)
        .column(patient_identifier::Column::Value)
        .filter(any)
        .filter(Expr::col((
            patient_identifier::Entity,
            patient_identifier::Column::PatientLive,
        )))
        .into_tuple()
        .all(db)
        .await?;
    Ok(wanted
        .iter()
        .map(|(systems, value)| {
            let mut holders: Vec<Uuid> = rows
                .iter()
                .filter(|(_, s, v)| v == value && systems.contains(s))
                .map(|(id, _, _)| *id)
                .collect();
            holders.sort_unstable();
            holders.dedup();
            holders
        })
        .collect())
}

/// The mother's record of `child` among the live `holders` of its mother's identifier (in id
/// order): the one stored, when it still holds it (records of one person may share a
/// links-records identifier), else the first other than the child, else none.
fn choose(stored: Option<Uuid>, holders: &[Uuid], child: Uuid) -> Option<Uuid> {
    match stored {
        Some(s) if holders.contains(&s) => Some(s),
        _ => holders.iter().copied().find(|h| *h != child),
    }
}

/// The live children (id and version) whose unresolved mother's identifier is one of `named`
/// (`(systems naming one domain, value)`), other than `mother`: at most
/// [`MAX_CHILDREN_RESOLVED`]. Public for the test of its plan.
pub fn children_naming(named: &[(Vec<String>, String)], mother: Uuid) -> Select<patient::Entity> {
    patient::Entity::find()
        .select_only()
        .column(patient::Column::Id)
        .column(patient::Column::Version)
        .filter(naming_any(named))
        .filter(patient::Column::MotherPatientId.is_null())
        .filter(patient::Column::Active.eq(true))
        .filter(patient::Column::DeletedAt.is_null())
        .filter(patient::Column::Id.ne(mother))
        // No ORDER BY: with a LIMIT it could lead PostgreSQL to walk the primary key.
        .limit(MAX_CHILDREN_RESOLVED)
}

/// Gives each child its mother (`(child, version read, mother)`), when its version is still the
/// one read and its mother is still unresolved: version raised, audited as an `update` with its
/// whole record before and after. Returns the children written, in id order.
pub(crate) async fn give_mothers<C: ConnectionTrait>(
    txn: &C,
    ctx: &Ctx,
    children: Vec<(Uuid, i32, Uuid)>,
) -> Result<Vec<Uuid>> {
    let children = children
        .into_iter()
        .map(|(child, version, mother)| (child, version, Some(mother)))
        .collect();
    write_mothers(txn, ctx, children, None).await
}

/// Gives each child its mother's record (`(child, version read, record or none)`), when its
/// version is still the one read and its stored mother still `expected`: version raised,
/// audited as an `update` with its whole record before and after. Returns the children
/// written, in id order.
async fn write_mothers<C: ConnectionTrait>(
    txn: &C,
    ctx: &Ctx,
    mut children: Vec<(Uuid, i32, Option<Uuid>)>,
    expected: Option<Uuid>,
) -> Result<Vec<Uuid>> {
    if children.is_empty() {
        return Ok(Vec::new());
    }
    // Row locks in id order, as merges take them, so two writers never wait on each other.
    children.sort_unstable();
    children.dedup_by_key(|c| c.0);
    let ids: Vec<Uuid> = children.iter().map(|c| c.0).collect();
    let before: HashMap<Uuid, PatientRecord> = PatientRecord::load_many(txn, &ids)
        .await?
        .into_iter()
        .map(|r| (r.patient.id, r))
        .collect();
    let actor = ctx.actor.name.as_str();
    let now = Utc::now().fixed_offset();
    let mut written = Vec::with_capacity(children.len());
    for (child, version, mother) in children {
        let stored = match expected {
            None => patient::Column::MotherPatientId.is_null(),
            Some(record) => patient::Column::MotherPatientId.eq(record),
        };
        let updated = patient::Entity::update_many()
            .col_expr(patient::Column::MotherPatientId, Expr::value(mother))
            .col_expr(patient::Column::Version, Expr::value(version + 1))
            .col_expr(patient::Column::UpdatedAt, Expr::value(now))
            .col_expr(patient::Column::UpdatedBy, Expr::value(actor))
            .filter(patient::Column::Id.eq(child))
            .filter(patient::Column::Version.eq(version))
            .filter(stored)
            .filter(patient::Column::DeletedAt.is_null())
            .exec(txn)
            .await?;
        // A child written meanwhile (PostgreSQL: committed while this waited for its row) was
        // resolved by that write, or will be by its next one; a read shows it right anyway.
        if updated.rows_affected == 1 {
            written.push(child);
        }
    }
    if written.is_empty() {
        return Ok(written);
    }
    let after = PatientRecord::load_many(txn, &written).await?;
    let entries = after
        .into_iter()
        .map(|record| {
            let id = record.patient.id;
            let entry = AuditEntry::new("update", "patient", Some(id.to_string()))
                .before(before.get(&id).map_or(serde_json::Value::Null, audit::json))
                .after(audit::json(&record));
            (ctx.clone(), entry)
        })
        .collect();
    audit::append(txn, entries).await?;
    tracing::info!(children = written.len(), "children's mother record written");
    Ok(written)
}

/// For `mpi import`: the live children, written before, whose unresolved mother's identifier
/// (system as stored, value) is one of `identifiers` (`(record, system, value)` of the records
/// an import batch created, canonical): one statement, the identifiers passed as one JSON
/// parameter. Returns `(child, version, mother)`, at most [`MAX_CHILDREN_RESOLVED`] per mother.
pub(crate) async fn children_of_imported<C: ConnectionTrait>(
    txn: &C,
    identifiers: &[(Uuid, String, String)],
) -> Result<Vec<(Uuid, i32, Uuid)>> {
    if identifiers.is_empty() {
        return Ok(Vec::new());
    }
    // The record holding each identifier (the first, when records of one person share one).
    let mut holder: HashMap<(&str, &str), Uuid> = HashMap::with_capacity(identifiers.len());
    for (id, system, value) in identifiers {
        holder
            .entry((system.as_str(), value.as_str()))
            .or_insert(*id);
    }
    let wanted: Vec<serde_json::Value> = holder
        .keys()
        .map(|(s, v)| serde_json::json!({ "s": s, "v": v }))
        .collect();
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT c.id, c.version, c.mother_identifier_system, c.mother_identifier_value \
             FROM json_to_recordset($1::json) AS w(s text, v text) \
             JOIN patient AS c \
               ON c.mother_identifier_value = w.v AND c.mother_identifier_system = w.s \
             WHERE c.mother_patient_id IS NULL AND c.active AND c.deleted_at IS NULL"
        }
        _ => {
            "SELECT c.id, c.version, c.mother_identifier_system, c.mother_identifier_value \
             FROM json_each(?) AS w \
             JOIN patient AS c \
               ON c.mother_identifier_value = (w.value ->> 'v') \
              AND c.mother_identifier_system = (w.value ->> 's') \
             WHERE c.mother_patient_id IS NULL AND c.active AND c.deleted_at IS NULL"
        }
    };
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [serde_json::Value::Array(wanted).to_string().into()],
        ))
        .await?;
    let mut per_mother: HashMap<Uuid, u64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let child: Uuid = row.try_get_by_index(0)?;
        let version: i32 = row.try_get_by_index(1)?;
        let system: String = row.try_get_by_index(2)?;
        let value: String = row.try_get_by_index(3)?;
        let Some(&mother) = holder.get(&(system.as_str(), value.as_str())) else {
            continue;
        };
        let n = per_mother.entry(mother).or_default();
        if child != mother && *n < MAX_CHILDREN_RESOLVED {
            *n += 1;
            out.push((child, version, mother));
        }
    }
    Ok(out)
}

/// Shows, for each of `patients` naming a mother's identifier, the live record holding it now
/// (the module's rule: the stored one while it holds it, else the first holder by id, else
/// none); a patient naming none has no mother's record. One statement for all of them (none
/// when no patient names a mother's identifier). The rows are not changed.
pub(crate) async fn show_mothers<C: ConnectionTrait>(
    db: &C,
    domains: &Registry,
    patients: &mut [Patient],
) -> Result<()> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    let mut of: Vec<Option<usize>> = Vec::with_capacity(patients.len());
    for p in patients.iter() {
        let row = &p.record.patient;
        of.push(row.mother_identifier_value.as_ref().map(|value| {
            let key = (
                row.mother_identifier_system.clone().unwrap_or_default(),
                value.clone(),
            );
            // Siblings on one page name one mother: asked once.
            wanted.iter().position(|w| *w == key).unwrap_or_else(|| {
                wanted.push(key);
                wanted.len() - 1
            })
        }));
    }
    let holders = live_holders(db, &named_in_domains(domains, &wanted)).await?;
    for (p, of) in patients.iter_mut().zip(of) {
        let row = &mut p.record.patient;
        row.mother_patient_id = of.and_then(|i| choose(row.mother_patient_id, &holders[i], row.id));
    }
    Ok(())
}
