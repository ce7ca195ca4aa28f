//! Store backends. SQLite is the embedded default: one file in the data directory, WAL
//! journal, `synchronous=FULL`, so every acknowledged write survives a crash.

mod sqlite;
mod sqlite_audit;
mod sqlite_grants;
mod sqlite_iam;
mod sqlite_schema;
mod sqlite_secrets;

pub use sqlite::SqliteStore;
