//! References between the items of a stack file: `${account_id}`, `${region}`,
//! `${users.NAME.arn}`, `${roles.NAME.arn}`, `${keys.NAME.arn}`, `${keys.NAME.id}`,
//! `${secrets.NAME.arn}` and the `.name` of users, roles and secrets. Anything else in
//! `${...}` (IAM policy variables such as `${aws:username}`) is left as it is.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    User,
    Role,
    Key,
    Secret,
}

impl Kind {
    pub fn section(self) -> &'static str {
        match self {
            Kind::User => "users",
            Kind::Role => "roles",
            Kind::Key => "keys",
            Kind::Secret => "secrets",
        }
    }

    fn from_section(section: &str) -> Option<Kind> {
        [Kind::User, Kind::Role, Kind::Key, Kind::Secret]
            .into_iter()
            .find(|k| k.section() == section)
    }

    fn attributes(self) -> &'static [&'static str] {
        match self {
            Kind::User | Kind::Role | Kind::Secret => &["arn", "name"],
            Kind::Key => &["arn", "id"],
        }
    }
}

/// One `${...}` of ours.
enum Reference<'a> {
    Global(&'a str),
    Item {
        kind: Kind,
        name: &'a str,
        attribute: &'a str,
    },
}

/// Splits `text` into literal parts and references; `Err` for a reference of ours that is
/// malformed (an unknown attribute, a missing part).
fn scan(text: &str) -> Result<Vec<(&str, Option<Reference<'_>>)>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + 2 + len];
        let reference = if inner == "account_id" || inner == "region" {
            Some(Reference::Global(inner))
        } else {
            let mut pieces = inner.split('.');
            match pieces.next().and_then(Kind::from_section) {
                None => None,
                Some(kind) => {
                    let (name, attribute) = match (pieces.next(), pieces.next(), pieces.next()) {
                        (Some(name), Some(attribute), None) if !name.is_empty() => {
                            (name, attribute)
                        }
                        _ => {
                            return Err(format!(
                                "'${{{inner}}}' is not a reference: write ${{{}.NAME.{}}}",
                                kind.section(),
                                kind.attributes().join("|")
                            ))
                        }
                    };
                    if !kind.attributes().contains(&attribute) {
                        return Err(format!(
                            "'${{{inner}}}': {} have {}, not {attribute}",
                            kind.section(),
                            kind.attributes().join(" and ")
                        ));
                    }
                    Some(Reference::Item {
                        kind,
                        name,
                        attribute,
                    })
                }
            }
        };
        match reference {
            Some(reference) => {
                parts.push((&rest[..start], Some(reference)));
            }
            None => parts.push((&rest[..start + 3 + len], None)),
        }
        rest = &rest[start + 3 + len..];
    }
    parts.push((rest, None));
    Ok(parts)
}

/// The items a file defines, for checking its references before anything is applied.
#[derive(Default)]
pub struct Defined {
    items: BTreeSet<(Kind, String)>,
}

impl Defined {
    pub fn add(&mut self, kind: Kind, name: &str) {
        self.items.insert((kind, name.to_owned()));
    }

    /// Every reference in `text` names a defined item of one of the `allowed` kinds (those
    /// applied before the field that holds it).
    pub fn check_text(&self, path: &str, text: &str, allowed: &[Kind]) -> Result<(), String> {
        for (_, reference) in scan(text).map_err(|e| format!("{path}: {e}"))? {
            let Some(Reference::Item { kind, name, .. }) = reference else {
                continue;
            };
            if !self.items.contains(&(kind, name.to_owned())) {
                return Err(format!(
                    "{path}: refers to {}.{name}, which the file does not define",
                    kind.section()
                ));
            }
            if !allowed.contains(&kind) {
                let names: Vec<_> = allowed.iter().map(|k| k.section()).collect();
                return Err(format!(
                    "{path}: refers to {}.{name}, but this field may refer only to {} (they are applied first)",
                    kind.section(),
                    names.join(", ")
                ));
            }
        }
        Ok(())
    }

    pub fn check_value(&self, path: &str, value: &Value, allowed: &[Kind]) -> Result<(), String> {
        match value {
            Value::String(text) => self.check_text(path, text, allowed),
            Value::Array(items) => items
                .iter()
                .try_for_each(|v| self.check_value(path, v, allowed)),
            Value::Object(map) => map
                .values()
                .try_for_each(|v| self.check_value(path, v, allowed)),
            _ => Ok(()),
        }
    }
}

/// The values references stand for, filled in as items are applied.
pub struct Values {
    pub account_id: String,
    pub region: String,
    items: BTreeMap<(Kind, String, &'static str), String>,
}

impl Values {
    pub fn new(account_id: String, region: String) -> Self {
        Self {
            account_id,
            region,
            items: BTreeMap::new(),
        }
    }

    pub fn set(&mut self, kind: Kind, name: &str, attribute: &'static str, value: &str) {
        self.items
            .insert((kind, name.to_owned(), attribute), value.to_owned());
    }

    pub fn resolve_text(&self, path: &str, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        for (literal, reference) in scan(text).map_err(|e| format!("{path}: {e}"))? {
            out.push_str(literal);
            match reference {
                None => {}
                Some(Reference::Global("account_id")) => out.push_str(&self.account_id),
                Some(Reference::Global(_)) => out.push_str(&self.region),
                Some(Reference::Item {
                    kind,
                    name,
                    attribute,
                }) => {
                    let value = self
                        .items
                        .iter()
                        .find(|((k, n, a), _)| *k == kind && n == name && *a == attribute)
                        .map(|(_, v)| v)
                        .ok_or_else(|| {
                            format!(
                                "{path}: {}.{name}.{attribute} is not known yet",
                                kind.section()
                            )
                        })?;
                    out.push_str(value);
                }
            }
        }
        Ok(out)
    }

    pub fn resolve_value(&self, path: &str, value: &Value) -> Result<Value, String> {
        Ok(match value {
            Value::String(text) => Value::String(self.resolve_text(path, text)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.resolve_value(path, v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve_value(path, v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_and_policy_variables_stay() {
        let mut values = Values::new("000000000000".into(), "us-east-1".into());
        values.set(
            Kind::User,
            "alice",
            "arn",
            "arn:aws:iam::000000000000:user/alice",
        );
        let out = values
            .resolve_text(
                "p",
                "${users.alice.arn} ${account_id}/${region} ${aws:username} ${unclosed",
            )
            .unwrap();
        assert_eq!(
            out,
            "arn:aws:iam::000000000000:user/alice 000000000000/us-east-1 ${aws:username} ${unclosed"
        );
        assert!(values.resolve_text("p", "${keys.k.arn}").is_err());
        assert!(values.resolve_text("p", "${users.alice.id}").is_err());
        assert!(values.resolve_text("p", "${users.alice}").is_err());
    }
}
