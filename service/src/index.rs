//! The in-memory candidate index: the matcher's `CandidateIndex<Uuid>` plus each indexed
//! patient's normalized record (for scoring) and person id, behind one `RwLock`.
//!
//! It holds every live, active patient. It is loaded in bulk at start-up (keyset pages of
//! patients, their child rows read by id range, normalized in parallel) and kept current by
//! [`PatientIndex::refresh_patient`] after each committed change and by `Mpi::catch_up` for
//! changes made by other processes. Each entry remembers the patient version it was built
//! from, so a late refresh carrying an older version never overwrites a newer one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rayon::prelude::*;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use entity::patient_ext::PatientRecord;
use entity::{patient, patient_address, patient_identifier, patient_name, patient_telecom};
use matcher::NormalizedRecord;
use matcher::blocking::{Candidate, CandidateIndex};

use crate::Result;
use crate::convert::{person_from_record, person_from_rows};

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
            Some(r) if r.patient.identifiers_live() => {
                let normalized = matcher::normalize(&person_from_record(&r));
                self.write()
                    .put(id, r.patient.person_id, r.patient.version, normalized);
            }
            Some(r) => self.write().take_out(id, Some(r.patient.version)),
            None => self.write().take_out(id, None),
        }
        Ok(())
    }

    /// Puts an already normalized patient in (used by tests and tools that build records).
    pub fn insert(&self, id: Uuid, person_id: Uuid, version: i32, record: NormalizedRecord) {
        self.write().put(id, person_id, version, record);
    }

    /// Loads every live, active patient, `page_size` patients per round trip. Returns how many
    /// were indexed.
    pub async fn load_all<C: ConnectionTrait>(&self, db: &C, page_size: u64) -> Result<usize> {
        let page_size = page_size.max(1);
        let mut after: Option<Uuid> = None;
        let mut loaded = 0usize;
        loop {
            let mut q = patient::Entity::find_active();
            if let Some(last) = after {
                q = q.filter(patient::Column::Id.gt(last));
            }
            let patients = q
                .order_by_asc(patient::Column::Id)
                .limit(page_size)
                .all(db)
                .await?;
            let (Some(first), Some(last)) = (patients.first(), patients.last()) else {
                break;
            };
            let (lo, hi) = (first.id, last.id);
            after = Some(hi);
            let names = group(
                patient_name::Entity::find()
                    .filter(patient_name::Column::PatientId.between(lo, hi))
                    .order_by_desc(patient_name::Column::IsPrimary)
                    .order_by_asc(patient_name::Column::CreatedAt)
                    .order_by_asc(patient_name::Column::Id)
                    .all(db)
                    .await?,
                |r| r.patient_id,
            );
            let identifiers = group(
                patient_identifier::Entity::find()
                    .filter(patient_identifier::Column::PatientId.between(lo, hi))
                    .order_by_desc(patient_identifier::Column::IsPrimary)
                    .order_by_asc(patient_identifier::Column::CreatedAt)
                    .order_by_asc(patient_identifier::Column::Id)
                    .all(db)
                    .await?,
                |r| r.patient_id,
            );
            let addresses = group(
                patient_address::Entity::find()
                    .filter(patient_address::Column::PatientId.between(lo, hi))
                    .order_by_desc(patient_address::Column::IsPrimary)
                    .order_by_asc(patient_address::Column::CreatedAt)
                    .order_by_asc(patient_address::Column::Id)
                    .all(db)
                    .await?,
                |r| r.patient_id,
            );
            let telecoms = group(
                patient_telecom::Entity::find()
                    .filter(patient_telecom::Column::PatientId.between(lo, hi))
                    .order_by_desc(patient_telecom::Column::IsPrimary)
                    .order_by_asc(patient_telecom::Column::CreatedAt)
                    .order_by_asc(patient_telecom::Column::Id)
                    .all(db)
                    .await?,
                |r| r.patient_id,
            );
            let normalized: Vec<(Uuid, Uuid, i32, NormalizedRecord)> = patients
                .par_iter()
                .map(|p| {
                    let person = person_from_rows(
                        p,
                        names.get(&p.id).map_or(&[][..], Vec::as_slice),
                        identifiers.get(&p.id).map_or(&[][..], Vec::as_slice),
                        addresses.get(&p.id).map_or(&[][..], Vec::as_slice),
                        telecoms.get(&p.id).map_or(&[][..], Vec::as_slice),
                    );
                    (p.id, p.person_id, p.version, matcher::normalize(&person))
                })
                .collect();
            loaded += normalized.len();
            let mut data = self.write();
            for (id, person_id, version, record) in normalized {
                data.put(id, person_id, version, record);
            }
            drop(data);
            if (patients.len() as u64) < page_size {
                break;
            }
        }
        Ok(loaded)
    }
}

fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Vec<T>> {
    let mut map: HashMap<Uuid, Vec<T>> = HashMap::new();
    for row in rows {
        map.entry(key(&row)).or_default().push(row);
    }
    map
}
