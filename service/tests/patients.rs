//! Patient use cases on both backends: register and read back, validation, the duplicate check,
//! optimistic concurrency, soft delete, search, and concurrent registrations.

mod common;

use common::*;
use entity::enums::{Gender, ReviewStatus};
use entity::review_task;
use migration::testing::Backend;
use sea_orm::{EntityTrait, PaginatorTrait};
use service::Error;
use service::matching::MatchOptions;
use service::patients::{self, PatientInput, PatientQuery, RegisterOutcome};
use uuid::Uuid;

#[tokio::test]
async fn registers_a_rich_patient_and_reads_it_back() {
    for backend in Backend::ALL {
        let (_db, mpi) = setup(backend).await;
        let input = margaret();
        let outcome = patients::register(&mpi, &desk(), input.clone(), false)
            .await
            .unwrap();
        let RegisterOutcome::Created {
            patient,
            review_task_ids,
        } = outcome
        else {
            panic!("{backend:?}: a new patient must be created");
        };
        assert!(review_task_ids.is_empty());
        let read = patients::get(&mpi, &desk(), patient.id()).await.unwrap();
        assert_eq!(read, *patient);
        let rec = &read.record;
        assert_eq!(rec.patient.version, 1);
        assert_eq!(rec.patient.created_by, "desk-1");
        assert_ne!(rec.patient.person_id, rec.patient.id);
        assert_eq!(rec.names.len(), 2);
        assert!(rec.names[0].is_primary && !rec.names[1].is_primary);
        assert_eq!(rec.names[0].family.as_deref(), Some("Whitfield"));
        assert_eq!(rec.names[0].given.0, ["Margaret", "Rose"]);
        assert_eq!(rec.identifiers.len(), 2);
        assert!(rec.identifiers.iter().all(|i| i.patient_live));
        assert_eq!(rec.addresses[0].postal_code.as_deref(), Some("2600"));
        assert_eq!(rec.telecoms.len(), 2);
        // What the service stored converts back to exactly what was given.
        assert_eq!(service::convert::patient_input(rec), input, "{backend:?}");
        assert_eq!(read.replaced_by, None);
        assert_eq!(mpi.index().len(), 1);
    }
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let (_db, mpi) = setup(Backend::Sqlite).await;
    let cases: Vec<(PatientInput, &str)> = vec![
        (
            PatientInput {
                birth_date: Some(chrono::Utc::now().date_naive() + chrono::Days::new(1)),
                ..margaret()
            },
            "birth_date",
        ),
        (
            PatientInput {
                names: vec![],
                identifiers: vec![],
                ..margaret()
            },
            "names",
        ),
        (
            PatientInput {
                names: vec![],
                gender: None,
                birth_date: None,
                ..margaret()
            },
            "names",
        ),
        (
            PatientInput {
                names: vec![patients::NameInput::default()],
                ..margaret()
            },
            "names[0].family",
        ),
        (
            PatientInput {
                names: vec![name("Whitfield", &["Margaret"]), name(" ", &[])],
                ..margaret()
            },
            "names[1].family",
        ),
        (
            PatientInput {
                identifiers: vec![ident("urn:a", "1"), ident("urn:b", "")],
                ..margaret()
            },
            "identifiers[1].value",
        ),
        (
            PatientInput {
                identifiers: vec![ident("", "1")],
                ..margaret()
            },
            "identifiers[0].system",
        ),
        (
            PatientInput {
                multiple_birth_order: Some(2),
                ..margaret()
            },
            "multiple_birth_order",
        ),
    ];
    for (input, field) in cases {
        match patients::register(&mpi, &desk(), input, false).await {
            Err(Error::Validation { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected a validation error on {field}, got {other:?}"),
        }
    }
    assert!(matches!(
        patients::parse_code::<Gender>("gender", "mail"),
        Err(Error::Validation { field, .. }) if field == "gender"
    ));
    assert_eq!(mpi.index().len(), 0);
}

#[tokio::test]
async fn duplicate_check_warns_on_certain_matches_and_force_creates() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let first = register(&mpi, margaret()).await;
        // The same woman again, registered at another desk with another record number.
        let mut again = margaret();
        again.identifiers = vec![ident("urn:mrn:calvary", "C-88")];
        let outcome = patients::register(&mpi, &desk(), again.clone(), false)
            .await
            .unwrap();
        let RegisterOutcome::Duplicates { candidates, .. } = outcome else {
            panic!("{backend:?}: expected duplicates");
        };
        assert_eq!(candidates[0].patient_id, first.id());
        assert_eq!(candidates[0].grade, matcher::MatchDecision::Certain);
        assert!(candidates[0].score > 0.99);
        assert!(!candidates[0].explanation.comparisons.is_empty());
        assert_eq!(
            entity::patient::Entity::find()
                .count(&db.conn)
                .await
                .unwrap(),
            1,
            "nothing is created"
        );
        // Forced: created, audited as forced, and the pair goes to review.
        let RegisterOutcome::Created {
            patient,
            review_task_ids,
        } = patients::register(&mpi, &desk(), again, true)
            .await
            .unwrap()
        else {
            panic!("force creates");
        };
        assert_ne!(patient.id(), first.id());
        assert_eq!(review_task_ids.len(), 1);
        let log = service::audit::query(&db.conn, Default::default())
            .await
            .unwrap();
        assert!(
            log.items
                .iter()
                .any(|e| e.action == "create_forced"
                    && e.entity_id == Some(patient.id().to_string()))
        );
        assert!(log.items.iter().any(|e| e.action == "duplicate_check"));
    }
}

#[tokio::test]
async fn possible_match_creates_the_patient_and_opens_a_review_task() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let first = register(&mpi, margaret()).await;
        // A nickname, the birth year one off, another address, no identifiers or contact
        // points: possibly the same woman. (The full name with day and month swapped at another
        // address is a certain match: a move changes address and town together.)
        let possible = PatientInput {
            birth_date: Some(date(1962, 4, 12)),
            names: vec![name("Whitfield", &["Maggie"])],
            identifiers: vec![],
            addresses: vec![address("2 Mort Street", "Braddon", "2612")],
            telecoms: vec![],
            ..margaret()
        };
        let probe = service::matching::find_matches_for_input(
            &mpi,
            &desk(),
            &possible,
            MatchOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(probe.len(), 1, "{backend:?}: {probe:?}");
        assert_eq!(
            probe[0].grade,
            matcher::MatchDecision::Possible,
            "{backend:?}"
        );
        let RegisterOutcome::Created {
            patient,
            review_task_ids,
        } = patients::register(&mpi, &desk(), possible, false)
            .await
            .unwrap()
        else {
            panic!("a possible match does not block");
        };
        assert_eq!(review_task_ids.len(), 1);
        let task = review_task::Entity::find_by_id(review_task_ids[0])
            .one(&db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(task.status, ReviewStatus::Open);
        let pair = entity::pair::ordered_pair(first.id(), patient.id());
        assert_eq!((task.patient_a, task.patient_b), pair);
        assert_eq!(task.created_by, "desk-1");
    }
}

#[tokio::test]
async fn update_replaces_values_and_refuses_a_stale_version() {
    for backend in Backend::ALL {
        let (_db, mpi) = setup(backend).await;
        let p = register(&mpi, margaret()).await;
        let kept_name_id = p.record.names[0].id;
        let mut changed = margaret();
        changed.addresses = vec![address("7 Nile Street", "Deakin", "2600")];
        changed.names.truncate(1);
        changed.telecoms.push(phone("02 6111 2222"));
        let updated = patients::update(&mpi, &desk(), p.id(), 1, changed.clone())
            .await
            .unwrap();
        assert_eq!(updated.version(), 2);
        assert_eq!(updated.record.names.len(), 1);
        assert_eq!(
            updated.record.names[0].id, kept_name_id,
            "unchanged rows are kept"
        );
        assert_eq!(updated.record.addresses[0].lines.0, ["7 Nile Street"]);
        assert_eq!(updated.record.telecoms.len(), 3);
        assert_eq!(service::convert::patient_input(&updated.record), changed);
        match patients::update(&mpi, &desk(), p.id(), 1, margaret()).await {
            Err(Error::StaleVersion { expected, current }) => {
                assert_eq!((expected, current), (1, 2));
            }
            other => panic!("{backend:?}: expected StaleVersion, got {other:?}"),
        }
        let read = patients::get(&mpi, &desk(), p.id()).await.unwrap();
        assert_eq!(read, updated);
    }
}

#[tokio::test]
async fn soft_delete_hides_the_patient_everywhere() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let p = register(&mpi, margaret()).await;
        let other = register(&mpi, oliver()).await;
        patients::delete(&mpi, &desk(), p.id()).await.unwrap();
        assert!(matches!(
            patients::get(&mpi, &desk(), p.id()).await,
            Err(Error::NotFound {
                entity: "patient",
                ..
            })
        ));
        assert!(matches!(
            patients::delete(&mpi, &desk(), p.id()).await,
            Err(Error::NotFound { .. })
        ));
        let found = patients::search(
            &mpi,
            &desk(),
            PatientQuery {
                family: Some("whitfield".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(found.total, 0);
        assert_eq!(mpi.index().len(), 1);
        assert!(mpi.index().read().entry(other.id()).is_some());
        let matches = service::matching::find_matches_for_input(
            &mpi,
            &desk(),
            &margaret(),
            MatchOptions::default(),
        )
        .await
        .unwrap();
        assert!(matches.is_empty());
        // The row is still there, marked.
        let row = entity::patient::Entity::find_by_id(p.id())
            .one(&db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.deleted_by.as_deref(), Some("desk-1"));
        assert_eq!(row.version, 2);
        // Its identifier is free again for a live patient.
        register(&mpi, margaret()).await;
    }
}

#[tokio::test]
async fn search_by_each_criterion_with_pagination() {
    for backend in Backend::ALL {
        let (_db, mpi) = setup(backend).await;
        let m = register(&mpi, margaret()).await;
        let o = register(&mpi, oliver()).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            let p = register(
                &mpi,
                PatientInput {
                    gender: Some(Gender::Male),
                    birth_date: Some(date(1990, 1, 1 + i)),
                    names: vec![name(
                        "Nguyen",
                        &[["An", "Binh", "Chi", "Dung", "Em"][i as usize]],
                    )],
                    identifiers: vec![ident("urn:test", &format!("N-{i}"))],
                    addresses: vec![address("1 Test Street", "Canberra", "2601")],
                    ..Default::default()
                },
            )
            .await;
            ids.push(p.id());
        }
        let chi = ids[2];
        ids.sort();
        let q = |f: fn(&mut PatientQuery)| {
            let mut q = PatientQuery::default();
            f(&mut q);
            q
        };
        let search = |query: PatientQuery| {
            let mpi = mpi.clone();
            async move { patients::search(&mpi, &desk(), query).await.unwrap() }
        };
        let page1 = search(q(|q| {
            q.family = Some("NGUYEN".into());
            q.per_page = 2;
        }))
        .await;
        assert_eq!((page1.total, page1.items.len(), page1.page), (5, 2, 1));
        let page3 = search(PatientQuery {
            family: Some("nguy".into()),
            page: 3,
            per_page: 2,
            ..Default::default()
        })
        .await;
        assert_eq!(page3.items.len(), 1);
        let past_the_end = search(PatientQuery {
            family: Some("nguyen".into()),
            page: 9,
            per_page: 2,
            ..Default::default()
        })
        .await;
        assert_eq!((past_the_end.total, past_the_end.items.len()), (5, 0));
        assert_eq!(page3.total, 5);
        let all: Vec<Uuid> = [page1.items.clone(), page3.items.clone()]
            .concat()
            .iter()
            .map(|p| p.id())
            .collect();
        assert_eq!(
            all,
            [ids[0], ids[1], ids[4]],
            "{backend:?}: pages in id order"
        );

        let one = |page: service::Page<patients::Patient>| {
            page.items.iter().map(|p| p.id()).collect::<Vec<_>>()
        };
        assert_eq!(
            one(search(q(|q| q.given = Some("marg".into()))).await),
            [m.id()]
        );
        assert_eq!(
            one(search(q(|q| q.given = Some("ROSE".into()))).await),
            [m.id()]
        );
        assert_eq!(
            one(search(q(|q| q.name = Some("okonkwo".into()))).await),
            [o.id()]
        );
        assert_eq!(
            one(search(q(|q| q.name = Some("Oliver".into()))).await),
            [o.id()]
        );
        // Maiden names are searchable too.
        assert_eq!(
            one(search(q(|q| q.family = Some("lambert".into()))).await),
            [m.id()]
        );
        // Family and given together: the given name is checked among the family's patients.
        assert_eq!(
            one(search(q(|q| {
                q.family = Some("nguyen".into());
                q.given = Some("ch".into());
            }))
            .await),
            [chi],
            "{backend:?}"
        );
        assert!(
            one(search(q(|q| {
                q.family = Some("Nguyen".into());
                q.given = Some("Margaret".into());
            }))
            .await)
            .is_empty()
        );
        // Family and given together describe one name: the maiden name carries only
        // "Margaret", the married name carries "Rose" too.
        let family_given = |family: &str, given: &str| {
            search(PatientQuery {
                family: Some(family.into()),
                given: Some(given.into()),
                ..Default::default()
            })
        };
        assert_eq!(one(family_given("lambert", "marg").await), [m.id()]);
        assert_eq!(one(family_given("whitfield", "rose").await), [m.id()]);
        assert!(
            one(family_given("lambert", "rose").await).is_empty(),
            "{backend:?}: family and given of different names"
        );
        // A name outside ASCII is found as it is written, on both databases.
        let oz = register(
            &mpi,
            PatientInput {
                gender: Some(Gender::Female),
                birth_date: Some(date(1975, 3, 9)),
                names: vec![name("ÖZTÜRK", &["Ayşe"])],
                identifiers: vec![ident("urn:test", "OZ-1")],
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            one(family_given("ÖZTÜRK", "Ayşe").await),
            [oz.id()],
            "{backend:?}"
        );
        assert_eq!(
            one(family_given("Öz", "ayş").await),
            [oz.id()],
            "{backend:?}"
        );
        // And whatever the case of its letters outside ASCII, in the name or in the search: an
        // HL7 v2 sender's capitals find a name written in small letters, and the other way round.
        assert_eq!(
            one(family_given("öztürk", "AYŞE").await),
            [oz.id()],
            "{backend:?}"
        );
        let mu = register(
            &mpi,
            PatientInput {
                gender: Some(Gender::Female),
                birth_date: Some(date(1961, 11, 2)),
                names: vec![name("Müller", &["Jördis"])],
                identifiers: vec![ident("urn:test", "MU-1")],
                ..Default::default()
            },
        )
        .await;
        for (family, given) in [("MÜLLER", "JÖRDIS"), ("müll", "jör"), ("Müller", "Jördis")] {
            assert_eq!(
                one(family_given(family, given).await),
                [mu.id()],
                "{backend:?}: {family} {given}"
            );
        }
        assert_eq!(
            one(search(q(|q| q.name = Some("JÖRDIS".into()))).await),
            [mu.id()],
            "{backend:?}"
        );
        // The prefix is a prefix, its wildcards are plain characters, and case does not matter.
        for family in ["nguyem", "nguyeo", "nguyena", "ngu%", "ngu_en", "guyen"] {
            let found = search(PatientQuery {
                family: Some(family.into()),
                ..Default::default()
            })
            .await;
            assert_eq!(found.total, 0, "{backend:?}: {family}");
        }
        assert_eq!(
            search(q(|q| q.family = Some("NgUyE".into()))).await.total,
            5
        );
        assert_eq!(
            one(search(q(|q| q.birth_date = Some(date(1961, 4, 12)))).await),
            [m.id()]
        );
        assert_eq!(
            one(search(q(|q| {
                q.identifier = Some(("urn:mrn:canberra-hospital".into(), "MRN-559001".into()))
            }))
            .await),
            [o.id()]
        );
        assert_eq!(
            one(search(q(|q| q.postal_code = Some("2612".into()))).await),
            [o.id()]
        );
        assert_eq!(search(q(|q| q.gender = Some(Gender::Male))).await.total, 6);
        assert_eq!(
            search(q(|q| {
                q.gender = Some(Gender::Male);
                q.postal_code = Some("2601".into());
                q.birth_date = Some(date(1990, 1, 3));
            }))
            .await
            .total,
            1
        );
        // LIKE wildcards in the input are literal.
        assert_eq!(search(q(|q| q.family = Some("%".into()))).await.total, 0);
        assert!(matches!(
            patients::search(&mpi, &desk(), PatientQuery::default()).await,
            Err(Error::Validation { field, .. }) if field == "query"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_with_one_identifier_leave_one_patient() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let mut tasks = Vec::new();
        for i in 0..4 {
            let mpi = mpi.clone();
            tasks.push(tokio::spawn(async move {
                // Different people, one shared identifier: only the duplicate identifier conflicts.
                let input = PatientInput {
                    names: vec![name(&format!("Family{i}"), &[&format!("Given{i}")])],
                    birth_date: Some(date(1950 + i, 1, 1)),
                    identifiers: vec![ident("urn:national", "SAME-1")],
                    ..Default::default()
                };
                patients::register(&mpi, &desk(), input, true).await
            }));
        }
        let mut created = 0;
        let mut conflicts = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(RegisterOutcome::Created { .. }) => created += 1,
                Err(Error::Conflict {
                    code: "duplicate_identifier",
                    ..
                }) => conflicts += 1,
                other => panic!("{backend:?}: unexpected {other:?}"),
            }
        }
        assert_eq!((created, conflicts), (1, 3), "{backend:?}");
        assert_eq!(
            entity::patient::Entity::find()
                .count(&db.conn)
                .await
                .unwrap(),
            1
        );
        assert_eq!(mpi.index().len(), 1);
        assert!(service::audit::verify(&db.conn).await.unwrap().ok);
    }
}
