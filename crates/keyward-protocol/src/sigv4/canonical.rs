//! The canonical request, the string to sign and the signing key: the pure computations of
//! SigV4, shared by the verifier and by tests that sign.
//!
//! Everything here works on the request as received and never fails on odd input: invalid
//! percent escapes are taken literally, unknown header names are absent headers. The one
//! refusal is a signed header whose value is not UTF-8, which no signer could have hashed
//! the way we would.

use aws_lc_rs::{digest, hmac};
use http::header::{HeaderName, AUTHORIZATION};

use super::{RequestParts, SigV4Error, ALGORITHM};

/// The payload hash a client may send instead of hashing the body.
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const CONTENT_SHA256: &str = "x-amz-content-sha256";
const QUERY_SIGNATURE: &[u8] = b"X-Amz-Signature";
const QUERY_SECURITY_TOKEN: &[u8] = b"X-Amz-Security-Token";

/// How to canonicalize a request, for the variants AWS's signers produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalOptions {
    /// Remove `.`/`..` segments and empty segments from the path, as every AWS service but
    /// S3 does. Either way each path byte outside the unreserved set is percent-encoded once
    /// more, so a path received as `/a%20b` is canonical as `/a%2520b`.
    pub normalize_path: bool,
    /// Leave `X-Amz-Security-Token` out of the canonical query string: some signers add the
    /// session token to a presigned URL after signing it.
    pub exclude_query_security_token: bool,
}

impl Default for CanonicalOptions {
    fn default() -> Self {
        Self {
            normalize_path: true,
            exclude_query_security_token: false,
        }
    }
}

/// The canonical request of `req` for the given signed headers (in any order and case).
/// `X-Amz-Signature` is left out of the query when the request has no `Authorization`
/// header, that is when it is presigned.
pub fn canonical_request(
    req: &RequestParts<'_>,
    signed_headers: &[String],
    normalize_path: bool,
) -> Result<String, SigV4Error> {
    canonical_request_with(
        req,
        signed_headers,
        CanonicalOptions {
            normalize_path,
            ..CanonicalOptions::default()
        },
    )
}

/// [`canonical_request`] with every option spelled out.
pub fn canonical_request_with(
    req: &RequestParts<'_>,
    signed_headers: &[String],
    options: CanonicalOptions,
) -> Result<String, SigV4Error> {
    let presigned = !req.headers.contains_key(AUTHORIZATION);
    let names = sorted_header_names(signed_headers);

    let mut out = String::with_capacity(256 + req.path.len() + req.query.map_or(0, str::len));
    out.push_str(req.method);
    out.push('\n');
    canonical_path(&mut out, req.path, options.normalize_path);
    out.push('\n');
    canonical_query(
        &mut out,
        req.query.unwrap_or(""),
        presigned,
        options.exclude_query_security_token,
    );
    out.push('\n');
    for name in &names {
        out.push_str(name);
        out.push(':');
        canonical_header_value(&mut out, req, name)?;
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(&payload_hash(req, &names));
    Ok(out)
}

/// `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of the canonical request>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signing key: HMAC-SHA256 chained over date, region, service and `aws4_request`,
/// starting from `"AWS4" + secret`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let seed = zeroize::Zeroizing::new(format!("AWS4{secret_access_key}"));
    let k_date = hmac_sha256(seed.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// The lowercase hex signature of a string to sign.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(tag.as_ref()) {
        *o = *b;
    }
    out
}

/// Lowercased, sorted, without duplicates or empty names.
pub(crate) fn sorted_header_names(signed_headers: &[String]) -> Vec<String> {
    let mut names: Vec<String> = signed_headers
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| n.to_ascii_lowercase())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Percent-encodes every byte outside the unreserved set (and `/` if `keep_slash`), with
/// uppercase hex, as AWS's canonical form wants.
fn uri_encode(out: &mut String, bytes: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Decodes `%XX` escapes; a `%` that does not start a valid escape stays a literal `%`.
fn percent_decode(input: &str) -> Vec<u8> {
    fn hex_val(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val);
            let lo = bytes.get(i + 2).copied().and_then(hex_val);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Decoded query parameters in the order received, empty pieces skipped.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            (percent_decode(key), percent_decode(value))
        })
}

/// The path as received (still percent-encoded), normalized like botocore's
/// `remove_dot_segments` if asked, then percent-encoded once more.
fn canonical_path(out: &mut String, path: &str, normalize: bool) {
    if path.is_empty() {
        out.push('/');
        return;
    }
    if !normalize {
        uri_encode(out, path.as_bytes(), true);
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    if path.starts_with('/') {
        out.push('/');
    }
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(out, segment.as_bytes(), false);
    }
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
}

fn canonical_query(out: &mut String, query: &str, presigned: bool, exclude_security_token: bool) {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .filter(|(key, _)| !(presigned && key == QUERY_SIGNATURE))
        .filter(|(key, _)| !(exclude_security_token && key == QUERY_SECURITY_TOKEN))
        .map(|(key, value)| {
            let mut k = String::with_capacity(key.len());
            uri_encode(&mut k, &key, false);
            let mut v = String::with_capacity(value.len());
            uri_encode(&mut v, &value, false);
            (k, v)
        })
        .collect();
    pairs.sort_unstable();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
}

/// All values of one header in the order received, each trimmed with inner runs of
/// whitespace collapsed to one space, joined with `,`. An absent header is an empty value.
fn canonical_header_value(
    out: &mut String,
    req: &RequestParts<'_>,
    name: &str,
) -> Result<(), SigV4Error> {
    let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
        return Ok(());
    };
    for (i, value) in req.headers.get_all(&header).iter().enumerate() {
        let text =
            std::str::from_utf8(value.as_bytes()).map_err(|_| SigV4Error::InvalidHeaderValue {
                name: name.to_owned(),
            })?;
        if i > 0 {
            out.push(',');
        }
        for (j, word) in text
            .split([' ', '\t'])
            .filter(|w| !w.is_empty())
            .enumerate()
        {
            if j > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    Ok(())
}

/// The SHA-256 of the body, unless the client signed `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
/// Any other declared hash is not trusted: a client that declared a hash other than the
/// body's signed a different payload hash than this one and fails verification.
fn payload_hash(req: &RequestParts<'_>, sorted_names: &[String]) -> String {
    let signed = sorted_names
        .binary_search_by(|n| n.as_str().cmp(CONTENT_SHA256))
        .is_ok();
    let declared = req.headers.get(CONTENT_SHA256).map(|v| v.as_bytes());
    if signed && declared == Some(UNSIGNED_PAYLOAD.as_bytes()) {
        UNSIGNED_PAYLOAD.to_owned()
    } else {
        sha256_hex(req.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str, normalize: bool) -> String {
        let mut s = String::new();
        canonical_path(&mut s, p, normalize);
        s
    }

    #[test]
    fn paths_normalize_like_botocore() {
        assert_eq!(path("", true), "/");
        assert_eq!(path("/", true), "/");
        assert_eq!(path("//example//", true), "/example/");
        assert_eq!(path("/example/..", true), "/");
        assert_eq!(path("/a/b/..", true), "/a");
        assert_eq!(path("/../../x", true), "/x");
        assert_eq!(path("/./example", true), "/example");
        assert_eq!(path("//example//", false), "//example//");
    }

    #[test]
    fn paths_are_encoded_once_more() {
        assert_eq!(path("/example space/", true), "/example%20space/");
        assert_eq!(path("/a%20b", true), "/a%2520b");
        assert_eq!(path("/ሴ", true), "/%E1%88%B4");
        assert_eq!(path("/-._~09AZaz", false), "/-._~09AZaz");
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("%41%zz%4"), b"A%zz%4");
        assert_eq!(percent_decode("%"), b"%");
        assert_eq!(percent_decode("%e1%88%B4"), "ሴ".as_bytes());
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        let mut s = String::new();
        canonical_query(&mut s, "b=2&a=2&a=1&c&%7e=x+y&&d=%2f", false, false);
        assert_eq!(s, "a=1&a=2&b=2&c=&d=%2F&~=x%2By");
    }

    #[test]
    fn signing_key_matches_aws_documentation_example() {
        // From AWS's "Examples of how to derive a signing key for Signature Version 4".
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
