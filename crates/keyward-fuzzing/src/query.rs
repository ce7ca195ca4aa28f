//! The AWS Query codec (IAM, STS): the form-encoded body, the `Action`/`Version` envelope and
//! the model-driven decoders of both services. The input is the body as sent, e.g.
//! `Action=CreateUser&Version=2010-05-08&UserName=alice`. The server chooses IAM or STS by
//! the credential scope, which is not in the body, so every input goes through both.

use keyward_protocol::iam::{self, IamOperation};
use keyward_protocol::query::{parse_form, QueryRequest};
use keyward_protocol::sts::{self, StsOperation};
use keyward_protocol::WireError;

/// Decodes the form as IAM and as STS and checks the codec's properties.
pub fn query(data: &[u8]) {
    let pairs = match parse_form(data) {
        Ok(pairs) => pairs,
        Err(err) => {
            assert_eq!(err.code, "MalformedQueryString");
            assert!(QueryRequest::parse(data).is_err());
            return;
        }
    };
    assert_eq!(
        parse_form(encode_form(&pairs).as_bytes()).ok(),
        Some(pairs.clone())
    );

    let first_action = pairs
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.as_str());
    let request = match QueryRequest::parse(data) {
        Ok(request) => request,
        Err(err) => {
            assert_eq!(err.code, "MissingAction");
            assert!(first_action.is_none_or(str::is_empty));
            return;
        }
    };
    assert_eq!(Some(request.action()), first_action);
    assert!(!request.action().is_empty());
    assert_eq!(request.params(), pairs.as_slice());

    match IamOperation::decode_with_input(&request) {
        Ok((operation, _)) => assert_eq!(operation.name(), request.action()),
        Err(err) => check_refusal(&err, iam::error_body(&err, "fuzz")),
    }
    match StsOperation::decode_with_input(&request) {
        Ok((operation, _)) => assert_eq!(operation.name(), request.action()),
        Err(err) => check_refusal(&err, sts::error_body(&err, "fuzz")),
    }
}

/// A refusal is a client error (MalformedQueryString is AWS's 404), rendered as XML.
fn check_refusal(err: &WireError, body: Vec<u8>) {
    assert!((400..500).contains(&err.status), "{err:?}");
    assert!(body.starts_with(b"<"), "an XML error body");
}

/// The form encoding of pairs: every byte outside the unreserved set as `%XX`.
fn encode_form(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode(&mut out, name);
        out.push('=');
        percent_encode(&mut out, value);
    }
    out
}

fn percent_encode(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}
