//! Reads that showed patient data without leaving a row: reading the audit trail itself, and
//! a `duplicate_identifier` refusal that names the patient holding an identifier.

mod common;

use common::*;
use entity::audit_event;
use migration::testing::Backend;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;
use service::audit::{self, AuditFilter};
use service::context::Role;
use service::patients;

async fn last_rows(db: &migration::testing::TestDb, n: usize) -> Vec<audit_event::Model> {
    let mut rows = audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Seq)
        .all(&db.conn)
        .await
        .unwrap();
    rows.truncate(n);
    rows.reverse();
    rows
}

#[tokio::test]
async fn a_duplicate_identifier_refusal_is_audited_as_a_read_of_its_holder() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let holder = register(&mpi, margaret()).await;
        let other = register(&mpi, oliver()).await;
        let mut taken = oliver();
        taken.identifiers.push(margaret().identifiers[0].clone());
        for outcome in [
            patients::register(&mpi, &desk(), taken.clone(), true)
                .await
                .map(|_| ()),
            patients::update(&mpi, &desk(), other.id(), 1, taken.clone())
                .await
                .map(|_| ()),
        ] {
            let Err(service::Error::Conflict {
                code: "duplicate_identifier",
                ..
            }) = outcome
            else {
                panic!("{backend:?}: expected duplicate_identifier, got {outcome:?}");
            };
            let row = last_rows(&db, 1).await.remove(0);
            assert_eq!(
                (row.action.as_str(), row.entity_type.as_deref()),
                ("read", Some("patient"))
            );
            assert_eq!(row.entity_id, Some(holder.id().to_string()), "{backend:?}");
            assert_eq!(row.actor, "desk-1");
            assert_eq!(
                row.before,
                Some(json!({"reason": "duplicate_identifier", "field": "identifiers[1]"}))
            );
        }
        assert!(audit::verify(&db.conn).await.unwrap().ok);
    }
}

#[tokio::test]
async fn reading_the_trail_is_audited_and_shows_images_only_when_asked() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let p = register(&mpi, margaret()).await;
        let auditor = ctx_as("auditor-1", Role::Auditor);
        let filter = AuditFilter {
            entity_id: Some(p.id().to_string()),
            ..Default::default()
        };
        let plain = audit::read_trail(&mpi, &auditor, filter.clone(), false)
            .await
            .unwrap();
        assert_eq!(plain.total, 1);
        assert_eq!(
            (&plain.items[0].before, &plain.items[0].after),
            (&None, &None)
        );
        let row = last_rows(&db, 1).await.remove(0);
        assert_eq!(row.action, "audit_read", "{backend:?}");
        assert_eq!(row.actor, "auditor-1");
        assert_eq!(row.before.as_ref().unwrap()["entity_id"], json!(p.id()));
        assert_eq!(row.before.as_ref().unwrap()["include_images"], false);
        assert_eq!(
            row.after,
            Some(json!({"total": 1, "seqs": [plain.items[0].seq]}))
        );

        let full = audit::read_trail(&mpi, &auditor, filter, true)
            .await
            .unwrap();
        assert!(full.items[0].after.is_some(), "{backend:?}");
        let rows = last_rows(&db, 2).await;
        assert_eq!(rows[0].action, "audit_read");
        assert_eq!(rows[0].before.as_ref().unwrap()["include_images"], true);
        assert_eq!(
            (rows[1].action.as_str(), rows[1].entity_id.clone()),
            ("read", Some(p.id().to_string())),
            "{backend:?}"
        );

        // A role that may not read the trail reads nothing and leaves no row.
        let refused = audit::read_trail(&mpi, &desk(), AuditFilter::default(), false).await;
        assert!(matches!(refused, Err(service::Error::Forbidden { .. })));
        assert_eq!(last_rows(&db, 1).await[0].seq, rows[1].seq);
        assert!(audit::verify(&db.conn).await.unwrap().ok);
    }
}
