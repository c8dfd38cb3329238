//! `pix_consumer`: a subscriber to IHE PIX Update Notifications (ITI-10): where to send them
//! (an MLLP host and port) and which identifier domains it wants (`domains`, a JSON array of
//! domain names as text; `[]` for every domain). Names are unique. `tls` wraps the connection in
//! TLS, verifying the server against `tls_ca` (a PEM file; NULL: the Mozilla roots) and
//! presenting `tls_cert` / `tls_key` (PEM files) when given. `facility` is its receiving
//! facility (MSH-6 of the notifications; migration 26).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "pix_consumer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub host: String,
    pub port: i32,
    #[sea_orm(column_type = "Text")]
    pub domains: String,
    pub tls: bool,
    #[sea_orm(column_type = "Text")]
    pub tls_ca: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub tls_cert: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub tls_key: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub facility: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
}

impl ActiveModelBehavior for ActiveModel {}
