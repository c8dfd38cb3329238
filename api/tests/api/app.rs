//! A running `mpi serve` over a fresh migrated database with one API key per role, and sample
//! patients (invented people, not real data).

use std::collections::HashMap;

use migration::testing::{Backend, TestDb};
use serde_json::{Value, json};
use service::context::Role;

use crate::helpers::{ScratchDir, TestServer};

/// A server on its own database, with keys named after their roles.
pub struct TestApp {
    pub server: TestServer,
    pub db: TestDb,
    _dir: ScratchDir,
    keys: HashMap<Role, String>,
}

impl TestApp {
    /// Migrates a new database on `backend`, creates a key per role, starts `mpi serve`.
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, &[], &[]).await
    }

    /// Like [`TestApp::spawn`], first running each `mpi` command of `setup` (with
    /// `--database-url` added) and giving `mpi serve` the arguments `serve_args` too.
    pub async fn spawn_with(backend: Backend, setup: &[&[&str]], serve_args: &[&str]) -> TestApp {
        let db = TestDb::migrated(backend).await;
        let mut keys = HashMap::new();
        for role in Role::ALL {
            let (_, secret) = service::keys::create(&db.conn, role.as_str(), *role)
                .await
                .expect("create key");
            keys.insert(*role, secret);
        }
        let dir = ScratchDir::new();
        for command in setup {
            let mut args = command.to_vec();
            args.extend(["--database-url", db.url.as_str()]);
            crate::helpers::run_mpi_ok(&dir.path, &args);
        }
        let mut args = vec![
            "--database-url",
            db.url.as_str(),
            "--workers",
            "2",
            "--catch-up-interval-ms",
            "200",
        ];
        args.extend(serve_args);
        let server = TestServer::start(&dir.path, &args);
        TestApp {
            server,
            db,
            _dir: dir,
            keys,
        }
    }

    /// Stops the server (SIGTERM) and starts another on the same database and directory, with
    /// `serve_args` besides the usual ones; the keys stay.
    pub fn restart(self, serve_args: &[&str]) -> TestApp {
        let TestApp {
            server,
            db,
            _dir,
            keys,
        } = self;
        // Give a server that has only just started the time to install its signal handlers.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let (clean, log) = server.terminate();
        assert!(clean, "the server did not stop cleanly:\n{log}");
        let mut args = vec![
            "--database-url",
            db.url.as_str(),
            "--workers",
            "2",
            "--catch-up-interval-ms",
            "200",
        ];
        args.extend(serve_args);
        let server = TestServer::start(&_dir.path, &args);
        TestApp {
            server,
            db,
            _dir,
            keys,
        }
    }

    /// The secret of the key with `role`.
    pub fn key(&self, role: Role) -> &str {
        &self.keys[&role]
    }

    /// `METHOD path` as `role` with an optional JSON body.
    pub async fn as_role(
        &self,
        role: Role,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        self.server
            .call(method, path, Some(self.key(role)), &[], body)
            .await
    }

    /// `METHOD path` as admin.
    pub async fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.as_role(Role::Admin, method, path, body).await
    }

    /// Registers `body` as admin (forced), asserting 201; returns the stored patient.
    pub async fn register_forced(&self, body: &Value) -> Value {
        let (status, stored) = self
            .admin("POST", "/api/v1/patients?force=true", Some(body))
            .await;
        assert_eq!(status, 201, "{stored}");
        stored
    }
}

/// A patient body: one official name, a birth date, an MRN, a home address and a phone.
pub fn person(family: &str, given: &str, birth_date: &str, mrn: &str) -> Value {
    json!({
        "gender": "female",
        "birth_date": birth_date,
        "names": [{"family": family, "given": [given], "use": "official"}],
        "identifiers": [{"type": "MR", "system": "urn:test:mrn", "value": mrn}],
        "addresses": [{"lines": ["12 Orchard Lane"], "city": "Exeter", "postal_code": "EX4 4QJ",
                       "country": "GB", "use": "home"}],
        "telecoms": [{"system": "phone", "value": "01392 555 0101", "use": "home"}]
    })
}

/// The id of a stored patient answer.
pub fn id_of(patient: &Value) -> String {
    patient["id"].as_str().expect("patient id").to_owned()
}

/// Runs one async test body on SQLite and on PostgreSQL, as two `#[tokio::test]`s.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(migration::testing::Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(migration::testing::Backend::Postgres).await;
            }
        }
    };
}
