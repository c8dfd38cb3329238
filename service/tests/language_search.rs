//! Searching by language (FHIR `language`, issue 31) on both databases: the code with its case
//! ignored, the system exact (or none), alternatives and repeats; and a search by language alone
//! answered by migration 29's `idx_patient_communication_language`, not a scan.

mod common;

use common::*;
use migration::testing::Backend;
use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use service::patients::{self, CommunicationInput, PatientInput, PatientQuery};
use service::search_criteria::{LanguageCriterion, MoreCriteria};
use uuid::Uuid;

const INDEX: &str = "idx_patient_communication_language";
const BCP47: &str = "urn:ietf:bcp:47";

fn language(system: Option<&str>, code: &str) -> CommunicationInput {
    CommunicationInput {
        system: system.map(str::to_owned),
        code: code.to_owned(),
        display: None,
        preferred: false,
    }
}

/// A person of their own (no two of them are duplicates) speaking `languages`.
fn person(family: &str, year: i32, languages: Vec<CommunicationInput>) -> PatientInput {
    PatientInput {
        names: vec![name(family, &["Given"])],
        birth_date: Some(date(year, 3, 9)),
        identifiers: vec![ident("urn:mrn:lang", &format!("MRN-{family}"))],
        communications: languages,
        ..Default::default()
    }
}

/// A search by languages: each list an OR, the lists ANDed.
fn by_language(lists: &[&[(Option<&str>, &str)]]) -> PatientQuery {
    PatientQuery {
        more: MoreCriteria {
            languages: lists
                .iter()
                .map(|list| {
                    list.iter()
                        .map(|(system, code)| LanguageCriterion {
                            system: system.map(str::to_owned),
                            code: (*code).to_owned(),
                        })
                        .collect()
                })
                .collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn found(mpi: &service::Mpi, query: PatientQuery) -> Vec<Uuid> {
    let page = patients::search(mpi, &desk(), query)
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

#[tokio::test]
async fn a_patient_is_found_by_a_language_it_speaks() {
    for backend in Backend::ALL {
        let (_db, mpi) = setup(backend).await;
        let french = register(
            &mpi,
            person("Abara", 1961, vec![language(Some(BCP47), "fr")]),
        )
        .await
        .record
        .patient
        .id;
        let english = register(
            &mpi,
            person(
                "Bello",
                1962,
                vec![language(Some(BCP47), "EN"), language(Some(BCP47), "fr-CA")],
            ),
        )
        .await
        .record
        .patient
        .id;
        let german = register(&mpi, person("Chukwu", 1963, vec![language(None, "de")]))
            .await
            .record
            .patient
            .id;
        register(&mpi, person("Dimka", 1964, Vec::new())).await;
        for (query, expected) in [
            (by_language(&[&[(None, "fr")]]), vec![french]),
            (by_language(&[&[(None, "FR")]]), vec![french]),
            (by_language(&[&[(Some(BCP47), "en")]]), vec![english]),
            (by_language(&[&[(Some(BCP47), " fr-ca ")]]), vec![english]),
            (by_language(&[&[(Some(""), "de")]]), vec![german]),
            (by_language(&[&[(Some(BCP47), "de")]]), vec![]),
            (by_language(&[&[(Some("urn:other"), "fr")]]), vec![]),
            (
                by_language(&[&[(None, "fr"), (None, "de")]]),
                sorted(vec![french, german]),
            ),
            (
                by_language(&[&[(None, "en")], &[(None, "fr-ca")]]),
                vec![english],
            ),
            (by_language(&[&[(None, "en")], &[(None, "fr")]]), vec![]),
        ] {
            assert_eq!(
                found(&mpi, query.clone()).await,
                expected,
                "{backend:?}: {query:?}"
            );
        }
        // Bounds: an empty code, too many alternatives.
        for query in [
            by_language(&[&[(None, " ")]]),
            by_language(&[&[(None, "x"); 21]]),
        ] {
            assert!(
                patients::search(&mpi, &desk(), query).await.is_err(),
                "{backend:?}"
            );
        }
    }
}

/// A search by language alone is answered through the index on both engines, whatever values
/// are bound: PostgreSQL's generic plan of the prepared statement (with sequential scans priced
/// out), SQLite's plan of the statement; the patients are probed by the ids found.
#[tokio::test]
async fn a_search_by_language_alone_uses_the_index() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        for (i, code) in ["fr", "en", "de", "es", "it"].iter().enumerate() {
            register(
                &mpi,
                person(
                    &format!("Family{i}"),
                    1960 + i32::try_from(i).unwrap(),
                    vec![language(Some(BCP47), code)],
                ),
            )
            .await;
        }
        for query in [
            by_language(&[&[(None, "fr")]]),
            by_language(&[&[(Some(BCP47), "fr")]]),
            by_language(&[&[(Some(BCP47), "fr"), (None, "de")]]),
        ] {
            let statement = patients::search_page_statement(&mpi, &query).await.unwrap();
            let plan = query_plan(&db.conn, statement).await;
            assert!(plan.contains(INDEX), "{backend:?}: {plan}");
            assert!(
                !plan.contains("SCAN patient_communication")
                    && !plan.contains("SCAN patient ")
                    && !plan.lines().any(|l| l.trim_end().ends_with("SCAN patient"))
                    && !plan.contains("Seq Scan"),
                "{backend:?}: {plan}"
            );
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
            txn.execute_unprepared(&format!("PREPARE language_search AS {}", statement.sql))
                .await
                .unwrap();
            let args: Vec<String> = statement
                .values
                .iter()
                .flat_map(|v| v.0.iter())
                .map(|v| PostgresQueryBuilder.value_to_string(v))
                .collect();
            let explain = format!("EXPLAIN EXECUTE language_search({})", args.join(", "));
            let rows = txn
                .query_all_raw(Statement::from_string(backend, explain))
                .await
                .unwrap();
            // A prepared statement outlives the transaction, on a pooled connection.
            txn.execute_unprepared("DEALLOCATE language_search")
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
