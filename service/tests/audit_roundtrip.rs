//! The audit chain verifies whatever JSON a row carries: the hash covers a canonical text
//! that is the same for the value appended and the value read back from SQLite or PostgreSQL
//! (floats to the last bit, big integers, unicode, nested objects).

mod common;

use common::*;
use entity::audit_event;
use migration::testing::Backend;
use proptest::prelude::*;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Map, Number, Value, json};
use service::audit::{self, AuditEntry};

/// A JSON number as the service can hold one: any `i64`, any `u64`, any finite `f64`, and the
/// floats whose text a store rewrites (`-0.0`, integral values from 1e16 on, extremes).
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| Value::Number(Number::from_f64(x).expect("finite"))),
        (0.0f64..1.0).prop_map(|x| json!(x)),
        prop::sample::select(vec![
            -0.0,
            1e16,
            -1e16,
            1.5e19,
            1e19,
            -9.2e18,
            1e20,
            1e300,
            -1e-300,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.9846800733445221,
            2.0,
            1e15,
        ])
        .prop_map(|x| json!(x)),
    ]
}

/// Any text but NUL, which the service refuses in every input (PostgreSQL's `jsonb` cannot
/// hold it).
fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.replace('\0', ""))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

#[test]
fn any_json_in_a_row_verifies_after_the_round_trip_through_either_database() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for backend in Backend::ALL {
        let (db, mpi) = runtime.block_on(setup(backend));
        let config = ProptestConfig {
            cases: 96,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        proptest!(config, |(before in json_value(), after in json_value())| {
            let stored = runtime.block_on(async {
                let txn = mpi.write_txn().await.unwrap();
                audit::record(
                    &*txn,
                    &desk(),
                    AuditEntry::new("decide", "review_task", Some("t-1".into()))
                        .before(before.clone())
                        .after(after.clone()),
                )
                .await
                .unwrap();
                txn.commit().await.unwrap();
                audit_event::Entity::find()
                    .order_by_desc(audit_event::Column::Seq)
                    .one(&db.conn)
                    .await
                    .unwrap()
                    .unwrap()
            });
            prop_assert_eq!(
                audit::row_hash(&stored),
                stored.hash.clone(),
                "{:?}: before {} after {}, read back as {:?} and {:?}",
                backend,
                before,
                after,
                stored.before,
                stored.after
            );
        });
        let report = runtime.block_on(audit::verify(&db.conn)).unwrap();
        assert!(report.ok, "{backend:?}: {report:?}");
        assert_eq!(report.rows, 96, "{backend:?}");
    }
}

/// The defect as a steward met it: deciding review tasks stores match probabilities, and an
/// untouched chain must verify.
#[tokio::test]
async fn match_probabilities_in_a_row_verify_on_both_databases() {
    for backend in Backend::ALL {
        let (db, mpi) = setup(backend).await;
        let txn = mpi.write_txn().await.unwrap();
        audit::record(
            &*txn,
            &desk(),
            AuditEntry::new("decide", "review_task", Some("t-1".into())).after(json!({
                "match_probability": 0.9846800733445221,
                "match_weight": 5.981_020_449_066_345,
                "weights": [1e16, -0.0, 1e-7, 12345678901234567890u64],
            })),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        let report = audit::verify(&db.conn).await.unwrap();
        assert!(report.ok, "{backend:?}: {report:?}");
    }
}
