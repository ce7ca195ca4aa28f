//! IAM in SQLite: access keys in `access_keys`, users and roles in `iam_principals` (one
//! table, `kind` telling them apart, as they are separate namespaces) as a JSON document
//! beside the columns they are looked up by. Names compare with `COLLATE NOCASE`, so
//! uniqueness and lookups ignore case while the document keeps it. The `Store` impl in
//! `sqlite.rs` calls these, one transaction each.

use keyward_core::iam::{RoleRecord, UserRecord};
use keyward_core::store::AccessKeyRow;
use keyward_core::{StoreError, UnixMillis};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

use crate::records::{decode_principal, encode_principal, Principal, USER};
use crate::sqlite::{backend, is_unique_violation};

const ACCESS_KEY_COLUMNS: &str =
    "access_key_id, wrapped_secret, account, principal_arn, created, active, user_name";

fn immediate(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)
}

fn access_key_row(r: &Row<'_>) -> rusqlite::Result<AccessKeyRow> {
    Ok(AccessKeyRow {
        access_key_id: r.get(0)?,
        wrapped_secret: r.get(1)?,
        account: r.get(2)?,
        principal_arn: r.get(3)?,
        created: UnixMillis(r.get(4)?),
        active: r.get(5)?,
        user_name: r.get(6)?,
    })
}

/// The name of a user of `account` as its record spells it.
fn stored_user_name(
    conn: &Connection,
    account: &str,
    name: &str,
) -> Result<Option<String>, StoreError> {
    conn.query_row(
        "SELECT name FROM iam_principals WHERE account = ?1 AND kind = ?2 AND name = ?3",
        params![account, USER, name],
        |r| r.get(0),
    )
    .optional()
    .map_err(backend)
}

/// A key of a user is stored under the user's name as its record spells it, and only
/// while the user exists, so that no key outlives its user to serve a namesake.
pub(crate) fn create_access_key(
    conn: &mut Connection,
    row: &AccessKeyRow,
) -> Result<(), StoreError> {
    let tx = immediate(conn)?;
    let user_name = match &row.user_name {
        None => None,
        Some(name) => Some(
            stored_user_name(&tx, &row.account, name)?
                .ok_or_else(|| StoreError::NotFound(name.clone()))?,
        ),
    };
    tx.execute(
        "INSERT INTO access_keys (access_key_id, wrapped_secret, account, principal_arn, created, active, user_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![row.access_key_id, row.wrapped_secret, row.account, row.principal_arn, row.created.0, row.active, user_name],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists(row.access_key_id.clone())
        } else {
            backend(e)
        }
    })?;
    tx.commit().map_err(backend)
}

pub(crate) fn get_access_key(
    conn: &Connection,
    access_key_id: &str,
) -> Result<Option<AccessKeyRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?1"),
        [access_key_id],
        access_key_row,
    )
    .optional()
    .map_err(backend)
}

pub(crate) fn list_access_keys(
    conn: &Connection,
    account: &str,
    user_name: Option<&str>,
) -> Result<Vec<AccessKeyRow>, StoreError> {
    let (owner, params): (&str, &[&dyn rusqlite::ToSql]) = match &user_name {
        Some(name) => ("user_name = ?2", &[&account, name]),
        None => ("user_name IS NULL", &[&account]),
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE account = ?1 AND {owner} ORDER BY created, access_key_id"
        ))
        .map_err(backend)?;
    let rows = stmt.query_map(params, access_key_row).map_err(backend)?;
    rows.map(|row| row.map_err(backend)).collect()
}

pub(crate) fn set_access_key_active(
    conn: &Connection,
    access_key_id: &str,
    active: bool,
) -> Result<(), StoreError> {
    let changed = conn
        .execute(
            "UPDATE access_keys SET active = ?1 WHERE access_key_id = ?2",
            params![active, access_key_id],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotFound(access_key_id.to_owned()));
    }
    Ok(())
}

pub(crate) fn delete_access_key(conn: &Connection, access_key_id: &str) -> Result<(), StoreError> {
    let changed = conn
        .execute(
            "DELETE FROM access_keys WHERE access_key_id = ?1",
            [access_key_id],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotFound(access_key_id.to_owned()));
    }
    Ok(())
}

fn create<P: Principal>(conn: &Connection, record: &P) -> Result<u64, StoreError> {
    let doc = encode_principal(record)?;
    conn.execute(
        "INSERT INTO iam_principals (id, kind, account, name, revision, doc) VALUES (?1, ?2, ?3, ?4, 1, ?5)",
        params![record.id(), P::KIND, record.account(), record.name(), doc],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists(record.name().to_owned())
        } else {
            backend(e)
        }
    })?;
    Ok(1)
}

fn get<P: Principal>(
    conn: &Connection,
    account: &str,
    name: &str,
) -> Result<Option<P>, StoreError> {
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT doc, revision FROM iam_principals WHERE account = ?1 AND kind = ?2 AND name = ?3",
            params![account, P::KIND, name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    row.map(|(doc, revision)| decode_principal(&doc, revision))
        .transpose()
}

/// Replaces the principal with the record's id if it is still at the record's revision.
/// Returns the name it had.
fn update_in<P: Principal>(tx: &Transaction<'_>, record: &P) -> Result<String, StoreError> {
    let doc = encode_principal(record)?;
    let stored: Option<(String, i64)> = tx
        .query_row(
            "SELECT name, revision FROM iam_principals WHERE id = ?1 AND kind = ?2 AND account = ?3",
            params![record.id(), P::KIND, record.account()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    let Some((old_name, revision)) = stored else {
        return Err(StoreError::NotFound(record.name().to_owned()));
    };
    if u64::try_from(revision).ok() != Some(record.revision()) {
        return Err(StoreError::Conflict);
    }
    tx.execute(
        "UPDATE iam_principals SET name = ?1, doc = ?2, revision = revision + 1 WHERE id = ?3",
        params![record.name(), doc, record.id()],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists(record.name().to_owned())
        } else {
            backend(e)
        }
    })?;
    Ok(old_name)
}

fn delete_in<P: Principal>(
    tx: &Transaction<'_>,
    account: &str,
    name: &str,
) -> Result<(), StoreError> {
    let changed = tx
        .execute(
            "DELETE FROM iam_principals WHERE account = ?1 AND kind = ?2 AND name = ?3",
            params![account, P::KIND, name],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotFound(name.to_owned()));
    }
    Ok(())
}

fn list<P: Principal>(conn: &Connection, account: &str) -> Result<Vec<P>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT doc, revision FROM iam_principals WHERE account = ?1 AND kind = ?2 ORDER BY name, id",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![account, P::KIND], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(backend)?;
    rows.map(|row| {
        let (doc, revision) = row.map_err(backend)?;
        decode_principal(&doc, revision)
    })
    .collect()
}

pub(crate) fn create_user(conn: &Connection, user: &UserRecord) -> Result<u64, StoreError> {
    create(conn, user)
}

pub(crate) fn get_user(
    conn: &Connection,
    account: &str,
    name: &str,
) -> Result<Option<UserRecord>, StoreError> {
    get(conn, account, name)
}

/// A renamed or moved user's access keys follow it: their owner and principal ARN change
/// in the same transaction.
pub(crate) fn update_user(conn: &mut Connection, user: &UserRecord) -> Result<u64, StoreError> {
    let tx = immediate(conn)?;
    let old_name = update_in(&tx, user)?;
    tx.execute(
        "UPDATE access_keys SET user_name = ?1, principal_arn = ?2 WHERE account = ?3 AND user_name = ?4",
        params![user.name, user.arn(), user.account.as_str(), old_name],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(user.revision + 1)
}

pub(crate) fn delete_user(
    conn: &mut Connection,
    account: &str,
    name: &str,
) -> Result<(), StoreError> {
    let tx = immediate(conn)?;
    delete_in::<UserRecord>(&tx, account, name)?;
    tx.execute(
        "DELETE FROM access_keys WHERE account = ?1 AND user_name = ?2",
        params![account, name],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)
}

pub(crate) fn list_users(conn: &Connection, account: &str) -> Result<Vec<UserRecord>, StoreError> {
    list(conn, account)
}

pub(crate) fn create_role(conn: &Connection, role: &RoleRecord) -> Result<u64, StoreError> {
    create(conn, role)
}

pub(crate) fn get_role(
    conn: &Connection,
    account: &str,
    name: &str,
) -> Result<Option<RoleRecord>, StoreError> {
    get(conn, account, name)
}

pub(crate) fn update_role(conn: &mut Connection, role: &RoleRecord) -> Result<u64, StoreError> {
    let tx = immediate(conn)?;
    update_in(&tx, role)?;
    tx.commit().map_err(backend)?;
    Ok(role.revision + 1)
}

pub(crate) fn delete_role(
    conn: &mut Connection,
    account: &str,
    name: &str,
) -> Result<(), StoreError> {
    let tx = immediate(conn)?;
    delete_in::<RoleRecord>(&tx, account, name)?;
    tx.commit().map_err(backend)
}

pub(crate) fn list_roles(conn: &Connection, account: &str) -> Result<Vec<RoleRecord>, StoreError> {
    list(conn, account)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use keyward_core::Store;

    use super::*;
    use crate::sqlite_schema::MIGRATIONS;
    use crate::SqliteStore;

    #[test]
    fn access_keys_stored_before_iam_are_the_roots() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        for migration in &MIGRATIONS[..3] {
            old.execute_batch(migration).unwrap();
        }
        old.pragma_update(None, "user_version", 3).unwrap();
        old.execute(
            "INSERT INTO access_keys (access_key_id, wrapped_secret, account, principal_arn, created, active) VALUES ('AKIAOLD', x'01', '000000000000', 'arn:aws:iam::000000000000:root', 1, 1)",
            [],
        )
        .unwrap();
        drop(old);

        let store = SqliteStore::open(&path).unwrap();
        let row = store.get_access_key("AKIAOLD").unwrap().unwrap();
        assert_eq!(row.user_name, None);
        assert_eq!(
            store.list_access_keys("000000000000", None).unwrap(),
            vec![row]
        );
        assert!(store.list_users("000000000000").unwrap().is_empty());
        assert!(store.all_grants().unwrap().is_empty());
    }
}
