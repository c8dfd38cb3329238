//! Builders shared by the entity tests: patients and their child rows as ActiveModels, written
//! through the entities the way the service writes them.

#![allow(dead_code)]

use chrono::{DateTime, FixedOffset, NaiveDate, SubsecRound, Utc};
use entity::prelude::*;
use entity::{
    patient, patient_address, patient_identifier, patient_link, patient_name, patient_telecom,
};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr};
use uuid::Uuid;

pub const ACTOR: &str = "desk-7";

/// Now, at the microsecond precision PostgreSQL keeps.
pub fn now() -> DateTime<FixedOffset> {
    Utc::now().trunc_subsecs(6).fixed_offset()
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

pub fn patient_am(birth: NaiveDate) -> patient::ActiveModel {
    patient::ActiveModel {
        id: Set(Uuid::new_v4()),
        person_id: Set(Uuid::new_v4()),
        active: Set(true),
        gender: Set(Some(Gender::Female)),
        birth_date: Set(Some(birth)),
        deceased: Set(false),
        deceased_at: Set(None),
        marital_status: Set(Some(MaritalStatus::Married)),
        multiple_birth: Set(Some(true)),
        multiple_birth_order: Set(Some(2)),
        managing_organization_id: Set(None),
        version: Set(1),
        deleted_at: Set(None),
        deleted_by: Set(None),
        created_by: Set(ACTOR.into()),
        updated_by: Set(ACTOR.into()),
        ..Default::default()
    }
}

pub async fn insert_patient(db: &DatabaseConnection) -> Result<patient::Model, DbErr> {
    patient_am(date(1984, 7, 31)).insert(db).await
}

pub fn name_am(patient: Uuid, family: &str, given: &[&str]) -> patient_name::ActiveModel {
    patient_name::ActiveModel {
        id: Set(Uuid::new_v4()),
        patient_id: Set(patient),
        source_patient_id: Set(None),
        is_primary: Set(false),
        period_start: Set(None),
        period_end: Set(None),
        r#use: Set(Some(NameUse::Official)),
        text: Set(None),
        family: Set(Some(family.into())),
        given: Set(given.iter().copied().collect()),
        prefix: Set(StringList::new()),
        suffix: Set(StringList::new()),
        created_by: Set(ACTOR.into()),
        updated_by: Set(ACTOR.into()),
        ..Default::default()
    }
}

pub fn identifier_am(
    patient: Uuid,
    system: &str,
    value: &str,
    live: bool,
) -> patient_identifier::ActiveModel {
    patient_identifier::ActiveModel {
        id: Set(Uuid::new_v4()),
        patient_id: Set(patient),
        source_patient_id: Set(None),
        is_primary: Set(false),
        period_start: Set(None),
        period_end: Set(None),
        r#use: Set(Some(IdentifierUse::Official)),
        r#type: Set(Some(IdentifierType::Mr)),
        system: Set(system.into()),
        value: Set(value.into()),
        assigner_organization_id: Set(None),
        patient_live: Set(live),
        created_by: Set(ACTOR.into()),
        updated_by: Set(ACTOR.into()),
        ..Default::default()
    }
}

pub fn address_am(
    patient: Uuid,
    lines: &[&str],
    postal_code: &str,
) -> patient_address::ActiveModel {
    patient_address::ActiveModel {
        id: Set(Uuid::new_v4()),
        patient_id: Set(patient),
        source_patient_id: Set(None),
        is_primary: Set(false),
        period_start: Set(None),
        period_end: Set(None),
        r#use: Set(Some(AddressUse::Home)),
        r#type: Set(Some(AddressType::Both)),
        text: Set(None),
        lines: Set(lines.iter().copied().collect()),
        city: Set(Some("Springfield".into())),
        district: Set(None),
        state: Set(Some("IL".into())),
        postal_code: Set(Some(postal_code.into())),
        country: Set(Some("US".into())),
        created_by: Set(ACTOR.into()),
        updated_by: Set(ACTOR.into()),
        ..Default::default()
    }
}

pub fn telecom_am(
    patient: Uuid,
    system: TelecomSystem,
    value: &str,
    rank: i32,
) -> patient_telecom::ActiveModel {
    patient_telecom::ActiveModel {
        id: Set(Uuid::new_v4()),
        patient_id: Set(patient),
        source_patient_id: Set(None),
        is_primary: Set(rank == 1),
        period_start: Set(None),
        period_end: Set(None),
        system: Set(system),
        value: Set(value.into()),
        r#use: Set(Some(TelecomUse::Mobile)),
        rank: Set(Some(rank)),
        created_by: Set(ACTOR.into()),
        updated_by: Set(ACTOR.into()),
        ..Default::default()
    }
}

pub fn link_am(from: Uuid, to: Uuid, r#type: LinkType) -> patient_link::ActiveModel {
    patient_link::ActiveModel {
        id: Set(Uuid::new_v4()),
        patient_id: Set(from),
        other_patient_id: Set(to),
        r#type: Set(r#type),
        origin: Set(LinkOrigin::Person),
        reason: Set(Some("steward decision".into())),
        score: Set(Some(0.93)),
        created_by: Set(ACTOR.into()),
        updated_by: Set(ACTOR.into()),
        ..Default::default()
    }
}

/// The database's own message for a failed write (constraint names appear in it on both
/// engines).
pub fn message<T: std::fmt::Debug>(result: Result<T, DbErr>) -> String {
    match result {
        Ok(v) => panic!("the write was accepted: {v:?}"),
        Err(e) => e.to_string(),
    }
}
