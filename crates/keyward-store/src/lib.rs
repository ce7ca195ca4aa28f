//! Store backends. SQLite is the embedded default: one file in the data directory, WAL
//! journal, `synchronous=FULL`, so every acknowledged write survives a crash. PostgreSQL
//! serves several nodes from one database.

mod postgres;
mod postgres_audit;
mod postgres_functions;
mod postgres_grants;
mod postgres_iam;
mod postgres_keys;
mod postgres_schema;
mod postgres_secrets;
mod records;
mod sqlite;
mod sqlite_audit;
mod sqlite_functions;
mod sqlite_grants;
mod sqlite_iam;
mod sqlite_schema;
mod sqlite_secrets;
pub mod transfer;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use transfer::{Transfer, TransferError};
