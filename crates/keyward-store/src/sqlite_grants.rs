//! KMS grants in SQLite: the grant as a JSON document in `grants`, keyed by its key and
//! grant id, beside the columns it is listed by. A grant belongs to its key: it cannot be
//! made for a missing key and goes when the key goes. The `Store` impl in `sqlite.rs`
//! calls these.

use keyward_core::grant::GrantRecord;
use keyward_core::StoreError;
use rusqlite::{params, Connection, OptionalExtension, Params};
use uuid::Uuid;

use crate::records::{decode_grant, encode_grant};
use crate::sqlite::{backend, is_unique_violation};

fn is_foreign_key_violation(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

fn query(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Vec<GrantRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    let rows = stmt
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(backend)?;
    rows.map(|doc| decode_grant(&doc.map_err(backend)?))
        .collect()
}

pub(crate) fn create(conn: &Connection, grant: &GrantRecord) -> Result<(), StoreError> {
    let doc = encode_grant(grant)?;
    conn.execute(
        "INSERT INTO grants (key_id, grant_id, account, retiring_principal, created, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            grant.key_id.to_string(),
            grant.grant_id,
            grant.account.as_str(),
            grant.retiring_principal,
            grant.created.0,
            doc
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists(grant.grant_id.clone())
        } else if is_foreign_key_violation(&e) {
            StoreError::NotFound(grant.key_id.to_string())
        } else {
            backend(e)
        }
    })?;
    Ok(())
}

pub(crate) fn list(conn: &Connection, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
    query(
        conn,
        "SELECT doc FROM grants WHERE key_id = ?1 ORDER BY created, grant_id",
        [key_id.to_string()],
    )
}

pub(crate) fn get(
    conn: &Connection,
    key_id: &Uuid,
    grant_id: &str,
) -> Result<Option<GrantRecord>, StoreError> {
    let doc: Option<String> = conn
        .query_row(
            "SELECT doc FROM grants WHERE key_id = ?1 AND grant_id = ?2",
            params![key_id.to_string(), grant_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    doc.as_deref().map(decode_grant).transpose()
}

pub(crate) fn delete(conn: &Connection, key_id: &Uuid, grant_id: &str) -> Result<(), StoreError> {
    let changed = conn
        .execute(
            "DELETE FROM grants WHERE key_id = ?1 AND grant_id = ?2",
            params![key_id.to_string(), grant_id],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotFound(grant_id.to_owned()));
    }
    Ok(())
}

pub(crate) fn by_retiring_principal(
    conn: &Connection,
    account: &str,
    principal: &str,
) -> Result<Vec<GrantRecord>, StoreError> {
    query(
        conn,
        "SELECT doc FROM grants WHERE account = ?1 AND retiring_principal = ?2 ORDER BY created, grant_id",
        params![account, principal],
    )
}

pub(crate) fn all(conn: &Connection) -> Result<Vec<GrantRecord>, StoreError> {
    query(
        conn,
        "SELECT doc FROM grants ORDER BY key_id, created, grant_id",
        [],
    )
}
