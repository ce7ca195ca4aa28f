//! The stack file of `keyward apply`: its types (strict: an unknown field is an error that
//! names its path), and the checks made before anything is sent, so that a bad file
//! changes nothing. The format is documented in docs/apply.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::refs::{self, Kind};

/// Symmetric key material is 256 bits.
pub const MATERIAL_LEN: usize = 32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// The format's version; only 1 exists.
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub users: BTreeMap<String, User>,
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    #[serde(default)]
    pub keys: BTreeMap<String, Key>,
    #[serde(default)]
    pub secrets: BTreeMap<String, Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The IAM user name; the logical name when absent.
    pub name: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Inline policies, by name: exactly these (others are deleted).
    #[serde(default)]
    pub policies: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: Option<String>,
    pub path: Option<String>,
    /// Set when the role is created (IAM's UpdateRole is not used).
    pub description: Option<String>,
    pub assume_role_policy: Value,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub policies: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub description: Option<String>,
    pub key_spec: Option<String>,
    pub key_usage: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The key policy; the account's default key policy when absent.
    pub policy: Option<Value>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub enable_key_rotation: Option<bool>,
    /// A fixed key id (Keyward's CreateKey extension, the tag `keyward:key-id`).
    pub key_id: Option<String>,
    /// Key material of one's own: the key is made with origin EXTERNAL and the material
    /// imported.
    pub material: Option<Material>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Material {
    /// The 32 bytes in base64.
    pub base64: Option<String>,
    /// A file holding them in base64 (relative to the stack file).
    pub file: Option<PathBuf>,
    /// An environment variable holding them in base64.
    pub env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub name: Option<String>,
    pub description: Option<String>,
    /// A logical key of this file, or any KMS key identifier.
    pub kms_key: Option<String>,
    pub secret_string: Option<String>,
    /// A map, stored as its JSON text.
    pub secret_json: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The secret's resource policy.
    pub policy: Option<Value>,
}

impl User {
    pub fn name<'a>(&'a self, logical: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(logical)
    }
}

impl Role {
    pub fn name<'a>(&'a self, logical: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(logical)
    }
}

impl Secret {
    pub fn name<'a>(&'a self, logical: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(logical)
    }

    /// The value to store, as text (a `secret_json` map serialized compactly).
    pub fn value(&self) -> Option<Zeroizing<String>> {
        if let Some(text) = &self.secret_string {
            return Some(Zeroizing::new(text.clone()));
        }
        self.secret_json
            .as_ref()
            .map(|map| Zeroizing::new(serde_json::to_string(map).unwrap_or_default()))
    }
}

impl Key {
    pub fn key_spec(&self) -> &str {
        self.key_spec.as_deref().unwrap_or("SYMMETRIC_DEFAULT")
    }

    pub fn key_usage(&self) -> &str {
        self.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT")
    }
}

/// Reads and checks a stack file. Errors name the file and the path of the bad field.
pub fn load(path: &Path) -> Result<Stack, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let stack = parse(&text, base).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(stack)
}

/// Parses and checks a stack; `base` is the directory relative `file:` paths start from.
pub fn parse(text: &str, base: &Path) -> Result<Stack, String> {
    let stack: Stack = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    check(&stack, base)?;
    Ok(stack)
}

fn check_name(path: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{path}: a logical name is 1 to 64 letters, digits, _ and -"
        ))
    }
}

/// A policy given as a YAML map or as JSON text, as a JSON object.
pub fn policy_value(path: &str, policy: &Value) -> Result<Value, String> {
    let value = match policy {
        Value::String(text) => serde_json::from_str::<Value>(text)
            .map_err(|e| format!("{path}: not a JSON policy document: {e}"))?,
        other => other.clone(),
    };
    if !value.is_object() {
        return Err(format!(
            "{path}: a policy is a map (or a JSON object as text)"
        ));
    }
    Ok(value)
}

/// Every check that needs no network: names, references, policies, key material.
pub fn check(stack: &Stack, base: &Path) -> Result<(), String> {
    if let Some(version) = stack.version {
        if version != 1 {
            return Err(format!("version: {version} is not a known version (1)"));
        }
    }
    let mut defined = refs::Defined::default();
    for name in stack.users.keys() {
        check_name(&format!("users.{name}"), name)?;
        defined.add(Kind::User, name);
    }
    for name in stack.roles.keys() {
        check_name(&format!("roles.{name}"), name)?;
        defined.add(Kind::Role, name);
    }
    for name in stack.keys.keys() {
        check_name(&format!("keys.{name}"), name)?;
        defined.add(Kind::Key, name);
    }
    for name in stack.secrets.keys() {
        check_name(&format!("secrets.{name}"), name)?;
        defined.add(Kind::Secret, name);
    }
    let iam_only = [Kind::User];
    let principals = [Kind::User, Kind::Role];
    let all = [Kind::User, Kind::Role, Kind::Key, Kind::Secret];
    let mut user_names = BTreeMap::new();
    for (logical, user) in &stack.users {
        let path = format!("users.{logical}");
        if let Some(other) = user_names.insert(user.name(logical), logical) {
            return Err(format!("{path}: the user name is also users.{other}'s"));
        }
        for (name, policy) in &user.policies {
            let at = format!("{path}.policies.{name}");
            defined.check_value(&at, &policy_value(&at, policy)?, &all)?;
        }
    }
    let mut role_names = BTreeMap::new();
    for (logical, role) in &stack.roles {
        let path = format!("roles.{logical}");
        if let Some(other) = role_names.insert(role.name(logical), logical) {
            return Err(format!("{path}: the role name is also roles.{other}'s"));
        }
        let at = format!("{path}.assume_role_policy");
        defined.check_value(
            &at,
            &policy_value(&at, &role.assume_role_policy)?,
            &iam_only,
        )?;
        for (name, policy) in &role.policies {
            let at = format!("{path}.policies.{name}");
            defined.check_value(&at, &policy_value(&at, policy)?, &all)?;
        }
    }
    let mut aliases = BTreeMap::new();
    let mut key_ids = BTreeMap::new();
    for (logical, key) in &stack.keys {
        let path = format!("keys.{logical}");
        if let Some(policy) = &key.policy {
            let at = format!("{path}.policy");
            defined.check_value(&at, &policy_value(&at, policy)?, &principals)?;
        }
        for alias in &key.aliases {
            let bare = alias.strip_prefix("alias/").unwrap_or_default();
            let ok = !bare.is_empty()
                && !bare.starts_with("aws/")
                && bare.len() <= 250
                && bare
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c));
            if !ok {
                return Err(format!(
                    "{path}.aliases: '{alias}' is not an alias name: alias/ and then letters, digits, /, _ and - (not alias/aws/...)"
                ));
            }
            if let Some(other) = aliases.insert(alias.as_str(), logical) {
                return Err(format!("{path}.aliases: {alias} is also keys.{other}'s"));
            }
        }
        if let Some(id) = &key.key_id {
            let valid = id.len() == 36
                && uuid::Uuid::parse_str(id).is_ok_and(|u| !u.is_nil())
                && id == &id.to_ascii_lowercase();
            if !valid {
                return Err(format!(
                    "{path}.key_id: '{id}' is not a key id (a lowercase UUID such as 1234abcd-12ab-34cd-56ef-1234567890ab)"
                ));
            }
            if let Some(other) = key_ids.insert(id.as_str(), logical) {
                return Err(format!("{path}.key_id: also keys.{other}'s"));
            }
        }
        if key.aliases.is_empty() && key.key_id.is_none() {
            return Err(format!(
                "{path}: give the key an alias or a key_id, so that the next apply finds it"
            ));
        }
        if let Some(material) = &key.material {
            if key.key_spec() != "SYMMETRIC_DEFAULT" {
                return Err(format!(
                    "{path}.material: only SYMMETRIC_DEFAULT keys take material from the file"
                ));
            }
            if key.enable_key_rotation == Some(true) {
                return Err(format!(
                    "{path}.enable_key_rotation: keys with imported material do not rotate automatically"
                ));
            }
            // Read now, so that a missing file or variable stops the apply before it starts.
            material_bytes(&format!("{path}.material"), material, base)?;
        }
    }
    let mut secret_names = BTreeMap::new();
    for (logical, secret) in &stack.secrets {
        let path = format!("secrets.{logical}");
        if let Some(other) = secret_names.insert(secret.name(logical), logical) {
            return Err(format!("{path}: the secret name is also secrets.{other}'s"));
        }
        if secret.secret_string.is_some() && secret.secret_json.is_some() {
            return Err(format!(
                "{path}: give secret_string or secret_json, not both"
            ));
        }
        if let Some(key) = &secret.kms_key {
            if !stack.keys.contains_key(key) {
                defined.check_text(&format!("{path}.kms_key"), key, &all)?;
            }
        }
        if let Some(policy) = &secret.policy {
            let at = format!("{path}.policy");
            defined.check_value(&at, &policy_value(&at, policy)?, &all)?;
        }
    }
    Ok(())
}

/// The key material a `material:` names, checked to be 32 bytes. `base` is the stack
/// file's directory, for relative `file:` paths.
pub fn material_bytes(
    path: &str,
    material: &Material,
    base: &Path,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let text = match (&material.base64, &material.file, &material.env) {
        (Some(text), None, None) => Zeroizing::new(text.clone()),
        (None, Some(file), None) => {
            let file = base.join(file);
            Zeroizing::new(
                std::fs::read_to_string(&file)
                    .map_err(|e| format!("{path}.file: cannot read {}: {e}", file.display()))?,
            )
        }
        (None, None, Some(var)) => Zeroizing::new(
            std::env::var(var)
                .map_err(|_| format!("{path}.env: the environment variable {var} is not set"))?,
        ),
        _ => return Err(format!("{path}: give exactly one of base64, file and env")),
    };
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| format!("{path}: not base64"))?,
    );
    if bytes.len() != MATERIAL_LEN {
        return Err(format!(
            "{path}: key material is {MATERIAL_LEN} bytes, this is {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_here(text: &str) -> Result<Stack, String> {
        parse(text, Path::new("."))
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let err =
            parse_here("keys:\n  a:\n    aliases: [alias/a]\n    descripton: x\n").unwrap_err();
        assert!(err.contains("keys.a"), "{err}");
        assert!(err.contains("descripton"), "{err}");
    }

    #[test]
    fn references_must_name_items_of_the_file() {
        let err = parse_here(
            "keys:\n  a:\n    aliases: [alias/a]\n    policy:\n      Statement:\n        - Principal: {AWS: '${users.nobody.arn}'}\n",
        )
        .unwrap_err();
        assert!(err.contains("keys.a.policy"), "{err}");
        assert!(err.contains("users.nobody"), "{err}");
        // IAM policy variables are not references.
        parse_here("users:\n  u:\n    policies:\n      p:\n        Statement:\n          - Resource: 'arn:aws:iam::*:user/${aws:username}'\n").unwrap();
    }

    #[test]
    fn material_must_be_32_bytes() {
        let err = parse_here("keys:\n  a:\n    key_id: 1234abcd-12ab-34cd-56ef-1234567890ab\n    material: {base64: AAAA}\n").unwrap_err();
        assert!(err.contains("keys.a.material"), "{err}");
        let ok = format!(
            "keys:\n  a:\n    key_id: 1234abcd-12ab-34cd-56ef-1234567890ab\n    material: {{base64: {}}}\n",
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        );
        parse_here(&ok).unwrap();
    }

    #[test]
    fn keys_need_an_alias_or_an_id() {
        let err = parse_here("keys:\n  a:\n    description: x\n").unwrap_err();
        assert!(err.contains("keys.a"), "{err}");
        let err = parse_here("keys:\n  a:\n    key_id: not-a-uuid\n").unwrap_err();
        assert!(err.contains("keys.a.key_id"), "{err}");
    }
}
