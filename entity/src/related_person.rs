//! `related_person`: a person related to a patient (FHIR RelatedPerson): the relationship as a
//! v3-RoleCode code (`MTH`, `FTH`, `GUARD`, `NOK`...), names, identifiers, telecoms,
//! addresses and languages as JSON lists (the service's input shapes), soft-deleted like patients
//! (`deleted_at`), `version` raised by one on every update.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{DatePrecision, Gender};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "related_person")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub relationship: String,
    pub active: bool,
    pub gender: Option<Gender>,
    pub birth_date: Option<Date>,
    pub birth_date_precision: Option<DatePrecision>,
    #[sea_orm(column_type = "JsonBinary")]
    pub names: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub identifiers: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub telecoms: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub addresses: Json,
    /// Languages (FHIR `RelatedPerson.communication`, migration 28).
    #[sea_orm(column_type = "JsonBinary")]
    pub communications: Json,
    pub version: i32,
    pub deleted_at: Option<DateTimeWithTimeZone>,
    pub deleted_by: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
}

impl ActiveModelBehavior for ActiveModel {}
