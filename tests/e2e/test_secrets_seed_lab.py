"""The Secrets Manager half of the seed lab, exactly as written, plus the ARN and SecretId
forms every Secrets Manager user relies on."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from conftest import ACCOUNT_ID, REGION, client_error, unique

LAB_NAME = "student"
LAB_DESCRIPTION = "Encrypted password for student user"
LAB_SECRET_STRING = '{"Password":"lab_password"}'

# AWS: "the ARN ... ends with a hyphen and six random characters" (Secrets Manager user
# guide, "Troubleshoot": ARN_secretnamehyphen).
SUFFIX_RE = r"-[A-Za-z0-9]{6}"


def secret_arn_re(name: str, region: str = REGION) -> re.Pattern[str]:
    return re.compile(
        rf"^arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{re.escape(name)}{SUFFIX_RE}$"
    )


def lab_secretsmanager_client(server, monkeypatch):
    """`boto3.client('secretsmanager')` with nothing but credentials, a region and AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_access_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return boto3.client("secretsmanager")


def test_seed_lab_secrets_as_written(aws, server, sensitive, monkeypatch):
    sensitive.add("lab_password", "secret value")
    sensitive.add(LAB_SECRET_STRING, "secret value")

    created = aws(
        "secretsmanager", "create-secret",
        "--name", LAB_NAME,
        "--description", LAB_DESCRIPTION,
        "--secret-string", LAB_SECRET_STRING,
    )
    assert created["Name"] == LAB_NAME
    assert secret_arn_re(LAB_NAME).match(created["ARN"]), created["ARN"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", created["VersionId"])
    assert "SecretString" not in created

    got = aws("secretsmanager", "get-secret-value", "--secret-id", LAB_NAME)
    assert got["Name"] == LAB_NAME
    assert got["ARN"] == created["ARN"]
    assert got["SecretString"] == LAB_SECRET_STRING
    assert got["VersionId"] == created["VersionId"]
    assert got["VersionStages"] == ["AWSCURRENT"]
    assert "CreatedDate" in got
    assert "SecretBinary" not in got

    # The lab's application code, unchanged: the endpoint comes from AWS_ENDPOINT_URL.
    userName = LAB_NAME  # noqa: N806 - the lab's spelling
    client = lab_secretsmanager_client(server, monkeypatch)
    password = json.loads(client.get_secret_value(SecretId=userName)["SecretString"])["Password"]
    assert password == "lab_password"

    # The same through the CLI with the endpoint in the environment, as a student's shell has it.
    text = aws("secretsmanager", "get-secret-value", "--secret-id", LAB_NAME,
               "--query", "SecretString", "--output", "text", endpoint="env")
    assert json.loads(text)["Password"] == "lab_password"

    described = aws("secretsmanager", "describe-secret", "--secret-id", LAB_NAME)
    assert described["Description"] == LAB_DESCRIPTION
    assert described["ARN"] == created["ARN"]
    # The AWS managed key: DescribeSecret omits KmsKeyId (model: "If the secret is encrypted
    # with the Amazon Web Services managed key aws/secretsmanager, this field is omitted.").
    assert "KmsKeyId" not in described

    # A second create with the same name is refused.
    code = aws.error("secretsmanager", "create-secret", "--name", LAB_NAME, "--secret-string", LAB_SECRET_STRING)
    assert code == "ResourceExistsException"


def test_arn_suffix_is_random_per_secret(sm, sensitive):
    sensitive.add("arn-shape-value", "secret value")
    arns = []
    for _ in range(3):
        name = unique("arn")
        out = sm.create_secret(Name=name, SecretString="arn-shape-value")
        assert secret_arn_re(name).match(out["ARN"]), out["ARN"]
        arns.append(out["ARN"][-6:])
    assert len(set(arns)) == 3, f"suffixes repeat: {arns}"


def test_secret_id_by_name_full_arn_and_partial_arn(sm, aws, sensitive):
    value = "by-every-id-" + unique("v")
    sensitive.add(value, "secret value")
    name = unique("ids")
    arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
    partial = arn[:-7]
    assert partial == f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{name}"

    for secret_id in (name, arn, partial):
        got = sm.get_secret_value(SecretId=secret_id)
        assert got["SecretString"] == value, secret_id
        assert got["ARN"] == arn
        assert got["Name"] == name
        assert sm.describe_secret(SecretId=secret_id)["ARN"] == arn
        assert aws("secretsmanager", "get-secret-value", "--secret-id", secret_id)["SecretString"] == value

    # A full ARN with the wrong suffix names no secret.
    wrong = arn[:-6] + ("AAAAAA" if arn[-6:] != "AAAAAA" else "BBBBBB")
    code, message = client_error(sm.get_secret_value, SecretId=wrong)
    assert code == "ResourceNotFoundException"
    assert message == "Secrets Manager can't find the specified secret."


def test_name_with_hyphen_and_six_characters(sm, sensitive):
    """A name that itself ends in '-' + 6 alphanumerics still resolves by name and by ARN."""
    value = "hyphen-name-value"
    sensitive.add(value, "secret value")
    name = unique("hy") + "-abc123"
    arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
    assert secret_arn_re(name).match(arn)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == value
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == value


def test_unknown_secret(sm, aws):
    name = unique("missing")
    code, message = client_error(sm.get_secret_value, SecretId=name)
    assert code == "ResourceNotFoundException"
    assert message == "Secrets Manager can't find the specified secret."
    code, _ = client_error(sm.describe_secret, SecretId=name)
    assert code == "ResourceNotFoundException"
    assert aws.error("secretsmanager", "get-secret-value", "--secret-id", name) == "ResourceNotFoundException"


@pytest.mark.parametrize("bad_name", ["has space", "semi;colon", "x" * 513])
def test_invalid_names_are_refused(sm_for, server, bad_name):
    # NameType allows 1-512 characters; AWS allows only ASCII letters, digits and /_+=.@-
    # ("The secret name can contain ASCII letters, numbers, and the following characters:
    # /_+=.@-", CreateSecret Name documentation).
    client = sm_for(server, validate=False)
    code, _ = client_error(client.create_secret, Name=bad_name, SecretString="x" * 8)
    assert code in ("ValidationException", "InvalidParameterException")
