//! Matching on both backends: ranking and grades, the near-tie rule, limit and minimum
//! probability, and pairs judged `not_duplicate` staying out of later matches.

mod common;

use chrono::Utc;
use common::*;
use entity::enums::ReviewStatus;
use entity::review_task;
use matcher::MatchDecision;
use migration::testing::Backend;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use service::matching::{self, MatchOptions};
use service::patients::{self, PatientInput, RegisterOutcome};

#[tokio::test]
async fn ranks_the_same_person_first_with_an_explanation() {
    for backend in Backend::ALL {
        let (_db, mpi) = setup(backend).await;
        let m = register(&mpi, margaret()).await;
        register(&mpi, oliver()).await;
        // A typo, a nickname, the birth date written the other way: still Margaret.
        let query = matcher::PersonRecord {
            given_names: vec!["Peggy".into()],
            family_names: vec!["Whitfeild".into()],
            birth_date: Some("12/04/1961".into()),
            addresses: vec![matcher::Address {
                lines: vec!["14 kent st".into()],
                postal_code: Some("2600".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let found = matching::find_matches(&mpi, &desk(), &query, MatchOptions::default())
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{backend:?}: only Margaret is a match");
        let best = &found[0];
        assert_eq!(best.patient_id, m.id());
        assert_eq!(best.person_id, m.record.patient.person_id);
        assert_eq!(best.grade, MatchDecision::Certain);
        assert!(best.match_weight > 10.0);
        assert_eq!(best.explanation.match_weight, best.match_weight);
        let levels: Vec<&str> = best
            .explanation
            .comparisons
            .iter()
            .map(|c| c.level.as_str())
            .collect();
        assert!(levels.contains(&"nickname"), "{levels:?}");
    }
}

#[tokio::test]
async fn near_ties_demote_certain_and_limit_and_min_probability_apply() {
    for backend in Backend::ALL {
        let (_db, mpi) = setup(backend).await;
        // The same woman registered twice (forced): two near-equal certain candidates.
        let a = register(&mpi, margaret()).await;
        let b = register(
            &mpi,
            PatientInput {
                identifiers: vec![ident("urn:mrn:calvary", "C-88")],
                ..margaret()
            },
        )
        .await;
        let query = PatientInput {
            identifiers: vec![],
            ..margaret()
        };
        let found =
            matching::find_matches_for_input(&mpi, &desk(), &query, MatchOptions::default())
                .await
                .unwrap();
        assert_eq!(found.len(), 2, "{backend:?}");
        assert!(found.iter().all(|c| c.grade == MatchDecision::Probable));
        assert!(found[0].match_weight >= found[1].match_weight);
        let mut ids = vec![found[0].patient_id, found[1].patient_id];
        ids.sort();
        let mut expected = vec![a.id(), b.id()];
        expected.sort();
        assert_eq!(ids, expected);
        assert!(
            found
                .iter()
                .all(|c| c.explanation.decision == MatchDecision::Probable)
        );

        let one = matching::find_matches_for_input(
            &mpi,
            &desk(),
            &query,
            MatchOptions {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].patient_id, found[0].patient_id);
        let none = matching::find_matches_for_input(
            &mpi,
            &desk(),
            &PatientInput {
                names: vec![name("Okonkwo", &["Oliver"])],
                ..Default::default()
            },
            MatchOptions::default(),
        )
        .await
        .unwrap();
        assert!(none.is_empty());
        let above = matching::find_matches_for_input(
            &mpi,
            &desk(),
            &query,
            MatchOptions {
                min_probability: Some(1.0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(above.is_empty());
    }
}

#[tokio::test]
async fn a_not_duplicate_pair_is_never_proposed_again() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let a = register(&mpi, margaret()).await;
        // A twin sister: same surname, birth date and address, another given name.
        let sister = PatientInput {
            names: vec![name("Whitfield", &["Joan"])],
            identifiers: vec![],
            telecoms: vec![],
            ..margaret()
        };
        let RegisterOutcome::Created {
            patient: b,
            review_task_ids,
        } = patients::register(&mpi, &desk(), sister.clone(), false)
            .await
            .unwrap()
        else {
            panic!("{backend:?}: the sister is only a possible match");
        };
        assert_eq!(review_task_ids.len(), 1);
        let about_b = MatchOptions {
            exclude: Some(b.id()),
            ..Default::default()
        };
        let before = matching::find_matches_for_input(&mpi, &desk(), &sister, about_b.clone())
            .await
            .unwrap();
        assert_eq!(before.len(), 1);
        assert_eq!(
            before[0].patient_id,
            a.id(),
            "the query patient itself is excluded"
        );

        // A steward decides: not the same person.
        let task = review_task::Entity::find_by_id(review_task_ids[0])
            .one(&db.conn)
            .await
            .unwrap()
            .unwrap();
        let mut am: review_task::ActiveModel = task.into();
        am.status = Set(ReviewStatus::NotDuplicate);
        am.decided_by = Set(Some("steward-1".into()));
        am.decided_at = Set(Some(Utc::now().fixed_offset()));
        am.update(&db.conn).await.unwrap();

        let after = matching::find_matches_for_input(&mpi, &desk(), &sister, about_b)
            .await
            .unwrap();
        assert!(after.is_empty(), "{backend:?}: {after:?}");
        // Either way round.
        let about_a = MatchOptions {
            exclude: Some(a.id()),
            ..Default::default()
        };
        let from_a = matching::find_matches_for_input(&mpi, &desk(), &margaret(), about_a)
            .await
            .unwrap();
        assert!(from_a.iter().all(|c| c.patient_id != b.id()));
        // A decided pair is never reopened.
        let txn = mpi.write_txn().await.unwrap();
        let reopened = service::pairs::open_task(
            &*txn,
            &desk(),
            a.id(),
            b.id(),
            0.9,
            3.0,
            serde_json::json!({}),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(reopened, None);
    }
}
