//! Who is calling: SigV4 verification against the access keys of the store (cached) or the
//! temporary credentials of a role session.

pub(crate) mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use keyward_core::{AccountId, KmsError, Region, UnixMillis};
use keyward_protocol::sigv4::{self, ParsedAuth, RequestParts, SigV4Error};
use keyward_protocol::WireError;
use zeroize::Zeroizing;

use crate::state::AppState;
use session::SessionClaims;

/// Who a caller is, as IAM sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// The account root.
    Root,
    /// An IAM user signing with its long-term access key.
    User { name: String, user_id: String },
    /// A session of a role, signing with temporary credentials.
    AssumedRole {
        role_name: String,
        role_id: String,
        role_arn: String,
        session_name: String,
        issued: UnixMillis,
        source_arn: String,
    },
}

/// An authenticated caller, in the region its credential scope names.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub account: AccountId,
    pub region: Region,
    /// The root's, the user's or the role session's ARN.
    pub principal_arn: String,
    pub access_key_id: String,
    pub identity: Identity,
    /// Where the request came from, for `aws:SourceIp`.
    pub source_ip: String,
}

impl Caller {
    /// CloudTrail's and STS's `UserId`/`principalId`: the account id for the root, the
    /// user's id, or `<role id>:<session name>`.
    pub fn principal_id(&self) -> String {
        match &self.identity {
            Identity::Root => self.account.to_string(),
            Identity::User { user_id, .. } => user_id.clone(),
            Identity::AssumedRole {
                role_id,
                session_name,
                ..
            } => format!("{role_id}:{session_name}"),
        }
    }

    pub fn is_root(&self) -> bool {
        self.identity == Identity::Root
    }

    /// The ARN `aws:PrincipalArn` names: a role's for its sessions.
    pub fn policy_principal_arn(&self) -> &str {
        match &self.identity {
            Identity::AssumedRole { role_arn, .. } => role_arn,
            _ => &self.principal_arn,
        }
    }
}

pub(crate) struct Credential {
    secret: Zeroizing<String>,
    account: AccountId,
    principal_arn: String,
    user_name: Option<String>,
}

/// A derived SigV4 signing key, wiped when dropped.
type SigningKey = Arc<Zeroizing<[u8; 32]>>;

/// Long-term credentials by access key id, and opened session tokens by token.
#[derive(Default)]
pub(crate) struct CredentialCache {
    map: RwLock<HashMap<String, Arc<Credential>>>,
    sessions: RwLock<HashMap<String, Arc<SessionClaims>>>,
    /// SigV4 signing keys by access key id and credential scope: deriving one takes four
    /// HMACs, and a client signs every request of a day with the same one. An access key's
    /// secret never changes, so its id and the scope name the key.
    signing_keys: RwLock<HashMap<(String, String), SigningKey>>,
    /// Bumped by every invalidation, so a load that raced with a change never caches what
    /// it read before the change.
    epoch: AtomicU64,
}

/// Bound on cached session tokens; the cache starts over when it is reached.
const MAX_CACHED_SESSIONS: usize = 10_000;

impl CredentialCache {
    /// Forgets one access key (after it is disabled, deleted or its user deleted).
    pub fn forget(&self, access_key_id: &str) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.map.write() {
            map.remove(access_key_id);
        }
        if let Ok(mut keys) = self.signing_keys.write() {
            keys.retain(|(id, _), _| id != access_key_id);
        }
    }

    /// Forgets every access key (session tokens carry their own claims and stay).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.map.write() {
            map.clear();
        }
        if let Ok(mut keys) = self.signing_keys.write() {
            keys.clear();
        }
    }
}

/// The AAD that binds a wrapped secret access key to its id.
pub(crate) fn secret_aad(access_key_id: &str) -> Vec<u8> {
    format!("access-key/{access_key_id}").into_bytes()
}

fn expired_token() -> WireError {
    WireError::client(
        "ExpiredTokenException",
        "The security token included in the request is expired",
    )
}

impl AppState {
    async fn credential(&self, access_key_id: &str) -> Result<Option<Arc<Credential>>, KmsError> {
        if let Some(hit) = self
            .inner
            .credentials
            .map
            .read()
            .ok()
            .and_then(|m| m.get(access_key_id).cloned())
        {
            return Ok(Some(hit));
        }
        let epoch = self.inner.credentials.epoch.load(Ordering::SeqCst);
        let id = access_key_id.to_owned();
        let loaded = self
            .blocking(move |inner| {
                let Some(row) = inner.store.get_access_key(&id)? else {
                    return Ok(None);
                };
                if !row.active {
                    return Ok(None);
                }
                let secret = inner
                    .root
                    .unwrap_material(&secret_aad(&row.access_key_id), &row.wrapped_secret)
                    .map_err(|e| KmsError::Internal(format!("access key {id}: {e}")))?;
                let secret = String::from_utf8(secret.to_vec()).map_err(|_| {
                    KmsError::Internal(format!("access key {id}: secret is not UTF-8"))
                })?;
                let account = AccountId::parse(&row.account)
                    .ok_or_else(|| KmsError::Internal(format!("access key {id}: bad account")))?;
                Ok(Some(Arc::new(Credential {
                    secret: Zeroizing::new(secret),
                    account,
                    principal_arn: row.principal_arn,
                    user_name: row.user_name,
                })))
            })
            .await?;
        if let (Some(credential), Ok(mut map)) = (&loaded, self.inner.credentials.map.write()) {
            if self.inner.credentials.epoch.load(Ordering::SeqCst) == epoch {
                map.insert(access_key_id.to_owned(), credential.clone());
            }
        }
        Ok(loaded)
    }

    /// The claims of a session token, if this installation issued it.
    fn session(&self, token: &str) -> Option<Arc<SessionClaims>> {
        let cache = &self.inner.credentials.sessions;
        if let Some(hit) = cache.read().ok().and_then(|m| m.get(token).cloned()) {
            return Some(hit);
        }
        let claims = Arc::new(session::open(&self.inner.root, token)?);
        if let Ok(mut map) = cache.write() {
            if map.len() >= MAX_CACHED_SESSIONS {
                map.clear();
            }
            map.insert(token.to_owned(), claims.clone());
        }
        Some(claims)
    }

    /// The signing key of `auth`'s access key and scope, derived once and then kept.
    fn signing_key(&self, auth: &ParsedAuth, secret: &str) -> SigningKey {
        let cache = &self.inner.credentials.signing_keys;
        let id = (auth.access_key_id.clone(), auth.scope());
        if let Some(hit) = cache.read().ok().and_then(|m| m.get(&id).cloned()) {
            return hit;
        }
        let key = Arc::new(Zeroizing::new(sigv4::signing_key(
            secret,
            &auth.date,
            &auth.region,
            &auth.service,
        )));
        if let Ok(mut map) = cache.write() {
            if map.len() >= MAX_CACHED_SESSIONS {
                map.clear();
            }
            map.insert(id, key.clone());
        }
        key
    }

    /// Verifies a request's signature and names its caller. `service` is the SigV4 service
    /// the request must be scoped to (`kms`, …).
    pub(crate) async fn authenticate(
        &self,
        parts: &RequestParts<'_>,
        service: &str,
        source_ip: &str,
    ) -> Result<Caller, WireError> {
        let auth = sigv4::parse_auth(parts).map_err(|e| e.to_wire())?;
        let now_millis = self.inner.clock.now();
        let now = to_offset(now_millis);
        // AWS reports a stale request before it looks at the access key.
        sigv4::check_request_time(&auth, now).map_err(|e| e.to_wire())?;
        let (secret, account, principal_arn, identity) = match &auth.security_token {
            Some(token) => {
                let claims = self
                    .session(token)
                    .filter(|c| c.access_key_id == auth.access_key_id)
                    .ok_or_else(|| SigV4Error::InvalidSecurityToken.to_wire())?;
                if claims.expires() <= now_millis {
                    return Err(expired_token());
                }
                let account = claims
                    .account()
                    .ok_or_else(|| SigV4Error::InvalidSecurityToken.to_wire())?;
                let identity = Identity::AssumedRole {
                    role_name: claims.role_name.clone(),
                    role_id: claims.role_id.clone(),
                    role_arn: claims.role_arn.clone(),
                    session_name: claims.session_name.clone(),
                    issued: UnixMillis(claims.issued),
                    source_arn: claims.source_arn.clone(),
                };
                (
                    Zeroizing::new(claims.secret_access_key.clone()),
                    account,
                    claims.session_arn(),
                    identity,
                )
            }
            None => {
                let credential = self
                    .credential(&auth.access_key_id)
                    .await
                    .map_err(|e| crate::errors::kms_to_wire(&e))?
                    .ok_or_else(|| SigV4Error::UnknownAccessKey.to_wire())?;
                let identity = match &credential.user_name {
                    None => Identity::Root,
                    Some(name) => {
                        let user = self
                            .principal_user(credential.account.as_str(), name)
                            .await
                            .map_err(|e| crate::errors::kms_to_wire(&e))?
                            .ok_or_else(|| SigV4Error::UnknownAccessKey.to_wire())?;
                        Identity::User {
                            name: name.clone(),
                            user_id: user.id.clone(),
                        }
                    }
                };
                (
                    credential.secret.clone(),
                    credential.account.clone(),
                    credential.principal_arn.clone(),
                    identity,
                )
            }
        };
        let key = self.signing_key(&auth, &secret);
        let verified =
            sigv4::verify_signed(parts, &auth, &key, now, true).map_err(|e| e.to_wire())?;
        if verified.service != service {
            return Err(WireError::client(
                "InvalidSignatureException",
                format!("Credential should be scoped to correct service: '{service}'. "),
            ));
        }
        let region = Region::parse(&verified.region).ok_or_else(|| {
            WireError::client(
                "InvalidSignatureException",
                format!(
                    "Credential should be scoped to a valid region, not '{}'. ",
                    verified.region
                ),
            )
        })?;
        Ok(Caller {
            account,
            region,
            principal_arn,
            access_key_id: verified.access_key_id,
            identity,
            source_ip: source_ip.to_owned(),
        })
    }
}

pub(crate) fn to_offset(now: UnixMillis) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now.0) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
