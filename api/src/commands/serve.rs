//! `mpi serve`: open (and by default migrate) the database, start the service (scoring model and
//! candidate index), keep the index current from the `change_log`, and serve HTTP until stopped.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::configuration::{
    DatabaseKind, DatabaseSettings, DomainSettings, MllpSettings, ServerSettings,
    SubscriptionSettings,
};
use crate::database;
use crate::metrics::Metrics;
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
    /// Matching settings.
    #[command(flatten)]
    pub matching: MatchingSettings,
    /// The HL7 v2 listener.
    #[command(flatten)]
    pub mllp: MllpSettings,
    /// Identifier domain settings.
    #[command(flatten)]
    pub domains: DomainSettings,
    /// Checkpoints of the audit chain's head kept outside the database.
    #[command(flatten)]
    pub audit: crate::commands::audit::CheckpointSettings,
    /// The delivery of PMIR notifications to FHIR Subscriptions.
    #[command(flatten)]
    pub subscriptions: SubscriptionSettings,
}

/// The scoring model and how the candidate index is kept current.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Matching")]
pub struct MatchingSettings {
    /// A trained scoring model (JSON, as written by `Model::save`); default: the built-in model.
    #[arg(long, env = "MPI_MODEL")]
    pub model: Option<PathBuf>,

    /// Milliseconds between catch-ups from the `change_log` (how fast changes made by other
    /// `mpi serve` processes on the same PostgreSQL reach this one's candidate index).
    #[arg(long, env = "MPI_CATCH_UP_INTERVAL_MS", default_value_t = 2000)]
    pub catch_up_interval_ms: u64,
}

impl MatchingSettings {
    /// Loads the configured model, or the built-in one.
    pub fn load_model(&self) -> anyhow::Result<matcher::Model> {
        match &self.model {
            Some(path) => matcher::Model::load(path)
                .with_context(|| format!("cannot load the model {}", path.display())),
            None => Ok(matcher::Model::builtin()),
        }
    }
}

/// Connects, migrates unless told not to, starts the service, binds, and serves until Ctrl-C
/// or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let kind = args.database.kind();
    let model = args.matching.load_model()?;
    // Read before anything starts, so that an unusable file stops `mpi serve` at once.
    let delivery_tls = Arc::new(
        args.subscriptions
            .client_tls()
            .context("cannot use --subscription-ca-file")?,
    );
    tracing::info!(
        database = kind.name(),
        url = %args.database.redacted_url(),
        pool = args.database.pool_size(),
        "connecting to the database"
    );
    let db = database::connect_server(&args.database)
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
    let slot = Arc::new(OnceLock::new());
    let config = service::ServiceConfig {
        unknown_domains: args.domains.unknown_domains,
        enterprise: args.domains.enterprise(),
        ..service::ServiceConfig::default()
    };
    let writer = database::connect_server_writer(&args.database, &db)
        .await
        .with_context(|| format!("cannot open {}", args.database.redacted_url()))?;
    match service::Mpi::start_with_writer(db.clone(), writer.clone(), model.clone(), config.clone())
        .await
    {
        Ok(mpi) => {
            let _ = slot.set(mpi);
        }
        Err(error) if args.server.no_migrate => {
            tracing::warn!(%error, "service not started (schema not migrated?); retrying in the background");
        }
        Err(error) => return Err(error).context("cannot start the service"),
    }
    let metrics = Arc::new(Metrics::new().context("cannot register metrics")?);
    let state = AppState {
        db: db.clone(),
        database_kind: kind,
        service: Arc::clone(&slot),
        metrics,
        audit_checkpoint_file: args.audit.audit_checkpoint_file.clone(),
        tokens: Arc::new(service::tokens::TokenStore::new(
            Duration::from_secs(args.server.token_ttl_secs),
            service::tokens::DEFAULT_CAPACITY,
        )),
    };
    warn_of_sources_without_secret(&db).await;
    let catch_up = tokio::spawn(keep_current(
        state.clone(),
        writer.clone(),
        model,
        config,
        Duration::from_millis(args.matching.catch_up_interval_ms.max(10)),
    ));
    let checkpoints = tokio::spawn(checkpoint_regularly(state.clone()));
    let chain_heads = Arc::new(std::sync::Mutex::new(None));
    // The start's checkpoint is written before any request is served, so that it names the head
    // the server found, never one its own first requests made.
    checkpoint_chain(&state, &chain_heads).await;
    let (stop_chain_checkpoints, chain_checkpoints_stopped) = tokio::sync::oneshot::channel::<()>();
    let chain_checkpoints = tokio::spawn(checkpoint_chain_regularly(
        state.clone(),
        Duration::from_secs(args.audit.audit_checkpoint_interval_secs),
        Arc::clone(&chain_heads),
        chain_checkpoints_stopped,
    ));
    let mllp = start_mllp(&args.mllp, &state).await?;
    let (stop_notifications, notifications_stopped) = tokio::sync::oneshot::channel::<()>();
    let notifications = tokio::spawn(hl7v2::notify::run(
        Arc::clone(&state.service),
        args.mllp.notify_config(),
        Some(state.metrics.clone() as Arc<dyn hl7v2::Observer>),
        async move {
            let _ = notifications_stopped.await;
        },
    ));
    crate::guard::log_panics();
    let app = Application::build(&args.server, state.clone())?;
    let addr = app.local_addr();
    let scheme = app.scheme();
    tracing::info!(%addr, scheme, "listening");
    // PMIR notifications to FHIR Subscriptions (ITI-94): beside the PIX ones, on the server's
    // runtime (the HTTP client has a thread of its own).
    let (stop_deliveries, deliveries_stopped) = tokio::sync::oneshot::channel::<()>();
    let deliveries = tokio::spawn(crate::fhir::notify::run(
        Arc::clone(&state.service),
        args.subscriptions
            .delivery_config(format!("{scheme}://{addr}/fhir"), delivery_tls),
        state.metrics.clone(),
        async move {
            let _ = deliveries_stopped.await;
        },
    ));
    // A stable line on stderr for scripts and tests, whatever the log format.
    eprintln!("mpi listening on {scheme}://{addr}");
    app.run_until_stopped().await?;
    if let Some((stop, task)) = mllp {
        let _ = stop.send(());
        let _ = task.await;
    }
    let _ = stop_notifications.send(());
    let _ = notifications.await;
    let _ = stop_deliveries.send(());
    let _ = deliveries.await;
    catch_up.abort();
    checkpoints.abort();
    // Stopped, not aborted: a checkpoint under way finishes and records its seq, so the last one
    // below does not write the same head twice (an abort between the file's write and that
    // record did). A checkpoint stuck on a dead connection is aborted after a while.
    let _ = stop_chain_checkpoints.send(());
    let abort_chain_checkpoints = chain_checkpoints.abort_handle();
    if tokio::time::timeout(Duration::from_secs(10), chain_checkpoints)
        .await
        .is_err()
    {
        abort_chain_checkpoints.abort();
    }
    // The head as the server leaves it, so a tail cut off while it is down is found. Read on a
    // connection of its own: on PostgreSQL a pooled connection opened by a request belongs to
    // that HTTP worker's runtime, which has stopped by now, and reading through it failed
    // ("the Tokio context is being shut down"), so the last checkpoint was sometimes lost.
    // SQLite's connections run on threads of their own and stay usable (and an in-memory
    // database is only reachable through its pool).
    if kind == DatabaseKind::Postgres {
        match database::connect(&args.database).await {
            Ok(own) => {
                checkpoint_chain_on(&state, &own, &chain_heads).await;
                let _ = own.close().await;
            }
            Err(error) => tracing::warn!(
                %error,
                "cannot open a connection for the last audit chain checkpoint"
            ),
        }
    } else {
        checkpoint_chain(&state, &chain_heads).await;
    }
    if kind == DatabaseKind::Sqlite {
        writer
            .close()
            .await
            .context("cannot close the database's write connection")?;
    }
    db.close().await.context("cannot close the database")?;
    tracing::info!("stopped");
    Ok(())
}

/// Logs a warning counting the sources that have no shared secret: they are identified by their
/// name alone, on MLLP (MSH-3) and at the OAuth token endpoint (`client_id`), so anyone who
/// can reach the server and knows a name can act as that source. (Names of systems, not
/// patient data.)
async fn warn_of_sources_without_secret(db: &sea_orm::DatabaseConnection) {
    match service::sources::list(db).await {
        Ok(sources) => {
            let open = sources.iter().filter(|s| !s.has_secret).count();
            if open > 0 {
                tracing::warn!(
                    sources_without_secret = open,
                    "sources without a secret are identified by name alone (MLLP MSH-3, OAuth client_id); `mpi sources list` shows which; register sources with `--secret` in production"
                );
            }
        }
        Err(error) => tracing::debug!(%error, "sources not listed (schema not migrated?)"),
    }
}

/// Binds the HL7 v2 listener when `--mllp-bind` is given and serves it on a task of its own;
/// returns the sender that stops it and the task to wait for.
async fn start_mllp(
    settings: &MllpSettings,
    state: &AppState,
) -> anyhow::Result<
    Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
> {
    let Some(bind) = &settings.mllp_bind else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen for MLLP on {bind}"))?;
    let addr = listener.local_addr()?;
    let mut config = settings.listener_config();
    let tls = crate::tls::TlsFiles::from_args(
        settings.mllp_tls_cert.as_deref(),
        settings.mllp_tls_key.as_deref(),
        settings.mllp_tls_client_ca.as_deref(),
    )
    .context(
        "--mllp-tls-cert and --mllp-tls-key go together (and --mllp-tls-client-ca needs both)",
    )?;
    if let Some(files) = tls {
        let server = files.mllp_config().context("cannot set up MLLP TLS")?;
        config.tls = Some(Arc::new(server));
    }
    let scheme = if config.tls.is_some() {
        "mllps"
    } else {
        "mllp"
    };
    let observer: Arc<dyn hl7v2::Observer> = state.metrics.clone();
    let dispatcher = Arc::new(
        hl7v2::Dispatcher::new(Arc::clone(&state.service), settings.feed_config())
            .with_observer(observer),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(hl7v2::serve(listener, dispatcher, config, async move {
        let _ = stopped.await;
    }));
    tracing::info!(%addr, scheme, "listening for HL7 v2 over MLLP");
    eprintln!("mpi listening on {scheme}://{addr}");
    Ok(Some((stop, task)))
}

/// Checkpoints an SQLite WAL every [`database::CHECKPOINT_INTERVAL`] (see
/// [`database::connect_server`]): through the service once it runs, so that the WAL starts
/// again under a steady load ([`service::Mpi::checkpoint_wal`]), else on the pool. Returns at
/// once for PostgreSQL and in-memory databases.
async fn checkpoint_regularly(state: AppState) {
    if state.database_kind != DatabaseKind::Sqlite {
        return;
    }
    let mut ticker = tokio::time::interval(database::CHECKPOINT_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = match state.mpi() {
            Some(mpi) => mpi.checkpoint_wal().await.map(drop),
            None => service::passive_checkpoint(&state.db).await.map(drop),
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "WAL checkpoint failed");
        }
    }
}

/// Every `interval` after the first, a checkpoint of the audit chain's head when it moved
/// ([`checkpoint_chain`]; the start's own is written before serving). Returns when `stopped`
/// fires, never in the middle of a checkpoint.
async fn checkpoint_chain_regularly(
    state: AppState,
    interval: Duration,
    last: Arc<std::sync::Mutex<Option<i64>>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: the start's checkpoint, already written.
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => checkpoint_chain(&state, &last).await,
            _ = &mut stopped => return,
        }
    }
}

/// Writes the audit chain's head, when it differs from the `last` one written (by `seq`), as
/// one log line (`audit chain checkpoint`: seq, hash, time; no patient data) and, with
/// `--audit-checkpoint-file`, as one line appended to that file and flushed to disk.
async fn checkpoint_chain(state: &AppState, last: &std::sync::Mutex<Option<i64>>) {
    let Some(mpi) = state.mpi() else { return };
    checkpoint_chain_on(state, mpi.db(), last).await;
}

/// [`checkpoint_chain`], reading the head through `db`.
async fn checkpoint_chain_on(
    state: &AppState,
    db: &sea_orm::DatabaseConnection,
    last: &std::sync::Mutex<Option<i64>>,
) {
    if state.mpi().is_none() {
        return;
    }
    let head = match service::audit::checkpoint(db).await {
        Ok(Some(head)) => head,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "cannot read the audit chain's head for a checkpoint");
            return;
        }
    };
    if *last.lock().unwrap_or_else(|p| p.into_inner()) == Some(head.seq) {
        return;
    }
    tracing::info!(
        seq = head.seq,
        hash = %head.hash,
        at = %head.at.to_rfc3339(),
        "audit chain checkpoint"
    );
    if let Some(path) = state.audit_checkpoint_file.clone() {
        let line = head.clone();
        let written = tokio::task::spawn_blocking(move || {
            crate::commands::audit::append_checkpoint(&path, &line)
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot append to the audit checkpoint file");
                return;
            }
            Err(error) => {
                tracing::error!(%error, "cannot append to the audit checkpoint file");
                return;
            }
        }
    }
    *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(head.seq);
}

/// Every `interval`: starts the service if it has not started yet, else catches the candidate
/// index up with the `change_log` (changes made by other processes), and refreshes the index
/// size gauge.
async fn keep_current(
    state: AppState,
    writer: sea_orm::DatabaseConnection,
    model: matcher::Model,
    config: service::ServiceConfig,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut start_failures = 0u64;
    loop {
        ticker.tick().await;
        match state.mpi() {
            Some(mpi) => match mpi.catch_up().await {
                Ok(caught) if caught.patients_refreshed > 0 => {
                    tracing::debug!(
                        from_seq = caught.from_seq,
                        to_seq = caught.to_seq,
                        patients = caught.patients_refreshed,
                        "caught up from the change log"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "catch-up failed"),
            },
            None => {
                let started = service::Mpi::start_with_writer(
                    state.db.clone(),
                    writer.clone(),
                    model.clone(),
                    config.clone(),
                )
                .await;
                match started {
                    Ok(mpi) => {
                        let _ = state.service.set(mpi);
                        tracing::info!("service started");
                    }
                    Err(error) => {
                        start_failures += 1;
                        if start_failures == 1 || start_failures.is_multiple_of(100) {
                            tracing::warn!(%error, attempts = start_failures, "service still not started");
                        }
                    }
                }
            }
        }
        if let Some(mpi) = state.mpi() {
            state.metrics.index_size.set(mpi.index().len() as i64);
            // OAuth tokens of sources removed or changed (by `mpi sources`, another process)
            // stop working here within one interval.
            match service::tokens::forget_changed_sources(mpi, &state.tokens).await {
                Ok(0) => {}
                Ok(forgotten) => {
                    tracing::info!(forgotten, "tokens of removed or changed sources forgotten");
                }
                Err(error) => tracing::warn!(%error, "tokens' sources not checked"),
            }
        }
    }
}
