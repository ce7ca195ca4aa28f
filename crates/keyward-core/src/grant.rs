//! KMS grants: permissions on one key given to a grantee principal, for a list of
//! operations, optionally bound to the encryption context of the request.

use std::collections::BTreeMap;

use keyward_crypto::CryptoError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::iam::account_serde;
use crate::ids::key_arn;
use crate::{AccountId, Region, UnixMillis};

const GRANT_ID_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub key_id: Uuid,
    /// 64 lowercase hex characters.
    pub grant_id: String,
    pub name: Option<String>,
    /// The key's account and region.
    #[serde(with = "account_serde")]
    pub account: AccountId,
    #[serde(with = "region_serde")]
    pub region: Region,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    /// `arn:aws:iam::<account>:root`.
    pub issuing_account: String,
    /// Operation names as KMS spells them: `Decrypt`, `Encrypt`, ….
    pub operations: Vec<String>,
    pub constraints: Option<GrantConstraints>,
    pub created: UnixMillis,
}

impl GrantRecord {
    pub fn key_arn(&self) -> String {
        key_arn(&self.region, &self.account, &self.key_id)
    }
}

/// Conditions on the encryption context of a request the grant allows.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantConstraints {
    /// The request's context must contain these pairs (and may have more).
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    /// The request's context must be exactly these pairs.
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

/// A new grant id: 32 random bytes in lowercase hex.
pub fn new_grant_id() -> Result<String, CryptoError> {
    let bytes = keyward_crypto::random_bytes(GRANT_ID_BYTES)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `Region` as its string in stored records, checked again when read back.
mod region_serde {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Region;

    pub fn serialize<S: Serializer>(region: &Region, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(region.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Region, D::Error> {
        let text = String::deserialize(deserializer)?;
        Region::parse(&text).ok_or_else(|| D::Error::custom(format!("invalid region {text:?}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn grant_ids_are_64_hex_characters() {
        let id = new_grant_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(id, new_grant_id().unwrap());
    }

    #[test]
    fn stored_form_round_trips() {
        let grant = GrantRecord {
            key_id: Uuid::new_v4(),
            grant_id: new_grant_id().unwrap(),
            name: Some("n".into()),
            account: AccountId::parse("123456789012").unwrap(),
            region: Region::parse("eu-west-1").unwrap(),
            grantee_principal: "arn:aws:iam::123456789012:role/app".into(),
            retiring_principal: None,
            issuing_account: "arn:aws:iam::123456789012:root".into(),
            operations: vec!["Decrypt".into()],
            constraints: Some(GrantConstraints {
                encryption_context_subset: Some(BTreeMap::from([("a".into(), "b".into())])),
                encryption_context_equals: None,
            }),
            created: UnixMillis(5),
        };
        let text = serde_json::to_string(&grant).unwrap();
        assert_eq!(serde_json::from_str::<GrantRecord>(&text).unwrap(), grant);
        assert_eq!(
            grant.key_arn(),
            format!("arn:aws:kms:eu-west-1:123456789012:key/{}", grant.key_id)
        );
        let bad = text.replace("eu-west-1", "EU WEST");
        assert!(serde_json::from_str::<GrantRecord>(&bad).is_err());
    }
}
