//! `organization_identifier`: an organization's identifiers (NPI, tax id, ...); a system+value
//! belongs to one organization.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::IdentifierType;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "organization_identifier")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub r#type: Option<IdentifierType>,
    pub system: String,
    pub value: String,
    pub period_start: Option<Date>,
    pub period_end: Option<Date>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
    #[sea_orm(belongs_to, from = "organization_id", to = "id")]
    pub organization: BelongsTo<super::organization::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
