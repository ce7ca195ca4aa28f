//! IAM in PostgreSQL: access keys in `access_keys`, users and roles in `iam_principals`
//! (one table, `kind` telling them apart, as they are separate namespaces) as a JSON
//! document beside the columns they are looked up by. A port of `sqlite_iam.rs` with the
//! same results and errors; the `Store` impl in `postgres.rs` calls these, each write one
//! transaction.
//!
//! SQLite compares names with `COLLATE NOCASE`, which folds the 26 ASCII capitals only.
//! Here names compare as `lower(name) = lower($n COLLATE "C")`: the columns are
//! `COLLATE "C"`, under which `lower` also folds ASCII only, and the parameter is put in
//! the same collation so that a database with another default locale folds it alike.
//! Uniqueness is the index on `lower(name)`, and listings order by `lower(name)` as
//! SQLite's `ORDER BY name` does under `NOCASE`.
//!
//! Where SQLite's `BEGIN IMMEDIATE` serializes whole transactions, PostgreSQL (read
//! committed) locks the rows a check depends on: a user's row is locked while a key is
//! created for it (so a concurrent delete or rename waits or is seen) and while it is
//! updated (so the revision check and the update are one).
//!
//! Each write announces what it changed (`postgres::notify`): the access key, or the
//! user or role under every name it had (folded to lower case in the payload), and every
//! access key that a user's rename or deletion took along.

use keyward_core::iam::{RoleRecord, UserRecord};
use keyward_core::store::{AccessKeyRow, Change};
use keyward_core::{StoreError, UnixMillis};
use postgres::types::ToSql;
use postgres::{Client, Row, Transaction};

use crate::postgres::{backend, is_unique_violation, notify};
use crate::records::{decode_principal, encode_principal, Principal, USER};

const ACCESS_KEY_COLUMNS: &str =
    "access_key_id, wrapped_secret, account, principal_arn, created, active, user_name";

fn access_key_row(r: &Row) -> Result<AccessKeyRow, StoreError> {
    Ok(AccessKeyRow {
        access_key_id: r.try_get(0).map_err(backend)?,
        wrapped_secret: r.try_get(1).map_err(backend)?,
        account: r.try_get(2).map_err(backend)?,
        principal_arn: r.try_get(3).map_err(backend)?,
        created: UnixMillis(r.try_get(4).map_err(backend)?),
        active: r.try_get(5).map_err(backend)?,
        user_name: r.try_get(6).map_err(backend)?,
    })
}

/// The name of a user of `account` as its record spells it, its row locked against
/// deletion and renaming until the transaction ends.
fn stored_user_name(
    tx: &mut Transaction<'_>,
    account: &str,
    name: &str,
) -> Result<Option<String>, StoreError> {
    tx.query_opt(
        r#"SELECT name FROM iam_principals WHERE account = $1 AND kind = $2 AND lower(name) = lower($3 COLLATE "C") FOR SHARE"#,
        &[&account, &USER, &name],
    )
    .map_err(backend)?
    .map(|r| r.try_get(0).map_err(backend))
    .transpose()
}

/// A key of a user is stored under the user's name as its record spells it, and only
/// while the user exists, so that no key outlives its user to serve a namesake.
pub(crate) fn create_access_key(conn: &mut Client, row: &AccessKeyRow) -> Result<(), StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    let user_name = match &row.user_name {
        None => None,
        Some(name) => Some(
            stored_user_name(&mut tx, &row.account, name)?
                .ok_or_else(|| StoreError::NotFound(name.clone()))?,
        ),
    };
    tx.execute(
        "INSERT INTO access_keys (access_key_id, wrapped_secret, account, principal_arn, created, active, user_name) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &row.access_key_id,
            &row.wrapped_secret,
            &row.account,
            &row.principal_arn,
            &row.created.0,
            &row.active,
            &user_name,
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists(row.access_key_id.clone())
        } else {
            backend(e)
        }
    })?;
    notify(&mut tx, &[Change::AccessKey(row.access_key_id.clone())])?;
    tx.commit().map_err(backend)
}

pub(crate) fn get_access_key(
    conn: &mut Client,
    access_key_id: &str,
) -> Result<Option<AccessKeyRow>, StoreError> {
    conn.query_opt(
        &format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = $1"),
        &[&access_key_id],
    )
    .map_err(backend)?
    .as_ref()
    .map(access_key_row)
    .transpose()
}

pub(crate) fn list_access_keys(
    conn: &mut Client,
    account: &str,
    user_name: Option<&str>,
) -> Result<Vec<AccessKeyRow>, StoreError> {
    let (owner, params): (&str, Vec<&(dyn ToSql + Sync)>) = match &user_name {
        Some(name) => (
            r#"lower(user_name) = lower($2 COLLATE "C")"#,
            vec![&account, name],
        ),
        None => ("user_name IS NULL", vec![&account]),
    };
    conn.query(
        &format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE account = $1 AND {owner} ORDER BY created, access_key_id"
        ),
        &params,
    )
    .map_err(backend)?
    .iter()
    .map(access_key_row)
    .collect()
}

pub(crate) fn set_access_key_active(
    conn: &mut Client,
    access_key_id: &str,
    active: bool,
) -> Result<(), StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    let changed = tx
        .execute(
            "UPDATE access_keys SET active = $1 WHERE access_key_id = $2",
            &[&active, &access_key_id],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotFound(access_key_id.to_owned()));
    }
    notify(&mut tx, &[Change::AccessKey(access_key_id.to_owned())])?;
    tx.commit().map_err(backend)
}

pub(crate) fn delete_access_key(conn: &mut Client, access_key_id: &str) -> Result<(), StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    let changed = tx
        .execute(
            "DELETE FROM access_keys WHERE access_key_id = $1",
            &[&access_key_id],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotFound(access_key_id.to_owned()));
    }
    notify(&mut tx, &[Change::AccessKey(access_key_id.to_owned())])?;
    tx.commit().map_err(backend)
}

/// The record in a `SELECT doc, revision` row.
fn decode<P: Principal>(row: &Row) -> Result<P, StoreError> {
    let doc: &str = row.try_get(0).map_err(backend)?;
    decode_principal(doc, row.try_get(1).map_err(backend)?)
}

fn create<P: Principal>(conn: &mut Client, record: &P) -> Result<u64, StoreError> {
    let doc = encode_principal(record)?;
    let mut tx = conn.transaction().map_err(backend)?;
    tx.execute(
        "INSERT INTO iam_principals (id, kind, account, name, revision, doc) VALUES ($1, $2, $3, $4, 1, $5)",
        &[&record.id(), &P::KIND, &record.account(), &record.name(), &doc],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists(record.name().to_owned())
        } else {
            backend(e)
        }
    })?;
    notify(&mut tx, &[P::change(record.account(), record.name())])?;
    tx.commit().map_err(backend)?;
    Ok(1)
}

fn get<P: Principal>(
    conn: &mut Client,
    account: &str,
    name: &str,
) -> Result<Option<P>, StoreError> {
    conn.query_opt(
        r#"SELECT doc, revision FROM iam_principals WHERE account = $1 AND kind = $2 AND lower(name) = lower($3 COLLATE "C")"#,
        &[&account, &P::KIND, &name],
    )
    .map_err(backend)?
    .as_ref()
    .map(decode)
    .transpose()
}

/// Replaces the principal with the record's id if it is still at the record's revision.
/// Returns the name it had.
fn update_in<P: Principal>(tx: &mut Transaction<'_>, record: &P) -> Result<String, StoreError> {
    let doc = encode_principal(record)?;
    let stored = tx
        .query_opt(
            "SELECT name, revision FROM iam_principals WHERE id = $1 AND kind = $2 AND account = $3 FOR UPDATE",
            &[&record.id(), &P::KIND, &record.account()],
        )
        .map_err(backend)?;
    let Some(stored) = stored else {
        return Err(StoreError::NotFound(record.name().to_owned()));
    };
    let old_name: String = stored.try_get(0).map_err(backend)?;
    let revision: i64 = stored.try_get(1).map_err(backend)?;
    if u64::try_from(revision).ok() != Some(record.revision()) {
        return Err(StoreError::Conflict);
    }
    let changed = tx
        .execute(
            "UPDATE iam_principals SET name = $1, doc = $2, revision = revision + 1 WHERE id = $3 AND revision = $4",
            &[&record.name(), &doc, &record.id(), &revision],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::AlreadyExists(record.name().to_owned())
            } else {
                backend(e)
            }
        })?;
    // The row is locked: it cannot have changed since it was read.
    if changed != 1 {
        return Err(StoreError::Conflict);
    }
    Ok(old_name)
}

fn delete_in<P: Principal>(
    tx: &mut Transaction<'_>,
    account: &str,
    name: &str,
) -> Result<(), StoreError> {
    let changed = tx
        .execute(
            r#"DELETE FROM iam_principals WHERE account = $1 AND kind = $2 AND lower(name) = lower($3 COLLATE "C")"#,
            &[&account, &P::KIND, &name],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotFound(name.to_owned()));
    }
    Ok(())
}

fn list<P: Principal>(conn: &mut Client, account: &str) -> Result<Vec<P>, StoreError> {
    conn.query(
        "SELECT doc, revision FROM iam_principals WHERE account = $1 AND kind = $2 ORDER BY lower(name), id",
        &[&account, &P::KIND],
    )
    .map_err(backend)?
    .iter()
    .map(decode)
    .collect()
}

pub(crate) fn create_user(conn: &mut Client, user: &UserRecord) -> Result<u64, StoreError> {
    create(conn, user)
}

pub(crate) fn get_user(
    conn: &mut Client,
    account: &str,
    name: &str,
) -> Result<Option<UserRecord>, StoreError> {
    get(conn, account, name)
}

/// A renamed or moved user's access keys follow it: their owner and principal ARN change
/// in the same transaction.
pub(crate) fn update_user(conn: &mut Client, user: &UserRecord) -> Result<u64, StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    let old_name = update_in(&mut tx, user)?;
    let moved = tx
        .query(
            r#"UPDATE access_keys SET user_name = $1, principal_arn = $2 WHERE account = $3 AND lower(user_name) = lower($4 COLLATE "C") RETURNING access_key_id"#,
            &[&user.name, &user.arn(), &user.account.as_str(), &old_name],
        )
        .map_err(backend)?;
    let mut changes = renamed::<UserRecord>(user.account.as_str(), &old_name, &user.name);
    changes.extend(access_key_changes(&moved)?);
    notify(&mut tx, &changes)?;
    tx.commit().map_err(backend)?;
    Ok(user.revision + 1)
}

/// The changes that announce a principal once named `old_name` and now `new_name`.
fn renamed<P: Principal>(account: &str, old_name: &str, new_name: &str) -> Vec<Change> {
    let mut changes = vec![P::change(account, old_name)];
    if !old_name.eq_ignore_ascii_case(new_name) {
        changes.push(P::change(account, new_name));
    }
    changes
}

/// `AccessKey` changes for rows that start with an `access_key_id`.
fn access_key_changes(rows: &[Row]) -> Result<Vec<Change>, StoreError> {
    rows.iter()
        .map(|r| Ok(Change::AccessKey(r.try_get(0).map_err(backend)?)))
        .collect()
}

pub(crate) fn delete_user(conn: &mut Client, account: &str, name: &str) -> Result<(), StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    delete_in::<UserRecord>(&mut tx, account, name)?;
    let deleted = tx
        .query(
            r#"DELETE FROM access_keys WHERE account = $1 AND lower(user_name) = lower($2 COLLATE "C") RETURNING access_key_id"#,
            &[&account, &name],
        )
        .map_err(backend)?;
    let mut changes = vec![UserRecord::change(account, name)];
    changes.extend(access_key_changes(&deleted)?);
    notify(&mut tx, &changes)?;
    tx.commit().map_err(backend)
}

pub(crate) fn list_users(conn: &mut Client, account: &str) -> Result<Vec<UserRecord>, StoreError> {
    list(conn, account)
}

pub(crate) fn create_role(conn: &mut Client, role: &RoleRecord) -> Result<u64, StoreError> {
    create(conn, role)
}

pub(crate) fn get_role(
    conn: &mut Client,
    account: &str,
    name: &str,
) -> Result<Option<RoleRecord>, StoreError> {
    get(conn, account, name)
}

pub(crate) fn update_role(conn: &mut Client, role: &RoleRecord) -> Result<u64, StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    let old_name = update_in(&mut tx, role)?;
    notify(
        &mut tx,
        &renamed::<RoleRecord>(role.account.as_str(), &old_name, &role.name),
    )?;
    tx.commit().map_err(backend)?;
    Ok(role.revision + 1)
}

pub(crate) fn delete_role(conn: &mut Client, account: &str, name: &str) -> Result<(), StoreError> {
    let mut tx = conn.transaction().map_err(backend)?;
    delete_in::<RoleRecord>(&mut tx, account, name)?;
    notify(&mut tx, &[RoleRecord::change(account, name)])?;
    tx.commit().map_err(backend)
}

pub(crate) fn list_roles(conn: &mut Client, account: &str) -> Result<Vec<RoleRecord>, StoreError> {
    list(conn, account)
}
