//! Tests of the `mpi` binary through its real process and HTTP, on SQLite and PostgreSQL.

mod app;
mod audit;
mod auth;
mod batch_files;
mod database;
mod dedupe_kill;
mod domains;
mod fhir;
mod fhir_ihe;
mod health;
mod helpers;
mod hl7_mllp;
mod hostile;
mod import;
mod import_fhir;
mod jobs;
mod matching;
mod merges;
mod messy_files;
mod metrics;
mod migrate;
mod openapi;
mod patients;
mod review;
mod tls;
mod ui;
