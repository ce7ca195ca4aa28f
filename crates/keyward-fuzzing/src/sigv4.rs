//! SigV4: the `Authorization` header (or presigned query) parser, the canonical request,
//! the time window and the verifier, on a request given as HTTP/1.1 text:
//!
//! ```text
//! POST /?Action=x HTTP/1.1
//! Host: kms.us-east-1.amazonaws.com
//! X-Amz-Date: 20150830T123600Z
//! Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...
//!
//! body
//! ```
//!
//! The request target goes through `http::Uri` and the headers through `http`'s name and
//! value checks, as hyper does before the server sees a request; what they refuse never
//! reaches the verifier, so it is skipped here too.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use keyward_protocol::sigv4::{
    self, canonical_request, canonical_request_with, signature, signing_key, string_to_sign,
    CanonicalOptions, ParsedAuth, RequestParts, SigV4Error,
};
use time::{Duration, OffsetDateTime};

use crate::input::split_line;

/// The secret every re-signed request is signed with.
const SECRET: &str = "keyward-fuzzing/wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const OTHER_SECRET: &str = "keyward-fuzzing/a-different-secret";

/// Parses the request text and checks every SigV4 property on it.
pub fn sigv4(data: &[u8]) {
    let Some(request) = Request::parse(data) else {
        return;
    };
    let parts = request.parts();
    check_canonical_form(&parts);
    let auth = match sigv4::parse_auth(&parts) {
        Ok(auth) => auth,
        Err(err) => {
            check_rejection(&err);
            return;
        }
    };
    check_parsed(&auth);
    check_time_window(&auth);
    check_resigned(&request, &auth);
}

struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Request {
    fn parse(data: &[u8]) -> Option<Request> {
        let (line, mut rest) = split_line(data);
        let line = line.strip_suffix(b" HTTP/1.1").unwrap_or(line);
        let at = line.iter().position(|b| *b == b' ')?;
        let method = Method::from_bytes(&line[..at]).ok()?;
        let uri = Uri::try_from(&line[at + 1..]).ok()?;
        let mut headers = HeaderMap::new();
        loop {
            let (header, after) = split_line(rest);
            rest = after;
            if header.is_empty() {
                break;
            }
            let Some(colon) = header.iter().position(|b| *b == b':') else {
                continue;
            };
            let value = header[colon + 1..].trim_ascii_start();
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(&header[..colon]),
                HeaderValue::from_bytes(value),
            ) {
                headers.append(name, value);
            }
        }
        Some(Request {
            method,
            uri,
            headers,
            body: rest.to_vec(),
        })
    }

    /// What the server hands the verifier.
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: self.method.as_str(),
            path: self.uri.path(),
            query: self.uri.query(),
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// The canonical request of any request (no signed headers: those are checked on re-signed
/// requests) has its six lines, and the canonical path is encoded and rooted. The one
/// request target without a path is `*` (`OPTIONS * HTTP/1.1`, asterisk-form): it has no
/// segments to normalize, so it is encoded as the single segment it is, `%2A`.
fn check_canonical_form(parts: &RequestParts<'_>) {
    for normalize in [true, false] {
        let canonical = canonical_request(parts, &[], normalize);
        assert!(canonical.is_ok(), "no signed header, nothing to refuse");
        let canonical = canonical.unwrap_or_default();
        let lines: Vec<&str> = canonical.split('\n').collect();
        assert_eq!(lines.len(), 6, "{canonical:?}");
        assert_eq!(lines.first().copied(), Some(parts.method));
        let path = lines.get(1).copied().unwrap_or_default();
        assert!(is_encoded(path, true), "canonical path {path:?}");
        if parts.path == "*" {
            assert_eq!(path, "%2A");
        } else {
            assert!(path.starts_with('/'), "canonical path {path:?}");
        }
        let query = lines.get(2).copied().unwrap_or_default();
        assert!(
            query
                .split('&')
                .all(|pair| pair
                    .split_once('=')
                    .is_some_and(|(k, v)| is_encoded(k, false) && is_encoded(v, false))
                    || pair.is_empty() && query.is_empty()),
            "canonical query {query:?}"
        );
    }
}

/// Only unreserved characters, `%XX` escapes with uppercase hex, and `/` where allowed.
fn is_encoded(text: &str, slash: bool) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let escape = bytes.get(i + 1..i + 3).unwrap_or_default();
            if escape.len() != 2
                || !escape
                    .iter()
                    .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(h))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (slash && b == b'/')) {
            return false;
        }
        i += 1;
    }
    true
}

/// A refusal is a 4xx with AWS's exception names, and a wrong signature never says why.
fn check_rejection(err: &SigV4Error) {
    let wire = err.to_wire();
    assert_eq!(wire.status, 400);
    assert!(matches!(
        wire.code,
        "MissingAuthenticationTokenException"
            | "IncompleteSignatureException"
            | "InvalidSignatureException"
            | "UnrecognizedClientException"
    ));
}

/// What the parser hands back is internally consistent.
fn check_parsed(auth: &ParsedAuth) {
    assert!(auth.signed_headers.iter().any(|h| h == "host"));
    assert!(auth
        .signed_headers
        .iter()
        .all(|h| !h.is_empty() && *h == h.to_ascii_lowercase()));
    assert_eq!(
        auth.scope(),
        format!(
            "{}/{}/{}/aws4_request",
            auth.date, auth.region, auth.service
        )
    );
    assert!(!auth.access_key_id.contains('/'));
    assert_eq!(auth.amz_date, iso_basic(auth.request_time()));
    assert_eq!(auth.amz_date.get(..8), Some(auth.date.as_str()));
}

fn iso_basic(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A request is current at its own time, expired 16 minutes later and not yet current 16
/// minutes earlier (AWS allows 15 either way).
fn check_time_window(auth: &ParsedAuth) {
    let t = auth.request_time();
    assert_eq!(sigv4::check_request_time(auth, t), Ok(t));
    if let Some(later) = t.checked_add(Duration::minutes(16)) {
        assert!(matches!(
            sigv4::check_request_time(auth, later),
            Err(SigV4Error::SignatureExpired { .. })
        ));
    }
    if let Some(earlier) = t.checked_sub(Duration::minutes(16)) {
        assert!(matches!(
            sigv4::check_request_time(auth, earlier),
            Err(SigV4Error::SignatureNotYetCurrent { .. })
        ));
    }
}

/// Signs the request again, as a client holding [`SECRET`] would, with the signature in the
/// place the request had it; the verifier must accept exactly that request, and refuse it
/// under another secret or with another method.
fn check_resigned(request: &Request, auth: &ParsedAuth) {
    // A signature cannot cover the header that carries it.
    if !auth.presigned && auth.signed_headers.iter().any(|h| h == "authorization") {
        return;
    }
    let parts = request.parts();
    let key = signing_key(SECRET, &auth.date, &auth.region, &auth.service);
    let canonical =
        canonical_request_with(&parts, &auth.signed_headers, CanonicalOptions::default());
    let signature = match canonical {
        Ok(canonical) => signature(
            &key,
            &string_to_sign(&auth.amz_date, &auth.scope(), &canonical),
        ),
        Err(err) => {
            // A signed header that is not UTF-8: no signature can match.
            assert!(matches!(err, SigV4Error::InvalidHeaderValue { .. }));
            let verdict = sigv4::verify(&parts, auth, SECRET, auth.request_time());
            assert_eq!(verdict.err(), Some(err));
            return;
        }
    };

    let mut headers = request.headers.clone();
    let query = if auth.presigned {
        // The parser takes the first `X-Amz-Signature`; the canonical query leaves every one out.
        Some(match parts.query {
            Some(query) => format!("X-Amz-Signature={signature}&{query}"),
            None => format!("X-Amz-Signature={signature}"),
        })
    } else {
        let value = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={signature}",
            auth.access_key_id,
            auth.scope(),
            auth.signed_headers.join(";")
        );
        let value = HeaderValue::from_str(&value);
        assert!(value.is_ok(), "re-rendered from a valid header value");
        let Ok(value) = value else { return };
        headers.remove(AUTHORIZATION);
        headers.insert(AUTHORIZATION, value);
        parts.query.map(str::to_owned)
    };
    let resigned = RequestParts {
        headers: &headers,
        query: query.as_deref(),
        ..parts
    };

    let reparsed = sigv4::parse_auth(&resigned);
    assert!(reparsed.is_ok(), "re-signed request: {:?}", reparsed.err());
    let Ok(reparsed) = reparsed else { return };
    assert_eq!(reparsed.signature, signature);
    assert_eq!(reparsed.access_key_id, auth.access_key_id);
    assert_eq!(reparsed.scope(), auth.scope());
    assert_eq!(reparsed.signed_headers, auth.signed_headers);
    assert_eq!(reparsed.amz_date, auth.amz_date);
    assert_eq!(reparsed.request_time(), auth.request_time());
    assert_eq!(reparsed.security_token, auth.security_token);
    assert_eq!(reparsed.presigned, auth.presigned);

    let now = auth.request_time();
    let verified = sigv4::verify(&resigned, &reparsed, SECRET, now);
    assert!(verified.is_ok(), "re-signed request: {:?}", verified.err());
    if let Ok(verified) = verified {
        assert_eq!(verified.access_key_id, auth.access_key_id);
        assert_eq!(verified.region, auth.region);
        assert_eq!(verified.service, auth.service);
        assert_eq!(verified.request_time, now);
        assert_eq!(verified.security_token, auth.security_token);
    }
    assert_eq!(
        sigv4::verify(&resigned, &reparsed, OTHER_SECRET, now).err(),
        Some(SigV4Error::SignatureMismatch)
    );
    let tampered = RequestParts {
        method: if resigned.method == "GET" {
            "PUT"
        } else {
            "GET"
        },
        ..resigned
    };
    assert_eq!(
        sigv4::verify(&tampered, &reparsed, SECRET, now).err(),
        Some(SigV4Error::SignatureMismatch)
    );
}
