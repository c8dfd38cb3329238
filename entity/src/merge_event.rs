//! `merge_event`: one merge of a source (retired) record into a target (survivor), with the
//! complete before-images of both records (the patient row, every child row and every link, as
//! JSON; `patient_ext::PatientRecord` serialises to exactly that) so the merge can be undone
//! exactly. `changes` describes what the merge did (free-form JSON for the service).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "merge_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The survivor.
    pub target_patient_id: Uuid,
    /// The retired record.
    pub source_patient_id: Uuid,
    /// The review task the merge decided, if any.
    pub review_task_id: Option<Uuid>,
    pub actor: String,
    pub merged_at: DateTimeWithTimeZone,
    #[sea_orm(column_type = "JsonBinary")]
    pub target_before: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub source_before: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub changes: Json,
    pub undone_at: Option<DateTimeWithTimeZone>,
    pub undone_by: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub created_by: String,
    pub updated_by: String,
    #[sea_orm(
        belongs_to,
        relation_enum = "Target",
        from = "target_patient_id",
        to = "id"
    )]
    pub target: BelongsTo<super::patient::Entity>,
    #[sea_orm(
        belongs_to,
        relation_enum = "Source",
        from = "source_patient_id",
        to = "id"
    )]
    pub source: BelongsTo<super::patient::Entity>,
    #[sea_orm(belongs_to, from = "review_task_id", to = "id")]
    pub review_task: BelongsTo<Option<super::review_task::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
