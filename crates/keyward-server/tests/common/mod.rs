//! The server in-process for the SDK integration tests: a temporary data directory, a root
//! access key, a `ManualClock` the tests move to run time-based jobs without sleeping.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use keyward_core::{Clock, ManualClock, SystemClock};
use keyward_server::config::{Config, RootAccessKey};

pub const ACCESS_KEY_ID: &str = "AKIAKEYWARDTEST00001";
pub const SECRET: &str = "keyward-integration-test-secret-0000000001";

pub struct Server {
    /// A KMS client for the server.
    pub client: aws_sdk_kms::Client,
    /// Signed with the root access key, in us-east-1, pointed at the server: build any
    /// service's client from it.
    pub sdk_config: aws_config::SdkConfig,
    pub clock: Arc<ManualClock>,
    pub state: keyward_server::AppState,
    /// The server's data directory (its database is `keyward.db` inside).
    pub data_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Server {
    /// Puts the clock back on real time: SigV4 checks each request's time against it.
    pub fn back_to_real_time(&self) {
        self.clock.set(SystemClock.now());
    }
}

pub async fn start() -> Server {
    start_with(|_| {}).await
}

/// As [`start`], with the configuration adjusted first.
pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().join("data"));
    configure(&mut config);
    config.root_access_key = Some(RootAccessKey {
        access_key_id: ACCESS_KEY_ID.into(),
        secret_access_key: SECRET.into(),
    });
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let opened = keyward_server::open_blocking(&config, clock.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = opened.state.clone();
    tokio::spawn(keyward_server::serve(
        listener,
        opened.state,
        Duration::from_secs(3600),
        async {
            let _ = rx.await;
        },
    ));
    let credentials = aws_credential_types::Credentials::from_keys(ACCESS_KEY_ID, SECRET, None);
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(format!("http://{addr}"))
        .load()
        .await;
    Server {
        client: aws_sdk_kms::Client::new(&sdk_config),
        sdk_config,
        clock,
        state,
        data_dir: config.data_dir.clone(),
        _dir: dir,
        shutdown: Some(tx),
    }
}
