"""Replicas: regional copies of a primary secret, readable in their region, written only
through the primary.

References:
- Service model: ReplicateSecretToRegions, RemoveRegionsFromReplication, and
  StopReplicationToReplica ("Cross-Region replica: promotes the replica to a standalone
  primary secret in the replica Region."); ReplicationStatusType Status "InProgress, Failed,
  or InSync"; DeleteSecret "You can't delete a primary secret that is replicated to other
  Regions. You must first delete the replicas using RemoveRegionsFromReplication".
- The message AWS gives for a write to a replica, as recorded against AWS by LocalStack's
  snapshot tests (localstack/localstack PR #10501): InvalidRequestException "Operation not
  permitted on a replica secret. Call must be made in primary secret's region."
"""

from __future__ import annotations

import secrets as pysecrets
import time

import pytest

from conftest import ACCOUNT_ID, client_error, make_kms, unique

PRIMARY = "us-east-1"
REPLICA = "eu-west-1"
POLL = 20.0
REPLICA_MESSAGE = "Operation not permitted on a replica secret."


def value(sensitive, prefix: str) -> str:
    v = f"{prefix}-{pysecrets.token_urlsafe(12)}"
    sensitive.add(v, "secret value")
    return v


def poll(fn, what: str, timeout: float = POLL):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last state
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def replica_status(sm, name: str, region: str) -> dict | None:
    for status in sm.describe_secret(SecretId=name).get("ReplicationStatus", []):
        if status["Region"] == region:
            return status
    return None


@pytest.fixture
def eu(server, sm_for):
    return sm_for(server, region=REPLICA)


def replicate(sm, name: str, region: str = REPLICA, **extra) -> dict:
    out = sm.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": region, **extra}])
    statuses = {s["Region"]: s for s in out["ReplicationStatus"]}
    assert statuses[region]["Status"] in ("InProgress", "InSync"), statuses
    poll(lambda: (replica_status(sm, name, region) or {}).get("Status") == "InSync", f"{region} InSync")
    return out


def test_replica_is_readable_and_follows_the_primary(sm, eu, server, sensitive):
    name = unique("repl")
    v1, v2 = value(sensitive, "r1"), value(sensitive, "r2")
    arn = sm.create_secret(Name=name, SecretString=v1, Description="replicated",
                           Tags=[{"Key": "app", "Value": "lab"}])["ARN"]
    out = replicate(sm, name)
    assert out["ARN"] == arn
    replica_arn = arn.replace(f":{PRIMARY}:", f":{REPLICA}:")
    assert replica_arn == f"arn:aws:secretsmanager:{REPLICA}:{ACCOUNT_ID}:secret:{name}-{arn[-6:]}"

    got = eu.get_secret_value(SecretId=name)
    assert got["SecretString"] == v1
    assert got["ARN"] == replica_arn
    assert eu.get_secret_value(SecretId=replica_arn)["SecretString"] == v1
    described = eu.describe_secret(SecretId=name)
    assert described["PrimaryRegion"] == PRIMARY
    assert described["Description"] == "replicated"
    primary = sm.describe_secret(SecretId=name)
    assert primary.get("PrimaryRegion", PRIMARY) == PRIMARY
    assert [s["Region"] for s in primary["ReplicationStatus"]] == [REPLICA]
    # The replica lists in its own region.
    listed = eu.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
    assert [e["Name"] for e in listed] == [name]
    assert listed[0].get("PrimaryRegion") == PRIMARY

    # The replica is encrypted under a key of its own region: the AWS managed key there.
    eu_kms = make_kms(server, region=REPLICA)
    alias = eu_kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    assert alias["Arn"].startswith(f"arn:aws:kms:{REPLICA}:")

    # A new value on the primary reaches the replica.
    vid = sm.put_secret_value(SecretId=name, SecretString=v2)["VersionId"]
    poll(lambda: eu.get_secret_value(SecretId=name)["SecretString"] == v2, "the new value in the replica")
    got = eu.get_secret_value(SecretId=name)
    assert got["VersionId"] == vid
    assert eu.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == v1


def test_writes_to_a_replica_are_refused(sm, eu, sensitive):
    name = unique("repl-ro")
    v1 = value(sensitive, "ro")
    sm.create_secret(Name=name, SecretString=v1)
    replicate(sm, name)

    for call, kwargs in [
        (eu.put_secret_value, {"SecretId": name, "SecretString": value(sensitive, "ro-x")}),
        (eu.update_secret, {"SecretId": name, "Description": "from the replica"}),
        (eu.delete_secret, {"SecretId": name}),
        (eu.tag_resource, {"SecretId": name, "Tags": [{"Key": "a", "Value": "b"}]}),
    ]:
        code, message = client_error(call, **kwargs)
        assert code == "InvalidRequestException", (call, code, message)
        assert message.startswith(REPLICA_MESSAGE), message
    assert eu.get_secret_value(SecretId=name)["SecretString"] == v1

    # The primary can't be deleted while it has replicas.
    code, _ = client_error(sm.delete_secret, SecretId=name)
    assert code == "InvalidRequestException"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v1


def test_remove_regions_from_replication(sm, eu, sensitive):
    name = unique("repl-rm")
    v1 = value(sensitive, "rm")
    arn = sm.create_secret(Name=name, SecretString=v1)["ARN"]
    replicate(sm, name)
    assert eu.get_secret_value(SecretId=name)["SecretString"] == v1

    out = sm.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=[REPLICA])
    assert out["ARN"] == arn
    assert REPLICA not in [s["Region"] for s in out.get("ReplicationStatus", [])]
    poll(lambda: client_error(eu.describe_secret, SecretId=name)[0] == "ResourceNotFoundException",
         "the replica to go away")
    code, _ = client_error(eu.get_secret_value, SecretId=name)
    assert code == "ResourceNotFoundException"
    assert not sm.describe_secret(SecretId=name).get("ReplicationStatus")

    # Now the primary may be deleted, and its value is intact until then.
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v1
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    sm.restore_secret(SecretId=name)


def test_stop_replication_promotes_the_replica(sm, server, sm_for, sensitive):
    region = "eu-central-1"
    other = sm_for(server, region=region)
    name = unique("repl-stop")
    v1, v2, v3 = value(sensitive, "st1"), value(sensitive, "st2"), value(sensitive, "st3")
    sm.create_secret(Name=name, SecretString=v1)
    replicate(sm, name, region)
    assert other.get_secret_value(SecretId=name)["SecretString"] == v1

    out = other.stop_replication_to_replica(SecretId=name)
    assert out["ARN"].startswith(f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{name}-")

    # A standalone secret in its own region now: writable there, no longer following.
    poll(lambda: not any(s["Region"] == region for s in sm.describe_secret(SecretId=name).get("ReplicationStatus", [])),
         "the primary to forget the replica")
    described = other.describe_secret(SecretId=name)
    assert described.get("PrimaryRegion", region) == region
    other.put_secret_value(SecretId=name, SecretString=v2)
    assert other.get_secret_value(SecretId=name)["SecretString"] == v2
    sm.put_secret_value(SecretId=name, SecretString=v3)
    time.sleep(1.0)
    assert other.get_secret_value(SecretId=name)["SecretString"] == v2
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v3


def test_replica_with_its_own_customer_key(sm, server, sm_for, sensitive):
    region = "ap-northeast-1"
    other = sm_for(server, region=region)
    other_kms = make_kms(server, region=region)
    key = other_kms.create_key(Description="replica key")["KeyMetadata"]
    name = unique("repl-cmk")
    v1 = value(sensitive, "rc")
    sm.create_secret(Name=name, SecretString=v1)
    replicate(sm, name, region, KmsKeyId=key["KeyId"])
    assert other.get_secret_value(SecretId=name)["SecretString"] == v1
    versions = other.list_secret_version_ids(SecretId=name)["Versions"]
    assert all(any(k in (key["KeyId"], key["Arn"]) for k in v["KmsKeyIds"]) for v in versions), versions

    # Disabling the replica's key breaks only the replica.
    other_kms.disable_key(KeyId=key["KeyId"])
    try:
        code, _ = client_error(other.get_secret_value, SecretId=name)
        assert code == "DecryptionFailure"
        assert sm.get_secret_value(SecretId=name)["SecretString"] == v1
    finally:
        other_kms.enable_key(KeyId=key["KeyId"])
    assert other.get_secret_value(SecretId=name)["SecretString"] == v1


def test_replicate_to_bad_regions(sm_for, server, sensitive):
    sm = sm_for(server, validate=False)
    name = unique("repl-bad")
    sm.create_secret(Name=name, SecretString=value(sensitive, "bad"))
    code, _ = client_error(sm.replicate_secret_to_regions, SecretId=name, AddReplicaRegions=[{"Region": PRIMARY}])
    assert code in ("InvalidParameterException", "InvalidRequestException")
    code, _ = client_error(sm.replicate_secret_to_regions, SecretId=unique("missing"),
                           AddReplicaRegions=[{"Region": REPLICA}])
    assert code == "ResourceNotFoundException"


def test_replicate_over_a_secret_of_the_same_name(sm, eu, sensitive):
    """CreateSecret/ReplicateSecretToRegions ForceOverwriteReplicaSecret (model): "Specifies
    whether to overwrite a secret with the same name in the destination Region. By default,
    secrets aren't overwritten." Without it the replica fails and the local secret is kept."""
    name = unique("repl-clash")
    local, primary = value(sensitive, "local"), value(sensitive, "primary")
    eu.create_secret(Name=name, SecretString=local)
    sm.create_secret(Name=name, SecretString=primary)
    try:
        out = sm.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": REPLICA}])
    except (sm.exceptions.InvalidRequestException, sm.exceptions.ResourceExistsException,
            sm.exceptions.InvalidParameterException):
        pass
    else:
        status = {s["Region"]: s for s in out["ReplicationStatus"]}[REPLICA]
        assert status["Status"] == "Failed", status
    assert eu.get_secret_value(SecretId=name)["SecretString"] == local
    if (replica_status(sm, name, REPLICA) or {}).get("Status") == "Failed":
        sm.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=[REPLICA])
        assert eu.get_secret_value(SecretId=name)["SecretString"] == local, "removing a failed replica keeps the local secret"

    sm.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": REPLICA}],
                                   ForceOverwriteReplicaSecret=True)
    poll(lambda: (replica_status(sm, name, REPLICA) or {}).get("Status") == "InSync", "InSync after overwrite")
    assert eu.get_secret_value(SecretId=name)["SecretString"] == primary
    assert eu.describe_secret(SecretId=name)["PrimaryRegion"] == PRIMARY
