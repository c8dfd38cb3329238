//! Hand-written queries over patients: the default views that leave soft-deleted records out,
//! and `PatientRecord`, a patient with all its child rows and links (the shape the API returns
//! and the before-image a merge stores).

use std::collections::HashMap;
use std::sync::OnceLock;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SelectStatement, UnionType};
use sea_orm::{Condition, DbBackend, Iterable, QueryOrder, QueryResult, Select, Statement};
use serde::{Deserialize, Serialize};

use crate::{
    patient, patient_address, patient_communication, patient_identifier, patient_link,
    patient_name, patient_telecom,
};

impl patient::Entity {
    /// All patients that are not soft-deleted: the default query. Inactive (merged-away)
    /// records are included; they still answer "which record replaced me".
    pub fn find_live() -> Select<patient::Entity> {
        Self::find().filter(patient::Column::DeletedAt.is_null())
    }

    /// One patient by id, unless it is soft-deleted.
    pub fn find_live_by_id(id: Uuid) -> Select<patient::Entity> {
        Self::find_live().filter(patient::Column::Id.eq(id))
    }

    /// Patients that are not soft-deleted and active: the records matching works on and whose
    /// identifiers must be unique.
    pub fn find_active() -> Select<patient::Entity> {
        Self::find_live().filter(patient::Column::Active.eq(true))
    }
}

impl patient::Model {
    /// Whether the record is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Whether the record is active and not soft-deleted: the value its identifiers'
    /// `patient_live` flag must have.
    pub fn identifiers_live(&self) -> bool {
        self.active && self.deleted_at.is_none()
    }
}

impl patient_identifier::Entity {
    /// The identifier rows of live patients with this system and value (one row, or one per
    /// record of the person sharing a links-records identifier), from the partial unique index
    /// over live patients' identifiers (`(system, value, link_key)`, asked by its prefix).
    pub fn find_live_by_system_value(system: &str, value: &str) -> Select<Self> {
        Self::find()
            .filter(patient_identifier::Column::System.eq(system))
            .filter(patient_identifier::Column::Value.eq(value))
            .filter(live_flag())
    }

    /// The ids of every patient holding this system and value, live or not (a merged-away or
    /// soft-deleted record keeps its identifiers). Identifiers are indexed by two disjoint
    /// partial indexes, one over live patients' rows and one over the rest (migration 8), so
    /// this asks each with its own predicate, written literally so that both engines see the
    /// index's condition in every plan.
    pub fn holders_of(system: &str, value: &str) -> SelectStatement {
        let holders = |live: Expr| {
            Query::select()
                .column((
                    patient_identifier::Entity,
                    patient_identifier::Column::PatientId,
                ))
                .from(patient_identifier::Entity)
                .and_where(patient_identifier::Column::System.eq(system))
                .and_where(patient_identifier::Column::Value.eq(value))
                .and_where(live)
                .to_owned()
        };
        let mut every = holders(live_flag());
        every.union(UnionType::All, holders(live_flag().not()));
        every
    }
}

impl patient_identifier::Entity {
    /// The identifier rows of live patients with this value under any of `systems` (the names
    /// of one domain), from the partial unique index over live patients' identifiers.
    pub fn find_live_by_systems_value(systems: &[String], value: &str) -> Select<Self> {
        Self::find()
            .filter(patient_identifier::Column::System.is_in(systems.iter().cloned()))
            .filter(patient_identifier::Column::Value.eq(value))
            .filter(live_flag())
    }

    /// [`patient_identifier::Entity::holders_of`] for a value under any of `systems`.
    pub fn holders_of_any(systems: &[String], value: &str) -> SelectStatement {
        let holders = |live: Expr| {
            Query::select()
                .column((
                    patient_identifier::Entity,
                    patient_identifier::Column::PatientId,
                ))
                .from(patient_identifier::Entity)
                .and_where(patient_identifier::Column::System.is_in(systems.iter().cloned()))
                .and_where(patient_identifier::Column::Value.eq(value))
                .and_where(live)
                .to_owned()
        };
        let mut every = holders(live_flag());
        every.union(UnionType::All, holders(live_flag().not()));
        every
    }

    /// Every distinct identifier system stored, live holders' and the others', read by skipping
    /// through the two `(system, value)` indexes (one probe per system, not a scan), so that a
    /// value can be looked up in every system without an index on the value alone.
    pub async fn systems_in_use<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, DbErr> {
        let backend = db.get_database_backend();
        let mut out = std::collections::BTreeSet::new();
        for live in ["patient_live", "NOT patient_live"] {
            let sql = format!(
                "WITH RECURSIVE s(system) AS ( \
                   SELECT (SELECT system FROM patient_identifier WHERE {live} \
                           ORDER BY system LIMIT 1) \
                   UNION ALL \
                   SELECT (SELECT system FROM patient_identifier \
                           WHERE {live} AND system > s.system ORDER BY system LIMIT 1) \
                   FROM s WHERE s.system IS NOT NULL) \
                 SELECT system FROM s WHERE system IS NOT NULL"
            );
            for row in db
                .query_all_raw(sea_orm::Statement::from_string(backend, sql))
                .await?
            {
                out.insert(row.try_get_by_index::<String>(0)?);
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// `patient_identifier.patient_live` as a condition on its own: the predicate of the partial
/// indexes on identifiers, which a bound `patient_live = ?` would not prove.
fn live_flag() -> Expr {
    Expr::col((
        patient_identifier::Entity,
        patient_identifier::Column::PatientLive,
    ))
}

impl patient_name::Entity {
    /// Names whose family name equals `family` ignoring case, as `lower(family) = lower($1)`,
    /// which an index on `lower(family)` serves on both engines. (SQLite's
    /// `lower` folds ASCII letters only; PostgreSQL's folds all of Unicode.)
    pub fn find_by_family(family: &str) -> Select<Self> {
        Self::find().filter(
            Expr::expr(Func::lower(Expr::col(patient_name::Column::Family)))
                .eq(Func::lower(Expr::val(family.to_owned()))),
        )
    }
}

/// A patient with every child row and every link that mentions it.
///
/// Child rows come primary first, then by creation time, then by id; links by id. Serialised
/// with serde it is the complete before-image a merge stores in `merge_event`. Load it inside
/// the merge's transaction (`load` takes any connection, a `DatabaseTransaction` too) so the
/// image is consistent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatientRecord {
    pub patient: patient::Model,
    pub names: Vec<patient_name::Model>,
    pub identifiers: Vec<patient_identifier::Model>,
    pub addresses: Vec<patient_address::Model>,
    pub telecoms: Vec<patient_telecom::Model>,
    /// Languages (before-images a merge stored before migration 24 have none).
    #[serde(default)]
    pub communications: Vec<patient_communication::Model>,
    /// Links from this patient and links to it.
    pub links: Vec<patient_link::Model>,
}

impl PatientRecord {
    /// Loads the record with id `id`, soft-deleted or not; `None` if there is no such patient.
    ///
    /// One statement on either database (so one snapshot, and one round trip or, on SQLite, one
    /// hand-over to the connection's worker thread): each child table is aggregated to JSON
    /// next to the patient row.
    pub async fn load<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<Self>, DbErr> {
        Ok(Self::load_json(db, &[id]).await?.pop())
    }

    /// Loads the records with these ids, in the order given; ids of patients that do not exist
    /// are left out. One statement whatever the number of ids.
    pub async fn load_many<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<Vec<Self>, DbErr> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut records = Self::load_json(db, ids).await?;
        let position: HashMap<Uuid, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        records.sort_by_key(|r| position.get(&r.patient.id).copied());
        Ok(records)
    }

    /// [`PatientRecord::load_many`] with one query per table, on any backend (the reference the
    /// one-statement load is tested against).
    pub async fn load_by_table<C: ConnectionTrait>(
        db: &C,
        ids: &[Uuid],
    ) -> Result<Vec<Self>, DbErr> {
        let patients = patient::Entity::find()
            .filter(patient::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(patient::Column::Id)
            .all(db)
            .await?;
        if patients.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = patients.iter().map(|p| p.id).collect();
        let mut names = by_patient(
            patient_name::Entity::find()
                .filter(patient_name::Column::PatientId.is_in(ids.iter().copied()))
                .order_by_desc(patient_name::Column::IsPrimary)
                .order_by_asc(patient_name::Column::CreatedAt)
                .order_by_asc(patient_name::Column::Id)
                .all(db)
                .await?,
            |n| n.patient_id,
        );
        let mut identifiers = by_patient(
            patient_identifier::Entity::find()
                .filter(patient_identifier::Column::PatientId.is_in(ids.iter().copied()))
                .order_by_desc(patient_identifier::Column::IsPrimary)
                .order_by_asc(patient_identifier::Column::CreatedAt)
                .order_by_asc(patient_identifier::Column::Id)
                .all(db)
                .await?,
            |i| i.patient_id,
        );
        let mut addresses = by_patient(
            patient_address::Entity::find()
                .filter(patient_address::Column::PatientId.is_in(ids.iter().copied()))
                .order_by_desc(patient_address::Column::IsPrimary)
                .order_by_asc(patient_address::Column::CreatedAt)
                .order_by_asc(patient_address::Column::Id)
                .all(db)
                .await?,
            |a| a.patient_id,
        );
        let mut telecoms = by_patient(
            patient_telecom::Entity::find()
                .filter(patient_telecom::Column::PatientId.is_in(ids.iter().copied()))
                .order_by_desc(patient_telecom::Column::IsPrimary)
                .order_by_asc(patient_telecom::Column::CreatedAt)
                .order_by_asc(patient_telecom::Column::Id)
                .all(db)
                .await?,
            |t| t.patient_id,
        );
        let mut communications = by_patient(
            patient_communication::Entity::find()
                .filter(patient_communication::Column::PatientId.is_in(ids.iter().copied()))
                .order_by_desc(patient_communication::Column::IsPrimary)
                .order_by_asc(patient_communication::Column::CreatedAt)
                .order_by_asc(patient_communication::Column::Id)
                .all(db)
                .await?,
            |c| c.patient_id,
        );
        // A link mentions two patients; each record gets every link that names it.
        let all_links = patient_link::Entity::find()
            .filter(
                Condition::any()
                    .add(patient_link::Column::PatientId.is_in(ids.iter().copied()))
                    .add(patient_link::Column::OtherPatientId.is_in(ids.iter().copied())),
            )
            .order_by_asc(patient_link::Column::Id)
            .all(db)
            .await?;
        Ok(patients
            .into_iter()
            .map(|patient| {
                let id = patient.id;
                PatientRecord {
                    names: names.remove(&id).unwrap_or_default(),
                    identifiers: identifiers.remove(&id).unwrap_or_default(),
                    addresses: addresses.remove(&id).unwrap_or_default(),
                    telecoms: telecoms.remove(&id).unwrap_or_default(),
                    communications: communications.remove(&id).unwrap_or_default(),
                    links: all_links
                        .iter()
                        .filter(|l| l.patient_id == id || l.other_patient_id == id)
                        .cloned()
                        .collect(),
                    patient,
                }
            })
            .collect())
    }

    /// Every record in one statement, child rows aggregated to JSON arrays in the same order as
    /// [`PatientRecord::load_by_table`] and decoded with the models' serde implementations (the
    /// same ones a merge's before-image goes through). PostgreSQL builds each row with
    /// `to_jsonb`; SQLite with `json_object` over the entity's columns (see [`sqlite_row_json`]).
    async fn load_json<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<Vec<Self>, DbErr> {
        let backend = db.get_database_backend();
        let sqlite = backend == DbBackend::Sqlite;
        let placeholders: Vec<String> = (1..=ids.len())
            .map(|i| {
                if sqlite {
                    "?".to_owned()
                } else {
                    format!("${i}")
                }
            })
            .collect();
        let sql = format!(
            "{} WHERE p.id IN ({}) ORDER BY p.id",
            record_select(sqlite),
            placeholders.join(", ")
        );
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                ids.iter().map(|id| Value::from(*id)),
            ))
            .await?;
        rows.iter()
            .map(|row| {
                Ok(PatientRecord {
                    patient: json_column(row, "patient", sqlite)?,
                    names: json_column(row, "patient_name", sqlite)?,
                    identifiers: json_column(row, "patient_identifier", sqlite)?,
                    addresses: json_column(row, "patient_address", sqlite)?,
                    telecoms: json_column(row, "patient_telecom", sqlite)?,
                    communications: json_column(row, "patient_communication", sqlite)?,
                    links: json_column(row, "links", sqlite)?,
                })
            })
            .collect()
    }
}

/// The statement of [`PatientRecord::load_json`] up to its WHERE clause, built once per backend.
fn record_select(sqlite: bool) -> &'static str {
    static SQLITE: OnceLock<String> = OnceLock::new();
    static POSTGRES: OnceLock<String> = OnceLock::new();
    let build = || {
        // `row` is the SQLite row expression; PostgreSQL uses `to_jsonb(c)`.
        let children = |table: &str, row: String, order: &str, filter: &str| {
            if sqlite {
                format!(
                    "(SELECT json_group_array(json({row}) ORDER BY {order}) \
                     FROM {table} c WHERE {filter})"
                )
            } else {
                format!(
                    "COALESCE((SELECT jsonb_agg(to_jsonb(c) ORDER BY {order}) \
                     FROM {table} c WHERE {filter}), '[]'::jsonb)"
                )
            }
        };
        let child = |table: &str, row: String| {
            let list = children(
                table,
                row,
                "c.is_primary DESC, c.created_at, c.id",
                "c.patient_id = p.id",
            );
            format!("{list} AS {table}")
        };
        format!(
            "SELECT {} AS patient, {}, {}, {}, {}, {}, {} AS links FROM patient p",
            if sqlite {
                sqlite_row_json::<patient::Entity>("p")
            } else {
                "to_jsonb(p)".to_owned()
            },
            child("patient_name", sqlite_row_json::<patient_name::Entity>("c")),
            child(
                "patient_identifier",
                sqlite_row_json::<patient_identifier::Entity>("c")
            ),
            child(
                "patient_address",
                sqlite_row_json::<patient_address::Entity>("c")
            ),
            child(
                "patient_telecom",
                sqlite_row_json::<patient_telecom::Entity>("c")
            ),
            child(
                "patient_communication",
                sqlite_row_json::<patient_communication::Entity>("c")
            ),
            children(
                "patient_link",
                sqlite_row_json::<patient_link::Entity>("c"),
                "c.id",
                "c.patient_id = p.id OR c.other_patient_id = p.id"
            ),
        )
    };
    if sqlite {
        SQLITE.get_or_init(build)
    } else {
        POSTGRES.get_or_init(build)
    }
}

/// SQLite `json_object(...)` of row `alias` of entity `E`, shaped as PostgreSQL's `to_jsonb`:
/// UUIDs (stored as 16-byte blobs) as hyphenated text, booleans (stored as 0/1) as JSON
/// booleans, JSON columns (stored as text) as JSON values, everything else as stored.
fn sqlite_row_json<E: EntityTrait>(alias: &str) -> String {
    let fields: Vec<String> = E::Column::iter()
        .map(|column| {
            let name = column.as_str();
            let col = format!("{alias}.\"{name}\"");
            let value = match column.def().get_column_type() {
                ColumnType::Uuid => format!(
                    "CASE WHEN typeof({col}) = 'blob' AND length({col}) = 16 THEN lower(\
                     substr(hex({col}), 1, 8) || '-' || substr(hex({col}), 9, 4) || '-' || \
                     substr(hex({col}), 13, 4) || '-' || substr(hex({col}), 17, 4) || '-' || \
                     substr(hex({col}), 21, 12)) ELSE {col} END"
                ),
                ColumnType::Boolean => format!(
                    "json(CASE WHEN {col} IS NULL THEN 'null' WHEN {col} THEN 'true' ELSE 'false' END)"
                ),
                ColumnType::Json | ColumnType::JsonBinary => format!("json({col})"),
                _ => col,
            };
            format!("'{name}', {value}")
        })
        .collect();
    format!("json_object({})", fields.join(", "))
}

fn json_column<T: serde::de::DeserializeOwned>(
    row: &QueryResult,
    column: &str,
    text: bool,
) -> Result<T, DbErr> {
    let decoded = if text {
        let json: String = row.try_get("", column)?;
        serde_json::from_str(&json)
    } else {
        let value: serde_json::Value = row.try_get("", column)?;
        serde_json::from_value(value)
    };
    decoded.map_err(|e| DbErr::Type(format!("patient record column {column}: {e}")))
}

/// Groups rows by their patient id, keeping their order.
fn by_patient<T>(rows: Vec<T>, key: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Vec<T>> {
    let mut map: HashMap<Uuid, Vec<T>> = HashMap::new();
    for row in rows {
        map.entry(key(&row)).or_default().push(row);
    }
    map
}
