//! CloudFormation's dynamic references to Secrets Manager, in environment values:
//!
//! `{{resolve:secretsmanager:SECRET-ID[:SecretString[:JSON-KEY[:VERSION-STAGE[:VERSION-ID]]]]}}`
//!
//! SECRET-ID is a secret's name or its ARN (whose own colons are taken as part of it); the
//! optional segments may be empty, and without JSON-KEY the whole SecretString is meant.
//! A reference may sit inside a longer value, as in a CloudFormation string.

const OPEN: &str = "{{resolve:secretsmanager:";
const CLOSE: &str = "}}";
/// The fields of an ARN (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX`).
const ARN_FIELDS: usize = 7;

/// One reference, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub secret_id: String,
    pub json_key: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
}

/// A value cut into literal text and references.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Reference(Reference),
}

/// Does `value` hold anything that looks like a reference (so must be resolved or refused)?
pub fn mentions_reference(value: &str) -> bool {
    value.contains(OPEN)
}

/// Cuts `value` into text and references. Errors describe the reference, never the value.
pub fn parse(value: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find(OPEN) {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let inner_start = start + OPEN.len();
        let Some(length) = rest[inner_start..].find(CLOSE) else {
            return Err("a {{resolve:secretsmanager:…}} reference has no closing }}".to_owned());
        };
        let inner = &rest[inner_start..inner_start + length];
        pieces.push(Piece::Reference(parse_inner(inner)?));
        rest = &rest[inner_start + length + CLOSE.len()..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

fn parse_inner(inner: &str) -> Result<Reference, String> {
    let describe = || format!("{{{{resolve:secretsmanager:{inner}}}}}");
    let fields: Vec<&str> = inner.split(':').collect();
    let id_fields = if inner.starts_with("arn:") {
        if fields.len() < ARN_FIELDS || fields[5] != "secret" {
            return Err(format!("{}: the secret ARN is incomplete", describe()));
        }
        ARN_FIELDS
    } else {
        1
    };
    let secret_id = fields[..id_fields].join(":");
    if secret_id.is_empty() {
        return Err(format!("{}: no secret id", describe()));
    }
    let rest = &fields[id_fields..];
    let optional = |i: usize| {
        rest.get(i)
            .filter(|s| !s.is_empty())
            .map(|s| (*s).to_owned())
    };
    if let Some(kind) = rest.first() {
        if *kind != "SecretString" {
            return Err(format!(
                "{}: the segment after the secret id must be SecretString",
                describe()
            ));
        }
    }
    if rest.len() > 4 {
        return Err(format!("{}: too many segments", describe()));
    }
    let reference = Reference {
        secret_id,
        json_key: optional(1),
        version_stage: optional(2),
        version_id: optional(3),
    };
    if reference.version_stage.is_some() && reference.version_id.is_some() {
        return Err(format!(
            "{}: give a version stage or a version id, not both",
            describe()
        ));
    }
    Ok(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Reference {
        match parse(value).as_deref() {
            Ok([Piece::Reference(r)]) => r.clone(),
            other => panic!("{value}: {other:?}"),
        }
    }

    fn reference(id: &str, key: Option<&str>, stage: Option<&str>, vid: Option<&str>) -> Reference {
        Reference {
            secret_id: id.to_owned(),
            json_key: key.map(str::to_owned),
            version_stage: stage.map(str::to_owned),
            version_id: vid.map(str::to_owned),
        }
    }

    #[test]
    fn whole_secret_by_name() {
        assert_eq!(
            one("{{resolve:secretsmanager:student}}"),
            reference("student", None, None, None)
        );
        assert_eq!(
            one("{{resolve:secretsmanager:student:SecretString}}"),
            reference("student", None, None, None)
        );
        assert_eq!(
            one("{{resolve:secretsmanager:student:SecretString:}}"),
            reference("student", None, None, None)
        );
    }

    #[test]
    fn json_key_stage_and_version() {
        assert_eq!(
            one("{{resolve:secretsmanager:student:SecretString:Password}}"),
            reference("student", Some("Password"), None, None)
        );
        assert_eq!(
            one("{{resolve:secretsmanager:student:SecretString:Password:AWSPREVIOUS}}"),
            reference("student", Some("Password"), Some("AWSPREVIOUS"), None)
        );
        assert_eq!(
            one("{{resolve:secretsmanager:student:SecretString:Password::0123-abcd}}"),
            reference("student", Some("Password"), None, Some("0123-abcd"))
        );
        assert_eq!(
            one("{{resolve:secretsmanager:student:SecretString::AWSPENDING}}"),
            reference("student", None, Some("AWSPENDING"), None)
        );
    }

    #[test]
    fn arns_keep_their_colons() {
        let arn = "arn:aws:secretsmanager:us-west-2:000000000000:secret:student-AbCdEf";
        assert_eq!(
            one(&format!("{{{{resolve:secretsmanager:{arn}}}}}")),
            reference(arn, None, None, None)
        );
        assert_eq!(
            one(&format!(
                "{{{{resolve:secretsmanager:{arn}:SecretString:Password}}}}"
            )),
            reference(arn, Some("Password"), None, None)
        );
        assert!(parse("{{resolve:secretsmanager:arn:aws:secretsmanager:us-west-2}}").is_err());
    }

    #[test]
    fn embedded_references() {
        let pieces =
            parse("postgres://app:{{resolve:secretsmanager:db:SecretString:password}}@db/x")
                .unwrap();
        assert_eq!(
            pieces,
            vec![
                Piece::Text("postgres://app:"),
                Piece::Reference(reference("db", Some("password"), None, None)),
                Piece::Text("@db/x"),
            ]
        );
        let two = parse("{{resolve:secretsmanager:a}}{{resolve:secretsmanager:b}}").unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(parse("plain").unwrap(), vec![Piece::Text("plain")]);
        assert!(parse("").unwrap().is_empty());
        assert!(!mentions_reference("{{resolve:ssm:param}}"));
    }

    #[test]
    fn malformed_references() {
        for bad in [
            "{{resolve:secretsmanager:student",
            "{{resolve:secretsmanager:}}",
            "{{resolve:secretsmanager:student:SecretBinary}}",
            "{{resolve:secretsmanager:student:SecretString:k:AWSCURRENT:v1}}",
            "{{resolve:secretsmanager:student:SecretString:k:s:v:extra}}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
