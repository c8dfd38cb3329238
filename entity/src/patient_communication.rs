//! `patient_communication`: a language the patient speaks (FHIR `Patient.communication`, HL7
//! v2 PID-15), as a coding, and whether the patient prefers it; the first row is the primary one.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "patient_communication")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub source_patient_id: Option<Uuid>,
    pub is_primary: bool,
    pub language_system: Option<String>,
    pub language_code: String,
    pub language_display: Option<String>,
    pub preferred: bool,
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
}

impl ActiveModelBehavior for ActiveModel {}
