//! FHIR R4 Organization as `_include=Patient:organization` adds it to a patient search: the
//! name, aliases, identifiers, `active` and `partOf` the MPI keeps.

use serde::Serialize;

use super::patient::{Identifier, Reference};

/// An Organization (read only).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FhirOrganization {
    /// Always `Organization`.
    pub resource_type: &'static str,
    /// Its id.
    pub id: String,
    /// Identifiers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    /// Whether it is in use.
    pub active: bool,
    /// Its name.
    pub name: String,
    /// Other names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alias: Vec<String>,
    /// The organization it is part of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_of: Option<Reference>,
}

impl From<&service::organizations::Organization> for FhirOrganization {
    fn from(o: &service::organizations::Organization) -> FhirOrganization {
        FhirOrganization {
            resource_type: "Organization",
            id: o.id.to_string(),
            identifier: o
                .identifiers
                .iter()
                .map(|(system, value)| Identifier {
                    system: Some(system.clone()),
                    value: Some(value.clone()),
                    ..Identifier::default()
                })
                .collect(),
            active: o.active,
            name: o.name.clone(),
            alias: o.aliases.clone(),
            part_of: o.part_of.map(|p| Reference::to("Organization", p)),
        }
    }
}
