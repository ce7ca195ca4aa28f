//! Test support: example values of a model's shapes, to prove the typed shapes of a service
//! match its model member for member.

#![allow(clippy::panic)]

use serde_json::{json, Map, Value};

use super::model::{Kind, ShapeId};
use super::ServiceModel;

/// A value of the shape with every member present: all values of an enum in a list, a float
/// for timestamps so they survive `f64`. Type-correct, not constraint-correct.
pub(crate) fn example(model: &ServiceModel, id: ShapeId, depth: usize) -> Value {
    assert!(depth < 16, "shape nesting too deep");
    match &model.shape(id).kind {
        Kind::Structure(members) => Value::Object(
            members
                .iter()
                .map(|m| (m.name.clone(), example(model, m.shape, depth + 1)))
                .collect(),
        ),
        Kind::List(member) => match &model.shape(*member).kind {
            Kind::String { enum_values, .. } if !enum_values.is_empty() => json!(enum_values),
            _ => json!([example(model, *member, depth + 1)]),
        },
        Kind::Map { value, .. } => json!({ "k": example(model, *value, depth + 1) }),
        Kind::String { enum_values, .. } => {
            json!(enum_values.first().map_or("text", String::as_str))
        }
        Kind::Integer | Kind::Long => json!(7),
        Kind::Float | Kind::Double | Kind::Timestamp => json!(1.5),
        Kind::Boolean => json!(true),
        Kind::Blob => json!("AAEC"),
        Kind::Unchecked => Value::Null,
    }
}

/// The example of a shape named in the model.
pub(crate) fn example_of(model: &ServiceModel, shape: &str) -> Value {
    match model.shape_id(shape) {
        Some(id) => example(model, id, 0),
        None => panic!("no shape {shape}"),
    }
}

/// The value with every `null` member left out, as a typed request serialized back has them.
pub(crate) fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// The enum values of a string shape, in the model's order.
pub(crate) fn enum_values(model: &ServiceModel, shape: &str) -> Vec<String> {
    match model.shape_id(shape).map(|id| &model.shape(id).kind) {
        Some(Kind::String { enum_values, .. }) => enum_values.clone(),
        _ => panic!("{shape} is not a string shape"),
    }
}
