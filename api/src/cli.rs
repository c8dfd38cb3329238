//! The `mpi` command line: the clap command tree and the dispatch to [`crate::commands`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::configuration::TelemetrySettings;

/// Master Patient Index: match, merge and link patient records.
#[derive(Debug, Parser)]
#[command(name = "mpi", version, propagate_version = true)]
pub struct Cli {
    /// Logging settings (valid before or after the subcommand).
    #[command(flatten)]
    pub telemetry: TelemetrySettings,

    /// The audit chain's secret keys (valid before or after the subcommand).
    #[command(flatten)]
    pub audit_keys: commands::audit::AuditKeySettings,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `mpi`.
// One value, parsed once at start: the size of `serve`'s many settings costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (migrating the database first unless --no-migrate).
    Serve(commands::serve::ServeArgs),
    /// Apply, revert or list the database schema migrations.
    #[command(subcommand)]
    Migrate(commands::migrate::MigrateCommand),
    /// Create, list or revoke API keys.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Add, list or remove identifier domains (assigning authorities).
    #[command(subcommand)]
    Domains(commands::domains::DomainsCommand),
    /// Add, list or remove sources (systems that send patients).
    #[command(subcommand)]
    Sources(commands::domains::SourcesCommand),
    /// Add, list or remove PIX consumers (subscribers to IHE ITI-10 update notifications).
    #[command(subcommand)]
    Consumers(commands::consumers::ConsumersCommand),
    /// Import a person CSV into the database (batched, resumable by re-running, rejects file).
    Import(commands::import::ImportArgs),
    /// Generate a synthetic person CSV with a ground-truth cluster_id column.
    Gen(commands::generate::GenArgs),
    /// Deduplicate the database (resumable job), or a person CSV (--input) into pairs.csv and
    /// clusters.csv without a database.
    Dedupe(commands::dedupe_db::DedupeArgs),
    /// Link two person CSVs: each record of --right to its best match in --left.
    Link(commands::link::LinkArgs),
    /// Pairwise, B-cubed and blocking quality of pairs.csv/clusters.csv against ground truth.
    Eval(commands::eval::EvalArgs),
    /// Fit a model to a person CSV without labels (EM) and write it as JSON.
    Train(commands::train::TrainArgs),
    /// Drive a running server over HTTP with concurrent clients and report throughput and
    /// latency percentiles (lookup by id, match, registration, search).
    Bench(commands::bench::BenchArgs),
    /// Verify the audit chain (hashes, chain keys, checkpoints kept outside the database).
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
}

/// Runs the parsed command line to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Before anything appends an audit row: every command signs with the same key.
    service::chain::use_keyring(cli.audit_keys.keyring()?);
    match cli.command {
        Command::Serve(args) => commands::serve::run(args).await,
        Command::Migrate(command) => {
            let mut stdout = std::io::stdout().lock();
            commands::migrate::run(command, &mut stdout).await
        }
        Command::Keys(command) => {
            let mut stdout = std::io::stdout().lock();
            commands::keys::run(command, &mut stdout).await
        }
        Command::Domains(command) => {
            let mut stdout = std::io::stdout().lock();
            commands::domains::run(command, &mut stdout).await
        }
        Command::Sources(command) => {
            let mut stdout = std::io::stdout().lock();
            commands::domains::run_sources(command, &mut stdout).await
        }
        Command::Consumers(command) => {
            let mut stdout = std::io::stdout().lock();
            commands::consumers::run(command, &mut stdout).await
        }
        Command::Import(args) => commands::import::run(args, &mut std::io::stdout())
            .await
            .map(|_| ()),
        Command::Gen(args) => commands::generate::run(args, &mut std::io::stdout().lock()),
        Command::Dedupe(args) => commands::dedupe_db::run(args, &mut std::io::stdout()).await,
        Command::Link(args) => commands::link::run(args, &mut std::io::stdout().lock()),
        Command::Eval(args) => commands::eval::run(args, &mut std::io::stdout().lock()),
        Command::Train(args) => commands::train::run(args, &mut std::io::stdout().lock()),
        Command::Audit(command) => {
            let mut stdout = std::io::stdout().lock();
            commands::audit::run(command, &mut stdout).await
        }
        Command::Bench(args) => commands::bench::run(args, &mut std::io::stdout())
            .await
            .map(|_| ()),
    }
}

/// The `mpi` binary's body: parse the command line, set up logging, run the command on a
/// multi-threaded runtime. It lives in the library, not in `main.rs`, so that the whole
/// command tree (every future `block_on` polls) is compiled once, here: in a release build
/// (which shares no generic instantiations between crates) the binary crate otherwise
/// compiled it a second time: 67 s of a 553 s cold build on 2 cores, and rebuilding `api` and
/// the binary took 291 s of CPU before and 216 s after.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end of `main`, so the log lines still buffered are written before exit.
    let _log_writer = match crate::telemetry::init(&cli.telemetry) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("mpi: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mpi: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mpi: {error:#}");
            ExitCode::from(crate::exit_code::of(&error))
        }
    }
}
