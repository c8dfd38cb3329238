//! SeaORM entities for the MPI data model (FHIR R4 Patient in snake_case), one module per table.
//!
//! The schema itself (constraints, indexes, triggers) lives in the `migration` crate; these
//! entities mirror it. Hand-written queries are in `patient_ext` and `pair`.
//!
//! Things every writer must know:
//! * Every table has `created_at`/`updated_at` (default now; leave them `NotSet` on insert, set
//!   `updated_at` on update) and `created_by`/`updated_by` (required: the actor's name).
//! * Patients are soft-deleted (`deleted_at`, `deleted_by`); `patient::Entity::find_live()` is
//!   the default query. Raise `patient.version` by one on every update.
//! * `patient_identifier.patient_live` must equal `patient.active && deleted_at.is_none()`;
//!   triggers maintain it and a partial unique index keeps system+value unique among live
//!   patients. When moving a value between patients (merge, undo), retire the old holder first.
//! * Pairs in `match_score` and `review_task` are stored with `pair::ordered_pair`.
//! * `change_log` is written by triggers only; `audit_event` and `change_log` are append-only.
//! * Timestamps keep microseconds on PostgreSQL; truncate before comparing with values read back.

pub mod api_key;
pub mod api_key_source;
pub mod audit_event;
pub mod change_log;
pub mod dedupe_job;
pub mod domain_assigner;
pub mod enums;
pub mod fhir_subscription;
pub mod fhir_subscription_outbox;
pub mod identifier_domain;
pub mod json_list;
pub mod match_score;
pub mod merge_event;
pub mod organization;
pub mod organization_address;
pub mod organization_identifier;
pub mod organization_telecom;
pub mod pair;
pub mod patient;
pub mod patient_address;
pub mod patient_communication;
pub mod patient_ext;
pub mod patient_identifier;
pub mod patient_link;
pub mod patient_name;
pub mod patient_telecom;
pub mod pix_consumer;
pub mod pix_outbox;
pub mod prelude;
pub mod related_person;
pub mod review_task;
pub mod source;
