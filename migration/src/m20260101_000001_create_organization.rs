//! Organizations: the facilities that register patients and assign their identifiers, with their
//! own identifiers (NPI, tax id, ...), addresses and telecoms, and a `part_of` hierarchy.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{Id, check_in, exec_all, fk, with_bookkeeping};
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
                    .table(Organization::Table)
                    .col(pk_uuid(Id::Id))
                    .col(string(Organization::Name))
                    .col(json_binary(Organization::Aliases).default("[]"))
                    .col(string_null(Organization::Type))
                    .col(uuid_null(Organization::PartOf))
                    .col(boolean(Organization::Active).default(true))
                    .check(check_in(
                        "organization",
                        Organization::Type,
                        vocab::ORGANIZATION_TYPE,
                    ))
                    .foreign_key(&mut fk(
                        "fk_organization_part_of",
                        Organization::Table,
                        Organization::PartOf,
                        Organization::Table,
                        ForeignKeyAction::Restrict,
                    )),
                backend,
            ))
            .await?;

        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(OrganizationIdentifier::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(OrganizationIdentifier::OrganizationId))
                    .col(string_null(OrganizationIdentifier::Type))
                    .col(string(OrganizationIdentifier::System))
                    .col(string(OrganizationIdentifier::Value))
                    .col(date_null(OrganizationIdentifier::PeriodStart))
                    .col(date_null(OrganizationIdentifier::PeriodEnd))
                    .check(check_in(
                        "organization_identifier",
                        OrganizationIdentifier::Type,
                        vocab::IDENTIFIER_TYPE,
                    ))
                    .foreign_key(&mut fk(
                        "fk_organization_identifier_organization",
                        OrganizationIdentifier::Table,
                        OrganizationIdentifier::OrganizationId,
                        Organization::Table,
                        ForeignKeyAction::Cascade,
                    )),
                backend,
            ))
            .await?;

        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(OrganizationAddress::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(OrganizationAddress::OrganizationId))
                    .col(string_null(OrganizationAddress::Use))
                    .col(string_null(OrganizationAddress::Type))
                    .col(json_binary(OrganizationAddress::Lines).default("[]"))
                    .col(string_null(OrganizationAddress::City))
                    .col(string_null(OrganizationAddress::District))
                    .col(string_null(OrganizationAddress::State))
                    .col(string_null(OrganizationAddress::PostalCode))
                    .col(string_null(OrganizationAddress::Country))
                    .col(boolean(OrganizationAddress::IsPrimary).default(false))
                    .col(date_null(OrganizationAddress::PeriodStart))
                    .col(date_null(OrganizationAddress::PeriodEnd))
                    .check(check_in(
                        "organization_address",
                        OrganizationAddress::Use,
                        vocab::ADDRESS_USE,
                    ))
                    .check(check_in(
                        "organization_address",
                        OrganizationAddress::Type,
                        vocab::ADDRESS_TYPE,
                    ))
                    .foreign_key(&mut fk(
                        "fk_organization_address_organization",
                        OrganizationAddress::Table,
                        OrganizationAddress::OrganizationId,
                        Organization::Table,
                        ForeignKeyAction::Cascade,
                    )),
                backend,
            ))
            .await?;

        manager
            .create_table(with_bookkeeping(
                Table::create()
                    .table(OrganizationTelecom::Table)
                    .col(pk_uuid(Id::Id))
                    .col(uuid(OrganizationTelecom::OrganizationId))
                    .col(string(OrganizationTelecom::System))
                    .col(string(OrganizationTelecom::Value))
                    .col(string_null(OrganizationTelecom::Use))
                    .col(boolean(OrganizationTelecom::IsPrimary).default(false))
                    .col(date_null(OrganizationTelecom::PeriodStart))
                    .col(date_null(OrganizationTelecom::PeriodEnd))
                    .check(check_in(
                        "organization_telecom",
                        OrganizationTelecom::System,
                        vocab::TELECOM_SYSTEM,
                    ))
                    .check(check_in(
                        "organization_telecom",
                        OrganizationTelecom::Use,
                        vocab::TELECOM_USE,
                    ))
                    .foreign_key(&mut fk(
                        "fk_organization_telecom_organization",
                        OrganizationTelecom::Table,
                        OrganizationTelecom::OrganizationId,
                        Organization::Table,
                        ForeignKeyAction::Cascade,
                    )),
                backend,
            ))
            .await?;

        exec_all(
            manager,
            &[
                "CREATE INDEX idx_organization_name ON organization (name)".into(),
                "CREATE INDEX idx_organization_part_of ON organization (part_of)".into(),
                "CREATE UNIQUE INDEX ux_organization_identifier_system_value \
                 ON organization_identifier (system, value)"
                    .into(),
                "CREATE INDEX idx_organization_identifier_organization \
                 ON organization_identifier (organization_id)"
                    .into(),
                "CREATE INDEX idx_organization_address_organization \
                 ON organization_address (organization_id)"
                    .into(),
                "CREATE INDEX idx_organization_telecom_organization \
                 ON organization_telecom (organization_id)"
                    .into(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping a table drops its indexes too.
        crate::common::drop_tables(
            manager,
            &[
                "organization_telecom",
                "organization_address",
                "organization_identifier",
                "organization",
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
pub(crate) enum Organization {
    Table,
    Name,
    Aliases,
    Type,
    PartOf,
    Active,
}

#[derive(DeriveIden)]
enum OrganizationIdentifier {
    Table,
    OrganizationId,
    Type,
    System,
    Value,
    PeriodStart,
    PeriodEnd,
}

#[derive(DeriveIden)]
enum OrganizationAddress {
    Table,
    OrganizationId,
    Use,
    Type,
    Lines,
    City,
    District,
    State,
    PostalCode,
    Country,
    IsPrimary,
    PeriodStart,
    PeriodEnd,
}

#[derive(DeriveIden)]
enum OrganizationTelecom {
    Table,
    OrganizationId,
    System,
    Value,
    Use,
    IsPrimary,
    PeriodStart,
    PeriodEnd,
}
