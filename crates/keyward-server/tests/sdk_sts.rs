//! Role sessions through the AWS SDK for Rust: STS AssumeRole, temporary credentials used
//! with KMS, policies taking effect, and a session refused once it expires.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_kms::primitives::Blob;
use keyward_core::{Clock, UnixMillis};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;

const USE_FOR_LOADTEST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:LambdaFunctionName":"loadtest"}}}]}"#;

fn kms_as(
    server: &common::Server,
    credentials: &aws_sdk_sts::types::Credentials,
    at: SystemTime,
) -> aws_sdk_kms::Client {
    let session = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_owned()),
        None,
        "sts",
    );
    let config = aws_sdk_kms::config::Builder::from(&server.sdk_config)
        .credentials_provider(session)
        .time_source(aws_smithy_async::time::StaticTimeSource::new(at))
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

fn now(server: &common::Server) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(server.clock.now().0 as u64)
}

fn error_code<E, R>(err: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("not a service error")
        .to_owned()
}

#[tokio::test]
async fn a_role_session_uses_keys_as_its_policy_allows_until_it_expires() {
    let server = common::start().await;
    let (status, body) = server
        .query(
            "iam",
            &[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", "loadtest"),
                ("AssumeRolePolicyDocument", TRUST),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The account root may not assume roles, as in AWS.
    let sts = aws_sdk_sts::Client::new(&server.sdk_config);
    let refused = sts
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/loadtest")
        .role_session_name("run1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDenied")
    );
    let credentials = server
        .assume_role("arn:aws:iam::000000000000:role/loadtest", "run1")
        .await;
    assert!(credentials.access_key_id().starts_with("ASIA"));

    let key = server
        .client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let session = kms_as(&server, &credentials, now(&server));

    // No identity policy yet: the default key policy delegates to IAM, which says no.
    let denied = session
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("student"))
        .encryption_context("LambdaFunctionName", "loadtest")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&denied), "AccessDeniedException");

    let (status, body) = server
        .query(
            "iam",
            &[
                ("Action", "PutRolePolicy"),
                ("Version", "2010-05-08"),
                ("RoleName", "loadtest"),
                ("PolicyName", "use-for-loadtest"),
                ("PolicyDocument", USE_FOR_LOADTEST),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let blob = session
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("student"))
        .encryption_context("LambdaFunctionName", "loadtest")
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let plaintext = session
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("LambdaFunctionName", "loadtest")
        .send()
        .await
        .unwrap();
    assert_eq!(plaintext.plaintext().unwrap().as_ref(), b"student");
    let other = session
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("student"))
        .encryption_context("LambdaFunctionName", "other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&other), "AccessDeniedException");

    // Fifteen minutes and a second later the session is over, whatever it signs.
    server.clock.set(UnixMillis(server.clock.now().0 + 901_000));
    let late = kms_as(&server, &credentials, now(&server));
    let expired = late
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("LambdaFunctionName", "loadtest")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&expired), "ExpiredTokenException");
}

#[tokio::test]
async fn a_tampered_session_token_is_not_recognized() {
    let server = common::start().await;
    let (status, _) = server
        .query(
            "iam",
            &[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", "r"),
                ("AssumeRolePolicyDocument", TRUST),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let original = server
        .assume_role("arn:aws:iam::000000000000:role/r", "s1")
        .await;
    let mut credentials = original.clone();
    let mut token = credentials.session_token().to_owned();
    let flipped = if token.ends_with('A') { 'B' } else { 'A' };
    token.pop();
    token.pop();
    token.push(flipped);
    token.push('=');
    credentials.session_token = token;
    let client = kms_as(&server, &credentials, now(&server));
    let err = client.list_keys().send().await.unwrap_err();
    assert_eq!(error_code(&err), "UnrecognizedClientException");

    // The untampered session works, and says who it is.
    let caller = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&server.sdk_config)
            .credentials_provider(aws_credential_types::Credentials::new(
                original.access_key_id(),
                original.secret_access_key(),
                Some(original.session_token().to_owned()),
                None,
                "sts",
            ))
            .build(),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(
        caller.arn(),
        Some("arn:aws:sts::000000000000:assumed-role/r/s1")
    );
    assert_eq!(caller.account(), Some("000000000000"));
}
