//! `fhir_subscription_outbox`: the durable queue of PMIR notifications, one row per delivering
//! subscription and patient created, updated or deleted (`event`). Written only by database
//! triggers on `patient`, in the transaction of the change (migration 27); the server's
//! delivery task reads a subscription's rows in `seq` order and deletes them once the endpoint
//! answered 2xx.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "fhir_subscription_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub subscription_id: Uuid,
    pub patient_id: Uuid,
    pub event: String,
    pub created_at: DateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
