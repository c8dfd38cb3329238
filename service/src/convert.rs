//! Conversions between stored rows, the service's input types and the matcher's `PersonRecord`.
//!
//! The matcher sees: the given names of the primary (first) name; the family names of every
//! name, primary first, then the others (maiden and old names too), without repeats; gender as
//! sex; the birth date; every address; phone/SMS numbers as phones; e-mails; every identifier;
//! the mother's maiden family name and identifier and the birth order.

use chrono::NaiveDate;
use uuid::Uuid;

use entity::enums::{DatePrecision, Gender, TelecomSystem};
use entity::json_list::StringList;
use entity::patient_ext::PatientRecord;
use entity::{
    patient, patient_address, patient_communication, patient_identifier, patient_name,
    patient_telecom,
};
use matcher::{Address, Identifier, Maternity, PersonRecord, Sex};

use crate::patients::{
    AddressInput, CommunicationInput, IdentifierInput, MotherInput, NameInput, PatientInput,
    Period, TelecomInput,
};

/// The matcher's sex for a stored gender.
pub fn sex_of(gender: Option<Gender>) -> Option<Sex> {
    gender.map(|g| match g {
        Gender::Male => Sex::Male,
        Gender::Female => Sex::Female,
        Gender::Other => Sex::Other,
        Gender::Unknown => Sex::Unknown,
    })
}

/// A birth date as the matcher reads it, at its precision: `1984`, `1984-01` or `1984-01-25`
/// (the matcher compares a partial date at the coarser precision of a pair). No precision is a
/// full date.
pub fn birth_date_text(d: Option<NaiveDate>, precision: Option<DatePrecision>) -> Option<String> {
    d.map(|d| {
        let format = match precision.unwrap_or_default() {
            DatePrecision::Year => "%Y",
            DatePrecision::Month => "%Y-%m",
            DatePrecision::Day => "%Y-%m-%d",
        };
        d.format(format).to_string()
    })
}

/// Borrowed name parts, so stored rows and inputs convert the same way.
pub(crate) struct NameParts<'a> {
    pub(crate) family: Option<&'a str>,
    pub(crate) given: &'a [String],
}

pub(crate) fn person(
    gender: Option<Gender>,
    birth_date: Option<String>,
    names: &[NameParts<'_>],
    addresses: Vec<Address>,
    telecoms: impl Iterator<Item = (TelecomSystem, String)>,
    identifiers: Vec<Identifier>,
) -> PersonRecord {
    let given_names = names
        .iter()
        .find(|n| !n.given.is_empty())
        .map(|n| n.given.to_vec())
        .unwrap_or_default();
    let mut family_names: Vec<String> = Vec::new();
    for n in names {
        if let Some(f) = n.family
            && !family_names.iter().any(|x| x == f)
        {
            family_names.push(f.to_owned());
        }
    }
    let mut phones = Vec::new();
    let mut emails = Vec::new();
    for (system, value) in telecoms {
        match system {
            TelecomSystem::Phone | TelecomSystem::Sms => phones.push(value),
            TelecomSystem::Email => emails.push(value),
            _ => {}
        }
    }
    PersonRecord {
        given_names,
        family_names,
        sex: sex_of(gender),
        birth_date,
        addresses,
        phones,
        emails,
        identifiers,
        maternity: Maternity::default(),
    }
}

/// The matcher's view of a patient from its stored rows (child rows primary first).
pub fn person_from_rows(
    patient: &patient::Model,
    names: &[patient_name::Model],
    identifiers: &[patient_identifier::Model],
    addresses: &[patient_address::Model],
    telecoms: &[patient_telecom::Model],
) -> PersonRecord {
    let parts: Vec<NameParts<'_>> = names
        .iter()
        .map(|n| NameParts {
            family: n.family.as_deref(),
            given: n.given.as_slice(),
        })
        .collect();
    let mut record = person(
        patient.gender,
        birth_date_text(patient.birth_date, patient.birth_date_precision),
        &parts,
        addresses
            .iter()
            .map(|a| Address {
                lines: a.lines.0.clone(),
                city: a.city.clone(),
                state: a.state.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.clone(),
            })
            .collect(),
        telecoms.iter().map(|t| (t.system, t.value.clone())),
        identifiers
            .iter()
            .map(|i| Identifier {
                system: i.system.clone(),
                value: i.value.clone(),
            })
            .collect(),
    );
    record.maternity = maternity(&MotherInput::of_row(patient), patient.multiple_birth_order);
    record
}

/// The matcher's view of the mother's part of a record and of the birth order.
pub(crate) fn maternity(mother: &MotherInput, birth_order: Option<i32>) -> Maternity {
    Maternity {
        mother_maiden_name: mother.maiden_family.clone(),
        mother_identifier: mother.identifier.as_ref().map(|i| Identifier {
            system: i.system.clone(),
            value: i.value.clone(),
        }),
        birth_order: birth_order.and_then(|o| u32::try_from(o).ok()),
    }
}

/// The matcher's view of a loaded patient record.
pub fn person_from_record(r: &PatientRecord) -> PersonRecord {
    person_from_rows(
        &r.patient,
        &r.names,
        &r.identifiers,
        &r.addresses,
        &r.telecoms,
    )
}

/// The matcher's view of a patient input (what register and match take).
pub fn person_from_input(input: &PatientInput) -> PersonRecord {
    let parts: Vec<NameParts<'_>> = input
        .names
        .iter()
        .map(|n| NameParts {
            family: n.family.as_deref(),
            given: &n.given,
        })
        .collect();
    let mut record = person(
        input.gender,
        birth_date_text(input.birth_date, Some(input.birth_date_precision)),
        &parts,
        input
            .addresses
            .iter()
            .map(|a| Address {
                lines: a.lines.clone(),
                city: a.city.clone(),
                state: a.state.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.clone(),
            })
            .collect(),
        input.telecoms.iter().map(|t| (t.system, t.value.clone())),
        input
            .identifiers
            .iter()
            .map(|i| Identifier {
                system: i.system.clone(),
                value: i.value.clone(),
            })
            .collect(),
    );
    record.maternity = maternity(&input.mother, input.multiple_birth_order);
    record
}

fn period(start: Option<NaiveDate>, end: Option<NaiveDate>) -> Option<Period> {
    (start.is_some() || end.is_some()).then_some(Period { start, end })
}

/// The input form of a stored name (for comparing an update with what is stored).
pub fn name_input(n: &patient_name::Model) -> NameInput {
    NameInput {
        family: n.family.clone(),
        given: n.given.0.clone(),
        prefix: n.prefix.0.clone(),
        suffix: n.suffix.0.clone(),
        text: n.text.clone(),
        r#use: n.r#use,
        period: period(n.period_start, n.period_end),
    }
}

/// The input form of a stored identifier.
pub fn identifier_input(i: &patient_identifier::Model) -> IdentifierInput {
    IdentifierInput {
        r#type: i.r#type,
        r#use: i.r#use,
        system: i.system.clone(),
        value: i.value.clone(),
        assigner: i.assigner_organization_id,
        period: period(i.period_start, i.period_end),
    }
}

/// The input form of a stored address.
pub fn address_input(a: &patient_address::Model) -> AddressInput {
    AddressInput {
        lines: a.lines.0.clone(),
        city: a.city.clone(),
        district: a.district.clone(),
        state: a.state.clone(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone(),
        text: a.text.clone(),
        r#use: a.r#use,
        r#type: a.r#type,
        period: period(a.period_start, a.period_end),
    }
}

/// The input form of a stored contact point.
pub fn telecom_input(t: &patient_telecom::Model) -> TelecomInput {
    TelecomInput {
        system: t.system,
        value: t.value.clone(),
        r#use: t.r#use,
        rank: t.rank,
        period: period(t.period_start, t.period_end),
    }
}

/// The input form of a stored language.
pub fn communication_input(c: &patient_communication::Model) -> CommunicationInput {
    CommunicationInput {
        system: c.language_system.clone(),
        code: c.language_code.clone(),
        display: c.language_display.clone(),
        preferred: c.preferred,
    }
}

/// The input form of a stored patient: what `update` would need to leave it unchanged.
pub fn patient_input(r: &PatientRecord) -> PatientInput {
    let p = &r.patient;
    PatientInput {
        active: p.active,
        gender: p.gender,
        birth_date: p.birth_date,
        birth_date_precision: p.birth_date_precision.unwrap_or_default(),
        deceased: p.deceased,
        deceased_at: p.deceased_at,
        marital_status: p.marital_status,
        multiple_birth: p.multiple_birth,
        multiple_birth_order: p.multiple_birth_order,
        managing_organization_id: p.managing_organization_id,
        names: r.names.iter().map(name_input).collect(),
        identifiers: r.identifiers.iter().map(identifier_input).collect(),
        addresses: r.addresses.iter().map(address_input).collect(),
        telecoms: r.telecoms.iter().map(telecom_input).collect(),
        communications: r.communications.iter().map(communication_input).collect(),
        mother: MotherInput::of_row(p),
    }
}

fn trimmed(s: &str) -> String {
    s.trim().to_owned()
}

fn list(v: &[String]) -> StringList {
    StringList(v.iter().map(|s| trimmed(s)).collect())
}

fn p_start(p: &Option<Period>) -> Option<NaiveDate> {
    p.and_then(|p| p.start)
}

fn p_end(p: &Option<Period>) -> Option<NaiveDate> {
    p.and_then(|p| p.end)
}

/// A new patient row (version 1, a new `person_id`) for `input`; timestamps are left to the database.
pub fn patient_row(id: Uuid, input: &PatientInput, actor: &str) -> patient::ActiveModel {
    use sea_orm::ActiveValue::{NotSet, Set};
    patient::ActiveModel {
        id: Set(id),
        person_id: Set(Uuid::now_v7()),
        active: Set(input.active),
        gender: Set(input.gender),
        birth_date: Set(input.birth_date),
        birth_date_precision: Set(input.birth_date.map(|_| input.birth_date_precision)),
        deceased: Set(input.deceased),
        deceased_at: Set(input.deceased_at),
        marital_status: Set(input.marital_status),
        multiple_birth: Set(input.multiple_birth),
        multiple_birth_order: Set(input.multiple_birth_order),
        managing_organization_id: Set(input.managing_organization_id),
        mother_maiden_family: Set(input.mother.maiden_family.clone()),
        mother_maiden_given: Set(input.mother.maiden_given.clone()),
        mother_identifier_system: Set(input.mother.identifier.as_ref().map(|i| i.system.clone())),
        mother_identifier_value: Set(input.mother.identifier.as_ref().map(|i| i.value.clone())),
        mother_patient_id: Set(None),
        version: Set(1),
        deleted_at: Set(None),
        deleted_by: Set(None),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
}

/// A new name row for `patient_id` (created/updated timestamps left to the database).
///
/// Child rows get time-ordered (v7) ids: rows written in one transaction share their timestamp,
/// and readers order a patient's children by (primary, created, id), so the id keeps them in
/// the order they were given; bulk loads also append to the primary-key index.
pub fn name_row(
    patient_id: Uuid,
    n: &NameInput,
    primary: bool,
    actor: &str,
) -> patient_name::ActiveModel {
    use sea_orm::ActiveValue::{NotSet, Set};
    patient_name::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient_id),
        source_patient_id: Set(None),
        is_primary: Set(primary),
        period_start: Set(p_start(&n.period)),
        period_end: Set(p_end(&n.period)),
        r#use: Set(n.r#use),
        text: Set(n.text.clone()),
        family: Set(n.family.as_deref().map(trimmed)),
        given: Set(list(&n.given)),
        prefix: Set(list(&n.prefix)),
        suffix: Set(list(&n.suffix)),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
}

/// A new identifier row for `patient_id`; `live` is the patient's `identifiers_live()`.
pub fn identifier_row(
    patient_id: Uuid,
    i: &IdentifierInput,
    primary: bool,
    live: bool,
    actor: &str,
) -> patient_identifier::ActiveModel {
    use sea_orm::ActiveValue::{NotSet, Set};
    patient_identifier::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient_id),
        source_patient_id: Set(None),
        is_primary: Set(primary),
        period_start: Set(p_start(&i.period)),
        period_end: Set(p_end(&i.period)),
        r#use: Set(i.r#use),
        r#type: Set(i.r#type),
        system: Set(trimmed(&i.system)),
        value: Set(trimmed(&i.value)),
        assigner_organization_id: Set(i.assigner),
        patient_live: Set(live),
        link_key: Set(String::new()),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
}

/// A new address row for `patient_id`.
pub fn address_row(
    patient_id: Uuid,
    a: &AddressInput,
    primary: bool,
    actor: &str,
) -> patient_address::ActiveModel {
    use sea_orm::ActiveValue::{NotSet, Set};
    patient_address::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient_id),
        source_patient_id: Set(None),
        is_primary: Set(primary),
        period_start: Set(p_start(&a.period)),
        period_end: Set(p_end(&a.period)),
        r#use: Set(a.r#use),
        r#type: Set(a.r#type),
        text: Set(a.text.clone()),
        lines: Set(list(&a.lines)),
        city: Set(a.city.as_deref().map(trimmed)),
        district: Set(a.district.as_deref().map(trimmed)),
        state: Set(a.state.as_deref().map(trimmed)),
        postal_code: Set(a.postal_code.as_deref().map(trimmed)),
        country: Set(a.country.as_deref().map(trimmed)),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
}

/// A new contact-point row for `patient_id`, with its searchable digits
/// ([`crate::search_criteria::phone_digits_reversed`]).
pub fn telecom_row(
    patient_id: Uuid,
    t: &TelecomInput,
    primary: bool,
    actor: &str,
) -> patient_telecom::ActiveModel {
    use sea_orm::ActiveValue::{NotSet, Set};
    let value = trimmed(&t.value);
    patient_telecom::ActiveModel {
        digits_reversed: Set(crate::search_criteria::phone_digits_reversed(
            t.system, &value,
        )),
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient_id),
        source_patient_id: Set(None),
        is_primary: Set(primary),
        period_start: Set(p_start(&t.period)),
        period_end: Set(p_end(&t.period)),
        system: Set(t.system),
        value: Set(value),
        r#use: Set(t.r#use),
        rank: Set(t.rank),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
}

/// A new language row for `patient_id` (blank system and display are left out).
pub fn communication_row(
    patient_id: Uuid,
    c: &CommunicationInput,
    primary: bool,
    actor: &str,
) -> patient_communication::ActiveModel {
    use sea_orm::ActiveValue::{NotSet, Set};
    let given = |v: &Option<String>| v.as_deref().map(trimmed).filter(|v| !v.is_empty());
    patient_communication::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient_id),
        source_patient_id: Set(None),
        is_primary: Set(primary),
        language_system: Set(given(&c.system)),
        language_code: Set(trimmed(&c.code)),
        language_display: Set(given(&c.display)),
        preferred: Set(c.preferred),
        created_at: NotSet,
        updated_at: NotSet,
        created_by: Set(actor.to_owned()),
        updated_by: Set(actor.to_owned()),
    }
}
