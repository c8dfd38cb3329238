//! Test helpers: scratch directories, `mpi` child processes (killed on drop) and HTTP calls.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Environment variables that configure `mpi`; removed so tests see no stray configuration.
const MPI_ENV: [&str; 17] = [
    "MPI_AUDIT_KEY",
    "MPI_AUDIT_CHECKPOINT_FILE",
    "MPI_AUDIT_CHECKPOINT_INTERVAL_SECS",
    "MPI_DATABASE_URL",
    "MPI_DATABASE_MAX_CONNECTIONS",
    "MPI_DATABASE_TIMEOUT_SECS",
    "MPI_BIND",
    "MPI_MLLP_BIND",
    "MPI_MLLP_MAX_MESSAGE_BYTES",
    "MPI_MLLP_IDLE_TIMEOUT_SECS",
    "MPI_MLLP_MAX_CONNECTIONS",
    "MPI_HL7_SSN_DOMAIN",
    "MPI_WORKERS",
    "MPI_NO_MIGRATE",
    "MPI_LOG_FORMAT",
    "RUST_LOG",
    "DATABASE_URL",
];

/// How long a server may take to migrate and bind (debug build, busy 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// An empty directory of its own, removed on drop.
pub struct ScratchDir {
    pub path: PathBuf,
}

impl ScratchDir {
    pub fn new() -> ScratchDir {
        let path =
            std::env::temp_dir().join(format!("mpi_api_test_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create scratch dir");
        ScratchDir { path }
    }

    /// Names of the entries in the directory, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .expect("read scratch dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A `Command` for the `mpi` binary built by cargo, in `dir`, with no `MPI_*` configuration.
pub fn mpi(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mpi"));
    command.current_dir(dir).stdin(Stdio::null());
    for var in MPI_ENV {
        command.env_remove(var);
    }
    command
}

/// Runs `mpi ARGS` in `dir` to completion.
pub fn run_mpi(dir: &Path, args: &[&str]) -> Output {
    mpi(dir).args(args).output().expect("run mpi")
}

/// Runs `mpi ARGS`, asserting success; returns standard output.
pub fn run_mpi_ok(dir: &Path, args: &[&str]) -> String {
    let out = run_mpi(dir, args);
    assert!(
        out.status.success(),
        "mpi {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// A running `mpi serve`; killed on drop.
pub struct TestServer {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// The thread draining stderr; it ends when the server closes its stderr.
    drain: Option<std::thread::JoinHandle<()>>,
    client: reqwest::Client,
}

impl TestServer {
    /// Starts `mpi serve --bind 127.0.0.1:0 EXTRA...` in `dir` and waits until it listens.
    pub fn start(dir: &Path, extra: &[&str]) -> TestServer {
        let mut child = mpi(dir)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mpi serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr pipe");
        let log = Arc::clone(&stderr);
        // Keep draining stderr for the whole life of the server so it never blocks on a full pipe.
        let drain = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line
                    .strip_prefix("mpi listening on http://")
                    .or_else(|| line.strip_prefix("mpi listening on https://"))
                {
                    let _ = tx.send(addr.to_owned());
                }
                let mut log = log.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr.parse().expect("socket address"),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "mpi serve did not start (exit: {status:?}); stderr:\n{}",
                    stderr.lock().expect("log lock")
                );
            }
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        TestServer {
            child,
            addr,
            stderr,
            drain: Some(drain),
            client,
        }
    }

    /// `GET path`, returning the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.send(self.client.get(format!("http://{}{path}", self.addr)))
            .await
    }

    /// `POST path` with an empty body, returning the status and the JSON body.
    pub async fn post_empty(&self, path: &str) -> (u16, serde_json::Value) {
        self.send(self.client.post(format!("http://{}{path}", self.addr)))
            .await
    }

    /// `METHOD path` with an optional bearer key, extra headers and JSON body; returns the
    /// status and the JSON body (`null` when the body is empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let response = self.call_raw(method, path, key, headers, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("response body");
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {text}"))
        };
        (status, json)
    }

    /// Like [`TestServer::call`], returning the raw response.
    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.addr));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| self.request_failed(e))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| self.request_failed(e));
        let status = response.status().as_u16();
        let body = response.json().await.expect("JSON body");
        (status, body)
    }

    /// A request that got no answer (a timeout, a dropped connection): the failure names the
    /// request and shows what the server logged last, which an answer never seen cannot.
    fn request_failed(&self, error: reqwest::Error) -> ! {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        panic!("request failed: {error}; the server's last log lines:\n{tail}")
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().expect("log lock").clone()
    }

    /// Waits (up to 10 s) until the server's stderr contains `needle`; returns the whole log.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) || std::time::Instant::now() >= deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the process to exit, returning whether it exited cleanly and
    /// everything it wrote to stderr, to its last line.
    pub fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if let Some(drain) = self.drain.take() {
                    drain.join().expect("stderr drain thread");
                }
                return (status.success(), self.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mpi serve did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
