//! The database triggers on both engines, exercised with plain SQL as a writer outside the
//! service would: every write to a patient table lands in `change_log` with its old and new row,
//! the row JSON has the same shape on SQLite and PostgreSQL, and `change_log` and `audit_event`
//! refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL), and the audit chain cannot fork.

use migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use migration::testing::{Backend, TestDb};
use migration::{Migrator, MigratorTrait};
use serde_json::{Value, json};
use uuid::Uuid;

/// A UUID literal in the engine's storage form (SQLite: the 16-byte BLOB SeaORM writes).
fn uuid_lit(backend: Backend, id: Uuid) -> String {
    match backend {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'::uuid"),
    }
}

#[derive(Debug)]
struct Change {
    seq: i64,
    table: String,
    operation: String,
    row_id: String,
    old_row: Option<Value>,
    new_row: Option<Value>,
}

async fn changes(conn: &DatabaseConnection) -> anyhow::Result<Vec<Change>> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT seq, table_name, operation, row_id, CAST(old_row AS TEXT) AS old_row, \
             CAST(new_row AS TEXT) AS new_row FROM change_log ORDER BY seq",
        ))
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let parse = |col: &str| -> anyhow::Result<Option<Value>> {
            Ok(match row.try_get::<Option<String>>("", col)? {
                Some(text) => Some(serde_json::from_str(&text)?),
                None => None,
            })
        };
        out.push(Change {
            seq: row.try_get("", "seq")?,
            table: row.try_get("", "table_name")?,
            operation: row.try_get("", "operation")?,
            row_id: row.try_get("", "row_id")?,
            old_row: parse("old_row")?,
            new_row: parse("new_row")?,
        });
    }
    Ok(out)
}

async fn exec(conn: &DatabaseConnection, sql: &str) -> Result<(), DbErr> {
    conn.execute_unprepared(sql).await.map(|_| ())
}

async fn count(conn: &DatabaseConnection, table: &str) -> anyhow::Result<i64> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get("", "n")?)
}

/// Inserts a patient with one name by plain SQL, returning (patient id, name id).
async fn insert_patient_by_hand(db: &TestDb) -> anyhow::Result<(Uuid, Uuid)> {
    let (pid, person, nid) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let b = db.backend;
    exec(
        &db.conn,
        &format!(
            "INSERT INTO patient (id, person_id, gender, birth_date, multiple_birth, \
             created_by, updated_by) VALUES ({}, {}, 'female', '1980-02-29', FALSE, \
             'dba', 'dba')",
            uuid_lit(b, pid),
            uuid_lit(b, person)
        ),
    )
    .await?;
    exec(
        &db.conn,
        &format!(
            "INSERT INTO patient_name (id, patient_id, use, family, given, is_primary, \
             created_by, updated_by) VALUES ({}, {}, 'official', 'Nguyen', \
             '[\"Thi\", \"Lan\"]', TRUE, 'dba', 'dba')",
            uuid_lit(b, nid),
            uuid_lit(b, pid)
        ),
    )
    .await?;
    Ok((pid, nid))
}

#[tokio::test]
async fn plain_sql_writes_are_recorded_with_old_and_new_rows() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let (pid, nid) = insert_patient_by_hand(&db).await?;
        exec(
            &db.conn,
            &format!(
                "UPDATE patient SET gender = 'other', version = version + 1, \
                 updated_by = 'dba2' WHERE id = {}",
                uuid_lit(backend, pid)
            ),
        )
        .await?;
        exec(
            &db.conn,
            &format!("DELETE FROM patient WHERE id = {}", uuid_lit(backend, pid)),
        )
        .await?;

        let log = changes(&db.conn).await?;
        let summary: Vec<(&str, &str)> = log
            .iter()
            .map(|c| (c.table.as_str(), c.operation.as_str()))
            .collect();
        assert_eq!(
            summary[..3],
            [
                ("patient", "INSERT"),
                ("patient_name", "INSERT"),
                ("patient", "UPDATE"),
            ],
            "{backend:?}"
        );
        // The DELETE of the patient cascades to its name, and the cascade is recorded too (the
        // two engines record them in different orders).
        let mut deletes = summary[3..].to_vec();
        deletes.sort_unstable();
        assert_eq!(
            deletes,
            [("patient", "DELETE"), ("patient_name", "DELETE")],
            "{backend:?}"
        );
        assert!(log.windows(2).all(|w| w[0].seq < w[1].seq), "{backend:?}");

        let insert = &log[0];
        assert_eq!(insert.row_id, pid.to_string(), "{backend:?}");
        assert_eq!(insert.old_row, None);
        let new = insert.new_row.as_ref().expect("insert has a new row");
        assert_eq!(new["id"], json!(pid.to_string()), "{backend:?}");
        assert_eq!(new["gender"], json!("female"));
        assert_eq!(new["birth_date"], json!("1980-02-29"));
        assert_eq!(
            new["active"],
            json!(true),
            "{backend:?}: booleans are JSON booleans"
        );
        assert_eq!(new["multiple_birth"], json!(false), "{backend:?}");
        assert_eq!(new["managing_organization_id"], Value::Null);
        assert_eq!(new["version"], json!(1));

        let name_new = log[1].new_row.as_ref().expect("name insert has a new row");
        assert_eq!(log[1].row_id, nid.to_string());
        assert_eq!(
            name_new["patient_id"],
            json!(pid.to_string()),
            "{backend:?}"
        );
        assert_eq!(
            name_new["given"],
            json!(["Thi", "Lan"]),
            "{backend:?}: JSON columns are embedded as JSON"
        );

        let update = &log[2];
        assert_eq!(update.row_id, pid.to_string());
        let (old, new) = (
            update.old_row.as_ref().expect("old"),
            update.new_row.as_ref().expect("new"),
        );
        assert_eq!(
            (&old["gender"], &new["gender"]),
            (&json!("female"), &json!("other"))
        );
        assert_eq!((&old["version"], &new["version"]), (&json!(1), &json!(2)));
        assert_eq!(
            (&old["updated_by"], &new["updated_by"]),
            (&json!("dba"), &json!("dba2"))
        );

        let delete = log
            .iter()
            .find(|c| c.table == "patient" && c.operation == "DELETE")
            .expect("patient delete recorded");
        assert_eq!(delete.row_id, pid.to_string());
        assert_eq!(delete.new_row, None);
        assert_eq!(
            delete.old_row.as_ref().expect("old")["gender"],
            json!("other")
        );
    }
    Ok(())
}

#[tokio::test]
async fn row_json_has_the_same_shape_on_both_engines() -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let (pid, _) = insert_patient_by_hand(&db).await?;
        let (other, _) = insert_patient_by_hand(&db).await?;
        let lit = |id| uuid_lit(backend, id);
        exec(
            &db.conn,
            &format!(
                "INSERT INTO patient_identifier (id, patient_id, type, system, value, \
                 patient_live, created_by, updated_by) \
                 VALUES ({}, {}, 'MR', 'urn:hosp', 'A-1', TRUE, 'dba', 'dba')",
                lit(Uuid::new_v4()),
                lit(pid)
            ),
        )
        .await?;
        exec(
            &db.conn,
            &format!(
                "INSERT INTO patient_link (id, patient_id, other_patient_id, type, origin, score, \
                 created_by, updated_by) VALUES ({}, {}, {}, 'seealso', 'matcher', 0.75, \
                 'dba', 'dba')",
                lit(Uuid::new_v4()),
                lit(pid),
                lit(other)
            ),
        )
        .await?;
        let mut by_table = Vec::new();
        for change in changes(&db.conn).await? {
            let Some(Value::Object(mut row)) = change.new_row else {
                anyhow::bail!("{backend:?}: INSERT without a new row");
            };
            // Timestamps render in the session time zone on PostgreSQL; ids are random.
            for key in [
                "id",
                "patient_id",
                "person_id",
                "other_patient_id",
                "created_at",
                "updated_at",
            ] {
                if let Some(v) = row.get_mut(key) {
                    assert!(v.is_string(), "{backend:?}: {key} = {v}");
                    *v = json!("<redacted>");
                }
            }
            by_table.push((change.table, Value::Object(row)));
        }
        rows.push(by_table);
    }
    assert_eq!(rows[0], rows[1], "SQLite and PostgreSQL change rows differ");
    // The identifier of a live patient is marked live on both engines.
    let identifier = rows[0]
        .iter()
        .rev()
        .find(|(t, _)| t == "patient_identifier")
        .map(|(_, r)| r["patient_live"].clone());
    assert_eq!(identifier, Some(json!(true)));
    Ok(())
}

#[tokio::test]
async fn change_log_and_audit_event_reject_update_and_delete() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        insert_patient_by_hand(&db).await?;
        exec(
            &db.conn,
            "INSERT INTO audit_event (actor, role, action, entity_type, entity_id, prev_hash, \
             hash, created_by, updated_by) VALUES ('desk-1', 'registrar', 'patient.read', \
             'patient', 'p1', 'genesis', 'h1', 'desk-1', 'desk-1')",
        )
        .await?;
        let before = (
            count(&db.conn, "change_log").await?,
            count(&db.conn, "audit_event").await?,
        );
        assert_eq!(before, (2, 1), "{backend:?}");

        for sql in [
            "UPDATE change_log SET operation = 'DELETE'",
            "UPDATE change_log SET row_id = 'elsewhere'",
            "DELETE FROM change_log",
            "DELETE FROM change_log WHERE seq = 1",
            "UPDATE audit_event SET actor = 'someone-else'",
            "DELETE FROM audit_event",
        ] {
            let err = exec(&db.conn, sql)
                .await
                .expect_err(&format!("{backend:?}: `{sql}` must be rejected"));
            assert!(
                err.to_string().contains("append-only"),
                "{backend:?}: `{sql}` failed for another reason: {err}"
            );
        }
        if backend == Backend::Postgres {
            for sql in [
                "TRUNCATE change_log",
                "TRUNCATE audit_event",
                "TRUNCATE patient CASCADE",
            ] {
                exec(&db.conn, sql)
                    .await
                    .expect_err(&format!("`{sql}` must be rejected"));
            }
        }
        let after = (
            count(&db.conn, "change_log").await?,
            count(&db.conn, "audit_event").await?,
        );
        assert_eq!(after, before, "{backend:?}: rows changed");
        let row = db
            .conn
            .query_one_raw(Statement::from_string(
                db.conn.get_database_backend(),
                "SELECT actor FROM audit_event",
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("audit row gone"))?;
        assert_eq!(row.try_get::<String>("", "actor")?, "desk-1");
        // Appending still works.
        exec(
            &db.conn,
            "INSERT INTO audit_event (actor, action, prev_hash, hash, created_by, updated_by) \
             VALUES ('desk-1', 'patient.search', 'h1', 'h2', 'desk-1', 'desk-1')",
        )
        .await?;
        assert_eq!(count(&db.conn, "audit_event").await?, 2);
    }
    Ok(())
}

#[tokio::test]
async fn the_audit_hash_chain_cannot_fork() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let row = |prev: &str, hash: &str| format!("('k', 'a', '{prev}', '{hash}', 'k', 'k')");
        let append = |rows: &[(&str, &str)]| {
            let values: Vec<String> = rows.iter().map(|(p, h)| row(p, h)).collect();
            format!(
                "INSERT INTO audit_event (actor, action, prev_hash, hash, created_by, updated_by) \
                 VALUES {}",
                values.join(", ")
            )
        };
        exec(&db.conn, &append(&[("genesis", "h1")])).await?;
        exec(&db.conn, &append(&[("h1", "h2")])).await?;
        // A second row claiming to follow h1 would fork the chain.
        let fork = exec(&db.conn, &append(&[("h1", "h3")]))
            .await
            .expect_err(&format!("{backend:?}: a fork after h1 was admitted"));
        assert!(
            fork.to_string().contains(migration::AUDIT_FORK_REFUSED),
            "{backend:?}: {fork}"
        );
        // So would a row following no row at all, once the chain has one.
        assert!(
            exec(&db.conn, &append(&[("genesis", "h4")])).await.is_err(),
            "{backend:?}: a second first row was admitted"
        );
        // Several rows in one statement, each following the one before it.
        exec(
            &db.conn,
            &append(&[("h2", "h5"), ("h5", "h6"), ("h6", "h7")]),
        )
        .await?;
        // One statement whose third row forks the chain writes none of its rows.
        assert!(
            exec(
                &db.conn,
                &append(&[("h7", "h8"), ("h8", "h9"), ("h8", "h10")])
            )
            .await
            .is_err(),
            "{backend:?}: a fork inside a statement was admitted"
        );
        let chain: Vec<(i64, String, String)> = db
            .conn
            .query_all_raw(Statement::from_string(
                db.conn.get_database_backend(),
                "SELECT seq, prev_hash, hash FROM audit_event ORDER BY seq",
            ))
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64>("", "seq")?,
                    r.try_get::<String>("", "prev_hash")?,
                    r.try_get::<String>("", "hash")?,
                ))
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        let links: Vec<(&str, &str)> = chain
            .iter()
            .map(|(_, p, h)| (p.as_str(), h.as_str()))
            .collect();
        assert_eq!(
            links,
            [
                ("genesis", "h1"),
                ("h1", "h2"),
                ("h2", "h5"),
                ("h5", "h6"),
                ("h6", "h7")
            ],
            "{backend:?}"
        );
        assert!(chain.windows(2).all(|w| w[0].0 < w[1].0), "{backend:?}");
    }
    Ok(())
}

#[tokio::test]
async fn postgres_serialises_every_audit_writer_and_refuses_old_snapshots() -> anyhow::Result<()> {
    use migration::sea_orm::{AccessMode, IsolationLevel, TransactionTrait};

    let db = TestDb::migrated(Backend::Postgres).await;
    let append = |prev: &str, hash: &str| {
        format!(
            "INSERT INTO audit_event (actor, action, prev_hash, hash, created_by, updated_by) \
             VALUES ('k', 'a', '{prev}', '{hash}', 'k', 'k')"
        )
    };
    exec(&db.conn, &append("genesis", "h1")).await?;

    // A writer that takes no lock of its own appends after h1 and has not committed yet ...
    let first = db.conn.begin().await?;
    first.execute_unprepared(&append("h1", "h2")).await?;
    // ... so a second one, on another connection, also claiming to follow h1, waits for it.
    let (conn, fork) = (db.conn.clone(), append("h1", "h3"));
    let second = tokio::spawn(async move { conn.execute_unprepared(&fork).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second writer did not wait");
    first.commit().await?;
    // Once the first commits, the second sees h2 as the last row and is refused.
    let refused = second.await?.expect_err("a fork after h1 was admitted");
    assert!(
        refused.to_string().contains(migration::AUDIT_FORK_REFUSED),
        "{refused}"
    );

    // A REPEATABLE READ transaction's snapshot could miss the last row: refused outright.
    let old = db
        .conn
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadWrite),
        )
        .await?;
    let refused = old
        .execute_unprepared(&append("h2", "h4"))
        .await
        .expect_err("an append under REPEATABLE READ was admitted");
    assert!(refused.to_string().contains("READ COMMITTED"), "{refused}");
    old.rollback().await?;

    assert_eq!(count(&db.conn, "audit_event").await?, 2);
    exec(&db.conn, &append("h2", "h4")).await?;
    assert_eq!(count(&db.conn, "audit_event").await?, 3);
    Ok(())
}

#[tokio::test]
async fn change_log_seq_cannot_be_chosen_by_the_writer_on_postgres() -> anyhow::Result<()> {
    let db = TestDb::migrated(Backend::Postgres).await;
    let err = exec(
        &db.conn,
        "INSERT INTO change_log (seq, table_name, operation, row_id) \
         VALUES (1000000, 'patient', 'INSERT', 'x')",
    )
    .await
    .expect_err("GENERATED ALWAYS refuses an explicit seq");
    assert!(err.to_string().contains("seq"), "{err}");
    Ok(())
}

#[tokio::test]
async fn postgres_change_log_names_the_writer_set_in_the_transaction() -> anyhow::Result<()> {
    use migration::sea_orm::TransactionTrait;

    let db = TestDb::migrated(Backend::Postgres).await;
    let txn = db.conn.begin().await?;
    txn.execute_unprepared("SELECT set_config('mpi.actor', 'steward-3', true)")
        .await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO patient (id, person_id, created_by, updated_by) \
         VALUES ('{}', '{}', 'steward-3', 'steward-3')",
        Uuid::new_v4(),
        Uuid::new_v4()
    ))
    .await?;
    txn.commit().await?;
    // Without the setting the database user is recorded.
    exec(
        &db.conn,
        &format!(
            "INSERT INTO patient (id, person_id, created_by, updated_by) \
             VALUES ('{}', '{}', 'psql', 'psql')",
            Uuid::new_v4(),
            Uuid::new_v4()
        ),
    )
    .await?;
    let rows = db
        .conn
        .query_all_raw(Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT created_by, current_user::text AS me FROM change_log ORDER BY seq",
        ))
        .await?;
    let writers = rows
        .iter()
        .map(|r| r.try_get::<String>("", "created_by"))
        .collect::<Result<Vec<_>, _>>()?;
    let me: String = rows[0].try_get("", "me")?;
    assert_eq!(writers, ["steward-3".to_owned(), me]);
    Ok(())
}

#[tokio::test]
async fn a_statement_touching_many_rows_records_each_row() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(insert_patient_by_hand(&db).await?.0);
        }
        exec(
            &db.conn,
            "UPDATE patient SET gender = 'male', version = version + 1",
        )
        .await?;
        let updates: Vec<Change> = changes(&db.conn)
            .await?
            .into_iter()
            .filter(|c| c.table == "patient" && c.operation == "UPDATE")
            .collect();
        let mut seen: Vec<String> = updates.iter().map(|c| c.row_id.clone()).collect();
        seen.sort();
        let mut expected: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        expected.sort();
        assert_eq!(seen, expected, "{backend:?}");
        for c in &updates {
            let (old, new) = (c.old_row.as_ref(), c.new_row.as_ref());
            let (old, new) = (old.expect("old"), new.expect("new"));
            // Each old image is paired with the new image of the same row.
            assert_eq!(old["id"], json!(c.row_id), "{backend:?}");
            assert_eq!(new["id"], json!(c.row_id), "{backend:?}");
            assert_eq!(
                (&old["gender"], &new["gender"]),
                (&json!("female"), &json!("male"))
            );
            assert_eq!((&old["version"], &new["version"]), (&json!(1), &json!(2)));
        }
    }
    Ok(())
}

/// The same plain-SQL writes every time (fixed ids), touching every SQLite trigger and every way
/// a UUID is rendered: BLOB ids, an id written as text, a BLOB id of another length, NULL ids,
/// updates and a cascading delete.
async fn write_every_kind_of_change(conn: &DatabaseConnection) -> anyhow::Result<()> {
    let patient = uuid_lit(
        Backend::Sqlite,
        Uuid::from_u128(0x0192_f1c4_6a1b_7c3d_8e4f_0123_4567_89ab),
    );
    let person = uuid_lit(Backend::Sqlite, Uuid::from_u128(0xfeed));
    let name = uuid_lit(Backend::Sqlite, Uuid::from_u128(0xbeef));
    for sql in [
        format!(
            "INSERT INTO patient (id, person_id, gender, birth_date, multiple_birth, \
             created_at, updated_at, created_by, updated_by) VALUES ({patient}, {person}, \
             'female', '1980-02-29', FALSE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', \
             'dba', 'dba')"
        ),
        format!(
            "INSERT INTO patient_name (id, patient_id, use, family, given, is_primary, \
             created_at, updated_at, created_by, updated_by) VALUES ({name}, {patient}, \
             'official', 'Nguyen', '[\"Thi\", \"Lan\"]', TRUE, '2026-01-01T00:00:00Z', \
             '2026-01-01T00:00:00Z', 'dba', 'dba')"
        ),
        // An id written by hand as text (kept as written, upper case and all).
        format!(
            "INSERT INTO patient_identifier (id, patient_id, type, system, value, patient_live, \
             created_at, updated_at, created_by, updated_by) VALUES \
             ('0192F1C4-0000-7000-8000-00000000CAFE', {patient}, 'MR', 'urn:hosp', 'A-1', \
             TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'dba', 'dba')"
        ),
        // A BLOB id of 3 bytes (not a UUID at all), deleted with the patient below.
        format!(
            "INSERT INTO patient_telecom (id, patient_id, system, value, created_at, updated_at, \
             created_by, updated_by) VALUES (X'0A0BFF', {patient}, 'phone', '555-0100', \
             '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'dba', 'dba')"
        ),
        format!("UPDATE patient SET gender = 'other', version = version + 1 WHERE id = {patient}"),
        format!("UPDATE patient_name SET given = '[\"Thi\"]' WHERE id = {name}"),
        format!("DELETE FROM patient WHERE id = {patient}"),
    ] {
        exec(conn, &sql).await?;
    }
    Ok(())
}

/// The log rows of [`write_every_kind_of_change`] without their sequence numbers.
async fn logged_rows(
    conn: &DatabaseConnection,
) -> anyhow::Result<Vec<(String, String, String, Option<Value>, Option<Value>)>> {
    Ok(changes(conn)
        .await?
        .into_iter()
        .map(|c| (c.table, c.operation, c.row_id, c.old_row, c.new_row))
        .collect())
}

#[tokio::test]
async fn sqlite_triggers_of_migrations_10_and_11_log_the_rows_migration_4_logged()
-> anyhow::Result<()> {
    // At the latest migration (11 or later), at 10 and at 9 (migration 4's triggers).
    let current = TestDb::migrated(Backend::Sqlite).await;
    let tenth = TestDb::empty(Backend::Sqlite).await;
    Migrator::up(&tenth.conn, Some(10)).await?;
    let first = TestDb::empty(Backend::Sqlite).await;
    Migrator::up(&first.conn, Some(9)).await?;
    let trigger_sql = |db: &TestDb| {
        let conn = db.conn.clone();
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(
                    conn.get_database_backend(),
                    "SELECT sql FROM sqlite_master WHERE name = 'trg_patient_change_log_update'",
                ))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no trigger"))?;
            anyhow::Ok(row.try_get::<String>("", "sql")?)
        }
    };
    // The three databases really run the three forms of the triggers.
    let (now_sql, tenth_sql, first_sql) = (
        trigger_sql(&current).await?,
        trigger_sql(&tenth).await?,
        trigger_sql(&first).await?,
    );
    assert!(now_sql.contains("AS \"new_id_text\""), "{now_sql}");
    assert!(tenth_sql.contains("LIMIT 1 OFFSET 0") && !tenth_sql.contains("_text\""));
    assert!(!first_sql.contains("LIMIT 1 OFFSET 0"));

    write_every_kind_of_change(&tenth.conn).await?;
    write_every_kind_of_change(&current.conn).await?;
    write_every_kind_of_change(&first.conn).await?;
    let (mut now_rows, then_rows) = (
        logged_rows(&current.conn).await?,
        logged_rows(&first.conn).await?,
    );
    // Columns added since (migrations 16, 19, 20 and 23) are logged with their defaults; beside
    // them the rows are what migration 4's triggers wrote.
    for row in &mut now_rows {
        for image in [&mut row.3, &mut row.4].into_iter().flatten() {
            let image = image.as_object_mut().expect("a row image");
            let added: &[(&str, Value)] = match row.0.as_str() {
                "patient_identifier" => &[("link_key", json!(""))],
                "patient_telecom" => &[("digits_reversed", Value::Null)],
                "patient" => &[
                    ("birth_date_precision", Value::Null),
                    ("mother_maiden_family", Value::Null),
                    ("mother_maiden_given", Value::Null),
                    ("mother_identifier_system", Value::Null),
                    ("mother_identifier_value", Value::Null),
                    ("mother_patient_id", Value::Null),
                ],
                _ => &[],
            };
            for (column, default) in added {
                assert_eq!(image.remove(*column).as_ref(), Some(default), "{}", row.0);
            }
        }
    }
    assert_eq!(now_rows.len(), 10, "{now_rows:#?}");
    assert_eq!(now_rows, then_rows);
    assert_eq!(now_rows, logged_rows(&tenth.conn).await?);

    let identifier = now_rows
        .iter()
        .find(|r| r.0 == "patient_identifier" && r.1 == "INSERT")
        .expect("identifier insert logged");
    assert_eq!(identifier.2, "0192F1C4-0000-7000-8000-00000000CAFE");
    assert_eq!(
        identifier.4.as_ref().expect("new row")["patient_id"],
        json!("0192f1c4-6a1b-7c3d-8e4f-0123456789ab")
    );
    assert_eq!(
        identifier.4.as_ref().expect("new row")["assigner_organization_id"],
        Value::Null
    );
    // A BLOB id of another length than 16 bytes is logged as lowercase hex.
    let telecom = now_rows
        .iter()
        .find(|r| r.0 == "patient_telecom")
        .expect("telecom insert logged");
    assert_eq!(telecom.2, "0a0bff");
    assert_eq!(telecom.4.as_ref().expect("new row")["id"], json!("0a0bff"));

    // One clock reading per log row: the three timestamps are equal and are now.
    let stamps = current
        .conn
        .query_all_raw(Statement::from_string(
            current.conn.get_database_backend(),
            "SELECT changed_at, created_at, updated_at FROM change_log",
        ))
        .await?;
    assert_eq!(stamps.len(), 10);
    for row in stamps {
        let changed: String = row.try_get("", "changed_at")?;
        assert_eq!(changed, row.try_get::<String>("", "created_at")?);
        assert_eq!(changed, row.try_get::<String>("", "updated_at")?);
        let at = chrono::DateTime::parse_from_rfc3339(&changed)?;
        let age = chrono::Utc::now().signed_duration_since(at);
        assert!(age.num_seconds().abs() < 60, "{changed}");
    }
    Ok(())
}

/// The persons queued in `pix_outbox`, in order, as text.
async fn outbox(db: &TestDb) -> anyhow::Result<Vec<String>> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT lower(hex(person_id)) AS p FROM pix_outbox ORDER BY seq",
        Backend::Postgres => {
            "SELECT replace(person_id::text, '-', '') AS p FROM pix_outbox ORDER BY seq"
        }
    };
    let rows = db
        .conn
        .query_all_raw(Statement::from_string(db.conn.get_database_backend(), sql))
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<String>("", "p"))
        .collect::<Result<_, _>>()?)
}

/// The person of patient `id`, as text without hyphens.
async fn person_of(db: &TestDb, id: Uuid) -> anyhow::Result<String> {
    let sql = format!(
        "SELECT person_id FROM patient WHERE id = {}",
        uuid_lit(db.backend, id)
    );
    let row = db
        .conn
        .query_one_raw(Statement::from_string(db.conn.get_database_backend(), sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no patient"))?;
    Ok(row.try_get::<Uuid>("", "person_id")?.simple().to_string())
}

#[tokio::test]
async fn changes_of_a_persons_identifiers_queue_pix_notifications_for_every_consumer()
-> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let lit = |id| uuid_lit(backend, id);
        // No consumer: nothing is queued.
        let (first, _) = insert_patient_by_hand(&db).await?;
        assert!(outbox(&db).await?.is_empty(), "{backend:?}");
        for name in ["HIE", "LAB"] {
            exec(
                &db.conn,
                &format!(
                    "INSERT INTO pix_consumer (id, name, host, port, domains, created_by, \
                     updated_by) VALUES ({}, '{name}', 'localhost', 2575, '[]', 'dba', 'dba')",
                    lit(Uuid::new_v4())
                ),
            )
            .await?;
        }
        // A registration (patient, then identifier): queued per consumer.
        let (second, _) = insert_patient_by_hand(&db).await?;
        let (p1, p2) = (person_of(&db, first).await?, person_of(&db, second).await?);
        assert_eq!(
            outbox(&db).await?,
            vec![p2.clone(), p2.clone()],
            "{backend:?}"
        );
        exec(
            &db.conn,
            &format!(
                "INSERT INTO patient_identifier (id, patient_id, type, system, value, \
                 patient_live, created_by, updated_by) \
                 VALUES ({}, {}, 'MR', 'urn:hosp', 'A-9', TRUE, 'dba', 'dba')",
                lit(Uuid::new_v4()),
                lit(first)
            ),
        )
        .await?;
        assert_eq!(
            outbox(&db).await?[2..],
            [p1.clone(), p1.clone()],
            "{backend:?}"
        );
        // A name change is not an identifier change.
        exec(&db.conn, "UPDATE patient_name SET family = 'Tran'").await?;
        assert_eq!(outbox(&db).await?.len(), 4, "{backend:?}");
        // A link (the second record joins the first's person) changes both persons.
        exec(
            &db.conn,
            &format!(
                "UPDATE patient SET person_id = (SELECT person_id FROM patient WHERE id = {}) \
                 WHERE id = {}",
                lit(first),
                lit(second)
            ),
        )
        .await?;
        let mut queued = outbox(&db).await?[4..].to_vec();
        queued.sort();
        let mut both = vec![p1.clone(), p1.clone(), p2.clone(), p2.clone()];
        both.sort();
        assert_eq!(queued, both, "{backend:?}");
        // Deactivating a record (a merge's retired record) changes its person.
        exec(
            &db.conn,
            &format!(
                "UPDATE patient SET active = FALSE WHERE id = {}",
                lit(first)
            ),
        )
        .await?;
        assert_eq!(
            outbox(&db).await?[8..],
            [p1.clone(), p1.clone()],
            "{backend:?}"
        );
        // An identifier removed; a consumer removed takes its queue with it.
        exec(&db.conn, "DELETE FROM patient_identifier").await?;
        assert_eq!(outbox(&db).await?.len(), 12, "{backend:?}");
        exec(&db.conn, "DELETE FROM pix_consumer WHERE name = 'LAB'").await?;
        assert_eq!(outbox(&db).await?.len(), 6, "{backend:?}");
    }
    Ok(())
}

/// The PMIR subscription outbox (migration 27) as `(patient id without hyphens, event)`, in order.
async fn subscription_outbox(db: &TestDb) -> anyhow::Result<Vec<(String, String)>> {
    let sql = match db.backend {
        Backend::Sqlite => {
            "SELECT lower(hex(patient_id)) AS p, event FROM fhir_subscription_outbox ORDER BY seq"
        }
        Backend::Postgres => {
            "SELECT replace(patient_id::text, '-', '') AS p, event FROM fhir_subscription_outbox \
             ORDER BY seq"
        }
    };
    let rows = db
        .conn
        .query_all_raw(Statement::from_string(db.conn.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String>("", "p")?,
                r.try_get::<String>("", "event")?,
            ))
        })
        .collect()
}

/// Migration 27: every create, change (version, person, active, deleted_at) and delete of a
/// patient queues a row per delivering Subscription (`active` or `error`, not `off`), in the
/// writer's statement; nothing while none delivers; a deleted Subscription takes its queue.
#[tokio::test]
async fn changes_of_patients_queue_pmir_notifications_for_delivering_subscriptions()
-> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let lit = |id| uuid_lit(backend, id);
        let (first, _) = insert_patient_by_hand(&db).await?;
        assert!(subscription_outbox(&db).await?.is_empty(), "{backend:?}");
        let off = Uuid::new_v4();
        for (id, status) in [
            (Uuid::new_v4(), "active"),
            (Uuid::new_v4(), "error"),
            (off, "off"),
        ] {
            exec(
                &db.conn,
                &format!(
                    "INSERT INTO fhir_subscription (id, criteria, channel_type, endpoint, payload, \
                     headers, status, created_by, updated_by) VALUES ({}, 'Patient', 'message', \
                     'http://127.0.0.1:9/pmir', 'application/fhir+json', '[]', '{status}', \
                     'dba', 'dba')",
                    lit(id)
                ),
            )
            .await?;
        }
        // A bad endpoint or status is refused by the schema too.
        assert!(
            exec(
                &db.conn,
                &format!(
                    "INSERT INTO fhir_subscription (id, criteria, channel_type, endpoint, payload, \
                     headers, status, created_by, updated_by) VALUES ({}, 'Patient', 'message', \
                     'ftp://x', 'application/fhir+json', '[]', 'active', 'dba', 'dba')",
                    lit(Uuid::new_v4())
                ),
            )
            .await
            .is_err(),
            "{backend:?}"
        );
        let hex = |id: Uuid| id.simple().to_string();
        let (second, _) = insert_patient_by_hand(&db).await?;
        let created = (hex(second), "create".to_owned());
        assert_eq!(
            subscription_outbox(&db).await?,
            vec![created.clone(), created.clone()],
            "{backend:?}"
        );
        // A name change alone leaves the patient row as it is; the use cases raise its version.
        exec(&db.conn, "UPDATE patient_name SET family = 'Tran'").await?;
        assert_eq!(subscription_outbox(&db).await?.len(), 2, "{backend:?}");
        exec(
            &db.conn,
            &format!(
                "UPDATE patient SET version = version + 1 WHERE id = {}",
                lit(first)
            ),
        )
        .await?;
        let updated = (hex(first), "update".to_owned());
        assert_eq!(
            subscription_outbox(&db).await?[2..],
            [updated.clone(), updated.clone()],
            "{backend:?}"
        );
        // A merge's retired record (inactive), then a soft delete.
        exec(
            &db.conn,
            &format!(
                "UPDATE patient SET active = FALSE WHERE id = {}",
                lit(first)
            ),
        )
        .await?;
        assert_eq!(subscription_outbox(&db).await?.len(), 6, "{backend:?}");
        exec(
            &db.conn,
            &format!(
                "UPDATE patient SET deleted_at = CURRENT_TIMESTAMP WHERE id = {}",
                lit(second)
            ),
        )
        .await?;
        let deleted = (hex(second), "delete".to_owned());
        assert_eq!(
            subscription_outbox(&db).await?[6..],
            [deleted.clone(), deleted.clone()],
            "{backend:?}"
        );
        // An untouched column (gender) queues nothing.
        exec(&db.conn, "UPDATE patient SET gender = 'male'").await?;
        assert_eq!(subscription_outbox(&db).await?.len(), 8, "{backend:?}");
        // Deleting the subscriptions takes their queues.
        exec(
            &db.conn,
            &format!("DELETE FROM fhir_subscription WHERE id <> {}", lit(off)),
        )
        .await?;
        assert!(subscription_outbox(&db).await?.is_empty(), "{backend:?}");
    }
    Ok(())
}

/// Migration 16: a second live row of one `(system, value)` is refused unless the service gave
/// it a `link_key` of its own (a shared links-records identifier); a retired row never counts.
#[tokio::test]
async fn live_identifiers_are_unique_unless_explicitly_shared() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let lit = |id| uuid_lit(backend, id);
        let insert = |patient: Uuid, key: &str| {
            format!(
                "INSERT INTO patient_identifier (id, patient_id, type, system, value, \
                 patient_live, link_key, created_by, updated_by) \
                 VALUES ({}, {}, 'NI', 'urn:nid', 'N-1', TRUE, '{key}', 'dba', 'dba')",
                lit(Uuid::new_v4()),
                lit(patient)
            )
        };
        let (a, _) = insert_patient_by_hand(&db).await?;
        let (b, _) = insert_patient_by_hand(&db).await?;
        let (c, _) = insert_patient_by_hand(&db).await?;
        exec(&db.conn, &insert(a, "")).await?;
        assert!(
            exec(&db.conn, &insert(b, "")).await.is_err(),
            "{backend:?}: a second unshared live row"
        );
        exec(&db.conn, &insert(b, &b.to_string())).await?;
        exec(&db.conn, &insert(c, &c.to_string())).await?;
        assert!(
            exec(&db.conn, &insert(c, &c.to_string())).await.is_err(),
            "{backend:?}: one record shares a value once"
        );
    }
    Ok(())
}

/// Migration 16's down cannot put two live records sharing an identifier back in the schema of
/// one live row per `(system, value)`: it refuses with a message that says so and what to do,
/// changing nothing of its own, and goes through once the shared copy is gone.
#[tokio::test]
async fn down_of_migration_16_refuses_shared_identifiers_clearly() -> anyhow::Result<()> {
    const SIXTEEN: &str = "m20261206_000016_identifier_link_key";
    let position = Migrator::migrations()
        .iter()
        .position(|m| m.name() == SIXTEEN)
        .expect("migration 16");
    let after = Migrator::migrations().len() - position;
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let lit = |id| uuid_lit(backend, id);
        let (a, _) = insert_patient_by_hand(&db).await?;
        let (b, _) = insert_patient_by_hand(&db).await?;
        let copy = Uuid::new_v4();
        for (row, patient, key) in [(Uuid::new_v4(), a, String::new()), (copy, b, b.to_string())] {
            exec(
                &db.conn,
                &format!(
                    "INSERT INTO patient_identifier (id, patient_id, type, system, value, \
                     patient_live, link_key, created_by, updated_by) \
                     VALUES ({}, {}, 'NI', 'urn:nid', 'N-1', TRUE, '{key}', 'dba', 'dba')",
                    lit(row),
                    lit(patient)
                ),
            )
            .await?;
        }
        let refused = Migrator::down(&db.conn, Some(after as u32))
            .await
            .expect_err("down of 16 with a shared identifier");
        let message = refused.to_string();
        assert!(
            message.contains(&format!("cannot revert {SIXTEEN}"))
                && message.contains("1 identifier(s) are held by more than one live record"),
            "{backend:?}: {message}"
        );
        // Migration 16 is still applied, its column and both rows still there.
        let applied = Migrator::get_applied_migrations(&db.conn).await?;
        assert_eq!(applied.len(), position + 1, "{backend:?}");
        assert_eq!(count(&db.conn, "patient_identifier").await?, 2);
        exec(
            &db.conn,
            &format!("DELETE FROM patient_identifier WHERE id = {}", lit(copy)),
        )
        .await?;
        Migrator::down(&db.conn, Some(1)).await?;
        assert_eq!(
            Migrator::get_applied_migrations(&db.conn).await?.len(),
            position,
            "{backend:?}"
        );
        Migrator::up(&db.conn, None).await?;
        assert!(Migrator::get_pending_migrations(&db.conn).await?.is_empty());
    }
    Ok(())
}
