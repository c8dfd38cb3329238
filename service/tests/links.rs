//! Links between records on both databases: create, list in both directions, delete, and the
//! refusals (duplicate, self-link, merge-only types, unknown or deleted records, wrong role).

use chrono::NaiveDate;
use entity::enums::{LinkOrigin, LinkType, Role};
use entity::patient_ext::PatientRecord;
use migration::testing::{Backend, TestDb};
use service::merge::{self, MergeRequest};
use service::patients::{self, NameInput, PatientInput, RegisterOutcome};
use service::{Actor, Ctx, Error, Mpi, RequestMeta, ServiceConfig, links};
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

async fn register(mpi: &Mpi, given: &str, family: &str, born: (i32, u32, u32)) -> Uuid {
    let input = PatientInput {
        birth_date: NaiveDate::from_ymd_opt(born.0, born.1, born.2),
        names: vec![NameInput {
            family: Some(family.into()),
            given: vec![given.into()],
            ..Default::default()
        }],
        ..Default::default()
    };
    match patients::register(mpi, &ctx(Role::Registrar), input, true)
        .await
        .unwrap()
    {
        RegisterOutcome::Created { patient, .. } => patient.id(),
        RegisterOutcome::Duplicates { .. } => panic!("force=true must create"),
    }
}

async fn version(mpi: &Mpi, id: Uuid) -> i32 {
    PatientRecord::load(mpi.db(), id)
        .await
        .unwrap()
        .unwrap()
        .patient
        .version
}

fn code(e: &Error) -> &'static str {
    match e {
        Error::Conflict { code, .. } => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn create_list_and_delete_links() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let steward = ctx(Role::Steward);
        let a = register(&mpi, "Rosa", "Marsh", (1950, 5, 6)).await;
        let b = register(&mpi, "Tom", "Quill", (1980, 7, 8)).await;
        let c = register(&mpi, "Ida", "Brook", (1999, 9, 9)).await;
        let va = version(&mpi, a).await;

        let ab = links::create(
            &mpi,
            &steward,
            a,
            b,
            LinkType::SeeAlso,
            Some("same person".into()),
        )
        .await
        .unwrap();
        assert_eq!(
            (ab.patient_id, ab.other_patient_id, ab.r#type),
            (a, b, LinkType::SeeAlso)
        );
        assert_eq!(ab.origin, LinkOrigin::Person);
        assert_eq!(ab.reason.as_deref(), Some("same person"));
        assert_eq!(ab.created_by, "steward-key");
        assert_eq!(
            version(&mpi, a).await,
            va + 1,
            "{backend:?}: a link changes its owner"
        );
        let ca = links::create(&mpi, &steward, c, a, LinkType::Refer, None)
            .await
            .unwrap();
        // The other type between the same pair is a different link.
        let ab_refer = links::create(&mpi, &steward, a, b, LinkType::Refer, None)
            .await
            .unwrap();

        // Both directions show on a; only the ones mentioning b on b.
        let on_a: Vec<Uuid> = links::list(&mpi, &steward, a)
            .await
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect();
        assert_eq!(
            on_a,
            [ab.id, ca.id, ab_refer.id],
            "{backend:?}: oldest first"
        );
        let on_b: Vec<Uuid> = links::list(&mpi, &steward, b)
            .await
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect();
        assert_eq!(on_b, [ab.id, ab_refer.id]);
        // The record view carries them too.
        let rec = PatientRecord::load(mpi.db(), a).await.unwrap().unwrap();
        assert_eq!(rec.links.len(), 3);

        let vc = version(&mpi, c).await;
        links::delete(&mpi, &steward, ca.id).await.unwrap();
        assert_eq!(version(&mpi, c).await, vc + 1);
        let on_a: Vec<Uuid> = links::list(&mpi, &steward, a)
            .await
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect();
        assert_eq!(on_a, [ab.id, ab_refer.id]);
        let again = links::delete(&mpi, &steward, ca.id).await.unwrap_err();
        assert!(matches!(again, Error::NotFound { .. }), "{again:?}");

        // Every step is in the audit trail, with the link id.
        let trail = service::audit::query(
            mpi.db(),
            service::audit::AuditFilter {
                entity_id: Some(ca.id.to_string()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let actions: Vec<&str> = trail.items.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            ["link.delete", "link.create"],
            "{backend:?}: newest first"
        );
        assert!(service::audit::verify(mpi.db()).await.unwrap().ok);
    }
}

#[tokio::test]
async fn links_are_refused_when_they_would_be_wrong() {
    for backend in Backend::ALL {
        let (_db, mpi) = start(backend).await;
        let steward = ctx(Role::Steward);
        let a = register(&mpi, "Rosa", "Marsh", (1950, 5, 6)).await;
        let b = register(&mpi, "Tom", "Quill", (1980, 7, 8)).await;
        let c = register(&mpi, "Ida", "Brook", (1999, 9, 9)).await;
        links::create(&mpi, &steward, a, b, LinkType::SeeAlso, None)
            .await
            .unwrap();
        let va = version(&mpi, a).await;

        let dup = links::create(&mpi, &steward, a, b, LinkType::SeeAlso, None)
            .await
            .unwrap_err();
        assert_eq!(code(&dup), "duplicate_link", "{backend:?}");
        assert_eq!(version(&mpi, a).await, va, "a refused link changes nothing");
        let own = links::create(&mpi, &steward, a, a, LinkType::SeeAlso, None)
            .await
            .unwrap_err();
        assert!(matches!(own, Error::Validation { .. }), "{own:?}");
        for merge_only in [LinkType::ReplacedBy, LinkType::Replaces] {
            let e = links::create(&mpi, &steward, a, c, merge_only, None)
                .await
                .unwrap_err();
            assert!(
                matches!(e, Error::Validation { ref field, .. } if field == "type"),
                "{e:?}"
            );
        }
        let unknown = links::create(&mpi, &steward, a, Uuid::new_v4(), LinkType::Refer, None)
            .await
            .unwrap_err();
        assert!(matches!(unknown, Error::NotFound { .. }), "{unknown:?}");
        let listed = links::list(&mpi, &steward, Uuid::new_v4())
            .await
            .unwrap_err();
        assert!(matches!(listed, Error::NotFound { .. }));
        patients::delete(&mpi, &steward, c).await.unwrap();
        let deleted = links::create(&mpi, &steward, a, c, LinkType::Refer, None)
            .await
            .unwrap_err();
        assert!(matches!(deleted, Error::NotFound { .. }), "{deleted:?}");

        // A merge's links cannot be deleted by hand.
        let d = register(&mpi, "Ned", "Vale", (1960, 1, 1)).await;
        merge::merge(
            &mpi,
            &steward,
            MergeRequest {
                target: b,
                source: d,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .unwrap();
        let replaced_by = links::list(&mpi, &steward, d)
            .await
            .unwrap()
            .into_iter()
            .find(|l| l.r#type == LinkType::ReplacedBy)
            .expect("the merge linked the source");
        let e = links::delete(&mpi, &steward, replaced_by.id)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");

        // Roles: a registrar may list (read) but not link; an auditor may not even list.
        let registrar = ctx(Role::Registrar);
        assert!(links::list(&mpi, &registrar, a).await.is_ok());
        let e = links::create(&mpi, &registrar, a, b, LinkType::Refer, None)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");
        let e = links::list(&mpi, &ctx(Role::Auditor), a).await.unwrap_err();
        assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");
    }
}
