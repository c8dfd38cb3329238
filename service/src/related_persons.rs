//! RelatedPerson use cases (FHIR RelatedPerson, issue 31 §6): a person related to a patient
//! (mother, father, guardian, next of kin...) with the relationship as an HL7 v3 RoleCode:
//! create, read, update, soft delete, search by patient and relationship, and [`mother`] (a
//! patient's `MTH` RelatedPerson, what the mother reference of a patient is glued to).
//!
//! The patient named must be live; a merged-away patient resolves to its survivor (at create
//! and update, and in searches, which also find the related persons of the records merged
//! into the survivor). Every write runs in one transaction with its audit row (before and after
//! images, as for patients); every read and search appends its audit row before it answers.
//! Names, identifiers, telecoms, addresses and languages (`communication`) have the same limits
//! and checks as a patient's.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use entity::enums::{DatePrecision, Gender, LinkType};
use entity::{patient_link, related_person};

use crate::audit::{self, AuditEntry};
use crate::keys::Action;
use crate::patients::{
    AddressInput, CommunicationInput, IdentifierInput, NameInput, Patient, PatientInput,
    TelecomInput, finish,
};
use crate::{Ctx, Error, Mpi, Page, Result};

/// The code system of `RelatedPerson.relationship`.
pub const ROLE_CODE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";

/// The relationship codes accepted (HL7 v3 RoleCode, the personal relationships and the roles
/// a registry records), with their display. Migration 21 checks the same list.
pub const RELATIONSHIPS: &[(&str, &str)] = &[
    ("MTH", "mother"),
    ("FTH", "father"),
    ("PRN", "parent"),
    ("NMTH", "natural mother"),
    ("NFTH", "natural father"),
    ("NPRN", "natural parent"),
    ("ADOPTMTH", "adoptive mother"),
    ("ADOPTFTH", "adoptive father"),
    ("ADOPTP", "adoptive parent"),
    ("STPMTH", "stepmother"),
    ("STPFTH", "stepfather"),
    ("STPPRN", "step parent"),
    ("GESTM", "gestational mother"),
    ("FMRSPS", "former spouse"),
    ("CHILD", "child"),
    ("CHLDADOPT", "adopted child"),
    ("CHLDFOST", "foster child"),
    ("DAU", "natural daughter"),
    ("SON", "natural son"),
    ("STPCHLD", "step child"),
    ("SIB", "sibling"),
    ("BRO", "brother"),
    ("SIS", "sister"),
    ("TWIN", "twin"),
    ("SPS", "spouse"),
    ("HUSB", "husband"),
    ("WIFE", "wife"),
    ("DOMPART", "domestic partner"),
    ("GRPRN", "grandparent"),
    ("GRMTH", "grandmother"),
    ("GRFTH", "grandfather"),
    ("GRNDCHILD", "grandchild"),
    ("AUNT", "aunt"),
    ("UNCLE", "uncle"),
    ("COUSN", "cousin"),
    ("NIENEPH", "niece/nephew"),
    ("FAMMEMB", "family member"),
    ("FRND", "unrelated friend"),
    ("NBOR", "neighbor"),
    ("ROOM", "roommate"),
    ("GUARD", "guardian"),
    ("NOK", "next of kin"),
    ("ECON", "emergency contact"),
    ("POWATT", "power of attorney"),
    ("GUADLTM", "guardian ad lidem"),
    ("ONESELF", "self"),
];

/// The mother.
pub const MOTHER: &str = "MTH";
/// Most live related persons one patient may have.
pub const MAX_PER_PATIENT: u64 = 50;
/// Most patients or relationships one search may name.
pub const MAX_SEARCH_TERMS: usize = 100;
/// Most merges followed from a merged-away patient to its survivor.
const MAX_HOPS: usize = 16;

/// The display of a relationship code, `None` when the code is not accepted.
pub fn relationship_display(code: &str) -> Option<&'static str> {
    RELATIONSHIPS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, d)| *d)
}

/// A related person as given to create or update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedPersonInput {
    /// The patient this person is related to (a merged-away one resolves to its survivor).
    pub patient_id: Uuid,
    /// The relationship, a code of [`RELATIONSHIPS`].
    pub relationship: String,
    /// Whether the record is in use.
    pub active: bool,
    /// Administrative gender.
    pub gender: Option<Gender>,
    /// Birth date; a partial one is the first day of its year or month.
    pub birth_date: Option<NaiveDate>,
    /// How much of `birth_date` is known.
    #[serde(default)]
    pub birth_date_precision: DatePrecision,
    /// Names, primary first (at least one).
    pub names: Vec<NameInput>,
    /// Identifiers.
    pub identifiers: Vec<IdentifierInput>,
    /// Contact points.
    pub telecoms: Vec<TelecomInput>,
    /// Addresses.
    pub addresses: Vec<AddressInput>,
    /// Languages the person speaks (FHIR `RelatedPerson.communication`), as a patient's.
    #[serde(default)]
    pub communications: Vec<CommunicationInput>,
}

impl RelatedPersonInput {
    /// The person's parts as a patient's, so that they get the same limits and checks.
    fn as_patient(&self) -> PatientInput {
        PatientInput {
            active: self.active,
            gender: self.gender,
            birth_date: self.birth_date,
            birth_date_precision: self.birth_date_precision,
            deceased: false,
            deceased_at: None,
            marital_status: None,
            multiple_birth: None,
            multiple_birth_order: None,
            managing_organization_id: None,
            names: self.names.clone(),
            identifiers: self.identifiers.clone(),
            addresses: self.addresses.clone(),
            telecoms: self.telecoms.clone(),
            communications: self.communications.clone(),
            mother: Default::default(),
        }
    }

    /// Checks the relationship code and every part (the limits and checks of a patient's).
    pub fn validate(&self) -> Result<()> {
        if relationship_display(&self.relationship).is_none() {
            return Err(Error::validation(
                "relationship",
                "is not a supported v3-RoleCode relationship",
            ));
        }
        // A related person is identified by a name or by an identifier alone (a mother known
        // only by her record number, as PMIR's mother-and-newborn messages send her); a
        // patient's stricter rule for a nameless record (an identifier and a birth date or a
        // gender) does not apply, so the parts are checked as a patient's with that rule met.
        if self.names.is_empty() && self.identifiers.is_empty() {
            return Err(Error::validation(
                "names",
                "a related person needs a name or an identifier",
            ));
        }
        let mut parts = self.as_patient();
        if parts.names.is_empty() {
            parts.gender = Some(parts.gender.unwrap_or(Gender::Unknown));
        }
        parts.validate()
    }
}

/// A stored related person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedPerson {
    /// Its id.
    pub id: Uuid,
    /// The patient it is related to.
    pub patient_id: Uuid,
    /// The relationship code.
    pub relationship: String,
    /// Whether the record is in use.
    pub active: bool,
    /// Administrative gender.
    pub gender: Option<Gender>,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// How much of `birth_date` is known.
    pub birth_date_precision: DatePrecision,
    /// Names, primary first.
    pub names: Vec<NameInput>,
    /// Identifiers.
    pub identifiers: Vec<IdentifierInput>,
    /// Contact points.
    pub telecoms: Vec<TelecomInput>,
    /// Addresses.
    pub addresses: Vec<AddressInput>,
    /// Languages (the rows stored before migration 28 have none).
    #[serde(default)]
    pub communications: Vec<CommunicationInput>,
    /// The version (optimistic concurrency), from 1.
    pub version: i32,
    /// When it last changed.
    pub updated_at: DateTime<FixedOffset>,
}

fn list<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<Vec<T>> {
    serde_json::from_value(value.clone()).map_err(|e| {
        Error::Db(sea_orm::DbErr::Custom(format!(
            "a related_person JSON list does not read back: {e}"
        )))
    })
}

impl TryFrom<related_person::Model> for RelatedPerson {
    type Error = Error;

    fn try_from(m: related_person::Model) -> Result<RelatedPerson> {
        Ok(RelatedPerson {
            id: m.id,
            patient_id: m.patient_id,
            relationship: m.relationship,
            active: m.active,
            gender: m.gender,
            birth_date: m.birth_date,
            birth_date_precision: m.birth_date_precision.unwrap_or_default(),
            names: list(&m.names)?,
            identifiers: list(&m.identifiers)?,
            telecoms: list(&m.telecoms)?,
            addresses: list(&m.addresses)?,
            communications: list(&m.communications)?,
            version: m.version,
            updated_at: m.updated_at,
        })
    }
}

/// Search criteria: every given criterion must hold; within one, any value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedPersonQuery {
    /// The patients (each resolved to its survivor; the related persons of the records merged
    /// into it are found too).
    pub patients: Vec<Uuid>,
    /// Relationship codes.
    pub relationships: Vec<String>,
    /// Identifiers (system under any name of its domain, value) the related person carries.
    #[serde(default)]
    pub identifiers: Vec<(String, String)>,
    /// Page number from 1.
    pub page: u64,
    /// Page size (0 means 20).
    pub per_page: u64,
}

/// The live patient `id` names: itself, or the survivor it was merged into (followed through
/// successive merges). `Ok(None)` when there is no live patient.
async fn survivor_of<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<Patient>> {
    let mut id = id;
    for _ in 0..MAX_HOPS {
        let patient = match Patient::load_live(db, id).await {
            Ok(p) => p,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        match patient.replaced_by {
            Some(next) if !patient.record.patient.active => id = next,
            _ => return Ok(Some(patient)),
        }
    }
    Ok(None)
}

/// The patient of an input, live (resolved to its survivor), or a validation error on `patient`.
async fn live_patient<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Uuid> {
    survivor_of(db, id)
        .await?
        .map(|p| p.id())
        .ok_or_else(|| Error::validation("patient", "names no live Patient"))
}

/// The records whose related persons belong to `survivor`: itself and the records merged into
/// it (`replaced-by` links to it).
async fn merged_family<C: ConnectionTrait>(db: &C, survivor: Uuid) -> Result<Vec<Uuid>> {
    let mut ids: Vec<Uuid> = patient_link::Entity::find()
        .select_only()
        .column(patient_link::Column::PatientId)
        .filter(patient_link::Column::OtherPatientId.eq(survivor))
        .filter(patient_link::Column::Type.eq(LinkType::ReplacedBy))
        .into_tuple()
        .all(db)
        .await?;
    ids.push(survivor);
    ids.sort();
    ids.dedup();
    Ok(ids)
}

async fn load_live_row<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<related_person::Model> {
    related_person::Entity::find_by_id(id)
        .filter(related_person::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("related_person", id))
}

async fn check_room<C: ConnectionTrait>(
    db: &C,
    patient_id: Uuid,
    except: Option<Uuid>,
) -> Result<()> {
    let mut query = related_person::Entity::find()
        .filter(related_person::Column::PatientId.eq(patient_id))
        .filter(related_person::Column::DeletedAt.is_null());
    if let Some(id) = except {
        query = query.filter(related_person::Column::Id.ne(id));
    }
    if query.count(db).await? >= MAX_PER_PATIENT {
        return Err(Error::validation(
            "patient",
            format!("has {MAX_PER_PATIENT} related persons already"),
        ));
    }
    Ok(())
}

/// Languages as stored, as a patient's rows are (`convert::communication_row`): the code
/// trimmed, a blank system or display left out.
fn stored_communications(list: &[CommunicationInput]) -> Vec<CommunicationInput> {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    list.iter()
        .map(|c| CommunicationInput {
            system: given(&c.system),
            code: c.code.trim().to_owned(),
            display: given(&c.display),
            preferred: c.preferred,
        })
        .collect()
}

fn json_of<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|_| json!([]))
}

/// Creates a related person (role: register). The patient must be live (a merged-away one
/// resolves to its survivor); organizations named as identifier assigners must exist.
pub async fn create(mpi: &Mpi, ctx: &Ctx, input: RelatedPersonInput) -> Result<RelatedPerson> {
    ctx.authorize(Action::Register)?;
    input.validate()?;
    crate::organizations::check_referenced(mpi, &input.as_patient()).await?;
    let txn = mpi.write_txn_for(ctx).await?;
    let result = create_in(ctx, &txn, &input).await;
    let created = finish(txn, result).await?;
    tracing::info!(related_person_id = %created.id, patient_id = %created.patient_id, "related person created");
    Ok(created)
}

/// Checks an input before a feed opens its transaction (role, values).
pub fn check_input(ctx: &Ctx, input: &RelatedPersonInput) -> Result<()> {
    ctx.authorize(Action::Register)?;
    input.validate()
}

/// The create inside a caller's transaction, audited.
pub async fn create_in(
    ctx: &Ctx,
    txn: &crate::WriteTxn,
    input: &RelatedPersonInput,
) -> Result<RelatedPerson> {
    let txn: &sea_orm::DatabaseTransaction = txn;
    let patient_id = live_patient(txn, input.patient_id).await?;
    check_room(txn, patient_id, None).await?;
    let actor = ctx.actor.name.clone();
    let id = Uuid::now_v7();
    related_person::Entity::insert(related_person::ActiveModel {
        id: Set(id),
        patient_id: Set(patient_id),
        relationship: Set(input.relationship.clone()),
        active: Set(input.active),
        gender: Set(input.gender),
        birth_date: Set(input.birth_date),
        birth_date_precision: Set(input.birth_date.map(|_| input.birth_date_precision)),
        names: Set(json_of(&input.names)),
        identifiers: Set(json_of(&input.identifiers)),
        telecoms: Set(json_of(&input.telecoms)),
        addresses: Set(json_of(&input.addresses)),
        communications: Set(json_of(&stored_communications(&input.communications))),
        version: Set(1),
        deleted_at: Set(None),
        deleted_by: Set(None),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.clone()),
        updated_by: Set(actor),
    })
    .exec_without_returning(txn)
    .await?;
    let created = RelatedPerson::try_from(load_live_row(txn, id).await?)?;
    audit::record(
        txn,
        ctx,
        AuditEntry::new("create", "related_person", Some(id.to_string()))
            .after(audit::json(&created)),
    )
    .await?;
    Ok(created)
}

/// Reads a live related person (role: read), audited.
pub async fn get(mpi: &Mpi, ctx: &Ctx, id: Uuid) -> Result<RelatedPerson> {
    ctx.authorize(Action::Read)?;
    let entry = AuditEntry::new("read", "related_person", Some(id.to_string()));
    let (row, audited) = tokio::join!(load_live_row(mpi.db(), id), mpi.audit_read(ctx, entry));
    audited?;
    RelatedPerson::try_from(row?)
}

/// Replaces a related person's values at `version` (role: update); a stale version is
/// [`Error::StaleVersion`].
pub async fn update(
    mpi: &Mpi,
    ctx: &Ctx,
    id: Uuid,
    version: i32,
    input: RelatedPersonInput,
) -> Result<RelatedPerson> {
    ctx.authorize(Action::Update)?;
    input.validate()?;
    crate::organizations::check_referenced(mpi, &input.as_patient()).await?;
    let txn = mpi.write_txn_for(ctx).await?;
    let result = update_in(ctx, &txn, id, Some(version), &input).await;
    let updated = finish(txn, result).await?;
    tracing::info!(related_person_id = %id, version = updated.version, "related person updated");
    Ok(updated)
}

/// The update inside a caller's transaction, audited; `version` `None` updates the current one
/// (a feed's PUT).
pub async fn update_in(
    ctx: &Ctx,
    txn: &crate::WriteTxn,
    id: Uuid,
    version: Option<i32>,
    input: &RelatedPersonInput,
) -> Result<RelatedPerson> {
    let txn: &sea_orm::DatabaseTransaction = txn;
    let before = RelatedPerson::try_from(load_live_row(txn, id).await?)?;
    let version = version.unwrap_or(before.version);
    if version != before.version {
        return Err(Error::StaleVersion {
            expected: version,
            current: before.version,
        });
    }
    let patient_id = live_patient(txn, input.patient_id).await?;
    if patient_id != before.patient_id {
        check_room(txn, patient_id, Some(id)).await?;
    }
    let now = Utc::now().fixed_offset();
    let actor = ctx.actor.name.as_str();
    let changed = related_person::Entity::update_many()
        .set(related_person::ActiveModel {
            patient_id: Set(patient_id),
            relationship: Set(input.relationship.clone()),
            active: Set(input.active),
            gender: Set(input.gender),
            birth_date: Set(input.birth_date),
            birth_date_precision: Set(input.birth_date.map(|_| input.birth_date_precision)),
            names: Set(json_of(&input.names)),
            identifiers: Set(json_of(&input.identifiers)),
            telecoms: Set(json_of(&input.telecoms)),
            addresses: Set(json_of(&input.addresses)),
            communications: Set(json_of(&stored_communications(&input.communications))),
            version: Set(version + 1),
            updated_at: Set(now),
            updated_by: Set(actor.to_owned()),
            ..Default::default()
        })
        .filter(related_person::Column::Id.eq(id))
        .filter(related_person::Column::Version.eq(version))
        .filter(related_person::Column::DeletedAt.is_null())
        .exec(txn)
        .await?;
    if changed.rows_affected != 1 {
        return Err(Error::conflict(
            "concurrent_change",
            "the related person changed while it was being updated",
        ));
    }
    let after = RelatedPerson::try_from(load_live_row(txn, id).await?)?;
    audit::record(
        txn,
        ctx,
        AuditEntry::new("update", "related_person", Some(id.to_string()))
            .before(audit::json(&before))
            .after(audit::json(&after)),
    )
    .await?;
    Ok(after)
}

/// Soft-deletes a related person (role: delete), audited.
pub async fn delete(mpi: &Mpi, ctx: &Ctx, id: Uuid) -> Result<()> {
    ctx.authorize(Action::Delete)?;
    let txn = mpi.write_txn_for(ctx).await?;
    let result = delete_in(ctx, &txn, id).await;
    finish(txn, result).await?;
    tracing::info!(related_person_id = %id, "related person deleted");
    Ok(())
}

/// The soft delete inside a caller's transaction, audited.
pub async fn delete_in(ctx: &Ctx, txn: &crate::WriteTxn, id: Uuid) -> Result<()> {
    let txn: &sea_orm::DatabaseTransaction = txn;
    let before = RelatedPerson::try_from(load_live_row(txn, id).await?)?;
    let now = Utc::now().fixed_offset();
    let actor = ctx.actor.name.as_str();
    let changed = related_person::Entity::update_many()
        .col_expr(related_person::Column::DeletedAt, Expr::value(now))
        .col_expr(related_person::Column::DeletedBy, Expr::value(actor))
        .col_expr(
            related_person::Column::Version,
            Expr::value(before.version + 1),
        )
        .col_expr(related_person::Column::UpdatedAt, Expr::value(now))
        .col_expr(related_person::Column::UpdatedBy, Expr::value(actor))
        .filter(related_person::Column::Id.eq(id))
        .filter(related_person::Column::Version.eq(before.version))
        .filter(related_person::Column::DeletedAt.is_null())
        .exec(txn)
        .await?;
    if changed.rows_affected != 1 {
        return Err(Error::conflict(
            "concurrent_change",
            "the related person changed while it was being deleted",
        ));
    }
    audit::record(
        txn,
        ctx,
        AuditEntry::new("delete", "related_person", Some(id.to_string()))
            .before(audit::json(&before)),
    )
    .await?;
    Ok(())
}

/// The patient ids whose related persons a search by `patients` finds: each resolved to its
/// survivor, with the records merged into that survivor.
async fn holders<C: ConnectionTrait>(db: &C, patients: &[Uuid]) -> Result<Vec<Uuid>> {
    let mut ids = Vec::new();
    for &p in patients {
        if let Some(survivor) = survivor_of(db, p).await? {
            ids.extend(merged_family(db, survivor.id()).await?);
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Searches live related persons by patient and relationship (role: search), audited with the
/// ids found. At least one patient or relationship is required; an unknown relationship code
/// is a validation error; a patient that names no live record finds nothing.
pub async fn search(
    mpi: &Mpi,
    ctx: &Ctx,
    query: RelatedPersonQuery,
) -> Result<Page<RelatedPerson>> {
    ctx.authorize(Action::Search)?;
    if query.patients.is_empty() && query.relationships.is_empty() && query.identifiers.is_empty() {
        return Err(Error::validation(
            "query",
            "give a patient, a relationship or an identifier",
        ));
    }
    for (field, count) in [
        ("patient", query.patients.len()),
        ("relationship", query.relationships.len()),
        ("identifier", query.identifiers.len()),
    ] {
        crate::limits::check_count(field, count, MAX_SEARCH_TERMS)?;
    }
    for (i, (system, value)) in query.identifiers.iter().enumerate() {
        for text in [system, value] {
            if text.trim().is_empty() || text.len() > crate::feed::MAX_KEY_TEXT {
                return Err(Error::validation(
                    format!("identifier[{i}]"),
                    format!(
                        "needs a system and a value of at most {} bytes",
                        crate::feed::MAX_KEY_TEXT
                    ),
                ));
            }
        }
    }
    // Each identifier with every name of its domain.
    let domains = mpi.domains();
    let wanted: Vec<(Vec<String>, String)> = query
        .identifiers
        .iter()
        .map(|(system, value)| (domains.aliases_of(system), value.trim().to_owned()))
        .collect();
    if let Some(i) = query
        .relationships
        .iter()
        .position(|r| relationship_display(r).is_none())
    {
        return Err(Error::validation(
            format!("relationship[{i}]"),
            "is not a supported v3-RoleCode relationship",
        ));
    }
    let (page, per_page) = crate::page_bounds(query.page, query.per_page)?;
    let (items, total) = with_snapshot!(mpi, |conn| {
        let mut find =
            related_person::Entity::find().filter(related_person::Column::DeletedAt.is_null());
        if !query.patients.is_empty() {
            let ids = holders(conn, &query.patients).await?;
            find = find.filter(related_person::Column::PatientId.is_in(ids));
        }
        if !query.relationships.is_empty() {
            find = find
                .filter(related_person::Column::Relationship.is_in(query.relationships.clone()));
        }
        if !wanted.is_empty() {
            // Identifiers live in a JSON list: the rows whose text holds one of the values
            // (quoted as JSON writes it) are read, at most MAX_IDENTIFIER_CANDIDATES, and
            // checked exactly here; the page is cut from those.
            let mut any = sea_orm::Condition::any();
            for (_, value) in &wanted {
                let quoted = serde_json::to_string(value).unwrap_or_default();
                let pattern = format!(
                    "%{}%",
                    quoted
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                );
                any = any.add(sea_orm::ExprTrait::like(
                    sea_orm::ExprTrait::cast_as(
                        Expr::col(related_person::Column::Identifiers),
                        "text",
                    ),
                    sea_orm::sea_query::LikeExpr::new(pattern).escape('\\'),
                ));
            }
            let rows = find
                .filter(any)
                .order_by_asc(related_person::Column::CreatedAt)
                .order_by_asc(related_person::Column::Id)
                .limit(MAX_IDENTIFIER_CANDIDATES + 1)
                .all(conn)
                .await?;
            if rows.len() as u64 > MAX_IDENTIFIER_CANDIDATES {
                return Err(Error::validation(
                    "identifier",
                    "matches too many related persons; narrow the search",
                ));
            }
            let mut found = Vec::new();
            for row in rows {
                let r = RelatedPerson::try_from(row)?;
                if r.identifiers.iter().any(|i| {
                    wanted.iter().any(|(systems, value)| {
                        i.value.trim() == value && systems.contains(&i.system)
                    })
                }) {
                    found.push(r);
                }
            }
            let total = found.len() as u64;
            let items: Vec<RelatedPerson> = found
                .into_iter()
                .skip(usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX))
                .take(usize::try_from(per_page).unwrap_or(usize::MAX))
                .collect();
            Ok::<_, Error>((items, total))
        } else {
            let total = find.clone().count(conn).await?;
            let rows = find
                .order_by_asc(related_person::Column::CreatedAt)
                .order_by_asc(related_person::Column::Id)
                .offset((page - 1).saturating_mul(per_page))
                .limit(per_page)
                .all(conn)
                .await?;
            let items = rows
                .into_iter()
                .map(RelatedPerson::try_from)
                .collect::<Result<Vec<_>>>()?;
            Ok::<_, Error>((items, total))
        }
    })?;
    finish_search(mpi, ctx, &query, items, total, page, per_page).await
}

/// Most rows a search by identifier reads before checking them exactly.
pub const MAX_IDENTIFIER_CANDIDATES: u64 = 1_000;

/// Audits a related-person search with the ids found and answers its page.
async fn finish_search(
    mpi: &Mpi,
    ctx: &Ctx,
    query: &RelatedPersonQuery,
    items: Vec<RelatedPerson>,
    total: u64,
    page: u64,
    per_page: u64,
) -> Result<Page<RelatedPerson>> {
    let ids: Vec<Uuid> = items.iter().map(|r| r.id).collect();
    mpi.audit_read(
        ctx,
        AuditEntry::new("search", "related_person", None)
            .before(audit::json(query))
            .after(json!({ "ids": ids, "total": total })),
    )
    .await?;
    Ok(Page {
        items,
        total,
        page,
        per_page,
    })
}

/// Most related persons one `_revinclude` adds.
pub const MAX_INCLUDED: u64 = 1_000;

/// The live related persons that name one of `patients` (a patient search's `_revinclude`:
/// the resources referring to the matches, so no merged-away record is resolved), at most
/// [`MAX_INCLUDED`]; audited as a search with the ids found (role: search).
pub async fn of_patients(mpi: &Mpi, ctx: &Ctx, patients: &[Uuid]) -> Result<Vec<RelatedPerson>> {
    ctx.authorize(Action::Search)?;
    if patients.is_empty() {
        return Ok(Vec::new());
    }
    crate::limits::check_count("patient", patients.len(), crate::MAX_PER_PAGE as usize)?;
    let rows = related_person::Entity::find()
        .filter(related_person::Column::PatientId.is_in(patients.to_vec()))
        .filter(related_person::Column::DeletedAt.is_null())
        .order_by_asc(related_person::Column::PatientId)
        .order_by_asc(related_person::Column::CreatedAt)
        .order_by_asc(related_person::Column::Id)
        .limit(MAX_INCLUDED)
        .all(mpi.db())
        .await?;
    let items = rows
        .into_iter()
        .map(RelatedPerson::try_from)
        .collect::<Result<Vec<_>>>()?;
    let ids: Vec<Uuid> = items.iter().map(|r| r.id).collect();
    mpi.audit_read(
        ctx,
        AuditEntry::new("search", "related_person", None)
            .before(json!({ "patients": patients }))
            .after(json!({ "ids": ids, "total": ids.len() })),
    )
    .await?;
    Ok(items)
}

/// The live, active `MTH` related person of a patient (the newest if several), without an
/// audit row: for a use case that audits what it does with it (the mother reference of a
/// patient). A merged-away patient resolves to its survivor.
pub async fn mother_in<C: ConnectionTrait>(
    db: &C,
    patient_id: Uuid,
) -> Result<Option<RelatedPerson>> {
    let ids = holders(db, &[patient_id]).await?;
    if ids.is_empty() {
        return Ok(None);
    }
    related_person::Entity::find()
        .filter(related_person::Column::PatientId.is_in(ids))
        .filter(related_person::Column::Relationship.eq(MOTHER))
        .filter(related_person::Column::Active.eq(true))
        .filter(related_person::Column::DeletedAt.is_null())
        .order_by_desc(related_person::Column::UpdatedAt)
        .order_by_desc(related_person::Column::Id)
        .one(db)
        .await?
        .map(RelatedPerson::try_from)
        .transpose()
}

/// A patient's mother as recorded by a `MTH` RelatedPerson (her identifiers and names), read
/// and audited (role: read).
pub async fn mother(mpi: &Mpi, ctx: &Ctx, patient_id: Uuid) -> Result<Option<RelatedPerson>> {
    ctx.authorize(Action::Read)?;
    let found = with_snapshot!(mpi, |conn| mother_in(conn, patient_id).await)?;
    mpi.audit_read(
        ctx,
        AuditEntry::new(
            "read",
            "related_person",
            found.as_ref().map(|m| m.id.to_string()),
        )
        .before(json!({ "mother_of": patient_id })),
    )
    .await?;
    Ok(found)
}
