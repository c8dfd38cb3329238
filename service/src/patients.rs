//! Patients: the input and view types, validation, and the use cases register (with the
//! duplicate check), get, update (optimistic concurrency), soft delete and search.
//!
//! Every use case runs in one write transaction that also appends its audit row; reads are
//! audited too (action `read` / `search`, entity `patient`).

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition,
    ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    SqlErr,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use entity::enums::{
    AddressType, AddressUse, Gender, IdentifierType, IdentifierUse, LinkType, MaritalStatus,
    NameUse, TelecomSystem, TelecomUse,
};
use entity::json_list::StringList;
use entity::patient_ext::PatientRecord;
use entity::{patient, patient_address, patient_identifier, patient_name, patient_telecom};

use crate::audit::{self, AuditEntry};
use crate::keys::Action;
use crate::matching::{self, MatchCandidate, MatchOptions};
use crate::{Ctx, Error, Mpi, Page, Result, page_bounds};

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

/// A patient as given to register or update. Lists are ordered: the first item of each is
/// stored as the primary one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientInput {
    /// Whether the record is in use.
    pub active: bool,
    /// Administrative gender.
    pub gender: Option<Gender>,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
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
}

impl Default for PatientInput {
    fn default() -> Self {
        Self {
            active: true,
            gender: None,
            birth_date: None,
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
        }
    }
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
    /// Checks the values: at least one name with a family or given name, no blank name parts,
    /// birth date not in the future, death not before birth, multiple-birth order only with
    /// `multiple_birth = true` and positive, identifier system and value present and not
    /// repeated, telecom values present. Errors name the field as a path (`names[0].family`).
    pub fn validate(&self) -> Result<()> {
        let today = Utc::now().date_naive();
        if let Some(b) = self.birth_date {
            if b > today {
                return Err(Error::validation("birth_date", "is in the future"));
            }
            if b.year_ce().1 < 1850 {
                return Err(Error::validation("birth_date", "is before 1850"));
            }
        }
        if let Some(d) = self.deceased_at {
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
        if self.names.is_empty() {
            return Err(Error::validation("names", "at least one name is required"));
        }
        let mut any_name = false;
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
        Ok(())
    }
}

use chrono::Datelike;

/// A patient as the service returns it: the stored record with every child row and link, and
/// the record that replaced it when it was merged away.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    /// The stored rows.
    pub record: PatientRecord,
    /// The surviving record, when this one was merged away (its `replaced-by` link).
    pub replaced_by: Option<Uuid>,
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
    Duplicates(Vec<MatchCandidate>),
}
