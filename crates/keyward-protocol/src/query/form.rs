//! `application/x-www-form-urlencoded`, both ways: the request body (or a GET query string)
//! into name–value pairs, and RFC 3986 percent-encoding for the values IAM sends encoded.

use crate::WireError;

/// Splits a form into its name–value pairs, in order: `&` separates pairs, the first `=`
/// separates name from value (a pair without one has an empty value), `+` is a space and `%XX`
/// a byte. Empty pairs (`a=1&&b=2`) are skipped. The decoded bytes must be UTF-8.
pub fn parse_form(form: &[u8]) -> Result<Vec<(String, String)>, WireError> {
    form.split(|byte| *byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|byte| *byte == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

/// The answer to a form that cannot be decoded: a `%` not followed by two hex digits, or bytes
/// that are not UTF-8. AWS documents `MalformedQueryString` with HTTP 404 for this.
pub fn malformed_query_string() -> WireError {
    WireError {
        code: "MalformedQueryString",
        message: "The query string contains a syntax error.".into(),
        status: 404,
    }
}

fn decode(encoded: &[u8]) -> Result<String, WireError> {
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.iter();
    while let Some(&byte) = rest.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = rest.next().and_then(|digit| hex_value(*digit));
                let low = rest.next().and_then(|digit| hex_value(*digit));
                match (high, low) {
                    (Some(high), Some(low)) => bytes.push(high << 4 | low),
                    _ => return Err(malformed_query_string()),
                }
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| malformed_query_string())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 percent-encoding: every byte of the UTF-8 text except the unreserved characters
/// (`A–Z a–z 0–9 - . _ ~`) becomes `%XX`, upper-case hex; a space is `%20`, never `+`.
pub(crate) fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut encoded = String::with_capacity(text.len() * 3);
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    encoded
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs(form: &str) -> Vec<(String, String)> {
        parse_form(form.as_bytes()).unwrap()
    }

    #[test]
    fn decodes_pairs_in_order() {
        assert_eq!(
            pairs(
                "Action=CreateUser&Version=2010-05-08&Path=%2Feng%2F&Tags.member.1.Value=a+b%2Bc"
            ),
            [
                ("Action".into(), "CreateUser".into()),
                ("Version".into(), "2010-05-08".into()),
                ("Path".into(), "/eng/".into()),
                ("Tags.member.1.Value".into(), "a b+c".into()),
            ]
        );
    }

    #[test]
    fn empty_values_and_pairs() {
        assert_eq!(
            pairs("TagKeys=&&flag&x=%e2%82%AC"),
            [
                ("TagKeys".into(), String::new()),
                ("flag".into(), String::new()),
                ("x".into(), "€".into()),
            ]
        );
        assert!(pairs("").is_empty());
        // Only the first `=` separates; the rest belongs to the value.
        assert_eq!(pairs("a=b=c"), [("a".into(), "b=c".into())]);
    }

    #[test]
    fn broken_escapes_and_bytes_are_malformed() {
        for bad in ["a=%", "a=%4", "a=%zz", "a=%C3%28", "%FF=1"] {
            let error = parse_form(bad.as_bytes()).unwrap_err();
            assert_eq!(
                (error.code, error.status),
                ("MalformedQueryString", 404),
                "{bad}"
            );
        }
        assert!(parse_form(b"a=\xff").is_err());
    }

    #[test]
    fn percent_encoding_is_rfc_3986() {
        assert_eq!(
            percent_encode(r#"{"Version": "2012-10-17", "Action": "kms:*"}"#),
            "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Action%22%3A%20%22kms%3A%2A%22%7D"
        );
        assert_eq!(percent_encode("a-b.c_d~e é"), "a-b.c_d~e%20%C3%A9");
        // What is encoded decodes back to the same text.
        let text = "{\"S\": [\"a+b/c?d=e&f\", \"ü\\n\"]}";
        assert_eq!(
            decode(percent_encode(text).as_bytes()).unwrap(),
            text,
            "round trip"
        );
    }
}
