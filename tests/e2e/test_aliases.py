"""CreateAlias, UpdateAlias, DeleteAlias, ListAliases and AWS's alias rules."""

import datetime as dt
import uuid

ACCOUNT = "000000000000"


def alias_name(prefix="e2e"):
    return f"alias/{prefix}-{uuid.uuid4().hex[:10]}"


def aliases_of(aws, key_id):
    return aws("kms", "list-aliases", "--key-id", key_id)["Aliases"]


def test_alias_lifecycle(aws, kms):
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    name = alias_name("life")
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:{name}"

    assert aws("kms", "create-alias", "--alias-name", name, "--target-key-id", a["KeyId"]) is None
    listed = aliases_of(aws, a["KeyId"])
    assert [x["AliasName"] for x in listed] == [name]
    assert listed[0]["AliasArn"] == arn
    assert listed[0]["TargetKeyId"] == a["KeyId"]
    assert aliases_of(aws, b["KeyId"]) == []

    everything = kms.list_aliases()
    entry = next(x for x in everything["Aliases"] if x["AliasName"] == name)
    assert entry["TargetKeyId"] == a["KeyId"]
    assert isinstance(entry["CreationDate"], dt.datetime)

    # --key-id filter accepts the key ARN too.
    assert [x["AliasName"] for x in kms.list_aliases(KeyId=a["Arn"])["Aliases"]] == [name]

    assert aws("kms", "update-alias", "--alias-name", name, "--target-key-id", b["KeyId"]) is None
    assert aliases_of(aws, a["KeyId"]) == []
    assert [x["AliasName"] for x in aliases_of(aws, b["KeyId"])] == [name]
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == b["KeyId"]

    assert aws("kms", "delete-alias", "--alias-name", name) is None
    assert aliases_of(aws, b["KeyId"]) == []
    assert name not in {x["AliasName"] for x in kms.get_paginator("list_aliases").paginate().search("Aliases")}
    assert aws.error("kms", "describe-key", "--key-id", name) == "NotFoundException"


def test_several_aliases_for_one_key(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    names = sorted(alias_name("multi") for _ in range(3))
    for n in names:
        kms.create_alias(AliasName=n, TargetKeyId=key_id)
    assert sorted(x["AliasName"] for x in kms.list_aliases(KeyId=key_id)["Aliases"]) == names


def test_list_aliases_pagination(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    names = {alias_name("page") for _ in range(5)}
    for n in names:
        kms.create_alias(AliasName=n, TargetKeyId=key_id)
    first = kms.list_aliases(KeyId=key_id, Limit=2)
    assert len(first["Aliases"]) == 2 and first["Truncated"] is True and first["NextMarker"]
    seen = [x["AliasName"] for p in kms.get_paginator("list_aliases").paginate(
        KeyId=key_id, PaginationConfig={"PageSize": 2}) for x in p["Aliases"]]
    assert sorted(seen) == sorted(names)


def test_reserved_alias_prefix(aws, kms, expect_error):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    # "The alias name cannot begin with alias/aws/. The alias/aws/ prefix is reserved for
    # AWS managed keys." AWS answers such a request with NotAuthorizedException.
    code = aws.error("kms", "create-alias", "--alias-name", "alias/aws/e2e", "--target-key-id", key_id)
    assert code == "NotAuthorizedException"
    assert expect_error(kms.delete_alias, AliasName="alias/aws/e2e") in ("NotAuthorizedException", "NotFoundException")


def test_duplicate_alias(aws, kms):
    a = kms.create_key()["KeyMetadata"]["KeyId"]
    b = kms.create_key()["KeyMetadata"]["KeyId"]
    name = alias_name("dup")
    aws("kms", "create-alias", "--alias-name", name, "--target-key-id", a)
    assert aws.error("kms", "create-alias", "--alias-name", name, "--target-key-id", b) == "AlreadyExistsException"
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == a


def test_alias_not_found_cases(aws, kms, expect_error):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    missing_key = "11111111-2222-4333-8444-555555555555"
    assert aws.error("kms", "create-alias", "--alias-name", alias_name("nokey"),
                     "--target-key-id", missing_key) == "NotFoundException"
    assert aws.error("kms", "update-alias", "--alias-name", alias_name("noalias"),
                     "--target-key-id", key_id) == "NotFoundException"
    assert aws.error("kms", "delete-alias", "--alias-name", alias_name("noalias")) == "NotFoundException"
    assert expect_error(kms.encrypt, KeyId=alias_name("noalias"), Plaintext=b"x") == "NotFoundException"
    assert expect_error(kms.list_aliases, KeyId=missing_key) == "NotFoundException"


def test_alias_cannot_target_an_alias(kms, expect_error):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    first = alias_name("first")
    kms.create_alias(AliasName=first, TargetKeyId=key_id)
    code = expect_error(kms.create_alias, AliasName=alias_name("second"), TargetKeyId=first)
    assert code in ("ValidationException", "NotFoundException")
