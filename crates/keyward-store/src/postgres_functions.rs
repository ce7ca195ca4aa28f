//! Lambda functions in PostgreSQL: a port of `sqlite_functions.rs` with the same results
//! and errors. Writes announce nothing: no node caches functions.

use keyward_core::function::FunctionRecord;
use keyward_core::StoreError;
use postgres::Client;

use crate::postgres::{backend, is_unique_violation};
use crate::records::{decode_function, encode_function, function_exists, function_not_found};

pub(crate) fn create(conn: &mut Client, function: &FunctionRecord) -> Result<(), StoreError> {
    let doc = encode_function(function)?;
    conn.execute(
        "INSERT INTO functions (account, region, name, revision_id, doc, code) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &function.account,
            &function.region,
            &function.name,
            &function.revision_id,
            &doc,
            &function.code,
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
    conn: &mut Client,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<FunctionRecord>, StoreError> {
    conn.query_opt(
        "SELECT doc, code FROM functions WHERE account = $1 AND region = $2 AND name = $3",
        &[&account, &region, &name],
    )
    .map_err(backend)?
    .map(|row| {
        let doc: String = row.try_get(0).map_err(backend)?;
        let code: Vec<u8> = row.try_get(1).map_err(backend)?;
        decode_function(&doc, code)
    })
    .transpose()
}

pub(crate) fn update(
    conn: &mut Client,
    function: &FunctionRecord,
    expected_revision: &str,
) -> Result<(), StoreError> {
    let doc = encode_function(function)?;
    let changed = conn
        .execute(
            "UPDATE functions SET revision_id = $1, doc = $2, code = $3 WHERE account = $4 AND region = $5 AND name = $6 AND revision_id = $7",
            &[
                &function.revision_id,
                &doc,
                &function.code,
                &function.account,
                &function.region,
                &function.name,
                &expected_revision,
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
    conn: &mut Client,
    account: &str,
    region: &str,
    name: &str,
) -> Result<(), StoreError> {
    let deleted = conn
        .execute(
            "DELETE FROM functions WHERE account = $1 AND region = $2 AND name = $3",
            &[&account, &region, &name],
        )
        .map_err(backend)?;
    if deleted == 0 {
        return Err(function_not_found(account, region, name));
    }
    Ok(())
}

pub(crate) fn list(
    conn: &mut Client,
    account: &str,
    region: &str,
) -> Result<Vec<FunctionRecord>, StoreError> {
    conn.query(
        "SELECT doc FROM functions WHERE account = $1 AND region = $2 ORDER BY name",
        &[&account, &region],
    )
    .map_err(backend)?
    .iter()
    .map(|row| decode_function(&row.try_get::<_, String>(0).map_err(backend)?, Vec::new()))
    .collect()
}
