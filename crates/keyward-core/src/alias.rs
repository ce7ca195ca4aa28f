//! Aliases: friendly names that point at one key in the same account and region.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{KmsError, UnixMillis};

/// Aliases under `alias/aws/` belong to AWS managed keys; callers cannot make or move them.
pub const RESERVED_PREFIX: &str = "alias/aws/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub account: String,
    pub region: String,
    /// The full name, `alias/…`.
    pub name: String,
    pub target: Uuid,
    pub created: UnixMillis,
    pub updated: UnixMillis,
}

impl AliasRecord {
    pub fn arn(&self) -> String {
        format!("arn:aws:kms:{}:{}:{}", self.region, self.account, self.name)
    }
}

/// The checks KMS makes on an alias a caller wants to create or move. The model's pattern
/// (`alias/[a-zA-Z0-9/_-]+`) and length are checked by the codec before this.
pub fn check_customer_alias_name(name: &str) -> Result<(), KmsError> {
    if !name.starts_with("alias/") || name.len() <= "alias/".len() {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
        )));
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(KmsError::NotAuthorized(
            "Cannot create, update or delete an alias whose name begins with alias/aws/. Those aliases are reserved for AWS managed keys.".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_malformed_names() {
        assert!(check_customer_alias_name("alias/UserName").is_ok());
        assert!(matches!(
            check_customer_alias_name("alias/aws/s3"),
            Err(KmsError::NotAuthorized(_))
        ));
        assert!(matches!(
            check_customer_alias_name("UserName"),
            Err(KmsError::Validation(_))
        ));
        assert!(matches!(
            check_customer_alias_name("alias/"),
            Err(KmsError::Validation(_))
        ));
    }
}
