//! `patient_identifier`: a patient's identifiers (medical record number, social security number,
//! passport, ...). A system+value is unique among live patients, except that live records of one
//! person may share an identifier of a links-records domain (`link_key`).
//!
//! `patient_live` mirrors "the owning patient is active and not soft-deleted"; database triggers
//! maintain it and a partial unique index on `(system, value, link_key) WHERE patient_live`
//! enforces the uniqueness. When inserting, set it to `patient.active && patient.deleted_at.is_none()`
//! (PostgreSQL recomputes it anyway; SQLite corrects a wrong value with a follow-up UPDATE,
//! which then also shows in `change_log`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{IdentifierType, IdentifierUse};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "patient_identifier")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub source_patient_id: Option<Uuid>,
    pub is_primary: bool,
    pub period_start: Option<Date>,
    pub period_end: Option<Date>,
    pub r#use: Option<IdentifierUse>,
    pub r#type: Option<IdentifierType>,
    pub system: String,
    pub value: String,
    pub assigner_organization_id: Option<Uuid>,
    pub patient_live: bool,
    /// `""` for an identifier its record holds alone among live records; the record's own id
    /// when the service linked the record to another live record of the same person holding
    /// the same links-records identifier (migration 16). Absent from images stored before it.
    #[serde(default)]
    pub link_key: String,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
    #[sea_orm(belongs_to, relation_enum = "Patient", from = "patient_id", to = "id")]
    pub patient: BelongsTo<super::patient::Entity>,
    #[sea_orm(
        belongs_to,
        relation_enum = "SourcePatient",
        from = "source_patient_id",
        to = "id"
    )]
    pub source_patient: BelongsTo<Option<super::patient::Entity>>,
    #[sea_orm(belongs_to, from = "assigner_organization_id", to = "id")]
    pub assigner: BelongsTo<Option<super::organization::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
