//! A Query request's flat parameters as the JSON value of the operation's input shape, so the
//! one model-driven validator checks them as it checks JSON bodies.
//!
//! The layout is botocore's (and AWS's): structure members by name (`UserName`), nested ones
//! joined by `.`; lists as `Tags.member.1.Key` (`Name.N` when flattened; `Name=` alone is an
//! empty list); maps as `Name.entry.1.key` and `Name.entry.1.value`. Scalars take the member's
//! type: integers and longs in decimal, booleans `true` or `false`, timestamps in ISO 8601 (or
//! epoch seconds) becoming epoch seconds, as the JSON codec has them. Parameters the shape does
//! not name are ignored, as AWS ignores them; of a parameter sent twice, the first counts.
//!
//! A structure that is present — any of its members given, or an item of a list — must have
//! its required members: a missing one is AWS's `MissingParameter`, naming the parameter
//! (`The request must contain the parameter Tags.member.1.Key.`). Required members of the input
//! itself are left to the validator, which words them as AWS does.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde_json::{Map, Number, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::json::model::{Kind, Member, ServiceModel, ShapeId};
use crate::WireError;

/// The parameters of a request, looked up by name.
pub(crate) struct Params<'a> {
    by_name: BTreeMap<&'a str, &'a str>,
}

impl<'a> Params<'a> {
    pub(crate) fn new(pairs: &'a [(String, String)]) -> Self {
        let mut by_name = BTreeMap::new();
        for (name, value) in pairs {
            by_name.entry(name.as_str()).or_insert(value.as_str());
        }
        Self { by_name }
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.by_name.get(name).copied()
    }

    /// The item numbers `N` of the parameters named `{prefix}.N` or `{prefix}.N.…`, ascending.
    fn indices(&self, prefix: &str) -> Vec<u32> {
        let start = format!("{prefix}.");
        let mut indices: Vec<u32> = self
            .by_name
            .range::<str, _>((Bound::Included(start.as_str()), Bound::Unbounded))
            .map(|(name, _)| *name)
            .take_while(|name| name.starts_with(&start))
            .filter_map(|name| {
                let index = name[start.len()..].split('.').next()?;
                // `01` is not item 1; only the canonical spelling counts.
                index
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1 && n.to_string() == index)
            })
            .collect();
        // Names sort as text (`10` before `2`); items go by number.
        indices.sort_unstable();
        indices.dedup();
        indices
    }
}

/// The input structure `shape` built from the parameters. Its own required members are not
/// checked here (see the module's documentation).
pub(crate) fn input(
    model: &ServiceModel,
    shape: ShapeId,
    params: &Params<'_>,
) -> Result<Map<String, Value>, WireError> {
    let Kind::Structure(members) = &model.shape(shape).kind else {
        return Ok(Map::new());
    };
    let walk = Walk { model, params };
    walk.members(members, None)
}

/// `MissingParameter`, as AWS names a required parameter that is absent.
pub(crate) fn missing_parameter(name: &str) -> WireError {
    WireError::client(
        "MissingParameter",
        format!("The request must contain the parameter {name}."),
    )
}

/// A scalar that does not parse as its member's type. AWS's Query services answer
/// `MalformedInput` without a message.
pub(crate) fn malformed_input() -> WireError {
    WireError::client("MalformedInput", "")
}

struct Walk<'m, 'p> {
    model: &'m ServiceModel,
    params: &'m Params<'p>,
}

/// When a nested structure counts as present, and so must have its required members.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// An item of a list or a map value: its number appeared in some parameter's name.
    Always,
    /// A member: when any of its own members is given.
    IfAnyMember,
}

impl Walk<'_, '_> {
    fn members(
        &self,
        members: &[Member],
        prefix: Option<&str>,
    ) -> Result<Map<String, Value>, WireError> {
        let mut object = Map::new();
        for member in members {
            let name = join(prefix, member.wire_name());
            if let Some(value) =
                self.value(member.shape, &name, member.flattened, Presence::IfAnyMember)?
            {
                object.insert(member.name.clone(), value);
            }
        }
        Ok(object)
    }

    fn value(
        &self,
        id: ShapeId,
        name: &str,
        member_flattened: bool,
        presence: Presence,
    ) -> Result<Option<Value>, WireError> {
        let shape = self.model.shape(id);
        match &shape.kind {
            Kind::Structure(members) => {
                let object = self.members(members, Some(name))?;
                if object.is_empty() && presence == Presence::IfAnyMember {
                    return Ok(None);
                }
                if let Some(missing) = members
                    .iter()
                    .find(|member| member.required && !object.contains_key(&member.name))
                {
                    return Err(missing_parameter(&join(Some(name), missing.wire_name())));
                }
                Ok(Some(Value::Object(object)))
            }
            Kind::List(item) => {
                let items_at = if shape.xml.flattened || member_flattened {
                    flattened_items(name, shape.xml.item.as_deref())
                } else {
                    join(Some(name), shape.xml.item.as_deref().unwrap_or("member"))
                };
                let indices = self.params.indices(&items_at);
                if indices.is_empty() {
                    // botocore sends an empty list as the bare name with an empty value.
                    return Ok(
                        (self.params.get(name) == Some("")).then(|| Value::Array(Vec::new()))
                    );
                }
                let mut items = Vec::with_capacity(indices.len());
                for index in indices {
                    let item_name = format!("{items_at}.{index}");
                    if let Some(value) = self.value(*item, &item_name, false, Presence::Always)? {
                        items.push(value);
                    }
                }
                Ok(Some(Value::Array(items)))
            }
            Kind::Map { key, value } => {
                let entries_at = if shape.xml.flattened || member_flattened {
                    name.to_owned()
                } else {
                    join(Some(name), "entry")
                };
                let key_name = shape.xml.key.as_deref().unwrap_or("key");
                let value_name = shape.xml.value.as_deref().unwrap_or("value");
                let indices = self.params.indices(&entries_at);
                if indices.is_empty() {
                    return Ok(None);
                }
                let mut object = Map::new();
                for index in indices {
                    let entry = format!("{entries_at}.{index}");
                    let key_param = join(Some(&entry), key_name);
                    let value_param = join(Some(&entry), value_name);
                    let entry_key = match self.value(*key, &key_param, false, Presence::Always)? {
                        Some(Value::String(text)) => text,
                        _ => return Err(missing_parameter(&key_param)),
                    };
                    let entry_value = self
                        .value(*value, &value_param, false, Presence::Always)?
                        .ok_or_else(|| missing_parameter(&value_param))?;
                    object.entry(entry_key).or_insert(entry_value);
                }
                Ok(Some(Value::Object(object)))
            }
            _ => match self.params.get(name) {
                Some(text) => scalar(&shape.kind, text).map(Some),
                None => Ok(None),
            },
        }
    }
}

/// Where the items of a flattened list are: under the list's own name, or, when the list's
/// member has a `locationName`, under that name in place of the last part (botocore's rule).
fn flattened_items(name: &str, item_name: Option<&str>) -> String {
    match (item_name, name.rsplit_once('.')) {
        (Some(item), Some((parent, _))) => format!("{parent}.{item}"),
        (Some(item), None) => item.to_owned(),
        (None, _) => name.to_owned(),
    }
}

fn join(prefix: Option<&str>, name: &str) -> String {
    match prefix {
        Some(prefix) => format!("{prefix}.{name}"),
        None => name.to_owned(),
    }
}

fn scalar(kind: &Kind, text: &str) -> Result<Value, WireError> {
    match kind {
        // An integer out of its 32-bit range does not parse either (it used to pass here and
        // fail later with the JSON protocol's SerializationException).
        Kind::Integer => text
            .parse::<i32>()
            .map(Value::from)
            .map_err(|_| malformed_input()),
        Kind::Long => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| malformed_input()),
        Kind::Float | Kind::Double => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(malformed_input),
        Kind::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(malformed_input()),
        },
        Kind::Timestamp => timestamp(text)
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(malformed_input),
        // Strings, blobs (base64, checked by the validator) and anything unchecked.
        _ => Ok(Value::String(text.to_owned())),
    }
}

/// Epoch seconds from ISO 8601 (`2026-11-23T16:29:00Z`, fractions and offsets allowed) or from
/// a number of seconds.
fn timestamp(text: &str) -> Option<f64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds.is_finite().then_some(seconds);
    }
    let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    // Sub-microsecond precision is lost in the f64, as it is in the JSON codec's timestamps.
    Some(parsed.unix_timestamp_nanos() as f64 / 1e9)
}
