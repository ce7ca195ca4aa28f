//! IAM principals an account keeps: users and roles, with their tags and inline policies,
//! and the opaque ids AWS gives principals and access keys.
//!
//! IAM names are unique per account without regard to case (`Alice` and `alice` are the
//! same user) but keep the case they were created with; the store enforces that.

use std::collections::BTreeMap;

use keyward_crypto::CryptoError;
use serde::{Deserialize, Serialize};

use crate::{AccountId, UnixMillis};

/// The path of a principal created without one.
pub const DEFAULT_PATH: &str = "/";
/// A role's `MaxSessionDuration` when none is given, in seconds.
pub const DEFAULT_MAX_SESSION_DURATION: u32 = 3600;
/// Prefix of a user's `UserId`.
pub const USER_ID_PREFIX: &str = "AIDA";
/// Prefix of a role's `RoleId`.
pub const ROLE_ID_PREFIX: &str = "AROA";
/// Prefix of a long-term access key id.
pub const ACCESS_KEY_PREFIX: &str = "AKIA";
/// Prefix of a temporary (STS) access key id.
pub const TEMPORARY_ACCESS_KEY_PREFIX: &str = "ASIA";

/// The characters of principal and access key ids (RFC 4648 base32).
const ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const PRINCIPAL_ID_RANDOM_LEN: usize = 17;
const ACCESS_KEY_ID_RANDOM_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    #[serde(with = "account_serde")]
    pub account: AccountId,
    pub name: String,
    /// `/` or `/segment/…/`; part of the ARN.
    pub path: String,
    /// `AIDA` and 17 base32 characters; never reused, so a recreated user is another
    /// principal.
    pub user_id: String,
    pub created: UnixMillis,
    /// In the order they were added.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Inline policies: name → policy document.
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
    /// Bumped by the store on every write; a stale write is refused. 0 before it is stored.
    #[serde(skip)]
    pub revision: u64,
}

impl UserRecord {
    /// `arn:aws:iam::<account>:user<path><name>`.
    pub fn arn(&self) -> String {
        principal_arn(&self.account, "user", &self.path, &self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    #[serde(with = "account_serde")]
    pub account: AccountId,
    pub name: String,
    /// `/` or `/segment/…/`; part of the ARN.
    pub path: String,
    /// `AROA` and 17 base32 characters; never reused.
    pub role_id: String,
    pub created: UnixMillis,
    /// The trust policy: who may assume the role.
    pub assume_role_policy: String,
    /// The unique ids of the users and roles the trust policy names (ARN → id).
    #[serde(default)]
    pub trust_principals: BTreeMap<String, String>,
    pub description: Option<String>,
    /// Seconds.
    pub max_session_duration: u32,
    /// In the order they were added.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Inline policies: name → policy document.
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
    /// Bumped by the store on every write; a stale write is refused. 0 before it is stored.
    #[serde(skip)]
    pub revision: u64,
}

impl RoleRecord {
    /// `arn:aws:iam::<account>:role<path><name>`.
    pub fn arn(&self) -> String {
        principal_arn(&self.account, "role", &self.path, &self.name)
    }
}

fn principal_arn(account: &AccountId, kind: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{kind}{path}{name}")
}

/// `len` random characters of [`ID_ALPHABET`].
fn random_id_chars(len: usize) -> Result<String, CryptoError> {
    let bytes = keyward_crypto::random_bytes(len)?;
    // 256 is a multiple of 32, so keeping the low five bits of a byte favours no character.
    Ok(bytes
        .iter()
        .map(|b| char::from(ID_ALPHABET[usize::from(b & 31)]))
        .collect())
}

/// A new principal id: `prefix` ([`USER_ID_PREFIX`], [`ROLE_ID_PREFIX`]) and 17 random
/// base32 characters.
pub fn new_principal_id(prefix: &str) -> Result<String, CryptoError> {
    Ok(format!(
        "{prefix}{}",
        random_id_chars(PRINCIPAL_ID_RANDOM_LEN)?
    ))
}

/// A new access key id: `prefix` ([`ACCESS_KEY_PREFIX`] or [`TEMPORARY_ACCESS_KEY_PREFIX`])
/// and 16 random base32 characters, 20 in all.
pub fn new_access_key_id(prefix: &str) -> Result<String, CryptoError> {
    Ok(format!(
        "{prefix}{}",
        random_id_chars(ACCESS_KEY_ID_RANDOM_LEN)?
    ))
}

/// `AccountId` as its string in stored records, checked again when read back.
pub(crate) mod account_serde {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::AccountId;

    pub fn serialize<S: Serializer>(account: &AccountId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(account.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<AccountId, D::Error> {
        let text = String::deserialize(deserializer)?;
        AccountId::parse(&text)
            .ok_or_else(|| D::Error::custom(format!("invalid account id {text:?}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn account() -> AccountId {
        AccountId::parse("123456789012").unwrap()
    }

    fn user(name: &str, path: &str) -> UserRecord {
        UserRecord {
            account: account(),
            name: name.into(),
            path: path.into(),
            user_id: new_principal_id(USER_ID_PREFIX).unwrap(),
            created: UnixMillis(1),
            tags: vec![Tag {
                key: "team".into(),
                value: "a".into(),
            }],
            policies: BTreeMap::from([("p".into(), "{}".into())]),
            revision: 7,
        }
    }

    fn role(name: &str, path: &str) -> RoleRecord {
        RoleRecord {
            account: account(),
            name: name.into(),
            path: path.into(),
            role_id: new_principal_id(ROLE_ID_PREFIX).unwrap(),
            created: UnixMillis(1),
            assume_role_policy: "{}".into(),
            trust_principals: Default::default(),
            description: None,
            max_session_duration: DEFAULT_MAX_SESSION_DURATION,
            tags: vec![],
            policies: BTreeMap::new(),
            revision: 0,
        }
    }

    fn is_id_char(c: char) -> bool {
        c.is_ascii_uppercase() || ('2'..='7').contains(&c)
    }

    #[test]
    fn arns_put_the_path_between_the_kind_and_the_name() {
        assert_eq!(
            user("alice", DEFAULT_PATH).arn(),
            "arn:aws:iam::123456789012:user/alice"
        );
        assert_eq!(
            user("alice", "/dev/").arn(),
            "arn:aws:iam::123456789012:user/dev/alice"
        );
        assert_eq!(
            user("Bob", "/a/b/").arn(),
            "arn:aws:iam::123456789012:user/a/b/Bob"
        );
        assert_eq!(
            role("deployer", DEFAULT_PATH).arn(),
            "arn:aws:iam::123456789012:role/deployer"
        );
        assert_eq!(
            role("deployer", "/service-role/").arn(),
            "arn:aws:iam::123456789012:role/service-role/deployer"
        );
    }

    #[test]
    fn principal_ids_are_a_prefix_and_17_base32_characters() {
        for prefix in [USER_ID_PREFIX, ROLE_ID_PREFIX] {
            let id = new_principal_id(prefix).unwrap();
            assert_eq!(id.len(), 21, "{id}");
            let rest = id.strip_prefix(prefix).unwrap();
            assert!(rest.chars().all(is_id_char), "{id}");
        }
        assert_ne!(
            new_principal_id(USER_ID_PREFIX).unwrap(),
            new_principal_id(USER_ID_PREFIX).unwrap()
        );
    }

    #[test]
    fn access_key_ids_are_20_characters() {
        for prefix in [ACCESS_KEY_PREFIX, TEMPORARY_ACCESS_KEY_PREFIX] {
            let id = new_access_key_id(prefix).unwrap();
            assert_eq!(id.len(), 20, "{id}");
            assert!(id.strip_prefix(prefix).unwrap().chars().all(is_id_char));
        }
        assert_ne!(
            new_access_key_id(ACCESS_KEY_PREFIX).unwrap(),
            new_access_key_id(ACCESS_KEY_PREFIX).unwrap()
        );
    }

    #[test]
    fn every_id_character_turns_up() {
        let seen: std::collections::BTreeSet<char> = (0..64)
            .flat_map(|_| random_id_chars(64).unwrap().chars().collect::<Vec<_>>())
            .collect();
        assert_eq!(seen.len(), ID_ALPHABET.len());
    }

    #[test]
    fn stored_form_keeps_everything_but_the_revision() {
        let u = user("alice", "/dev/");
        let text = serde_json::to_string(&u).unwrap();
        let back: UserRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, UserRecord { revision: 0, ..u });
        let r = role("deployer", "/");
        let back: RoleRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_stored_record_with_a_bad_account_is_refused() {
        let text = serde_json::to_string(&user("alice", "/"))
            .unwrap()
            .replace("123456789012", "12345");
        assert!(serde_json::from_str::<UserRecord>(&text).is_err());
    }
}
