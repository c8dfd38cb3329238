//! The audit chain against someone who can write the database (issue 28 §2): rows signed with
//! a chain key (`--audit-key-file`, rotated), and checkpoints of the chain's head kept outside
//! the database (`--audit-checkpoint-file`), checked by `mpi audit verify` and by
//! `GET /api/v1/audit/verify`. Through the real binary, on both databases.

use std::path::Path;

use migration::testing::{Backend, TestDb};
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use serde_json::Value;
use service::context::Role;

use crate::app::person;
use crate::both_backends;
use crate::helpers::{ScratchDir, TestServer, mpi};

/// A 64-character key in a file of its own; returns the path and the key's id.
fn key_file(dir: &Path, name: &str, fill: char) -> (String, String) {
    let secret: String = std::iter::repeat_n(fill, 64).collect();
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).expect("write key");
    let id = service::chain::ChainKey::new(secret.as_bytes())
        .expect("key")
        .id()
        .to_owned();
    (path.to_string_lossy().into_owned(), id)
}

/// `mpi audit verify --database-url URL ARGS`: the exit code and the JSON report.
fn cli_verify(dir: &Path, url: &str, args: &[&str]) -> (i32, Value) {
    let out = mpi(dir)
        .args(["audit", "verify", "--database-url", url])
        .args(args)
        .output()
        .expect("run mpi audit verify");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), report)
}

/// A server on `db` with `extra` arguments.
fn serve(dir: &Path, db: &TestDb, extra: &[&str]) -> TestServer {
    let mut args = vec!["--database-url", db.url.as_str(), "--workers", "2"];
    args.extend(extra);
    TestServer::start(dir, &args)
}

/// Registers a patient and reads it (a few audit rows).
async fn some_work(server: &TestServer, admin: &str, mrn: &str) {
    let (status, stored) = server
        .call(
            "POST",
            "/api/v1/patients?force=true",
            Some(admin),
            &[],
            Some(&person("Quartermaine", "Odile", "1966-03-14", mrn)),
        )
        .await;
    assert_eq!(status, 201, "{stored}");
    let id = stored["id"].as_str().expect("id");
    let (status, _) = server
        .call(
            "GET",
            &format!("/api/v1/patients/{id}"),
            Some(admin),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200);
}

/// Lets the test write `audit_event` as a database administrator can.
async fn drop_append_only_guards(db: &TestDb, backend: Backend) {
    let statements: &[&str] = match backend {
        Backend::Sqlite => &[
            "DROP TRIGGER IF EXISTS trg_audit_event_no_update",
            "DROP TRIGGER IF EXISTS trg_audit_event_no_delete",
        ],
        Backend::Postgres => &["ALTER TABLE audit_event DISABLE TRIGGER USER"],
    };
    for sql in statements {
        db.conn.execute_unprepared(sql).await.expect("drop guard");
    }
}

/// What an administrator without the key can do: change the row at `index` (in `seq` order)
/// and recompute the plain SHA-256 chain from there to the end, so that every link holds.
/// Returns the altered row's `seq`.
async fn rewrite_and_rehash(db: &TestDb, index: usize) -> i64 {
    let mut rows = entity::audit_event::Entity::find()
        .order_by_asc(entity::audit_event::Column::Seq)
        .all(&db.conn)
        .await
        .expect("rows");
    rows[index].actor = "someone-else".to_owned();
    for i in index..rows.len() {
        if i > 0 {
            rows[i].prev_hash = rows[i - 1].hash.clone();
        }
        rows[i].hash = service::audit::row_hash(&rows[i]);
        db.conn
            .execute_unprepared(&format!(
                "UPDATE audit_event SET actor = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
                rows[i].actor, rows[i].prev_hash, rows[i].hash, rows[i].seq
            ))
            .await
            .expect("rewrite");
    }
    rows[index].seq
}

/// The newest `seq`.
async fn last_seq(db: &TestDb) -> i64 {
    entity::audit_event::Entity::find()
        .order_by_desc(entity::audit_event::Column::Seq)
        .one(&db.conn)
        .await
        .expect("last row")
        .expect("a row")
        .seq
}

async fn keyed_chain_rotation_and_a_rehashed_rewrite(backend: Backend) {
    let db = TestDb::migrated(backend).await;
    let (_, admin) = service::keys::create(&db.conn, "admin", Role::Admin)
        .await
        .expect("key");
    let dir = ScratchDir::new();
    let (k1, id1) = key_file(&dir.path, "k1", 'a');
    let (k2, id2) = key_file(&dir.path, "k2", 'b');
    let url = db.url.clone();

    // Rows under key 1.
    let server = serve(&dir.path, &db, &["--audit-key-file", &k1]);
    some_work(&server, &admin, "MRN-T1").await;
    let (status, report) = server
        .call("GET", "/api/v1/audit/verify", Some(&admin), &[], None)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["keyed_rows"].as_u64().unwrap() >= 2, "{report}");
    assert!(report["checkpoints"].is_null(), "{report}");
    assert!(server.terminate().0);

    // Then under key 2, key 1 kept for verification.
    let server = serve(
        &dir.path,
        &db,
        &["--audit-key-file", &k2, "--audit-key-file", &k1],
    );
    some_work(&server, &admin, "MRN-T2").await;
    let (_, report) = server
        .call("GET", "/api/v1/audit/verify", Some(&admin), &[], None)
        .await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(server.terminate().0);
    let hashes: Vec<String> = entity::audit_event::Entity::find()
        .all(&db.conn)
        .await
        .expect("rows")
        .into_iter()
        .map(|r| r.hash)
        .collect();
    for id in [&id1, &id2] {
        assert!(
            hashes.iter().any(|h| h.starts_with(&format!("hmac:{id}:"))),
            "no row signed with {id}: {hashes:?}"
        );
    }

    // Both keys verify; key 2 alone cannot check key 1's rows, and says so.
    let (code, report) = cli_verify(
        &dir.path,
        &url,
        &["--audit-key-file", &k2, "--audit-key-file", &k1],
    );
    assert_eq!((code, &report["ok"]), (0, &Value::Bool(true)), "{report}");
    let (code, report) = cli_verify(&dir.path, &url, &["--audit-key-file", &k2]);
    assert_eq!(code, 4, "{report}");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(
        report["unknown_key_ids"],
        serde_json::json!([id1]),
        "{report}"
    );
    let broken = report["broken"].as_array().expect("broken");
    assert!(!broken.is_empty(), "{report}");
    assert!(
        broken
            .iter()
            .all(|b| b["unknown_key"] == true && b["hash_mismatch"] == false),
        "{report}"
    );
    // Without any key nothing keyed can be checked.
    let (code, _) = cli_verify(&dir.path, &url, &[]);
    assert_eq!(code, 4);

    // An administrator rewrites a keyed row and re-hashes every row after it (plain SHA-256,
    // every link holds): the keyed verification names the row and every one after it.
    drop_append_only_guards(&db, backend).await;
    let count = entity::audit_event::Entity::find()
        .all(&db.conn)
        .await
        .expect("rows")
        .len();
    let altered = rewrite_and_rehash(&db, count - 3).await;
    let (code, report) = cli_verify(
        &dir.path,
        &url,
        &["--audit-key-file", &k2, "--audit-key-file", &k1],
    );
    assert_eq!(code, 4, "{report}");
    assert_eq!(report["first_broken_seq"], altered, "{report}");
    assert_eq!(report["broken_count"], 3, "{report}");
    assert!(
        report["broken"]
            .as_array()
            .expect("broken")
            .iter()
            .all(|b| b["unkeyed"] == true && b["link_mismatch"] == false),
        "{report}"
    );
}
both_backends!(keyed_chain_rotation_and_a_rehashed_rewrite);

/// Waits (up to 20 s) until the checkpoint file's last line names `seq`.
fn wait_for_checkpoint(path: &Path, seq: i64) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let lines: Vec<Value> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a checkpoint line is JSON"))
            .collect();
        if lines.last().is_some_and(|c| c["seq"] == seq) {
            return lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of seq {seq}: {lines:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

async fn checkpoints_find_a_truncated_tail_and_a_rehashed_chain(backend: Backend) {
    let db = TestDb::migrated(backend).await;
    let (_, admin) = service::keys::create(&db.conn, "admin", Role::Admin)
        .await
        .expect("key");
    let dir = ScratchDir::new();
    let file = dir.path.join("checkpoints.jsonl");
    let file_arg = file.to_string_lossy().into_owned();
    let url = db.url.clone();
    let server = serve(
        &dir.path,
        &db,
        &[
            "--audit-checkpoint-file",
            &file_arg,
            "--audit-checkpoint-interval-secs",
            "1",
        ],
    );
    some_work(&server, &admin, "MRN-C1").await;
    let head = last_seq(&db).await;
    let lines = wait_for_checkpoint(&file, head);
    let (status, report) = server
        .call("GET", "/api/v1/audit/verify", Some(&admin), &[], None)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        report["checkpoints"]["checked"].as_u64(),
        Some(lines.len() as u64),
        "{report}"
    );
    // The checkpoint is a log line too, without patient data.
    let log = server.wait_for_log("audit chain checkpoint");
    assert!(log.contains("audit chain checkpoint"), "{log}");
    assert!(!log.contains("Quartermaine"), "PHI in the log:\n{log}");

    // The newest rows deleted: every link of what is left holds, only the checkpoint knows.
    drop_append_only_guards(&db, backend).await;
    db.conn
        .execute_unprepared(&format!(
            "DELETE FROM audit_event WHERE seq >= {}",
            head - 1
        ))
        .await
        .expect("truncate");
    let (_, report) = server
        .call("GET", "/api/v1/audit/verify", Some(&admin), &[], None)
        .await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["broken_count"], 0, "{report}");
    let missing_head = |report: &Value| {
        let failed = report["checkpoints"]["failed"].as_array().expect("failed");
        failed.iter().all(|f| f["problem"] == "missing") && failed.iter().any(|f| f["seq"] == head)
    };
    assert!(missing_head(&report), "{report}");
    let (code, report) = cli_verify(&dir.path, &url, &["--checkpoints", &file_arg]);
    assert_eq!(code, 4, "{report}");
    assert!(missing_head(&report), "{report}");
    // Without the checkpoints the cut is invisible (see the threat table).
    let (code, report) = cli_verify(&dir.path, &url, &[]);
    assert_eq!(code, 0, "{report}");
    assert!(server.terminate().0);

    // A chain rewritten and re-hashed from its first row (no key: every hash recomputes):
    // the rows verify, the checkpoints do not.
    let (_, admin2) = service::keys::create(&db.conn, "admin2", Role::Admin)
        .await
        .expect("key");
    let file2 = dir.path.join("checkpoints2.jsonl");
    let file2_arg = file2.to_string_lossy().into_owned();
    let server = serve(
        &dir.path,
        &db,
        &[
            "--audit-checkpoint-file",
            &file2_arg,
            "--audit-checkpoint-interval-secs",
            "1",
        ],
    );
    some_work(&server, &admin2, "MRN-C2").await;
    let head = last_seq(&db).await;
    wait_for_checkpoint(&file2, head);
    rewrite_and_rehash(&db, 0).await;
    let (_, report) = server
        .call("GET", "/api/v1/audit/verify", Some(&admin2), &[], None)
        .await;
    assert_eq!(report["broken_count"], 0, "{report}");
    assert_eq!(report["ok"], false, "{report}");
    let failed = report["checkpoints"]["failed"].as_array().expect("failed");
    assert!(
        failed
            .iter()
            .any(|f| f["seq"] == head && f["problem"] == "hash_differs"),
        "{report}"
    );
    // A torn line fails the report as well.
    drop(server);
    std::fs::write(&file2, "{\"seq\":1,\"ha\n").expect("write");
    let (code, report) = cli_verify(&dir.path, &url, &["--checkpoints", &file2_arg]);
    assert_eq!(code, 4, "{report}");
    assert_eq!(report["checkpoints"]["unreadable_lines"], 1, "{report}");
}
both_backends!(checkpoints_find_a_truncated_tail_and_a_rehashed_chain);

async fn a_graceful_shutdown_writes_the_last_checkpoint(backend: Backend) {
    let db = TestDb::migrated(backend).await;
    let (_, admin) = service::keys::create(&db.conn, "admin", Role::Admin)
        .await
        .expect("key");
    let dir = ScratchDir::new();
    let file = dir.path.join("checkpoints.jsonl");
    let file_arg = file.to_string_lossy().into_owned();
    // An interval no test outlasts: only the start and the shutdown write checkpoints.
    let server = serve(
        &dir.path,
        &db,
        &[
            "--audit-checkpoint-file",
            &file_arg,
            "--audit-checkpoint-interval-secs",
            "3600",
        ],
    );
    // The chain is empty at start (nothing to checkpoint); the head after this work is written
    // only by the shutdown.
    some_work(&server, &admin, "MRN-G1").await;
    let head = last_seq(&db).await;
    let before = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(!before.contains(&format!("\"seq\":{head},")), "{before}");
    let (stopped, log) = server.terminate();
    assert!(stopped, "{log}");
    let lines = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        lines.contains(&format!("\"seq\":{head},")),
        "no checkpoint of seq {head}: {lines}\nserver log:\n{log}"
    );
    let lines = wait_for_checkpoint(&file, head);
    // The start's checkpoint is written before the server answers, so only the shutdown's names
    // the head.
    let at_head = lines.iter().filter(|c| c["seq"] == head).count();
    assert_eq!(at_head, 1, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|c| c["seq"].as_i64().is_some_and(|s| s <= head)),
        "{lines:?}"
    );
    let (code, report) = cli_verify(&dir.path, &db.url, &["--checkpoints", &file_arg]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["checkpoints"]["checked"], lines.len(), "{report}");
}
both_backends!(a_graceful_shutdown_writes_the_last_checkpoint);
