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

    /// Runs the background jobs as they would run `days` from the clock's present, then
    /// puts the clock back (requests are signed with the present).
    pub async fn run_jobs_days_later(&self, days: u32) -> keyward_server::jobs::JobReport {
        let now = self.clock.now();
        self.clock.advance_days(days);
        let report = keyward_server::jobs::run_once(&self.state).await.unwrap();
        self.clock.set(now);
        report
    }

    /// A KMS client for the server in another region (multi-Region keys).
    pub fn kms_in(&self, region: &'static str) -> aws_sdk_kms::Client {
        let config = aws_sdk_kms::config::Builder::from(&self.sdk_config)
            .region(aws_config::Region::new(region))
            .build();
        aws_sdk_kms::Client::from_conf(config)
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
    let opened = {
        let (config, clock) = (config.clone(), clock.clone());
        // Blocking work (PostgreSQL's synchronous client must not run on the runtime).
        tokio::task::spawn_blocking(move || keyward_server::open_blocking(&config, clock))
            .await
            .unwrap()
            .unwrap()
    };
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

impl Server {
    /// The server's address, `host:port`.
    pub fn addr(&self) -> String {
        self.sdk_config
            .endpoint_url()
            .unwrap()
            .trim_start_matches("http://")
            .to_owned()
    }

    /// One AWS Query request (IAM, STS) signed with the root key: returns the status and
    /// the XML body. The SDKs for IAM are not among the test dependencies; the Query
    /// protocol is simple enough to speak by hand.
    pub async fn query(&self, service: &str, form: &[(&str, &str)]) -> (u16, String) {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let addr = self.addr();
        let url = format!("http://{addr}/");
        let identity =
            aws_credential_types::Credentials::from_keys(ACCESS_KEY_ID, SECRET, None).into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(service)
            .time(
                std::time::SystemTime::UNIX_EPOCH
                    + Duration::from_millis(self.clock.now().0 as u64),
            )
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers = [
            ("host", addr.as_str()),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ];
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = format!(
            "POST / HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        for (name, value) in instructions.headers() {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of the first `<tag>…</tag>` in an XML body.
pub fn xml_text<'a>(body: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = body.find(&open).unwrap() + open.len();
    let end = start + body[start..].find(&format!("</{tag}>")).unwrap();
    &body[start..end]
}

impl Server {
    /// Assumes `role_arn` as the IAM user `assumer` (created on first use with a policy
    /// allowing `sts:AssumeRole`: the account root may not assume roles, as in AWS) and
    /// returns the session's credentials.
    pub async fn assume_role(
        &self,
        role_arn: &str,
        session: &str,
    ) -> aws_sdk_sts::types::Credentials {
        let (status, _) = self
            .query(
                "iam",
                &[
                    ("Action", "CreateUser"),
                    ("Version", "2010-05-08"),
                    ("UserName", "assumer"),
                ],
            )
            .await;
        assert!(status == 200 || status == 409);
        let (status, body) = self
            .query(
                "iam",
                &[
                    ("Action", "PutUserPolicy"),
                    ("Version", "2010-05-08"),
                    ("UserName", "assumer"),
                    ("PolicyName", "assume"),
                    (
                        "PolicyDocument",
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
                    ),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .query(
                "iam",
                &[
                    ("Action", "CreateAccessKey"),
                    ("Version", "2010-05-08"),
                    ("UserName", "assumer"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let user = aws_credential_types::Credentials::from_keys(
            xml_text(&body, "AccessKeyId"),
            xml_text(&body, "SecretAccessKey"),
            None,
        );
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.sdk_config)
                .credentials_provider(user)
                .build(),
        );
        let assumed = sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session)
            .duration_seconds(900)
            .send()
            .await
            .unwrap();
        // Keep the user's key count under IAM's quota of two for the next call.
        let (status, _) = self
            .query(
                "iam",
                &[
                    ("Action", "DeleteAccessKey"),
                    ("Version", "2010-05-08"),
                    ("UserName", "assumer"),
                    ("AccessKeyId", xml_text(&body, "AccessKeyId")),
                ],
            )
            .await;
        assert_eq!(status, 200);
        assumed.credentials().unwrap().clone()
    }
}
