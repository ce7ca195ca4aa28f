//! Accounts, regions, key ids and the four spellings of a `KeyId` parameter.

use std::fmt;

use uuid::Uuid;

use crate::KmsError;

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

/// Keyward's default account, `000000000000`.
impl Default for AccountId {
    fn default() -> Self {
        Self("000000000000".to_owned())
    }
}

impl AccountId {
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A region name as it appears in a SigV4 credential scope (`us-east-1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn key_arn(region: &Region, account: &AccountId, key_id: &Uuid) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{key_id}")
}

pub fn alias_arn(region: &Region, account: &AccountId, alias_name: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{alias_name}")
}

/// The prefix of a multi-Region key's id (`mrk-` and 32 lowercase hex digits).
pub const MRK_PREFIX: &str = "mrk-";

/// The public id of a multi-Region key as AWS spells it: `mrk-<32 lowercase hex digits>`.
pub fn mrk_key_id(public: &Uuid) -> String {
    format!("{MRK_PREFIX}{}", public.simple())
}

/// Parses `mrk-<32 lowercase hex digits>` into the key's public id.
pub fn parse_mrk_key_id(input: &str) -> Option<Uuid> {
    let hex = input.strip_prefix(MRK_PREFIX)?;
    let valid = hex.len() == 32
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    valid.then(|| Uuid::parse_str(hex).ok()).flatten()
}

/// The store id of the copy of multi-Region key `public` in `region`. Every copy shares the
/// public id, but the store (keys, material, grants, alias targets) is keyed by one id per
/// key; deriving it from the public id and the region keeps copies apart without a lookup
/// table and finds the copy of a region with no read.
pub fn mrk_copy_id(public: &Uuid, region: &str) -> Uuid {
    let digest =
        keyward_crypto::sha256(format!("keyward-mrk/{}/{region}", public.simple()).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// What a `KeyId` parameter names: a key id, a key ARN, an alias name or an alias ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Key(Uuid),
    /// A multi-Region key by its public id (`mrk-…`): the copy in the caller's region.
    MultiRegion(Uuid),
    /// `alias/<name>`, always in the caller's account and region.
    Alias(String),
}

impl KeyRef {
    /// Parses a `KeyId` parameter in the caller's region and account. An ARN of another
    /// region or account names no key here, so it is `NotFoundException`, as AWS answers
    /// for a key it cannot see.
    pub fn parse(input: &str, region: &Region, account: &AccountId) -> Result<Self, KmsError> {
        if let Some(rest) = input.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, arn_region, arn_account, resource] = parts.as_slice() else {
                return Err(KmsError::NotFound(format!("Invalid arn {input}")));
            };
            if !partition.starts_with("aws") || *service != "kms" {
                return Err(KmsError::NotFound(format!("Invalid arn {input}")));
            }
            if *arn_region != region.as_str() {
                return Err(KmsError::NotFound(format!("Invalid arn {arn_region}")));
            }
            if *arn_account != account.as_str() {
                return Err(KmsError::NotFound(format!("Key '{input}' does not exist")));
            }
            if let Some(id) = resource.strip_prefix("key/") {
                if let Some(public) = parse_mrk_key_id(id) {
                    return Ok(KeyRef::MultiRegion(public));
                }
                return Uuid::parse_str(id)
                    .ok()
                    .filter(|uuid| uuid.hyphenated().to_string() == id)
                    .map(KeyRef::Key)
                    .ok_or_else(|| KmsError::NotFound(format!("Key '{input}' does not exist")));
            }
            if resource.starts_with("alias/") {
                return Ok(KeyRef::Alias((*resource).to_owned()));
            }
            return Err(KmsError::NotFound(format!("Invalid arn {input}")));
        }
        if input.starts_with("alias/") {
            return Ok(KeyRef::Alias(input.to_owned()));
        }
        if let Some(public) = parse_mrk_key_id(input) {
            return Ok(KeyRef::MultiRegion(public));
        }
        Uuid::parse_str(input)
            .ok()
            .filter(|uuid| uuid.hyphenated().to_string() == input)
            .map(KeyRef::Key)
            .ok_or_else(|| KmsError::NotFound(format!("Invalid keyId '{input}'")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn here() -> (Region, AccountId) {
        (
            Region::parse("us-east-1").unwrap(),
            AccountId::parse("000000000000").unwrap(),
        )
    }

    #[test]
    fn four_spellings_of_a_key() {
        let (r, a) = here();
        let id = Uuid::new_v4();
        assert_eq!(
            KeyRef::parse(&id.to_string(), &r, &a).unwrap(),
            KeyRef::Key(id)
        );
        assert_eq!(
            KeyRef::parse(&key_arn(&r, &a, &id), &r, &a).unwrap(),
            KeyRef::Key(id)
        );
        assert_eq!(
            KeyRef::parse("alias/x", &r, &a).unwrap(),
            KeyRef::Alias("alias/x".into())
        );
        assert_eq!(
            KeyRef::parse(&alias_arn(&r, &a, "alias/x"), &r, &a).unwrap(),
            KeyRef::Alias("alias/x".into())
        );
    }

    #[test]
    fn foreign_or_malformed_names_are_not_found() {
        let (r, a) = here();
        let id = Uuid::new_v4();
        for bad in [
            "nope".to_string(),
            format!("arn:aws:kms:eu-west-1:000000000000:key/{id}"),
            format!("arn:aws:kms:us-east-1:111111111111:key/{id}"),
            "arn:aws:kms:us-east-1:000000000000:key/zzz".to_string(),
            "arn:aws:s3:::bucket".to_string(),
            id.simple().to_string(),
        ] {
            assert!(
                matches!(KeyRef::parse(&bad, &r, &a), Err(KmsError::NotFound(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn multi_region_key_ids() {
        let (r, a) = here();
        let public = Uuid::new_v4();
        let id = mrk_key_id(&public);
        assert_eq!(id.len(), 36);
        assert!(id.starts_with("mrk-"));
        assert_eq!(parse_mrk_key_id(&id), Some(public));
        assert_eq!(
            KeyRef::parse(&id, &r, &a).unwrap(),
            KeyRef::MultiRegion(public)
        );
        assert_eq!(
            KeyRef::parse(
                &format!("arn:aws:kms:us-east-1:000000000000:key/{id}"),
                &r,
                &a
            )
            .unwrap(),
            KeyRef::MultiRegion(public)
        );
        for bad in [
            "mrk-".to_string(),
            format!("mrk-{}", public.hyphenated()),
            format!("mrk-{}", public.simple()).to_uppercase(),
            format!("MRK-{}", public.simple()),
            format!("mrk-{}0", public.simple()),
            format!("arn:aws:kms:eu-west-1:000000000000:key/{id}"),
        ] {
            assert!(
                matches!(KeyRef::parse(&bad, &r, &a), Err(KmsError::NotFound(_))),
                "{bad}"
            );
        }
        // One store id per copy: stable, different per region, never the public id.
        let east = mrk_copy_id(&public, "us-east-1");
        assert_eq!(east, mrk_copy_id(&public, "us-east-1"));
        assert_ne!(east, mrk_copy_id(&public, "eu-west-1"));
        assert_ne!(east, public);
        assert_ne!(east, mrk_copy_id(&Uuid::new_v4(), "us-east-1"));
        // A known answer, so a change of the derivation (which would orphan stored keys)
        // cannot pass unnoticed.
        let fixed = Uuid::parse_str("1234abcd12ab34cd56ef1234567890ab").unwrap();
        assert_eq!(
            mrk_copy_id(&fixed, "us-east-1").to_string(),
            "3abdeb5d-3130-ec9e-9508-1694dc4ea6e1"
        );
    }

    #[test]
    fn account_and_region_rules() {
        assert!(AccountId::parse("000000000000").is_some());
        assert!(AccountId::parse("00000000000").is_none());
        assert!(Region::parse("us-east-1").is_some());
        assert!(Region::parse("US").is_none());
        assert!(Region::parse("").is_none());
    }
}
