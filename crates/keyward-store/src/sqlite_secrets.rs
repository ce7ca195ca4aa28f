//! Secrets Manager's tables in SQLite: the secret record as a JSON document beside the
//! columns it is looked up by, and the envelope-encrypted value of each version in
//! `secret_values`. The `Store` impl in `sqlite.rs` calls these, one transaction each.

use keyward_core::secret::SecretRecord;
use keyward_core::store::{SecretCursor, SecretOrder, SecretValueRow};
use keyward_core::{StoreError, UnixMillis};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use crate::records::{
    decode_secret, name_taken, parse_uuid, secret_doc, secret_update, wrong_cursor,
};
use crate::sqlite::{backend, is_unique_violation};

fn insert_value(conn: &Connection, row: &SecretValueRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO secret_values (secret_id, version_id, encrypted_data_key, ciphertext, binary) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            row.secret_id.to_string(),
            row.version_id,
            row.encrypted_data_key,
            row.ciphertext,
            row.binary
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict
        } else {
            backend(e)
        }
    })?;
    Ok(())
}

pub(crate) fn create(
    conn: &mut Connection,
    secret: &SecretRecord,
    values: &[SecretValueRow],
) -> Result<u64, StoreError> {
    let doc = secret_doc(secret, values)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    tx.execute(
        "INSERT INTO secrets (id, account, region, name, revision, due_at, doc, created) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)",
        params![
            secret.id.to_string(),
            secret.account,
            secret.region,
            secret.name,
            secret.due_at().map(|d| d.0),
            doc,
            secret.created.0
        ],
    )
    .map_err(|e| match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::AlreadyExists(format!("secret {} exists", secret.id))
        }
        _ if is_unique_violation(&e) => name_taken(secret),
        _ => backend(e),
    })?;
    for row in values {
        insert_value(&tx, row)?;
    }
    tx.commit().map_err(backend)?;
    Ok(1)
}

pub(crate) fn get(conn: &Connection, id: &Uuid) -> Result<Option<SecretRecord>, StoreError> {
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT doc, revision FROM secrets WHERE id = ?1",
            [id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    row.map(|(doc, revision)| decode_secret(&doc, revision))
        .transpose()
}

pub(crate) fn get_by_name(
    conn: &Connection,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<SecretRecord>, StoreError> {
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT doc, revision FROM secrets WHERE account = ?1 AND region = ?2 AND name = ?3",
            params![account, region, name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    row.map(|(doc, revision)| decode_secret(&doc, revision))
        .transpose()
}

/// New values go in before removed ones come out, so a version both added and removed
/// (pruned at once) ends without a value, as the record says.
pub(crate) fn update(
    conn: &mut Connection,
    secret: &SecretRecord,
    new_values: &[SecretValueRow],
    removed_versions: &[String],
) -> Result<u64, StoreError> {
    let (doc, revision) = secret_update(secret, new_values)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let id = secret.id.to_string();
    let changed = tx
        .execute(
            "UPDATE secrets SET account = ?1, region = ?2, name = ?3, due_at = ?4, doc = ?5, revision = revision + 1 WHERE id = ?6 AND revision = ?7",
            params![
                secret.account,
                secret.region,
                secret.name,
                secret.due_at().map(|d| d.0),
                doc,
                id,
                revision
            ],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                name_taken(secret)
            } else {
                backend(e)
            }
        })?;
    if changed != 1 {
        return Err(StoreError::Conflict);
    }
    // Removals first, so that a version can be replaced (re-encrypted) in one update.
    for version_id in removed_versions {
        tx.execute(
            "DELETE FROM secret_values WHERE secret_id = ?1 AND version_id = ?2",
            params![id, version_id],
        )
        .map_err(backend)?;
    }
    for row in new_values {
        insert_value(&tx, row)?;
    }
    tx.commit().map_err(backend)?;
    Ok(secret.revision + 1)
}

pub(crate) fn delete(conn: &mut Connection, id: &Uuid) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let id = id.to_string();
    tx.execute("DELETE FROM secret_values WHERE secret_id = ?1", [&id])
        .map_err(backend)?;
    tx.execute("DELETE FROM secrets WHERE id = ?1", [&id])
        .map_err(backend)?;
    tx.commit().map_err(backend)
}

pub(crate) fn list(
    conn: &Connection,
    account: &str,
    region: &str,
) -> Result<Vec<SecretRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT doc, revision FROM secrets WHERE account = ?1 AND region = ?2 ORDER BY name",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![account, region], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(backend)?;
    rows.map(|row| {
        let (doc, revision) = row.map_err(backend)?;
        decode_secret(&doc, revision)
    })
    .collect()
}

/// One page of `SecretOrder`; each order has its own statement, so that SQLite walks the
/// index that order needs.
pub(crate) fn page(
    conn: &Connection,
    account: &str,
    region: &str,
    order: SecretOrder,
    after: Option<&SecretCursor>,
    limit: usize,
) -> Result<Vec<SecretRecord>, StoreError> {
    const SELECT: &str = "SELECT doc, revision FROM secrets WHERE account = ?1 AND region = ?2";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (sql, from): (String, Vec<rusqlite::types::Value>) = match (order, after) {
        (SecretOrder::Created { descending }, after) => {
            let (cmp, dir) = if descending {
                ("<", "DESC")
            } else {
                (">", "ASC")
            };
            let (condition, from) = match after {
                Some(SecretCursor::Created { created, id }) => (
                    format!(" AND (created, id) {cmp} (?3, ?4)"),
                    vec![created.0.into(), id.to_string().into()],
                ),
                Some(SecretCursor::Name(_)) => return Err(wrong_cursor()),
                None => (String::new(), Vec::new()),
            };
            (
                format!("{SELECT}{condition} ORDER BY created {dir}, id {dir} LIMIT {limit}"),
                from,
            )
        }
        (SecretOrder::Name { descending }, after) => {
            let (cmp, dir) = if descending {
                ("<", "DESC")
            } else {
                (">", "ASC")
            };
            let (condition, from) = match after {
                Some(SecretCursor::Name(name)) => {
                    (format!(" AND name {cmp} ?3"), vec![name.clone().into()])
                }
                Some(SecretCursor::Created { .. }) => return Err(wrong_cursor()),
                None => (String::new(), Vec::new()),
            };
            (
                format!("{SELECT}{condition} ORDER BY name {dir} LIMIT {limit}"),
                from,
            )
        }
    };
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let mut bound: Vec<rusqlite::types::Value> =
        vec![account.to_owned().into(), region.to_owned().into()];
    bound.extend(from);
    let rows = stmt
        .query_map(rusqlite::params_from_iter(bound), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(backend)?;
    rows.map(|row| {
        let (doc, revision) = row.map_err(backend)?;
        decode_secret(&doc, revision)
    })
    .collect()
}

pub(crate) fn due(conn: &Connection, now: UnixMillis) -> Result<Vec<Uuid>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT id FROM secrets WHERE due_at <= ?1 ORDER BY due_at")
        .map_err(backend)?;
    let rows = stmt
        .query_map([now.0], |r| r.get::<_, String>(0))
        .map_err(backend)?;
    rows.map(|row| parse_uuid(&row.map_err(backend)?)).collect()
}

pub(crate) fn value(
    conn: &Connection,
    secret_id: &Uuid,
    version_id: &str,
) -> Result<Option<SecretValueRow>, StoreError> {
    conn.query_row(
        "SELECT encrypted_data_key, ciphertext, binary FROM secret_values WHERE secret_id = ?1 AND version_id = ?2",
        params![secret_id.to_string(), version_id],
        |r| {
            Ok(SecretValueRow {
                secret_id: *secret_id,
                version_id: version_id.to_owned(),
                encrypted_data_key: r.get(0)?,
                ciphertext: r.get(1)?,
                binary: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(backend)
}
