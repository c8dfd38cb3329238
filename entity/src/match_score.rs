//! `match_score`: a scored pair of patient records from one model version. The pair is stored
//! in canonical order (`patient_a < patient_b`, see `pair::ordered_pair`); one row per pair and
//! model version.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "match_score")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_a: Uuid,
    pub patient_b: Uuid,
    /// Match probability in 0..=1.
    pub probability: f64,
    /// Fellegi-Sunter match weight (log2 of the Bayes factor).
    pub match_weight: f64,
    /// Per-field explanation of the score.
    #[sea_orm(column_type = "JsonBinary")]
    pub breakdown: Json,
    pub model_version: String,
    pub computed_at: DateTimeWithTimeZone,
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
