//! Per-test databases on SQLite and PostgreSQL for the workspace's tests (feature `testing`).
//!
//! Every test gets a database of its own, so tests run in parallel without racing:
//! a fresh SQLite file in the temp directory, or a fresh PostgreSQL database created through
//! the admin URL in `MPI_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! PostgreSQL is required: when it cannot be reached the test fails with a clear message, it is
//! never skipped. The database is dropped (or the file removed) when the `TestDb` is dropped.

use std::path::PathBuf;
use std::time::Duration;

use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use crate::Migrator;

/// Environment variable naming the PostgreSQL admin URL used to create per-test databases.
pub const POSTGRES_URL_ENV: &str = "MPI_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The database engines every storage test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL database (the production store).
    Postgres,
}

impl Backend {
    /// Both backends, in the order tests run them.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];
}

/// A database created for one test; removed again on drop.
pub struct TestDb {
    /// Which engine.
    pub backend: Backend,
    /// Connection URL of this database (give it to a server under test).
    pub url: String,
    /// An open connection pool to it.
    pub conn: DatabaseConnection,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Database { admin_url: String, name: String },
}

impl TestDb {
    /// A new empty database (no tables) on `backend`.
    pub async fn empty(backend: Backend) -> TestDb {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("mpi_test_{id}.db"));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let conn = connect(&url).await;
                TestDb {
                    backend,
                    url,
                    conn,
                    cleanup: Cleanup::File(path),
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let admin = Database::connect(admin_url.as_str()).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for this test but {admin_url} cannot be reached ({e}); \
                         start it or set {POSTGRES_URL_ENV}"
                    )
                });
                let name = format!("mpi_test_{id}");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
                admin.close().await.ok();
                let url = replace_database(&admin_url, &name);
                let conn = connect(&url).await;
                TestDb {
                    backend,
                    url,
                    conn,
                    cleanup: Cleanup::Database { admin_url, name },
                }
            }
        }
    }

    /// A new database on `backend` with every migration applied.
    pub async fn migrated(backend: Backend) -> TestDb {
        let db = TestDb::empty(backend).await;
        Migrator::up(&db.conn, None)
            .await
            .unwrap_or_else(|e| panic!("migrations failed on {backend:?}: {e}"));
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
            }
            Cleanup::Database { admin_url, name } => {
                // Drop runs outside async context; use a short-lived runtime on its own thread.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(rt) = rt {
                        rt.block_on(async {
                            if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                                let _ = admin
                                    .execute_unprepared(&format!(
                                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                    ))
                                    .await;
                                admin.close().await.ok();
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}

/// The PostgreSQL admin URL tests use (from `MPI_TEST_POSTGRES_URL` or the local default).
pub fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

async fn connect(url: &str) -> DatabaseConnection {
    let mut opt = ConnectOptions::new(url.to_owned());
    opt.connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    if url.starts_with("postgres") {
        opt.max_connections(8).min_connections(1);
    }
    Database::connect(opt)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to test database {url}: {e}"))
}

/// Replaces the database name (the path) of a PostgreSQL URL, keeping any query string.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host_part = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replaces_the_database_name_only() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            replace_database("postgres://u:p@h:1/db?sslmode=disable", "t2"),
            "postgres://u:p@h:1/t2?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "t3"), "postgres://h/t3");
    }
}
