//! Cross-referencing (IHE PIX): from one identifier to the person's enterprise id, its live
//! records and their identifiers in the other domains. One use case for REST, HL7 v2 (QBP^Q23)
//! and FHIR (`$ihe-pix`).

use std::collections::HashSet;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use entity::enums::IdentifierType;
use entity::{patient, patient_identifier};

use crate::audit::AuditEntry;
use crate::domains::{Domain, UnknownDomains};
use crate::error::Refusal;
use crate::keys::Action;
use crate::{Ctx, Error, Mpi, Result};

/// Most target domains one query may name.
pub const MAX_TARGETS: usize = 50;
/// Longest identifier value or system accepted in a query.
pub const MAX_QUERY_TEXT: usize = 255;

/// A cross-reference query: an identifier, and optionally the domains wanted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct XrefQuery {
    /// The identifier's system (any name of its domain).
    pub system: String,
    /// The identifier's value.
    pub value: String,
    /// Domains wanted (any of their names); empty: every domain.
    pub targets: Vec<String>,
}

/// One identifier of the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XrefIdentifier {
    /// The system in its REST and FHIR form (the domain's URL, else `urn:oid:OID`).
    pub system: String,
    /// The value.
    pub value: String,
    /// The registered domain's namespace, when the system is a registered domain.
    pub domain: Option<String>,
    /// The HL7 v2 assigning authority (`NS&OID&ISO`), when registered.
    pub hl7_authority: Option<String>,
    /// The record holding it (`None` for the enterprise id).
    pub patient_id: Option<Uuid>,
}

/// The answer: the person, its live records and their identifiers in the other domains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xref {
    /// The enterprise id.
    pub person_id: Uuid,
    /// The person's live records (active, not deleted, not merged away).
    pub patient_ids: Vec<Uuid>,
    /// Their identifiers, the enterprise id first when wanted, never the queried identifier.
    pub identifiers: Vec<XrefIdentifier>,
}

fn check_text(field: &str, text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::validation(field, "is required"));
    }
    if text.len() > MAX_QUERY_TEXT {
        return Err(Error::validation(
            field,
            format!("is longer than {MAX_QUERY_TEXT} bytes"),
        ));
    }
    Ok(())
}

/// What a target names: a registered domain, or (accept mode) a system stored as it is.
enum Target<'a> {
    Domain(&'a Domain),
    Raw(String),
}

/// Answers a cross-reference query (registrar and up), audited as a read (`xref`).
///
/// 422 `unknown_domain` (field `identifier` or `target[n]`) for a system that is neither a
/// registered domain nor, in accept mode, a system any identifier is stored under; 404
/// `unknown_identifier` when no record holds the identifier. A merged-away record's identifiers
/// answer for its survivor's person.
pub async fn xref(mpi: &Mpi, ctx: &Ctx, query: XrefQuery) -> Result<Xref> {
    run(mpi, ctx, query, None).await
}

/// Answers a cross-reference query whose source is one of this server's own records, named by
/// its id (IHE PIXm ITI-83: `sourceIdentifier` may be the logical id of a FHIR Patient,
/// `BASE|Patient/{id}`). `query.system` and `query.value` say how the caller named it (they
/// are audited, never matched); `targets` as for [`xref`]. The answer is the record's person
/// (a merged-away record's is its survivor's): its identifiers and its live records but this
/// one, which the caller named. 404 `unknown_identifier` when no record that is not deleted has
/// the id.
pub async fn xref_record(mpi: &Mpi, ctx: &Ctx, id: Uuid, query: XrefQuery) -> Result<Xref> {
    run(mpi, ctx, query, Some(id)).await
}

async fn run(mpi: &Mpi, ctx: &Ctx, query: XrefQuery, record: Option<Uuid>) -> Result<Xref> {
    ctx.authorize(Action::Xref)?;
    check_text("identifier", &query.system)?;
    check_text("identifier", &query.value)?;
    if query.targets.len() > MAX_TARGETS {
        return Err(Error::validation(
            "target",
            format!("names more than {MAX_TARGETS} domains"),
        ));
    }
    let registry = mpi.domains();
    let accept = registry.unknown_domains() == UnknownDomains::Accept;
    let mut in_use: Option<HashSet<String>> = None;
    let mut targets = Vec::with_capacity(query.targets.len());
    for (n, t) in query.targets.iter().enumerate() {
        check_text(&format!("target[{n}]"), t)?;
        match registry.resolve(t) {
            Some(d) => targets.push(Target::Domain(d)),
            None => {
                if accept {
                    if in_use.is_none() {
                        in_use = Some(
                            patient_identifier::Entity::systems_in_use(mpi.db())
                                .await?
                                .into_iter()
                                .collect(),
                        );
                    }
                    if in_use.as_ref().is_some_and(|s| s.contains(t.trim())) {
                        targets.push(Target::Raw(t.trim().to_owned()));
                        continue;
                    }
                }
                return Err(Error::refused(
                    Refusal::Invalid,
                    "unknown_domain",
                    format!("target[{n}]"),
                    crate::domains::unknown_domain_message(t),
                ));
            }
        }
    }
    let value = query.value.trim();
    let queried = match record {
        Some(_) => None,
        None => registry.resolve(&query.system),
    };
    let unknown_identifier = || {
        Error::refused(
            Refusal::Unknown,
            "unknown_identifier",
            "identifier",
            "no record holds this identifier",
        )
    };
    let unknown_domain = || {
        Error::refused(
            Refusal::Invalid,
            "unknown_domain",
            "identifier",
            crate::domains::unknown_domain_message(&query.system),
        )
    };
    // A record named by its id needs no domain.
    let bookkeeping = record.is_some() || crate::domains::is_import_system(&query.system);
    if queried.is_none() && !accept && !bookkeeping {
        return Err(unknown_domain());
    }
    let answer = with_snapshot!(mpi, |conn| {
        // The person: from the enterprise id itself, or from the holders of the identifier
        // (live ones first; a merged-away holder carries its survivor's person_id).
        let person_id = match (record, queried) {
            // The record itself (merged away, it carries its survivor's person_id).
            (Some(id), _) => {
                patient::Entity::find_live()
                    .select_only()
                    .column(patient::Column::PersonId)
                    .filter(patient::Column::Id.eq(id))
                    .into_tuple::<Uuid>()
                    .one(conn)
                    .await?
            }
            (None, Some(d)) if d.enterprise => {
                let id = Uuid::parse_str(value).map_err(|_| unknown_identifier())?;
                patient::Entity::find_live()
                    .select_only()
                    .column(patient::Column::PersonId)
                    .filter(patient::Column::PersonId.eq(id))
                    .limit(1)
                    .into_tuple::<Uuid>()
                    .one(conn)
                    .await?
            }
            _ => {
                let systems = registry.aliases_of(&query.system);
                let holders: Vec<(Uuid, bool)> =
                    patient::Entity::find_live()
                        .select_only()
                        .column(patient::Column::PersonId)
                        .column(patient::Column::Active)
                        .filter(patient::Column::Id.in_subquery(
                            patient_identifier::Entity::holders_of_any(&systems, value),
                        ))
                        .order_by_desc(patient::Column::Active)
                        .order_by_asc(patient::Column::Id)
                        .into_tuple()
                        .all(conn)
                        .await?;
                holders.first().map(|&(person, _)| person)
            }
        };
        'found: {
            let Some(person_id) = person_id else {
                break 'found Ok::<_, Error>(None);
            };
            let mut patient_ids: Vec<Uuid> = patient::Entity::find()
                .select_only()
                .column(patient::Column::Id)
                .filter(patient::Column::PersonId.eq(person_id))
                .filter(Expr::cust("patient.deleted_at IS NULL AND patient.active"))
                .order_by_asc(patient::Column::Id)
                .into_tuple()
                .all(conn)
                .await?;
            // The record named is what was asked about, not an answer (its identifiers are).
            let rows_of = patient_ids.clone();
            patient_ids.retain(|id| Some(*id) != record);
            let rows = if rows_of.is_empty() {
                Vec::new()
            } else {
                patient_identifier::Entity::find()
                    .filter(patient_identifier::Column::PatientId.is_in(rows_of))
                    .order_by_asc(patient_identifier::Column::PatientId)
                    .order_by_desc(patient_identifier::Column::IsPrimary)
                    .order_by_asc(patient_identifier::Column::System)
                    .order_by_asc(patient_identifier::Column::Value)
                    .all(conn)
                    .await?
            };
            Ok::<_, Error>(Some((person_id, patient_ids, rows)))
        }
    })?;
    let Some((person_id, patient_ids, rows)) = answer else {
        // Nobody holds it: an unregistered system nobody uses is an unknown domain.
        if queried.is_none() && !bookkeeping {
            let used = match in_use {
                Some(s) => s.contains(query.system.trim()),
                None => patient_identifier::Entity::systems_in_use(mpi.db())
                    .await?
                    .iter()
                    .any(|s| s == query.system.trim()),
            };
            if !used {
                audit_xref(mpi, ctx, &query, None).await?;
                return Err(unknown_domain());
            }
        }
        audit_xref(mpi, ctx, &query, None).await?;
        return Err(unknown_identifier());
    };
    let wanted = |system: &str, domain: Option<&Domain>| -> bool {
        targets.is_empty()
            || targets.iter().any(|t| match (t, domain) {
                (Target::Domain(t), Some(d)) => t.id == d.id && t.enterprise == d.enterprise,
                (Target::Raw(raw), None) => raw == system,
                _ => false,
            })
    };
    let queried_key = (
        queried.map_or_else(|| query.system.trim().to_owned(), |d| d.system()),
        value.to_owned(),
    );
    let mut identifiers = Vec::new();
    let enterprise = registry.enterprise();
    if wanted(&enterprise.system(), Some(enterprise)) && !queried.is_some_and(|d| d.enterprise) {
        identifiers.push(XrefIdentifier {
            system: enterprise.system(),
            value: person_id.to_string(),
            domain: Some(enterprise.name.clone()),
            hl7_authority: Some(enterprise.hl7_authority()),
            patient_id: None,
        });
    }
    let mut seen = HashSet::new();
    for row in rows {
        // An account number (type AN, an HL7 feed's PID-18) names a billing account, not the
        // patient: it is no cross-reference.
        if row.r#type == Some(IdentifierType::An) {
            continue;
        }
        let domain = registry.resolve(&row.system);
        let system = domain.map_or_else(|| row.system.clone(), Domain::system);
        let key = (system.clone(), row.value.clone());
        if key == queried_key || !wanted(&row.system, domain) || !seen.insert(key) {
            continue;
        }
        identifiers.push(XrefIdentifier {
            system,
            value: row.value,
            domain: domain.map(|d| d.name.clone()),
            hl7_authority: domain.map(Domain::hl7_authority),
            patient_id: Some(row.patient_id),
        });
    }
    let answer = Xref {
        person_id,
        patient_ids,
        identifiers,
    };
    audit_xref(mpi, ctx, &query, Some(&answer)).await?;
    Ok(answer)
}

async fn audit_xref(mpi: &Mpi, ctx: &Ctx, query: &XrefQuery, answer: Option<&Xref>) -> Result<()> {
    let entry = AuditEntry::new("xref", "patient", None)
        .before(crate::audit::json(query))
        .after(match answer {
            Some(a) => json!({ "person_id": a.person_id, "ids": a.patient_ids }),
            None => json!({ "ids": [] }),
        });
    mpi.audit_read(ctx, entry).await
}
