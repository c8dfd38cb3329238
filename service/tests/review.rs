//! The stewards' review queue on both databases: listing (filter, sort, pages, queue depth),
//! one pair side by side with the model's explanation, and each decision.

use chrono::NaiveDate;
use entity::enums::{Gender, LinkType, ReviewStatus, Role};
use entity::patient_ext::PatientRecord;
use entity::{merge_event, review_task};
use migration::testing::{Backend, TestDb};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use service::matching::{self, MatchOptions};
use service::patients::{self, AddressInput, NameInput, PatientInput, RegisterOutcome};
use service::review::{self, Decision, DecisionAction, ReviewFilter};
use service::{Actor, Ctx, Error, Mpi, RequestMeta, ServiceConfig, merge, pairs};
use uuid::Uuid;

fn ctx(role: Role) -> Ctx {
    Ctx {
        actor: Actor {
            name: format!("{role}-key"),
            role,
            source: None,
        },
        meta: RequestMeta::default(),
        unconfirmed_key: None,
    }
}

async fn start(backend: Backend) -> (TestDb, Mpi) {
    let db = TestDb::migrated(backend).await;
    let mpi = Mpi::start(
        db.conn.clone(),
        matcher::Model::builtin(),
        ServiceConfig::default(),
    )
    .await
    .expect("service starts");
    (db, mpi)
}

fn person(given: &str, family: &str, born: (i32, u32, u32), street: &str) -> PatientInput {
    PatientInput {
        gender: Some(Gender::Female),
        birth_date: NaiveDate::from_ymd_opt(born.0, born.1, born.2),
        names: vec![NameInput {
            family: Some(family.into()),
            given: vec![given.into()],
            ..Default::default()
        }],
        addresses: vec![AddressInput {
            lines: vec![street.into()],
            postal_code: Some("2600".into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn register(mpi: &Mpi, input: PatientInput) -> Uuid {
    match patients::register(mpi, &ctx(Role::Registrar), input, true)
        .await
        .unwrap()
    {
        RegisterOutcome::Created { patient, .. } => patient.id(),
        RegisterOutcome::Duplicates { .. } => panic!("force=true must create"),
    }
}

/// Margaret, then her duplicate Peggy (a nickname, same birth date and street).
async fn duplicates(mpi: &Mpi) -> (Uuid, Uuid) {
    let a = register(
        mpi,
        person("Margaret", "Whitfield", (1961, 4, 12), "14 Kent Street"),
    )
    .await;
    let b = register(
        mpi,
        person("Peggy", "Whitfield", (1961, 4, 12), "14 Kent St"),
    )
    .await;
    (a, b)
}

async fn open_task(mpi: &Mpi, a: Uuid, b: Uuid, p: f64) -> Uuid {
    let txn = mpi.write_txn().await.unwrap();
    let id = pairs::open_task(
        &*txn,
        &ctx(Role::Admin),
        a,
        b,
        p,
        1.0,
        serde_json::json!({}),
    )
    .await
    .unwrap()
    .expect("task opened");
    txn.commit().await.unwrap();
    id
}

async fn task(mpi: &Mpi, id: Uuid) -> review_task::Model {
    review_task::Entity::find_by_id(id)
        .one(mpi.db())
        .await
        .unwrap()
        .unwrap()
}

fn code(e: &Error) -> &'static str {
    match e {
        Error::Conflict { code, .. } => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn decision(action: DecisionAction, note: &str) -> Decision {
    Decision {
        action,
        note: Some(note.into()),
    }
}

#[tokio::test]
async fn list_filters_sorts_pages_and_counts_the_open_queue() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let steward = ctx(Role::Steward);
        let people = [
            ("Ava", "Stone", (1931, 1, 2), "1 Elm Road"),
            ("Ben", "Okoro", (1945, 3, 4), "22 Hill Street"),
            ("Cy", "Patel", (1958, 5, 6), "3 Bay Lane"),
            ("Dee", "Nguyen", (1972, 7, 8), "40 Park Avenue"),
            ("Eli", "Rossi", (1986, 9, 10), "5 River Close"),
            ("Fay", "Kowalski", (1999, 11, 12), "66 Mill Way"),
        ];
        let mut ids = Vec::new();
        for (g, f, b, s) in people {
            ids.push(register(&mpi, person(g, f, b, s)).await);
        }
        assert_eq!(
            review_task::Entity::find().count(mpi.db()).await.unwrap(),
            0,
            "unrelated people"
        );
        let t09 = open_task(&mpi, ids[0], ids[1], 0.9).await;
        let t05 = open_task(&mpi, ids[0], ids[2], 0.5).await;
        let t07 = open_task(&mpi, ids[1], ids[3], 0.7).await;
        let t03 = open_task(&mpi, ids[2], ids[4], 0.3).await;
        let t06 = open_task(&mpi, ids[3], ids[5], 0.6).await;
        review::decide(
            &mpi,
            &steward,
            t03,
            decision(DecisionAction::NotDuplicate, "different"),
        )
        .await
        .unwrap();

        let all = review::list(&mpi, &steward, ReviewFilter::default())
            .await
            .unwrap();
        let order: Vec<Uuid> = all.tasks.items.iter().map(|t| t.id).collect();
        assert_eq!(
            order,
            [t09, t07, t06, t05, t03],
            "{backend:?}: highest score first"
        );
        assert_eq!(
            (all.tasks.total, all.tasks.page, all.tasks.per_page),
            (5, 1, 20)
        );
        assert_eq!(all.queue_depth, 4);

        let open = review::list(
            &mpi,
            &steward,
            ReviewFilter {
                status: Some(ReviewStatus::Open),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            open.tasks.items.iter().map(|t| t.id).collect::<Vec<_>>(),
            [t09, t07, t06, t05]
        );
        let decided = review::list(
            &mpi,
            &steward,
            ReviewFilter {
                status: Some(ReviewStatus::NotDuplicate),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            decided.tasks.items.iter().map(|t| t.id).collect::<Vec<_>>(),
            [t03]
        );
        assert_eq!(decided.queue_depth, 4, "queue depth ignores the filter");

        let band = review::list(
            &mpi,
            &steward,
            ReviewFilter {
                min_score: Some(0.5),
                max_score: Some(0.7),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            band.tasks.items.iter().map(|t| t.id).collect::<Vec<_>>(),
            [t07, t06, t05]
        );
        assert_eq!(band.tasks.total, 3);

        let page2 = review::list(
            &mpi,
            &steward,
            ReviewFilter {
                page: 2,
                per_page: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            page2.tasks.items.iter().map(|t| t.id).collect::<Vec<_>>(),
            [t06, t05]
        );
        assert_eq!(
            (page2.tasks.total, page2.tasks.page, page2.tasks.per_page),
            (5, 2, 2)
        );
        let page3 = review::list(
            &mpi,
            &steward,
            ReviewFilter {
                page: 3,
                per_page: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            page3.tasks.items.iter().map(|t| t.id).collect::<Vec<_>>(),
            [t03]
        );
        let beyond = review::list(
            &mpi,
            &steward,
            ReviewFilter {
                page: 9,
                per_page: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(beyond.tasks.items.is_empty());
        assert_eq!(beyond.tasks.total, 5);

        for bad in [
            ReviewFilter {
                min_score: Some(1.5),
                ..Default::default()
            },
            ReviewFilter {
                max_score: Some(-0.1),
                ..Default::default()
            },
            ReviewFilter {
                min_score: Some(0.8),
                max_score: Some(0.2),
                ..Default::default()
            },
        ] {
            let e = review::list(&mpi, &steward, bad).await.unwrap_err();
            assert!(matches!(e, Error::Validation { .. }), "{e:?}");
        }
        let e = review::list(&mpi, &ctx(Role::Registrar), ReviewFilter::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");
    }
}

#[tokio::test]
async fn list_filters_by_when_the_task_was_opened() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let steward = ctx(Role::Steward);
        let mut ids = Vec::new();
        for (g, f, b, s) in [
            ("Ava", "Stone", (1931, 1, 2), "1 Elm Road"),
            ("Ben", "Okoro", (1945, 3, 4), "22 Hill Street"),
            ("Cy", "Patel", (1958, 5, 6), "3 Bay Lane"),
        ] {
            ids.push(register(&mpi, person(g, f, b, s)).await);
        }
        let old = open_task(&mpi, ids[0], ids[1], 0.9).await;
        let new = open_task(&mpi, ids[1], ids[2], 0.8).await;
        // The first task was opened long ago (written in another zone than UTC on purpose).
        let long_ago = chrono::DateTime::parse_from_rfc3339("2020-03-01T09:30:00+02:00").unwrap();
        review_task::Entity::update_many()
            .col_expr(
                review_task::Column::CreatedAt,
                sea_orm::sea_query::Expr::value(
                    long_ago.with_timezone(&chrono::Utc).fixed_offset(),
                ),
            )
            .filter(review_task::Column::Id.eq(old))
            .exec(mpi.db())
            .await
            .unwrap();
        let at = |s: &str| Some(chrono::DateTime::parse_from_rfc3339(s).unwrap());
        let listed = |from, to| {
            let mpi = mpi.clone();
            let steward = steward.clone();
            async move {
                review::list(
                    &mpi,
                    &steward,
                    ReviewFilter {
                        from,
                        to,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .tasks
                .items
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            listed(at("2021-01-01T00:00:00Z"), None).await,
            [new],
            "{backend:?}"
        );
        assert_eq!(listed(None, at("2021-01-01T00:00:00Z")).await, [old]);
        // Bounds: `from` is inclusive, `to` exclusive, whatever the zone they are written in.
        assert_eq!(
            listed(at("2020-03-01T07:30:00Z"), at("2020-03-01T07:30:01Z")).await,
            [old]
        );
        assert_eq!(
            listed(at("2020-03-01T09:30:00+02:00"), None).await,
            [old, new]
        );
        assert_eq!(
            listed(None, at("2020-03-01T09:30:00+02:00")).await,
            Vec::<Uuid>::new()
        );
        let e = review::list(
            &mpi,
            &steward,
            ReviewFilter {
                from: at("2021-01-01T00:00:00Z"),
                to: at("2020-01-01T00:00:00Z"),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");
    }
}

#[tokio::test]
async fn get_shows_both_records_with_the_models_explanation() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let steward = ctx(Role::Steward);
        let (a, b) = duplicates(&mpi).await;
        let id = open_task(&mpi, a, b, 0.8).await;
        let view = review::get(&mpi, &steward, id).await.unwrap();
        let (first, second) = entity::pair::ordered_pair(a, b);
        assert_eq!(view.task.id, id);
        assert_eq!((view.a.id(), view.b.id()), (first, second));
        assert_eq!(
            view.a.record,
            PatientRecord::load(mpi.db(), first).await.unwrap().unwrap()
        );

        // The explanation is the model's, computed from both stored records.
        let left = matcher::normalize(&service::convert::person_from_record(&view.a.record));
        let right = matcher::normalize(&service::convert::person_from_record(&view.b.record));
        assert_eq!(view.explanation, mpi.model().explain(&left, &right));
        let levels: Vec<(&str, &str)> = view
            .explanation
            .comparisons
            .iter()
            .map(|c| (c.comparison.as_str(), c.level.as_str()))
            .collect();
        assert!(
            levels.contains(&("given_name", "nickname")),
            "{backend:?}: {levels:?}"
        );
        assert!(levels.contains(&("birth_date", "exact")), "{levels:?}");

        let e = review::get(&mpi, &steward, Uuid::new_v4())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
        let trail = service::audit::query(
            mpi.db(),
            service::audit::AuditFilter {
                entity_id: Some(id.to_string()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(trail.items[0].action, "review.read");
    }
}

#[tokio::test]
async fn not_duplicate_keeps_the_pair_out_of_matching_and_registration() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let steward = ctx(Role::Steward);
        let (a, b) = duplicates(&mpi).await;
        let id = open_task(&mpi, a, b, 0.8).await;
        let query = service::convert::person_from_record(
            &PatientRecord::load(mpi.db(), a).await.unwrap().unwrap(),
        );
        let options = MatchOptions {
            limit: 10,
            min_probability: Some(0.0),
            exclude: Some(a),
        };
        let found = matching::find_matches(&mpi, &steward, &query, options.clone())
            .await
            .unwrap();
        assert!(
            found.iter().any(|c| c.patient_id == b),
            "{backend:?}: proposed before"
        );

        let out = review::decide(
            &mpi,
            &steward,
            id,
            decision(DecisionAction::NotDuplicate, "twins, different people"),
        )
        .await
        .unwrap();
        assert_eq!(out.task.status, ReviewStatus::NotDuplicate);
        assert_eq!(out.task.note.as_deref(), Some("twins, different people"));
        assert_eq!(out.task.decided_by.as_deref(), Some("steward-key"));
        assert!(out.task.decided_at.is_some());
        assert!(out.merge.is_none() && out.links.is_empty());

        let found = matching::find_matches(&mpi, &steward, &query, options)
            .await
            .unwrap();
        assert!(
            found.iter().all(|c| c.patient_id != b),
            "{backend:?}: never proposed again"
        );
        // Registration's task opener leaves the pair decided...
        let txn = mpi.write_txn().await.unwrap();
        let reopened = pairs::open_task(&*txn, &steward, b, a, 0.99, 9.0, serde_json::json!({}))
            .await
            .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(reopened, None);
        // ...and so does a real registration of the same woman again.
        let c = register(
            &mpi,
            person("Margaret", "Whitfield", (1961, 4, 12), "14 Kent Street"),
        )
        .await;
        let pair_tasks = review_task::Entity::find_by_pair(a, b)
            .all(mpi.db())
            .await
            .unwrap();
        assert_eq!(pair_tasks.len(), 1);
        assert_eq!(
            pair_tasks[0], out.task,
            "{backend:?}: the decision stands unchanged"
        );
        let new_tasks = review_task::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(review_task::Column::PatientA.eq(c))
                    .add(review_task::Column::PatientB.eq(c)),
            )
            .count(mpi.db())
            .await
            .unwrap();
        assert!(
            new_tasks >= 1,
            "the new record is reviewed against the others"
        );

        let twice = review::decide(&mpi, &steward, id, decision(DecisionAction::Link, "oops"))
            .await
            .unwrap_err();
        assert_eq!(code(&twice), "task_decided", "{backend:?}");
    }
}

#[tokio::test]
async fn merge_decision_merges_and_closes_the_task_together() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let steward = ctx(Role::Steward);
        let (a, b) = duplicates(&mpi).await;
        let id = open_task(&mpi, a, b, 0.8).await;

        // Not one of the pair: refused, nothing changes.
        let e = review::decide(
            &mpi,
            &steward,
            id,
            decision(
                DecisionAction::Merge {
                    target: Some(Uuid::new_v4()),
                },
                "x",
            ),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");
        assert_eq!(task(&mpi, id).await.status, ReviewStatus::Open);
        // A registrar may not decide.
        let e = review::decide(
            &mpi,
            &ctx(Role::Registrar),
            id,
            decision(DecisionAction::NotDuplicate, "x"),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");

        // Default target: the older record (Margaret, registered first).
        let out = review::decide(
            &mpi,
            &steward,
            id,
            decision(
                DecisionAction::Merge { target: None },
                "same DOB and street",
            ),
        )
        .await
        .unwrap();
        let merged = out.merge.expect("a merge decision merges");
        assert_eq!(
            merged.target.id(),
            a,
            "{backend:?}: the older record survives"
        );
        assert_eq!(merged.source.replaced_by, Some(a));
        assert_eq!(out.task.status, ReviewStatus::Merged);
        assert_eq!(out.task.note.as_deref(), Some("same DOB and street"));
        let event = merge_event::Entity::find_by_id(merged.merge_id.unwrap())
            .one(mpi.db())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event.review_task_id, Some(id));

        // Undo reopens the task exactly; then the steward picks the other survivor.
        merge::undo(&mpi, &steward, merged.merge_id.unwrap())
            .await
            .unwrap();
        let reopened = task(&mpi, id).await;
        assert_eq!(reopened.status, ReviewStatus::Open);
        assert_eq!(
            (reopened.note, reopened.decided_by, reopened.decided_at),
            (None, None, None)
        );
        let out = review::decide(
            &mpi,
            &steward,
            id,
            decision(DecisionAction::Merge { target: Some(b) }, "newer is better"),
        )
        .await
        .unwrap();
        assert_eq!(out.merge.unwrap().target.id(), b);
        let e = review::decide(
            &mpi,
            &steward,
            id,
            decision(DecisionAction::NotDuplicate, "x"),
        )
        .await
        .unwrap_err();
        assert_eq!(code(&e), "task_decided");
    }
}

#[tokio::test]
async fn link_decision_links_both_ways_and_closes_the_task() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let steward = ctx(Role::Steward);
        let (a, b) = duplicates(&mpi).await;
        let id = open_task(&mpi, a, b, 0.8).await;
        // One direction exists already: it is kept, the other is added.
        let existing = service::links::create(&mpi, &steward, b, a, LinkType::SeeAlso, None)
            .await
            .unwrap();
        let out = review::decide(
            &mpi,
            &steward,
            id,
            decision(DecisionAction::Link, "keep both"),
        )
        .await
        .unwrap();
        assert_eq!(out.task.status, ReviewStatus::Linked);
        assert_eq!(out.links.len(), 1);
        assert_eq!(
            (out.links[0].patient_id, out.links[0].other_patient_id),
            (a, b)
        );
        let links = service::links::list(&mpi, &steward, a).await.unwrap();
        let pairs: Vec<(Uuid, Uuid, LinkType)> = links
            .iter()
            .map(|l| (l.patient_id, l.other_patient_id, l.r#type))
            .collect();
        assert_eq!(pairs.len(), 2, "{backend:?}: {pairs:?}");
        assert!(
            pairs.contains(&(a, b, LinkType::SeeAlso))
                && pairs.contains(&(b, a, LinkType::SeeAlso))
        );
        assert!(links.iter().any(|l| l.id == existing.id));
        // Both records stay active.
        for id in [a, b] {
            assert!(
                PatientRecord::load(mpi.db(), id)
                    .await
                    .unwrap()
                    .unwrap()
                    .patient
                    .active
            );
        }
        let e = review::decide(&mpi, &steward, id, decision(DecisionAction::Link, "again"))
            .await
            .unwrap_err();
        assert_eq!(code(&e), "task_decided", "{backend:?}");
        assert!(service::audit::verify(mpi.db()).await.unwrap().ok);
    }
}

/// Two stewards decide the same task at once: one decision wins, the other is told the task is
/// decided, and the loser's effects (links) are rolled back with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_decisions_on_one_task_one_wins() {
    for backend in Backend::ALL {
        for round in 0..3 {
            let (_db, mpi) = start(backend).await;
            let (a, b) = duplicates(&mpi).await;
            let id = open_task(&mpi, a, b, 0.8).await;
            let (m1, m2) = (mpi.clone(), mpi.clone());
            let t1 = tokio::spawn(async move {
                let d = decision(DecisionAction::NotDuplicate, "different");
                review::decide(&m1, &ctx(Role::Steward), id, d).await
            });
            let t2 = tokio::spawn(async move {
                review::decide(
                    &m2,
                    &ctx(Role::Admin),
                    id,
                    decision(DecisionAction::Link, "same"),
                )
                .await
            });
            let (o1, o2) = (t1.await.unwrap(), t2.await.unwrap());
            assert_eq!(
                o1.is_ok() as u8 + o2.is_ok() as u8,
                1,
                "{backend:?} round {round}: {o1:?} / {o2:?}"
            );
            let loser = if o1.is_ok() { &o2 } else { &o1 };
            assert_eq!(code(loser.as_ref().unwrap_err()), "task_decided");
            let now = task(&mpi, id).await;
            let links = service::links::list(&mpi, &ctx(Role::Steward), a)
                .await
                .unwrap();
            if o1.is_ok() {
                assert_eq!(now.status, ReviewStatus::NotDuplicate);
                assert!(
                    links.is_empty(),
                    "{backend:?}: the losing link decision left no link"
                );
            } else {
                assert_eq!(now.status, ReviewStatus::Linked);
                assert_eq!(links.len(), 2);
            }
        }
    }
}

#[tokio::test]
async fn a_merge_naming_another_pairs_task_is_refused() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let steward = ctx(Role::Steward);
        let (a, b) = duplicates(&mpi).await;
        let c = register(&mpi, person("Joan", "Okafor", (1990, 1, 30), "2 Low Road")).await;
        let other = open_task(&mpi, a, c, 0.6).await;
        let req = merge::MergeRequest {
            target: a,
            source: b,
            preview: false,
            review_task_id: Some(other),
        };
        let e = merge::merge(&mpi, &steward, req).await.unwrap_err();
        assert!(
            matches!(e, Error::Validation { ref field, .. } if field == "review_task_id"),
            "{backend:?}: {e:?}"
        );
        assert!(
            PatientRecord::load(mpi.db(), b)
                .await
                .unwrap()
                .unwrap()
                .patient
                .active
        );
        assert_eq!(task(&mpi, other).await.status, ReviewStatus::Open);
    }
}
