"""The seed lab with its permissions, as the KMS console writes them.

Task 4.1 of the lab creates the key with "Define key administrative permissions" (the lab
user is a key administrator) and "Define key usage permissions" (the loadtest function's
role is a key user); the console turns those into the key policy below, with the
statements "Enable IAM User Permissions", "Allow access for Key Administrators" and "Allow
use of the key" (KMS Developer Guide, "Default key policy"). The function then decrypts its
environment variable with EncryptionContext {"LambdaFunctionName": "loadtest"}; one Deny
statement with a kms:EncryptionContext:LambdaFunctionName condition keeps the role from
decrypting any other function's variables. The key administrator manages the key but
cannot use it.
"""

from __future__ import annotations

import json
from base64 import b64decode

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT_ID, client_error
from test_iam import ROOT_ARN, Principal, allow, boto, document, new_user, trust

LAB_DESCRIPTION = "Encryption key for the TranscriptionApp."
LAB_CONTEXT = {"LambdaFunctionName": "loadtest"}
ADMIN_ACTIONS = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                 "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                 "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]
USER_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


def console_key_policy(admin_arn: str, role_arn: str) -> str:
    return json.dumps({"Id": "key-consolepolicy-3", "Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow access for Key Administrators", "Effect": "Allow", "Principal": {"AWS": admin_arn},
         "Action": ADMIN_ACTIONS, "Resource": "*"},
        {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": role_arn},
         "Action": USER_ACTIONS, "Resource": "*"},
        {"Sid": "Only the loadtest function's variables", "Effect": "Deny", "Principal": {"AWS": role_arn},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringNotEquals": {"kms:EncryptionContext:LambdaFunctionName": "loadtest"}}},
    ]}, indent=2)


def test_seed_lab_with_key_administrators_and_key_users(fresh_server, aws_for, sensitive, monkeypatch):
    srv = fresh_server
    aws = aws_for(srv)
    iam = boto(srv, "iam")
    sensitive.add("student")
    sensitive.add("lab_password", "secret value")

    # The lab user (a key administrator) and the function's role.
    admin = new_user(srv, sensitive, prefix="AWSLabsUser", policy=document(
        allow(["kms:CreateKey", "kms:CreateAlias", "kms:ListAliases", "kms:ListKeys"])))
    role = iam.create_role(RoleName="loadtest", AssumeRolePolicyDocument=trust(ROOT_ARN),
                           Description="loadtest Lambda function")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/loadtest"
    iam.put_role_policy(RoleName="loadtest", PolicyName="read-student", PolicyDocument=document(
        allow("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT_ID}:secret:student-??????")))
    lambda_service = new_user(srv, sensitive, prefix="lambda-runner",
                              policy=document(allow("sts:AssumeRole", role["Arn"])))

    # Task 4.1, as the administrator: the key with the console's policy, and its alias.
    akms = admin.client("kms")
    policy = console_key_policy(admin.arn, role["Arn"])
    key = akms.create_key(Description=LAB_DESCRIPTION, Policy=policy)["KeyMetadata"]
    key_id, key_arn = key["KeyId"], key["Arn"]
    akms.create_alias(AliasName="alias/UserName", TargetKeyId=key_id)
    assert json.loads(akms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]) == json.loads(policy)

    # Task 4.2: encrypt the user name (root, through "Enable IAM User Permissions").
    v = aws("kms", "encrypt", "--key-id", key_id, "--plaintext", "student",
            "--encryption-context", "LambdaFunctionName=loadtest", "--output", "text", "--query", "CiphertextBlob")
    other_fn = aws("kms", "encrypt", "--key-id", "alias/UserName", "--plaintext", "student",
                   "--encryption-context", "LambdaFunctionName=transcribe", "--output", "text", "--query", "CiphertextBlob")
    aws("secretsmanager", "create-secret", "--name", "student", "--description", "Encrypted password for student user",
        "--secret-string", '{"Password":"lab_password"}')

    # The function runs as the loadtest role: the lab's code, unchanged, reads the
    # ciphertext and the secret with nothing but the session in its environment.
    out = lambda_service.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="loadtest")
    creds = out["Credentials"]
    sensitive.add(creds["SecretAccessKey"], "session secret access key")
    sensitive.add(creds["SessionToken"], "session token")
    session = Principal(srv, "loadtest", out["AssumedRoleUser"]["Arn"],
                        {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")})
    assert session.arn == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/loadtest/loadtest"
    for name, val in (("AWS_ACCESS_KEY_ID", creds["AccessKeyId"]), ("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"]),
                      ("AWS_SESSION_TOKEN", creds["SessionToken"]), ("AWS_DEFAULT_REGION", "us-east-1"),
                      ("AWS_ENDPOINT_URL", srv.endpoint)):
        monkeypatch.setenv(name, val)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    client = boto3.client("kms")
    assert client.decrypt(CiphertextBlob=b64decode(v), EncryptionContext=LAB_CONTEXT)["Plaintext"] == b"student"
    secret = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId="student").get("SecretString"))
    assert secret["Password"] == "lab_password"
    assert boto3.client("sts").get_caller_identity()["Arn"] == session.arn

    # ... and not another function's variables: the Deny statement.
    with pytest.raises(ClientError) as info:
        client.decrypt(CiphertextBlob=b64decode(other_fn), EncryptionContext={"LambdaFunctionName": "transcribe"})
    err = info.value.response["Error"]
    assert err["Code"] == "AccessDeniedException"
    assert err["Message"].startswith(f"User: {session.arn} is not authorized to perform: kms:Decrypt"), err
    assert err["Message"].endswith("with an explicit deny in a resource-based policy"), err
    # A key user may encrypt, generate data keys and describe, but not manage the key.
    assert client.generate_data_key(KeyId="alias/UserName", KeySpec="AES_256",
                                    EncryptionContext=LAB_CONTEXT)["KeyId"] == key_arn
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == LAB_DESCRIPTION
    code, message = client_error(client.disable_key, KeyId=key_id)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {session.arn} is not authorized to perform: kms:DisableKey on resource: {key_arn}")

    # The administrator manages the key but cannot use it.
    code, message = client_error(akms.decrypt, CiphertextBlob=b64decode(v), EncryptionContext=LAB_CONTEXT)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {admin.arn} is not authorized to perform: kms:Decrypt"), message
    code, message = client_error(akms.encrypt, KeyId=key_id, Plaintext=b"student", EncryptionContext=LAB_CONTEXT)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {admin.arn} is not authorized to perform: kms:Encrypt on resource: {key_arn}")
    assert akms.describe_key(KeyId="alias/UserName")["KeyMetadata"]["KeyId"] == key_id
    akms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "app", "TagValue": "TranscriptionApp"}])
    assert akms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "app", "TagValue": "TranscriptionApp"}]
    akms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy.replace("key-consolepolicy-3", "key-consolepolicy-4"))
    assert json.loads(akms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])["Id"] == "key-consolepolicy-4"

    akms.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as info:
        client.decrypt(CiphertextBlob=b64decode(v), EncryptionContext=LAB_CONTEXT)
    assert info.value.response["Error"]["Code"] == "DisabledException"
    akms.enable_key(KeyId=key_id)
    assert client.decrypt(CiphertextBlob=b64decode(v), EncryptionContext=LAB_CONTEXT)["Plaintext"] == b"student"

    deletion = akms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert deletion["KeyState"] == "PendingDeletion"
    akms.cancel_key_deletion(KeyId=key_id)
    akms.enable_key(KeyId=key_id)
    assert client.decrypt(CiphertextBlob=b64decode(v), EncryptionContext=LAB_CONTEXT)["Plaintext"] == b"student"

    # Neither the administrator nor the assumer can read the lab's secret.
    for who in (admin, lambda_service):
        code, _ = client_error(who.client("secretsmanager").get_secret_value, SecretId="student")
        assert code == "AccessDeniedException"
