//! JSON shapes of the API (snake_case, FHIR Patient's structure) and their hand-written
//! conversions to and from the service's types.
//!
//! Coded values and dates arrive as strings and are parsed here, so an unknown code or a bad
//! date is a 422 naming the field (`names[0].use`, `birth_date`) rather than a bare
//! deserialisation error.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use entity::{audit_event, patient_link, review_task};
use service::matching::MatchCandidate;
use service::merge::MergeSummary;
use service::patients::{
    AddressInput, DatePrecision, IdentifierInput, NameInput, Patient, PatientInput, TelecomInput,
    parse_code,
};

use crate::error::ApiError;

/// Parses a birth date at its precision: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
pub fn parse_birth_date(field: &str, text: &str) -> Result<(NaiveDate, DatePrecision), ApiError> {
    service::patients::parse_partial_date(text).ok_or_else(|| ApiError::InvalidValue {
        message: format!("{field}: is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"),
        field: Some(field.to_owned()),
    })
}

/// A stored birth date at its precision (no precision: a full date).
pub fn birth_date_text(
    date: Option<NaiveDate>,
    precision: Option<DatePrecision>,
) -> Option<String> {
    date.map(|d| service::patients::render_partial_date(d, precision.unwrap_or_default()))
}

fn code<T: std::str::FromStr>(
    field: String,
    value: &Option<String>,
) -> Result<Option<T>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => Ok(Some(parse_code(&field, v)?)),
    }
}

/// A name (FHIR HumanName).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct NameDto {
    /// Family name.
    pub family: Option<String>,
    /// Given names, in order.
    pub given: Vec<String>,
    /// Prefixes (titles).
    pub prefix: Vec<String>,
    /// Suffixes.
    pub suffix: Vec<String>,
    /// The whole name as text.
    pub text: Option<String>,
    /// `usual`, `official`, `temp`, `nickname`, `anonymous`, `old`, `maiden`.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// The record this name came from in a merge (read only).
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub source_patient_id: Option<Uuid>,
}

/// An identifier (MRN, national id, ...).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct IdentifierDto {
    /// FHIR identifier-type code (`MR`, `SS`, `DL`, ...).
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// `usual`, `official`, `temp`, `secondary`, `old`.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// The namespace (a URI).
    pub system: String,
    /// The value within the system.
    pub value: String,
    /// The record this identifier came from in a merge (read only).
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub source_patient_id: Option<Uuid>,
}

/// The patient's mother as the record names her: maiden name and identifier (HL7 v2 PID-6 and
/// PID-21).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct MotherDto {
    /// The mother's maiden family name.
    pub maiden_family: Option<String>,
    /// The mother's maiden given name.
    pub maiden_given: Option<String>,
    /// The mother's identifier (`system` any name of a domain; `value` required).
    pub identifier: Option<MotherIdentifierDto>,
    /// The mother's record: the live one her identifier named when this record or hers was
    /// written (the survivor, when hers was merged away since). Read only.
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub patient_id: Option<Uuid>,
}

/// The mother's identifier.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct MotherIdentifierDto {
    /// The namespace (a URI, an OID or a domain's namespace).
    pub system: String,
    /// The value within the system.
    pub value: String,
}

impl MotherDto {
    fn of(p: &entity::patient::Model) -> Option<MotherDto> {
        let m = service::patients::MotherInput::of_row(p);
        (!m.is_empty()).then(|| MotherDto {
            maiden_family: m.maiden_family,
            maiden_given: m.maiden_given,
            identifier: m.identifier.map(|i| MotherIdentifierDto {
                system: i.system,
                value: i.value,
            }),
            patient_id: p.mother_patient_id,
        })
    }

    fn to_input(&self) -> service::patients::MotherInput {
        service::patients::MotherInput {
            maiden_family: self.maiden_family.clone(),
            maiden_given: self.maiden_given.clone(),
            identifier: self
                .identifier
                .as_ref()
                .map(|i| service::patients::MotherIdentifier {
                    system: i.system.clone(),
                    value: i.value.clone(),
                }),
            keep_stored_identifier: false,
        }
    }
}

/// A postal address.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AddressDto {
    /// Street lines.
    pub lines: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// District or county.
    pub district: Option<String>,
    /// State or province.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// `home`, `work`, `temp`, `old`, `billing`.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// The record this address came from in a merge (read only).
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub source_patient_id: Option<Uuid>,
}

/// A contact point.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct TelecomDto {
    /// `phone`, `fax`, `email`, `pager`, `url`, `sms`, `other`.
    pub system: String,
    /// The number or address.
    pub value: String,
    /// `home`, `work`, `temp`, `old`, `mobile`.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// The record this contact point came from in a merge (read only).
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub source_patient_id: Option<Uuid>,
}

/// A language the patient speaks (FHIR `Patient.communication`, HL7 v2 PID-15).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CommunicationDto {
    /// The language, as a coding (`{"system": "urn:ietf:bcp:47", "code": "fr"}`; `code` required).
    pub language: LanguageDto,
    /// Whether the patient prefers this language.
    pub preferred: bool,
    /// The record this language came from in a merge (read only).
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub source_patient_id: Option<Uuid>,
}

/// A language as a coding.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct LanguageDto {
    /// The code system (`urn:ietf:bcp:47`, or an HL7 table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The language's code (`en`, `fr-CA`).
    pub code: String,
    /// Its name for display.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A link between two patient records.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LinkDto {
    /// The link's id.
    pub id: Uuid,
    /// The record the link belongs to.
    pub patient_id: Uuid,
    /// The record it points to.
    pub other_patient_id: Uuid,
    /// `replaced-by`, `replaces`, `refer`, `seealso`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `person` or `matcher`.
    pub origin: String,
    /// Why the link was made.
    pub reason: Option<String>,
    /// When it was made.
    pub created_at: DateTime<FixedOffset>,
    /// Who made it (key name).
    pub created_by: String,
}

impl From<&patient_link::Model> for LinkDto {
    fn from(l: &patient_link::Model) -> LinkDto {
        LinkDto {
            id: l.id,
            patient_id: l.patient_id,
            other_patient_id: l.other_patient_id,
            type_: l.r#type.as_str().to_owned(),
            origin: l.origin.as_str().to_owned(),
            reason: l.reason.clone(),
            created_at: l.created_at,
            created_by: l.created_by.clone(),
        }
    }
}

/// How a search by name in a mode found a record.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SearchHitDto {
    /// `exact`, `wildcard`, `alias` or `phonetic`.
    pub mode: String,
    /// Similarity of the names, 0 to 1.
    pub score: f64,
}

/// A patient as answered (and, without the read-only fields, as sent).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PatientDto {
    /// The record's id.
    pub id: Uuid,
    /// The person this record belongs to (shared by merged and linked records).
    pub person_id: Uuid,
    /// Whether the record is in use (false once merged away).
    pub active: bool,
    /// `male`, `female`, `other`, `unknown`.
    pub gender: Option<String>,
    /// `YYYY-MM-DD`, or `YYYY-MM` or `YYYY` when only that much is known.
    pub birth_date: Option<String>,
    /// Whether the patient has died.
    pub deceased: bool,
    /// When the patient died.
    pub deceased_at: Option<DateTime<FixedOffset>>,
    /// FHIR marital-status code.
    pub marital_status: Option<String>,
    /// Part of a multiple birth (twins, triplets), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiple_birth: Option<bool>,
    /// Birth order within the multiple birth (1, 2, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiple_birth_order: Option<i32>,
    /// Names, primary first.
    pub names: Vec<NameDto>,
    /// Identifiers, primary first.
    pub identifiers: Vec<IdentifierDto>,
    /// Addresses, primary first.
    pub addresses: Vec<AddressDto>,
    /// Contact points, primary first.
    pub telecoms: Vec<TelecomDto>,
    /// Languages, primary first.
    pub communication: Vec<CommunicationDto>,
    /// Links from and to this record.
    pub links: Vec<LinkDto>,
    /// The mother's maiden name and identifier, when the record names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mother: Option<MotherDto>,
    /// The record that replaced this one, when it was merged away.
    pub replaced_by: Option<Uuid>,
    /// In a search by name with a `mode`: the mode that found this record (`exact` when the
    /// names are equal) and how close its names are (0 to 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchHitDto>,
    /// Version for optimistic concurrency (`If-Match` / `version` on update).
    pub version: i32,
    /// When the record was created.
    pub created_at: DateTime<FixedOffset>,
    /// When it last changed.
    pub updated_at: DateTime<FixedOffset>,
}

impl From<&Patient> for PatientDto {
    fn from(p: &Patient) -> PatientDto {
        let r = &p.record;
        let own = |source: Option<Uuid>| source.filter(|s| *s != r.patient.id);
        PatientDto {
            id: r.patient.id,
            person_id: r.patient.person_id,
            active: r.patient.active,
            gender: r.patient.gender.map(|g| g.as_str().to_owned()),
            birth_date: birth_date_text(r.patient.birth_date, r.patient.birth_date_precision),
            deceased: r.patient.deceased,
            deceased_at: r.patient.deceased_at,
            marital_status: r.patient.marital_status.map(|m| m.as_str().to_owned()),
            multiple_birth: r.patient.multiple_birth,
            multiple_birth_order: r.patient.multiple_birth_order,
            names: r
                .names
                .iter()
                .map(|n| NameDto {
                    family: n.family.clone(),
                    given: n.given.0.clone(),
                    prefix: n.prefix.0.clone(),
                    suffix: n.suffix.0.clone(),
                    text: n.text.clone(),
                    use_: n.r#use.map(|u| u.as_str().to_owned()),
                    source_patient_id: own(n.source_patient_id),
                })
                .collect(),
            identifiers: r
                .identifiers
                .iter()
                .map(|i| IdentifierDto {
                    type_: i.r#type.map(|t| t.as_str().to_owned()),
                    use_: i.r#use.map(|u| u.as_str().to_owned()),
                    system: i.system.clone(),
                    value: i.value.clone(),
                    source_patient_id: own(i.source_patient_id),
                })
                .collect(),
            addresses: r
                .addresses
                .iter()
                .map(|a| AddressDto {
                    lines: a.lines.0.clone(),
                    city: a.city.clone(),
                    district: a.district.clone(),
                    state: a.state.clone(),
                    postal_code: a.postal_code.clone(),
                    country: a.country.clone(),
                    use_: a.r#use.map(|u| u.as_str().to_owned()),
                    source_patient_id: own(a.source_patient_id),
                })
                .collect(),
            telecoms: r
                .telecoms
                .iter()
                .map(|t| TelecomDto {
                    system: t.system.as_str().to_owned(),
                    value: t.value.clone(),
                    use_: t.r#use.map(|u| u.as_str().to_owned()),
                    source_patient_id: own(t.source_patient_id),
                })
                .collect(),
            communication: r
                .communications
                .iter()
                .map(|c| CommunicationDto {
                    language: LanguageDto {
                        system: c.language_system.clone(),
                        code: c.language_code.clone(),
                        display: c.language_display.clone(),
                    },
                    preferred: c.preferred,
                    source_patient_id: own(c.source_patient_id),
                })
                .collect(),
            links: r.links.iter().map(LinkDto::from).collect(),
            mother: MotherDto::of(&r.patient),
            replaced_by: p.replaced_by,
            search: p.found.map(|f| SearchHitDto {
                mode: f.mode.as_str().to_owned(),
                score: f.score,
            }),
            version: r.patient.version,
            created_at: r.patient.created_at,
            updated_at: r.patient.updated_at,
        }
    }
}

/// Demographics as sent to register, update or match.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(default)]
pub struct PatientBody {
    /// Whether the record is in use (default true).
    pub active: bool,
    /// `male`, `female`, `other`, `unknown`.
    pub gender: Option<String>,
    /// `YYYY-MM-DD`, or `YYYY-MM` or `YYYY` when only that much is known.
    pub birth_date: Option<String>,
    /// Whether the patient has died.
    pub deceased: bool,
    /// When the patient died (RFC 3339).
    pub deceased_at: Option<DateTime<FixedOffset>>,
    /// FHIR marital-status code.
    pub marital_status: Option<String>,
    /// Part of a multiple birth (twins, triplets), when known.
    pub multiple_birth: Option<bool>,
    /// Birth order within the multiple birth (needs `multiple_birth` true).
    pub multiple_birth_order: Option<i32>,
    /// Names, primary first.
    pub names: Vec<NameDto>,
    /// Identifiers, primary first.
    pub identifiers: Vec<IdentifierDto>,
    /// Addresses, primary first.
    pub addresses: Vec<AddressDto>,
    /// Contact points, primary first.
    pub telecoms: Vec<TelecomDto>,
    /// Languages, primary first (at most 20).
    pub communication: Vec<CommunicationDto>,
    /// The mother's maiden name and identifier.
    pub mother: Option<MotherDto>,
    /// The version being updated (`PUT`, when no `If-Match` header is sent).
    pub version: Option<i32>,
    /// Register even when certain or probable duplicates exist (`POST /patients`).
    pub force: Option<bool>,
}

impl Default for PatientBody {
    fn default() -> Self {
        PatientBody {
            active: true,
            gender: None,
            birth_date: None,
            deceased: false,
            deceased_at: None,
            marital_status: None,
            multiple_birth: None,
            multiple_birth_order: None,
            names: Vec::new(),
            identifiers: Vec::new(),
            addresses: Vec::new(),
            telecoms: Vec::new(),
            communication: Vec::new(),
            mother: None,
            version: None,
            force: None,
        }
    }
}

impl PatientBody {
    /// Converts to the service's input, parsing codes and dates (422 naming the field).
    pub fn to_input(&self) -> Result<PatientInput, ApiError> {
        let mut names = Vec::with_capacity(self.names.len());
        for (i, n) in self.names.iter().enumerate() {
            names.push(NameInput {
                family: n.family.clone(),
                given: n.given.clone(),
                prefix: n.prefix.clone(),
                suffix: n.suffix.clone(),
                text: n.text.clone(),
                r#use: code(format!("names[{i}].use"), &n.use_)?,
                period: None,
            });
        }
        let mut identifiers = Vec::with_capacity(self.identifiers.len());
        for (i, id) in self.identifiers.iter().enumerate() {
            identifiers.push(IdentifierInput {
                r#type: code(format!("identifiers[{i}].type"), &id.type_)?,
                r#use: code(format!("identifiers[{i}].use"), &id.use_)?,
                system: id.system.clone(),
                value: id.value.clone(),
                assigner: None,
                period: None,
            });
        }
        let mut addresses = Vec::with_capacity(self.addresses.len());
        for (i, a) in self.addresses.iter().enumerate() {
            addresses.push(AddressInput {
                lines: a.lines.clone(),
                city: a.city.clone(),
                district: a.district.clone(),
                state: a.state.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.clone(),
                text: None,
                r#use: code(format!("addresses[{i}].use"), &a.use_)?,
                r#type: None,
                period: None,
            });
        }
        let mut telecoms = Vec::with_capacity(self.telecoms.len());
        for (i, t) in self.telecoms.iter().enumerate() {
            let system = code(format!("telecoms[{i}].system"), &Some(t.system.clone()))?
                .ok_or_else(|| ApiError::InvalidValue {
                    message: format!("telecoms[{i}].system: is required"),
                    field: Some(format!("telecoms[{i}].system")),
                })?;
            telecoms.push(TelecomInput {
                system,
                value: t.value.clone(),
                r#use: code(format!("telecoms[{i}].use"), &t.use_)?,
                rank: None,
                period: None,
            });
        }
        let birth_date = self
            .birth_date
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .map(|d| parse_birth_date("birth_date", d))
            .transpose()?;
        Ok(PatientInput {
            active: self.active,
            gender: code("gender".to_owned(), &self.gender)?,
            birth_date: birth_date.map(|(d, _)| d),
            birth_date_precision: birth_date.map(|(_, p)| p).unwrap_or_default(),
            deceased: self.deceased,
            deceased_at: self.deceased_at,
            marital_status: code("marital_status".to_owned(), &self.marital_status)?,
            multiple_birth: self.multiple_birth,
            multiple_birth_order: self.multiple_birth_order,
            managing_organization_id: None,
            names,
            identifiers,
            addresses,
            telecoms,
            communications: self
                .communication
                .iter()
                .map(|c| service::patients::CommunicationInput {
                    system: c.language.system.clone(),
                    code: c.language.code.clone(),
                    display: c.language.display.clone(),
                    preferred: c.preferred,
                })
                .collect(),
            mother: self
                .mother
                .as_ref()
                .map(MotherDto::to_input)
                .unwrap_or_default(),
        })
    }
}

/// One ranked match candidate.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CandidateDto {
    /// The candidate record.
    pub patient_id: Uuid,
    /// Its person id.
    pub person_id: Uuid,
    /// Match probability, 0..=1.
    pub probability: f64,
    /// Match weight in bits (log2 odds).
    pub match_weight: f64,
    /// `certain`, `probable`, `possible` (or `non_match` below the possible threshold).
    #[schema(value_type = String, example = "probable")]
    pub grade: matcher::MatchDecision,
    /// Per-field explanation of the score (model version, prior, one entry per comparison
    /// with its level, weight and the normalized values compared).
    #[schema(value_type = Object)]
    pub explanation: matcher::Explanation,
}

impl From<&MatchCandidate> for CandidateDto {
    fn from(c: &MatchCandidate) -> CandidateDto {
        CandidateDto {
            patient_id: c.patient_id,
            person_id: c.person_id,
            probability: c.score,
            match_weight: c.match_weight,
            grade: c.grade,
            explanation: c.explanation.clone(),
        }
    }
}

/// A review task.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReviewTaskDto {
    /// The task's id.
    pub id: Uuid,
    /// One record of the pair.
    pub patient_a: Uuid,
    /// The other record.
    pub patient_b: Uuid,
    /// Match probability when the task was opened.
    pub probability: f64,
    /// Match weight in bits.
    pub match_weight: f64,
    /// `open`, `merged`, `linked`, `not_duplicate`.
    pub status: String,
    /// The score's breakdown when the task was opened.
    #[schema(value_type = Object)]
    pub breakdown: Value,
    /// Who decided (key name).
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<FixedOffset>>,
    /// The steward's note.
    pub note: Option<String>,
    /// When the task was opened.
    pub created_at: DateTime<FixedOffset>,
    /// When it last changed.
    pub updated_at: DateTime<FixedOffset>,
}

impl From<&review_task::Model> for ReviewTaskDto {
    fn from(t: &review_task::Model) -> ReviewTaskDto {
        ReviewTaskDto {
            id: t.id,
            patient_a: t.patient_a,
            patient_b: t.patient_b,
            probability: t.probability,
            match_weight: t.match_weight,
            status: t.status.as_str().to_owned(),
            breakdown: t.breakdown.clone(),
            decided_by: t.decided_by.clone(),
            decided_at: t.decided_at,
            note: t.note.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// One merge: which record was retired into which, by whom, and whether it was undone.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MergeEventDto {
    /// The merge's id (`POST /merges/{id}/undo`).
    pub id: Uuid,
    /// The survivor.
    pub target: Uuid,
    /// The retired record.
    pub source: Uuid,
    /// The review task the merge decided, if any.
    pub review_task_id: Option<Uuid>,
    /// Who merged (key name).
    pub actor: String,
    /// When.
    pub merged_at: DateTime<FixedOffset>,
    /// When it was undone, if it was.
    pub undone_at: Option<DateTime<FixedOffset>>,
    /// Who undid it.
    pub undone_by: Option<String>,
}

impl From<&MergeSummary> for MergeEventDto {
    fn from(m: &MergeSummary) -> MergeEventDto {
        MergeEventDto {
            id: m.id,
            target: m.target,
            source: m.source,
            review_task_id: m.review_task_id,
            actor: m.actor.clone(),
            merged_at: m.merged_at,
            undone_at: m.undone_at,
            undone_by: m.undone_by.clone(),
        }
    }
}

/// One audit trail row.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEventDto {
    /// Position in the chain.
    pub seq: i64,
    /// When it happened.
    pub occurred_at: DateTime<FixedOffset>,
    /// The key name that acted.
    pub actor: String,
    /// Its role.
    pub role: Option<String>,
    /// What it did (`create`, `read`, `merge`, ...).
    pub action: String,
    /// The kind of entity.
    pub entity_type: Option<String>,
    /// The entity's id.
    pub entity_id: Option<String>,
    /// The state before a write.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The state after a write.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    /// The request's id.
    pub request_id: Option<String>,
    /// The client's address.
    pub client_addr: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// Hash of the previous row.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

impl From<&audit_event::Model> for AuditEventDto {
    fn from(e: &audit_event::Model) -> AuditEventDto {
        AuditEventDto {
            seq: e.seq,
            occurred_at: e.occurred_at,
            actor: e.actor.clone(),
            role: e.role.map(|r| r.as_str().to_owned()),
            action: e.action.clone(),
            entity_type: e.entity_type.clone(),
            entity_id: e.entity_id.clone(),
            before: e.before.clone(),
            after: e.after.clone(),
            request_id: e.request_id.clone(),
            client_addr: e.client_addr.clone(),
            user_agent: e.user_agent.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// A page of results.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PageDto<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items match in total.
    pub total: u64,
    /// This page, from 1.
    pub page: u64,
    /// Page size.
    pub per_page: u64,
}

/// The answer of `GET /audit/verify`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VerifyDto {
    /// Rows checked.
    pub rows: u64,
    /// Whether every row's hash matches its content and its predecessor.
    pub ok: bool,
    /// The first row whose hash does not match, if any.
    pub first_broken_seq: Option<i64>,
    /// How many rows do not verify (verification goes on past a broken row).
    pub broken_count: u64,
    /// The first 100 rows that do not verify, in `seq` order.
    pub broken: Vec<BrokenRowDto>,
    /// Rows signed with a chain key (`hmac:KEYID:...`).
    pub keyed_rows: u64,
    /// Rows hashed without a key (only before the chain's first keyed row; after it such a row
    /// is broken, `unkeyed`).
    pub unkeyed_rows: u64,
    /// Ids of keys that signed rows but that this server was not given (their rows are
    /// broken, `unknown_key`): give the older keys after a rotation.
    pub unknown_key_ids: Vec<String>,
    /// The checkpoints kept outside the database (`--audit-checkpoint-file`) compared with the
    /// chain; absent when the server writes none.
    pub checkpoints: Option<CheckpointReportDto>,
}

/// What the checkpoint file said about the chain.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckpointReportDto {
    /// Checkpoints compared.
    pub checked: u64,
    /// Lines of the file that are no checkpoint (each fails the report).
    pub unreadable_lines: u64,
    /// Checkpoints the chain contradicts.
    pub failed_count: u64,
    /// The first 100 of them.
    pub failed: Vec<CheckpointFailureDto>,
}

/// A checkpoint the chain contradicts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckpointFailureDto {
    /// The checkpoint's `seq`.
    pub seq: i64,
    /// `missing` (no row has this `seq`: the tail was cut off) or `hash_differs` (the row
    /// there carries another hash: the chain was rewritten).
    pub problem: String,
}

/// A row that does not verify.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BrokenRowDto {
    /// The row's sequence number.
    pub seq: i64,
    /// Its hash does not match its own content: the row was altered.
    pub hash_mismatch: bool,
    /// Its `prev_hash` is not the hash of the row stored before it: a row was removed or
    /// inserted before it.
    pub link_mismatch: bool,
    /// It is signed with a chain key this server was not given, so it cannot be checked.
    pub unknown_key: bool,
    /// It is hashed without a key after keyed rows: re-hashed by someone without the key, or
    /// appended by a process not given the key.
    pub unkeyed: bool,
}

impl From<service::audit::VerifyReport> for VerifyDto {
    fn from(r: service::audit::VerifyReport) -> VerifyDto {
        VerifyDto {
            rows: r.rows,
            ok: r.ok,
            first_broken_seq: r.first_broken_seq,
            broken_count: r.broken_count,
            broken: r
                .broken
                .into_iter()
                .map(|b| BrokenRowDto {
                    seq: b.seq,
                    hash_mismatch: b.hash_mismatch,
                    link_mismatch: b.link_mismatch,
                    unknown_key: b.unknown_key,
                    unkeyed: b.unkeyed,
                })
                .collect(),
            keyed_rows: r.keyed_rows,
            unkeyed_rows: r.unkeyed_rows,
            unknown_key_ids: r.unknown_key_ids,
            checkpoints: r.checkpoints.map(|c| CheckpointReportDto {
                checked: c.checked,
                unreadable_lines: c.unreadable_lines,
                failed_count: c.failed_count,
                failed: c
                    .failed
                    .into_iter()
                    .map(|f| CheckpointFailureDto {
                        seq: f.seq,
                        problem: f.problem.to_owned(),
                    })
                    .collect(),
            }),
        }
    }
}
