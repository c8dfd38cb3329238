//! `mpi domains add|list|remove` and `mpi sources add|list|remove`: the identifier domains
//! (assigning authorities) and the sources that send patients (migrating the database first).

use std::io::Write;

use anyhow::Context;
use clap::{Args, Subcommand};

use service::Ctx;
use service::domains::DomainInput;
use service::sources::{SourceInput, SourceRole};

use crate::configuration::{DatabaseSettings, DomainSettings};
use crate::database;

/// The `mpi domains` subcommands.
#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// Register a domain: a namespace, with an OID and a URL naming the same domain.
    Add(AddDomainArgs),
    /// List the registered domains (and the MPI's own).
    List(ListArgs),
    /// Remove a domain (by namespace, OID or URL); identifiers stored in it stay.
    Remove(RemoveArgs),
}

/// Arguments of `mpi domains add`.
#[derive(Debug, Args)]
pub struct AddDomainArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The MPI's own domain (so a new domain cannot take its names).
    #[command(flatten)]
    pub domains: DomainSettings,
    /// The namespace (HL7 HD.1), e.g. `ST_MARYS`.
    pub name: String,
    /// The OID (HL7 HD.2), e.g. `2.16.840.1.113883.3.72.5.9.1`.
    #[arg(long)]
    pub oid: Option<String>,
    /// The URL (FHIR `Identifier.system`), e.g. `http://ohie.org/test/test`.
    #[arg(long = "url", id = "domain_url", value_name = "URL")]
    pub url: Option<String>,
    /// A source that may assign identifiers here (repeat for several; none: any caller).
    #[arg(long = "assigner")]
    pub assigners: Vec<String>,
    /// One value names one person: records of different sources sharing it are linked.
    #[arg(long)]
    pub links_records: bool,
    /// Free text.
    #[arg(long)]
    pub description: Option<String>,
}

/// Arguments of the `list` subcommands.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The MPI's own domain (listed last).
    #[command(flatten)]
    pub domains: DomainSettings,
}

/// Arguments of the `remove` subcommands.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The name (for a domain also its OID or URL).
    pub name: String,
}

/// The `mpi sources` subcommands.
#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Register a source (HL7: the sending application MSH-3 and facility MSH-4).
    Add(AddSourceArgs),
    /// List the sources (never their secrets).
    List(SourceListArgs),
    /// Remove a source that assigns in no domain.
    Remove(RemoveArgs),
}

/// Arguments of `mpi sources add`.
#[derive(Debug, Args)]
pub struct AddSourceArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The name (HL7 MSH-3 sending application).
    pub name: String,
    /// The facility (HL7 MSH-4 sending facility).
    #[arg(long)]
    pub facility: Option<String>,
    /// `registrar` (registers and updates) or `steward` (also merges).
    #[arg(long, default_value = "registrar", value_parser = |s: &str| s.parse::<SourceRole>())]
    pub role: SourceRole,
    /// A shared secret (HL7 MSH-8), stored hashed.
    #[arg(long, env = "MPI_SOURCE_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

/// Arguments of `mpi sources list`.
#[derive(Debug, Args)]
pub struct SourceListArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
}

async fn open(settings: &DatabaseSettings) -> anyhow::Result<service::sea_orm::DatabaseConnection> {
    let db = database::connect(settings)
        .await
        .with_context(|| format!("cannot open {}", settings.redacted_url()))?;
    database::migrate_up(&db, None)
        .await
        .context("cannot apply migrations")?;
    Ok(db)
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// Runs a domains subcommand, writing its report to `out`.
pub async fn run(command: DomainsCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let ctx = Ctx::system("mpi domains");
    match command {
        DomainsCommand::Add(args) => {
            let db = open(&args.database).await?;
            let input = DomainInput {
                name: args.name,
                oid: args.oid,
                url: args.url,
                description: args.description,
                links_records: args.links_records,
                assigners: args.assigners,
            };
            let d = service::domains::add_with_db(&db, &ctx, &args.domains.enterprise(), input)
                .await
                .map_err(describe)
                .context("cannot add the domain")?;
            writeln!(
                out,
                "added domain {} (oid {}, url {}, system {}, id {})",
                d.name,
                or_dash(&d.oid),
                or_dash(&d.url),
                d.system(),
                d.id
            )?;
            db.close().await?;
        }
        DomainsCommand::List(args) => {
            let db = open(&args.database).await?;
            let registry = service::domains::Registry::load(
                &db,
                &args.domains.enterprise(),
                args.domains.unknown_domains,
            )
            .await
            .context("cannot list the domains")?;
            writeln!(
                out,
                "{:<20} {:<36} {:<36} {:<13} assigners",
                "name", "oid", "url", "links records"
            )?;
            for d in registry.domains() {
                let assigners = if d.enterprise {
                    "(the MPI: person_id)".to_owned()
                } else if d.assigners.is_empty() {
                    "(any)".to_owned()
                } else {
                    d.assigners.join(",")
                };
                writeln!(
                    out,
                    "{:<20} {:<36} {:<36} {:<13} {}",
                    d.name,
                    or_dash(&d.oid),
                    or_dash(&d.url),
                    if d.links_records { "yes" } else { "no" },
                    assigners
                )?;
            }
            db.close().await?;
        }
        DomainsCommand::Remove(args) => {
            let db = open(&args.database).await?;
            let d = service::domains::remove_with_db(&db, &ctx, &args.name)
                .await
                .map_err(describe)
                .context("cannot remove the domain")?;
            writeln!(out, "removed domain {} ({})", d.name, d.id)?;
            db.close().await?;
        }
    }
    Ok(())
}

/// Runs a sources subcommand, writing its report to `out`.
pub async fn run_sources(command: SourcesCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let ctx = Ctx::system("mpi sources");
    match command {
        SourcesCommand::Add(args) => {
            let db = open(&args.database).await?;
            let s = service::sources::add(
                &db,
                &ctx,
                SourceInput {
                    name: args.name,
                    facility: args.facility,
                    role: args.role,
                    secret: args.secret,
                },
            )
            .await
            .map_err(describe)
            .context("cannot add the source")?;
            writeln!(
                out,
                "added source {} (facility {}, role {}, secret {}, id {})",
                s.name,
                or_dash(&s.facility),
                s.role,
                if s.has_secret { "set" } else { "none" },
                s.id
            )?;
            db.close().await?;
        }
        SourcesCommand::List(args) => {
            let db = open(&args.database).await?;
            writeln!(
                out,
                "{:<24} {:<24} {:<10} secret",
                "name", "facility", "role"
            )?;
            for s in service::sources::list(&db).await? {
                writeln!(
                    out,
                    "{:<24} {:<24} {:<10} {}",
                    s.name,
                    or_dash(&s.facility),
                    s.role,
                    if s.has_secret { "set" } else { "-" }
                )?;
            }
            db.close().await?;
        }
        SourcesCommand::Remove(args) => {
            let db = open(&args.database).await?;
            let s = service::sources::remove(&db, &ctx, &args.name)
                .await
                .map_err(describe)
                .context("cannot remove the source")?;
            writeln!(out, "removed source {} ({})", s.name, s.id)?;
            db.close().await?;
        }
    }
    Ok(())
}

/// A service error as a sentence for the terminal (the field and what is wrong).
fn describe(e: service::Error) -> anyhow::Error {
    match e {
        service::Error::Validation { field, message } => anyhow::anyhow!("{field}: {message}"),
        service::Error::Conflict { code, message, .. } => anyhow::anyhow!("{code}: {message}"),
        service::Error::NotFound { entity, .. } => anyhow::anyhow!("no such {entity}"),
        other => anyhow::Error::new(other),
    }
}
