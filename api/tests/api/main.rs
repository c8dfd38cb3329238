//! Tests of the `mpi` binary through its real process and HTTP, on SQLite and PostgreSQL.

mod database;
mod health;
mod helpers;
mod migrate;
