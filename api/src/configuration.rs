//! Settings of the `mpi` binary: the only place that reads the environment.
//!
//! Every setting is a command-line flag with an `MPI_*` environment variable behind it
//! (flag wins over environment, environment over the default). Other modules receive these
//! typed values and never call `std::env` themselves; `service` never sees any of this.

use std::fmt;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Where `mpi serve` and the batch commands keep their data when nothing is configured:
/// an SQLite file `mpi.db` in the working directory, created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://mpi.db?mode=rwc";

/// Address `mpi serve` listens on when nothing is configured.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// How long SQLite waits for a lock held by another connection or process before failing.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a graceful shutdown waits for in-flight requests.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The database to use and how to pool connections to it.
#[derive(Args, Clone)]
#[command(next_help_heading = "Database")]
pub struct DatabaseSettings {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    #[arg(
        long = "database-url",
        env = "MPI_DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        value_parser = parse_database_url,
    )]
    pub url: String,

    /// Largest number of pooled connections (default: 10 on PostgreSQL, 4 for an SQLite file;
    /// an in-memory SQLite database always uses exactly one).
    #[arg(
        long = "database-max-connections",
        env = "MPI_DATABASE_MAX_CONNECTIONS"
    )]
    pub max_connections: Option<u32>,

    /// Seconds to wait for a connection (opening one, or taking one from the pool).
    #[arg(
        long = "database-timeout-secs",
        env = "MPI_DATABASE_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub timeout_secs: u64,
}

/// The database engine a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// An in-memory SQLite database (one connection; gone when the process ends).
    SqliteMemory,
    /// A PostgreSQL server (production).
    Postgres,
}

impl DatabaseKind {
    /// The engine named by `url`, or `None` for an unsupported scheme.
    pub fn of(url: &str) -> Option<DatabaseKind> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(DatabaseKind::Postgres)
        } else if url.starts_with("sqlite:") {
            if url.contains(":memory:") || url.contains("mode=memory") {
                Some(DatabaseKind::SqliteMemory)
            } else {
                Some(DatabaseKind::Sqlite)
            }
        } else {
            None
        }
    }

    /// Short name for logs and JSON (`sqlite` or `postgres`).
    pub fn name(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite | DatabaseKind::SqliteMemory => "sqlite",
            DatabaseKind::Postgres => "postgres",
        }
    }
}

fn parse_database_url(url: &str) -> Result<String, String> {
    match DatabaseKind::of(url) {
        Some(_) => Ok(url.to_owned()),
        None => Err(
            "expected a sqlite:// or postgres:// URL (for example sqlite://mpi.db or \
             postgres://mpi@localhost:5432/mpi)"
                .to_owned(),
        ),
    }
}

impl DatabaseSettings {
    /// Settings for `url` with the default pool and timeouts (used by tests and tools).
    pub fn from_url(url: impl Into<String>) -> DatabaseSettings {
        DatabaseSettings {
            url: url.into(),
            max_connections: None,
            timeout_secs: 10,
        }
    }

    /// Which engine the URL selects.
    pub fn kind(&self) -> DatabaseKind {
        // The value parser only admits URLs with a known scheme; `from_url` may not have been
        // checked, and an unknown scheme then fails when connecting, so the default is harmless.
        DatabaseKind::of(&self.url).unwrap_or(DatabaseKind::Sqlite)
    }

    /// Pool size to use: the configured one, or the default for the engine.
    pub fn pool_size(&self) -> u32 {
        match self.kind() {
            // Every pooled connection to `sqlite::memory:` would be a separate empty database.
            DatabaseKind::SqliteMemory => 1,
            DatabaseKind::Sqlite => self.max_connections.unwrap_or(4).max(1),
            DatabaseKind::Postgres => self.max_connections.unwrap_or(10).max(1),
        }
    }

    /// Connection and pool timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }

    /// The URL with any password replaced by `***`, safe to log.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// Replaces the password of `scheme://user:password@host/...` with `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end],
                    &userinfo[..colon],
                    &rest[at..]
                ),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// Settings of the HTTP server.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Server")]
pub struct ServerSettings {
    /// Address to listen on (`HOST:PORT`; port 0 picks a free port, which is then logged).
    #[arg(long, env = "MPI_BIND", default_value = DEFAULT_BIND)]
    pub bind: String,

    /// Number of HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "MPI_WORKERS")]
    pub workers: Option<usize>,

    /// Do not apply pending migrations at start-up (for replicas when `mpi migrate up` runs
    /// once per deployment); `/ready` answers 503 until the schema is current.
    #[arg(long, env = "MPI_NO_MIGRATE")]
    pub no_migrate: bool,

    /// Serve HTTPS (HTTP/1.1 and HTTP/2) with this certificate chain (PEM, leaf first);
    /// needs `--tls-key`.
    #[arg(long, env = "MPI_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key of `--tls-cert` (PEM).
    #[arg(long, env = "MPI_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Require a client certificate issued by one of these CAs (PEM).
    #[arg(long, env = "MPI_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<std::path::PathBuf>,

    /// Seconds a client has, from connecting (after the TLS handshake), to send its first
    /// request's head; a slower one is answered 408 with the error body and disconnected.
    #[arg(long, env = "MPI_REQUEST_HEAD_TIMEOUT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_head_timeout_secs: u64,

    /// Seconds an OAuth access token from `POST /auth/oauth2_token` stays valid.
    #[arg(long, env = "MPI_TOKEN_TTL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub token_ttl_secs: u64,
}

/// The HL7 v2 listener (MLLP) that `mpi serve` runs beside HTTP when given an address.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "HL7 v2 over MLLP")]
pub struct MllpSettings {
    /// Address to serve HL7 v2 over MLLP on (`HOST:PORT`; port 0 picks a free port); off when
    /// not given.
    #[arg(long, env = "MPI_MLLP_BIND")]
    pub mllp_bind: Option<String>,

    /// The largest HL7 v2 message accepted, in bytes; a larger one is answered AR and skipped.
    #[arg(long, env = "MPI_MLLP_MAX_MESSAGE_BYTES", default_value_t = 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=64 * 1024 * 1024))]
    pub mllp_max_message_bytes: u64,

    /// Seconds an MLLP connection may stay silent before it is closed.
    #[arg(long, env = "MPI_MLLP_IDLE_TIMEOUT_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub mllp_idle_timeout_secs: u64,

    /// MLLP connections served at once; more wait until one closes.
    #[arg(long, env = "MPI_MLLP_MAX_CONNECTIONS", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub mllp_max_connections: u64,

    /// The identifier domain that HL7 v2 PID-19 (social security number) is stored in; PID-19
    /// is ignored when not given.
    #[arg(long, env = "MPI_HL7_SSN_DOMAIN")]
    pub hl7_ssn_domain: Option<String>,

    /// The name search mode of an HL7 v2 PDQ query (ITI-21) whose QPD-5 names none: exact,
    /// wildcard, phonetic or alias. Without it, names are prefixes and a pattern with `*` or
    /// `?` inside is a wildcard search.
    #[arg(long, env = "MPI_HL7_PDQ_MODE", value_parser = parse_search_mode)]
    pub hl7_pdq_mode: Option<service::name_search::SearchMode>,

    /// Serve MLLP over TLS with this certificate chain (PEM, leaf first); needs
    /// --mllp-tls-key.
    #[arg(long, env = "MPI_MLLP_TLS_CERT")]
    pub mllp_tls_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) of --mllp-tls-cert.
    #[arg(long, env = "MPI_MLLP_TLS_KEY")]
    pub mllp_tls_key: Option<std::path::PathBuf>,

    /// Require an MLLP client certificate issued by one of these CAs (PEM), as IHE ATNA's
    /// secure node does; a client without one is refused during the handshake.
    #[arg(long, env = "MPI_MLLP_TLS_CLIENT_CA")]
    pub mllp_tls_client_ca: Option<std::path::PathBuf>,

    /// Milliseconds between two looks at an idle PIX consumer's notification queue (ITI-10).
    #[arg(long, env = "MPI_PIX_POLL_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub pix_poll_ms: u64,

    /// The longest wait, in milliseconds, between two attempts to deliver a PIX notification
    /// to a consumer that is down (the wait starts at a second, or at this if shorter, and
    /// doubles after each failure).
    #[arg(long, env = "MPI_PIX_RETRY_MAX_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub pix_retry_max_ms: u64,
}

/// A search mode as `--hl7-pdq-mode` gives it.
fn parse_search_mode(text: &str) -> Result<service::name_search::SearchMode, String> {
    text.parse()
        .map_err(|_| "one of exact, wildcard, phonetic, alias".to_owned())
}

impl MllpSettings {
    /// How the ITI-8 feed maps what has no identifier domain of its own.
    pub fn feed_config(&self) -> hl7v2::FeedConfig {
        hl7v2::FeedConfig {
            ssn_domain: self.hl7_ssn_domain.clone(),
            pdq_mode: self.hl7_pdq_mode,
        }
    }

    /// The listener's limits.
    pub fn listener_config(&self) -> hl7v2::ListenerConfig {
        hl7v2::ListenerConfig {
            max_message_bytes: self.mllp_max_message_bytes as usize,
            idle_timeout: Duration::from_secs(self.mllp_idle_timeout_secs),
            max_connections: self.mllp_max_connections as usize,
            tls: None,
        }
    }

    /// The PIX Update Notification task's timing.
    pub fn notify_config(&self) -> hl7v2::NotifyConfig {
        let retry_max = Duration::from_millis(self.pix_retry_max_ms);
        hl7v2::NotifyConfig {
            poll_interval: Duration::from_millis(self.pix_poll_ms),
            retry_min: Duration::from_secs(1).min(retry_max),
            retry_max,
            max_message_bytes: self.mllp_max_message_bytes as usize,
            ..hl7v2::NotifyConfig::default()
        }
    }
}

/// The delivery of PMIR notifications to FHIR Subscriptions (ITI-94, ITI-93).
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "FHIR subscriptions (PMIR)")]
pub struct SubscriptionSettings {
    /// This server's FHIR base URL as subscribers reach it (`MessageHeader.source.endpoint` and
    /// the entries' fullUrl of the notifications); default: http(s)://BIND-ADDRESS/fhir.
    #[arg(long, env = "MPI_FHIR_BASE_URL")]
    pub fhir_base_url: Option<String>,

    /// Milliseconds between two looks at an idle subscription's notification queue.
    #[arg(long, env = "MPI_SUBSCRIPTION_POLL_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub subscription_poll_ms: u64,

    /// The longest wait, in milliseconds, between two attempts to deliver to an endpoint that
    /// fails (the wait starts at a second, or at this if shorter, and doubles after each
    /// failure).
    #[arg(long, env = "MPI_SUBSCRIPTION_RETRY_MAX_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub subscription_retry_max_ms: u64,

    /// Seconds a delivery (connect, send, answer) may take.
    #[arg(long, env = "MPI_SUBSCRIPTION_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub subscription_timeout_secs: u64,

    /// Failed deliveries in a row after which a subscription's status becomes `error` (it is
    /// still retried; the next success makes it `active` again).
    #[arg(long, env = "MPI_SUBSCRIPTION_ERROR_AFTER", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub subscription_error_after: u32,

    /// A PEM file of CA certificates trusted for https subscription endpoints besides the
    /// public web roots (an exchange whose certificate a private CA signed); read at start-up
    /// (at most 1 MiB and 1,000 certificates), and `mpi serve` does not start when it cannot
    /// be used.
    #[arg(long, env = "MPI_SUBSCRIPTION_CA_FILE")]
    pub subscription_ca_file: Option<std::path::PathBuf>,
}

impl SubscriptionSettings {
    /// The TLS client configuration of deliveries: the public roots and the
    /// `--subscription-ca-file`'s CAs.
    pub fn client_tls(&self) -> Result<rustls::ClientConfig, crate::tls::TlsError> {
        crate::tls::subscription_client_config(self.subscription_ca_file.as_deref())
    }

    /// The delivery task's settings; `default_base` is used without `--fhir-base-url`, `tls`
    /// is [`SubscriptionSettings::client_tls`]'s.
    pub fn delivery_config(
        &self,
        default_base: String,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> crate::fhir::notify::DeliveryConfig {
        let retry_max = Duration::from_millis(self.subscription_retry_max_ms);
        crate::fhir::notify::DeliveryConfig {
            base_url: self.fhir_base_url.clone().unwrap_or(default_base),
            poll_interval: Duration::from_millis(self.subscription_poll_ms),
            refresh_interval: Duration::from_secs(2).min(retry_max.max(Duration::from_millis(200))),
            retry_min: Duration::from_secs(1).min(retry_max),
            retry_max,
            timeout: Duration::from_secs(self.subscription_timeout_secs),
            error_after: self.subscription_error_after,
            tls,
        }
    }
}

/// Identifier domains: what to do with unregistered systems, and the MPI's own domain.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Identifier domains")]
pub struct DomainSettings {
    /// `accept`: identifiers of any system are stored; `reject`: an identifier whose system is
    /// not a registered domain (`mpi domains add`) is refused and nothing is stored.
    #[arg(long, env = "MPI_UNKNOWN_DOMAINS", default_value = "accept",
          value_parser = |s: &str| s.parse::<service::domains::UnknownDomains>())]
    pub unknown_domains: service::domains::UnknownDomains,

    /// The OID of the MPI's own domain, in which `person_id` is the enterprise identifier.
    #[arg(long, env = "MPI_ENTERPRISE_OID")]
    pub enterprise_oid: Option<String>,

    /// The namespace of the MPI's own domain (HL7 HD.1).
    #[arg(long, env = "MPI_ENTERPRISE_NAMESPACE", default_value = "MPI")]
    pub enterprise_namespace: String,

    /// The URL of the MPI's own domain (FHIR `Identifier.system` of `person_id`).
    #[arg(long, env = "MPI_ENTERPRISE_URL", default_value = "urn:mpi:person")]
    pub enterprise_url: String,
}

impl DomainSettings {
    /// The enterprise domain these settings describe.
    pub fn enterprise(&self) -> service::domains::EnterpriseDomain {
        service::domains::EnterpriseDomain {
            namespace: self.enterprise_namespace.trim().to_owned(),
            url: self.enterprise_url.trim().to_owned(),
            oid: self
                .enterprise_oid
                .as_deref()
                .map(|o| o.trim().trim_start_matches("urn:oid:").to_owned())
                .filter(|o| !o.is_empty()),
        }
    }
}

/// Which running server `mpi bench` drives, and with which key.
#[derive(Args, Clone)]
#[command(next_help_heading = "Target")]
pub struct BenchTarget {
    /// Base URL of a running `mpi serve`.
    #[arg(long, env = "MPI_BENCH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// API key to send (a `registrar` key is enough for every scenario).
    #[arg(long, env = "MPI_BENCH_KEY", hide_env_values = true)]
    pub key: String,
}

impl fmt::Debug for BenchTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BenchTarget")
            .field("url", &self.url)
            .field("key", &"***")
            .finish()
    }
}

/// How log lines are written (always to standard error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings of logging, shared by every subcommand.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Logging")]
pub struct TelemetrySettings {
    /// Log line format.
    #[arg(long, env = "MPI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,

    /// Which events to log, in `tracing` EnvFilter syntax (for example `info` or `api=debug,info`).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub log_filter: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_engine() {
        assert_eq!(
            DatabaseKind::of("sqlite://mpi.db?mode=rwc"),
            Some(DatabaseKind::Sqlite)
        );
        assert_eq!(
            DatabaseKind::of("sqlite::memory:"),
            Some(DatabaseKind::SqliteMemory)
        );
        assert_eq!(
            DatabaseKind::of("sqlite://x.db?mode=memory"),
            Some(DatabaseKind::SqliteMemory)
        );
        assert_eq!(
            DatabaseKind::of("postgres://u@h/db"),
            Some(DatabaseKind::Postgres)
        );
        assert_eq!(
            DatabaseKind::of("postgresql://u@h/db"),
            Some(DatabaseKind::Postgres)
        );
        assert_eq!(DatabaseKind::of("mysql://u@h/db"), None);
        assert!(parse_database_url("mpi.db").is_err());
    }

    #[test]
    fn memory_databases_never_get_more_than_one_connection() {
        let mut s = DatabaseSettings::from_url("sqlite::memory:");
        s.max_connections = Some(8);
        assert_eq!(s.pool_size(), 1);
        let mut s = DatabaseSettings::from_url("sqlite://mpi.db");
        assert_eq!(s.pool_size(), 4);
        s.max_connections = Some(2);
        assert_eq!(s.pool_size(), 2);
        assert_eq!(
            DatabaseSettings::from_url("postgres://h/db").pool_size(),
            10
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://mpi:s3cret@db:5432/mpi?sslmode=require"),
            "postgres://mpi:***@db:5432/mpi?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://mpi@db:5432/mpi"),
            "postgres://mpi@db:5432/mpi"
        );
        assert_eq!(
            redact_url("sqlite://mpi.db?mode=rwc"),
            "sqlite://mpi.db?mode=rwc"
        );
        let s = DatabaseSettings::from_url("postgres://a:b@h/db");
        assert!(!format!("{s:?}").contains(":b@"));
    }
}
