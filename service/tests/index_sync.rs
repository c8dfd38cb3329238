//! The candidate index across processes on both backends: start-up loads what is stored, and a
//! second `Mpi` over the same database catches up with writes made through the first one and
//! with plain SQL writes.

mod common;

use common::*;
use migration::testing::Backend;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use service::matching::{self, MatchOptions};
use service::patients::{self, PatientInput};
use uuid::Uuid;

#[tokio::test]
async fn start_up_loads_live_active_patients_only() {
    for backend in Backend::ALL {
        let (db, a) = setup(backend).await;
        let m = register(&a, margaret()).await;
        let o = register(&a, oliver()).await;
        let gone = register(
            &a,
            PatientInput {
                names: vec![name("Gone", &["Gina"])],
                ..Default::default()
            },
        )
        .await;
        patients::delete(&a, &desk(), gone.id()).await.unwrap();
        let b = start(&db).await;
        assert_eq!(b.index().len(), 2, "{backend:?}");
        let data = b.index().read();
        assert!(data.entry(m.id()).is_some() && data.entry(o.id()).is_some());
        assert!(data.entry(gone.id()).is_none());
        assert_eq!(data.entry(m.id()).unwrap().version, 1);
    }
}

#[tokio::test]
async fn a_second_instance_catches_up_with_the_first_and_with_plain_sql() {
    for backend in Backend::ALL {
        let (db, a) = setup(backend).await;
        let b = start(&db).await;
        let m = register(&a, margaret()).await;
        let query = || matcher::PersonRecord {
            given_names: vec!["Margaret".into()],
            family_names: vec!["Whitfield".into()],
            birth_date: Some("1961-04-12".into()),
            ..Default::default()
        };
        let before = matching::find_matches(&b, &desk(), &query(), MatchOptions::default())
            .await
            .unwrap();
        assert!(before.is_empty(), "{backend:?}: B has not caught up yet");
        let caught = b.catch_up().await.unwrap();
        assert!(caught.patients_refreshed >= 1);
        assert!(caught.to_seq > caught.from_seq);
        let after = matching::find_matches(&b, &desk(), &query(), MatchOptions::default())
            .await
            .unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].patient_id, m.id());

        // Nothing new: nothing refreshed.
        let idle = b.catch_up().await.unwrap();
        assert_eq!(idle.patients_refreshed, 0);
        assert_eq!(idle.from_seq, caught.to_seq);

        // A patient written with plain SQL, outside any service.
        let id = Uuid::new_v4();
        let (patient_sql, name_sql) = match backend {
            Backend::Postgres => (
                "INSERT INTO patient (id, person_id, active, gender, birth_date, deceased, version, \
                 created_by, updated_by) VALUES ($1, $2, true, 'male', '1987-11-03', false, 1, 'sql', 'sql')",
                "INSERT INTO patient_name (id, patient_id, is_primary, family, given, prefix, suffix, \
                 created_by, updated_by) VALUES ($1, $2, true, 'Okonkwo', '[\"Oliver\"]', '[]', '[]', 'sql', 'sql')",
            ),
            Backend::Sqlite => (
                "INSERT INTO patient (id, person_id, active, gender, birth_date, deceased, version, \
                 created_by, updated_by) VALUES (?, ?, 1, 'male', '1987-11-03', 0, 1, 'sql', 'sql')",
                "INSERT INTO patient_name (id, patient_id, is_primary, family, given, prefix, suffix, \
                 created_by, updated_by) VALUES (?, ?, 1, 'Okonkwo', '[\"Oliver\"]', '[]', '[]', 'sql', 'sql')",
            ),
        };
        let db_backend: DbBackend = db.conn.get_database_backend();
        db.conn
            .execute_raw(Statement::from_sql_and_values(
                db_backend,
                patient_sql,
                [id.into(), Uuid::new_v4().into()],
            ))
            .await
            .unwrap();
        db.conn
            .execute_raw(Statement::from_sql_and_values(
                db_backend,
                name_sql,
                [Uuid::new_v4().into(), id.into()],
            ))
            .await
            .unwrap();
        for mpi in [&a, &b] {
            mpi.catch_up().await.unwrap();
            let found = matching::find_matches_for_input(
                mpi,
                &desk(),
                &PatientInput {
                    names: vec![name("Okonkwo", &["Oliver"])],
                    birth_date: Some(date(1987, 11, 3)),
                    ..Default::default()
                },
                MatchOptions::default(),
            )
            .await
            .unwrap();
            assert_eq!(found.len(), 1, "{backend:?}");
            assert_eq!(found[0].patient_id, id);
        }

        // A deletion through A leaves B's index after B catches up.
        patients::delete(&a, &desk(), m.id()).await.unwrap();
        assert!(b.index().read().entry(m.id()).is_some());
        b.catch_up().await.unwrap();
        assert!(b.index().read().entry(m.id()).is_none(), "{backend:?}");
        assert_eq!(a.index().len(), b.index().len());
    }
}
