//! Grants: `CreateGrant`, `ListGrants`, `ListRetirableGrants`, `RetireGrant` and
//! `RevokeGrant`. A grant works from the moment it is stored (every change drops the key
//! from the cache), so a grant token is only a handle that names its grant: `RetireGrant`
//! accepts one in place of the key and grant ids, and the other operations accept any
//! well-formed token and need none.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyward_core::grant::{new_grant_id, GrantConstraints as StoredConstraints, GrantRecord};
use keyward_core::{AccountId, KmsError, UnixMillis};
use keyward_protocol::kms::*;
use uuid::Uuid;

use super::access::Access;
use super::{page_limit, Naming};
use crate::auth::Caller;
use crate::cache::LoadedKey;
use crate::state::AppState;

/// AWS's quotas: grants per KMS key, and grants for one grantee per KMS key.
const MAX_GRANTS_PER_KEY: usize = 50_000;
const MAX_GRANTS_PER_GRANTEE: usize = 500;
/// Encryption context pairs one grant constraint may hold.
const MAX_CONSTRAINT_PAIRS: usize = 8;
/// `Limit` of the list operations: 50 unless given, never more than 100.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 100;
const GRANT_ID_LEN: usize = 64;
const TOKEN_VERSION: u8 = 1;
/// Random bytes in each token, so that every `CreateGrant` answers with a new one.
const TOKEN_NONCE: usize = 16;

/// The grant operations a symmetric encryption key supports.
const SYMMETRIC_OPERATIONS: &[GrantOperation] = &[
    GrantOperation::Decrypt,
    GrantOperation::Encrypt,
    GrantOperation::GenerateDataKey,
    GrantOperation::GenerateDataKeyWithoutPlaintext,
    GrantOperation::ReEncryptFrom,
    GrantOperation::ReEncryptTo,
    GrantOperation::GenerateDataKeyPair,
    GrantOperation::GenerateDataKeyPairWithoutPlaintext,
    GrantOperation::CreateGrant,
    GrantOperation::RetireGrant,
    GrantOperation::DescribeKey,
];

/// Grant operations that take no encryption context, so a grant with an encryption
/// context constraint cannot include them (`DescribeKey`, `RetireGrant` and `CreateGrant`
/// take none either, but AWS allows them: the constraint does not apply to them).
const OPERATIONS_WITHOUT_CONTEXT: &[GrantOperation] = &[
    GrantOperation::Sign,
    GrantOperation::Verify,
    GrantOperation::GetPublicKey,
    GrantOperation::GenerateMac,
    GrantOperation::VerifyMac,
    GrantOperation::DeriveSharedSecret,
];

pub(super) async fn create_grant(
    state: &AppState,
    caller: &Caller,
    r: CreateGrantRequest,
) -> Result<CreateGrantResponse, KmsError> {
    let operations = grant_operations(&r.operations)?;
    let constraints = r.constraints.and_then(stored_constraints);
    if let Some(constraints) = &constraints {
        check_constraints(constraints, &operations)?;
    }
    let grantee = state.grant_principal(&r.grantee_principal, true).await?;
    let retiring = match &r.retiring_principal {
        Some(principal) => Some(state.grant_principal(principal, true).await?),
        None => None,
    };
    let names: Vec<String> = operations.iter().map(|o| o.as_str().to_owned()).collect();
    let access = create_grant_access(&names, constraints.as_ref(), &grantee, retiring.as_deref());

    let id = state.key_id_for(caller, &r.key_id, Naming::KeyOnly)?;
    let key = state.key_by_id(caller, id).await?;
    state.authorize_key(caller, &key, &access).await?;
    key.record.check_not_pending_deletion()?;
    check_operations_for_key(&key, &operations)?;

    // A retry of a named CreateGrant (same name, same grant) answers with the grant it
    // made, and a new token for it.
    let retried = r.name.as_ref().and_then(|name| {
        key.grants.iter().find(|g| {
            g.name.as_ref() == Some(name)
                && g.grantee_principal == grantee
                && g.retiring_principal == retiring
                && same_operations(&g.operations, &names)
                && g.constraints == constraints
        })
    });
    dry_run(r.dry_run)?;
    if let Some(grant) = retried {
        return Ok(CreateGrantResponse {
            grant_token: Some(grant_token(&grant.key_id, &grant.grant_id)?),
            grant_id: Some(grant.grant_id.clone()),
        });
    }
    if key.grants.len() >= MAX_GRANTS_PER_KEY {
        return Err(KmsError::LimitExceeded(format!(
            "The request was rejected because {} already has {MAX_GRANTS_PER_KEY} grants.",
            key.record.arn()
        )));
    }
    let for_grantee = key
        .grants
        .iter()
        .filter(|g| g.grantee_principal == grantee)
        .count();
    if for_grantee >= MAX_GRANTS_PER_GRANTEE {
        return Err(KmsError::LimitExceeded(format!(
            "The request was rejected because {grantee} already has {MAX_GRANTS_PER_GRANTEE} grants for {}.",
            key.record.arn()
        )));
    }
    let grant = GrantRecord {
        key_id: key.record.id,
        grant_id: new_grant_id()?,
        name: r.name,
        account: caller.account.clone(),
        region: caller.region.clone(),
        grantee_principal: grantee,
        retiring_principal: retiring,
        issuing_account: account_root(&caller.account),
        operations: names,
        constraints,
        created: state.inner.clock.now(),
    };
    let token = grant_token(&grant.key_id, &grant.grant_id)?;
    let grant_id = grant.grant_id.clone();
    state
        .blocking(move |inner| {
            inner.store.create_grant(&grant)?;
            inner.keys.invalidate(&grant.key_id);
            Ok(())
        })
        .await?;
    Ok(CreateGrantResponse {
        grant_token: Some(token),
        grant_id: Some(grant_id),
    })
}

/// `kms:CreateGrant` with the condition keys of the grant asked for.
fn create_grant_access(
    operations: &[String],
    constraints: Option<&StoredConstraints>,
    grantee: &str,
    retiring: Option<&str>,
) -> Access {
    let mut access = Access::new("kms:CreateGrant")
        .creating_grant(operations, constraints)
        .key("kms:GranteePrincipal", grantee)
        .key("kms:GrantIsForAWSResource", "false");
    access
        .keys
        .insert_many("kms:GrantOperations", operations.iter().cloned());
    if let Some(retiring) = retiring {
        access = access.key("kms:RetiringPrincipal", retiring);
    }
    if let Some(constraints) = constraints {
        let mut types = Vec::new();
        let mut pairs = BTreeMap::new();
        if let Some(subset) = &constraints.encryption_context_subset {
            types.push("EncryptionContextSubset");
            pairs.extend(subset.clone());
        }
        if let Some(equals) = &constraints.encryption_context_equals {
            types.push("EncryptionContextEquals");
            pairs.extend(equals.clone());
        }
        access.keys.insert_many("kms:GrantConstraintType", types);
        // In CreateGrant, kms:EncryptionContext:<key> speaks of the grant's constraint.
        access = access.context(&pairs);
    }
    access
}

pub(super) async fn list_grants(
    state: &AppState,
    caller: &Caller,
    r: ListGrantsRequest,
) -> Result<ListGrantsResponse, KmsError> {
    let access = Access::new("kms:ListGrants").key("kms:GrantIsForAWSResource", "false");
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOnly, access)
        .await?;
    if let Some(grant_id) = &r.grant_id {
        check_grant_id(grant_id)?;
    }
    let grants: Vec<&GrantRecord> = key
        .grants
        .iter()
        .filter(|g| r.grant_id.as_ref().is_none_or(|id| *id == g.grant_id))
        .filter(|g| {
            r.grantee_principal
                .as_ref()
                .is_none_or(|p| *p == g.grantee_principal)
        })
        .collect();
    let mut listed = page(&grants, r.limit, r.marker.as_deref())?;
    // The key's ARN as AWS spells it (`mrk-…` for a multi-Region key, not its store id).
    for entry in listed.grants.iter_mut().flatten() {
        entry.key_id = Some(key.record.arn());
    }
    Ok(listed)
}

pub(super) async fn list_retirable_grants(
    state: &AppState,
    caller: &Caller,
    r: ListRetirableGrantsRequest,
) -> Result<ListGrantsResponse, KmsError> {
    let principal = state.grant_principal(&r.retiring_principal, false).await?;
    // AWS authorizes with the caller's IAM policies alone, the retiring principal being
    // the resource; no key policy is consulted.
    state
        .authorize_kms(caller, &Access::new("kms:ListRetirableGrants"), &principal)
        .await?;
    let account = caller.account.to_string();
    let lookup = principal.clone();
    let mut grants = state
        .blocking(move |inner| {
            Ok(inner
                .store
                .list_grants_by_retiring_principal(&account, &lookup)?)
        })
        .await?;
    grants.retain(|g| g.region == caller.region);
    let refs: Vec<&GrantRecord> = grants.iter().collect();
    let mut listed = page(&refs, r.limit, r.marker.as_deref())?;
    // The key's ARN as AWS spells it (`mrk-…` for a multi-Region key, not its store id).
    let shown: std::collections::HashSet<&String> = listed
        .grants
        .iter()
        .flatten()
        .filter_map(|e| e.key_id.as_ref())
        .collect();
    let mut arns = std::collections::HashMap::new();
    for grant in &grants {
        let arn = grant.key_arn();
        if !shown.contains(&arn) || arns.contains_key(&arn) {
            continue;
        }
        if let Some(key) = state.load_key(grant.key_id).await? {
            arns.insert(grant.key_arn(), key.record.arn());
        }
    }
    for entry in listed.grants.iter_mut().flatten() {
        if let Some(arn) = entry.key_id.as_ref().and_then(|id| arns.get(id)) {
            entry.key_id = Some(arn.clone());
        }
    }
    Ok(listed)
}

pub(super) async fn retire_grant(
    state: &AppState,
    caller: &Caller,
    r: RetireGrantRequest,
) -> Result<(), KmsError> {
    let (key, grant_id) = match (&r.grant_token, &r.key_id, &r.grant_id) {
        (Some(token), _, _) => {
            let invalid = || KmsError::InvalidGrantToken("Invalid grant token.".into());
            let (key_id, grant_id) = read_grant_token(token).ok_or_else(invalid)?;
            // Grants can be retired across accounts, not across regions.
            match state.load_key(key_id).await? {
                Some(key) if key.record.region == caller.region.as_str() => (key, grant_id),
                _ => return Err(invalid()),
            }
        }
        (None, Some(key_id), Some(grant_id)) => {
            let id = state.key_id_for(caller, key_id, Naming::KeyOnly)?;
            check_grant_id(grant_id)?;
            (state.key_by_id(caller, id).await?, grant_id.clone())
        }
        _ => {
            return Err(KmsError::Validation(
                "Either GrantToken, or both KeyId and GrantId, must be specified.".into(),
            ))
        }
    };
    let Some(grant) = key.grants.iter().find(|g| g.grant_id == grant_id) else {
        return Err(grant_not_found(&grant_id));
    };
    // The grant decides who may retire it: its retiring principal, its grantee when it
    // lists RetireGrant, and the account that issued it (its root, or whoever the key
    // policy and IAM policies allow kms:RetireGrant).
    let named_retiring = grant
        .retiring_principal
        .as_deref()
        .is_some_and(|p| p == caller.principal_arn || p == caller.policy_principal_arn());
    let issuing_root = caller.is_root() && caller.account == grant.account;
    if !named_retiring && !issuing_root {
        let access = Access::new("kms:RetireGrant").retiring_grant(&grant.grant_id);
        state.authorize_key(caller, &key, &access).await?;
    }
    dry_run(r.dry_run)?;
    delete_grant(state, key.record.id, grant_id).await
}

pub(super) async fn revoke_grant(
    state: &AppState,
    caller: &Caller,
    r: RevokeGrantRequest,
) -> Result<(), KmsError> {
    let access = Access::new("kms:RevokeGrant").key("kms:GrantIsForAWSResource", "false");
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOnly, access)
        .await?;
    check_grant_id(&r.grant_id)?;
    if !key.grants.iter().any(|g| g.grant_id == r.grant_id) {
        return Err(grant_not_found(&r.grant_id));
    }
    dry_run(r.dry_run)?;
    delete_grant(state, key.record.id, r.grant_id).await
}

async fn delete_grant(state: &AppState, key_id: Uuid, grant_id: String) -> Result<(), KmsError> {
    state
        .blocking(move |inner| {
            let result = inner.store.delete_grant(&key_id, &grant_id);
            // Dropped even when the store had no such grant: the cache was then stale.
            inner.keys.invalidate(&key_id);
            result.map_err(|err| match err {
                keyward_core::StoreError::NotFound(_) => grant_not_found(&grant_id),
                other => other.into(),
            })
        })
        .await
}

fn grant_not_found(grant_id: &str) -> KmsError {
    KmsError::NotFound(format!("Grant ID {grant_id} not found"))
}

fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
    if flag == Some(true) {
        return Err(KmsError::DryRun);
    }
    Ok(())
}

/// The operations of a new grant, each once, in the order given.
fn grant_operations(requested: &[GrantOperation]) -> Result<Vec<GrantOperation>, KmsError> {
    let mut operations: Vec<GrantOperation> = Vec::new();
    for op in requested {
        if !operations.contains(op) {
            operations.push(*op);
        }
    }
    match operations.as_slice() {
        [] => Err(KmsError::Validation(
            "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        )),
        [GrantOperation::CreateGrant] => Err(KmsError::Validation(
            "Grants must not contain only the CreateGrant operation.".into(),
        )),
        _ => Ok(operations),
    }
}

fn same_operations(stored: &[String], requested: &[String]) -> bool {
    stored.len() == requested.len() && requested.iter().all(|op| stored.contains(op))
}

/// The constraints as stored; an empty `Constraints` element constrains nothing.
fn stored_constraints(wire: GrantConstraints) -> Option<StoredConstraints> {
    if wire.encryption_context_subset.is_none() && wire.encryption_context_equals.is_none() {
        return None;
    }
    Some(StoredConstraints {
        encryption_context_subset: wire.encryption_context_subset,
        encryption_context_equals: wire.encryption_context_equals,
    })
}

fn wire_constraints(stored: &StoredConstraints) -> GrantConstraints {
    GrantConstraints {
        encryption_context_subset: stored.encryption_context_subset.clone(),
        encryption_context_equals: stored.encryption_context_equals.clone(),
    }
}

fn check_constraints(
    constraints: &StoredConstraints,
    operations: &[GrantOperation],
) -> Result<(), KmsError> {
    let without_context: Vec<&str> = operations
        .iter()
        .filter(|op| OPERATIONS_WITHOUT_CONTEXT.contains(op))
        .map(|op| op.as_str())
        .collect();
    if !without_context.is_empty() {
        return Err(KmsError::Validation(format!(
            "Encryption context grant constraints are supported only on grant operations that include an EncryptionContext parameter; {} do not.",
            without_context.join(", ")
        )));
    }
    let too_many = [
        &constraints.encryption_context_subset,
        &constraints.encryption_context_equals,
    ]
    .into_iter()
    .flatten()
    .any(|pairs| pairs.len() > MAX_CONSTRAINT_PAIRS);
    if too_many {
        return Err(KmsError::Validation(format!(
            "A grant constraint can include up to {MAX_CONSTRAINT_PAIRS} encryption context pairs."
        )));
    }
    Ok(())
}

/// Grant operations every key supports.
const COMMON_OPERATIONS: &[GrantOperation] = &[
    GrantOperation::CreateGrant,
    GrantOperation::RetireGrant,
    GrantOperation::DescribeKey,
];

/// The grant operations of a key other than a symmetric encryption key, by key usage.
fn operations_for_usage(usage: &str) -> &'static [GrantOperation] {
    use GrantOperation as Op;
    match usage {
        "ENCRYPT_DECRYPT" => &[
            Op::Encrypt,
            Op::Decrypt,
            Op::ReEncryptFrom,
            Op::ReEncryptTo,
            Op::GetPublicKey,
        ],
        "SIGN_VERIFY" => &[Op::Sign, Op::Verify, Op::GetPublicKey],
        "GENERATE_VERIFY_MAC" => &[Op::GenerateMac, Op::VerifyMac],
        "KEY_AGREEMENT" => &[Op::DeriveSharedSecret, Op::GetPublicKey],
        _ => &[],
    }
}

/// The operations must be ones the key supports (AWS's `ValidationException`).
fn check_operations_for_key(
    key: &LoadedKey,
    operations: &[GrantOperation],
) -> Result<(), KmsError> {
    let symmetric = key.record.key_spec == "SYMMETRIC_DEFAULT";
    let allowed = |op: &GrantOperation| {
        if symmetric {
            SYMMETRIC_OPERATIONS.contains(op)
        } else {
            COMMON_OPERATIONS.contains(op)
                || operations_for_usage(&key.record.key_usage).contains(op)
        }
    };
    let unsupported: Vec<&str> = operations
        .iter()
        .filter(|op| !allowed(op))
        .map(|op| op.as_str())
        .collect();
    if unsupported.is_empty() {
        return Ok(());
    }
    let kind = if symmetric {
        "a symmetric encryption KMS key".to_owned()
    } else {
        format!(
            "a KMS key with key spec {} and key usage {}",
            key.record.key_spec, key.record.key_usage
        )
    };
    Err(KmsError::Validation(format!(
        "Grant operations {} are not supported for {kind}.",
        unsupported.join(", ")
    )))
}

/// A grant id as `CreateGrant` makes them: 64 lowercase hex characters.
fn check_grant_id(grant_id: &str) -> Result<(), KmsError> {
    let valid = grant_id.len() == GRANT_ID_LEN
        && grant_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if valid {
        Ok(())
    } else {
        Err(KmsError::InvalidGrantId(format!(
            "Invalid grant ID: {grant_id}"
        )))
    }
}

fn account_root(account: &AccountId) -> String {
    format!("arn:aws:iam::{account}:root")
}

fn list_entry(grant: &GrantRecord) -> GrantListEntry {
    GrantListEntry {
        key_id: Some(grant.key_arn()),
        grant_id: Some(grant.grant_id.clone()),
        // AWS lists an unnamed grant with an empty name.
        name: Some(grant.name.clone().unwrap_or_default()),
        creation_date: Some(grant.created.as_epoch_seconds()),
        grantee_principal: Some(grant.grantee_principal.clone()),
        retiring_principal: grant.retiring_principal.clone(),
        issuing_account: Some(grant.issuing_account.clone()),
        operations: Some(
            grant
                .operations
                .iter()
                .filter_map(|op| GrantOperation::from_wire(op))
                .collect(),
        ),
        constraints: grant.constraints.as_ref().map(wire_constraints),
    }
}

/// One page of grants in store order (creation, then grant id). The marker names the last
/// grant of the previous page by both, so a page still follows on when that grant has
/// been retired since.
fn page(
    grants: &[&GrantRecord],
    limit: Option<i32>,
    marker: Option<&str>,
) -> Result<ListGrantsResponse, KmsError> {
    let limit = page_limit(limit, DEFAULT_PAGE).min(MAX_PAGE);
    let start = match marker {
        Some(marker) => {
            let (created, grant_id) = read_marker(marker)
                .ok_or_else(|| KmsError::InvalidMarker("Invalid marker".into()))?;
            grants
                .iter()
                .position(|g| (g.created, g.grant_id.as_str()) > (created, grant_id))
                .unwrap_or(grants.len())
        }
        None => 0,
    };
    let rest = grants.get(start..).unwrap_or_default();
    let truncated = rest.len() > limit;
    let shown = rest.get(..limit).unwrap_or(rest);
    Ok(ListGrantsResponse {
        grants: Some(shown.iter().map(|g| list_entry(g)).collect()),
        next_marker: if truncated {
            shown
                .last()
                .map(|g| format!("{}:{}", g.created.0, g.grant_id))
        } else {
            None
        },
        truncated: Some(truncated),
    })
}

fn read_marker(marker: &str) -> Option<(UnixMillis, &str)> {
    let (created, grant_id) = marker.split_once(':')?;
    check_grant_id(grant_id).ok()?;
    Some((UnixMillis(created.parse().ok()?), grant_id))
}

/// A grant token: base64url of a version byte, the key id, the grant id and random
/// bytes. It names the grant; it grants nothing by itself.
fn grant_token(key_id: &Uuid, grant_id: &str) -> Result<String, KmsError> {
    let grant = hex::decode(grant_id)
        .map_err(|_| KmsError::Internal(format!("grant id {grant_id} is not hex")))?;
    let mut bytes = vec![TOKEN_VERSION];
    bytes.extend_from_slice(key_id.as_bytes());
    bytes.extend_from_slice(&grant);
    bytes.extend_from_slice(&keyward_crypto::random_bytes(TOKEN_NONCE)?);
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The key and grant a token names, if it is one of ours.
fn read_grant_token(token: &str) -> Option<(Uuid, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let (version, rest) = bytes.split_first()?;
    if *version != TOKEN_VERSION || rest.len() != 16 + GRANT_ID_LEN / 2 + TOKEN_NONCE {
        return None;
    }
    let (key, rest) = rest.split_at(16);
    let grant = rest.get(..GRANT_ID_LEN / 2)?;
    Some((Uuid::from_slice(key).ok()?, hex::encode(grant)))
}

/// A principal as a grant may name it.
#[derive(Debug, PartialEq, Eq)]
enum GrantPrincipal<'a> {
    /// An AWS service, `ec2.amazonaws.com`; also an account root, a federated user, or
    /// any principal that needs no lookup: kept as given.
    AsGiven,
    User {
        account: AccountId,
        path: &'a str,
        name: &'a str,
    },
    Role {
        account: AccountId,
        path: &'a str,
        name: &'a str,
    },
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`: its role must exist.
    Session { account: AccountId, role: &'a str },
}

fn invalid_principal(principal: &str) -> KmsError {
    KmsError::InvalidArn(format!(
        "ARN does not refer to a valid principal: {principal}"
    ))
}

fn is_service_principal(principal: &str) -> bool {
    let host = principal
        .strip_suffix(".amazonaws.com")
        .or_else(|| principal.strip_suffix(".amazonaws.com.cn"));
    host.is_some_and(|host| {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
    })
}

/// Splits `<path><name>` after `user` or `role`: the path is `/` or `/a/b/`.
fn path_and_name(rest: &str) -> Option<(&str, &str)> {
    let at = rest.rfind('/')?;
    let (path, name) = rest.split_at(at + 1);
    (path.starts_with('/') && !name.is_empty()).then_some((path, name))
}

/// What `principal` names, or `None` when it is no principal a grant can name.
fn parse_principal(principal: &str) -> Option<GrantPrincipal<'_>> {
    if is_service_principal(principal) {
        return Some(GrantPrincipal::AsGiven);
    }
    let rest = principal.strip_prefix("arn:")?;
    let [partition, service, region, account, resource] =
        rest.splitn(5, ':').collect::<Vec<_>>()[..]
    else {
        return None;
    };
    if !partition.starts_with("aws") || !region.is_empty() {
        return None;
    }
    let account = AccountId::parse(account)?;
    match service {
        "iam" if resource == "root" => Some(GrantPrincipal::AsGiven),
        "iam" => {
            if let Some(rest) = resource.strip_prefix("user") {
                let (path, name) = path_and_name(rest)?;
                Some(GrantPrincipal::User {
                    account,
                    path,
                    name,
                })
            } else if let Some(rest) = resource.strip_prefix("role") {
                let (path, name) = path_and_name(rest)?;
                Some(GrantPrincipal::Role {
                    account,
                    path,
                    name,
                })
            } else {
                None
            }
        }
        "sts" => {
            if let Some(rest) = resource.strip_prefix("assumed-role/") {
                let (role, session) = rest.split_once('/')?;
                (!role.is_empty() && !session.is_empty() && !session.contains('/'))
                    .then_some(GrantPrincipal::Session { account, role })
            } else if let Some(name) = resource.strip_prefix("federated-user/") {
                (!name.is_empty()).then_some(GrantPrincipal::AsGiven)
            } else {
                None
            }
        }
        _ => None,
    }
}

impl AppState {
    /// Checks a grantee or retiring principal as KMS does and returns the ARN to keep:
    /// a user's or role's ARN as IAM spells it, anything else as given. With `must_exist`
    /// a user or role (or the role of a session) the store does not have is
    /// `InvalidArnException`; without, the principal is kept as given.
    async fn grant_principal(&self, principal: &str, must_exist: bool) -> Result<String, KmsError> {
        let parsed = parse_principal(principal).ok_or_else(|| invalid_principal(principal))?;
        let lookup = match parsed {
            GrantPrincipal::AsGiven => return Ok(principal.to_owned()),
            GrantPrincipal::User {
                account,
                path,
                name,
            } => (account, Some(path.to_owned()), name.to_owned(), true),
            GrantPrincipal::Role {
                account,
                path,
                name,
            } => (account, Some(path.to_owned()), name.to_owned(), false),
            GrantPrincipal::Session { account, role } => (account, None, role.to_owned(), false),
        };
        let (account, path, name, is_user) = lookup;
        let session = path.is_none();
        let found = self
            .blocking(move |inner| {
                let arn = if is_user {
                    inner
                        .store
                        .get_user(account.as_str(), &name)?
                        .filter(|u| path.as_deref().is_none_or(|p| p == u.path))
                        .map(|u| u.arn())
                } else {
                    inner
                        .store
                        .get_role(account.as_str(), &name)?
                        .filter(|r| path.as_deref().is_none_or(|p| p == r.path))
                        .map(|r| r.arn())
                };
                Ok(arn)
            })
            .await?;
        match found {
            // A session keeps its own ARN; a user or role takes IAM's spelling.
            Some(_) if session => Ok(principal.to_owned()),
            Some(arn) => Ok(arn),
            None if must_exist => Err(invalid_principal(principal)),
            None => Ok(principal.to_owned()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_grant_and_differ_each_time() {
        let key = Uuid::new_v4();
        let grant_id = new_grant_id().unwrap();
        let first = grant_token(&key, &grant_id).unwrap();
        let second = grant_token(&key, &grant_id).unwrap();
        assert_ne!(first, second);
        for token in [&first, &second] {
            assert_eq!(read_grant_token(token), Some((key, grant_id.clone())));
        }
        assert_eq!(read_grant_token("not a token"), None);
        assert_eq!(read_grant_token(""), None);
        assert_eq!(read_grant_token(&first[..first.len() - 4]), None);
        let mut other_version = URL_SAFE_NO_PAD.decode(&first).unwrap();
        other_version[0] = 2;
        assert_eq!(
            read_grant_token(&URL_SAFE_NO_PAD.encode(other_version)),
            None
        );
    }

    #[test]
    fn principals_a_grant_can_name() {
        let account = AccountId::parse("111122223333").unwrap();
        for given in [
            "arn:aws:iam::111122223333:root",
            "ec2.amazonaws.com",
            "arn:aws:sts::111122223333:federated-user/bob",
        ] {
            assert_eq!(
                parse_principal(given),
                Some(GrantPrincipal::AsGiven),
                "{given}"
            );
        }
        assert_eq!(
            parse_principal("arn:aws:iam::111122223333:user/division/alice"),
            Some(GrantPrincipal::User {
                account: account.clone(),
                path: "/division/",
                name: "alice"
            })
        );
        assert_eq!(
            parse_principal("arn:aws:iam::111122223333:role/keyUserRole"),
            Some(GrantPrincipal::Role {
                account: account.clone(),
                path: "/",
                name: "keyUserRole"
            })
        );
        assert_eq!(
            parse_principal("arn:aws:sts::111122223333:assumed-role/keyUserRole/session-1"),
            Some(GrantPrincipal::Session {
                account,
                role: "keyUserRole"
            })
        );
        for invalid in [
            "alice",
            "111122223333",
            "arn:aws:iam::1111:root",
            "arn:aws:iam:us-east-1:111122223333:root",
            "arn:aws:iam::111122223333:group/admins",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:s3:::bucket",
            "arn:aws:sts::111122223333:assumed-role/onlyrole",
            "amazonaws.com",
            "EC2.amazonaws.com",
        ] {
            assert_eq!(parse_principal(invalid), None, "{invalid}");
        }
    }

    fn grant(created: i64, id: char) -> GrantRecord {
        GrantRecord {
            key_id: Uuid::nil(),
            grant_id: id.to_string().repeat(GRANT_ID_LEN),
            name: None,
            account: AccountId::parse("111122223333").unwrap(),
            region: keyward_core::Region::parse("us-east-1").unwrap(),
            grantee_principal: "arn:aws:iam::111122223333:root".into(),
            retiring_principal: None,
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            operations: vec!["Decrypt".into()],
            constraints: None,
            created: UnixMillis(created),
        }
    }

    #[test]
    fn pages_follow_on_even_when_the_last_grant_went() {
        let grants = [grant(1, 'a'), grant(2, 'b'), grant(2, 'c'), grant(3, 'd')];
        let all: Vec<&GrantRecord> = grants.iter().collect();
        let first = page(&all, Some(2), None).unwrap();
        assert_eq!(first.truncated, Some(true));
        let marker = first.next_marker.unwrap();
        assert_eq!(first.grants.unwrap().len(), 2);
        let second = page(&all, Some(2), Some(&marker)).unwrap();
        assert_eq!(second.truncated, Some(false));
        assert_eq!(second.next_marker, None);
        let ids: Vec<String> = second
            .grants
            .unwrap()
            .into_iter()
            .filter_map(|g| g.grant_id)
            .collect();
        assert_eq!(ids, vec!["c".repeat(64), "d".repeat(64)]);
        // The grant the marker names was retired: the next page still starts after it.
        let without_b: Vec<&GrantRecord> = all
            .iter()
            .copied()
            .filter(|g| g.grant_id != "b".repeat(64))
            .collect();
        let again = page(&without_b, Some(2), Some(&marker)).unwrap();
        assert_eq!(again.grants.unwrap().len(), 2);
        let error = page(&all, None, Some("garbage")).unwrap_err();
        assert!(matches!(error, KmsError::InvalidMarker(_)));
    }

    #[test]
    fn operations_are_checked() {
        use GrantOperation as Op;
        assert_eq!(
            grant_operations(&[Op::Decrypt, Op::Decrypt, Op::DescribeKey]).unwrap(),
            vec![Op::Decrypt, Op::DescribeKey]
        );
        assert!(matches!(
            grant_operations(&[Op::CreateGrant, Op::CreateGrant]),
            Err(KmsError::Validation(m)) if m == "Grants must not contain only the CreateGrant operation."
        ));
        assert!(grant_operations(&[]).is_err());
        let subset = StoredConstraints {
            encryption_context_subset: Some(BTreeMap::from([("a".into(), "b".into())])),
            encryption_context_equals: None,
        };
        assert!(
            check_constraints(&subset, &[Op::Decrypt, Op::DescribeKey, Op::RetireGrant]).is_ok()
        );
        assert!(check_constraints(&subset, &[Op::Decrypt, Op::Sign]).is_err());
        let nine = StoredConstraints {
            encryption_context_equals: Some((0..9).map(|i| (i.to_string(), "v".into())).collect()),
            encryption_context_subset: None,
        };
        assert!(check_constraints(&nine, &[Op::Decrypt]).is_err());
        assert!(check_grant_id(&"0".repeat(64)).is_ok());
        assert!(matches!(
            check_grant_id("1234"),
            Err(KmsError::InvalidGrantId(_))
        ));
        assert!(check_grant_id(&"A".repeat(64)).is_err());
    }
}
