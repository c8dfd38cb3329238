//! Bulk import of patient records from a file (`mpi import`): a batch of validated inputs is
//! written in ONE transaction with bulk inserts and ONE audit row (action `import`, the created
//! patient ids, the source and line range; no patient data).
//!
//! Import keys each record on its source identifier (system `urn:mpi:import:<source>`, value the
//! row's id), stored as an identifier of the patient: a row whose source identifier a live
//! patient already holds is skipped, so importing a file twice creates nothing the second time.
//! Identifier uniqueness among live patients is checked for every identifier (against the
//! database and within the batch); a row that would break it is rejected, not the batch. The
//! duplicate check of registration is NOT applied (run `mpi dedupe` after an import); every
//! imported patient gets its own `person_id`.
//!
//! The `change_log` triggers record every row as usual, so running servers catch up; a caller
//! holding an [`crate::Mpi`] may refresh the created ids in its index.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, Statement, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use entity::{patient, patient_address, patient_identifier, patient_name, patient_telecom};

use crate::audit::{self, AuditEntry};
use crate::convert;
use crate::keys::Action;
use crate::patients::{IdentifierInput, PatientInput};
use crate::{Ctx, Error, Result};

/// The identifier system recording where an imported record came from.
pub fn source_system(source: &str) -> String {
    format!("urn:mpi:import:{source}")
}

/// One record to import.
#[derive(Clone, Debug)]
pub struct ImportRow {
    /// Line number in the file (for rejects).
    pub line: u64,
    /// The record's id in the source (its source identifier's value).
    pub source_id: String,
    /// The record.
    pub input: PatientInput,
}

/// A row refused, with where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Line number in the file.
    pub line: u64,
    /// The offending field (`names[0].family`, `identifiers[1]`, ...).
    pub field: String,
    /// Why.
    pub reason: String,
}

/// What one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Patients created, with their line numbers.
    pub created: Vec<(u64, Uuid)>,
    /// Lines skipped because their source identifier was imported already.
    pub skipped: Vec<u64>,
    /// Lines refused.
    pub rejected: Vec<Rejected>,
}

/// Validates `rows` and, unless `dry_run`, writes the good new ones in one transaction as
/// `ctx`'s actor (who needs the register right). See the module documentation.
pub async fn import_batch(
    db: &DatabaseConnection,
    ctx: &Ctx,
    source: &str,
    rows: Vec<ImportRow>,
    dry_run: bool,
) -> Result<BatchOutcome> {
    ctx.authorize(Action::Register)?;
    let system = source_system(source);
    let mut outcome = BatchOutcome::default();
    let mut good: Vec<ImportRow> = Vec::with_capacity(rows.len());
    for mut row in rows {
        if row.source_id.trim().is_empty() {
            outcome.rejected.push(Rejected {
                line: row.line,
                field: "id".into(),
                reason: "the id is empty".into(),
            });
            continue;
        }
        row.input.identifiers.push(IdentifierInput {
            system: system.clone(),
            value: row.source_id.trim().to_owned(),
            ..Default::default()
        });
        match row.input.validate() {
            Ok(()) => good.push(row),
            Err(Error::Validation { field, message }) => outcome.rejected.push(Rejected {
                line: row.line,
                field,
                reason: message,
            }),
            Err(e) => return Err(e),
        }
    }

    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('mpi.actor', $1, true)",
            [ctx.actor.name.clone().into()],
        ))
        .await?;
    }
    // Identifiers live patients hold already, among those the batch carries.
    let mut wanted: HashMap<String, Vec<String>> = HashMap::new();
    for row in &good {
        for i in &row.input.identifiers {
            wanted
                .entry(i.system.trim().to_owned())
                .or_default()
                .push(i.value.trim().to_owned());
        }
    }
    let mut held: HashSet<(String, String)> = HashSet::new();
    for (sys, values) in &wanted {
        for part in values.chunks(500) {
            let found: Vec<String> = patient_identifier::Entity::find()
                .select_only()
                .column(patient_identifier::Column::Value)
                .filter(patient_identifier::Column::System.eq(sys.as_str()))
                .filter(patient_identifier::Column::Value.is_in(part.iter().map(String::as_str)))
                .filter(patient_identifier::Column::PatientLive.eq(true))
                .into_tuple()
                .all(&txn)
                .await?;
            held.extend(found.into_iter().map(|v| (sys.clone(), v)));
        }
    }

    let actor = ctx.actor.name.as_str();
    let mut patients = Vec::new();
    let mut names = Vec::new();
    let mut identifiers = Vec::new();
    let mut addresses = Vec::new();
    let mut telecoms = Vec::new();
    for row in good {
        let key = (system.clone(), row.source_id.trim().to_owned());
        if held.contains(&key) {
            outcome.skipped.push(row.line);
            continue;
        }
        let clash =
            row.input.identifiers.iter().enumerate().find(|(_, i)| {
                held.contains(&(i.system.trim().to_owned(), i.value.trim().to_owned()))
            });
        if let Some((n, _)) = clash {
            outcome.rejected.push(Rejected {
                line: row.line,
                field: format!("identifiers[{n}]"),
                reason: "another live patient (or an earlier row) holds this identifier".into(),
            });
            continue;
        }
        let input = &row.input;
        held.extend(
            input
                .identifiers
                .iter()
                .map(|i| (i.system.trim().to_owned(), i.value.trim().to_owned())),
        );
        let id = Uuid::now_v7();
        patients.push(convert::patient_row(id, input, actor));
        let live = input.active;
        names.extend(
            input
                .names
                .iter()
                .enumerate()
                .map(|(i, n)| convert::name_row(id, n, i == 0, actor)),
        );
        identifiers.extend(
            input
                .identifiers
                .iter()
                .enumerate()
                .map(|(i, x)| convert::identifier_row(id, x, i == 0, live, actor)),
        );
        addresses.extend(
            input
                .addresses
                .iter()
                .enumerate()
                .map(|(i, a)| convert::address_row(id, a, i == 0, actor)),
        );
        telecoms.extend(
            input
                .telecoms
                .iter()
                .enumerate()
                .map(|(i, t)| convert::telecom_row(id, t, i == 0, actor)),
        );
        outcome.created.push((row.line, id));
    }
    if dry_run || outcome.created.is_empty() {
        txn.rollback().await?;
        return Ok(outcome);
    }
    // Bound parameters per statement stay under SQLite's 32766 and PostgreSQL's 65535.
    for part in patients.chunks(1_000) {
        patient::Entity::insert_many(part.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    for part in names.chunks(1_000) {
        patient_name::Entity::insert_many(part.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    for part in identifiers.chunks(1_000) {
        patient_identifier::Entity::insert_many(part.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    for part in addresses.chunks(1_000) {
        patient_address::Entity::insert_many(part.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    for part in telecoms.chunks(1_000) {
        patient_telecom::Entity::insert_many(part.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    let lines = outcome.created.iter().map(|c| c.0);
    audit::record(
        &txn,
        ctx,
        AuditEntry::new("import", "patient", None).after(json!({
            "source": source,
            "first_line": lines.clone().min(),
            "last_line": lines.max(),
            "patient_ids": outcome.created.iter().map(|c| c.1).collect::<Vec<_>>(),
        })),
    )
    .await?;
    txn.commit().await?;
    Ok(outcome)
}
