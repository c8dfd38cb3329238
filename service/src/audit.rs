//! The audit trail: appending hash-chained `audit_event` rows inside a use case's transaction,
//! verifying the chain, and querying it.
//!
//! Each row's `hash` is `sha256(prev_hash || canonical(row))` in lowercase hex, where
//! `canonical(row)` is the compact JSON array `[occurred_at, actor, role, action, entity_type,
//! entity_id, before, after, request_id, client_addr, user_agent]` (`occurred_at` as UTC RFC 3339
//! with microseconds, objects with sorted keys, numbers as [`canonical_json`] writes them so
//! that the text is the same before and after a round trip through either database). The first row's `prev_hash` is [`GENESIS`].
//! The sequence number is not hashed: the chain itself fixes the order. When the process has
//! a chain key ([`crate::chain`]), a row's hash is `hmac:KEYID:HMAC-SHA-256(key, prev_hash ||
//! canonical(row))` instead, which nobody without the key can recompute.
//!
//! Appenders are serialised so the chain never forks: on PostgreSQL by a transaction-scoped
//! advisory lock, on SQLite by the service's write gate (and SQLite's single writer). The
//! schema refuses a fork all the same: on both engines a trigger admits only a row that follows
//! the chain's last row (on PostgreSQL it takes the same advisory lock first).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement,
};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use entity::audit_event;

use crate::{Ctx, Error, Page, Result, keys, page_bounds};

/// `prev_hash` of the first row: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Key of the PostgreSQL advisory lock that serialises audit appenders ("mpiaudit" in ASCII;
/// the schema's trigger takes it too: `migration::AUDIT_CHAIN_LOCK_KEY`).
pub const ADVISORY_LOCK_KEY: i64 = 0x6d70_6961_7564_6974;

/// The message with which the schema refuses an audit row that does not follow the chain's last
/// row (the triggers of migrations 12 and 13, whose text is `migration::AUDIT_FORK_REFUSED`).
pub const FORK_REFUSED: &str = "audit_event: prev_hash is not the hash of the chain's last row";

/// What one audit row says happened (who and through which request come from the [`Ctx`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditEntry {
    /// What was done: `create`, `read`, `update`, `delete`, `search`, `match`, `merge`, ...
    pub action: String,
    /// The kind of entity acted on, e.g. `patient`.
    pub entity_type: Option<String>,
    /// The entity's id.
    pub entity_id: Option<String>,
    /// State before a write, or the query of a read (protected data, like the whole table).
    pub before: Option<Value>,
    /// State after a write, or what a read returned (ids).
    pub after: Option<Value>,
}

impl AuditEntry {
    /// An entry for `action` on the entity `entity_type` with id `entity_id`.
    pub fn new(action: &str, entity_type: &str, entity_id: Option<String>) -> Self {
        Self {
            action: action.to_owned(),
            entity_type: Some(entity_type.to_owned()),
            entity_id,
            before: None,
            after: None,
        }
    }

    /// Sets `before`.
    pub fn before(mut self, value: Value) -> Self {
        self.before = Some(value);
        self
    }

    /// Sets `after`.
    pub fn after(mut self, value: Value) -> Self {
        self.after = Some(value);
        self
    }
}

/// Serialises `value` to JSON for an audit row (`Value::Null` if it cannot be serialised).
pub fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Appends one audit row to the chain inside `txn` (any connection inside a transaction).
pub async fn record<C: ConnectionTrait>(txn: &C, ctx: &Ctx, entry: AuditEntry) -> Result<()> {
    append(txn, vec![(ctx.clone(), entry)]).await
}

/// [`record`] inside one of this process's write transactions. On SQLite the row is chained
/// after the head the transaction already knows ([`crate::WriteTxn::chain_hint`]: its own last
/// row, or the last row this process committed) without reading it first, and the head it
/// leaves is noted for whoever appends next; a hint gone stale (another process appended) is
/// refused by the schema's trigger, which aborts that statement only, and the head is then read
/// as [`record`] reads it. On PostgreSQL, [`record`].
pub async fn record_in(txn: &crate::WriteTxn, ctx: &Ctx, entry: AuditEntry) -> Result<()> {
    let db: &sea_orm::DatabaseTransaction = txn;
    if db.get_database_backend() != DbBackend::Sqlite {
        return record(db, ctx, entry).await;
    }
    let rows = vec![(ctx.clone(), entry)];
    confirm_keys(db, &rows).await?;
    let mut hint = txn.chain_hint();
    loop {
        let hinted = hint.is_some();
        let head = match hint.take() {
            Some(head) => head,
            None => chain_head(db).await?,
        };
        let (models, last) = chained(head, rows.clone());
        match audit_event::Entity::insert_many(models)
            .exec_without_returning(db)
            .await
        {
            Ok(_) => {
                txn.note_appended(last);
                return Ok(());
            }
            // The hint was stale: read the head, once.
            Err(error) if hinted && refused_as_stale(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

/// Most rows one INSERT carries (18 columns each stays far below both engines' limits on
/// bound parameters).
const INSERT_CHUNK: usize = 500;

/// Appends `rows` to the chain inside `txn`, in order: one lock, one read of the chain's head,
/// and one multi-row INSERT per [`INSERT_CHUNK`] rows. When a row's caller has an unconfirmed
/// key ([`Ctx::unconfirmed_key`]) that is no longer live, nothing is appended and the answer is
/// [`Error::Unauthenticated`].
pub async fn append<C: ConnectionTrait>(txn: &C, rows: Vec<(Ctx, AuditEntry)>) -> Result<()> {
    confirm_keys(txn, &rows).await?;
    append_confirmed(txn, rows).await
}

/// [`Error::Unauthenticated`] unless every row's unconfirmed key is still live.
async fn confirm_keys<C: ConnectionTrait>(txn: &C, rows: &[(Ctx, AuditEntry)]) -> Result<()> {
    let wanted = unconfirmed_keys(rows);
    let live = keys::live_keys(txn, &wanted).await?;
    if wanted.iter().any(|hash| !live.contains(hash)) {
        return Err(Error::Unauthenticated("revoked key"));
    }
    Ok(())
}

/// The distinct key hashes that `rows` still need confirmed.
fn unconfirmed_keys(rows: &[(Ctx, AuditEntry)]) -> Vec<String> {
    let mut hashes: Vec<String> = rows
        .iter()
        .filter_map(|(ctx, _)| ctx.unconfirmed_key.clone())
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// [`append`] once every row's key is known to be live.
async fn append_confirmed<C: ConnectionTrait>(txn: &C, rows: Vec<(Ctx, AuditEntry)>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [ADVISORY_LOCK_KEY.into()],
        ))
        .await?;
    }
    let head = chain_head(txn).await?;
    let (mut models, _) = chained(head, rows);
    // Rows are inserted in chain order, so `seq` (assigned by the database) follows it.
    while !models.is_empty() {
        let rest = models.split_off(models.len().min(INSERT_CHUNK));
        audit_event::Entity::insert_many(std::mem::replace(&mut models, rest))
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// The `hash` of the chain's last row ([`GENESIS`] when the chain is empty).
async fn chain_head<C: ConnectionTrait>(db: &C) -> Result<String> {
    Ok(audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Hash)
        .order_by_desc(audit_event::Column::Seq)
        .limit(1)
        .into_tuple::<String>()
        .one(db)
        .await?
        .unwrap_or_else(|| GENESIS.to_owned()))
}

/// The chain's head now (its last row's `seq` and `hash`, read at `at`), for a checkpoint
/// kept outside the database; `None` while the chain is empty.
pub async fn checkpoint<C: ConnectionTrait>(db: &C) -> Result<Option<crate::chain::Checkpoint>> {
    let head = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Seq)
        .column(audit_event::Column::Hash)
        .order_by_desc(audit_event::Column::Seq)
        .limit(1)
        .into_tuple::<(i64, String)>()
        .one(db)
        .await?;
    Ok(head.map(|(seq, hash)| crate::chain::Checkpoint {
        seq,
        hash,
        at: Utc::now(),
    }))
}

/// The rows to insert for `rows` chained after `prev_hash`, and the hash of the last one.
fn chained(
    mut prev_hash: String,
    rows: Vec<(Ctx, AuditEntry)>,
) -> (Vec<audit_event::ActiveModel>, String) {
    let keyring = crate::chain::keyring();
    let mut models = Vec::with_capacity(rows.len());
    for (ctx, entry) in rows {
        let occurred_at: DateTime<FixedOffset> = Utc::now().trunc_subsecs(6).fixed_offset();
        let mut row = audit_event::Model {
            seq: 0,
            occurred_at,
            actor: ctx.actor.name.clone(),
            role: Some(ctx.actor.role),
            action: entry.action,
            entity_type: entry.entity_type,
            entity_id: entry.entity_id,
            before: entry.before,
            after: entry.after,
            request_id: ctx.meta.request_id,
            client_addr: ctx.meta.client_addr,
            user_agent: ctx.meta.user_agent,
            prev_hash: std::mem::take(&mut prev_hash),
            hash: String::new(),
            created_at: occurred_at,
            updated_at: occurred_at,
            created_by: ctx.actor.name.clone(),
            updated_by: ctx.actor.name,
        };
        row.hash = match keyring.signing() {
            Some(key) => key.sign(&row.prev_hash, &canonical_row(&row)),
            None => row_hash(&row),
        };
        prev_hash.clone_from(&row.hash);
        models.push(audit_event::ActiveModel {
            seq: NotSet,
            occurred_at: Set(row.occurred_at),
            actor: Set(row.actor),
            role: Set(row.role),
            action: Set(row.action),
            entity_type: Set(row.entity_type),
            entity_id: Set(row.entity_id),
            before: Set(row.before),
            after: Set(row.after),
            request_id: Set(row.request_id),
            client_addr: Set(row.client_addr),
            user_agent: Set(row.user_agent),
            prev_hash: Set(row.prev_hash),
            hash: Set(row.hash),
            created_at: NotSet,
            updated_at: NotSet,
            created_by: Set(row.created_by),
            updated_by: Set(row.updated_by),
        });
    }
    (models, prev_hash)
}

/// Appends `rows` in ONE statement outside any transaction, chained after `head` as the
/// caller last knew it, and returns the new head. On PostgreSQL the statement takes the chain's
/// advisory lock itself before it inserts (so it waits for a use case's transaction that
/// appends, as [`append`] does); on SQLite the caller holds the write gate, and the statement
/// takes the database's write lock before it reads anything. When `head` is no longer the
/// chain's last row, the statement fails ([`refused_as_stale`]) and writes nothing, and the
/// caller re-reads the head: the schema's trigger refuses a row that does not follow the last
/// row. So `head` must be a committed hash: one read from the table, or returned by a
/// successful call.
///
/// `keys` are the rows' unconfirmed keys ([`Ctx::unconfirmed_key`]): unless every one of them
/// is live, the statement inserts nothing and the answer is `None`.
async fn append_after(
    db: &DatabaseConnection,
    head: String,
    rows: Vec<(Ctx, AuditEntry)>,
    keys: &[String],
) -> std::result::Result<Option<String>, DbErr> {
    let expected = rows.len() as u64;
    let backend = db.get_database_backend();
    let (models, last) = chained(head, rows);
    let insert = audit_event::Entity::insert_many(models).build(backend);
    let Some((columns, values)) = insert.sql.split_once(" VALUES ") else {
        return Err(DbErr::Custom(format!(
            "unexpected audit INSERT: {}",
            insert.sql
        )));
    };
    let mut sql = if backend == DbBackend::Postgres {
        // `INSERT INTO "audit_event" (..) VALUES (..), (..)` becomes
        // `WITH chain_lock .. INSERT INTO "audit_event" (..) SELECT v.* FROM chain_lock, (VALUES ..) v`:
        // every row joins the lock's one row, so the lock is held before the first row is
        // formed (and its `seq` drawn), and until the statement's own transaction commits.
        format!(
            "WITH chain_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})) \
             {columns} SELECT v.* FROM chain_lock, (VALUES {values}) AS v"
        )
    } else {
        format!("{columns} SELECT * FROM (VALUES {values})")
    };
    let mut values = insert.values.map(|v| v.0).unwrap_or_default();
    if !keys.is_empty() {
        let first = values.len() + 1;
        let params: Vec<String> = (first..first + keys.len())
            .map(|n| match backend {
                DbBackend::Postgres => format!("${n}"),
                _ => "?".to_owned(),
            })
            .collect();
        sql.push_str(&format!(
            " WHERE (SELECT count(*) FROM api_key WHERE revoked_at IS NULL AND key_hash IN ({})) = {}",
            params.join(", "),
            keys.len()
        ));
        values.extend(keys.iter().map(|k| k.clone().into()));
    }
    let done = db
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok((done.rows_affected() == expected).then_some(last))
}

/// Whether [`append_after`] failed because its head was not the chain's last row.
fn refused_as_stale(error: &DbErr) -> bool {
    error.to_string().contains(FORK_REFUSED)
}

/// The hash an unkeyed row should carry, computed from its `prev_hash` and content (a keyed
/// row carries [`crate::chain::ChainKey`]'s HMAC of the same text instead).
pub fn row_hash(row: &audit_event::Model) -> String {
    let mut hasher = Sha256::new();
    hasher.update(row.prev_hash.as_bytes());
    hasher.update(canonical_row(row).as_bytes());
    hex::encode(hasher.finalize())
}

/// The canonical text of a row's content that its hash covers (see the module docs).
fn canonical_row(row: &audit_event::Model) -> String {
    let canonical = Value::Array(vec![
        Value::String(
            row.occurred_at
                .with_timezone(&Utc)
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string(),
        ),
        Value::String(row.actor.clone()),
        row.role
            .map(|r| Value::String(r.as_str().to_owned()))
            .unwrap_or(Value::Null),
        Value::String(row.action.clone()),
        opt_str(&row.entity_type),
        opt_str(&row.entity_id),
        row.before.clone().unwrap_or(Value::Null),
        row.after.clone().unwrap_or(Value::Null),
        opt_str(&row.request_id),
        opt_str(&row.client_addr),
        opt_str(&row.user_agent),
    ]);
    canonical_json(&canonical)
}

/// The canonical text of `value` that a row's hash covers: compact JSON with object keys
/// sorted, written so that the value read back from either database gives the same text as
/// the value that was appended.
///
/// A number's text is what a store can change: PostgreSQL's `jsonb` keeps a number as a
/// decimal (`1e16` comes back as `10000000000000000`, which serde_json then reads as an
/// integer; `-0.0` comes back as `0.0`). So a float from 1e16 on (where serde_json's own text
/// switches to an exponent, and every float is integral) is written out as an integer of its
/// shortest digits, as PostgreSQL writes it, and `-0.0` as `0.0`. Every other number is written as serde_json
/// writes it, which keeps the hashes of rows appended before this form existed (their floats
/// were below 1e16, such as match probabilities). Reading a float back exactly needs
/// serde_json's `float_roundtrip` feature (enabled in this crate's manifest): without it
/// `0.9846800733445221` was read back as `0.984680073344522`, and verification reported
/// tampering that never happened.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted here, whatever map type serde_json was built with.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Number(n) => out.push_str(&canonical_number(n)),
        other => out.push_str(&other.to_string()),
    }
}

fn canonical_number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    match n.as_f64() {
        Some(x) if !n.is_i64() && !n.is_u64() => {
            if x == 0.0 {
                "0.0".to_owned()
            } else if x.abs() >= 1e16 {
                // Every float this large is integral; PostgreSQL writes its shortest digits
                // out in full (`-6.217367813913691e17` as `-621736781391369100`).
                plain_integer(&text).unwrap_or(text)
            } else {
                text
            }
        }
        _ => text,
    }
}

/// `d.ddde±N` written out as an integer (`1.5e19` -> `15000000000000000000`), or `None` when
/// `text` is not such a number or not integral.
fn plain_integer(text: &str) -> Option<String> {
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (mantissa, exponent) = unsigned.split_once(['e', 'E'])?;
    let exponent: usize = exponent.trim_start_matches('+').parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > exponent
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{whole}{fraction}{}", "0".repeat(exponent - fraction.len()));
    let digits = digits.trim_start_matches('0');
    Some(format!("{sign}{digits}"))
}

fn opt_str(v: &Option<String>) -> Value {
    v.as_ref()
        .map(|s| Value::String(s.clone()))
        .unwrap_or(Value::Null)
}

/// Most broken rows a [`VerifyReport`] names; the rest are counted.
pub const MAX_BROKEN_LISTED: usize = 100;

/// Most distinct unknown key ids a [`VerifyReport`] names.
pub const MAX_UNKNOWN_KEYS_LISTED: usize = 16;

/// The result of checking the whole chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Rows checked (every row: verification goes on past a broken row).
    pub rows: u64,
    /// Whether every row links to its predecessor and carries its own correct hash, and every
    /// checkpoint given agrees with the chain.
    pub ok: bool,
    /// The first row (by `seq`) whose `prev_hash` or `hash` is wrong.
    pub first_broken_seq: Option<i64>,
    /// How many rows are broken.
    pub broken_count: u64,
    /// The first [`MAX_BROKEN_LISTED`] broken rows, in `seq` order.
    pub broken: Vec<BrokenRow>,
    /// Rows signed with a key (`hmac:KEYID:...`).
    pub keyed_rows: u64,
    /// Rows hashed without a key (before the chain was first keyed; one after a keyed row is
    /// broken, [`BrokenRow::unkeyed`]).
    pub unkeyed_rows: u64,
    /// Ids of keys that signed rows but were not given to verification (their rows are broken,
    /// [`BrokenRow::unknown_key`]): at most [`MAX_UNKNOWN_KEYS_LISTED`].
    pub unknown_key_ids: Vec<String>,
    /// What the checkpoints said, when checkpoints were given.
    pub checkpoints: Option<crate::chain::CheckpointReport>,
}

impl VerifyReport {
    /// Records `lines` lines of the checkpoint file that are no checkpoint (torn or edited):
    /// the report fails when there is any.
    pub fn with_unreadable_checkpoints(mut self, lines: u64) -> Self {
        if let Some(report) = self.checkpoints.as_mut() {
            report.unreadable_lines += lines;
            if lines > 0 {
                self.ok = false;
            }
        }
        self
    }
}

/// A row that does not verify, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokenRow {
    /// The row's sequence number.
    pub seq: i64,
    /// Its `hash` is not the hash of its own content and `prev_hash` (the row was altered).
    pub hash_mismatch: bool,
    /// Its `prev_hash` is not the stored hash of the row before it (a row was removed or
    /// inserted before it, or its `prev_hash` was altered).
    pub link_mismatch: bool,
    /// It is signed with a key verification was not given, so it cannot be checked (give the
    /// older keys after a rotation).
    pub unknown_key: bool,
    /// It is hashed without a key although rows before it are keyed: re-hashed by someone
    /// without the key, or appended by a process that was not given the key.
    pub unkeyed: bool,
}

/// Rows read per query while verifying (memory stays bounded whatever the chain's length).
const VERIFY_PAGE: u64 = 2_000;

/// Recomputes every row's hash in `seq` order with the process's keyring
/// ([`crate::chain::keyring`]) and names every broken row; see [`verify_with`].
pub async fn verify<C: ConnectionTrait>(db: &C) -> Result<VerifyReport> {
    verify_with(db, &crate::chain::keyring(), None).await
}

/// Recomputes every row's hash in `seq` order and names every broken row (the first
/// [`MAX_BROKEN_LISTED`] of them, and how many there are). Each row is checked against the
/// row stored before it, so one altered row is one broken row and rows after it still verify.
/// A keyed row is checked with the key of `keyring` it names; an unkeyed row after a keyed one
/// is broken. Each of `checkpoints` must name a row that exists and carries the checkpoint's
/// hash (`None`: no checkpoints given, the report's `checkpoints` is `None`). Rows are read a page at a time and hashed on tokio's blocking pool, so verifying
/// holds no async worker for long.
pub async fn verify_with<C: ConnectionTrait>(
    db: &C,
    keyring: &crate::chain::Keyring,
    checkpoints: Option<&[crate::chain::Checkpoint]>,
) -> Result<VerifyReport> {
    let mut verifier = Verifier::new(keyring.clone(), checkpoints);
    let mut after_seq = i64::MIN;
    loop {
        let batch = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.gt(after_seq))
            .order_by_asc(audit_event::Column::Seq)
            .limit(VERIFY_PAGE)
            .all(db)
            .await?;
        let Some(last) = batch.last() else { break };
        after_seq = last.seq;
        verifier = tokio::task::spawn_blocking(move || {
            verifier.check(&batch);
            verifier
        })
        .await
        .map_err(|e| Error::Db(DbErr::Custom(format!("audit verification failed: {e}"))))?;
    }
    Ok(verifier.finish())
}

/// The state of one verification, carried from page to page.
struct Verifier {
    keyring: crate::chain::Keyring,
    expected_prev: String,
    seen_keyed: bool,
    /// Checkpoints by `seq`, and whether their row was seen.
    checkpoints: std::collections::HashMap<i64, (String, bool)>,
    checkpoint_failures: Vec<crate::chain::CheckpointFailure>,
    report: VerifyReport,
}

impl Verifier {
    fn new(
        keyring: crate::chain::Keyring,
        checkpoints: Option<&[crate::chain::Checkpoint]>,
    ) -> Self {
        let given = checkpoints.is_some();
        let checkpoints = checkpoints.unwrap_or_default();
        Verifier {
            keyring,
            expected_prev: GENESIS.to_owned(),
            seen_keyed: false,
            checkpoints: checkpoints
                .iter()
                .map(|c| (c.seq, (c.hash.clone(), false)))
                .collect(),
            checkpoint_failures: Vec::new(),
            report: VerifyReport {
                rows: 0,
                ok: true,
                first_broken_seq: None,
                broken_count: 0,
                broken: Vec::new(),
                keyed_rows: 0,
                unkeyed_rows: 0,
                unknown_key_ids: Vec::new(),
                checkpoints: given.then(crate::chain::CheckpointReport::default),
            },
        }
    }

    fn check(&mut self, rows: &[audit_event::Model]) {
        for row in rows {
            self.report.rows += 1;
            let link_mismatch = row.prev_hash != self.expected_prev;
            let mut unknown_key = false;
            let mut unkeyed = false;
            let hash_mismatch = match crate::chain::key_id_of(&row.hash) {
                Some(id) => {
                    self.seen_keyed = true;
                    self.report.keyed_rows += 1;
                    match self.keyring.by_id(id) {
                        Some(key) => key.sign(&row.prev_hash, &canonical_row(row)) != row.hash,
                        None => {
                            unknown_key = true;
                            if self.report.unknown_key_ids.len() < MAX_UNKNOWN_KEYS_LISTED
                                && !self.report.unknown_key_ids.iter().any(|k| k == id)
                            {
                                self.report.unknown_key_ids.push(id.to_owned());
                            }
                            false
                        }
                    }
                }
                None => {
                    self.report.unkeyed_rows += 1;
                    unkeyed = self.seen_keyed;
                    row_hash(row) != row.hash
                }
            };
            if link_mismatch || hash_mismatch || unknown_key || unkeyed {
                self.report.ok = false;
                self.report.first_broken_seq.get_or_insert(row.seq);
                self.report.broken_count += 1;
                if self.report.broken.len() < MAX_BROKEN_LISTED {
                    self.report.broken.push(BrokenRow {
                        seq: row.seq,
                        hash_mismatch,
                        link_mismatch,
                        unknown_key,
                        unkeyed,
                    });
                }
            }
            if let Some((hash, seen)) = self.checkpoints.get_mut(&row.seq) {
                *seen = true;
                if *hash != row.hash {
                    self.checkpoint_failures
                        .push(crate::chain::CheckpointFailure {
                            seq: row.seq,
                            problem: "hash_differs",
                        });
                }
            }
            self.expected_prev.clone_from(&row.hash);
        }
    }

    fn finish(mut self) -> VerifyReport {
        if let Some(report) = self.report.checkpoints.as_mut() {
            report.checked = self.checkpoints.len() as u64;
            let mut failures = std::mem::take(&mut self.checkpoint_failures);
            failures.extend(self.checkpoints.iter().filter(|(_, (_, seen))| !seen).map(
                |(seq, _)| crate::chain::CheckpointFailure {
                    seq: *seq,
                    problem: "missing",
                },
            ));
            failures.sort_by_key(|f| f.seq);
            report.failed_count = failures.len() as u64;
            failures.truncate(MAX_BROKEN_LISTED);
            report.failed = failures;
            if report.failed_count > 0 {
                self.report.ok = false;
            }
        }
        self.report
    }
}

/// Most actions one trail query may filter on.
pub const MAX_ACTIONS_FILTER: usize = 50;

/// Which audit rows to list; `None` fields do not filter. `page` is 1-based.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    /// Entity type, e.g. `patient`.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Actor (key name).
    pub actor: Option<String>,
    /// Only rows with one of these actions; empty: every action.
    pub actions: Vec<String>,
    /// From this time on (inclusive).
    pub from: Option<DateTime<FixedOffset>>,
    /// Before this time (exclusive).
    pub to: Option<DateTime<FixedOffset>>,
    /// Page number from 1.
    pub page: u64,
    /// Page size (0 means 20, at most [`crate::MAX_PER_PAGE`]).
    pub per_page: u64,
}

/// Reads the trail for an auditor: [`query`], audited as `audit_read` (the filters in
/// `before`, the total and the rows' `seq` in `after`). The rows' `before` and `after` (which
/// hold whole patient records) are left out unless `include_images`; then each patient whose
/// images are answered also gets a `read` row of its own, as any read of a patient does.
pub async fn read_trail(
    mpi: &crate::Mpi,
    ctx: &Ctx,
    filter: AuditFilter,
    include_images: bool,
) -> Result<Page<audit_event::Model>> {
    ctx.authorize(keys::Action::Audit)?;
    let asked = serde_json::json!({
        "entity_type": filter.entity_type,
        "entity_id": filter.entity_id,
        "actor": filter.actor,
        "actions": filter.actions,
        "from": filter.from,
        "to": filter.to,
        "page": filter.page,
        "per_page": filter.per_page,
        "include_images": include_images,
    });
    let mut page = query(mpi.db(), filter).await?;
    let seqs: Vec<i64> = page.items.iter().map(|r| r.seq).collect();
    let mut rows = vec![(
        ctx.clone(),
        AuditEntry::new("audit_read", "audit_event", None)
            .before(asked)
            .after(serde_json::json!({"total": page.total, "seqs": seqs})),
    )];
    if include_images {
        let mut patients: Vec<&str> = page
            .items
            .iter()
            .filter(|r| r.entity_type.as_deref() == Some("patient"))
            .filter(|r| r.before.is_some() || r.after.is_some())
            .filter_map(|r| r.entity_id.as_deref())
            .collect();
        patients.sort_unstable();
        patients.dedup();
        rows.extend(patients.into_iter().map(|id| {
            (
                ctx.clone(),
                AuditEntry::new("read", "patient", Some(id.to_owned()))
                    .before(serde_json::json!({"via": "audit_trail"})),
            )
        }));
    } else {
        for row in &mut page.items {
            row.before = None;
            row.after = None;
        }
    }
    let txn = mpi.write_txn().await?;
    append(&*txn, rows).await?;
    txn.commit().await?;
    Ok(page)
}

/// Lists audit rows, newest first (not audited: [`read_trail`] is the audited use case).
pub async fn query<C: ConnectionTrait>(
    db: &C,
    filter: AuditFilter,
) -> Result<Page<audit_event::Model>> {
    let (page, per_page) = page_bounds(filter.page, filter.per_page)?;
    for (name, value) in [
        ("entity_type", &filter.entity_type),
        ("entity_id", &filter.entity_id),
        ("actor", &filter.actor),
    ] {
        if let Some(v) = value {
            crate::limits::check_text(|| name.to_owned(), v, crate::limits::MAX_CRITERION)?;
        }
    }
    if filter.actions.len() > MAX_ACTIONS_FILTER {
        return Err(crate::Error::validation(
            "action",
            format!("names more than {MAX_ACTIONS_FILTER} actions"),
        ));
    }
    let mut q = audit_event::Entity::find();
    if !filter.actions.is_empty() {
        q = q.filter(audit_event::Column::Action.is_in(filter.actions));
    }
    if let Some(t) = filter.entity_type {
        q = q.filter(audit_event::Column::EntityType.eq(t));
    }
    if let Some(id) = filter.entity_id {
        q = q.filter(audit_event::Column::EntityId.eq(id));
    }
    if let Some(a) = filter.actor {
        q = q.filter(audit_event::Column::Actor.eq(a));
    }
    if let Some(from) = filter.from {
        q = q.filter(Expr::col(audit_event::Column::OccurredAt).gte(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(Expr::col(audit_event::Column::OccurredAt).lt(to));
    }
    let total = q.clone().count(db).await?;
    let items = q
        .order_by_desc(audit_event::Column::Seq)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    Ok(Page {
        items,
        total,
        page,
        per_page,
    })
}

/// The audit rows of reads (`read`, `search`, `match`), appended in batches.
///
/// A read changes nothing, so its audit row need not share a transaction with it; it only has
/// to be committed before the answer leaves. Rows wait in one queue per service, and whatever
/// has queued up is appended at once (one lock on the chain, one commit, so one disk flush for
/// the whole batch), then every waiting read is told that its row is stored. Concurrent reads
/// therefore share commits instead of queueing for the chain's lock one commit at a time.
///
/// Who appends: a read that finds nobody appending appends the batch that holds its own row
/// itself, on its own task, so a read that comes alone is not handed to another thread and back
/// (two wake-ups, each a context switch on a busy 2-core machine). Rows that queued up while
/// that batch was being written are appended by a task on the service's runtime, batch after
/// batch until the queue is empty; so no reader's answer waits for other readers' rows. A batch
/// whose reader goes away in the middle of it (a cancelled request) is finished on that
/// runtime ([`Finish`]).
///
/// A batch is one statement that appends it after the chain's head as this service last wrote
/// or read it ([`append_after`]); on SQLite behind the service's write gate, on PostgreSQL
/// taking the chain's lock itself. One round trip instead of five (BEGIN, lock or key check,
/// head, INSERT, COMMIT): on PostgreSQL that was most of a lookup by id, and on SQLite each
/// statement is a hand-off to the connection's worker thread and back. When another writer
/// moved the head meanwhile (any write use case appends its own rows), the head is read again
/// and the append tried again; after [`READ_APPEND_ATTEMPTS`] such tries, or when a caller's
/// key is no longer live, the batch is appended in a write transaction.
pub(crate) struct ReadAuditor {
    appender: Arc<Appender>,
}

struct Appender {
    writer: crate::TxnOpener,
    /// Where appending goes on when a reader has its own row stored, and where a cancelled
    /// reader's batch is finished.
    runtime: tokio::runtime::Handle,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<PendingRead>,
    /// Whether a task is appending; it goes on until `pending` is empty.
    appending: bool,
}

struct PendingRead {
    ctx: Ctx,
    entry: AuditEntry,
    /// `Ok(true)` once the row is committed, `Ok(false)` when it was refused because the
    /// caller's unconfirmed key is no longer live.
    done: tokio::sync::oneshot::Sender<std::result::Result<bool, String>>,
}

/// Most rows one batch (one statement, or one transaction) appends.
const READ_BATCH: usize = 1_000;

/// One-statement appends a batch of reads tries before it appends in a write transaction.
const READ_APPEND_ATTEMPTS: usize = 4;

impl ReadAuditor {
    /// An auditor whose background appending runs on the current tokio runtime.
    pub(crate) fn start(writer: crate::TxnOpener) -> ReadAuditor {
        ReadAuditor {
            appender: Arc::new(Appender {
                writer,
                runtime: tokio::runtime::Handle::current(),
                queue: Mutex::new(Queue::default()),
            }),
        }
    }

    /// The runtime the service was started on (not an HTTP worker's).
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.appender.runtime
    }

    /// Appends the audit row of a read and waits until it is committed.
    pub(crate) async fn record(&self, ctx: &Ctx, entry: AuditEntry) -> Result<()> {
        let (done, stored) = tokio::sync::oneshot::channel();
        let lead = {
            let mut queue = self.appender.lock();
            queue.pending.push(PendingRead {
                ctx: ctx.clone(),
                entry,
                done,
            });
            !std::mem::replace(&mut queue.appending, true)
        };
        if lead {
            let runtime = self.appender.runtime.clone();
            Finish::new(runtime, self.appender.clone().lead())
                .run()
                .await;
        }
        let failed = |why: &str| crate::Error::Db(sea_orm::DbErr::Custom(why.to_owned()));
        match stored.await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(Error::Unauthenticated("revoked key")),
            Ok(Err(why)) => Err(failed(&format!("appending the audit row failed: {why}"))),
            Err(_) => Err(failed("the audit appender has stopped")),
        }
    }
}

impl Appender {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The queue stays consistent whatever panicked while holding it.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether rows are waiting; if none are, the appender is idle from now on.
    fn more_to_append(&self) -> bool {
        let mut queue = self.lock();
        queue.appending = !queue.pending.is_empty();
        queue.appending
    }

    /// A reader's part: appends the batch holding its own row, and leaves any rows queued
    /// meanwhile to [`Appender::append_all`] on the service's runtime.
    async fn lead(self: Arc<Self>) {
        self.append_batch().await;
        if self.more_to_append() {
            self.runtime.clone().spawn(self.append_all());
        }
    }

    /// Appends batch after batch until the queue is empty.
    async fn append_all(self: Arc<Self>) {
        loop {
            self.append_batch().await;
            if !self.more_to_append() {
                return;
            }
        }
    }

    /// Appends the rows queued now (at most [`READ_BATCH`]) and tells their readers.
    async fn append_batch(&self) {
        let batch: Vec<PendingRead> = {
            let mut queue = self.lock();
            let n = queue.pending.len().min(READ_BATCH);
            queue.pending.drain(..n).collect()
        };
        let (rows, waiting): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|p| ((p.ctx, p.entry), p.done))
            .unzip();
        let count = rows.len();
        let outcome = append_reads(&self.writer, rows).await.map_err(|error| {
            let why = match &error {
                crate::Error::Db(cause) => cause.to_string(),
                other => other.to_string(),
            };
            tracing::error!(error = %why, rows = count, "appending the audit rows of reads failed");
            why
        });
        // A reader that went away still had its read recorded (or not): nothing to do.
        match outcome {
            Ok(stored) => {
                for (done, stored) in waiting.into_iter().zip(stored) {
                    let _ = done.send(Ok(stored));
                }
            }
            Err(why) => {
                for done in waiting {
                    let _ = done.send(Err(why.clone()));
                }
            }
        }
    }
}

/// Appending started on a reader's task. If that task drops it unfinished (the request was
/// cancelled), the rest runs on the service's runtime: the other readers of the batch, and
/// those queued behind it, are waiting for it.
struct Finish {
    work: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    runtime: tokio::runtime::Handle,
}

impl Finish {
    fn new(
        runtime: tokio::runtime::Handle,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Finish {
        Finish {
            work: Some(Box::pin(work)),
            runtime,
        }
    }

    async fn run(mut self) {
        if let Some(work) = self.work.as_mut() {
            work.await;
            self.work = None;
        }
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if let Some(work) = self.work.take() {
            self.runtime.spawn(work);
        }
    }
}

/// Appends a batch of reads' rows (see [`ReadAuditor`]) after the chain's head as this process
/// last appended or read it ([`crate::TxnOpener::chain_tip`]; read when unknown, or when a
/// transaction has committed since without noting what it appended). Answers, row by row, whether
/// the row was appended (`false`: its caller's unconfirmed key is no longer live, see
/// [`Ctx::unconfirmed_key`]); the other rows of the batch are appended all the same.
async fn append_reads(
    writer: &crate::TxnOpener,
    rows: Vec<(Ctx, AuditEntry)>,
) -> Result<Vec<bool>> {
    let db = writer.db();
    let wanted = unconfirmed_keys(&rows);
    if rows.len() <= INSERT_CHUNK {
        let _gate = writer.pass_gate().await;
        // Counted inside the gate: on SQLite no transaction of this writer commits until the
        // rows below are in.
        let commits = writer.commits();
        let mut hint = writer.chain_tip();
        for _ in 0..READ_APPEND_ATTEMPTS {
            let known = match hint.take() {
                Some(known) => known,
                None => chain_head(db).await?,
            };
            match append_after(db, known, rows.clone(), &wanted).await {
                Ok(Some(last)) => {
                    writer.set_chain_tip(last, commits);
                    return Ok(vec![true; rows.len()]);
                }
                // A key is no longer live: the transaction below sorts out which rows stay.
                Ok(None) => break,
                // Another writer appended after `known`: read the head again.
                Err(error) if refused_as_stale(&error) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    let txn = writer.open().await?;
    let live = keys::live_keys(&*txn, &wanted).await?;
    let stored: Vec<bool> = rows
        .iter()
        .map(|(ctx, _)| {
            ctx.unconfirmed_key
                .as_ref()
                .is_none_or(|hash| live.contains(hash))
        })
        .collect();
    let kept = rows
        .into_iter()
        .zip(&stored)
        .filter_map(|(row, &keep)| keep.then_some(row))
        .collect();
    append_confirmed(&*txn, kept).await?;
    txn.commit().await?;
    Ok(stored)
}
