//! `patient`: one registered patient record (FHIR R4 Patient). Records judged to be the same
//! person share a `person_id`. Soft-deleted records keep their rows with `deleted_at` set; use
//! `Entity::find_live()` (in `patient_ext`) for the default view.
//!
//! `multiple_birth` is FHIR's `multipleBirth[x]` split in two: `multiple_birth` is the boolean
//! (`None` = not known) and `multiple_birth_order` the birth order (1, 2, ...), which the
//! database only accepts together with `multiple_birth = Some(true)`.
//! `birth_date_precision` says how much of `birth_date` is known (a partial date is stored as the
//! first day of its year or month); `None` (rows from before migration 19) is a full date.
//! The mother's maiden name and identifier (HL7 v2 PID-6 and PID-21, FHIR's
//! `patient-mothersMaidenName`) are kept as given; `mother_patient_id` is the mother's record when
//! the identifier named a live one at write time (migration 20; absent from older images).
//! `version` starts at 1 and is raised by one on every update (optimistic concurrency).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{DatePrecision, Gender, MaritalStatus};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "patient")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub active: bool,
    pub gender: Option<Gender>,
    pub birth_date: Option<Date>,
    /// How much of `birth_date` is known; `None` reads as a full date. Absent from images
    /// stored before migration 19.
    #[serde(default)]
    pub birth_date_precision: Option<DatePrecision>,
    pub deceased: bool,
    pub deceased_at: Option<DateTimeWithTimeZone>,
    pub marital_status: Option<MaritalStatus>,
    pub multiple_birth: Option<bool>,
    pub multiple_birth_order: Option<i32>,
    pub managing_organization_id: Option<Uuid>,
    /// Mother's maiden family name (PID-6.1).
    #[serde(default)]
    pub mother_maiden_family: Option<String>,
    /// Mother's maiden given name (PID-6.2).
    #[serde(default)]
    pub mother_maiden_given: Option<String>,
    /// System of the mother's identifier (PID-21.4).
    #[serde(default)]
    pub mother_identifier_system: Option<String>,
    /// Value of the mother's identifier (PID-21.1).
    #[serde(default)]
    pub mother_identifier_value: Option<String>,
    /// The mother's record, when her identifier resolved to a live one.
    #[serde(default)]
    pub mother_patient_id: Option<Uuid>,
    pub version: i32,
    pub deleted_at: Option<DateTimeWithTimeZone>,
    pub deleted_by: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
    #[sea_orm(belongs_to, from = "managing_organization_id", to = "id")]
    pub managing_organization: BelongsTo<Option<super::organization::Entity>>,
    #[sea_orm(has_many, relation_enum = "Names", via_rel = "Patient")]
    pub names: HasMany<super::patient_name::Entity>,
    #[sea_orm(has_many, relation_enum = "Identifiers", via_rel = "Patient")]
    pub identifiers: HasMany<super::patient_identifier::Entity>,
    #[sea_orm(has_many, relation_enum = "Addresses", via_rel = "Patient")]
    pub addresses: HasMany<super::patient_address::Entity>,
    #[sea_orm(has_many, relation_enum = "Telecoms", via_rel = "Patient")]
    pub telecoms: HasMany<super::patient_telecom::Entity>,
    #[sea_orm(has_many, relation_enum = "Links", via_rel = "Patient")]
    pub links: HasMany<super::patient_link::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
