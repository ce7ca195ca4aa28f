//! The audit trail in PostgreSQL, as in SQLite (`sqlite_audit`): one row per event in
//! `audit_events`, keyed by its sequence number, with the columns lookups filter on beside
//! the CloudTrail record, and its `(ResourceType, ResourceName)` pairs in
//! `audit_resources`, in the order they came. Pruning removes a prefix of the chain and
//! keeps the last removed event's place in `meta` as the checkpoint verification starts
//! from; every append records the newest event's place there too. Both `meta` entries have
//! SQLite's names and encoding (`records`).
//!
//! Several nodes append to the one chain. Every append and every pruning holds one
//! transaction-scoped advisory lock ([`AUDIT_LOCK`]) from before it reads the head until it
//! commits, so checking that a batch follows the head and writing it are one step: a node
//! whose batch was linked after a head that has since moved gets `Conflict` and writes
//! nothing, and links its batch again. Reads are single statements, each on one snapshot.

use std::collections::HashSet;

use keyward_core::audit::{AuditEvent, ChainedEvent, Checkpoint};
use keyward_core::store::{AuditAttribute, AuditQuery};
use keyward_core::{StoreError, UnixMillis};
use postgres::types::{FromSql, ToSql, Type};
use postgres::{Client, GenericClient, Row};

use crate::postgres::{backend, is_unique_violation};
use crate::records::{
    decode_checkpoint, encode_checkpoint, from_sql_seq, range_bounds, to_hash, to_sql_seq,
    AUDIT_CHECKPOINT, AUDIT_HEAD,
};

/// The advisory lock that serialises the writers of the audit chain ("keywardA" in
/// ASCII; the migrations hold "keyward").
pub(crate) const AUDIT_LOCK: i64 = 0x6b65_7977_6172_6441;

/// The columns of an event, read from `audit_events e`.
macro_rules! event_columns {
    () => {
        "e.seq, e.prev_hash, e.hash, e.event_id, e.event_time, e.event_source, e.event_name, \
         e.read_only, e.username, e.access_key_id, e.account, e.region, e.record"
    };
}

/// A page of events (`$page`, a `SELECT event_columns!() … LIMIT …` whose rows are `p`)
/// with each event's resources as two arrays in stored order (`ordinal`, the resource's
/// place in its event), for that page only: one statement, so events and resources come
/// from one snapshot.
macro_rules! with_resources {
    ($page:expr, $direction:literal) => {
        concat!(
            "SELECT p.seq, p.prev_hash, p.hash, p.event_id, p.event_time, p.event_source, \
             p.event_name, p.read_only, p.username, p.access_key_id, p.account, p.region, \
             p.record, x.types, x.names FROM (",
            $page,
            ") p LEFT JOIN LATERAL (SELECT array_agg(resource_type ORDER BY ordinal) AS types, \
             array_agg(resource_name ORDER BY ordinal) AS names FROM audit_resources \
             WHERE seq = p.seq) x ON true ORDER BY p.seq ",
            $direction
        )
    };
}

/// A lookup by a column of `audit_events`. Parameters: account, region, start, end,
/// highest seq, limit, and the attribute's value as `$7` where there is one.
macro_rules! lookup_by_column {
    ($condition:literal) => {
        with_resources!(
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM audit_events e WHERE e.account = $1 AND e.region = $2 \
                 AND e.event_time BETWEEN $3 AND $4 AND e.seq <= $5",
                $condition,
                " ORDER BY e.seq DESC LIMIT $6"
            ),
            "DESC"
        )
    };
}

/// A lookup by resource: the events among those naming the resource (`$7`). An event
/// naming the same resource twice is returned once.
macro_rules! lookup_by_resource {
    ($column:literal) => {
        with_resources!(
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM audit_events e WHERE e.seq IN (SELECT r.seq FROM audit_resources r \
                 WHERE r.",
                $column,
                " = $7 AND r.seq <= $5) AND e.account = $1 AND e.region = $2 \
                 AND e.event_time BETWEEN $3 AND $4 AND e.seq <= $5 \
                 ORDER BY e.seq DESC LIMIT $6"
            ),
            "DESC"
        )
    };
}

const INSERT_EVENTS: &str = "INSERT INTO audit_events (seq, prev_hash, hash, event_id, event_time, event_source, event_name, read_only, username, access_key_id, account, region, record) SELECT * FROM UNNEST($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
const INSERT_RESOURCES: &str = "INSERT INTO audit_resources (seq, ordinal, resource_type, resource_name) SELECT * FROM UNNEST($1, $2, $3, $4)";
const PUT_META: &str = "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value";
const GET_META: &str = "SELECT value FROM meta WHERE name = $1";
/// The recorded head, the last stored event and the checkpoint, from one snapshot.
const HEAD_SOURCES: &str = "SELECT (SELECT value FROM meta WHERE name = $1), \
     (SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1), \
     (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), \
     (SELECT value FROM meta WHERE name = $2)";
const LAST_EVENT: &str = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";
const RANGE: &str = with_resources!(
    concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit_events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2"
    ),
    "ASC"
);

fn lookup_sql(attribute: Option<AuditAttribute>) -> &'static str {
    match attribute {
        None => lookup_by_column!(""),
        Some(AuditAttribute::EventId) => lookup_by_column!(" AND e.event_id = $7"),
        Some(AuditAttribute::EventName) => lookup_by_column!(" AND e.event_name = $7"),
        Some(AuditAttribute::ReadOnly) => lookup_by_column!(" AND e.read_only = $7"),
        Some(AuditAttribute::Username) => lookup_by_column!(" AND e.username = $7"),
        Some(AuditAttribute::EventSource) => lookup_by_column!(" AND e.event_source = $7"),
        Some(AuditAttribute::AccessKeyId) => lookup_by_column!(" AND e.access_key_id = $7"),
        Some(AuditAttribute::ResourceType) => lookup_by_resource!("resource_type"),
        Some(AuditAttribute::ResourceName) => lookup_by_resource!("resource_name"),
    }
}

/// Column `index` of `row`: an error, never a panic, when it does not hold a `T`.
fn column<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T, StoreError> {
    row.try_get(index).map_err(backend)
}

/// Reads a row of `with_resources!`: the event's columns, then its resources' types and
/// names.
fn read_event(row: &Row) -> Result<ChainedEvent, StoreError> {
    let types: Option<Vec<String>> = column(row, 13)?;
    let names: Option<Vec<String>> = column(row, 14)?;
    let (types, names) = (types.unwrap_or_default(), names.unwrap_or_default());
    if types.len() != names.len() {
        return Err(StoreError::Corrupt(
            "audit resources without a type or a name".into(),
        ));
    }
    Ok(ChainedEvent {
        seq: from_sql_seq(column(row, 0)?)?,
        prev_hash: to_hash(column(row, 1)?)?,
        hash: to_hash(column(row, 2)?)?,
        event: AuditEvent {
            event_id: column(row, 3)?,
            event_time: UnixMillis(column(row, 4)?),
            event_source: column(row, 5)?,
            event_name: column(row, 6)?,
            read_only: column(row, 7)?,
            username: column(row, 8)?,
            access_key_id: column(row, 9)?,
            resources: types.into_iter().zip(names).collect(),
            account: column(row, 10)?,
            region: column(row, 11)?,
            record: column(row, 12)?,
        },
    })
}

/// The checkpoint of the last pruning, or the genesis.
fn checkpoint_in(conn: &mut impl GenericClient) -> Result<Checkpoint, StoreError> {
    let stored = conn
        .query_typed_opt(GET_META, &[(&AUDIT_CHECKPOINT, Type::TEXT)])
        .map_err(backend)?;
    match stored {
        Some(row) => decode_checkpoint(&column::<Vec<u8>>(&row, 0)?),
        None => Ok(Checkpoint::GENESIS),
    }
}

/// The recorded head, else the last stored event, else the checkpoint. The recorded head
/// wins so that new events never fill the place of deleted ones.
fn head_in(conn: &mut impl GenericClient) -> Result<Checkpoint, StoreError> {
    let row = conn
        .query_typed_one(
            HEAD_SOURCES,
            &[(&AUDIT_HEAD, Type::TEXT), (&AUDIT_CHECKPOINT, Type::TEXT)],
        )
        .map_err(backend)?;
    if let Some(bytes) = column::<Option<Vec<u8>>>(&row, 0)? {
        return decode_checkpoint(&bytes);
    }
    let last_seq: Option<i64> = column(&row, 1)?;
    let last_hash: Option<Vec<u8>> = column(&row, 2)?;
    if let (Some(seq), Some(hash)) = (last_seq, last_hash) {
        return Ok(Checkpoint {
            seq: from_sql_seq(seq)?,
            hash: to_hash(hash)?,
        });
    }
    match column::<Option<Vec<u8>>>(&row, 3)? {
        Some(bytes) => decode_checkpoint(&bytes),
        None => Ok(Checkpoint::GENESIS),
    }
}

/// Takes the audit chain's lock for the rest of the transaction, waiting for the writer
/// that holds it to commit or roll back.
fn lock_chain(tx: &mut impl GenericClient) -> Result<(), StoreError> {
    tx.execute_typed(
        "SELECT pg_advisory_xact_lock($1)",
        &[(&AUDIT_LOCK, Type::INT8)],
    )
    .map_err(backend)?;
    Ok(())
}

/// The batch must be a chain of its own (consecutive, each linked to the one before) and
/// start right after the head; anything else is `Conflict` and writes nothing. The head is
/// read under the chain's lock, so no other writer moves it before this commits.
pub(crate) fn append(conn: &mut Client, events: &[ChainedEvent]) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Ok(());
    };
    for pair in events.windows(2) {
        if pair[0].seq.checked_add(1) != Some(pair[1].seq) || pair[1].prev_hash != pair[0].hash {
            return Err(StoreError::Conflict);
        }
    }
    // The whole batch as one array per column, inserted by one statement each.
    let seqs = events
        .iter()
        .map(|c| to_sql_seq(c.seq))
        .collect::<Result<Vec<i64>, _>>()?;
    let prev_hashes: Vec<&[u8]> = events.iter().map(|c| &c.prev_hash[..]).collect();
    let hashes: Vec<&[u8]> = events.iter().map(|c| &c.hash[..]).collect();
    let event_ids: Vec<&str> = events.iter().map(|c| &*c.event.event_id).collect();
    let times: Vec<i64> = events.iter().map(|c| c.event.event_time.0).collect();
    let sources: Vec<&str> = events.iter().map(|c| &*c.event.event_source).collect();
    let names: Vec<&str> = events.iter().map(|c| &*c.event.event_name).collect();
    let read_only: Vec<bool> = events.iter().map(|c| c.event.read_only).collect();
    let usernames: Vec<Option<&str>> = events.iter().map(|c| c.event.username.as_deref()).collect();
    let access_keys: Vec<Option<&str>> = events
        .iter()
        .map(|c| c.event.access_key_id.as_deref())
        .collect();
    let accounts: Vec<&str> = events.iter().map(|c| &*c.event.account).collect();
    let regions: Vec<&str> = events.iter().map(|c| &*c.event.region).collect();
    let records: Vec<&str> = events.iter().map(|c| &*c.event.record).collect();
    let (mut resource_seqs, mut ordinals, mut resource_types, mut resource_names) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (seq, chained) in seqs.iter().zip(events) {
        for (ordinal, (kind, name)) in chained.event.resources.iter().enumerate() {
            let ordinal = i32::try_from(ordinal).map_err(|_| {
                StoreError::Backend(format!(
                    "audit event {} names too many resources",
                    chained.event.event_id
                ))
            })?;
            resource_seqs.push(*seq);
            ordinals.push(ordinal);
            resource_types.push(kind.as_str());
            resource_names.push(name.as_str());
        }
    }

    let mut tx = conn.transaction().map_err(backend)?;
    lock_chain(&mut tx)?;
    let head = head_in(&mut tx)?;
    if head.seq.checked_add(1) != Some(first.seq) || first.prev_hash != head.hash {
        return Err(StoreError::Conflict);
    }
    let inserted = tx.execute_typed(
        INSERT_EVENTS,
        &[
            (&seqs, Type::INT8_ARRAY),
            (&prev_hashes, Type::BYTEA_ARRAY),
            (&hashes, Type::BYTEA_ARRAY),
            (&event_ids, Type::TEXT_ARRAY),
            (&times, Type::INT8_ARRAY),
            (&sources, Type::TEXT_ARRAY),
            (&names, Type::TEXT_ARRAY),
            (&read_only, Type::BOOL_ARRAY),
            (&usernames, Type::TEXT_ARRAY),
            (&access_keys, Type::TEXT_ARRAY),
            (&accounts, Type::TEXT_ARRAY),
            (&regions, Type::TEXT_ARRAY),
            (&records, Type::TEXT_ARRAY),
        ],
    );
    if let Err(err) = inserted {
        if !is_unique_violation(&err) {
            return Err(backend(err));
        }
        tx.rollback().map_err(backend)?;
        return Err(taken(conn, events, &seqs, &event_ids)?);
    }
    if !resource_seqs.is_empty() {
        tx.execute_typed(
            INSERT_RESOURCES,
            &[
                (&resource_seqs, Type::INT8_ARRAY),
                (&ordinals, Type::INT4_ARRAY),
                (&resource_types, Type::TEXT_ARRAY),
                (&resource_names, Type::TEXT_ARRAY),
            ],
        )
        .map_err(backend)?;
    }
    let head = encode_checkpoint(&Checkpoint {
        seq: last.seq,
        hash: last.hash,
    });
    tx.execute_typed(PUT_META, &[(&AUDIT_HEAD, Type::TEXT), (&head, Type::BYTEA)])
        .map_err(backend)?;
    tx.commit().map_err(backend)
}

/// The error of a batch refused for a taken sequence number or event id, naming the first
/// event whose insert fails, as SQLite (inserting one by one) does. Only a refused batch
/// pays for the query.
fn taken(
    conn: &mut Client,
    events: &[ChainedEvent],
    seqs: &[i64],
    event_ids: &[&str],
) -> Result<StoreError, StoreError> {
    let rows = conn
        .query_typed(
            "SELECT seq, event_id FROM audit_events WHERE seq = ANY($1) OR event_id = ANY($2)",
            &[(&seqs, Type::INT8_ARRAY), (&event_ids, Type::TEXT_ARRAY)],
        )
        .map_err(backend)?;
    let mut stored_seqs = HashSet::new();
    let mut stored_ids = HashSet::new();
    for row in &rows {
        stored_seqs.insert(column::<i64>(row, 0)?);
        stored_ids.insert(column::<String>(row, 1)?);
    }
    let mut batch_ids = HashSet::new();
    let culprit = seqs.iter().zip(events).find(|(seq, chained)| {
        let id = chained.event.event_id.as_str();
        stored_seqs.contains(*seq) || stored_ids.contains(id) || !batch_ids.insert(id)
    });
    let id = culprit.map_or(event_ids.first().copied().unwrap_or_default(), |(_, c)| {
        c.event.event_id.as_str()
    });
    Ok(StoreError::AlreadyExists(format!(
        "audit event {id} exists"
    )))
}

pub(crate) fn head(conn: &mut Client) -> Result<Checkpoint, StoreError> {
    head_in(conn)
}

pub(crate) fn checkpoint(conn: &mut Client) -> Result<Checkpoint, StoreError> {
    checkpoint_in(conn)
}

pub(crate) fn lookup(
    conn: &mut Client,
    query: &AuditQuery,
) -> Result<Vec<ChainedEvent>, StoreError> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let start = query.start.map_or(i64::MIN, |t| t.0);
    let end = query.end.map_or(i64::MAX, |t| t.0);
    // `seq <= $5`, so `before_seq: Some(0)` matches nothing and `None` everything.
    let highest = match query.before_seq {
        None => i64::MAX,
        Some(before) => i64::try_from(before).map_or(i64::MAX, |b| b - 1),
    };
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let read_only: bool;
    let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
        (&query.account, Type::TEXT),
        (&query.region, Type::TEXT),
        (&start, Type::INT8),
        (&end, Type::INT8),
        (&highest, Type::INT8),
        (&limit, Type::INT8),
    ];
    let attribute = match &query.attribute {
        None => None,
        Some((AuditAttribute::ReadOnly, value)) => {
            read_only = if value.eq_ignore_ascii_case("true") {
                true
            } else if value.eq_ignore_ascii_case("false") {
                false
            } else {
                // Neither true nor false: no event matches.
                return Ok(Vec::new());
            };
            params.push((&read_only, Type::BOOL));
            Some(AuditAttribute::ReadOnly)
        }
        Some((attribute, value)) => {
            params.push((value, Type::TEXT));
            Some(*attribute)
        }
    };
    conn.query_typed(lookup_sql(attribute), &params)
        .map_err(backend)?
        .iter()
        .map(read_event)
        .collect()
}

pub(crate) fn range(
    conn: &mut Client,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let Some((after, limit)) = range_bounds(after_seq, limit) else {
        return Ok(Vec::new());
    };
    conn.query_typed(RANGE, &[(&after, Type::INT8), (&limit, Type::INT8)])
        .map_err(backend)?
        .iter()
        .map(read_event)
        .collect()
}

/// Removes the longest prefix of the chain whose events are all older than `before`: an
/// event at or after `before` stays, and so does every event after it, however old. Holds
/// the chain's lock, so that two nodes pruning at once never move the checkpoint back and
/// an append never runs between the reading of the chain and the deleting.
pub(crate) fn prune(conn: &mut Client, before: UnixMillis) -> Result<Checkpoint, StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    lock_chain(&mut tx)?;
    let first_kept: Option<i64> = tx
        .query_typed_opt(
            "SELECT seq FROM audit_events WHERE event_time >= $1 ORDER BY seq LIMIT 1",
            &[(&before.0, Type::INT8)],
        )
        .map_err(backend)?
        .map(|row| column(&row, 0))
        .transpose()?;
    let last_removed = match first_kept {
        Some(kept) => tx.query_typed_opt(
            "SELECT seq, hash FROM audit_events WHERE seq < $1 ORDER BY seq DESC LIMIT 1",
            &[(&kept, Type::INT8)],
        ),
        None => tx.query_typed_opt(LAST_EVENT, &[]),
    }
    .map_err(backend)?;
    let Some(row) = last_removed else {
        let current = checkpoint_in(&mut tx)?;
        tx.commit().map_err(backend)?;
        return Ok(current);
    };
    let seq: i64 = column(&row, 0)?;
    let checkpoint = Checkpoint {
        seq: from_sql_seq(seq)?,
        hash: to_hash(column(&row, 1)?)?,
    };
    tx.execute_typed(
        "DELETE FROM audit_resources WHERE seq <= $1",
        &[(&seq, Type::INT8)],
    )
    .map_err(backend)?;
    tx.execute_typed(
        "DELETE FROM audit_events WHERE seq <= $1",
        &[(&seq, Type::INT8)],
    )
    .map_err(backend)?;
    let encoded = encode_checkpoint(&checkpoint);
    tx.execute_typed(
        PUT_META,
        &[(&AUDIT_CHECKPOINT, Type::TEXT), (&encoded, Type::BYTEA)],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(checkpoint)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_lock_is_not_the_migration_lock() {
        assert_ne!(AUDIT_LOCK, crate::postgres_schema::MIGRATION_LOCK);
    }
}
