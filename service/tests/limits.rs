//! Hostile and careless input is refused before it reaches the database, the same way on both
//! databases: texts and lists over the documented limits (`service::limits`), control
//! characters, `deceased_at` without `deceased`, and page numbers that overflowed the offset.

mod common;

use common::*;
use migration::testing::Backend;
use sea_orm::{EntityTrait, PaginatorTrait};
use service::audit::{self, AuditFilter};
use service::context::Role;
use service::limits;
use service::matching::MatchOptions;
use service::merge::{self, MergeFilter};
use service::patients::{self, PatientInput, PatientQuery};
use service::review::{self, ReviewFilter};

/// The field a validation error names, or a panic naming what came instead.
fn refused_field<T: std::fmt::Debug>(outcome: service::Result<T>) -> String {
    match outcome {
        Err(service::Error::Validation { field, message }) => {
            assert!(!message.contains("\u{0}"), "the value is echoed: {message}");
            field
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn hostile_inputs() -> Vec<(PatientInput, &'static str)> {
    let mut long_family = margaret();
    long_family.names[0].family = Some("W".repeat(80_000));
    let mut at_limit_plus_one = margaret();
    at_limit_plus_one.names[1].given[0] = "é".repeat(limits::MAX_NAME_PART + 1);
    let mut nul = margaret();
    nul.names[0].family = Some("Whit\u{0}field".to_owned());
    let mut escape = margaret();
    escape.addresses[0].lines[0] = "14 Kent St\u{1b}[2J".to_owned();
    let mut nul_identifier = margaret();
    nul_identifier.identifiers[1].value = "2123\u{0}".to_owned();
    let mut many_names = margaret();
    many_names.names = vec![name("Whitfield", &["Margaret"]); 3_000];
    let mut many_identifiers = margaret();
    many_identifiers.identifiers = (0..5_000)
        .map(|i| ident("urn:mrn:x", &format!("MRN-{i}")))
        .collect();
    let mut long_phone = margaret();
    long_phone.telecoms[0].value = "0".repeat(limits::MAX_TELECOM_VALUE + 1);
    let mut deceased_at_alone = margaret();
    deceased_at_alone.deceased_at = Some("2020-01-02T03:04:05+00:00".parse().unwrap());
    vec![
        (long_family, "names[0].family"),
        (at_limit_plus_one, "names[1].given[0]"),
        (nul, "names[0].family"),
        (escape, "addresses[0].lines[0]"),
        (nul_identifier, "identifiers[1].value"),
        (many_names, "names"),
        (many_identifiers, "identifiers"),
        (long_phone, "telecoms[0].value"),
        (deceased_at_alone, "deceased_at"),
    ]
}

#[tokio::test]
async fn hostile_patients_are_refused_naming_the_field_and_nothing_is_written() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let kept = register(&mpi, oliver()).await;
        let before = entity::audit_event::Entity::find()
            .count(&db.conn)
            .await
            .unwrap();
        for (input, field) in hostile_inputs() {
            let created = patients::register(&mpi, &desk(), input.clone(), true).await;
            assert_eq!(refused_field(created), field, "{backend:?} register");
            let updated = patients::update(&mpi, &desk(), kept.id(), 1, input.clone()).await;
            assert_eq!(refused_field(updated), field, "{backend:?} update");
            if field != "deceased_at" {
                let matched = service::matching::find_matches_for_input(
                    &mpi,
                    &desk(),
                    &input,
                    MatchOptions::default(),
                )
                .await;
                assert_eq!(refused_field(matched), field, "{backend:?} match");
            }
        }
        let patients = entity::patient::Entity::find()
            .count(&db.conn)
            .await
            .unwrap();
        let rows = entity::audit_event::Entity::find()
            .count(&db.conn)
            .await
            .unwrap();
        assert_eq!((patients, rows), (1, before), "{backend:?}");
        assert_eq!(
            patients::get(&mpi, &desk(), kept.id())
                .await
                .unwrap()
                .version(),
            1
        );

        // The worst case within the limits is stored, and found again.
        let mut widest = margaret();
        widest.names = vec![
            service::patients::NameInput {
                family: Some("W".repeat(limits::MAX_NAME_PART)),
                given: vec!["M".repeat(limits::MAX_NAME_PART); limits::MAX_NAME_PARTS],
                ..Default::default()
            };
            limits::MAX_NAMES
        ];
        widest.identifiers = (0..limits::MAX_IDENTIFIERS)
            .map(|i| ident("urn:mrn:x", &format!("{i}{}", "9".repeat(150))))
            .collect();
        widest.deceased = true;
        widest.deceased_at = Some("2020-01-02T03:04:05+00:00".parse().unwrap());
        let stored = register(&mpi, widest).await;
        let found = patients::get(&mpi, &desk(), stored.id()).await.unwrap();
        assert_eq!(found.record.names.len(), limits::MAX_NAMES, "{backend:?}");
    }
}

#[tokio::test]
async fn control_characters_and_overflowing_pages_in_queries_are_refused_on_both_databases() {
    for backend in Backend::ALL {
        let (_db, mpi) = setup(backend).await;
        register(&mpi, margaret()).await;
        let steward = ctx_as("steward-1", Role::Steward);
        let nul = PatientQuery {
            family: Some("Whit\u{0}".into()),
            ..Default::default()
        };
        assert_eq!(
            refused_field(patients::search(&mpi, &desk(), nul).await),
            "family"
        );
        let nul_identifier = PatientQuery {
            identifier: Some(("urn:mrn".into(), "1\u{0}".into())),
            ..Default::default()
        };
        assert_eq!(
            refused_field(patients::search(&mpi, &desk(), nul_identifier).await),
            "identifier"
        );
        for page in [
            9_223_372_036_854_775_808u64,
            u64::MAX,
            service::MAX_PAGE + 1,
        ] {
            let search = PatientQuery {
                family: Some("Whitfield".into()),
                page,
                per_page: 500,
                ..Default::default()
            };
            assert_eq!(
                refused_field(patients::search(&mpi, &desk(), search).await),
                "page"
            );
            let merges = MergeFilter {
                page,
                per_page: 500,
                ..Default::default()
            };
            assert_eq!(
                refused_field(merge::list(&mpi, &steward, merges).await),
                "page"
            );
            let tasks = ReviewFilter {
                page,
                per_page: 500,
                ..Default::default()
            };
            assert_eq!(
                refused_field(review::list(&mpi, &steward, tasks).await),
                "page"
            );
            let trail = AuditFilter {
                page,
                per_page: 500,
                ..Default::default()
            };
            assert_eq!(refused_field(audit::query(mpi.db(), trail).await), "page");
        }
        let trail = AuditFilter {
            actor: Some("desk\u{0}".into()),
            ..Default::default()
        };
        assert_eq!(refused_field(audit::query(mpi.db(), trail).await), "actor");
        // The last allowed page answers, empty.
        let last = PatientQuery {
            family: Some("Whitfield".into()),
            page: service::MAX_PAGE,
            per_page: 500,
            ..Default::default()
        };
        let page = patients::search(&mpi, &desk(), last).await.unwrap();
        assert_eq!((page.total, page.items.len()), (1, 0), "{backend:?}");
    }
}
