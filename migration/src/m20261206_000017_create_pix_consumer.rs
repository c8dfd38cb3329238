//! IHE PIX Update Notification (ITI-10): the consumers that subscribe (`pix_consumer`: an MLLP
//! address and the identifier domains each wants) and the durable outbox (`pix_outbox`: one row
//! per consumer and person whose set of identifiers changed, delivered and deleted by the
//! server's notification task).
//!
//! The outbox is filled by triggers, not by the use cases: a row is written in the very
//! transaction that changes a person's identifiers, whoever the writer is (a use case of any
//! face, `mpi import`, the dedupe job, another server on the same database), so no writer can
//! forget it and no notification can be lost between a commit and a send. A change is:
//! an identifier inserted, deleted or changed (system, value or holder); a patient inserted; a
//! patient's `person_id`, `active` or `deleted_at` changed (link, merge, undo, delete), which
//! changes both the old and the new person. The triggers write nothing while no consumer is
//! registered (one probe of an empty table per row).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::{Id, check_named, drop_tables, exec_all, fk, timestamp_now, with_bookkeeping};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(PixConsumer::Table)
                    .col(pk_uuid(Id::Id))
                    .col(string(PixConsumer::Name))
                    .col(string(PixConsumer::Host))
                    .col(integer(PixConsumer::Port))
                    // The wanted domains' names as a JSON array of strings; `[]`: every domain.
                    .col(text(PixConsumer::Domains))
                    .check(check_named(
                        "ck_pix_consumer_port",
                        Expr::cust("port BETWEEN 1 AND 65535"),
                    )),
                backend,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PixOutbox::Table)
                    .col(seq_column(PixOutbox::Seq, backend))
                    .col(uuid(PixOutbox::ConsumerId))
                    .col(uuid(PixOutbox::PersonId))
                    .col(timestamp_now(PixOutbox::CreatedAt, backend))
                    .foreign_key(&mut fk(
                        "fk_pix_outbox_consumer",
                        PixOutbox::Table,
                        PixOutbox::ConsumerId,
                        PixConsumer::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        let mut sql: Vec<String> = vec![
            "CREATE UNIQUE INDEX ux_pix_consumer_name ON pix_consumer (name)".into(),
            "CREATE INDEX idx_pix_outbox_consumer_seq ON pix_outbox (consumer_id, seq)".into(),
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
                "DROP TRIGGER IF EXISTS trg_pix_outbox_identifier ON patient_identifier".into(),
                "DROP TRIGGER IF EXISTS trg_pix_outbox_patient_insert ON patient".into(),
                "DROP TRIGGER IF EXISTS trg_pix_outbox_patient_update ON patient".into(),
                "DROP FUNCTION IF EXISTS pix_outbox_identifier()".into(),
                "DROP FUNCTION IF EXISTS pix_outbox_patient()".into(),
            ],
            _ => SQLITE_TRIGGERS
                .iter()
                .map(|name| format!("DROP TRIGGER IF EXISTS {name}"))
                .collect(),
        };
        exec_all(manager, &sql).await?;
        drop_tables(manager, &["pix_outbox", "pix_consumer"]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// The SQLite triggers' names, for the down migration.
const SQLITE_TRIGGERS: &[&str] = &[
    "trg_pix_outbox_identifier_insert",
    "trg_pix_outbox_identifier_update",
    "trg_pix_outbox_identifier_delete",
    "trg_pix_outbox_patient_insert",
    "trg_pix_outbox_patient_update",
];

/// One outbox row per consumer for the person of the patient `patient_id` (an SQL expression).
fn sqlite_enqueue_holder(patient_id: &str) -> String {
    format!(
        "INSERT INTO pix_outbox (consumer_id, person_id) \
         SELECT c.id, p.person_id FROM pix_consumer c, patient p WHERE p.id = {patient_id};"
    )
}

fn sqlite_triggers() -> Vec<String> {
    let consumers = "EXISTS (SELECT 1 FROM pix_consumer)";
    vec![
        format!(
            "CREATE TRIGGER trg_pix_outbox_identifier_insert AFTER INSERT ON patient_identifier \
             WHEN {consumers} BEGIN {} END",
            sqlite_enqueue_holder("NEW.patient_id")
        ),
        format!(
            "CREATE TRIGGER trg_pix_outbox_identifier_update AFTER UPDATE ON patient_identifier \
             WHEN {consumers} AND (OLD.system IS NOT NEW.system OR OLD.value IS NOT NEW.value \
             OR OLD.patient_id IS NOT NEW.patient_id) BEGIN {} {} END",
            sqlite_enqueue_holder("OLD.patient_id"),
            sqlite_enqueue_holder("NEW.patient_id")
        ),
        format!(
            "CREATE TRIGGER trg_pix_outbox_identifier_delete AFTER DELETE ON patient_identifier \
             WHEN {consumers} BEGIN {} END",
            sqlite_enqueue_holder("OLD.patient_id")
        ),
        format!(
            "CREATE TRIGGER trg_pix_outbox_patient_insert AFTER INSERT ON patient \
             WHEN {consumers} BEGIN \
             INSERT INTO pix_outbox (consumer_id, person_id) SELECT id, NEW.person_id FROM pix_consumer; \
             END"
        ),
        format!(
            "CREATE TRIGGER trg_pix_outbox_patient_update AFTER UPDATE ON patient \
             WHEN {consumers} AND (OLD.person_id IS NOT NEW.person_id OR OLD.active IS NOT NEW.active \
             OR OLD.deleted_at IS NOT NEW.deleted_at) BEGIN \
             INSERT INTO pix_outbox (consumer_id, person_id) \
             SELECT c.id, x.person_id FROM pix_consumer c, \
             (SELECT OLD.person_id AS person_id UNION SELECT NEW.person_id) x; \
             END"
        ),
    ]
}

fn postgres_triggers() -> Vec<String> {
    vec![
        "CREATE FUNCTION pix_outbox_identifier() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF TG_OP = 'UPDATE' THEN
             IF OLD.system IS NOT DISTINCT FROM NEW.system
                AND OLD.value IS NOT DISTINCT FROM NEW.value
                AND OLD.patient_id = NEW.patient_id THEN
               RETURN NULL;
             END IF;
           END IF;
           IF TG_OP IN ('UPDATE', 'DELETE') THEN
             INSERT INTO pix_outbox (consumer_id, person_id)
               SELECT c.id, p.person_id FROM pix_consumer c CROSS JOIN patient p
               WHERE p.id = OLD.patient_id;
           END IF;
           IF TG_OP IN ('UPDATE', 'INSERT') THEN
             INSERT INTO pix_outbox (consumer_id, person_id)
               SELECT c.id, p.person_id FROM pix_consumer c CROSS JOIN patient p
               WHERE p.id = NEW.patient_id;
           END IF;
           RETURN NULL;
         END $$"
            .into(),
        "CREATE FUNCTION pix_outbox_patient() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           INSERT INTO pix_outbox (consumer_id, person_id)
             SELECT id, NEW.person_id FROM pix_consumer;
           IF TG_OP = 'UPDATE' THEN
             IF OLD.person_id <> NEW.person_id THEN
               INSERT INTO pix_outbox (consumer_id, person_id)
                 SELECT id, OLD.person_id FROM pix_consumer;
             END IF;
           END IF;
           RETURN NULL;
         END $$"
            .into(),
        "CREATE TRIGGER trg_pix_outbox_identifier AFTER INSERT OR UPDATE OR DELETE \
         ON patient_identifier FOR EACH ROW EXECUTE FUNCTION pix_outbox_identifier()"
            .into(),
        "CREATE TRIGGER trg_pix_outbox_patient_insert AFTER INSERT ON patient \
         FOR EACH ROW EXECUTE FUNCTION pix_outbox_patient()"
            .into(),
        "CREATE TRIGGER trg_pix_outbox_patient_update AFTER UPDATE ON patient FOR EACH ROW \
         WHEN (OLD.person_id IS DISTINCT FROM NEW.person_id OR OLD.active IS DISTINCT FROM NEW.active \
         OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at) \
         EXECUTE FUNCTION pix_outbox_patient()"
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
enum PixConsumer {
    Table,
    Name,
    Host,
    Port,
    Domains,
}

#[derive(DeriveIden, Clone, Copy)]
enum PixOutbox {
    Table,
    Seq,
    ConsumerId,
    PersonId,
    CreatedAt,
}
