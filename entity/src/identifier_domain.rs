//! `identifier_domain`: an assigning authority of identifiers, known by a namespace (`name`,
//! HL7 HD.1), an OID (HD.2) and a URL (FHIR `Identifier.system`); each is unique.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "identifier_domain")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub oid: Option<String>,
    pub url: Option<String>,
    pub description: Option<String>,
    pub links_records: bool,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
}

impl ActiveModelBehavior for ActiveModel {}
