//! `mpi keys create|list|revoke`: manage API keys (migrating the database first).

use std::io::Write;

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::{LineStyle, TableStyle};

use service::context::Role;

use crate::configuration::DatabaseSettings;
use crate::database;

/// The `mpi keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints the secret alone on the last line (it is shown only once).
    Create(CreateArgs),
    /// List every key (name, role, created, last used, revoked); never the secrets.
    List(DbArgs),
    /// Revoke a key by name or id.
    Revoke(RevokeArgs),
}

/// Arguments of `mpi keys create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The key's name (recorded as the actor in the audit trail).
    #[arg(long)]
    pub name: String,
    /// `registrar`, `steward`, `auditor` or `admin`.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// A source (`mpi sources add`) the key acts as: its writes are held to the identifier
    /// domains that source may assign.
    #[arg(long)]
    pub source: Option<String>,
}

/// Arguments of `mpi keys list`.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
}

/// Arguments of `mpi keys revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The key's name or id.
    pub name: String,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse::<Role>()
        .map_err(|_| format!("unknown role {text:?}: use registrar, steward, auditor or admin"))
}

/// One timestamp format for every column of `mpi keys list`: UTC, to the second.
fn timestamp(t: Option<chrono::DateTime<chrono::FixedOffset>>) -> String {
    t.map(|t| {
        t.with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string()
    })
    .unwrap_or_else(|| "-".to_owned())
}

/// The keys as an aligned table (comfy-table): a header, a rule, one row per key.
fn keys_table(keys: &[entity::api_key::Model]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table
        // No borders; a rule under the header.
        .load_style(TableStyle::new().header_separator(LineStyle::none().fill('-').junction(' ')))
        .set_header(["name", "role", "created", "last used", "revoked"]);
    for key in keys {
        table.add_row([
            key.name.clone(),
            key.role.as_str().to_owned(),
            timestamp(Some(key.created_at)),
            timestamp(key.last_used_at),
            timestamp(key.revoked_at),
        ]);
    }
    table
}

/// Runs a keys subcommand, writing its report to `out`.
pub async fn run(command: KeysCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let settings = match &command {
        KeysCommand::Create(a) => &a.database,
        KeysCommand::List(a) => &a.database,
        KeysCommand::Revoke(a) => &a.database,
    };
    let db = database::connect(settings)
        .await
        .with_context(|| format!("cannot open {}", settings.redacted_url()))?;
    database::migrate_up(&db, None)
        .await
        .context("cannot apply migrations")?;
    match &command {
        KeysCommand::Create(args) => {
            let txn = service::sea_orm::TransactionTrait::begin(&db).await?;
            let (key, secret) = service::keys::create_with_source(
                &txn,
                &args.name,
                args.role,
                args.source.as_deref(),
            )
            .await
            .context("cannot create the key")?;
            txn.commit().await?;
            writeln!(
                out,
                "created key {} (role {}, id {}); store the secret now, it is not shown again:",
                key.name, key.role, key.id
            )?;
            writeln!(out, "{secret}")?;
        }
        KeysCommand::List(_) => {
            let keys = service::keys::list(&db).await.context("cannot list keys")?;
            for line in keys_table(&keys).lines() {
                writeln!(out, "{}", line.trim_end())?;
            }
        }
        KeysCommand::Revoke(args) => {
            let key = service::keys::revoke(&db, &args.name)
                .await
                .context("cannot revoke the key")?;
            writeln!(out, "revoked key {} ({})", key.name, key.id)?;
        }
    }
    db.close().await.context("cannot close the database")?;
    Ok(())
}
