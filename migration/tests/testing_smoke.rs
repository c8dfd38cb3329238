//! The per-test database helper gives each test its own database on both engines.

use migration::sea_orm::{ConnectionTrait, Statement};
use migration::testing::{Backend, TestDb};

#[tokio::test]
async fn each_backend_gives_a_separate_working_database() {
    for backend in Backend::ALL {
        let a = TestDb::empty(backend).await;
        let b = TestDb::empty(backend).await;
        assert_ne!(a.url, b.url);
        a.conn
            .execute_unprepared("CREATE TABLE probe (v INTEGER)")
            .await
            .unwrap();
        let row = b
            .conn
            .query_one_raw(Statement::from_string(
                b.conn.get_database_backend(),
                "SELECT 1 AS v",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i32>("", "v").unwrap(), 1);
        // `probe` exists only in `a`.
        assert!(
            b.conn
                .execute_unprepared("SELECT v FROM probe")
                .await
                .is_err()
        );
    }
}
