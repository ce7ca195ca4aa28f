"""Multi-Region keys: CreateKey MultiRegion, ReplicateKey, UpdatePrimaryRegion, and copies
that interoperate — a ciphertext, signature or MAC made with one copy is accepted by every
other — through rotations and a restart."""

import datetime as dt
import json
import re
import sqlite3
import time

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
    # A replica's deletion is scheduled like any key's.
    out = clients[EU].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyId"] == arn_of(key_id, EU)
    assert out["KeyState"] == "PendingDeletion" and "DeletionDate" in out
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


# ScheduleKeyDeletion (botocore's documentation): "You can schedule the deletion of a
# multi-Region primary key and its replica keys at any time. However, KMS will not delete a
# multi-Region primary key with existing replica keys. If you schedule the deletion of a
# primary key with replicas, its key state changes to PendingReplicaDeletion and it cannot be
# replicated or used in cryptographic operations. This status can continue indefinitely.
# When the last of its replicas keys is deleted (not just scheduled), the key state of the
# primary key changes to PendingDeletion and its waiting period (PendingWindowInDays)
# begins."


def test_primary_with_replicas_waits_in_pending_replica_deletion(clients, expect_error):
    east, eu = clients[PRIMARY], clients[EU]
    key_id = make_mrk(clients)["KeyId"]
    eu_arn = east.replicate_key(KeyId=key_id, ReplicaRegion=EU)["ReplicaKeyMetadata"]["Arn"]
    blob = east.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]

    out = east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyId"] == arn_of(key_id, PRIMARY)
    assert out["KeyState"] == "PendingReplicaDeletion"
    assert out["PendingWindowInDays"] == 7
    assert "DeletionDate" not in out

    meta = east.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingReplicaDeletion"
    assert meta["Enabled"] is False
    assert meta["PendingDeletionWindowInDays"] == 7
    assert "DeletionDate" not in meta
    assert config(meta)["ReplicaKeys"] == [{"Arn": eu_arn, "Region": EU}]
    assert {"KeyId": key_id, "KeyArn": arn_of(key_id, PRIMARY)} in east.list_keys(Limit=1000)["Keys"]

    # Not usable for cryptography, not replicated, not managed, not scheduled twice.
    assert expect_error(east.encrypt, KeyId=key_id, Plaintext=b"x") == "KMSInvalidStateException"
    assert expect_error(east.decrypt, CiphertextBlob=blob) == "KMSInvalidStateException"
    assert expect_error(east.generate_data_key, KeyId=key_id, KeySpec="AES_256") == "KMSInvalidStateException"
    assert expect_error(east.replicate_key, KeyId=key_id, ReplicaRegion=AP) == "KMSInvalidStateException"
    assert expect_error(clients[AP].describe_key, KeyId=key_id) == "NotFoundException"
    assert expect_error(east.enable_key, KeyId=key_id) == "KMSInvalidStateException"
    assert expect_error(east.disable_key, KeyId=key_id) == "KMSInvalidStateException"
    assert expect_error(east.update_primary_region, KeyId=key_id, PrimaryRegion=EU) == "KMSInvalidStateException"
    assert expect_error(east.rotate_key_on_demand, KeyId=key_id) == "KMSInvalidStateException"
    assert expect_error(east.enable_key_rotation, KeyId=key_id) == "KMSInvalidStateException"
    assert expect_error(east.schedule_key_deletion, KeyId=key_id,
                        PendingWindowInDays=7) == "KMSInvalidStateException"
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["PendingDeletionWindowInDays"] == 7
    # The replica is untouched and still opens what the primary sealed.
    assert eu.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert eu.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"

    # Cancelled, it comes back disabled, as from PendingDeletion.
    assert east.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn_of(key_id, PRIMARY)
    meta = east.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled"
    assert "PendingDeletionWindowInDays" not in meta and "DeletionDate" not in meta
    assert expect_error(east.cancel_key_deletion, KeyId=key_id) == "KMSInvalidStateException"
    east.enable_key(KeyId=key_id)
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"

    # A replica scheduled for deletion (not yet deleted) still holds the primary back.
    eu.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    out = east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=30)
    assert out["KeyState"] == "PendingReplicaDeletion" and out["PendingWindowInDays"] == 30
    assert "DeletionDate" not in out
    eu.cancel_key_deletion(KeyId=key_id)
    east.cancel_key_deletion(KeyId=key_id)


def _copies_in_db(data_dir, key_id):
    """The stored copies of a multi-Region key: region -> (store id, document)."""
    conn = sqlite3.connect(str(data_dir / "keyward.db"), timeout=10)
    try:
        rows = conn.execute("SELECT id, region, doc FROM keys").fetchall()
    finally:
        conn.close()
    public = key_id[len("mrk-"):]
    copies = {}
    for store_id, region, doc in rows:
        record = json.loads(doc)
        mr = record.get("multi_region")
        if mr and mr["public_id"].replace("-", "") == public:
            copies[region] = (store_id, record)
    return copies


def _end_window_of(srv, key_id, region):
    """Moves the end of a copy's deletion window into the past, with the server stopped:
    the binary has no clock to move, and the deletion job reads the stored date."""
    code = srv.stop()
    assert code == 0, srv.log_tail()
    store_id, record = _copies_in_db(srv.data_dir, key_id)[region]
    assert record["state"] == "PendingDeletion" and record["deletion_date"], record
    past = int(time.time() * 1000) - 60_000
    record["deletion_date"] = past
    conn = sqlite3.connect(str(srv.data_dir / "keyward.db"), timeout=10)
    try:
        with conn:
            changed = conn.execute("UPDATE keys SET doc = ?, due_at = ? WHERE id = ?",
                                   (json.dumps(record), past, store_id)).rowcount
        assert changed == 1
    finally:
        conn.close()
    srv.start()


def _wait_until_gone(client, key_id, timeout=30.0):
    """Polls DescribeKey until the deletion job (every second on this server) deleted it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.describe_key(KeyId=key_id)
        except client.exceptions.NotFoundException:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{key_id} was not deleted within {timeout}s")
        time.sleep(0.2)


@pytest.mark.sqlite_file
def test_deleting_the_last_replica_starts_the_primary_window(keyward, kms_for, expect_error):
    srv = keyward(name="pending_replica_deletion", env={"KEYWARD_JOB_INTERVAL_SECONDS": "1"})

    def kms(region):
        return kms_for(srv, region=region)

    key_id = kms(PRIMARY).create_key(MultiRegion=True, Description="doomed")["KeyMetadata"]["KeyId"]
    kms(PRIMARY).replicate_key(KeyId=key_id, ReplicaRegion=EU)
    kms(PRIMARY).replicate_key(KeyId=key_id, ReplicaRegion=AP)
    out = kms(PRIMARY).schedule_key_deletion(KeyId=key_id, PendingWindowInDays=9)
    assert out["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in out
    for region in (EU, AP):
        kms(region).schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    # Scheduled is not deleted: the primary still waits, with no date.
    meta = kms(PRIMARY).describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in meta

    # One replica deleted: the primary waits for the other, and no longer lists this one.
    _end_window_of(srv, key_id, EU)
    _wait_until_gone(kms(EU), key_id)
    meta = kms(PRIMARY).describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in meta
    assert [k["Region"] for k in config(meta)["ReplicaKeys"]] == [AP]
    assert [k["Region"] for k in config(kms(AP).describe_key(KeyId=key_id)["KeyMetadata"])["ReplicaKeys"]] == [AP]

    # The last one deleted: the primary's 9-day window begins now.
    _end_window_of(srv, key_id, AP)
    _wait_until_gone(kms(AP), key_id)
    started = dt.datetime.now(dt.timezone.utc)
    meta = kms(PRIMARY).describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert meta["PendingDeletionWindowInDays"] == 9
    assert config(meta)["ReplicaKeys"] == []
    deletion = meta["DeletionDate"]
    assert started + dt.timedelta(days=9, minutes=-5) <= deletion <= started + dt.timedelta(days=10, hours=1)
    assert expect_error(kms(PRIMARY).encrypt, KeyId=key_id, Plaintext=b"x") == "KMSInvalidStateException"
    assert {"KeyId": key_id, "KeyArn": arn_of(key_id, PRIMARY)} in kms(PRIMARY).list_keys(Limit=1000)["Keys"]
    # It survives a restart in that state, and the job deletes it when its window ends.
    srv.restart()
    assert kms(PRIMARY).describe_key(KeyId=key_id)["KeyMetadata"]["DeletionDate"] == deletion
    _end_window_of(srv, key_id, PRIMARY)
    _wait_until_gone(kms(PRIMARY), key_id)
    assert {"KeyId": key_id, "KeyArn": arn_of(key_id, PRIMARY)} not in kms(PRIMARY).list_keys(Limit=1000)["Keys"]


def test_imported_material_in_every_copy(clients, expect_error):
    """AWS copies no imported material between copies: each copy imports the same material
    itself, and then a ciphertext from one decrypts in another."""
    import os

    from test_import import import_material

    meta = make_mrk(clients, Origin="EXTERNAL")
    key_id = meta["KeyId"]
    assert MRK_ID.match(key_id) and meta["Origin"] == "EXTERNAL" and meta["KeyState"] == "PendingImport"
    replica = clients[PRIMARY].replicate_key(KeyId=key_id, ReplicaRegion=EU)["ReplicaKeyMetadata"]
    assert replica["Origin"] == "EXTERNAL" and replica["KeyState"] == "PendingImport"
    material = os.urandom(32)
    import_material(clients[PRIMARY], key_id, material)
    assert clients[PRIMARY].describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    # The replica is untouched by the primary's import.
    assert clients[EU].describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    blob = clients[PRIMARY].encrypt(KeyId=key_id, Plaintext=b"imported, replicated")["CiphertextBlob"]
    assert expect_error(clients[EU].decrypt, CiphertextBlob=blob) == "KMSInvalidStateException"
    # Other material is refused by the replica, as its primary would refuse it.
    assert expect_error(import_material, clients[EU], key_id, os.urandom(32)) == "IncorrectKeyMaterialException"
    out = import_material(clients[EU], key_id, material)
    assert out["KeyId"] == arn_of(key_id, EU)
    assert clients[EU].describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert clients[EU].decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported, replicated"
    back = clients[EU].encrypt(KeyId=key_id, Plaintext=b"and back")["CiphertextBlob"]
    assert clients[PRIMARY].decrypt(CiphertextBlob=back)["Plaintext"] == b"and back"
    # Key states are each copy's own: deleting the replica's material leaves the primary.
    clients[EU].delete_imported_key_material(KeyId=key_id)
    assert clients[EU].describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert clients[PRIMARY].decrypt(CiphertextBlob=back)["Plaintext"] == b"and back"
    # A replica made later also starts without material, and takes only the same material.
    later = clients[PRIMARY].replicate_key(KeyId=key_id, ReplicaRegion=AP)["ReplicaKeyMetadata"]
    assert later["KeyState"] == "PendingImport"
    assert expect_error(import_material, clients[AP], key_id, os.urandom(32)) == "IncorrectKeyMaterialException"
    import_material(clients[AP], key_id, material)
    assert clients[AP].decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported, replicated"


def _states(kms, key_id):
    """KeyMaterialId → (KeyMaterialState, ImportState) of every version of a key's material."""
    listed = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    return {e["KeyMaterialId"]: (e["KeyMaterialState"], e["ImportState"]) for e in listed}


def _external_mrk(clients, *regions):
    """A multi-Region symmetric key with imported material, replicated into `regions`, the
    same first material imported into every copy."""
    import os

    from test_import import import_material

    key_id = make_mrk(clients, Origin="EXTERNAL")["KeyId"]
    for region in regions:
        clients[PRIMARY].replicate_key(KeyId=key_id, ReplicaRegion=region)
    first_material = os.urandom(32)
    first = import_material(clients[PRIMARY], key_id, first_material)["KeyMaterialId"]
    for region in regions:
        assert import_material(clients[region], key_id, first_material)["KeyMaterialId"] == first
    return key_id, first, first_material


def test_imported_material_rotates_on_demand_in_every_copy(clients, expect_error):
    """As in AWS: new material goes into the primary (NEW_KEY_MATERIAL), then the same into
    every replica (EXISTING_KEY_MATERIAL); until then it is
    PENDING_MULTI_REGION_IMPORT_AND_ROTATION and the primary does not rotate. RotateKeyOnDemand
    on the primary then rotates every copy."""
    import os

    from test_import import import_material

    key_id, first, first_material = _external_mrk(clients, EU)
    old = {r: clients[r].encrypt(KeyId=key_id, Plaintext=f"v1 {r}".encode())["CiphertextBlob"]
           for r in (PRIMARY, EU)}
    # No new material goes directly into a replica, nor into a copy with nothing pending.
    assert expect_error(import_material, clients[EU], key_id, os.urandom(32),
                        ImportType="NEW_KEY_MATERIAL") == "UnsupportedOperationException"
    assert expect_error(clients[PRIMARY].rotate_key_on_demand, KeyId=key_id) == "KMSInvalidStateException"

    new_material = os.urandom(32)
    second = import_material(clients[PRIMARY], key_id, new_material,
                             ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert second != first
    assert _states(clients[PRIMARY], key_id) == {
        first: ("CURRENT", "IMPORTED"),
        second: ("PENDING_MULTI_REGION_IMPORT_AND_ROTATION", "IMPORTED"),
    }
    assert _states(clients[EU], key_id) == {first: ("CURRENT", "IMPORTED")}
    assert expect_error(clients[PRIMARY].rotate_key_on_demand, KeyId=key_id) == "KMSInvalidStateException"
    # The replica takes the primary's new material, and only that.
    assert expect_error(import_material, clients[EU], key_id, os.urandom(32),
                        ImportType="EXISTING_KEY_MATERIAL") == "IncorrectKeyMaterialException"
    assert expect_error(import_material, clients[EU], key_id, new_material,
                        KeyMaterialId=first) == "IncorrectKeyMaterialException"
    out = import_material(clients[EU], key_id, new_material, ImportType="EXISTING_KEY_MATERIAL",
                          KeyMaterialId=second)
    assert out == {**out, "KeyId": arn_of(key_id, EU), "KeyMaterialId": second}
    assert _states(clients[EU], key_id) == {first: ("CURRENT", "IMPORTED"), second: ("PENDING_ROTATION", "IMPORTED")}
    assert _states(clients[PRIMARY], key_id)[second] == ("PENDING_ROTATION", "IMPORTED")
    # Importing it again changes nothing; the replica still does not rotate itself.
    import_material(clients[EU], key_id, new_material)
    assert expect_error(clients[EU].rotate_key_on_demand, KeyId=key_id) == "UnsupportedOperationException"

    assert clients[PRIMARY].rotate_key_on_demand(KeyId=key_id)["KeyId"] == key_id
    for region in (PRIMARY, EU):
        meta = clients[region].describe_key(KeyId=key_id)["KeyMetadata"]
        assert meta["KeyState"] == "Enabled" and meta["CurrentKeyMaterialId"] == second
        assert _states(clients[region], key_id) == {first: ("NON_CURRENT", "IMPORTED"),
                                                    second: ("CURRENT", "IMPORTED")}
        rotations = clients[region].list_key_rotations(KeyId=key_id)["Rotations"]
        assert [(r["KeyMaterialId"], r["RotationType"]) for r in rotations] == [(second, "ON_DEMAND")]
    new = {r: clients[r].encrypt(KeyId=key_id, Plaintext=f"v2 {r}".encode())["CiphertextBlob"]
           for r in (PRIMARY, EU)}
    for made_in in (PRIMARY, EU):
        for opened_in in (PRIMARY, EU):
            assert clients[opened_in].decrypt(CiphertextBlob=old[made_in])["Plaintext"] == f"v1 {made_in}".encode()
            out = clients[opened_in].decrypt(CiphertextBlob=new[made_in])
            assert out["Plaintext"] == f"v2 {made_in}".encode() and out["KeyMaterialId"] == second
    # Nothing is pending any more.
    assert expect_error(clients[PRIMARY].rotate_key_on_demand, KeyId=key_id) == "KMSInvalidStateException"

    # A replica made after the rotation needs every version imported before it is usable.
    clients[PRIMARY].replicate_key(KeyId=key_id, ReplicaRegion=AP)
    assert clients[AP].describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    import_material(clients[AP], key_id, new_material)
    assert clients[AP].describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert expect_error(import_material, clients[AP], key_id, os.urandom(32)) == "IncorrectKeyMaterialException"
    assert expect_error(clients[AP].decrypt, CiphertextBlob=new[EU]) == "KMSInvalidStateException"
    assert _states(clients[AP], key_id) == {first: ("NON_CURRENT", "PENDING_IMPORT"),
                                            second: ("CURRENT", "IMPORTED")}
    assert [r["KeyMaterialId"] for r in clients[AP].list_key_rotations(KeyId=key_id)["Rotations"]] == [second]
    assert import_material(clients[AP], key_id, first_material)["KeyMaterialId"] == first
    assert clients[AP].describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    for blob, plain in ((old[PRIMARY], b"v1 us-east-1"), (new[EU], b"v2 eu-west-1")):
        assert clients[AP].decrypt(CiphertextBlob=blob)["Plaintext"] == plain
    from_ap = clients[AP].encrypt(KeyId=key_id, Plaintext=b"v2 ap")["CiphertextBlob"]
    assert clients[EU].decrypt(CiphertextBlob=from_ap)["KeyMaterialId"] == second


def test_deleting_the_primarys_pending_material_deletes_the_replicas(clients, expect_error):
    """AWS: deleting a primary key's material pending rotation deletes the replicas' too;
    deleting a replica's leaves the other copies as they were."""
    import os

    from test_import import import_material

    key_id, first, _ = _external_mrk(clients, EU, AP)
    material = os.urandom(32)
    second = import_material(clients[PRIMARY], key_id, material,
                             ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    for region in (EU, AP):
        import_material(clients[region], key_id, material)
    assert _states(clients[PRIMARY], key_id)[second] == ("PENDING_ROTATION", "IMPORTED")

    # A replica's deletion is its own: the primary waits for it again.
    out = clients[AP].delete_imported_key_material(KeyId=key_id, KeyMaterialId=second)
    assert out["KeyMaterialId"] == second
    assert _states(clients[AP], key_id)[second] == ("PENDING_ROTATION", "PENDING_IMPORT")
    assert _states(clients[EU], key_id)[second] == ("PENDING_ROTATION", "IMPORTED")
    assert _states(clients[PRIMARY], key_id)[second] == ("PENDING_MULTI_REGION_IMPORT_AND_ROTATION", "IMPORTED")
    assert clients[AP].describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert expect_error(clients[PRIMARY].rotate_key_on_demand, KeyId=key_id) == "KMSInvalidStateException"
    import_material(clients[AP], key_id, material)
    assert _states(clients[PRIMARY], key_id)[second] == ("PENDING_ROTATION", "IMPORTED")

    # The primary's deletion takes the replicas' with it.
    assert clients[PRIMARY].delete_imported_key_material(KeyId=key_id, KeyMaterialId=second)["KeyMaterialId"] == second
    assert _states(clients[PRIMARY], key_id) == {first: ("CURRENT", "IMPORTED"),
                                                 second: ("PENDING_MULTI_REGION_IMPORT_AND_ROTATION", "PENDING_IMPORT")}
    for region in (EU, AP):
        assert _states(clients[region], key_id) == {first: ("CURRENT", "IMPORTED")}
        assert clients[region].describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
        # The replica no longer knows that material.
        assert expect_error(clients[region].delete_imported_key_material, KeyId=key_id,
                            KeyMaterialId=second) == "NotFoundException"
    assert expect_error(clients[PRIMARY].rotate_key_on_demand, KeyId=key_id) == "KMSInvalidStateException"

    # Other material takes its place, and the replicas take that.
    other = os.urandom(32)
    assert import_material(clients[PRIMARY], key_id, other,
                           ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"] == second
    assert expect_error(import_material, clients[EU], key_id, material) == "IncorrectKeyMaterialException"
    for region in (EU, AP):
        import_material(clients[region], key_id, other)
    clients[PRIMARY].rotate_key_on_demand(KeyId=key_id)
    blob = clients[AP].encrypt(KeyId=key_id, Plaintext=b"other")["CiphertextBlob"]
    for region in (PRIMARY, EU):
        assert clients[region].decrypt(CiphertextBlob=blob)["Plaintext"] == b"other"
