//! Opening the database, running migrations and checking readiness.
//!
//! SQLite connections enforce foreign keys, journal in WAL mode, wait up to
//! [`SQLITE_BUSY_TIMEOUT`] for locks and keep temporary data (statement journals) in memory; a
//! missing database file is created. Bulk commands get a larger page cache ([`connect_bulk`]);
//! `mpi serve` checkpoints the WAL from a task of its own ([`connect_server`]). PostgreSQL gets a
//! pool of [`DatabaseSettings::pool_size`] connections. Write transactions on SQLite should
//! begin `IMMEDIATE` (`TransactionOptions::sqlite_transaction_mode`) so that the busy timeout
//! applies instead of a lock-upgrade failure.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::configuration::{DatabaseKind, DatabaseSettings, SQLITE_BUSY_TIMEOUT};
use crate::error::ApiError;

/// Opens a connection pool as configured.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    connect_with(settings, Purpose::Command).await
}

/// What a pool is opened for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A short command (`mpi keys`, `mpi migrate`, ...).
    Command,
    /// A bulk command: a large SQLite page cache.
    Bulk,
    /// `mpi serve`: SQLite leaves WAL checkpoints to [`service::Mpi::checkpoint_wal`].
    Server,
    /// `mpi serve`'s one SQLite connection for writes ([`connect_server_writer`]).
    ServerWriter,
}

/// Opens the connection pool of `mpi serve`. On SQLite, no connection checkpoints the WAL by
/// itself (`wal_autocheckpoint = 0`): the server calls [`service::Mpi::checkpoint_wal`]
/// from a task of its own.
/// Otherwise the commit that pushes the WAL past 1,000 pages copies it into the database file
/// and flushes it to disk before it returns, and the requests waiting on that commit (every
/// read waits for its audit row) stalled for tens of milliseconds every few seconds.
pub async fn connect_server(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    connect_with(settings, Purpose::Server).await
}

/// The pool `mpi serve`'s service writes through ([`service::Mpi::start_with_writer`]): for an
/// SQLite file, one connection of its own, opened as [`connect_server`]'s are but with a page
/// cache of [`SERVER_SQLITE_WRITER_CACHE_KIB`]; otherwise `db` itself (PostgreSQL keeps no
/// page cache per connection, and an in-memory database is its one connection).
pub async fn connect_server_writer(
    settings: &DatabaseSettings,
    db: &DatabaseConnection,
) -> Result<DatabaseConnection, DbErr> {
    match settings.kind() {
        DatabaseKind::Sqlite => connect_with(settings, Purpose::ServerWriter).await,
        DatabaseKind::SqliteMemory | DatabaseKind::Postgres => Ok(db.clone()),
    }
}

/// `PRAGMA journal_size_limit` of the server's SQLite connections, in bytes: four times the WAL
/// size at which the server makes the WAL start again (`service::WAL_RESTART_FRAMES`).
pub const SERVER_JOURNAL_SIZE_LIMIT: i64 = 4 * service::WAL_RESTART_FRAMES * 4096;

/// How often `mpi serve` checkpoints an SQLite WAL.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// A pooled connection idle at least this long is pinged before it is handed out; one in use
/// more recently is handed out as it is. A connection that breaks while busy (the server
/// restarted, the network dropped) fails the statement it carries, and sqlx's own ping when the
/// connection goes back to the pool then closes it, so it is not handed out again; a
/// connection that broke while idle is caught by this ping. Pinging on every checkout, sqlx's
/// default, put one more round trip in front of each statement.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// SQLite page cache of each of the server's read connections, in KiB (`PRAGMA cache_size`;
/// SQLite's default is 2 MiB). A connection empties its cache whenever another one has
/// committed, which under a stream of writes is before nearly every read, and emptying it costs
/// time in proportion to its size.
pub const SERVER_SQLITE_CACHE_KIB: i64 = 16 * 1024;

/// SQLite page cache of the server's write connection, in KiB. It makes every write, so nothing
/// empties it: a registration touches the interior pages of a dozen indexes, which stay here.
pub const SERVER_SQLITE_WRITER_CACHE_KIB: i64 = 64 * 1024;

/// SQLite page cache of a bulk command's connections, in KiB (`PRAGMA cache_size`).
pub const BULK_SQLITE_CACHE_KIB: i64 = 1024 * 1024;

/// Opens a connection pool for a bulk command (`mpi import`, `mpi dedupe`): on SQLite each
/// connection keeps a page cache of [`BULK_SQLITE_CACHE_KIB`] (instead of 2 MiB), so a batch's
/// index pages stay in memory instead of being spilled to the WAL in the middle of a transaction
/// and read back. Durability and locking are as in [`connect`].
pub async fn connect_bulk(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    connect_with(settings, Purpose::Bulk).await
}

async fn connect_with(
    settings: &DatabaseSettings,
    purpose: Purpose,
) -> Result<DatabaseConnection, DbErr> {
    let kind = settings.kind();
    let mut options = ConnectOptions::new(settings.url.clone());
    options
        .connect_timeout(settings.timeout())
        .acquire_timeout(settings.timeout())
        .max_connections(if purpose == Purpose::ServerWriter {
            1
        } else {
            settings.pool_size()
        })
        // sqlx pings a pooled connection on every checkout by default: one more round trip
        // before each statement (see `PING_AFTER_IDLE`).
        .test_before_acquire_if_idle_for(PING_AFTER_IDLE)
        .sqlx_logging(false);
    match kind {
        DatabaseKind::SqliteMemory => {
            // The database lives exactly as long as its one connection: never let it close.
            options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        DatabaseKind::Sqlite | DatabaseKind::Postgres => {
            options.min_connections(1);
        }
    }
    options.map_sqlx_sqlite_opts(move |opts| {
        let opts = opts
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            // Statement journals (one per statement inside a transaction) in memory, not in
            // temporary files.
            .pragma("temp_store", "memory")
            // A WAL file is reused from its start after each checkpoint; this cuts it back to
            // 64 MiB then, instead of leaving the size of the largest transaction on disk
            // (2.5 GB after an import of 1M records).
            .pragma("journal_size_limit", (64 * 1024 * 1024).to_string());
        match purpose {
            Purpose::Bulk => opts.pragma("cache_size", format!("-{BULK_SQLITE_CACHE_KIB}")),
            // The server's WAL grows to about `service::WAL_RESTART_FRAMES` pages under load
            // before it starts again, and the first commit after a restart cut it back to the
            // limit above: an `ftruncate` of ~200 MB that took 249 ms inside that commit, with
            // every read waiting for its audit row. A limit above that size keeps truncation
            // out of the serving path; the WAL goes away when the server stops.
            Purpose::Server => opts
                .pragma("cache_size", format!("-{SERVER_SQLITE_CACHE_KIB}"))
                .pragma("wal_autocheckpoint", "0")
                .pragma("journal_size_limit", SERVER_JOURNAL_SIZE_LIMIT.to_string()),
            Purpose::ServerWriter => opts
                .pragma("cache_size", format!("-{SERVER_SQLITE_WRITER_CACHE_KIB}"))
                .pragma("wal_autocheckpoint", "0")
                .pragma("journal_size_limit", SERVER_JOURNAL_SIZE_LIMIT.to_string()),
            Purpose::Command => opts,
        }
    });
    Database::connect(options).await
}

/// One migration and whether the database has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationState {
    /// The migration's name (`m20260101_000001_...`).
    pub name: String,
    /// Whether it is applied.
    pub applied: bool,
}

/// Every migration this binary knows, oldest first, with its state. Creates nothing.
pub async fn migration_status(db: &DatabaseConnection) -> Result<Vec<MigrationState>, DbErr> {
    // Fails when the database records a migration this binary does not know.
    let applied: Vec<String> = Migrator::get_applied_migrations_read_only(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    Ok(Migrator::migrations()
        .iter()
        .map(|m| MigrationState {
            name: m.name().to_owned(),
            applied: applied.iter().any(|a| a == m.name()),
        })
        .collect())
}

/// Applies pending migrations (all, or the next `steps`). With none pending nothing is done, so
/// a command on a migrated database logs no "Applying all pending migrations" and "No pending
/// migrations" lines of its own.
pub async fn migrate_up(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    if Migrator::get_pending_migrations(db).await?.is_empty() {
        return Ok(());
    }
    Migrator::up(db, steps).await
}

/// Reverts applied migrations (all, or the last `steps`).
pub async fn migrate_down(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    Migrator::down(db, steps).await
}

/// How long a readiness check may take before the database counts as unavailable.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// What `/ready` reports when the service can take traffic.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Readiness {
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// Number of applied migrations (all of them).
    pub migrations_applied: usize,
}

/// Ready when the database answers within [`READY_TIMEOUT`] and no migration is pending.
pub async fn check_ready(
    db: &DatabaseConnection,
    kind: DatabaseKind,
) -> Result<Readiness, ApiError> {
    let check = async {
        if let Err(error) = db.ping().await {
            tracing::warn!(%error, "readiness: database does not answer");
            return Err(ApiError::DatabaseUnavailable);
        }
        let states = migration_status(db).await.map_err(|error| {
            tracing::warn!(%error, "readiness: migration state unreadable");
            ApiError::SchemaMismatch
        })?;
        let pending: Vec<String> = states
            .iter()
            .filter(|m| !m.applied)
            .map(|m| m.name.clone())
            .collect();
        if pending.is_empty() {
            Ok(Readiness {
                database: kind.name(),
                migrations_applied: states.len(),
            })
        } else {
            Err(ApiError::MigrationsPending { pending })
        }
    };
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("readiness: database check timed out");
            Err(ApiError::DatabaseUnavailable)
        }
    }
}
