//! Identifier domains (assigning authorities, each known by a namespace, an OID and a URL), the
//! sources that send patients (an HL7 v2 sending application and facility, or an API key acting
//! for one), and which sources may assign identifiers in which domain.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{Id, check_in, drop_tables, exec_all, fk, with_bookkeeping};

/// The roles a source may have.
const SOURCE_ROLE: &[&str] = &["registrar", "steward"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(IdentifierDomain::Table)
                    .col(pk_uuid(Id::Id))
                    .col(string(IdentifierDomain::Name))
                    .col(string_null(IdentifierDomain::Oid))
                    .col(string_null(IdentifierDomain::Url))
                    .col(text_null(IdentifierDomain::Description))
                    .col(boolean(IdentifierDomain::LinksRecords).default(false)),
                backend,
            ))
            .await?;
        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(Source::Table)
                    .col(pk_uuid(Id::Id))
                    .col(string(Source::Name))
                    .col(string_null(Source::Facility))
                    .col(string(Source::Role))
                    .col(string_null(Source::SecretHash))
                    .check(check_in("source", Source::Role, SOURCE_ROLE)),
                backend,
            ))
            .await?;
        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(DomainAssigner::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(DomainAssigner::DomainId))
                    .col(uuid(DomainAssigner::SourceId))
                    .foreign_key(&mut fk(
                        "fk_domain_assigner_domain",
                        DomainAssigner::Table,
                        DomainAssigner::DomainId,
                        IdentifierDomain::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_domain_assigner_source",
                        DomainAssigner::Table,
                        DomainAssigner::SourceId,
                        Source::Table,
                        ForeignKeyAction::Restrict,
                    )),
                backend,
            ))
            .await?;
        exec_all(
            manager,
            &[
                "CREATE UNIQUE INDEX ux_identifier_domain_name ON identifier_domain (name)".into(),
                "CREATE UNIQUE INDEX ux_identifier_domain_oid ON identifier_domain (oid)".into(),
                "CREATE UNIQUE INDEX ux_identifier_domain_url ON identifier_domain (url)".into(),
                "CREATE UNIQUE INDEX ux_source_name ON source (name)".into(),
                "CREATE UNIQUE INDEX ux_domain_assigner ON domain_assigner (domain_id, source_id)"
                    .into(),
                "CREATE INDEX idx_domain_assigner_source ON domain_assigner (source_id)".into(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["domain_assigner", "source", "identifier_domain"]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum IdentifierDomain {
    Table,
    Name,
    Oid,
    Url,
    Description,
    LinksRecords,
}

#[derive(DeriveIden, Clone, Copy)]
enum Source {
    Table,
    Name,
    Facility,
    Role,
    SecretHash,
}

#[derive(DeriveIden, Clone, Copy)]
enum DomainAssigner {
    Table,
    DomainId,
    SourceId,
}
