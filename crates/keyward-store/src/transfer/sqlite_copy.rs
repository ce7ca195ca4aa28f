//! Export from and import into SQLite, on the store's own connection.

use std::io::{BufRead, Write};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, ToSql, Transaction, TransactionBehavior};

use super::format::{ExportReader, ExportWriter};
use super::{column_list, Cell, Column, Kind, Summary, Table, TransferError, TABLES};
use crate::SqliteStore;

/// Every table, read in one deferred transaction: in WAL mode its first read fixes the
/// snapshot every later read sees, while a server goes on writing beside it.
pub(super) fn export(store: &SqliteStore, out: &mut dyn Write) -> Result<Summary, TransferError> {
    let mut conn = store.conn()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let mut writer = ExportWriter::start(out)?;
    let mut cells = Vec::new();
    for (index, table) in TABLES.iter().enumerate() {
        let sql = format!(
            "SELECT {} FROM \"{}\" ORDER BY {}",
            column_list(table.columns.iter().map(|c| c.name)),
            table.name,
            table.sqlite_order
        );
        let mut stmt = tx.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            cells.clear();
            for (at, column) in table.columns.iter().enumerate() {
                cells.push(read_cell(table, column, row.get_ref(at)?)?);
            }
            writer.row(index, &cells)?;
        }
    }
    tx.commit()?;
    writer.finish()
}

/// The cell a stored value is, if it fits its column. SQLite would store any type in any
/// column; the store never does, so another type means a damaged database.
fn read_cell(table: &Table, column: &Column, value: ValueRef<'_>) -> Result<Cell, TransferError> {
    let cell = match (column.kind, value) {
        (kind, ValueRef::Null) if kind.nullable() => Some(Cell::Null),
        (Kind::Text | Kind::OptText, ValueRef::Text(bytes)) => std::str::from_utf8(bytes)
            .ok()
            .map(|s| Cell::Text(s.to_owned())),
        (Kind::Int | Kind::OptInt, ValueRef::Integer(n)) => Some(Cell::Int(n)),
        (Kind::Blob, ValueRef::Blob(bytes) | ValueRef::Text(bytes)) => {
            Some(Cell::Blob(bytes.to_vec()))
        }
        (Kind::Bool, ValueRef::Integer(n)) => Some(Cell::Bool(n != 0)),
        _ => None,
    };
    cell.ok_or_else(|| {
        TransferError::Source(format!(
            "{}.{} holds a value of another type ({:?})",
            table.name,
            column.name,
            value.data_type()
        ))
    })
}

impl ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Cell::Null => ValueRef::Null,
            Cell::Text(text) => ValueRef::Text(text.as_bytes()),
            Cell::Int(n) => ValueRef::Integer(*n),
            Cell::Blob(bytes) => ValueRef::Blob(bytes),
            Cell::Bool(b) => ValueRef::Integer(i64::from(*b)),
        }))
    }
}

/// The first table in [`TABLES`] with a row, if any.
fn first_nonempty(tx: &Transaction<'_>) -> Result<Option<&'static str>, TransferError> {
    for table in TABLES {
        let any: bool = tx.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM \"{}\")", table.name),
            [],
            |r| r.get(0),
        )?;
        if any {
            return Ok(Some(table.name));
        }
    }
    Ok(None)
}

/// Loads the file in one `IMMEDIATE` transaction: it holds the write lock from the check
/// that the store is empty to the commit, so no server can write in between. The store's
/// connection enforces foreign keys, which the file's table order satisfies.
pub(super) fn import(
    store: &SqliteStore,
    input: &mut dyn BufRead,
) -> Result<Summary, TransferError> {
    let mut reader = ExportReader::open(input)?;
    let mut conn = store.conn()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(table) = first_nonempty(&tx)? {
        return Err(TransferError::NotEmpty(table));
    }
    let inserts: Vec<String> = TABLES
        .iter()
        .map(|table| {
            let placeholders = (1..=table.columns.len())
                .map(|n| format!("?{n}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "INSERT INTO \"{}\" ({}) VALUES ({placeholders})",
                table.name,
                column_list(table.columns.iter().map(|c| c.name)),
            )
        })
        .collect();
    while let Some(row) = reader.next_row()? {
        tx.prepare_cached(&inserts[row.table])?
            .execute(params_from_iter(row.cells.iter()))?;
    }
    tx.commit()?;
    Ok(reader.summary())
}
