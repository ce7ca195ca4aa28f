//! Opening a data directory: first start, restart, and refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use keyward_core::SystemClock;
use keyward_server::config::{Config, RootAccessKey};
use keyward_server::{open_blocking, BootstrapError};

#[test]
fn first_start_writes_private_credentials_and_root_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::with_data_dir(dir.path().join("data"));
    let opened = open_blocking(&config, Arc::new(SystemClock)).unwrap();
    let path = opened
        .credentials_file
        .expect("a first start writes credentials");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("[default]\naws_access_key_id = AKIA"));
    assert!(text.contains("aws_secret_access_key = "));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let root = config.data_dir.join("root.key");
        assert_eq!(
            std::fs::metadata(root).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&config.data_dir)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }
    drop(opened.state);
    // A restart keeps the same credentials and writes nothing new.
    let again = open_blocking(&config, Arc::new(SystemClock)).unwrap();
    assert!(again.credentials_file.is_none());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn a_foreign_root_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::with_data_dir(dir.path().join("data"));
    drop(open_blocking(&config, Arc::new(SystemClock)).unwrap());
    let other = dir.path().join("other.key");
    std::fs::write(&other, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
    let mut with_other = config.clone();
    with_other.root_of_trust.root_key_file = Some(other);
    match open_blocking(&with_other, Arc::new(SystemClock)) {
        Err(BootstrapError::Config(message)) => {
            assert!(message.contains("wrong root key"), "{message}")
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a foreign root key opened the data"),
    }
}

#[test]
fn operator_supplied_root_access_key_writes_no_file_and_must_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().join("data"));
    config.root_access_key = Some(RootAccessKey {
        access_key_id: "AKIAOPERATOR00000001".into(),
        secret_access_key: "operator-chosen-secret-000000000".into(),
    });
    let opened = open_blocking(&config, Arc::new(SystemClock)).unwrap();
    assert!(opened.credentials_file.is_none());
    assert!(!config.data_dir.join("credentials").exists());
    drop(opened.state);
    config.root_access_key = Some(RootAccessKey {
        access_key_id: "AKIAOPERATOR00000001".into(),
        secret_access_key: "a-different-secret-0000000000000".into(),
    });
    assert!(matches!(
        open_blocking(&config, Arc::new(SystemClock)),
        Err(BootstrapError::Config(_))
    ));
}

#[test]
fn the_account_of_a_data_directory_is_fixed_at_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::with_data_dir(dir.path().join("data"));
    drop(open_blocking(&config, Arc::new(SystemClock)).unwrap());
    let mut other = config.clone();
    other.account_id = keyward_server::AccountId::parse("123456789012").unwrap();
    assert!(matches!(
        open_blocking(&other, Arc::new(SystemClock)),
        Err(BootstrapError::Config(_))
    ));
}
