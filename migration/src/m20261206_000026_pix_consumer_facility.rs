//! A PIX consumer's receiving facility: `pix_consumer.facility` (NULL: none given) is written in
//! MSH-6 of the ITI-10 notifications sent to it, beside its name in MSH-5, so a notification
//! names its receiver in full (HL7 v2.5 MSH-5/MSH-6, ITI TF-2 3.10.4.1.2).

use sea_orm_migration::prelude::*;

use crate::common::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &["ALTER TABLE pix_consumer ADD COLUMN facility TEXT NULL".to_owned()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &["ALTER TABLE pix_consumer DROP COLUMN facility".to_owned()],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
