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

/// Longest organization name or identifier text a feed may store.
pub const MAX_TEXT: usize = 255;
/// Most identifiers one organization may carry.
pub const MAX_IDENTIFIERS: usize = 20;

/// An organization as a PMIR feed registers it beside its patients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrganizationInput {
    /// Its name.
    pub name: String,
    /// Whether it is in use.
    pub active: bool,
    /// Its identifiers: (system, value).
    pub identifiers: Vec<(String, String)>,
}

/// Checks an organization's bounds: a name, at most [`MAX_IDENTIFIERS`] identifiers with a
/// system and a value each, no text longer than [`MAX_TEXT`] bytes.
pub fn check_input(input: &OrganizationInput) -> Result<()> {
    if input.name.trim().is_empty() {
        return Err(Error::validation("name", "is required"));
    }
    if input.name.len() > MAX_TEXT {
        return Err(Error::validation(
            "name",
            format!("is longer than {MAX_TEXT} bytes"),
        ));
    }
    crate::limits::check_count("identifiers", input.identifiers.len(), MAX_IDENTIFIERS)?;
    for (i, (system, value)) in input.identifiers.iter().enumerate() {
        for text in [system, value] {
            if text.trim().is_empty() {
                return Err(Error::validation(
                    format!("identifiers[{i}]"),
                    "needs both a system and a value",
                ));
            }
            if text.len() > MAX_TEXT {
                return Err(Error::validation(
                    format!("identifiers[{i}]"),
                    format!("is longer than {MAX_TEXT} bytes"),
                ));
            }
        }
    }
    Ok(())
}

/// Stores an organization inside a feed's transaction: the one already holding any of its
/// identifiers is kept (its name and `active` updated), else a new one is created with the id
/// `proposed`. Answers the organization's id and whether it was created. Audited.
pub(crate) async fn upsert_in(
    ctx: &crate::Ctx,
    txn: &crate::WriteTxn,
    proposed: Uuid,
    input: &OrganizationInput,
) -> Result<(Uuid, bool)> {
    use entity::organization_identifier;
    use sea_orm::ActiveValue::{NotSet, Set};
    use sea_orm::Condition;

    let mut any = Condition::any();
    for (system, value) in &input.identifiers {
        any = any.add(
            Condition::all()
                .add(organization_identifier::Column::System.eq(system.trim()))
                .add(organization_identifier::Column::Value.eq(value.trim())),
        );
    }
    let holders: Vec<Uuid> = if input.identifiers.is_empty() {
        Vec::new()
    } else {
        organization_identifier::Entity::find()
            .select_only()
            .column(organization_identifier::Column::OrganizationId)
            .filter(any)
            .into_tuple::<Uuid>()
            .all(&**txn)
            .await?
    };
    let holders: Vec<Uuid> = holders
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let actor = ctx.actor.name.clone();
    let (id, created) = match holders.as_slice() {
        [] => {
            organization::Entity::insert(organization::ActiveModel {
                id: Set(proposed),
                name: Set(input.name.trim().to_owned()),
                aliases: Set(Default::default()),
                r#type: Set(None),
                part_of: Set(None),
                active: Set(input.active),
                created_at: NotSet,
                updated_at: NotSet,
                created_by: Set(actor.clone()),
                updated_by: Set(actor.clone()),
            })
            .exec_without_returning(&**txn)
            .await?;
            (proposed, true)
        }
        [id] => {
            organization::Entity::update_many()
                .col_expr(
                    organization::Column::Name,
                    sea_orm::sea_query::Expr::value(input.name.trim().to_owned()),
                )
                .col_expr(
                    organization::Column::Active,
                    sea_orm::sea_query::Expr::value(input.active),
                )
                .col_expr(
                    organization::Column::UpdatedBy,
                    sea_orm::sea_query::Expr::value(actor.clone()),
                )
                .col_expr(
                    organization::Column::UpdatedAt,
                    sea_orm::sea_query::Expr::value(chrono::Utc::now().fixed_offset()),
                )
                .filter(organization::Column::Id.eq(*id))
                .exec(&**txn)
                .await?;
            (*id, false)
        }
        _ => {
            return Err(Error::conflict(
                "multiple_matches",
                "more than one Organization holds these identifiers",
            ));
        }
    };
    let known: Vec<(String, String)> = organization_identifier::Entity::find()
        .filter(organization_identifier::Column::OrganizationId.eq(id))
        .all(&**txn)
        .await?
        .into_iter()
        .map(|r| (r.system, r.value))
        .collect();
    for (system, value) in &input.identifiers {
        let pair = (system.trim().to_owned(), value.trim().to_owned());
        if known.contains(&pair) {
            continue;
        }
        organization_identifier::Entity::insert(organization_identifier::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(id),
            r#type: Set(None),
            system: Set(pair.0),
            value: Set(pair.1),
            period_start: Set(None),
            period_end: Set(None),
            created_at: NotSet,
            updated_at: NotSet,
            created_by: Set(actor.clone()),
            updated_by: Set(actor.clone()),
        })
        .exec_without_returning(&**txn)
        .await?;
    }
    crate::audit::record(
        &**txn,
        ctx,
        crate::audit::AuditEntry::new(
            if created { "create" } else { "update" },
            "organization",
            Some(id.to_string()),
        ),
    )
    .await?;
    Ok((id, created))
}
