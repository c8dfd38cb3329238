//! A patient's mother as a record (issue 29 §7): the other two directions of
//! [`crate::patients::resolve_mother`], which resolves a child's mother when the child is
//! written.
//!
//! * [`resolve_children`]: a mother registered (or given an identifier) after her child. Every
//!   write of a live patient (`register_in` and `update_in`, which REST, FHIR, the HL7 v2 feed
//!   and PMIR all go through) gives the live children that name one of its identifiers as their
//!   mother's (any name of its domain) and have no `mother_patient_id` yet this record as their
//!   mother, in the same transaction; each child written so is audited as an `update` (its whole
//!   record before and after) and its version goes up, as for any write. The lookup is served by
//!   migration 20's index `idx_patient_mother_identifier (mother_identifier_value,
//!   mother_identifier_system)`.
//! * [`show_current_mothers`]: the mother's record merged away since. The child's row keeps the
//!   record it was resolved to (an undo of the merge makes that record live again); a read
//!   shows the survivor its `replaced-by` links lead to.

use std::collections::HashMap;

use chrono::Utc;
use entity::enums::LinkType;
use entity::patient_ext::PatientRecord;
use entity::{patient, patient_link};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect,
    Select, Statement,
};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::patients::{IdentifierInput, Patient};
use crate::{Ctx, Mpi, Result};

/// Most children one write resolves. A mother's identifier that more live records name than
/// this is more likely a placeholder value than one woman; the others keep their identifier
/// (searches by it find them) and resolve at their own next write.
pub const MAX_CHILDREN_RESOLVED: u64 = 50;

/// Most `replaced-by` links followed from a mother's record to the live survivor.
const MAX_MERGE_HOPS: usize = 16;

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
    if identifiers.is_empty() {
        return Ok(Vec::new());
    }
    let domains = mpi.domains();
    let named: Vec<(Vec<String>, String)> = identifiers
        .iter()
        .map(|i| (domains.aliases_of(&i.system), i.value.trim().to_owned()))
        .collect();
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

/// The live children (id and version) whose unresolved mother's identifier is one of `named`
/// (`(systems naming one domain, value)`), other than `mother`: at most
/// [`MAX_CHILDREN_RESOLVED`]. Public for the test of its plan.
pub fn children_naming(named: &[(Vec<String>, String)], mother: Uuid) -> Select<patient::Entity> {
    let mut any = Condition::any();
    for (systems, value) in named {
        any = any.add(
            Condition::all()
                .add(patient::Column::MotherIdentifierValue.eq(value.as_str()))
                .add(patient::Column::MotherIdentifierSystem.is_in(systems.iter().cloned())),
        );
    }
    patient::Entity::find()
        .select_only()
        .column(patient::Column::Id)
        .column(patient::Column::Version)
        .filter(any)
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
    mut children: Vec<(Uuid, i32, Uuid)>,
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
        let updated = patient::Entity::update_many()
            .col_expr(patient::Column::MotherPatientId, Expr::value(mother))
            .col_expr(patient::Column::Version, Expr::value(version + 1))
            .col_expr(patient::Column::UpdatedAt, Expr::value(now))
            .col_expr(patient::Column::UpdatedBy, Expr::value(actor))
            .filter(patient::Column::Id.eq(child))
            .filter(patient::Column::Version.eq(version))
            .filter(patient::Column::MotherPatientId.is_null())
            .filter(patient::Column::DeletedAt.is_null())
            .exec(txn)
            .await?;
        // A child written meanwhile (PostgreSQL: committed while this waited for its row) was
        // resolved by that write, or will be by its next one.
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
    tracing::info!(
        children = written.len(),
        "mother resolved for children registered before her"
    );
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

/// Shows, for each of `patients` whose mother's record was merged away since it was resolved,
/// the live survivor instead (following `replaced-by` links). The rows are not changed.
pub(crate) async fn show_current_mothers<C: ConnectionTrait>(
    db: &C,
    patients: &mut [Patient],
) -> Result<()> {
    let mut current: HashMap<Uuid, Uuid> = patients
        .iter()
        .filter_map(|p| p.record.patient.mother_patient_id)
        .map(|m| (m, m))
        .collect();
    if current.is_empty() {
        return Ok(());
    }
    let mut frontier: Vec<Uuid> = current.keys().copied().collect();
    for _ in 0..MAX_MERGE_HOPS {
        let hops: HashMap<Uuid, Uuid> = patient_link::Entity::find()
            .select_only()
            .column(patient_link::Column::PatientId)
            .column(patient_link::Column::OtherPatientId)
            .filter(patient_link::Column::PatientId.is_in(frontier))
            .filter(patient_link::Column::Type.eq(LinkType::ReplacedBy))
            .into_tuple::<(Uuid, Uuid)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        if hops.is_empty() {
            break;
        }
        for now in current.values_mut() {
            if let Some(next) = hops.get(now) {
                *now = *next;
            }
        }
        frontier = hops.into_values().collect();
    }
    for p in patients {
        if let Some(m) = p.record.patient.mother_patient_id {
            p.record.patient.mother_patient_id = current.get(&m).copied().or(Some(m));
        }
    }
    Ok(())
}
