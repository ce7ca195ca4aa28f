//! Who may do what: AWS's policy evaluation over the caller's identity policies, the
//! resource's policy and the request's condition keys. Principals' compiled policies are
//! cached and dropped when IAM changes them, so the hot path reads no database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use keyward_core::policy::{
    authorize, CallerPrincipal, ConditionKeys, Outcome, PolicyDocument, PolicyKind, RequestContext,
    ResourceMode,
};
use keyward_core::KmsError;

use crate::auth::{Caller, Identity};
use crate::state::AppState;

/// A user or role as authorization needs it: its ids, tags and compiled inline policies.
#[derive(Debug)]
pub(crate) struct PrincipalInfo {
    pub id: String,
    pub arn: String,
    pub tags: Vec<(String, String)>,
    pub policies: Vec<Arc<PolicyDocument>>,
}

type PrincipalMap = RwLock<HashMap<(String, String), Option<Arc<PrincipalInfo>>>>;

/// Users and roles by (account, lower-case name); `None` remembers that there is none.
/// Also compiled resource policies by their text, which needs no invalidation.
#[derive(Default)]
pub(crate) struct PrincipalCache {
    users: PrincipalMap,
    roles: PrincipalMap,
    resource_policies: RwLock<HashMap<String, Arc<PolicyDocument>>>,
    /// Bumped by every invalidation, so a load that raced with a change never caches what
    /// it read before the change.
    epoch: AtomicU64,
}

/// Bound on cached resource policies; the cache starts over when it is reached.
const MAX_CACHED_POLICIES: usize = 4096;

fn cache_key(account: &str, name: &str) -> (String, String) {
    (account.to_owned(), name.to_lowercase())
}

fn compile(name: &str, owner: &str, text: &str) -> Option<Arc<PolicyDocument>> {
    match PolicyDocument::parse(text, PolicyKind::Identity) {
        Ok(doc) => Some(Arc::new(doc)),
        Err(err) => {
            // Documents are validated before they are stored; one that no longer parses
            // grants nothing rather than failing every request of its principal.
            tracing::warn!(policy = name, principal = owner, error = %err, "stored policy does not parse; ignoring it");
            None
        }
    }
}

impl PrincipalCache {
    pub fn forget_user(&self, account: &str, name: &str) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.users.write() {
            map.remove(&cache_key(account, name));
        }
    }

    pub fn forget_role(&self, account: &str, name: &str) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.roles.write() {
            map.remove(&cache_key(account, name));
        }
    }

    /// Forgets every user and role.
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for map in [&self.users, &self.roles] {
            if let Ok(mut map) = map.write() {
                map.clear();
            }
        }
    }
}

impl AppState {
    /// A resource policy (a secret's), compiled once per distinct text.
    pub(crate) fn resource_policy(
        &self,
        text: &str,
    ) -> Result<Arc<PolicyDocument>, keyward_core::policy::PolicyError> {
        let cache = &self.inner.principals.resource_policies;
        if let Some(hit) = cache.read().ok().and_then(|m| m.get(text).cloned()) {
            return Ok(hit);
        }
        let compiled = Arc::new(PolicyDocument::parse(text, PolicyKind::Resource)?);
        if let Ok(mut map) = cache.write() {
            if map.len() >= MAX_CACHED_POLICIES {
                map.clear();
            }
            map.insert(text.to_owned(), compiled.clone());
        }
        Ok(compiled)
    }

    pub(crate) async fn principal_user(
        &self,
        account: &str,
        name: &str,
    ) -> Result<Option<Arc<PrincipalInfo>>, KmsError> {
        self.principal(false, account, name).await
    }

    pub(crate) async fn principal_role(
        &self,
        account: &str,
        name: &str,
    ) -> Result<Option<Arc<PrincipalInfo>>, KmsError> {
        self.principal(true, account, name).await
    }

    /// A user or role by name, from the cache or else the store.
    async fn principal(
        &self,
        role: bool,
        account: &str,
        name: &str,
    ) -> Result<Option<Arc<PrincipalInfo>>, KmsError> {
        let cache = &self.inner.principals;
        let map = if role { &cache.roles } else { &cache.users };
        let key = cache_key(account, name);
        if let Some(hit) = map.read().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(hit);
        }
        let epoch = cache.epoch.load(Ordering::SeqCst);
        let (account, name) = (account.to_owned(), name.to_owned());
        let loaded = self
            .blocking(move |inner| {
                let found = if role {
                    inner
                        .store
                        .get_role(&account, &name)?
                        .map(|r| (r.arn(), r.role_id, r.tags, r.policies))
                } else {
                    inner
                        .store
                        .get_user(&account, &name)?
                        .map(|u| (u.arn(), u.user_id, u.tags, u.policies))
                };
                Ok(found.map(|(arn, id, tags, policies)| {
                    Arc::new(PrincipalInfo {
                        policies: policies
                            .iter()
                            .filter_map(|(policy, text)| compile(policy, &arn, text))
                            .collect(),
                        id,
                        tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
                        arn,
                    })
                }))
            })
            .await?;
        if let Ok(mut map) = map.write() {
            if cache.epoch.load(Ordering::SeqCst) == epoch {
                map.insert(key, loaded.clone());
            }
        }
        Ok(loaded)
    }

    /// The caller's user or role, if it is one (and still exists).
    async fn caller_principal(
        &self,
        caller: &Caller,
    ) -> Result<Option<Arc<PrincipalInfo>>, KmsError> {
        match &caller.identity {
            Identity::Root => Ok(None),
            Identity::User { name, .. } => self.principal_user(caller.account.as_str(), name).await,
            Identity::AssumedRole { role_name, .. } => {
                self.principal_role(caller.account.as_str(), role_name)
                    .await
            }
        }
    }

    /// Decides one request. `keys` holds the request's and resource's condition keys; the
    /// caller's own (`aws:PrincipalArn`, `aws:SourceIp`, …) are added here. On denial the
    /// error is AWS's `AccessDeniedException` message.
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        resource_policy: Option<&PolicyDocument>,
        mode: ResourceMode,
        keys: ConditionKeys,
    ) -> Result<(), Denied> {
        let outcome = self
            .evaluate(caller, action, resource, resource_policy, mode, keys)
            .await?;
        if outcome.is_allowed() {
            return Ok(());
        }
        Err(Denied::Policy(denial_message(
            &caller.principal_arn,
            action,
            resource,
            outcome,
        )))
    }

    /// [`AppState::authorize`]'s evaluation, returning AWS's outcome.
    pub(crate) async fn evaluate(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        resource_policy: Option<&PolicyDocument>,
        mode: ResourceMode,
        mut keys: ConditionKeys,
    ) -> Result<Outcome, Denied> {
        let principal = self
            .caller_principal(caller)
            .await
            .map_err(Denied::Internal)?;
        add_caller_keys(
            &mut keys,
            caller,
            principal.as_deref(),
            self.inner.clock.now(),
        );
        let identity: Vec<&PolicyDocument> = principal
            .iter()
            .flat_map(|p| p.policies.iter().map(|d| d.as_ref()))
            .collect();
        let role_arn = match &caller.identity {
            Identity::AssumedRole { role_arn, .. } => Some(role_arn.as_str()),
            _ => None,
        };
        let ctx = RequestContext {
            principal: CallerPrincipal {
                account: caller.account.as_str(),
                arn: &caller.principal_arn,
                role_arn,
                service: None,
                is_root: caller.is_root(),
            },
            action,
            resource,
            keys: &keys,
        };
        Ok(authorize(&ctx, &identity, resource_policy, mode))
    }
}

/// Why a request was refused.
#[derive(Debug)]
pub(crate) enum Denied {
    /// AWS's `AccessDeniedException` message.
    Policy(String),
    Internal(KmsError),
}

impl From<Denied> for KmsError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Policy(message) => KmsError::AccessDenied(message),
            Denied::Internal(err) => err,
        }
    }
}

impl From<Denied> for keyward_core::secret::SecretsError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Policy(message) => keyward_core::secret::SecretsError::AccessDenied(message),
            Denied::Internal(err) => keyward_core::secret::SecretsError::Internal(err.to_string()),
        }
    }
}

/// AWS's wording, e.g. "User: arn:aws:iam::111122223333:user/alice is not authorized to
/// perform: kms:Decrypt on resource: arn:aws:kms:…:key/… because no resource-based policy
/// allows the kms:Decrypt action".
pub(crate) fn denial_message(
    principal: &str,
    action: &str,
    resource: &str,
    outcome: Outcome,
) -> String {
    let why = match outcome {
        Outcome::ExplicitDenyIdentity => {
            "with an explicit deny in an identity-based policy".to_owned()
        }
        Outcome::ExplicitDenyResource => {
            "with an explicit deny in a resource-based policy".to_owned()
        }
        Outcome::NoResourceAllow => {
            format!("because no resource-based policy allows the {action} action")
        }
        Outcome::NoIdentityAllow | Outcome::Allow => {
            format!("because no identity-based policy allows the {action} action")
        }
    };
    format!(
        "User: {principal} is not authorized to perform: {action} on resource: {resource} {why}"
    )
}

/// The global condition keys of the caller.
fn add_caller_keys(
    keys: &mut ConditionKeys,
    caller: &Caller,
    principal: Option<&PrincipalInfo>,
    now: keyward_core::UnixMillis,
) {
    keys.insert("aws:PrincipalArn", caller.policy_principal_arn());
    keys.insert("aws:PrincipalAccount", caller.account.as_str());
    keys.insert("kms:CallerAccount", caller.account.as_str());
    keys.insert("aws:userid", caller.principal_id());
    keys.insert("aws:SourceIp", &caller.source_ip);
    keys.insert("aws:SecureTransport", "false");
    let principal_type = match caller.identity {
        Identity::Root => "Account",
        Identity::User { .. } => "User",
        Identity::AssumedRole { .. } => "AssumedRole",
    };
    keys.insert("aws:PrincipalType", principal_type);
    if let Identity::User { name, .. } = &caller.identity {
        keys.insert("aws:username", name);
    }
    let time = crate::auth::to_offset(now);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    if let Ok(text) = time.format(&format) {
        keys.insert("aws:CurrentTime", &text);
    }
    keys.insert("aws:EpochTime", (now.0 / 1000).to_string());
    if let Some(principal) = principal {
        for (key, value) in &principal.tags {
            keys.insert(&format!("aws:PrincipalTag/{key}"), value);
        }
    }
}
