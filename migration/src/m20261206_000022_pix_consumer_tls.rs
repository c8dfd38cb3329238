//! PIX consumers reached over TLS (ITI-10 notifications to an ATNA secure node):
//! `pix_consumer.tls` says whether the MLLP connection is wrapped in TLS, `tls_ca` names a PEM
//! file of the CA certificates its server certificate must chain to (NULL: the Mozilla roots),
//! `tls_cert` and `tls_key` the client certificate chain and key to present (both or neither).
//! Paths, not contents: the key stays in a file the operator protects, read when connecting.

use sea_orm_migration::prelude::*;

use crate::common::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns this migration adds, with their definitions.
const COLUMNS: &[(&str, &str)] = &[
    ("tls", "BOOLEAN NOT NULL DEFAULT FALSE"),
    ("tls_ca", "TEXT NULL"),
    ("tls_cert", "TEXT NULL"),
    ("tls_key", "TEXT NULL"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql: Vec<String> = COLUMNS
            .iter()
            .map(|(name, definition)| {
                format!("ALTER TABLE pix_consumer ADD COLUMN {name} {definition}")
            })
            .collect();
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql: Vec<String> = COLUMNS
            .iter()
            .rev()
            .map(|(name, _)| format!("ALTER TABLE pix_consumer DROP COLUMN {name}"))
            .collect();
        exec_all(manager, &sql).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
