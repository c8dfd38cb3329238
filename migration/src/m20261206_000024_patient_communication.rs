//! A patient's languages (issue 31, FHIR `Patient.communication`, HL7 v2 PID-15):
//! `patient_communication`, a child table like `patient_telecom` (the first row of a record is
//! its primary one, `source_patient_id` names the record a merge copied a row from), with the
//! language as a coding (`language_system`, `language_code`, `language_display`) and whether the
//! patient prefers it. Its writes are recorded in `change_log` as every patient table's are
//! (the SQLite triggers over [`PATIENT_COMMUNICATION`]'s columns, PostgreSQL's generic ones).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::change_capture::{
    PATIENT_COMMUNICATION, pg_change_log_triggers, pg_drop_change_log_triggers,
    sqlite_change_log_triggers, sqlite_drop_change_log_triggers,
};
use crate::common::{Id, check_named, drop_tables, exec_all, fk, with_bookkeeping};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(PatientCommunication::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(PatientCommunication::PatientId))
                    .col(uuid_null(PatientCommunication::SourcePatientId))
                    .col(boolean(PatientCommunication::IsPrimary).default(false))
                    .col(string_null(PatientCommunication::LanguageSystem))
                    .col(string(PatientCommunication::LanguageCode))
                    .col(string_null(PatientCommunication::LanguageDisplay))
                    .col(boolean(PatientCommunication::Preferred).default(false))
                    .check(check_named(
                        "ck_patient_communication_code",
                        Expr::cust("length(language_code) > 0"),
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_communication_patient",
                        PatientCommunication::Table,
                        PatientCommunication::PatientId,
                        Patient::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_communication_source_patient",
                        PatientCommunication::Table,
                        PatientCommunication::SourcePatientId,
                        Patient::Table,
                        ForeignKeyAction::SetNull,
                    )),
                backend,
            ))
            .await?;
        let mut sql = vec![
            "CREATE INDEX idx_patient_communication_patient ON patient_communication (patient_id)"
                .to_owned(),
        ];
        if backend == DbBackend::Sqlite {
            sql.extend(sqlite_change_log_triggers(&PATIENT_COMMUNICATION));
        } else {
            sql.extend(pg_change_log_triggers(&PATIENT_COMMUNICATION));
        }
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut sql = if manager.get_database_backend() == DbBackend::Sqlite {
            sqlite_drop_change_log_triggers(&PATIENT_COMMUNICATION)
        } else {
            pg_drop_change_log_triggers(&PATIENT_COMMUNICATION)
        };
        sql.push("DROP INDEX IF EXISTS idx_patient_communication_patient".to_owned());
        exec_all(manager, &sql).await?;
        drop_tables(manager, &["patient_communication"]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum PatientCommunication {
    Table,
    PatientId,
    SourcePatientId,
    IsPrimary,
    LanguageSystem,
    LanguageCode,
    LanguageDisplay,
    Preferred,
}

#[derive(DeriveIden, Clone, Copy)]
enum Patient {
    Table,
}
