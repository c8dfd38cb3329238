//! `patient_address`: a patient's addresses (FHIR Address); `lines` is a JSON list.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{AddressType, AddressUse};
use crate::json_list::StringList;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "patient_address")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub source_patient_id: Option<Uuid>,
    pub is_primary: bool,
    pub period_start: Option<Date>,
    pub period_end: Option<Date>,
    pub r#use: Option<AddressUse>,
    pub r#type: Option<AddressType>,
    /// The address as written, when it was given that way.
    pub text: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub lines: StringList,
    pub city: Option<String>,
    pub district: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
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
