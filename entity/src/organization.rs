//! `organization`: a facility that registers patients and assigns identifiers; `part_of` makes
//! a hierarchy (a department is part of a hospital).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::OrganizationType;
use crate::json_list::StringList;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// Other names the organization is known by.
    #[sea_orm(column_type = "JsonBinary")]
    pub aliases: StringList,
    pub r#type: Option<OrganizationType>,
    pub part_of: Option<Uuid>,
    pub active: bool,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
    #[sea_orm(self_ref, relation_enum = "PartOf", from = "part_of", to = "id")]
    pub parent: BelongsTo<Option<Entity>>,
    #[sea_orm(has_many)]
    pub identifiers: HasMany<super::organization_identifier::Entity>,
    #[sea_orm(has_many)]
    pub addresses: HasMany<super::organization_address::Entity>,
    #[sea_orm(has_many)]
    pub telecoms: HasMany<super::organization_telecom::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
