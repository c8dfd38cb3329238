//! `source`: a system that sends patients (for HL7 v2 the sending application and facility),
//! with its role and, optionally, a hashed shared secret. Names are unique.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "source")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub facility: Option<String>,
    pub role: String,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
}

impl ActiveModelBehavior for ActiveModel {}
