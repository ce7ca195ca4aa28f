//! IAM's behaviour, free of the wire: users, roles, access keys, inline policies and tags,
//! with AWS's checks and errors. Every change drops the principal's cached policies and
//! credentials so it takes effect on the next request.

use std::collections::BTreeMap;

use keyward_core::iam::{
    new_access_key_id, new_principal_id, RoleRecord, Tag, UserRecord, ACCESS_KEY_PREFIX,
    DEFAULT_MAX_SESSION_DURATION, DEFAULT_PATH, ROLE_ID_PREFIX, USER_ID_PREFIX,
};
use keyward_core::policy::{ConditionKeys, PolicyDocument, PolicyKind, ResourceMode};
use keyward_core::store::AccessKeyRow;
use keyward_core::{KmsError, Store, StoreError};
use zeroize::Zeroizing;

use crate::auth::{secret_aad, Caller, Identity};
use crate::authz::Denied;
use crate::state::AppState;

/// IAM's errors, as its Query API names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IamError {
    NoSuchEntity(String),
    EntityAlreadyExists(String),
    DeleteConflict(String),
    LimitExceeded(String),
    MalformedPolicyDocument(String),
    InvalidInput(String),
    Validation(String),
    AccessDenied(String),
    Internal(String),
}

impl IamError {
    pub fn to_wire(&self) -> keyward_protocol::WireError {
        use keyward_protocol::WireError;
        let (code, status, message) = match self {
            Self::NoSuchEntity(m) => ("NoSuchEntity", 404, m),
            Self::EntityAlreadyExists(m) => ("EntityAlreadyExists", 409, m),
            Self::DeleteConflict(m) => ("DeleteConflict", 409, m),
            Self::LimitExceeded(m) => ("LimitExceeded", 409, m),
            Self::MalformedPolicyDocument(m) => ("MalformedPolicyDocument", 400, m),
            Self::InvalidInput(m) => ("InvalidInput", 400, m),
            Self::Validation(m) => ("ValidationError", 400, m),
            Self::AccessDenied(m) => ("AccessDenied", 403, m),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "internal failure");
                return WireError {
                    code: "ServiceFailure",
                    message: "An internal error occurred.".into(),
                    status: 500,
                };
            }
        };
        WireError {
            code,
            message: message.clone(),
            status,
        }
    }
}

impl From<KmsError> for IamError {
    fn from(err: KmsError) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<StoreError> for IamError {
    fn from(err: StoreError) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<keyward_crypto::CryptoError> for IamError {
    fn from(err: keyward_crypto::CryptoError) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<Denied> for IamError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Policy(message) => Self::AccessDenied(message),
            Denied::Internal(err) => Self::Internal(err.to_string()),
        }
    }
}

/// AWS's quota of access keys per user.
const MAX_ACCESS_KEYS: usize = 2;
/// AWS's quotas on the aggregate size of inline policies, in characters (whitespace aside).
const MAX_USER_POLICY_SIZE: usize = 2048;
const MAX_ROLE_POLICY_SIZE: usize = 10240;
const MAX_TRUST_POLICY_SIZE: usize = 2048;
const MAX_TAGS: usize = 50;

fn no_such_user(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The user with name {name} cannot be found."))
}

fn no_such_role(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The role with name {name} cannot be found."))
}

fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Parses a policy for storing, with IAM's error.
pub(crate) fn check_policy(text: &str, kind: PolicyKind) -> Result<PolicyDocument, IamError> {
    PolicyDocument::parse(text, kind).map_err(|e| IamError::MalformedPolicyDocument(e.to_string()))
}

fn check_tags(existing: &[Tag], new: &[Tag]) -> Result<Vec<Tag>, IamError> {
    let mut merged: Vec<Tag> = existing.to_vec();
    for tag in new {
        if tag.key.to_lowercase().starts_with("aws:") {
            return Err(IamError::InvalidInput(
                "User-provided tag keys cannot begin with the prefix \"aws:\".".into(),
            ));
        }
        match merged
            .iter_mut()
            .find(|t| t.key.eq_ignore_ascii_case(&tag.key))
        {
            Some(found) => found.value = tag.value.clone(),
            None => merged.push(tag.clone()),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(IamError::LimitExceeded(format!(
            "Cannot exceed quota for TagsPerPrincipal: {MAX_TAGS}"
        )));
    }
    Ok(merged)
}

/// A new long-term secret access key: 40 characters, as AWS's.
pub(crate) fn new_secret_access_key() -> Result<Zeroizing<String>, IamError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = keyward_crypto::random_bytes(40)?;
    Ok(Zeroizing::new(
        bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 63)]))
            .collect(),
    ))
}

/// Users and roles, for the operations both have (inline policies, tags): how they are
/// read and written, named in ARNs, actions and messages, and their policy size limit.
pub(crate) trait Stored: Sized + Send + 'static {
    const IS_ROLE: bool;
    /// `user` or `role`, as ARNs and messages say it.
    const KIND: &'static str;
    /// `User` or `Role`, as action names say it (`iam:PutUserPolicy`).
    const ACTION: &'static str;
    /// The most bytes of inline policy documents (without white space) one may have.
    const MAX_POLICY_SIZE: usize;
    fn get(store: &dyn Store, account: &str, name: &str) -> Result<Option<Self>, StoreError>;
    fn update(&self, store: &dyn Store) -> Result<(), StoreError>;
    fn no_such(name: &str) -> IamError;
    fn policies(&self) -> &BTreeMap<String, String>;
    fn policies_mut(&mut self) -> &mut BTreeMap<String, String>;
    fn tags_mut(&mut self) -> &mut Vec<Tag>;
}

fn no_such_policy<P: Stored>(policy_name: &str) -> IamError {
    IamError::NoSuchEntity(format!(
        "The {} policy with name {policy_name} cannot be found.",
        P::KIND
    ))
}

impl Stored for UserRecord {
    const IS_ROLE: bool = false;
    const KIND: &'static str = "user";
    const ACTION: &'static str = "User";
    const MAX_POLICY_SIZE: usize = MAX_USER_POLICY_SIZE;
    fn policies(&self) -> &BTreeMap<String, String> {
        &self.policies
    }
    fn policies_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.policies
    }
    fn tags_mut(&mut self) -> &mut Vec<Tag> {
        &mut self.tags
    }
    fn get(store: &dyn Store, account: &str, name: &str) -> Result<Option<Self>, StoreError> {
        store.get_user(account, name)
    }
    fn update(&self, store: &dyn Store) -> Result<(), StoreError> {
        store.update_user(self).map(|_| ())
    }
    fn no_such(name: &str) -> IamError {
        no_such_user(name)
    }
}

impl Stored for RoleRecord {
    const IS_ROLE: bool = true;
    const KIND: &'static str = "role";
    const ACTION: &'static str = "Role";
    const MAX_POLICY_SIZE: usize = MAX_ROLE_POLICY_SIZE;
    fn policies(&self) -> &BTreeMap<String, String> {
        &self.policies
    }
    fn policies_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.policies
    }
    fn tags_mut(&mut self) -> &mut Vec<Tag> {
        &mut self.tags
    }
    fn get(store: &dyn Store, account: &str, name: &str) -> Result<Option<Self>, StoreError> {
        store.get_role(account, name)
    }
    fn update(&self, store: &dyn Store) -> Result<(), StoreError> {
        store.update_role(self).map(|_| ())
    }
    fn no_such(name: &str) -> IamError {
        no_such_role(name)
    }
}

/// A new access key and its secret, as `CreateAccessKey` returns it once.
pub(crate) struct NewAccessKey {
    pub row: AccessKeyRow,
    pub user_name: String,
    pub secret: Zeroizing<String>,
}

impl AppState {
    /// IAM actions are authorized by identity policies alone (IAM has no resource policies
    /// on users and roles).
    pub(crate) async fn authorize_iam(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        keys: ConditionKeys,
    ) -> Result<(), IamError> {
        self.authorize(caller, action, resource, None, ResourceMode::Optional, keys)
            .await
            .map_err(IamError::from)
    }

    fn user_arn(&self, caller: &Caller, name: &str) -> String {
        format!("arn:aws:iam::{}:user/{name}", caller.account)
    }

    fn role_arn(&self, caller: &Caller, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", caller.account)
    }

    /// The unique ids of the users and roles a trust policy names; one that does not exist
    /// makes the policy malformed, as in AWS.
    async fn bind_trust_policy(
        &self,
        caller: &Caller,
        text: &str,
    ) -> Result<BTreeMap<String, String>, IamError> {
        self.bind_principals(&caller.account, text)
            .await?
            .map_err(|arn| {
                IamError::MalformedPolicyDocument(format!(
                    "Invalid principal in policy: \"AWS\":\"{arn}\""
                ))
            })
    }

    /// A user or role came or went: every cached policy that names principals by ARN
    /// must be bound again.
    fn principals_changed(&self, caller: &Caller, name: &str, role: bool) {
        if role {
            self.inner
                .principals
                .forget_role(caller.account.as_str(), name);
        } else {
            self.inner
                .principals
                .forget_user(caller.account.as_str(), name);
        }
        self.inner.keys.clear();
    }

    /// A user or role of the caller's account, or IAM's `NoSuchEntity`.
    async fn principal_record<P: Stored>(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<P, IamError> {
        let (account, n) = (caller.account.to_string(), name.to_owned());
        self.blocking(move |inner| Ok(P::get(inner.store.as_ref(), &account, &n)?))
            .await?
            .ok_or_else(|| P::no_such(name))
    }

    pub(crate) async fn iam_get_user_record(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<UserRecord, IamError> {
        self.principal_record(caller, name).await
    }

    pub(crate) async fn iam_get_role_record(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<RoleRecord, IamError> {
        self.principal_record(caller, name).await
    }

    pub(crate) async fn iam_create_user(
        &self,
        caller: &Caller,
        name: String,
        path: Option<String>,
        tags: Vec<Tag>,
    ) -> Result<UserRecord, IamError> {
        let path = path.unwrap_or_else(|| DEFAULT_PATH.to_owned());
        let mut keys = ConditionKeys::new();
        add_request_tags(&mut keys, &tags);
        self.authorize_iam(
            caller,
            "iam:CreateUser",
            &format!("arn:aws:iam::{}:user{path}{name}", caller.account),
            keys,
        )
        .await?;
        let tags = check_tags(&[], &tags)?;
        let mut user = UserRecord {
            account: caller.account.clone(),
            name,
            path,
            user_id: new_principal_id(USER_ID_PREFIX)?,
            created: self.inner.clock.now(),
            tags,
            policies: BTreeMap::new(),
            revision: 0,
        };
        let stored = user.clone();
        let revision = self
            .blocking(move |inner| match inner.store.create_user(&stored) {
                Err(StoreError::AlreadyExists(_)) => Ok(None),
                other => Ok(Some(other?)),
            })
            .await?
            .ok_or_else(|| {
                IamError::EntityAlreadyExists(format!(
                    "User with name {} already exists.",
                    user.name
                ))
            })?;
        user.revision = revision;
        self.principals_changed(caller, &user.name, false);
        Ok(user)
    }

    /// `GetUser`: the named user, or the caller's own.
    pub(crate) async fn iam_get_user(
        &self,
        caller: &Caller,
        name: Option<String>,
    ) -> Result<Option<UserRecord>, IamError> {
        let name = match (name, &caller.identity) {
            (Some(name), _) => name,
            (None, Identity::User { name, .. }) => name.clone(),
            // The root's own GetUser describes the account root.
            (None, Identity::Root) => return Ok(None),
            (None, Identity::AssumedRole { .. }) => {
                return Err(IamError::Validation(
                    "Must specify userName when calling with non-User credentials".into(),
                ))
            }
        };
        self.authorize_iam(
            caller,
            "iam:GetUser",
            &self.user_arn(caller, &name),
            ConditionKeys::new(),
        )
        .await?;
        self.iam_get_user_record(caller, &name).await.map(Some)
    }

    pub(crate) async fn iam_list_users(
        &self,
        caller: &Caller,
        path_prefix: Option<String>,
    ) -> Result<Vec<UserRecord>, IamError> {
        self.authorize_iam(
            caller,
            "iam:ListUsers",
            &format!("arn:aws:iam::{}:user/", caller.account),
            ConditionKeys::new(),
        )
        .await?;
        let account = caller.account.to_string();
        let users = self
            .blocking(move |inner| Ok(inner.store.list_users(&account)?))
            .await?;
        let prefix = path_prefix.unwrap_or_else(|| "/".to_owned());
        Ok(users
            .into_iter()
            .filter(|u| u.path.starts_with(&prefix))
            .collect())
    }

    pub(crate) async fn iam_delete_user(
        &self,
        caller: &Caller,
        name: String,
    ) -> Result<(), IamError> {
        self.authorize_iam(
            caller,
            "iam:DeleteUser",
            &self.user_arn(caller, &name),
            ConditionKeys::new(),
        )
        .await?;
        let user = self.iam_get_user_record(caller, &name).await?;
        let (account, n) = (caller.account.to_string(), user.name.clone());
        let keys = self
            .blocking(move |inner| Ok(inner.store.list_access_keys(&account, Some(&n))?))
            .await?;
        if !keys.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete access keys first.".into(),
            ));
        }
        if !user.policies.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        let (account, n) = (caller.account.to_string(), user.name.clone());
        self.blocking(move |inner| Ok(inner.store.delete_user(&account, &n)?))
            .await?;
        self.principals_changed(caller, &user.name, false);
        Ok(())
    }

    /// Reads, changes and writes one user or role, retrying on a concurrent writer.
    async fn change_principal<P, T, F>(
        &self,
        caller: &Caller,
        name: &str,
        change: F,
    ) -> Result<T, IamError>
    where
        P: Stored,
        T: Send + 'static,
        F: Fn(&mut P) -> Result<T, IamError> + Send + 'static,
    {
        let (account, n) = (caller.account.to_string(), name.to_owned());
        let result = self
            .blocking(move |inner| {
                for _ in 0..16 {
                    let Some(mut record) = P::get(inner.store.as_ref(), &account, &n)? else {
                        return Ok(Err(P::no_such(&n)));
                    };
                    let value = match change(&mut record) {
                        Ok(value) => value,
                        Err(err) => return Ok(Err(err)),
                    };
                    match record.update(inner.store.as_ref()) {
                        Ok(()) => return Ok(Ok(value)),
                        Err(StoreError::Conflict) => continue,
                        Err(StoreError::NotFound(_)) => return Ok(Err(P::no_such(&n))),
                        Err(other) => return Err(other.into()),
                    }
                }
                Err(KmsError::Internal(format!(
                    "{n}: too many concurrent writers"
                )))
            })
            .await??;
        if P::IS_ROLE {
            self.inner
                .principals
                .forget_role(caller.account.as_str(), name);
        } else {
            self.inner
                .principals
                .forget_user(caller.account.as_str(), name);
        }
        Ok(result)
    }

    /// The user an access key request concerns: the named one, or the caller's own (the
    /// root's own keys when the root calls without a name).
    async fn key_owner(
        &self,
        caller: &Caller,
        user_name: Option<String>,
    ) -> Result<Option<UserRecord>, IamError> {
        match (user_name, &caller.identity) {
            (Some(name), _) => self.iam_get_user_record(caller, &name).await.map(Some),
            (None, Identity::User { name, .. }) => {
                self.iam_get_user_record(caller, name).await.map(Some)
            }
            (None, Identity::Root) => Ok(None),
            (None, Identity::AssumedRole { .. }) => Err(IamError::Validation(
                "Must specify userName when calling with non-User credentials".into(),
            )),
        }
    }

    fn owner_arn(&self, caller: &Caller, owner: Option<&UserRecord>) -> String {
        owner
            .map(UserRecord::arn)
            .unwrap_or_else(|| format!("arn:aws:iam::{}:root", caller.account))
    }

    pub(crate) async fn iam_create_access_key(
        &self,
        caller: &Caller,
        user_name: Option<String>,
    ) -> Result<NewAccessKey, IamError> {
        let owner = self.key_owner(caller, user_name).await?;
        let owner_arn = self.owner_arn(caller, owner.as_ref());
        self.authorize_iam(
            caller,
            "iam:CreateAccessKey",
            &owner_arn,
            ConditionKeys::new(),
        )
        .await?;
        let account = caller.account.to_string();
        let owner_name = owner.as_ref().map(|u| u.name.clone());
        let existing = {
            let (a, n) = (account.clone(), owner_name.clone());
            self.blocking(move |inner| Ok(inner.store.list_access_keys(&a, n.as_deref())?))
                .await?
        };
        if existing.len() >= MAX_ACCESS_KEYS {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}"
            )));
        }
        let id = new_access_key_id(ACCESS_KEY_PREFIX)?;
        let secret = new_secret_access_key()?;
        let row = AccessKeyRow {
            access_key_id: id.clone(),
            wrapped_secret: self.inner.root.wrap(&secret_aad(&id), secret.as_bytes())?,
            account,
            principal_arn: owner_arn,
            created: self.inner.clock.now(),
            active: true,
            user_name: owner_name.clone(),
        };
        let stored = row.clone();
        self.blocking(move |inner| Ok(inner.store.create_access_key(&stored)?))
            .await?;
        Ok(NewAccessKey {
            row,
            user_name: owner_name.unwrap_or_else(|| "root".to_owned()),
            secret,
        })
    }

    pub(crate) async fn iam_list_access_keys(
        &self,
        caller: &Caller,
        user_name: Option<String>,
    ) -> Result<(String, Vec<AccessKeyRow>), IamError> {
        let owner = self.key_owner(caller, user_name).await?;
        let owner_arn = self.owner_arn(caller, owner.as_ref());
        self.authorize_iam(
            caller,
            "iam:ListAccessKeys",
            &owner_arn,
            ConditionKeys::new(),
        )
        .await?;
        let account = caller.account.to_string();
        let owner_name = owner.as_ref().map(|u| u.name.clone());
        let n = owner_name.clone();
        let rows = self
            .blocking(move |inner| Ok(inner.store.list_access_keys(&account, n.as_deref())?))
            .await?;
        Ok((owner_name.unwrap_or_else(|| "root".to_owned()), rows))
    }

    /// The access key `id` of the user a request names (or the caller's own).
    async fn owned_access_key(
        &self,
        caller: &Caller,
        user_name: Option<String>,
        id: &str,
        action: &str,
    ) -> Result<AccessKeyRow, IamError> {
        let owner = self.key_owner(caller, user_name).await?;
        let owner_arn = self.owner_arn(caller, owner.as_ref());
        self.authorize_iam(caller, action, &owner_arn, ConditionKeys::new())
            .await?;
        let key_id = id.to_owned();
        let row = self
            .blocking(move |inner| Ok(inner.store.get_access_key(&key_id)?))
            .await?;
        let owner_name = owner.map(|u| u.name);
        match row {
            Some(row)
                if row.account == caller.account.as_str()
                    && row.user_name.as_deref().map(str::to_lowercase)
                        == owner_name.as_deref().map(str::to_lowercase) =>
            {
                Ok(row)
            }
            _ => Err(IamError::NoSuchEntity(format!(
                "The Access Key with id {id} cannot be found."
            ))),
        }
    }

    pub(crate) async fn iam_update_access_key(
        &self,
        caller: &Caller,
        user_name: Option<String>,
        id: String,
        active: bool,
    ) -> Result<(), IamError> {
        let row = self
            .owned_access_key(caller, user_name, &id, "iam:UpdateAccessKey")
            .await?;
        let key_id = row.access_key_id.clone();
        self.blocking(move |inner| Ok(inner.store.set_access_key_active(&key_id, active)?))
            .await?;
        self.inner.credentials.forget(&row.access_key_id);
        Ok(())
    }

    pub(crate) async fn iam_delete_access_key(
        &self,
        caller: &Caller,
        user_name: Option<String>,
        id: String,
    ) -> Result<(), IamError> {
        let row = self
            .owned_access_key(caller, user_name, &id, "iam:DeleteAccessKey")
            .await?;
        let key_id = row.access_key_id.clone();
        self.blocking(move |inner| Ok(inner.store.delete_access_key(&key_id)?))
            .await?;
        self.inner.credentials.forget(&row.access_key_id);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn iam_create_role(
        &self,
        caller: &Caller,
        name: String,
        path: Option<String>,
        trust_policy: String,
        description: Option<String>,
        max_session_duration: Option<i32>,
        tags: Vec<Tag>,
    ) -> Result<RoleRecord, IamError> {
        let path = path.unwrap_or_else(|| DEFAULT_PATH.to_owned());
        let mut keys = ConditionKeys::new();
        add_request_tags(&mut keys, &tags);
        self.authorize_iam(
            caller,
            "iam:CreateRole",
            &format!("arn:aws:iam::{}:role{path}{name}", caller.account),
            keys,
        )
        .await?;
        check_trust_policy(&trust_policy)?;
        let trust_principals = self.bind_trust_policy(caller, &trust_policy).await?;
        let tags = check_tags(&[], &tags)?;
        let max_session_duration = check_max_session_duration(max_session_duration)?;
        let mut role = RoleRecord {
            account: caller.account.clone(),
            name,
            path,
            role_id: new_principal_id(ROLE_ID_PREFIX)?,
            created: self.inner.clock.now(),
            assume_role_policy: trust_policy,
            trust_principals,
            description,
            max_session_duration,
            tags,
            policies: BTreeMap::new(),
            revision: 0,
        };
        let stored = role.clone();
        let revision = self
            .blocking(move |inner| match inner.store.create_role(&stored) {
                Err(StoreError::AlreadyExists(_)) => Ok(None),
                other => Ok(Some(other?)),
            })
            .await?
            .ok_or_else(|| {
                IamError::EntityAlreadyExists(format!(
                    "Role with name {} already exists.",
                    role.name
                ))
            })?;
        role.revision = revision;
        self.principals_changed(caller, &role.name, true);
        Ok(role)
    }

    pub(crate) async fn iam_get_role(
        &self,
        caller: &Caller,
        name: String,
    ) -> Result<RoleRecord, IamError> {
        self.authorize_iam(
            caller,
            "iam:GetRole",
            &self.role_arn(caller, &name),
            ConditionKeys::new(),
        )
        .await?;
        self.iam_get_role_record(caller, &name).await
    }

    pub(crate) async fn iam_list_roles(
        &self,
        caller: &Caller,
        path_prefix: Option<String>,
    ) -> Result<Vec<RoleRecord>, IamError> {
        self.authorize_iam(
            caller,
            "iam:ListRoles",
            &format!("arn:aws:iam::{}:role/", caller.account),
            ConditionKeys::new(),
        )
        .await?;
        let account = caller.account.to_string();
        let roles = self
            .blocking(move |inner| Ok(inner.store.list_roles(&account)?))
            .await?;
        let prefix = path_prefix.unwrap_or_else(|| "/".to_owned());
        Ok(roles
            .into_iter()
            .filter(|r| r.path.starts_with(&prefix))
            .collect())
    }

    pub(crate) async fn iam_delete_role(
        &self,
        caller: &Caller,
        name: String,
    ) -> Result<(), IamError> {
        self.authorize_iam(
            caller,
            "iam:DeleteRole",
            &self.role_arn(caller, &name),
            ConditionKeys::new(),
        )
        .await?;
        let role = self.iam_get_role_record(caller, &name).await?;
        if !role.policies.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        let (account, n) = (caller.account.to_string(), role.name.clone());
        self.blocking(move |inner| Ok(inner.store.delete_role(&account, &n)?))
            .await?;
        self.principals_changed(caller, &role.name, true);
        Ok(())
    }

    pub(crate) async fn iam_update_assume_role_policy(
        &self,
        caller: &Caller,
        name: String,
        policy: String,
    ) -> Result<(), IamError> {
        self.authorize_iam(
            caller,
            "iam:UpdateAssumeRolePolicy",
            &self.role_arn(caller, &name),
            ConditionKeys::new(),
        )
        .await?;
        check_trust_policy(&policy)?;
        let principals = self.bind_trust_policy(caller, &policy).await?;
        self.change_principal(caller, &name, move |role: &mut RoleRecord| {
            role.assume_role_policy = policy.clone();
            role.trust_principals = principals.clone();
            Ok(())
        })
        .await
    }

    /// The named user or role (`P`), for an operation on its policies or tags, once the
    /// caller may do `action` (`iam:<verb>User…` / `iam:<verb>Role…`) to it.
    async fn authorized_principal<P: Stored>(
        &self,
        caller: &Caller,
        action: &str,
        name: &str,
        keys: ConditionKeys,
    ) -> Result<(), IamError> {
        let arn = format!("arn:aws:iam::{}:{}/{name}", caller.account, P::KIND);
        self.authorize_iam(caller, action, &arn, keys).await
    }

    /// `PutUserPolicy` / `PutRolePolicy`.
    pub(crate) async fn iam_put_policy<P: Stored>(
        &self,
        caller: &Caller,
        name: String,
        policy_name: String,
        document: String,
    ) -> Result<(), IamError> {
        let action = format!("iam:Put{}Policy", P::ACTION);
        self.authorized_principal::<P>(caller, &action, &name, ConditionKeys::new())
            .await?;
        check_policy(&document, PolicyKind::Identity)?;
        let owner = name.clone();
        self.change_principal(caller, &name, move |record: &mut P| {
            let policies = record.policies_mut();
            policies.insert(policy_name.clone(), document.clone());
            let size: usize = policies.values().map(|p| policy_size(p)).sum();
            if size > P::MAX_POLICY_SIZE {
                return Err(IamError::LimitExceeded(format!(
                    "Maximum policy size of {} bytes exceeded for {} {owner}",
                    P::MAX_POLICY_SIZE,
                    P::KIND
                )));
            }
            Ok(())
        })
        .await
    }

    /// `GetUserPolicy` / `GetRolePolicy`: the principal and the document.
    pub(crate) async fn iam_get_policy<P: Stored>(
        &self,
        caller: &Caller,
        name: String,
        policy_name: String,
    ) -> Result<(P, String), IamError> {
        let action = format!("iam:Get{}Policy", P::ACTION);
        self.authorized_principal::<P>(caller, &action, &name, ConditionKeys::new())
            .await?;
        let record = self.principal_record::<P>(caller, &name).await?;
        let document = record
            .policies()
            .get(&policy_name)
            .cloned()
            .ok_or_else(|| no_such_policy::<P>(&policy_name))?;
        Ok((record, document))
    }

    /// `ListUserPolicies` / `ListRolePolicies`.
    pub(crate) async fn iam_list_policies<P: Stored>(
        &self,
        caller: &Caller,
        name: String,
    ) -> Result<Vec<String>, IamError> {
        let action = format!("iam:List{}Policies", P::ACTION);
        self.authorized_principal::<P>(caller, &action, &name, ConditionKeys::new())
            .await?;
        let record = self.principal_record::<P>(caller, &name).await?;
        Ok(record.policies().keys().cloned().collect())
    }

    /// `DeleteUserPolicy` / `DeleteRolePolicy`.
    pub(crate) async fn iam_delete_policy<P: Stored>(
        &self,
        caller: &Caller,
        name: String,
        policy_name: String,
    ) -> Result<(), IamError> {
        let action = format!("iam:Delete{}Policy", P::ACTION);
        self.authorized_principal::<P>(caller, &action, &name, ConditionKeys::new())
            .await?;
        self.change_principal(caller, &name, move |record: &mut P| {
            record
                .policies_mut()
                .remove(&policy_name)
                .map(|_| ())
                .ok_or_else(|| no_such_policy::<P>(&policy_name))
        })
        .await
    }

    /// `TagUser` / `TagRole`.
    pub(crate) async fn iam_tag<P: Stored>(
        &self,
        caller: &Caller,
        name: String,
        tags: Vec<Tag>,
    ) -> Result<(), IamError> {
        let mut keys = ConditionKeys::new();
        add_request_tags(&mut keys, &tags);
        let action = format!("iam:Tag{}", P::ACTION);
        self.authorized_principal::<P>(caller, &action, &name, keys)
            .await?;
        self.change_principal(caller, &name, move |record: &mut P| {
            let merged = check_tags(record.tags_mut(), &tags)?;
            *record.tags_mut() = merged;
            Ok(())
        })
        .await
    }

    /// `UntagUser` / `UntagRole`.
    pub(crate) async fn iam_untag<P: Stored>(
        &self,
        caller: &Caller,
        name: String,
        tag_keys: Vec<String>,
    ) -> Result<(), IamError> {
        let mut keys = ConditionKeys::new();
        keys.insert_many("aws:TagKeys", tag_keys.clone());
        let action = format!("iam:Untag{}", P::ACTION);
        self.authorized_principal::<P>(caller, &action, &name, keys)
            .await?;
        self.change_principal(caller, &name, move |record: &mut P| {
            record
                .tags_mut()
                .retain(|t| !tag_keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
            Ok(())
        })
        .await
    }

    /// `ListUserTags` / `ListRoleTags`.
    pub(crate) async fn iam_list_tags<P: Stored>(
        &self,
        caller: &Caller,
        name: String,
    ) -> Result<Vec<Tag>, IamError> {
        let action = format!("iam:List{}Tags", P::ACTION);
        self.authorized_principal::<P>(caller, &action, &name, ConditionKeys::new())
            .await?;
        let mut record = self.principal_record::<P>(caller, &name).await?;
        Ok(std::mem::take(record.tags_mut()))
    }
}

fn add_request_tags(keys: &mut ConditionKeys, tags: &[Tag]) {
    keys.insert_request_tags(tags.iter().map(|t| (t.key.as_str(), t.value.as_str())));
}

fn check_trust_policy(text: &str) -> Result<(), IamError> {
    if policy_size(text) > MAX_TRUST_POLICY_SIZE {
        return Err(IamError::LimitExceeded(format!(
            "Cannot exceed quota for ACLSizePerRole: {MAX_TRUST_POLICY_SIZE}"
        )));
    }
    check_policy(text, PolicyKind::Trust).map(|_| ())
}

/// `MaxSessionDuration`: one to twelve hours, in seconds.
fn check_max_session_duration(value: Option<i32>) -> Result<u32, IamError> {
    match value {
        None => Ok(DEFAULT_MAX_SESSION_DURATION),
        Some(v) if (3600..=43200).contains(&v) => Ok(v.unsigned_abs()),
        Some(v) => Err(IamError::Validation(format!(
            "1 validation error detected: Value '{v}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200"
        ))),
    }
}
