//! What an audit record may show of a request or response: the members the model declares,
//! named as CloudTrail names them (first letter in lower case), without blobs (plaintexts,
//! ciphertexts, key material) and without anything the model marks `sensitive`.

use serde_json::{Map, Value};

use super::model::{Kind, ServiceModel, ShapeId};

/// Members CloudTrail never shows although the model does not mark them sensitive: grant
/// tokens, which name a grant to anyone who holds them.
const HIDDEN_MEMBERS: &[&str] = &["GrantToken", "GrantTokens"];

/// Which half of an operation a value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

impl ServiceModel {
    /// The audit view of `value`, the JSON of `operation`'s request or response. `None`
    /// when the operation has no such shape or nothing in it may be shown.
    pub fn audit_view(
        &self,
        operation: &str,
        direction: Direction,
        value: &Value,
    ) -> Option<Value> {
        let op = self.operation(operation)?;
        let shape = match direction {
            Direction::Request => op.input?,
            Direction::Response => op.output?,
        };
        self.view(shape, value, 0)
    }

    fn view(&self, id: ShapeId, value: &Value, depth: usize) -> Option<Value> {
        let shape = self.shape(id);
        if shape.sensitive || depth > 32 {
            return None;
        }
        match (&shape.kind, value) {
            (Kind::Blob, _) => None,
            (Kind::Structure(members), Value::Object(object)) => {
                let mut out = Map::new();
                for member in members {
                    if HIDDEN_MEMBERS.contains(&member.name.as_str()) {
                        continue;
                    }
                    if let Some(child) = object
                        .get(&member.name)
                        .and_then(|v| self.view(member.shape, v, depth + 1))
                    {
                        out.insert(member.path.clone(), child);
                    }
                }
                Some(Value::Object(out))
            }
            (Kind::List(item), Value::Array(items)) => Some(Value::Array(
                items
                    .iter()
                    .filter_map(|v| self.view(*item, v, depth + 1))
                    .collect(),
            )),
            (Kind::Map { value: item, .. }, Value::Object(object)) => Some(Value::Object(
                object
                    .iter()
                    .filter_map(|(k, v)| self.view(*item, v, depth + 1).map(|v| (k.clone(), v)))
                    .collect(),
            )),
            (Kind::Structure(_) | Kind::List(_) | Kind::Map { .. }, _) => None,
            (_, Value::Null) => None,
            (_, other) => Some(other.clone()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn grant_tokens_never_show() {
        let kms = ServiceModel::kms();
        let view = kms
            .audit_view(
                "CreateGrant",
                Direction::Response,
                &json!({"GrantId": "abc", "GrantToken": "token"}),
            )
            .unwrap();
        assert_eq!(view, json!({"grantId": "abc"}));
        let view = kms
            .audit_view(
                "Decrypt",
                Direction::Request,
                &json!({"KeyId": "k", "GrantTokens": ["token"]}),
            )
            .unwrap();
        assert_eq!(view, json!({"keyId": "k"}));
    }

    #[test]
    fn blobs_and_sensitive_members_never_show() {
        let kms = ServiceModel::kms();
        let request = json!({
            "KeyId": "alias/UserName",
            "Plaintext": "c3R1ZGVudA==",
            "EncryptionContext": {"LambdaFunctionName": "loadtest"},
        });
        let view = kms
            .audit_view("Encrypt", Direction::Request, &request)
            .unwrap();
        assert_eq!(
            view,
            json!({"keyId": "alias/UserName", "encryptionContext": {"LambdaFunctionName": "loadtest"}})
        );
        let response = json!({"KeyId": "arn", "Plaintext": "c3R1ZGVudA==", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"});
        let view = kms
            .audit_view("Decrypt", Direction::Response, &response)
            .unwrap();
        assert!(!view.to_string().contains("c3R1ZGVudA"));
    }

    #[test]
    fn secret_strings_never_show() {
        let sm = ServiceModel::secretsmanager();
        let request = json!({"Name": "student", "SecretString": "{\"Password\":\"lab_password\"}", "Tags": [{"Key": "a", "Value": "b"}]});
        let view = sm
            .audit_view("CreateSecret", Direction::Request, &request)
            .unwrap();
        assert!(!view.to_string().contains("lab_password"));
        assert_eq!(view["name"], "student");
        assert_eq!(view["tags"][0]["key"], "a");
        let response = json!({"Name": "student", "SecretString": "lab_password", "VersionStages": ["AWSCURRENT"]});
        let view = sm
            .audit_view("GetSecretValue", Direction::Response, &response)
            .unwrap();
        assert!(!view.to_string().contains("lab_password"));
        let password = json!({"RandomPassword": "hunter2"});
        let view = sm
            .audit_view("GetRandomPassword", Direction::Response, &password)
            .unwrap();
        assert!(!view.to_string().contains("hunter2"));
    }
}
