//! KMS keys in PostgreSQL: installation meta values in `meta`, each key as a JSON document
//! in `keys` beside the columns it is listed and scheduled by, its wrapped material
//! versions in `key_material`, and aliases in `aliases`. A port of the SQLite backend
//! (`sqlite.rs`) with the same results and errors; the `Store` impl in `postgres.rs` calls
//! these, each write one transaction, which announces what it changed
//! (`postgres::notify`).

use keyward_core::alias::AliasRecord;
use keyward_core::key::KeyRecord;
use keyward_core::store::{Change, MaterialRow};
use keyward_core::{StoreError, UnixMillis};
use postgres::error::SqlState;
use postgres::{Client, Transaction};
use uuid::Uuid;

use crate::postgres::{backend, is_unique_violation, notify};
use crate::records::{
    alias_exists, alias_name_not_found, alias_not_found, alias_target_missing, decode_key,
    encode_key, parse_uuid,
};

pub(crate) fn is_foreign_key_violation(err: &postgres::Error) -> bool {
    err.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
}

/// The key's document and revision in a `SELECT doc, revision` row.
fn key_of(row: &postgres::Row) -> Result<KeyRecord, StoreError> {
    let doc: &str = row.try_get(0).map_err(backend)?;
    decode_key(doc, row.try_get(1).map_err(backend)?)
}

fn insert_material(tx: &mut Transaction<'_>, row: &MaterialRow) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO key_material (key_id, version, wrapped, created) VALUES ($1, $2, $3, $4)",
        &[
            &row.key_id.to_string(),
            &i64::from(row.version),
            &row.wrapped,
            &row.created.0,
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

/// Replaces the key's document if it is still at the record's revision (else `Conflict`).
fn replace_key(tx: &mut Transaction<'_>, key: &KeyRecord) -> Result<(), StoreError> {
    let doc = encode_key(key)?;
    let revision = i64::try_from(key.revision).map_err(|_| StoreError::Conflict)?;
    let changed = tx
        .execute(
            "UPDATE keys SET doc = $1, due_at = $2, revision = revision + 1 WHERE id = $3 AND revision = $4",
            &[&doc, &key.next_due().map(|d| d.0), &key.id.to_string(), &revision],
        )
        .map_err(backend)?;
    if changed != 1 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

pub(crate) fn get_meta(conn: &mut Client, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    conn.query_opt("SELECT value FROM meta WHERE name = $1", &[&name])
        .map_err(backend)?
        .map(|row| row.try_get(0).map_err(backend))
        .transpose()
}

pub(crate) fn put_meta_if_absent(
    conn: &mut Client,
    name: &str,
    value: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    tx.execute(
        "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&name, &value],
    )
    .map_err(backend)?;
    let stored: Vec<u8> = tx
        .query_one("SELECT value FROM meta WHERE name = $1", &[&name])
        .map_err(backend)?
        .try_get(0)
        .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(stored)
}

pub(crate) fn replace_meta_if_equals(
    conn: &mut Client,
    name: &str,
    expected: &[u8],
    value: Option<&[u8]>,
) -> Result<bool, StoreError> {
    let changed = match value {
        Some(value) => conn.execute(
            "UPDATE meta SET value = $3 WHERE name = $1 AND value = $2",
            &[&name, &expected, &value],
        ),
        None => conn.execute(
            "DELETE FROM meta WHERE name = $1 AND value = $2",
            &[&name, &expected],
        ),
    }
    .map_err(backend)?;
    Ok(changed == 1)
}

pub(crate) fn create_key(
    conn: &mut Client,
    key: &KeyRecord,
    material: Option<&MaterialRow>,
) -> Result<u64, StoreError> {
    let doc = encode_key(key)?;
    let mut tx = conn.transaction().map_err(backend)?;
    tx.execute(
        "INSERT INTO keys (id, account, region, revision, due_at, doc) VALUES ($1, $2, $3, 1, $4, $5)",
        &[&key.id.to_string(), &key.account, &key.region, &key.next_due().map(|d| d.0), &doc],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists(format!("key {} exists", key.id))
        } else {
            backend(e)
        }
    })?;
    if let Some(material) = material {
        insert_material(&mut tx, material)?;
    }
    notify(&mut tx, &[Change::Key(key.id)])?;
    tx.commit().map_err(backend)?;
    Ok(1)
}

pub(crate) fn get_key(conn: &mut Client, id: &Uuid) -> Result<Option<KeyRecord>, StoreError> {
    conn.query_opt(
        "SELECT doc, revision FROM keys WHERE id = $1",
        &[&id.to_string()],
    )
    .map_err(backend)?
    .as_ref()
    .map(key_of)
    .transpose()
}

pub(crate) fn update_key(
    conn: &mut Client,
    key: &KeyRecord,
    new_material: Option<&MaterialRow>,
) -> Result<u64, StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    replace_key(&mut tx, key)?;
    if let Some(row) = new_material {
        insert_material(&mut tx, row)?;
    }
    notify(&mut tx, &[Change::Key(key.id)])?;
    tx.commit().map_err(backend)?;
    Ok(key.revision + 1)
}

pub(crate) fn delete_key_material(
    conn: &mut Client,
    key: &KeyRecord,
    versions: &[u32],
) -> Result<u64, StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    replace_key(&mut tx, key)?;
    let versions: Vec<i64> = versions.iter().copied().map(i64::from).collect();
    tx.execute(
        "DELETE FROM key_material WHERE key_id = $1 AND version = ANY($2)",
        &[&key.id.to_string(), &versions],
    )
    .map_err(backend)?;
    notify(&mut tx, &[Change::Key(key.id)])?;
    tx.commit().map_err(backend)?;
    Ok(key.revision + 1)
}

/// Announces the key and, each on its own, the aliases that went with it (a key that was
/// not there announces nothing).
pub(crate) fn delete_key(conn: &mut Client, id: &Uuid) -> Result<(), StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    let key_id = id.to_string();
    let mut changes = vec![Change::Key(*id)];
    for row in tx
        .query(
            "DELETE FROM aliases WHERE target = $1 RETURNING account, region, name",
            &[&key_id],
        )
        .map_err(backend)?
    {
        changes.push(Change::Alias {
            account: row.try_get(0).map_err(backend)?,
            region: row.try_get(1).map_err(backend)?,
            name: row.try_get(2).map_err(backend)?,
        });
    }
    tx.execute("DELETE FROM grants WHERE key_id = $1", &[&key_id])
        .map_err(backend)?;
    tx.execute("DELETE FROM key_material WHERE key_id = $1", &[&key_id])
        .map_err(backend)?;
    let deleted = tx
        .execute("DELETE FROM keys WHERE id = $1", &[&key_id])
        .map_err(backend)?;
    if deleted > 0 {
        notify(&mut tx, &changes)?;
    }
    tx.commit().map_err(backend)
}

pub(crate) fn list_keys(
    conn: &mut Client,
    account: &str,
    region: &str,
    after: Option<&Uuid>,
    limit: usize,
) -> Result<Vec<KeyRecord>, StoreError> {
    let after = after.map(Uuid::to_string).unwrap_or_default();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.query(
        "SELECT doc, revision FROM keys WHERE account = $1 AND region = $2 AND id > $3 ORDER BY id LIMIT $4",
        &[&account, &region, &after, &limit],
    )
    .map_err(backend)?
    .iter()
    .map(key_of)
    .collect()
}

pub(crate) fn keys_due(conn: &mut Client, now: UnixMillis) -> Result<Vec<Uuid>, StoreError> {
    // SQLite breaks ties in due time by insertion (rowid) order; PostgreSQL has none, so
    // ties go by id, to be deterministic.
    conn.query(
        "SELECT id FROM keys WHERE due_at <= $1 ORDER BY due_at, id",
        &[&now.0],
    )
    .map_err(backend)?
    .iter()
    .map(|row| parse_uuid(row.try_get(0).map_err(backend)?))
    .collect()
}

pub(crate) fn materials(conn: &mut Client, key_id: &Uuid) -> Result<Vec<MaterialRow>, StoreError> {
    conn.query(
        "SELECT version, wrapped, created FROM key_material WHERE key_id = $1 ORDER BY version",
        &[&key_id.to_string()],
    )
    .map_err(backend)?
    .iter()
    .map(|row| {
        let version: i64 = row.try_get(0).map_err(backend)?;
        Ok(MaterialRow {
            key_id: *key_id,
            version: u32::try_from(version).map_err(|_| {
                StoreError::Corrupt(format!("material version {version} of key {key_id}"))
            })?,
            wrapped: row.try_get(1).map_err(backend)?,
            created: UnixMillis(row.try_get(2).map_err(backend)?),
        })
    })
    .collect()
}

fn alias_change(account: &str, region: &str, name: &str) -> Change {
    Change::Alias {
        account: account.to_owned(),
        region: region.to_owned(),
        name: name.to_owned(),
    }
}

pub(crate) fn create_alias(conn: &mut Client, alias: &AliasRecord) -> Result<(), StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    tx.execute(
        "INSERT INTO aliases (account, region, name, target, created, updated) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &alias.account,
            &alias.region,
            &alias.name,
            &alias.target.to_string(),
            &alias.created.0,
            &alias.updated.0,
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            alias_exists(alias)
        } else if is_foreign_key_violation(&e) {
            alias_target_missing(alias)
        } else {
            backend(e)
        }
    })?;
    notify(
        &mut tx,
        &[alias_change(&alias.account, &alias.region, &alias.name)],
    )?;
    tx.commit().map_err(backend)
}

pub(crate) fn update_alias(conn: &mut Client, alias: &AliasRecord) -> Result<(), StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    let changed = tx
        .execute(
            "UPDATE aliases SET target = $1, updated = $2 WHERE account = $3 AND region = $4 AND name = $5",
            &[
                &alias.target.to_string(),
                &alias.updated.0,
                &alias.account,
                &alias.region,
                &alias.name,
            ],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(alias_not_found(alias));
    }
    notify(
        &mut tx,
        &[alias_change(&alias.account, &alias.region, &alias.name)],
    )?;
    tx.commit().map_err(backend)
}

pub(crate) fn delete_alias(
    conn: &mut Client,
    account: &str,
    region: &str,
    name: &str,
) -> Result<(), StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    let changed = tx
        .execute(
            "DELETE FROM aliases WHERE account = $1 AND region = $2 AND name = $3",
            &[&account, &region, &name],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(alias_name_not_found(account, region, name));
    }
    notify(&mut tx, &[alias_change(account, region, name)])?;
    tx.commit().map_err(backend)
}

const ALIAS_COLUMNS: &str = "SELECT account, region, name, target, created, updated FROM aliases";

fn alias_from_row(row: &postgres::Row) -> Result<AliasRecord, StoreError> {
    let target: &str = row.try_get(3).map_err(backend)?;
    Ok(AliasRecord {
        account: row.try_get(0).map_err(backend)?,
        region: row.try_get(1).map_err(backend)?,
        name: row.try_get(2).map_err(backend)?,
        target: parse_uuid(target)?,
        created: UnixMillis(row.try_get(4).map_err(backend)?),
        updated: UnixMillis(row.try_get(5).map_err(backend)?),
    })
}

pub(crate) fn get_alias(
    conn: &mut Client,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<AliasRecord>, StoreError> {
    conn.query_opt(
        &format!("{ALIAS_COLUMNS} WHERE account = $1 AND region = $2 AND name = $3"),
        &[&account, &region, &name],
    )
    .map_err(backend)?
    .as_ref()
    .map(alias_from_row)
    .transpose()
}

pub(crate) fn all_aliases(conn: &mut Client) -> Result<Vec<AliasRecord>, StoreError> {
    conn.query(
        &format!("{ALIAS_COLUMNS} ORDER BY account, region, name"),
        &[],
    )
    .map_err(backend)?
    .iter()
    .map(alias_from_row)
    .collect()
}
