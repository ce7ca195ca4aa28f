"""Encrypt, Decrypt, ReEncrypt, data keys, random bytes, rotation."""

import base64
import os
import time
import uuid

import pytest

ACCOUNT = "000000000000"


def arn_of(key_id):
    return f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"


@pytest.fixture
def key_with_alias(kms):
    meta = kms.create_key(Description="crypto e2e")["KeyMetadata"]
    alias = f"alias/e2e-crypto-{meta['KeyId'][:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return meta, alias


def test_encrypt_response(kms, key_with_alias, sensitive):
    meta, alias = key_with_alias
    sensitive.add(b"encrypt-response plaintext")
    for ident in (meta["KeyId"], meta["Arn"], alias, f"arn:aws:kms:us-east-1:{ACCOUNT}:{alias}"):
        out = kms.encrypt(KeyId=ident, Plaintext=b"encrypt-response plaintext")
        assert out["KeyId"] == meta["Arn"]
        assert out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        assert b"encrypt-response plaintext" not in out["CiphertextBlob"]
    a = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"encrypt-response plaintext")["CiphertextBlob"]
    b = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"encrypt-response plaintext")["CiphertextBlob"]
    assert a != b  # fresh salt and nonce every time


def test_decrypt_with_and_without_key_id(kms, key_with_alias, sensitive):
    meta, alias = key_with_alias
    sensitive.add(b"decrypt-variants plaintext")
    ctx = {"purpose": "e2e", "tenant": "acme"}
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"decrypt-variants plaintext",
                       EncryptionContext=ctx)["CiphertextBlob"]
    for extra in ({}, {"KeyId": meta["KeyId"]}, {"KeyId": meta["Arn"]}, {"KeyId": alias},
                  {"KeyId": f"arn:aws:kms:us-east-1:{ACCOUNT}:{alias}"}):
        out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, **extra)
        assert out["Plaintext"] == b"decrypt-variants plaintext", extra
        assert out["KeyId"] == meta["Arn"]
        assert out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    # The context is order-independent, but every pair must match.
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(ctx.items())))["Plaintext"]


@pytest.mark.parametrize("ctx", [None, {"purpose": "e2e"}, {"purpose": "e2e", "tenant": "other"},
                                 {"purpose": "e2e", "tenant": "acme", "extra": "x"}])
def test_wrong_encryption_context(kms, key_with_alias, expect_error, ctx):
    meta, _ = key_with_alias
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"ctx",
                       EncryptionContext={"purpose": "e2e", "tenant": "acme"})["CiphertextBlob"]
    kwargs = {"EncryptionContext": ctx} if ctx is not None else {}
    assert expect_error(kms.decrypt, CiphertextBlob=blob, **kwargs) == "InvalidCiphertextException"


def test_decrypt_with_another_keys_id_is_incorrect_key(kms, expect_error):
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"mine")["CiphertextBlob"]
    assert expect_error(kms.decrypt, CiphertextBlob=blob, KeyId=b["KeyId"]) == "IncorrectKeyException"
    assert expect_error(kms.decrypt, CiphertextBlob=blob, KeyId=b["Arn"]) == "IncorrectKeyException"


def test_every_flipped_byte_is_invalid_ciphertext(kms, expect_error):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"flip me", EncryptionContext={"a": "b"})["CiphertextBlob"]
    failures = {}
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01 if i % 2 else 0x80
        code = expect_error(kms.decrypt, CiphertextBlob=bytes(tampered), EncryptionContext={"a": "b"})
        if code != "InvalidCiphertextException":
            failures[i] = code
    assert not failures, f"byte offsets whose flip gave another error: {failures}"
    truncated = expect_error(kms.decrypt, CiphertextBlob=blob[:-1], EncryptionContext={"a": "b"})
    assert truncated == "InvalidCiphertextException"
    extended = expect_error(kms.decrypt, CiphertextBlob=blob + b"\x00", EncryptionContext={"a": "b"})
    assert extended == "InvalidCiphertextException"


@pytest.mark.parametrize("size", [1, 16, 89, 200])
def test_random_bytes_are_invalid_ciphertext(kms, expect_error, size):
    assert expect_error(kms.decrypt, CiphertextBlob=os.urandom(size)) == "InvalidCiphertextException"


def test_generate_data_key(aws, kms, sensitive):
    key = kms.create_key()["KeyMetadata"]
    for params, length in (({"KeySpec": "AES_256"}, 32), ({"KeySpec": "AES_128"}, 16), ({"NumberOfBytes": 64}, 64)):
        out = kms.generate_data_key(KeyId=key["KeyId"], EncryptionContext={"use": "dek"}, **params)
        sensitive.add(out["Plaintext"], "data key")
        assert len(out["Plaintext"]) == length
        assert out["KeyId"] == key["Arn"]
        back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"use": "dek"})
        assert back["Plaintext"] == out["Plaintext"]

    cli = aws("kms", "generate-data-key", "--key-id", key["KeyId"], "--key-spec", "AES_256")
    dek = base64.b64decode(cli["Plaintext"])
    sensitive.add(dek, "data key")
    assert len(dek) == 32
    assert kms.decrypt(CiphertextBlob=base64.b64decode(cli["CiphertextBlob"]))["Plaintext"] == dek


def test_generate_data_key_needs_exactly_one_size(kms_for, server, expect_error):
    kms = kms_for(server, validate=False)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert expect_error(kms.generate_data_key, KeyId=key_id, KeySpec="AES_256",
                        NumberOfBytes=32) == "ValidationException"


def test_generate_data_key_without_plaintext(aws, kms):
    key = kms.create_key()["KeyMetadata"]
    out = aws("kms", "generate-data-key-without-plaintext", "--key-id", key["KeyId"], "--key-spec", "AES_256")
    assert "Plaintext" not in out
    assert out["KeyId"] == key["Arn"]
    dek = kms.decrypt(CiphertextBlob=base64.b64decode(out["CiphertextBlob"]))["Plaintext"]
    assert len(dek) == 32
    out = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=48)
    assert len(kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"]) == 48


def test_generate_random(aws, kms):
    out = aws("kms", "generate-random", "--number-of-bytes", "32")
    assert len(base64.b64decode(out["Plaintext"])) == 32
    a = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    b = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    assert len(a) == 32 and a != b
    assert len(kms.generate_random(NumberOfBytes=1024)["Plaintext"]) == 1024


def test_re_encrypt(kms, expect_error, sensitive):
    sensitive.add(b"re-encrypt plaintext")
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"re-encrypt plaintext",
                       EncryptionContext={"side": "a"})["CiphertextBlob"]
    out = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"side": "a"},
        DestinationKeyId=b["KeyId"],
        DestinationEncryptionContext={"side": "b"},
    )
    assert out["SourceKeyId"] == a["Arn"]
    assert out["KeyId"] == b["Arn"]
    assert out["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert out["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    new_blob = out["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new_blob, EncryptionContext={"side": "b"})["Plaintext"] == b"re-encrypt plaintext"
    assert kms.decrypt(CiphertextBlob=new_blob, KeyId=b["KeyId"],
                       EncryptionContext={"side": "b"})["KeyId"] == b["Arn"]
    assert expect_error(kms.decrypt, CiphertextBlob=new_blob,
                        EncryptionContext={"side": "a"}) == "InvalidCiphertextException"
    assert expect_error(kms.decrypt, CiphertextBlob=new_blob, KeyId=a["KeyId"],
                        EncryptionContext={"side": "b"}) == "IncorrectKeyException"
    # The wrong source context fails as Decrypt would.
    assert expect_error(kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=b["KeyId"],
                        SourceEncryptionContext={"side": "x"}) == "InvalidCiphertextException"
    # A source key id that does not match the blob.
    assert expect_error(kms.re_encrypt, CiphertextBlob=blob, SourceKeyId=b["KeyId"], DestinationKeyId=b["KeyId"],
                        SourceEncryptionContext={"side": "a"}) == "IncorrectKeyException"


def test_rotation(aws, kms, expect_error, sensitive):
    sensitive.add(b"before rotation")
    sensitive.add(b"after rotation")
    key = kms.create_key(Description="rotate me")["KeyMetadata"]
    key_id = key["KeyId"]
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"before rotation")["CiphertextBlob"]

    status = aws("kms", "get-key-rotation-status", "--key-id", key_id)
    assert status["KeyRotationEnabled"] is False

    assert aws("kms", "enable-key-rotation", "--key-id", key_id, "--rotation-period-in-days", "90") is None
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 90
    assert "NextRotationDate" in status
    assert status["KeyId"] in (key_id, key["Arn"])

    out = aws("kms", "rotate-key-on-demand", "--key-id", key_id)
    assert out["KeyId"] in (key_id, key["Arn"])

    # AWS rotates on demand asynchronously; give the server a bounded moment.
    deadline = time.monotonic() + 20
    while True:
        rotations = aws("kms", "list-key-rotations", "--key-id", key_id)["Rotations"]
        if rotations or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(rotations) == 1, rotations
    assert rotations[0]["KeyId"] in (key_id, key["Arn"])
    assert rotations[0]["RotationType"] == "ON_DEMAND"
    assert rotations[0]["RotationDate"]
    assert rotations[0]["KeyMaterialState"] == "CURRENT" and "ImportState" not in rotations[0]
    every = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [e["KeyMaterialState"] for e in every] == ["NON_CURRENT", "CURRENT"]
    assert "RotationDate" not in every[0] and every[1]["RotationType"] == "ON_DEMAND"

    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"before rotation"
    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"after rotation")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"after rotation"

    # A second rotation: every ciphertext ever made still decrypts.
    kms.rotate_key_on_demand(KeyId=key_id)
    deadline = time.monotonic() + 20
    while len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 2
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"before rotation"
    assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"after rotation"

    assert aws("kms", "disable-key-rotation", "--key-id", key_id) is None
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


@pytest.mark.parametrize("days", [89, 2561])
def test_rotation_period_out_of_range(kms_for, server, expect_error, days):
    kms = kms_for(server, validate=False)  # botocore would refuse 89 itself
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert expect_error(kms.enable_key_rotation, KeyId=key_id, RotationPeriodInDays=days) == "ValidationException"
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_rotation_of_disabled_key(kms, expect_error):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    assert expect_error(kms.enable_key_rotation, KeyId=key_id) == "DisabledException"
    assert expect_error(kms.rotate_key_on_demand, KeyId=key_id) == "DisabledException"


def test_plaintext_limits(kms_for, server, expect_error, sensitive):
    kms = kms_for(server, validate=False)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    big = b"k" * 4096
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=big)["CiphertextBlob"])["Plaintext"] == big
    assert expect_error(kms.encrypt, KeyId=key_id, Plaintext=b"k" * 4097) == "ValidationException"
    assert expect_error(kms.generate_random, NumberOfBytes=1025) == "ValidationException"
    assert expect_error(kms.generate_data_key, KeyId=key_id, NumberOfBytes=1025) == "ValidationException"


def test_ciphertext_blob_layout(kms):
    """DESIGN.md: version(1) | key id(16) | material version(4) | salt(32) | nonce(12) | ciphertext | tag(16)."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for plaintext in (b"a", b"layout" * 100):
        blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
        assert len(blob) == 1 + 16 + 4 + 32 + 12 + len(plaintext) + 16
        assert blob[1:17] == uuid.UUID(key_id).bytes
