//! Two nodes on one PostgreSQL database (skipped unless `KEYWARD_TEST_POSTGRES` names a
//! server, as scripts/test.sh does): the background jobs run on exactly one node at a
//! time, and move to another node when that one goes away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use keyward_server::config::Storage;

fn fresh_postgres_database() -> Option<String> {
    let Ok(base) = std::env::var("KEYWARD_TEST_POSTGRES") else {
        assert!(
            std::env::var("KEYWARD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "KEYWARD_REQUIRE_POSTGRES=1 but KEYWARD_TEST_POSTGRES is unset"
        );
        eprintln!("KEYWARD_TEST_POSTGRES is unset: skipping");
        return None;
    };
    let base = base.trim_end_matches('/').to_owned();
    let name = format!("keyward_test_{}", uuid::Uuid::new_v4().simple());
    let admin_url = format!("{base}/postgres");
    let create = format!("CREATE DATABASE {name}");
    // The synchronous client runs its own runtime: keep it off the test's.
    std::thread::spawn(move || {
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
        admin.batch_execute(&create).unwrap();
    })
    .join()
    .unwrap();
    Some(format!("{base}/{name}"))
}

async fn node(url: &str, root_key: Option<std::path::PathBuf>) -> common::Server {
    let url = url.to_owned();
    common::start_with(move |config| {
        config.storage = Storage::Postgres(url);
        config.root_of_trust.root_key_file = root_key;
    })
    .await
}

async fn schedule_deletion(server: &common::Server) -> String {
    let kms = &server.client;
    let id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    kms.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_on_one_node_and_move_when_it_goes() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let a = node(&url, None).await;
    let b = node(&url, Some(a.data_dir.join("root.key"))).await;

    // Both nodes run their jobs a week and a day later: one of them deletes the key,
    // the other does nothing.
    let first = schedule_deletion(&a).await;
    let (from_a, from_b) = (
        a.run_jobs_days_later(8).await,
        b.run_jobs_days_later(8).await,
    );
    assert_eq!(
        from_a.deleted + from_b.deleted,
        1,
        "exactly one node deleted the key"
    );
    let err = b
        .client
        .describe_key()
        .key_id(&first)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("NotFoundException")
    );
    for _ in 0..3 {
        let again = (
            a.run_jobs_days_later(8).await,
            b.run_jobs_days_later(8).await,
        );
        assert_eq!(
            (again.0.deleted, again.1.deleted),
            (0, 0),
            "nothing is left to delete"
        );
    }

    // The node that holds the lock goes away; the other takes the jobs over.
    let (holder, survivor) = if from_a.deleted == 1 { (a, b) } else { (b, a) };
    drop(holder);
    let second = schedule_deletion(&survivor).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while survivor.run_jobs_days_later(8).await.deleted == 0 {
        assert!(
            Instant::now() < deadline,
            "the surviving node never took the jobs over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = survivor
        .client
        .describe_key()
        .key_id(&second)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("NotFoundException")
    );
}
