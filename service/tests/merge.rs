//! Merge, preview and undo on both databases: what the survivor gains, what undo restores
//! (compared row by row with the before-images), conflicts, and two merges racing.

use chrono::NaiveDate;
use entity::enums::{LinkType, ReviewStatus, Role, TelecomSystem, TelecomUse};
use entity::patient_ext::PatientRecord;
use entity::{merge_event, patient_identifier, review_task};
use migration::testing::{Backend, TestDb};
use sea_orm::{EntityTrait, PaginatorTrait};
use service::merge::{self, MergeOutcome, MergeRequest};
use service::patients::{
    self, AddressInput, IdentifierInput, NameInput, PatientInput, RegisterOutcome, TelecomInput,
};
use service::{Actor, Ctx, Error, Mpi, RequestMeta, ServiceConfig, links, pairs};
use uuid::Uuid;

fn steward() -> Ctx {
    Ctx {
        actor: Actor {
            name: "steward-1".into(),
            role: Role::Steward,
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

fn person(
    given: &str,
    family: &str,
    born: (i32, u32, u32),
    mrn: (&str, &str),
    street: &str,
    phone: &str,
    email: &str,
) -> PatientInput {
    PatientInput {
        gender: Some(entity::enums::Gender::Female),
        birth_date: NaiveDate::from_ymd_opt(born.0, born.1, born.2),
        names: vec![NameInput {
            family: Some(family.into()),
            given: vec![given.into()],
            ..Default::default()
        }],
        identifiers: vec![IdentifierInput {
            system: mrn.0.into(),
            value: mrn.1.into(),
            ..Default::default()
        }],
        addresses: vec![AddressInput {
            lines: vec![street.into()],
            city: Some("Canberra".into()),
            postal_code: Some("2600".into()),
            country: Some("AU".into()),
            ..Default::default()
        }],
        telecoms: vec![
            TelecomInput {
                system: TelecomSystem::Phone,
                value: phone.into(),
                r#use: Some(TelecomUse::Mobile),
                rank: None,
                period: None,
            },
            TelecomInput {
                system: TelecomSystem::Email,
                value: email.into(),
                r#use: None,
                rank: None,
                period: None,
            },
        ],
        ..Default::default()
    }
}

async fn register(mpi: &Mpi, input: PatientInput) -> Uuid {
    match patients::register(mpi, &steward(), input, true)
        .await
        .expect("registers")
    {
        RegisterOutcome::Created { patient, .. } => patient.id(),
        RegisterOutcome::Duplicates { .. } => panic!("force=true must create"),
    }
}

/// Margaret (older record) and her duplicate Peggy, plus an unrelated Joan.
async fn three(mpi: &Mpi) -> (Uuid, Uuid, Uuid) {
    let a = register(
        mpi,
        person(
            "Margaret",
            "Whitfield",
            (1961, 4, 12),
            ("urn:mrn:north", "N-1001"),
            "14 Kent Street",
            "+61 2 6123 4567",
            "Margaret.Whitfield@example.org",
        ),
    )
    .await;
    let b = register(
        mpi,
        person(
            "Peggy",
            "Whitfield",
            (1961, 4, 12),
            ("urn:mrn:south", "S-2002"),
            "14 Kent St",
            "0412 555 010",
            "margaret.whitfield@EXAMPLE.org ",
        ),
    )
    .await;
    let c = register(
        mpi,
        person(
            "Joan",
            "Okafor",
            (1990, 1, 30),
            ("urn:mrn:north", "N-3003"),
            "2 Low Road",
            "+61 3 9000 1111",
            "joan@example.org",
        ),
    )
    .await;
    (a, b, c)
}

async fn record(mpi: &Mpi, id: Uuid) -> PatientRecord {
    PatientRecord::load(mpi.db(), id)
        .await
        .unwrap()
        .expect("patient exists")
}

fn conflict_code(e: &Error) -> &'static str {
    match e {
        Error::Conflict { code, .. } => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn open_task(mpi: &Mpi, a: Uuid, b: Uuid, p: f64) -> Uuid {
    let txn = mpi.write_txn().await.unwrap();
    let id = pairs::open_task(&*txn, &steward(), a, b, p, 5.0, serde_json::json!({}))
        .await
        .unwrap()
        .expect("task opened");
    txn.commit().await.unwrap();
    id
}

async fn tasks_of(mpi: &Mpi) -> Vec<review_task::Model> {
    let mut all = review_task::Entity::find().all(mpi.db()).await.unwrap();
    all.sort_by_key(|t| t.id);
    all
}

#[tokio::test]
async fn merge_moves_what_the_survivor_lacks_and_undo_restores_everything_exactly() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let ctx = steward();
        let (a, b, c) = three(&mpi).await;
        // A manual link from the source, and review tasks: the merged pair and a third party.
        links::create(
            &mpi,
            &ctx,
            b,
            c,
            LinkType::SeeAlso,
            Some("same household".into()),
        )
        .await
        .unwrap();
        let pair_task = open_task(&mpi, a, b, 0.7).await;
        let third_task = open_task(&mpi, b, c, 0.4).await;
        let (a_before, b_before, c_before) = (
            record(&mpi, a).await,
            record(&mpi, b).await,
            record(&mpi, c).await,
        );
        let tasks_before = tasks_of(&mpi).await;

        let out = merge::merge(
            &mpi,
            &ctx,
            MergeRequest {
                target: a,
                source: b,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap();
        let merge_id = out.merge_id.expect("a real merge has an id");
        let target = &out.target.record;
        let source = &out.source.record;

        // The survivor keeps its own rows and gains what it lacked, marked with the source.
        for row in &a_before.names {
            assert!(
                target
                    .names
                    .iter()
                    .any(|n| n.id == row.id && n.is_primary == row.is_primary)
            );
        }
        let copied_names: Vec<_> = target
            .names
            .iter()
            .filter(|n| n.source_patient_id == Some(b))
            .collect();
        assert_eq!(
            copied_names.len(),
            1,
            "{backend:?}: Peggy is new to the survivor"
        );
        assert_eq!(copied_names[0].given.as_slice(), ["Peggy"]);
        assert!(!copied_names[0].is_primary);
        let copied_ids: Vec<_> = target
            .identifiers
            .iter()
            .filter(|i| i.source_patient_id == Some(b))
            .map(|i| (i.system.as_str(), i.value.as_str(), i.patient_live))
            .collect();
        assert_eq!(copied_ids, [("urn:mrn:south", "S-2002", true)]);
        // "14 Kent St" differs in content from "14 Kent Street": copied. The phone is new. The
        // e-mail differs only in case and spacing: not copied.
        assert_eq!(
            target
                .addresses
                .iter()
                .filter(|x| x.source_patient_id == Some(b))
                .count(),
            1
        );
        let copied_telecoms: Vec<_> = target
            .telecoms
            .iter()
            .filter(|t| t.source_patient_id == Some(b))
            .map(|t| t.value.as_str())
            .collect();
        assert_eq!(copied_telecoms, ["0412 555 010"]);
        assert_eq!(target.telecoms.len(), 3);

        // The source is retired, linked both ways, shares the person id.
        assert!(!source.patient.active);
        assert_eq!(out.source.replaced_by, Some(a));
        assert_eq!(source.patient.person_id, target.patient.person_id);
        assert_eq!(target.patient.person_id, a_before.patient.person_id);
        assert!(target.links.iter().any(|l| l.patient_id == a
            && l.other_patient_id == b
            && l.r#type == LinkType::Replaces));
        assert!(source.identifiers.iter().all(|i| !i.patient_live));
        assert_eq!(target.patient.version, a_before.patient.version + 1);
        assert_eq!(source.patient.version, b_before.patient.version + 1);
        // The live identifier S-2002 now belongs to the survivor.
        let live = patient_identifier::Entity::find_live_by_system_value("urn:mrn:south", "S-2002")
            .all(mpi.db())
            .await
            .unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].patient_id, a);

        // Open tasks of the source are closed as merged.
        let pair_now = review_task::Entity::find_by_id(pair_task)
            .one(mpi.db())
            .await
            .unwrap()
            .unwrap();
        let third_now = review_task::Entity::find_by_id(third_task)
            .one(mpi.db())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pair_now.status, ReviewStatus::Merged);
        assert_eq!(third_now.status, ReviewStatus::Merged);
        assert_eq!(third_now.decided_by.as_deref(), Some("steward-1"));

        // The merge event holds both before-images.
        let event = merge_event::Entity::find_by_id(merge_id)
            .one(mpi.db())
            .await
            .unwrap()
            .unwrap();
        let stored_a: PatientRecord = serde_json::from_value(event.target_before).unwrap();
        let stored_b: PatientRecord = serde_json::from_value(event.source_before).unwrap();
        assert_eq!(stored_a, a_before);
        assert_eq!(stored_b, b_before);

        // Undo: everything as before, except the new versions and who/when updated.
        let undone = merge::undo(&mpi, &ctx, merge_id).await.unwrap();
        let (a_after, b_after, c_after) = (
            record(&mpi, a).await,
            record(&mpi, b).await,
            record(&mpi, c).await,
        );
        assert!(
            merge::same_except_version(&a_after, &a_before),
            "{backend:?}: target restored"
        );
        assert!(
            merge::same_except_version(&b_after, &b_before),
            "{backend:?}: source restored"
        );
        assert_eq!(c_after, c_before, "{backend:?}: the third record untouched");
        assert_eq!(a_after.patient.version, a_before.patient.version + 2);
        assert_eq!(b_after.patient.version, b_before.patient.version + 2);
        assert_eq!(undone.target.record, a_after);
        assert_eq!(undone.source.record, b_after);
        assert_eq!(
            tasks_of(&mpi).await,
            tasks_before,
            "{backend:?}: tasks reopened exactly"
        );
        let live = patient_identifier::Entity::find_live_by_system_value("urn:mrn:south", "S-2002")
            .all(mpi.db())
            .await
            .unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].patient_id, b);
        let event = merge_event::Entity::find_by_id(merge_id)
            .one(mpi.db())
            .await
            .unwrap()
            .unwrap();
        assert!(event.undone_at.is_some());
        assert_eq!(event.undone_by.as_deref(), Some("steward-1"));

        // Undoing twice is refused.
        let again = merge::undo(&mpi, &ctx, merge_id).await.unwrap_err();
        assert_eq!(conflict_code(&again), "undo_impossible");
    }
}

/// Everything a merge produces except the ids, timestamps and who of rows it creates.
fn content(out: &MergeOutcome) -> serde_json::Value {
    fn scrub(v: &mut serde_json::Value, keep_ids: &std::collections::HashSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("created_at");
                map.remove("updated_at");
                if let Some(serde_json::Value::String(id)) = map.get("id")
                    && !keep_ids.contains(id)
                {
                    map.remove("id");
                }
                if let Some(serde_json::Value::String(r)) = map.get("reason")
                    && r.starts_with("merge ")
                {
                    map.remove("reason");
                }
                for child in map.values_mut() {
                    scrub(child, keep_ids);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    scrub(item, keep_ids);
                }
            }
            _ => {}
        }
    }
    let keep: std::collections::HashSet<String> = [out.target.id(), out.source.id()]
        .iter()
        .map(|id| id.to_string())
        .collect();
    let mut v = serde_json::json!({ "target": out.target, "source": out.source });
    scrub(&mut v, &keep);
    v
}

#[tokio::test]
async fn preview_changes_nothing_and_equals_the_real_merge() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let ctx = steward();
        let (a, b, _c) = three(&mpi).await;
        let (a_before, b_before) = (record(&mpi, a).await, record(&mpi, b).await);

        let preview = merge::merge(
            &mpi,
            &ctx,
            MergeRequest {
                target: a,
                source: b,
                preview: true,
                review_task_id: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(preview.merge_id, None);
        assert!(
            !preview.source.record.patient.active,
            "the preview shows the merged state"
        );
        assert_eq!(
            record(&mpi, a).await,
            a_before,
            "{backend:?}: preview wrote nothing"
        );
        assert_eq!(
            record(&mpi, b).await,
            b_before,
            "{backend:?}: preview wrote nothing"
        );
        assert_eq!(
            merge_event::Entity::find().count(mpi.db()).await.unwrap(),
            0
        );

        let real = merge::merge(
            &mpi,
            &ctx,
            MergeRequest {
                target: a,
                source: b,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(content(&preview), content(&real), "{backend:?}");
        // The preview is audited as a read.
        let audit = service::audit::query(
            mpi.db(),
            service::audit::AuditFilter {
                entity_id: Some(a.to_string()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let actions: Vec<_> = audit.items.iter().map(|r| r.action.as_str()).collect();
        assert!(
            actions.contains(&"merge.preview") && actions.contains(&"merge"),
            "{actions:?}"
        );
    }
}

#[tokio::test]
async fn merging_a_merged_record_names_the_survivor_and_bad_requests_are_refused() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let ctx = steward();
        let (a, b, c) = three(&mpi).await;
        merge::merge(
            &mpi,
            &ctx,
            MergeRequest {
                target: a,
                source: b,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap();
        for req in [
            MergeRequest {
                target: c,
                source: b,
                preview: false,
                review_task_id: None,
            },
            MergeRequest {
                target: b,
                source: c,
                preview: false,
                review_task_id: None,
            },
            MergeRequest {
                target: c,
                source: b,
                preview: true,
                review_task_id: None,
            },
        ] {
            match merge::merge(&mpi, &ctx, req).await.unwrap_err() {
                Error::Conflict { code, detail, .. } => {
                    assert_eq!(code, "already_merged");
                    assert_eq!(detail, Some(serde_json::json!({ "replaced_by": a })));
                }
                other => panic!("{backend:?}: expected already_merged, got {other:?}"),
            }
        }
        let same = merge::merge(
            &mpi,
            &ctx,
            MergeRequest {
                target: c,
                source: c,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(same, Error::Validation { .. }), "{same:?}");
        patients::delete(&mpi, &ctx, c).await.unwrap();
        let gone = merge::merge(
            &mpi,
            &ctx,
            MergeRequest {
                target: a,
                source: c,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(gone, Error::NotFound { .. }), "{gone:?}");
        let unknown = merge::merge(
            &mpi,
            &ctx,
            MergeRequest {
                target: a,
                source: Uuid::new_v4(),
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(unknown, Error::NotFound { .. }), "{unknown:?}");
        // A registrar may not merge.
        let registrar = Ctx {
            actor: Actor {
                name: "desk".into(),
                role: Role::Registrar,
                source: None,
            },
            meta: RequestMeta::default(),
            unconfirmed_key: None,
        };
        let d = register(
            &mpi,
            person(
                "Ann",
                "Lee",
                (1970, 2, 2),
                ("urn:mrn:x", "X1"),
                "1 A St",
                "0400 000 001",
                "ann@example.org",
            ),
        )
        .await;
        let forbidden = merge::merge(
            &mpi,
            &registrar,
            MergeRequest {
                target: a,
                source: d,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(forbidden, Error::Forbidden { .. }),
            "{forbidden:?}"
        );
    }
}

/// Two merges over one patient at the same time: exactly one wins, the other is a conflict, and
/// the loser left nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_merges_over_one_patient_one_wins_nothing_half_done() {
    for backend in Backend::ALL {
        for round in 0..4 {
            let (_db, mpi) = start(backend).await;
            let (a, b, c) = three(&mpi).await;
            let before: Vec<PatientRecord> = vec![
                record(&mpi, a).await,
                record(&mpi, b).await,
                record(&mpi, c).await,
            ];
            // Even rounds: A<-B and C<-B (same source); odd rounds: A<-B and B<-A (each one's
            // source is the other's target). In either order only one of the two can succeed.
            // (A<-B racing B<-C is not such a pair: B<-C then A<-B is a valid sequence.)
            let second = if round % 2 == 0 {
                MergeRequest {
                    target: c,
                    source: b,
                    preview: false,
                    review_task_id: None,
                }
            } else {
                MergeRequest {
                    target: b,
                    source: a,
                    preview: false,
                    review_task_id: None,
                }
            };
            let first = MergeRequest {
                target: a,
                source: b,
                preview: false,
                review_task_id: None,
            };
            let (m1, m2) = (mpi.clone(), mpi.clone());
            let (r1, r2) = (first.clone(), second.clone());
            let t1 = tokio::spawn(async move { merge::merge(&m1, &steward(), r1).await });
            let t2 = tokio::spawn(async move { merge::merge(&m2, &steward(), r2).await });
            let (o1, o2) = (t1.await.unwrap(), t2.await.unwrap());
            let outcomes = [(&first, &o1), (&second, &o2)];
            let winners: Vec<_> = outcomes.iter().filter(|(_, o)| o.is_ok()).collect();
            assert_eq!(
                winners.len(),
                1,
                "{backend:?} round {round}: {o1:?} / {o2:?}"
            );
            let (won, _) = winners[0];
            for (_, o) in outcomes.iter().filter(|(_, o)| o.is_err()) {
                let code = conflict_code(o.as_ref().unwrap_err());
                assert!(
                    code == "already_merged" || code == "concurrent_change" || code == "inactive",
                    "{backend:?}: {code}"
                );
            }
            assert_eq!(
                merge_event::Entity::find().count(mpi.db()).await.unwrap(),
                1
            );
            // The patients not in the winning merge are untouched.
            for rec in &before {
                let id = rec.patient.id;
                if id != won.target && id != won.source {
                    assert_eq!(
                        &record(&mpi, id).await,
                        rec,
                        "{backend:?}: loser left no trace"
                    );
                }
            }
            let source_now = record(&mpi, won.source).await;
            assert!(!source_now.patient.active);
        }
    }
}

#[tokio::test]
async fn undo_is_refused_after_a_later_change() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let ctx = steward();
        let (a, b, c) = three(&mpi).await;
        let out = merge::merge(
            &mpi,
            &ctx,
            MergeRequest {
                target: a,
                source: b,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap();
        let merge_id = out.merge_id.unwrap();
        // The survivor is updated after the merge.
        let mut input = service::convert::patient_input(&out.target.record);
        input.marital_status = Some(entity::enums::MaritalStatus::Married);
        patients::update(&mpi, &ctx, a, out.target.version(), input)
            .await
            .unwrap();
        let e = merge::undo(&mpi, &ctx, merge_id).await.unwrap_err();
        assert_eq!(conflict_code(&e), "undo_impossible", "{backend:?}");
        assert!(e.to_string().contains("changed after the merge"), "{e}");
        // Nothing was changed by the refused undo.
        assert!(!record(&mpi, b).await.patient.active);

        // A link from a third record to the survivor also makes the undo impossible.
        let (d, e2, _) = {
            let d = register(
                &mpi,
                person(
                    "Ann",
                    "Lee",
                    (1970, 2, 2),
                    ("urn:mrn:x", "X1"),
                    "1 A St",
                    "0400 000 001",
                    "ann@example.org",
                ),
            )
            .await;
            let e2 = register(
                &mpi,
                person(
                    "Bo",
                    "Lee",
                    (1971, 3, 3),
                    ("urn:mrn:x", "X2"),
                    "1 A St",
                    "0400 000 002",
                    "bo@example.org",
                ),
            )
            .await;
            (d, e2, ())
        };
        let m2 = merge::merge(
            &mpi,
            &ctx,
            MergeRequest {
                target: d,
                source: e2,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap()
        .merge_id
        .unwrap();
        links::create(&mpi, &ctx, c, d, LinkType::Refer, None)
            .await
            .unwrap();
        let e = merge::undo(&mpi, &ctx, m2).await.unwrap_err();
        assert_eq!(conflict_code(&e), "undo_impossible", "{backend:?}");
        assert!(!record(&mpi, e2).await.patient.active);

        let unknown = merge::undo(&mpi, &ctx, Uuid::new_v4()).await.unwrap_err();
        assert!(matches!(unknown, Error::NotFound { .. }));
    }
}

#[tokio::test]
async fn the_matcher_index_follows_merge_and_undo() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let ctx = steward();
        let (a, b, _c) = three(&mpi).await;
        let query = service::convert::person_from_record(&record(&mpi, b).await);
        let options = service::matching::MatchOptions {
            limit: 10,
            min_probability: Some(0.0),
            exclude: None,
        };
        let ids = |found: Vec<service::matching::MatchCandidate>| {
            found.into_iter().map(|c| c.patient_id).collect::<Vec<_>>()
        };
        let found = ids(
            service::matching::find_matches(&mpi, &ctx, &query, options.clone())
                .await
                .unwrap(),
        );
        assert!(
            found.contains(&a) && found.contains(&b),
            "{backend:?}: {found:?}"
        );

        let merge_id = merge::merge(
            &mpi,
            &ctx,
            MergeRequest {
                target: a,
                source: b,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap()
        .merge_id
        .unwrap();
        let found = ids(
            service::matching::find_matches(&mpi, &ctx, &query, options.clone())
                .await
                .unwrap(),
        );
        assert!(
            found.contains(&a) && !found.contains(&b),
            "{backend:?}: retired record left the index"
        );

        merge::undo(&mpi, &ctx, merge_id).await.unwrap();
        let found = ids(
            service::matching::find_matches(&mpi, &ctx, &query, options.clone())
                .await
                .unwrap(),
        );
        assert!(
            found.contains(&a) && found.contains(&b),
            "{backend:?}: restored record is back"
        );
    }
}

/// The version check itself, made deterministic: another transaction changes the source while a
/// merge is under way. PostgreSQL only: on SQLite the service's write gate and SQLite's single
/// writer never let two writers interleave like this.
#[tokio::test]
async fn a_patient_changed_under_a_running_merge_is_a_concurrent_change() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let (_db, mpi) = start(Backend::Postgres).await;
    let (a, b, _c) = three(&mpi).await;
    let (a_before, b_before) = (record(&mpi, a).await, record(&mpi, b).await);
    let blocker = mpi.db().begin().await.unwrap();
    blocker
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE patient SET version = version + 1 WHERE id = $1",
            [b.into()],
        ))
        .await
        .unwrap();
    let m = mpi.clone();
    let running = tokio::spawn(async move {
        let req = MergeRequest {
            target: a,
            source: b,
            preview: false,
            review_task_id: None,
        };
        merge::merge(&m, &steward(), req).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !running.is_finished(),
        "the merge waits for the other writer's row lock"
    );
    blocker.commit().await.unwrap();
    let e = running.await.unwrap().unwrap_err();
    assert_eq!(conflict_code(&e), "concurrent_change");
    // Nothing half-done: the target and the source are as the other writer left them.
    assert_eq!(record(&mpi, a).await, a_before);
    let b_now = record(&mpi, b).await;
    assert!(b_now.patient.active);
    assert_eq!(b_now.patient.version, b_before.patient.version + 1);
    assert_eq!(b_now.links, b_before.links);
    assert_eq!(
        merge_event::Entity::find().count(mpi.db()).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn merges_are_listed_newest_first_by_patient_and_by_undo_state() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let (a, b, c) = three(&mpi).await;
        let merge_of = |target: Uuid, source: Uuid| MergeRequest {
            target,
            source,
            preview: false,
            review_task_id: None,
        };
        let first = merge::merge(&mpi, &steward(), merge_of(a, b))
            .await
            .unwrap()
            .merge_id
            .unwrap();
        merge::undo(&mpi, &steward(), first).await.unwrap();
        let second = merge::merge(&mpi, &steward(), merge_of(c, b))
            .await
            .unwrap()
            .merge_id
            .unwrap();
        // A preview stores no merge.
        merge::merge(
            &mpi,
            &steward(),
            MergeRequest {
                preview: true,
                ..merge_of(a, c)
            },
        )
        .await
        .unwrap();

        let list = |patient_id: Option<Uuid>, undone: Option<bool>| {
            let mpi = mpi.clone();
            async move {
                merge::list(
                    &mpi,
                    &steward(),
                    merge::MergeFilter {
                        patient_id,
                        undone,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
            }
        };
        let ids = |page: &service::Page<merge::MergeSummary>| {
            page.items.iter().map(|m| m.id).collect::<Vec<_>>()
        };
        let all = list(None, None).await;
        assert_eq!(ids(&all), [second, first], "{backend:?}: newest first");
        assert_eq!(all.total, 2);
        let newest = &all.items[0];
        assert_eq!((newest.target, newest.source), (c, b));
        assert_eq!(newest.actor, "steward-1");
        assert!(newest.undone_at.is_none());
        let undone = &all.items[1];
        assert!(undone.undone_at.is_some());
        assert_eq!(undone.undone_by.as_deref(), Some("steward-1"));

        assert_eq!(ids(&list(None, Some(false)).await), [second]);
        assert_eq!(ids(&list(None, Some(true)).await), [first]);
        assert_eq!(ids(&list(Some(a), None).await), [first], "as survivor");
        assert_eq!(
            ids(&list(Some(b), None).await),
            [second, first],
            "as source"
        );
        assert_eq!(ids(&list(Some(c), Some(true)).await), Vec::<Uuid>::new());

        let page2 = merge::list(
            &mpi,
            &steward(),
            merge::MergeFilter {
                page: 2,
                per_page: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!((ids(&page2), page2.total), (vec![first], 2));

        let auditor = Ctx {
            actor: Actor {
                name: "auditor-1".into(),
                role: Role::Auditor,
                source: None,
            },
            meta: RequestMeta::default(),
            unconfirmed_key: None,
        };
        let e = merge::list(&mpi, &auditor, merge::MergeFilter::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");
    }
}
