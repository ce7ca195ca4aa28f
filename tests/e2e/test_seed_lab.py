"""The KMS part of the seed lab, exactly as a student types it, against Keyward."""

from base64 import b64decode

import boto3
import pytest
from botocore.exceptions import ClientError

LAB_DESCRIPTION = "Encryption key for the TranscriptionApp."
LAB_CONTEXT = {"LambdaFunctionName": "loadtest"}


def lab_boto3_client(server, monkeypatch):
    """`boto3.client('kms')` with nothing but credentials, a region and AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_access_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return boto3.client("kms")


def test_seed_lab_as_written(aws, server, sensitive, monkeypatch):
    sensitive.add("student")

    created = aws("kms", "create-key", "--description", LAB_DESCRIPTION)
    meta = created["KeyMetadata"]
    key_id = meta["KeyId"]
    assert meta["Description"] == LAB_DESCRIPTION
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:000000000000:key/{key_id}"

    assert aws("kms", "create-alias", "--alias-name", "alias/UserName", "--target-key-id", key_id) is None

    listed = aws(
        "kms", "list-aliases",
        "--query", "Aliases[?starts_with(AliasName, `alias/UserName`)].TargetKeyId",
        "--output", "text",
    )
    assert listed == key_id

    v = aws(
        "kms", "encrypt",
        "--key-id", key_id,
        "--plaintext", "student",
        "--encryption-context", "LambdaFunctionName=loadtest",
        "--output", "text",
        "--query", "CiphertextBlob",
    )
    assert v and "student" not in v

    # The lab's Python, unchanged apart from the endpoint that comes from the environment.
    client = lab_boto3_client(server, monkeypatch)
    plaintext = client.decrypt(
        CiphertextBlob=b64decode(v), EncryptionContext={"LambdaFunctionName": "loadtest"}
    )["Plaintext"]
    assert plaintext == b"student"

    with pytest.raises(ClientError) as info:
        client.decrypt(CiphertextBlob=b64decode(v))
    assert info.value.response["Error"]["Code"] == "InvalidCiphertextException"

    # The alias works wherever a key id does.
    via_alias = aws(
        "kms", "encrypt", "--key-id", "alias/UserName", "--plaintext", "student",
        "--encryption-context", "LambdaFunctionName=loadtest", "--output", "text", "--query", "CiphertextBlob",
    )
    assert client.decrypt(CiphertextBlob=b64decode(via_alias), EncryptionContext=LAB_CONTEXT)["Plaintext"] == b"student"


def test_cli_decrypt_with_fileb(aws, tmp_path, sensitive):
    """The CLI round trip: encrypt, write the blob to a file, decrypt with fileb://."""
    sensitive.add("student")
    key_id = aws("kms", "create-key", "--description", LAB_DESCRIPTION)["KeyMetadata"]["KeyId"]
    v = aws("kms", "encrypt", "--key-id", key_id, "--plaintext", "student",
            "--encryption-context", "LambdaFunctionName=loadtest", "--output", "text", "--query", "CiphertextBlob")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b64decode(v))
    out = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}",
              "--encryption-context", "LambdaFunctionName=loadtest")
    assert b64decode(out["Plaintext"]) == b"student"
    assert out["KeyId"] == f"arn:aws:kms:us-east-1:000000000000:key/{key_id}"
    assert out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert aws.error("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}") == "InvalidCiphertextException"


def test_seed_lab_v2_spelling(aws, server, sensitive, monkeypatch):
    """The seed's CLI v2 spelling adds --cli-binary-format raw-in-base64-out."""
    sensitive.add("student")
    key_id = aws("kms", "create-key", "--description", LAB_DESCRIPTION)["KeyMetadata"]["KeyId"]
    result = aws.run(
        "kms", "encrypt", "--key-id", key_id, "--plaintext", "student",
        "--encryption-context", "LambdaFunctionName=loadtest",
        "--cli-binary-format", "raw-in-base64-out",
        "--output", "text", "--query", "CiphertextBlob",
    )
    if result.returncode != 0 and "--cli-binary-format" in result.stderr:
        pytest.skip(
            "the PyPI aws CLI is version 1, which has no --cli-binary-format option; "
            "v1 always sends --plaintext as raw text, which is what the v2 spelling asks for "
            "(the config-file setting is covered by test_seed_lab_cli_binary_format_setting)"
        )
    assert result.returncode == 0, result.stderr
    client = lab_boto3_client(server, monkeypatch)
    assert client.decrypt(CiphertextBlob=b64decode(result.stdout.strip()),
                          EncryptionContext=LAB_CONTEXT)["Plaintext"] == b"student"


def test_seed_lab_cli_binary_format_setting(aws, server, sensitive, monkeypatch, tmp_path):
    """`cli_binary_format = raw-in-base64-out` in the config file (which CLI v1 accepts) sends
    the same bytes as the plain v1 spelling."""
    sensitive.add("student")
    config = tmp_path / "config"
    config.write_text("[default]\ncli_binary_format = raw-in-base64-out\n")
    key_id = aws("kms", "create-key", "--description", LAB_DESCRIPTION, config_file=config)["KeyMetadata"]["KeyId"]
    v = aws("kms", "encrypt", "--key-id", key_id, "--plaintext", "student",
            "--encryption-context", "LambdaFunctionName=loadtest",
            "--output", "text", "--query", "CiphertextBlob", config_file=config)
    client = lab_boto3_client(server, monkeypatch)
    assert client.decrypt(CiphertextBlob=b64decode(v), EncryptionContext=LAB_CONTEXT)["Plaintext"] == b"student"


def test_cli_with_aws_endpoint_url_env(aws, server):
    """AWS_ENDPOINT_URL instead of --endpoint-url (awscli >= 1.29 / botocore >= 1.31)."""
    key_id = aws("kms", "create-key", "--description", "via AWS_ENDPOINT_URL", endpoint="env")["KeyMetadata"]["KeyId"]
    described = aws("kms", "describe-key", "--key-id", key_id, endpoint="env")
    assert described["KeyMetadata"]["KeyId"] == key_id
    ids = [k["KeyId"] for k in aws("kms", "list-keys", endpoint="env")["Keys"]]
    assert key_id in ids
