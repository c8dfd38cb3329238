//! Searching by phone number (issue 30) on both databases: the whole number or its end, with
//! the stored punctuation ignored and e-mail addresses never matching; `digits_reversed` right
//! after registration, update, merge and undo, and after migration 23's backfill; and a search
//! by phone alone answered by `idx_patient_telecom_digits_reversed`, not a scan.

mod common;

use common::*;
use entity::enums::{Role, TelecomSystem, TelecomUse};
use entity::{change_log, merge_event, patient_telecom};
use migration::testing::Backend;
use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, PostgresQueryBuilder, QueryBuilder};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Statement, TransactionTrait,
};
use service::merge::{self, MergeRequest};
use service::patients::{self, PatientInput, PatientQuery, TelecomInput};
use service::search_criteria::{
    MoreCriteria, PhoneCriterion, TelecomCriterion, phone_digits_reversed,
};
use service::{Ctx, Mpi};
use uuid::Uuid;

const INDEX: &str = "idx_patient_telecom_digits_reversed";

fn steward() -> Ctx {
    ctx_as("steward-1", Role::Steward)
}

fn email(value: &str) -> TelecomInput {
    TelecomInput {
        system: TelecomSystem::Email,
        value: value.to_owned(),
        r#use: Some(TelecomUse::Home),
        rank: Some(2),
        period: None,
    }
}

fn fax(value: &str) -> TelecomInput {
    TelecomInput {
        system: TelecomSystem::Fax,
        ..phone(value)
    }
}

/// A person of their own (no two of them are duplicates) with these telecoms.
fn person(family: &str, given: &str, year: i32, telecoms: Vec<TelecomInput>) -> PatientInput {
    PatientInput {
        names: vec![name(family, &[given])],
        birth_date: Some(date(year, 3, 9)),
        identifiers: vec![ident("urn:mrn:canberra-hospital", &format!("MRN-{family}"))],
        telecoms,
        ..Default::default()
    }
}

/// A search by telecom value (FHIR `telecom`), of a system or any.
fn by_telecom(system: Option<TelecomSystem>, value: &str) -> PatientQuery {
    PatientQuery {
        more: MoreCriteria {
            telecoms: vec![vec![TelecomCriterion {
                system,
                value: value.to_owned(),
            }]],
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn found_by(mpi: &Mpi, query: PatientQuery) -> Vec<Uuid> {
    let page = patients::search(mpi, &desk(), query)
        .await
        .expect("search succeeds");
    sorted(page.items.iter().map(|p| p.record.patient.id).collect())
}

fn by_phone(alternatives: &[(&str, bool)]) -> PatientQuery {
    PatientQuery {
        more: MoreCriteria {
            phones: vec![
                alternatives
                    .iter()
                    .map(|(digits, ending)| PhoneCriterion {
                        digits: (*digits).to_owned(),
                        ending: *ending,
                    })
                    .collect(),
            ],
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The ids a phone search finds, sorted.
async fn found(mpi: &Mpi, alternatives: &[(&str, bool)]) -> Vec<Uuid> {
    let page = patients::search(mpi, &desk(), by_phone(alternatives))
        .await
        .expect("search succeeds");
    let mut ids: Vec<Uuid> = page.items.iter().map(|p| p.record.patient.id).collect();
    ids.sort();
    assert_eq!(page.total, ids.len() as u64);
    ids
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

/// Every telecom row of `patient`.
async fn telecoms(conn: &DatabaseConnection, patient: Uuid) -> Vec<patient_telecom::Model> {
    patient_telecom::Entity::find()
        .filter(patient_telecom::Column::PatientId.eq(patient))
        .all(conn)
        .await
        .expect("telecoms load")
}

/// Asserts that every telecom row holds the digits its system and value give.
async fn assert_every_row_derived(conn: &DatabaseConnection, backend: Backend) {
    let rows = patient_telecom::Entity::find()
        .all(conn)
        .await
        .expect("telecoms load");
    assert!(!rows.is_empty());
    for row in rows {
        assert_eq!(
            row.digits_reversed,
            phone_digits_reversed(row.system, &row.value),
            "{backend:?}: {row:?}"
        );
    }
}

#[test]
fn the_digits_are_the_value_without_punctuation_reversed() {
    use TelecomSystem::{Email, Fax, Phone, Sms, Url};
    assert_eq!(
        phone_digits_reversed(Phone, "+1 (555) 123-4567").as_deref(),
        Some("76543215551")
    );
    assert_eq!(
        phone_digits_reversed(Fax, "555.12/34").as_deref(),
        Some("4321555")
    );
    assert_eq!(
        phone_digits_reversed(Sms, "Tel 02 6123 4567").as_deref(),
        Some("7654321620leT")
    );
    assert_eq!(phone_digits_reversed(Url, "ü 12").as_deref(), Some("21ü"));
    assert_eq!(phone_digits_reversed(Phone, "+ ()"), None);
    assert_eq!(phone_digits_reversed(Email, "1-555-123-4567"), None);
}

#[tokio::test]
async fn a_phone_is_found_by_its_whole_number_or_its_end_and_an_email_never() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let us = register(
            &mpi,
            person(
                "Whitfield",
                "Margaret",
                1961,
                vec![phone("+1 (555) 123-4567"), email("1-555-123-4567")],
            ),
        )
        .await
        .id();
        let au = register(
            &mpi,
            person("Okonkwo", "Oliver", 1987, vec![fax("(02) 9123.4567")]),
        )
        .await
        .id();
        // Letters before the digits (after them, reversed): the end still matches.
        let text = register(
            &mpi,
            person("Nguyen", "Lan", 1990, vec![phone("Tel 03 9555 4567")]),
        )
        .await
        .id();
        // An e-mail address whose characters are the digits searched for.
        let mail = register(
            &mpi,
            person("Kowalski", "Anna", 1975, vec![email("1-555-123-4567")]),
        )
        .await
        .id();
        assert_every_row_derived(&db.conn, backend).await;

        assert_eq!(
            found(&mpi, &[("15551234567", false)]).await,
            [us],
            "{backend:?}"
        );
        assert_eq!(
            found(&mpi, &[("0291234567", false)]).await,
            [au],
            "{backend:?}"
        );
        // Not the whole number: only as its end.
        assert!(found(&mpi, &[("5551234567", false)]).await.is_empty());
        assert_eq!(
            found(&mpi, &[("5551234567", true)]).await,
            [us],
            "{backend:?}"
        );
        // Digits starting with 9: the range ends at `...:`, which follows `...9`.
        assert_eq!(
            found(&mpi, &[("91234567", true)]).await,
            [au],
            "{backend:?}"
        );
        assert_eq!(found(&mpi, &[("0395554567", true)]).await, [text]);
        assert!(found(&mpi, &[("0395554567", false)]).await.is_empty());
        assert_eq!(
            found(&mpi, &[("4567", true)]).await,
            sorted(vec![us, au, text]),
            "{backend:?}"
        );
        // The start of a number is not its end.
        assert!(found(&mpi, &[("1555", true)]).await.is_empty());
        assert!(found(&mpi, &[("94567", true)]).await.is_empty());
        // Alternatives are an OR.
        assert_eq!(
            found(&mpi, &[("15551234567", false), ("91234567", true)]).await,
            sorted(vec![us, au])
        );
        assert!(!found(&mpi, &[("4567", true)]).await.contains(&mail));
        // Two phone criteria are an AND.
        let mut both = by_phone(&[("4567", true)]);
        both.more.phones.push(vec![PhoneCriterion {
            digits: "0291234567".into(),
            ending: false,
        }]);
        let page = patients::search(&mpi, &desk(), both).await.unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(page.items[0].record.patient.id, au);

        // A telecom value (FHIR `telecom`) is still compared exactly, through the index when
        // its system is given and is no e-mail.
        use TelecomSystem::{Email, Fax, Phone};
        let phone_value = "+1 (555) 123-4567";
        assert_eq!(
            found_by(&mpi, by_telecom(Some(Phone), phone_value)).await,
            [us]
        );
        assert!(
            found_by(&mpi, by_telecom(Some(Phone), "+1 555 123 4567"))
                .await
                .is_empty()
        );
        assert!(
            found_by(&mpi, by_telecom(Some(Fax), phone_value))
                .await
                .is_empty()
        );
        assert_eq!(found_by(&mpi, by_telecom(None, phone_value)).await, [us]);
        assert_eq!(
            found_by(&mpi, by_telecom(Some(Email), "1-555-123-4567")).await,
            sorted(vec![us, mail])
        );
        assert_eq!(
            found_by(&mpi, by_telecom(None, "1-555-123-4567")).await,
            sorted(vec![us, mail])
        );
    }
}

#[tokio::test]
async fn the_digits_follow_an_update_a_merge_and_its_undo() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let a = register(
            &mpi,
            person("Whitfield", "Margaret", 1961, vec![phone("02 6123 4567")]),
        )
        .await;
        let b = register(
            &mpi,
            person(
                "Okonkwo",
                "Oliver",
                1987,
                vec![phone("0499 111 222"), email("o.okonkwo@example.org")],
            ),
        )
        .await;
        let (a_id, b_id) = (a.id(), b.id());

        // An update replaces the number: the old one is no longer found, the new one is.
        let mut input = person("Whitfield", "Margaret", 1961, vec![phone("(02) 6111-2222")]);
        input.telecoms.push(email("m.whitfield@example.org"));
        patients::update(&mpi, &desk(), a_id, a.record.patient.version, input)
            .await
            .expect("update succeeds");
        assert!(found(&mpi, &[("0261234567", false)]).await.is_empty());
        assert_eq!(found(&mpi, &[("0261112222", false)]).await, [a_id]);
        let rows = telecoms(&db.conn, a_id).await;
        assert_eq!(rows.len(), 2);
        for row in &rows {
            let expected = match row.system {
                TelecomSystem::Email => None,
                _ => Some("2222111620"),
            };
            assert_eq!(row.digits_reversed.as_deref(), expected, "{backend:?}");
        }

        // A merge copies B's number to A: both are found by it (B merged away, as searches
        // return), A through its copy.
        let out = merge::merge(
            &mpi,
            &steward(),
            MergeRequest {
                target: a_id,
                source: b_id,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .expect("merge succeeds");
        let merge_id = out.merge_id.expect("a merge id");
        let copies: Vec<_> = telecoms(&db.conn, a_id)
            .await
            .into_iter()
            .filter(|t| t.source_patient_id == Some(b_id))
            .collect();
        assert_eq!(copies.len(), 2, "{backend:?}: the phone and the e-mail");
        for copy in &copies {
            let expected = match copy.system {
                TelecomSystem::Email => None,
                _ => Some("2221119940"),
            };
            assert_eq!(copy.digits_reversed.as_deref(), expected, "{backend:?}");
        }
        assert_eq!(
            found(&mpi, &[("0499111222", false)]).await,
            sorted(vec![a_id, b_id])
        );
        assert_every_row_derived(&db.conn, backend).await;

        // The merge's before-images as a merge made before migration 23 stored them, without
        // the column: the undo still finds both records as they were.
        let event = merge_event::Entity::find_by_id(merge_id)
            .one(&db.conn)
            .await
            .unwrap()
            .expect("merge event");
        let mut stripped = 0;
        let mut strip = |mut image: serde_json::Value| {
            for t in image["telecoms"].as_array_mut().expect("telecoms") {
                stripped += usize::from(
                    t.as_object_mut()
                        .unwrap()
                        .remove("digits_reversed")
                        .is_some(),
                );
            }
            image
        };
        let (target_before, source_before) =
            (strip(event.target_before), strip(event.source_before));
        assert_eq!(stripped, 4, "{backend:?}: the images held the column");
        merge_event::Entity::update_many()
            .col_expr(
                merge_event::Column::TargetBefore,
                Expr::value(target_before),
            )
            .col_expr(
                merge_event::Column::SourceBefore,
                Expr::value(source_before),
            )
            .filter(merge_event::Column::Id.eq(merge_id))
            .exec(&db.conn)
            .await
            .unwrap();

        merge::undo(&mpi, &steward(), merge_id)
            .await
            .expect("undo succeeds");
        assert_eq!(found(&mpi, &[("0499111222", false)]).await, [b_id]);
        assert_eq!(found(&mpi, &[("111222", true)]).await, [b_id]);
        assert_eq!(found(&mpi, &[("0261112222", false)]).await, [a_id]);
        assert_eq!(telecoms(&db.conn, a_id).await.len(), 2);
        assert_every_row_derived(&db.conn, backend).await;
    }
}

/// Migration 23 fills in the rows written before it with what the service would write, and
/// appends nothing to `change_log` for it.
#[tokio::test]
async fn the_backfill_derives_the_digits_as_the_service_does() {
    const MIGRATION: &str = "m20261206_000023_telecom_digits_reversed";
    let position = Migrator::migrations()
        .iter()
        .position(|m| m.name() == MIGRATION)
        .expect("migration 23");
    let after = (Migrator::migrations().len() - position) as u32;
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let values = [
            phone("+1 (555) 123-4567"),
            fax("555.12/34"),
            phone("Tel 02 6123 4567"),
            phone("ü 12"),
            phone("+ ()"),
            email("1-555-123-4567"),
            TelecomInput {
                system: TelecomSystem::Url,
                ..phone("http://example.org/1-2")
            },
        ];
        for (i, t) in values.into_iter().enumerate() {
            let year = 1950 + i32::try_from(i).unwrap();
            register(&mpi, person(&format!("Family{i}"), "Given", year, vec![t])).await;
        }
        Migrator::down(&db.conn, Some(after)).await.unwrap();
        let logged = change_log::Entity::find().count(&db.conn).await.unwrap();
        Migrator::up(&db.conn, None).await.unwrap();
        assert_eq!(
            change_log::Entity::find().count(&db.conn).await.unwrap(),
            logged,
            "{backend:?}: the backfill is not logged"
        );
        let rows = patient_telecom::Entity::find().all(&db.conn).await.unwrap();
        assert_eq!(rows.len(), 7);
        assert_eq!(
            rows.iter().filter(|r| r.digits_reversed.is_some()).count(),
            5,
            "{backend:?}: the e-mail and the number without digits have none"
        );
        assert_every_row_derived(&db.conn, backend).await;
        // Writes after the backfill are logged again, the new column with them.
        let a = register(
            &mpi,
            person("Later", "Given", 2001, vec![phone("02 6123 4567")]),
        )
        .await;
        let row = change_log::Entity::find()
            .filter(change_log::Column::TableName.eq("patient_telecom"))
            .filter(change_log::Column::Operation.eq("INSERT"))
            .all(&db.conn)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|c| c.new_row)
            .find(|r| r["patient_id"] == a.id().to_string())
            .expect("the new telecom is logged");
        assert_eq!(row["digits_reversed"], "7654321620", "{backend:?}");
    }
}

/// A search by phone alone is answered through the index (an equality or a range on it) on
/// both engines, whatever values are bound: PostgreSQL's generic plan of the prepared statement
/// (with sequential scans priced out), SQLite's plan of the statement.
#[tokio::test]
async fn a_search_by_phone_alone_uses_the_index() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        for i in 0..5 {
            let number = format!("02 6123 45{i}{i}");
            register(
                &mpi,
                person(
                    &format!("Family{i}"),
                    "Given",
                    1960 + i,
                    vec![phone(&number)],
                ),
            )
            .await;
        }
        for query in [
            by_phone(&[("0261234511", false)]),
            by_phone(&[("234511", true)]),
            by_phone(&[("0261234511", false), ("4522", true)]),
            by_telecom(Some(TelecomSystem::Phone), "02 6123 4511"),
        ] {
            let statement = patients::search_page_statement(&mpi, &query).await.unwrap();
            let plan = query_plan(&db.conn, statement).await;
            assert!(plan.contains(INDEX), "{backend:?}: {plan}");
            assert!(
                !plan.contains("SCAN patient_telecom")
                    && !plan.contains("SCAN patient ")
                    && !plan.lines().any(|l| l.trim_end().ends_with("SCAN patient"))
                    && !plan.contains("Seq Scan"),
                "{backend:?}: {plan}"
            );
            // The patients are probed by the ids found, not read in order and checked.
            let probed = match backend {
                Backend::Sqlite => "SEARCH patient USING INDEX",
                Backend::Postgres => "Index Cond: (id = ANY",
            };
            assert!(plan.contains(probed), "{backend:?}: {plan}");
        }
    }
}

/// The plan of `statement` as text: SQLite's `EXPLAIN QUERY PLAN`, or PostgreSQL's generic plan
/// of the statement prepared (`plan_cache_mode = force_generic_plan`, sequential scans off).
async fn query_plan(conn: &DatabaseConnection, statement: Statement) -> String {
    let backend = statement.db_backend;
    let txn = conn.begin().await.unwrap();
    let rows = match backend {
        DbBackend::Postgres => {
            txn.execute_unprepared(
                "SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan",
            )
            .await
            .unwrap();
            txn.execute_unprepared(&format!("PREPARE phone_search AS {}", statement.sql))
                .await
                .unwrap();
            let args: Vec<String> = statement
                .values
                .iter()
                .flat_map(|v| v.0.iter())
                .map(|v| PostgresQueryBuilder.value_to_string(v))
                .collect();
            let explain = format!("EXPLAIN EXECUTE phone_search({})", args.join(", "));
            let rows = txn
                .query_all_raw(Statement::from_string(backend, explain))
                .await
                .unwrap();
            // A prepared statement outlives the transaction, on a pooled connection.
            txn.execute_unprepared("DEALLOCATE phone_search")
                .await
                .unwrap();
            rows
        }
        _ => txn
            .query_all_raw(Statement {
                sql: format!("EXPLAIN QUERY PLAN {}", statement.sql),
                ..statement
            })
            .await
            .unwrap(),
    };
    let column = if backend == DbBackend::Postgres {
        "QUERY PLAN"
    } else {
        "detail"
    };
    let lines: Vec<String> = rows
        .iter()
        .map(|row| row.try_get::<String>("", column).unwrap())
        .collect();
    txn.rollback().await.unwrap();
    lines.join("\n")
}
