//! Patients: the input and view types, validation, and the use cases register (with the
//! duplicate check), get, update (optimistic concurrency), soft delete and search.
//!
//! Every use case runs in one write transaction that also appends its audit row; reads are
//! audited too (action `read` / `search`, entity `patient`).

use std::collections::HashSet;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use sea_orm::sea_query::{
    Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement, SimpleExpr, SubQueryStatement,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, SqlErr,
    Statement,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

pub use entity::enums::DatePrecision;
use entity::enums::{
    AddressType, AddressUse, Gender, IdentifierType, IdentifierUse, LinkType, MaritalStatus,
    NameUse, TelecomSystem, TelecomUse,
};
use entity::patient_ext::PatientRecord;
use entity::{
    patient, patient_address, patient_communication, patient_identifier, patient_name,
    patient_telecom,
};

use crate::audit::{self, AuditEntry};
use crate::keys::Action;
use crate::matching::{self, MatchCandidate, MatchOptions};
pub use crate::name_search::{SearchHit, SearchMode};
use crate::search_criteria::MoreCriteria;
use crate::{Ctx, Error, Mpi, Page, Result, convert, page_bounds, pairs};
use matcher::MatchDecision;

/// A period of validity (both ends optional).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// First day.
    pub start: Option<NaiveDate>,
    /// Last day.
    pub end: Option<NaiveDate>,
}

/// A name as given by a caller (FHIR HumanName).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameInput {
    /// Family name.
    pub family: Option<String>,
    /// Given names, first name first.
    pub given: Vec<String>,
    /// Prefixes (titles).
    pub prefix: Vec<String>,
    /// Suffixes.
    pub suffix: Vec<String>,
    /// The full name as written.
    pub text: Option<String>,
    /// Use (official, maiden, ...).
    pub r#use: Option<NameUse>,
    /// When the name was in use.
    pub period: Option<Period>,
}

/// An identifier as given by a caller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifierInput {
    /// Type (MR, SS, ...).
    pub r#type: Option<IdentifierType>,
    /// Use (official, secondary, ...).
    pub r#use: Option<IdentifierUse>,
    /// Issuing system (URI or code); required.
    pub system: String,
    /// Value; required.
    pub value: String,
    /// Issuing organization.
    pub assigner: Option<Uuid>,
    /// When the identifier is valid.
    pub period: Option<Period>,
}

/// An address as given by a caller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressInput {
    /// Street lines.
    pub lines: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// District.
    pub district: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// The address as written.
    pub text: Option<String>,
    /// Use (home, work, ...).
    pub r#use: Option<AddressUse>,
    /// Type (postal, physical, both).
    pub r#type: Option<AddressType>,
    /// When the address was in use.
    pub period: Option<Period>,
}

/// A contact point as given by a caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelecomInput {
    /// Phone, email, ...
    pub system: TelecomSystem,
    /// The number or address; required.
    pub value: String,
    /// Use (home, mobile, ...).
    pub r#use: Option<TelecomUse>,
    /// Preference, 1 = most preferred.
    pub rank: Option<i32>,
    /// When the contact point was in use.
    pub period: Option<Period>,
}

/// A language the patient speaks (FHIR `Patient.communication`, HL7 v2 PID-15), as a coding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunicationInput {
    /// The language's code system (`urn:ietf:bcp:47` for FHIR's common languages, an HL7 table).
    #[serde(default)]
    pub system: Option<String>,
    /// The language's code (`en`, `fr-CA`); required.
    pub code: String,
    /// The language's name as the sender displays it.
    #[serde(default)]
    pub display: Option<String>,
    /// Whether the patient prefers this language.
    #[serde(default)]
    pub preferred: bool,
}

/// A patient as given to register or update. Lists are ordered: the first item of each is
/// stored as the primary one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientInput {
    /// Whether the record is in use.
    pub active: bool,
    /// Administrative gender.
    pub gender: Option<Gender>,
    /// Birth date; a partial one is the first day of its year or month.
    pub birth_date: Option<NaiveDate>,
    /// How much of `birth_date` is known (a full date unless said otherwise).
    #[serde(default)]
    pub birth_date_precision: DatePrecision,
    /// Whether the patient has died.
    pub deceased: bool,
    /// When, if known.
    pub deceased_at: Option<DateTime<FixedOffset>>,
    /// Marital status.
    pub marital_status: Option<MaritalStatus>,
    /// Part of a multiple birth (`None` = not known).
    pub multiple_birth: Option<bool>,
    /// Birth order within a multiple birth (needs `multiple_birth = Some(true)`).
    pub multiple_birth_order: Option<i32>,
    /// Managing organization.
    pub managing_organization_id: Option<Uuid>,
    /// Names, primary first.
    pub names: Vec<NameInput>,
    /// Identifiers, primary first.
    pub identifiers: Vec<IdentifierInput>,
    /// Addresses, primary first.
    pub addresses: Vec<AddressInput>,
    /// Contact points, primary first.
    pub telecoms: Vec<TelecomInput>,
    /// Languages, primary first.
    #[serde(default)]
    pub communications: Vec<CommunicationInput>,
    /// The mother's maiden name and identifier (HL7 v2 PID-6 and PID-21, FHIR's
    /// `patient-mothersMaidenName`).
    #[serde(default)]
    pub mother: MotherInput,
}

/// What a record says of the patient's mother: her maiden name (PID-6) and her identifier
/// (PID-21). The identifier is kept as given (its system put in its domain's canonical form when
/// the domain is registered); when it names a live record at write time that record becomes the
/// patient's `mother_patient_id`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotherInput {
    /// The mother's maiden family name.
    #[serde(default)]
    pub maiden_family: Option<String>,
    /// The mother's maiden given name.
    #[serde(default)]
    pub maiden_given: Option<String>,
    /// The mother's identifier: (system, value).
    #[serde(default)]
    pub identifier: Option<MotherIdentifier>,
    /// On update: keep the stored identifier and maiden given name instead of these (a caller
    /// whose format cannot carry them, as FHIR Patient cannot, does not erase them).
    #[serde(default)]
    pub keep_stored_identifier: bool,
}

/// The mother's identifier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotherIdentifier {
    /// The issuing system (any name of a registered domain, or a system of its own).
    pub system: String,
    /// The identifier value.
    pub value: String,
}

impl MotherInput {
    /// Whether nothing is given.
    pub fn is_empty(&self) -> bool {
        self.maiden_family.is_none() && self.maiden_given.is_none() && self.identifier.is_none()
    }

    /// Checks bounds and blanks; errors name `mother.maiden_family`, `mother.identifier.value`...
    pub(crate) fn validate(&self) -> Result<()> {
        use crate::limits::{
            MAX_IDENTIFIER_SYSTEM, MAX_IDENTIFIER_VALUE, MAX_NAME_PART, check_text,
        };
        for (field, value) in [
            ("mother.maiden_family", &self.maiden_family),
            ("mother.maiden_given", &self.maiden_given),
        ] {
            if let Some(v) = value {
                check_text(|| field.to_owned(), v, MAX_NAME_PART)?;
                if blank(v) {
                    return Err(Error::validation(field, "is blank"));
                }
            }
        }
        if let Some(id) = &self.identifier {
            check_text(
                || "mother.identifier.system".to_owned(),
                &id.system,
                MAX_IDENTIFIER_SYSTEM,
            )?;
            check_text(
                || "mother.identifier.value".to_owned(),
                &id.value,
                MAX_IDENTIFIER_VALUE,
            )?;
            if blank(&id.value) {
                return Err(Error::validation("mother.identifier.value", "is required"));
            }
        }
        Ok(())
    }

    /// The mother's part of a stored patient row.
    pub fn of_row(p: &patient::Model) -> MotherInput {
        MotherInput {
            maiden_family: p.mother_maiden_family.clone(),
            maiden_given: p.mother_maiden_given.clone(),
            identifier: p
                .mother_identifier_value
                .clone()
                .map(|value| MotherIdentifier {
                    system: p.mother_identifier_system.clone().unwrap_or_default(),
                    value,
                }),
            keep_stored_identifier: false,
        }
    }
}

impl Default for PatientInput {
    fn default() -> Self {
        Self {
            active: true,
            gender: None,
            birth_date: None,
            birth_date_precision: DatePrecision::Day,
            deceased: false,
            deceased_at: None,
            marital_status: None,
            multiple_birth: None,
            multiple_birth_order: None,
            managing_organization_id: None,
            names: Vec::new(),
            identifiers: Vec::new(),
            addresses: Vec::new(),
            telecoms: Vec::new(),
            communications: Vec::new(),
            mother: MotherInput::default(),
        }
    }
}

/// Reads a birth date as FHIR's `date` writes one: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, the date
/// (the first day of a partial date's period) with its precision. `None` for anything else.
pub fn parse_partial_date(text: &str) -> Option<(NaiveDate, DatePrecision)> {
    let text = text.trim();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = text.split('-');
    let (year, month, day) = (parts.next()?, parts.next(), parts.next());
    if parts.next().is_some() || !digits(year, 4) {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let num = |s: &str| -> Option<u32> { digits(s, 2).then(|| s.parse().ok()).flatten() };
    match (month, day) {
        (None, None) => Some((NaiveDate::from_ymd_opt(year, 1, 1)?, DatePrecision::Year)),
        (Some(m), None) => Some((
            NaiveDate::from_ymd_opt(year, num(m)?, 1)?,
            DatePrecision::Month,
        )),
        (Some(m), Some(d)) => Some((
            NaiveDate::from_ymd_opt(year, num(m)?, num(d)?)?,
            DatePrecision::Day,
        )),
        (None, Some(_)) => None,
    }
}

/// A birth date written at its precision: `1984`, `1984-01` or `1984-01-25` (FHIR `date`).
pub fn render_partial_date(date: NaiveDate, precision: DatePrecision) -> String {
    let format = match precision {
        DatePrecision::Year => "%Y",
        DatePrecision::Month => "%Y-%m",
        DatePrecision::Day => "%Y-%m-%d",
    };
    date.format(format).to_string()
}

/// The half-open range of days `[start, end)` a date of this precision covers.
pub fn partial_date_range(date: NaiveDate, precision: DatePrecision) -> (NaiveDate, NaiveDate) {
    let end = match precision {
        DatePrecision::Year => date.with_year(date.year() + 1),
        DatePrecision::Month => date.checked_add_months(chrono::Months::new(1)),
        DatePrecision::Day => date.succ_opt(),
    };
    (date, end.unwrap_or(NaiveDate::MAX))
}

/// Parses a coded value (gender, name use, ...) for the field `field`, as a validation error
/// naming the field when the code is unknown (the value itself is not echoed).
pub fn parse_code<T: std::str::FromStr>(field: &str, code: &str) -> Result<T> {
    code.parse::<T>()
        .map_err(|_| Error::validation(field, "is not a known code"))
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn check_period(field: String, p: &Option<Period>) -> Result<()> {
    if let Some(Period {
        start: Some(s),
        end: Some(e),
    }) = p
        && e < s
    {
        return Err(Error::validation(field, "ends before it starts"));
    }
    Ok(())
}

impl PatientInput {
    /// Checks the values: at least one name with a family or given name (or no name at all, for
    /// a newborn not yet named, when there is an identifier and a birth date or a gender), no
    /// blank name parts,
    /// birth date not in the future, death not before birth, multiple-birth order only with
    /// `multiple_birth = true` and positive, identifier system and value present and not
    /// repeated, telecom values present. Errors name the field as a path (`names[0].family`).
    pub fn validate(&self) -> Result<()> {
        crate::limits::check_patient(self)?;
        self.mother.validate()?;
        let today = Utc::now().date_naive();
        if let Some(b) = self.birth_date {
            let first_day = match self.birth_date_precision {
                DatePrecision::Year => b.month() == 1 && b.day() == 1,
                DatePrecision::Month => b.day() == 1,
                DatePrecision::Day => true,
            };
            if !first_day {
                return Err(Error::validation(
                    "birth_date",
                    "a partial date is the first day of its year or month",
                ));
            }
            if b > today {
                return Err(Error::validation("birth_date", "is in the future"));
            }
            if b.year() < 1850 {
                return Err(Error::validation("birth_date", "is before 1850"));
            }
        }
        if let Some(d) = self.deceased_at {
            if !self.deceased {
                return Err(Error::validation(
                    "deceased_at",
                    "needs deceased to be true",
                ));
            }
            if d.with_timezone(&Utc) > Utc::now() {
                return Err(Error::validation("deceased_at", "is in the future"));
            }
            if let Some(b) = self.birth_date
                && d.date_naive() < b
            {
                return Err(Error::validation("deceased_at", "is before the birth date"));
            }
        }
        if let Some(order) = self.multiple_birth_order {
            if self.multiple_birth != Some(true) {
                return Err(Error::validation(
                    "multiple_birth_order",
                    "needs multiple_birth to be true",
                ));
            }
            if order < 1 {
                return Err(Error::validation(
                    "multiple_birth_order",
                    "must be 1 or more",
                ));
            }
        }
        // A newborn is registered before it is named: no name at all is allowed when an
        // identifier and a birth date or a gender say who the record is.
        if self.names.is_empty()
            && (self.identifiers.is_empty() || (self.birth_date.is_none() && self.gender.is_none()))
        {
            return Err(Error::validation(
                "names",
                "at least one name is required (a record without names needs an identifier \
                 and a birth date or a gender)",
            ));
        }
        let mut any_name = self.names.is_empty();
        for (i, n) in self.names.iter().enumerate() {
            if let Some(f) = &n.family {
                if blank(f) {
                    return Err(Error::validation(format!("names[{i}].family"), "is blank"));
                }
                any_name = true;
            }
            for (j, g) in n.given.iter().enumerate() {
                if blank(g) {
                    return Err(Error::validation(
                        format!("names[{i}].given[{j}]"),
                        "is blank",
                    ));
                }
                any_name = true;
            }
            check_period(format!("names[{i}].period"), &n.period)?;
        }
        if !any_name {
            return Err(Error::validation(
                "names[0].family",
                "at least one name needs a family or given name",
            ));
        }
        let mut seen = HashSet::new();
        for (i, id) in self.identifiers.iter().enumerate() {
            if blank(&id.system) {
                return Err(Error::validation(
                    format!("identifiers[{i}].system"),
                    "is required",
                ));
            }
            if blank(&id.value) {
                return Err(Error::validation(
                    format!("identifiers[{i}].value"),
                    "is required",
                ));
            }
            if !seen.insert((id.system.trim(), id.value.trim())) {
                return Err(Error::validation(
                    format!("identifiers[{i}]"),
                    "repeats an earlier identifier",
                ));
            }
            check_period(format!("identifiers[{i}].period"), &id.period)?;
        }
        for (i, a) in self.addresses.iter().enumerate() {
            let empty = a.lines.iter().all(|l| blank(l))
                && [
                    &a.city,
                    &a.district,
                    &a.state,
                    &a.postal_code,
                    &a.country,
                    &a.text,
                ]
                .iter()
                .all(|v| v.as_deref().is_none_or(blank));
            if empty {
                return Err(Error::validation(format!("addresses[{i}]"), "is empty"));
            }
            check_period(format!("addresses[{i}].period"), &a.period)?;
        }
        for (i, t) in self.telecoms.iter().enumerate() {
            if blank(&t.value) {
                return Err(Error::validation(
                    format!("telecoms[{i}].value"),
                    "is required",
                ));
            }
            if t.rank.is_some_and(|r| r < 1) {
                return Err(Error::validation(
                    format!("telecoms[{i}].rank"),
                    "must be 1 or more",
                ));
            }
            check_period(format!("telecoms[{i}].period"), &t.period)?;
        }
        let mut languages = HashSet::new();
        for (i, c) in self.communications.iter().enumerate() {
            if blank(&c.code) {
                return Err(Error::validation(
                    format!("communication[{i}].language.code"),
                    "is required",
                ));
            }
            let key = (
                c.system.as_deref().map(|s| s.trim().to_ascii_lowercase()),
                c.code.trim().to_ascii_lowercase(),
            );
            if !languages.insert(key) {
                return Err(Error::validation(
                    format!("communication[{i}]"),
                    "repeats an earlier language",
                ));
            }
        }
        Ok(())
    }
}

/// A patient as the service returns it: the stored record with every child row and link, and
/// the record that replaced it when it was merged away.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    /// The stored rows.
    pub record: PatientRecord,
    /// The surviving record, when this one was merged away (its `replaced-by` link).
    pub replaced_by: Option<Uuid>,
    /// In the answer of a search by name in a mode: the mode that found it and its score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<SearchHit>,
}

impl Patient {
    /// Wraps a loaded record, finding its `replaced-by` link.
    pub fn from_record(record: PatientRecord) -> Patient {
        let id = record.patient.id;
        let replaced_by = record
            .links
            .iter()
            .find(|l| l.patient_id == id && l.r#type == LinkType::ReplacedBy)
            .map(|l| l.other_patient_id);
        Patient {
            record,
            replaced_by,
            found: None,
        }
    }

    /// The patient's id.
    pub fn id(&self) -> Uuid {
        self.record.patient.id
    }

    /// The stored version (for optimistic concurrency).
    pub fn version(&self) -> i32 {
        self.record.patient.version
    }

    /// Loads a patient that is not soft-deleted.
    pub async fn load_live<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Patient> {
        match PatientRecord::load(db, id).await? {
            Some(r) if !r.patient.is_deleted() => Ok(Patient::from_record(r)),
            _ => Err(Error::not_found("patient", id)),
        }
    }
}

/// What registering a patient led to.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RegisterOutcome {
    /// The patient was stored; review tasks were opened for its possible matches (and for the
    /// certain/probable ones when `force` was set).
    Created {
        /// The stored patient.
        patient: Box<Patient>,
        /// Review tasks opened (or refreshed) for this patient.
        review_task_ids: Vec<Uuid>,
    },
    /// Certain or probable matches exist and `force` was not set: nothing was stored.
    Duplicates {
        /// The ranked candidates.
        candidates: Vec<MatchCandidate>,
        /// The input's identifiers that another live patient already holds: registering with
        /// `force` would still fail on them (`duplicate_identifier`) until they are removed or
        /// corrected.
        held_identifiers: Vec<HeldIdentifier>,
    },
}

/// An identifier of a registration's input that another live patient already holds.
#[derive(Clone, Debug, Serialize)]
pub struct HeldIdentifier {
    /// The identifier's place in the input (`identifiers[index]`).
    pub index: usize,
    /// The live patient holding it.
    pub patient_id: Uuid,
}

/// Ends a use case's transaction: commits on success, rolls back on failure.
pub(crate) async fn finish<T>(txn: crate::WriteTxn, result: Result<T>) -> Result<T> {
    match result {
        Ok(value) => {
            txn.commit().await?;
            Ok(value)
        }
        Err(e) => {
            // The error that ended the use case matters more than a failed rollback.
            let _ = txn.rollback().await;
            Err(e)
        }
    }
}

/// Audits, as the read of a patient it is, a refusal that names the live patient holding an
/// identifier (`duplicate_identifier` with `detail.patient_id`): the caller learns who holds
/// it. The use case's transaction was rolled back, so the row goes through the read auditor.
pub(crate) async fn disclosed<T>(mpi: &Mpi, ctx: &Ctx, outcome: Result<T>) -> Result<T> {
    if let Err(Error::Conflict {
        code: "duplicate_identifier",
        detail: Some(detail),
        ..
    }) = &outcome
        && let Some(holder) = detail.get("patient_id").and_then(|v| v.as_str())
    {
        let entry = AuditEntry::new("read", "patient", Some(holder.to_owned())).before(json!({
            "reason": "duplicate_identifier",
            "field": detail.get("field"),
        }));
        mpi.audit_read(ctx, entry).await?;
    }
    outcome
}

/// Maps a unique violation while writing identifiers to `Conflict{code: "duplicate_identifier"}`.
fn identifier_conflict(e: DbErr) -> Error {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::conflict(
            "duplicate_identifier",
            "an identifier with this system and value belongs to another active patient",
        ),
        _ => Error::Db(e),
    }
}

/// What the other live records holding one of a registration's or update's identifiers mean
/// for it (a `(domain, value)` names one person).
#[derive(Clone, Debug, PartialEq)]
enum Claim {
    /// No other live record holds it.
    Free,
    /// Live records of one person hold it in a links-records domain, or it is a reference (an
    /// identifier of a domain the writing source does not assign, or one already stored as a
    /// shared copy): the record is (or, when registered, becomes) that person, and stores its
    /// copy with its own `link_key`.
    Shared {
        /// The person the identifier names.
        person_id: Uuid,
        /// The oldest live record holding it (the one the new record is linked to).
        holder: Uuid,
        /// The reason of the link made at registration (it names the domain).
        reason: String,
    },
    /// Another live record holds it and may not share it.
    Held {
        /// That record.
        holder: Uuid,
    },
}

/// The claim of each of `identifiers` (in canonical form): `own` is the record being updated
/// (its id and `person_id`), `None` for a registration; `source` the writing source, if any.
///
/// Besides a links-records domain's, a registered domain's identifier may be held by records of
/// one person when it is a reference (issue 29 §3): the writing source does not assign in its
/// domain, or, in an update, a live record already stores it as a shared copy (so the
/// assigning source's own record, and a steward, can still write it), or every other record
/// holding it stores it as such a copy (the assigning source's own record was deleted). The
/// assigning authority's value names one person, so a registered record joins that person.
async fn claims<C: ConnectionTrait>(
    mpi: &Mpi,
    txn: &C,
    own: Option<(Uuid, Uuid)>,
    source: Option<&str>,
    identifiers: &[IdentifierInput],
) -> Result<Vec<Claim>> {
    let domains = mpi.domains();
    let mut out = Vec::with_capacity(identifiers.len());
    for ident in identifiers {
        let rows = patient_identifier::Entity::find_live_by_systems_value(
            &domains.aliases_of(&ident.system),
            ident.value.trim(),
        )
        .all(txn)
        .await?;
        // Some record stores it as a shared copy; every other record holding it does.
        let copied = rows.iter().any(|row| !row.link_key.is_empty());
        let only_copies = rows
            .iter()
            .filter(|row| Some(row.patient_id) != own.map(|o| o.0))
            .all(|row| !row.link_key.is_empty());
        let mut holders: Vec<Uuid> = rows
            .into_iter()
            .map(|row| row.patient_id)
            .filter(|&p| Some(p) != own.map(|o| o.0))
            .collect();
        holders.sort_unstable();
        holders.dedup();
        let Some(&first) = holders.first() else {
            out.push(Claim::Free);
            continue;
        };
        let domain = domains.resolve(&ident.system).filter(|d| !d.enterprise);
        let reason = domain.and_then(|d| {
            if d.links_records {
                Some(format!(
                    "shares an identifier of the links-records domain {}",
                    d.name
                ))
            } else if (own.is_some() && copied)
                || only_copies
                || source.is_some_and(|s| !d.assigned_by(s))
            {
                Some(format!(
                    "shares an identifier of the domain {}, carried as a reference",
                    d.name
                ))
            } else {
                None
            }
        });
        let claim = match reason {
            Some(reason) => {
                let persons: Vec<(Uuid, Uuid)> = patient::Entity::find()
                    .select_only()
                    .column(patient::Column::Id)
                    .column(patient::Column::PersonId)
                    .filter(patient::Column::Id.is_in(holders.clone()))
                    .into_tuple()
                    .all(txn)
                    .await?;
                let person = persons.first().map(|&(_, person)| person);
                let one_person = persons.iter().all(|&(_, p)| Some(p) == person);
                match person {
                    Some(person_id)
                        if one_person && own.is_none_or(|(_, mine)| mine == person_id) =>
                    {
                        Claim::Shared {
                            person_id,
                            holder: first,
                            reason,
                        }
                    }
                    _ => Claim::Held { holder: first },
                }
            }
            None => Claim::Held { holder: first },
        };
        out.push(claim);
    }
    Ok(out)
}

/// The identifiers another live record holds and may not share.
fn held_of(claims: &[Claim]) -> Vec<HeldIdentifier> {
    claims
        .iter()
        .enumerate()
        .filter_map(|(index, c)| match c {
            Claim::Held { holder } => Some(HeldIdentifier {
                index,
                patient_id: *holder,
            }),
            _ => None,
        })
        .collect()
}

/// Refuses identifiers another live record holds and may not share, or links-records
/// identifiers naming two different persons, naming the field and the holder. Otherwise the
/// person the shared identifiers name (with the holder to link to and the link's reason), if any.
fn check_claims(claims: &[Claim]) -> Result<Option<(Uuid, Uuid, String)>> {
    let refuse = |index: usize, holder: Uuid| Error::Conflict {
        code: "duplicate_identifier",
        message: "an identifier with this system and value belongs to another active patient"
            .to_owned(),
        detail: Some(json!({
            "field": format!("identifiers[{index}]"),
            "patient_id": holder,
        })),
    };
    if let Some(first) = held_of(claims).first() {
        return Err(refuse(first.index, first.patient_id));
    }
    let mut person: Option<(Uuid, Uuid, String)> = None;
    for (index, claim) in claims.iter().enumerate() {
        if let Claim::Shared {
            person_id,
            holder,
            reason,
        } = claim
        {
            match &person {
                Some((p, _, _)) if p != person_id => return Err(refuse(index, *holder)),
                Some(_) => {}
                None => person = Some((*person_id, *holder, reason.clone())),
            }
        }
    }
    Ok(person)
}

/// The `(system, value)` of the identifiers stored shared with the person's other records.
fn shared_keys(identifiers: &[IdentifierInput], claims: &[Claim]) -> HashSet<(String, String)> {
    identifiers
        .iter()
        .zip(claims)
        .filter(|(_, c)| matches!(c, Claim::Shared { .. }))
        .map(|(i, _)| (i.system.trim().to_owned(), i.value.trim().to_owned()))
        .collect()
}

/// A new identifier row, shared (`link_key` = the record's id) when its value is in `shared`.
fn identifier_row_for(
    id: Uuid,
    x: &IdentifierInput,
    primary: bool,
    live: bool,
    actor: &str,
    shared: &HashSet<(String, String)>,
) -> patient_identifier::ActiveModel {
    let mut row = convert::identifier_row(id, x, primary, live, actor);
    if shared.contains(&(x.system.trim().to_owned(), x.value.trim().to_owned())) {
        row.link_key = Set(id.to_string());
    }
    row
}

/// Puts the mother's identifier in its domain's canonical form: it may be of any domain (the
/// enterprise one too) or of none this server knows, which is kept as given (trimmed).
pub(crate) fn canonical_mother(domains: &crate::domains::Registry, mother: &mut MotherInput) {
    if let Some(id) = &mut mother.identifier {
        id.value = id.value.trim().to_owned();
        id.system = match domains.resolve(&id.system) {
            Some(d) => d.system(),
            None => id.system.trim().to_owned(),
        };
    }
}

/// Validates `input`, puts its identifiers in their domains' canonical form (two names of one
/// domain become one system, so it validates again for repeats) and, for a caller acting as a
/// source, checks that the source may write through them.
pub(crate) fn check_input(mpi: &Mpi, ctx: &Ctx, input: &mut PatientInput) -> Result<()> {
    input.validate()?;
    let domains = mpi.domains();
    domains.canonicalize("", &mut input.identifiers)?;
    canonical_mother(&domains, &mut input.mother);
    input.validate()?;
    if let Some(source) = &ctx.actor.source {
        domains.check_authority(
            source,
            "identifiers",
            input.identifiers.iter().map(|i| i.system.as_str()),
        )?;
    }
    Ok(())
}

/// Registers a patient after checking for duplicates.
///
/// Certain or probable matches and `force == false`: nothing is stored; the candidates come back
/// as [`RegisterOutcome::Duplicates`], with the input's identifiers that a live patient already
/// holds (a forced registration would fail on those), and the check itself is audited (action
/// `duplicate_check`, the input in `before`, the candidate ids in `after`), since it shows
/// patient data. Otherwise the patient is stored with a new `person_id`, a review task is opened
/// for every candidate at or above `possible` (so a forced registration also leaves its certain
/// and probable matches for a steward), and the creation is audited as `create` (or
/// `create_forced` when `force` overrode certain/probable matches). An identifier already held
/// by another live patient is `Conflict{code: "duplicate_identifier"}`, except one of a
/// links-records domain held by records of one person: the new record joins that person (its
/// `person_id`, a matcher-made `seealso` link each way with the oldest holder, whose reason
/// names the domain, each audited as `link.create`), and that person's records are neither
/// duplicates that refuse the registration nor pairs to review.
pub async fn register(
    mpi: &Mpi,
    ctx: &Ctx,
    mut input: PatientInput,
    force: bool,
) -> Result<RegisterOutcome> {
    ctx.authorize(Action::Register)?;
    check_input(mpi, ctx, &mut input)?;
    let candidates = registration_candidates(mpi, &input).await?;
    register_ranked(mpi, ctx, input, candidates, force).await
}

/// The candidates a registration of `input` (checked) is scored against, best first.
///
/// Scored before the write gate is taken (and off the async worker when the record is large):
/// the index is not the database and is refreshed only after a commit, so scoring inside the
/// gate bought no consistency, and a large record's scoring held every writer (and, on SQLite,
/// every read's audit row) back. What keeps registrations exact is inside the transaction: the
/// identifier check and the database's unique index.
async fn registration_candidates(mpi: &Mpi, input: &PatientInput) -> Result<Vec<MatchCandidate>> {
    let normalized = matcher::normalize(&convert::person_from_input(input));
    matching::rank_unblocking(
        mpi,
        &normalized,
        &MatchOptions {
            limit: 10,
            ..MatchOptions::default()
        },
        std::collections::HashSet::new(),
    )
    .await
}

/// [`register`] of a checked `input` whose `candidates` are scored.
async fn register_ranked(
    mpi: &Mpi,
    ctx: &Ctx,
    input: PatientInput,
    candidates: Vec<MatchCandidate>,
    force: bool,
) -> Result<RegisterOutcome> {
    let txn = mpi.write_txn_for(ctx).await?;
    let result = register_in(mpi, ctx, &txn, &input, candidates, force).await;
    let mut outcome = disclosed(mpi, ctx, finish(txn, result).await).await?;
    if let RegisterOutcome::Created { patient, .. } = &mut outcome {
        tracing::info!(patient_id = %patient.id(), "patient registered");
        after_registration(mpi, patient).await?;
    }
    Ok(outcome)
}

/// What a registration does after its commit: the record into the candidate index (and a record
/// linked to it at registration, a shared links-records identifier, refreshed, since it changed
/// too), the identifiers rendered in their domains' form.
pub(crate) async fn after_registration(mpi: &Mpi, patient: &mut Patient) -> Result<()> {
    mpi.index_committed(&patient.record);
    let linked: Vec<Uuid> = patient
        .record
        .links
        .iter()
        .filter(|l| l.patient_id == patient.id() && l.r#type == LinkType::SeeAlso)
        .map(|l| l.other_patient_id)
        .collect();
    for other in linked {
        mpi.refresh_patient(other).await?;
    }
    mpi.domains().render_patient(patient);
    Ok(())
}

/// What [`register_or_update`] did.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "did", rename_all = "snake_case")]
pub enum UpsertOutcome {
    /// No live record held the identifiers: a registration (created or duplicates found).
    Registered(RegisterOutcome),
    /// The live record holding the identifiers was updated.
    Updated(Box<Patient>),
}

/// Register-or-update, as IHE's patient identity feed defines it: a registration whose
/// identifier is already held by a live record is an update of that record (at its current
/// version; every list becomes the one given), else a registration with the duplicate check.
/// For a caller acting as a source only the identifiers in domains it assigns identify the
/// record (the others are references). Identifiers held by two different live records are
/// `Conflict{code: "duplicate_identifier"}`. Needs both the register and the update right.
pub async fn register_or_update(
    mpi: &Mpi,
    ctx: &Ctx,
    mut input: PatientInput,
    force: bool,
) -> Result<UpsertOutcome> {
    ctx.authorize(Action::Register)?;
    ctx.authorize(Action::Update)?;
    check_input(mpi, ctx, &mut input)?;
    // The record is scored while its identifiers are looked up (the lookups wait on the
    // database, the scoring on the processor): a registration, the usual outcome, then waits
    // for the slower of the two instead of both in turn. An update drops the candidates.
    let (holders, candidates) = tokio::join!(
        identifier_holders(mpi, ctx, &input),
        registration_candidates(mpi, &input)
    );
    let mut holders = holders?.into_iter();
    match (holders.next(), holders.next()) {
        (None, _) => Ok(UpsertOutcome::Registered(
            register_ranked(mpi, ctx, input, candidates?, force).await?,
        )),
        (Some(id), None) => {
            let current = Patient::load_live(mpi.db(), id).await?;
            let updated = update(mpi, ctx, id, current.version(), input).await?;
            Ok(UpsertOutcome::Updated(Box::new(updated)))
        }
        (Some(_), Some(_)) => Err(Error::conflict(
            "duplicate_identifier",
            "the record's identifiers are held by different live patients",
        )),
    }
}

/// The live records holding `input`'s identifiers that name a record for `ctx` (see
/// [`register_or_update`]).
async fn identifier_holders(
    mpi: &Mpi,
    ctx: &Ctx,
    input: &PatientInput,
) -> Result<std::collections::BTreeSet<Uuid>> {
    let domains = mpi.domains();
    let mut holders = std::collections::BTreeSet::new();
    // A links-records identifier names a person, not a record: it identifies the record to
    // update only when the input has no other identifier to do so.
    let names_person = |system: &str| domains.resolve(system).is_some_and(|d| d.links_records);
    let by_record = input.identifiers.iter().any(|i| {
        !names_person(&i.system)
            && ctx
                .actor
                .source
                .as_ref()
                .is_none_or(|s| domains.may_assign(s, &i.system))
    });
    for ident in &input.identifiers {
        if let Some(source) = &ctx.actor.source
            && !domains.may_assign(source, &ident.system)
        {
            continue;
        }
        if by_record && names_person(&ident.system) {
            continue;
        }
        // An account number (HL7 PID-18, type AN) names a visit's bill, not the record: a
        // registration carrying one another record holds is not an update of that record
        // (the identifier's own uniqueness still refuses it).
        if ident.r#type == Some(entity::enums::IdentifierType::An) {
            continue;
        }
        let mut rows = patient_identifier::Entity::find_live_by_systems_value(
            &domains.aliases_of(&ident.system),
            ident.value.trim(),
        );
        // Another source's copy of it, carried as a reference, does not make its record the
        // one this source's identifier names.
        if !names_person(&ident.system) {
            rows = rows.filter(patient_identifier::Column::LinkKey.eq(""));
        }
        let row = rows.one(mpi.db()).await?;
        if let Some(row) = row {
            holders.insert(row.patient_id);
        }
    }
    Ok(holders)
}

/// The live record the mother's identifier names (any alias of its domain), if exactly one
/// record holds it; never the patient itself (`own`). A mother's identifier naming nobody yet
/// is kept as given (searches by it still find the child).
pub(crate) async fn resolve_mother<C: sea_orm::ConnectionTrait>(
    mpi: &Mpi,
    db: &C,
    mother: &MotherInput,
    own: Option<Uuid>,
) -> Result<Option<Uuid>> {
    let Some(id) = &mother.identifier else {
        return Ok(None);
    };
    mother_holder(db, mpi.domains().aliases_of(&id.system), &id.value, own).await
}

/// The live record holding the identifier (`value` in one of `systems`), other than `own`.
pub(crate) async fn mother_holder<C: sea_orm::ConnectionTrait>(
    db: &C,
    systems: Vec<String>,
    value: &str,
    own: Option<Uuid>,
) -> Result<Option<Uuid>> {
    let holders: Vec<Uuid> = patient_identifier::Entity::find()
        .select_only()
        .column(patient_identifier::Column::PatientId)
        .filter(patient_identifier::Column::System.is_in(systems))
        .filter(patient_identifier::Column::Value.eq(value.trim()))
        // Stated literally (the partial index's predicate), not as a bound value.
        .filter(Expr::col((
            patient_identifier::Entity,
            patient_identifier::Column::PatientLive,
        )))
        .limit(2)
        .into_tuple()
        .all(db)
        .await?;
    Ok(holders.into_iter().find(|h| Some(*h) != own))
}

pub(crate) async fn register_in(
    mpi: &Mpi,
    ctx: &Ctx,
    txn: &crate::WriteTxn,
    input: &PatientInput,
    candidates: Vec<MatchCandidate>,
    force: bool,
) -> Result<RegisterOutcome> {
    let write_txn = txn;
    let txn: &sea_orm::DatabaseTransaction = txn;
    let source = ctx.actor.source.as_deref();
    let claims = claims(mpi, txn, None, source, &input.identifiers).await?;
    // The person a links-records identifier names, whatever the demographics say: its records
    // are no duplicates to refuse or review, the new record joins them.
    let joins = claims.iter().find_map(|c| match c {
        Claim::Shared { person_id, .. } => Some(*person_id),
        _ => None,
    });
    let candidates: Vec<MatchCandidate> = candidates
        .into_iter()
        .filter(|c| Some(c.person_id) != joins)
        .collect();
    let duplicates = candidates
        .iter()
        .any(|c| c.grade >= MatchDecision::Probable);
    if duplicates && !force {
        let held = held_of(&claims);
        audit::record(
            txn,
            ctx,
            AuditEntry::new("duplicate_check", "patient", None)
                .before(audit::json(input))
                .after(json!({
                    "candidates": candidates.iter().map(|c| c.patient_id).collect::<Vec<_>>(),
                    "identifiers_held_by": held.iter().map(|h| h.patient_id).collect::<Vec<_>>(),
                })),
        )
        .await?;
        return Ok(RegisterOutcome::Duplicates {
            candidates,
            held_identifiers: held,
        });
    }
    let person = check_claims(&claims)?;
    let shared = shared_keys(&input.identifiers, &claims);
    let id = Uuid::now_v7();
    let actor = ctx.actor.name.as_str();
    let mut row = convert::patient_row(id, input, actor);
    if let Some((person_id, _, _)) = &person {
        row.person_id = Set(*person_id);
    }
    row.mother_patient_id = Set(resolve_mother(mpi, txn, &input.mother, Some(id)).await?);
    row.insert(txn).await?;
    insert_children(txn, id, input, input.active, actor, &shared).await?;
    let links = match &person {
        Some((_, holder, reason)) => {
            crate::links::link_shared_identifier(txn, actor, id, *holder, reason).await?
        }
        None => Vec::new(),
    };
    let review_task_ids = pairs::open_tasks_for_new(
        txn,
        ctx,
        id,
        candidates
            .iter()
            .filter(|c| c.grade >= MatchDecision::Possible)
            .map(|c| {
                let breakdown = audit::json(&c.explanation);
                (c.patient_id, c.score, c.match_weight, breakdown)
            })
            .collect(),
    )
    .await?;
    let record = PatientRecord::load(txn, id)
        .await?
        .ok_or_else(|| Error::not_found("patient", id))?;
    let action = if duplicates {
        "create_forced"
    } else {
        "create"
    };
    audit::record_in(
        write_txn,
        ctx,
        AuditEntry::new(action, "patient", Some(id.to_string()))
            .after(audit::json(&record))
            .before(json!({ "review_task_ids": review_task_ids })),
    )
    .await?;
    for link in &links {
        crate::links::audit_created(txn, ctx, link).await?;
    }
    // Her children registered before her, naming her identifier.
    if input.active {
        crate::mothers::resolve_children(mpi, ctx, txn, id, &input.identifiers).await?;
    }
    Ok(RegisterOutcome::Created {
        patient: Box::new(Patient::from_record(record)),
        review_task_ids,
    })
}

async fn insert_children<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    input: &PatientInput,
    live: bool,
    actor: &str,
    shared: &HashSet<(String, String)>,
) -> Result<()> {
    if !input.names.is_empty() {
        patient_name::Entity::insert_many(
            input
                .names
                .iter()
                .enumerate()
                .map(|(i, n)| convert::name_row(id, n, i == 0, actor)),
        )
        .exec(txn)
        .await?;
    }
    if !input.identifiers.is_empty() {
        patient_identifier::Entity::insert_many(
            input
                .identifiers
                .iter()
                .enumerate()
                .map(|(i, x)| identifier_row_for(id, x, i == 0, live, actor, shared)),
        )
        .exec(txn)
        .await
        .map_err(identifier_conflict)?;
    }
    if !input.addresses.is_empty() {
        patient_address::Entity::insert_many(
            input
                .addresses
                .iter()
                .enumerate()
                .map(|(i, a)| convert::address_row(id, a, i == 0, actor)),
        )
        .exec(txn)
        .await?;
    }
    if !input.telecoms.is_empty() {
        patient_telecom::Entity::insert_many(
            input
                .telecoms
                .iter()
                .enumerate()
                .map(|(i, t)| convert::telecom_row(id, t, i == 0, actor)),
        )
        .exec(txn)
        .await?;
    }
    if !input.communications.is_empty() {
        patient_communication::Entity::insert_many(
            input
                .communications
                .iter()
                .enumerate()
                .map(|(i, c)| convert::communication_row(id, c, i == 0, actor)),
        )
        .exec(txn)
        .await?;
    }
    Ok(())
}

/// Reads a patient (soft-deleted ones are not found; merged-away ones are, with `replaced_by`).
/// Audited as `read`: the row is committed (with those of concurrent reads) before the patient
/// is returned. The record is one statement, so one snapshot, without a transaction around it.
///
/// The audit row names only the id asked for, so it is appended while the record loads, on
/// another connection: the answer waits for the slower of the two, not for both in turn. A
/// read of an id that is not found is therefore audited too, as the attempt it was.
pub async fn get(mpi: &Mpi, ctx: &Ctx, id: Uuid) -> Result<Patient> {
    ctx.authorize(Action::Read)?;
    let entry = AuditEntry::new("read", "patient", Some(id.to_string()));
    // Both run to the end: when the caller's key turns out to be revoked, that (401) is the
    // answer, whatever the load found.
    let (patient, audited) =
        tokio::join!(Patient::load_live(mpi.db(), id), mpi.audit_read(ctx, entry));
    audited?;
    let mut patient = patient?;
    mpi.domains().render_patient(&mut patient);
    crate::mothers::show_mothers(mpi.db(), &mpi.domains(), std::slice::from_mut(&mut patient))
        .await?;
    Ok(patient)
}

/// Pairs each wanted item with an equal stored one (each stored one used once). Returns the
/// stored indexes to delete and, per wanted item, the stored index it keeps, if any.
fn plan<T: PartialEq>(stored: &[T], wanted: &[T]) -> (Vec<usize>, Vec<Option<usize>>) {
    let mut used = vec![false; stored.len()];
    let keep: Vec<Option<usize>> = wanted
        .iter()
        .map(|w| {
            let found = (0..stored.len()).find(|&i| !used[i] && stored[i] == *w);
            if let Some(i) = found {
                used[i] = true;
            }
            found
        })
        .collect();
    let delete = (0..stored.len()).filter(|&i| !used[i]).collect();
    (delete, keep)
}

macro_rules! sync_children {
    ($txn:expr, $actor:expr, $now:expr, $entity:ident, $rows:expr, $wanted:expr, $to_input:path, $new_row:expr) => {{
        let stored: Vec<_> = $rows.iter().map($to_input).collect();
        let (delete, keep) = plan(&stored, $wanted);
        let delete_ids: Vec<Uuid> = delete.iter().map(|&i| $rows[i].id).collect();
        if !delete_ids.is_empty() {
            $entity::Entity::delete_many()
                .filter($entity::Column::Id.is_in(delete_ids))
                .exec($txn)
                .await?;
        }
        let mut fresh = Vec::new();
        for (pos, (item, kept)) in $wanted.iter().zip(keep).enumerate() {
            let primary = pos == 0;
            match kept {
                Some(i) if $rows[i].is_primary != primary => {
                    $entity::ActiveModel {
                        id: Set($rows[i].id),
                        is_primary: Set(primary),
                        updated_at: Set($now),
                        updated_by: Set($actor.to_owned()),
                        ..Default::default()
                    }
                    .update($txn)
                    .await?;
                }
                Some(_) => {}
                None => fresh.push($new_row(item, primary)),
            }
        }
        fresh
    }};
}

/// Replaces a patient's values with `input`, if `expected_version` is still current.
///
/// Semantics: the patient's own fields are set as given; each list (names, identifiers,
/// addresses, telecoms, languages) becomes exactly the given list. Stored child rows equal to a given item
/// are kept (same id, provenance such as `source_patient_id` kept), the others are deleted and
/// the remaining items inserted as new rows; the first item of each list is the primary one.
/// The version goes up by one. A stale version is [`Error::StaleVersion`]; a soft-deleted
/// patient is not found; a merged-away one is `Conflict{code: "already_merged"}`. Audited as
/// `update` with the whole record before and after.
pub async fn update(
    mpi: &Mpi,
    ctx: &Ctx,
    id: Uuid,
    expected_version: i32,
    mut input: PatientInput,
) -> Result<Patient> {
    ctx.authorize(Action::Update)?;
    check_input(mpi, ctx, &mut input)?;
    let txn = mpi.write_txn_for(ctx).await?;
    let result = update_in(mpi, ctx, &txn, id, expected_version, &input).await;
    let mut patient = disclosed(mpi, ctx, finish(txn, result).await).await?;
    tracing::info!(patient_id = %id, "patient updated");
    mpi.index_committed(&patient.record);
    mpi.domains().render_patient(&mut patient);
    Ok(patient)
}

pub(crate) async fn update_in(
    mpi: &Mpi,
    ctx: &Ctx,
    txn: &crate::WriteTxn,
    id: Uuid,
    expected_version: i32,
    input: &PatientInput,
) -> Result<Patient> {
    let write_txn = txn;
    let txn: &sea_orm::DatabaseTransaction = txn;
    let before = Patient::load_live(txn, id).await?;
    let current = before.version();
    if current != expected_version {
        return Err(Error::StaleVersion {
            expected: expected_version,
            current,
        });
    }
    if let Some(survivor) = before.replaced_by {
        return Err(Error::Conflict {
            code: "already_merged",
            message: "this patient was merged into another record".to_owned(),
            detail: Some(json!({ "replaced_by": survivor })),
        });
    }
    let kept;
    let input = if input.mother.keep_stored_identifier {
        let stored = MotherInput::of_row(&before.record.patient);
        kept = PatientInput {
            mother: MotherInput {
                maiden_family: input.mother.maiden_family.clone(),
                maiden_given: stored.maiden_given,
                identifier: stored.identifier,
                keep_stored_identifier: false,
            },
            ..input.clone()
        };
        &kept
    } else {
        input
    };
    // A source updates only records it holds an identifier of.
    if let Some(source) = &ctx.actor.source {
        mpi.domains().check_authority(
            source,
            "id",
            before.record.identifiers.iter().map(|i| i.system.as_str()),
        )?;
    }
    let claims = claims(
        mpi,
        txn,
        Some((id, before.record.patient.person_id)),
        ctx.actor.source.as_deref(),
        &input.identifiers,
    )
    .await?;
    check_claims(&claims)?;
    let shared = shared_keys(&input.identifiers, &claims);
    let actor = ctx.actor.name.as_str();
    let now = Utc::now().fixed_offset();
    let updated = patient::Entity::update_many()
        .col_expr(patient::Column::Active, Expr::value(input.active))
        .col_expr(patient::Column::Gender, Expr::value(input.gender))
        .col_expr(patient::Column::BirthDate, Expr::value(input.birth_date))
        .col_expr(
            patient::Column::BirthDatePrecision,
            Expr::value(input.birth_date.map(|_| input.birth_date_precision)),
        )
        .col_expr(patient::Column::Deceased, Expr::value(input.deceased))
        .col_expr(patient::Column::DeceasedAt, Expr::value(input.deceased_at))
        .col_expr(
            patient::Column::MaritalStatus,
            Expr::value(input.marital_status),
        )
        .col_expr(
            patient::Column::MultipleBirth,
            Expr::value(input.multiple_birth),
        )
        .col_expr(
            patient::Column::MultipleBirthOrder,
            Expr::value(input.multiple_birth_order),
        )
        .col_expr(
            patient::Column::ManagingOrganizationId,
            Expr::value(input.managing_organization_id),
        )
        .col_expr(
            patient::Column::MotherMaidenFamily,
            Expr::value(input.mother.maiden_family.clone()),
        )
        .col_expr(
            patient::Column::MotherMaidenGiven,
            Expr::value(input.mother.maiden_given.clone()),
        )
        .col_expr(
            patient::Column::MotherIdentifierSystem,
            Expr::value(input.mother.identifier.as_ref().map(|i| i.system.clone())),
        )
        .col_expr(
            patient::Column::MotherIdentifierValue,
            Expr::value(input.mother.identifier.as_ref().map(|i| i.value.clone())),
        )
        .col_expr(
            patient::Column::MotherPatientId,
            Expr::value(resolve_mother(mpi, txn, &input.mother, Some(id)).await?),
        )
        .col_expr(patient::Column::Version, Expr::value(expected_version + 1))
        .col_expr(patient::Column::UpdatedAt, Expr::value(now))
        .col_expr(patient::Column::UpdatedBy, Expr::value(actor))
        .filter(patient::Column::Id.eq(id))
        .filter(patient::Column::Version.eq(expected_version))
        .filter(patient::Column::DeletedAt.is_null())
        .exec(txn)
        .await?;
    if updated.rows_affected != 1 {
        let current = patient::Entity::find_by_id(id)
            .one(txn)
            .await?
            .map_or(current, |p| p.version);
        return Err(Error::StaleVersion {
            expected: expected_version,
            current,
        });
    }
    let rec = &before.record;
    let live = input.active;
    let names = sync_children!(
        txn,
        actor,
        now,
        patient_name,
        rec.names,
        &input.names,
        convert::name_input,
        |n: &NameInput, p| convert::name_row(id, n, p, actor)
    );
    if !names.is_empty() {
        patient_name::Entity::insert_many(names).exec(txn).await?;
    }
    let identifiers = sync_children!(
        txn,
        actor,
        now,
        patient_identifier,
        rec.identifiers,
        &input.identifiers,
        convert::identifier_input,
        |x: &IdentifierInput, p| identifier_row_for(id, x, p, live, actor, &shared)
    );
    if !identifiers.is_empty() {
        patient_identifier::Entity::insert_many(identifiers)
            .exec(txn)
            .await
            .map_err(identifier_conflict)?;
    }
    let addresses = sync_children!(
        txn,
        actor,
        now,
        patient_address,
        rec.addresses,
        &input.addresses,
        convert::address_input,
        |a: &AddressInput, p| convert::address_row(id, a, p, actor)
    );
    if !addresses.is_empty() {
        patient_address::Entity::insert_many(addresses)
            .exec(txn)
            .await?;
    }
    let telecoms = sync_children!(
        txn,
        actor,
        now,
        patient_telecom,
        rec.telecoms,
        &input.telecoms,
        convert::telecom_input,
        |t: &TelecomInput, p| convert::telecom_row(id, t, p, actor)
    );
    if !telecoms.is_empty() {
        patient_telecom::Entity::insert_many(telecoms)
            .exec(txn)
            .await?;
    }
    let communications = sync_children!(
        txn,
        actor,
        now,
        patient_communication,
        rec.communications,
        &input.communications,
        convert::communication_input,
        |c: &CommunicationInput, p| convert::communication_row(id, c, p, actor)
    );
    if !communications.is_empty() {
        patient_communication::Entity::insert_many(communications)
            .exec(txn)
            .await?;
    }
    let after = Patient::load_live(txn, id).await?;
    audit::record_in(
        write_txn,
        ctx,
        AuditEntry::new("update", "patient", Some(id.to_string()))
            .before(audit::json(&before.record))
            .after(audit::json(&after.record)),
    )
    .await?;
    // Her children registered before her (or before she had this identifier).
    if input.active {
        crate::mothers::resolve_children(mpi, ctx, txn, id, &input.identifiers).await?;
    }
    Ok(after)
}

/// Soft-deletes a patient: `deleted_at`/`deleted_by` set, version raised, its identifiers no
/// longer count as live, and it leaves the candidate index. Open review tasks that involve it
/// stay as they are. Audited as `delete` with the record before. Children resolved to it pass to
/// the live record holding their mother's identifier, or to none ([`crate::mothers`]).
pub async fn delete(mpi: &Mpi, ctx: &Ctx, id: Uuid) -> Result<()> {
    ctx.authorize(Action::Delete)?;
    let txn = mpi.write_txn_for(ctx).await?;
    let result = delete_in(mpi, ctx, &txn, id).await;
    finish(txn, result).await?;
    tracing::info!(patient_id = %id, "patient deleted");
    mpi.refresh_patient(id).await
}

/// The soft delete inside a caller's transaction, audited, without the index refresh.
pub(crate) async fn delete_in(mpi: &Mpi, ctx: &Ctx, txn: &crate::WriteTxn, id: Uuid) -> Result<()> {
    let txn: &sea_orm::DatabaseTransaction = txn;
    let before = Patient::load_live(txn, id).await?;
    let now = Utc::now().fixed_offset();
    let actor = ctx.actor.name.as_str();
    let updated = patient::Entity::update_many()
        .col_expr(patient::Column::DeletedAt, Expr::value(now))
        .col_expr(patient::Column::DeletedBy, Expr::value(actor))
        .col_expr(patient::Column::Version, Expr::value(before.version() + 1))
        .col_expr(patient::Column::UpdatedAt, Expr::value(now))
        .col_expr(patient::Column::UpdatedBy, Expr::value(actor))
        .filter(patient::Column::Id.eq(id))
        .filter(patient::Column::Version.eq(before.version()))
        .filter(patient::Column::DeletedAt.is_null())
        .exec(txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(Error::conflict(
            "concurrent_change",
            "the patient changed while it was being deleted",
        ));
    }
    audit::record(
        txn,
        ctx,
        AuditEntry::new("delete", "patient", Some(id.to_string()))
            .before(audit::json(&before.record)),
    )
    .await?;
    // A deleted record is no live reference: her children pass on.
    let held: Vec<(String, String)> = before
        .record
        .identifiers
        .iter()
        .map(|i| (i.system.clone(), i.value.clone()))
        .collect();
    crate::mothers::follow_holders(mpi, ctx, txn, id, &held).await?;
    Ok(())
}

/// Search criteria; every given criterion must hold. `page` is 1-based.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientQuery {
    /// Matches the start of a family name or of a given name, ignoring case.
    pub name: Option<String>,
    /// Matches the start of a family name, ignoring case.
    pub family: Option<String>,
    /// Matches the start of a given name, ignoring case; with `family`, of the same name.
    pub given: Option<String>,
    /// Birth date: with [`DatePrecision::Day`] that exact date; with a year or a month, every
    /// date inside that period (`birth_date` is its first day). A stored partial date is found
    /// only by a search at its precision or a coarser one (a record born "in 1984" is not known
    /// to be born in January 1984).
    pub birth_date: Option<NaiveDate>,
    /// The precision of `birth_date`.
    pub birth_date_precision: DatePrecision,
    /// Exact identifier: (system, value). The system may be any name of a registered domain
    /// (URL, `urn:oid:OID`, OID, namespace); an empty system searches the value in every system.
    pub identifier: Option<(String, String)>,
    /// Exact postal code of any address (surrounding spaces ignored).
    pub postal_code: Option<String>,
    /// Gender.
    pub gender: Option<Gender>,
    /// How `family` and `given` are compared ([`crate::name_search`]); `None`: each is a
    /// prefix, ignoring case (and merged-away records are found too).
    pub mode: Option<SearchMode>,
    /// The criteria of IHE PDQm beyond these ([`crate::search_criteria`]), and the domains a
    /// result's identifiers are limited to.
    #[serde(default)]
    pub more: MoreCriteria,
    /// Page number from 1.
    pub page: u64,
    /// Page size (0 means 20, at most [`crate::MAX_PER_PAGE`]).
    pub per_page: u64,
}

impl PatientQuery {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.family.is_none()
            && self.given.is_none()
            && self.birth_date.is_none()
            && self.identifier.is_none()
            && self.postal_code.is_none()
            && self.gender.is_none()
            && self.more.is_empty()
    }
}

/// `text` trimmed and lower-cased the way the database's `lower` does it, in every form a stored
/// name's `lower` can take. PostgreSQL folds all of Unicode: one form. SQLite (built without ICU)
/// folds only the ASCII letters, so `lower(family)` of `Müller` is `müller` and of `MÜLLER` is
/// `mÜller` (HL7 v2 senders often write names in capitals): the text as written folded the same
/// way (`Öztürk` stays findable as `Öztürk`), then with every other letter small and with every
/// other letter capital, so `MÜLLER`, `Müller` and `müller` find each other.
pub(crate) fn case_variants(text: &str, backend: DbBackend) -> Vec<String> {
    let text = text.trim();
    match backend {
        DbBackend::Sqlite => {
            let lower = text.to_lowercase();
            let capital: String = lower
                .chars()
                .map(|c| {
                    let mut upper = c.to_uppercase();
                    match (c.is_ascii(), upper.next(), upper.next()) {
                        (false, Some(u), None) => u,
                        _ => c,
                    }
                })
                .collect();
            let mut forms = vec![text.to_ascii_lowercase()];
            for form in [lower, capital] {
                if !forms.contains(&form) {
                    forms.push(form);
                }
            }
            forms
        }
        _ => vec![text.to_lowercase()],
    }
}

/// Any of `conditions` (none: false).
pub(crate) fn any_of(conditions: impl IntoIterator<Item = SimpleExpr>) -> SimpleExpr {
    conditions
        .into_iter()
        .reduce(SimpleExpr::or)
        .unwrap_or_else(|| Expr::val(1).eq(0))
}

/// `text%` as a LIKE pattern with `\` escaping the wildcards (`text` already case-folded).
fn prefix_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A family name starting with `text`, ignoring case, written as a byte range over
/// `lower(family)` that `idx_patient_name_family_lower_given` answers. A LIKE would not do:
/// SQLite's cannot use an index on an expression (at 890,623 patients a family-name search went
/// from a 0.45 s scan to a few milliseconds), and PostgreSQL turns a LIKE into a key range only
/// when it plans for the pattern's value, not in the generic plan of a prepared statement, where
/// it chose the trigram indexes instead (30 ms for `smith` + `james`, against 8 ms from the
/// index alone). On PostgreSQL the range uses the byte-order operators of the index's
/// `text_pattern_ops`.
fn family_starts_with(text: &str, backend: DbBackend) -> SimpleExpr {
    any_of(
        case_variants(text, backend)
            .iter()
            .map(|form| family_form_starts_with(form, backend)),
    )
}

/// [`family_starts_with`] for one case-folded form of the text.
fn family_form_starts_with(text: &str, backend: DbBackend) -> SimpleExpr {
    let lowered = || {
        Expr::expr(Func::lower(Expr::col((
            patient_name::Entity,
            patient_name::Column::Family,
        ))))
    };
    let like = || lowered().like(LikeExpr::new(prefix_pattern(text)).escape('\\'));
    let Some((low, high)) = prefix_range(text) else {
        return like();
    };
    let (from, below): (SimpleExpr, Option<SimpleExpr>) = match backend {
        DbBackend::Postgres => {
            let byte_order = |operator: &str, bound: String| -> SimpleExpr {
                Expr::cust_with_exprs(format!("$1 {operator} $2"), [lowered(), Expr::val(bound)])
            };
            (
                byte_order("~>=~", low),
                high.map(|high| byte_order("~<~", high)),
            )
        }
        _ => (lowered().gte(low), high.map(|high| lowered().lt(high))),
    };
    // When the last character cannot grow the range has no end, and the pattern bounds it.
    from.and(below.unwrap_or_else(like))
}

/// The byte range `[low, high)` holding every string that starts with `text` (UTF-8 orders as
/// code points do; `high` is `None` when the last character cannot grow).
fn prefix_range(text: &str) -> Option<(String, Option<String>)> {
    let low = text.to_owned();
    let last = low.chars().last()?;
    let high = (u32::from(last) + 1..=u32::from(char::MAX))
        .find_map(char::from_u32)
        .map(|next| {
            let mut h = low[..low.len() - last.len_utf8()].to_owned();
            h.push(next);
            h
        });
    Some((low, high))
}

/// A given name starting with `text`: `given` is a JSON list, so its text form is searched for
/// `"text` (a quote opens every item). On SQLite `given` is stored as text and LIKE already
/// ignores case exactly where `lower` would (ASCII letters), so the column is matched as it is:
/// the values come straight from the family-name index, and at 11,320 `smith` rows skipping
/// `lower` halved the time of the check.
fn given_like(text: &str, backend: DbBackend) -> SimpleExpr {
    any_of(case_variants(text, backend).iter().map(|form| {
        let pattern = LikeExpr::new(format!("%\"{}", prefix_pattern(form))).escape('\\');
        let given = Expr::col((patient_name::Entity, patient_name::Column::Given));
        match backend {
            DbBackend::Sqlite => given.like(pattern),
            _ => Expr::expr(Func::lower(given.cast_as("text"))).like(pattern),
        }
    }))
}

/// Patients with a name row satisfying `cond`, as a list the database builds first: right for a
/// condition an index narrows (a family-name prefix).
fn names_where(cond: SimpleExpr, backend: DbBackend) -> SimpleExpr {
    patients_in(
        Query::select()
            .column(patient_name::Column::PatientId)
            .from(patient_name::Entity)
            .and_where(cond)
            .to_owned(),
        backend,
    )
}

/// Patients whose id the one-column `ids` query lists, for a query that narrows (a family-name
/// prefix, an identifier, a postal code, a phone number). PostgreSQL gets `id = ANY(ARRAY(ids))`: as `IN (ids)`
/// its planner, costing the page's LIMIT but not the window count that reads every match,
/// walked the whole patient key in order and took 1.8 s for a common surname at 890,623
/// patients; an array of ids can only be answered by probing the key.
pub(crate) fn patients_in(ids: SelectStatement, backend: DbBackend) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust_with_exprs(
            "$1 = ANY(ARRAY $2)",
            [
                Expr::col((patient::Entity, patient::Column::Id)),
                Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(ids))),
            ],
        ),
        _ => patient::Column::Id.in_subquery(ids),
    }
}

/// Patients with a name row satisfying `cond`, checked patient by patient: right for a condition
/// no index serves (a given name inside the JSON list) once other criteria have narrowed the
/// patients, where building the whole list would read every name row.
fn names_exist(cond: SimpleExpr) -> SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::value(1))
            .from(patient_name::Entity)
            .and_where(
                Expr::col((patient_name::Entity, patient_name::Column::PatientId))
                    .equals((patient::Entity, patient::Column::Id)),
            )
            .and_where(cond)
            .to_owned(),
    )
}

/// The condition a search without a mode puts on the patients: its names and every other
/// criterion.
async fn search_condition(mpi: &Mpi, query: &PatientQuery) -> Result<Condition> {
    let mut cond = Condition::all();
    let backend = mpi.db().get_database_backend();
    if let Some(name) = &query.name {
        cond = cond.add(names_where(
            Condition::any()
                .add(family_starts_with(name, backend))
                .add(given_like(name, backend))
                .into(),
            backend,
        ));
    }
    match (&query.family, &query.given) {
        // Together they describe one name ("Mary Johnson"), so both are checked on the same
        // name row: the family prefix narrows through its index, the given name is read beside
        // it, and a common surname costs one pass over its name rows, not a probe per patient.
        (Some(family), Some(given)) => {
            cond = cond.add(names_where(
                family_starts_with(family, backend).and(given_like(given, backend)),
                backend,
            ));
        }
        (Some(family), None) => {
            cond = cond.add(names_where(family_starts_with(family, backend), backend));
        }
        (None, Some(given)) => {
            let narrowed = query.birth_date.is_some()
                || query.identifier.is_some()
                || query.postal_code.is_some()
                || !query.more.is_empty();
            cond = cond.add(if narrowed {
                names_exist(given_like(given, backend))
            } else {
                names_where(given_like(given, backend), backend)
            });
        }
        (None, None) => {}
    }
    cond = cond.add(other_criteria(mpi, query).await?);
    Ok(cond)
}

/// The page of ids of the patients `q` selects, by id, each row carrying the total.
fn page_with_total(
    q: Select<patient::Entity>,
    page: u64,
    per_page: u64,
) -> Select<patient::Entity> {
    q.select_only()
        .column(patient::Column::Id)
        .column_as(Expr::cust("COUNT(*) OVER ()"), "total")
        .order_by_asc(patient::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
}

/// The statement a search without a mode runs for its first page of 20 (the ids and the total),
/// built as [`search`] builds it, so that a test can check which indexes answer it. No audit,
/// no validation: it reads nothing but what the criteria need (domains, systems in use).
#[doc(hidden)]
pub async fn search_page_statement(mpi: &Mpi, query: &PatientQuery) -> Result<Statement> {
    let cond = search_condition(mpi, query).await?;
    Ok(
        page_with_total(patient::Entity::find_live().filter(cond), 1, 20)
            .build(mpi.db().get_database_backend()),
    )
}

/// Searches patients that are not soft-deleted (merged-away ones included), ordered by id.
/// At least one criterion is required (`Validation{field: "query"}`). Audited as `search`:
/// the criteria in `before`, the ids returned and the total in `after`.
pub async fn search(mpi: &Mpi, ctx: &Ctx, query: PatientQuery) -> Result<Page<Patient>> {
    check_search(ctx, &query)?;
    let wanted_domains = query.more.domain_aliases(mpi).await?;
    let (page, per_page) = page_bounds(query.page, query.per_page)?;
    if let Some(mode) = query.mode {
        return search_by_mode(mpi, ctx, query, mode, page, per_page)
            .await
            .map(|mut found| {
                found.items = limit_identifiers(found.items, wanted_domains.as_deref());
                found
            });
    }
    let cond = search_condition(mpi, &query).await?;
    let (total, ids, items) = with_snapshot!(mpi, |conn| {
        let q = patient::Entity::find_live().filter(cond);
        // One statement for the page and the total (a window count sees every matching row
        // before LIMIT), so the criteria are evaluated once; only a page past the end, which
        // has no row to carry the total, costs a second statement.
        let rows: Vec<(Uuid, i64)> = page_with_total(q.clone(), page, per_page)
            .into_tuple()
            .all(conn)
            .await?;
        let total = match rows.first() {
            Some(&(_, total)) => u64::try_from(total).unwrap_or(0),
            None if page > 1 => q.count(conn).await?,
            None => 0,
        };
        let ids: Vec<Uuid> = rows.into_iter().map(|(id, _)| id).collect();
        let domains = mpi.domains();
        let mut items: Vec<Patient> = PatientRecord::load_many(conn, &ids)
            .await?
            .into_iter()
            .map(|record| {
                let mut patient = Patient::from_record(record);
                domains.render_patient(&mut patient);
                patient
            })
            .collect();
        crate::mothers::show_mothers(conn, &domains, &mut items).await?;
        Ok::<_, Error>((total, ids, items))
    })?;
    let items = limit_identifiers(items, wanted_domains.as_deref());
    mpi.audit_read(
        ctx,
        AuditEntry::new("search", "patient", None)
            .before(audit::json(&query))
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

/// What [`search`] and [`count`] check first: the caller may search, the query has a criterion
/// and stays within the limits.
fn check_search(ctx: &Ctx, query: &PatientQuery) -> Result<()> {
    ctx.authorize(Action::Search)?;
    if query.is_empty() {
        return Err(Error::validation(
            "query",
            "give at least one search criterion",
        ));
    }
    crate::limits::check_query(query)
}

/// How many live patients [`search`] would find, without reading any of them (FHIR's
/// `_summary=count`): the same criteria, checks and audit row (`search`, with no ids). A name
/// search mode is refused: its matches are scored, not counted.
pub async fn count(mpi: &Mpi, ctx: &Ctx, query: PatientQuery) -> Result<u64> {
    check_search(ctx, &query)?;
    if query.mode.is_some() {
        return Err(Error::validation(
            "mode",
            "a count takes no name search mode",
        ));
    }
    let cond = search_condition(mpi, &query).await?;
    let total = with_snapshot!(mpi, |conn| {
        Ok::<_, Error>(
            patient::Entity::find_live()
                .filter(cond)
                .count(conn)
                .await?,
        )
    })?;
    mpi.audit_read(
        ctx,
        AuditEntry::new("search", "patient", None)
            .before(audit::json(&query))
            .after(json!({ "ids": [], "total": total })),
    )
    .await?;
    Ok(total)
}

/// The criteria of a search besides the names: birth date (at its precision), gender,
/// identifier, postal code.
async fn other_criteria(mpi: &Mpi, query: &PatientQuery) -> Result<Condition> {
    let backend = mpi.db().get_database_backend();
    let mut cond = Condition::all();
    if let Some(d) = query.birth_date {
        let precision = query.birth_date_precision;
        cond = cond.add(match precision {
            DatePrecision::Day => Condition::all().add(patient::Column::BirthDate.eq(d)),
            _ => {
                let (start, end) = partial_date_range(d, precision);
                Condition::all()
                    .add(patient::Column::BirthDate.gte(start))
                    .add(patient::Column::BirthDate.lt(end))
            }
        });
        // Stored dates coarser than the search are not known to lie inside it.
        let finer: Vec<DatePrecision> = DatePrecision::ALL
            .iter()
            .copied()
            .filter(|p| *p >= precision)
            .collect();
        cond = cond.add(
            Condition::any()
                .add(patient::Column::BirthDatePrecision.is_null())
                .add(patient::Column::BirthDatePrecision.is_in(finer)),
        );
    }
    if let Some(g) = query.gender {
        cond = cond.add(patient::Column::Gender.eq(g));
    }
    if let Some((system, value)) = &query.identifier {
        let domains = mpi.domains();
        let systems = if system.trim().is_empty() {
            // A value alone (an MRN typed at a desk): every system in use.
            patient_identifier::Entity::systems_in_use(mpi.db()).await?
        } else {
            domains.aliases_of(system)
        };
        cond = cond.add(patients_in(
            patient_identifier::Entity::holders_of_any(&systems, value.trim()),
            backend,
        ));
    }
    cond = cond.add(query.more.condition(mpi).await?);
    if let Some(pc) = &query.postal_code {
        cond = cond.add(patients_in(
            Query::select()
                .column(patient_address::Column::PatientId)
                .from(patient_address::Entity)
                .and_where(patient_address::Column::PostalCode.eq(pc.trim()))
                .to_owned(),
            backend,
        ));
    }
    Ok(cond)
}

/// `items` with their identifiers limited to the systems `domains` names (when given).
fn limit_identifiers(mut items: Vec<Patient>, domains: Option<&[String]>) -> Vec<Patient> {
    if let Some(domains) = domains {
        for p in &mut items {
            p.record
                .identifiers
                .retain(|i| domains.iter().any(|d| d == &i.system));
        }
    }
    items
}

/// A search by name in a mode: the names from the in-memory index ([`crate::name_search`]),
/// the other criteria from the database among those hits, best score first.
async fn search_by_mode(
    mpi: &Mpi,
    ctx: &Ctx,
    query: PatientQuery,
    mode: SearchMode,
    page: u64,
    per_page: u64,
) -> Result<Page<Patient>> {
    if query.name.is_some() {
        return Err(Error::validation(
            "name",
            "a search mode applies to family and given; search by those",
        ));
    }
    // One pass over the index: on the rayon pool, not on the async runtime.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (scan_mpi, family, given) = (mpi.clone(), query.family.clone(), query.given.clone());
    rayon::spawn(move || {
        let index = scan_mpi.index().read();
        let _ = tx.send(crate::name_search::find(
            &index,
            family.as_deref(),
            given.as_deref(),
            mode,
        ));
    });
    let hits = rx
        .await
        .map_err(|_| Error::Db(sea_orm::DbErr::Custom("name search failed".to_owned())))??;
    let cond = other_criteria(mpi, &query).await?;
    let (total, ids, items) = with_snapshot!(mpi, |conn| {
        let hit_ids: Vec<Uuid> = hits.iter().map(|(id, _)| *id).collect();
        let mut kept = HashSet::new();
        for part in hit_ids.chunks(500) {
            let rows: Vec<Uuid> = patient::Entity::find_live()
                .filter(cond.clone())
                .filter(patient::Column::Id.is_in(part.to_vec()))
                .select_only()
                .column(patient::Column::Id)
                .into_tuple()
                .all(conn)
                .await?;
            kept.extend(rows);
        }
        let matching: Vec<(Uuid, SearchHit)> = hits
            .iter()
            .filter(|(id, _)| kept.contains(id))
            .copied()
            .collect();
        let total = matching.len() as u64;
        let skip = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
        let page_hits: Vec<(Uuid, SearchHit)> = matching
            .into_iter()
            .skip(skip)
            .take(usize::try_from(per_page).unwrap_or(usize::MAX))
            .collect();
        let ids: Vec<Uuid> = page_hits.iter().map(|(id, _)| *id).collect();
        let mut loaded: std::collections::HashMap<Uuid, PatientRecord> =
            PatientRecord::load_many(conn, &ids)
                .await?
                .into_iter()
                .map(|r| (r.patient.id, r))
                .collect();
        let domains = mpi.domains();
        let mut items: Vec<Patient> = page_hits
            .iter()
            .filter_map(|(id, hit)| {
                let mut patient = Patient::from_record(loaded.remove(id)?);
                domains.render_patient(&mut patient);
                patient.found = Some(*hit);
                Some(patient)
            })
            .collect();
        crate::mothers::show_mothers(conn, &domains, &mut items).await?;
        Ok::<_, Error>((total, ids, items))
    })?;
    mpi.audit_read(
        ctx,
        AuditEntry::new("search", "patient", None)
            .before(audit::json(&query))
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

#[cfg(test)]
mod tests {
    use super::{case_variants, prefix_range};
    use sea_orm::DbBackend;

    #[test]
    fn search_text_is_folded_as_the_database_folds_it() {
        assert_eq!(case_variants(" ÖZTÜRK ", DbBackend::Postgres), ["öztürk"]);
        // SQLite's lower() leaves every letter outside ASCII as it is: the text as written, and
        // with the other letters small or capital, as a stored name may have them.
        assert_eq!(
            case_variants(" ÖZTÜRK ", DbBackend::Sqlite),
            ["ÖztÜrk", "öztürk"]
        );
        assert_eq!(
            case_variants("müller", DbBackend::Sqlite),
            ["müller", "mÜller"]
        );
        assert_eq!(
            case_variants("Müller", DbBackend::Sqlite),
            ["müller", "mÜller"]
        );
        assert_eq!(case_variants("Smith", DbBackend::Sqlite), ["smith"]);
        // A letter whose capital is two letters keeps its small form.
        assert_eq!(case_variants("Weiß", DbBackend::Sqlite), ["weiß"]);
    }

    #[test]
    fn prefix_ranges_hold_exactly_the_strings_with_the_prefix() {
        assert_eq!(
            prefix_range("smi"),
            Some(("smi".to_owned(), Some("smj".to_owned())))
        );
        assert_eq!(
            prefix_range("zoë"),
            Some(("zoë".to_owned(), Some("zoì".to_owned())))
        );
        // The character after U+D7FF is U+E000 (surrogates are not characters).
        assert_eq!(
            prefix_range("a\u{d7ff}").unwrap().1.as_deref(),
            Some("a\u{e000}")
        );
        assert_eq!(prefix_range("a\u{10ffff}").unwrap().1, None);
        assert_eq!(prefix_range(""), None);
        let (low, high) = prefix_range("ngu").unwrap();
        let high = high.unwrap();
        for inside in ["ngu", "nguyen", "ngu zzz", "ngu\u{10ffff}"] {
            assert!(low.as_str() <= inside && inside < high.as_str(), "{inside}");
        }
        for outside in ["ng", "ngt", "ngv", "nh"] {
            assert!(
                !(low.as_str() <= outside && outside < high.as_str()),
                "{outside}"
            );
        }
    }
}
