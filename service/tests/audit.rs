//! The audit trail on both backends: a row per read and write with the actor and request, a
//! chain that verifies, and tampering behind the service's back detected at the altered row.

mod common;

use common::*;
use entity::audit_event;
use migration::testing::Backend;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use service::audit::{self, AuditEntry, AuditFilter, GENESIS};
use service::context::Role;
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
        assert_eq!(report.rows, 3);
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

/// Every audit row, in chain (`seq`) order.
async fn chain(db: &migration::testing::TestDb) -> Vec<audit_event::Model> {
    audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Seq)
        .all(&db.conn)
        .await
        .unwrap()
}
