#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use super::*;
use http::{HeaderName, HeaderValue};
use proptest::prelude::*;
use time::macros::datetime;

const KEY_ID: &str = "AKIAKEYWARDTEST0001";
const SECRET: &str = "kWcrlUX5JEDGM/LtmEENI/aVmYvHNif5zB+d9+ct";
const NOW: OffsetDateTime = datetime!(2015-08-30 12:36:00 UTC);
const BODY: &[u8] = br#"{"Limit":10}"#;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn parts<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RequestParts<'a> {
    RequestParts {
        method: "POST",
        path: "/",
        query: None,
        headers,
        body,
    }
}

/// A KMS ListKeys request as the SDKs send it, signed with `secret` at `at`; `extra` headers
/// are added (and signed) before signing.
fn signed_kms_request(secret: &str, at: &str, extra: &[(&str, &str)]) -> HeaderMap {
    let mut map = headers(&[
        ("host", "kms.us-east-1.amazonaws.com"),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "TrentService.ListKeys"),
        ("x-amz-date", at),
    ]);
    for (name, value) in extra {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    sign_into(&mut map, secret, &at[..8], BODY);
    map
}

/// Adds the Authorization header a signer would, signing every header present.
fn sign_into(map: &mut HeaderMap, secret: &str, day: &str, body: &[u8]) {
    let mut names: Vec<String> = map.keys().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    let amz_date = map
        .get("x-amz-date")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| {
            date::format_iso_basic(
                date::parse_rfc1123(map.get("date").unwrap().to_str().unwrap()).unwrap(),
            )
        });
    let scope = format!("{day}/us-east-1/kms/aws4_request");
    let canonical = canonical_request(&parts(map, body), &names, true).unwrap();
    let sig = signature(
        &signing_key(secret, day, "us-east-1", "kms"),
        &string_to_sign(&amz_date, &scope, &canonical),
    );
    let auth = format!(
        "{ALGORITHM} Credential={KEY_ID}/{scope}, SignedHeaders={}, Signature={sig}",
        names.join(";")
    );
    map.insert(AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
}

fn check(
    map: &HeaderMap,
    body: &[u8],
    secret: &str,
    now: OffsetDateTime,
) -> Result<VerifiedRequest, SigV4Error> {
    let req = parts(map, body);
    let auth = parse_auth(&req)?;
    verify(&req, &auth, secret, now)
}

fn with_authorization(value: &str, date: Option<&str>) -> HeaderMap {
    let mut map = headers(&[
        ("host", "kms.us-east-1.amazonaws.com"),
        ("authorization", value),
    ]);
    if let Some(date) = date {
        map.insert("x-amz-date", HeaderValue::from_str(date).unwrap());
    }
    map
}

fn parse_err(map: &HeaderMap) -> SigV4Error {
    parse_auth(&parts(map, b"")).unwrap_err()
}

const GOOD_CREDENTIAL: &str = "Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request";

#[test]
fn a_correctly_signed_request_verifies() {
    let map = signed_kms_request(SECRET, "20150830T123600Z", &[]);
    let verified = check(&map, BODY, SECRET, NOW).unwrap();
    assert_eq!(verified.access_key_id, KEY_ID);
    assert_eq!(verified.region, "us-east-1");
    assert_eq!(verified.service, "kms");
    assert_eq!(verified.request_time, NOW);
    assert_eq!(verified.security_token, None);
}

#[test]
fn a_wrong_secret_is_an_invalid_signature() {
    let map = signed_kms_request("not-the-secret", "20150830T123600Z", &[]);
    let err = check(&map, BODY, SECRET, NOW).unwrap_err();
    assert_eq!(err, SigV4Error::SignatureMismatch);
    let wire = err.to_wire();
    assert_eq!(wire.code, "InvalidSignatureException");
    assert_eq!(wire.status, 400);
    assert_eq!(
        wire.message,
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
         Access Key and signing method. Consult the service documentation for details."
    );
}

#[test]
fn an_altered_body_is_an_invalid_signature() {
    let map = signed_kms_request(SECRET, "20150830T123600Z", &[]);
    assert_eq!(
        check(&map, br#"{"Limit":11}"#, SECRET, NOW),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn an_altered_signed_header_is_an_invalid_signature() {
    let mut map = signed_kms_request(SECRET, "20150830T123600Z", &[]);
    map.insert(
        "x-amz-target",
        HeaderValue::from_static("TrentService.ScheduleKeyDeletion"),
    );
    assert_eq!(
        check(&map, BODY, SECRET, NOW),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn unsigned_headers_may_change() {
    let mut map = signed_kms_request(SECRET, "20150830T123600Z", &[]);
    map.insert("user-agent", HeaderValue::from_static("anything"));
    assert!(check(&map, BODY, SECRET, NOW).is_ok());
}

#[test]
fn sixteen_minutes_old_is_expired() {
    let map = signed_kms_request(SECRET, "20150830T122000Z", &[]);
    let err = check(&map, BODY, SECRET, NOW).unwrap_err();
    let wire = err.to_wire();
    assert_eq!(wire.code, "InvalidSignatureException");
    assert_eq!(
        wire.message,
        "Signature expired: 20150830T122000Z is now earlier than 20150830T122100Z (20150830T123600Z - 15 min.)"
    );
}

#[test]
fn sixteen_minutes_ahead_is_not_yet_current() {
    let map = signed_kms_request(SECRET, "20150830T125200Z", &[]);
    let wire = check(&map, BODY, SECRET, NOW).unwrap_err().to_wire();
    assert_eq!(wire.code, "InvalidSignatureException");
    assert_eq!(
        wire.message,
        "Signature not yet current: 20150830T125200Z is still later than 20150830T125100Z (20150830T123600Z + 15 min.)"
    );
}

#[test]
fn fifteen_minutes_either_way_is_accepted() {
    for at in ["20150830T122100Z", "20150830T125100Z"] {
        let map = signed_kms_request(SECRET, at, &[]);
        assert!(check(&map, BODY, SECRET, NOW).is_ok(), "{at}");
    }
    // The server clock's fraction of a second does not push the edge.
    let map = signed_kms_request(SECRET, "20150830T122100Z", &[]);
    assert!(check(&map, BODY, SECRET, NOW + Duration::milliseconds(999)).is_ok());
}

#[test]
fn the_date_header_in_rfc1123_form_is_a_date_source() {
    let mut map = headers(&[
        ("host", "kms.us-east-1.amazonaws.com"),
        ("date", "Sun, 30 Aug 2015 12:36:00 GMT"),
        ("x-amz-target", "TrentService.ListKeys"),
    ]);
    sign_into(&mut map, SECRET, "20150830", BODY);
    let auth = parse_auth(&parts(&map, BODY)).unwrap();
    assert_eq!(auth.amz_date, "20150830T123600Z");
    assert!(verify(&parts(&map, BODY), &auth, SECRET, NOW).is_ok());
}

#[test]
fn x_amz_date_wins_over_date() {
    let map = signed_kms_request(
        SECRET,
        "20150830T123600Z",
        &[("date", "Mon, 31 Aug 2015 00:00:00 GMT")],
    );
    let auth = parse_auth(&parts(&map, BODY)).unwrap();
    assert_eq!(auth.amz_date, "20150830T123600Z");
    assert!(check(&map, BODY, SECRET, NOW).is_ok());
}

#[test]
fn the_session_token_surfaces() {
    let map = signed_kms_request(
        SECRET,
        "20150830T123600Z",
        &[("x-amz-security-token", "FQoGZXIvYXdzEXAMPLE//+=")],
    );
    let verified = check(&map, BODY, SECRET, NOW).unwrap();
    assert_eq!(
        verified.security_token.as_deref(),
        Some("FQoGZXIvYXdzEXAMPLE//+=")
    );
}

#[test]
fn no_authorization_is_a_missing_token() {
    let map = headers(&[
        ("host", "kms.us-east-1.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ]);
    let err = parse_err(&map);
    assert_eq!(err, SigV4Error::MissingAuthenticationToken);
    let wire = err.to_wire();
    assert_eq!(wire.code, "MissingAuthenticationTokenException");
    assert_eq!(wire.message, "Missing Authentication Token");
    // Unrelated query parameters do not make a presigned request.
    let req = RequestParts {
        method: "GET",
        path: "/",
        query: Some("Action=ListKeys"),
        headers: &map,
        body: b"",
    };
    assert_eq!(
        parse_auth(&req),
        Err(SigV4Error::MissingAuthenticationToken)
    );
}

fn incomplete(map: &HeaderMap) -> String {
    match parse_err(map) {
        SigV4Error::IncompleteSignature(message) => {
            let wire = SigV4Error::IncompleteSignature(message.clone()).to_wire();
            assert_eq!(wire.code, "IncompleteSignatureException");
            message
        }
        other => panic!("expected IncompleteSignature, got {other:?}"),
    }
}

#[test]
fn missing_parameters_are_listed_like_aws() {
    assert_eq!(
        incomplete(&with_authorization("AWS4-HMAC-SHA256", None)),
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' \
         parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires \
         existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256"
    );
    let signed = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, Signature=0123456789abcdef";
    let message = incomplete(&with_authorization(signed, Some("20150830T123600Z")));
    assert_eq!(
        message,
        "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256"
    );
    assert!(
        !message.contains("0123456789abcdef"),
        "the signature is never echoed"
    );
}

#[test]
fn a_pair_without_equal_sign_is_incomplete() {
    let value = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE /20150830/us-east-1/kms/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc";
    assert_eq!(
        incomplete(&with_authorization(value, Some("20150830T123600Z"))),
        "'/20150830/us-east-1/kms/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header."
    );
}

#[test]
fn an_unsupported_algorithm_is_incomplete() {
    let value =
        format!("AWS4-HMAC-SHA512 {GOOD_CREDENTIAL}, SignedHeaders=host;x-amz-date, Signature=abc");
    assert_eq!(
        incomplete(&with_authorization(&value, Some("20150830T123600Z"))),
        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now)."
    );
}

#[test]
fn a_malformed_date_is_incomplete() {
    let value =
        format!("AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, SignedHeaders=host;x-amz-date, Signature=abc");
    assert_eq!(
        incomplete(&with_authorization(&value, Some("2015-08-30T12:36:00Z"))),
        "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"
    );
}

#[test]
fn a_credential_of_the_wrong_shape_is_incomplete() {
    let value = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms, SignedHeaders=host;x-amz-date, \
                 Signature=abc";
    assert_eq!(
        incomplete(&with_authorization(value, Some("20150830T123600Z"))),
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got \
         'AKIDEXAMPLE/20150830/us-east-1/kms'"
    );
}

#[test]
fn a_wrong_scope_is_an_invalid_signature_naming_every_problem() {
    let value = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/Not_A_Region/kms/aws5_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc";
    let err = parse_err(&with_authorization(value, Some("20150830T123600Z")));
    let wire = err.to_wire();
    assert_eq!(wire.code, "InvalidSignatureException");
    assert_eq!(
        wire.message,
        "Credential should be scoped to a valid region, not 'Not_A_Region'. Credential should be scoped with a \
         valid terminator: 'aws4_request', not 'aws5_request'. Date in Credential scope does not match YYYYMMDD \
         from ISO-8601 version of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'."
    );
}

#[test]
fn host_and_x_amz_date_must_be_signed() {
    let value =
        format!("AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, SignedHeaders=x-amz-date, Signature=abc");
    let wire = parse_err(&with_authorization(&value, Some("20150830T123600Z"))).to_wire();
    assert_eq!(wire.code, "InvalidSignatureException");
    assert_eq!(
        wire.message,
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );

    let value = format!("AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, SignedHeaders=host, Signature=abc");
    let wire = parse_err(&with_authorization(&value, Some("20150830T123600Z"))).to_wire();
    assert_eq!(wire.code, "InvalidSignatureException");
    assert_eq!(
        wire.message,
        "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."
    );
}

#[test]
fn unknown_access_key_has_the_aws_wire_form() {
    let wire = SigV4Error::UnknownAccessKey.to_wire();
    assert_eq!(wire.code, "UnrecognizedClientException");
    assert_eq!(
        wire.message,
        "The security token included in the request is invalid."
    );
    assert_eq!(wire.status, 400);
}

#[test]
fn unsigned_payload_counts_only_when_signed() {
    let mut map = signed_kms_request(
        SECRET,
        "20150830T123600Z",
        &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
    );
    // Signed: the body is not covered, so any body verifies.
    assert!(check(&map, b"anything", SECRET, NOW).is_ok());
    // Not signed: the header is ignored and the body is hashed.
    map.remove(AUTHORIZATION);
    map.remove("x-amz-content-sha256");
    sign_into(&mut map, SECRET, "20150830", BODY);
    map.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    assert!(check(&map, BODY, SECRET, NOW).is_ok());
    assert_eq!(
        check(&map, b"anything", SECRET, NOW),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn a_declared_payload_hash_other_than_the_bodys_fails() {
    // A signer that trusts its own x-amz-content-sha256 (as botocore does) signs that hash;
    // the verifier hashes the body it received instead.
    let forged = sha256_hex(b"something else");
    let mut map = headers(&[
        ("host", "kms.us-east-1.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
        ("x-amz-content-sha256", &forged),
    ]);
    let names = [
        "host".to_owned(),
        "x-amz-content-sha256".to_owned(),
        "x-amz-date".to_owned(),
    ];
    let canonical = canonical_request(&parts(&map, b"something else"), &names, true).unwrap();
    assert!(canonical.ends_with(&forged));
    let scope = "20150830/us-east-1/kms/aws4_request";
    let sig = signature(
        &signing_key(SECRET, "20150830", "us-east-1", "kms"),
        &string_to_sign("20150830T123600Z", scope, &canonical),
    );
    let auth = format!(
        "{ALGORITHM} Credential={KEY_ID}/{scope}, SignedHeaders={}, Signature={sig}",
        names.join(";")
    );
    map.insert(AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
    assert!(check(&map, b"something else", SECRET, NOW).is_ok());
    assert_eq!(
        check(&map, BODY, SECRET, NOW),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn a_signed_header_that_is_not_utf8_is_an_invalid_signature() {
    let mut map = signed_kms_request(SECRET, "20150830T123600Z", &[]);
    let value = HeaderValue::from_bytes(b"caf\xe9").unwrap();
    map.insert("x-amz-target", value);
    let err = check(&map, BODY, SECRET, NOW).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::InvalidHeaderValue {
            name: "x-amz-target".into()
        }
    );
    assert_eq!(err.to_wire(), SigV4Error::SignatureMismatch.to_wire());
}

fn presign(query_without_signature: &str, map: &HeaderMap, secret: &str) -> String {
    let req = RequestParts {
        method: "GET",
        path: "/",
        query: Some(query_without_signature),
        headers: map,
        body: b"",
    };
    let canonical = canonical_request(&req, &["host".to_owned()], true).unwrap();
    let sts = string_to_sign(
        "20150830T123600Z",
        "20150830/us-east-1/kms/aws4_request",
        &canonical,
    );
    let sig = signature(&signing_key(secret, "20150830", "us-east-1", "kms"), &sts);
    format!("{query_without_signature}&X-Amz-Signature={sig}")
}

const PRESIGNED: &str = "Action=ListKeys&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAKEYWARDTEST0001%2F20150830\
     %2Fus-east-1%2Fkms%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host";

#[test]
fn a_presigned_request_verifies_until_it_expires() {
    let map = headers(&[("host", "kms.us-east-1.amazonaws.com")]);
    let query = presign(PRESIGNED, &map, SECRET);
    let req = RequestParts {
        method: "GET",
        path: "/",
        query: Some(&query),
        headers: &map,
        body: b"",
    };
    let auth = parse_auth(&req).unwrap();
    assert!(auth.presigned);
    assert_eq!(auth.access_key_id, KEY_ID);
    assert!(verify(&req, &auth, SECRET, NOW).is_ok());
    assert!(verify(&req, &auth, SECRET, NOW + Duration::seconds(300)).is_ok());
    let wire = verify(&req, &auth, SECRET, NOW + Duration::seconds(301))
        .unwrap_err()
        .to_wire();
    assert_eq!(wire.code, "InvalidSignatureException");
    assert_eq!(
        wire.message,
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 300 sec.)"
    );
    assert_eq!(
        verify(&req, &auth, "wrong", NOW),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn presigned_parameters_are_checked() {
    let map = headers(&[("host", "kms.us-east-1.amazonaws.com")]);
    let req = RequestParts {
        method: "GET",
        path: "/",
        query: Some("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-SignedHeaders=host"),
        headers: &map,
        body: b"",
    };
    assert_eq!(
        parse_auth(&req),
        Err(SigV4Error::IncompleteSignature(
            "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must \
             include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the \
             query-string parameters."
                .into()
        ))
    );
    let too_long =
        PRESIGNED.replace("X-Amz-Expires=300", "X-Amz-Expires=604801") + "&X-Amz-Signature=abc";
    let req = RequestParts {
        query: Some(&too_long),
        ..req
    };
    assert_eq!(
        parse_auth(&req),
        Err(SigV4Error::IncompleteSignature(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800".into()
        ))
    );
}

/// Golden vectors from botocore 1.x `SigV4Auth` (the aws CLI's and boto3's signer) for fixed
/// credentials and time, produced with `mock.patch.object(botocore.auth, 'get_current_datetime')`.
#[test]
fn botocore_signed_kms_request_verifies() {
    let map = headers(&[
        ("host", "kms.eu-west-1.amazonaws.com"),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "TrentService.ListKeys"),
        ("user-agent", "aws-cli/2.15.0 Python/3.11.7"),
        ("x-amz-date", "20240517T093015Z"),
        ("x-amz-security-token", "FQoGZXIvYXdzEXAMPLETOKEN//+="),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAKEYWARDTEST0001/20240517/eu-west-1/kms/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
             Signature=a7b798dbabced47f723f2a2903fd026ba9db41c6434b0aab9b9d196127adbcd3",
        ),
        ("content-length", "12"),
    ]);
    let now = datetime!(2024-05-17 09:31:00 UTC);
    let verified = check(&map, BODY, SECRET, now).unwrap();
    assert_eq!(verified.region, "eu-west-1");
    assert_eq!(verified.service, "kms");
    assert_eq!(
        verified.security_token.as_deref(),
        Some("FQoGZXIvYXdzEXAMPLETOKEN//+=")
    );
    assert_eq!(
        check(&map, b"{\"Limit\":1}", SECRET, now),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn botocore_presigned_url_verifies() {
    let map = headers(&[("host", "kms.eu-west-1.amazonaws.com")]);
    let query = "Action=ListKeys&Version=2014-11-01&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=\
                 AKIAKEYWARDTEST0001%2F20240517%2Feu-west-1%2Fkms%2Faws4_request&X-Amz-Date=20240517T093015Z&\
                 X-Amz-Expires=300&X-Amz-SignedHeaders=host&\
                 X-Amz-Signature=a4e9b2f305ef27cd4d94140b2707043c87bf1ac7ea5b1009d05c3ed4ad4cb13a";
    let req = RequestParts {
        method: "GET",
        path: "/",
        query: Some(query),
        headers: &map,
        body: b"",
    };
    let auth = parse_auth(&req).unwrap();
    assert!(verify(&req, &auth, SECRET, datetime!(2024-05-17 09:31:00 UTC)).is_ok());
}

/// botocore percent-encodes the path it sends once more for the canonical request.
#[test]
fn botocore_double_encoded_path_verifies() {
    let map = headers(&[
        ("host", "lambda.us-east-1.amazonaws.com"),
        ("x-amz-date", "20240517T093015Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAKEYWARDTEST0001/20240517/us-east-1/lambda/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=12a67bd43e32be2e29c41a20191ba7ba657ce37688be869cb909c782fe4a11db",
        ),
    ]);
    let req = RequestParts {
        method: "POST",
        path: "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Amy-fn/invocations",
        query: Some("Qualifier=%24LATEST"),
        headers: &map,
        body: b"{}",
    };
    let auth = parse_auth(&req).unwrap();
    assert!(verify(&req, &auth, SECRET, datetime!(2024-05-17 09:31:00 UTC)).is_ok());
}

fn header_map_from(raw: &[(Vec<u8>, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in raw {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_and_canonicalizing_never_panic(
        authorization in prop_oneof![
            any::<Vec<u8>>(),
            "AWS4-HMAC-SHA256 ([A-Za-z]{0,12}=[ -~]{0,40}[, ]{0,2}){0,5}".prop_map(String::into_bytes),
        ],
        date in prop_oneof![any::<Vec<u8>>(), "[0-9]{8}T[0-9]{6}Z".prop_map(String::into_bytes)],
        extra in proptest::collection::vec((any::<Vec<u8>>(), any::<Vec<u8>>()), 0..4),
        signed in proptest::collection::vec("[ -~]{0,12}", 0..6),
        path in any::<String>(),
        query in proptest::option::of("([%A-Za-z0-9=&+ ~\\-]|%[0-9A-Fa-f]{0,2}|\\PC){0,60}"),
        body in any::<Vec<u8>>(),
        normalize in any::<bool>(),
    ) {
        let mut raw = extra;
        raw.push((b"authorization".to_vec(), authorization));
        raw.push((b"x-amz-date".to_vec(), date));
        raw.push((b"host".to_vec(), b"example.com".to_vec()));
        let map = header_map_from(&raw);
        let req = RequestParts { method: "POST", path: &path, query: query.as_deref(), headers: &map, body: &body };
        if let Ok(auth) = parse_auth(&req) {
            let _ = verify(&req, &auth, SECRET, NOW);
        }
        let _ = canonical_request(&req, &signed, normalize);
        let without_auth = header_map_from(&raw[..raw.len() - 3]);
        let req = RequestParts { headers: &without_auth, ..req };
        let _ = parse_auth(&req);
        let _ = canonical_request(&req, &signed, normalize);
    }
}
