//! The data model through the entities, on SQLite and on PostgreSQL: records read back equal,
//! the database enforces identifier uniqueness among live patients, the coded values, cascades,
//! pair uniqueness and append-only logs, and soft-deleted patients leave the default queries.

mod common;

use common::*;
use entity::prelude::*;
use entity::{
    api_key, audit_event, change_log, match_score, merge_event, patient, patient_identifier,
    patient_name, review_task,
};
use migration::testing::{Backend, TestDb};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, JoinType,
    ModelTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, RelationTrait,
    SqlErr,
};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn a_patient_with_two_of_everything_reads_back_equal() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let conn = &db.conn;
        let mut am = patient_am(date(1961, 2, 28));
        am.deceased = Set(true);
        am.deceased_at = Set(Some(now()));
        let p = am.insert(conn).await?;
        let other = insert_patient(conn).await?;

        let mut first_name = name_am(p.id, "O'Brien-Smith", &["Mary", "Ann"]);
        first_name.is_primary = Set(true);
        first_name.prefix = Set(["Dr."].into());
        first_name.period_start = Set(Some(date(1990, 1, 1)));
        let mut maiden = name_am(p.id, "Łukasiewicz", &["Mária"]);
        maiden.r#use = Set(Some(NameUse::Maiden));
        maiden.suffix = Set(["Jr", "PhD"].into());
        maiden.period_end = Set(Some(date(1989, 12, 31)));
        let names = vec![first_name.insert(conn).await?, maiden.insert(conn).await?];

        let mut ssn = identifier_am(p.id, "urn:oid:2.16.840.1.113883.4.1", "123-45-6789", true);
        ssn.r#type = Set(Some(IdentifierType::Ss));
        let identifiers = vec![
            identifier_am(p.id, "urn:hosp:mrn", "MRN-0001", true)
                .insert(conn)
                .await?,
            ssn.insert(conn).await?,
        ];
        let addresses = vec![
            address_am(p.id, &["1 Main St", "Apt 2"], "62701")
                .insert(conn)
                .await?,
            address_am(p.id, &["PO Box 9"], "62702")
                .insert(conn)
                .await?,
        ];
        let telecoms = vec![
            telecom_am(p.id, TelecomSystem::Phone, "+1 217 555 0100", 1)
                .insert(conn)
                .await?,
            telecom_am(p.id, TelecomSystem::Email, "mary@example.org", 2)
                .insert(conn)
                .await?,
        ];
        let language = |code: &str, primary: bool, preferred: bool| {
            entity::patient_communication::ActiveModel {
                id: Set(Uuid::now_v7()),
                patient_id: Set(p.id),
                source_patient_id: Set(None),
                is_primary: Set(primary),
                language_system: Set(Some("urn:ietf:bcp:47".to_owned())),
                language_code: Set(code.to_owned()),
                language_display: Set((code == "fr-CA").then(|| "Français".to_owned())),
                preferred: Set(preferred),
                created_by: Set("test".to_owned()),
                updated_by: Set("test".to_owned()),
                ..Default::default()
            }
        };
        let communications = vec![
            language("fr-CA", true, true).insert(conn).await?,
            language("en", false, false).insert(conn).await?,
        ];
        let link = link_am(p.id, other.id, LinkType::SeeAlso)
            .insert(conn)
            .await?;

        let record = PatientRecord::load(conn, p.id)
            .await?
            .expect("patient exists");
        assert_eq!(record.patient, p, "{backend:?}");
        assert_eq!(record.names, names, "{backend:?}");
        assert_eq!(record.identifiers, identifiers, "{backend:?}");
        let mut by_postal = record.addresses.clone();
        by_postal.sort_by(|a, b| a.postal_code.cmp(&b.postal_code));
        assert_eq!(by_postal, addresses, "{backend:?}");
        assert_eq!(record.telecoms, telecoms, "{backend:?}");
        assert_eq!(record.communications, communications, "{backend:?}");
        assert_eq!(record.links, vec![link.clone()], "{backend:?}");
        // The other end of the link sees it too.
        let other_record = PatientRecord::load(conn, other.id).await?.expect("exists");
        assert_eq!(other_record.links, vec![link]);

        // Values survive exactly: non-ASCII text, JSON lists, dates, a timestamp, enums.
        assert_eq!(record.names[0].given.as_slice(), ["Mary", "Ann"]);
        assert_eq!(record.names[1].family.as_deref(), Some("Łukasiewicz"));
        assert_eq!(record.patient.deceased_at, p.deceased_at);
        assert!(record.identifiers.iter().all(|i| i.patient_live));

        // The record serialises (as a merge before-image) and reads back equal.
        let image = serde_json::to_value(&record)?;
        assert_eq!(image["names"][0]["given"], json!(["Mary", "Ann"]));
        assert_eq!(image["patient"]["gender"], json!("female"));
        let back: PatientRecord = serde_json::from_value(image)?;
        assert_eq!(back, record);

        // Several records at once come back in the order asked for, unknown ids left out, and
        // equal to what one query per table reads (PostgreSQL loads them in one JSON statement).
        let many = PatientRecord::load_many(conn, &[other.id, Uuid::new_v4(), p.id]).await?;
        assert_eq!(
            many,
            vec![other_record.clone(), record.clone()],
            "{backend:?}"
        );
        let mut by_table = PatientRecord::load_by_table(conn, &[p.id, other.id]).await?;
        by_table.sort_by_key(|r| r.patient.id != other.id);
        assert_eq!(by_table, many, "{backend:?}");
        assert!(PatientRecord::load(conn, Uuid::new_v4()).await?.is_none());

        // The dense-format relations work as well.
        let via_relation = names_via_relation(conn, &p).await?;
        assert_eq!(via_relation.len(), 2);

        // Family-name lookup ignores case.
        let found = patient_name::Entity::find_by_family("o'brien-SMITH")
            .all(conn)
            .await?;
        assert_eq!(
            found.iter().map(|n| n.id).collect::<Vec<_>>(),
            [names[0].id],
            "{backend:?}"
        );
    }
    Ok(())
}

/// The patient's names, found through the entities' `Names` relation (a join, not a filter on
/// `patient_id`).
async fn names_via_relation(
    conn: &sea_orm::DatabaseConnection,
    patient: &patient::Model,
) -> Result<Vec<patient_name::Model>, sea_orm::DbErr> {
    patient_name::Entity::find()
        .join(JoinType::InnerJoin, patient_name::Relation::Patient.def())
        .filter(patient::Column::Id.eq(patient.id))
        .all(conn)
        .await
}

#[tokio::test]
async fn identifier_values_are_unique_among_live_patients_only() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let conn = &db.conn;
        let (sys, val) = ("urn:hosp:mrn", "MRN-42");
        let first = insert_patient(conn).await?;
        let second = insert_patient(conn).await?;
        identifier_am(first.id, sys, val, true).insert(conn).await?;

        // A second live patient with the same system+value is rejected.
        let err = identifier_am(second.id, sys, val, true)
            .insert(conn)
            .await
            .expect_err("duplicate live identifier");
        assert!(
            matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
            "{backend:?}: {err}"
        );
        // ...even when the writer claims the row is not live (the triggers know better).
        let err = identifier_am(second.id, sys, val, false)
            .insert(conn)
            .await
            .expect_err("duplicate live identifier with a wrong flag");
        assert!(err.to_string().to_lowercase().contains("unique"), "{err}");
        // Another system, or another value, is fine.
        identifier_am(second.id, "urn:other", val, true)
            .insert(conn)
            .await?;

        // Soft-delete the first patient: its identifiers stop being live, the value is free.
        let mut am = first.clone().into_active_model();
        am.deleted_at = Set(Some(now()));
        am.deleted_by = Set(Some(ACTOR.into()));
        am.version = Set(first.version + 1);
        let first = am.update(conn).await?;
        let held = patient_identifier::Entity::find()
            .filter(patient_identifier::Column::PatientId.eq(first.id))
            .one(conn)
            .await?
            .expect("the identifier row stays");
        assert!(!held.patient_live, "{backend:?}");
        let taken = identifier_am(second.id, sys, val, true)
            .insert(conn)
            .await?;
        assert!(taken.patient_live, "{backend:?}");
        let holders = patient_identifier::Entity::find_live_by_system_value(sys, val)
            .all(conn)
            .await?;
        assert_eq!(
            holders.iter().map(|i| i.patient_id).collect::<Vec<_>>(),
            [second.id]
        );

        // Restoring the first patient now collides with the second's identifier.
        let mut am = first.clone().into_active_model();
        am.deleted_at = Set(None);
        am.deleted_by = Set(None);
        let err = am.update(conn).await.expect_err("restore collides");
        assert!(
            err.to_string().to_lowercase().contains("unique"),
            "{backend:?}: {err}"
        );
        let still = patient::Entity::find_by_id(first.id)
            .one(conn)
            .await?
            .expect("row");
        assert!(
            still.deleted_at.is_some(),
            "{backend:?}: the failed restore left no trace"
        );

        // An inactive (merged-away) record frees its values too, and gets them back.
        let third = insert_patient(conn).await?;
        identifier_am(third.id, sys, "MRN-43", true)
            .insert(conn)
            .await?;
        let mut am = third.clone().into_active_model();
        am.active = Set(false);
        am.update(conn).await?;
        identifier_am(second.id, sys, "MRN-43", true)
            .insert(conn)
            .await?;
        let mut am = third.into_active_model();
        am.active = Set(true);
        assert!(am.update(conn).await.is_err(), "{backend:?}");
    }
    Ok(())
}

#[tokio::test]
async fn invalid_codes_are_rejected_and_every_enum_value_is_accepted() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let conn = &db.conn;
        let p = insert_patient(conn).await?;
        let q = insert_patient(conn).await?;
        let (a, b) = ordered_pair(p.id, q.id);
        let id = |id: Uuid| match backend {
            Backend::Sqlite => format!("X'{}'", id.simple()),
            Backend::Postgres => format!("'{id}'"),
        };

        // Plain SQL can write any text, so the CHECK constraints are what stops it.
        for (sql, constraint) in [
            (
                format!("UPDATE patient SET gender = 'mail' WHERE id = {}", id(p.id)),
                "ck_patient_gender",
            ),
            (
                format!("UPDATE patient SET gender = 'Male' WHERE id = {}", id(p.id)),
                "ck_patient_gender",
            ),
            (
                format!(
                    "UPDATE patient SET marital_status = 'X' WHERE id = {}",
                    id(p.id)
                ),
                "ck_patient_marital_status",
            ),
            (
                format!(
                    "UPDATE patient SET deceased = FALSE, deceased_at = '2020-01-01T00:00:00+00:00' WHERE id = {}",
                    id(p.id)
                ),
                "ck_patient_deceased_at",
            ),
            (
                format!(
                    "UPDATE patient SET multiple_birth = FALSE, multiple_birth_order = 2 WHERE id = {}",
                    id(p.id)
                ),
                "ck_patient_multiple_birth_order",
            ),
            (
                format!("UPDATE patient SET version = 0 WHERE id = {}", id(p.id)),
                "ck_patient_version",
            ),
            (
                format!(
                    "INSERT INTO patient_name (id, patient_id, use, given, created_by, updated_by) \
                     VALUES ({}, {}, 'alias', '[]', 'x', 'x')",
                    id(Uuid::new_v4()),
                    id(p.id)
                ),
                "ck_patient_name_use",
            ),
            (
                format!(
                    "INSERT INTO patient_telecom (id, patient_id, system, value, created_by, updated_by) \
                     VALUES ({}, {}, 'telegram', '1', 'x', 'x')",
                    id(Uuid::new_v4()),
                    id(p.id)
                ),
                "ck_patient_telecom_system",
            ),
            (
                format!(
                    "INSERT INTO patient_address (id, patient_id, period_start, period_end, created_by, updated_by) \
                     VALUES ({}, {}, '2020-02-01', '2020-01-01', 'x', 'x')",
                    id(Uuid::new_v4()),
                    id(p.id)
                ),
                "ck_patient_address_period",
            ),
            (
                format!(
                    "INSERT INTO patient_link (id, patient_id, other_patient_id, type, origin, created_by, updated_by) \
                     VALUES ({}, {}, {}, 'duplicate', 'person', 'x', 'x')",
                    id(Uuid::new_v4()),
                    id(p.id),
                    id(q.id)
                ),
                "ck_patient_link_type",
            ),
            (
                format!(
                    "INSERT INTO patient_link (id, patient_id, other_patient_id, type, origin, created_by, updated_by) \
                     VALUES ({}, {}, {}, 'seealso', 'person', 'x', 'x')",
                    id(Uuid::new_v4()),
                    id(p.id),
                    id(p.id)
                ),
                "ck_patient_link_distinct",
            ),
            (
                format!(
                    "INSERT INTO review_task (id, patient_a, patient_b, probability, match_weight, status, \
                     decided_by, decided_at, created_by, updated_by) \
                     VALUES ({}, {}, {}, 0.5, 1.0, 'maybe', 'x', '2026-01-01T00:00:00+00:00', 'x', 'x')",
                    id(Uuid::new_v4()),
                    id(a),
                    id(b)
                ),
                "ck_review_task_status",
            ),
            (
                format!(
                    "INSERT INTO review_task (id, patient_a, patient_b, probability, match_weight, created_by, updated_by) \
                     VALUES ({}, {}, {}, 1.5, 1.0, 'x', 'x')",
                    id(Uuid::new_v4()),
                    id(a),
                    id(b)
                ),
                "ck_review_task_probability",
            ),
            (
                format!(
                    "INSERT INTO api_key (id, name, role, key_hash, created_by, updated_by) \
                     VALUES ({}, 'k', 'root', 'h', 'x', 'x')",
                    id(Uuid::new_v4())
                ),
                "ck_api_key_role",
            ),
        ] {
            let msg = message(conn.execute_unprepared(&sql).await);
            assert!(
                msg.contains(constraint),
                "{backend:?}: `{sql}` failed with {msg}"
            );
        }
        let unchanged = patient::Entity::find_by_id(p.id)
            .one(conn)
            .await?
            .expect("row");
        assert_eq!(unchanged, p, "{backend:?}");

        // Every value the entities know is accepted by the database.
        for (i, g) in Gender::ALL.iter().enumerate() {
            let mut am = patient_am(date(1970, 1, 1 + i as u32));
            am.gender = Set(Some(*g));
            am.marital_status = Set(Some(MaritalStatus::ALL[i % MaritalStatus::ALL.len()]));
            am.insert(conn).await?;
        }
        for m in MaritalStatus::ALL {
            let mut am = patient_am(date(1970, 1, 1));
            am.marital_status = Set(Some(*m));
            am.insert(conn).await?;
        }
        for u in NameUse::ALL {
            let mut am = name_am(p.id, "X", &[]);
            am.r#use = Set(Some(*u));
            am.insert(conn).await?;
        }
        for (i, t) in IdentifierType::ALL.iter().enumerate() {
            let mut am = identifier_am(p.id, "urn:t", &format!("v{i}"), true);
            am.r#type = Set(Some(*t));
            am.r#use = Set(Some(IdentifierUse::ALL[i % IdentifierUse::ALL.len()]));
            am.insert(conn).await?;
        }
        for (i, u) in AddressUse::ALL.iter().enumerate() {
            let mut am = address_am(p.id, &[], "1");
            am.r#use = Set(Some(*u));
            am.r#type = Set(Some(AddressType::ALL[i % AddressType::ALL.len()]));
            am.insert(conn).await?;
        }
        for (i, s) in TelecomSystem::ALL.iter().enumerate() {
            let mut am = telecom_am(p.id, *s, "v", 1);
            am.r#use = Set(Some(TelecomUse::ALL[i % TelecomUse::ALL.len()]));
            am.insert(conn).await?;
        }
        for (i, t) in LinkType::ALL.iter().enumerate() {
            let mut am = link_am(p.id, q.id, *t);
            am.origin = Set(LinkOrigin::ALL[i % LinkOrigin::ALL.len()]);
            am.insert(conn).await?;
        }
        for (i, r) in Role::ALL.iter().enumerate() {
            api_key::ActiveModel {
                id: Set(Uuid::new_v4()),
                name: Set(format!("key-{i}")),
                role: Set(*r),
                key_hash: Set(format!("hash-{i}")),
                created_by: Set(ACTOR.into()),
                updated_by: Set(ACTOR.into()),
                ..Default::default()
            }
            .insert(conn)
            .await?;
        }
        for t in OrganizationType::ALL {
            entity::organization::ActiveModel {
                id: Set(Uuid::new_v4()),
                name: Set(format!("org {t}")),
                aliases: Set(["Alias"].into()),
                r#type: Set(Some(*t)),
                part_of: Set(None),
                active: Set(true),
                created_by: Set(ACTOR.into()),
                updated_by: Set(ACTOR.into()),
                ..Default::default()
            }
            .insert(conn)
            .await?;
        }
        for s in ReviewStatus::ALL {
            let (x, y) = ordered_pair(
                insert_patient(conn).await?.id,
                insert_patient(conn).await?.id,
            );
            let decided = *s != ReviewStatus::Open;
            review_task::ActiveModel {
                id: Set(Uuid::new_v4()),
                patient_a: Set(x),
                patient_b: Set(y),
                probability: Set(0.5),
                match_weight: Set(1.0),
                breakdown: Set(json!({})),
                status: Set(*s),
                decided_by: Set(decided.then(|| ACTOR.to_owned())),
                decided_at: Set(decided.then(now)),
                note: Set(None),
                created_by: Set(ACTOR.into()),
                updated_by: Set(ACTOR.into()),
                ..Default::default()
            }
            .insert(conn)
            .await?;
        }
        // Operations are written by the triggers and read back as the enum. The rejected
        // statements above left no trace: there was no successful UPDATE.
        let mut ops: Vec<Operation> = change_log::Entity::find()
            .all(conn)
            .await?
            .into_iter()
            .map(|c| c.operation)
            .collect();
        ops.sort();
        ops.dedup();
        assert_eq!(ops, [Operation::Insert], "{backend:?}");
        patient::Entity::delete_by_id(q.id).exec(conn).await?;
        assert_eq!(
            change_log::Entity::find()
                .filter(change_log::Column::Operation.eq(Operation::Delete))
                .count(conn)
                .await?,
            // q, and its links with p (one per link type).
            1 + LinkType::ALL.len() as u64,
            "{backend:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_soft_deleted_patient_leaves_default_queries_but_keeps_its_rows() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let conn = &db.conn;
        let kept = insert_patient(conn).await?;
        let gone = insert_patient(conn).await?;
        name_am(gone.id, "Gone", &["Al"]).insert(conn).await?;
        identifier_am(gone.id, "urn:hosp:mrn", "G-1", true)
            .insert(conn)
            .await?;
        address_am(gone.id, &["2 Side St"], "10001")
            .insert(conn)
            .await?;
        telecom_am(gone.id, TelecomSystem::Phone, "555", 1)
            .insert(conn)
            .await?;
        assert_eq!(patient::Entity::find_live().count(conn).await?, 2);

        let mut am = gone.clone().into_active_model();
        am.deleted_at = Set(Some(now()));
        am.deleted_by = Set(Some(ACTOR.into()));
        am.version = Set(gone.version + 1);
        am.update(conn).await?;

        let live: Vec<Uuid> = patient::Entity::find_live()
            .all(conn)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(live, [kept.id], "{backend:?}");
        assert!(
            patient::Entity::find_live_by_id(gone.id)
                .one(conn)
                .await?
                .is_none()
        );
        assert_eq!(patient::Entity::find_active().count(conn).await?, 1);

        // The rows are all still there.
        let record = PatientRecord::load(conn, gone.id).await?.expect("row kept");
        assert!(record.patient.is_deleted());
        assert_eq!(record.patient.version, 2);
        assert_eq!(
            (
                record.names.len(),
                record.identifiers.len(),
                record.addresses.len(),
                record.telecoms.len()
            ),
            (1, 1, 1, 1),
            "{backend:?}"
        );
        assert_eq!(patient::Entity::find().count(conn).await?, 2);
    }
    Ok(())
}

#[tokio::test]
async fn deleting_a_patient_cascades_to_its_rows_but_not_past_merge_history() -> anyhow::Result<()>
{
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let conn = &db.conn;
        let p = insert_patient(conn).await?;
        let q = insert_patient(conn).await?;
        name_am(p.id, "A", &["B"]).insert(conn).await?;
        identifier_am(p.id, "s", "v", true).insert(conn).await?;
        address_am(p.id, &[], "1").insert(conn).await?;
        telecom_am(p.id, TelecomSystem::Url, "https://x", 1)
            .insert(conn)
            .await?;
        link_am(q.id, p.id, LinkType::Refer).insert(conn).await?;
        // q's name was merged in from p: deleting p keeps the name, forgetting the source.
        let mut copied = name_am(q.id, "A", &["B"]);
        copied.source_patient_id = Set(Some(p.id));
        let copied = copied.insert(conn).await?;
        let (a, b) = ordered_pair(p.id, q.id);
        match_score::ActiveModel {
            id: Set(Uuid::new_v4()),
            patient_a: Set(a),
            patient_b: Set(b),
            probability: Set(0.8),
            match_weight: Set(6.5),
            breakdown: Set(json!({"family": {"level": "exact", "weight": 4.1}})),
            model_version: Set("fs-1".into()),
            created_by: Set(ACTOR.into()),
            updated_by: Set(ACTOR.into()),
            ..Default::default()
        }
        .insert(conn)
        .await?;

        p.clone().delete(conn).await?;
        let remaining = PatientRecord::load(conn, q.id).await?.expect("q stays");
        assert!(remaining.links.is_empty(), "{backend:?}");
        assert_eq!(remaining.names.len(), 1);
        assert_eq!(remaining.names[0].id, copied.id);
        assert_eq!(remaining.names[0].source_patient_id, None, "{backend:?}");
        for table in [
            "patient_name",
            "patient_identifier",
            "patient_address",
            "patient_telecom",
            "patient_link",
            "match_score",
        ] {
            let row = conn
                .query_one_raw(sea_orm::Statement::from_string(
                    conn.get_database_backend(),
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await?
                .expect("count");
            let n: i64 = row.try_get("", "n")?;
            let expected = if table == "patient_name" { 1 } else { 0 };
            assert_eq!(n, expected, "{backend:?}: {table}");
        }

        // A merged record cannot be hard-deleted while its merge event exists.
        let r = insert_patient(conn).await?;
        merge_event::ActiveModel {
            id: Set(Uuid::new_v4()),
            target_patient_id: Set(q.id),
            source_patient_id: Set(r.id),
            review_task_id: Set(None),
            actor: Set(ACTOR.into()),
            target_before: Set(serde_json::to_value(
                PatientRecord::load(conn, q.id).await?,
            )?),
            source_before: Set(serde_json::to_value(
                PatientRecord::load(conn, r.id).await?,
            )?),
            changes: Set(json!({"names_added": []})),
            undone_at: Set(None),
            undone_by: Set(None),
            created_by: Set(ACTOR.into()),
            updated_by: Set(ACTOR.into()),
            ..Default::default()
        }
        .insert(conn)
        .await?;
        // (SQLite reports ON DELETE RESTRICT with an extended code that `DbErr::sql_err` does
        // not classify, so look at the message.)
        let msg = message(r.clone().delete(conn).await);
        assert!(
            msg.to_lowercase().contains("foreign key"),
            "{backend:?}: {msg}"
        );
        assert!(patient::Entity::find_by_id(r.id).one(conn).await?.is_some());
    }
    Ok(())
}

#[tokio::test]
async fn a_review_task_exists_once_per_unordered_pair() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let conn = &db.conn;
        let p = insert_patient(conn).await?;
        let q = insert_patient(conn).await?;
        let task = |a: Uuid, b: Uuid| review_task::ActiveModel {
            id: Set(Uuid::new_v4()),
            patient_a: Set(a),
            patient_b: Set(b),
            probability: Set(0.62),
            match_weight: Set(3.25),
            breakdown: Set(json!({"birth_date": "exact"})),
            status: Set(ReviewStatus::Open),
            decided_by: Set(None),
            decided_at: Set(None),
            note: Set(None),
            created_by: Set(ACTOR.into()),
            updated_by: Set(ACTOR.into()),
            ..Default::default()
        };
        let (a, b) = ordered_pair(q.id, p.id);
        let open = task(a, b).insert(conn).await?;

        // The same pair again, in canonical order: unique violation.
        let err = task(a, b).insert(conn).await.expect_err("second task");
        assert!(
            matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
            "{backend:?}: {err}"
        );
        // The same pair the other way round is refused by the order CHECK.
        let msg = message(task(b, a).insert(conn).await);
        assert!(
            msg.contains("ck_review_task_pair_order"),
            "{backend:?}: {msg}"
        );

        // Decide "not a duplicate"; the decision is found from either side.
        let mut am = open.clone().into_active_model();
        am.status = Set(ReviewStatus::NotDuplicate);
        am.decided_by = Set(Some("steward-1".into()));
        am.decided_at = Set(Some(now()));
        am.note = Set(Some("twins".into()));
        am.update(conn).await?;
        for (x, y) in [(p.id, q.id), (q.id, p.id)] {
            let found = review_task::Entity::find_by_pair(x, y)
                .one(conn)
                .await?
                .expect("task found");
            assert_eq!(found.status, ReviewStatus::NotDuplicate, "{backend:?}");
            assert_eq!(found.note.as_deref(), Some("twins"));
        }

        // A decision must say who decided and when.
        let mut am = open.into_active_model();
        am.status = Set(ReviewStatus::Merged);
        am.decided_by = Set(None);
        am.decided_at = Set(None);
        let msg = message(am.update(conn).await);
        assert!(
            msg.contains("ck_review_task_decision"),
            "{backend:?}: {msg}"
        );

        // Open tasks sort by score through the (status, probability DESC) index.
        let queue = review_task::Entity::find()
            .filter(review_task::Column::Status.eq(ReviewStatus::Open))
            .order_by_desc(review_task::Column::Probability)
            .all(conn)
            .await?;
        assert!(queue.is_empty(), "{backend:?}");
    }
    Ok(())
}

#[tokio::test]
async fn entity_writes_are_in_change_log_and_the_logs_are_append_only() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let conn = &db.conn;
        let p = insert_patient(conn).await?;
        let mut am = p.clone().into_active_model();
        am.gender = Set(Some(Gender::Unknown));
        am.version = Set(2);
        am.updated_by = Set("desk-8".into());
        am.update(conn).await?;

        let log = change_log::Entity::find()
            .order_by_asc(change_log::Column::Seq)
            .all(conn)
            .await?;
        assert_eq!(log.len(), 2, "{backend:?}");
        assert_eq!(
            (log[0].operation, log[1].operation),
            (Operation::Insert, Operation::Update)
        );
        assert_eq!(log[1].row_id, p.id.to_string());
        let old = log[1].old_row.as_ref().expect("old row");
        let new = log[1].new_row.as_ref().expect("new row");
        assert_eq!(
            (&old["gender"], &new["gender"]),
            (&json!("female"), &json!("unknown"))
        );
        assert_eq!(
            new["person_id"],
            json!(p.person_id.to_string()),
            "{backend:?}"
        );
        assert_eq!(new["multiple_birth"], json!(true), "{backend:?}");

        // The database refuses to change or remove log rows, also through the entities.
        let mut am = log[0].clone().into_active_model();
        am.row_id = Set("tampered".into());
        assert!(am.update(conn).await.is_err(), "{backend:?}");
        assert!(log[0].clone().delete(conn).await.is_err(), "{backend:?}");
        assert!(
            change_log::Entity::delete_many().exec(conn).await.is_err(),
            "{backend:?}"
        );

        let event = audit_event::ActiveModel {
            actor: Set("desk-7".into()),
            role: Set(Some(Role::Registrar)),
            action: Set("patient.update".into()),
            entity_type: Set(Some("patient".into())),
            entity_id: Set(Some(p.id.to_string())),
            before: Set(Some(json!({"gender": "female"}))),
            after: Set(Some(json!({"gender": "unknown"}))),
            request_id: Set(Some("req-1".into())),
            client_addr: Set(Some("127.0.0.1".into())),
            user_agent: Set(Some("curl/8".into())),
            prev_hash: Set("0".repeat(64)),
            hash: Set("a".repeat(64)),
            created_by: Set("desk-7".into()),
            updated_by: Set("desk-7".into()),
            ..Default::default()
        }
        .insert(conn)
        .await?;
        assert!(event.seq >= 1);
        let mut am = event.clone().into_active_model();
        am.after = Set(Some(json!({"gender": "male"})));
        let msg = message(am.update(conn).await);
        assert!(msg.contains("append-only"), "{backend:?}: {msg}");
        let msg = message(event.clone().delete(conn).await);
        assert!(msg.contains("append-only"), "{backend:?}: {msg}");
        let stored = audit_event::Entity::find_by_id(event.seq)
            .one(conn)
            .await?
            .expect("event kept");
        assert_eq!(stored, event, "{backend:?}");
        assert_eq!(
            change_log::Entity::find().count(conn).await?,
            2,
            "{backend:?}"
        );

        // Links are patient tables too.
        let q = insert_patient(conn).await?;
        let link = link_am(p.id, q.id, LinkType::ReplacedBy)
            .insert(conn)
            .await?;
        let recorded = change_log::Entity::find()
            .filter(change_log::Column::TableName.eq("patient_link"))
            .one(conn)
            .await?
            .expect("link insert recorded");
        assert_eq!(recorded.row_id, link.id.to_string());
        assert_eq!(
            recorded.new_row.as_ref().map(|r| r["type"].clone()),
            Some(json!("replaced-by"))
        );
    }
    Ok(())
}

#[tokio::test]
async fn api_key_names_and_hashes_are_unique() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let conn = &db.conn;
        let key = |name: &str, hash: &str| api_key::ActiveModel {
            id: Set(Uuid::new_v4()),
            name: Set(name.into()),
            role: Set(Role::Steward),
            key_hash: Set(hash.into()),
            created_by: Set("admin".into()),
            updated_by: Set("admin".into()),
            ..Default::default()
        };
        let k = key("steward-1", "h1").insert(conn).await?;
        assert_eq!(k.revoked_at, None);
        for (name, hash) in [("steward-1", "h2"), ("steward-2", "h1")] {
            let err = key(name, hash).insert(conn).await.expect_err("duplicate");
            assert!(
                matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
                "{backend:?}: {err}"
            );
        }
        let mut am = k.into_active_model();
        am.revoked_at = Set(Some(now()));
        let revoked = am.update(conn).await?;
        let found = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq("h1"))
            .one(conn)
            .await?
            .expect("found by hash");
        assert_eq!(found, revoked, "{backend:?}");
    }
    Ok(())
}

/// Identifiers are indexed on `(system, value)` by two disjoint partial indexes (migration 8):
/// `holders_of` finds a live holder and a soft-deleted one, and both lookups are answered by
/// those indexes in the plan a prepared statement gets whatever values are bound (PostgreSQL's
/// generic plan, with sequential scans priced out; SQLite plans without bound values).
#[tokio::test]
async fn identifier_lookups_use_the_partial_indexes() -> anyhow::Result<()> {
    const LIVE: &str = "ux_patient_identifier_live_system_value";
    const RETIRED: &str = "idx_patient_identifier_retired_system_value";
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let conn = &db.conn;
        let (sys, val) = ("urn:mrn:north", "N-4711");
        let retired = insert_patient(conn).await?;
        identifier_am(retired.id, sys, val, true)
            .insert(conn)
            .await?;
        let mut am = retired.clone().into_active_model();
        am.deleted_at = Set(Some(now()));
        am.deleted_by = Set(Some(ACTOR.into()));
        am.version = Set(retired.version + 1);
        am.update(conn).await?;
        let live = insert_patient(conn).await?;
        identifier_am(live.id, sys, val, true).insert(conn).await?;
        identifier_am(live.id, sys, "N-0000", true)
            .insert(conn)
            .await?;

        let holders = conn
            .get_database_backend()
            .build(&patient_identifier::Entity::holders_of(sys, val));
        let mut found: Vec<Uuid> = conn
            .query_all_raw(holders.clone())
            .await?
            .iter()
            .map(|row| row.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        found.sort();
        let mut wanted = vec![retired.id, live.id];
        wanted.sort();
        assert_eq!(found, wanted, "{backend:?}");

        let find_live = conn
            .get_database_backend()
            .build(&patient_identifier::Entity::find_live_by_system_value(sys, val).into_query());
        for (statement, indexes) in [(find_live, &[LIVE][..]), (holders, &[LIVE, RETIRED][..])] {
            let plan = query_plan(conn, statement).await?;
            for index in indexes {
                assert!(plan.contains(index), "{backend:?}: {plan}");
            }
            assert!(
                !plan.contains("SCAN patient_identifier") && !plan.contains("Seq Scan"),
                "{backend:?}: {plan}"
            );
        }
    }
    Ok(())
}

/// The lookups of one value under every name of a domain (`system IN (...)`) are answered by
/// the same two partial indexes, and `systems_in_use` lists every system of live and retired
/// holders once (for a search by a value alone).
#[tokio::test]
async fn lookups_under_several_systems_use_the_partial_indexes() -> anyhow::Result<()> {
    const LIVE: &str = "ux_patient_identifier_live_system_value";
    const RETIRED: &str = "idx_patient_identifier_retired_system_value";
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let conn = &db.conn;
        assert!(
            patient_identifier::Entity::systems_in_use(conn)
                .await?
                .is_empty()
        );
        let retired = insert_patient(conn).await?;
        identifier_am(retired.id, "ST_MARYS", "A-1", true)
            .insert(conn)
            .await?;
        identifier_am(retired.id, "urn:retired:only", "R-1", true)
            .insert(conn)
            .await?;
        let mut am = retired.clone().into_active_model();
        am.deleted_at = Set(Some(now()));
        am.deleted_by = Set(Some(ACTOR.into()));
        am.version = Set(retired.version + 1);
        am.update(conn).await?;
        let live = insert_patient(conn).await?;
        identifier_am(live.id, "http://stmarys.example.org/mrn", "A-1", true)
            .insert(conn)
            .await?;
        identifier_am(live.id, "ST_MARYS", "A-2", true)
            .insert(conn)
            .await?;

        assert_eq!(
            patient_identifier::Entity::systems_in_use(conn).await?,
            [
                "ST_MARYS",
                "http://stmarys.example.org/mrn",
                "urn:retired:only"
            ],
            "{backend:?}"
        );
        let names = [
            "ST_MARYS".to_owned(),
            "http://stmarys.example.org/mrn".to_owned(),
        ];
        let holders = conn
            .get_database_backend()
            .build(&patient_identifier::Entity::holders_of_any(&names, "A-1"));
        let mut found: Vec<Uuid> = conn
            .query_all_raw(holders.clone())
            .await?
            .iter()
            .map(|row| row.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        found.sort();
        let mut wanted = vec![retired.id, live.id];
        wanted.sort();
        assert_eq!(found, wanted, "{backend:?}");
        let find_live = conn.get_database_backend().build(
            &patient_identifier::Entity::find_live_by_systems_value(&names, "A-1").into_query(),
        );
        for (statement, indexes) in [(find_live, &[LIVE][..]), (holders, &[LIVE, RETIRED][..])] {
            let plan = query_plan(conn, statement).await?;
            for index in indexes {
                assert!(plan.contains(index), "{backend:?}: {plan}");
            }
            assert!(
                !plan.contains("SCAN patient_identifier") && !plan.contains("Seq Scan"),
                "{backend:?}: {plan}"
            );
        }
    }
    Ok(())
}

/// The plan of `statement` as text: SQLite's `EXPLAIN QUERY PLAN`, or PostgreSQL's generic plan
/// of the statement prepared (`plan_cache_mode = force_generic_plan`, sequential scans off).
async fn query_plan(
    conn: &sea_orm::DatabaseConnection,
    statement: sea_orm::Statement,
) -> anyhow::Result<String> {
    use sea_orm::{DbBackend, Statement, TransactionTrait};
    let backend = statement.db_backend;
    let txn = conn.begin().await?;
    let rows = match backend {
        DbBackend::Postgres => {
            txn.execute_unprepared(
                "SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan",
            )
            .await?;
            txn.execute_unprepared(&format!("PREPARE lookup AS {}", statement.sql))
                .await?;
            let params = statement.values.map_or(0, |v| v.0.len());
            let args = vec!["'x'"; params].join(", ");
            txn.query_all_raw(Statement::from_string(
                backend,
                format!("EXPLAIN EXECUTE lookup({args})"),
            ))
            .await?
        }
        _ => {
            txn.query_all_raw(Statement {
                sql: format!("EXPLAIN QUERY PLAN {}", statement.sql),
                ..statement
            })
            .await?
        }
    };
    let column = if backend == DbBackend::Postgres {
        "QUERY PLAN"
    } else {
        "detail"
    };
    let lines: Vec<String> = rows
        .iter()
        .map(|row| row.try_get::<String>("", column))
        .collect::<Result<_, _>>()?;
    txn.rollback().await?;
    Ok(lines.join("\n"))
}
