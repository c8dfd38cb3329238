//! Organizations as patients refer to them (managing organization, identifier assigners): the
//! check that the ones a record names exist, so that no face queries the organization table.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
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
