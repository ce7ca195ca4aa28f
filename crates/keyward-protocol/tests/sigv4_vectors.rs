//! AWS's own SigV4 test suite (`sigv4-test-suite/v4`, from aws-c-auth), read from beside the
//! checkout: `../shared/sigv4-test-suite/v4` relative to the workspace root, or the folder
//! named by `KEYWARD_SIGV4_SUITE`. The vectors are not ours to commit, so when the folder is
//! absent this test says it skipped and passes.
//!
//! For every case and for both forms (`header-*` signed with an Authorization header,
//! `query-*` presigned) the signed request is parsed as the server would receive it, and
//! the canonical request, string to sign and signature are compared with AWS's files; then
//! `parse_auth` + `verify` must accept the request at the case's timestamp and refuse it
//! with another secret.
//!
//! Two kinds of case need their context to be read, neither is skipped:
//! - `"normalize": false` cases are signed the S3 way (path not normalized); they are
//!   verified with `verify_with(.., normalize_path = false)`.
//! - `"omit_session_token": true` (post-sts-header-after) adds the session token after
//!   signing: unsigned in the header form, outside the canonical query in the query form.
//!   The query form's canonical request is therefore computed with
//!   `exclude_query_security_token`, which `verify` falls back to by itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails loudly

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};
use keyward_protocol::sigv4::{
    canonical_request_with, parse_auth, signature, signing_key, string_to_sign, verify_with,
    CanonicalOptions, RequestParts, SigV4Error,
};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A raw HTTP/1.1 request as the suite writes it: request line, headers (a line starting
/// with whitespace continues the previous header), blank line, body.
struct RawRequest {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl RawRequest {
    fn parse(text: &str) -> Self {
        let (head, body) = match text.find("\n\n") {
            Some(i) => (&text[..i], &text[i + 2..]),
            None => (text.trim_end_matches('\n'), ""),
        };
        let mut lines = head.lines();
        let request_line = lines.next().expect("request line");
        // The target may contain spaces (get-space-*): method first, version last.
        let (method, rest) = request_line.split_once(' ').expect("method");
        let (target, _version) = rest.rsplit_once(' ').expect("version");
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };

        let mut fields: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // obs-fold: the continuation joins the previous value after one space.
                let last = fields.last_mut().expect("continuation after a header");
                last.1.push(' ');
                last.1.push_str(line.trim());
            } else {
                let (name, value) = line.split_once(':').expect("header line");
                // Like hyper: optional whitespace around the value is not part of it.
                fields.push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
            }
        }
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            );
        }
        Self {
            method: method.to_owned(),
            path,
            query,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }
}

struct Context {
    access_key_id: String,
    secret: String,
    token: Option<String>,
    normalize: bool,
    omit_session_token: bool,
    timestamp: OffsetDateTime,
}

impl Context {
    fn read(dir: &Path) -> Self {
        let json: serde_json::Value = serde_json::from_str(&read(dir, "context.json")).unwrap();
        let credentials = &json["credentials"];
        Self {
            access_key_id: credentials["access_key_id"].as_str().unwrap().to_owned(),
            secret: credentials["secret_access_key"]
                .as_str()
                .unwrap()
                .to_owned(),
            token: credentials["token"].as_str().map(str::to_owned),
            normalize: json["normalize"].as_bool().unwrap_or(true),
            omit_session_token: json["omit_session_token"].as_bool().unwrap_or(false),
            timestamp: OffsetDateTime::parse(json["timestamp"].as_str().unwrap(), &Rfc3339)
                .unwrap(),
        }
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

fn suite_dir() -> PathBuf {
    match std::env::var_os("KEYWARD_SIGV4_SUITE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/sigv4-test-suite/v4"),
    }
}

/// Checks one form (`header` or `query`) of one case; returns what went wrong, if anything.
fn check_form(dir: &Path, form: &str, context: &Context) -> Result<(), String> {
    let raw = RawRequest::parse(&read(dir, &format!("{form}-signed-request.txt")));
    let req = raw.parts();
    let auth = parse_auth(&req).map_err(|e| format!("parse_auth: {e:?}"))?;
    if auth.presigned != (form == "query") {
        return Err(format!("presigned = {}", auth.presigned));
    }
    if auth.access_key_id != context.access_key_id {
        return Err(format!("access key id {}", auth.access_key_id));
    }

    let options = CanonicalOptions {
        normalize_path: context.normalize,
        exclude_query_security_token: form == "query" && context.omit_session_token,
    };
    let canonical = canonical_request_with(&req, &auth.signed_headers, options)
        .map_err(|e| format!("{e:?}"))?;
    let expected = read(dir, &format!("{form}-canonical-request.txt"));
    if canonical != expected {
        return Err(format!(
            "canonical request:\n{canonical}\n--- expected:\n{expected}"
        ));
    }
    let sts = string_to_sign(&auth.amz_date, &auth.scope(), &canonical);
    let expected = read(dir, &format!("{form}-string-to-sign.txt"));
    if sts != expected {
        return Err(format!("string to sign:\n{sts}\n--- expected:\n{expected}"));
    }
    let key = signing_key(&context.secret, &auth.date, &auth.region, &auth.service);
    let sig = signature(&key, &sts);
    let expected = read(dir, &format!("{form}-signature.txt"));
    if sig != expected.trim() || auth.signature != sig {
        return Err(format!(
            "signature {sig}, expected {}, request carries {}",
            expected.trim(),
            auth.signature
        ));
    }

    let verified = verify_with(
        &req,
        &auth,
        &context.secret,
        context.timestamp,
        context.normalize,
    )
    .map_err(|e| format!("verify: {e:?}"))?;
    if verified.access_key_id != context.access_key_id || verified.request_time != context.timestamp
    {
        return Err(format!("verified as {verified:?}"));
    }
    // Whenever the signed request carries the session token, the verifier surfaces it.
    let carried = raw.headers.contains_key("x-amz-security-token")
        || raw
            .query
            .as_deref()
            .is_some_and(|q| q.contains("X-Amz-Security-Token="));
    let want_token = if carried { context.token.clone() } else { None };
    if verified.security_token != want_token {
        return Err(format!(
            "security token {:?}, expected {want_token:?}",
            verified.security_token
        ));
    }
    match verify_with(
        &req,
        &auth,
        "not-the-secret",
        context.timestamp,
        context.normalize,
    ) {
        Err(SigV4Error::SignatureMismatch) => Ok(()),
        other => Err(format!("a wrong secret gave {other:?}")),
    }
}

#[test]
fn aws_sigv4_test_suite() {
    let dir = suite_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("sigv4 test suite skipped: {} is absent", dir.display());
        return;
    };
    let mut cases: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();

    let (mut passed, mut failures) = (0, Vec::new());
    for case in &cases {
        let context = Context::read(case);
        for form in ["header", "query"] {
            if !case.join(format!("{form}-signed-request.txt")).exists() {
                continue;
            }
            let name = format!("{}/{form}", case.file_name().unwrap().to_string_lossy());
            match check_form(case, form, &context) {
                Ok(()) => passed += 1,
                Err(why) => failures.push(format!("{name}: {why}")),
            }
        }
    }
    println!(
        "sigv4 test suite: {passed} passed, {} failed, of {} cases",
        failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(passed > 0, "no vectors found in {}", dir.display());
}
