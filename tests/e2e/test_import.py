"""Imported key material (origin EXTERNAL): GetParametersForImport, ImportKeyMaterial with
every wrapping algorithm and wrapping key spec, DeleteImportedKeyMaterial and reimport —
wrapped by the OpenSSL command line exactly as AWS's documentation shows, and by Python
`cryptography`; material whose value we know is checked against local HMAC and signatures."""

import base64
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from conftest import make_kms

HASH = {"SHA_1": hashes.SHA1, "SHA_256": hashes.SHA256}


def wrap(public_der: bytes, algorithm: str, material: bytes) -> bytes:
    """EncryptedKeyMaterial as AWS's docs describe it, made with `cryptography`."""
    public = serialization.load_der_public_key(public_der)
    h = HASH["SHA_256" if algorithm.endswith("SHA_256") else "SHA_1"]
    oaep = padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep)
    aes_key = os.urandom(32)
    return public.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, material)


def params(kms, key_id, algorithm="RSA_AES_KEY_WRAP_SHA_256", spec="RSA_2048"):
    return kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)


def import_material(kms, key_id, material, algorithm="RSA_AES_KEY_WRAP_SHA_256", spec="RSA_2048", **extra):
    p = params(kms, key_id, algorithm, spec)
    return kms.import_key_material(KeyId=key_id, ImportToken=p["ImportToken"],
                                   EncryptedKeyMaterial=wrap(p["PublicKey"], algorithm, material), **extra)


def test_external_key_lifecycle_with_the_aws_cli_and_openssl(aws, kms, tmp_path, expect_error, sensitive):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl on this machine")
    meta = aws("kms", "create-key", "--origin", "EXTERNAL", "--description", "imported")["KeyMetadata"]
    key_id = meta["KeyId"]
    assert meta["Origin"] == "EXTERNAL" and meta["KeyState"] == "PendingImport" and meta["Enabled"] is False
    assert "ExpirationModel" not in meta
    assert expect_error(kms.encrypt, KeyId=key_id, Plaintext=b"x") == "KMSInvalidStateException"

    def openssl_import(material_path, expect_ok=True):
        p = aws("kms", "get-parameters-for-import", "--key-id", key_id,
                "--wrapping-algorithm", "RSA_AES_KEY_WRAP_SHA_256", "--wrapping-key-spec", "RSA_3072")
        (tmp_path / "WrappingPublicKey.der").write_bytes(base64.b64decode(p["PublicKey"]))
        (tmp_path / "ImportToken.bin").write_bytes(base64.b64decode(p["ImportToken"]))
        run = lambda *args: subprocess.run([openssl, *args], check=True, capture_output=True, cwd=tmp_path, timeout=60)
        run("rand", "-out", "aes-key.bin", "32")
        aes_hex = (tmp_path / "aes-key.bin").read_bytes().hex()
        run("enc", "-id-aes256-wrap-pad", "-K", aes_hex, "-iv", "A65959A6", "-in", str(material_path),
            "-out", "key-material-wrapped.bin")
        run("pkeyutl", "-encrypt", "-in", "aes-key.bin", "-out", "aes-key-wrapped.bin", "-inkey",
            "WrappingPublicKey.der", "-keyform", "DER", "-pubin", "-pkeyopt", "rsa_padding_mode:oaep",
            "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
        (tmp_path / "EncryptedKeyMaterial.bin").write_bytes(
            (tmp_path / "aes-key-wrapped.bin").read_bytes() + (tmp_path / "key-material-wrapped.bin").read_bytes())
        args = ("kms", "import-key-material", "--key-id", key_id,
                "--encrypted-key-material", f"fileb://{tmp_path / 'EncryptedKeyMaterial.bin'}",
                "--import-token", f"fileb://{tmp_path / 'ImportToken.bin'}",
                "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
        return aws(*args) if expect_ok else aws.error(*args)

    material = tmp_path / "PlaintextKeyMaterial.bin"
    material.write_bytes(os.urandom(32))
    out = openssl_import(material)
    assert out["KeyId"] == meta["Arn"] and len(out["KeyMaterialId"]) == 64
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeyState"] == "Enabled" and described["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    secret = b"under imported material"
    sensitive.add(secret)
    blob = kms.encrypt(KeyId=key_id, Plaintext=secret, EncryptionContext={"k": "v"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})["Plaintext"] == secret

    deleted = aws("kms", "delete-imported-key-material", "--key-id", key_id)
    assert deleted["KeyId"] == meta["Arn"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert expect_error(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"k": "v"}) == "KMSInvalidStateException"
    assert expect_error(kms.delete_imported_key_material, KeyId=key_id) == "KMSInvalidStateException"

    # Other material is refused; the same material brings the old ciphertexts back.
    other = tmp_path / "OtherKeyMaterial.bin"
    other.write_bytes(os.urandom(32))
    assert openssl_import(other, expect_ok=False) == "IncorrectKeyMaterialException"
    openssl_import(material)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})["Plaintext"] == secret
    assert expect_error(kms.enable_key_rotation, KeyId=key_id) == "UnsupportedOperationException"


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
                                       "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"])
def test_every_wrapping_algorithm_and_spec(algorithm, spec, kms):
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    p = params(kms, key_id, algorithm, spec)
    assert p["KeyId"].endswith(key_id)
    public = serialization.load_der_public_key(p["PublicKey"])
    assert public.key_size == int(spec.split("_")[1])
    assert p["ParametersValidTo"].timestamp() > time.time() + 23 * 3600
    material = os.urandom(32)
    kms.import_key_material(KeyId=key_id, ImportToken=p["ImportToken"],
                            EncryptedKeyMaterial=wrap(p["PublicKey"], algorithm, material))
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"ok")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"ok"


def test_imported_hmac_key_matches_python_hmac(kms):
    key_id = kms.create_key(Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    import_material(kms, key_id, material, algorithm="RSAES_OAEP_SHA_256")
    mac = kms.generate_mac(KeyId=key_id, Message=b"known key", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == hmac.new(material, b"known key", hashlib.sha256).digest()
    local = hmac.new(material, b"local mac", hashlib.sha256).digest()
    assert kms.verify_mac(KeyId=key_id, Message=b"local mac", Mac=local, MacAlgorithm="HMAC_SHA_256")["MacValid"]


def test_imported_signing_keys_are_the_local_ones(kms, expect_error):
    for spec, private in (("RSA_2048", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                          ("ECC_NIST_P256", ec.generate_private_key(ec.SECP256R1()))):
        key_id = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        # RSA-OAEP alone cannot carry a private key: AWS requires a key-wrap algorithm.
        code = expect_error(kms.get_parameters_for_import, KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                            WrappingKeySpec="RSA_2048")
        assert code == "ValidationException"
        import_material(kms, key_id, der)
        public = kms.get_public_key(KeyId=key_id)["PublicKey"]
        assert public == private.public_key().public_bytes(serialization.Encoding.DER,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        algorithm = "RSASSA_PKCS1_V1_5_SHA_256" if spec.startswith("RSA") else "ECDSA_SHA_256"
        sig = kms.sign(KeyId=key_id, Message=b"imported", SigningAlgorithm=algorithm)["Signature"]
        if spec.startswith("RSA"):
            private.public_key().verify(sig, b"imported", padding.PKCS1v15(), hashes.SHA256())
        else:
            private.public_key().verify(sig, b"imported", ec.ECDSA(hashes.SHA256()))
        wrong = ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        other = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        assert expect_error(import_material, kms, other, wrong) == "IncorrectKeyMaterialException"


def test_import_refuses_what_aws_refuses(kms, expect_error):
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    other_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    native = kms.create_key()["KeyMetadata"]["KeyId"]
    assert expect_error(params, kms, native) == "UnsupportedOperationException"
    assert expect_error(kms.delete_imported_key_material, KeyId=native) == "UnsupportedOperationException"
    assert expect_error(params, kms, key_id, "RSAES_PKCS1_V1_5") == "UnsupportedOperationException"
    p = params(kms, key_id)
    material = os.urandom(32)
    good = wrap(p["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", material)
    # A token made for another key, a damaged token, damaged or foreign material.
    assert expect_error(kms.import_key_material, KeyId=other_id, ImportToken=p["ImportToken"],
                        EncryptedKeyMaterial=good) == "InvalidImportTokenException"
    damaged = bytearray(p["ImportToken"])
    damaged[-1] ^= 1
    assert expect_error(kms.import_key_material, KeyId=key_id, ImportToken=bytes(damaged),
                        EncryptedKeyMaterial=good) == "InvalidImportTokenException"
    bad = bytearray(good)
    bad[-3] ^= 1
    assert expect_error(kms.import_key_material, KeyId=key_id, ImportToken=p["ImportToken"],
                        EncryptedKeyMaterial=bytes(bad)) == "InvalidCiphertextException"
    wrong_length = wrap(p["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", os.urandom(16))
    assert expect_error(kms.import_key_material, KeyId=key_id, ImportToken=p["ImportToken"],
                        EncryptedKeyMaterial=wrong_length) == "IncorrectKeyMaterialException"
    # Expiry rules.
    assert expect_error(kms.import_key_material, KeyId=key_id, ImportToken=p["ImportToken"],
                        EncryptedKeyMaterial=good, ExpirationModel="KEY_MATERIAL_EXPIRES") == "ValidationException"
    assert expect_error(kms.import_key_material, KeyId=key_id, ImportToken=p["ImportToken"],
                        EncryptedKeyMaterial=good, ValidTo=time.time() + 60) == "ValidationException"
    assert expect_error(kms.import_key_material, KeyId=key_id, ImportToken=p["ImportToken"],
                        EncryptedKeyMaterial=good, ValidTo=time.time() + 3600,
                        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == "ValidationException"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    valid_to = int(time.time()) + 7 * 86400
    kms.import_key_material(KeyId=key_id, ImportToken=p["ImportToken"], EncryptedKeyMaterial=good,
                            ValidTo=valid_to, ExpirationModel="KEY_MATERIAL_EXPIRES")
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and int(meta["ValidTo"].timestamp()) == valid_to
    # Reimporting the same material changes only the expiry.
    import_material(kms, key_id, material)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in meta


def test_imported_material_survives_restart(fresh_server):
    kms = make_kms(fresh_server)
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    waiting = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    p = params(kms, waiting)
    import_material(kms, key_id, material)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    fresh_server.restart()
    kms = make_kms(fresh_server)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    # Import parameters outlive a restart: the token carries its own wrapping key.
    kms.import_key_material(KeyId=waiting, ImportToken=p["ImportToken"],
                            EncryptedKeyMaterial=wrap(p["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", os.urandom(32)))
    assert kms.describe_key(KeyId=waiting)["KeyMetadata"]["KeyState"] == "Enabled"


def test_on_demand_rotation_into_new_imported_material(kms, expect_error, sensitive):
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    m1, m2, m3 = os.urandom(32), os.urandom(32), os.urandom(32)
    first = import_material(kms, key_id, m1)
    old = kms.encrypt(KeyId=key_id, Plaintext=b"first material")["CiphertextBlob"]
    # Nothing to rotate to yet; automatic rotation never applies to imported material.
    assert expect_error(kms.rotate_key_on_demand, KeyId=key_id) == "KMSInvalidStateException"
    assert expect_error(kms.enable_key_rotation, KeyId=key_id) == "UnsupportedOperationException"

    pending = import_material(kms, key_id, m2, ImportType="NEW_KEY_MATERIAL")
    assert pending["KeyMaterialId"] != first["KeyMaterialId"]
    listed = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(e["KeyMaterialId"], e["KeyMaterialState"], e["ImportState"]) for e in listed] == [
        (first["KeyMaterialId"], "CURRENT", "IMPORTED"),
        (pending["KeyMaterialId"], "PENDING_ROTATION", "IMPORTED"),
    ]
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    # Pending material is not used until the rotation.
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["CurrentKeyMaterialId"] == first["KeyMaterialId"]
    assert expect_error(import_material, kms, key_id, m2, ImportType="NEW_KEY_MATERIAL") == "IncorrectKeyMaterialException"
    assert expect_error(import_material, kms, key_id, m3, ImportType="NEW_KEY_MATERIAL") == "KMSInvalidStateException"

    kms.rotate_key_on_demand(KeyId=key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["CurrentKeyMaterialId"] == pending["KeyMaterialId"]
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]
    assert rotations[0]["KeyMaterialState"] == "CURRENT" and rotations[0]["ImportState"] == "IMPORTED"
    new = kms.encrypt(KeyId=key_id, Plaintext=b"second material")
    assert new["KeyId"] == meta["Arn"]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"first material"
    assert kms.decrypt(CiphertextBlob=new["CiphertextBlob"])["Plaintext"] == b"second material"

    # Deleted without KeyMaterialId, the current version goes, and only it: the key waits
    # for it (every version permanently associated with a key must be imported to use it).
    deleted = kms.delete_imported_key_material(KeyId=key_id)
    assert deleted["KeyMaterialId"] == pending["KeyMaterialId"]
    listed = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(e["KeyMaterialState"], e["ImportState"]) for e in listed] == [
        ("NON_CURRENT", "IMPORTED"), ("CURRENT", "PENDING_IMPORT")]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert expect_error(kms.decrypt, CiphertextBlob=old) == "KMSInvalidStateException"
    assert expect_error(import_material, kms, key_id, m3) == "IncorrectKeyMaterialException"
    import_material(kms, key_id, m2)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=new["CiphertextBlob"])["Plaintext"] == b"second material"
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"first material"

    hmac_key = kms.create_key(Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    import_material(kms, hmac_key, os.urandom(32), algorithm="RSAES_OAEP_SHA_256")
    assert expect_error(import_material, kms, hmac_key, os.urandom(32), algorithm="RSAES_OAEP_SHA_256",
                        ImportType="NEW_KEY_MATERIAL") == "UnsupportedOperationException"


def material_ids(kms, key_id):
    """KeyMaterialId → (KeyMaterialState, ImportState, ExpirationModel, ValidTo) of every version."""
    listed = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    return {e["KeyMaterialId"]: (e["KeyMaterialState"], e["ImportState"], e.get("ExpirationModel"),
                                 int(e["ValidTo"].timestamp()) if "ValidTo" in e else None) for e in listed}


def rotated_key(kms, m1, m2):
    """A symmetric key with imported material m1 (version 1), rotated on demand into m2."""
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    first = import_material(kms, key_id, m1)["KeyMaterialId"]
    second = import_material(kms, key_id, m2, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    return key_id, first, second


def test_each_material_version_has_its_own_expiry(kms):
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    m1, m2 = os.urandom(32), os.urandom(32)
    later, sooner = int(time.time()) + 30 * 86400, int(time.time()) + 10 * 86400
    first = import_material(kms, key_id, m1, ValidTo=later, ExpirationModel="KEY_MATERIAL_EXPIRES")["KeyMaterialId"]
    second = import_material(kms, key_id, m2, ImportType="NEW_KEY_MATERIAL", ValidTo=sooner,
                             ExpirationModel="KEY_MATERIAL_EXPIRES")["KeyMaterialId"]
    assert material_ids(kms, key_id) == {
        first: ("CURRENT", "IMPORTED", "KEY_MATERIAL_EXPIRES", later),
        second: ("PENDING_ROTATION", "IMPORTED", "KEY_MATERIAL_EXPIRES", sooner),
    }
    # DescribeKey: the earliest expiry of the material permanently associated with the key,
    # which material pending rotation is not yet.
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and int(meta["ValidTo"].timestamp()) == later
    kms.rotate_key_on_demand(KeyId=key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert int(meta["ValidTo"].timestamp()) == sooner
    assert material_ids(kms, key_id) == {
        first: ("NON_CURRENT", "IMPORTED", "KEY_MATERIAL_EXPIRES", later),
        second: ("CURRENT", "IMPORTED", "KEY_MATERIAL_EXPIRES", sooner),
    }
    # Reimporting a version changes its expiry only; KeyMaterialId names the version.
    import_material(kms, key_id, m1, KeyMaterialId=first, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert material_ids(kms, key_id) == {
        first: ("NON_CURRENT", "IMPORTED", "KEY_MATERIAL_DOES_NOT_EXPIRE", None),
        second: ("CURRENT", "IMPORTED", "KEY_MATERIAL_EXPIRES", sooner),
    }
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and int(meta["ValidTo"].timestamp()) == sooner
    import_material(kms, key_id, m2)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in meta
    assert {v[2] for v in material_ids(kms, key_id).values()} == {"KEY_MATERIAL_DOES_NOT_EXPIRE"}


def test_delete_imported_key_material_by_key_material_id(kms, expect_error, sensitive):
    m1, m2 = os.urandom(32), os.urandom(32)
    sensitive.add(b"under the first")
    sensitive.add(b"under the second")
    # A ciphertext of each version.
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    first = import_material(kms, key_id, m1)["KeyMaterialId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"under the first")["CiphertextBlob"]
    second = import_material(kms, key_id, m2, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    new = kms.encrypt(KeyId=key_id, Plaintext=b"under the second")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=old)["KeyMaterialId"] == first
    # Another key's material ids differ, even for the same material.
    other_first = rotated_key(kms, m1, m2)[1]
    assert other_first != first

    # The old version only: its row goes, the current one stays. AWS: deleting any key
    # material permanently associated with the key (not only the current one) makes it
    # PendingImport until that material is imported again.
    deleted = kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=first)
    assert deleted["KeyMaterialId"] == first and deleted["KeyId"].endswith(key_id)
    assert material_ids(kms, key_id) == {
        first: ("NON_CURRENT", "PENDING_IMPORT", None, None),
        second: ("CURRENT", "IMPORTED", "KEY_MATERIAL_DOES_NOT_EXPIRE", None),
    }
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport" and meta["CurrentKeyMaterialId"] == second
    assert expect_error(kms.decrypt, CiphertextBlob=old) == "KMSInvalidStateException"
    assert expect_error(kms.decrypt, CiphertextBlob=new) == "KMSInvalidStateException"
    assert expect_error(kms.encrypt, KeyId=key_id, Plaintext=b"x") == "KMSInvalidStateException"
    # Deleted already; not this key's; not a key material id at all.
    assert expect_error(kms.delete_imported_key_material, KeyId=key_id, KeyMaterialId=first) == \
        "KMSInvalidStateException"
    assert expect_error(kms.delete_imported_key_material, KeyId=key_id, KeyMaterialId=other_first) == \
        "NotFoundException"
    assert expect_error(kms.delete_imported_key_material, KeyId=key_id, KeyMaterialId="ab" * 32) == \
        "NotFoundException"
    assert expect_error(kms.delete_imported_key_material, KeyId=key_id, KeyMaterialId="z" * 64) == \
        "ValidationException"
    # New material waits until the key has all of its own again.
    assert expect_error(import_material, kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL") == \
        "KMSInvalidStateException"

    # Reimport: KeyMaterialId must name the material imported, and NEW_KEY_MATERIAL takes none.
    assert expect_error(import_material, kms, key_id, m1, KeyMaterialId=second) == "IncorrectKeyMaterialException"
    assert expect_error(import_material, kms, key_id, m1, KeyMaterialId="ab" * 32) == \
        "IncorrectKeyMaterialException"
    assert expect_error(import_material, kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL",
                        KeyMaterialId=first) == "ValidationException"
    restored = import_material(kms, key_id, m1, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=first)
    assert restored["KeyMaterialId"] == first
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"under the first"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"under the second"

    # Without KeyMaterialId, the current version goes; the old one stays imported.
    deleted = kms.delete_imported_key_material(KeyId=key_id)
    assert deleted["KeyMaterialId"] == second
    assert material_ids(kms, key_id) == {
        first: ("NON_CURRENT", "IMPORTED", "KEY_MATERIAL_DOES_NOT_EXPIRE", None),
        second: ("CURRENT", "PENDING_IMPORT", None, None),
    }
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert expect_error(kms.delete_imported_key_material, KeyId=key_id) == "KMSInvalidStateException"
    # The old version can go too while the key waits; both come back.
    assert kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=first)["KeyMaterialId"] == first
    import_material(kms, key_id, m2)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    import_material(kms, key_id, m1)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"under the first"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"under the second"


def test_deleting_material_pending_rotation_keeps_the_key_usable(kms, expect_error):
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    m1, m2, m3 = os.urandom(32), os.urandom(32), os.urandom(32)
    first = import_material(kms, key_id, m1)["KeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    pending = import_material(kms, key_id, m2, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=pending)["KeyMaterialId"] == pending
    # Material pending rotation is not permanently the key's: the key stays usable.
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    assert material_ids(kms, key_id) == {
        first: ("CURRENT", "IMPORTED", "KEY_MATERIAL_DOES_NOT_EXPIRE", None),
        pending: ("PENDING_ROTATION", "PENDING_IMPORT", None, None),
    }
    assert expect_error(kms.rotate_key_on_demand, KeyId=key_id) == "KMSInvalidStateException"
    # The same material comes back...
    import_material(kms, key_id, m2, KeyMaterialId=pending)
    assert material_ids(kms, key_id)[pending][:2] == ("PENDING_ROTATION", "IMPORTED")
    # ...or, deleted again, other new material takes its place.
    kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=pending)
    replaced = import_material(kms, key_id, m3, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert [v[:2] for v in material_ids(kms, key_id).values()] == [
        ("CURRENT", "IMPORTED"), ("PENDING_ROTATION", "IMPORTED")]
    kms.rotate_key_on_demand(KeyId=key_id)
    new = kms.encrypt(KeyId=key_id, Plaintext=b"third")["CiphertextBlob"]
    opened = kms.decrypt(CiphertextBlob=new)
    assert opened["Plaintext"] == b"third" and opened["KeyMaterialId"] == replaced
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    # m2 was never permanently associated: it is no version of this key any more.
    assert expect_error(import_material, kms, key_id, m2) == "IncorrectKeyMaterialException"


@pytest.mark.sqlite_file
def test_a_non_current_version_expires_alone(keyward, expect_error):
    """The background job expires each version at its own ValidTo. ValidTo is at least ten
    minutes ahead, so the test moves version 1's expiry into the past in the stopped
    server's database and lets a job pass (every second) act on it."""
    srv = keyward(env={"KEYWARD_JOB_INTERVAL_SECONDS": "1"}, name="material_expiry")
    kms = make_kms(srv)
    m1, m2 = os.urandom(32), os.urandom(32)
    valid_to = int(time.time()) + 30 * 86400
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    first = import_material(kms, key_id, m1, ValidTo=valid_to, ExpirationModel="KEY_MATERIAL_EXPIRES")["KeyMaterialId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"one")["CiphertextBlob"]
    second = import_material(kms, key_id, m2, ImportType="NEW_KEY_MATERIAL", ValidTo=valid_to + 86400,
                             ExpirationModel="KEY_MATERIAL_EXPIRES")["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    new = kms.encrypt(KeyId=key_id, Plaintext=b"two")["CiphertextBlob"]

    assert srv.stop() == 0
    past = int(time.time() * 1000) - 1000
    db = sqlite3.connect(str(srv.data_dir / "keyward.db"), timeout=10)
    try:
        (doc,) = db.execute("SELECT doc FROM keys WHERE id = ?", (key_id,)).fetchone()
        record = json.loads(doc)
        assert record["material_valid_to"] == {"1": valid_to * 1000, "2": (valid_to + 86400) * 1000}
        record["material_valid_to"]["1"] = past
        db.execute("UPDATE keys SET doc = ?, due_at = ? WHERE id = ?", (json.dumps(record), past, key_id))
        db.commit()
    finally:
        db.close()
    srv.start()
    kms = make_kms(srv)

    deadline = time.monotonic() + 30
    while material_ids(kms, key_id)[first][1] != "PENDING_IMPORT":
        assert time.monotonic() < deadline, "the expiry job did not delete version 1"
        time.sleep(0.2)
    assert material_ids(kms, key_id) == {
        first: ("NON_CURRENT", "PENDING_IMPORT", None, None),
        second: ("CURRENT", "IMPORTED", "KEY_MATERIAL_EXPIRES", valid_to + 86400),
    }
    # The key waits for version 1 (as after DeleteImportedKeyMaterial); version 2 is kept.
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport" and int(meta["ValidTo"].timestamp()) == valid_to + 86400
    assert expect_error(kms.decrypt, CiphertextBlob=new) == "KMSInvalidStateException"
    import_material(kms, key_id, m1, KeyMaterialId=first)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"one"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"two"
    assert srv.log_text().count("deleted expired imported key material") == 1


def test_a_version_deleted_while_pending_deletion_is_missed_after_cancel(kms, expect_error):
    m1, m2 = os.urandom(32), os.urandom(32)
    key_id, first, second = rotated_key(kms, m1, m2)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=first)["KeyMaterialId"] == first
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    # Cancelled, the key still lacks version 1: it waits for it, not Disabled.
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert expect_error(kms.enable_key, KeyId=key_id) == "KMSInvalidStateException"
    import_material(kms, key_id, m1, KeyMaterialId=first)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert material_ids(kms, key_id)[second][:2] == ("CURRENT", "IMPORTED")
