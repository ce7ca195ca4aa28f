//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`: requests
//! signed by AWS's own signer (aws-sigv4), real JSON and Query requests, policies, KMS
//! ciphertext blobs and Encryption SDK messages made with the fuzz targets' fixed keys.
//!
//! cargo run -p keyward-fuzzing --example seeds
//!
//! Blobs and messages carry random salts and ids, so each run writes different bytes for
//! them; run it when a format changes, and commit the result.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a generator fails loudly

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use keyward_esdk::{AlgorithmSuite, CommitmentPolicy, EncryptOptions, EncryptionContext};
use keyward_fuzzing::keys;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    sigv4(&root.join("sigv4"));
    json(&root.join("json"));
    query(&root.join("query"));
    ciphertext(&root.join("ciphertext"));
    policy(&root.join("policy"));
    esdk(&root.join("esdk"));
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
    println!("{}/{name}: {} bytes", dir.display(), data.len());
}

// 2015-08-30T12:36:00Z, the date of AWS's SigV4 test suite.
fn signing_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

struct ToSign<'a> {
    method: &'a str,
    /// Path and query as sent.
    target: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    service: &'a str,
    session_token: Option<&'a str>,
    settings: SigningSettings,
}

/// The request as HTTP/1.1 text, signed by aws-sigv4.
fn signed(req: ToSign<'_>) -> Vec<u8> {
    let identity = aws_credential_types::Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        req.session_token.map(str::to_owned),
        None,
        "keyward-fuzzing seeds",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(req.service)
        .time(signing_time())
        .settings(req.settings)
        .build()
        .unwrap()
        .into();
    let host = req
        .headers
        .iter()
        .find(|(n, _)| *n == "host")
        .map(|(_, v)| *v)
        .unwrap();
    let url = format!("https://{host}{}", req.target);
    let signable = SignableRequest::new(
        req.method,
        &url,
        req.headers.iter().copied(),
        SignableBody::Bytes(req.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder()
        .method(req.method)
        .uri(req.target)
        .body(())
        .unwrap();
    for (name, value) in req.headers {
        request.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    instructions.apply_to_request_http1x(&mut request);
    let mut text = format!(
        "{} {} HTTP/1.1\r\n",
        request.method(),
        request.uri().path_and_query().unwrap()
    );
    for (name, value) in request.headers() {
        text.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    text.push_str("\r\n");
    let mut out = text.into_bytes();
    out.extend_from_slice(req.body);
    out
}

fn sigv4(dir: &Path) {
    let kms_headers = [
        ("host", "kms.us-east-1.amazonaws.com"),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "TrentService.ListKeys"),
    ];
    write(
        dir,
        "kms-list-keys.http",
        &signed(ToSign {
            method: "POST",
            target: "/",
            headers: &kms_headers,
            body: br#"{"Limit":10}"#,
            service: "kms",
            session_token: None,
            settings: SigningSettings::default(),
        }),
    );
    let sm_headers = [
        ("host", "secretsmanager.us-east-1.amazonaws.com"),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "secretsmanager.GetSecretValue"),
    ];
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    write(
        dir,
        "secretsmanager-session-token.http",
        &signed(ToSign {
            method: "POST",
            target: "/",
            headers: &sm_headers,
            body: br#"{"SecretId":"prod/db","VersionStage":"AWSCURRENT"}"#,
            service: "secretsmanager",
            session_token: Some("FwoGZXIvYXdzEXAMPLETOKEN"),
            settings,
        }),
    );
    let sts_headers = [
        ("host", "sts.amazonaws.com"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    write(
        dir,
        "sts-get-caller-identity.http",
        &signed(ToSign {
            method: "POST",
            target: "/",
            headers: &sts_headers,
            body: b"Action=GetCallerIdentity&Version=2011-06-15",
            service: "sts",
            session_token: None,
            settings: SigningSettings::default(),
        }),
    );
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(900));
    write(
        dir,
        "iam-presigned-get.http",
        &signed(ToSign {
            method: "GET",
            target: "/?Action=ListUsers&Version=2010-05-08&PathPrefix=%2Fdevelopers%2F",
            headers: &[("host", "iam.amazonaws.com")],
            body: b"",
            service: "iam",
            session_token: Some("FwoGZXIvYXdzEXAMPLETOKEN"),
            settings,
        }),
    );
    write(
        dir,
        "dot-segments-and-escapes.http",
        &signed(ToSign {
            method: "GET",
            target: "/a/./b/../c%20d/?b=2&a=%7E1&a=0&c",
            headers: &[
                ("host", "kms.us-east-1.amazonaws.com"),
                ("my-header", "  x   y  "),
            ],
            body: b"",
            service: "kms",
            session_token: None,
            settings: SigningSettings::default(),
        }),
    );
    write(
        dir,
        "date-header.http",
        b"POST / HTTP/1.1\r\nHost: kms.us-east-1.amazonaws.com\r\nDate: Sun, 30 Aug 2015 12:36:00 GMT\r\n\
X-Amz-Target: TrentService.ListKeys\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, \
SignedHeaders=date;host;x-amz-target, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\r\n\r\n{}",
    );
    write(
        dir,
        "options-asterisk.http",
        b"OPTIONS * HTTP/1.1\r\nHost: kms.us-east-1.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, \
SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000\r\n\r\n",
    );
}

fn json(dir: &Path) {
    let blob = {
        let material = keys::test_material().unwrap();
        let context = BTreeMap::from([("purpose".to_owned(), "fuzz".to_owned())]);
        keyward_crypto::encrypt(&material, keys::TEST_KEY_ID, 1, &context, b"seed").unwrap()
    };
    let blob = base64_encode(&blob);
    let seeds: [(&str, String); 14] = [
        ("kms-create-key", r#"TrentService.CreateKey
{"Description":"app data","KeyUsage":"ENCRYPT_DECRYPT","KeySpec":"SYMMETRIC_DEFAULT","Tags":[{"TagKey":"team","TagValue":"payments"}],"Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"}"#.into()),
        ("kms-encrypt", r#"TrentService.Encrypt
{"KeyId":"alias/app","Plaintext":"aGVsbG8gd29ybGQ=","EncryptionContext":{"purpose":"fuzz"},"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#.into()),
        ("kms-decrypt", format!("TrentService.Decrypt\n{{\"CiphertextBlob\":\"{blob}\",\"EncryptionContext\":{{\"purpose\":\"fuzz\"}},\"GrantTokens\":[\"token\"]}}")),
        ("kms-generate-data-key", r#"TrentService.GenerateDataKey
{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","KeySpec":"AES_256"}"#.into()),
        ("kms-list-keys", "TrentService.ListKeys\n{\"Limit\":10,\"Marker\":\"abc\"}".into()),
        ("kms-sign", r#"TrentService.Sign
{"KeyId":"alias/signing","Message":"bWVzc2FnZQ==","MessageType":"RAW","SigningAlgorithm":"ECDSA_SHA_256"}"#.into()),
        ("kms-schedule-key-deletion", "TrentService.ScheduleKeyDeletion\n{\"KeyId\":\"alias/old\",\"PendingWindowInDays\":7}".into()),
        ("sm-create-secret", r#"secretsmanager.CreateSecret
{"Name":"prod/db","SecretString":"{\"password\":\"not-a-real-one\"}","ClientRequestToken":"EXAMPLE1-90ab-cdef-fedc-ba987SECRET1","Tags":[{"Key":"env","Value":"prod"}]}"#.into()),
        ("sm-get-secret-value", "secretsmanager.GetSecretValue\n{\"SecretId\":\"prod/db\",\"VersionStage\":\"AWSCURRENT\"}".into()),
        ("sm-update-version-stage", r#"secretsmanager.UpdateSecretVersionStage
{"SecretId":"prod/db","VersionStage":"AWSCURRENT","MoveToVersionId":"EXAMPLE2-90ab-cdef-fedc-ba987SECRET2","RemoveFromVersionId":"EXAMPLE1-90ab-cdef-fedc-ba987SECRET1"}"#.into()),
        ("sm-list-secrets", r#"secretsmanager.ListSecrets
{"MaxResults":5,"Filters":[{"Key":"name","Values":["prod/"]}],"SortOrder":"asc"}"#.into()),
        ("sm-rotate-secret", r#"secretsmanager.RotateSecret
{"SecretId":"prod/db","RotationRules":{"AutomaticallyAfterDays":30},"RotateImmediately":false}"#.into()),
        ("cloudtrail-lookup-events", r#"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents
{"LookupAttributes":[{"AttributeKey":"EventSource","AttributeValue":"kms.amazonaws.com"}],"StartTime":1733356800.25,"EndTime":1.7334432001234567e9,"MaxResults":50}"#.into()),
        // A float that serde_json reads one unit in the last place off without its
        // `float_roundtrip` feature: the bug the JSON target found.
        ("float-round-trip", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents\n{\"StartTime\":1.0715660391465826e-75}".into()),
    ];
    for (name, text) in seeds {
        write(dir, &format!("{name}.json"), text.as_bytes());
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn query(dir: &Path) {
    let policy = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22kms%3ADecrypt%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
    let seeds = [
        ("iam-create-user", "Action=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Fdevelopers%2F".to_owned()),
        ("iam-create-access-key", "Action=CreateAccessKey&Version=2010-05-08&UserName=alice".to_owned()),
        ("iam-put-user-policy", format!("Action=PutUserPolicy&Version=2010-05-08&UserName=alice&PolicyName=decrypt&PolicyDocument={policy}")),
        ("iam-tag-user", "Action=TagUser&Version=2010-05-08&UserName=alice&Tags.member.1.Key=team&Tags.member.1.Value=payments&Tags.member.2.Key=env&Tags.member.2.Value=prod".to_owned()),
        ("iam-create-role", format!("Action=CreateRole&Version=2010-05-08&RoleName=loadtest&AssumeRolePolicyDocument={policy}&MaxSessionDuration=3600")),
        ("iam-list-users", "Action=ListUsers&Version=2010-05-08&MaxItems=10&PathPrefix=%2F".to_owned()),
        ("sts-assume-role", "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Floadtest&RoleSessionName=fuzz&DurationSeconds=900".to_owned()),
        ("sts-get-caller-identity", "Action=GetCallerIdentity&Version=2011-06-15".to_owned()),
        ("sts-get-session-token", "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=3600".to_owned()),
        ("plus-and-escapes", "Action=CreateUser&Version=2010-05-08&UserName=a+b%2Bc".to_owned()),
    ];
    for (name, text) in seeds {
        write(dir, &format!("{name}.form"), text.as_bytes());
    }
}

fn ciphertext(dir: &Path) {
    let material = keys::test_material().unwrap();
    for (name, pairs, plaintext) in [
        ("blob-no-context", vec![], &b"hello world"[..]),
        (
            "blob-purpose-fuzz",
            vec![("purpose", "fuzz")],
            &b"a data key of 32 bytes, nearly.."[..],
        ),
        ("blob-empty-plaintext", vec![], &b""[..]),
    ] {
        let context: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let blob =
            keyward_crypto::encrypt(&material, keys::TEST_KEY_ID, 3, &context, plaintext).unwrap();
        let mut seed = vec![0u8];
        seed.extend_from_slice(&blob);
        write(dir, &format!("{name}.bin"), &seed);
    }
    write(
        dir,
        "round-trip-context.txt",
        b"\x01purpose=fuzz;team=payments\nplaintext bytes",
    );
    write(dir, "round-trip-empty.txt", b"\x03\n");
}

fn policy(dir: &Path) {
    let account = keyward_core::AccountId::parse("111122223333").unwrap();
    let default = keyward_core::policy::default_key_policy(&account);
    let seeds = [
        ("default-key-policy", format!("resource\nkms:Decrypt\narn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\narn:aws:iam::111122223333:root\n\n{default}")),
        ("key-policy-conditions", r#"resource
kms:Decrypt
arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
arn:aws:iam::111122223333:user/alice
kms:ViaService=secretsmanager.us-east-1.amazonaws.com;kms:EncryptionContext:purpose=fuzz;aws:SourceIp=10.1.2.3
{"Version":"2012-10-17","Statement":[{"Sid":"ViaSecrets","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/alice"]},"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"},"StringLike":{"kms:EncryptionContext:purpose":"fu*"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}]}"#.to_owned()),
        ("identity-variables", r#"identity
secretsmanager:GetSecretValue
arn:aws:secretsmanager:us-east-1:111122223333:secret:home/alice/db-AbCdEf
arn:aws:iam::111122223333:user/alice
aws:username=alice;aws:PrincipalTag/team=payments;aws:CurrentTime=2026-12-05T12:00:00Z
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:Get*","Resource":"arn:aws:secretsmanager:*:*:secret:home/${aws:username}/*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:PrincipalTag/team, 'none'}"},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"Null":{"aws:TokenIssueTime":"true"}}},{"Effect":"Deny","NotAction":["secretsmanager:Get*","secretsmanager:Describe*"],"NotResource":"arn:aws:secretsmanager:*:*:secret:home/*"}]}"#.to_owned()),
        ("trust-policy", r#"trust
sts:AssumeRole
arn:aws:iam::111122223333:role/loadtest
lambda.amazonaws.com
sts:ExternalId=fuzz-1
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com","AWS":"111122223333"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"fuzz-1"},"Bool":{"aws:SecureTransport":"true"},"NumericLessThanEquals":{"sts:DurationSeconds":"3600"}}}]}"#.to_owned()),
        ("secret-resource-policy", r#"resource
secretsmanager:GetSecretValue
arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf
arn:aws:sts::111122223333:assumed-role/loadtest/session
secretsmanager:VersionStage=AWSCURRENT
{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"secretsmanager:VersionStage":["AWSCURRENT","AWSPREVIOUS"]},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}}}}"#.to_owned()),
        ("old-version-literal-variables", r#"identity
kms:Encrypt
arn:aws:kms:us-east-1:111122223333:key/${aws:username}
arn:aws:iam::111122223333:user/bob
aws:username=bob
{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/${aws:username}"}]}"#.to_owned()),
    ];
    for (name, text) in seeds {
        write(dir, &format!("{name}.txt"), text.as_bytes());
    }
}

fn esdk(dir: &Path) {
    let keyring = keys::keyring().unwrap();
    let context =
        EncryptionContext::from_pairs([("purpose", "fuzz"), ("dept", "ünïcode ✓")]).unwrap();
    for (suite, frame_length, plaintext) in [
        (
            AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
            4096,
            &b"the default suite"[..],
        ),
        (
            AlgorithmSuite::Aes256GcmHkdfSha512CommitKey,
            16,
            &b"three frames and a final one: 55 bytes of plaintext...."[..],
        ),
        (
            AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
            32,
            &b"message format 1, signed"[..],
        ),
        (AlgorithmSuite::Aes128GcmIv12Tag16HkdfSha256, 8, &b""[..]),
        (
            AlgorithmSuite::Aes256GcmIv12Tag16NoKdf,
            64,
            &b"no key derivation"[..],
        ),
    ] {
        let policy = if suite.is_committing() {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        } else {
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        };
        let options = EncryptOptions {
            suite: Some(suite),
            frame_length,
            commitment_policy: policy,
        };
        let message =
            keyward_esdk::encrypt(&keyring, &options, context.clone(), plaintext, Vec::new())
                .unwrap();
        let mut seed = vec![0u8];
        seed.extend_from_slice(&message);
        write(
            dir,
            &format!("message-{:04x}-frame{frame_length}.bin", suite.id()),
            &seed,
        );
    }
    let mut seed = vec![1u8];
    seed.extend_from_slice(&context.serialize().unwrap());
    write(dir, "context.bin", &seed);
    write(
        dir,
        "round-trip-signed.txt",
        b"\x02\x0a\x0fpurpose=fuzz;team=payments\nplaintext for a round trip",
    );
    write(dir, "round-trip-v1.txt", b"\x05\x03\x00\nsmall frames");
}
