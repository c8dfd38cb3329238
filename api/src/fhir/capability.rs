//! The CapabilityStatement of `GET /fhir/metadata`: exactly what the facade supports.

use serde::Serialize;

use super::patient::CodeableConcept;

/// Header that makes `POST /fhir/Patient` register despite certain or probable duplicates.
pub const FORCE_HEADER: &str = "X-MPI-Force";

/// The software.
#[derive(Clone, Debug, Serialize)]
pub struct Software {
    /// Name.
    pub name: &'static str,
    /// Version.
    pub version: &'static str,
}

/// A supported interaction.
#[derive(Clone, Debug, Serialize)]
pub struct Interaction {
    /// `read`, `create`, `update`, `search-type`.
    pub code: &'static str,
}

/// A supported search parameter.
#[derive(Clone, Debug, Serialize)]
pub struct SearchParam {
    /// Its name.
    pub name: &'static str,
    /// Its definition.
    pub definition: &'static str,
    /// `string`, `date`, `token`, `number`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// What the MPI does with it.
    pub documentation: &'static str,
}

/// A supported operation.
#[derive(Clone, Debug, Serialize)]
pub struct Operation {
    /// Its name (without `$`).
    pub name: &'static str,
    /// Its OperationDefinition.
    pub definition: &'static str,
    /// What the MPI does.
    pub documentation: &'static str,
}

/// What is supported on Patient.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestResource {
    /// `Patient`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// Notes.
    pub documentation: &'static str,
    /// Interactions.
    pub interaction: Vec<Interaction>,
    /// `versioned-update`.
    pub versioning: &'static str,
    /// No history.
    pub read_history: bool,
    /// No create through PUT.
    pub update_create: bool,
    /// No conditional create.
    pub conditional_create: bool,
    /// No conditional update.
    pub conditional_update: bool,
    /// No conditional delete.
    pub conditional_delete: &'static str,
    /// Search parameters.
    pub search_param: Vec<SearchParam>,
    /// Operations.
    pub operation: Vec<Operation>,
}

/// Security.
#[derive(Clone, Debug, Serialize)]
pub struct Security {
    /// No CORS headers.
    pub cors: bool,
    /// The kind.
    pub service: Vec<CodeableConcept>,
    /// How to authenticate.
    pub description: &'static str,
}

/// The server's REST capabilities.
#[derive(Clone, Debug, Serialize)]
pub struct Rest {
    /// `server`.
    pub mode: &'static str,
    /// Notes.
    pub documentation: &'static str,
    /// Security.
    pub security: Security,
    /// Resources.
    pub resource: Vec<RestResource>,
}

/// A CapabilityStatement.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityStatement {
    /// Always `CapabilityStatement`.
    pub resource_type: &'static str,
    /// `active`.
    pub status: &'static str,
    /// When this statement was produced.
    pub date: String,
    /// Publisher.
    pub publisher: &'static str,
    /// `instance`.
    pub kind: &'static str,
    /// The software.
    pub software: Software,
    /// `4.0.1`.
    pub fhir_version: &'static str,
    /// Formats.
    pub format: Vec<&'static str>,
    /// REST capabilities.
    pub rest: Vec<Rest>,
}

const PATIENT_DOC: &str = "Patient records of the Master Patient Index. Create (POST) runs the \
duplicate check first: when certain or probable matches exist nothing is stored and the answer \
is 409 with an OperationOutcome whose issues name the candidates (Patient/{id}, grade, \
probability); resend with the header `X-MPI-Force: true` to register anyway (audited). Possible \
matches are stored and open a review task. Update (PUT) needs `If-Match: W/\"{versionId}\"` (or \
meta.versionId); a stale version is 412. Patient.link (replaced-by, replaces, seealso, refer) is \
read only: it changes through $merge and /api/v1/links. Elements the MPI does not store (photo, \
contact, communication, generalPractitioner, extensions) are rejected with 422; dates are full \
dates (YYYY-MM-DD), deceasedDateTime needs a time zone. Search needs at least one criterion, \
ANDs the criteria, pages with _count (default 20, at most 500) and _page; search, read and \
$match are audited.";

fn param(name: &'static str, type_: &'static str, documentation: &'static str) -> SearchParam {
    let definition = match name {
        "name" => "http://hl7.org/fhir/SearchParameter/Patient-name",
        "family" => "http://hl7.org/fhir/SearchParameter/individual-family",
        "given" => "http://hl7.org/fhir/SearchParameter/individual-given",
        "birthdate" => "http://hl7.org/fhir/SearchParameter/individual-birthdate",
        "gender" => "http://hl7.org/fhir/SearchParameter/individual-gender",
        _ => "http://hl7.org/fhir/SearchParameter/Patient-identifier",
    };
    SearchParam {
        name,
        definition,
        type_,
        documentation,
    }
}

/// The statement (`date` is when it is produced).
pub fn statement() -> CapabilityStatement {
    CapabilityStatement {
        resource_type: "CapabilityStatement",
        status: "active",
        date: super::patient::instant_text(chrono::Utc::now().fixed_offset()),
        publisher: "MPI",
        kind: "instance",
        software: Software {
            name: "mpi",
            version: env!("CARGO_PKG_VERSION"),
        },
        fhir_version: "4.0.1",
        format: vec!["application/fhir+json", "json"],
        rest: vec![Rest {
            mode: "server",
            documentation: "A FHIR R4 facade over the MPI's service layer: the same keys, \
roles and audit trail as /api/v1. Only JSON. Only the Patient resource.",
            security: Security {
                cors: false,
                service: vec![CodeableConcept {
                    coding: Vec::new(),
                    text: Some("Bearer API key".to_owned()),
                }],
                description: "Every request but /fhir/metadata needs `Authorization: Bearer \
<key>` with a key from `mpi keys create`. Roles: registrar (read, search, create, update, \
$match), steward (also $merge), admin (all); auditor keys cannot read patients.",
            },
            resource: vec![RestResource {
                type_: "Patient",
                documentation: PATIENT_DOC,
                interaction: ["read", "update", "create", "search-type"]
                    .into_iter()
                    .map(|code| Interaction { code })
                    .collect(),
                versioning: "versioned-update",
                read_history: false,
                update_create: false,
                conditional_create: false,
                conditional_update: false,
                conditional_delete: "not-supported",
                search_param: vec![
                    param(
                        "name",
                        "string",
                        "Start of any family or given name, ignoring case",
                    ),
                    param("family", "string", "Start of a family name, ignoring case"),
                    param(
                        "given",
                        "string",
                        "Start of a given name, ignoring case; with family, of the same name",
                    ),
                    param(
                        "birthdate",
                        "date",
                        "A full date, optionally with the prefix eq",
                    ),
                    param("gender", "token", "male, female, other, unknown"),
                    param("identifier", "token", "system|value, both required, exact"),
                ],
                operation: vec![
                    Operation {
                        name: "match",
                        definition: "http://hl7.org/fhir/OperationDefinition/Patient-match",
                        documentation: "Parameters resource (a Patient), onlyCertainMatches, \
count (1..100, default 10). Answers a searchset Bundle, best first, with search.score (the \
match probability) and the match-grade extension (certain, probable, possible).",
                    },
                    Operation {
                        name: "merge",
                        definition: "http://hl7.org/fhir/OperationDefinition/Patient-merge",
                        documentation: "Parameters source-patient and target-patient \
(references Patient/{id}) and preview. The target survives and gains what the source has and \
it lacks; the source becomes inactive with a replaced-by link. result-patient and the \
*-identifier parameters are not supported (422). Answers Parameters with outcome and result \
(the target). Undo through /api/v1/merges/{id}/undo with the merge id the outcome names.",
                    },
                ],
            }],
        }],
    }
}
