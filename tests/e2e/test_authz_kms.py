"""KMS authorization as AWS evaluates it: the key policy, and the identity policies it
delegates to when it names the account; explicit denies; conditions; the lockout check.

References (KMS Developer Guide): "Default key policy" — the statement "Enable IAM User
Permissions" (Principal the account root, kms:*) "allows the account to use IAM policies";
"Key policies in AWS KMS" — "Unless the key policy explicitly allows it, you cannot use IAM
policies to allow access to a KMS key"; PutKeyPolicy/CreateKey BypassPolicyLockoutSafetyCheck —
without it a policy that would stop the caller from calling PutKeyPolicy is refused
(MalformedPolicyDocumentException); CreateAlias needs kms:CreateAlias on the alias (IAM
policy) and on the key (key policy); CreateKey and ListKeys are authorized by IAM policies
only ("Resource": "*"); condition keys kms:EncryptionContext:<key> and kms:RequestAlias.
"""

from __future__ import annotations

import json

from conftest import ACCOUNT_ID, REGION, client_error, unique
from test_iam import ROOT_ARN, CliAs, allow, boto, denied, deny, document, new_user

LAB_CONTEXT = {"LambdaFunctionName": "loadtest"}


def key_arn(key_id: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"


def alias_arn(name: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/{name.removeprefix('alias/')}"


def key_policy(*statements: dict) -> str:
    return document(*statements, sid=unique("key-policy"))


def grant_to(principal: str | list[str], actions: str | list[str], *, effect: str = "Allow", **extra) -> dict:
    return {"Effect": effect, "Principal": {"AWS": principal}, "Action": actions, "Resource": "*", **extra}


def test_root_is_allowed_by_the_default_key_policy(kms, aws):
    key = kms.create_key(Description="root's key")["KeyMetadata"]
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"] == [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                                    "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"root-may")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"root-may"
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    assert aws("kms", "describe-key", "--key-id", key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]


def test_user_without_policies_is_denied(server, kms, aws, sensitive, tmp_path):
    key = kms.create_key()["KeyMetadata"]
    user = new_user(server, sensitive)
    code, message = client_error(user.client("kms").encrypt, KeyId=key["KeyId"], Plaintext=b"nope")
    assert code == "AccessDeniedException"
    assert message == denied(user.arn, "kms:Encrypt", key["Arn"], "identity")
    # The CLI shows the same.
    code, message = CliAs(aws, user, tmp_path).error("kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", "nope")
    assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:Encrypt", key["Arn"], "identity"))
    # Every operation on the key, not just Encrypt.
    for op, action in (("describe_key", "kms:DescribeKey"), ("disable_key", "kms:DisableKey")):
        code, message = client_error(getattr(user.client("kms"), op), KeyId=key["KeyId"])
        assert (code, message) == ("AccessDeniedException", denied(user.arn, action, key["Arn"], "identity"))
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Enabled"] is True


def test_identity_policy_allows_through_the_default_key_policy(server, kms, sensitive):
    key = kms.create_key()["KeyMetadata"]
    user = new_user(server, sensitive, policy=document(allow("kms:Encrypt", key["Arn"])))
    ukms = user.client("kms")
    blob = ukms.encrypt(KeyId=key["KeyId"], Plaintext=b"allowed")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"allowed"
    # Only what the policy names: not Decrypt, not another key.
    code, message = client_error(ukms.decrypt, CiphertextBlob=blob)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {user.arn} is not authorized to perform: kms:Decrypt"), message
    other = kms.create_key()["KeyMetadata"]
    code, message = client_error(ukms.encrypt, KeyId=other["KeyId"], Plaintext=b"x")
    assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:Encrypt", other["Arn"], "identity"))


def test_explicit_deny_in_the_identity_policy_wins(server, kms, sensitive):
    key = kms.create_key()["KeyMetadata"]
    user = new_user(server, sensitive, policy=document(allow("kms:*"), deny("kms:Encrypt", key["Arn"])))
    code, message = client_error(user.client("kms").encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:Encrypt", key["Arn"], "deny-identity"))
    assert user.client("kms").describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]


def test_explicit_deny_in_the_key_policy_wins(server, kms, sensitive):
    user = new_user(server, sensitive, policy=document(allow("kms:*")))
    key = kms.create_key(Policy=key_policy(
        grant_to(ROOT_ARN, "kms:*"),
        grant_to(user.arn, "kms:Encrypt", effect="Deny")))["KeyMetadata"]
    code, message = client_error(user.client("kms").encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:Encrypt", key["Arn"], "deny-resource"))


def test_key_policy_naming_the_user_needs_no_identity_policy(server, kms, sensitive):
    """A key policy that does not name the account root: only the principals it names may
    use the key — the user without any IAM policy, and not even root."""
    user = new_user(server, sensitive)
    iam_allowed = new_user(server, sensitive, policy=document(allow("kms:*")))
    policy = key_policy(grant_to(user.arn, ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"]))
    code, message = client_error(kms.create_key, Policy=policy)
    assert code == "MalformedPolicyDocumentException", message
    key = kms.create_key(Policy=policy, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]

    ukms = user.client("kms")
    blob = ukms.encrypt(KeyId=key["KeyId"], Plaintext=b"direct", EncryptionContext=LAB_CONTEXT)["CiphertextBlob"]
    assert ukms.decrypt(CiphertextBlob=blob, EncryptionContext=LAB_CONTEXT)["Plaintext"] == b"direct"
    assert ukms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]
    code, message = client_error(ukms.disable_key, KeyId=key["KeyId"])
    assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:DisableKey", key["Arn"], "resource"))

    # The account's IAM policies do not count: the key policy does not delegate to them.
    code, message = client_error(iam_allowed.client("kms").encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert (code, message) == ("AccessDeniedException", denied(iam_allowed.arn, "kms:Encrypt", key["Arn"], "resource"))
    code, message = client_error(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert (code, message) == ("AccessDeniedException", denied(ROOT_ARN, "kms:Encrypt", key["Arn"], "resource"))


def test_key_policy_that_allows_nobody(server, kms, sensitive):
    bystander = new_user(server, sensitive)
    user = new_user(server, sensitive, policy=document(allow("kms:*")))
    key = kms.create_key(Policy=key_policy(grant_to(bystander.arn, "kms:DescribeKey")),
                         BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    for who, client in ((user.arn, user.client("kms")), (ROOT_ARN, kms)):
        code, message = client_error(client.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
        assert (code, message) == ("AccessDeniedException", denied(who, "kms:Encrypt", key["Arn"], "resource"))
        code, message = client_error(client.put_key_policy, KeyId=key["KeyId"], PolicyName="default",
                                     Policy=key_policy(grant_to(ROOT_ARN, "kms:*")))
        assert (code, message) == ("AccessDeniedException", denied(who, "kms:PutKeyPolicy", key["Arn"], "resource"))


def test_put_key_policy_lockout_safety_check(server, kms, aws, sensitive, tmp_path):
    key = kms.create_key()["KeyMetadata"]
    user = new_user(server, sensitive)
    lockout = key_policy(grant_to(user.arn, ["kms:Encrypt", "kms:Decrypt"]))
    code, message = client_error(kms.put_key_policy, KeyId=key["KeyId"], PolicyName="default", Policy=lockout)
    assert (code, message) == ("MalformedPolicyDocumentException",
                               "The new key policy will not allow you to update the key policy in the future.")
    code, _ = client_error(kms.put_key_policy, KeyId=key["KeyId"], PolicyName="default", Policy=lockout,
                           BypassPolicyLockoutSafetyCheck=False)
    assert code == "MalformedPolicyDocumentException"
    # Unchanged: root still manages the key.
    assert json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])["Statement"][0][
        "Principal"] == {"AWS": ROOT_ARN}

    # A key administrator (by IAM policy) is protected the same way: it may hand the key
    # to root but not lock itself out.
    admin = new_user(server, sensitive, policy=document(allow("kms:*", key["Arn"])))
    code, _ = client_error(admin.client("kms").put_key_policy, KeyId=key["KeyId"], PolicyName="default",
                           Policy=key_policy(grant_to(user.arn, "kms:*")))
    assert code == "MalformedPolicyDocumentException"
    admin.client("kms").put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                                       Policy=key_policy(grant_to(admin.arn, "kms:*")))

    # With the bypass it is applied, and then root is locked out.
    assert aws("kms", "put-key-policy", "--key-id", key["KeyId"], "--policy-name", "default", "--policy", lockout,
               "--bypass-policy-lockout-safety-check", credentials_file=CliAs(aws, admin, tmp_path).file) is None
    code, message = client_error(kms.put_key_policy, KeyId=key["KeyId"], PolicyName="default",
                                 Policy=key_policy(grant_to(ROOT_ARN, "kms:*")))
    assert (code, message) == ("AccessDeniedException", denied(ROOT_ARN, "kms:PutKeyPolicy", key["Arn"], "resource"))
    blob = user.client("kms").encrypt(KeyId=key["KeyId"], Plaintext=b"mine")["CiphertextBlob"]
    assert user.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"mine"


def test_create_key_and_list_keys_need_identity_permissions(server, kms, sensitive):
    user = new_user(server, sensitive)
    ukms = user.client("kms")
    for op, action in (("create_key", "kms:CreateKey"), ("list_keys", "kms:ListKeys"), ("list_aliases", "kms:ListAliases")):
        code, message = client_error(getattr(ukms, op))
        assert code == "AccessDeniedException", (op, message)
        assert message.startswith(f"User: {user.arn} is not authorized to perform: {action}"), message
        assert message.endswith(f"because no identity-based policy allows the {action} action"), message

    boto(server, "iam").put_user_policy(UserName=user.name, PolicyName="create",
                                        PolicyDocument=document(allow(["kms:CreateKey", "kms:ListKeys"])))
    mine = ukms.create_key(Description="made by a user")["KeyMetadata"]
    assert mine["Arn"] == key_arn(mine["KeyId"])
    listed = [k["KeyId"] for p in ukms.get_paginator("list_keys").paginate() for k in p["Keys"]]
    assert mine["KeyId"] in listed
    # The creator gets no special rights: the new key has the default policy, and this
    # user's IAM policy does not allow Encrypt.
    code, message = client_error(ukms.encrypt, KeyId=mine["KeyId"], Plaintext=b"x")
    assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:Encrypt", mine["Arn"], "identity"))
    assert json.loads(kms.get_key_policy(KeyId=mine["KeyId"], PolicyName="default")["Policy"])["Statement"][0][
        "Principal"] == {"AWS": ROOT_ARN}


def test_alias_operations_need_the_alias_and_the_key(server, kms, sensitive):
    key = kms.create_key()["KeyMetadata"]
    name = f"alias/{unique('authz')}"
    user = new_user(server, sensitive, policy=document(allow(["kms:CreateAlias", "kms:DeleteAlias"], key["Arn"])))
    ukms = user.client("kms")
    code, message = client_error(ukms.create_alias, AliasName=name, TargetKeyId=key["KeyId"])
    assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:CreateAlias", alias_arn(name), "identity"))

    boto(server, "iam").put_user_policy(UserName=user.name, PolicyName="inline", PolicyDocument=document(
        allow(["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"], [key["Arn"], alias_arn(name)]),
        allow("kms:ListAliases")))
    assert ukms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert any(a["AliasName"] == name and a["TargetKeyId"] == key["KeyId"]
               for p in ukms.get_paginator("list_aliases").paginate() for a in p["Aliases"])
    # Moving the alias needs the new key too.
    other = kms.create_key()["KeyMetadata"]
    code, message = client_error(ukms.update_alias, AliasName=name, TargetKeyId=other["KeyId"])
    assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:UpdateAlias", other["Arn"], "identity"))
    # Using the alias for Encrypt is still Encrypt on the key.
    code, message = client_error(ukms.encrypt, KeyId=name, Plaintext=b"x")
    assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:Encrypt", key["Arn"], "identity"))
    ukms.delete_alias(AliasName=name)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_encryption_context_condition(server, kms, aws, sensitive, tmp_path):
    key = kms.create_key(Description="loadtest environment")["KeyMetadata"]
    user = new_user(server, sensitive, policy=document(allow(
        ["kms:Encrypt", "kms:Decrypt"], key["Arn"],
        Condition={"StringEquals": {"kms:EncryptionContext:LambdaFunctionName": "loadtest"}})))
    sensitive.add("student")
    ukms = user.client("kms")
    blob = ukms.encrypt(KeyId=key["KeyId"], Plaintext=b"student", EncryptionContext=LAB_CONTEXT)["CiphertextBlob"]
    assert ukms.decrypt(CiphertextBlob=blob, EncryptionContext=LAB_CONTEXT)["Plaintext"] == b"student"

    for context in ({"LambdaFunctionName": "other"}, {}, {"Other": "loadtest"}):
        code, message = client_error(ukms.encrypt, KeyId=key["KeyId"], Plaintext=b"student", EncryptionContext=context)
        assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:Encrypt", key["Arn"], "identity")), context
    other_blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"student",
                             EncryptionContext={"LambdaFunctionName": "other"})["CiphertextBlob"]
    code, message = client_error(ukms.decrypt, CiphertextBlob=other_blob, EncryptionContext={"LambdaFunctionName": "other"})
    assert code == "AccessDeniedException", message
    # The lab's CLI spelling, as this user.
    cli = CliAs(aws, user, tmp_path)
    out = cli("kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", "student",
              "--encryption-context", "LambdaFunctionName=loadtest", "--output", "text", "--query", "CiphertextBlob")
    assert out and "student" not in out
    code, _ = cli.error("kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", "student",
                        "--encryption-context", "LambdaFunctionName=other")
    assert code == "AccessDeniedException"


def test_request_alias_condition(server, kms, sensitive):
    key = kms.create_key()["KeyMetadata"]
    good, bad = f"alias/{unique('good')}", f"alias/{unique('bad')}"
    kms.create_alias(AliasName=good, TargetKeyId=key["KeyId"])
    kms.create_alias(AliasName=bad, TargetKeyId=key["KeyId"])
    user = new_user(server, sensitive, policy=document(allow(
        "kms:Encrypt", "*", Condition={"StringEquals": {"kms:RequestAlias": good}})))
    ukms = user.client("kms")
    assert ukms.encrypt(KeyId=good, Plaintext=b"by-alias")["KeyId"] == key["Arn"]
    for key_id in (key["KeyId"], key["Arn"], bad):
        code, message = client_error(ukms.encrypt, KeyId=key_id, Plaintext=b"x")
        assert (code, message) == ("AccessDeniedException", denied(user.arn, "kms:Encrypt", key["Arn"], "identity")), key_id


def test_principal_arn_condition_in_the_key_policy(server, kms, sensitive):
    """aws:PrincipalArn in a key policy statement that names the account."""
    alice = new_user(server, sensitive, policy=document(allow("kms:Encrypt")))
    bob = new_user(server, sensitive, policy=document(allow("kms:Encrypt")))
    key = kms.create_key(Policy=key_policy(
        grant_to(ROOT_ARN, ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"]),
        grant_to(ROOT_ARN, "kms:Encrypt", Condition={"StringEquals": {"aws:PrincipalArn": alice.arn}})))["KeyMetadata"]
    assert alice.client("kms").encrypt(KeyId=key["KeyId"], Plaintext=b"a")["KeyId"] == key["Arn"]
    code, message = client_error(bob.client("kms").encrypt, KeyId=key["KeyId"], Plaintext=b"b")
    assert (code, message) == ("AccessDeniedException", denied(bob.arn, "kms:Encrypt", key["Arn"], "resource"))


def test_key_policy_naming_a_missing_principal(server, kms):
    """PutKeyPolicy/CreateKey refuse a principal that does not exist: "Policy contains a
    statement with one or more invalid principals." (AWS knowledge-center article
    kms-policy-error-invalid-principals: "make sure that the IAM entity exists")."""
    ghost = f"arn:aws:iam::{ACCOUNT_ID}:user/{unique('ghost')}"
    policy = key_policy(grant_to(ROOT_ARN, "kms:*"), grant_to(ghost, "kms:Decrypt"))
    code, message = client_error(kms.create_key, Policy=policy)
    assert (code, message) == ("MalformedPolicyDocumentException",
                               "Policy contains a statement with one or more invalid principals.")
    key = kms.create_key()["KeyMetadata"]
    code, message = client_error(kms.put_key_policy, KeyId=key["KeyId"], PolicyName="default", Policy=policy)
    assert (code, message) == ("MalformedPolicyDocumentException",
                               "Policy contains a statement with one or more invalid principals.")


def test_recreated_user_does_not_inherit_the_key_policy(server, kms, sensitive):
    """A key policy stores the principal's unique id, not its name (AWS knowledge-center
    article kms-policy-error-invalid-principals: a new user "Alice" cannot inherit "the
    permissions granted to the old Alice"); the deleted user shows as its id."""
    iam = boto(server, "iam")
    first = new_user(server, sensitive)
    key = kms.create_key(Policy=key_policy(grant_to(ROOT_ARN, "kms:*"), grant_to(first.arn, "kms:Encrypt")))["KeyMetadata"]
    assert first.client("kms").encrypt(KeyId=key["KeyId"], Plaintext=b"first")["KeyId"] == key["Arn"]
    iam.delete_access_key(UserName=first.name, AccessKeyId=first.creds["AccessKeyId"])
    iam.delete_user(UserName=first.name)
    iam.create_user(UserName=first.name)
    access = iam.create_access_key(UserName=first.name)["AccessKey"]
    sensitive.add(access["SecretAccessKey"], "user secret access key")
    again = boto(server, "kms", {k: access[k] for k in ("AccessKeyId", "SecretAccessKey")})
    code, message = client_error(again.encrypt, KeyId=key["KeyId"], Plaintext=b"second")
    assert (code, message) == ("AccessDeniedException", denied(first.arn, "kms:Encrypt", key["Arn"], "identity"))
    statements = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])["Statement"]
    assert statements[1]["Principal"]["AWS"] == first.user_id, statements
