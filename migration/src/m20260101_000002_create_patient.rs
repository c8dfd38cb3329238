//! Patients (FHIR R4 Patient) and their names, identifiers, addresses and telecoms, with the
//! lookup indexes the matcher and the API use, and the triggers that keep identifier values
//! unique among live patients.
//!
//! # Identifier uniqueness among live patients
//!
//! "An identifier value is unique per system among live patients" cannot be a plain index on
//! `patient_identifier`: whether the owner is live (`active` and not soft-deleted) is stored on
//! `patient`, and an index covers one table only. So `patient_identifier` carries a denormalised
//! `patient_live` flag and a partial unique index on `(system, value) WHERE patient_live`.
//! Triggers keep the flag equal to `patient.active AND patient.deleted_at IS NULL`:
//!
//! * PostgreSQL: a BEFORE INSERT/UPDATE trigger on `patient_identifier` computes the flag from the
//!   patient row (whatever the writer sent), and an AFTER UPDATE trigger on `patient` rewrites the
//!   flag of its identifiers when `active` or `deleted_at` change.
//! * SQLite: triggers cannot modify `NEW`, so AFTER INSERT/UPDATE triggers on `patient_identifier`
//!   correct the flag with an UPDATE when it is wrong, and the same AFTER UPDATE trigger on
//!   `patient` rewrites the flags. A row written with the wrong flag therefore gets a second
//!   (UPDATE) entry in `change_log` on SQLite; writers should set `patient_live` right.
//!
//! Either way, a second live patient with the same system+value is rejected when its identifier
//! row becomes live, and a soft-deleted or inactive (merged-away) patient frees its values.
//! Partial unique indexes cannot be deferred, so a writer that moves a value between patients
//! (merge, undo) must first retire the old holder, then give the value to the new one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::{Id, check_in, check_named, drop_tables, exec_all, fk, with_bookkeeping};
use crate::m20260101_000001_create_organization::Organization;
use crate::vocab;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Child tables of `patient`, children first (drop order).
const CHILD_TABLES: [&str; 4] = [
    "patient_telecom",
    "patient_address",
    "patient_identifier",
    "patient_name",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        if backend == DbBackend::Postgres {
            exec_all(manager, &["CREATE EXTENSION IF NOT EXISTS pg_trgm".into()]).await?;
        }

        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(Patient::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(Patient::PersonId))
                    .col(boolean(Patient::Active).default(true))
                    .col(string_null(Patient::Gender))
                    .col(date_null(Patient::BirthDate))
                    .col(boolean(Patient::Deceased).default(false))
                    .col(timestamp_with_time_zone_null(Patient::DeceasedAt))
                    .col(string_null(Patient::MaritalStatus))
                    .col(boolean_null(Patient::MultipleBirth))
                    .col(integer_null(Patient::MultipleBirthOrder))
                    .col(uuid_null(Patient::ManagingOrganizationId))
                    .col(integer(Patient::Version).default(1))
                    .col(timestamp_with_time_zone_null(Patient::DeletedAt))
                    .col(string_null(Patient::DeletedBy))
                    .check(check_in("patient", Patient::Gender, vocab::GENDER))
                    .check(check_in(
                        "patient",
                        Patient::MaritalStatus,
                        vocab::MARITAL_STATUS,
                    ))
                    .check(check_named(
                        "ck_patient_deceased_at",
                        Expr::cust("deceased_at IS NULL OR deceased"),
                    ))
                    .check(check_named(
                        "ck_patient_multiple_birth_order",
                        Expr::cust(
                            "multiple_birth_order IS NULL \
                             OR (multiple_birth_order >= 1 AND multiple_birth)",
                        ),
                    ))
                    .check(check_named(
                        "ck_patient_version",
                        Expr::cust("version >= 1"),
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_managing_organization",
                        Patient::Table,
                        Patient::ManagingOrganizationId,
                        Organization::Table,
                        ForeignKeyAction::Restrict,
                    )),
                backend,
            ))
            .await?;

        manager
            .create_table(with_bookkeeping(
                child_table(PatientName::Table, "patient_name")
                    .col(string_null(PatientName::Use))
                    .col(string_null(PatientName::Text))
                    .col(string_null(PatientName::Family))
                    .col(json_binary(PatientName::Given).default("[]"))
                    .col(json_binary(PatientName::Prefix).default("[]"))
                    .col(json_binary(PatientName::Suffix).default("[]"))
                    .check(check_in("patient_name", PatientName::Use, vocab::NAME_USE)),
                backend,
            ))
            .await?;

        manager
            .create_table(with_bookkeeping(
                child_table(PatientIdentifier::Table, "patient_identifier")
                    .col(string_null(PatientIdentifier::Use))
                    .col(string_null(PatientIdentifier::Type))
                    .col(string(PatientIdentifier::System))
                    .col(string(PatientIdentifier::Value))
                    .col(uuid_null(PatientIdentifier::AssignerOrganizationId))
                    .col(boolean(PatientIdentifier::PatientLive).default(false))
                    .check(check_in(
                        "patient_identifier",
                        PatientIdentifier::Use,
                        vocab::IDENTIFIER_USE,
                    ))
                    .check(check_in(
                        "patient_identifier",
                        PatientIdentifier::Type,
                        vocab::IDENTIFIER_TYPE,
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_identifier_assigner",
                        PatientIdentifier::Table,
                        PatientIdentifier::AssignerOrganizationId,
                        Organization::Table,
                        ForeignKeyAction::Restrict,
                    )),
                backend,
            ))
            .await?;

        manager
            .create_table(with_bookkeeping(
                child_table(PatientAddress::Table, "patient_address")
                    .col(string_null(PatientAddress::Use))
                    .col(string_null(PatientAddress::Type))
                    .col(string_null(PatientAddress::Text))
                    .col(json_binary(PatientAddress::Lines).default("[]"))
                    .col(string_null(PatientAddress::City))
                    .col(string_null(PatientAddress::District))
                    .col(string_null(PatientAddress::State))
                    .col(string_null(PatientAddress::PostalCode))
                    .col(string_null(PatientAddress::Country))
                    .check(check_in(
                        "patient_address",
                        PatientAddress::Use,
                        vocab::ADDRESS_USE,
                    ))
                    .check(check_in(
                        "patient_address",
                        PatientAddress::Type,
                        vocab::ADDRESS_TYPE,
                    )),
                backend,
            ))
            .await?;

        manager
            .create_table(with_bookkeeping(
                child_table(PatientTelecom::Table, "patient_telecom")
                    .col(string(PatientTelecom::System))
                    .col(string(PatientTelecom::Value))
                    .col(string_null(PatientTelecom::Use))
                    .col(integer_null(PatientTelecom::Rank))
                    .check(check_in(
                        "patient_telecom",
                        PatientTelecom::System,
                        vocab::TELECOM_SYSTEM,
                    ))
                    .check(check_in(
                        "patient_telecom",
                        PatientTelecom::Use,
                        vocab::TELECOM_USE,
                    ))
                    .check(check_named(
                        "ck_patient_telecom_rank",
                        Expr::cust("rank IS NULL OR rank >= 1"),
                    )),
                backend,
            ))
            .await?;

        exec_all(manager, &index_sql(backend)).await?;
        exec_all(manager, &live_flag_sql(backend)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // Triggers go with their tables, but the PostgreSQL trigger functions do not.
        match backend {
            DbBackend::Postgres => {
                exec_all(
                    manager,
                    &[
                        "DROP TRIGGER IF EXISTS trg_patient_live ON patient".into(),
                        "DROP TRIGGER IF EXISTS trg_patient_identifier_live ON patient_identifier"
                            .into(),
                        "DROP FUNCTION IF EXISTS mpi_patient_propagate_live()".into(),
                        "DROP FUNCTION IF EXISTS mpi_patient_identifier_set_live()".into(),
                    ],
                )
                .await?;
            }
            _ => {
                exec_all(
                    manager,
                    &[
                        "DROP TRIGGER IF EXISTS trg_patient_live".into(),
                        "DROP TRIGGER IF EXISTS trg_patient_identifier_live_insert".into(),
                        "DROP TRIGGER IF EXISTS trg_patient_identifier_live_update".into(),
                    ],
                )
                .await?;
            }
        }
        drop_tables(manager, &CHILD_TABLES).await?;
        drop_tables(manager, &["patient"]).await?;
        if backend == DbBackend::Postgres {
            // Remove pg_trgm again unless something outside this schema still uses it.
            exec_all(
                manager,
                &["DO $$ BEGIN DROP EXTENSION IF EXISTS pg_trgm; \
                   EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $$"
                    .into()],
            )
            .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// A patient child table: `id`, `patient_id` (cascade), `source_patient_id` (where a merged value
/// came from), `is_primary` and a validity period.
fn child_table<T: IntoIden + Copy + 'static>(table: T, name: &str) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(pk_uuid(Id::Id))
        .col(uuid(Child::PatientId))
        .col(uuid_null(Child::SourcePatientId))
        .col(boolean(Child::IsPrimary).default(false))
        .col(date_null(Child::PeriodStart))
        .col(date_null(Child::PeriodEnd))
        .check(check_named(
            &format!("ck_{name}_period"),
            Expr::cust("period_start IS NULL OR period_end IS NULL OR period_start <= period_end"),
        ))
        .foreign_key(&mut fk(
            &format!("fk_{name}_patient"),
            table,
            Child::PatientId,
            Patient::Table,
            ForeignKeyAction::Cascade,
        ))
        .foreign_key(&mut fk(
            &format!("fk_{name}_source_patient"),
            table,
            Child::SourcePatientId,
            Patient::Table,
            ForeignKeyAction::SetNull,
        ))
        .take()
}

/// Live patients: not soft-deleted and active (merged-away records are inactive).
pub(crate) const LIVE_PATIENT: &str = "deleted_at IS NULL AND active";

fn index_sql(backend: DbBackend) -> Vec<String> {
    let mut sql: Vec<String> = vec![
        "CREATE INDEX idx_patient_person_id ON patient (person_id)".into(),
        "CREATE INDEX idx_patient_birth_date ON patient (birth_date)".into(),
        format!(
            "CREATE INDEX idx_patient_live_birth_date ON patient (birth_date) WHERE {LIVE_PATIENT}"
        ),
        format!(
            "CREATE INDEX idx_patient_live_person_id ON patient (person_id) WHERE {LIVE_PATIENT}"
        ),
        "CREATE INDEX idx_patient_managing_organization ON patient (managing_organization_id)"
            .into(),
        "CREATE INDEX idx_patient_name_family_lower ON patient_name (lower(family))".into(),
        "CREATE UNIQUE INDEX ux_patient_identifier_live_system_value \
         ON patient_identifier (system, value) WHERE patient_live"
            .into(),
        "CREATE INDEX idx_patient_identifier_system_value ON patient_identifier (system, value)"
            .into(),
        "CREATE INDEX idx_patient_address_postal_code ON patient_address (postal_code)".into(),
        "CREATE INDEX idx_patient_telecom_system_value ON patient_telecom (system, value)".into(),
        "CREATE INDEX idx_patient_identifier_assigner \
         ON patient_identifier (assigner_organization_id)"
            .into(),
    ];
    for table in CHILD_TABLES {
        sql.push(format!(
            "CREATE INDEX idx_{table}_patient ON {table} (patient_id)"
        ));
        sql.push(format!(
            "CREATE INDEX idx_{table}_source_patient ON {table} (source_patient_id) \
             WHERE source_patient_id IS NOT NULL"
        ));
    }
    if backend == DbBackend::Postgres {
        // Fuzzy name search: `lower(family) % $1` / `lower(given::text) LIKE '%jon%'` use these.
        sql.push(
            "CREATE INDEX idx_patient_name_family_trgm ON patient_name \
             USING gin (lower(family) gin_trgm_ops)"
                .into(),
        );
        sql.push(
            "CREATE INDEX idx_patient_name_given_trgm ON patient_name \
             USING gin (lower(given::text) gin_trgm_ops)"
                .into(),
        );
    }
    sql
}

/// The triggers that maintain `patient_identifier.patient_live` (see the module docs).
fn live_flag_sql(backend: DbBackend) -> Vec<String> {
    match backend {
        DbBackend::Postgres => vec![
            "CREATE FUNCTION mpi_patient_identifier_set_live() RETURNS trigger \
             LANGUAGE plpgsql AS $$ \
             BEGIN \
               NEW.patient_live := COALESCE( \
                 (SELECT p.active AND p.deleted_at IS NULL FROM patient p WHERE p.id = NEW.patient_id), \
                 false); \
               RETURN NEW; \
             END $$"
                .into(),
            "CREATE TRIGGER trg_patient_identifier_live \
             BEFORE INSERT OR UPDATE ON patient_identifier \
             FOR EACH ROW EXECUTE FUNCTION mpi_patient_identifier_set_live()"
                .into(),
            "CREATE FUNCTION mpi_patient_propagate_live() RETURNS trigger \
             LANGUAGE plpgsql AS $$ \
             BEGIN \
               UPDATE patient_identifier \
                  SET patient_live = (NEW.active AND NEW.deleted_at IS NULL) \
                WHERE patient_id = NEW.id \
                  AND patient_live IS DISTINCT FROM (NEW.active AND NEW.deleted_at IS NULL); \
               RETURN NULL; \
             END $$"
                .into(),
            "CREATE TRIGGER trg_patient_live \
             AFTER UPDATE OF active, deleted_at ON patient FOR EACH ROW \
             WHEN (OLD.active IS DISTINCT FROM NEW.active \
                   OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at) \
             EXECUTE FUNCTION mpi_patient_propagate_live()"
                .into(),
        ],
        _ => {
            let live_of_new = "COALESCE((SELECT p.active AND p.deleted_at IS NULL \
                               FROM patient p WHERE p.id = NEW.patient_id), 0)";
            vec![
                format!(
                    "CREATE TRIGGER trg_patient_identifier_live_insert \
                     AFTER INSERT ON patient_identifier FOR EACH ROW \
                     WHEN NEW.patient_live IS NOT {live_of_new} \
                     BEGIN \
                       UPDATE patient_identifier SET patient_live = {live_of_new} WHERE id = NEW.id; \
                     END"
                ),
                format!(
                    "CREATE TRIGGER trg_patient_identifier_live_update \
                     AFTER UPDATE OF patient_id, patient_live ON patient_identifier FOR EACH ROW \
                     WHEN NEW.patient_live IS NOT {live_of_new} \
                     BEGIN \
                       UPDATE patient_identifier SET patient_live = {live_of_new} WHERE id = NEW.id; \
                     END"
                ),
                "CREATE TRIGGER trg_patient_live \
                 AFTER UPDATE OF active, deleted_at ON patient FOR EACH ROW \
                 WHEN OLD.active IS NOT NEW.active OR OLD.deleted_at IS NOT NEW.deleted_at \
                 BEGIN \
                   UPDATE patient_identifier \
                      SET patient_live = (NEW.active AND NEW.deleted_at IS NULL) \
                    WHERE patient_id = NEW.id \
                      AND patient_live IS NOT (NEW.active AND NEW.deleted_at IS NULL); \
                 END"
                .into(),
            ]
        }
    }
}

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Patient {
    Table,
    PersonId,
    Active,
    Gender,
    BirthDate,
    Deceased,
    DeceasedAt,
    MaritalStatus,
    MultipleBirth,
    MultipleBirthOrder,
    ManagingOrganizationId,
    Version,
    DeletedAt,
    DeletedBy,
}

#[derive(DeriveIden, Clone, Copy)]
enum Child {
    PatientId,
    SourcePatientId,
    IsPrimary,
    PeriodStart,
    PeriodEnd,
}

#[derive(DeriveIden, Clone, Copy)]
enum PatientName {
    Table,
    Use,
    Text,
    Family,
    Given,
    Prefix,
    Suffix,
}

#[derive(DeriveIden, Clone, Copy)]
enum PatientIdentifier {
    Table,
    Use,
    Type,
    System,
    Value,
    AssignerOrganizationId,
    PatientLive,
}

#[derive(DeriveIden, Clone, Copy)]
enum PatientAddress {
    Table,
    Use,
    Type,
    Text,
    Lines,
    City,
    District,
    State,
    PostalCode,
    Country,
}

#[derive(DeriveIden, Clone, Copy)]
enum PatientTelecom {
    Table,
    System,
    Value,
    Use,
    Rank,
}
