//! Lambda functions in SQLite: the configuration as a JSON document in `functions`, keyed by
//! account, region and name, with the code zip in a column beside it. The `Store` impl in
//! `sqlite.rs` calls these.

use keyward_core::function::FunctionRecord;
use keyward_core::StoreError;
use rusqlite::{params, Connection, OptionalExtension};

use crate::records::{decode_function, encode_function, function_exists, function_not_found};
use crate::sqlite::{backend, is_unique_violation};

pub(crate) fn create(conn: &Connection, function: &FunctionRecord) -> Result<(), StoreError> {
    let doc = encode_function(function)?;
    conn.execute(
        "INSERT INTO functions (account, region, name, revision_id, doc, code) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            function.account,
            function.region,
            function.name,
            function.revision_id,
            doc,
            function.code
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            function_exists(function)
        } else {
            backend(e)
        }
    })?;
    Ok(())
}

pub(crate) fn get(
    conn: &Connection,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<FunctionRecord>, StoreError> {
    conn.query_row(
        "SELECT doc, code FROM functions WHERE account = ?1 AND region = ?2 AND name = ?3",
        params![account, region, name],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)),
    )
    .optional()
    .map_err(backend)?
    .map(|(doc, code)| decode_function(&doc, code))
    .transpose()
}

pub(crate) fn update(
    conn: &Connection,
    function: &FunctionRecord,
    expected_revision: &str,
) -> Result<(), StoreError> {
    let doc = encode_function(function)?;
    let changed = conn
        .execute(
            "UPDATE functions SET revision_id = ?1, doc = ?2, code = ?3 WHERE account = ?4 AND region = ?5 AND name = ?6 AND revision_id = ?7",
            params![
                function.revision_id,
                doc,
                function.code,
                function.account,
                function.region,
                function.name,
                expected_revision
            ],
        )
        .map_err(backend)?;
    if changed == 1 {
        return Ok(());
    }
    match get(conn, &function.account, &function.region, &function.name)? {
        Some(_) => Err(StoreError::Conflict),
        None => Err(function_not_found(
            &function.account,
            &function.region,
            &function.name,
        )),
    }
}

pub(crate) fn delete(
    conn: &Connection,
    account: &str,
    region: &str,
    name: &str,
) -> Result<(), StoreError> {
    let deleted = conn
        .execute(
            "DELETE FROM functions WHERE account = ?1 AND region = ?2 AND name = ?3",
            params![account, region, name],
        )
        .map_err(backend)?;
    if deleted == 0 {
        return Err(function_not_found(account, region, name));
    }
    Ok(())
}

pub(crate) fn list(
    conn: &Connection,
    account: &str,
    region: &str,
) -> Result<Vec<FunctionRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT doc FROM functions WHERE account = ?1 AND region = ?2 ORDER BY name",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![account, region], |r| r.get::<_, String>(0))
        .map_err(backend)?;
    rows.map(|doc| decode_function(&doc.map_err(backend)?, Vec::new()))
        .collect()
}
