//! The coded values the schema's CHECK constraints allow, taken from FHIR R4 value sets.
//!
//! The entity crate mirrors each list as a Rust enum; a test writes every enum variant through
//! the entities, so a code the entities know but the database rejects is caught.
//! Changing a list means a new migration (SQLite cannot alter a CHECK constraint in place).

/// `Patient.gender` (FHIR administrative-gender).
pub const GENDER: &[&str] = &["male", "female", "other", "unknown"];

/// `Patient.maritalStatus` (FHIR marital-status, the v3 MaritalStatus codes plus `UNK`).
pub const MARITAL_STATUS: &[&str] = &["A", "D", "I", "L", "M", "C", "P", "T", "U", "S", "W", "UNK"];

/// `HumanName.use` (FHIR name-use).
pub const NAME_USE: &[&str] = &[
    "usual",
    "official",
    "temp",
    "nickname",
    "anonymous",
    "old",
    "maiden",
];

/// `Identifier.use` (FHIR identifier-use).
pub const IDENTIFIER_USE: &[&str] = &["usual", "official", "temp", "secondary", "old"];

/// `Identifier.type`: the FHIR R4 identifier-type value set plus common HL7 v2 table 0203 codes
/// (SS social security, NI national id, NPI, PI patient internal, PT, AN account, MA/MC
/// Medicaid/Medicare, HC health card, U unspecified).
pub const IDENTIFIER_TYPE: &[&str] = &[
    "MR", "SS", "DL", "PPN", "BRN", "MCN", "EN", "TAX", "NIIP", "PRN", "MD", "DR", "ACSN", "UDI",
    "SNO", "SB", "PLAC", "FILL", "JHN", "NI", "NPI", "PI", "PT", "AN", "MA", "MC", "HC", "U",
];

/// `Address.use` (FHIR address-use).
pub const ADDRESS_USE: &[&str] = &["home", "work", "temp", "old", "billing"];

/// `Address.type` (FHIR address-type).
pub const ADDRESS_TYPE: &[&str] = &["postal", "physical", "both"];

/// `ContactPoint.system` (FHIR contact-point-system).
pub const TELECOM_SYSTEM: &[&str] = &["phone", "fax", "email", "pager", "url", "sms", "other"];

/// `ContactPoint.use` (FHIR contact-point-use).
pub const TELECOM_USE: &[&str] = &["home", "work", "temp", "old", "mobile"];

/// `Organization.type` (FHIR organization-type).
pub const ORGANIZATION_TYPE: &[&str] = &[
    "prov", "dept", "team", "govt", "ins", "pay", "edu", "reli", "crs", "cg", "bus", "other",
];

/// `Patient.link.type` (FHIR link-type).
pub const LINK_TYPE: &[&str] = &["replaced-by", "replaces", "refer", "seealso"];

/// Who made a link: a person (data steward) or the matcher.
pub const LINK_ORIGIN: &[&str] = &["person", "matcher"];

/// The data stewards' review queue states.
pub const REVIEW_STATUS: &[&str] = &["open", "merged", "linked", "not_duplicate"];

/// API key roles (also the role recorded on audit events).
pub const ROLE: &[&str] = &["registrar", "steward", "auditor", "admin"];

/// `change_log.operation`.
pub const OPERATION: &[&str] = &["INSERT", "UPDATE", "DELETE"];

/// How much of a birth date is known (FHIR `date` and HL7 TS allow a year, a year and month, or
/// a full date).
pub const DATE_PRECISION: &[&str] = &["year", "month", "day"];
