//! `review_task`: the data stewards' queue. One task per unordered pair, stored in canonical
//! order (`patient_a < patient_b`, see `pair::ordered_pair`), so a `not_duplicate` decision
//! stays with the pair. An open task has no decision fields; a decided one has `decided_by`
//! and `decided_at` (a database CHECK holds both rules).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::ReviewStatus;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "review_task")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_a: Uuid,
    pub patient_b: Uuid,
    pub probability: f64,
    pub match_weight: f64,
    /// Per-field explanation of the score.
    #[sea_orm(column_type = "JsonBinary")]
    pub breakdown: Json,
    pub status: ReviewStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTimeWithTimeZone>,
    pub note: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
    #[sea_orm(belongs_to, relation_enum = "PatientA", from = "patient_a", to = "id")]
    pub first: BelongsTo<super::patient::Entity>,
    #[sea_orm(belongs_to, relation_enum = "PatientB", from = "patient_b", to = "id")]
    pub second: BelongsTo<super::patient::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
