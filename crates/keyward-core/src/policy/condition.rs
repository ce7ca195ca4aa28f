//! The `Condition` element: operators, the request's condition keys, and how the two
//! compare.
//!
//! How a key is matched, for one operator and one key:
//! - The policy's values for the key are alternatives: one matching is enough (OR).
//! - Absent key (or one with no values): `...IfExists` is true; `ForAllValues:` is true
//!   (vacuously); `ForAnyValue:` is false; otherwise a negated operator
//!   (`StringNotEquals`, `NotIpAddress`, ...) is true and a positive one false.
//! - `ForAnyValue:`: some request value matches (negated: some request value matches
//!   none of the policy's values). `ForAllValues:`: every request value does.
//! - No qualifier: a positive operator is true when some request value matches (the same
//!   as `ForAnyValue:` on a multi-valued key); a negated one is true when no request
//!   value matches, i.e. exactly the negation of its positive twin.
//!
//! Policy values are checked when the document is parsed (a `NumericEquals` value must
//! be a number, an `IpAddress` value an address or CIDR block); a request value that
//! cannot be read as the operator's type matches no policy value.
//!
//! In a `2012-10-17` document the values of the string and ARN operators may hold policy
//! variables (see `variables`); those values are kept apart from the plain ones and
//! filled in once per evaluation. A value whose variable has no value matches no request
//! value.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::document::{malformed, PolicyError};
use super::pattern::{arn_match, arn_tokens_match, tokens_match, wildcard_match, Token};
use super::variables::Template;

/// The request's condition context. Key names are case-insensitive; each key has a list
/// of values (one for a single-valued key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionKeys {
    /// Keyed by the ASCII-lowercased name.
    values: BTreeMap<String, Vec<String>>,
}

impl ConditionKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to the single value `value`, replacing what it had.
    pub fn insert(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.values
            .insert(name.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    /// Sets the multi-valued key `name` to `values`, replacing what it had.
    pub fn insert_many<I, S>(&mut self, name: &str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.values.insert(
            name.to_ascii_lowercase(),
            values.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// `aws:RequestTag/<key>` for each tag a request sets, and `aws:TagKeys`.
    pub fn insert_request_tags<'a>(
        &mut self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> &mut Self {
        let mut names = Vec::new();
        for (key, value) in tags {
            self.insert(&format!("aws:RequestTag/{key}"), value);
            names.push(key.to_owned());
        }
        self.insert_many("aws:TagKeys", names)
    }

    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.get_lowercase(&name.to_ascii_lowercase())
    }

    pub(super) fn get_lowercase(&self, name: &str) -> Option<&[String]> {
        self.values.get(name).map(Vec::as_slice)
    }
}

/// One operator applied to one key, with its policy values compiled.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Condition {
    /// ASCII-lowercased.
    key: String,
    test: Test,
    /// The policy values with variables, for the string and ARN operators; the others
    /// are in `test`.
    templates: Vec<Template>,
    negated: bool,
    if_exists: bool,
    set: SetQualifier,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// The operator families, before their values are compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric(Comparison),
    Date(Comparison),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// A family with the policy's values for one key, in the form the comparison needs.
#[derive(Debug, Clone, PartialEq)]
enum Test {
    String(Vec<String>),
    /// Values already lowercased.
    StringIgnoreCase(Vec<String>),
    StringLike(Vec<String>),
    Numeric(Comparison, Vec<f64>),
    /// Unix nanoseconds.
    Date(Comparison, Vec<i128>),
    Bool(Vec<bool>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<IpNet>),
    Arn(Vec<String>),
    /// `true`: the key must be absent.
    Null(Vec<bool>),
}

/// Operator names as AWS spells them (case-sensitive), with their family and whether
/// they are the negated form.
const OPERATORS: &[(&str, Family, bool)] = &[
    ("StringEquals", Family::String, false),
    ("StringNotEquals", Family::String, true),
    ("StringEqualsIgnoreCase", Family::StringIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Family::StringIgnoreCase, true),
    ("StringLike", Family::StringLike, false),
    ("StringNotLike", Family::StringLike, true),
    ("NumericEquals", Family::Numeric(Comparison::Equal), false),
    ("NumericNotEquals", Family::Numeric(Comparison::Equal), true),
    ("NumericLessThan", Family::Numeric(Comparison::Less), false),
    (
        "NumericLessThanEquals",
        Family::Numeric(Comparison::LessOrEqual),
        false,
    ),
    (
        "NumericGreaterThan",
        Family::Numeric(Comparison::Greater),
        false,
    ),
    (
        "NumericGreaterThanEquals",
        Family::Numeric(Comparison::GreaterOrEqual),
        false,
    ),
    ("DateEquals", Family::Date(Comparison::Equal), false),
    ("DateNotEquals", Family::Date(Comparison::Equal), true),
    ("DateLessThan", Family::Date(Comparison::Less), false),
    (
        "DateLessThanEquals",
        Family::Date(Comparison::LessOrEqual),
        false,
    ),
    ("DateGreaterThan", Family::Date(Comparison::Greater), false),
    (
        "DateGreaterThanEquals",
        Family::Date(Comparison::GreaterOrEqual),
        false,
    ),
    ("Bool", Family::Bool, false),
    ("BinaryEquals", Family::Binary, false),
    ("IpAddress", Family::Ip, false),
    ("NotIpAddress", Family::Ip, true),
    // AWS documents ArnEquals and ArnLike as the same test, wildcards included.
    ("ArnEquals", Family::Arn, false),
    ("ArnLike", Family::Arn, false),
    ("ArnNotEquals", Family::Arn, true),
    ("ArnNotLike", Family::Arn, true),
    ("Null", Family::Null, false),
];

/// Parses a whole `Condition` element: `{"Operator": {"key": value-or-list}}`, reading
/// policy variables in the values when the document has them (`variables`).
pub(super) fn parse_conditions(
    value: &Value,
    variables: bool,
) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = value else {
        return Err(malformed(
            "Syntax errors in policy. Condition must be an object of operators",
        ));
    };
    let mut conditions = Vec::new();
    for (operator, keys) in operators {
        let (family, negated, if_exists, set) = parse_operator(operator).ok_or_else(|| {
            malformed(format!(
                "Syntax errors in policy. Invalid condition operator {operator}"
            ))
        })?;
        let Value::Object(keys) = keys else {
            return Err(malformed(format!(
                "Syntax errors in policy. Condition {operator} must be an object of condition keys"
            )));
        };
        for (key, values) in keys {
            check_key_name(key)?;
            let mut values = condition_values(operator, values)?;
            let mut templates = Vec::new();
            if variables && family.takes_variables() {
                let mut plain = Vec::with_capacity(values.len());
                for value in values {
                    match Template::parse(&value)? {
                        Some(template) => templates.push(template),
                        None => plain.push(value),
                    }
                }
                values = plain;
            }
            conditions.push(Condition {
                key: key.to_ascii_lowercase(),
                test: compile(family, operator, &values)?,
                templates,
                negated,
                if_exists,
                set,
            });
        }
    }
    Ok(conditions)
}

impl Family {
    /// The string and ARN operators, whose values may hold policy variables.
    fn takes_variables(self) -> bool {
        matches!(
            self,
            Family::String | Family::StringIgnoreCase | Family::StringLike | Family::Arn
        )
    }
}

/// `[ForAnyValue:|ForAllValues:]Name[IfExists]`; `Null` takes no `IfExists`.
fn parse_operator(name: &str) -> Option<(Family, bool, bool, SetQualifier)> {
    let (set, rest) = match name.split_once(':') {
        Some(("ForAnyValue", rest)) => (SetQualifier::ForAnyValue, rest),
        Some(("ForAllValues", rest)) => (SetQualifier::ForAllValues, rest),
        Some(_) => return None,
        None => (SetQualifier::Single, name),
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let &(_, family, negated) = OPERATORS.iter().find(|(n, _, _)| *n == base)?;
    if family == Family::Null && if_exists {
        return None;
    }
    Some((family, negated, if_exists, set))
}

/// Condition keys are `vendor:name` (`aws:SourceIp`, `kms:EncryptionContext:Purpose`).
fn check_key_name(key: &str) -> Result<(), PolicyError> {
    match key.split_once(':') {
        Some((vendor, name)) if !vendor.is_empty() && !name.is_empty() => Ok(()),
        _ => Err(malformed(format!(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. Invalid condition key {key}"
        ))),
    }
}

/// A condition value may be a string, a number or a boolean, or a list of them; all are
/// compared as their text.
fn condition_values(operator: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(malformed(format!(
            "Syntax errors in policy. Invalid value {other} for condition {operator}"
        ))),
    };
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

fn compile(family: Family, operator: &str, values: &[String]) -> Result<Test, PolicyError> {
    fn each<T>(
        values: &[String],
        operator: &str,
        read: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<T>, PolicyError> {
        values
            .iter()
            .map(|v| {
                read(v).ok_or_else(|| {
                    malformed(format!(
                        "Syntax errors in policy. Invalid value {v} for condition {operator}"
                    ))
                })
            })
            .collect()
    }
    Ok(match family {
        Family::String => Test::String(values.to_vec()),
        Family::StringIgnoreCase => {
            Test::StringIgnoreCase(values.iter().map(|v| v.to_lowercase()).collect())
        }
        Family::StringLike => Test::StringLike(values.to_vec()),
        Family::Numeric(cmp) => Test::Numeric(cmp, each(values, operator, parse_number)?),
        Family::Date(cmp) => Test::Date(cmp, each(values, operator, parse_date)?),
        Family::Bool => Test::Bool(each(values, operator, parse_bool)?),
        Family::Binary => Test::Binary(each(values, operator, decode_base64)?),
        Family::Ip => Test::Ip(each(values, operator, IpNet::parse)?),
        Family::Arn => Test::Arn(values.to_vec()),
        Family::Null => Test::Null(each(values, operator, parse_bool)?),
    })
}

impl Condition {
    pub(super) fn evaluate(&self, keys: &ConditionKeys) -> bool {
        let present = keys
            .get_lowercase(&self.key)
            .filter(|values| !values.is_empty());
        if let Test::Null(expected) = &self.test {
            return expected.iter().any(|&absent| absent == present.is_none());
        }
        let Some(request_values) = present else {
            return match self.set {
                _ if self.if_exists => true,
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => false,
                SetQualifier::Single => self.negated,
            };
        };
        // The values with variables, filled in once for all the request values; one
        // whose variable has no value drops out, matching nothing.
        let filled: Vec<Filled> = self
            .templates
            .iter()
            .filter_map(|t| self.test.fill(t, keys))
            .collect();
        let matches = |value: &String| {
            self.test.matches(value) || filled.iter().any(|f| self.test.matches_filled(f, value))
        };
        // For a negated operator, a request value "passes" when it matches none of the
        // policy's values.
        let passes = |value: &String| matches(value) != self.negated;
        match self.set {
            SetQualifier::ForAnyValue => request_values.iter().any(passes),
            SetQualifier::ForAllValues => request_values.iter().all(passes),
            SetQualifier::Single => request_values.iter().any(&matches) != self.negated,
        }
    }
}

/// A policy value with variables, filled in for one request in the form its operator
/// compares.
enum Filled {
    /// For the equality operators; lowercased for the `IgnoreCase` ones.
    Text(String),
    /// For `StringLike` and the ARN operators: only the policy's own `*` and `?` are
    /// wildcards.
    Pattern(Vec<Token>),
}

impl Test {
    /// Fills in `template` for this operator; `None` when a variable has no value.
    fn fill(&self, template: &Template, keys: &ConditionKeys) -> Option<Filled> {
        match self {
            Test::String(_) => template.fill_text(keys).map(Filled::Text),
            Test::StringIgnoreCase(_) => template
                .fill_text(keys)
                .map(|text| Filled::Text(text.to_lowercase())),
            Test::StringLike(_) | Test::Arn(_) => template.fill_pattern(keys).map(Filled::Pattern),
            // Other operators take no variables, so have no templates.
            _ => None,
        }
    }

    /// Whether one request value matches a filled-in policy value.
    fn matches_filled(&self, filled: &Filled, value: &str) -> bool {
        match (self, filled) {
            (Test::String(_), Filled::Text(expected)) => expected == value,
            (Test::StringIgnoreCase(_), Filled::Text(expected)) => value
                .chars()
                .flat_map(char::to_lowercase)
                .eq(expected.chars()),
            (Test::StringLike(_), Filled::Pattern(pattern)) => tokens_match(pattern, value, false),
            (Test::Arn(_), Filled::Pattern(pattern)) => arn_tokens_match(pattern, value),
            _ => false,
        }
    }

    /// Whether one request value matches any of the policy's values.
    fn matches(&self, value: &str) -> bool {
        match self {
            Test::String(expected) => expected.iter().any(|e| e == value),
            Test::StringIgnoreCase(expected) => expected
                .iter()
                .any(|e| value.chars().flat_map(char::to_lowercase).eq(e.chars())),
            Test::StringLike(patterns) => patterns.iter().any(|p| wildcard_match(p, value, false)),
            Test::Numeric(cmp, expected) => parse_number(value)
                .is_some_and(|v| expected.iter().any(|e| cmp.holds(v.partial_cmp(e)))),
            Test::Date(cmp, expected) => parse_date(value)
                .is_some_and(|v| expected.iter().any(|e| cmp.holds(Some(v.cmp(e))))),
            Test::Bool(expected) => parse_bool(value).is_some_and(|v| expected.contains(&v)),
            Test::Binary(expected) => decode_base64(value).is_some_and(|v| expected.contains(&v)),
            Test::Ip(networks) => value
                .parse::<IpAddr>()
                .is_ok_and(|ip| networks.iter().any(|n| n.contains(ip))),
            Test::Arn(patterns) => patterns.iter().any(|p| arn_match(p, value)),
            // Decided on presence alone, in `Condition::evaluate`.
            Test::Null(_) => false,
        }
    }
}

impl Comparison {
    /// Whether `request <op> policy` holds, given how the request value orders against
    /// the policy value.
    fn holds(self, order: Option<std::cmp::Ordering>) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        matches!(
            (self, order),
            (Comparison::Equal, Some(Equal))
                | (Comparison::Less, Some(Less))
                | (Comparison::LessOrEqual, Some(Less | Equal))
                | (Comparison::Greater, Some(Greater))
                | (Comparison::GreaterOrEqual, Some(Greater | Equal))
        )
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A date as Unix nanoseconds: ISO 8601 (`2024-01-31T12:00:00Z`, with an offset, without
/// one meaning UTC, or a bare date meaning midnight UTC) or whole epoch seconds, the two
/// forms AWS accepts.
fn parse_date(s: &str) -> Option<i128> {
    // Digits alone are epoch seconds, before ISO 8601's basic format (`20240131`) can
    // claim them.
    if !s.is_empty()
        && s.trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return s
            .parse::<i64>()
            .ok()
            .map(|seconds| i128::from(seconds) * 1_000_000_000);
    }
    if let Ok(at) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(at.unix_timestamp_nanos());
    }
    if let Ok(at) = OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(at.unix_timestamp_nanos());
    }
    if let Ok(at) = PrimitiveDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(at.assume_utc().unix_timestamp_nanos());
    }
    if let Ok(day) = Date::parse(s, &Iso8601::DEFAULT) {
        return Some(day.midnight().assume_utc().unix_timestamp_nanos());
    }
    None
}

/// Standard base64, padding optional.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let digits = s.trim_end_matches('=');
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in digits.bytes() {
        let sextet = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(acc >> bits).ok()?);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// An address or CIDR block of `IpAddress` / `NotIpAddress`; a bare address is a /32 or
/// /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpNet {
    network: IpAddr,
    prefix: u32,
}

impl IpNet {
    fn parse(s: &str) -> Option<IpNet> {
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = address.parse().ok()?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u32>().ok().filter(|p| *p <= width)?,
            None => width,
        };
        Some(IpNet { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 address may reach us in its IPv6-mapped form (`::ffff:192.0.2.1`).
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}
