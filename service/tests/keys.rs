//! API keys on both backends: created secrets authenticate as their name and role, are stored
//! only as hashes, and stop working when revoked; and the role table.

use entity::api_key;
use entity::enums::Role;
use migration::testing::{Backend, TestDb};
use sea_orm::EntityTrait;
use service::Error;
use service::context::Ctx;
use service::keys::{self, Action};

#[tokio::test]
async fn create_authenticate_and_revoke() {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        let (row, secret) = keys::create(&db.conn, "desk-1", Role::Registrar)
            .await
            .unwrap();
        assert!(secret.starts_with("mpi_") && secret.len() == 4 + 64);
        assert_eq!(row.key_hash, keys::hash_secret(&secret));
        assert_ne!(row.key_hash, secret);
        let stored = api_key::Entity::find().all(&db.conn).await.unwrap();
        assert!(stored.iter().all(|k| k.key_hash != secret));

        let actor = keys::authenticate(&db.conn, &secret).await.unwrap();
        assert_eq!(
            (actor.name.as_str(), actor.role),
            ("desk-1", Role::Registrar)
        );
        let used = api_key::Entity::find_by_id(row.id)
            .one(&db.conn)
            .await
            .unwrap()
            .unwrap();
        assert!(used.last_used_at.is_some());

        assert!(matches!(
            keys::authenticate(&db.conn, "mpi_0000").await,
            Err(Error::Unauthenticated(_))
        ));
        assert!(matches!(
            keys::authenticate(&db.conn, "").await,
            Err(Error::Unauthenticated(_))
        ));
        assert!(matches!(
            keys::create(&db.conn, "desk-1", Role::Admin).await,
            Err(Error::Conflict {
                code: "duplicate_key_name",
                ..
            })
        ));
        let (other, other_secret) = keys::create(&db.conn, "audit", Role::Auditor)
            .await
            .unwrap();
        assert_ne!(other_secret, secret);

        let revoked = keys::revoke(&db.conn, "desk-1").await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(matches!(
            keys::authenticate(&db.conn, &secret).await,
            Err(Error::Unauthenticated("revoked key"))
        ));
        // By id too; the other key still works.
        keys::revoke(&db.conn, &other.id.to_string()).await.unwrap();
        assert!(keys::authenticate(&db.conn, &other_secret).await.is_err());
        assert!(matches!(
            keys::revoke(&db.conn, "nobody").await,
            Err(Error::NotFound { .. })
        ));
        let listed = keys::list(&db.conn).await.unwrap();
        assert_eq!(
            listed.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
            ["audit", "desk-1"]
        );
    }
}

#[test]
fn roles_allow_what_the_issue_says() {
    use Action::*;
    let patient_work = [Register, Read, Update, Delete, Search, Match];
    // Subscribing (PMIR ITI-94) pushes whole records to an endpoint: stewards and admins.
    let stewardship = [Merge, Undo, Link, Review, Subscribe];
    for a in patient_work {
        assert!(keys::allows(Role::Registrar, a));
        assert!(keys::allows(Role::Steward, a));
        assert!(!keys::allows(Role::Auditor, a));
    }
    for a in stewardship {
        assert!(!keys::allows(Role::Registrar, a));
        assert!(keys::allows(Role::Steward, a));
        assert!(!keys::allows(Role::Auditor, a));
    }
    assert!(keys::allows(Role::Auditor, Audit));
    assert!(!keys::allows(Role::Registrar, Audit));
    assert!(!keys::allows(Role::Steward, ManageKeys));
    for a in patient_work
        .into_iter()
        .chain(stewardship)
        .chain([Audit, ManageKeys])
    {
        assert!(keys::allows(Role::Admin, a));
    }
    let mut auditor = Ctx::system("auditor");
    auditor.actor.role = Role::Auditor;
    assert!(matches!(
        auditor.authorize(Register),
        Err(Error::Forbidden {
            action: "register",
            ..
        })
    ));
}

#[tokio::test]
async fn use_cases_refuse_roles_that_may_not_act() {
    let db = TestDb::migrated(Backend::Sqlite).await;
    let mpi = service::Mpi::start(
        db.conn.clone(),
        matcher::Model::builtin(),
        service::ServiceConfig::default(),
    )
    .await
    .unwrap();
    let mut auditor = Ctx::system("auditor-1");
    auditor.actor.role = Role::Auditor;
    let input = service::patients::PatientInput {
        names: vec![service::patients::NameInput {
            family: Some("Whitfield".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(matches!(
        service::patients::register(&mpi, &auditor, input.clone(), false).await,
        Err(Error::Forbidden {
            action: "register",
            ..
        })
    ));
    assert!(matches!(
        service::patients::get(&mpi, &auditor, uuid::Uuid::new_v4()).await,
        Err(Error::Forbidden { action: "read", .. })
    ));
    assert!(matches!(
        service::matching::find_matches_for_input(&mpi, &auditor, &input, Default::default()).await,
        Err(Error::Forbidden {
            action: "match",
            ..
        })
    ));
    // Refused calls leave no trace and change nothing.
    assert_eq!(service::audit::verify(&db.conn).await.unwrap().rows, 0);
    assert_eq!(mpi.index().len(), 0);
}
