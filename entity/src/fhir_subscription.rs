//! `fhir_subscription`: a FHIR R4 Subscription of IHE PMIR (ITI-94): which Patients (`criteria`,
//! `Patient` or `Patient?_id=`, `?organization=`, `?identifier=`), where to deliver their Mobile
//! Patient Identity Feed messages (`channel_type` `message` or `rest-hook`, an http(s)
//! `endpoint`, `headers` a JSON array of `Name: value` strings as text, `payload` the MIME
//! type), and its `status` (`requested`, `active`, `error` with `error` the reason, `off`).
//! `contact` is its ContactPoint as FHIR JSON text. Migration 27.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "fhir_subscription")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub criteria: String,
    pub channel_type: String,
    #[sea_orm(column_type = "Text")]
    pub endpoint: String,
    pub payload: String,
    #[sea_orm(column_type = "Text")]
    pub headers: String,
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub contact: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
}

impl ActiveModelBehavior for ActiveModel {}
