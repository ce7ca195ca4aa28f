"""Multi-Region keys: CreateKey MultiRegion, ReplicateKey, UpdatePrimaryRegion, and copies
that interoperate — a ciphertext, signature or MAC made with one copy is accepted by every
other — through rotations and a restart."""

import re

import pytest

from conftest import unique

ACCOUNT = "000000000000"
PRIMARY = "us-east-1"
EU = "eu-west-1"
AP = "ap-southeast-2"
MRK_ID = re.compile(r"^mrk-[0-9a-f]{32}$")


def arn_of(key_id, region):
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def config(meta):
    return meta["MultiRegionConfiguration"]


@pytest.fixture(scope="module")
def clients(server, kms_for):
    return {region: kms_for(server, region=region) for region in (PRIMARY, EU, AP)}


def make_mrk(clients, **params):
    params.setdefault("Description", f"e2e {unique('mrk')}")
    return clients[PRIMARY].create_key(MultiRegion=True, **params)["KeyMetadata"]


def test_create_replicate_and_describe_every_copy(clients):
    meta = make_mrk(clients)
    key_id = meta["KeyId"]
    assert MRK_ID.match(key_id), key_id
    assert meta["Arn"] == arn_of(key_id, PRIMARY)
    assert meta["MultiRegion"] is True
    assert config(meta) == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": arn_of(key_id, PRIMARY), "Region": PRIMARY},
        "ReplicaKeys": [],
    }

    out = clients[PRIMARY].replicate_key(
        KeyId=key_id, ReplicaRegion=EU, Description="the EU copy",
        Tags=[{"TagKey": "copy", "TagValue": "eu"}])
    replica = out["ReplicaKeyMetadata"]
    assert replica["KeyId"] == key_id
    assert replica["Arn"] == arn_of(key_id, EU)
    assert replica["Description"] == "the EU copy"
    assert replica["KeySpec"] == "SYMMETRIC_DEFAULT" and replica["KeyState"] == "Enabled"
    assert config(replica)["MultiRegionKeyType"] == "REPLICA"
    assert out["ReplicaTags"] == [{"TagKey": "copy", "TagValue": "eu"}]
    assert '"Version"' in out["ReplicaPolicy"]
    # By ARN, this time.
    clients[PRIMARY].replicate_key(KeyId=arn_of(key_id, PRIMARY), ReplicaRegion=AP)

    replicas = [{"Arn": arn_of(key_id, EU), "Region": EU}, {"Arn": arn_of(key_id, AP), "Region": AP}]
    for region, kind in ((PRIMARY, "PRIMARY"), (EU, "REPLICA"), (AP, "REPLICA")):
        described = clients[region].describe_key(KeyId=key_id)["KeyMetadata"]
        assert described["KeyId"] == key_id
        assert described["Arn"] == arn_of(key_id, region)
        assert described["MultiRegion"] is True
        assert config(described) == {
            "MultiRegionKeyType": kind,
            "PrimaryKey": {"Arn": arn_of(key_id, PRIMARY), "Region": PRIMARY},
            "ReplicaKeys": replicas,
        }, region
        # Every spelling of the key finds the copy of the region.
        assert clients[region].describe_key(KeyId=arn_of(key_id, region))["KeyMetadata"]["Arn"] == arn_of(key_id, region)
        listed = clients[region].list_keys(Limit=1000)["Keys"]
        assert {"KeyId": key_id, "KeyArn": arn_of(key_id, region)} in listed
    # Tags and description are each copy's own.
    assert clients[EU].list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "copy", "TagValue": "eu"}]
    assert clients[AP].list_resource_tags(KeyId=key_id)["Tags"] == []


def test_encrypt_in_one_region_decrypt_in_another(clients, expect_error):
    key_id = make_mrk(clients)["KeyId"]
    clients[PRIMARY].replicate_key(KeyId=key_id, ReplicaRegion=EU)
    context = {"purpose": "e2e"}
    blob = clients[PRIMARY].encrypt(KeyId=key_id, Plaintext=b"from us-east-1",
                                    EncryptionContext=context)["CiphertextBlob"]
    for kwargs in ({}, {"KeyId": key_id}, {"KeyId": arn_of(key_id, EU)}):
        out = clients[EU].decrypt(CiphertextBlob=blob, EncryptionContext=context, **kwargs)
        assert out["Plaintext"] == b"from us-east-1"
        assert out["KeyId"] == arn_of(key_id, EU)
    back = clients[EU].encrypt(KeyId=key_id, Plaintext=b"from eu-west-1")["CiphertextBlob"]
    assert clients[PRIMARY].decrypt(CiphertextBlob=back)["Plaintext"] == b"from eu-west-1"
    # Data keys too, and the material id is the same everywhere.
    data_key = clients[EU].generate_data_key(KeyId=key_id, KeySpec="AES_256")
    opened = clients[PRIMARY].decrypt(CiphertextBlob=data_key["CiphertextBlob"])
    assert opened["Plaintext"] == data_key["Plaintext"]
    assert opened.get("KeyMaterialId") == data_key.get("KeyMaterialId")
    # A region without a copy cannot open it, and another key is the wrong key.
    assert expect_error(clients[AP].decrypt, CiphertextBlob=blob, EncryptionContext=context) == "InvalidCiphertextException"
    other = clients[EU].create_key()["KeyMetadata"]["KeyId"]
    assert expect_error(clients[EU].decrypt, CiphertextBlob=blob, KeyId=other,
                        EncryptionContext=context) == "IncorrectKeyException"
    # An alias in the replica region points at the replica.
    alias = f"alias/{unique('mrk')}"
    clients[EU].create_alias(AliasName=alias, TargetKeyId=key_id)
    assert clients[EU].decrypt(CiphertextBlob=blob, KeyId=alias, EncryptionContext=context)["Plaintext"] == b"from us-east-1"
    entry = [a for a in clients[EU].list_aliases(KeyId=key_id)["Aliases"] if a["AliasName"] == alias]
    assert entry and entry[0]["TargetKeyId"] == key_id
    # Grants are each copy's own, and name the copy by its mrk ARN.
    clients[EU].create_grant(KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root",
                             Operations=["Decrypt"])
    grants = clients[EU].list_grants(KeyId=key_id)["Grants"]
    assert [g["KeyId"] for g in grants] == [arn_of(key_id, EU)]
    assert clients[PRIMARY].list_grants(KeyId=key_id)["Grants"] == []


def test_sign_and_mac_across_regions(clients):
    signing = make_mrk(clients, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    clients[PRIMARY].replicate_key(KeyId=signing, ReplicaRegion=EU)
    assert (clients[PRIMARY].get_public_key(KeyId=signing)["PublicKey"]
            == clients[EU].get_public_key(KeyId=signing)["PublicKey"])
    signature = clients[PRIMARY].sign(KeyId=signing, Message=b"m", MessageType="RAW",
                                      SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert clients[EU].verify(KeyId=signing, Message=b"m", MessageType="RAW", Signature=signature,
                              SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
    signature = clients[EU].sign(KeyId=signing, Message=b"n", MessageType="RAW",
                                 SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert clients[PRIMARY].verify(KeyId=signing, Message=b"n", MessageType="RAW", Signature=signature,
                                   SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True

    hmac = make_mrk(clients, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    replica = clients[PRIMARY].replicate_key(KeyId=hmac, ReplicaRegion=EU)["ReplicaKeyMetadata"]
    assert replica["KeySpec"] == "HMAC_256" and replica["KeyUsage"] == "GENERATE_VERIFY_MAC"
    mac = clients[EU].generate_mac(KeyId=hmac, Message=b"x", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert clients[PRIMARY].verify_mac(KeyId=hmac, Message=b"x", Mac=mac,
                                       MacAlgorithm="HMAC_SHA_256")["MacValid"] is True
    assert mac == clients[PRIMARY].generate_mac(KeyId=hmac, Message=b"x", MacAlgorithm="HMAC_SHA_256")["Mac"]


def test_rotation_on_the_primary_reaches_every_replica(clients, expect_error):
    key_id = make_mrk(clients)["KeyId"]
    clients[PRIMARY].replicate_key(KeyId=key_id, ReplicaRegion=EU)
    old = clients[PRIMARY].encrypt(KeyId=key_id, Plaintext=b"v1")["CiphertextBlob"]
    assert clients[PRIMARY].rotate_key_on_demand(KeyId=key_id)["KeyId"] == key_id
    new = clients[PRIMARY].encrypt(KeyId=key_id, Plaintext=b"v2")["CiphertextBlob"]
    from_replica = clients[EU].encrypt(KeyId=key_id, Plaintext=b"v2 eu")["CiphertextBlob"]
    assert clients[EU].decrypt(CiphertextBlob=old)["Plaintext"] == b"v1"
    assert clients[EU].decrypt(CiphertextBlob=new)["Plaintext"] == b"v2"
    assert clients[PRIMARY].decrypt(CiphertextBlob=from_replica)["Plaintext"] == b"v2 eu"
    assert (clients[EU].describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
            == clients[PRIMARY].describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"])
    assert len(clients[EU].list_key_rotations(KeyId=key_id)["Rotations"]) == 1
    # A replica added after the rotation gets every version.
    clients[PRIMARY].replicate_key(KeyId=key_id, ReplicaRegion=AP)
    for blob, plain in ((old, b"v1"), (new, b"v2"), (from_replica, b"v2 eu")):
        assert clients[AP].decrypt(CiphertextBlob=blob)["Plaintext"] == plain
    # Rotation is the primary's business.
    assert expect_error(clients[EU].rotate_key_on_demand, KeyId=key_id) == "UnsupportedOperationException"
    assert expect_error(clients[EU].enable_key_rotation, KeyId=key_id) == "UnsupportedOperationException"
    clients[PRIMARY].enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = clients[EU].get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90


def test_update_primary_region(clients, expect_error):
    key_id = make_mrk(clients)["KeyId"]
    clients[PRIMARY].replicate_key(KeyId=key_id, ReplicaRegion=EU)
    clients[PRIMARY].replicate_key(KeyId=key_id, ReplicaRegion=AP)
    clients[PRIMARY].enable_key_rotation(KeyId=key_id)
    assert expect_error(clients[EU].update_primary_region, KeyId=key_id,
                        PrimaryRegion=AP) == "UnsupportedOperationException"
    clients[PRIMARY].update_primary_region(KeyId=key_id, PrimaryRegion=EU)
    for region in (PRIMARY, EU, AP):
        c = config(clients[region].describe_key(KeyId=key_id)["KeyMetadata"])
        assert c["MultiRegionKeyType"] == ("PRIMARY" if region == EU else "REPLICA"), region
        assert c["PrimaryKey"] == {"Arn": arn_of(key_id, EU), "Region": EU}
        assert sorted(k["Region"] for k in c["ReplicaKeys"]) == sorted([PRIMARY, AP])
    # The new primary rotates and replicates; the old one no longer does.
    assert expect_error(clients[PRIMARY].rotate_key_on_demand, KeyId=key_id) == "UnsupportedOperationException"
    assert clients[EU].get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    clients[EU].rotate_key_on_demand(KeyId=key_id)
    blob = clients[EU].encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert clients[PRIMARY].decrypt(CiphertextBlob=blob)["Plaintext"] == b"after"
    assert clients[AP].decrypt(CiphertextBlob=blob)["Plaintext"] == b"after"
    assert expect_error(clients[PRIMARY].replicate_key, KeyId=key_id,
                        ReplicaRegion="eu-central-1") == "UnsupportedOperationException"


def test_errors(clients, expect_error):
    single = clients[PRIMARY].create_key()["KeyMetadata"]["KeyId"]
    assert expect_error(clients[PRIMARY].replicate_key, KeyId=single,
                        ReplicaRegion=EU) == "UnsupportedOperationException"
    assert expect_error(clients[PRIMARY].update_primary_region, KeyId=single,
                        PrimaryRegion=EU) == "UnsupportedOperationException"
    key_id = make_mrk(clients)["KeyId"]
    assert expect_error(clients[PRIMARY].replicate_key, KeyId=key_id,
                        ReplicaRegion=PRIMARY) == "ValidationException"
    clients[PRIMARY].replicate_key(KeyId=key_id, ReplicaRegion=EU)
    assert expect_error(clients[PRIMARY].replicate_key, KeyId=key_id,
                        ReplicaRegion=EU) == "AlreadyExistsException"
    assert expect_error(clients[EU].replicate_key, KeyId=key_id,
                        ReplicaRegion=AP) == "UnsupportedOperationException"
    assert expect_error(clients[PRIMARY].update_primary_region, KeyId=key_id,
                        PrimaryRegion=AP) == "NotFoundException"
    # No copy in this region.
    assert expect_error(clients[AP].describe_key, KeyId=key_id) == "NotFoundException"
    assert expect_error(clients[PRIMARY].create_key, MultiRegion=True,
                        Origin="EXTERNAL") == "UnsupportedOperationException"
    # A primary with replicas is not deleted before them; a replica is, and leaves the set.
    assert expect_error(clients[PRIMARY].schedule_key_deletion, KeyId=key_id,
                        PendingWindowInDays=7) == "KMSInvalidStateException"
    out = clients[EU].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyId"] == arn_of(key_id, EU)
    clients[EU].cancel_key_deletion(KeyId=key_id)


def test_survives_a_restart(fresh_server, kms_for, aws_for):
    east, eu = kms_for(fresh_server, region=PRIMARY), kms_for(fresh_server, region=EU)
    key_id = east.create_key(MultiRegion=True, Description="restart")["KeyMetadata"]["KeyId"]
    east.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    east.rotate_key_on_demand(KeyId=key_id)
    blob = eu.encrypt(KeyId=key_id, Plaintext=b"persisted")["CiphertextBlob"]
    fresh_server.restart()
    east, eu = kms_for(fresh_server, region=PRIMARY), kms_for(fresh_server, region=EU)
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"persisted"
    assert eu.decrypt(CiphertextBlob=blob, KeyId=key_id)["Plaintext"] == b"persisted"
    c = config(eu.describe_key(KeyId=key_id)["KeyMetadata"])
    assert c["MultiRegionKeyType"] == "REPLICA"
    assert c["PrimaryKey"]["Region"] == PRIMARY
    # The aws CLI, as in the docs.
    aws = aws_for(fresh_server)
    replica = aws("kms", "replicate-key", "--key-id", key_id, "--replica-region", AP,
                  "--description", "from the CLI")
    assert replica["ReplicaKeyMetadata"]["Arn"] == arn_of(key_id, AP)
    described = aws("kms", "describe-key", "--key-id", key_id, "--region", AP)
    assert described["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    aws("kms", "update-primary-region", "--key-id", key_id, "--primary-region", AP)
    described = aws("kms", "describe-key", "--key-id", key_id)
    assert described["KeyMetadata"]["MultiRegionConfiguration"]["PrimaryKey"]["Region"] == AP


def test_a_copy_answers_only_to_its_public_id(clients, expect_error):
    """The store id Keyward derives for each copy is internal: naming it finds nothing."""
    import hashlib
    import uuid

    key_id = make_mrk(clients)["KeyId"]
    public = key_id[len("mrk-"):]
    digest = hashlib.sha256(f"keyward-mrk/{public}/{PRIMARY}".encode()).digest()[:16]
    internal = str(uuid.UUID(bytes=digest))
    assert expect_error(clients[PRIMARY].describe_key, KeyId=internal) == "NotFoundException"
    assert expect_error(clients[PRIMARY].encrypt, KeyId=internal, Plaintext=b"x") == "NotFoundException"
    assert clients[PRIMARY].describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id
