//! `mpi migrate up|down|status`: manage the schema explicitly (for example once per deployment).

use std::io::Write;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::configuration::DatabaseSettings;
use crate::database::{self, MigrationState};

/// The `mpi migrate` subcommands.
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply pending migrations (all of them, or the next --steps).
    Up(StepArgs),
    /// Revert applied migrations (all of them, or the last --steps).
    Down(StepArgs),
    /// List every migration as applied or pending.
    Status(StatusArgs),
}

/// Arguments of `mpi migrate up` and `mpi migrate down`.
#[derive(Debug, Args)]
pub struct StepArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// How many migrations to apply or revert (default: all).
    #[arg(long)]
    pub steps: Option<u32>,
}

/// Arguments of `mpi migrate status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
}

/// Runs a migrate subcommand, writing its report to `out`.
pub async fn run(command: MigrateCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let settings = match &command {
        MigrateCommand::Up(a) | MigrateCommand::Down(a) => &a.database,
        MigrateCommand::Status(a) => &a.database,
    };
    let db = database::connect(settings)
        .await
        .with_context(|| format!("cannot open {}", settings.redacted_url()))?;
    match &command {
        MigrateCommand::Up(args) => {
            database::migrate_up(&db, args.steps)
                .await
                .context("migrate up failed")?;
        }
        MigrateCommand::Down(args) => {
            database::migrate_down(&db, args.steps)
                .await
                .context("migrate down failed")?;
        }
        MigrateCommand::Status(_) => {}
    }
    let states = database::migration_status(&db)
        .await
        .context("cannot read the migration state")?;
    write_status(&states, out)?;
    db.close().await.context("cannot close the database")?;
    Ok(())
}

/// One line per migration (`applied  NAME` / `pending  NAME`), then a summary line.
pub fn write_status(states: &[MigrationState], out: &mut impl Write) -> std::io::Result<()> {
    for state in states {
        let word = if state.applied { "applied" } else { "pending" };
        writeln!(out, "{word}  {}", state.name)?;
    }
    let applied = states.iter().filter(|s| s.applied).count();
    writeln!(out, "{applied} applied, {} pending", states.len() - applied)
}
