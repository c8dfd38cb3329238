//! The audit trail on both backends: a row per read and write with the actor and request, a
//! chain that verifies, and tampering behind the service's back detected at the altered row.

mod common;

use std::time::Duration;

use common::*;
use entity::audit_event;
use migration::testing::Backend;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, TransactionTrait};
use service::audit::{self, AuditEntry, AuditFilter, GENESIS};
use service::context::{Ctx, RequestMeta, Role};
use service::keys;
use service::matching::MatchOptions;
use service::patients::{self, PatientQuery};

#[tokio::test]
async fn every_read_and_write_leaves_a_chained_row_with_the_actor() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let p = register(&mpi, margaret()).await;
        let id = p.id().to_string();
        patients::get(&mpi, &desk(), p.id()).await.unwrap();
        patients::update(&mpi, &desk(), p.id(), 1, oliver())
            .await
            .unwrap();
        patients::search(
            &mpi,
            &desk(),
            PatientQuery {
                family: Some("okonkwo".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        service::matching::find_matches_for_input(
            &mpi,
            &desk(),
            &oliver(),
            MatchOptions::default(),
        )
        .await
        .unwrap();
        patients::delete(&mpi, &desk(), p.id()).await.unwrap();

        let rows = chain(&db).await;
        let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            ["create", "read", "update", "search", "match", "delete"],
            "{backend:?}"
        );
        for r in &rows {
            assert_eq!(r.actor, "desk-1");
            assert_eq!(r.role, Some(Role::Registrar));
            assert_eq!(r.request_id.as_deref(), Some("req-desk-1"));
            assert_eq!(r.client_addr.as_deref(), Some("127.0.0.1"));
            assert_eq!(r.user_agent.as_deref(), Some("service-tests"));
            assert_eq!(r.entity_type.as_deref(), Some("patient"));
        }
        assert_eq!(rows[0].prev_hash, GENESIS);
        for w in rows.windows(2) {
            assert_eq!(w[1].prev_hash, w[0].hash);
        }
        for r in [&rows[0], &rows[1], &rows[2], &rows[5]] {
            assert_eq!(r.entity_id.as_deref(), Some(id.as_str()));
        }
        assert!(rows[0].after.is_some(), "create keeps the after-image");
        assert!(rows[2].before.is_some() && rows[2].after.is_some());
        assert!(rows[5].before.is_some(), "delete keeps the before-image");
        assert_eq!(rows[3].after.as_ref().unwrap()["total"], 1);

        let report = audit::verify(&db.conn).await.unwrap();
        assert_eq!(
            (report.rows, report.ok, report.first_broken_seq),
            (6, true, None)
        );
        assert_eq!((report.broken_count, report.broken.len()), (0, 0));

        let page = audit::query(
            &db.conn,
            AuditFilter {
                entity_type: Some("patient".into()),
                entity_id: Some(id.clone()),
                actor: Some("desk-1".into()),
                per_page: 3,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(page.total, 4);
        assert_eq!(page.items.len(), 3);
        assert_eq!(page.items[0].action, "delete", "newest first");
        let none = audit::query(
            &db.conn,
            AuditFilter {
                actor: Some("someone-else".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(none.total, 0);
        let window = audit::query(
            &db.conn,
            AuditFilter {
                from: Some(rows[1].occurred_at),
                to: Some(rows[3].occurred_at),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(
            window
                .items
                .iter()
                .all(|r| r.seq >= rows[1].seq && r.seq < rows[3].seq)
        );
        assert!(!window.items.is_empty());
    }
}

#[tokio::test]
async fn a_row_altered_behind_the_services_back_is_named() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let ctx = desk();
        for i in 0..5 {
            let txn = mpi.write_txn().await.unwrap();
            audit::record(
                &*txn,
                &ctx,
                AuditEntry::new("read", "patient", Some(format!("p-{i}")))
                    .after(serde_json::json!({"n": i, "z": [1.5, "x"], "a": {"k": null}})),
            )
            .await
            .unwrap();
            txn.commit().await.unwrap();
        }
        assert!(audit::verify(&db.conn).await.unwrap().ok, "{backend:?}");
        let rows = chain(&db).await;
        let target = rows[2].seq;
        // The database refuses the update until its guard is removed.
        let update = format!("UPDATE audit_event SET actor = 'mallory' WHERE seq = {target}");
        assert!(db.conn.execute_unprepared(&update).await.is_err());
        match backend {
            Backend::Postgres => {
                db.conn
                    .execute_unprepared("ALTER TABLE audit_event DISABLE TRIGGER USER")
                    .await
                    .unwrap();
            }
            Backend::Sqlite => {
                db.conn
                    .execute_unprepared("DROP TRIGGER trg_audit_event_no_update")
                    .await
                    .unwrap();
            }
        }
        db.conn.execute_unprepared(&update).await.unwrap();
        let report = audit::verify(&db.conn).await.unwrap();
        assert!(!report.ok);
        assert_eq!(report.first_broken_seq, Some(target), "{backend:?}");
        // Verification goes on past the altered row: the rows after it still verify.
        assert_eq!(report.rows, 5);
        assert_eq!(
            report.broken,
            [audit::BrokenRow {
                seq: target,
                hash_mismatch: true,
                link_mismatch: false,
                unknown_key: false,
                unkeyed: false,
            }],
            "{backend:?}"
        );

        // A second altered row and a removed row are named as well, each once.
        let second = rows[4].seq;
        db.conn
            .execute_unprepared(&format!(
                "UPDATE audit_event SET entity_id = 'p-x' WHERE seq = {second}"
            ))
            .await
            .unwrap();
        if backend == Backend::Sqlite {
            db.conn
                .execute_unprepared("DROP TRIGGER IF EXISTS trg_audit_event_no_delete")
                .await
                .unwrap();
        }
        db.conn
            .execute_unprepared(&format!(
                "DELETE FROM audit_event WHERE seq = {}",
                rows[0].seq
            ))
            .await
            .unwrap();
        let report = audit::verify(&db.conn).await.unwrap();
        let named: Vec<(i64, bool, bool)> = report
            .broken
            .iter()
            .map(|b| (b.seq, b.hash_mismatch, b.link_mismatch))
            .collect();
        assert_eq!(
            named,
            [
                (rows[1].seq, false, true),
                (target, true, false),
                (second, true, false)
            ],
            "{backend:?}"
        );
        assert_eq!((report.rows, report.broken_count), (4, 3));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_each_leave_a_row_before_they_answer_and_the_chain_holds() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let id = register(&mpi, margaret()).await.id();
        let mut tasks = Vec::new();
        for i in 0..24 {
            let mpi = mpi.clone();
            let ctx = ctx_as(&format!("desk-{i}"), Role::Registrar);
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    patients::get(&mpi, &ctx, id).await.map(|_| ())
                } else {
                    service::matching::find_matches_for_input(
                        &mpi,
                        &ctx,
                        &margaret(),
                        MatchOptions::default(),
                    )
                    .await
                    .map(|_| ())
                }
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        // Every read answered only after its row was committed: all 24 are there now, one per
        // reader, and the rows appended in batches still form one unbroken chain.
        let rows = chain(&db).await;
        let mut actors: Vec<&str> = rows
            .iter()
            .filter(|r| r.action == "read" || r.action == "match")
            .map(|r| r.actor.as_str())
            .collect();
        actors.sort_unstable();
        let mut expected: Vec<String> = (0..24).map(|i| format!("desk-{i}")).collect();
        expected.sort_unstable();
        assert_eq!(actors, expected, "{backend:?}");
        let report = audit::verify(&db.conn).await.unwrap();
        assert!(report.ok, "{backend:?}: {report:?}");
        assert_eq!(report.rows, rows.len() as u64);
    }
}

/// A read that found nobody appending appends its batch of audit rows itself, on its own task.
/// When that task is dropped in the middle (as actix drops the handler of a request whose
/// client went away), the batch is finished all the same, and the reads behind it are not left
/// waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_cancelled_while_it_appends_leaves_nobody_waiting_and_its_row_stored() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let id = register(&mpi, margaret()).await.id();
        for round in 0..5 {
            // The chain's lock is held elsewhere, so the read that starts the batch is still
            // appending when its request is dropped.
            let holder = hold_chain_lock(&db).await;
            let gone = ctx_as(&format!("gone-{round}"), Role::Registrar);
            let cancelled = patients::get(&mpi, &gone, id);
            let dropped = tokio::time::timeout(Duration::from_millis(100), cancelled).await;
            assert!(
                dropped.is_err(),
                "{backend:?}: the read answered past the lock"
            );
            holder.rollback().await.unwrap();
            let next = ctx_as(&format!("next-{round}"), Role::Registrar);
            tokio::time::timeout(Duration::from_secs(10), patients::get(&mpi, &next, id))
                .await
                .unwrap_or_else(|_| panic!("{backend:?}: the read after a cancelled one hangs"))
                .unwrap();
        }
        let rows = chain(&db).await;
        let mut actors: Vec<&str> = rows
            .iter()
            .filter(|r| r.action == "read")
            .map(|r| r.actor.as_str())
            .collect();
        actors.sort_unstable();
        let mut expected: Vec<String> = (0..5)
            .flat_map(|i| [format!("gone-{i}"), format!("next-{i}")])
            .collect();
        expected.sort_unstable();
        assert_eq!(actors, expected, "{backend:?}");
        let report = audit::verify(&db.conn).await.unwrap();
        assert!(report.ok, "{backend:?}: {report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_on_one_database_read_and_write_in_turn_and_the_chain_holds() {
    for backend in Backend::ALL {
        let (db, first) = setup(backend).await;
        let second = start(&db).await;
        let id = register(&first, margaret()).await.id();
        for round in 0..8 {
            // Reads on both services at once: each service's read appender last saw the head
            // that it wrote itself, which the other service (and the update below) moves on.
            let mut tasks = Vec::new();
            for i in 0..6 {
                let mpi = if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let ctx = ctx_as(&format!("desk-{round}-{i}"), Role::Registrar);
                tasks.push(tokio::spawn(async move {
                    patients::get(&mpi, &ctx, id).await.map(|_| ())
                }));
            }
            // A write in a use case's transaction, on one service or the other.
            let writer = if round % 2 == 0 { &first } else { &second };
            let input = if round % 2 == 0 { oliver() } else { margaret() };
            // The patient's version: 1 when registered, one more per update.
            patients::update(writer, &desk(), id, round + 1, input)
                .await
                .unwrap();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        }
        let rows = chain(&db).await;
        let reads = rows.iter().filter(|r| r.action == "read").count();
        let updates = rows.iter().filter(|r| r.action == "update").count();
        assert_eq!((reads, updates), (48, 8), "{backend:?}");
        let report = audit::verify(&db.conn).await.unwrap();
        assert!(report.ok, "{backend:?}: {report:?}");
        assert_eq!(report.rows, rows.len() as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_on_two_services_in_turn_chain_after_the_head_the_other_moved() {
    // A registration appends its row after the head its service last wrote (on SQLite without
    // reading it first): when the other service has appended since, that row is refused by the
    // schema's trigger and appended after the head read again. Reads in between take the head
    // the last registration left.
    for backend in Backend::ALL {
        let (db, first) = setup(backend).await;
        let second = start(&db).await;
        let mut ids = Vec::new();
        for round in 0..6 {
            for (i, mpi) in [&first, &first, &second].into_iter().enumerate() {
                let mut input = oliver();
                input.identifiers[0].value = format!("MRN-{round}{i}");
                let id = register(mpi, input).await.id();
                patients::get(mpi, &desk(), id).await.unwrap();
                ids.push(id);
            }
        }
        let rows = chain(&db).await;
        let created = rows
            .iter()
            .filter(|r| r.action.starts_with("create"))
            .count();
        let reads = rows.iter().filter(|r| r.action == "read").count();
        assert_eq!((created, reads), (18, 18), "{backend:?}");
        let report = audit::verify(&db.conn).await.unwrap();
        assert!(report.ok, "{backend:?}: {report:?}");
        assert_eq!(report.rows, rows.len() as u64, "{backend:?}");
    }
}

/// A transaction holding the audit chain's lock: PostgreSQL's advisory lock, SQLite's write
/// lock.
async fn hold_chain_lock(db: &migration::testing::TestDb) -> sea_orm::DatabaseTransaction {
    let txn = db.conn.begin().await.unwrap();
    let sql = match db.backend {
        Backend::Postgres => format!("SELECT pg_advisory_xact_lock({})", audit::ADVISORY_LOCK_KEY),
        Backend::Sqlite => "UPDATE audit_event SET seq = seq WHERE 0".to_owned(),
    };
    txn.execute_unprepared(&sql).await.unwrap();
    txn
}

/// Every audit row, in chain (`seq`) order.
async fn chain(db: &migration::testing::TestDb) -> Vec<audit_event::Model> {
    audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Seq)
        .all(&db.conn)
        .await
        .unwrap()
}

/// The context of a request whose key is checked as the server checks it for a lookup, a
/// search or a match (`keys::authenticate_read`).
async fn reader(mpi: &service::Mpi, secret: &str) -> service::Result<Ctx> {
    let (actor, unconfirmed_key) = keys::authenticate_read(mpi, secret).await?;
    Ok(Ctx {
        actor,
        meta: RequestMeta::default(),
        unconfirmed_key,
    })
}

/// A read whose key came from the server's key cache, as every one of the desk's lookups does
/// after its first: `0` lookup, `1` search, `2` match.
async fn read_as(mpi: service::Mpi, ctx: Ctx, id: uuid::Uuid, kind: usize) -> service::Result<()> {
    match kind {
        0 => patients::get(&mpi, &ctx, id).await.map(|_| ()),
        1 => patients::search(
            &mpi,
            &ctx,
            PatientQuery {
                family: Some("whitfield".into()),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
        _ => service::matching::find_matches_for_input(
            &mpi,
            &ctx,
            &margaret(),
            MatchOptions::default(),
        )
        .await
        .map(|_| ()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_from_the_cache_is_refused_with_its_read_and_leaves_no_row() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let id = register(&mpi, margaret()).await.id();
        let (_, desk_secret) = keys::create(&db.conn, "desk-7", Role::Registrar)
            .await
            .unwrap();
        let (_, ward_secret) = keys::create(&db.conn, "ward-2", Role::Registrar)
            .await
            .unwrap();
        // A key's first request is checked against the database; later ones come from the
        // cache, with the key's hash left to confirm.
        assert_eq!(
            reader(&mpi, &desk_secret).await.unwrap().unconfirmed_key,
            None
        );
        let desk_ctx = reader(&mpi, &desk_secret).await.unwrap();
        assert_eq!(
            desk_ctx.unconfirmed_key,
            Some(keys::hash_secret(&desk_secret)),
            "{backend:?}"
        );
        reader(&mpi, &ward_secret).await.unwrap();
        let ward_ctx = reader(&mpi, &ward_secret).await.unwrap();
        assert!(ward_ctx.unconfirmed_key.is_some());
        for kind in 0..3 {
            read_as(mpi.clone(), desk_ctx.clone(), id, kind)
                .await
                .unwrap();
        }

        keys::revoke(&db.conn, "desk-7").await.unwrap();
        let before = chain(&db).await.len();
        // Both desks read at once, so their rows meet in the same batches: the revoked key's
        // reads are refused, the live key's are answered and recorded.
        let mut tasks = Vec::new();
        for i in 0..12 {
            let ctx = if i % 2 == 0 { &desk_ctx } else { &ward_ctx };
            tasks.push(tokio::spawn(read_as(mpi.clone(), ctx.clone(), id, i % 3)));
        }
        for (i, task) in tasks.into_iter().enumerate() {
            let outcome = task.await.unwrap();
            if i % 2 == 0 {
                assert!(
                    matches!(outcome, Err(service::Error::Unauthenticated("revoked key"))),
                    "{backend:?} read {i}: {outcome:?}"
                );
            } else {
                assert!(outcome.is_ok(), "{backend:?} read {i}: {outcome:?}");
            }
        }
        let rows = chain(&db).await;
        let after: Vec<&str> = rows[before..].iter().map(|r| r.actor.as_str()).collect();
        assert_eq!(after, ["ward-2"; 6], "{backend:?}");
        let report = audit::verify(&db.conn).await.unwrap();
        assert!(report.ok, "{backend:?}: {report:?}");

        // The refusal dropped the key from the cache: it is checked against the database again.
        assert!(matches!(
            reader(&mpi, &desk_secret).await,
            Err(service::Error::Unauthenticated("revoked key"))
        ));
        // A write's transaction confirms such a key too, and changes nothing.
        let refused = patients::update(&mpi, &desk_ctx, id, 1, oliver()).await;
        assert!(
            matches!(refused, Err(service::Error::Unauthenticated(_))),
            "{backend:?}: {refused:?}"
        );
        let stored = patients::get(&mpi, &desk(), id).await.unwrap();
        assert_eq!(stored.version(), 1, "{backend:?}");
    }
}

#[test]
fn the_service_knows_the_schemas_fork_guard() {
    // A stale head is recognised by this text (and then re-read); if the two drifted apart, a
    // read's audit append would fail instead of trying again.
    assert_eq!(audit::FORK_REFUSED, migration::AUDIT_FORK_REFUSED);
    // The PostgreSQL trigger takes the appenders' lock: with another key, appenders and the
    // trigger would not serialise each other.
    assert_eq!(audit::ADVISORY_LOCK_KEY, migration::AUDIT_CHAIN_LOCK_KEY);
}
