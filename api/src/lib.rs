//! The MPI HTTP server, configuration and command line (the `mpi` binary's library).
//!
//! This is the only crate that knows HTTP, JSON DTOs, the CLI and configuration; the
//! business rules live in `service`, the matching engine in `matcher`.

pub mod auth;
pub mod cli;
pub mod commands;
pub mod configuration;
pub mod database;
pub mod dto;
pub mod error;
pub mod exit_code;
pub mod extract;
pub mod fhir;
pub mod guard;
pub mod head_deadline;
pub mod metrics;
pub mod person_csv;
pub mod progress;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod tls;
