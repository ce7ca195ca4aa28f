//! Secret lifecycle: create, describe, update, list, delete and restore, tags, resource
//! policies, random passwords.

use keyward_core::password::{self, PasswordError, PasswordOptions};
use keyward_core::secret::{
    SecretRecord, SecretsError, AWSCURRENT, DEFAULT_RECOVERY_WINDOW_DAYS, MAX_RECOVERY_WINDOW_DAYS,
    MIN_RECOVERY_WINDOW_DAYS,
};
use keyward_core::store::{SecretCursor, SecretOrder};
use keyward_core::{Store, StoreError, UnixMillis};
use keyward_protocol::json::SecretText;
use keyward_protocol::secretsmanager::*;
use uuid::Uuid;

use super::access::SecretAccess;
use super::check_not_replica;
use super::values::{add_value, request_value, version_id, Added};
use crate::auth::Caller;
use crate::state::AppState;

const MAX_TAGS: usize = 50;
const DEFAULT_PAGE: usize = 100;

fn check_name(name: &str) -> Result<(), SecretsError> {
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
    if !ok {
        return Err(SecretsError::Validation(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
                .into(),
        ));
    }
    Ok(())
}

fn suffix() -> Result<String, SecretsError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let bytes =
        keyward_crypto::random_bytes(6).map_err(|e| SecretsError::Internal(e.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

/// Tags as stored: a key given twice keeps its last value.
fn check_tags(tags: &[Tag]) -> Result<Vec<(String, String)>, SecretsError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for tag in tags {
        let key = tag
            .key
            .clone()
            .ok_or_else(|| SecretsError::InvalidParameter("A tag key is required.".into()))?;
        if key.starts_with("aws:") {
            return Err(SecretsError::InvalidParameter(
                "Tag keys beginning with aws: are reserved.".into(),
            ));
        }
        let value = tag.value.clone().unwrap_or_default();
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(existing) => existing.1 = value,
            None => out.push((key, value)),
        }
    }
    Ok(out)
}

fn wire_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

pub(super) async fn create_secret(
    state: &AppState,
    caller: &Caller,
    r: CreateSecretRequest,
) -> Result<CreateSecretResponse, SecretsError> {
    check_name(&r.name)?;
    let value = request_value(r.secret_string, r.secret_binary)?;
    let tags = check_tags(&r.tags.unwrap_or_default())?;
    let version_id = version_id(r.client_request_token);
    let (account, region) = (caller.account.to_string(), caller.region.to_string());
    let mut access = SecretAccess::new("secretsmanager:CreateSecret")
        .key("secretsmanager:Name", &r.name)
        .tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Some(key) = &r.kms_key_id {
        access = access.key("secretsmanager:KmsKeyId", key);
    }
    let would_be = format!(
        "arn:aws:secretsmanager:{region}:{account}:secret:{}-??????",
        r.name
    );
    state.authorize_secrets(caller, access, &would_be).await?;

    let existing = {
        let (a, g, n) = (account.clone(), region.clone(), r.name.clone());
        state
            .blocking_secrets(move |inner| Ok(inner.secret_by_name(&a, &g, &n)?))
            .await?
    };
    if let Some(existing) = existing {
        if existing.is_scheduled_for_deletion() {
            return Err(SecretsError::InvalidRequest(
                "You can't create this secret because a secret with this name is already scheduled for deletion.".into(),
            ));
        }
        // A retry of the same request (same token and value) is answered as the first was.
        if let (Some(value), Some(_)) = (value, existing.version(&version_id)) {
            if let Added::Repeated(record) = add_value(
                state,
                caller,
                &existing,
                existing.kms_key_id.clone(),
                version_id.clone(),
                value,
                Vec::new(),
            )
            .await?
            {
                return Ok(CreateSecretResponse {
                    arn: Some(record.arn.clone()),
                    name: Some(record.name.clone()),
                    version_id: Some(version_id),
                    replication_status: None,
                });
            }
        }
        return Err(SecretsError::ResourceExists(format!(
            "The operation failed because the secret {} already exists.",
            r.name
        )));
    }

    let now = state.inner.clock.now();
    let suffix = suffix()?;
    let mut record = SecretRecord {
        id: Uuid::new_v4(),
        arn: SecretRecord::arn_for(&region, &account, &r.name, &suffix),
        account,
        region,
        name: r.name.clone(),
        description: r.description,
        kms_key_id: r.kms_key_id.filter(|k| !k.is_empty()),
        created: now,
        last_changed: now,
        last_accessed: None,
        deleted: None,
        deletion_date: None,
        tags,
        resource_policy: None,
        policy_principals: Default::default(),
        versions: Vec::new(),
        replicas: Vec::new(),
        primary_region: None,
        rotation: None,
        revision: 0,
    };
    let mut rows = Vec::new();
    if let Some(value) = &value {
        let (row, key_arn) = super::envelope::seal(
            state,
            caller,
            &record,
            record.kms_key_id.as_deref(),
            &version_id,
            value,
        )
        .await?;
        record.add_version(
            keyward_core::secret::VersionInfo {
                id: version_id.clone(),
                created: now,
                stages: Vec::new(),
                last_accessed: None,
                kms_key_arn: key_arn,
                earlier_kms_keys: Vec::new(),
                empty: false,
            },
            &[AWSCURRENT.to_owned()],
        )?;
        rows.push(row);
    } else if let Some(key) = &record.kms_key_id {
        // Without a value nothing is encrypted yet, but the key must exist and be usable.
        super::envelope::key_for(state, caller, Some(key)).await?;
    }
    let stored = record.clone();
    state
        .blocking_secrets(move |inner| Ok(inner.create_secret(&stored, &rows)?))
        .await?;
    let replication_status = match r.add_replica_regions {
        Some(regions) if !regions.is_empty() => Some(
            super::replication::replicate(
                state,
                caller,
                &record.name,
                regions,
                r.force_overwrite_replica_secret.unwrap_or(false),
            )
            .await?,
        ),
        _ => None,
    };
    Ok(CreateSecretResponse {
        arn: Some(record.arn),
        name: Some(record.name),
        version_id: value.map(|_| version_id),
        replication_status,
    })
}

pub(super) fn describe(record: &SecretRecord) -> DescribeSecretResponse {
    DescribeSecretResponse {
        arn: Some(record.arn.clone()),
        name: Some(record.name.clone()),
        description: record.description.clone(),
        kms_key_id: record.kms_key_id.clone(),
        last_changed_date: Some(record.last_changed.as_epoch_seconds()),
        last_accessed_date: record.last_accessed.map(|d| d.as_epoch_seconds()),
        deleted_date: record.deleted.map(|d| d.as_epoch_seconds()),
        tags: (!record.tags.is_empty()).then(|| wire_tags(&record.tags)),
        version_ids_to_stages: Some(record.versions_to_stages()),
        created_date: Some(record.created.as_epoch_seconds()),
        primary_region: (!record.replicas.is_empty() || record.primary_region.is_some()).then(
            || {
                record
                    .primary_region
                    .clone()
                    .unwrap_or_else(|| record.region.clone())
            },
        ),
        replication_status: (!record.replicas.is_empty()).then(|| {
            record
                .replicas
                .iter()
                .map(super::replication::wire_status)
                .collect()
        }),
        ..super::rotation::describe_rotation(record)
    }
}

pub(super) async fn describe_secret(
    state: &AppState,
    caller: &Caller,
    r: DescribeSecretRequest,
) -> Result<DescribeSecretResponse, SecretsError> {
    Ok(describe(
        &state
            .resolve_secret(
                caller,
                &r.secret_id,
                SecretAccess::new("secretsmanager:DescribeSecret"),
            )
            .await?,
    ))
}

pub(super) async fn update_secret(
    state: &AppState,
    caller: &Caller,
    r: UpdateSecretRequest,
) -> Result<UpdateSecretResponse, SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:UpdateSecret"),
        )
        .await?;
    record.check_not_deleted()?;
    check_not_replica(&record)?;
    let value = request_value(r.secret_string, r.secret_binary)?;
    // An empty KmsKeyId means the AWS managed key, as the model says.
    let new_key: Option<Option<String>> = r.kms_key_id.map(|k| (!k.is_empty()).then_some(k));
    if let Some(Some(key)) = &new_key {
        super::envelope::key_for(state, caller, Some(key)).await?;
    }
    let key_changed = new_key.as_ref().is_some_and(|k| *k != record.kms_key_id);
    let kms_key_id = match &new_key {
        Some(key) => key.clone(),
        None => record.kms_key_id.clone(),
    };
    let description = r.description;
    let (_, mut updated) = state
        .update_secret(record.id, Vec::new(), move |secret, now| {
            if let Some(d) = &description {
                secret.description = Some(d.clone());
            }
            if let Some(k) = &new_key {
                secret.kms_key_id = k.clone();
            }
            secret.last_changed = now;
            Ok(((), Vec::new()))
        })
        .await?;
    if key_changed {
        updated = reencrypt_labelled(state, caller, &updated).await?;
    }
    let mut version = None;
    if let Some(value) = value {
        let id = version_id(r.client_request_token);
        updated = match add_value(
            state,
            caller,
            &updated,
            kms_key_id,
            id.clone(),
            value,
            vec![AWSCURRENT.to_owned()],
        )
        .await?
        {
            Added::New(record) | Added::Repeated(record) => record,
        };
        version = Some(id);
    }
    super::replication::sync_replicas(state, caller, &updated).await?;
    Ok(UpdateSecretResponse {
        arn: Some(updated.arn.clone()),
        name: Some(updated.name.clone()),
        version_id: version,
    })
}

/// Re-encrypts the labelled versions (AWSCURRENT, AWSPREVIOUS, AWSPENDING) under the
/// secret's new key, as Secrets Manager does when the key changes; other versions keep the
/// key they were encrypted under.
async fn reencrypt_labelled(
    state: &AppState,
    caller: &Caller,
    record: &SecretRecord,
) -> Result<SecretRecord, SecretsError> {
    use keyward_core::secret::{AWSPENDING, AWSPREVIOUS};
    let mut rows = Vec::new();
    let mut shown = Vec::new();
    for version in &record.versions {
        if !version
            .stages
            .iter()
            .any(|s| s == AWSCURRENT || s == AWSPREVIOUS || s == AWSPENDING)
        {
            continue;
        }
        let (id, vid) = (record.id, version.id.clone());
        let Some(row) = state
            .blocking_secrets(move |inner| Ok(inner.secret_value(&id, &vid)?))
            .await?
        else {
            continue;
        };
        let (row, key) =
            super::envelope::add_key(state, caller, record, &row, record.kms_key_id.as_deref())
                .await?;
        rows.push(row);
        shown.push((version.id.clone(), key));
    }
    if rows.is_empty() {
        return Ok(record.clone());
    }
    let (_, updated) = state
        .update_secret(record.id, rows, move |secret, _| {
            for (vid, key) in &shown {
                if let Some(v) = secret.versions.iter_mut().find(|v| &v.id == vid) {
                    let earlier = std::mem::replace(&mut v.kms_key_arn, key.clone());
                    v.earlier_kms_keys.retain(|k| k != key && *k != earlier);
                    v.earlier_kms_keys.insert(0, earlier);
                }
            }
            Ok(((), shown.iter().map(|(vid, _)| vid.clone()).collect()))
        })
        .await?;
    Ok(updated)
}

/// A page of `items` after the opaque `token` (an offset), and the next token.
fn page_size(max_results: Option<i32>) -> usize {
    max_results
        .and_then(|m| usize::try_from(m).ok())
        .filter(|m| *m > 0)
        .unwrap_or(DEFAULT_PAGE)
}

/// A `ListSecrets` token of an indexed order: `kw2:` and the order, then the last secret
/// listed (creation time and id, or the name in hex).
fn list_token(secret: &SecretRecord, order: SecretOrder) -> String {
    let (kind, descending) = order_code(order);
    let direction = if descending { 'd' } else { 'a' };
    match SecretCursor::of(secret, order) {
        SecretCursor::Created { created, id } => {
            format!("kw2:{kind}{direction}:{}:{id}", created.0)
        }
        SecretCursor::Name(name) => format!("kw2:{kind}{direction}:{}", hex::encode(name)),
    }
}

fn order_code(order: SecretOrder) -> (char, bool) {
    match order {
        SecretOrder::Created { descending } => ('c', descending),
        SecretOrder::Name { descending } => ('n', descending),
    }
}

/// Reads a token [`list_token`] made for the same order; any other is invalid.
fn parse_list_token(token: &str, order: SecretOrder) -> Result<SecretCursor, SecretsError> {
    let invalid = || SecretsError::InvalidNextToken("The NextToken value is invalid.".into());
    let (kind, descending) = order_code(order);
    let direction = if descending { 'd' } else { 'a' };
    let rest = token
        .strip_prefix("kw2:")
        .and_then(|t| t.strip_prefix(kind))
        .and_then(|t| t.strip_prefix(direction))
        .and_then(|t| t.strip_prefix(':'))
        .ok_or_else(invalid)?;
    match order {
        SecretOrder::Created { .. } => {
            let (created, id) = rest.split_once(':').ok_or_else(invalid)?;
            Ok(SecretCursor::Created {
                created: UnixMillis(created.parse().map_err(|_| invalid())?),
                id: Uuid::parse_str(id).map_err(|_| invalid())?,
            })
        }
        SecretOrder::Name { .. } => {
            let bytes = hex::decode(rest).map_err(|_| invalid())?;
            Ok(SecretCursor::Name(
                String::from_utf8(bytes).map_err(|_| invalid())?,
            ))
        }
    }
}

/// One page of an indexed order: reads the store in chunks, in order, keeping the secrets
/// `visible` accepts, until the page is full (with one more to know a next page exists).
fn list_in_order(
    store: &dyn Store,
    (account, region): (&str, &str),
    order: SecretOrder,
    mut after: Option<SecretCursor>,
    limit: usize,
    visible: impl Fn(&SecretRecord) -> bool,
) -> Result<(Vec<SecretRecord>, Option<String>), StoreError> {
    let chunk = limit.saturating_add(1).max(DEFAULT_PAGE);
    let mut page = Vec::with_capacity(limit.saturating_add(1));
    loop {
        let read = store.list_secrets_page(account, region, order, after.as_ref(), chunk)?;
        let exhausted = read.len() < chunk;
        for secret in read {
            after = Some(SecretCursor::of(&secret, order));
            if visible(&secret) {
                page.push(secret);
                if page.len() > limit {
                    page.truncate(limit);
                    let next = page.last().map(|last| list_token(last, order));
                    return Ok((page, next));
                }
            }
        }
        if exhausted {
            return Ok((page, None));
        }
    }
}

pub(super) fn paginate<'a, T>(
    items: &'a [T],
    max_results: Option<i32>,
    token: Option<&str>,
) -> Result<(&'a [T], Option<String>), SecretsError> {
    let limit = page_size(max_results);
    let start = match token {
        Some(t) => t
            .strip_prefix("kw1:")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| {
                SecretsError::InvalidNextToken("The NextToken value is invalid.".into())
            })?,
        None => 0,
    };
    let end = start.saturating_add(limit).min(items.len());
    let next = (end < items.len()).then(|| format!("kw1:{end}"));
    Ok((&items[start..end], next))
}

/// Whether `needle` starts `text` or one of its words.
fn starts_word(text: &str, needle: &str) -> bool {
    text.starts_with(needle)
        || text
            .split(|c: char| c.is_whitespace() || "/_-.".contains(c))
            .any(|w| w.starts_with(needle))
}

/// One `ListSecrets` filter: any of its values matches (a `!` value negates). Name and tag
/// filters match by prefix, case-sensitively; description and `all` match the start of any
/// word, ignoring case.
fn matches(record: &SecretRecord, filter: &Filter) -> bool {
    let Some(key) = &filter.key else { return true };
    let values = filter.values.as_deref().unwrap_or_default();
    let test = |value: &str| -> bool {
        let (negate, needle) = match value.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let lower = needle.to_lowercase();
        let in_description = || {
            record
                .description
                .as_deref()
                .is_some_and(|d| starts_word(&d.to_lowercase(), &lower))
        };
        let found = match key {
            FilterNameStringType::Name => record.name.starts_with(needle),
            FilterNameStringType::Description => in_description(),
            FilterNameStringType::TagKey => record.tags.iter().any(|(k, _)| k.starts_with(needle)),
            FilterNameStringType::TagValue => {
                record.tags.iter().any(|(_, v)| v.starts_with(needle))
            }
            FilterNameStringType::PrimaryRegion => record
                .primary_region
                .as_deref()
                .unwrap_or(&record.region)
                .starts_with(needle),
            FilterNameStringType::OwningService => false,
            FilterNameStringType::All => {
                starts_word(&record.name.to_lowercase(), &lower)
                    || in_description()
                    || record.tags.iter().any(|(k, v)| {
                        starts_word(&k.to_lowercase(), &lower)
                            || starts_word(&v.to_lowercase(), &lower)
                    })
            }
        };
        found != negate
    };
    values.iter().any(|v| test(v))
}

pub(super) async fn list_secrets(
    state: &AppState,
    caller: &Caller,
    r: ListSecretsRequest,
) -> Result<ListSecretsResponse, SecretsError> {
    state
        .authorize_secrets(caller, SecretAccess::new("secretsmanager:ListSecrets"), "*")
        .await?;
    let (account, region) = (caller.account.to_string(), caller.region.to_string());
    let include_deleted = r.include_planned_deletion.unwrap_or(false);
    let filters = r.filters.unwrap_or_default();
    let descending = matches!(r.sort_order, None | Some(SortOrderType::Desc));
    let order = match r.sort_by.unwrap_or(SortByType::CreatedDate) {
        SortByType::CreatedDate => Some(SecretOrder::Created { descending }),
        SortByType::Name => Some(SecretOrder::Name { descending }),
        SortByType::LastChangedDate | SortByType::LastAccessedDate => None,
    };
    let visible = move |s: &SecretRecord| {
        (include_deleted || !s.is_scheduled_for_deletion()) && filters.iter().all(|f| matches(s, f))
    };
    let (page, next_token) = match order {
        Some(order) => {
            let limit = page_size(r.max_results);
            let after = r
                .next_token
                .as_deref()
                .map(|token| parse_list_token(token, order))
                .transpose()?;
            state
                .blocking_secrets(move |inner| {
                    Ok(list_in_order(
                        inner.store.as_ref(),
                        (&account, &region),
                        order,
                        after,
                        limit,
                        visible,
                    )?)
                })
                .await?
        }
        None => {
            // Orders without an index: read every secret, sort, and page by position.
            let mut secrets = state
                .blocking_secrets(move |inner| Ok(inner.store.list_secrets(&account, &region)?))
                .await?;
            secrets.retain(|s| visible(s));
            secrets.sort_by(|a, b| match r.sort_by {
                Some(SortByType::LastAccessedDate) => a.last_accessed.cmp(&b.last_accessed),
                _ => a.last_changed.cmp(&b.last_changed),
            });
            if descending {
                secrets.reverse();
            }
            let (page, next_token) = paginate(&secrets, r.max_results, r.next_token.as_deref())?;
            (page.to_vec(), next_token)
        }
    };
    Ok(ListSecretsResponse {
        secret_list: Some(
            page.iter()
                .map(|s| {
                    let d = describe(s);
                    SecretListEntry {
                        arn: d.arn,
                        name: d.name,
                        description: d.description,
                        kms_key_id: d.kms_key_id,
                        last_changed_date: d.last_changed_date,
                        last_accessed_date: d.last_accessed_date,
                        deleted_date: d.deleted_date,
                        tags: d.tags,
                        secret_versions_to_stages: d.version_ids_to_stages,
                        created_date: d.created_date,
                        primary_region: d.primary_region,
                        rotation_enabled: d.rotation_enabled,
                        rotation_lambda_arn: d.rotation_lambda_arn,
                        rotation_rules: d.rotation_rules,
                        last_rotated_date: d.last_rotated_date,
                        next_rotation_date: d.next_rotation_date,
                        ..SecretListEntry::default()
                    }
                })
                .collect(),
        ),
        next_token,
    })
}

pub(super) async fn delete_secret(
    state: &AppState,
    caller: &Caller,
    r: DeleteSecretRequest,
) -> Result<DeleteSecretResponse, SecretsError> {
    let force = r.force_delete_without_recovery.unwrap_or(false);
    if force && r.recovery_window_in_days.is_some() {
        return Err(SecretsError::InvalidParameter(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
                .into(),
        ));
    }
    let days = r
        .recovery_window_in_days
        .unwrap_or(i64::from(DEFAULT_RECOVERY_WINDOW_DAYS));
    if !(i64::from(MIN_RECOVERY_WINDOW_DAYS)..=i64::from(MAX_RECOVERY_WINDOW_DAYS)).contains(&days)
    {
        return Err(SecretsError::InvalidParameter(
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).".into(),
        ));
    }
    let record = match state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:DeleteSecret"),
        )
        .await
    {
        Ok(record) => record,
        // Forced deletion of a secret that does not exist succeeds, as the model says.
        Err(SecretsError::ResourceNotFound(_)) if force => {
            return Ok(DeleteSecretResponse {
                arn: None,
                name: Some(r.secret_id),
                deletion_date: Some(state.inner.clock.now().as_epoch_seconds()),
            })
        }
        Err(other) => return Err(other),
    };
    check_not_replica(&record)?;
    if !record.replicas.is_empty() {
        let regions: Vec<&str> = record.replicas.iter().map(|r| r.region.as_str()).collect();
        return Err(SecretsError::InvalidRequest(format!(
            "You can't delete secret {} that still has replica regions [{}]",
            record.name,
            regions.join(", ")
        )));
    }
    if force {
        let id = record.id;
        state
            .blocking_secrets(move |inner| Ok(inner.delete_secret(&id)?))
            .await?;
        let now = state.inner.clock.now();
        return Ok(DeleteSecretResponse {
            arn: Some(record.arn),
            name: Some(record.name),
            deletion_date: Some(now.as_epoch_seconds()),
        });
    }
    let days = u32::try_from(days).unwrap_or(DEFAULT_RECOVERY_WINDOW_DAYS);
    let (when, updated) = state
        .update_secret(record.id, Vec::new(), move |secret, now| {
            if secret.is_scheduled_for_deletion() {
                return Err(SecretsError::InvalidRequest(
                    "You can't perform this operation on the secret because it was already scheduled for deletion."
                        .into(),
                ));
            }
            let when = now.plus_days(days);
            secret.deleted = Some(now);
            secret.deletion_date = Some(when);
            Ok((when, Vec::new()))
        })
        .await?;
    Ok(DeleteSecretResponse {
        arn: Some(updated.arn),
        name: Some(updated.name),
        deletion_date: Some(when.as_epoch_seconds()),
    })
}

pub(super) async fn restore_secret(
    state: &AppState,
    caller: &Caller,
    r: RestoreSecretRequest,
) -> Result<RestoreSecretResponse, SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:RestoreSecret"),
        )
        .await?;
    let (_, updated) = state
        .update_secret(record.id, Vec::new(), |secret, _| {
            secret.deleted = None;
            secret.deletion_date = None;
            Ok(((), Vec::new()))
        })
        .await?;
    Ok(RestoreSecretResponse {
        arn: Some(updated.arn),
        name: Some(updated.name),
    })
}

pub(super) async fn tag_resource(
    state: &AppState,
    caller: &Caller,
    r: TagResourceRequest,
) -> Result<(), SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:TagResource"),
        )
        .await?;
    check_not_replica(&record)?;
    let tags = check_tags(&r.tags)?;
    let (_, updated) = state
        .update_secret(record.id, Vec::new(), move |secret, _| {
            secret.check_not_deleted()?;
            for (key, value) in &tags {
                match secret.tags.iter_mut().find(|(k, _)| k == key) {
                    Some(existing) => existing.1 = value.clone(),
                    None => secret.tags.push((key.clone(), value.clone())),
                }
            }
            if secret.tags.len() > MAX_TAGS {
                return Err(SecretsError::LimitExceeded(format!(
                    "A secret can have at most {MAX_TAGS} tags."
                )));
            }
            Ok(((), Vec::new()))
        })
        .await?;
    super::replication::sync_replicas(state, caller, &updated).await
}

pub(super) async fn untag_resource(
    state: &AppState,
    caller: &Caller,
    r: UntagResourceRequest,
) -> Result<(), SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:UntagResource"),
        )
        .await?;
    check_not_replica(&record)?;
    let keys = r.tag_keys;
    let (_, updated) = state
        .update_secret(record.id, Vec::new(), move |secret, _| {
            secret.check_not_deleted()?;
            secret.tags.retain(|(k, _)| !keys.contains(k));
            Ok(((), Vec::new()))
        })
        .await?;
    super::replication::sync_replicas(state, caller, &updated).await
}

/// The checks made on a resource policy before it is stored: a JSON object with a
/// `Statement` whose entries have an `Effect`. Returns the problems found.
fn policy_problems(policy: &str) -> Vec<(String, String)> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(policy) else {
        return vec![(
            "SYNTAX_CHECKING".into(),
            "This resource policy contains a syntax error.".into(),
        )];
    };
    let statements = match value.get("Statement") {
        Some(serde_json::Value::Array(list)) if !list.is_empty() => list.clone(),
        Some(single @ serde_json::Value::Object(_)) => vec![single.clone()],
        _ => {
            return vec![(
                "SYNTAX_CHECKING".into(),
                "This resource policy must contain a Statement.".into(),
            )]
        }
    };
    let mut problems = Vec::new();
    for statement in &statements {
        match statement.get("Effect").and_then(|e| e.as_str()) {
            Some("Allow" | "Deny") => {}
            _ => problems.push((
                "SYNTAX_CHECKING".into(),
                "Each statement of this resource policy must have an Effect of Allow or Deny."
                    .into(),
            )),
        }
    }
    if problems.is_empty() {
        // The whole language, as it will be evaluated.
        if let Err(err) = keyward_core::policy::PolicyDocument::parse(
            policy,
            keyward_core::policy::PolicyKind::Resource,
        ) {
            problems.push(("SYNTAX_CHECKING".into(), err.to_string()));
        }
    }
    problems
}

/// Whether a policy allows anyone (`"Principal": "*"`) without a condition.
fn is_public(policy: &str) -> bool {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(policy) else {
        return false;
    };
    let statements = match value.get("Statement") {
        Some(serde_json::Value::Array(list)) => list.clone(),
        Some(single) => vec![single.clone()],
        None => return false,
    };
    statements.iter().any(|s| {
        let allow = s.get("Effect").and_then(|e| e.as_str()) == Some("Allow");
        let everyone = match s.get("Principal") {
            Some(serde_json::Value::String(p)) => p == "*",
            Some(serde_json::Value::Object(map)) => map.get("AWS").is_some_and(|p| match p {
                serde_json::Value::String(p) => p == "*",
                serde_json::Value::Array(list) => list.iter().any(|p| p == "*"),
                _ => false,
            }),
            _ => false,
        };
        allow && everyone && s.get("Condition").is_none()
    })
}

pub(super) async fn put_resource_policy(
    state: &AppState,
    caller: &Caller,
    r: PutResourcePolicyRequest,
) -> Result<PutResourcePolicyResponse, SecretsError> {
    if let Some((_, message)) = policy_problems(&r.resource_policy).into_iter().next() {
        return Err(SecretsError::MalformedPolicyDocument(message));
    }
    if r.block_public_policy.unwrap_or(false) && is_public(&r.resource_policy) {
        return Err(SecretsError::PublicPolicy(
            "You can't attach a resource-based policy that allows broad access to the secret."
                .into(),
        ));
    }
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:PutResourcePolicy"),
        )
        .await?;
    check_not_replica(&record)?;
    let principals = state
        .bind_principals(&caller.account, &r.resource_policy)
        .await
        .map_err(|e| SecretsError::Internal(e.to_string()))?
        .map_err(|_| {
            SecretsError::MalformedPolicyDocument(
                "This resource policy contains an unsupported principal.".into(),
            )
        })?;
    let policy = r.resource_policy;
    let (_, updated) = state
        .update_secret(record.id, Vec::new(), move |secret, _| {
            secret.check_not_deleted()?;
            secret.resource_policy = Some(policy.clone());
            secret.policy_principals = principals.clone();
            Ok(((), Vec::new()))
        })
        .await?;
    Ok(PutResourcePolicyResponse {
        arn: Some(updated.arn),
        name: Some(updated.name),
    })
}

pub(super) async fn get_resource_policy(
    state: &AppState,
    caller: &Caller,
    r: GetResourcePolicyRequest,
) -> Result<GetResourcePolicyResponse, SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:GetResourcePolicy"),
        )
        .await?;
    let resource_policy = match &record.resource_policy {
        Some(text) => Some(
            state
                .effective_policy(&record.account, text, &record.policy_principals)
                .await
                .map_err(|e| SecretsError::Internal(e.to_string()))?
                .into_owned(),
        ),
        None => None,
    };
    Ok(GetResourcePolicyResponse {
        arn: Some(record.arn),
        name: Some(record.name),
        resource_policy,
    })
}

pub(super) async fn delete_resource_policy(
    state: &AppState,
    caller: &Caller,
    r: DeleteResourcePolicyRequest,
) -> Result<DeleteResourcePolicyResponse, SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:DeleteResourcePolicy"),
        )
        .await?;
    check_not_replica(&record)?;
    let (_, updated) = state
        .update_secret(record.id, Vec::new(), |secret, _| {
            secret.resource_policy = None;
            secret.policy_principals.clear();
            Ok(((), Vec::new()))
        })
        .await?;
    Ok(DeleteResourcePolicyResponse {
        arn: Some(updated.arn),
        name: Some(updated.name),
    })
}

pub(super) async fn validate_resource_policy(
    state: &AppState,
    caller: &Caller,
    r: ValidateResourcePolicyRequest,
) -> Result<ValidateResourcePolicyResponse, SecretsError> {
    if let Some(id) = &r.secret_id {
        state
            .resolve_secret(
                caller,
                id,
                SecretAccess::new("secretsmanager:ValidateResourcePolicy"),
            )
            .await?;
    }
    let mut problems = policy_problems(&r.resource_policy);
    if problems.is_empty() && is_public(&r.resource_policy) {
        problems.push((
            "BROAD_ACCESS_CHECKING".into(),
            "This resource policy grants access to all principals (\"*\") without a condition."
                .into(),
        ));
    }
    Ok(ValidateResourcePolicyResponse {
        policy_validation_passed: Some(problems.is_empty()),
        validation_errors: Some(
            problems
                .into_iter()
                .map(|(check, message)| ValidationErrorsEntry {
                    check_name: Some(check),
                    error_message: Some(message),
                })
                .collect(),
        ),
    })
}

pub(super) fn get_random_password(
    r: GetRandomPasswordRequest,
) -> Result<GetRandomPasswordResponse, SecretsError> {
    let defaults = PasswordOptions::default();
    let options = PasswordOptions {
        password_length: r.password_length.unwrap_or(defaults.password_length),
        exclude_characters: r.exclude_characters.unwrap_or_default(),
        exclude_numbers: r.exclude_numbers.unwrap_or(false),
        exclude_punctuation: r.exclude_punctuation.unwrap_or(false),
        exclude_uppercase: r.exclude_uppercase.unwrap_or(false),
        exclude_lowercase: r.exclude_lowercase.unwrap_or(false),
        include_space: r.include_space.unwrap_or(false),
        require_each_included_type: r.require_each_included_type.unwrap_or(true),
    };
    let mut random =
        |buffer: &mut [u8]| aws_lc_rs::rand::fill(buffer).map_err(|_| password::RandomError);
    let generated = password::generate(&options, &mut random).map_err(|e| match e {
        PasswordError::InvalidParameter(m) => SecretsError::InvalidParameter(m),
        PasswordError::Validation(m) => SecretsError::Validation(m),
        PasswordError::Random(e) => SecretsError::Internal(e.to_string()),
    })?;
    Ok(GetRandomPasswordResponse {
        random_password: Some(SecretText::from(generated)),
    })
}
