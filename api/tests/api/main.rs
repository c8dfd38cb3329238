//! Tests of the `mpi` binary through its real process and HTTP, on SQLite and PostgreSQL.

mod app;
mod audit;
mod auth;
mod batch_files;
mod database;
mod dedupe_kill;
mod fhir;
mod health;
mod helpers;
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
mod ui;
