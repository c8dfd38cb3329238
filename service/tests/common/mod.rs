//! Shared helpers of the service tests: a migrated database per backend with a started `Mpi`,
//! contexts for the roles, and realistic patient inputs.
#![allow(dead_code)]

use chrono::NaiveDate;
use migration::testing::{Backend, TestDb};
use service::context::{Actor, Ctx, RequestMeta, Role};
use service::patients::{AddressInput, IdentifierInput, NameInput, PatientInput, TelecomInput};
use service::{Mpi, ServiceConfig};

use entity::enums::{AddressUse, Gender, IdentifierType, NameUse, TelecomSystem, TelecomUse};

/// A migrated database on `backend` and a service started over it.
pub async fn setup(backend: Backend) -> (TestDb, Mpi) {
    let db = TestDb::migrated(backend).await;
    let mpi = start(&db).await;
    (db, mpi)
}

/// Another service instance over the same database (a second replica).
pub async fn start(db: &TestDb) -> Mpi {
    Mpi::start(
        db.conn.clone(),
        matcher::Model::builtin(),
        ServiceConfig::default(),
    )
    .await
    .expect("service starts")
}

/// A caller with `role`, named `name`, with request metadata.
pub fn ctx_as(name: &str, role: Role) -> Ctx {
    Ctx {
        actor: Actor {
            name: name.to_owned(),
            role,
            source: None,
        },
        meta: RequestMeta {
            request_id: Some(format!("req-{name}")),
            client_addr: Some("127.0.0.1".to_owned()),
            user_agent: Some("service-tests".to_owned()),
        },
        unconfirmed_key: None,
    }
}

/// The registration desk.
pub fn desk() -> Ctx {
    ctx_as("desk-1", Role::Registrar)
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

pub fn name(family: &str, given: &[&str]) -> NameInput {
    NameInput {
        family: Some(family.to_owned()),
        given: given.iter().map(|g| (*g).to_owned()).collect(),
        r#use: Some(NameUse::Official),
        ..Default::default()
    }
}

pub fn ident(system: &str, value: &str) -> IdentifierInput {
    IdentifierInput {
        r#type: Some(IdentifierType::Mr),
        system: system.to_owned(),
        value: value.to_owned(),
        ..Default::default()
    }
}

pub fn address(line: &str, city: &str, postal_code: &str) -> AddressInput {
    AddressInput {
        lines: vec![line.to_owned()],
        city: Some(city.to_owned()),
        state: Some("ACT".to_owned()),
        postal_code: Some(postal_code.to_owned()),
        country: Some("AU".to_owned()),
        r#use: Some(AddressUse::Home),
        ..Default::default()
    }
}

pub fn phone(value: &str) -> TelecomInput {
    TelecomInput {
        system: TelecomSystem::Phone,
        value: value.to_owned(),
        r#use: Some(TelecomUse::Mobile),
        rank: Some(1),
        period: None,
    }
}

/// A patient with everything filled in.
pub fn margaret() -> PatientInput {
    PatientInput {
        gender: Some(Gender::Female),
        birth_date: Some(date(1961, 4, 12)),
        names: vec![
            name("Whitfield", &["Margaret", "Rose"]),
            NameInput {
                family: Some("Lambert".to_owned()),
                given: vec!["Margaret".to_owned()],
                r#use: Some(NameUse::Maiden),
                ..Default::default()
            },
        ],
        identifiers: vec![
            ident("urn:mrn:canberra-hospital", "MRN-100234"),
            IdentifierInput {
                r#type: Some(IdentifierType::Ss),
                ..ident("urn:au:medicare", "2123 45670 1")
            },
        ],
        addresses: vec![address("14 Kent Street", "Deakin", "2600")],
        telecoms: vec![
            phone("0412 555 018"),
            TelecomInput {
                system: TelecomSystem::Email,
                value: "m.whitfield@example.org".to_owned(),
                r#use: Some(TelecomUse::Home),
                rank: Some(2),
                period: None,
            },
        ],
        ..Default::default()
    }
}

/// A different person.
pub fn oliver() -> PatientInput {
    PatientInput {
        gender: Some(Gender::Male),
        birth_date: Some(date(1987, 11, 3)),
        names: vec![name("Okonkwo", &["Oliver"])],
        identifiers: vec![ident("urn:mrn:canberra-hospital", "MRN-559001")],
        addresses: vec![address("3 Bunda Street", "Braddon", "2612")],
        telecoms: vec![phone("0499 111 222")],
        ..Default::default()
    }
}

/// Registers `input` (forced) and returns the stored patient.
pub async fn register(mpi: &Mpi, input: PatientInput) -> service::patients::Patient {
    match service::patients::register(mpi, &desk(), input, true)
        .await
        .expect("registration succeeds")
    {
        service::patients::RegisterOutcome::Created { patient, .. } => *patient,
        other => panic!("expected a created patient, got {other:?}"),
    }
}
