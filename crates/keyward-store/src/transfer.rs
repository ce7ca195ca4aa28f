//! Moving a whole installation between backends: `keyward export` writes every row of every
//! table to a file, and `keyward import` loads that file into an empty store of either
//! kind. Rows are copied verbatim, so everything stays wrapped under the same root key
//! (whose AADs do not name the backend) and the audit chain, checkpoint and head included,
//! verifies on the other side.
//!
//! The file is JSON lines ([`format`]): a header naming the format, its version and every
//! table with its columns; one line per row, `{"table":"keys","row":[…]}`, tables in the
//! order of [`TABLES`] (parents before children); and a trailer with each table's row
//! count, so that a file cut short is refused rather than half imported. Blobs are
//! standard base64, integers JSON numbers, booleans JSON booleans, NULL `null`.
//!
//! An export reads one consistent snapshot (a read transaction on SQLite, a read-only
//! `REPEATABLE READ` one on PostgreSQL), streaming rows as it reads them. An import runs in
//! one transaction: into a store with no rows at all (freshly created or migrated, never
//! started by a server), and either every row goes in or none does.

mod format;
mod postgres_copy;
mod sqlite_copy;

use std::fmt;
use std::io::{BufRead, Write};

use keyward_core::StoreError;

use crate::{PostgresStore, SqliteStore};

/// The `format` field of an export's header.
pub const FORMAT: &str = "keyward-export";
/// The version of the file layout this build writes and reads: bumped when a table or a
/// column is added to [`TABLES`].
pub const VERSION: u64 = 2;

/// What a column holds, and whether it may be NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    OptText,
    Int,
    OptInt,
    Blob,
    Bool,
}

impl Kind {
    pub(crate) fn nullable(self) -> bool {
        matches!(self, Kind::OptText | Kind::OptInt)
    }
}

pub(crate) struct Column {
    /// The column's name in the file and in SQLite.
    pub(crate) name: &'static str,
    /// Its name in PostgreSQL (the same but for one).
    pub(crate) postgres: &'static str,
    pub(crate) kind: Kind,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        postgres: name,
        kind,
    }
}

pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [Column],
    /// The order rows are exported in, on each backend.
    pub(crate) sqlite_order: &'static str,
    pub(crate) postgres_order: &'static str,
    /// PostgreSQL keeps the rows' order within their first column's value in an extra
    /// `ordinal` column (SQLite keeps it by rowid). Its rows come grouped by that first
    /// column, in order; an import numbers each group's rows 0, 1, 2… as they come.
    pub(crate) postgres_ordinal: bool,
}

use Kind::{Blob, Bool, Int, OptInt, OptText, Text};

/// Every table that holds data, parents before children (the import inserts in this
/// order, so foreign keys hold at every row). Not here: PostgreSQL's `keyward_schema` and
/// SQLite's `user_version`, which record the schema, not data; each store is at the
/// current schema once opened.
pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "meta",
        columns: &[col("name", Text), col("value", Blob)],
        sqlite_order: "name",
        postgres_order: "name",
        postgres_ordinal: false,
    },
    Table {
        name: "keys",
        columns: &[
            col("id", Text),
            col("account", Text),
            col("region", Text),
            col("revision", Int),
            col("due_at", OptInt),
            col("doc", Text),
        ],
        sqlite_order: "id",
        postgres_order: "id",
        postgres_ordinal: false,
    },
    Table {
        name: "key_material",
        columns: &[
            col("key_id", Text),
            col("version", Int),
            col("wrapped", Blob),
            col("created", Int),
        ],
        sqlite_order: "key_id, version",
        postgres_order: "key_id, version",
        postgres_ordinal: false,
    },
    Table {
        name: "aliases",
        columns: &[
            col("account", Text),
            col("region", Text),
            col("name", Text),
            col("target", Text),
            col("created", Int),
            col("updated", Int),
        ],
        sqlite_order: "account, region, name",
        postgres_order: "account, region, name",
        postgres_ordinal: false,
    },
    Table {
        name: "grants",
        columns: &[
            col("key_id", Text),
            col("grant_id", Text),
            col("account", Text),
            col("retiring_principal", OptText),
            col("created", Int),
            col("doc", Text),
        ],
        sqlite_order: "key_id, grant_id",
        postgres_order: "key_id, grant_id",
        postgres_ordinal: false,
    },
    Table {
        name: "access_keys",
        columns: &[
            col("access_key_id", Text),
            col("wrapped_secret", Blob),
            col("account", Text),
            col("principal_arn", Text),
            col("created", Int),
            col("active", Bool),
            col("user_name", OptText),
        ],
        sqlite_order: "access_key_id",
        postgres_order: "access_key_id",
        postgres_ordinal: false,
    },
    Table {
        name: "iam_principals",
        columns: &[
            col("id", Text),
            col("kind", Text),
            col("account", Text),
            col("name", Text),
            col("revision", Int),
            col("doc", Text),
        ],
        sqlite_order: "id",
        postgres_order: "id",
        postgres_ordinal: false,
    },
    Table {
        name: "secrets",
        columns: &[
            col("id", Text),
            col("account", Text),
            col("region", Text),
            col("name", Text),
            col("revision", Int),
            col("due_at", OptInt),
            col("created", Int),
            col("doc", Text),
        ],
        sqlite_order: "id",
        postgres_order: "id",
        postgres_ordinal: false,
    },
    Table {
        name: "secret_values",
        columns: &[
            col("secret_id", Text),
            col("version_id", Text),
            col("encrypted_data_key", Blob),
            col("ciphertext", Blob),
            Column {
                name: "binary",
                postgres: "is_binary",
                kind: Bool,
            },
        ],
        sqlite_order: "secret_id, version_id",
        postgres_order: "secret_id, version_id",
        postgres_ordinal: false,
    },
    Table {
        name: "functions",
        columns: &[
            col("account", Text),
            col("region", Text),
            col("name", Text),
            col("revision_id", Text),
            col("doc", Text),
            col("code", Blob),
        ],
        sqlite_order: "account, region, name",
        postgres_order: "account, region, name",
        postgres_ordinal: false,
    },
    Table {
        name: "audit_events",
        columns: &[
            col("seq", Int),
            col("prev_hash", Blob),
            col("hash", Blob),
            col("event_id", Text),
            col("event_time", Int),
            col("event_source", Text),
            col("event_name", Text),
            col("read_only", Bool),
            col("username", OptText),
            col("access_key_id", OptText),
            col("account", Text),
            col("region", Text),
            col("record", Text),
        ],
        sqlite_order: "seq",
        postgres_order: "seq",
        postgres_ordinal: false,
    },
    Table {
        name: "audit_resources",
        columns: &[
            col("seq", Int),
            col("resource_type", Text),
            col("resource_name", Text),
        ],
        sqlite_order: "seq, rowid",
        postgres_order: "seq, ordinal",
        postgres_ordinal: true,
    },
];

/// One value of a row. Which variants a column takes is its [`Kind`]'s business.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    Null,
    Text(String),
    Int(i64),
    Blob(Vec<u8>),
    Bool(bool),
}

/// Values may be wrapped key material: never printed.
impl fmt::Debug for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cell")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file is not a whole, well-formed export.
    #[error("line {line} of the export: {message}")]
    Format { line: u64, message: String },
    /// A row read from the source does not fit its column.
    #[error("{0}")]
    Source(String),
    #[error("the target store is not empty (table {0} has rows): import into a new store, created by `keyward migrate` or by the import itself, that no server has started on")]
    NotEmpty(&'static str),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
}

/// How many rows each table had, in [`TABLES`]' order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub tables: Vec<(&'static str, u64)>,
}

impl Summary {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, count)| count).sum()
    }

    pub(crate) fn of(counts: &[u64]) -> Self {
        Self {
            tables: TABLES
                .iter()
                .zip(counts)
                .map(|(table, count)| (table.name, *count))
                .collect(),
        }
    }
}

/// `12 rows: meta 5, keys 2, …`
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rows:", self.rows())?;
        for (index, (table, count)) in self.tables.iter().enumerate() {
            let sep = if index == 0 { " " } else { ", " };
            write!(f, "{sep}{table} {count}")?;
        }
        Ok(())
    }
}

/// A store that can be exported and imported whole.
pub trait Transfer {
    /// Writes every row, from one consistent snapshot, to `out`.
    fn export(&self, out: &mut dyn Write) -> Result<Summary, TransferError>;
    /// Loads an export into this store, which must hold no rows: all of it in one
    /// transaction, or nothing.
    fn import(&self, input: &mut dyn BufRead) -> Result<Summary, TransferError>;
}

impl Transfer for SqliteStore {
    fn export(&self, out: &mut dyn Write) -> Result<Summary, TransferError> {
        sqlite_copy::export(self, out)
    }

    fn import(&self, input: &mut dyn BufRead) -> Result<Summary, TransferError> {
        sqlite_copy::import(self, input)
    }
}

impl Transfer for PostgresStore {
    fn export(&self, out: &mut dyn Write) -> Result<Summary, TransferError> {
        postgres_copy::export(self, out)
    }

    fn import(&self, input: &mut dyn BufRead) -> Result<Summary, TransferError> {
        postgres_copy::import(self, input)
    }
}

/// `"a", "b"`: identifiers quoted for SQL (`binary` is a word SQLite knows).
pub(crate) fn column_list(names: impl Iterator<Item = &'static str>) -> String {
    names
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A migration that adds a table or a column must come with a new format version and
    /// a new entry here: this fails until it does.
    #[test]
    fn the_table_spec_covers_the_sqlite_schema() {
        let store = SqliteStore::in_memory().unwrap();
        let conn = store.conn().unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap();
        let tables: BTreeSet<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let spec: BTreeSet<String> = TABLES.iter().map(|t| t.name.to_owned()).collect();
        assert_eq!(tables, spec);
        for table in TABLES {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT name, \"notnull\" OR pk > 0, type FROM pragma_table_info('{}')",
                    table.name
                ))
                .unwrap();
            // A primary key is never NULL in the store, though SQLite would allow it.
            let columns: BTreeSet<(String, bool, String)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let spec: BTreeSet<(String, bool, String)> = table
                .columns
                .iter()
                .map(|c| {
                    let ty = match c.kind {
                        Text | OptText => "TEXT",
                        Int | OptInt | Bool => "INTEGER",
                        Blob => "BLOB",
                    };
                    (c.name.to_owned(), !c.kind.nullable(), ty.to_owned())
                })
                .collect();
            assert_eq!(columns, spec, "table {}", table.name);
        }
    }

    #[test]
    fn the_summary_names_tables_and_counts() {
        let counts: Vec<u64> = (0..TABLES.len() as u64).collect();
        let summary = Summary::of(&counts);
        assert_eq!(summary.rows(), counts.iter().sum::<u64>());
        let text = summary.to_string();
        assert!(
            text.starts_with("66 rows: meta 0, keys 1, key_material 2"),
            "{text}"
        );
        assert!(text.ends_with("audit_resources 11"), "{text}");
    }
}
