//! `patient_name`: a patient's names (FHIR HumanName). `given`, `prefix` and `suffix` are JSON
//! lists. `source_patient_id` is set on a name a merge copied from the retired record.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::NameUse;
use crate::json_list::StringList;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "patient_name")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub source_patient_id: Option<Uuid>,
    pub is_primary: bool,
    pub period_start: Option<Date>,
    pub period_end: Option<Date>,
    pub r#use: Option<NameUse>,
    /// The full name as written, when it was given that way.
    pub text: Option<String>,
    pub family: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub given: StringList,
    #[sea_orm(column_type = "JsonBinary")]
    pub prefix: StringList,
    #[sea_orm(column_type = "JsonBinary")]
    pub suffix: StringList,
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
