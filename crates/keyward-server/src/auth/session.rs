//! Temporary credentials of role sessions (STS `AssumeRole`).
//!
//! A session token is self-contained: the session's claims — its access key id and secret,
//! the role, the session name and the expiry — sealed with the root key (AES-256-GCM under a
//! dedicated associated-data label) and base64-encoded. Every node sharing the root key can
//! verify it without a database read; a token that does not open is unknown, one past its
//! expiry is expired. Deleting the role does not end its sessions early, as in AWS, but the
//! session then has no identity policies.

use base64::Engine;
use keyward_core::{AccountId, UnixMillis};
use keyward_crypto::RootKey;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// Associated data that binds a sealed token to its purpose and format.
const TOKEN_AAD: &[u8] = b"keyward-session-token/v1";

/// What a session token carries.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SessionClaims {
    #[serde(rename = "k")]
    pub access_key_id: String,
    /// Cleared from memory when the claims are dropped.
    #[serde(rename = "s")]
    pub secret_access_key: String,
    #[serde(rename = "a")]
    pub account: String,
    #[serde(rename = "r")]
    pub role_arn: String,
    #[serde(rename = "rn")]
    pub role_name: String,
    #[serde(rename = "ri")]
    pub role_id: String,
    #[serde(rename = "n")]
    pub session_name: String,
    #[serde(rename = "i")]
    pub issued: i64,
    #[serde(rename = "x")]
    pub expires: i64,
    /// The principal that assumed the role.
    #[serde(rename = "src")]
    pub source_arn: String,
}

impl std::fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionClaims")
            .field("access_key_id", &self.access_key_id)
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Drop for SessionClaims {
    fn drop(&mut self) {
        self.secret_access_key.zeroize();
    }
}

impl SessionClaims {
    pub fn account(&self) -> Option<AccountId> {
        AccountId::parse(&self.account)
    }

    /// `arn:aws:sts::<account>:assumed-role/<role name>/<session name>`.
    pub fn session_arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.account, self.role_name, self.session_name
        )
    }

    pub fn expires(&self) -> UnixMillis {
        UnixMillis(self.expires)
    }
}

pub(crate) fn seal(root: &RootKey, claims: &SessionClaims) -> Result<String, String> {
    let json = Zeroizing::new(serde_json::to_vec(claims).map_err(|e| e.to_string())?);
    let sealed = root
        .wrap(TOKEN_AAD, &json)
        .map_err(|e| format!("sealing a session token: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

/// The claims of a token this installation issued, or `None` for anything else.
pub(crate) fn open(root: &RootKey, token: &str) -> Option<SessionClaims> {
    // A bound on the work an attacker can ask for: our tokens are far shorter.
    if token.len() > 4096 {
        return None;
    }
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(token.as_bytes())
        .ok()?;
    let json = root.unwrap_material(TOKEN_AAD, &sealed).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> SessionClaims {
        SessionClaims {
            access_key_id: "ASIAEXAMPLEEXAMPLE12".into(),
            secret_access_key: "s3cr3t".into(),
            account: "111122223333".into(),
            role_arn: "arn:aws:iam::111122223333:role/loadtest".into(),
            role_name: "loadtest".into(),
            role_id: "AROAEXAMPLE".into(),
            session_name: "run1".into(),
            issued: 1,
            expires: 2,
            source_arn: "arn:aws:iam::111122223333:root".into(),
        }
    }

    #[test]
    fn a_sealed_token_opens_only_with_its_root_key() {
        let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
        let other = RootKey::from_bytes(&[8u8; 32]).unwrap();
        let token = seal(&root, &claims()).unwrap();
        let opened = open(&root, &token).unwrap();
        assert_eq!(
            opened.session_arn(),
            "arn:aws:sts::111122223333:assumed-role/loadtest/run1"
        );
        assert_eq!(opened.secret_access_key, "s3cr3t");
        assert!(open(&other, &token).is_none());
        assert!(open(&root, "not base64!").is_none());
        let mut altered = token.into_bytes();
        altered[10] ^= 1;
        assert!(open(&root, &String::from_utf8(altered).unwrap()).is_none());
    }
}
