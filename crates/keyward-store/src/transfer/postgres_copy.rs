//! Export from and import into PostgreSQL, on a connection of the store's pool.

use std::io::{BufRead, Write};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{IsolationLevel, Transaction};

use super::format::{ExportReader, ExportWriter, Row};
use super::{column_list, Cell, Kind, Summary, Table, TransferError, TABLES};
use crate::PostgresStore;

/// Rows fetched per round trip of an export.
const BATCH: i32 = 1000;

/// Every table, read in one read-only `REPEATABLE READ` transaction (one snapshot for all
/// of them, while servers go on writing), through a portal so that no more than
/// [`BATCH`] rows are held at once.
pub(super) fn export(store: &PostgresStore, out: &mut dyn Write) -> Result<Summary, TransferError> {
    let mut conn = store.conn()?;
    let mut tx = conn
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let mut writer = ExportWriter::start(out)?;
    let mut cells = Vec::new();
    for (index, table) in TABLES.iter().enumerate() {
        let sql = format!(
            "SELECT {} FROM \"{}\" ORDER BY {}",
            column_list(table.columns.iter().map(|c| c.postgres)),
            table.name,
            table.postgres_order
        );
        let portal = tx.bind(sql.as_str(), &[])?;
        loop {
            let rows = tx.query_portal(&portal, BATCH)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                cells.clear();
                for (at, column) in table.columns.iter().enumerate() {
                    // A NULL in a NOT NULL kind, or another type, is an error of `try_get`.
                    cells.push(match column.kind {
                        Kind::Text => Cell::Text(row.try_get(at)?),
                        Kind::OptText => row
                            .try_get::<_, Option<String>>(at)?
                            .map_or(Cell::Null, Cell::Text),
                        Kind::Int => Cell::Int(row.try_get(at)?),
                        Kind::OptInt => row
                            .try_get::<_, Option<i64>>(at)?
                            .map_or(Cell::Null, Cell::Int),
                        Kind::Blob => Cell::Blob(row.try_get(at)?),
                        Kind::Bool => Cell::Bool(row.try_get(at)?),
                    });
                }
                writer.row(index, &cells)?;
            }
        }
    }
    tx.commit()?;
    writer.finish()
}

fn postgres_type(kind: Kind) -> Type {
    match kind {
        Kind::Text | Kind::OptText => Type::TEXT,
        Kind::Int | Kind::OptInt => Type::INT8,
        Kind::Blob => Type::BYTEA,
        Kind::Bool => Type::BOOL,
    }
}

/// The `COPY` that loads `table` in binary, and its columns' types: the table's columns,
/// with `ordinal` second where the table has one.
fn copy_of(table: &Table) -> (String, Vec<Type>) {
    let mut names: Vec<&'static str> = table.columns.iter().map(|c| c.postgres).collect();
    let mut types: Vec<Type> = table
        .columns
        .iter()
        .map(|c| postgres_type(c.kind))
        .collect();
    if table.postgres_ordinal {
        names.insert(1, "ordinal");
        types.insert(1, Type::INT4);
    }
    let sql = format!(
        "COPY \"{}\" ({}) FROM STDIN (FORMAT binary)",
        table.name,
        column_list(names.into_iter())
    );
    (sql, types)
}

static NULL_TEXT: Option<&str> = None;
static NULL_INT: Option<i64> = None;

/// Numbers the rows of each group (an audit event's resources) 0, 1, 2… as they come.
#[derive(Default)]
struct Ordinals {
    group: Option<i64>,
    next: i32,
}

impl Ordinals {
    fn next(&mut self, group: i64) -> Result<i32, TransferError> {
        if self.group == Some(group) {
            self.next = self
                .next
                .checked_add(1)
                .ok_or_else(|| TransferError::Source("too many rows in one group".into()))?;
        } else {
            self.group = Some(group);
            self.next = 0;
        }
        Ok(self.next)
    }
}

fn write_row(
    writer: &mut BinaryCopyInWriter<'_>,
    row: &Row,
    ordinals: &mut Ordinals,
) -> Result<(), TransferError> {
    let table = &TABLES[row.table];
    let mut values: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(row.cells.len() + 1);
    for (cell, column) in row.cells.iter().zip(table.columns) {
        values.push(match cell {
            Cell::Null if column.kind == Kind::OptInt => &NULL_INT,
            Cell::Null => &NULL_TEXT,
            Cell::Text(text) => text,
            Cell::Int(n) => n,
            Cell::Blob(bytes) => bytes,
            Cell::Bool(b) => b,
        });
    }
    let ordinal;
    if table.postgres_ordinal {
        // The reader checked that the first column of these rows is an integer.
        let Some(Cell::Int(group)) = row.cells.first() else {
            return Err(TransferError::Source(format!(
                "a row of {} without its first column",
                table.name
            )));
        };
        ordinal = ordinals.next(*group)?;
        values.insert(1, &ordinal);
    }
    writer.write(&values)?;
    Ok(())
}

/// The first table in [`TABLES`] with a row, if any.
fn first_nonempty(tx: &mut Transaction<'_>) -> Result<Option<&'static str>, TransferError> {
    for table in TABLES {
        let any: bool = tx
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM \"{}\")", table.name),
                &[],
            )?
            .try_get(0)?;
        if any {
            return Ok(Some(table.name));
        }
    }
    Ok(None)
}

/// Loads the file in one transaction, one binary `COPY` per table. Every table is locked
/// against writers first (`EXCLUSIVE`: readers still read), so that nothing is written
/// between the check that the store is empty and the commit.
pub(super) fn import(
    store: &PostgresStore,
    input: &mut dyn BufRead,
) -> Result<Summary, TransferError> {
    let mut reader = ExportReader::open(input)?;
    let mut conn = store.conn()?;
    let mut tx = conn.transaction()?;
    let all = column_list(TABLES.iter().map(|t| t.name));
    tx.batch_execute(&format!("LOCK TABLE {all} IN EXCLUSIVE MODE"))?;
    if let Some(table) = first_nonempty(&mut tx)? {
        return Err(TransferError::NotEmpty(table));
    }
    let mut next = reader.next_row()?;
    while let Some(first) = next.take() {
        let (sql, types) = copy_of(&TABLES[first.table]);
        let mut writer = BinaryCopyInWriter::new(tx.copy_in(sql.as_str())?, &types);
        let mut ordinals = Ordinals::default();
        write_row(&mut writer, &first, &mut ordinals)?;
        loop {
            match reader.next_row()? {
                Some(row) if row.table == first.table => {
                    write_row(&mut writer, &row, &mut ordinals)?
                }
                other => {
                    next = other;
                    break;
                }
            }
        }
        writer.finish()?;
    }
    tx.commit()?;
    Ok(reader.summary())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// As the SQLite check beside the spec, for PostgreSQL (when `KEYWARD_TEST_POSTGRES`
    /// names a server to create a database on).
    #[test]
    fn the_table_spec_covers_the_postgres_schema() {
        let Ok(base) = std::env::var("KEYWARD_TEST_POSTGRES") else {
            eprintln!("KEYWARD_TEST_POSTGRES is unset: skipping");
            return;
        };
        let base = base.trim_end_matches('/');
        let name = format!("keyward_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin =
            postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let store = PostgresStore::connect(&format!("{base}/{name}")).unwrap();
        let mut conn = store.conn().unwrap();
        let rows = conn
            .query(
                "SELECT table_name::text, column_name::text, is_nullable = 'YES', data_type::text \
                 FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'keyward_schema'",
                &[],
            )
            .unwrap();
        let found: BTreeSet<(String, String, bool, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let mut spec = BTreeSet::new();
        for table in TABLES {
            for column in table.columns {
                let ty = match column.kind {
                    Kind::Text | Kind::OptText => "text",
                    Kind::Int | Kind::OptInt => "bigint",
                    Kind::Blob => "bytea",
                    Kind::Bool => "boolean",
                };
                spec.insert((
                    table.name.to_owned(),
                    column.postgres.to_owned(),
                    column.kind.nullable(),
                    ty.to_owned(),
                ));
            }
            if table.postgres_ordinal {
                spec.insert((
                    table.name.to_owned(),
                    "ordinal".to_owned(),
                    false,
                    "integer".to_owned(),
                ));
            }
        }
        assert_eq!(found, spec);
    }
}
