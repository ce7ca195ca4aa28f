//! Secrets Manager's tables in PostgreSQL, as in SQLite (`sqlite_secrets`): the secret
//! record as a JSON document beside the columns it is looked up by, and the
//! envelope-encrypted value of each version in `secret_values`. The `Store` impl in
//! `postgres.rs` calls these; every write is one transaction, which announces the secret
//! (`Change::Secret`, `postgres::notify`).
//!
//! The `postgres` crate keeps no per-connection statement cache, so the statements on
//! GetSecretValue's path (`get`, `get_by_name`, `value`) go out with their parameter
//! types (`query_typed`): parsed, bound and run in one round trip instead of a prepare and
//! an execute.

use keyward_core::secret::SecretRecord;
use keyward_core::store::{Change, SecretCursor, SecretOrder, SecretValueRow};
use keyward_core::{StoreError, UnixMillis};
use postgres::types::{ToSql, Type};
use postgres::{Client, Row, Transaction};
use uuid::Uuid;

use crate::postgres::{backend, is_unique_violation, notify};
use crate::records::{
    decode_secret, name_taken, parse_uuid, secret_doc, secret_update, wrong_cursor,
};

/// The primary key of `secrets`, as PostgreSQL names the constraint.
const SECRETS_PKEY: &str = "secrets_pkey";

const GET: &str = "SELECT doc, revision FROM secrets WHERE id = $1";
const GET_BY_NAME: &str =
    "SELECT doc, revision FROM secrets WHERE account = $1 AND region = $2 AND name = $3";
const VALUE: &str = "SELECT encrypted_data_key, ciphertext, is_binary FROM secret_values WHERE secret_id = $1 AND version_id = $2";
const INSERT_VALUE: &str = "INSERT INTO secret_values (secret_id, version_id, encrypted_data_key, ciphertext, is_binary) VALUES ($1, $2, $3, $4, $5)";

/// A row of `doc, revision`.
fn decode_row(row: &Row) -> Result<SecretRecord, StoreError> {
    let doc: &str = row.try_get(0).map_err(backend)?;
    decode_secret(doc, row.try_get(1).map_err(backend)?)
}

/// Inserts one version's value; a version id the secret already has a value for is a
/// `Conflict`.
fn insert_value(tx: &mut Transaction<'_>, row: &SecretValueRow) -> Result<(), StoreError> {
    let secret_id = row.secret_id.to_string();
    tx.execute_typed(
        INSERT_VALUE,
        &[
            (&secret_id, Type::TEXT),
            (&row.version_id, Type::TEXT),
            (&row.encrypted_data_key, Type::BYTEA),
            (&row.ciphertext, Type::BYTEA),
            (&row.binary, Type::BOOL),
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
    conn: &mut Client,
    secret: &SecretRecord,
    values: &[SecretValueRow],
) -> Result<u64, StoreError> {
    let doc = secret_doc(secret, values)?;
    let id = secret.id.to_string();
    let due_at = secret.due_at().map(|d| d.0);
    let mut tx = conn.transaction().map_err(backend)?;
    tx.execute_typed(
        "INSERT INTO secrets (id, account, region, name, revision, due_at, doc, created) VALUES ($1, $2, $3, $4, 1, $5, $6, $7)",
        &[
            (&id, Type::TEXT),
            (&secret.account, Type::TEXT),
            (&secret.region, Type::TEXT),
            (&secret.name, Type::TEXT),
            (&due_at, Type::INT8),
            (&doc, Type::TEXT),
            (&secret.created.0, Type::INT8),
        ],
    )
    .map_err(|e| {
        if !is_unique_violation(&e) {
            backend(e)
        } else if e.as_db_error().and_then(|d| d.constraint()) == Some(SECRETS_PKEY) {
            StoreError::AlreadyExists(format!("secret {} exists", secret.id))
        } else {
            name_taken(secret)
        }
    })?;
    for row in values {
        insert_value(&mut tx, row)?;
    }
    notify(&mut tx, &[Change::Secret(secret.id)])?;
    tx.commit().map_err(backend)?;
    Ok(1)
}

pub(crate) fn get(conn: &mut Client, id: &Uuid) -> Result<Option<SecretRecord>, StoreError> {
    let id = id.to_string();
    conn.query_typed_opt(GET, &[(&id, Type::TEXT)])
        .map_err(backend)?
        .map(|row| decode_row(&row))
        .transpose()
}

pub(crate) fn get_by_name(
    conn: &mut Client,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<SecretRecord>, StoreError> {
    conn.query_typed_opt(
        GET_BY_NAME,
        &[
            (&account, Type::TEXT),
            (&region, Type::TEXT),
            (&name, Type::TEXT),
        ],
    )
    .map_err(backend)?
    .map(|row| decode_row(&row))
    .transpose()
}

/// Removes the values of `removed_versions` and then adds `new_values`, so that a
/// version can be replaced (re-encrypted) in one update.
pub(crate) fn update(
    conn: &mut Client,
    secret: &SecretRecord,
    new_values: &[SecretValueRow],
    removed_versions: &[String],
) -> Result<u64, StoreError> {
    let (doc, revision) = secret_update(secret, new_values)?;
    let id = secret.id.to_string();
    let due_at = secret.due_at().map(|d| d.0);
    let mut tx = conn.transaction().map_err(backend)?;
    // A concurrent writer of the same row makes this wait for its commit and then see its
    // revision: exactly one of them changes the row.
    let changed = tx
        .execute_typed(
            "UPDATE secrets SET account = $1, region = $2, name = $3, due_at = $4, doc = $5, revision = revision + 1 WHERE id = $6 AND revision = $7",
            &[
                (&secret.account, Type::TEXT),
                (&secret.region, Type::TEXT),
                (&secret.name, Type::TEXT),
                (&due_at, Type::INT8),
                (&doc, Type::TEXT),
                (&id, Type::TEXT),
                (&revision, Type::INT8),
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
    if !removed_versions.is_empty() {
        tx.execute_typed(
            "DELETE FROM secret_values WHERE secret_id = $1 AND version_id = ANY($2)",
            &[(&id, Type::TEXT), (&removed_versions, Type::TEXT_ARRAY)],
        )
        .map_err(backend)?;
    }
    for row in new_values {
        insert_value(&mut tx, row)?;
    }
    notify(&mut tx, &[Change::Secret(secret.id)])?;
    tx.commit().map_err(backend)?;
    Ok(secret.revision + 1)
}

/// A secret that was not there announces nothing.
pub(crate) fn delete(conn: &mut Client, id: &Uuid) -> Result<(), StoreError> {
    let secret_id = id.to_string();
    let mut tx = conn.transaction().map_err(backend)?;
    tx.execute_typed(
        "DELETE FROM secret_values WHERE secret_id = $1",
        &[(&secret_id, Type::TEXT)],
    )
    .map_err(backend)?;
    let deleted = tx
        .execute_typed(
            "DELETE FROM secrets WHERE id = $1",
            &[(&secret_id, Type::TEXT)],
        )
        .map_err(backend)?;
    if deleted > 0 {
        notify(&mut tx, &[Change::Secret(*id)])?;
    }
    tx.commit().map_err(backend)
}

pub(crate) fn list(
    conn: &mut Client,
    account: &str,
    region: &str,
) -> Result<Vec<SecretRecord>, StoreError> {
    conn.query(
        "SELECT doc, revision FROM secrets WHERE account = $1 AND region = $2 ORDER BY name",
        &[&account, &region],
    )
    .map_err(backend)?
    .iter()
    .map(decode_row)
    .collect()
}

/// One statement of `page`: `$1` account, `$2` region, `$3` limit, then the cursor's
/// columns from `$4`.
macro_rules! page_sql {
    ($condition:literal, $order:literal) => {
        concat!(
            "SELECT doc, revision FROM secrets WHERE account = $1 AND region = $2",
            $condition,
            " ORDER BY ",
            $order,
            " LIMIT $3"
        )
    };
}

/// One page of `SecretOrder`; each order (and direction) has its own statement, so that
/// PostgreSQL walks the index that order needs and stops at the limit.
pub(crate) fn page(
    conn: &mut Client,
    account: &str,
    region: &str,
    order: SecretOrder,
    after: Option<&SecretCursor>,
    limit: usize,
) -> Result<Vec<SecretRecord>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let created_after;
    let id_after;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&account, &region, &limit];
    let sql = match (order, after) {
        (SecretOrder::Created { descending }, None) => {
            if descending {
                page_sql!("", "created DESC, id DESC")
            } else {
                page_sql!("", "created ASC, id ASC")
            }
        }
        (SecretOrder::Created { descending }, Some(SecretCursor::Created { created, id })) => {
            created_after = created.0;
            id_after = id.to_string();
            params.extend([&created_after as &(dyn ToSql + Sync), &id_after]);
            if descending {
                page_sql!(" AND (created, id) < ($4, $5)", "created DESC, id DESC")
            } else {
                page_sql!(" AND (created, id) > ($4, $5)", "created ASC, id ASC")
            }
        }
        (SecretOrder::Name { descending }, None) => {
            if descending {
                page_sql!("", "name DESC")
            } else {
                page_sql!("", "name ASC")
            }
        }
        (SecretOrder::Name { descending }, Some(SecretCursor::Name(name))) => {
            params.push(name);
            if descending {
                page_sql!(" AND name < $4", "name DESC")
            } else {
                page_sql!(" AND name > $4", "name ASC")
            }
        }
        (SecretOrder::Created { .. }, Some(SecretCursor::Name(_)))
        | (SecretOrder::Name { .. }, Some(SecretCursor::Created { .. })) => {
            return Err(wrong_cursor())
        }
    };
    conn.query(sql, &params)
        .map_err(backend)?
        .iter()
        .map(decode_row)
        .collect()
}

pub(crate) fn due(conn: &mut Client, now: UnixMillis) -> Result<Vec<Uuid>, StoreError> {
    conn.query(
        "SELECT id FROM secrets WHERE due_at <= $1 ORDER BY due_at",
        &[&now.0],
    )
    .map_err(backend)?
    .iter()
    .map(|row| parse_uuid(row.try_get(0).map_err(backend)?))
    .collect()
}

pub(crate) fn value(
    conn: &mut Client,
    secret_id: &Uuid,
    version_id: &str,
) -> Result<Option<SecretValueRow>, StoreError> {
    let id = secret_id.to_string();
    conn.query_typed_opt(VALUE, &[(&id, Type::TEXT), (&version_id, Type::TEXT)])
        .map_err(backend)?
        .map(|row| {
            Ok(SecretValueRow {
                secret_id: *secret_id,
                version_id: version_id.to_owned(),
                encrypted_data_key: row.try_get(0).map_err(backend)?,
                ciphertext: row.try_get(1).map_err(backend)?,
                binary: row.try_get(2).map_err(backend)?,
            })
        })
        .transpose()
}
