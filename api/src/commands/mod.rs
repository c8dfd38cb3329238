//! One module per `mpi` subcommand; each has its clap arguments and an async `run`.

pub mod dedupe_db;
pub mod keys;
pub mod migrate;
pub mod serve;
