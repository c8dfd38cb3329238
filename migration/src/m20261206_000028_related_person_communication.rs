//! A RelatedPerson's languages (FHIR `RelatedPerson.communication`, issue 31):
//! `related_person.communications`, a JSON list like its names and telecoms (the service's
//! input shape: system, code, display, preferred), empty for the rows stored before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RelatedPerson::Table)
                    .add_column(json_binary(RelatedPerson::Communications).default("[]"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RelatedPerson::Table)
                    .drop_column(RelatedPerson::Communications)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum RelatedPerson {
    Table,
    Communications,
}
