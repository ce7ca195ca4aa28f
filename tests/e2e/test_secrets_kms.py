"""Secrets are envelope-encrypted under KMS: the AWS managed key aws/secretsmanager, or a
customer key named by KmsKeyId. A key that is disabled or pending deletion makes the value
unreadable without losing it.

References:
- CreateSecret KmsKeyId (service model): "If you don't specify this value, then Secrets
  Manager uses the key aws/secretsmanager. If that key doesn't yet exist, then Secrets Manager
  creates it for you automatically the first time it encrypts the secret value."
- GetSecretValue's only KMS-related error in the model is DecryptionFailure: "Secrets Manager
  can't decrypt the protected secret text using the provided KMS key." (A disabled key or one
  pending deletion cannot be used in any cryptographic operation, KMS developer guide,
  "Enable and disable keys" / "Key states".) Real-world "AccessDeniedException: Access to
  KMS is not allowed" reports are about missing kms:Decrypt permission, not key state.
- EncryptionFailure (model): "Secrets Manager can't encrypt the protected secret text using
  the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid
  state."
- ListSecretVersionIds shows `"KmsKeyIds": ["DefaultEncryptionKey"]` for versions under the
  AWS managed key (real CLI output quoted in AWS knowledge-center articles and many projects).
- UpdateSecret KmsKeyId (model, botocore 1.44.5): "The ARN, key ID, or alias of the KMS key
  that Secrets Manager uses to encrypt new secret versions as well as any existing versions
  with the staging labels AWSCURRENT, AWSPENDING, or AWSPREVIOUS." User guide "Change the
  encryption key for an AWS Secrets Manager secret": "When you change the encryption key,
  Secrets Manager re-encrypts AWSCURRENT, AWSPENDING, and AWSPREVIOUS versions with the new
  key. To avoid locking you out of the secret, Secrets Manager keeps all existing versions
  encrypted with the previous key. That means you can decrypt AWSCURRENT, AWSPENDING, and
  AWSPREVIOUS versions with the previous key or the new key." ... "If you deactivate the
  previous encryption key, you will not be able to decrypt any secret versions except
  AWSCURRENT, AWSPENDING, and AWSPREVIOUS."
"""

from __future__ import annotations

import secrets as pysecrets

from conftest import client_error, make_kms, unique


def value(sensitive, prefix: str) -> str:
    v = f"{prefix}-{pysecrets.token_urlsafe(12)}"
    sensitive.add(v, "secret value")
    return v


def key_ids_by_version(sm, secret_id: str) -> dict[str, list[str]]:
    page = sm.list_secret_version_ids(SecretId=secret_id, IncludeDeprecated=True)
    return {v["VersionId"]: list(v.get("KmsKeyIds") or []) for v in page["Versions"]}


def names_key(entry: str, meta: dict) -> bool:
    """Does a KmsKeyId/KmsKeyIds entry identify the key with this metadata?"""
    return entry in (meta["KeyId"], meta["Arn"])


def default_alias(kms) -> dict | None:
    for page in kms.get_paginator("list_aliases").paginate():
        for alias in page["Aliases"]:
            if alias["AliasName"] == "alias/aws/secretsmanager":
                return alias
    return None


def test_default_key_is_created_on_first_use(server, sm_for, aws, sensitive):
    region = "ca-central-1"  # a region no other test writes secrets in
    kms = make_kms(server, region=region)
    sm = sm_for(server, region=region)

    before = default_alias(kms)
    # AWS lists predefined AWS managed aliases before their key exists, without TargetKeyId
    # (ListAliases: "aliases that have no TargetKeyId field ... predefined aliases that AWS has
    # created but has not yet associated with a KMS key").
    assert before is None or "TargetKeyId" not in before, before

    name = unique("default-key")
    v = value(sensitive, "dk")
    sm.create_secret(Name=name, SecretString=v)

    alias = default_alias(kms)
    assert alias is not None and alias.get("TargetKeyId"), alias
    assert alias["AliasArn"] == f"arn:aws:kms:{region}:000000000000:alias/aws/secretsmanager"

    # The same through the CLI, as a user would check it.
    out = aws("kms", "list-aliases", "--region", region)
    listed = [a for a in out["Aliases"] if a["AliasName"] == "alias/aws/secretsmanager"]
    assert listed and listed[0]["TargetKeyId"] == alias["TargetKeyId"]

    meta = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS"
    assert meta["KeyState"] == "Enabled"
    assert meta["KeyId"] == alias["TargetKeyId"]
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    cli_meta = aws("kms", "describe-key", "--key-id", "alias/aws/secretsmanager", "--region", region)["KeyMetadata"]
    assert cli_meta["KeyManager"] == "AWS"

    # A second secret reuses the same key.
    sm.create_secret(Name=unique("default-key"), SecretString=v)
    assert default_alias(kms)["TargetKeyId"] == alias["TargetKeyId"]

    # The secret shows no KmsKeyId; its version shows the AWS managed key the way AWS
    # shows it: "DefaultEncryptionKey".
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v
    assert "KmsKeyId" not in sm.describe_secret(SecretId=name)
    assert list(key_ids_by_version(sm, name).values()) == [["DefaultEncryptionKey"]]


def test_default_key_via_session_region(sm, kms, sensitive):
    sm.create_secret(Name=unique("dk"), SecretString=value(sensitive, "dk2"))
    alias = default_alias(kms)
    assert alias and alias.get("TargetKeyId")
    assert kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["KeyManager"] == "AWS"


def test_customer_key_disable_and_enable(sm, kms, aws, new_key, sensitive):
    key = new_key()
    name = unique("cmk")
    v1 = value(sensitive, "cmk1")
    created = sm.create_secret(Name=name, SecretString=v1, KmsKeyId=key["KeyId"])
    vid = created["VersionId"]
    described = sm.describe_secret(SecretId=name)
    assert names_key(described["KmsKeyId"], key), described.get("KmsKeyId")
    ids = key_ids_by_version(sm, name)
    assert len(ids[vid]) == 1 and names_key(ids[vid][0], key), ids

    kms.disable_key(KeyId=key["KeyId"])
    code, message = client_error(sm.get_secret_value, SecretId=name)
    assert code == "DecryptionFailure", (code, message)
    assert v1 not in message
    assert aws.error("secretsmanager", "get-secret-value", "--secret-id", name) == "DecryptionFailure"
    # Metadata stays readable.
    assert sm.describe_secret(SecretId=name)["Name"] == name
    # A new value cannot be encrypted under a disabled key, and nothing changes.
    code, _ = client_error(sm.put_secret_value, SecretId=name, SecretString=value(sensitive, "cmk-x"))
    assert code == "EncryptionFailure"
    assert list(key_ids_by_version(sm, name)) == [vid]
    # BatchGetSecretValue reports the failure per secret.
    batch = sm.batch_get_secret_value(SecretIdList=[name])
    assert batch["SecretValues"] == []
    assert [e["ErrorCode"] for e in batch["Errors"]] == ["DecryptionFailure"]

    kms.enable_key(KeyId=key["KeyId"])
    got = sm.get_secret_value(SecretId=name)
    assert got["SecretString"] == v1
    assert got["VersionId"] == vid


def test_customer_key_pending_deletion_then_cancel(sm, kms, new_key, sensitive):
    key = new_key()
    name = unique("cmk-del")
    v1 = value(sensitive, "cmkdel")
    # By alias, as users often do.
    alias = f"alias/{unique('sm-key')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    sm.create_secret(Name=name, SecretBinary=v1.encode(), KmsKeyId=alias)
    assert sm.get_secret_value(SecretId=name)["SecretBinary"] == v1.encode()

    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    code, _ = client_error(sm.get_secret_value, SecretId=name)
    assert code == "DecryptionFailure"

    kms.cancel_key_deletion(KeyId=key["KeyId"])
    # CancelKeyDeletion leaves the key Disabled (KMS: "the key state of the KMS key is Disabled").
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    code, _ = client_error(sm.get_secret_value, SecretId=name)
    assert code == "DecryptionFailure"
    kms.enable_key(KeyId=key["KeyId"])
    assert sm.get_secret_value(SecretId=name)["SecretBinary"] == v1.encode()


def test_create_with_unusable_key(sm_for, server, kms, new_key, sensitive):
    sm = sm_for(server, validate=False)
    key = new_key()
    kms.disable_key(KeyId=key["KeyId"])
    name = unique("cmk-bad")
    code, _ = client_error(sm.create_secret, Name=name, SecretString=value(sensitive, "bad"), KmsKeyId=key["KeyId"])
    assert code == "EncryptionFailure"
    code, _ = client_error(sm.create_secret, Name=unique("cmk-none"), SecretString=value(sensitive, "none"),
                           KmsKeyId="alias/does-not-exist-" + unique())
    # AWS: the key can't be found -> ResourceNotFoundException ("Secrets Manager can't find the
    # specified KMS key") or, from KMS's NotFoundException, EncryptionFailure.
    assert code in ("ResourceNotFoundException", "EncryptionFailure")


def test_update_kms_key_new_versions_use_new_key(sm, kms, new_key, sensitive):
    """New versions after UpdateSecret(KmsKeyId=B) are under B; versions without AWSCURRENT,
    AWSPENDING or AWSPREVIOUS stay under A only."""
    key_a, key_b = new_key(), new_key()
    name = unique("rekey")
    v1, v2, v3, v4 = (value(sensitive, f"rk{i}") for i in range(1, 5))
    x1 = sm.create_secret(Name=name, SecretString=v1, KmsKeyId=key_a["KeyId"])["VersionId"]
    x2 = sm.put_secret_value(SecretId=name, SecretString=v2)["VersionId"]
    x3 = sm.put_secret_value(SecretId=name, SecretString=v3, VersionStages=["CUSTOM"])["VersionId"]

    out = sm.update_secret(SecretId=name, KmsKeyId=key_b["Arn"])
    assert "VersionId" not in out
    assert names_key(sm.describe_secret(SecretId=name)["KmsKeyId"], key_b)

    x4 = sm.put_secret_value(SecretId=name, SecretString=v4)["VersionId"]
    ids = key_ids_by_version(sm, name)
    assert len(ids[x4]) == 1 and names_key(ids[x4][0], key_b), ids[x4]
    assert len(ids[x3]) == 1 and names_key(ids[x3][0], key_a), ids[x3]
    for vid in (x1, x2):
        assert any(names_key(k, key_a) for k in ids[vid]), (vid, ids[vid])

    # Disabling B: the new version is unreadable, the custom-only one (under A) still reads.
    kms.disable_key(KeyId=key_b["KeyId"])
    try:
        code, _ = client_error(sm.get_secret_value, SecretId=name)
        assert code == "DecryptionFailure"
        assert sm.get_secret_value(SecretId=name, VersionStage="CUSTOM")["SecretString"] == v3
    finally:
        kms.enable_key(KeyId=key_b["KeyId"])
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v4

    # UpdateSecret with a value and a new key at once: that version is under the new key.
    key_c = new_key()
    v5 = value(sensitive, "rk5")
    x5 = sm.update_secret(SecretId=name, SecretString=v5, KmsKeyId=key_c["KeyId"])["VersionId"]
    ids = key_ids_by_version(sm, name)
    assert len(ids[x5]) == 1 and names_key(ids[x5][0], key_c), ids[x5]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v5


def test_update_kms_key_reencrypts_labelled_versions(sm, kms, new_key, sensitive):
    """AWS re-encrypts the AWSCURRENT and AWSPREVIOUS versions under the new key and keeps the
    old encryption too, so they read with either key; other versions stay under the old key
    only (see the module docstring for the documentation quoted)."""
    key_a, key_b = new_key(), new_key()
    name = unique("reenc")
    v1, v2, v3 = (value(sensitive, f"re{i}") for i in range(1, 4))
    x1 = sm.create_secret(Name=name, SecretString=v1, KmsKeyId=key_a["KeyId"])["VersionId"]
    x2 = sm.put_secret_value(SecretId=name, SecretString=v2)["VersionId"]
    x3 = sm.put_secret_value(SecretId=name, SecretString=v3, VersionStages=["CUSTOM"])["VersionId"]
    sm.update_secret(SecretId=name, KmsKeyId=key_b["KeyId"])

    ids = key_ids_by_version(sm, name)
    for vid in (x1, x2):  # AWSPREVIOUS, AWSCURRENT
        assert any(names_key(k, key_b) for k in ids[vid]), f"{vid} not re-encrypted under the new key: {ids[vid]}"
    assert [names_key(k, key_a) for k in ids[x3]] == [True], ids[x3]

    kms.disable_key(KeyId=key_a["KeyId"])
    try:
        assert sm.get_secret_value(SecretId=name)["SecretString"] == v2
        assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == v1
        code, _ = client_error(sm.get_secret_value, SecretId=name, VersionStage="CUSTOM")
        assert code == "DecryptionFailure"
    finally:
        kms.enable_key(KeyId=key_a["KeyId"])
    # And with the new key disabled, the old encryption still serves them.
    kms.disable_key(KeyId=key_b["KeyId"])
    try:
        assert sm.get_secret_value(SecretId=name)["SecretString"] == v2
    finally:
        kms.enable_key(KeyId=key_b["KeyId"])


def test_kms_key_id_forms(sm, kms, new_key, sensitive):
    """KmsKeyId accepts key id, key ARN, alias name and alias ARN, as KMS does."""
    key = new_key()
    alias = f"alias/{unique('sm-forms')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    alias_arn = f"arn:aws:kms:us-east-1:000000000000:{alias}"
    for form in (key["KeyId"], key["Arn"], alias, alias_arn):
        name = unique("forms")
        v = value(sensitive, "form")
        vid = sm.create_secret(Name=name, SecretString=v, KmsKeyId=form)["VersionId"]
        assert sm.get_secret_value(SecretId=name)["SecretString"] == v
        ids = key_ids_by_version(sm, name)[vid]
        assert len(ids) == 1 and names_key(ids[0], key), (form, ids)


def test_update_secret_with_empty_kms_key_uses_the_managed_key(sm, new_key, sensitive):
    """UpdateSecret KmsKeyId (model): "If you set this to an empty string, Secrets Manager uses
    the Amazon Web Services managed key aws/secretsmanager."""
    key = new_key()
    name = unique("to-default")
    v1, v2 = value(sensitive, "td1"), value(sensitive, "td2")
    sm.create_secret(Name=name, SecretString=v1, KmsKeyId=key["KeyId"])
    sm.update_secret(SecretId=name, KmsKeyId="")
    assert "KmsKeyId" not in sm.describe_secret(SecretId=name)
    vid = sm.put_secret_value(SecretId=name, SecretString=v2)["VersionId"]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v2
    assert key_ids_by_version(sm, name)[vid] == ["DefaultEncryptionKey"]
