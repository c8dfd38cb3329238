//! The migrations on both engines: each one's down exactly reverses its up, a full down leaves no
//! table, index, trigger or function behind, up runs again after that, and the change-capture
//! column list matches the columns the tables really have.

use std::collections::BTreeSet;

use migration::change_capture::current_tracked_tables;
use migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use migration::testing::{Backend, TestDb};
use migration::{Migrator, MigratorTrait};

/// Text rows of a query whose single column is named `x`.
async fn strings(conn: &DatabaseConnection, sql: &str) -> anyhow::Result<Vec<String>> {
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.try_get::<String>("", "x")?);
    }
    Ok(out)
}

/// Every schema object the migrations can create, as sorted text (the migration bookkeeping
/// table `seaql_migrations` excluded).
async fn snapshot(conn: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let queries: &[&str] = match conn.get_database_backend() {
        DbBackend::Sqlite => &[
            "SELECT type || ' ' || name || ' on ' || tbl_name || ': ' || \
             coalesce(sql, '') AS x FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> 'seaql_migrations'",
        ],
        _ => &[
            "SELECT 'table ' || table_name AS x FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'",
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || \
             is_nullable || ' ' || coalesce(column_default, '') || ' ' || is_identity AS x \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'",
            "SELECT 'index ' || indexdef AS x FROM pg_indexes \
             WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'",
            "SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || \
             pg_get_constraintdef(oid) AS x FROM pg_constraint \
             WHERE connamespace = 'public'::regnamespace \
               AND conrelid::regclass::text <> 'seaql_migrations'",
            "SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgname AS x \
             FROM pg_trigger WHERE NOT tgisinternal",
            "SELECT 'function ' || p.proname || ' ' || md5(p.prosrc) AS x FROM pg_proc p \
             WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS ( \
               SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')",
            "SELECT 'extension ' || extname AS x FROM pg_extension WHERE extname <> 'plpgsql'",
            "SELECT 'sequence ' || sequence_name AS x FROM information_schema.sequences \
             WHERE sequence_schema = 'public' AND sequence_name NOT LIKE 'seaql_migrations%'",
        ],
    };
    let mut all = Vec::new();
    for q in queries {
        all.extend(strings(conn, q).await?);
    }
    all.sort();
    Ok(all)
}

/// Migrations that change only the PostgreSQL schema.
const POSTGRES_ONLY: [&str; 1] = ["m20261203_000013_postgres_audit_chain_trigger"];

/// Migrations that change only the SQLite schema.
const SQLITE_ONLY: [&str; 3] = [
    "m20261201_000010_lean_sqlite_change_capture",
    "m20261202_000011_render_each_uuid_once",
    "m20261202_000012_sqlite_audit_chain_trigger",
];

#[tokio::test]
async fn each_down_migration_reverses_its_up_migration() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::empty(backend).await;
        let steps = Migrator::migrations().len();
        let mut snapshots = vec![snapshot(&db.conn).await?];
        assert!(snapshots[0].is_empty(), "{backend:?}: {:?}", snapshots[0]);
        for _ in 0..steps {
            Migrator::up(&db.conn, Some(1)).await?;
            snapshots.push(snapshot(&db.conn).await?);
        }
        for n in (0..steps).rev() {
            Migrator::down(&db.conn, Some(1)).await?;
            let now = snapshot(&db.conn).await?;
            let expected = &snapshots[n];
            let extra: Vec<_> = now.iter().filter(|o| !expected.contains(o)).collect();
            let missing: Vec<_> = expected.iter().filter(|o| !now.contains(o)).collect();
            assert!(
                extra.is_empty() && missing.is_empty(),
                "{backend:?}: down of migration {} left {extra:#?} and lost {missing:#?}",
                n + 1
            );
        }
        for (n, pair) in snapshots.windows(2).enumerate() {
            let name = Migrator::migrations()[n].name().to_owned();
            let elsewhere = match backend {
                Backend::Postgres => SQLITE_ONLY.contains(&name.as_str()),
                Backend::Sqlite => POSTGRES_ONLY.contains(&name.as_str()),
            };
            if elsewhere {
                assert_eq!(pair[0], pair[1], "{backend:?}: {name} changed something");
            } else {
                assert_ne!(pair[0], pair[1], "{backend:?}: {name} changed nothing");
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn migrations_run_up_down_to_nothing_and_up_again() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::empty(backend).await;
        Migrator::up(&db.conn, None).await?;
        let first = snapshot(&db.conn).await?;
        for table in [
            "organization",
            "organization_identifier",
            "organization_address",
            "organization_telecom",
            "patient",
            "patient_name",
            "patient_identifier",
            "patient_address",
            "patient_telecom",
            "patient_communication",
            "patient_link",
            "match_score",
            "review_task",
            "merge_event",
            "change_log",
            "audit_event",
            "api_key",
            "pix_consumer",
            "pix_outbox",
            "related_person",
            "fhir_subscription",
            "fhir_subscription_outbox",
        ] {
            assert!(
                first
                    .iter()
                    .any(|o| o.starts_with(&format!("table {table}"))),
                "{backend:?}: no table {table}"
            );
        }
        let triggers = first.iter().filter(|o| o.starts_with("trigger ")).count();
        // 7 tracked tables (patient_communication since migration 24) x (3 capture triggers,
        // + no-truncate on PG), 2 append-only tables x 2,
        // the live-flag triggers (SQLite 3, PG 2), the audit chain guard, and the PIX outbox
        // triggers of migration 17 (SQLite 5, PG 3), and the FHIR subscription outbox triggers of
        // migration 27 (2 on each).
        let expected = match backend {
            Backend::Sqlite => 7 * 3 + 2 * 2 + 3 + 1 + 5 + 2,
            Backend::Postgres => 7 * 4 + 2 * 2 + 2 + 1 + 3 + 2,
        };
        assert_eq!(triggers, expected, "{backend:?}: {first:#?}");

        Migrator::down(&db.conn, None).await?;
        let empty = snapshot(&db.conn).await?;
        assert!(empty.is_empty(), "{backend:?}: left behind {empty:#?}");
        assert!(Migrator::get_applied_migrations(&db.conn).await?.is_empty());

        Migrator::up(&db.conn, None).await?;
        assert_eq!(snapshot(&db.conn).await?, first, "{backend:?}");
        assert!(Migrator::get_pending_migrations(&db.conn).await?.is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn change_capture_column_lists_match_the_tables() -> anyhow::Result<()> {
    for backend in Backend::ALL {
        let db = TestDb::migrated(backend).await;
        for table in current_tracked_tables() {
            let sql = match backend {
                Backend::Sqlite => {
                    format!("SELECT name AS x FROM pragma_table_info('{}')", table.name)
                }
                Backend::Postgres => format!(
                    "SELECT column_name::text AS x FROM information_schema.columns \
                     WHERE table_schema = 'public' AND table_name = '{}'",
                    table.name
                ),
            };
            let actual: BTreeSet<String> = strings(&db.conn, &sql).await?.into_iter().collect();
            let listed: BTreeSet<String> = table.columns().map(|(c, _)| c.to_owned()).collect();
            assert_eq!(listed, actual, "{backend:?}: columns of {}", table.name);
        }
    }
    Ok(())
}
