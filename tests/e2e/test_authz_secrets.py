"""Secrets Manager authorization: identity policies, the secret's resource policy, explicit
denies, and the KMS permissions the caller needs for a secret under a customer managed key
(with kms:ViaService), as AWS evaluates them.

References (Secrets Manager User Guide): "Authentication and access control" — a principal
needs secretsmanager:GetSecretValue from an identity policy or the secret's resource
policy (same account: either is enough), and an explicit deny in either wins; "Secret
encryption and decryption" / "Permissions for the KMS key" — for a customer managed key
"the user must have ... kms:GenerateDataKey, kms:Decrypt" and "you can use the
kms:ViaService condition key" (secretsmanager.<Region>.amazonaws.com); for the AWS managed
key aws/secretsmanager "users ... don't need additional KMS permissions". Missing KMS
permission shows as AccessDeniedException "Access to KMS is not allowed" (AWS
knowledge-center article "secrets-manager-cross-account-key").
"""

from __future__ import annotations

import json
import secrets as pysecrets

import pytest

from conftest import ACCOUNT_ID, REGION, client_error, unique
from test_iam import ROOT_ARN, CliAs, allow, boto, deny, document, new_role, new_user, trust

VIA_SM = f"secretsmanager.{REGION}.amazonaws.com"
KMS_DENIED = "Access to KMS is not allowed"


def value(sensitive, prefix: str = "sv") -> str:
    v = f"{prefix}-{pysecrets.token_urlsafe(12)}"
    sensitive.add(v, "secret value")
    return v


def secret_arn_pattern(name: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{name}-??????"


def assert_denied(message: str, principal_arn: str, action: str, secret: dict, why: str) -> None:
    """AWS names the secret as the caller gave it (name or ARN); accept either."""
    reason = {
        "identity": f"because no identity-based policy allows the {action} action",
        "deny-identity": "with an explicit deny in an identity-based policy",
        "deny-resource": "with an explicit deny in a resource-based policy",
    }[why]
    options = [f"User: {principal_arn} is not authorized to perform: {action} on resource: {r} {reason}"
               for r in (secret["Name"], secret["ARN"])]
    assert message in options, message


@pytest.fixture
def secret(sm, sensitive):
    """A secret under the default key aws/secretsmanager, created by root."""
    name = unique("authz-secret")
    v = value(sensitive)
    out = sm.create_secret(Name=name, SecretString=v)
    return {"Name": name, "ARN": out["ARN"], "Value": v}


def test_user_without_permissions_is_denied(server, aws, secret, sensitive, tmp_path):
    user = new_user(server, sensitive)
    usm = user.client("secretsmanager")
    code, message = client_error(usm.get_secret_value, SecretId=secret["Name"])
    assert code == "AccessDeniedException"
    assert_denied(message, user.arn, "secretsmanager:GetSecretValue", secret, "identity")
    code, message = client_error(usm.describe_secret, SecretId=secret["ARN"])
    assert code == "AccessDeniedException"
    assert_denied(message, user.arn, "secretsmanager:DescribeSecret", secret, "identity")
    code, message = client_error(usm.list_secrets)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {user.arn} is not authorized to perform: secretsmanager:ListSecrets"), message
    code, message = CliAs(aws, user, tmp_path).error("secretsmanager", "get-secret-value", "--secret-id", secret["Name"])
    assert code == "AccessDeniedException"
    assert secret["Value"] not in message


def test_identity_policy_allows_a_secret_under_the_default_key(server, aws, sm, secret, sensitive, tmp_path):
    """aws/secretsmanager: no KMS permission needed beyond GetSecretValue."""
    user = new_user(server, sensitive, policy=document(
        allow(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], secret_arn_pattern(secret["Name"]))))
    usm = user.client("secretsmanager")
    assert usm.get_secret_value(SecretId=secret["Name"])["SecretString"] == secret["Value"]
    assert usm.get_secret_value(SecretId=secret["ARN"])["SecretString"] == secret["Value"]
    assert usm.describe_secret(SecretId=secret["Name"])["ARN"] == secret["ARN"]
    out = CliAs(aws, user, tmp_path)("secretsmanager", "get-secret-value", "--secret-id", secret["Name"])
    assert out["SecretString"] == secret["Value"]
    # Only that secret, and only reading it.
    other = sm.create_secret(Name=unique("other"), SecretString=value(sensitive))
    assert client_error(usm.get_secret_value, SecretId=other["ARN"])[0] == "AccessDeniedException"
    code, message = client_error(usm.put_secret_value, SecretId=secret["Name"], SecretString=value(sensitive))
    assert code == "AccessDeniedException"
    assert_denied(message, user.arn, "secretsmanager:PutSecretValue", secret, "identity")
    assert sm.get_secret_value(SecretId=secret["Name"])["SecretString"] == secret["Value"]


def test_resource_policy_naming_the_user_allows(server, sm, aws, secret, sensitive):
    reader = new_user(server, sensitive)
    stranger = new_user(server, sensitive)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": reader.arn},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
    aws("secretsmanager", "put-resource-policy", "--secret-id", secret["Name"], "--resource-policy", policy)
    got = aws("secretsmanager", "get-resource-policy", "--secret-id", secret["Name"])
    assert json.loads(got["ResourcePolicy"]) == json.loads(policy)

    assert reader.client("secretsmanager").get_secret_value(SecretId=secret["Name"])["SecretString"] == secret["Value"]
    code, message = client_error(stranger.client("secretsmanager").get_secret_value, SecretId=secret["Name"])
    assert code == "AccessDeniedException"
    assert_denied(message, stranger.arn, "secretsmanager:GetSecretValue", secret, "identity")
    # The policy grants only what it names.
    code, _ = client_error(reader.client("secretsmanager").describe_secret, SecretId=secret["Name"])
    assert code == "AccessDeniedException"

    sm.delete_resource_policy(SecretId=secret["Name"])
    assert client_error(reader.client("secretsmanager").get_secret_value, SecretId=secret["Name"])[0] == \
        "AccessDeniedException"


def test_explicit_deny_in_the_resource_policy_wins(server, sm, secret, sensitive):
    user = new_user(server, sensitive, policy=document(allow("secretsmanager:*")))
    usm = user.client("secretsmanager")
    assert usm.get_secret_value(SecretId=secret["Name"])["SecretString"] == secret["Value"]
    sm.put_resource_policy(SecretId=secret["Name"], ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": {"AWS": user.arn}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
    code, message = client_error(usm.get_secret_value, SecretId=secret["Name"])
    assert code == "AccessDeniedException"
    assert_denied(message, user.arn, "secretsmanager:GetSecretValue", secret, "deny-resource")
    assert usm.describe_secret(SecretId=secret["Name"])["Name"] == secret["Name"]
    # Root is not exempt from an explicit deny naming it.
    sm.put_resource_policy(SecretId=secret["Name"], ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": {"AWS": ROOT_ARN}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
    code, message = client_error(sm.get_secret_value, SecretId=secret["Name"])
    assert code == "AccessDeniedException"
    assert_denied(message, ROOT_ARN, "secretsmanager:GetSecretValue", secret, "deny-resource")
    sm.delete_resource_policy(SecretId=secret["Name"])
    assert sm.get_secret_value(SecretId=secret["Name"])["SecretString"] == secret["Value"]


def test_explicit_deny_in_the_identity_policy_wins(server, sm, secret, sensitive):
    user = new_user(server, sensitive, policy=document(
        allow("secretsmanager:*"), deny("secretsmanager:GetSecretValue", secret_arn_pattern(secret["Name"]))))
    sm.put_resource_policy(SecretId=secret["Name"], ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
    code, message = client_error(user.client("secretsmanager").get_secret_value, SecretId=secret["Name"])
    assert code == "AccessDeniedException"
    assert_denied(message, user.arn, "secretsmanager:GetSecretValue", secret, "deny-identity")


def test_customer_key_needs_kms_decrypt_for_the_caller(server, sm, kms, sensitive):
    key = kms.create_key(Description="secrets CMK")["KeyMetadata"]
    name = unique("cmk-secret")
    v = value(sensitive)
    sm.create_secret(Name=name, SecretString=v, KmsKeyId=key["KeyId"])
    read = allow("secretsmanager:GetSecretValue", secret_arn_pattern(name))
    user = new_user(server, sensitive, policy=document(read))
    usm = user.client("secretsmanager")
    code, message = client_error(usm.get_secret_value, SecretId=name)
    assert code == "AccessDeniedException"
    assert KMS_DENIED in message, message
    assert v not in message

    boto(server, "iam").put_user_policy(UserName=user.name, PolicyName="inline",
                                        PolicyDocument=document(read, allow("kms:Decrypt", key["Arn"])))
    assert usm.get_secret_value(SecretId=name)["SecretString"] == v

    # Writing a new value under the customer key needs kms:GenerateDataKey as well.
    boto(server, "iam").put_user_policy(UserName=user.name, PolicyName="write", PolicyDocument=document(
        allow("secretsmanager:PutSecretValue", secret_arn_pattern(name))))
    code, message = client_error(usm.put_secret_value, SecretId=name, SecretString=value(sensitive))
    assert code == "AccessDeniedException"
    assert KMS_DENIED in message, message
    boto(server, "iam").put_user_policy(UserName=user.name, PolicyName="write", PolicyDocument=document(
        allow("secretsmanager:PutSecretValue", secret_arn_pattern(name)), allow("kms:GenerateDataKey", key["Arn"])))
    v2 = value(sensitive)
    usm.put_secret_value(SecretId=name, SecretString=v2)
    assert usm.get_secret_value(SecretId=name)["SecretString"] == v2


def test_via_service_in_the_identity_policy(server, sm, kms, sensitive):
    key = kms.create_key()["KeyMetadata"]
    name = unique("via-identity")
    v = value(sensitive)
    sm.create_secret(Name=name, SecretString=v, KmsKeyId=key["KeyId"])
    user = new_user(server, sensitive, policy=document(
        allow("secretsmanager:GetSecretValue", secret_arn_pattern(name)),
        allow("kms:Decrypt", key["Arn"], Condition={"StringEquals": {"kms:ViaService": VIA_SM}})))
    assert user.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"] == v

    # The same permission does not let the user call KMS directly.
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"direct-call")["CiphertextBlob"]
    code, message = client_error(user.client("kms").decrypt, CiphertextBlob=blob)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {user.arn} is not authorized to perform: kms:Decrypt"), message

    # A ViaService naming another region's endpoint does not match.
    boto(server, "iam").put_user_policy(UserName=user.name, PolicyName="inline", PolicyDocument=document(
        allow("secretsmanager:GetSecretValue", secret_arn_pattern(name)),
        allow("kms:Decrypt", key["Arn"], Condition={"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}})))
    code, message = client_error(user.client("secretsmanager").get_secret_value, SecretId=name)
    assert code == "AccessDeniedException" and KMS_DENIED in message, message


def test_via_service_in_the_key_policy(server, sm, kms, sensitive):
    """A key policy naming the user with a kms:ViaService condition: the user reads the
    secret through Secrets Manager and cannot use the key directly; no IAM KMS permission."""
    user = new_user(server, sensitive)
    key = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Through Secrets Manager only", "Effect": "Allow", "Principal": {"AWS": user.arn},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": VIA_SM}}},
    ]}))["KeyMetadata"]
    name = unique("via-key")
    v = value(sensitive)
    sm.create_secret(Name=name, SecretString=v, KmsKeyId=key["Arn"])
    boto(server, "iam").put_user_policy(UserName=user.name, PolicyName="inline", PolicyDocument=document(
        allow(["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"], secret_arn_pattern(name))))
    usm = user.client("secretsmanager")
    assert usm.get_secret_value(SecretId=name)["SecretString"] == v
    v2 = value(sensitive)
    usm.put_secret_value(SecretId=name, SecretString=v2)
    assert usm.get_secret_value(SecretId=name)["SecretString"] == v2

    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"not-directly")["CiphertextBlob"]
    code, message = client_error(user.client("kms").decrypt, CiphertextBlob=blob)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {user.arn} is not authorized to perform: kms:Decrypt"), message
    code, _ = client_error(user.client("kms").generate_data_key, KeyId=key["KeyId"], KeySpec="AES_256")
    assert code == "AccessDeniedException"


def test_role_session_reads_through_identity_policy(server, sm, sensitive, secret):
    """The seed lab's Lambda: a role session allowed GetSecretValue reads the secret."""
    role = new_role(server, trust(ROOT_ARN), policy=document(
        allow("secretsmanager:GetSecretValue", secret_arn_pattern(secret["Name"]))))
    assumer = new_user(server, sensitive, policy=document(allow("sts:AssumeRole", role["Arn"])))
    session = assumer.assume(role["Arn"], "loadtest", sensitive)
    got = session.client("secretsmanager").get_secret_value(SecretId=secret["Name"])
    assert got["SecretString"] == secret["Value"]
    # The assumer itself has no such permission.
    code, message = client_error(assumer.client("secretsmanager").get_secret_value, SecretId=secret["Name"])
    assert code == "AccessDeniedException"
    assert_denied(message, assumer.arn, "secretsmanager:GetSecretValue", secret, "identity")


def test_resource_policy_naming_a_missing_principal(sm, secret):
    """Like every AWS resource policy, a principal ARN is resolved to its unique id when the
    policy is stored (IAM User Guide, "Principal"), so one that does not exist is refused
    (MalformedPolicyDocumentException)."""
    ghost = f"arn:aws:iam::{ACCOUNT_ID}:user/{unique('ghost')}"
    code, message = client_error(sm.put_resource_policy, SecretId=secret["Name"], ResourcePolicy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ghost},
                                                "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
    assert code == "MalformedPolicyDocumentException", message
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=secret["Name"])
