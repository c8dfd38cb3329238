//! Bulk import of patient records from a file (`mpi import`): a batch of validated inputs is
//! written in ONE transaction with bulk inserts and ONE audit row (action `import`, the created
//! patient ids, the source and the range of positions; no patient data).
//!
//! Import keys each record on its source identifier (system `urn:mpi:import:<source>`, value the
//! record's id in the source), stored as an identifier of the patient: a record whose source
//! identifier a live patient already holds is skipped, so importing a file twice creates nothing
//! the second time. Identifier uniqueness among live patients is checked for every identifier
//! (against the database and within the file); a record that would break it is rejected, not the
//! batch. Organizations a record refers to must exist. The duplicate check of registration is NOT
//! applied (run `mpi dedupe` after an import); every imported patient gets its own `person_id`,
//! except one holding an identifier of a links-records domain that live records of one person
//! (or an earlier record of the import) already hold: as registration does, it joins that person
//! (its `person_id`, its copy of the identifier stored with its own `link_key`, a matcher-made
//! `seealso` link each way with the first holder whose reason names the domain, each audited as
//! `link.create`). Such identifiers held by two different persons are still a reject.
//!
//! # Staying fast
//! Per batch: one statement finds which of the batch's identifiers live patients hold (the
//! batch's identifiers travel as one JSON parameter, so the statement's text never changes and is
//! prepared once), then multi-row INSERTs of as many rows as the backend's bind-parameter limit
//! allows, then the audit row. Child rows get time-ordered (v7) ids, so primary keys and the
//! `change_log` row index grow at their ends instead of at random pages.
//!
//! A batch is handled in two steps so that a caller can overlap them: [`Importer::prepare`]
//! checks it and builds its statements (reads only), [`PreparedBatch::write`] runs them in one
//! transaction. `mpi import` prepares batch k+1 while batch k is written (and on PostgreSQL
//! writes two batches at once). For that, the [`Importer`] remembers the identifiers of every
//! record it took (a 128-bit hash each, about 50 bytes of memory): a later record holding one
//! is refused even when the earlier batch is not committed yet.
//!
//! # Dry runs
//! A dry run checks everything a real import checks and writes nothing; the same memory of the
//! records taken lets it report an identifier held by two records of the file, or a source id
//! repeated in the file, as the real import reports it.
//!
//! # Mothers
//! A record naming its mother's identifier gets the live record holding it (any name of its
//! domain) as its mother, as registration does; live records written before, with no mother
//! yet, whose mother's identifier (in the system as stored) one of the batch's records holds get
//! that record, each audited as an `update` after the batch's `import` row
//! ([`crate::mothers`]). On PostgreSQL two batches are written at once, so a child and its
//! mother in two batches in flight together may miss each other: [`resolve_late_mothers`],
//! after the last batch, looks again for the records a batch left without a mother.
//!
//! The `change_log` triggers record every row as usual, so running servers catch up; a caller
//! holding an [`crate::Mpi`] may refresh the created ids in its index.
//!
//! # After the last batch
//! [`settle_imported_tables`] has PostgreSQL vacuum and analyze the tables an import filled.
//! Until autovacuum gets to them the planner believes they are as small as before (it picked a
//! full scan for a name search right after a 1M-row import, estimating 838 live patients of
//! 890,623), and every row still lacks the hint bit that says its transaction committed: the
//! first read of each page then sets it and dirties the page, so a server's start-up (which
//! reads every patient) rewrote the whole import, and the commits of the first minutes of
//! requests queued behind that writeback.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, QueryTrait, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use entity::{
    organization, patient, patient_address, patient_communication, patient_identifier,
    patient_name, patient_telecom,
};

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
    /// Where the record is in the file: its line number, or its entry index in a FHIR Bundle
    /// (for rejects and the audit row).
    pub line: u64,
    /// The record's id in the source (its source identifier's value).
    pub source_id: String,
    /// The record.
    pub input: PatientInput,
}

/// A row refused, with where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Where the record is in the file (see [`ImportRow::line`]).
    pub line: u64,
    /// The offending field (`names[0].family`, `identifiers[1]`, ...).
    pub field: String,
    /// Why.
    pub reason: String,
}

/// What one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Patients created (would be created, in a dry run), with their positions.
    pub created: Vec<(u64, Uuid)>,
    /// Positions skipped because their source identifier was imported already.
    pub skipped: Vec<u64>,
    /// Records refused.
    pub rejected: Vec<Rejected>,
    /// Records created naming a mother's identifier no live record held when the batch was
    /// written: `(record, systems naming its domain, value)`, for [`resolve_late_mothers`].
    pub unresolved_mothers: Vec<(Uuid, Vec<String>, String)>,
}

/// The reason given when an identifier is taken.
pub const IDENTIFIER_TAKEN: &str = "another live patient (or an earlier row) holds this identifier";

/// Bind parameters per INSERT statement. PostgreSQL allows 65,535 and SQLite's documented
/// default is 32,766, but the SQLite bundled here refuses 32,000 ("too many SQL variables"), so
/// both stay at 16,000 (1,000 rows), well past the point where more rows per statement pay.
const MAX_PARAMS: usize = 16_000;

/// An import of one file, batch by batch. See the module documentation.
pub struct Importer {
    source: String,
    system: String,
    dry_run: bool,
    /// Hashes of the identifiers of the records this import has created (or, in a dry run,
    /// would have created), so that a later record holding one of them is refused without
    /// asking the database, which may not have committed the earlier batch yet.
    claimed: HashSet<u128>,
    /// Of the claimed identifiers in links-records domains, the person and the first record
    /// holding each, so that a later record holding one joins that person.
    shared: HashMap<u128, (Uuid, Uuid)>,
    /// The identifier domains: registered systems are stored in their canonical form, and in
    /// reject mode a record with an unregistered system is rejected.
    domains: Option<std::sync::Arc<crate::domains::Registry>>,
}

/// The person a record joins through a links-records identifier (see [`Importer::prepare`]).
struct Joined {
    person: Uuid,
    /// The first record holding the identifier (the one the new record is linked to).
    holder: Uuid,
    /// The domain's name (named in the link's reason).
    domain: String,
    /// Hashes of the record's identifiers it shares with that person's records.
    shared: HashSet<u128>,
}

/// A batch checked and turned into statements by [`Importer::prepare`], ready to be written.
pub struct PreparedBatch {
    source: String,
    outcome: BatchOutcome,
    statements: Vec<Statement>,
    /// Records that joined a person through a links-records identifier: the record, the holder
    /// it is linked to and the domain's name.
    links: Vec<(Uuid, Uuid, String)>,
    /// Records naming their mother's identifier: the record, the systems naming its domain and
    /// the value.
    mothers: Vec<(Uuid, Vec<String>, String)>,
    /// The identifiers of the live records created: `(record, system, value)`.
    identifiers: Vec<(Uuid, String, String)>,
}

impl Importer {
    /// An import from the source named `source` (see [`source_system`]); a dry run writes nothing.
    pub fn new(source: &str, dry_run: bool) -> Self {
        Self {
            source: source.to_owned(),
            system: source_system(source),
            dry_run,
            claimed: HashSet::new(),
            shared: HashMap::new(),
            domains: None,
        }
    }

    /// This import with the identifier domains `domains` (see [`crate::domains::Registry`]).
    pub fn with_domains(mut self, domains: std::sync::Arc<crate::domains::Registry>) -> Self {
        self.domains = Some(domains);
        self
    }

    /// The system of this import's source identifiers.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// Validates `rows` and, unless this is a dry run, writes the good new ones in one
    /// transaction as `ctx`'s actor (who needs the register right): [`Importer::prepare`]
    /// followed by [`PreparedBatch::write`].
    pub async fn batch(
        &mut self,
        db: &DatabaseConnection,
        ctx: &Ctx,
        rows: Vec<ImportRow>,
    ) -> Result<BatchOutcome> {
        self.prepare(db, ctx, rows).await?.write(db, ctx).await
    }

    /// Checks `rows` (each on its own, then against the database and the records this import
    /// took before) and builds the statements that write the good new ones. Reads only, so the
    /// next batch can be prepared while this one is written; batches must be written in the
    /// order they were prepared.
    pub async fn prepare<C: ConnectionTrait>(
        &mut self,
        db: &C,
        ctx: &Ctx,
        rows: Vec<ImportRow>,
    ) -> Result<PreparedBatch> {
        ctx.authorize(Action::Register)?;
        let mut outcome = BatchOutcome::default();
        let good = self.validate(rows, &mut outcome);
        let held = held_identifiers(db, &good).await?;
        let organizations = existing_organizations(db, &good).await?;

        let actor = ctx.actor.name.as_str();
        let mut rows = Rows::default();
        let mut links = Vec::new();
        let mut mothers = Vec::new();
        let mut identifiers = Vec::new();
        for row in good {
            let key = (self.system.clone(), row.source_id.clone());
            if held.contains_key(&key) || self.claimed.contains(&key_hash(&key.0, &key.1)) {
                outcome.skipped.push(row.line);
                continue;
            }
            let input = &row.input;
            let joined = match self.joined_person(input, &held) {
                Ok(joined) => joined,
                Err(n) => {
                    outcome.rejected.push(Rejected {
                        line: row.line,
                        field: format!("identifiers[{n}]"),
                        reason: IDENTIFIER_TAKEN.into(),
                    });
                    continue;
                }
            };
            if let Some((field, _)) = organizations_of(input)
                .into_iter()
                .find(|(_, id)| !organizations.contains(id))
            {
                outcome.rejected.push(Rejected {
                    line: row.line,
                    field,
                    reason: "no such organization".into(),
                });
                continue;
            }
            let id = Uuid::now_v7();
            // Time-ordered, so the person indexes grow at their ends during a bulk load.
            let person = joined.as_ref().map_or_else(Uuid::now_v7, |j| j.person);
            let mut shared = HashSet::new();
            for i in &input.identifiers {
                let (s, v) = (i.system.trim(), i.value.trim());
                let hash = key_hash(s, v);
                self.claimed.insert(hash);
                if self.links_records(s) {
                    if joined.as_ref().is_some_and(|j| j.shared.contains(&hash)) {
                        shared.insert(hash);
                    }
                    self.shared.entry(hash).or_insert((person, id));
                }
            }
            rows.add(id, person, input, actor, &shared);
            if !self.dry_run {
                if let Some(m) = &input.mother.identifier {
                    let systems = match &self.domains {
                        Some(d) => d.aliases_of(&m.system),
                        None => vec![m.system.clone()],
                    };
                    mothers.push((id, systems, m.value.clone()));
                }
                if input.active {
                    identifiers.extend(
                        input
                            .identifiers
                            .iter()
                            .map(|i| (id, i.system.trim().to_owned(), i.value.trim().to_owned())),
                    );
                }
            }
            if let Some(j) = joined {
                links.push((id, j.holder, j.domain));
            }
            outcome.created.push((row.line, id));
        }
        let statements = if self.dry_run {
            links.clear();
            Vec::new()
        } else {
            rows.statements(db.get_database_backend())
        };
        Ok(PreparedBatch {
            source: self.source.clone(),
            outcome,
            statements,
            links,
            mothers,
            identifiers,
        })
    }

    /// Whether `system` (canonical) is a links-records domain (not the MPI's own).
    fn links_records(&self, system: &str) -> bool {
        self.domains
            .as_ref()
            .and_then(|d| d.resolve(system))
            .is_some_and(|d| d.links_records && !d.enterprise)
    }

    /// The person a record joins through its links-records identifiers that live records (in
    /// `held`) or earlier records of this import hold, if any; `Err(index)` for an identifier
    /// another record holds and may not share (another domain, or a second person).
    fn joined_person(
        &self,
        input: &PatientInput,
        held: &HashMap<(String, String), Vec<(Uuid, Uuid)>>,
    ) -> std::result::Result<Option<Joined>, usize> {
        let mut joined: Option<Joined> = None;
        for (n, i) in input.identifiers.iter().enumerate() {
            let (s, v) = (i.system.trim(), i.value.trim());
            let hash = key_hash(s, v);
            let in_db = held.get(&(s.to_owned(), v.to_owned()));
            let earlier = self.claimed.contains(&hash);
            if in_db.is_none() && !earlier {
                continue;
            }
            if !self.links_records(s) {
                return Err(n);
            }
            // The holders' person: the live records' (all one person), else this import's.
            let holder = match in_db {
                Some(records) => {
                    let (first, person) = *records.iter().min().expect("a holder");
                    if records.iter().any(|r| r.1 != person) {
                        return Err(n);
                    }
                    (person, first)
                }
                None => match self.shared.get(&hash) {
                    Some(&held) => held,
                    None => return Err(n),
                },
            };
            match &mut joined {
                Some(j) if j.person != holder.0 => return Err(n),
                Some(j) => {
                    j.shared.insert(hash);
                }
                None => {
                    let domain = self
                        .domains
                        .as_ref()
                        .and_then(|d| d.resolve(s))
                        .map(|d| d.name.clone())
                        .unwrap_or_default();
                    joined = Some(Joined {
                        person: holder.0,
                        holder: holder.1,
                        domain,
                        shared: HashSet::from([hash]),
                    });
                }
            }
        }
        Ok(joined)
    }

    /// Checks each row on its own (no database): a source id, valid fields. Adds the source
    /// identifier to each good row's identifiers.
    fn validate(&self, rows: Vec<ImportRow>, outcome: &mut BatchOutcome) -> Vec<ImportRow> {
        let mut good = Vec::with_capacity(rows.len());
        for mut row in rows {
            row.source_id = row.source_id.trim().to_owned();
            if row.source_id.is_empty() {
                outcome.rejected.push(Rejected {
                    line: row.line,
                    field: "id".into(),
                    reason: "the id is empty".into(),
                });
                continue;
            }
            // The record's own identifiers in their domains' form (the source identifier added
            // below is the MPI's bookkeeping, not a domain's).
            if let Some(domains) = &self.domains
                && let Err(refused) = domains.canonicalize("", &mut row.input.identifiers)
            {
                let (field, reason) = match refused {
                    Error::Refused { field, message, .. } => (field.unwrap_or_default(), message),
                    other => (String::new(), other.to_string()),
                };
                outcome.rejected.push(Rejected {
                    line: row.line,
                    field,
                    reason,
                });
                continue;
            }
            // The mother's identifier as REST stores it (any domain, or none registered).
            if let Some(domains) = &self.domains {
                crate::patients::canonical_mother(domains, &mut row.input.mother);
            }
            // A record exported from an MPI that imported it under the same source name carries
            // its source identifier already.
            let carried = row
                .input
                .identifiers
                .iter()
                .any(|i| i.system.trim() == self.system && i.value.trim() == row.source_id);
            if !carried {
                row.input.identifiers.push(IdentifierInput {
                    system: self.system.clone(),
                    value: row.source_id.clone(),
                    ..Default::default()
                });
            }
            match row.input.validate() {
                Ok(()) => good.push(row),
                Err(Error::Validation { field, message }) => outcome.rejected.push(Rejected {
                    line: row.line,
                    field,
                    reason: message,
                }),
                Err(e) => {
                    outcome.rejected.push(Rejected {
                        line: row.line,
                        field: String::new(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        good
    }
}

impl PreparedBatch {
    /// Writes the batch in one transaction with its audit row, as `ctx`'s actor; a dry run's
    /// batch (or one with nothing new) writes nothing. Returns what the batch did.
    pub async fn write(self, db: &DatabaseConnection, ctx: &Ctx) -> Result<BatchOutcome> {
        ctx.authorize(Action::Register)?;
        let Self {
            source,
            mut outcome,
            statements,
            links,
            mothers,
            identifiers,
        } = self;
        if statements.is_empty() {
            return Ok(outcome);
        }
        let txn = begin(db).await?;
        crate::name_the_writer(&txn, ctx).await?;
        for statement in statements {
            txn.execute_raw(statement).await?;
        }
        let actor = ctx.actor.name.as_str();
        let mut created_links = Vec::new();
        for (record, holder, domain) in &links {
            created_links.extend(
                crate::links::link_shared_identifier(&txn, actor, *record, *holder, domain).await?,
            );
        }
        // Each created record naming its mother's identifier gets the live record holding it,
        // as a registration does (part of its creation); then the live records written before
        // that name one of the created records' identifiers as their mother's and have no
        // mother yet get theirs, each audited as an update (after the import's row).
        for (child, systems, value) in mothers {
            let holder =
                crate::patients::mother_holder(&txn, systems.clone(), &value, Some(child)).await?;
            if holder.is_none() {
                outcome.unresolved_mothers.push((child, systems, value));
            }
            if let Some(mother) = holder {
                patient::Entity::update_many()
                    .col_expr(
                        patient::Column::MotherPatientId,
                        sea_orm::sea_query::Expr::value(mother),
                    )
                    .filter(patient::Column::Id.eq(child))
                    .exec(&txn)
                    .await?;
            }
        }
        let children = crate::mothers::children_of_imported(&txn, &identifiers).await?;
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
        for link in &created_links {
            crate::links::audit_created(&txn, ctx, link).await?;
        }
        crate::mothers::give_mothers(&txn, ctx, children).await?;
        txn.commit().await?;
        Ok(outcome)
    }
}

/// After the last batch: gives the records of [`BatchOutcome::unresolved_mothers`] still without
/// a mother the live record now holding their mother's identifier, if any, in one transaction,
/// each audited as an update. For PostgreSQL, where two batches are written at once and a child
/// and its mother in batches in flight together do not see each other; SQLite writes one batch
/// after the other, so what a batch left unresolved has no mother in the database.
pub async fn resolve_late_mothers(
    db: &DatabaseConnection,
    ctx: &Ctx,
    pending: Vec<(Uuid, Vec<String>, String)>,
) -> Result<usize> {
    if pending.is_empty() {
        return Ok(0);
    }
    let txn = begin(db).await?;
    crate::name_the_writer(&txn, ctx).await?;
    let mut found: HashMap<Uuid, Uuid> = HashMap::new();
    for (child, systems, value) in pending {
        if let Some(mother) =
            crate::patients::mother_holder(&txn, systems, &value, Some(child)).await?
        {
            found.insert(child, mother);
        }
    }
    let mut children = Vec::with_capacity(found.len());
    let ids: Vec<Uuid> = found.keys().copied().collect();
    for part in ids.chunks(500) {
        let versions: Vec<(Uuid, i32)> = patient::Entity::find()
            .select_only()
            .column(patient::Column::Id)
            .column(patient::Column::Version)
            .filter(patient::Column::Id.is_in(part.iter().copied()))
            .filter(patient::Column::MotherPatientId.is_null())
            .into_tuple()
            .all(&txn)
            .await?;
        children.extend(versions.into_iter().map(|(id, v)| (id, v, found[&id])));
    }
    let written = crate::mothers::give_mothers(&txn, ctx, children).await?;
    txn.commit().await?;
    Ok(written.len())
}

/// A 128-bit hash of an identifier (two independent 64-bit SipHashes).
fn key_hash(system: &str, value: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        system.hash(&mut h);
        value.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// Begins a write transaction; on SQLite `IMMEDIATE`, so that a writer in another process makes
/// this one wait for the busy timeout instead of failing on a lock upgrade.
async fn begin(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    Ok(if db.get_database_backend() == DbBackend::Sqlite {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?
    } else {
        db.begin().await?
    })
}

/// Which of the identifiers `rows` carry live patients hold already, with those patients' ids
/// and `person_id`s: one statement, the identifiers passed as one JSON parameter.
async fn held_identifiers<C: ConnectionTrait>(
    txn: &C,
    rows: &[ImportRow],
) -> Result<HashMap<(String, String), Vec<(Uuid, Uuid)>>> {
    let wanted: Vec<serde_json::Value> = rows
        .iter()
        .flat_map(|r| &r.input.identifiers)
        .map(|i| json!({ "s": i.system.trim(), "v": i.value.trim() }))
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT i.system, i.value, i.patient_id, p.person_id \
             FROM json_to_recordset($1::json) AS w(s text, v text) \
             JOIN patient_identifier AS i ON i.system = w.s AND i.value = w.v \
             JOIN patient AS p ON p.id = i.patient_id \
             WHERE i.patient_live"
        }
        _ => {
            "SELECT i.system, i.value, i.patient_id, p.person_id \
             FROM json_each(?) AS w \
             JOIN patient_identifier AS i \
               ON i.system = (w.value ->> 's') AND i.value = (w.value ->> 'v') \
             JOIN patient AS p ON p.id = i.patient_id \
             WHERE i.patient_live"
        }
    };
    let found = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [serde_json::Value::Array(wanted).to_string().into()],
        ))
        .await?;
    let mut held: HashMap<(String, String), Vec<(Uuid, Uuid)>> =
        HashMap::with_capacity(found.len());
    for row in found {
        held.entry((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
            .or_default()
            .push((row.try_get_by_index(2)?, row.try_get_by_index(3)?));
    }
    Ok(held)
}

/// The organizations a record refers to, with the field naming each.
fn organizations_of(input: &PatientInput) -> Vec<(String, Uuid)> {
    let mut out: Vec<(String, Uuid)> = input
        .managing_organization_id
        .map(|o| ("managing_organization_id".to_owned(), o))
        .into_iter()
        .collect();
    for (i, id) in input.identifiers.iter().enumerate() {
        if let Some(o) = id.assigner {
            out.push((format!("identifiers[{i}].assigner"), o));
        }
    }
    out
}

/// Which of the organizations `rows` refer to exist.
async fn existing_organizations<C: ConnectionTrait>(
    txn: &C,
    rows: &[ImportRow],
) -> Result<HashSet<Uuid>> {
    let wanted: HashSet<Uuid> = rows
        .iter()
        .flat_map(|r| organizations_of(&r.input))
        .map(|(_, id)| id)
        .collect();
    let mut found = HashSet::new();
    let wanted: Vec<Uuid> = wanted.into_iter().collect();
    for part in wanted.chunks(500) {
        let ids: Vec<Uuid> = organization::Entity::find()
            .select_only()
            .column(organization::Column::Id)
            .filter(organization::Column::Id.is_in(part.iter().copied()))
            .into_tuple()
            .all(txn)
            .await?;
        found.extend(ids);
    }
    Ok(found)
}

/// The rows of one batch, by table.
#[derive(Default)]
struct Rows {
    patients: Vec<patient::ActiveModel>,
    names: Vec<patient_name::ActiveModel>,
    identifiers: Vec<patient_identifier::ActiveModel>,
    addresses: Vec<patient_address::ActiveModel>,
    telecoms: Vec<patient_telecom::ActiveModel>,
    communications: Vec<patient_communication::ActiveModel>,
}

impl Rows {
    /// Adds a record of `person`; its identifiers whose hash is in `shared` are copies of
    /// links-records identifiers the person's other records hold (`link_key` = the record's id).
    fn add(
        &mut self,
        id: Uuid,
        person: Uuid,
        input: &PatientInput,
        actor: &str,
        shared: &HashSet<u128>,
    ) {
        let mut p = convert::patient_row(id, input, actor);
        p.person_id = sea_orm::ActiveValue::Set(person);
        self.patients.push(p);
        let live = input.active;
        self.names.extend(
            input
                .names
                .iter()
                .enumerate()
                .map(|(i, n)| convert::name_row(id, n, i == 0, actor)),
        );
        self.identifiers
            .extend(input.identifiers.iter().enumerate().map(|(i, x)| {
                let mut row = convert::identifier_row(id, x, i == 0, live, actor);
                if shared.contains(&key_hash(x.system.trim(), x.value.trim())) {
                    row.link_key = sea_orm::ActiveValue::Set(id.to_string());
                }
                row
            }));
        self.addresses.extend(
            input
                .addresses
                .iter()
                .enumerate()
                .map(|(i, a)| convert::address_row(id, a, i == 0, actor)),
        );
        self.telecoms.extend(
            input
                .telecoms
                .iter()
                .enumerate()
                .map(|(i, t)| convert::telecom_row(id, t, i == 0, actor)),
        );
        self.communications.extend(
            input
                .communications
                .iter()
                .enumerate()
                .map(|(i, c)| convert::communication_row(id, c, i == 0, actor)),
        );
    }

    /// Multi-row INSERTs, as many rows per statement as the parameter limit allows, parents
    /// first.
    fn statements(self, backend: DbBackend) -> Vec<Statement> {
        // Bound columns per row (every column but the created/updated timestamps).
        const PATIENT_COLUMNS: usize = 16;
        const CHILD_COLUMNS: usize = 16;
        let mut out = Vec::new();
        inserts::<patient::Entity>(
            &mut out,
            backend,
            self.patients,
            MAX_PARAMS / PATIENT_COLUMNS,
        );
        let per_statement = MAX_PARAMS / CHILD_COLUMNS;
        inserts::<patient_name::Entity>(&mut out, backend, self.names, per_statement);
        inserts::<patient_identifier::Entity>(&mut out, backend, self.identifiers, per_statement);
        inserts::<patient_address::Entity>(&mut out, backend, self.addresses, per_statement);
        inserts::<patient_telecom::Entity>(&mut out, backend, self.telecoms, per_statement);
        inserts::<patient_communication::Entity>(
            &mut out,
            backend,
            self.communications,
            per_statement,
        );
        out
    }
}

/// Appends to `out` the INSERTs of `rows`, `per_statement` rows each.
fn inserts<E: EntityTrait>(
    out: &mut Vec<Statement>,
    backend: DbBackend,
    mut rows: Vec<E::ActiveModel>,
    per_statement: usize,
) {
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(per_statement));
        out.push(E::insert_many(std::mem::replace(&mut rows, rest)).build(backend));
    }
}

/// The tables an import writes to, whose planner statistics and visibility it leaves stale.
const IMPORTED_TABLES: &str =
    "patient, patient_name, patient_identifier, patient_address, patient_telecom";

/// Leaves the imported tables as a long-running database would have them (PostgreSQL
/// `VACUUM (ANALYZE)`): planner statistics up to date, every row's commit recorded in its hint
/// bits, and the pages marked all-visible, so name searches answer from the covering index
/// alone. A no-op on SQLite, whose planner works from its indexes alone here and which keeps no
/// per-row commit state. Not in a transaction (PostgreSQL refuses `VACUUM` in one).
pub async fn settle_imported_tables(db: &DatabaseConnection) -> Result<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared(&format!("VACUUM (ANALYZE) {IMPORTED_TABLES}"))
            .await?;
    }
    Ok(())
}
