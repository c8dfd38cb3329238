//! API keys that act as a source (`mpi keys create ... --source NAME`): a key's writes are then
//! held to that source's authority over identifier domains. A table of its own rather than a
//! column of `api_key`, so the down migration is a plain DROP TABLE on both engines (SQLite
//! cannot drop a column that a foreign key uses).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{Id, drop_tables, exec_all, fk, with_bookkeeping};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(ApiKeySource::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(ApiKeySource::ApiKeyId))
                    .col(uuid(ApiKeySource::SourceId))
                    .foreign_key(&mut fk(
                        "fk_api_key_source_api_key",
                        ApiKeySource::Table,
                        ApiKeySource::ApiKeyId,
                        ApiKey::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_api_key_source_source",
                        ApiKeySource::Table,
                        ApiKeySource::SourceId,
                        Source::Table,
                        ForeignKeyAction::Restrict,
                    )),
                backend,
            ))
            .await?;
        exec_all(
            manager,
            &[
                "CREATE UNIQUE INDEX ux_api_key_source_api_key ON api_key_source (api_key_id)"
                    .into(),
                "CREATE INDEX idx_api_key_source_source ON api_key_source (source_id)".into(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["api_key_source"]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeySource {
    Table,
    ApiKeyId,
    SourceId,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKey {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum Source {
    Table,
}
