//! Policy variables: `${aws:username}` and the like, filled in from the request's
//! condition keys when a statement is evaluated. They are compiled when the document is
//! parsed, so evaluation only looks values up.
//!
//! The rules, from the IAM User Guide, "IAM policy elements: Variables and tags"
//! (reference_policies_variables.html):
//! - Only a document with `"Version": "2012-10-17"` has variables; in a `2008-10-17`
//!   document, or one without a Version, `${...}` is literal text ("Using variables in
//!   policies", and Access Analyzer's "Variable unsupported in version").
//! - They are filled in `Resource` / `NotResource` entries and in the values (never the
//!   keys) of the string and ARN condition operators ("Where you can use policy
//!   variables"). Other operators take their values literally, so a `NumericEquals`
//!   value `${...}` is rejected as not a number.
//! - `${key}` is the value of condition key `key`, whose name is case-insensitive.
//!   `${key, 'default'}` stands for `default` when the key has no value; inside the
//!   quotes `''` is one `'` ("Specifying default values"). The default is taken as it is
//!   written: it is not searched for variables in turn.
//! - `${*}`, `${?}` and `${$}` are a literal `*`, `?` and `$` ("Special characters").
//! - A value filled in (from the request, a default or an escape) is literal text inside
//!   a pattern: a user name containing `*` matches only a `*`, never any run of
//!   characters. The policy's own `*` and `?` around it stay wildcards.
//! - A key the request does not have ("Policy variables with no value",
//!   #policy-vars-no-value): a Resource or NotResource entry using it matches no
//!   resource; in a condition, that policy value matches no request value, so
//!   `StringEquals` / `StringLike` do not match on it while the negated operators
//!   (`StringNotEquals`, `StringNotLike`) do. The older text of the same page says a
//!   "not present" key makes "any attempt to match it fail".
//! - A multi-valued key (more than one value) cannot be a variable: AWS documents only
//!   single-valued keys as variables, so Keyward treats it like an absent key — the
//!   default if there is one, otherwise no match. A key present with no values is absent.
//!
//! Syntax errors are rejected when the document is parsed, with the problem Access
//! Analyzer names: a missing closing brace, an empty variable, a space or a `$`, `{` or
//! `'` in the name, a default not enclosed in single quotes.

use super::condition::ConditionKeys;
use super::document::{malformed, PolicyError};
use super::pattern::{tokens_match, wildcard_match, Token};

/// Text with policy variables in it, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Policy text, where `*` and `?` keep their meaning.
    Text(String),
    /// `${*}`, `${?}` or `${$}`: the character itself.
    Literal(&'static str),
    /// `${key}` or `${key, 'default'}`.
    Variable {
        /// ASCII-lowercased, as `ConditionKeys` stores names.
        key: String,
        default: Option<String>,
    },
}

impl Template {
    /// Compiles `text`, or `None` when it has no variable and stays plain text.
    pub(super) fn parse(text: &str) -> Result<Option<Template>, PolicyError> {
        if !text.contains("${") {
            return Ok(None);
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let (part, after) = parse_variable(&rest[start + 2..], text)?;
            parts.push(part);
            rest = after;
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Some(Template { parts }))
    }

    /// Passes each part's text to `push` in order, with whether its wildcards count;
    /// `false` as soon as a variable has no value.
    fn fill<'a>(&'a self, keys: &'a ConditionKeys, mut push: impl FnMut(&'a str, bool)) -> bool {
        for part in &self.parts {
            match part {
                Part::Text(text) => push(text, true),
                Part::Literal(c) => push(c, false),
                Part::Variable { key, default } => {
                    match single_value(keys, key).or(default.as_deref()) {
                        Some(value) => push(value, false),
                        None => return false,
                    }
                }
            }
        }
        true
    }

    /// The text with its variables filled in, for exact comparisons (where `*` and `?`
    /// are not wildcards anyway); `None` when a variable has no value.
    pub(super) fn fill_text(&self, keys: &ConditionKeys) -> Option<String> {
        let mut out = String::new();
        self.fill(keys, |text, _| out.push_str(text)).then_some(out)
    }

    /// The text with its variables filled in, as a pattern in which only the policy's
    /// own `*` and `?` are wildcards; `None` when a variable has no value.
    pub(super) fn fill_pattern(&self, keys: &ConditionKeys) -> Option<Vec<Token>> {
        let mut out = Vec::new();
        let filled = self.fill(keys, |text, wildcards| {
            out.extend(text.bytes().map(|b| match b {
                b'*' if wildcards => Token::Any,
                b'?' if wildcards => Token::One,
                b => Token::Byte(b),
            }))
        });
        filled.then_some(out)
    }
}

/// The value of a single-valued key; a multi-valued key has none.
fn single_value<'a>(keys: &'a ConditionKeys, key: &str) -> Option<&'a str> {
    match keys.get_lowercase(key)? {
        [value] => Some(value),
        _ => None,
    }
}

/// Parses what follows a `${` in `whole`: the variable, and the text after its `}`.
fn parse_variable<'a>(inner: &'a str, whole: &str) -> Result<(Part, &'a str), PolicyError> {
    let unclosed = || {
        malformed(format!(
            "Syntax errors in policy. The policy variable is missing a closing curly brace in {whole}"
        ))
    };
    let missing_quote = || {
        malformed(format!(
            "Syntax errors in policy. The policy variable default value must begin and end with a single quote in {whole}"
        ))
    };
    let end = inner.find([',', '}']).ok_or_else(unclosed)?;
    let key = &inner[..end];
    if key.trim().is_empty() {
        return Err(malformed(format!(
            "Syntax errors in policy. Empty policy variable in {whole}"
        )));
    }
    if key.contains(char::is_whitespace) {
        return Err(malformed(format!(
            "Syntax errors in policy. A space is not supported within the policy variable name in {whole}"
        )));
    }
    if key != "$" {
        if let Some(symbol) = key.chars().find(|c| matches!(c, '$' | '{' | '\'')) {
            return Err(malformed(format!(
                "Syntax errors in policy. The symbol {symbol} is not supported within the policy variable name in {whole}"
            )));
        }
    }
    let mut rest = &inner[end..];
    let mut default = None;
    if let Some(after_comma) = rest.strip_prefix(',') {
        let quoted = after_comma
            .trim_start()
            .strip_prefix('\'')
            .ok_or_else(missing_quote)?;
        let (value, after) = parse_quoted(quoted).ok_or_else(missing_quote)?;
        default = Some(value);
        rest = after.trim_start();
    }
    let Some(after) = rest.strip_prefix('}') else {
        return Err(if rest.is_empty() {
            unclosed()
        } else {
            missing_quote()
        });
    };
    let part = match key {
        "*" => Part::Literal("*"),
        "?" => Part::Literal("?"),
        "$" => Part::Literal("$"),
        _ => Part::Variable {
            key: key.to_ascii_lowercase(),
            default,
        },
    };
    Ok((part, after))
}

/// A default's text up to its closing `'`, with `''` read as one `'`, and what follows
/// the closing quote; `None` when it is not closed.
fn parse_quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut rest = text;
    loop {
        let quote = rest.find('\'')?;
        value.push_str(&rest[..quote]);
        let after = &rest[quote + 1..];
        match after.strip_prefix('\'') {
            Some(more) => {
                value.push('\'');
                rest = more;
            }
            None => return Some((value, after)),
        }
    }
}

/// A wildcard pattern as a policy writes it: an Action, a Resource or NotResource entry,
/// or a `StringLike` / `ArnLike` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Pattern {
    /// No variables: matched as written.
    Plain(String),
    /// Filled in for each request.
    Template(Template),
}

impl Pattern {
    /// Compiles `text`, reading variables in it when the document has them.
    pub(super) fn compile(text: &str, variables: bool) -> Result<Pattern, PolicyError> {
        let template = if variables {
            Template::parse(text)?
        } else {
            None
        };
        Ok(match template {
            Some(template) => Pattern::Template(template),
            None => Pattern::Plain(text.to_owned()),
        })
    }

    /// Whether `text` matches, the variables filled in from `keys`; an entry with a
    /// variable that has no value matches nothing.
    pub(super) fn matches(&self, text: &str, fold_case: bool, keys: &ConditionKeys) -> bool {
        match self {
            Pattern::Plain(pattern) => wildcard_match(pattern, text, fold_case),
            Pattern::Template(template) => template
                .fill_pattern(keys)
                .is_some_and(|pattern| tokens_match(&pattern, text, fold_case)),
        }
    }
}
