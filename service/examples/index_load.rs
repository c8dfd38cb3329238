//! Measures the service's start-up (candidate index load) over a database filled with synthetic
//! patients: `cargo run --release -p service --example index_load -- <database-url> <patients>`.
//! Fills the database first when it has fewer patients than asked (migrating an empty one), then
//! times `Mpi::start` and one match query. Prints figures only, never patient data.

use std::collections::HashSet;
use std::time::Instant;

use chrono::NaiveDate;
use entity::enums::{Gender, NameUse, TelecomSystem};
use matcher::synth::{Generator, GeneratorConfig};
use matcher::{PersonRecord, Sex};
use migration::MigratorTrait;
use sea_orm::{ActiveValue::NotSet, ActiveValue::Set, Database, EntityTrait, PaginatorTrait};
use service::patients::{AddressInput, IdentifierInput, NameInput, PatientInput, TelecomInput};
use service::{Mpi, ServiceConfig, convert};
use uuid::Uuid;

fn input_of(r: &PersonRecord, seen: &mut HashSet<(String, String)>) -> PatientInput {
    let n = matcher::normalize(r);
    let mut names = vec![NameInput {
        family: r.family_names.first().cloned(),
        given: r.given_names.clone(),
        r#use: Some(NameUse::Official),
        ..Default::default()
    }];
    for f in r.family_names.iter().skip(1) {
        names.push(NameInput {
            family: Some(f.clone()),
            r#use: Some(NameUse::Maiden),
            ..Default::default()
        });
    }
    PatientInput {
        gender: r.sex.map(|s| match s {
            Sex::Male => Gender::Male,
            Sex::Female => Gender::Female,
            Sex::Other => Gender::Other,
            Sex::Unknown => Gender::Unknown,
        }),
        birth_date: n
            .birth_date
            .and_then(|d| NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())),
        names,
        identifiers: r
            .identifiers
            .iter()
            .filter(|i| !i.system.is_empty() && !i.value.is_empty())
            .filter(|i| seen.insert((i.system.clone(), i.value.clone())))
            .map(|i| IdentifierInput {
                system: i.system.clone(),
                value: i.value.clone(),
                ..Default::default()
            })
            .collect(),
        addresses: r
            .addresses
            .iter()
            .map(|a| AddressInput {
                lines: a.lines.clone(),
                city: a.city.clone(),
                state: a.state.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.clone(),
                ..Default::default()
            })
            .collect(),
        telecoms: r
            .phones
            .iter()
            .map(|p| (TelecomSystem::Phone, p))
            .chain(r.emails.iter().map(|e| (TelecomSystem::Email, e)))
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(system, v)| TelecomInput {
                system,
                value: v.clone(),
                r#use: None,
                rank: None,
                period: None,
            })
            .collect(),
        ..Default::default()
    }
}

async fn fill(db: &sea_orm::DatabaseConnection, wanted: usize) -> anyhow::Result<()> {
    let have = entity::patient::Entity::find().count(db).await? as usize;
    if have >= wanted {
        return Ok(());
    }
    let started = Instant::now();
    let records = Generator::new(GeneratorConfig {
        records: wanted - have,
        seed: 7,
        ..Default::default()
    })?
    .generate();
    let mut seen = HashSet::new();
    for chunk in records.chunks(400) {
        let inputs: Vec<(Uuid, PatientInput)> = chunk
            .iter()
            .map(|s| (Uuid::new_v4(), input_of(&s.record, &mut seen)))
            .collect();
        let mut patients = Vec::new();
        let (mut names, mut idents, mut addrs, mut tels) = (vec![], vec![], vec![], vec![]);
        for (id, p) in &inputs {
            patients.push(entity::patient::ActiveModel {
                id: Set(*id),
                person_id: Set(Uuid::new_v4()),
                active: Set(true),
                gender: Set(p.gender),
                birth_date: Set(p.birth_date),
                birth_date_precision: Set(None),
                deceased: Set(false),
                deceased_at: Set(None),
                marital_status: Set(None),
                multiple_birth: Set(None),
                multiple_birth_order: Set(None),
                managing_organization_id: Set(None),
                mother_maiden_family: Set(None),
                mother_maiden_given: Set(None),
                mother_identifier_system: Set(None),
                mother_identifier_value: Set(None),
                mother_patient_id: Set(None),
                version: Set(1),
                deleted_at: Set(None),
                deleted_by: Set(None),
                created_at: NotSet,
                updated_at: NotSet,
                created_by: Set("index_load".into()),
                updated_by: Set("index_load".into()),
            });
            for (i, n) in p.names.iter().enumerate() {
                names.push(convert::name_row(*id, n, i == 0, "index_load"));
            }
            for (i, x) in p.identifiers.iter().enumerate() {
                idents.push(convert::identifier_row(*id, x, i == 0, true, "index_load"));
            }
            for (i, a) in p.addresses.iter().enumerate() {
                addrs.push(convert::address_row(*id, a, i == 0, "index_load"));
            }
            for (i, t) in p.telecoms.iter().enumerate() {
                tels.push(convert::telecom_row(*id, t, i == 0, "index_load"));
            }
        }
        let txn = sea_orm::TransactionTrait::begin(db).await?;
        entity::patient::Entity::insert_many(patients)
            .exec(&txn)
            .await?;
        entity::patient_name::Entity::insert_many(names)
            .exec(&txn)
            .await?;
        entity::patient_identifier::Entity::insert_many(idents)
            .exec(&txn)
            .await?;
        entity::patient_address::Entity::insert_many(addrs)
            .exec(&txn)
            .await?;
        entity::patient_telecom::Entity::insert_many(tels)
            .exec(&txn)
            .await?;
        txn.commit().await?;
    }
    eprintln!(
        "filled {} patients in {:.1} s",
        records.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "sqlite:///tmp/mpi_index_load.db?mode=rwc".to_owned());
    let wanted: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    // The same SQLite settings as `mpi serve` (WAL, synchronous=NORMAL).
    let mut options = sea_orm::ConnectOptions::new(url.clone());
    options.max_connections(4).sqlx_logging(false);
    options.map_sqlx_sqlite_opts(|o| {
        o.create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5))
    });
    let db = Database::connect(options).await?;
    migration::Migrator::up(&db, None).await?;
    fill(&db, wanted).await?;

    let index = service::index::PatientIndex::new();
    let stats = index.load_all(&db, 5_000).await?;
    eprintln!(
        "load phases: query+decode {:.2} s, normalize {:.2} s, index insert {:.2} s",
        stats.query.as_secs_f64(),
        stats.normalize.as_secs_f64(),
        stats.insert.as_secs_f64()
    );
    drop(index);
    let started = Instant::now();
    let mpi = Mpi::start(
        db.clone(),
        matcher::Model::builtin(),
        ServiceConfig::default(),
    )
    .await?;
    let load = started.elapsed();
    eprintln!(
        "start-up: {} patients indexed in {:.2} s ({:.1} MB candidate index heap)",
        mpi.index().len(),
        load.as_secs_f64(),
        mpi.index().heap_bytes() as f64 / 1e6
    );
    latencies(&mpi).await
}

fn report(what: &str, mut took: Vec<std::time::Duration>) {
    took.sort();
    if took.is_empty() {
        return;
    }
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    eprintln!(
        "{what}: n={} p50 {:.2} ms, p99 {:.2} ms",
        took.len(),
        at(0.5),
        at(0.99)
    );
}

/// Sequential latencies of the audited use cases on 500 stored patients.
async fn latencies(mpi: &Mpi) -> anyhow::Result<()> {
    use sea_orm::{QueryOrder, QuerySelect};
    let ctx = service::Ctx::system("index_load");
    let ids: Vec<Uuid> = entity::patient::Entity::find()
        .select_only()
        .column(entity::patient::Column::Id)
        .order_by_asc(entity::patient::Column::Id)
        .limit(500)
        .into_tuple()
        .all(mpi.db())
        .await?;
    let (mut get, mut search, mut matching) = (vec![], vec![], vec![]);
    for id in ids {
        let t = Instant::now();
        let p = service::patients::get(mpi, &ctx, id).await?;
        get.push(t.elapsed());
        if let Some(i) = p.record.identifiers.first() {
            let t = Instant::now();
            let found = service::patients::search(
                mpi,
                &ctx,
                service::patients::PatientQuery {
                    identifier: Some((i.system.clone(), i.value.clone())),
                    ..Default::default()
                },
            )
            .await?;
            search.push(t.elapsed());
            anyhow::ensure!(found.total >= 1, "identifier search finds the patient");
        }
        let person = convert::person_from_record(&p.record);
        let t = Instant::now();
        service::matching::find_matches(mpi, &ctx, &person, Default::default()).await?;
        matching.push(t.elapsed());
    }
    report("get by id (audited)", get);
    report("search by identifier (audited)", search);
    report("match (audited)", matching);
    Ok(())
}
