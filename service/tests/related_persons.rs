//! RelatedPerson use cases on both databases: a patient's mother as the glue for the mother
//! reference (`mother`, `mother_in`: the newest live, active `MTH` RelatedPerson, through a
//! merge to the survivor), the checks (relationship code, limits, live patient, role), the
//! versioned update, and the audit rows of every read and write.

mod common;

use migration::testing::Backend;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use service::context::Role;
use service::merge::{self, MergeRequest};
use service::related_persons::{self, RelatedPersonInput};
use service::{Error, Mpi};
use uuid::Uuid;

use common::{ctx_as, desk, ident, margaret, name, oliver, register, setup};

fn person(patient_id: Uuid, code: &str, family: &str, given: &str) -> RelatedPersonInput {
    RelatedPersonInput {
        patient_id,
        relationship: code.to_owned(),
        active: true,
        gender: None,
        birth_date: None,
        birth_date_precision: Default::default(),
        names: vec![name(family, &[given])],
        identifiers: vec![ident("urn:au:nid", &format!("NID-{given}"))],
        telecoms: Vec::new(),
        addresses: Vec::new(),
        communications: Vec::new(),
    }
}

async fn audit_rows(mpi: &Mpi, action: &str) -> usize {
    entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::EntityType.eq("related_person"))
        .filter(entity::audit_event::Column::Action.eq(action))
        .all(mpi.db())
        .await
        .expect("audit rows")
        .len()
}

#[tokio::test]
async fn the_mother_of_a_patient_is_her_newest_active_mth_related_person() {
    for backend in Backend::ALL {
        let (_db, mpi) = setup(backend).await;
        let child = register(&mpi, margaret()).await.id();
        let other = register(&mpi, oliver()).await.id();

        assert_eq!(
            related_persons::mother(&mpi, &desk(), child)
                .await
                .expect("read"),
            None,
            "{backend:?}"
        );
        let first = related_persons::create(&mpi, &desk(), person(child, "MTH", "Lambert", "Ruth"))
            .await
            .expect("create");
        related_persons::create(&mpi, &desk(), person(child, "FTH", "Whitfield", "John"))
            .await
            .expect("create");
        let mut inactive = person(child, "MTH", "Lambert", "Ada");
        inactive.active = false;
        related_persons::create(&mpi, &desk(), inactive)
            .await
            .expect("create");

        let mother = related_persons::mother(&mpi, &desk(), child)
            .await
            .expect("read")
            .expect("a mother");
        assert_eq!(mother.id, first.id, "{backend:?}");
        assert_eq!(mother.names[0].given, ["Ruth"]);
        assert_eq!(mother.identifiers[0].value, "NID-Ruth");
        assert_eq!(
            related_persons::mother_in(mpi.db(), other)
                .await
                .expect("read"),
            None
        );

        // An update raises the version (a stale one is refused); after a merge the retired
        // record answers the survivor's mother.
        let newer = related_persons::update(
            &mpi,
            &desk(),
            first.id,
            first.version,
            person(child, "MTH", "Lambert-Price", "Ruth"),
        )
        .await
        .expect("update");
        assert_eq!(newer.version, 2);
        let stale = related_persons::update(
            &mpi,
            &desk(),
            first.id,
            first.version,
            person(child, "MTH", "Lambert", "Ruth"),
        )
        .await;
        assert!(
            matches!(
                stale,
                Err(Error::StaleVersion {
                    expected: 1,
                    current: 2
                })
            ),
            "{stale:?}"
        );
        merge::merge(
            &mpi,
            &ctx_as("steward-1", Role::Steward),
            MergeRequest {
                target: child,
                source: other,
                preview: false,
                review_task_id: None,
            },
        )
        .await
        .expect("merge");
        let through_merge = related_persons::mother(&mpi, &desk(), other)
            .await
            .expect("read")
            .expect("the survivor's mother");
        assert_eq!(through_merge.id, first.id);
        assert_eq!(
            through_merge.names[0].family.as_deref(),
            Some("Lambert-Price")
        );

        // A RelatedPerson created for the retired record belongs to the survivor.
        let guardian =
            related_persons::create(&mpi, &desk(), person(other, "GUARD", "Price", "Tom"))
                .await
                .expect("create");
        assert_eq!(guardian.patient_id, child);

        // Refusals: an unknown relationship, a list over the limits, no live patient, a role
        // that may not read patients.
        let bad_code =
            related_persons::create(&mpi, &desk(), person(child, "BOSS", "X", "Y")).await;
        assert!(
            matches!(&bad_code, Err(Error::Validation { field, .. }) if field == "relationship"),
            "{bad_code:?}"
        );
        let mut many = person(child, "NOK", "Lambert", "Kim");
        many.names = (0..21)
            .map(|i| name("Lambert", &[&format!("N{i}")]))
            .collect();
        let too_many = related_persons::create(&mpi, &desk(), many).await;
        assert!(
            matches!(&too_many, Err(Error::Validation { field, .. }) if field == "names"),
            "{too_many:?}"
        );
        let nobody =
            related_persons::create(&mpi, &desk(), person(Uuid::new_v4(), "MTH", "X", "Y")).await;
        assert!(
            matches!(&nobody, Err(Error::Validation { field, .. }) if field == "patient"),
            "{nobody:?}"
        );
        let auditor =
            related_persons::mother(&mpi, &ctx_as("auditor-1", Role::Auditor), child).await;
        assert!(
            matches!(auditor, Err(Error::Forbidden { .. })),
            "{auditor:?}"
        );

        // Every write and read was audited (the refused ones stored nothing).
        assert_eq!(audit_rows(&mpi, "create").await, 4, "{backend:?}");
        assert_eq!(audit_rows(&mpi, "update").await, 1, "{backend:?}");
        assert_eq!(audit_rows(&mpi, "read").await, 3, "{backend:?}");
    }
}
