//! Organizations as patients refer to them (managing organization, identifier assigners): the
//! check that the ones a record names exist, and reading them for a search's `_include`, so that
//! no face queries the organization table.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use entity::organization;

use crate::patients::PatientInput;
use crate::{Error, Mpi, Result};

/// The organizations a record refers to, with the field (service path) naming each.
pub fn referenced_by(input: &PatientInput) -> Vec<(String, Uuid)> {
    let mut out: Vec<(String, Uuid)> = input
        .managing_organization_id
        .map(|o| ("managing_organization_id".to_owned(), o))
        .into_iter()
        .collect();
    for (i, id) in input.identifiers.iter().enumerate() {
        if let Some(o) = id.assigner {
            out.push((format!("identifiers[{i}].assigner"), o));
        }
    }
    out
}

/// Fails with a validation error on the first field of `input` that names an organization the
/// database does not hold (`managing_organization_id`, `identifiers[n].assigner`). One query.
pub async fn check_referenced(mpi: &Mpi, input: &PatientInput) -> Result<()> {
    let wanted = referenced_by(input);
    if wanted.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = wanted.iter().map(|(_, id)| *id).collect();
    let found: HashSet<Uuid> = organization::Entity::find()
        .select_only()
        .column(organization::Column::Id)
        .filter(organization::Column::Id.is_in(ids))
        .into_tuple::<Uuid>()
        .all(mpi.db())
        .await?
        .into_iter()
        .collect();
    match wanted.into_iter().find(|(_, id)| !found.contains(id)) {
        Some((field, _)) => Err(Error::validation(field, "no such Organization")),
        None => Ok(()),
    }
}

/// An organization as a patient search's `_include=Patient:organization` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Organization {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Other names.
    pub aliases: Vec<String>,
    /// Whether it is in use.
    pub active: bool,
    /// The organization it is part of.
    pub part_of: Option<Uuid>,
    /// Its identifiers: (system, value).
    pub identifiers: Vec<(String, String)>,
}

/// Most organizations one call reads.
pub const MAX_READ: usize = 500;

/// The organizations with these ids that exist, in the order of `ids` (each once; unknown ids
/// are left out). Two queries; at most [`MAX_READ`] ids.
pub async fn get_many(mpi: &Mpi, ids: &[Uuid]) -> Result<Vec<Organization>> {
    let mut wanted: Vec<Uuid> = Vec::with_capacity(ids.len());
    for id in ids {
        if !wanted.contains(id) {
            wanted.push(*id);
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    crate::limits::check_count("organizations", wanted.len(), MAX_READ)?;
    let rows = organization::Entity::find()
        .filter(organization::Column::Id.is_in(wanted.clone()))
        .all(mpi.db())
        .await?;
    let identifiers = entity::organization_identifier::Entity::find()
        .filter(entity::organization_identifier::Column::OrganizationId.is_in(wanted.clone()))
        .order_by_asc(entity::organization_identifier::Column::CreatedAt)
        .all(mpi.db())
        .await?;
    Ok(wanted
        .iter()
        .filter_map(|id| rows.iter().find(|r| r.id == *id))
        .map(|r| Organization {
            id: r.id,
            name: r.name.clone(),
            aliases: r.aliases.0.clone(),
            active: r.active,
            part_of: r.part_of,
            identifiers: identifiers
                .iter()
                .filter(|i| i.organization_id == r.id)
                .map(|i| (i.system.clone(), i.value.clone()))
                .collect(),
        })
        .collect())
}
