//! The in-memory candidate index: the matcher's `CandidateIndex<Uuid>` plus each indexed
//! patient's normalized record (for scoring) and person id, behind one `RwLock`.
//!
//! It holds every live, active patient. It is loaded in bulk at start-up (keyset pages of
//! patients, their child rows read by id range, normalized in parallel) and kept current by
//! [`PatientIndex::refresh_patient`] after each committed change and by `Mpi::catch_up` for
//! changes made by other processes. Each entry remembers the patient version it was built
//! from, so a late refresh carrying an older version never overwrites a newer one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use chrono::NaiveDate;
use entity::enums::{DatePrecision, Gender, TelecomSystem};
use entity::json_list::StringList;
use entity::patient_ext::PatientRecord;
use entity::{patient, patient_address, patient_identifier, patient_name, patient_telecom};
use matcher::blocking::{Candidate, CandidateIndex};
use matcher::{Address, Identifier, NormalizedRecord};

use crate::Result;
use crate::convert::{self, NameParts, person_from_record};
use crate::patients::{MotherIdentifier, MotherInput};

/// One indexed patient.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The person the record belongs to.
    pub person_id: Uuid,
    /// The patient version the entry was built from.
    pub version: i32,
    /// The normalized record the matcher scores.
    pub record: Arc<NormalizedRecord>,
}

/// The index's contents; read it through [`PatientIndex::read`].
#[derive(Default)]
pub struct IndexData {
    candidates: CandidateIndex<Uuid>,
    entries: HashMap<Uuid, Entry>,
    /// Versions of patients taken out (inactive or deleted), so an older refresh cannot put
    /// them back.
    removed: HashMap<Uuid, i32>,
}

impl IndexData {
    /// The top `k` candidates for `record` (blocking score order).
    pub fn candidates(&self, record: &NormalizedRecord, k: usize) -> Vec<Candidate<Uuid>> {
        self.candidates.candidates(record, k)
    }

    /// The indexed entry of patient `id`.
    pub fn entry(&self, id: Uuid) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Every indexed patient (live and active), in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&Uuid, &Entry)> {
        self.entries.iter()
    }

    /// Number of indexed patients.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no patient is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn stale(&self, id: Uuid, version: i32) -> bool {
        let held = self
            .entries
            .get(&id)
            .map(|e| e.version)
            .or_else(|| self.removed.get(&id).copied());
        held.is_some_and(|v| v > version)
    }

    fn put(&mut self, id: Uuid, person_id: Uuid, version: i32, record: NormalizedRecord) {
        if self.stale(id, version) {
            return;
        }
        // The same record again (a catch-up reading back this process's own write): taking it
        // out of the candidate index and putting it back would scan the posting list of each of
        // its features, some of them long, for nothing.
        if self.entries.get(&id).is_some_and(|held| {
            held.version == version && held.person_id == person_id && *held.record == record
        }) {
            return;
        }
        // Fails only past u32::MAX records; the index then keeps its previous state.
        if self.candidates.insert(id, &record).is_ok() {
            self.removed.remove(&id);
            self.entries.insert(
                id,
                Entry {
                    person_id,
                    version,
                    record: Arc::new(record),
                },
            );
        }
    }

    fn take_out(&mut self, id: Uuid, version: Option<i32>) {
        if let Some(v) = version
            && self.stale(id, v)
        {
            return;
        }
        self.candidates.remove(id);
        self.entries.remove(&id);
        if let Some(v) = version {
            self.removed.insert(id, v);
        }
    }
}

/// The shared index handle (owned by `Mpi`).
#[derive(Default)]
pub struct PatientIndex {
    data: RwLock<IndexData>,
}

impl PatientIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read access (many readers at once).
    pub fn read(&self) -> RwLockReadGuard<'_, IndexData> {
        self.data
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, IndexData> {
        self.data
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Number of indexed patients.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no patient is indexed.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Approximate heap bytes of the candidate index (not counting normalized records).
    pub fn heap_bytes(&self) -> usize {
        self.read().candidates.stats().heap_bytes
    }

    /// Re-reads patient `id` through `db` and puts it in (live and active) or takes it out.
    pub async fn refresh_patient<C: ConnectionTrait>(&self, db: &C, id: Uuid) -> Result<()> {
        match PatientRecord::load(db, id).await? {
            Some(r) => {
                let change = Refreshed::of(&r);
                change.apply(&mut self.write());
            }
            None => self.write().take_out(id, None),
        }
        Ok(())
    }

    /// Puts in (or takes out) a patient as it was read inside the transaction that has just
    /// committed it, instead of reading it again. An older version never overwrites a newer
    /// one, so a state another writer committed and put in meanwhile is kept.
    pub fn put_committed(&self, record: &PatientRecord) {
        Refreshed::of(record).apply(&mut self.write());
    }

    /// [`PatientIndex::refresh_patient`] for many patients, as a catch-up needs after another
    /// process wrote thousands: [`REFRESH_CHUNK`] patients per statement, normalized on the
    /// rayon pool (not on the async runtime), put in under one write lock per chunk.
    pub async fn refresh_patients<C: ConnectionTrait>(&self, db: &C, ids: &[Uuid]) -> Result<()> {
        for chunk in ids.chunks(REFRESH_CHUNK) {
            let records = PatientRecord::load_many(db, chunk).await?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            rayon::spawn(move || {
                let refreshed: Vec<Refreshed> = records.par_iter().map(Refreshed::of).collect();
                let _ = tx.send(refreshed);
            });
            let refreshed = rx.await.map_err(|_| {
                sea_orm::DbErr::Custom("normalizing refreshed patients failed".to_owned())
            })?;
            let mut data = self.write();
            let found: HashSet<Uuid> = refreshed
                .into_iter()
                .map(|change| change.apply(&mut data))
                .collect();
            for id in chunk.iter().filter(|id| !found.contains(*id)) {
                data.take_out(*id, None);
            }
        }
        Ok(())
    }

    /// Puts an already normalized patient in (used by tests and tools that build records).
    pub fn insert(&self, id: Uuid, person_id: Uuid, version: i32, record: NormalizedRecord) {
        self.write().put(id, person_id, version, record);
    }

    /// Loads every live, active patient, `page_size` patients per round trip, and says how long
    /// each phase took.
    pub async fn load_all<C: ConnectionTrait>(&self, db: &C, page_size: u64) -> Result<LoadStats> {
        let page_size = page_size.max(1);
        let mut after: Option<Uuid> = None;
        let mut stats = LoadStats::default();
        let mut pending: Option<NormalizedPage> = None;
        loop {
            let t0 = Instant::now();
            let mut q = patient::Entity::find_active();
            if let Some(last) = after {
                q = q.filter(patient::Column::Id.gt(last));
            }
            type PatientRow = (
                Uuid,
                Uuid,
                i32,
                Option<Gender>,
                Option<NaiveDate>,
                Option<DatePrecision>,
                Option<i32>,
                Option<String>,
                Option<String>,
                Option<String>,
            );
            let patients: Vec<PatientRow> = q
                .select_only()
                .columns([
                    patient::Column::Id,
                    patient::Column::PersonId,
                    patient::Column::Version,
                    patient::Column::Gender,
                    patient::Column::BirthDate,
                    patient::Column::BirthDatePrecision,
                    patient::Column::MultipleBirthOrder,
                    patient::Column::MotherMaidenFamily,
                    patient::Column::MotherIdentifierSystem,
                    patient::Column::MotherIdentifierValue,
                ])
                .order_by_asc(patient::Column::Id)
                .limit(page_size)
                .into_tuple()
                .all(db)
                .await?;
            let (Some(first), Some(last)) = (patients.first(), patients.last()) else {
                break;
            };
            let (lo, hi) = (first.0, last.0);
            after = Some(hi);
            // Only the columns matching needs, as tuples: decoding whole rows (timestamps,
            // bookkeeping) costs more than the queries. The four child tables are read at once,
            // each on a connection of its own: with the file not yet in the page cache, each
            // query waits on its own disk reads, and on a warm start SQLite decodes the rows on
            // four threads.
            let names = async {
                patient_name::Entity::find()
                    .select_only()
                    .columns([
                        patient_name::Column::PatientId,
                        patient_name::Column::Family,
                        patient_name::Column::Given,
                    ])
                    .filter(patient_name::Column::PatientId.between(lo, hi))
                    .order_by_desc(patient_name::Column::IsPrimary)
                    .order_by_asc(patient_name::Column::CreatedAt)
                    .order_by_asc(patient_name::Column::Id)
                    .into_tuple::<(Uuid, Option<String>, StringList)>()
                    .all(db)
                    .await
            };
            let identifiers = async {
                patient_identifier::Entity::find()
                    .select_only()
                    .columns([
                        patient_identifier::Column::PatientId,
                        patient_identifier::Column::System,
                        patient_identifier::Column::Value,
                    ])
                    .filter(patient_identifier::Column::PatientId.between(lo, hi))
                    .order_by_desc(patient_identifier::Column::IsPrimary)
                    .order_by_asc(patient_identifier::Column::CreatedAt)
                    .order_by_asc(patient_identifier::Column::Id)
                    .into_tuple::<(Uuid, String, String)>()
                    .all(db)
                    .await
            };
            let addresses = async {
                patient_address::Entity::find()
                    .select_only()
                    .columns([
                        patient_address::Column::PatientId,
                        patient_address::Column::Lines,
                        patient_address::Column::City,
                        patient_address::Column::State,
                        patient_address::Column::PostalCode,
                        patient_address::Column::Country,
                    ])
                    .filter(patient_address::Column::PatientId.between(lo, hi))
                    .order_by_desc(patient_address::Column::IsPrimary)
                    .order_by_asc(patient_address::Column::CreatedAt)
                    .order_by_asc(patient_address::Column::Id)
                    .into_tuple::<(
                        Uuid,
                        StringList,
                        Option<String>,
                        Option<String>,
                        Option<String>,
                        Option<String>,
                    )>()
                    .all(db)
                    .await
            };
            let telecoms = async {
                patient_telecom::Entity::find()
                    .select_only()
                    .columns([
                        patient_telecom::Column::PatientId,
                        patient_telecom::Column::System,
                        patient_telecom::Column::Value,
                    ])
                    .filter(patient_telecom::Column::PatientId.between(lo, hi))
                    .order_by_desc(patient_telecom::Column::IsPrimary)
                    .order_by_asc(patient_telecom::Column::CreatedAt)
                    .order_by_asc(patient_telecom::Column::Id)
                    .into_tuple::<(Uuid, TelecomSystem, String)>()
                    .all(db)
                    .await
            };
            let (names, identifiers, addresses, telecoms) =
                tokio::try_join!(names, identifiers, addresses, telecoms)?;
            // Each patient takes its own rows out (moved, not copied), so normalizing can take
            // the strings over instead of cloning them.
            let mut names: HashMap<Uuid, Vec<(Option<String>, StringList)>> = group(names);
            let mut identifiers: HashMap<Uuid, Vec<(String, String)>> = group(identifiers);
            let mut addresses: HashMap<Uuid, Vec<AddressRow>> = group(
                addresses
                    .into_iter()
                    .map(|(id, l, c, s, p, co)| (id, (l, c, s, p, co)))
                    .collect(),
            );
            let mut telecoms: HashMap<Uuid, Vec<(TelecomSystem, String)>> = group(telecoms);
            stats.query += t0.elapsed();
            let last_page = (patients.len() as u64) < page_size;
            let raw: Vec<RawPatient> = patients
                .into_iter()
                .map(
                    |(
                        id,
                        person_id,
                        version,
                        gender,
                        birth_date,
                        precision,
                        birth_order,
                        maiden,
                        mother_system,
                        mother_value,
                    )| RawPatient {
                        id,
                        person_id,
                        version,
                        gender,
                        birth_date: convert::birth_date_text(birth_date, precision),
                        names: names.remove(&id).unwrap_or_default(),
                        identifiers: identifiers.remove(&id).unwrap_or_default(),
                        addresses: addresses.remove(&id).unwrap_or_default(),
                        telecoms: telecoms.remove(&id).unwrap_or_default(),
                        maternity: convert::maternity(
                            &MotherInput {
                                maiden_family: maiden,
                                maiden_given: None,
                                identifier: mother_value.map(|value| MotherIdentifier {
                                    system: mother_system.unwrap_or_default(),
                                    value,
                                }),
                                keep_stored_identifier: false,
                            },
                            birth_order,
                        ),
                    },
                )
                .collect();
            // Normalize this page on the rayon pool while the next page is read.
            let (tx, rx) = tokio::sync::oneshot::channel();
            rayon::spawn(move || {
                let started = Instant::now();
                let normalized: Vec<(Uuid, Uuid, i32, NormalizedRecord)> =
                    raw.into_par_iter().map(RawPatient::normalize).collect();
                let _ = tx.send((normalized, started.elapsed()));
            });
            if let Some(previous) = pending.replace(rx) {
                self.insert_batch(previous, &mut stats).await?;
            }
            if last_page {
                break;
            }
        }
        if let Some(previous) = pending {
            self.insert_batch(previous, &mut stats).await?;
        }
        Ok(stats)
    }
}

type NormalizedPage =
    tokio::sync::oneshot::Receiver<(Vec<(Uuid, Uuid, i32, NormalizedRecord)>, Duration)>;

impl PatientIndex {
    async fn insert_batch(&self, page: NormalizedPage, stats: &mut LoadStats) -> Result<()> {
        let (normalized, took) = page.await.map_err(|_| {
            sea_orm::DbErr::Custom("normalizing a page of patients failed".to_owned())
        })?;
        let started = Instant::now();
        stats.normalize += took;
        stats.patients += normalized.len();
        let mut data = self.write();
        for (id, person_id, version, record) in normalized {
            data.put(id, person_id, version, record);
        }
        drop(data);
        stats.insert += started.elapsed();
        Ok(())
    }
}

/// Patients [`PatientIndex::refresh_patients`] reads per statement: an IN list of at most this
/// many ids (every full chunk has the same statement text, prepared once per connection), well
/// under SQLite's 32,766 parameters.
const REFRESH_CHUNK: usize = 200;

/// What a re-read patient means for the index.
enum Refreshed {
    /// Live and active: put in with its person id, version and normalized record.
    Put(Uuid, Uuid, i32, NormalizedRecord),
    /// Inactive, merged away or soft-deleted at this version: taken out.
    TakeOut(Uuid, i32),
}

impl Refreshed {
    fn of(r: &PatientRecord) -> Refreshed {
        let p = &r.patient;
        if p.identifiers_live() {
            Refreshed::Put(
                p.id,
                p.person_id,
                p.version,
                matcher::normalize(&person_from_record(r)),
            )
        } else {
            Refreshed::TakeOut(p.id, p.version)
        }
    }

    /// Puts the patient in or takes it out (an older version never overwrites a newer one);
    /// answers its id.
    fn apply(self, data: &mut IndexData) -> Uuid {
        match self {
            Refreshed::Put(id, person_id, version, record) => {
                data.put(id, person_id, version, record);
                id
            }
            Refreshed::TakeOut(id, version) => {
                data.take_out(id, Some(version));
                id
            }
        }
    }
}

type AddressRow = (
    StringList,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// One patient's matching columns as read at start-up.
struct RawPatient {
    id: Uuid,
    person_id: Uuid,
    version: i32,
    gender: Option<Gender>,
    birth_date: Option<String>,
    names: Vec<(Option<String>, StringList)>,
    identifiers: Vec<(String, String)>,
    addresses: Vec<AddressRow>,
    telecoms: Vec<(TelecomSystem, String)>,
    maternity: matcher::Maternity,
}

impl RawPatient {
    /// The normalized record, built as `convert::person_from_rows` builds it.
    fn normalize(self) -> (Uuid, Uuid, i32, NormalizedRecord) {
        let parts: Vec<NameParts<'_>> = self
            .names
            .iter()
            .map(|(family, given)| NameParts {
                family: family.as_deref(),
                given: given.as_slice(),
            })
            .collect();
        let mut person = convert::person(
            self.gender,
            self.birth_date,
            &parts,
            self.addresses
                .into_iter()
                .map(|(lines, city, state, postal_code, country)| Address {
                    lines: lines.0,
                    city,
                    state,
                    postal_code,
                    country,
                })
                .collect(),
            self.telecoms.into_iter(),
            self.identifiers
                .into_iter()
                .map(|(system, value)| Identifier { system, value })
                .collect(),
        );
        person.maternity = self.maternity;
        (
            self.id,
            self.person_id,
            self.version,
            matcher::normalize(&person),
        )
    }
}

/// What loading the index took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Patients indexed.
    pub patients: usize,
    /// Time spent reading from the database (and decoding rows).
    pub query: Duration,
    /// Time spent normalizing (in parallel, overlapping the queries).
    pub normalize: Duration,
    /// Time spent inserting into the candidate index.
    pub insert: Duration,
}

/// Groups `(patient_id, rest)` rows by patient, keeping their order.
fn group<K: Into<GroupRow<T>>, T>(rows: Vec<K>) -> HashMap<Uuid, Vec<T>> {
    let mut map: HashMap<Uuid, Vec<T>> = HashMap::new();
    for row in rows {
        let GroupRow(id, rest) = row.into();
        map.entry(id).or_default().push(rest);
    }
    map
}

/// A row split into its patient id and the rest.
struct GroupRow<T>(Uuid, T);

impl<A> From<(Uuid, A)> for GroupRow<A> {
    fn from((id, a): (Uuid, A)) -> Self {
        GroupRow(id, a)
    }
}

impl<A, B> From<(Uuid, A, B)> for GroupRow<(A, B)> {
    fn from((id, a, b): (Uuid, A, B)) -> Self {
        GroupRow(id, (a, b))
    }
}
