//! `patient_link`: a link from one patient record to another (FHIR Patient.link): `replaced-by` /
//! `replaces` after a merge, `seealso` / `refer` otherwise. One row per direction; a pair has at
//! most one link of each type.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{LinkOrigin, LinkType};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "patient_link")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub other_patient_id: Uuid,
    pub r#type: LinkType,
    /// Whether a person or the matcher made the link.
    pub origin: LinkOrigin,
    pub reason: Option<String>,
    /// The match probability behind the link, when the matcher proposed it.
    pub score: Option<f64>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
    #[sea_orm(belongs_to, relation_enum = "Patient", from = "patient_id", to = "id")]
    pub patient: BelongsTo<super::patient::Entity>,
    #[sea_orm(
        belongs_to,
        relation_enum = "OtherPatient",
        from = "other_patient_id",
        to = "id"
    )]
    pub other_patient: BelongsTo<super::patient::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
