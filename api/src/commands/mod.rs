//! One module per `mpi` subcommand; each has its clap arguments and an async `run`.

pub mod audit;
pub mod bench;
pub mod consumers;
pub mod dedupe_db;
pub mod dedupe_file;
pub mod domains;
pub mod eval;
pub mod file_mode;
pub mod generate;
pub mod import;
pub mod keys;
pub mod link;
pub mod migrate;
pub mod serve;
pub mod train;
