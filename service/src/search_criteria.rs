//! The search criteria IHE PDQm (ITI-78) and PDQ (ITI-21) ask for beyond the desk's search:
//! ids, `active`, telecom, phone numbers by their digits, address parts (street lines too),
//! birth-date comparisons on partial dates, exact and contains string matches, OR lists and
//! repeated (AND) identifiers, languages (`Patient.communication`), and the domains a result's
//! identifiers are limited to. Hand-written: they are conditions over this schema's own tables,
//! built with sea-query like the rest of [`crate::patients::search`].
//!
//! Every list of alternatives (`any_of`) is an OR; every criterion in a `Vec` of them must hold.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, LikeExpr, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, DbBackend};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::enums::{DatePrecision, Gender, TelecomSystem};
use entity::{
    patient, patient_address, patient_communication, patient_identifier, patient_name,
    patient_telecom,
};

use crate::error::Refusal;
use crate::{Error, Mpi, Result};

/// Most alternatives in one OR list, and most criteria of one kind.
pub const MAX_ALTERNATIVES: usize = 20;

/// How a string criterion compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextMatch {
    /// The value starts with the text, case ignored (FHIR's default for strings).
    #[default]
    Prefix,
    /// The value is the text exactly, case and accents included (FHIR `:exact`).
    Exact,
    /// The value contains the text, case ignored (FHIR `:contains`).
    Contains,
}

/// One string criterion: any of the alternatives, compared as `how` says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextCriterion {
    /// The alternatives (OR).
    pub any_of: Vec<String>,
    /// How each is compared.
    pub how: TextMatch,
}

/// One telecom alternative: the value exactly (surrounding spaces ignored), of this system
/// when given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelecomCriterion {
    /// Phone, email...; any when `None`.
    pub system: Option<TelecomSystem>,
    /// The value.
    pub value: String,
}

/// One language alternative (FHIR `language`, a token on `Patient.communication.language`):
/// the code, its ASCII letters' case ignored (BCP 47 tags are case-insensitive), in this system
/// when given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageCriterion {
    /// The code system: `Some(s)` that system, `Some("")` none stored (FHIR `|code`), `None`
    /// any.
    pub system: Option<String>,
    /// The code.
    pub code: String,
}

/// A phone number compared by its digits alone: the characters [`PHONE_PUNCTUATION`] are
/// dropped from the stored value before it is compared (`+1 (555) 123-4567` is `15551234567`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneCriterion {
    /// The digits searched (nothing but ASCII digits).
    pub digits: String,
    /// Whether a stored number that ends with the digits matches too (a local number searched
    /// without its area or country code); otherwise the digits must be the whole number.
    pub ending: bool,
}

/// What a stored phone number may hold besides its digits, ignored when comparing by digits.
/// Migration 23 fills `patient_telecom.digits_reversed` of the rows it found with the same list.
pub const PHONE_PUNCTUATION: &[char] = &[' ', '-', '(', ')', '.', '+', '/'];

/// What `patient_telecom.digits_reversed` holds for a stored telecom: the value without
/// [`PHONE_PUNCTUATION`], reversed (`+1 (555) 123-4567` is `76543215551`), or `None` for an
/// e-mail address or a value with nothing left. Every write of a telecom row sets it from this
/// function, so that a search by a number's digits is an equality on the column and a search by
/// its end a range over a prefix of it, both answered by its index.
pub fn phone_digits_reversed(system: TelecomSystem, value: &str) -> Option<String> {
    if system == TelecomSystem::Email {
        return None;
    }
    let reversed: String = value
        .chars()
        .rev()
        .filter(|c| !PHONE_PUNCTUATION.contains(c))
        .collect();
    (!reversed.is_empty()).then_some(reversed)
}

/// The first string after every string that starts with `prefix` (its last character moved
/// up by one), so that `>= prefix AND < prefix_end(prefix)` is "starts with `prefix`" in a
/// bytewise order (SQLite's BINARY, the column's `COLLATE "C"` on PostgreSQL). `prefix` is
/// ASCII digits here, so the last one becomes the next digit or `:`, which follows `9`.
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_owned();
    if let Some(last) = end.pop() {
        end.push(char::from_u32(u32::from(last) + 1).unwrap_or(char::MAX));
    }
    end
}

/// A comparison of the birth date (FHIR's date prefixes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateComparator {
    /// The birth date lies inside the searched period.
    #[default]
    Eq,
    /// The birth date is known and does not lie inside it.
    Ne,
    /// The birth date (its period) starts before the searched period.
    Lt,
    /// The birth date's period ends after the searched period.
    Gt,
    /// `lt` or inside: it starts before the searched period ends.
    Le,
    /// `gt` or inside: it ends after the searched period starts.
    Ge,
    /// Approximately: overlaps the searched period widened by a tenth of its distance from
    /// today (at least a day), as FHIR suggests.
    Ap,
}

impl DateComparator {
    /// Reads a FHIR prefix (`eq`, `ne`, `lt`, `gt`, `le`, `ge`, `ap`).
    pub fn from_prefix(prefix: &str) -> Option<DateComparator> {
        Some(match prefix {
            "eq" => DateComparator::Eq,
            "ne" => DateComparator::Ne,
            "lt" => DateComparator::Lt,
            "gt" => DateComparator::Gt,
            "le" => DateComparator::Le,
            "ge" => DateComparator::Ge,
            "ap" => DateComparator::Ap,
            _ => return None,
        })
    }
}

/// One birth-date alternative: a comparison with a date at its precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateCriterion {
    /// The comparison.
    pub comparator: DateComparator,
    /// The first day of the searched period.
    pub date: NaiveDate,
    /// The searched period's length.
    pub precision: DatePrecision,
}

/// One `_lastUpdated` alternative: a comparison of when the record last changed with the period
/// `[start, end)` a FHIR date or dateTime covers (a day, a second...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstantCriterion {
    /// The comparison (`eq`: inside the period; `ne`: outside; `lt`: before its start; `le`:
    /// before its end; `gt`: from its end on; `ge`: from its start on; `ap`: inside it widened
    /// by a tenth of its distance from now, at least a second).
    pub comparator: DateComparator,
    /// The period's first instant.
    pub start: DateTime<FixedOffset>,
    /// The instant just after the period.
    pub end: DateTime<FixedOffset>,
}

/// The criteria of a PDQm search beyond [`crate::patients::PatientQuery`]'s own; every one
/// given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoreCriteria {
    /// Record ids (OR).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<Uuid>,
    /// Whether the record is active (merged-away records are not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// A family or given name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<TextCriterion>,
    /// A family name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub family: Vec<TextCriterion>,
    /// A given name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<TextCriterion>,
    /// Genders (OR).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub genders: Vec<Gender>,
    /// Birth dates: each an OR list of comparisons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub birth_dates: Vec<Vec<DateCriterion>>,
    /// When the record last changed (`patient.updated_at`, FHIR `_lastUpdated`): each an OR
    /// list of comparisons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_updated: Vec<Vec<InstantCriterion>>,
    /// Identifiers: each an OR list of (system, value); an empty system is any system, an
    /// empty value any value in that system.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Vec<(String, String)>>,
    /// Telecoms: each an OR list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telecoms: Vec<Vec<TelecomCriterion>>,
    /// Any part of an address (lines, city, district, state, postal code, country, text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<TextCriterion>,
    /// Phone numbers (any telecom but e-mail) by their digits: each an OR list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<Vec<PhoneCriterion>>,
    /// Languages the patient speaks (`patient_communication`): each an OR list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<Vec<LanguageCriterion>>,
    /// An address's street lines (any line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_line: Vec<TextCriterion>,
    /// An address's city.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_city: Vec<TextCriterion>,
    /// An address's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_state: Vec<TextCriterion>,
    /// An address's country.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_country: Vec<TextCriterion>,
    /// An address's postal code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_postalcode: Vec<TextCriterion>,
    /// The mother's maiden family name (HL7 PID-6.1, FHIR `mothersMaidenName`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mother_maiden_family: Vec<TextCriterion>,
    /// The mother's maiden given name (HL7 PID-6.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mother_maiden_given: Vec<TextCriterion>,
    /// The mother's identifier: each an OR list of (system, value); an empty system is any
    /// system (a registered domain's every name is searched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mother_identifiers: Vec<Vec<(String, String)>>,
    /// Not a criterion: the identifier domains (any name of each) a result's identifiers are
    /// limited to; every domain when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier_domains: Vec<String>,
    /// A criterion no record meets was given (FHIR's `identifier=|value` asks for an identifier
    /// without a system, and every identifier stored here is in a domain): nothing is found.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unmeetable: bool,
}

impl MoreCriteria {
    /// Whether no criterion is given (`identifier_domains` is not one).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
            && self.active.is_none()
            && self.name.is_empty()
            && self.family.is_empty()
            && self.given.is_empty()
            && self.genders.is_empty()
            && self.birth_dates.is_empty()
            && self.last_updated.is_empty()
            && self.identifiers.is_empty()
            && self.telecoms.is_empty()
            && self.phones.is_empty()
            && self.languages.is_empty()
            && self.address.is_empty()
            && self.address_line.is_empty()
            && self.address_city.is_empty()
            && self.address_state.is_empty()
            && self.address_country.is_empty()
            && self.address_postalcode.is_empty()
            && self.mother_maiden_family.is_empty()
            && self.mother_maiden_given.is_empty()
            && self.mother_identifiers.is_empty()
            && !self.unmeetable
    }

    /// Bounds: at most [`MAX_ALTERNATIVES`] criteria of a kind and alternatives in each, each
    /// text within `max_text` characters and not blank.
    pub(crate) fn check(&self, max_text: usize) -> Result<()> {
        let too_many = |field: &str| {
            Error::validation(
                field,
                format!("at most {MAX_ALTERNATIVES} criteria or alternatives"),
            )
        };
        let texts = [
            ("name", &self.name),
            ("family", &self.family),
            ("given", &self.given),
            ("address", &self.address),
            ("address_line", &self.address_line),
            ("address_city", &self.address_city),
            ("address_state", &self.address_state),
            ("address_country", &self.address_country),
            ("address_postalcode", &self.address_postalcode),
            ("mother_maiden_name", &self.mother_maiden_family),
            ("mother_maiden_given", &self.mother_maiden_given),
        ];
        for (field, criteria) in texts {
            if criteria.len() > MAX_ALTERNATIVES {
                return Err(too_many(field));
            }
            for c in criteria {
                if c.any_of.is_empty() || c.any_of.len() > MAX_ALTERNATIVES {
                    return Err(too_many(field));
                }
                for text in &c.any_of {
                    crate::limits::check_text(|| field.to_owned(), text, max_text)?;
                    if text.trim().is_empty() {
                        return Err(Error::validation(field, "is empty"));
                    }
                }
            }
        }
        let lists = [
            ("ids", self.ids.len()),
            ("genders", self.genders.len()),
            ("birth_date", self.birth_dates.len()),
            ("last_updated", self.last_updated.len()),
            ("identifier", self.identifiers.len()),
            ("telecom", self.telecoms.len()),
            ("phone", self.phones.len()),
            ("language", self.languages.len()),
            ("mother_identifier", self.mother_identifiers.len()),
            ("identifier_domains", self.identifier_domains.len()),
        ];
        for (field, n) in lists {
            if n > MAX_ALTERNATIVES {
                return Err(too_many(field));
            }
        }
        for b in &self.birth_dates {
            if b.is_empty() || b.len() > MAX_ALTERNATIVES {
                return Err(too_many("birth_date"));
            }
        }
        for list in &self.last_updated {
            if list.is_empty() || list.len() > MAX_ALTERNATIVES {
                return Err(too_many("last_updated"));
            }
            if list.iter().any(|c| c.end <= c.start) {
                return Err(Error::validation("last_updated", "is an empty period"));
            }
        }
        for list in &self.identifiers {
            if list.is_empty() || list.len() > MAX_ALTERNATIVES {
                return Err(too_many("identifier"));
            }
            for (system, value) in list {
                crate::limits::check_text(|| "identifier".to_owned(), system, max_text)?;
                crate::limits::check_text(|| "identifier".to_owned(), value, max_text)?;
                if value.trim().is_empty() && system.trim().is_empty() {
                    return Err(Error::validation("identifier", "has no system nor value"));
                }
            }
        }
        for list in &self.mother_identifiers {
            if list.is_empty() || list.len() > MAX_ALTERNATIVES {
                return Err(too_many("mother_identifier"));
            }
            for (system, value) in list {
                crate::limits::check_text(|| "mother_identifier".to_owned(), system, max_text)?;
                crate::limits::check_text(|| "mother_identifier".to_owned(), value, max_text)?;
                if value.trim().is_empty() {
                    return Err(Error::validation("mother_identifier", "has no value"));
                }
            }
        }
        for list in &self.telecoms {
            if list.is_empty() || list.len() > MAX_ALTERNATIVES {
                return Err(too_many("telecom"));
            }
            for t in list {
                crate::limits::check_text(|| "telecom".to_owned(), &t.value, max_text)?;
                if t.value.trim().is_empty() {
                    return Err(Error::validation("telecom", "is empty"));
                }
            }
        }
        for list in &self.phones {
            if list.is_empty() || list.len() > MAX_ALTERNATIVES {
                return Err(too_many("phone"));
            }
            for p in list {
                crate::limits::check_text(|| "phone".to_owned(), &p.digits, max_text)?;
                if p.digits.is_empty() || !p.digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::validation("phone", "must be digits"));
                }
            }
        }
        for list in &self.languages {
            if list.is_empty() || list.len() > MAX_ALTERNATIVES {
                return Err(too_many("language"));
            }
            for l in list {
                crate::limits::check_text(|| "language".to_owned(), &l.code, max_text)?;
                if let Some(system) = &l.system {
                    crate::limits::check_text(|| "language".to_owned(), system, max_text)?;
                }
                if l.code.trim().is_empty() {
                    return Err(Error::validation("language", "has no code"));
                }
            }
        }
        for d in &self.identifier_domains {
            crate::limits::check_text(|| "identifier_domains".to_owned(), d, max_text)?;
        }
        Ok(())
    }

    /// The names of the domains results' identifiers are limited to (every alias of each);
    /// `None` when not limited. A system that is neither a registered domain nor stored on any
    /// record is [`unknown_domain`].
    pub async fn domain_aliases(&self, mpi: &Mpi) -> Result<Option<Vec<String>>> {
        if self.identifier_domains.is_empty() {
            return Ok(None);
        }
        let mut in_use = None;
        let mut out = Vec::new();
        for d in &self.identifier_domains {
            out.extend(system_names(mpi, d, &mut in_use).await?);
        }
        Ok(Some(out))
    }

    /// The condition over `patient` rows these criteria make.
    pub(crate) async fn condition(&self, mpi: &Mpi) -> Result<Condition> {
        let backend = mpi.db().get_database_backend();
        let mut cond = Condition::all();
        if self.unmeetable {
            cond = cond.add(Expr::val(1).eq(0));
        }
        if !self.ids.is_empty() {
            cond = cond.add(patient::Column::Id.is_in(self.ids.clone()));
        }
        if let Some(active) = self.active {
            cond = cond.add(patient::Column::Active.eq(active));
        }
        if !self.genders.is_empty() {
            cond = cond.add(patient::Column::Gender.is_in(self.genders.clone()));
        }
        for list in &self.birth_dates {
            let mut any = Condition::any();
            for d in list {
                any = any.add(birth_date_condition(d));
            }
            cond = cond.add(any);
        }
        for list in &self.last_updated {
            let mut any = Condition::any();
            for c in list {
                any = any.add(last_updated_condition(c));
            }
            cond = cond.add(any);
        }
        let family = || Expr::col((patient_name::Entity, patient_name::Column::Family));
        let given = || Expr::col((patient_name::Entity, patient_name::Column::Given));
        for c in &self.family {
            cond = cond.add(rows_exist(
                patient_name::Entity,
                patient_name::Column::PatientId,
                any_text(c, |t| scalar_text(family(), t, c.how, backend)),
            ));
        }
        for c in &self.given {
            cond = cond.add(rows_exist(
                patient_name::Entity,
                patient_name::Column::PatientId,
                any_text(c, |t| list_text(given(), t, c.how, backend)),
            ));
        }
        for c in &self.name {
            cond = cond.add(rows_exist(
                patient_name::Entity,
                patient_name::Column::PatientId,
                any_text(c, |t| {
                    scalar_text(family(), t, c.how, backend).or(list_text(
                        given(),
                        t,
                        c.how,
                        backend,
                    ))
                }),
            ));
        }
        let own = |column: patient::Column| Expr::col((patient::Entity, column));
        // The maiden name the record holds, else (none held) the mother's own names: what a
        // PDQ answer's PID-6 shows.
        let none_held = || {
            own(patient::Column::MotherMaidenFamily)
                .is_null()
                .and(own(patient::Column::MotherMaidenGiven).is_null())
        };
        for c in &self.mother_maiden_family {
            cond = cond.add(any_text(c, |t| {
                scalar_text(own(patient::Column::MotherMaidenFamily), t, c.how, backend)
                    .or(none_held().and(mothers_names(NamePart::Family, t, c.how, backend)))
            }));
        }
        for c in &self.mother_maiden_given {
            cond = cond.add(any_text(c, |t| {
                scalar_text(own(patient::Column::MotherMaidenGiven), t, c.how, backend)
                    .or(none_held().and(mothers_names(NamePart::Given, t, c.how, backend)))
            }));
        }
        for list in &self.mother_identifiers {
            let mut any = Condition::any();
            for (system, value) in list {
                let mut one =
                    Condition::all().add(patient::Column::MotherIdentifierValue.eq(value.trim()));
                if !system.trim().is_empty() {
                    // Any name of a registered domain; a system of its own as itself.
                    one = one.add(
                        patient::Column::MotherIdentifierSystem
                            .is_in(mpi.domains().aliases_of(system)),
                    );
                }
                any = any.add(one);
            }
            cond = cond.add(any);
        }
        let addr = |column: patient_address::Column| Expr::col((patient_address::Entity, column));
        for c in &self.address_line {
            cond = cond.add(rows_exist(
                patient_address::Entity,
                patient_address::Column::PatientId,
                any_text(c, |t| {
                    list_text(addr(patient_address::Column::Lines), t, c.how, backend)
                }),
            ));
        }
        let parts = [
            (&self.address_city, patient_address::Column::City),
            (&self.address_state, patient_address::Column::State),
            (&self.address_country, patient_address::Column::Country),
            (
                &self.address_postalcode,
                patient_address::Column::PostalCode,
            ),
        ];
        for (criteria, column) in parts {
            for c in criteria {
                cond = cond.add(rows_exist(
                    patient_address::Entity,
                    patient_address::Column::PatientId,
                    any_text(c, |t| scalar_text(addr(column), t, c.how, backend)),
                ));
            }
        }
        for c in &self.address {
            cond = cond.add(rows_exist(
                patient_address::Entity,
                patient_address::Column::PatientId,
                any_text(c, |t| {
                    let mut e = list_text(addr(patient_address::Column::Lines), t, c.how, backend);
                    for column in [
                        patient_address::Column::City,
                        patient_address::Column::District,
                        patient_address::Column::State,
                        patient_address::Column::PostalCode,
                        patient_address::Column::Country,
                        patient_address::Column::Text,
                    ] {
                        e = e.or(scalar_text(addr(column), t, c.how, backend));
                    }
                    e
                }),
            ));
        }
        for list in &self.telecoms {
            // When every alternative names a system other than e-mail, each also fixes the
            // row's `digits_reversed`, whose index then finds the rows; otherwise (a value of
            // any system, an e-mail) the patients' telecoms are read one patient at a time.
            let mut indexed = true;
            let mut any = Condition::any();
            for t in list {
                let value = t.value.trim();
                let mut c = Condition::all().add(
                    Expr::col((patient_telecom::Entity, patient_telecom::Column::Value)).eq(value),
                );
                if let Some(system) = t.system {
                    c = c.add(
                        Expr::col((patient_telecom::Entity, patient_telecom::Column::System))
                            .eq(system),
                    );
                }
                match t.system.and_then(|s| phone_digits_reversed(s, value)) {
                    Some(digits) => {
                        c = c.add(
                            Expr::col((
                                patient_telecom::Entity,
                                patient_telecom::Column::DigitsReversed,
                            ))
                            .eq(digits),
                        );
                    }
                    None => indexed = false,
                }
                any = any.add(c);
            }
            cond = cond.add(if indexed {
                crate::patients::patients_in(
                    Query::select()
                        .column((patient_telecom::Entity, patient_telecom::Column::PatientId))
                        .from(patient_telecom::Entity)
                        .cond_where(any)
                        .to_owned(),
                    backend,
                )
            } else {
                rows_exist(
                    patient_telecom::Entity,
                    patient_telecom::Column::PatientId,
                    any.into(),
                )
            });
        }
        for list in &self.phones {
            // An index range scan of `digits_reversed` finds the telecoms; e-mails hold NULL
            // there and never match.
            let column = || {
                Expr::col((
                    patient_telecom::Entity,
                    patient_telecom::Column::DigitsReversed,
                ))
            };
            let mut any = Condition::any();
            for p in list {
                let reversed: String = p.digits.chars().rev().collect();
                any = any.add(if p.ending {
                    Condition::all()
                        .add(column().gte(reversed.clone()))
                        .add(column().lt(prefix_end(&reversed)))
                } else {
                    Condition::all().add(column().eq(reversed))
                });
            }
            cond = cond.add(crate::patients::patients_in(
                Query::select()
                    .column((patient_telecom::Entity, patient_telecom::Column::PatientId))
                    .from(patient_telecom::Entity)
                    .cond_where(any)
                    .to_owned(),
                backend,
            ));
        }
        for list in &self.languages {
            // `idx_patient_communication_language` (migration 29) holds the lowered code, the
            // system and the patient: the rows are found and their patients read from it.
            let code = || {
                Expr::expr(Func::lower(Expr::col((
                    patient_communication::Entity,
                    patient_communication::Column::LanguageCode,
                ))))
            };
            let system = || {
                Expr::col((
                    patient_communication::Entity,
                    patient_communication::Column::LanguageSystem,
                ))
            };
            let mut any = Condition::any();
            for l in list {
                let mut one = Condition::all().add(code().eq(l.code.trim().to_ascii_lowercase()));
                match l.system.as_deref().map(str::trim) {
                    None => {}
                    Some("") => one = one.add(system().is_null()),
                    Some(s) => one = one.add(system().eq(s)),
                }
                any = any.add(one);
            }
            cond = cond.add(crate::patients::patients_in(
                Query::select()
                    .column((
                        patient_communication::Entity,
                        patient_communication::Column::PatientId,
                    ))
                    .from(patient_communication::Entity)
                    .cond_where(any)
                    .to_owned(),
                backend,
            ));
        }
        if !self.identifiers.is_empty() {
            let mut in_use: Option<Vec<String>> = None;
            for list in &self.identifiers {
                let mut any = Condition::any();
                for (system, value) in list {
                    let systems = if system.trim().is_empty() {
                        if in_use.is_none() {
                            in_use =
                                Some(patient_identifier::Entity::systems_in_use(mpi.db()).await?);
                        }
                        in_use.clone().unwrap_or_default()
                    } else {
                        system_names(mpi, system, &mut in_use).await?
                    };
                    any = any.add(if value.trim().is_empty() {
                        // `system|`: any identifier in that domain.
                        rows_exist(
                            patient_identifier::Entity,
                            patient_identifier::Column::PatientId,
                            Expr::col((
                                patient_identifier::Entity,
                                patient_identifier::Column::System,
                            ))
                            .is_in(systems),
                        )
                    } else {
                        patient::Column::Id.in_subquery(patient_identifier::Entity::holders_of_any(
                            &systems,
                            value.trim(),
                        ))
                    });
                }
                cond = cond.add(any);
            }
        }
        Ok(cond)
    }
}

/// Every name of the domain `system` names; a system that is no registered domain but is
/// stored on records (a server accepting unknown domains) is only itself; one that is neither
/// is [`unknown_domain`]. `in_use` caches the stored systems.
async fn system_names(
    mpi: &Mpi,
    system: &str,
    in_use: &mut Option<Vec<String>>,
) -> Result<Vec<String>> {
    let system = system.trim();
    if mpi.domains().resolve(system).is_some() {
        return Ok(mpi.domains().aliases_of(system));
    }
    if in_use.is_none() {
        *in_use = Some(patient_identifier::Entity::systems_in_use(mpi.db()).await?);
    }
    if in_use
        .as_ref()
        .is_some_and(|u| u.iter().any(|s| s == system))
    {
        Ok(vec![system.to_owned()])
    } else {
        Err(unknown_domain())
    }
}

/// An identifier system that names no registered domain and no record holds: nothing can be
/// found in it (HTTP 404, as IHE PDQm asks for an unknown domain).
fn unknown_domain() -> Error {
    Error::refused(
        Refusal::Unknown,
        "unknown_domain",
        "identifier",
        "names an identifier domain this server does not know",
    )
}

/// Any alternative of `c`, each made by `one`.
fn any_text(c: &TextCriterion, one: impl Fn(&str) -> SimpleExpr) -> SimpleExpr {
    let mut exprs = c.any_of.iter().map(|t| one(t));
    let first = exprs.next().unwrap_or_else(|| Expr::value(false));
    exprs.fold(first, |acc, e| acc.or(e))
}

/// Which part of a name a mother's name criterion compares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NamePart {
    Family,
    Given,
}

/// The mother's names as her own records give them, for a child that names its mother without
/// a maiden name of its own (HL7 PID-21 alone, a PMIR RelatedPerson; the caller checks that it
/// holds none, as PDQ's PID-6 then shows her own record's name; OpenHIE CR 13-30 asks
/// `@PID.6.1^JONES~@PID.6.2^JENNIFER` for the child of Jennifer Jones, known by identifier):
/// a name of any use (her maiden name, or the legal name she is registered under) of
///
/// * the record the child's mother reference resolved to (`mother_patient_id`),
/// * any record holding the child's mother's identifier (the same, or one not resolved yet),
/// * the child's `MTH` RelatedPerson (FHIR, PMIR), whose names are a JSON list.
fn mothers_names(part: NamePart, text: &str, how: TextMatch, backend: DbBackend) -> SimpleExpr {
    let named = Alias::new("mother_name");
    let held = Alias::new("mother_identifier");
    let compared = |column: Expr| match part {
        NamePart::Family => scalar_text(column, text, how, backend),
        NamePart::Given => list_text(column, text, how, backend),
    };
    let name_column = match part {
        NamePart::Family => patient_name::Column::Family,
        NamePart::Given => patient_name::Column::Given,
    };
    // Each way to her names is an `EXISTS` of its own, served by an index: `patient_name` by
    // `patient_id`, the identifier by the live holders' `(system, value)` index, whose
    // predicate is stated literally (a mother not resolved yet is a live record).
    let names_of = |patient_id: Expr| {
        Query::select()
            .expr(Expr::value(1))
            .from_as(patient_name::Entity, named.clone())
            .and_where(Expr::col((named.clone(), patient_name::Column::PatientId)).eq(patient_id))
            .and_where(compared(Expr::col((named.clone(), name_column))))
            .to_owned()
    };
    let resolved = names_of(Expr::col((
        patient::Entity,
        patient::Column::MotherPatientId,
    )));
    let by_identifier = Query::select()
        .expr(Expr::value(1))
        .from_as(patient_identifier::Entity, held.clone())
        .and_where(Expr::col((
            held.clone(),
            patient_identifier::Column::PatientLive,
        )))
        .and_where(
            Expr::col((held.clone(), patient_identifier::Column::System))
                .equals((patient::Entity, patient::Column::MotherIdentifierSystem)),
        )
        .and_where(
            Expr::col((held.clone(), patient_identifier::Column::Value))
                .equals((patient::Entity, patient::Column::MotherIdentifierValue)),
        )
        .and_where(Expr::exists(names_of(Expr::col((
            held,
            patient_identifier::Column::PatientId,
        )))))
        .to_owned();
    // The RelatedPerson's names: one JSON object per name, `family` a text and `given` a list.
    // sea-query writes the expression where its placeholder stands: `?` for SQLite, `$1` for
    // PostgreSQL.
    let (elements, placeholder) = match backend {
        DbBackend::Sqlite => ("json_each(rp.names) AS rn", "?"),
        _ => ("jsonb_array_elements(rp.names) AS rn(value)", "$1"),
    };
    let rp_name = compared(Expr::cust(match part {
        NamePart::Family => "rn.value ->> 'family'",
        NamePart::Given => "rn.value -> 'given'",
    }));
    let related_person = Expr::cust_with_exprs(
        format!(
            "EXISTS (SELECT 1 FROM related_person AS rp, {elements} \
             WHERE rp.patient_id = \"patient\".\"id\" AND rp.relationship = 'MTH' \
             AND rp.active AND rp.deleted_at IS NULL AND {placeholder})"
        ),
        [rp_name],
    );
    Expr::exists(resolved)
        .or(Expr::exists(by_identifier))
        .or(related_person)
}

/// `EXISTS` a row of `table` for the patient satisfying `cond`.
fn rows_exist<T: sea_orm::EntityTrait, C: sea_orm::ColumnTrait>(
    table: T,
    patient_id: C,
    cond: SimpleExpr,
) -> SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::value(1))
            .from(table)
            .and_where(
                Expr::col((table, patient_id)).equals((patient::Entity, patient::Column::Id)),
            )
            .and_where(cond)
            .to_owned(),
    )
}

/// `text` with LIKE's wildcards escaped by `\`.
fn escape_like(text: &str) -> String {
    let mut p = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p
}

/// A text column compared with `text`.
fn scalar_text(column: Expr, text: &str, how: TextMatch, backend: DbBackend) -> SimpleExpr {
    if how == TextMatch::Exact {
        return column.eq(text.trim());
    }
    crate::patients::any_of(
        crate::patients::case_variants(text, backend)
            .iter()
            .map(|folded| {
                let pattern = match how {
                    TextMatch::Contains => format!("%{}%", escape_like(folded)),
                    _ => format!("{}%", escape_like(folded)),
                };
                Expr::expr(Func::lower(column.clone())).like(LikeExpr::new(pattern).escape('\\'))
            }),
    )
}

/// A JSON list of texts (given names, address lines) with an item compared with `text`: its
/// text form holds `"text` (prefix), `"text"` (exact, case kept) or `text` (contains).
fn list_text(column: Expr, text: &str, how: TextMatch, backend: DbBackend) -> SimpleExpr {
    let as_text = || match backend {
        DbBackend::Sqlite => SimpleExpr::from(column.clone()),
        _ => column.clone().cast_as("text"),
    };
    if how == TextMatch::Exact {
        // The item as JSON writes it, quotes included; `instr`/`strpos` keep case.
        let item = serde_json::to_string(text.trim()).unwrap_or_default();
        let function = match backend {
            DbBackend::Sqlite => "instr",
            _ => "strpos",
        };
        return Expr::expr(
            Func::cust(function)
                .arg(column.cast_as("text"))
                .arg(Expr::val(item)),
        )
        .gt(0);
    }
    crate::patients::any_of(
        crate::patients::case_variants(text, backend)
            .iter()
            .map(|folded| {
                let json = serde_json::to_string(folded).unwrap_or_default();
                let inner = json.trim_matches('"');
                let pattern = match how {
                    TextMatch::Contains => format!("%{}%", escape_like(inner)),
                    _ => format!("%\"{}%", escape_like(inner)),
                };
                Expr::expr(Func::lower(as_text())).like(LikeExpr::new(pattern).escape('\\'))
            }),
    )
}

/// The first day of the period of `precision` holding `date`.
fn floor(date: NaiveDate, precision: DatePrecision) -> NaiveDate {
    match precision {
        DatePrecision::Year => NaiveDate::from_ymd_opt(date.year(), 1, 1),
        DatePrecision::Month => NaiveDate::from_ymd_opt(date.year(), date.month(), 1),
        DatePrecision::Day => Some(date),
    }
    .unwrap_or(date)
}

/// Stored birth dates of `precision` (a missing precision is a full date).
fn stored_at(precision: DatePrecision) -> Condition {
    let c = Condition::any().add(patient::Column::BirthDatePrecision.eq(precision));
    if precision == DatePrecision::Day {
        c.add(patient::Column::BirthDatePrecision.is_null())
    } else {
        c
    }
}

/// A birth-date comparison. A stored date is a period too (`1984` is the whole year): with
/// `[s, e)` the stored period and `[vs, ve)` the searched one, `eq` is `[s, e)` inside
/// `[vs, ve)`, `lt` is `s < vs`, `le` is `s < ve`, `gt` is `e > ve`, `ge` is `e > vs`, `ap` is
/// an overlap with the widened period. As `s` is the first day of a period of its precision
/// `P`, `e > x` is `s >= floor_P(x)`, so each is a range over the indexed column per stored
/// precision. A record without a birth date satisfies none.
fn birth_date_condition(d: &DateCriterion) -> Condition {
    let (vs, ve) = crate::patients::partial_date_range(d.date, d.precision);
    let per_precision = |f: &dyn Fn(DatePrecision) -> Condition| {
        let mut any = Condition::any();
        for p in DatePrecision::ALL {
            any = any.add(Condition::all().add(stored_at(*p)).add(f(*p)));
        }
        any
    };
    let col = patient::Column::BirthDate;
    let inside = || {
        per_precision(&|p| {
            if p >= d.precision {
                Condition::all().add(col.gte(vs)).add(col.lt(ve))
            } else {
                // A coarser stored date is inside only when its period is (never, for an
                // aligned search of a finer precision).
                Condition::all().add(Expr::value(false))
            }
        })
    };
    match d.comparator {
        DateComparator::Eq => inside(),
        DateComparator::Ne => Condition::all().add(col.is_not_null()).add(inside().not()),
        DateComparator::Lt => Condition::all().add(col.lt(vs)),
        DateComparator::Le => Condition::all().add(col.lt(ve)),
        DateComparator::Gt => per_precision(&|p| Condition::all().add(col.gte(floor(ve, p)))),
        DateComparator::Ge => per_precision(&|p| Condition::all().add(col.gte(floor(vs, p)))),
        DateComparator::Ap => {
            let today = Utc::now().date_naive();
            let gap = (today - vs).num_days().unsigned_abs() / 10;
            let widen = chrono::Days::new(Ord::max(gap, 1));
            let from = vs.checked_sub_days(widen).unwrap_or(NaiveDate::MIN);
            let to = ve.checked_add_days(widen).unwrap_or(NaiveDate::MAX);
            per_precision(&|p| {
                Condition::all()
                    .add(col.gte(floor(from, p)))
                    .add(col.lt(to))
            })
        }
    }
}

/// A `_lastUpdated` comparison over `patient.updated_at`, a point in time. Bounds are bound in
/// UTC: SQLite keeps the column as RFC 3339 text, all of it written in UTC, which then orders
/// as the instants do.
fn last_updated_condition(c: &InstantCriterion) -> Condition {
    let utc = |t: DateTime<FixedOffset>| t.with_timezone(&Utc).fixed_offset();
    let (start, end) = (utc(c.start), utc(c.end));
    let col = patient::Column::UpdatedAt;
    let inside = |from: DateTime<FixedOffset>, to: DateTime<FixedOffset>| {
        Condition::all().add(col.gte(from)).add(col.lt(to))
    };
    match c.comparator {
        DateComparator::Eq => inside(start, end),
        DateComparator::Ne => inside(start, end).not(),
        DateComparator::Lt => Condition::all().add(col.lt(start)),
        DateComparator::Le => Condition::all().add(col.lt(end)),
        DateComparator::Gt => Condition::all().add(col.gte(end)),
        DateComparator::Ge => Condition::all().add(col.gte(start)),
        DateComparator::Ap => {
            let gap = (Utc::now().fixed_offset() - start).abs() / 10;
            let gap = gap.max(chrono::TimeDelta::seconds(1));
            inside(
                start.checked_sub_signed(gap).unwrap_or(start),
                end.checked_add_signed(gap).unwrap_or(end),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_align_to_the_stored_precision() {
        let d = NaiveDate::from_ymd_opt(1984, 5, 17).unwrap();
        assert_eq!(floor(d, DatePrecision::Year).to_string(), "1984-01-01");
        assert_eq!(floor(d, DatePrecision::Month).to_string(), "1984-05-01");
        assert_eq!(floor(d, DatePrecision::Day), d);
    }

    #[test]
    fn exact_list_items_render_for_sqlite() {
        let given = Expr::col((patient_name::Entity, patient_name::Column::Given));
        let sql = Query::select()
            .expr(Expr::value(1))
            .and_where(list_text(
                given,
                "Anna",
                TextMatch::Exact,
                DbBackend::Sqlite,
            ))
            .to_string(sea_orm::sea_query::SqliteQueryBuilder);
        assert!(sql.contains("instr(CAST("), "{sql}");
    }

    #[test]
    fn date_prefixes_are_fhirs() {
        assert_eq!(DateComparator::from_prefix("ge"), Some(DateComparator::Ge));
        assert_eq!(DateComparator::from_prefix("sa"), None);
    }
}
