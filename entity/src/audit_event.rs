//! `audit_event`: the append-only, hash-chained audit trail (the database rejects UPDATE and
//! DELETE). Each row carries the previous row's hash in `prev_hash`, and two writers appending
//! after the same row cannot fork the chain: the second is refused and must retry on the new
//! head (on both engines a trigger admits only a row whose `prev_hash` is the hash of the last
//! row).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::Role;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub occurred_at: DateTimeWithTimeZone,
    /// The API key name (or another actor name).
    pub actor: String,
    pub role: Option<Role>,
    /// What was done, e.g. `patient.create`.
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub before: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub after: Option<Json>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
}

impl ActiveModelBehavior for ActiveModel {}
