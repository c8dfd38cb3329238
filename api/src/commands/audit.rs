//! `mpi audit verify`: checks the audit chain (every row's hash, with the chain keys given) and
//! the checkpoints of its head kept outside the database; also the chain-key and checkpoint
//! settings shared with `mpi serve`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::configuration::DatabaseSettings;
use crate::database;

/// The secret keys of the audit chain (global: every command that appends audit rows signs
/// them with the first key).
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Audit chain keys")]
pub struct AuditKeySettings {
    /// A file holding a secret key of the audit chain (at least 32 bytes; surrounding
    /// whitespace is ignored; e.g. `openssl rand -hex 32`). Repeatable: the first key signs new
    /// audit rows, every key verifies (keep the older keys after a rotation). The environment
    /// variable MPI_AUDIT_KEY, when set, holds the key that signs, ahead of these files. Never
    /// stored in the database.
    #[arg(long = "audit-key-file", value_name = "FILE", global = true)]
    pub audit_key_files: Vec<PathBuf>,
}

/// The environment variable holding the chain key that signs.
pub const AUDIT_KEY_ENV: &str = "MPI_AUDIT_KEY";

impl AuditKeySettings {
    /// The keyring: MPI_AUDIT_KEY first (when set), then each `--audit-key-file` in order.
    pub fn keyring(&self) -> anyhow::Result<service::chain::Keyring> {
        let mut keys = Vec::new();
        if let Some(text) = std::env::var_os(AUDIT_KEY_ENV) {
            let text = text
                .into_string()
                .map_err(|_| anyhow::anyhow!("{AUDIT_KEY_ENV} is not UTF-8"))?;
            keys.push(
                service::chain::ChainKey::new(text.trim().as_bytes())
                    .map_err(|why| anyhow::anyhow!("{AUDIT_KEY_ENV}: {why}"))?,
            );
        }
        for path in &self.audit_key_files {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the audit key file {}", path.display()))?;
            keys.push(
                service::chain::ChainKey::new(bytes.trim_ascii())
                    .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?,
            );
        }
        Ok(service::chain::Keyring::new(keys))
    }
}

/// Where and how often `mpi serve` writes checkpoints of the chain's head.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Audit checkpoints")]
pub struct CheckpointSettings {
    /// Append a checkpoint of the audit chain's head (`{"seq","hash","at"}`, one JSON line,
    /// flushed to disk) to this file at every interval in which the head moved, and at
    /// shutdown; `GET /api/v1/audit/verify` then checks the chain against it. Keep it where a
    /// database administrator cannot write (another host, append-only storage).
    #[arg(long, env = "MPI_AUDIT_CHECKPOINT_FILE", value_name = "PATH")]
    pub audit_checkpoint_file: Option<PathBuf>,

    /// Seconds between checkpoints (written to the log, and to the file when given, only when
    /// the head moved).
    #[arg(long, env = "MPI_AUDIT_CHECKPOINT_INTERVAL_SECS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_checkpoint_interval_secs: u64,
}

/// The `mpi audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit chain: prints a JSON report, exits with 4 when it does not verify.
    Verify(VerifyArgs),
}

/// Arguments of `mpi audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// A checkpoint file written by `mpi serve --audit-checkpoint-file`: every checkpoint must
    /// name a row that exists and carries the checkpoint's hash.
    #[arg(long, value_name = "FILE")]
    pub checkpoints: Option<PathBuf>,
}

/// The chain does not verify (exit code [`crate::exit_code::AUDIT_BROKEN`]).
#[derive(Debug, thiserror::Error)]
#[error("the audit chain does not verify (see the report)")]
pub struct ChainBroken;

/// Reads a checkpoint file: the checkpoints and how many lines are none.
pub fn read_checkpoints(path: &Path) -> anyhow::Result<(Vec<service::chain::Checkpoint>, u64)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the checkpoint file {}", path.display()))?;
    Ok(service::chain::parse_checkpoints(&text))
}

/// Appends `checkpoint` to the file at `path` as one JSON line and flushes it to disk.
pub fn append_checkpoint(
    path: &Path,
    checkpoint: &service::chain::Checkpoint,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(checkpoint).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write of the whole line: appends of one line never interleave.
    file.write_all(&line)?;
    file.sync_data()
}

/// Runs `mpi audit ...`; the report goes to `out`.
pub async fn run(command: AuditCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify(args) => {
            let checkpoints = args
                .checkpoints
                .as_deref()
                .map(read_checkpoints)
                .transpose()?;
            let db = database::connect(&args.database)
                .await
                .with_context(|| format!("cannot open {}", args.database.redacted_url()))?;
            let keyring = service::chain::keyring();
            let report = service::audit::verify_with(
                &db,
                &keyring,
                checkpoints.as_ref().map(|(c, _)| c.as_slice()),
            )
            .await
            .context("cannot verify the audit chain")?
            .with_unreadable_checkpoints(checkpoints.map(|(_, n)| n).unwrap_or(0));
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
            db.close().await.ok();
            if report.ok {
                Ok(())
            } else {
                Err(ChainBroken.into())
            }
        }
    }
}
