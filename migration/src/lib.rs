//! Schema migrations for the MPI data model, for SQLite and PostgreSQL.
//!
//! Run them with [`Migrator`] (`Migrator::up(&db, None)`, `Migrator::down(&db, None)`,
//! `Migrator::status(&db)`). The order:
//!
//! 1. organizations with their identifiers, addresses and telecoms;
//! 2. patients with names, identifiers, addresses and telecoms, lookup and trigram indexes, and
//!    the live-identifier uniqueness triggers;
//! 3. patient links, match scores, the review queue and merge events;
//! 4. `change_log` with its capture triggers on every patient table, and `audit_event`, both
//!    append-only;
//! 5. API keys;
//! 6. batch dedupe jobs;
//! 7. a family-name index that also holds the given names and the patient id, so a search by
//!    family and given name is answered from the index;
//! 8. identifiers indexed by two disjoint partial indexes (live holders, retired holders);
//! 9. the unused telecom (system, value) index dropped;
//! 10. SQLite change-capture triggers that read the clock once per log row and turn each UUID
//!     into hex once;
//! 11. SQLite change-capture triggers that render each UUID column once per log row;
//! 12. on SQLite, the audit chain's fork guard as a trigger (a row must follow the last row)
//!     instead of two UNIQUE indexes on random hashes;
//! 13. the same on PostgreSQL (the trigger also takes the chain's advisory lock);
//! 14. identifier domains (namespace, OID, URL), sources, and which sources assign in which
//!     domain;
//! 15. API keys acting as a source;
//! 20. the mother of a patient (maiden name, identifier, her resolved record);
//! 21. FHIR RelatedPerson (`related_person`), tied to a patient by a foreign key;
//! 22. PIX consumers reached over TLS (`pix_consumer.tls`, CA, client certificate and key);
//! 23. `patient_telecom.digits_reversed`, a phone number's digits reversed, and its index, so a
//!     search by a whole number or its end is an index range scan.
//! 24. a patient's languages (`patient_communication`, FHIR `Patient.communication`);
//! 26. a PIX consumer's receiving facility (`pix_consumer.facility`, MSH-6 of its notifications).
//! 27. FHIR Subscriptions of IHE PMIR (ITI-94, `fhir_subscription`) and their outbox, filled by
//!     triggers on `patient` (`fhir_subscription_outbox`).
//! 28. a RelatedPerson's languages (`related_person.communications`, FHIR
//!     `RelatedPerson.communication`);
//! 29. languages indexed by their lowered code and system (`idx_patient_communication_language`),
//!     for a search by language.
//!
//! Every down migration reverses its up migration (triggers, functions, indexes and tables).

pub use sea_orm_migration::prelude::*;

pub mod change_capture;
mod common;
mod m20260101_000001_create_organization;
mod m20260101_000002_create_patient;
mod m20260101_000003_create_link_score_review_merge;
mod m20260101_000004_create_change_log_and_audit;
mod m20260101_000005_create_api_key;
mod m20260101_000006_create_dedupe_job;
mod m20261123_000007_cover_name_search;
mod m20261201_000008_split_identifier_index;
mod m20261201_000009_drop_unused_telecom_index;
mod m20261201_000010_lean_sqlite_change_capture;
mod m20261202_000011_render_each_uuid_once;
mod m20261202_000012_sqlite_audit_chain_trigger;
mod m20261203_000013_postgres_audit_chain_trigger;
mod m20261206_000014_create_identifier_domain;
mod m20261206_000015_api_key_source;
mod m20261206_000016_identifier_link_key;
mod m20261206_000017_create_pix_consumer;
mod m20261206_000019_birth_date_precision;
mod m20261206_000020_mother;
mod m20261206_000021_create_related_person;
mod m20261206_000022_pix_consumer_tls;
mod m20261206_000023_telecom_digits_reversed;
mod m20261206_000024_patient_communication;
mod m20261206_000026_pix_consumer_facility;
mod m20261206_000027_create_fhir_subscription;
mod m20261206_000028_related_person_communication;
mod m20261206_000029_communication_language_index;
pub mod vocab;

pub use m20261202_000012_sqlite_audit_chain_trigger::FORK_REFUSED as AUDIT_FORK_REFUSED;
pub use m20261203_000013_postgres_audit_chain_trigger::AUDIT_CHAIN_LOCK_KEY;

/// Runs the MPI schema migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_organization::Migration),
            Box::new(m20260101_000002_create_patient::Migration),
            Box::new(m20260101_000003_create_link_score_review_merge::Migration),
            Box::new(m20260101_000004_create_change_log_and_audit::Migration),
            Box::new(m20260101_000005_create_api_key::Migration),
            Box::new(m20260101_000006_create_dedupe_job::Migration),
            Box::new(m20261123_000007_cover_name_search::Migration),
            Box::new(m20261201_000008_split_identifier_index::Migration),
            Box::new(m20261201_000009_drop_unused_telecom_index::Migration),
            Box::new(m20261201_000010_lean_sqlite_change_capture::Migration),
            Box::new(m20261202_000011_render_each_uuid_once::Migration),
            Box::new(m20261202_000012_sqlite_audit_chain_trigger::Migration),
            Box::new(m20261203_000013_postgres_audit_chain_trigger::Migration),
            Box::new(m20261206_000014_create_identifier_domain::Migration),
            Box::new(m20261206_000015_api_key_source::Migration),
            Box::new(m20261206_000016_identifier_link_key::Migration),
            Box::new(m20261206_000017_create_pix_consumer::Migration),
            Box::new(m20261206_000019_birth_date_precision::Migration),
            Box::new(m20261206_000020_mother::Migration),
            Box::new(m20261206_000021_create_related_person::Migration),
            Box::new(m20261206_000022_pix_consumer_tls::Migration),
            Box::new(m20261206_000023_telecom_digits_reversed::Migration),
            Box::new(m20261206_000024_patient_communication::Migration),
            Box::new(m20261206_000026_pix_consumer_facility::Migration),
            Box::new(m20261206_000027_create_fhir_subscription::Migration),
            Box::new(m20261206_000028_related_person_communication::Migration),
            Box::new(m20261206_000029_communication_language_index::Migration),
        ]
    }
}

#[cfg(feature = "testing")]
pub mod testing;
