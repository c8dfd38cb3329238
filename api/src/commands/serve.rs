//! `mpi serve`: open (and by default migrate) the database, then serve HTTP until stopped.

use anyhow::Context;
use clap::Args;

use crate::configuration::{DatabaseSettings, ServerSettings};
use crate::database;
use crate::startup::{AppState, Application};

/// Arguments of `mpi serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// HTTP server settings.
    #[command(flatten)]
    pub server: ServerSettings,
}

/// Connects, migrates unless told not to, binds, and serves until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let kind = args.database.kind();
    tracing::info!(
        database = kind.name(),
        url = %args.database.redacted_url(),
        pool = args.database.pool_size(),
        "connecting to the database"
    );
    let db = database::connect(&args.database)
        .await
        .with_context(|| format!("cannot open {}", args.database.redacted_url()))?;
    if args.server.no_migrate {
        tracing::info!("--no-migrate: leaving the schema as it is");
    } else {
        database::migrate_up(&db, None)
            .await
            .context("cannot apply migrations")?;
        tracing::info!("schema is current");
    }
    let app = Application::build(
        &args.server,
        AppState {
            db: db.clone(),
            database_kind: kind,
        },
    )?;
    let addr = app.local_addr();
    tracing::info!(%addr, "listening");
    // A stable line on stderr for scripts and tests, whatever the log format.
    eprintln!("mpi listening on http://{addr}");
    app.run_until_stopped().await?;
    db.close().await.context("cannot close the database")?;
    tracing::info!("stopped");
    Ok(())
}
