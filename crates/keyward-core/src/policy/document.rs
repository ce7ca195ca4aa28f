//! The grammar of a policy document: JSON text becomes a `PolicyDocument` of compiled
//! statements, or a `PolicyError` carrying AWS's message for the first thing wrong.
//!
//! Messages start with AWS's own wording where it is known — "Syntax errors in policy.",
//! "Policy document should not specify a principal.", "Policy statement must contain
//! actions." / "resources.", "Missing required field Principal", "Invalid principal in
//! policy: ...", "Resource ... must be in ARN format or \"*\".", "Actions/Conditions must
//! be prefaced by a vendor, e.g., iam, sdb, ec2, etc." (as IAM, S3 and KMS return them
//! under `MalformedPolicyDocument`) — and add what exactly was wrong.
//!
//! Where the wording was seen: "Policy statement must contain actions." in
//! aws/aws-cdk#7615; "...resources." in terraform-aws-modules/terraform-aws-iam#603;
//! "Syntax errors in policy." in 99designs/iamy#74; "Actions/Condition can contain only
//! one colon." in garnaat/kappa#111; "Action vendors (e.g., aws, ec2, etc.) must not
//! contain wildcards" in boogy/iam-policy-validator#172; "Resource ... must be in ARN
//! format or \"*\"." in cattle-ops/terraform-aws-gitlab-runner#1257; "Missing required
//! field Principal" in humanmade/S3-Uploads#191.

use serde_json::{Map, Value};

use super::condition::{parse_conditions, Condition, ConditionKeys};
use super::eval::CallerPrincipal;
use super::principal::{PrincipalMatch, PrincipalSet};
use super::variables::Pattern;

/// Where a document is attached, which decides whether it names principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Attached to a user or role: has no `Principal`; every statement names resources.
    Identity,
    /// A key policy or a secret's resource policy: every statement names principals.
    Resource,
    /// A role's assume-role policy: every statement names principals.
    Trust,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document is rejected; the message is shown as `MalformedPolicyDocument`.
    #[error("{0}")]
    Malformed(String),
}

pub(super) fn malformed(message: impl Into<String>) -> PolicyError {
    PolicyError::Malformed(message.into())
}

/// A validated policy, compiled for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub(super) kind: PolicyKind,
    version: &'static str,
    id: Option<String>,
    pub(super) statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Statement {
    pub(super) effect: Effect,
    /// `Principal` or `NotPrincipal`; `None` in identity policies.
    pub(super) principal: Option<PrincipalClause>,
    pub(super) actions: PatternClause,
    /// `Resource` or `NotResource`; `None` (any resource) is allowed for resource and
    /// trust policies only.
    pub(super) resources: Option<PatternClause>,
    pub(super) conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PrincipalClause {
    negated: bool,
    set: PrincipalSet,
}

impl PrincipalClause {
    /// A `NotPrincipal` speaks of every caller it does not name, each specifically.
    pub(super) fn match_caller(&self, caller: &CallerPrincipal<'_>) -> PrincipalMatch {
        match (self.negated, self.set.match_caller(caller)) {
            (false, matched) => matched,
            (true, PrincipalMatch::None) => PrincipalMatch::Specific,
            (true, _) => PrincipalMatch::None,
        }
    }
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: wildcard patterns, one of which must
/// match (or, negated, none of which may). Resource entries may hold policy variables,
/// filled in from `keys`; an entry whose variable has no value matches nothing, so a
/// `NotResource` entry of that kind excludes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PatternClause {
    negated: bool,
    patterns: Vec<Pattern>,
}

impl PatternClause {
    pub(super) fn matches(&self, text: &str, fold_case: bool, keys: &ConditionKeys) -> bool {
        let any = self
            .patterns
            .iter()
            .any(|p| p.matches(text, fold_case, keys));
        any != self.negated
    }
}

const DOCUMENT_FIELDS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl PolicyDocument {
    pub fn parse(text: &str, kind: PolicyKind) -> Result<PolicyDocument, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(|_| {
            malformed("Syntax errors in policy. The policy document is not valid JSON.")
        })?;
        let Value::Object(document) = value else {
            return Err(malformed(
                "Syntax errors in policy. The policy document must be a JSON object.",
            ));
        };
        check_fields(&document, DOCUMENT_FIELDS)?;
        let version = match document.get("Version") {
            None => "2008-10-17",
            Some(Value::String(v)) if v == "2012-10-17" => "2012-10-17",
            Some(Value::String(v)) if v == "2008-10-17" => "2008-10-17",
            Some(other) => {
                return Err(malformed(format!(
                    "Syntax errors in policy. Invalid Version {other}: it must be \"2012-10-17\" or \"2008-10-17\"."
                )))
            }
        };
        let id = optional_string(&document, "Id")?;
        let statements = match document.get("Statement") {
            Some(Value::Object(statement)) => vec![statement],
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .map(|s| match s {
                    Value::Object(statement) => Ok(statement),
                    _ => Err(malformed(
                        "Syntax errors in policy. Each statement must be a JSON object.",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(malformed(
                    "Syntax errors in policy. Policy document must contain a Statement.",
                ))
            }
        };
        if kind == PolicyKind::Identity {
            check_unique_sids(&statements)?;
        }
        // Policy variables came with 2012-10-17; before it `${...}` is literal text.
        let variables = version == "2012-10-17";
        let statements = statements
            .into_iter()
            .map(|s| parse_statement(s, kind, variables))
            .collect::<Result<_, _>>()?;
        Ok(PolicyDocument {
            kind,
            version,
            id,
            statements,
        })
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// `2012-10-17`, or `2008-10-17` for a document that gave none.
    pub fn version(&self) -> &'static str {
        self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

fn parse_statement(
    statement: &Map<String, Value>,
    kind: PolicyKind,
    variables: bool,
) -> Result<Statement, PolicyError> {
    check_fields(statement, STATEMENT_FIELDS)?;
    optional_string(statement, "Sid")?;
    let effect = match statement.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(malformed(format!(
                "Syntax errors in policy. Invalid Effect {other}: it must be \"Allow\" or \"Deny\"."
            )))
        }
        None => {
            return Err(malformed(
                "Syntax errors in policy. Missing required field Effect",
            ))
        }
    };

    let principal = match either(statement, "Principal", "NotPrincipal")? {
        Some(_) if kind == PolicyKind::Identity => {
            return Err(malformed("Policy document should not specify a principal."))
        }
        Some((negated, value)) => Some(PrincipalClause {
            negated,
            set: PrincipalSet::parse(value)?,
        }),
        None if kind == PolicyKind::Identity => None,
        None => return Err(malformed("Missing required field Principal")),
    };

    let no_actions = || malformed("Policy statement must contain actions.");
    let actions = match either(statement, "Action", "NotAction")? {
        Some((negated, value)) => {
            if is_empty_list(value) {
                return Err(no_actions());
            }
            let patterns = string_or_list(value, "Action")?;
            patterns.iter().try_for_each(|a| check_action(a))?;
            PatternClause {
                negated,
                patterns: patterns
                    .into_iter()
                    .map(|a| Pattern::Plain(a.to_owned()))
                    .collect(),
            }
        }
        None => return Err(no_actions()),
    };

    let no_resources = || malformed("Policy statement must contain resources.");
    let resources = match either(statement, "Resource", "NotResource")? {
        Some((negated, value)) => {
            if is_empty_list(value) {
                return Err(no_resources());
            }
            let patterns = string_or_list(value, "Resource")?;
            patterns.iter().try_for_each(|r| check_resource(r))?;
            Some(PatternClause {
                negated,
                patterns: patterns
                    .into_iter()
                    .map(|r| Pattern::compile(r, variables))
                    .collect::<Result<_, _>>()?,
            })
        }
        // KMS insists on a Resource too, but a missing one is read as "this resource":
        // a resource policy only ever speaks of the resource it is attached to.
        None if kind == PolicyKind::Identity => return Err(no_resources()),
        None => None,
    };

    let conditions = match statement.get("Condition") {
        Some(value) => parse_conditions(value, variables)?,
        None => Vec::new(),
    };
    Ok(Statement {
        effect,
        principal,
        actions,
        resources,
        conditions,
    })
}

/// An element that has a positive and a negated spelling, of which at most one may
/// appear: `Some((negated, value))`.
fn either<'a>(
    statement: &'a Map<String, Value>,
    positive: &str,
    negative: &str,
) -> Result<Option<(bool, &'a Value)>, PolicyError> {
    match (statement.get(positive), statement.get(negative)) {
        (Some(_), Some(_)) => Err(malformed(format!(
            "Syntax errors in policy. A statement cannot have both {positive} and {negative}."
        ))),
        (Some(value), None) => Ok(Some((false, value))),
        (None, Some(value)) => Ok(Some((true, value))),
        (None, None) => Ok(None),
    }
}

fn check_fields(object: &Map<String, Value>, known: &[&str]) -> Result<(), PolicyError> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(malformed(format!(
            "Syntax errors in policy. Unknown field {unknown}"
        ))),
        None => Ok(()),
    }
}

fn optional_string(
    object: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, PolicyError> {
    match object.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed(format!(
            "Syntax errors in policy. {field} must be a string."
        ))),
    }
}

/// IAM refuses a policy whose statements repeat a `Sid`; KMS and Secrets Manager do not.
fn check_unique_sids(statements: &[&Map<String, Value>]) -> Result<(), PolicyError> {
    let mut seen = std::collections::BTreeSet::new();
    for sid in statements.iter().filter_map(|s| s.get("Sid")?.as_str()) {
        if !sid.is_empty() && !seen.insert(sid) {
            return Err(malformed(format!(
                "Statement IDs (SID) in a single policy must be unique. Duplicate Sid {sid}"
            )));
        }
    }
    Ok(())
}

/// A string, or a non-empty list of strings.
pub(super) fn string_or_list<'a>(
    value: &'a Value,
    field: &str,
) -> Result<Vec<&'a str>, PolicyError> {
    let invalid = || {
        malformed(format!(
            "Syntax errors in policy. {field} must be a string or a non-empty list of strings."
        ))
    };
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().ok_or_else(invalid))
            .collect(),
        _ => Err(invalid()),
    }
}

fn is_empty_list(value: &Value) -> bool {
    value.as_array().is_some_and(Vec::is_empty)
}

/// `*`, or `vendor:pattern` with a plain vendor and one colon.
fn check_action(action: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    let Some((vendor, name)) = action.split_once(':') else {
        return Err(malformed(format!(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. Invalid action {action}"
        )));
    };
    if name.contains(':') {
        return Err(malformed(format!(
            "Actions/Condition can contain only one colon. Invalid action {action}"
        )));
    }
    if vendor.contains(['*', '?']) {
        return Err(malformed(format!(
            "Action vendors (e.g., aws, ec2, etc.) must not contain wildcards. Invalid action {action}"
        )));
    }
    let plain = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || extra.contains(&b))
    };
    if !plain(vendor, b"") || !plain(name, b"*?_") {
        return Err(malformed(format!("Policy has invalid action {action}")));
    }
    Ok(())
}

fn check_resource(resource: &str) -> Result<(), PolicyError> {
    if resource == "*" || resource.starts_with("arn:") {
        Ok(())
    } else {
        Err(malformed(format!(
            "Resource {resource} must be in ARN format or \"*\"."
        )))
    }
}
