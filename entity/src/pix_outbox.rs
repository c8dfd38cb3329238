//! `pix_outbox`: the durable queue of PIX Update Notifications (ITI-10), one row per consumer
//! and person whose set of identifiers changed. Written only by database triggers, in the
//! transaction of the change (migration 17); the server's notification task reads a consumer's
//! rows in `seq` order and deletes them once the consumer has acknowledged.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "pix_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub consumer_id: Uuid,
    pub person_id: Uuid,
    pub created_at: DateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
