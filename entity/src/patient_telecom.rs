//! `patient_telecom`: a patient's phone numbers, e-mail addresses and the like (FHIR
//! ContactPoint); `rank` 1 is the preferred one.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{TelecomSystem, TelecomUse};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "patient_telecom")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub source_patient_id: Option<Uuid>,
    pub is_primary: bool,
    pub period_start: Option<Date>,
    pub period_end: Option<Date>,
    pub system: TelecomSystem,
    pub value: String,
    pub r#use: Option<TelecomUse>,
    pub rank: Option<i32>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
    /// The value without the punctuation a phone number may hold, reversed (`+1 (555) 123-4567`
    /// is `76543215551`); `None` for an e-mail address (migration 23). Derived from `system`
    /// and `value` by the service on every write (`service::search_criteria::
    /// phone_digits_reversed`), so that a search by the whole number (equality) or by its end
    /// (a prefix range) is answered by `idx_patient_telecom_digits_reversed`.
    pub digits_reversed: Option<String>,
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
