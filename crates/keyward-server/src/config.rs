//! Server configuration, validated into types. The binary fills it from flags and
//! `KEYWARD_<FLAG>` environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use keyward_core::AccountId;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub account_id: AccountId,
    /// Root access key supplied by the operator instead of a generated one.
    pub root_access_key: Option<RootAccessKey>,
    /// A 32-byte root key file; without it the key lives in the data directory.
    pub root_key_file: Option<PathBuf>,
    /// How often the deletion and rotation jobs look for due keys.
    pub job_interval: Duration,
    /// Days to keep audit events; `None` keeps them forever.
    pub audit_retention_days: Option<u32>,
}

#[derive(Clone)]
pub struct RootAccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for RootAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootAccessKey")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
pub const DEFAULT_DATA_DIR: &str = "./keyward-data";

impl Config {
    /// The zero-configuration defaults with the data directory given.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4599)),
            data_dir,
            account_id: AccountId::default(),
            root_access_key: None,
            root_key_file: None,
            job_interval: Duration::from_secs(10),
            audit_retention_days: None,
        }
    }
}

/// Validates an access key id as IAM shapes them: 16–128 word characters.
pub fn valid_access_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}
