//! `change_log`: written only by database triggers, one row per INSERT, UPDATE or DELETE on the
//! patient tables (`patient`, its child tables and `patient_link`). Append-only: the database
//! rejects UPDATE and DELETE. Other processes catch up by reading rows with `seq` above the last
//! one they saw.
//!
//! `row_id` and every UUID inside `old_row`/`new_row` are canonical lowercase hyphenated text on
//! both engines; booleans are JSON booleans and JSON columns are embedded as JSON. Timestamps
//! are RFC 3339 text (PostgreSQL renders them in the session time zone).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::Operation;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "change_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub table_name: String,
    pub operation: Operation,
    pub row_id: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub old_row: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub new_row: Option<Json>,
    pub changed_at: DateTimeWithTimeZone,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    /// PostgreSQL: the session setting `mpi.actor` if set, else the database user.
    /// SQLite: `database`.
    pub created_by: String,
    pub updated_by: String,
}

impl ActiveModelBehavior for ActiveModel {}
