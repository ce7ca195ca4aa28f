//! What the store's integration tests share.
#![allow(clippy::unwrap_used)]

use uuid::Uuid;

/// A fresh, empty database on the PostgreSQL server that `KEYWARD_TEST_POSTGRES` names
/// (`postgres://user@host:port`, no database), and its URL; `None` when it is unset (and
/// `KEYWARD_REQUIRE_POSTGRES` is not 1).
pub fn fresh_postgres_database() -> Option<String> {
    let Ok(base) = std::env::var("KEYWARD_TEST_POSTGRES") else {
        assert!(
            std::env::var("KEYWARD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "KEYWARD_REQUIRE_POSTGRES=1 but KEYWARD_TEST_POSTGRES is unset"
        );
        eprintln!("KEYWARD_TEST_POSTGRES is unset: skipping the PostgreSQL backend");
        return None;
    };
    let base = base.trim_end_matches('/');
    let name = format!("keyward_test_{}", Uuid::new_v4().simple());
    let mut admin =
        postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    Some(format!("{base}/{name}"))
}
