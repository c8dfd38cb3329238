//! FHIR RelatedPerson (issue 31 §6): a person related to a patient (mother, father, guardian,
//! next of kin...), with the relationship as a v3-RoleCode code (the codes the service accepts,
//! listed here again so that this migration never changes), its names, identifiers, telecoms
//! and addresses as bounded JSON lists, and the same bookkeeping, version and soft delete as a
//! patient. The patient is referenced by a foreign key (patients are only soft-deleted).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{Id, check_in, drop_tables, exec_all, fk, with_bookkeeping};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The relationship codes (HL7 v3 RoleCode) as of this migration.
const RELATIONSHIPS: &[&str] = &[
    "MTH",
    "FTH",
    "PRN",
    "NMTH",
    "NFTH",
    "NPRN",
    "ADOPTMTH",
    "ADOPTFTH",
    "ADOPTP",
    "STPMTH",
    "STPFTH",
    "STPPRN",
    "GESTM",
    "FMRSPS",
    "CHILD",
    "CHLDADOPT",
    "CHLDFOST",
    "DAU",
    "SON",
    "STPCHLD",
    "SIB",
    "BRO",
    "SIS",
    "TWIN",
    "SPS",
    "HUSB",
    "WIFE",
    "DOMPART",
    "GRPRN",
    "GRMTH",
    "GRFTH",
    "GRNDCHILD",
    "AUNT",
    "UNCLE",
    "COUSN",
    "NIENEPH",
    "FAMMEMB",
    "FRND",
    "NBOR",
    "ROOM",
    "GUARD",
    "NOK",
    "ECON",
    "POWATT",
    "GUADLTM",
    "ONESELF",
];

const GENDER: &[&str] = &["male", "female", "other", "unknown"];
const DATE_PRECISION: &[&str] = &["year", "month", "day"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(RelatedPerson::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(RelatedPerson::PatientId))
                    .col(string_len(RelatedPerson::Relationship, 16))
                    .col(boolean(RelatedPerson::Active).default(true))
                    .col(string_null(RelatedPerson::Gender))
                    .col(date_null(RelatedPerson::BirthDate))
                    .col(string_null(RelatedPerson::BirthDatePrecision))
                    .col(json_binary(RelatedPerson::Names).default("[]"))
                    .col(json_binary(RelatedPerson::Identifiers).default("[]"))
                    .col(json_binary(RelatedPerson::Telecoms).default("[]"))
                    .col(json_binary(RelatedPerson::Addresses).default("[]"))
                    .col(integer(RelatedPerson::Version).default(1))
                    .col(timestamp_with_time_zone_null(RelatedPerson::DeletedAt))
                    .col(string_null(RelatedPerson::DeletedBy))
                    .check(check_in(
                        "related_person",
                        RelatedPerson::Relationship,
                        RELATIONSHIPS,
                    ))
                    .check(check_in("related_person", RelatedPerson::Gender, GENDER))
                    .check(check_in(
                        "related_person",
                        RelatedPerson::BirthDatePrecision,
                        DATE_PRECISION,
                    ))
                    .foreign_key(&mut fk(
                        "fk_related_person_patient",
                        RelatedPerson::Table,
                        RelatedPerson::PatientId,
                        Patient::Table,
                        ForeignKeyAction::Restrict,
                    )),
                backend,
            ))
            .await?;
        exec_all(
            manager,
            &["CREATE INDEX idx_related_person_patient ON related_person (patient_id, relationship)"
                .into()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &["DROP INDEX IF EXISTS idx_related_person_patient".into()],
        )
        .await?;
        drop_tables(manager, &["related_person"]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum RelatedPerson {
    Table,
    PatientId,
    Relationship,
    Active,
    Gender,
    BirthDate,
    BirthDatePrecision,
    Names,
    Identifiers,
    Telecoms,
    Addresses,
    Version,
    DeletedAt,
    DeletedBy,
}

#[derive(DeriveIden, Clone, Copy)]
enum Patient {
    Table,
}
