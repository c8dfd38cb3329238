//! Hand-written queries over patients: the default views that leave soft-deleted records out,
//! and `PatientRecord`, a patient with all its child rows and links (the shape the API returns
//! and the before-image a merge stores).

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{Condition, QueryOrder, Select};
use serde::{Deserialize, Serialize};

use crate::{
    patient, patient_address, patient_identifier, patient_link, patient_name, patient_telecom,
};

impl patient::Entity {
    /// All patients that are not soft-deleted: the default query. Inactive (merged-away)
    /// records are included; they still answer "which record replaced me".
    pub fn find_live() -> Select<patient::Entity> {
        Self::find().filter(patient::Column::DeletedAt.is_null())
    }

    /// One patient by id, unless it is soft-deleted.
    pub fn find_live_by_id(id: Uuid) -> Select<patient::Entity> {
        Self::find_live().filter(patient::Column::Id.eq(id))
    }

    /// Patients that are not soft-deleted and active: the records matching works on and whose
    /// identifiers must be unique.
    pub fn find_active() -> Select<patient::Entity> {
        Self::find_live().filter(patient::Column::Active.eq(true))
    }
}

impl patient::Model {
    /// Whether the record is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Whether the record is active and not soft-deleted: the value its identifiers'
    /// `patient_live` flag must have.
    pub fn identifiers_live(&self) -> bool {
        self.active && self.deleted_at.is_none()
    }
}

impl patient_identifier::Entity {
    /// The identifier rows of live patients with this system and value (at most one row).
    pub fn find_live_by_system_value(system: &str, value: &str) -> Select<Self> {
        Self::find()
            .filter(patient_identifier::Column::System.eq(system))
            .filter(patient_identifier::Column::Value.eq(value))
            .filter(patient_identifier::Column::PatientLive.eq(true))
    }
}

impl patient_name::Entity {
    /// Names whose family name equals `family` ignoring case, as `lower(family) = lower($1)`,
    /// which the `idx_patient_name_family_lower` index serves on both engines. (SQLite's
    /// `lower` folds ASCII letters only; PostgreSQL's folds all of Unicode.)
    pub fn find_by_family(family: &str) -> Select<Self> {
        Self::find().filter(
            Expr::expr(Func::lower(Expr::col(patient_name::Column::Family)))
                .eq(Func::lower(Expr::val(family.to_owned()))),
        )
    }
}

/// A patient with every child row and every link that mentions it.
///
/// Child rows come primary first, then by creation time, then by id; links by id. Serialised
/// with serde it is the complete before-image a merge stores in `merge_event`. Load it inside
/// the merge's transaction (`load` takes any connection, a `DatabaseTransaction` too) so the
/// image is consistent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatientRecord {
    pub patient: patient::Model,
    pub names: Vec<patient_name::Model>,
    pub identifiers: Vec<patient_identifier::Model>,
    pub addresses: Vec<patient_address::Model>,
    pub telecoms: Vec<patient_telecom::Model>,
    /// Links from this patient and links to it.
    pub links: Vec<patient_link::Model>,
}

impl PatientRecord {
    /// Loads the record with id `id`, soft-deleted or not; `None` if there is no such patient.
    pub async fn load<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<Self>, DbErr> {
        let Some(patient) = patient::Entity::find_by_id(id).one(db).await? else {
            return Ok(None);
        };
        let names = patient_name::Entity::find()
            .filter(patient_name::Column::PatientId.eq(id))
            .order_by_desc(patient_name::Column::IsPrimary)
            .order_by_asc(patient_name::Column::CreatedAt)
            .order_by_asc(patient_name::Column::Id)
            .all(db)
            .await?;
        let identifiers = patient_identifier::Entity::find()
            .filter(patient_identifier::Column::PatientId.eq(id))
            .order_by_desc(patient_identifier::Column::IsPrimary)
            .order_by_asc(patient_identifier::Column::CreatedAt)
            .order_by_asc(patient_identifier::Column::Id)
            .all(db)
            .await?;
        let addresses = patient_address::Entity::find()
            .filter(patient_address::Column::PatientId.eq(id))
            .order_by_desc(patient_address::Column::IsPrimary)
            .order_by_asc(patient_address::Column::CreatedAt)
            .order_by_asc(patient_address::Column::Id)
            .all(db)
            .await?;
        let telecoms = patient_telecom::Entity::find()
            .filter(patient_telecom::Column::PatientId.eq(id))
            .order_by_desc(patient_telecom::Column::IsPrimary)
            .order_by_asc(patient_telecom::Column::CreatedAt)
            .order_by_asc(patient_telecom::Column::Id)
            .all(db)
            .await?;
        let links = patient_link::Entity::find()
            .filter(
                Condition::any()
                    .add(patient_link::Column::PatientId.eq(id))
                    .add(patient_link::Column::OtherPatientId.eq(id)),
            )
            .order_by_asc(patient_link::Column::Id)
            .all(db)
            .await?;
        Ok(Some(PatientRecord {
            patient,
            names,
            identifiers,
            addresses,
            telecoms,
            links,
        }))
    }
}
