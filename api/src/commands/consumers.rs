//! `mpi consumers add|list|remove`: the subscribers to IHE PIX Update Notifications (ITI-10),
//! each an MLLP listener that `mpi serve` sends ADT^A31 to whenever a person's identifiers
//! change, over plain TCP or TLS (`--tls`, with a CA file and a client certificate), migrating
//! the database first.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use service::Ctx;
use service::notifications::{ConsumerInput, ConsumerTls};

use crate::configuration::DatabaseSettings;
use crate::database;

/// The `mpi consumers` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConsumersCommand {
    /// Subscribe a PIX consumer: from now on it is notified of every change of a person's
    /// identifiers (in its domains).
    Add(AddConsumerArgs),
    /// List the consumers.
    List(ListConsumersArgs),
    /// Unsubscribe a consumer; its undelivered notifications are dropped.
    Remove(RemoveConsumerArgs),
}

/// Arguments of `mpi consumers add`.
#[derive(Debug, Args)]
pub struct AddConsumerArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The name (the notifications' receiving application, MSH-5).
    pub name: String,
    /// Its receiving facility, written in MSH-6 of the notifications (MSH-5 is the name);
    /// default: the name.
    #[arg(long, value_name = "FACILITY")]
    pub facility: Option<String>,
    /// Where its MLLP listener is: `HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT")]
    pub mllp: String,
    /// A domain it wants identifiers in (namespace, OID or URL of a registered domain);
    /// repeat for more; none: every domain and the enterprise id.
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Reach it over MLLP in TLS; its server certificate must name HOST.
    #[arg(long)]
    pub tls: bool,
    /// CA certificates (PEM) its server certificate must chain to; default: the Mozilla roots.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub tls_ca: Option<PathBuf>,
    /// A client certificate chain (PEM) to present, for a consumer that requires one.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["tls", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
}

/// Arguments of `mpi consumers list`.
#[derive(Debug, Args)]
pub struct ListConsumersArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
}

/// Arguments of `mpi consumers remove`.
#[derive(Debug, Args)]
pub struct RemoveConsumerArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The consumer's name.
    pub name: String,
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

/// `HOST:PORT` (an IPv6 host in brackets) into its parts.
fn host_port(text: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = text
        .trim()
        .rsplit_once(':')
        .context("--mllp: expected HOST:PORT")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .context("--mllp: the port must be 1 to 65535")?;
    anyhow::ensure!(!host.is_empty(), "--mllp: the host is missing");
    Ok((host.to_owned(), port))
}

/// `path` made absolute (the server may run from another directory); it must exist.
fn absolute(flag: &str, path: &Path) -> anyhow::Result<String> {
    let full = std::fs::canonicalize(path)
        .with_context(|| format!("{flag}: cannot read {}", path.display()))?;
    full.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{flag}: the path is not UTF-8"))
}

/// The TLS settings of `mpi consumers add`, checked now by building the client configuration
/// the server will use (so a bad file fails here, not at the first notification).
fn tls_settings(args: &AddConsumerArgs) -> anyhow::Result<Option<ConsumerTls>> {
    if !args.tls {
        return Ok(None);
    }
    let file = |flag: &str, path: &Option<PathBuf>| -> anyhow::Result<Option<String>> {
        path.as_deref().map(|p| absolute(flag, p)).transpose()
    };
    let tls = ConsumerTls {
        ca: file("--tls-ca", &args.tls_ca)?,
        cert: file("--tls-cert", &args.tls_cert)?,
        key: file("--tls-key", &args.tls_key)?,
    };
    hl7v2::notify::client_config(&tls).context("cannot use the TLS files")?;
    Ok(Some(tls))
}

/// `mllp` or `mllps` (MLLP over TLS) with the address.
fn address(c: &service::notifications::Consumer) -> String {
    let scheme = if c.tls.is_some() { "mllps" } else { "mllp" };
    format!("{scheme} {}:{}", c.host, c.port)
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

/// Runs a consumers subcommand, writing its report to `out`.
pub async fn run(command: ConsumersCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let ctx = Ctx::system("mpi consumers");
    match command {
        ConsumersCommand::Add(args) => {
            let (host, port) = host_port(&args.mllp)?;
            let tls = tls_settings(&args)?;
            let db = open(&args.database).await?;
            let c = service::notifications::add_consumer(
                &db,
                &ctx,
                ConsumerInput {
                    name: args.name,
                    host,
                    port,
                    domains: args.domains,
                    tls,
                    facility: args.facility,
                },
            )
            .await
            .map_err(describe)
            .context("cannot add the consumer")?;
            writeln!(
                out,
                "added consumer {} ({}, domains {}, id {})",
                c.name,
                address(&c),
                if c.domains.is_empty() {
                    "all".to_owned()
                } else {
                    c.domains.join(",")
                },
                c.id
            )?;
            db.close().await?;
        }
        ConsumersCommand::List(args) => {
            let db = open(&args.database).await?;
            writeln!(out, "{:<24} {:<38} domains", "name", "address")?;
            for c in service::notifications::list_consumers(&db).await? {
                writeln!(
                    out,
                    "{:<24} {:<38} {}",
                    c.name,
                    address(&c),
                    if c.domains.is_empty() {
                        "all".to_owned()
                    } else {
                        c.domains.join(",")
                    }
                )?;
            }
            db.close().await?;
        }
        ConsumersCommand::Remove(args) => {
            let db = open(&args.database).await?;
            let c = service::notifications::remove_consumer(&db, &ctx, &args.name)
                .await
                .map_err(describe)
                .context("cannot remove the consumer")?;
            writeln!(out, "removed consumer {} ({})", c.name, c.id)?;
            db.close().await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_and_port() {
        assert_eq!(
            host_port("127.0.0.1:2575").unwrap(),
            ("127.0.0.1".into(), 2575)
        );
        assert_eq!(host_port("[::1]:2575").unwrap(), ("::1".into(), 2575));
        assert!(host_port("pix.example").is_err());
        assert!(host_port("pix.example:0").is_err());
    }
}
