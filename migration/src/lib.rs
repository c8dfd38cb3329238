//! Schema migrations for the MPI data model, for SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

/// Runs the MPI schema migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![]
    }
}

#[cfg(feature = "testing")]
pub mod testing;
