//! IHE PMIR Subscribe to Patient Updates (ITI-94): the FHIR Subscriptions of Patient Identity
//! Consumers (`fhir_subscription`: criteria, where and how to deliver, status) and their durable
//! outbox (`fhir_subscription_outbox`: one row per subscription and patient created, changed or
//! deleted, drained by the server's delivery task, which sends each a Mobile Patient Identity
//! Feed message, ITI-93).
//!
//! As with PIX (migration 17) the outbox is written by triggers on `patient`, in the writer's own
//! transaction, so every writer (any face, `mpi import`, the dedupe job, another server) queues
//! the notification and none is lost between a commit and a send. A change is a patient
//! inserted (`create`), or updated in its version, person, `active` flag or `deleted_at`
//! (`update`, or `delete` when it is being soft-deleted): every use case that changes a
//! record's content raises its version, a merge or undo changes `active` and the person, a link
//! changes the person. Only subscriptions that deliver (status `active` or `error`, which is
//! retried) get rows; with none the triggers write nothing (one probe of a small table per row).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::{
    Id, check_in, check_named, drop_tables, exec_all, fk, timestamp_now, with_bookkeeping,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(FhirSubscription::Table)
                    .col(pk_uuid(Id::Id))
                    .col(text(FhirSubscription::Criteria))
                    .col(string(FhirSubscription::ChannelType))
                    .col(text(FhirSubscription::Endpoint))
                    .col(string(FhirSubscription::Payload))
                    // The channel's headers as a JSON array of strings.
                    .col(text(FhirSubscription::Headers))
                    .col(string(FhirSubscription::Status))
                    .col(text_null(FhirSubscription::Error))
                    .col(text_null(FhirSubscription::Reason))
                    // The contact point, as FHIR ContactPoint JSON (the PMIR profile requires one).
                    .col(text_null(FhirSubscription::Contact))
                    .check(check_in(
                        "fhir_subscription",
                        FhirSubscription::Status,
                        &["requested", "active", "error", "off"],
                    ))
                    .check(check_in(
                        "fhir_subscription",
                        FhirSubscription::ChannelType,
                        &["message", "rest-hook"],
                    ))
                    .check(check_named(
                        "ck_fhir_subscription_endpoint",
                        Expr::cust("endpoint LIKE 'http://%' OR endpoint LIKE 'https://%'"),
                    )),
                backend,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FhirSubscriptionOutbox::Table)
                    .col(seq_column(FhirSubscriptionOutbox::Seq, backend))
                    .col(uuid(FhirSubscriptionOutbox::SubscriptionId))
                    .col(uuid(FhirSubscriptionOutbox::PatientId))
                    .col(string(FhirSubscriptionOutbox::Event))
                    .col(timestamp_now(FhirSubscriptionOutbox::CreatedAt, backend))
                    .check(check_in(
                        "fhir_subscription_outbox",
                        FhirSubscriptionOutbox::Event,
                        &["create", "update", "delete"],
                    ))
                    .foreign_key(&mut fk(
                        "fk_fhir_subscription_outbox_subscription",
                        FhirSubscriptionOutbox::Table,
                        FhirSubscriptionOutbox::SubscriptionId,
                        FhirSubscription::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        let mut sql: Vec<String> = vec![
            "CREATE INDEX idx_fhir_subscription_outbox_subscription_seq \
             ON fhir_subscription_outbox (subscription_id, seq)"
                .into(),
        ];
        sql.extend(match backend {
            DbBackend::Postgres => postgres_triggers(),
            _ => sqlite_triggers(),
        });
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql: Vec<String> = match manager.get_database_backend() {
            DbBackend::Postgres => vec![
                "DROP TRIGGER IF EXISTS trg_fhir_subscription_outbox_insert ON patient".into(),
                "DROP TRIGGER IF EXISTS trg_fhir_subscription_outbox_update ON patient".into(),
                "DROP FUNCTION IF EXISTS fhir_subscription_outbox_patient()".into(),
            ],
            _ => SQLITE_TRIGGERS
                .iter()
                .map(|name| format!("DROP TRIGGER IF EXISTS {name}"))
                .collect(),
        };
        exec_all(manager, &sql).await?;
        drop_tables(manager, &["fhir_subscription_outbox", "fhir_subscription"]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// The subscriptions that get outbox rows.
const DELIVERING: &str = "status IN ('active', 'error')";

/// The SQLite triggers' names, for the down migration.
const SQLITE_TRIGGERS: &[&str] = &[
    "trg_fhir_subscription_outbox_insert",
    "trg_fhir_subscription_outbox_update",
];

/// The columns whose change is a change of the Patient a consumer is told about.
const CHANGED_SQLITE: &str = "OLD.version IS NOT NEW.version OR OLD.person_id IS NOT NEW.person_id \
     OR OLD.active IS NOT NEW.active OR OLD.deleted_at IS NOT NEW.deleted_at";

fn sqlite_triggers() -> Vec<String> {
    let delivering = format!("EXISTS (SELECT 1 FROM fhir_subscription WHERE {DELIVERING})");
    vec![
        format!(
            "CREATE TRIGGER trg_fhir_subscription_outbox_insert AFTER INSERT ON patient \
             WHEN {delivering} BEGIN \
             INSERT INTO fhir_subscription_outbox (subscription_id, patient_id, event) \
             SELECT id, NEW.id, CASE WHEN NEW.deleted_at IS NULL THEN 'create' ELSE 'delete' END \
             FROM fhir_subscription WHERE {DELIVERING}; \
             END"
        ),
        format!(
            "CREATE TRIGGER trg_fhir_subscription_outbox_update AFTER UPDATE ON patient \
             WHEN {delivering} AND ({CHANGED_SQLITE}) BEGIN \
             INSERT INTO fhir_subscription_outbox (subscription_id, patient_id, event) \
             SELECT id, NEW.id, \
             CASE WHEN NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN 'delete' \
             ELSE 'update' END \
             FROM fhir_subscription WHERE {DELIVERING}; \
             END"
        ),
    ]
}

fn postgres_triggers() -> Vec<String> {
    vec![
        format!(
            "CREATE FUNCTION fhir_subscription_outbox_patient() RETURNS trigger LANGUAGE plpgsql AS $$
         DECLARE
           kind text;
         BEGIN
           IF TG_OP = 'INSERT' THEN
             kind := CASE WHEN NEW.deleted_at IS NULL THEN 'create' ELSE 'delete' END;
           ELSIF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
             kind := 'delete';
           ELSE
             kind := 'update';
           END IF;
           INSERT INTO fhir_subscription_outbox (subscription_id, patient_id, event)
             SELECT id, NEW.id, kind FROM fhir_subscription WHERE {DELIVERING};
           RETURN NULL;
         END $$"
        ),
        "CREATE TRIGGER trg_fhir_subscription_outbox_insert AFTER INSERT ON patient \
         FOR EACH ROW EXECUTE FUNCTION fhir_subscription_outbox_patient()"
            .into(),
        "CREATE TRIGGER trg_fhir_subscription_outbox_update AFTER UPDATE ON patient FOR EACH ROW \
         WHEN (OLD.version IS DISTINCT FROM NEW.version OR OLD.person_id IS DISTINCT FROM NEW.person_id \
         OR OLD.active IS DISTINCT FROM NEW.active OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at) \
         EXECUTE FUNCTION fhir_subscription_outbox_patient()"
            .into(),
    ]
}

fn seq_column<T: IntoIden>(col: T, backend: DbBackend) -> ColumnDef {
    match backend {
        DbBackend::Postgres => ColumnDef::new(col)
            .big_integer()
            .not_null()
            .primary_key()
            .extra("GENERATED ALWAYS AS IDENTITY")
            .take(),
        _ => big_pk_auto(col),
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum FhirSubscription {
    Table,
    Criteria,
    ChannelType,
    Endpoint,
    Payload,
    Headers,
    Status,
    Error,
    Reason,
    Contact,
}

#[derive(DeriveIden, Clone, Copy)]
enum FhirSubscriptionOutbox {
    Table,
    Seq,
    SubscriptionId,
    PatientId,
    Event,
    CreatedAt,
}
