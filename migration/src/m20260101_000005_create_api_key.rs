//! API keys: random secrets shown once and stored only as hashes, each with a role
//! (registrar, steward, auditor, admin) and its use and revocation times.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{Id, check_in, drop_tables, exec_all, with_bookkeeping};
use crate::vocab;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(ApiKey::Table)
                    .col(pk_uuid(Id::Id))
                    .col(string(ApiKey::Name))
                    .col(string(ApiKey::Role))
                    .col(string(ApiKey::KeyHash))
                    .col(timestamp_with_time_zone_null(ApiKey::RevokedAt))
                    .col(timestamp_with_time_zone_null(ApiKey::LastUsedAt))
                    .check(check_in("api_key", ApiKey::Role, vocab::ROLE)),
                backend,
            ))
            .await?;
        exec_all(
            manager,
            &[
                "CREATE UNIQUE INDEX ux_api_key_name ON api_key (name)".into(),
                "CREATE UNIQUE INDEX ux_api_key_key_hash ON api_key (key_hash)".into(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["api_key"]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKey {
    Table,
    Name,
    Role,
    KeyHash,
    RevokedAt,
    LastUsedAt,
}
