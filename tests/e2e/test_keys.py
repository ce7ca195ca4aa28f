"""Key lifecycle: metadata, enable/disable, deletion windows, tags, key policies, listing."""

import datetime as dt
import json

import pytest

ACCOUNT = "000000000000"


def arn_of(key_id, region="us-east-1"):
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def now():
    return dt.datetime.now(dt.timezone.utc)


def test_describe_key_of_new_symmetric_key(kms):
    before = now() - dt.timedelta(minutes=2)
    meta = kms.create_key(Description="describe me")["KeyMetadata"]
    key_id = meta["KeyId"]
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    for m in (meta, described):
        assert m["KeyId"] == key_id
        assert m["Arn"] == arn_of(key_id)
        assert m["AWSAccountId"] == ACCOUNT
        assert m["Enabled"] is True
        assert m["KeyState"] == "Enabled"
        assert m["KeyUsage"] == "ENCRYPT_DECRYPT"
        assert m["KeySpec"] == "SYMMETRIC_DEFAULT"
        assert m["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
        assert m["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
        assert m["Origin"] == "AWS_KMS"
        assert m["KeyManager"] == "CUSTOMER"
        assert m["MultiRegion"] is False
        assert m["Description"] == "describe me"
        assert before <= m["CreationDate"] <= now() + dt.timedelta(minutes=2)
        assert "DeletionDate" not in m
    assert described == meta


def test_describe_key_with_cli_by_every_identifier(aws):
    meta = aws("kms", "create-key", "--description", "ids")["KeyMetadata"]
    key_id = meta["KeyId"]
    alias = f"alias/e2e-describe-{key_id[:8]}"
    aws("kms", "create-alias", "--alias-name", alias, "--target-key-id", key_id)
    for ident in (key_id, meta["Arn"], alias, f"arn:aws:kms:us-east-1:{ACCOUNT}:{alias}"):
        assert aws("kms", "describe-key", "--key-id", ident)["KeyMetadata"]["KeyId"] == key_id


def test_unknown_key_is_not_found(aws, kms, expect_error):
    missing = "00000000-0000-4000-8000-000000000000"
    assert aws.error("kms", "describe-key", "--key-id", missing) == "NotFoundException"
    assert expect_error(kms.describe_key, KeyId=arn_of(missing)) == "NotFoundException"
    assert expect_error(kms.describe_key, KeyId="alias/e2e-no-such-alias") == "NotFoundException"
    assert expect_error(kms.encrypt, KeyId=missing, Plaintext=b"x") == "NotFoundException"


def test_update_key_description(aws):
    key_id = aws("kms", "create-key", "--description", "old")["KeyMetadata"]["KeyId"]
    assert aws("kms", "update-key-description", "--key-id", key_id, "--description", "new") is None
    assert aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]["Description"] == "new"


def test_disable_and_enable(aws, kms, expect_error, sensitive):
    sensitive.add(b"disabled-key plaintext")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"disabled-key plaintext")["CiphertextBlob"]

    assert aws("kms", "disable-key", "--key-id", key_id) is None
    meta = aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled"
    assert meta["Enabled"] is False
    assert expect_error(kms.encrypt, KeyId=key_id, Plaintext=b"x") == "DisabledException"
    assert expect_error(kms.decrypt, CiphertextBlob=blob) == "DisabledException"
    assert expect_error(kms.generate_data_key, KeyId=key_id, KeySpec="AES_256") == "DisabledException"
    assert aws.error("kms", "encrypt", "--key-id", key_id, "--plaintext", "x") == "DisabledException"

    assert aws("kms", "enable-key", "--key-id", key_id) is None
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"disabled-key plaintext"
    kms.encrypt(KeyId=key_id, Plaintext=b"x")


def test_schedule_and_cancel_key_deletion(aws, kms, expect_error):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    started = now()

    out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyId"] == arn_of(key_id)
    assert out["KeyState"] == "PendingDeletion"
    assert out["PendingWindowInDays"] == 7
    # AWS schedules deletion 7 days out (it may round to the end of that day).
    assert started + dt.timedelta(days=7, hours=-1) <= out["DeletionDate"] <= started + dt.timedelta(days=8, hours=1)

    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert meta["Enabled"] is False
    assert meta["DeletionDate"] == out["DeletionDate"]
    assert meta["PendingDeletionWindowInDays"] == 7

    assert expect_error(kms.encrypt, KeyId=key_id, Plaintext=b"x") == "KMSInvalidStateException"
    assert expect_error(kms.decrypt, CiphertextBlob=blob) == "KMSInvalidStateException"
    assert aws.error("kms", "enable-key", "--key-id", key_id) == "KMSInvalidStateException"

    cancelled = aws("kms", "cancel-key-deletion", "--key-id", key_id)
    assert cancelled["KeyId"] == arn_of(key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled"  # as AWS: a cancelled key comes back disabled
    assert meta["Enabled"] is False
    assert "DeletionDate" not in meta
    assert expect_error(kms.encrypt, KeyId=key_id, Plaintext=b"x") == "DisabledException"

    kms.enable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_schedule_key_deletion_default_window_is_30_days(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    out = kms.schedule_key_deletion(KeyId=key_id)
    assert out["PendingWindowInDays"] == 30
    kms.cancel_key_deletion(KeyId=key_id)


@pytest.mark.parametrize("days", [6, 31])
def test_schedule_key_deletion_window_out_of_range(aws, kms, days):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    code = aws.error("kms", "schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", str(days))
    assert code == "ValidationException"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_cancel_deletion_of_key_not_pending_is_invalid_state(kms, expect_error):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert expect_error(kms.cancel_key_deletion, KeyId=key_id) == "KMSInvalidStateException"


def test_tags(aws, kms):
    key_id = aws("kms", "create-key", "--tags", "TagKey=team,TagValue=platform",
                 "TagKey=env,TagValue=test")["KeyMetadata"]["KeyId"]
    tags = aws("kms", "list-resource-tags", "--key-id", key_id)["Tags"]
    assert sorted((t["TagKey"], t["TagValue"]) for t in tags) == [("env", "test"), ("team", "platform")]

    assert aws("kms", "tag-resource", "--key-id", key_id, "--tags", "TagKey=env,TagValue=prod",
               "TagKey=owner,TagValue=alice") is None
    tags = kms.list_resource_tags(KeyId=key_id)
    assert sorted((t["TagKey"], t["TagValue"]) for t in tags["Tags"]) == [
        ("env", "prod"), ("owner", "alice"), ("team", "platform")]
    assert tags["Truncated"] is False

    assert aws("kms", "untag-resource", "--key-id", key_id, "--tag-keys", "team", "owner") is None
    tags = kms.list_resource_tags(KeyId=key_id)["Tags"]
    assert tags == [{"TagKey": "env", "TagValue": "prod"}]


def test_default_key_policy(aws, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert aws("kms", "list-key-policies", "--key-id", key_id)["PolicyNames"] == ["default"]

    for policy_text in (
        kms.get_key_policy(KeyId=key_id)["Policy"],  # PolicyName omitted: "default"
        aws("kms", "get-key-policy", "--key-id", key_id, "--policy-name", "default")["Policy"],
    ):
        policy = json.loads(policy_text)
        assert policy["Version"] == "2012-10-17"
        root_statements = [
            s for s in policy["Statement"]
            if s.get("Effect") == "Allow"
            and s.get("Principal") == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
            and s.get("Action") in ("kms:*", ["kms:*"])
            and s.get("Resource") in ("*", ["*"])
        ]
        assert root_statements, policy_text


def test_put_key_policy(aws, kms, tmp_path):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    policy = {
        "Version": "2012-10-17",
        "Id": "e2e-policy",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Describe for everyone in the account",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": ["kms:DescribeKey"],
                "Resource": "*",
            },
        ],
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy, indent=2))
    assert aws("kms", "put-key-policy", "--key-id", key_id, "--policy-name", "default",
               "--policy", f"file://{path}") is None
    got = aws("kms", "get-key-policy", "--key-id", key_id, "--policy-name", "default")["Policy"]
    assert json.loads(got) == policy


def test_list_keys_pagination(aws, kms):
    created = {kms.create_key(Description=f"page {i}")["KeyMetadata"]["KeyId"] for i in range(5)}

    first = kms.list_keys(Limit=2)
    assert len(first["Keys"]) == 2
    assert first["Truncated"] is True
    assert first["NextMarker"]
    second = kms.list_keys(Limit=2, Marker=first["NextMarker"])
    assert len(second["Keys"]) == 2
    assert not {k["KeyId"] for k in first["Keys"]} & {k["KeyId"] for k in second["Keys"]}

    seen = []
    pages = 0
    for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}):
        pages += 1
        assert len(page["Keys"]) <= 2
        for k in page["Keys"]:
            assert k["KeyArn"] == arn_of(k["KeyId"])
        seen += [k["KeyId"] for k in page["Keys"]]
    assert len(seen) == len(set(seen))
    assert created <= set(seen)
    assert pages >= 3
    assert page["Truncated"] is False
    assert "NextMarker" not in page

    cli_first = aws("kms", "list-keys", "--max-items", "2", "--page-size", "2")
    assert len(cli_first["Keys"]) == 2
    assert cli_first["NextToken"]
    cli_rest = aws("kms", "list-keys", "--starting-token", cli_first["NextToken"], "--page-size", "2")
    cli_seen = [k["KeyId"] for k in cli_first["Keys"] + cli_rest["Keys"]]
    assert len(cli_seen) == len(set(cli_seen))
    assert created <= set(cli_seen)


def test_list_keys_bad_marker(kms, expect_error):
    assert expect_error(kms.list_keys, Marker="not-a-marker-we-issued") == "InvalidMarkerException"


def test_keys_are_regional(kms_for, server, expect_error):
    eu = kms_for(server, region="eu-west-1")
    us = kms_for(server, region="us-east-1")
    meta = eu.create_key(Description="in eu-west-1")["KeyMetadata"]
    assert meta["Arn"] == arn_of(meta["KeyId"], "eu-west-1")
    assert eu.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["Arn"] == meta["Arn"]
    assert expect_error(us.describe_key, KeyId=meta["KeyId"]) == "NotFoundException"
    assert meta["KeyId"] not in {k["KeyId"] for k in us.get_paginator("list_keys").paginate().search("Keys")}


def test_dry_run(kms, expect_error):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert expect_error(kms.encrypt, KeyId=key_id, Plaintext=b"x", DryRun=True) == "DryRunOperationException"
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert expect_error(kms.decrypt, CiphertextBlob=blob, DryRun=True) == "DryRunOperationException"
    assert expect_error(kms.generate_data_key, KeyId=key_id, KeySpec="AES_256",
                        DryRun=True) == "DryRunOperationException"


def test_unsupported_key_spec_values_are_rejected(kms_for, server, expect_error):
    kms = kms_for(server, validate=False)
    assert expect_error(kms.create_key, KeySpec="NOT_A_SPEC") == "ValidationException"
    assert expect_error(kms.create_key, KeyUsage="NOT_A_USAGE") == "ValidationException"
