//! Catching up with writes made by other processes (other `mpi serve` replicas, imports, plain
//! SQL) from the trigger-filled `change_log`.
//!
//! Start-up records the newest sequence number before loading the index. Each catch-up reads
//! the sequence numbers above `last_seq - catch_up_window`, skips those it has already handled,
//! reads for the other rows only the patient they touch (`row_id` of `patient` rows, `patient_id`
//! read out of the row image by the database for child rows) and refreshes those patients in the
//! index. The window exists because on PostgreSQL a sequence number is taken when a row is
//! written, not when its transaction commits, so a lower number can become visible after a
//! higher one; a transaction that stays uncommitted for longer than the window is missed.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use entity::change_log;

use crate::{Mpi, Result};

const PAGE: u64 = 5_000;

/// What one catch-up did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CatchUp {
    /// The newest sequence number seen before this catch-up.
    pub from_seq: i64,
    /// The newest sequence number seen after it.
    pub to_seq: i64,
    /// Patients re-read into the index.
    pub patients_refreshed: usize,
}

pub(crate) struct SyncState {
    inner: Mutex<Seen>,
    /// Serialises catch-ups (a periodic one and a manual one).
    running: tokio::sync::Mutex<()>,
}

struct Seen {
    last_seq: i64,
    /// Sequence numbers already handled within the window.
    handled: BTreeSet<i64>,
}

impl SyncState {
    pub(crate) fn at(last_seq: i64) -> Self {
        Self {
            inner: Mutex::new(Seen {
                last_seq,
                handled: BTreeSet::new(),
            }),
            running: tokio::sync::Mutex::new(()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The newest `change_log` sequence number (0 when empty).
pub async fn max_seq<C: ConnectionTrait>(db: &C) -> Result<i64> {
    let max: Option<Option<i64>> = change_log::Entity::find()
        .select_only()
        .column_as(change_log::Column::Seq.max(), "max_seq")
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// The patient a `change_log` row touches, if it is one matching cares about: the row's own id
/// for `patient`, the `patient_id` read out of the row image (see [`patient_id_in_row`]) for the
/// four child tables matching reads.
fn patient_of(table_name: &str, row_id: &str, patient_id: Option<&str>) -> Option<Uuid> {
    match table_name {
        "patient" => Uuid::parse_str(row_id).ok(),
        "patient_name" | "patient_identifier" | "patient_address" | "patient_telecom" => {
            patient_id.and_then(|s| Uuid::parse_str(s).ok())
        }
        _ => None,
    }
}

/// The SQL that reads `patient_id` out of a `change_log` row's new image (its old one for a
/// deletion) in the database, so a catch-up transfers one id per row, not the row's JSON.
fn patient_id_in_row(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Sqlite => {
            "COALESCE(json_extract(new_row, '$.patient_id'), json_extract(old_row, '$.patient_id'))"
        }
        _ => "COALESCE(new_row ->> 'patient_id', old_row ->> 'patient_id')",
    }
}

impl Mpi {
    /// Applies the changes other writers made since the last catch-up to the candidate index.
    pub async fn catch_up(&self) -> Result<CatchUp> {
        let state = self.sync_state();
        let _running = state.running.lock().await;
        self.reload_domains().await?;
        let window = self.config().catch_up_window.max(0);
        let from_seq = state.seen().last_seq;
        let mut cursor = from_seq.saturating_sub(window);
        let mut patients: HashSet<Uuid> = HashSet::new();
        let mut new_seqs: Vec<i64> = Vec::new();
        loop {
            // The window's rows are read again on every catch-up, so their sequence numbers come
            // first, alone; whole rows (with their JSON) only for those not handled yet.
            let seqs: Vec<i64> = change_log::Entity::find()
                .select_only()
                .column(change_log::Column::Seq)
                .filter(change_log::Column::Seq.gt(cursor))
                .order_by_asc(change_log::Column::Seq)
                .limit(PAGE)
                .into_tuple()
                .all(self.db())
                .await?;
            let Some(&last) = seqs.last() else { break };
            cursor = last;
            let full_page = seqs.len() as u64 == PAGE;
            // Every number is above the window's start (the cursor began there).
            let fresh: Vec<i64> = {
                let seen = state.seen();
                seqs.into_iter()
                    .filter(|seq| !(*seq <= from_seq && seen.handled.contains(seq)))
                    .collect()
            };
            if !fresh.is_empty() {
                let backend = self.db().get_database_backend();
                let rows: Vec<(i64, String, String, Option<String>)> = change_log::Entity::find()
                    .select_only()
                    .columns([
                        change_log::Column::Seq,
                        change_log::Column::TableName,
                        change_log::Column::RowId,
                    ])
                    .column_as(Expr::cust(patient_id_in_row(backend)), "patient_id")
                    .filter(change_log::Column::Seq.is_in(fresh))
                    .into_tuple()
                    .all(self.db())
                    .await?;
                for (seq, table_name, row_id, patient_id) in rows {
                    new_seqs.push(seq);
                    if let Some(id) = patient_of(&table_name, &row_id, patient_id.as_deref()) {
                        patients.insert(id);
                    }
                }
            }
            if !full_page {
                break;
            }
        }
        // Refresh before recording the rows as handled: a failed refresh is retried next time.
        let ids: Vec<Uuid> = patients.iter().copied().collect();
        self.refresh_patients(&ids).await?;
        let to_seq = {
            let mut seen = state.seen();
            seen.handled.extend(new_seqs.iter().copied());
            if let Some(&max) = new_seqs.iter().max() {
                seen.last_seq = seen.last_seq.max(max);
            }
            let floor = seen.last_seq.saturating_sub(window);
            seen.handled = seen.handled.split_off(&floor);
            seen.last_seq
        };
        Ok(CatchUp {
            from_seq,
            to_seq,
            patients_refreshed: ids.len(),
        })
    }
}
