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

        // A plain-SQL change to a child row alone: the catch-up finds its patient inside the
        // logged row image.
        let before = b.index().read().entry(id).unwrap().record.clone();
        let rename = match backend {
            Backend::Postgres => "UPDATE patient_name SET family = 'Okafor' WHERE patient_id = $1",
            Backend::Sqlite => "UPDATE patient_name SET family = 'Okafor' WHERE patient_id = ?",
        };
        db.conn
            .execute_raw(Statement::from_sql_and_values(
                db_backend,
                rename,
                [id.into()],
            ))
            .await
            .unwrap();
        for mpi in [&a, &b] {
            let caught = mpi.catch_up().await.unwrap();
            assert_eq!(caught.patients_refreshed, 1, "{backend:?}");
            let after = mpi.index().read().entry(id).unwrap().record.clone();
            assert_ne!(
                after, before,
                "{backend:?}: the rename did not reach the index"
            );
            assert_eq!(after.family.len(), 1);
            assert_ne!(after.family, before.family, "{backend:?}");
            assert_eq!(after.given, before.given, "{backend:?}");
        }

        // A deletion through A leaves B's index after B catches up.
        patients::delete(&a, &desk(), m.id()).await.unwrap();
        assert!(b.index().read().entry(m.id()).is_some());
        b.catch_up().await.unwrap();
        assert!(b.index().read().entry(m.id()).is_none(), "{backend:?}");
        assert_eq!(a.index().len(), b.index().len());
    }
}

/// Catch-ups after another process wrote more patients than one refresh statement reads
/// (200): every one arrives with the same normalized record as in the writer's index, then a
/// patient updated meanwhile arrives at its new version and the deleted ones leave.
#[tokio::test]
async fn a_catch_up_over_hundreds_of_patients_refreshes_every_one() {
    for backend in Backend::ALL {
        let (db, a) = setup(backend).await;
        let b = start(&db).await;
        let mut ids = Vec::new();
        for i in 0..450u32 {
            let p = register(
                &a,
                PatientInput {
                    birth_date: Some(date(1940 + (i % 60) as i32, 1 + i % 12, 1 + i % 28)),
                    names: vec![name(&format!("Family{i}"), &[&format!("Given{i}")])],
                    identifiers: vec![ident("urn:mrn:catch-up", &format!("MRN-{i}"))],
                    ..Default::default()
                },
            )
            .await;
            ids.push((p.id(), p.version()));
        }
        assert!(b.index().is_empty(), "{backend:?}: B has not caught up yet");
        let caught = b.catch_up().await.unwrap();
        assert_eq!(caught.patients_refreshed, 450, "{backend:?}");
        assert_eq!(b.index().len(), 450, "{backend:?}");
        let same_as_writer = |b: &service::Mpi| {
            let (a_data, b_data) = (a.index().read(), b.index().read());
            assert_eq!(a_data.len(), b_data.len(), "{backend:?}");
            for (id, _) in &ids {
                match (a_data.entry(*id), b_data.entry(*id)) {
                    (None, None) => {}
                    (Some(want), Some(held)) => {
                        assert_eq!(held.version, want.version, "{backend:?}");
                        assert_eq!(held.person_id, want.person_id, "{backend:?}");
                        assert_eq!(held.record, want.record, "{backend:?}: {id}");
                    }
                    (want, held) => panic!("{backend:?}: {id}: {want:?} in A, {held:?} in B"),
                }
            }
        };
        same_as_writer(&b);

        let (renamed, version) = ids[7];
        patients::update(
            &a,
            &desk(),
            renamed,
            version,
            PatientInput {
                birth_date: Some(date(1950, 6, 6)),
                names: vec![name("Renamed", &["Given7"])],
                identifiers: vec![ident("urn:mrn:catch-up", "MRN-7")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let deleted = [ids[0].0, ids[201].0, ids[449].0];
        for id in deleted {
            patients::delete(&a, &desk(), id).await.unwrap();
        }
        let caught = b.catch_up().await.unwrap();
        assert_eq!(caught.patients_refreshed, 4, "{backend:?}");
        assert_eq!(b.index().len(), 447, "{backend:?}");
        for id in deleted {
            assert!(
                b.index().read().entry(id).is_none(),
                "{backend:?}: {id} still indexed"
            );
        }
        assert_eq!(b.index().read().entry(renamed).unwrap().version, 2);
        same_as_writer(&b);
    }
}
