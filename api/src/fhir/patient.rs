//! FHIR R4 Patient JSON (only the elements the MPI stores) and its mapping to and from the
//! service's `Patient` and `PatientInput`.
//!
//! Incoming resources are read strictly: an element that is no R4 Patient element (or a
//! `modifierExtension`, which would change the record's meaning) is a 422. R4 elements the MPI
//! does not store (`contact`, `photo`, ... see [`FhirPatient::ignored`]) are
//! accepted and named in the answers that can say so; `meta` and the narrative `text` are
//! accepted and ignored (the server keeps its own `meta`; it writes no narrative). The one
//! extension read and written is the mother's maiden name ([`MOTHERS_MAIDEN_NAME`], a
//! `valueString`, stored as the mother's maiden family name); others are ignored, as FHIR
//! allows for extensions that are not modifiers, and so are those of any element, its `id` and a
//! primitive's `_element` twin ([`Ignored`]).

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::enums::MaritalStatus;
use service::patients::{
    AddressInput, CommunicationInput, IdentifierInput, NameInput, Patient, PatientInput,
    Period as ServicePeriod, TelecomInput, parse_code,
};

use crate::error::ApiError;

/// The core extension carrying the mother's maiden name.
pub const MOTHERS_MAIDEN_NAME: &str =
    "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName";

/// An extension of Patient with a string value (the mother's maiden name). Read leniently:
/// another extension's `value[x]` is not read, since such extensions are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StringExtension {
    /// What the extension means.
    pub url: String,
    /// Its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
}

/// HL7 v2 table 0203, the code system of `Identifier.type`.
pub const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
/// The code system of `Patient.maritalStatus` (all codes but `UNK`).
pub const V3_MARITAL_STATUS: &str = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus";
/// The code system of the marital status `UNK`.
pub const V3_NULL_FLAVOR: &str = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor";

/// An element's `id` or `extension` (or a primitive's `_element`), read and not kept: FHIR R4
/// (2.5, Extensibility) says an application should not reject a resource merely because it
/// carries extensions, and none of these is a modifier (`modifierExtension` is still refused).
/// A Synthea address's geolocation or a birth date's `patient-birthTime` no longer costs the
/// record.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ignored;

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Ignored)
    }
}

/// A code in a code system.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Coding {
    /// The element's id: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub id: Ignored,
    /// Extensions: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub extension: Ignored,
    /// The code system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Its display text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// Codings and/or text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CodeableConcept {
    /// The element's id: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub id: Ignored,
    /// Extensions: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub extension: Ignored,
    /// The codes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// Plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    /// One coding.
    pub fn coded(system: &str, code: &str) -> CodeableConcept {
        CodeableConcept {
            coding: vec![Coding {
                system: Some(system.to_owned()),
                code: Some(code.to_owned()),
                display: None,
                ..Default::default()
            }],
            text: None,
            ..Default::default()
        }
    }
}

/// A reference to another resource (`Patient/{id}`, `Organization/{id}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Reference {
    /// The element's id: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub id: Ignored,
    /// Extensions: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub extension: Ignored,
    /// The relative reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Display text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// A logical reference by identifier (`Patient.link.other` of an ITI-104 or PMIR merge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Box<Identifier>>,
    /// The type referred to (`Patient`): accepted, never written.
    #[serde(rename = "type", skip_serializing)]
    pub type_: Option<String>,
}

impl Reference {
    /// `Type/{id}`.
    pub fn to(resource_type: &str, id: Uuid) -> Reference {
        Reference {
            reference: Some(format!("{resource_type}/{id}")),
            display: None,
            identifier: None,
            type_: None,
            ..Default::default()
        }
    }

    /// The id of a `Type/{id}` reference (an absolute URL ending so is accepted too), or a
    /// 422 naming `field`.
    pub fn id_of(&self, resource_type: &str, field: &str) -> Result<Uuid, ApiError> {
        let invalid = || {
            invalid(
                field,
                &format!("must be a reference {resource_type}/{{id}}"),
            )
        };
        let text = self.reference.as_deref().ok_or_else(invalid)?.trim();
        let tail = text
            .rsplit_once(&format!("{resource_type}/"))
            .map(|(_, id)| id)
            .ok_or_else(invalid)?;
        Uuid::parse_str(tail).map_err(|_| invalid())
    }
}

/// A time range (the MPI stores dates).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Period {
    /// The element's id: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub id: Ignored,
    /// Extensions: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub extension: Ignored,
    /// First day, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Last day, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// Resource metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Meta {
    /// The version (the record's optimistic-concurrency version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// When the record last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
}

/// An extension with a code value (the match grade).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// What the extension means.
    pub url: String,
    /// Its value.
    pub value_code: String,
}

/// `HumanName`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HumanName {
    /// The element's id: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub id: Ignored,
    /// Extensions: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub extension: Ignored,
    /// `usual`, `official`, `temp`, `nickname`, `anonymous`, `old`, `maiden`.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// The whole name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Family name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Given names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    /// Prefixes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefix: Vec<String>,
    /// Suffixes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suffix: Vec<String>,
    /// When in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// `Identifier`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Identifier {
    /// The element's id: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub id: Ignored,
    /// Extensions: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub extension: Ignored,
    /// `usual`, `official`, `temp`, `secondary`, `old`.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// A v2-0203 coding (MR, SS, DL, PPN...).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<CodeableConcept>,
    /// The namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// When valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// The issuing organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigner: Option<Reference>,
}

/// `ContactPoint`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ContactPoint {
    /// The element's id: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub id: Ignored,
    /// Extensions: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub extension: Ignored,
    /// `phone`, `fax`, `email`, `pager`, `url`, `sms`, `other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The number or address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `home`, `work`, `temp`, `old`, `mobile`.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Preference, 1 = highest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<u32>,
    /// When in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// `Address`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Address {
    /// The element's id: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub id: Ignored,
    /// Extensions: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub extension: Ignored,
    /// `home`, `work`, `temp`, `old`, `billing`.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// `postal`, `physical`, `both`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The whole address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Street lines.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub line: Vec<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// District.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// State.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// When in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// `Patient.link`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientLink {
    /// The other record.
    pub other: Reference,
    /// `replaced-by`, `replaces`, `refer`, `seealso`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// `Patient.communication`: a language the patient speaks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PatientCommunication {
    /// The element's id: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub id: Ignored,
    /// Extensions: accepted, not kept ([`Ignored`]).
    #[serde(skip_serializing)]
    pub extension: Ignored,
    /// The language (the first coding with a code is the one stored).
    pub language: CodeableConcept,
    /// Whether the patient prefers it (written when true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred: Option<bool>,
}

/// A FHIR R4 Patient, limited to what the MPI stores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FhirPatient {
    /// Always `Patient`.
    pub resource_type: String,
    /// The record's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Version and last update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Narrative: accepted and ignored, never written.
    #[serde(skip_serializing)]
    pub text: Option<serde_json::Value>,
    /// Extensions: the mother's maiden name only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<StringExtension>,
    /// Whether the record is in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Identifiers, primary first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    /// Names, primary first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
    /// Contact points, primary first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    /// `male`, `female`, `other`, `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// Deceased, when no date is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deceased_boolean: Option<bool>,
    /// When the patient died.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deceased_date_time: Option<String>,
    /// Addresses, primary first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<Address>,
    /// A v3-MaritalStatus coding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marital_status: Option<CodeableConcept>,
    /// Part of a multiple birth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiple_birth_boolean: Option<bool>,
    /// Birth order within a multiple birth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiple_birth_integer: Option<i32>,
    /// Languages, primary first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub communication: Vec<PatientCommunication>,
    /// The managing organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managing_organization: Option<Reference>,
    /// Links to other records (read only: links change through `$merge` and `/api/v1/links`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link: Vec<PatientLink>,
    /// Extensions of primitive elements (`_birthDate` with `patient-birthTime`, `_gender`, ...):
    /// accepted, not kept ([`Ignored`]).
    #[serde(rename = "_active", skip_serializing)]
    pub active_element: Ignored,
    /// See `active_element`.
    #[serde(rename = "_gender", skip_serializing)]
    pub gender_element: Ignored,
    /// See `active_element`.
    #[serde(rename = "_birthDate", skip_serializing)]
    pub birth_date_element: Ignored,
    /// See `active_element`.
    #[serde(rename = "_deceasedBoolean", skip_serializing)]
    pub deceased_boolean_element: Ignored,
    /// See `active_element`.
    #[serde(rename = "_deceasedDateTime", skip_serializing)]
    pub deceased_date_time_element: Ignored,
    /// See `active_element`.
    #[serde(rename = "_multipleBirthBoolean", skip_serializing)]
    pub multiple_birth_boolean_element: Ignored,
    /// See `active_element`.
    #[serde(rename = "_multipleBirthInteger", skip_serializing)]
    pub multiple_birth_integer_element: Ignored,
    /// R4 elements the MPI accepts and does not store (see [`FhirPatient::ignored`]); never
    /// written.
    #[serde(skip_serializing)]
    pub contact: Option<serde_json::Value>,
    /// Not stored (see `contact`). R4 makes it a list; a single reference is taken too.
    #[serde(skip_serializing)]
    pub general_practitioner: Option<serde_json::Value>,
    /// Not stored (see `contact`).
    #[serde(skip_serializing)]
    pub photo: Option<serde_json::Value>,
    /// Not stored (see `contact`).
    #[serde(skip_serializing)]
    pub language: Option<serde_json::Value>,
}

impl FhirPatient {
    /// The R4 Patient elements this resource carries that the MPI accepts without storing.
    pub fn ignored(&self) -> Vec<&'static str> {
        [
            ("contact", self.contact.is_some()),
            ("generalPractitioner", self.general_practitioner.is_some()),
            ("photo", self.photo.is_some()),
            (
                "extension",
                self.extension.iter().any(|e| e.url != MOTHERS_MAIDEN_NAME),
            ),
            ("language", self.language.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| name)
        .collect()
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::InvalidValue {
        message: format!("{field}: {message}"),
        field: Some(field.to_owned()),
    }
}

fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An instant as FHIR `instant` / `dateTime` text.
pub fn instant_text(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn period_out(start: Option<NaiveDate>, end: Option<NaiveDate>) -> Option<Period> {
    (start.is_some() || end.is_some()).then(|| Period {
        start: start.map(date_text),
        end: end.map(date_text),
        ..Default::default()
    })
}

/// Parses a full `YYYY-MM-DD` date for `field`.
pub fn parse_fhir_date(field: &str, text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| invalid(field, "must be a full date YYYY-MM-DD"))
}

fn period_in(field: &str, p: &Option<Period>) -> Result<Option<ServicePeriod>, ApiError> {
    let Some(p) = p else { return Ok(None) };
    let day = |end: &str, v: &Option<String>| {
        v.as_deref()
            .map(|t| parse_fhir_date(&format!("{field}.period.{end}"), t))
            .transpose()
    };
    Ok(Some(ServicePeriod {
        start: day("start", &p.start)?,
        end: day("end", &p.end)?,
    }))
}

fn code_in<T: std::str::FromStr>(field: &str, v: &Option<String>) -> Result<Option<T>, ApiError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(code) => Ok(Some(parse_code(field, code)?)),
    }
}

/// The code of the one coding in `concept` whose system is one of `systems`, or a 422.
fn coded_in<'a>(
    field: &str,
    concept: &'a CodeableConcept,
    systems: &[&str],
) -> Result<&'a str, ApiError> {
    concept
        .coding
        .iter()
        .find(|c| c.system.as_deref().is_some_and(|s| systems.contains(&s)))
        .and_then(|c| c.code.as_deref())
        .ok_or_else(|| {
            invalid(
                field,
                &format!("needs a coding from {}", systems.join(" or ")),
            )
        })
}

impl From<&Patient> for FhirPatient {
    fn from(p: &Patient) -> FhirPatient {
        let r = &p.record;
        let id = r.patient.id;
        let (deceased_boolean, deceased_date_time) = match r.patient.deceased_at {
            Some(at) => (None, Some(instant_text(at))),
            None => (r.patient.deceased.then_some(true), None),
        };
        let (multiple_birth_boolean, multiple_birth_integer) =
            match (r.patient.multiple_birth, r.patient.multiple_birth_order) {
                (_, Some(order)) => (None, Some(order)),
                (b, None) => (b, None),
            };
        FhirPatient {
            resource_type: "Patient".to_owned(),
            id: Some(id.to_string()),
            meta: Some(Meta {
                version_id: Some(r.patient.version.to_string()),
                last_updated: Some(instant_text(r.patient.updated_at)),
            }),
            text: None,
            extension: r
                .patient
                .mother_maiden_family
                .iter()
                .map(|m| StringExtension {
                    url: MOTHERS_MAIDEN_NAME.to_owned(),
                    value_string: Some(m.clone()),
                })
                .collect(),
            active: Some(r.patient.active),
            identifier: r
                .identifiers
                .iter()
                .map(|i| Identifier {
                    use_: i.r#use.map(|u| u.as_str().to_owned()),
                    type_: i
                        .r#type
                        .map(|t| CodeableConcept::coded(V2_0203, t.as_str())),
                    system: Some(i.system.clone()),
                    value: Some(i.value.clone()),
                    period: period_out(i.period_start, i.period_end),
                    assigner: i
                        .assigner_organization_id
                        .map(|o| Reference::to("Organization", o)),
                    ..Default::default()
                })
                .collect(),
            name: r
                .names
                .iter()
                .map(|n| HumanName {
                    use_: n.r#use.map(|u| u.as_str().to_owned()),
                    text: n.text.clone(),
                    family: n.family.clone(),
                    given: n.given.0.clone(),
                    prefix: n.prefix.0.clone(),
                    suffix: n.suffix.0.clone(),
                    period: period_out(n.period_start, n.period_end),
                    ..Default::default()
                })
                .collect(),
            telecom: r
                .telecoms
                .iter()
                .map(|t| ContactPoint {
                    system: Some(t.system.as_str().to_owned()),
                    value: Some(t.value.clone()),
                    use_: t.r#use.map(|u| u.as_str().to_owned()),
                    rank: t.rank.and_then(|r| u32::try_from(r).ok()),
                    period: period_out(t.period_start, t.period_end),
                    ..Default::default()
                })
                .collect(),
            gender: r.patient.gender.map(|g| g.as_str().to_owned()),
            birth_date: crate::dto::birth_date_text(
                r.patient.birth_date,
                r.patient.birth_date_precision,
            ),
            deceased_boolean,
            deceased_date_time,
            address: r
                .addresses
                .iter()
                .map(|a| Address {
                    use_: a.r#use.map(|u| u.as_str().to_owned()),
                    type_: a.r#type.map(|t| t.as_str().to_owned()),
                    text: a.text.clone(),
                    line: a.lines.0.clone(),
                    city: a.city.clone(),
                    district: a.district.clone(),
                    state: a.state.clone(),
                    postal_code: a.postal_code.clone(),
                    country: a.country.clone(),
                    period: period_out(a.period_start, a.period_end),
                    ..Default::default()
                })
                .collect(),
            marital_status: r.patient.marital_status.map(|m| {
                let system = if m == MaritalStatus::Unknown {
                    V3_NULL_FLAVOR
                } else {
                    V3_MARITAL_STATUS
                };
                CodeableConcept::coded(system, m.as_str())
            }),
            multiple_birth_boolean,
            multiple_birth_integer,
            communication: r
                .communications
                .iter()
                .map(|c| PatientCommunication {
                    language: CodeableConcept {
                        coding: vec![Coding {
                            system: c.language_system.clone(),
                            code: Some(c.language_code.clone()),
                            display: c.language_display.clone(),
                            ..Default::default()
                        }],
                        text: None,
                        ..Default::default()
                    },
                    preferred: c.preferred.then_some(true),
                    ..Default::default()
                })
                .collect(),
            managing_organization: r
                .patient
                .managing_organization_id
                .map(|o| Reference::to("Organization", o)),
            link: r
                .links
                .iter()
                .filter(|l| l.patient_id == id)
                .map(|l| PatientLink {
                    other: Reference::to("Patient", l.other_patient_id),
                    type_: l.r#type.as_str().to_owned(),
                })
                .collect(),
            ..FhirPatient::default()
        }
    }
}

impl FhirPatient {
    /// Converts to the service's input (422 naming the FHIR element on a bad value). `link`
    /// is read only and ignored here.
    pub fn to_input(&self) -> Result<PatientInput, ApiError> {
        if self.resource_type != "Patient" {
            return Err(invalid("resourceType", "must be Patient"));
        }
        let mut names = Vec::with_capacity(self.name.len());
        for (i, n) in self.name.iter().enumerate() {
            let f = format!("Patient.name[{i}]");
            names.push(NameInput {
                family: n.family.clone(),
                given: n.given.clone(),
                prefix: n.prefix.clone(),
                suffix: n.suffix.clone(),
                text: n.text.clone(),
                r#use: code_in(&format!("{f}.use"), &n.use_)?,
                period: period_in(&f, &n.period)?,
            });
        }
        let mut identifiers = Vec::with_capacity(self.identifier.len());
        for (i, id) in self.identifier.iter().enumerate() {
            let f = format!("Patient.identifier[{i}]");
            let r#type = match &id.type_ {
                None => None,
                Some(t) => {
                    let field = format!("{f}.type");
                    Some(parse_code(&field, coded_in(&field, t, &[V2_0203])?)?)
                }
            };
            identifiers.push(IdentifierInput {
                r#type,
                r#use: code_in(&format!("{f}.use"), &id.use_)?,
                system: id.system.clone().unwrap_or_default(),
                value: id.value.clone().unwrap_or_default(),
                // A display-only (or identifier-only) reference names the assigner without
                // pointing at a stored Organization: FHIR allows it, nothing is kept.
                assigner: id
                    .assigner
                    .as_ref()
                    .filter(|r| r.reference.is_some())
                    .map(|r| r.id_of("Organization", &format!("{f}.assigner")))
                    .transpose()?,
                period: period_in(&f, &id.period)?,
            });
        }
        let mut telecoms = Vec::with_capacity(self.telecom.len());
        for (i, t) in self.telecom.iter().enumerate() {
            let f = format!("Patient.telecom[{i}]");
            let system = code_in(&format!("{f}.system"), &t.system)?
                .ok_or_else(|| invalid(&format!("{f}.system"), "is required"))?;
            telecoms.push(TelecomInput {
                system,
                value: t.value.clone().unwrap_or_default(),
                r#use: code_in(&format!("{f}.use"), &t.use_)?,
                rank: t
                    .rank
                    .map(|r| {
                        i32::try_from(r).map_err(|_| invalid(&format!("{f}.rank"), "too large"))
                    })
                    .transpose()?,
                period: period_in(&f, &t.period)?,
            });
        }
        let mut addresses = Vec::with_capacity(self.address.len());
        for (i, a) in self.address.iter().enumerate() {
            let f = format!("Patient.address[{i}]");
            addresses.push(AddressInput {
                lines: a.line.clone(),
                city: a.city.clone(),
                district: a.district.clone(),
                state: a.state.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.clone(),
                text: a.text.clone(),
                r#use: code_in(&format!("{f}.use"), &a.use_)?,
                r#type: code_in(&format!("{f}.type"), &a.type_)?,
                period: period_in(&f, &a.period)?,
            });
        }
        let mut communications = Vec::with_capacity(self.communication.len());
        for (i, c) in self.communication.iter().enumerate() {
            let f = format!("Patient.communication[{i}].language");
            let coding = c
                .language
                .coding
                .iter()
                .find(|c| {
                    c.code
                        .as_deref()
                        .is_some_and(|code| !code.trim().is_empty())
                })
                .ok_or_else(|| invalid(&f, "needs a coding with a code"))?;
            communications.push(CommunicationInput {
                system: coding.system.clone(),
                code: coding.code.clone().unwrap_or_default(),
                display: coding.display.clone(),
                preferred: c.preferred.unwrap_or(false),
            });
        }
        if self.deceased_boolean.is_some() && self.deceased_date_time.is_some() {
            return Err(invalid(
                "Patient.deceased[x]",
                "give one of deceasedBoolean and deceasedDateTime",
            ));
        }
        let deceased_at = self
            .deceased_date_time
            .as_deref()
            .map(|t| {
                DateTime::parse_from_rfc3339(t.trim()).map_err(|_| {
                    invalid(
                        "Patient.deceasedDateTime",
                        "must be a date and time with a time zone (YYYY-MM-DDThh:mm:ss+zz:zz)",
                    )
                })
            })
            .transpose()?;
        if self.multiple_birth_boolean.is_some() && self.multiple_birth_integer.is_some() {
            return Err(invalid(
                "Patient.multipleBirth[x]",
                "give one of multipleBirthBoolean and multipleBirthInteger",
            ));
        }
        let (multiple_birth, multiple_birth_order) = match self.multiple_birth_integer {
            Some(order) => (Some(true), Some(order)),
            None => (self.multiple_birth_boolean, None),
        };
        let marital_status = match &self.marital_status {
            None => None,
            Some(c) => {
                let field = "Patient.maritalStatus";
                Some(parse_code(
                    field,
                    coded_in(field, c, &[V3_MARITAL_STATUS, V3_NULL_FLAVOR])?,
                )?)
            }
        };
        let managing_organization_id = self
            .managing_organization
            .as_ref()
            .map(|r| r.id_of("Organization", "Patient.managingOrganization"))
            .transpose()?;
        // FHIR `date`: a year, a year and month, or a full date, kept at its precision.
        let birth_date = self
            .birth_date
            .as_deref()
            .map(|d| {
                service::patients::parse_partial_date(d).ok_or_else(|| {
                    invalid(
                        "Patient.birthDate",
                        "must be a date YYYY, YYYY-MM or YYYY-MM-DD",
                    )
                })
            })
            .transpose()?;
        // FHIR Patient carries no mother's identifier: an update keeps the stored one.
        let mut mother = service::patients::MotherInput {
            keep_stored_identifier: true,
            ..Default::default()
        };
        for (i, e) in self.extension.iter().enumerate() {
            let field = format!("Patient.extension[{i}]");
            if e.url != MOTHERS_MAIDEN_NAME {
                continue; // not stored: see `FhirPatient::ignored`
            }
            if mother.maiden_family.is_some() {
                return Err(invalid(&field, "patient-mothersMaidenName is given twice"));
            }
            match e.value_string.as_deref().map(str::trim) {
                Some(v) if !v.is_empty() => mother.maiden_family = Some(v.to_owned()),
                _ => return Err(invalid(&field, "needs a valueString")),
            }
        }
        Ok(PatientInput {
            active: self.active.unwrap_or(true),
            gender: code_in("Patient.gender", &self.gender)?,
            birth_date: birth_date.map(|(d, _)| d),
            birth_date_precision: birth_date.map(|(_, p)| p).unwrap_or_default(),
            deceased: deceased_at.is_some() || self.deceased_boolean.unwrap_or(false),
            deceased_at,
            marital_status,
            multiple_birth,
            multiple_birth_order,
            managing_organization_id,
            names,
            identifiers,
            addresses,
            telecoms,
            communications,
            mother,
        })
    }
}
