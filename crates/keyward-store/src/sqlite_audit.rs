//! The audit trail in SQLite: one row per event in `audit_events`, keyed by its sequence
//! number (the rowid), with the columns lookups filter on beside the CloudTrail record, and
//! its `(ResourceType, ResourceName)` pairs in `audit_resources`, in the order they came.
//! Pruning removes a prefix of the chain and keeps the last removed event's place in `meta`
//! as the checkpoint verification starts from. The `Store` impl in `sqlite.rs` calls these,
//! one transaction each.

use keyward_core::audit::{AuditEvent, ChainedEvent, Checkpoint};
use keyward_core::store::{AuditAttribute, AuditQuery};
use keyward_core::{StoreError, UnixMillis};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::records::{
    decode_checkpoint, encode_checkpoint, from_sql_seq, range_bounds, to_hash, to_sql_seq,
    AUDIT_CHECKPOINT, AUDIT_HEAD,
};
use crate::sqlite::{backend, is_unique_violation};

macro_rules! event_columns {
    () => {
        "e.seq, e.prev_hash, e.hash, e.event_id, e.event_time, e.event_source, e.event_name, \
         e.read_only, e.username, e.access_key_id, e.account, e.region, e.record"
    };
}

/// A lookup by a column of `audit_events`. Every variant binds the same seven parameters:
/// account, region, start, end, highest seq, attribute value (unused without an
/// attribute), limit; `?7` makes SQLite count seven even where `?6` is absent.
macro_rules! lookup_by_column {
    ($condition:literal) => {
        concat!(
            "SELECT ",
            event_columns!(),
            " FROM audit_events e WHERE e.account = ?1 AND e.region = ?2 \
             AND e.event_time BETWEEN ?3 AND ?4 AND e.seq <= ?5",
            $condition,
            " ORDER BY e.seq DESC LIMIT ?7"
        )
    };
}

/// A lookup by resource, driven by the resource index in descending seq order; an event
/// naming the same resource twice is returned once.
macro_rules! lookup_by_resource {
    ($column:literal) => {
        concat!(
            "SELECT ",
            event_columns!(),
            " FROM audit_resources r CROSS JOIN audit_events e ON e.seq = r.seq \
             WHERE r.",
            $column,
            " = ?6 AND r.seq <= ?5 AND e.account = ?1 AND e.region = ?2 \
             AND e.event_time BETWEEN ?3 AND ?4 GROUP BY r.seq ORDER BY r.seq DESC LIMIT ?7"
        )
    };
}

const INSERT_EVENT: &str = "INSERT INTO audit_events (seq, prev_hash, hash, event_id, event_time, event_source, event_name, read_only, username, access_key_id, account, region, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
const INSERT_RESOURCE: &str =
    "INSERT INTO audit_resources (seq, resource_type, resource_name) VALUES (?1, ?2, ?3)";
const LAST_EVENT: &str = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";
const RANGE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM audit_events e WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2"
);
const RANGE_RESOURCES: &str = "SELECT seq, resource_type, resource_name FROM audit_resources WHERE seq > ?1 AND seq <= ?2 ORDER BY seq, rowid";
const EVENT_RESOURCES: &str =
    "SELECT resource_type, resource_name FROM audit_resources WHERE seq = ?1 ORDER BY rowid";

fn lookup_sql(attribute: Option<AuditAttribute>) -> &'static str {
    match attribute {
        None => lookup_by_column!(""),
        Some(AuditAttribute::EventId) => lookup_by_column!(" AND e.event_id = ?6"),
        Some(AuditAttribute::EventName) => lookup_by_column!(" AND e.event_name = ?6"),
        Some(AuditAttribute::ReadOnly) => lookup_by_column!(" AND e.read_only = ?6"),
        Some(AuditAttribute::Username) => lookup_by_column!(" AND e.username = ?6"),
        Some(AuditAttribute::EventSource) => lookup_by_column!(" AND e.event_source = ?6"),
        Some(AuditAttribute::AccessKeyId) => lookup_by_column!(" AND e.access_key_id = ?6"),
        Some(AuditAttribute::ResourceType) => lookup_by_resource!("resource_type"),
        Some(AuditAttribute::ResourceName) => lookup_by_resource!("resource_name"),
    }
}

/// An event as read from its row, before its resources are attached.
struct Stored {
    seq: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    event: AuditEvent,
}

/// Reads the columns of `event_columns!()`.
fn read_event(r: &Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        seq: r.get(0)?,
        prev_hash: r.get(1)?,
        hash: r.get(2)?,
        event: AuditEvent {
            event_id: r.get(3)?,
            event_time: UnixMillis(r.get(4)?),
            event_source: r.get(5)?,
            event_name: r.get(6)?,
            read_only: r.get(7)?,
            username: r.get(8)?,
            access_key_id: r.get(9)?,
            resources: Vec::new(),
            account: r.get(10)?,
            region: r.get(11)?,
            record: r.get(12)?,
        },
    })
}

impl Stored {
    fn chained(self) -> Result<ChainedEvent, StoreError> {
        Ok(ChainedEvent {
            seq: from_sql_seq(self.seq)?,
            prev_hash: to_hash(self.prev_hash)?,
            hash: to_hash(self.hash)?,
            event: self.event,
        })
    }
}

/// The checkpoint of the last pruning, or the genesis.
fn checkpoint_in(conn: &Connection) -> Result<Checkpoint, StoreError> {
    let stored: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM meta WHERE name = ?1")
        .map_err(backend)?
        .query_row([AUDIT_CHECKPOINT], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    stored.map_or(Ok(Checkpoint::GENESIS), |bytes| decode_checkpoint(&bytes))
}

/// The recorded head, else the last stored event, else the checkpoint. The recorded head
/// wins so that new events never fill the place of deleted ones.
fn head_in(conn: &Connection) -> Result<Checkpoint, StoreError> {
    let recorded: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM meta WHERE name = ?1")
        .map_err(backend)?
        .query_row([AUDIT_HEAD], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    if let Some(bytes) = recorded {
        return decode_checkpoint(&bytes);
    }
    let last: Option<(i64, Vec<u8>)> = conn
        .prepare_cached(LAST_EVENT)
        .map_err(backend)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(backend)?;
    match last {
        Some((seq, hash)) => Ok(Checkpoint {
            seq: from_sql_seq(seq)?,
            hash: to_hash(hash)?,
        }),
        None => checkpoint_in(conn),
    }
}

/// The batch must be a chain of its own (consecutive, each linked to the one before) and
/// start right after the head; anything else is `Conflict` and writes nothing.
pub(crate) fn append(conn: &mut Connection, events: &[ChainedEvent]) -> Result<(), StoreError> {
    let Some(first) = events.first() else {
        return Ok(());
    };
    for pair in events.windows(2) {
        if pair[0].seq.checked_add(1) != Some(pair[1].seq) || pair[1].prev_hash != pair[0].hash {
            return Err(StoreError::Conflict);
        }
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let head = head_in(&tx)?;
    if head.seq.checked_add(1) != Some(first.seq) || first.prev_hash != head.hash {
        return Err(StoreError::Conflict);
    }
    {
        let mut insert_event = tx.prepare_cached(INSERT_EVENT).map_err(backend)?;
        let mut insert_resource = tx.prepare_cached(INSERT_RESOURCE).map_err(backend)?;
        for chained in events {
            let seq = to_sql_seq(chained.seq)?;
            let e = &chained.event;
            insert_event
                .execute(params![
                    seq,
                    &chained.prev_hash[..],
                    &chained.hash[..],
                    e.event_id,
                    e.event_time.0,
                    e.event_source,
                    e.event_name,
                    e.read_only,
                    e.username,
                    e.access_key_id,
                    e.account,
                    e.region,
                    e.record
                ])
                .map_err(|err| {
                    if is_unique_violation(&err) {
                        StoreError::AlreadyExists(format!("audit event {} exists", e.event_id))
                    } else {
                        backend(err)
                    }
                })?;
            for (kind, name) in &e.resources {
                insert_resource
                    .execute(params![seq, kind, name])
                    .map_err(backend)?;
            }
        }
    }
    if let Some(last) = events.last() {
        let head = Checkpoint {
            seq: last.seq,
            hash: last.hash,
        };
        tx.execute(
            "INSERT INTO meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![AUDIT_HEAD, encode_checkpoint(&head)],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

pub(crate) fn head(conn: &mut Connection) -> Result<Checkpoint, StoreError> {
    let tx = conn.transaction().map_err(backend)?;
    let head = head_in(&tx)?;
    tx.commit().map_err(backend)?;
    Ok(head)
}

pub(crate) fn checkpoint(conn: &Connection) -> Result<Checkpoint, StoreError> {
    checkpoint_in(conn)
}

/// Attaches each event's resources, in stored order.
fn attach_resources(conn: &Connection, events: &mut [ChainedEvent]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(EVENT_RESOURCES).map_err(backend)?;
    for chained in events {
        let rows = stmt
            .query_map([to_sql_seq(chained.seq)?], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(backend)?;
        chained.event.resources = rows.collect::<rusqlite::Result<_>>().map_err(backend)?;
    }
    Ok(())
}

pub(crate) fn lookup(
    conn: &mut Connection,
    query: &AuditQuery,
) -> Result<Vec<ChainedEvent>, StoreError> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let (attribute, value) = match &query.attribute {
        None => (None, Value::Null),
        Some((AuditAttribute::ReadOnly, value)) => {
            let read_only = if value.eq_ignore_ascii_case("true") {
                1
            } else if value.eq_ignore_ascii_case("false") {
                0
            } else {
                // Neither true nor false: no event matches.
                return Ok(Vec::new());
            };
            (Some(AuditAttribute::ReadOnly), Value::Integer(read_only))
        }
        Some((attribute, value)) => (Some(*attribute), Value::Text(value.clone())),
    };
    // `seq <= ?5`, so `before_seq: Some(0)` matches nothing and `None` everything.
    let highest = match query.before_seq {
        None => i64::MAX,
        Some(before) => i64::try_from(before).map_or(i64::MAX, |b| b - 1),
    };
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let tx = conn.transaction().map_err(backend)?;
    let mut events = {
        let mut stmt = tx.prepare_cached(lookup_sql(attribute)).map_err(backend)?;
        let rows = stmt
            .query_map(
                params![
                    query.account,
                    query.region,
                    query.start.map_or(i64::MIN, |t| t.0),
                    query.end.map_or(i64::MAX, |t| t.0),
                    highest,
                    value,
                    limit
                ],
                read_event,
            )
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)?.chained())
            .collect::<Result<Vec<_>, _>>()?
    };
    attach_resources(&tx, &mut events)?;
    tx.commit().map_err(backend)?;
    Ok(events)
}

pub(crate) fn range(
    conn: &mut Connection,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let Some((after, limit)) = range_bounds(after_seq, limit) else {
        return Ok(Vec::new());
    };
    let tx = conn.transaction().map_err(backend)?;
    let mut events = {
        let mut stmt = tx.prepare_cached(RANGE).map_err(backend)?;
        let rows = stmt
            .query_map(params![after, limit], read_event)
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)?.chained())
            .collect::<Result<Vec<ChainedEvent>, _>>()?
    };
    if let Some(last) = events.last() {
        // One query for the resources of the whole page, merged in seq order.
        let last = to_sql_seq(last.seq)?;
        let mut stmt = tx.prepare_cached(RANGE_RESOURCES).map_err(backend)?;
        let rows = stmt
            .query_map(params![after, last], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(backend)?;
        let mut slots = events.iter_mut().peekable();
        for row in rows {
            let (seq, kind, name) = row.map_err(backend)?;
            let seq = from_sql_seq(seq)?;
            while slots.peek().is_some_and(|e| e.seq < seq) {
                slots.next();
            }
            if let Some(slot) = slots.peek_mut() {
                if slot.seq == seq {
                    slot.event.resources.push((kind, name));
                }
            }
        }
    }
    tx.commit().map_err(backend)?;
    Ok(events)
}

/// Removes the longest prefix of the chain whose events are all older than `before`: an
/// event at or after `before` stays, and so does every event after it, however old.
pub(crate) fn prune(conn: &mut Connection, before: UnixMillis) -> Result<Checkpoint, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    // Walks the chain from its start (rowid order), so the cost is the events removed.
    let first_kept: Option<i64> = tx
        .query_row(
            "SELECT seq FROM audit_events NOT INDEXED WHERE event_time >= ?1 ORDER BY seq LIMIT 1",
            [before.0],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    let last_removed: Option<(i64, Vec<u8>)> = match first_kept {
        Some(kept) => tx.query_row(
            "SELECT seq, hash FROM audit_events WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
            [kept],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ),
        None => tx.query_row(LAST_EVENT, [], |r| Ok((r.get(0)?, r.get(1)?))),
    }
    .optional()
    .map_err(backend)?;
    let Some((seq, hash)) = last_removed else {
        let current = checkpoint_in(&tx)?;
        tx.commit().map_err(backend)?;
        return Ok(current);
    };
    let checkpoint = Checkpoint {
        seq: from_sql_seq(seq)?,
        hash: to_hash(hash)?,
    };
    tx.execute("DELETE FROM audit_resources WHERE seq <= ?1", [seq])
        .map_err(backend)?;
    tx.execute("DELETE FROM audit_events WHERE seq <= ?1", [seq])
        .map_err(backend)?;
    tx.execute(
        "INSERT INTO meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![AUDIT_CHECKPOINT, encode_checkpoint(&checkpoint)],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(checkpoint)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    /// Every lookup walks an index in seq order and stops at the limit: no table scan, no
    /// sort of the matches.
    #[test]
    fn lookups_use_an_index_in_seq_order() {
        let store = SqliteStore::in_memory().unwrap();
        let conn = store.conn().unwrap();
        let attributes = [
            None,
            Some(AuditAttribute::EventId),
            Some(AuditAttribute::EventName),
            Some(AuditAttribute::ReadOnly),
            Some(AuditAttribute::Username),
            Some(AuditAttribute::ResourceType),
            Some(AuditAttribute::ResourceName),
            Some(AuditAttribute::EventSource),
            Some(AuditAttribute::AccessKeyId),
        ];
        let mut sql: Vec<&str> = attributes.iter().map(|a| lookup_sql(*a)).collect();
        sql.extend([RANGE, RANGE_RESOURCES, EVENT_RESOURCES, LAST_EVENT]);
        for sql in sql {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let count = stmt.parameter_count();
            let plan: Vec<String> = stmt
                .query_map(
                    rusqlite::params_from_iter(std::iter::repeat_n(Value::Null, count)),
                    |r| r.get::<_, String>(3),
                )
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
            if sql != LAST_EVENT {
                assert!(!plan.contains("SCAN"), "{sql}: {plan}");
            }
        }
        assert_eq!(conn.prepare(lookup_sql(None)).unwrap().parameter_count(), 7);
    }
}
