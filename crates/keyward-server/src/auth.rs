//! Who is calling: SigV4 verification against the access keys of the store, cached.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use keyward_core::{AccountId, KmsError, Region, UnixMillis};
use keyward_protocol::sigv4::{self, RequestParts, SigV4Error};
use keyward_protocol::WireError;
use zeroize::Zeroizing;

use crate::state::AppState;

/// An authenticated caller, in the region its credential scope names.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub account: AccountId,
    pub region: Region,
    pub principal_arn: String,
    pub access_key_id: String,
}

pub(crate) struct Credential {
    secret: Zeroizing<String>,
    account: AccountId,
    principal_arn: String,
}

#[derive(Default)]
pub(crate) struct CredentialCache {
    map: RwLock<HashMap<String, Arc<Credential>>>,
}

/// The AAD that binds a wrapped secret access key to its id.
pub(crate) fn secret_aad(access_key_id: &str) -> Vec<u8> {
    format!("access-key/{access_key_id}").into_bytes()
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
                })))
            })
            .await?;
        if let (Some(credential), Ok(mut map)) = (&loaded, self.inner.credentials.map.write()) {
            map.insert(access_key_id.to_owned(), credential.clone());
        }
        Ok(loaded)
    }

    /// Verifies a request's signature and names its caller. `service` is the SigV4 service
    /// the request must be scoped to (`kms`, …).
    pub(crate) async fn authenticate(
        &self,
        parts: &RequestParts<'_>,
        service: &str,
    ) -> Result<Caller, WireError> {
        let auth = sigv4::parse_auth(parts).map_err(|e| e.to_wire())?;
        let now = to_offset(self.inner.clock.now());
        // AWS reports a stale request before it looks at the access key.
        sigv4::check_request_time(&auth, now).map_err(|e| e.to_wire())?;
        let credential = self
            .credential(&auth.access_key_id)
            .await
            .map_err(|e| crate::errors::kms_to_wire(&e))?
            .ok_or_else(|| SigV4Error::UnknownAccessKey.to_wire())?;
        let verified =
            sigv4::verify(parts, &auth, &credential.secret, now).map_err(|e| e.to_wire())?;
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
            account: credential.account.clone(),
            region,
            principal_arn: credential.principal_arn.clone(),
            access_key_id: verified.access_key_id,
        })
    }
}

fn to_offset(now: UnixMillis) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now.0) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
