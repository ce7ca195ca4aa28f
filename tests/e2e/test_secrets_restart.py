"""Everything about a secret survives a restart of the server on the same data directory."""

from __future__ import annotations

import json
import os
import secrets as pysecrets

from conftest import client_error, make_kms, make_secretsmanager, unique


def value(sensitive, prefix: str) -> str:
    v = f"{prefix}-{pysecrets.token_urlsafe(12)}"
    sensitive.add(v, "secret value")
    return v


def test_secrets_survive_restart(fresh_server, aws_for, sensitive):
    srv = fresh_server
    sm = make_secretsmanager(srv)
    kms = make_kms(srv)

    # A JSON secret as in the lab, with history and a custom stage.
    lab = unique("student")
    lab_value = json.dumps({"Password": value(sensitive, "lab")})
    sensitive.add(lab_value, "secret value")
    v_old, v_custom = value(sensitive, "old"), value(sensitive, "custom")
    created = sm.create_secret(Name=lab, Description="Encrypted password for student user", SecretString=v_old,
                               Tags=[{"Key": "course", "Value": "lab"}])
    current = sm.put_secret_value(SecretId=lab, SecretString=lab_value)["VersionId"]
    custom = sm.put_secret_value(SecretId=lab, SecretString=v_custom, VersionStages=["TEST"])["VersionId"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
    sm.put_resource_policy(SecretId=lab, ResourcePolicy=policy)
    sm.get_secret_value(SecretId=lab)
    before = sm.describe_secret(SecretId=lab)

    # A binary secret under a customer key.
    key = kms.create_key(Description="restart key")["KeyMetadata"]
    blob = os.urandom(300)
    sensitive.add(blob, "secret binary")
    binary = unique("bin")
    sm.create_secret(Name=binary, SecretBinary=blob, KmsKeyId=key["KeyId"])

    # One scheduled for deletion, one replicated.
    doomed = unique("doomed")
    v_doomed = value(sensitive, "doomed")
    sm.create_secret(Name=doomed, SecretString=v_doomed)
    deletion = sm.delete_secret(SecretId=doomed, RecoveryWindowInDays=7)["DeletionDate"]
    replicated = unique("repl")
    v_repl = value(sensitive, "repl")
    sm.create_secret(Name=replicated, SecretString=v_repl)
    sm.replicate_secret_to_regions(SecretId=replicated, AddReplicaRegions=[{"Region": "eu-west-1"}])
    managed = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]["KeyId"]

    srv.restart()
    sm = make_secretsmanager(srv)
    kms = make_kms(srv)
    aws = aws_for(srv)

    got = sm.get_secret_value(SecretId=lab)
    assert got["SecretString"] == lab_value
    assert got["VersionId"] == current
    assert json.loads(aws("secretsmanager", "get-secret-value", "--secret-id", lab)["SecretString"]) == json.loads(lab_value)
    assert sm.get_secret_value(SecretId=lab, VersionStage="AWSPREVIOUS")["SecretString"] == v_old
    assert sm.get_secret_value(SecretId=lab, VersionStage="TEST")["SecretString"] == v_custom
    assert sm.get_secret_value(SecretId=created["ARN"], VersionId=custom)["SecretString"] == v_custom
    after = sm.describe_secret(SecretId=lab)
    for field in ("ARN", "Name", "Description", "Tags", "VersionIdsToStages", "CreatedDate", "LastChangedDate",
                  "LastAccessedDate"):
        assert after.get(field) == before.get(field), field
    assert json.loads(sm.get_resource_policy(SecretId=lab)["ResourcePolicy"]) == json.loads(policy)

    assert sm.get_secret_value(SecretId=binary)["SecretBinary"] == blob
    kms.disable_key(KeyId=key["KeyId"])
    code, _ = client_error(sm.get_secret_value, SecretId=binary)
    assert code == "DecryptionFailure"
    kms.enable_key(KeyId=key["KeyId"])
    assert sm.get_secret_value(SecretId=binary)["SecretBinary"] == blob

    code, _ = client_error(sm.get_secret_value, SecretId=doomed)
    assert code == "InvalidRequestException"
    assert "DeletedDate" in sm.describe_secret(SecretId=doomed)
    sm.restore_secret(SecretId=doomed)
    assert sm.get_secret_value(SecretId=doomed)["SecretString"] == v_doomed
    assert deletion  # (the date itself was checked by the lifecycle tests)

    eu = make_secretsmanager(srv, region="eu-west-1")
    assert eu.get_secret_value(SecretId=replicated)["SecretString"] == v_repl
    assert kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]["KeyId"] == managed

    # And new writes still work after the restart.
    v_new = value(sensitive, "new")
    sm.put_secret_value(SecretId=lab, SecretString=v_new)
    assert sm.get_secret_value(SecretId=lab)["SecretString"] == v_new
    assert sm.get_secret_value(SecretId=lab, VersionStage="AWSPREVIOUS")["SecretString"] == lab_value
