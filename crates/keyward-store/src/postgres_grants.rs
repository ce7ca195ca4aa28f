//! KMS grants in PostgreSQL: the grant as a JSON document in `grants`, keyed by its key and
//! grant id, beside the columns it is listed by. A grant belongs to its key: it cannot be
//! made for a missing key (the foreign key) and goes when the key goes. A port of
//! `sqlite_grants.rs` with the same results and errors; the `Store` impl in `postgres.rs`
//! calls these. Each write announces the grant's key (`Change::Key`): grants are cached
//! with their key.

use keyward_core::grant::GrantRecord;
use keyward_core::store::Change;
use keyward_core::StoreError;
use postgres::types::ToSql;
use postgres::Client;
use uuid::Uuid;

use crate::postgres::{backend, is_unique_violation, notify};
use crate::postgres_keys::is_foreign_key_violation;
use crate::records::{decode_grant, encode_grant};

fn query(
    conn: &mut Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<GrantRecord>, StoreError> {
    conn.query(sql, params)
        .map_err(backend)?
        .iter()
        .map(|row| decode_grant(row.try_get(0).map_err(backend)?))
        .collect()
}

pub(crate) fn create(conn: &mut Client, grant: &GrantRecord) -> Result<(), StoreError> {
    let doc = encode_grant(grant)?;
    let mut tx = conn.transaction().map_err(backend)?;
    tx.execute(
        "INSERT INTO grants (key_id, grant_id, account, retiring_principal, created, doc) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &grant.key_id.to_string(),
            &grant.grant_id,
            &grant.account.as_str(),
            &grant.retiring_principal,
            &grant.created.0,
            &doc,
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
    notify(&mut tx, &[Change::Key(grant.key_id)])?;
    tx.commit().map_err(backend)
}

pub(crate) fn list(conn: &mut Client, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
    query(
        conn,
        "SELECT doc FROM grants WHERE key_id = $1 ORDER BY created, grant_id",
        &[&key_id.to_string()],
    )
}

pub(crate) fn get(
    conn: &mut Client,
    key_id: &Uuid,
    grant_id: &str,
) -> Result<Option<GrantRecord>, StoreError> {
    conn.query_opt(
        "SELECT doc FROM grants WHERE key_id = $1 AND grant_id = $2",
        &[&key_id.to_string(), &grant_id],
    )
    .map_err(backend)?
    .map(|row| decode_grant(row.try_get(0).map_err(backend)?))
    .transpose()
}

pub(crate) fn delete(conn: &mut Client, key_id: &Uuid, grant_id: &str) -> Result<(), StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    let changed = tx
        .execute(
            "DELETE FROM grants WHERE key_id = $1 AND grant_id = $2",
            &[&key_id.to_string(), &grant_id],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotFound(grant_id.to_owned()));
    }
    notify(&mut tx, &[Change::Key(*key_id)])?;
    tx.commit().map_err(backend)
}

pub(crate) fn by_retiring_principal(
    conn: &mut Client,
    account: &str,
    principal: &str,
) -> Result<Vec<GrantRecord>, StoreError> {
    query(
        conn,
        "SELECT doc FROM grants WHERE account = $1 AND retiring_principal = $2 ORDER BY created, grant_id",
        &[&account, &principal],
    )
}

pub(crate) fn all(conn: &mut Client) -> Result<Vec<GrantRecord>, StoreError> {
    query(
        conn,
        "SELECT doc FROM grants ORDER BY key_id, created, grant_id",
        &[],
    )
}
