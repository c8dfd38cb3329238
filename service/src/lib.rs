//! MPI business logic: register, match, merge, link, review and audit, over SeaORM; no HTTP.
//!
//! [`Mpi`] is the service handle: the database connection, the scoring model and the in-memory
//! candidate index, shared cheaply between request handlers. Every use case takes a [`Ctx`]
//! (who is asking), runs in one transaction opened with [`Mpi::write_txn`] and appends its
//! `audit_event` row(s) to that transaction, so the audit trail never misses a committed change.
//! Use cases that change a patient's matching inputs call [`Mpi::refresh_patient`] after commit.

/// Runs `$body` (an expression that awaits its queries on `$conn`) against one snapshot: on
/// SQLite inside a read transaction (deferred, so it never waits for the write gate), on
/// PostgreSQL directly on the pool, where each read use case takes few statements and a
/// patient record is one statement.
macro_rules! with_snapshot {
    ($mpi:expr, |$conn:ident| $body:expr) => {{
        if $mpi.is_sqlite() {
            let txn = sea_orm::TransactionTrait::begin($mpi.db()).await?;
            let $conn = &txn;
            let result = $body;
            txn.commit().await?;
            result
        } else {
            let $conn = $mpi.db();
            $body
        }
    }};
}

pub mod audit;
pub mod chain;
pub mod conditional_create;
pub mod context;
pub mod convert;
pub mod dedupe;
pub mod domains;
pub mod error;
pub mod feed;
pub mod import;
pub mod index;
pub mod keys;
pub mod limits;
pub mod links;
pub mod matching;
pub mod merge;
pub mod mothers;
pub mod name_search;
pub mod notifications;
pub mod organizations;
pub mod pairs;
pub mod patients;
pub mod related_persons;
pub mod review;
pub mod search_criteria;
pub mod sources;
pub mod subscriptions;
pub mod sync;
pub mod tokens;
pub mod xref;

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};
use serde::Serialize;
use tokio::sync::{Mutex, OwnedMutexGuard};
use uuid::Uuid;

pub use context::{Actor, Ctx, RequestMeta};
pub use error::{Error, Result};
pub use sea_orm;

use crate::index::PatientIndex;

/// Tunables of the service. The model's own thresholds decide the grades.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceConfig {
    /// How many candidates the blocking index proposes per query before scoring (K).
    pub candidates: usize,
    /// Near-tie margin in bits; `None` uses the model's.
    pub near_tie_margin: Option<f64>,
    /// How many `change_log` sequence numbers behind the newest one a catch-up re-reads, because
    /// PostgreSQL can commit a lower sequence number after a higher one.
    pub catch_up_window: i64,
    /// Patients read per query while loading the index at start-up.
    pub load_page_size: u64,
    /// SQLite WAL size, in frames, from which [`Mpi::checkpoint_wal`] holds writers back so that
    /// the WAL starts again ([`WAL_RESTART_FRAMES`] by default).
    pub wal_restart_frames: i64,
    /// What happens to identifiers whose system is not a registered domain.
    pub unknown_domains: domains::UnknownDomains,
    /// The MPI's own domain, in which `person_id` is the enterprise identifier.
    pub enterprise: domains::EnterpriseDomain,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            candidates: 20,
            near_tie_margin: None,
            catch_up_window: 1_000,
            load_page_size: 5_000,
            wal_restart_frames: WAL_RESTART_FRAMES,
            unknown_domains: domains::UnknownDomains::Accept,
            enterprise: domains::EnterpriseDomain::default(),
        }
    }
}

/// One page of results. `page` is 1-based.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items match in total.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u64,
    /// The page size asked for.
    pub per_page: u64,
}

/// Largest page size a caller may ask for.
pub const MAX_PER_PAGE: u64 = 500;

/// Highest page number a caller may ask for: far beyond any result (a million pages of the
/// largest size is 500M rows), and low enough that `(page - 1) * per_page` is a valid offset on
/// both databases.
pub const MAX_PAGE: u64 = 1_000_000;

/// Clamps a requested page and page size to `1..` and `1..=MAX_PER_PAGE` (0 means 20); a page
/// beyond [`MAX_PAGE`] is refused (naming `page`) rather than overflowing the offset, which
/// panicked the handler and dropped the connection.
pub fn page_bounds(page: u64, per_page: u64) -> Result<(u64, u64)> {
    let per_page = if per_page == 0 {
        20
    } else {
        per_page.min(MAX_PER_PAGE)
    };
    if page > MAX_PAGE {
        return Err(Error::validation(
            "page",
            format!("must be at most {MAX_PAGE}"),
        ));
    }
    Ok((page.max(1), per_page))
}

/// The service handle. Cloning is cheap (one `Arc`).
#[derive(Clone)]
pub struct Mpi {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    model: matcher::Model,
    config: ServiceConfig,
    index: PatientIndex,
    writer: TxnOpener,
    reads: audit::ReadAuditor,
    sync: sync::SyncState,
    keys: keys::KeyCache,
    domains: domains::RegistryCell,
}

/// Default of [`ServiceConfig::wal_restart_frames`]: 256 MiB with 4 KiB pages, about 7 s of the
/// audit rows of 1,000 reads/s. A safety valve against a WAL that fills the disk, not a tuning
/// knob for latency: every time it opens, writers wait (see [`Mpi::checkpoint_wal`]).
pub const WAL_RESTART_FRAMES: i64 = 65_536;

/// Most checkpoint passes [`Mpi::checkpoint_wal`] runs without the write gate before the gated
/// one.
pub const CATCH_UP_PASSES: u32 = 8;

/// A pass without the write gate that copies fewer new frames than this (2 MiB with 4 KiB
/// pages) has caught up: the gated pass comes next.
pub const CATCH_UP_FRAMES: i64 = 512;

/// What an SQLite WAL checkpoint did (the answer of `PRAGMA wal_checkpoint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// Frames in the WAL (-1 when the database has no WAL, e.g. in memory).
    pub wal_frames: i64,
    /// Frames of it now copied into the database file; all of them when equal to `wal_frames`.
    pub copied_frames: i64,
}

/// Copies what an SQLite file's WAL holds into the database file without waiting for readers
/// or blocking writers (`PRAGMA wal_checkpoint(PASSIVE)`). For a running service use
/// [`Mpi::checkpoint_wal`], which also keeps the WAL from growing without end. SQLite only.
pub async fn passive_checkpoint(db: &DatabaseConnection) -> Result<WalCheckpoint> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await?
        .ok_or_else(|| {
            Error::Db(sea_orm::DbErr::Custom(
                "wal_checkpoint answered nothing".into(),
            ))
        })?;
    Ok(WalCheckpoint {
        wal_frames: row.try_get_by_index(1)?,
        copied_frames: row.try_get_by_index(2)?,
    })
}

/// Flushes the SQLite database file's written pages to disk (`fdatasync` on a handle of our
/// own: the kernel keeps one page cache per file, so it flushes what SQLite's connections wrote
/// as well). Nothing to do for an in-memory database.
async fn sync_database_file(db: &DatabaseConnection) -> Result<()> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA database_list",
        ))
        .await?;
    let mut file = None;
    for row in rows {
        let name: String = row.try_get_by_index(1)?;
        if name == "main" {
            file = Some(row.try_get_by_index::<String>(2)?);
        }
    }
    let Some(path) = file.filter(|path| !path.is_empty()) else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || std::fs::File::open(path)?.sync_data())
        .await
        .map_err(|e| {
            Error::Db(sea_orm::DbErr::Custom(format!(
                "syncing the database file: {e}"
            )))
        })?
        .map_err(|e| {
            Error::Db(sea_orm::DbErr::Custom(format!(
                "syncing the database file: {e}"
            )))
        })
}

/// Opens write transactions: the pool plus, on SQLite, the write gate that serialises this
/// process's writers so they queue here instead of failing with SQLITE_BUSY.
#[derive(Clone)]
pub(crate) struct TxnOpener {
    db: DatabaseConnection,
    gate: Option<Arc<Mutex<()>>>,
    /// How many of its transactions have committed: a chain head the read auditor learnt
    /// before the latest of them may be stale, since that transaction may have appended rows.
    commits: Arc<AtomicU64>,
    /// The audit chain's head as this process last appended or read it, with the count of
    /// commits then (see [`TxnOpener::chain_tip`]).
    tip: ChainTip,
}

/// The audit chain's head (a committed row's hash) as this process last appended or read it,
/// and [`TxnOpener::commits`] then.
type ChainTip = Arc<std::sync::Mutex<Option<(String, u64)>>>;

impl TxnOpener {
    fn new(db: DatabaseConnection) -> TxnOpener {
        let gate = match db.get_database_backend() {
            DbBackend::Sqlite => Some(Arc::new(Mutex::new(()))),
            _ => None,
        };
        TxnOpener {
            db,
            gate,
            commits: Arc::new(AtomicU64::new(0)),
            tip: ChainTip::default(),
        }
    }

    /// The audit chain's head as this process last appended or read it, unless a transaction
    /// has committed since without saying what it appended. A hint, not a fact: another
    /// process may have appended meanwhile, and a row chained after a stale head is refused by
    /// the schema's trigger (and then the head is read).
    pub(crate) fn chain_tip(&self) -> Option<String> {
        tip_as_of(&self.tip, self.commits())
    }

    /// Notes the chain's head, a committed row's hash, as of `commits` commits.
    pub(crate) fn set_chain_tip(&self, head: String, commits: u64) {
        *lock_tip(&self.tip) = Some((head, commits));
    }

    /// How many transactions [`TxnOpener::open`] has opened and committed so far.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    /// The pool transactions are opened on.
    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Waits for the write gate on SQLite (`None` on PostgreSQL, which has none): what a
    /// statement that writes outside [`TxnOpener::open`]'s transactions holds while it runs.
    pub(crate) async fn pass_gate(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        }
    }

    /// See [`Mpi::write_txn`].
    pub(crate) async fn open(&self) -> Result<WriteTxn> {
        let guard = self.pass_gate().await;
        // The gate orders this process's writers; BEGIN IMMEDIATE makes writers in other
        // processes (`mpi import`, a second server on the same file) wait for the busy timeout
        // instead of failing when a deferred read lock would have to be upgraded.
        let txn = if self.db.get_database_backend() == DbBackend::Sqlite {
            let options = TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            };
            self.db.begin_with_options(options).await?
        } else {
            self.db.begin().await?
        };
        Ok(WriteTxn {
            txn,
            commits: self.commits.clone(),
            tip: self.tip.clone(),
            appended: std::sync::Mutex::new(None),
            _guard: guard,
        })
    }
}

impl Mpi {
    /// Starts the service: records the newest `change_log` sequence number, then loads every
    /// live active patient into the candidate index.
    pub async fn start(
        db: DatabaseConnection,
        model: matcher::Model,
        config: ServiceConfig,
    ) -> Result<Mpi> {
        Self::start_with_writer(db.clone(), db, model, config).await
    }

    /// [`Mpi::start`] with this process's write transactions (and audit rows) on `writer`, a
    /// pool of its own, and reads on `db`. For an SQLite file, `mpi serve` gives the writer one
    /// connection: a connection empties its page cache whenever another connection has
    /// committed, so with writes spread over the read pool every write began with a cold cache
    /// and read the interior pages of a dozen indexes again from the operating system; one
    /// connection that makes every write keeps them. (The write gate already lets one writer
    /// at a time in, so one connection costs no concurrency.)
    pub async fn start_with_writer(
        db: DatabaseConnection,
        writer: DatabaseConnection,
        model: matcher::Model,
        config: ServiceConfig,
    ) -> Result<Mpi> {
        let started = std::time::Instant::now();
        let domains = domains::RegistryCell::default();
        let ticket = domains.ticket();
        domains.set(
            ticket,
            domains::Registry::load(&db, &config.enterprise, config.unknown_domains).await?,
        );
        let sync = sync::SyncState::at(sync::max_seq(&db).await?);
        let index = PatientIndex::new();
        let loaded = index.load_all(&db, config.load_page_size).await?;
        tracing::info!(
            patients = loaded.patients,
            elapsed_ms = started.elapsed().as_millis() as u64,
            query_ms = loaded.query.as_millis() as u64,
            normalize_ms = loaded.normalize.as_millis() as u64,
            insert_ms = loaded.insert.as_millis() as u64,
            "candidate index loaded"
        );
        let writer = TxnOpener::new(writer);
        let reads = audit::ReadAuditor::start(writer.clone());
        Ok(Mpi {
            inner: Arc::new(Inner {
                db,
                model,
                config,
                index,
                writer,
                reads,
                sync,
                keys: keys::KeyCache::default(),
                domains,
            }),
        })
    }

    /// The identifier domains as last read (see [`Mpi::reload_domains`]).
    pub fn domains(&self) -> Arc<domains::Registry> {
        self.inner.domains.get()
    }

    /// Reads the identifier domains again (after a change through this service, and with every
    /// catch-up, so that changes made by the CLI or another replica arrive).
    pub async fn reload_domains(&self) -> Result<()> {
        let config = &self.inner.config;
        let ticket = self.inner.domains.ticket();
        let registry =
            domains::Registry::load(&self.inner.db, &config.enterprise, config.unknown_domains)
                .await?;
        self.inner.domains.set(ticket, registry);
        Ok(())
    }

    /// The database connection (pool).
    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// The scoring model.
    pub fn model(&self) -> &matcher::Model {
        &self.inner.model
    }

    /// The in-memory candidate index.
    pub fn index(&self) -> &PatientIndex {
        &self.inner.index
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// The near-tie margin in effect (the config's, else the model's).
    pub fn near_tie_margin(&self) -> f64 {
        self.inner
            .config
            .near_tie_margin
            .unwrap_or(self.inner.model.thresholds().near_tie_margin)
    }

    pub(crate) fn sync_state(&self) -> &sync::SyncState {
        &self.inner.sync
    }

    /// Verifies the audit chain ([`audit::verify_with`]) with this process's keyring and
    /// `checkpoints`, on the runtime the service was started on (its pages hashed on the
    /// blocking pool), so a caller on an HTTP worker only waits for the answer.
    pub async fn verify_audit(
        &self,
        checkpoints: Option<Vec<chain::Checkpoint>>,
    ) -> Result<audit::VerifyReport> {
        let db = self.inner.db.clone();
        self.inner
            .reads
            .runtime()
            .spawn(async move {
                audit::verify_with(&db, &chain::keyring(), checkpoints.as_deref()).await
            })
            .await
            .map_err(|e| {
                Error::Db(sea_orm::DbErr::Custom(format!(
                    "audit verification failed: {e}"
                )))
            })?
    }

    /// Opens a write transaction. On SQLite it first waits for this process's write gate and
    /// holds it until the transaction ends, so concurrent writers never hit SQLITE_BUSY; on
    /// PostgreSQL it is a plain transaction. Audited reads use it too (the audit row is a write).
    ///
    /// Never use [`Mpi::db`] while holding one: on SQLite the pool may have a single connection.
    pub async fn write_txn(&self) -> Result<WriteTxn> {
        self.inner.writer.open().await
    }

    /// Copies an SQLite WAL into the database file (`PRAGMA wal_checkpoint(PASSIVE)`, which
    /// waits for no one); `None` on PostgreSQL. Once the WAL holds enough frames, it also makes
    /// sure the next write starts the WAL from its beginning again
    /// ([`ServiceConfig::wal_restart_frames`]).
    ///
    /// A WAL is started again only by a writer that finds every frame in it copied, and a
    /// checkpoint copies the frames that were there when it began: under a steady stream of
    /// commits (the audit rows of reads, hundreds a second) some frames are always newer, and
    /// the WAL grows without end (1.2 GB after 80 s of `POST /match` at 1,000 requests/s, on its
    /// way to filling the disk). So a large WAL gets a last pass holding this process's write
    /// gate, which copies the frames committed since the pass before while no writer of this
    /// process can add more; the next write then starts the WAL again.
    ///
    /// Writers wait for that last pass, so it must find little to copy. Each pass copies what
    /// was committed while the one before ran, so passes without the gate are repeated (at most
    /// [`CATCH_UP_PASSES`]) until one copies fewer than [`CATCH_UP_FRAMES`] new frames; the
    /// gated pass then copies a few milliseconds' worth of commits and syncs them. Taking the
    /// gate right after the first pass instead held writers for 115-205 ms at 1,000
    /// `POST /match` a second (it copied everything committed during a pass over 256 MiB).
    /// A reader still on an older snapshot, or a writer in another process, can keep the
    /// passes from copying everything; the next call tries again.
    pub async fn checkpoint_wal(&self) -> Result<Option<WalCheckpoint>> {
        let Some(gate) = &self.inner.writer.gate else {
            return Ok(None);
        };
        let restart_at = self.inner.config.wal_restart_frames;
        let mut pass = passive_checkpoint(&self.inner.db).await?;
        if pass.wal_frames < restart_at {
            return Ok(Some(pass));
        }
        let mut passes = 1;
        while passes <= CATCH_UP_PASSES {
            let before = pass.copied_frames;
            pass = passive_checkpoint(&self.inner.db).await?;
            passes += 1;
            if pass.wal_frames < restart_at {
                // A writer found everything copied and started the WAL again.
                return Ok(Some(pass));
            }
            if pass.copied_frames - before < CATCH_UP_FRAMES {
                break;
            }
        }
        // A pass syncs the database file only when it copied the whole WAL, which under load
        // only the gated pass does: it would flush every page the passes before it copied
        // (286 ms measured). Flush them now, while writers go on.
        sync_database_file(&self.inner.db).await?;
        let _writers_wait = gate.lock().await;
        let started = std::time::Instant::now();
        let done = passive_checkpoint(&self.inner.db).await?;
        tracing::debug!(
            wal_frames = done.wal_frames,
            copied_frames = done.copied_frames,
            passes_before = passes,
            writers_waited_ms = started.elapsed().as_secs_f64() * 1e3,
            "WAL checkpoint with writers held"
        );
        Ok(Some(done))
    }

    /// Records the audit row of a read (`read`, `search`, `match`) and waits until it is
    /// committed: call it after the read and before answering. Rows of concurrent reads are
    /// appended together, in one statement (see `audit::ReadAuditor`). Writes append their
    /// rows inside their own transaction with [`audit::record`] instead.
    ///
    /// When the caller's key came from the key cache ([`Ctx::unconfirmed_key`]), the row is
    /// appended only if the key is still live; a revoked key gets
    /// [`Error::Unauthenticated`] here, and no row.
    pub async fn audit_read(&self, ctx: &Ctx, entry: audit::AuditEntry) -> Result<()> {
        let stored = self.inner.reads.record(ctx, entry).await;
        if let (Err(Error::Unauthenticated(_)), Some(hash)) = (&stored, &ctx.unconfirmed_key) {
            self.inner.keys.forget(hash);
        }
        stored
    }

    /// The API keys this server checked recently (see [`keys::authenticate_read`]).
    pub(crate) fn key_cache(&self) -> &keys::KeyCache {
        &self.inner.keys
    }

    /// Whether the database is SQLite (reads that take several queries then run in a
    /// read transaction to see one snapshot).
    pub(crate) fn is_sqlite(&self) -> bool {
        self.inner.db.get_database_backend() == DbBackend::Sqlite
    }

    /// Like [`Mpi::write_txn`], and on PostgreSQL also names the actor for the `change_log`
    /// triggers (`set_config('mpi.actor', ..., true)`). Use it for transactions that change
    /// patient tables.
    pub async fn write_txn_for(&self, ctx: &Ctx) -> Result<WriteTxn> {
        let txn = self.write_txn().await?;
        name_the_writer(&*txn, ctx).await?;
        Ok(txn)
    }

    /// Re-reads one patient and puts it into the candidate index, or takes it out when it is
    /// inactive, soft-deleted or gone. Call it after committing any change to a patient.
    pub async fn refresh_patient(&self, id: Uuid) -> Result<()> {
        self.inner.index.refresh_patient(&self.inner.db, id).await
    }

    /// [`Mpi::refresh_patient`] without reading the patient again: `record` as the use case read
    /// it inside the transaction that has just committed (see [`PatientIndex::put_committed`]).
    pub fn index_committed(&self, record: &entity::patient_ext::PatientRecord) {
        self.inner.index.put_committed(record);
    }

    /// [`Mpi::refresh_patient`] for several patients.
    pub async fn refresh_patients(&self, ids: &[Uuid]) -> Result<()> {
        self.inner.index.refresh_patients(&self.inner.db, ids).await
    }
}

/// A write transaction (see [`Mpi::write_txn`]); dereferences to the SeaORM transaction.
/// Dropping it without [`WriteTxn::commit`] rolls back.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    commits: Arc<AtomicU64>,
    tip: ChainTip,
    /// The hash of the last audit row this transaction appended through
    /// [`crate::audit::record_in`]: the chain's head once it commits.
    appended: std::sync::Mutex<Option<String>>,
    _guard: Option<OwnedMutexGuard<()>>,
}

/// The chain tip's lock; a panic while it was held left nothing half-written in it.
fn lock_tip<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The head `tip` holds if it was noted at `commits` commits (none committed since).
fn tip_as_of(tip: &ChainTip, commits: u64) -> Option<String> {
    lock_tip(tip)
        .as_ref()
        .filter(|(_, at)| *at == commits)
        .map(|(head, _)| head.clone())
}

impl WriteTxn {
    /// Commits, then releases the write gate.
    pub async fn commit(self) -> Result<()> {
        let WriteTxn {
            txn,
            commits,
            tip,
            appended,
            _guard,
        } = self;
        txn.commit().await?;
        let count = commits.fetch_add(1, Ordering::AcqRel) + 1;
        if let Some(head) = appended
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            *lock_tip(&tip) = Some((head, count));
        }
        Ok(())
    }

    /// On SQLite, the audit chain's head this transaction may append after without reading it:
    /// its own last row, else the head as this process last knew it when no transaction has
    /// committed since. A hint (see [`TxnOpener::chain_tip`]); `None` on PostgreSQL, whose
    /// writers do not pass one gate.
    pub(crate) fn chain_hint(&self) -> Option<String> {
        if self.txn.get_database_backend() != DbBackend::Sqlite {
            return None;
        }
        lock_tip(&self.appended)
            .clone()
            .or_else(|| tip_as_of(&self.tip, self.commits.load(Ordering::Acquire)))
    }

    /// Notes the hash of the last audit row this transaction appended.
    pub(crate) fn note_appended(&self, head: String) {
        *lock_tip(&self.appended) = Some(head);
    }

    /// Rolls back, then releases the write gate.
    pub async fn rollback(self) -> Result<()> {
        self.txn.rollback().await?;
        Ok(())
    }
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// Names `ctx`'s actor as the writer of the open transaction `txn` for PostgreSQL's
/// change-capture triggers (`set_config('mpi.actor', ..., true)`); SQLite's triggers do not read it.
pub(crate) async fn name_the_writer<C: ConnectionTrait>(txn: &C, ctx: &Ctx) -> Result<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('mpi.actor', $1, true)",
            [ctx.actor.name.clone().into()],
        ))
        .await?;
    }
    Ok(())
}
