"""Asymmetric, HMAC and key-agreement keys: CreateKey rules, Sign/Verify, GetPublicKey,
RSAES-OAEP, GenerateMac/VerifyMac, DeriveSharedSecret and data key pairs — each checked
against Python `cryptography` (and the OpenSSL command line) with the public key KMS hands out."""

import base64
import hashlib
import json
import shutil
import subprocess

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from conftest import make_kms, unique
from test_audit import attr, lookup_all, make_cloudtrail

# spec -> the signing algorithms KMS lists for a SIGN_VERIFY key of that spec
SIGNING = {
    "RSA_2048": ["RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
                 "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"],
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
    "ECC_NIST_EDWARDS25519": ["ED25519_SHA_512", "ED25519_PH_SHA_512"],
    "ML_DSA_44": ["ML_DSA_SHAKE_256"],
}

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def hash_of(algorithm: str):
    return HASHES[algorithm.rsplit("_", 1)[1]]()


def digest(algorithm: str, message: bytes) -> bytes:
    h = hashes.Hash(hash_of(algorithm))
    h.update(message)
    return h.finalize()


def local_verify(public_der: bytes, algorithm: str, message: bytes, signature: bytes, prehashed: bool = False):
    """Verifies with `cryptography`; raises InvalidSignature when the signature is wrong."""
    key = serialization.load_der_public_key(public_der)
    if algorithm.startswith("ED25519"):
        assert isinstance(key, ed25519.Ed25519PublicKey)
        key.verify(signature, message)
        return
    h = hash_of(algorithm)
    chosen = utils.Prehashed(h) if prehashed else h
    if algorithm.startswith("ECDSA"):
        key.verify(signature, message, ec.ECDSA(chosen))
    elif algorithm.startswith("RSASSA_PSS"):
        key.verify(signature, message, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), chosen)
    else:
        key.verify(signature, message, padding.PKCS1v15(), chosen)


@pytest.fixture(scope="module")
def signing_keys(kms):
    """One SIGN_VERIFY key per spec under test, with its public key."""
    keys = {}
    for spec in SIGNING:
        meta = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY", Description=f"e2e {spec}")["KeyMetadata"]
        public = kms.get_public_key(KeyId=meta["KeyId"])
        keys[spec] = (meta, public)
    return keys


def test_describe_key_lists_what_each_spec_offers(signing_keys, kms):
    for spec, (meta, public) in signing_keys.items():
        assert meta["KeySpec"] == spec
        # the deprecated CustomerMasterKeySpec enum has no Ed25519 or ML-DSA value
        assert meta.get("CustomerMasterKeySpec", spec) == spec
        assert meta["KeyUsage"] == "SIGN_VERIFY"
        assert meta["SigningAlgorithms"] == SIGNING[spec], spec
        assert "EncryptionAlgorithms" not in meta and "MacAlgorithms" not in meta
        assert public["SigningAlgorithms"] == SIGNING[spec]
        assert public["KeySpec"] == spec and public["KeyUsage"] == "SIGN_VERIFY"
        assert public["KeyId"] == meta["Arn"]
    rsa_enc = kms.create_key(KeySpec="RSA_3072", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert rsa_enc["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    assert "SigningAlgorithms" not in rsa_enc
    hmac_key = kms.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    assert hmac_key["MacAlgorithms"] == ["HMAC_SHA_384"]
    agree = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    assert agree["KeyAgreementAlgorithms"] == ["ECDH"]
    symmetric = kms.create_key()["KeyMetadata"]
    assert symmetric["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]


def test_create_key_allows_only_aws_combinations(kms, expect_error):
    bad = [("SYMMETRIC_DEFAULT", "SIGN_VERIFY"), ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
           ("ECC_SECG_P256K1", "KEY_AGREEMENT"), ("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT"),
           ("HMAC_256", "SIGN_VERIFY"), ("ML_DSA_65", "ENCRYPT_DECRYPT"), ("RSA_2048", "KEY_AGREEMENT"),
           ("RSA_2048", "GENERATE_VERIFY_MAC")]
    for spec, usage in bad:
        assert expect_error(kms.create_key, KeySpec=spec, KeyUsage=usage) == "ValidationException", (spec, usage)
    # KeyUsage may be left out only for a symmetric encryption key.
    for spec in ("ECC_NIST_P256", "HMAC_256", "RSA_2048"):
        assert expect_error(kms.create_key, KeySpec=spec) == "ValidationException", spec
    assert kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert expect_error(kms.create_key, KeySpec="SM2", KeyUsage="SIGN_VERIFY") == "UnsupportedOperationException"


@pytest.mark.parametrize("spec", [s for s in SIGNING if s != "ML_DSA_44"])
def test_signatures_verify_with_cryptography_raw_and_digest(spec, signing_keys, kms, expect_error):
    meta, public = signing_keys[spec]
    message = f"message for {spec}".encode()
    for algorithm in SIGNING[spec]:
        if algorithm == "ED25519_PH_SHA_512":
            continue  # takes only DIGEST: test_ed25519ph_verifies_with_rfc8032
        out = kms.sign(KeyId=meta["KeyId"], Message=message, SigningAlgorithm=algorithm)
        assert out["KeyId"] == meta["Arn"] and out["SigningAlgorithm"] == algorithm
        local_verify(public["PublicKey"], algorithm, message, out["Signature"])
        with pytest.raises(InvalidSignature):
            local_verify(public["PublicKey"], algorithm, message + b"!", out["Signature"])
        assert kms.verify(KeyId=meta["KeyId"], Message=message, Signature=out["Signature"],
                          SigningAlgorithm=algorithm)["SignatureValid"] is True
        assert expect_error(kms.verify, KeyId=meta["KeyId"], Message=message + b"!", Signature=out["Signature"],
                            SigningAlgorithm=algorithm) == "KMSInvalidSignatureException"
        if algorithm.startswith("ED25519"):
            assert expect_error(kms.sign, KeyId=meta["KeyId"], Message=hashlib.sha512(message).digest(),
                                MessageType="DIGEST", SigningAlgorithm=algorithm) == "ValidationException"
            continue
        # A signature over a digest is the signature over the message it digests.
        d = digest(algorithm, message)
        by_digest = kms.sign(KeyId=meta["KeyId"], Message=d, MessageType="DIGEST", SigningAlgorithm=algorithm)
        local_verify(public["PublicKey"], algorithm, message, by_digest["Signature"])
        local_verify(public["PublicKey"], algorithm, d, by_digest["Signature"], prehashed=True)
        assert kms.verify(KeyId=meta["KeyId"], Message=message, Signature=by_digest["Signature"],
                          SigningAlgorithm=algorithm)["SignatureValid"] is True
        assert kms.verify(KeyId=meta["KeyId"], Message=d, MessageType="DIGEST", Signature=out["Signature"],
                          SigningAlgorithm=algorithm)["SignatureValid"] is True
        assert expect_error(kms.sign, KeyId=meta["KeyId"], Message=d[:-1], MessageType="DIGEST",
                            SigningAlgorithm=algorithm) == "ValidationException"


# RFC 8032's reference arithmetic (section 6), enough to verify Ed25519ph signatures, which
# neither `cryptography` nor this machine's OpenSSL 3.0 offer.
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 % _P == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(scalar, point):
    acc = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            acc = _add(acc, point)
        point = _add(point, point)
        scalar >>= 1
    return acc


def _decompress(encoded):
    value = int.from_bytes(encoded, "little")
    y, sign = value & ((1 << 255) - 1), value >> 255
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_BASE_Y = 4 * pow(5, _P - 2, _P) % _P
_BASE = _decompress(_BASE_Y.to_bytes(32, "little"))


def ed25519ph_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 Ed25519ph (phflag 1, empty context) verification."""
    a, r = _decompress(public), _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L or len(signature) != 64:
        return False
    dom2 = b"SigEd25519 no Ed25519 collisions" + bytes([1, 0])
    k = int.from_bytes(hashlib.sha512(dom2 + signature[:32] + public + hashlib.sha512(message).digest()).digest(),
                       "little") % _L
    left, right = _mul(s, _BASE), _add(r, _mul(k, a))
    return (left[0] * right[2] - right[0] * left[2]) % _P == 0 and (left[1] * right[2] - right[1] * left[2]) % _P == 0


def test_ed25519ph_verifier_knows_rfc8032():
    """The verifier above accepts RFC 8032's Ed25519ph test vector and nothing else."""
    public = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
    signature = bytes.fromhex("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
                              "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406")
    assert ed25519ph_verify(public, b"abc", signature)
    assert not ed25519ph_verify(public, b"abd", signature)
    assert not ed25519ph_verify(public, b"abc", signature[:63] + bytes([signature[63] ^ 1]))


def test_ed25519ph_verifies_with_rfc8032(signing_keys, kms, expect_error):
    meta, public = signing_keys["ECC_NIST_EDWARDS25519"]
    raw_public = public["PublicKey"][-32:]
    message = b"prehashed by the caller"
    d = hashlib.sha512(message).digest()
    out = kms.sign(KeyId=meta["KeyId"], Message=d, MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512")
    assert out["SigningAlgorithm"] == "ED25519_PH_SHA_512" and len(out["Signature"]) == 64
    # KMS applies Ed25519ph's SHA-512 prehash to the digest it was given: the signed
    # message is the digest itself (AWS's documented "hashed twice").
    assert ed25519ph_verify(raw_public, d, out["Signature"])
    assert not ed25519ph_verify(raw_public, message, out["Signature"])
    with pytest.raises(InvalidSignature):  # and it is not a pure Ed25519 signature
        serialization.load_der_public_key(public["PublicKey"]).verify(out["Signature"], d)
    assert kms.verify(KeyId=meta["KeyId"], Message=d, MessageType="DIGEST", Signature=out["Signature"],
                      SigningAlgorithm="ED25519_PH_SHA_512")["SignatureValid"] is True
    other = hashlib.sha512(message + b"!").digest()
    assert expect_error(kms.verify, KeyId=meta["KeyId"], Message=other, MessageType="DIGEST",
                        Signature=out["Signature"], SigningAlgorithm="ED25519_PH_SHA_512") == "KMSInvalidSignatureException"
    assert expect_error(kms.sign, KeyId=meta["KeyId"], Message=message,
                        SigningAlgorithm="ED25519_PH_SHA_512") == "ValidationException"
    assert expect_error(kms.sign, KeyId=meta["KeyId"], Message=d[:32], MessageType="DIGEST",
                        SigningAlgorithm="ED25519_PH_SHA_512") == "ValidationException"


def ml_dsa_mu(raw_public: bytes, message: bytes) -> bytes:
    """FIPS 204's message representative for pure ML-DSA with an empty context."""
    tr = hashlib.shake_256(raw_public).digest(64)
    return hashlib.shake_256(tr + b"\x00\x00" + message).digest(64)


def test_ml_dsa_external_mu(signing_keys, kms, expect_error):
    meta, public = signing_keys["ML_DSA_44"]
    raw_public = public["PublicKey"][-1312:]
    message = b"signed through its representative"
    mu = ml_dsa_mu(raw_public, message)
    by_mu = kms.sign(KeyId=meta["KeyId"], Message=mu, MessageType="EXTERNAL_MU",
                     SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert len(by_mu) == 2420
    # A signature of mu is the signature of the message mu represents, both ways.
    assert kms.verify(KeyId=meta["KeyId"], Message=message, Signature=by_mu,
                      SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True
    by_message = kms.sign(KeyId=meta["KeyId"], Message=message, SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert kms.verify(KeyId=meta["KeyId"], Message=mu, MessageType="EXTERNAL_MU", Signature=by_message,
                      SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True
    wrong = ml_dsa_mu(raw_public, message + b"!")
    assert expect_error(kms.verify, KeyId=meta["KeyId"], Message=wrong, MessageType="EXTERNAL_MU",
                        Signature=by_mu, SigningAlgorithm="ML_DSA_SHAKE_256") == "KMSInvalidSignatureException"
    assert expect_error(kms.sign, KeyId=meta["KeyId"], Message=mu[:32], MessageType="EXTERNAL_MU",
                        SigningAlgorithm="ML_DSA_SHAKE_256") == "ValidationException"
    assert expect_error(kms.sign, KeyId=meta["KeyId"], Message=mu, MessageType="DIGEST",
                        SigningAlgorithm="ML_DSA_SHAKE_256") == "ValidationException"
    p256, _ = signing_keys["ECC_NIST_P256"]
    assert expect_error(kms.sign, KeyId=p256["KeyId"], Message=mu, MessageType="EXTERNAL_MU",
                        SigningAlgorithm="ECDSA_SHA_256") == "ValidationException"


def test_ml_dsa_signs_and_verifies(signing_keys, kms, expect_error):
    meta, public = signing_keys["ML_DSA_44"]
    der = public["PublicKey"]
    assert len(der) > 1300  # an ML-DSA-44 public key is 1312 bytes before its DER wrapping
    sig = kms.sign(KeyId=meta["KeyId"], Message=b"post-quantum", SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert len(sig) == 2420
    assert kms.verify(KeyId=meta["KeyId"], Message=b"post-quantum", Signature=sig,
                      SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True
    assert expect_error(kms.verify, KeyId=meta["KeyId"], Message=b"post-quantum?", Signature=sig,
                        SigningAlgorithm="ML_DSA_SHAKE_256") == "KMSInvalidSignatureException"
    try:
        from cryptography.hazmat.primitives.asymmetric import mldsa  # type: ignore[attr-defined]
    except ImportError:
        return
    key = serialization.load_der_public_key(der)
    key.verify(sig, b"post-quantum")  # type: ignore[call-arg]
    del mldsa


def test_sign_refuses_what_aws_refuses(signing_keys, kms_for, server, kms, expect_error):
    meta, _ = signing_keys["ECC_NIST_P256"]
    assert expect_error(kms.sign, KeyId=meta["KeyId"], Message=b"m",
                        SigningAlgorithm="RSASSA_PSS_SHA_256") == "InvalidKeyUsageException"
    assert expect_error(kms.encrypt, KeyId=meta["KeyId"], Plaintext=b"m") == "InvalidKeyUsageException"
    assert expect_error(kms.generate_data_key, KeyId=meta["KeyId"], KeySpec="AES_256") == "InvalidKeyUsageException"
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    assert expect_error(kms.sign, KeyId=symmetric, Message=b"m",
                        SigningAlgorithm="ECDSA_SHA_256") == "InvalidKeyUsageException"
    assert expect_error(kms.get_public_key, KeyId=symmetric) == "UnsupportedOperationException"
    loose = kms_for(server, validate=False)
    assert expect_error(loose.sign, KeyId=meta["KeyId"], Message=b"m" * 4097,
                        SigningAlgorithm="ECDSA_SHA_256") == "ValidationException"
    assert kms.sign(KeyId=meta["KeyId"], Message=b"m" * 4096, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert expect_error(kms.enable_key_rotation, KeyId=meta["KeyId"]) == "UnsupportedOperationException"
    assert expect_error(kms.rotate_key_on_demand, KeyId=meta["KeyId"]) == "UnsupportedOperationException"
    kms.disable_key(KeyId=meta["KeyId"])
    try:
        assert expect_error(kms.sign, KeyId=meta["KeyId"], Message=b"m",
                            SigningAlgorithm="ECDSA_SHA_256") == "DisabledException"
    finally:
        kms.enable_key(KeyId=meta["KeyId"])
    assert expect_error(kms.sign, KeyId=meta["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256",
                        DryRun=True) == "DryRunOperationException"


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_4096"])
def test_rsa_encryption_both_ways(spec, kms, expect_error, sensitive):
    key = kms.create_key(KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == int(spec.split("_")[1])
    secret = b"rsa secret " + spec.encode()
    sensitive.add(secret)
    for algorithm, h in (("RSAES_OAEP_SHA_1", hashes.SHA1), ("RSAES_OAEP_SHA_256", hashes.SHA256)):
        # cryptography encrypts, Keyward decrypts.
        local = public.encrypt(secret, padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None))
        out = kms.decrypt(KeyId=key["KeyId"], CiphertextBlob=local, EncryptionAlgorithm=algorithm)
        assert out["Plaintext"] == secret and out["EncryptionAlgorithm"] == algorithm
        assert out["KeyId"] == key["Arn"]
        # Keyward encrypts, Keyward decrypts (the private key never leaves it).
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=secret, EncryptionAlgorithm=algorithm)
        assert blob["EncryptionAlgorithm"] == algorithm and len(blob["CiphertextBlob"]) == public.key_size // 8
        assert kms.decrypt(KeyId=key["KeyId"], CiphertextBlob=blob["CiphertextBlob"],
                           EncryptionAlgorithm=algorithm)["Plaintext"] == secret
        # ReEncrypt from RSA to a symmetric key and back.
        symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
        moved = kms.re_encrypt(CiphertextBlob=blob["CiphertextBlob"], SourceKeyId=key["KeyId"],
                               SourceEncryptionAlgorithm=algorithm, DestinationKeyId=symmetric)
        assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == secret
        back = kms.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=key["KeyId"],
                              DestinationEncryptionAlgorithm=algorithm)
        assert kms.decrypt(KeyId=key["KeyId"], CiphertextBlob=back["CiphertextBlob"],
                           EncryptionAlgorithm=algorithm)["Plaintext"] == secret
    assert expect_error(kms.decrypt, KeyId=key["KeyId"], CiphertextBlob=local[:-1] + bytes([local[-1] ^ 1]),
                        EncryptionAlgorithm="RSAES_OAEP_SHA_1") == "InvalidCiphertextException"
    assert expect_error(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == "InvalidKeyUsageException"
    assert expect_error(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x" * 1000,
                        EncryptionAlgorithm="RSAES_OAEP_SHA_256") == "ValidationException"
    assert expect_error(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256",
                        EncryptionContext={"a": "b"}) == "InvalidKeyUsageException"
    assert expect_error(kms.generate_data_key, KeyId=key["KeyId"], KeySpec="AES_256") == "InvalidKeyUsageException"
    assert expect_error(kms.sign, KeyId=key["KeyId"], Message=b"x",
                        SigningAlgorithm="RSASSA_PSS_SHA_256") == "InvalidKeyUsageException"


def test_hmac_keys(kms, expect_error):
    for bits, length in (("224", 28), ("256", 32), ("384", 48), ("512", 64)):
        key = kms.create_key(KeySpec=f"HMAC_{bits}", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
        algorithm = f"HMAC_SHA_{bits}"
        out = kms.generate_mac(KeyId=key["KeyId"], Message=b"payload", MacAlgorithm=algorithm)
        assert len(out["Mac"]) == length and out["MacAlgorithm"] == algorithm and out["KeyId"] == key["Arn"]
        assert kms.generate_mac(KeyId=key["KeyId"], Message=b"payload", MacAlgorithm=algorithm)["Mac"] == out["Mac"]
        assert kms.verify_mac(KeyId=key["KeyId"], Message=b"payload", Mac=out["Mac"],
                              MacAlgorithm=algorithm)["MacValid"] is True
        assert expect_error(kms.verify_mac, KeyId=key["KeyId"], Message=b"payloaD", Mac=out["Mac"],
                            MacAlgorithm=algorithm) == "KMSInvalidMacException"
        other = "HMAC_SHA_256" if bits != "256" else "HMAC_SHA_512"
        assert expect_error(kms.generate_mac, KeyId=key["KeyId"], Message=b"payload",
                            MacAlgorithm=other) == "InvalidKeyUsageException"
        assert expect_error(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == "InvalidKeyUsageException"
        assert expect_error(kms.get_public_key, KeyId=key["KeyId"]) == "UnsupportedOperationException"
    another = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    first = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = kms.generate_mac(KeyId=first, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert expect_error(kms.verify_mac, KeyId=another, Message=b"m", Mac=mac,
                        MacAlgorithm="HMAC_SHA_256") == "KMSInvalidMacException"
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    assert expect_error(kms.generate_mac, KeyId=symmetric, Message=b"m",
                        MacAlgorithm="HMAC_SHA_256") == "InvalidKeyUsageException"


@pytest.mark.parametrize("spec,curve", [("ECC_NIST_P256", ec.SECP256R1), ("ECC_NIST_P521", ec.SECP521R1)])
def test_derive_shared_secret_matches_local_ecdh(spec, curve, kms, expect_error):
    key = kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    mine = ec.generate_private_key(curve())
    my_public = mine.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    out = kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=my_public)
    assert out["SharedSecret"] == mine.exchange(ec.ECDH(), kms_public)
    assert out["KeyAgreementAlgorithm"] == "ECDH" and out["KeyOrigin"] == "AWS_KMS"
    other_curve = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert expect_error(kms.derive_shared_secret, KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH",
                        PublicKey=other_curve) == "ValidationException"
    assert expect_error(kms.sign, KeyId=key["KeyId"], Message=b"m",
                        SigningAlgorithm="ECDSA_SHA_256") == "InvalidKeyUsageException"


@pytest.mark.parametrize("pair_spec", ["RSA_2048", "ECC_NIST_P384", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"])
def test_generate_data_key_pair(pair_spec, kms, expect_error):
    key = kms.create_key()["KeyMetadata"]
    context = {"purpose": "signing"}
    out = kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec=pair_spec, EncryptionContext=context)
    assert out["KeyPairSpec"] == pair_spec and out["KeyId"] == key["Arn"]
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
    assert private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == out["PublicKey"]
    opened = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext=context)
    assert opened["Plaintext"] == out["PrivateKeyPlaintext"]
    bare = kms.generate_data_key_pair_without_plaintext(KeyId=key["KeyId"], KeyPairSpec=pair_spec,
                                                        EncryptionContext=context)
    assert "PrivateKeyPlaintext" not in bare
    private2 = serialization.load_der_private_key(
        kms.decrypt(CiphertextBlob=bare["PrivateKeyCiphertextBlob"], EncryptionContext=context)["Plaintext"],
        password=None)
    assert private2.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo) == bare["PublicKey"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    assert expect_error(kms.generate_data_key_pair, KeyId=signing,
                        KeyPairSpec=pair_spec) == "InvalidKeyUsageException"


def test_cli_sign_verify_and_openssl(aws, tmp_path):
    key = aws("kms", "create-key", "--key-spec", "ECC_NIST_P384", "--key-usage", "SIGN_VERIFY")["KeyMetadata"]
    message = tmp_path / "message.txt"
    message.write_bytes(b"signed from the aws CLI\n")
    out = aws("kms", "sign", "--key-id", key["KeyId"], "--message", f"fileb://{message}",
              "--signing-algorithm", "ECDSA_SHA_384")
    signature = tmp_path / "sig.der"
    signature.write_bytes(base64.b64decode(out["Signature"]))
    assert aws("kms", "verify", "--key-id", key["KeyId"], "--message", f"fileb://{message}",
               "--signature", f"fileb://{signature}", "--signing-algorithm", "ECDSA_SHA_384")["SignatureValid"] is True
    public = aws("kms", "get-public-key", "--key-id", key["KeyId"])
    pem = tmp_path / "public.pem"
    der = base64.b64decode(public["PublicKey"])
    pem.write_bytes(serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl on this machine")
    check = subprocess.run([openssl, "dgst", "-sha384", "-verify", str(pem), "-signature", str(signature),
                            str(message)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and "Verified OK" in check.stdout, check.stdout + check.stderr
    message.write_bytes(b"tampered\n")
    check = subprocess.run([openssl, "dgst", "-sha384", "-verify", str(pem), "-signature", str(signature),
                            str(message)], capture_output=True, text=True, timeout=30)
    assert check.returncode != 0


def test_asymmetric_keys_survive_restart(fresh_server):
    kms = make_kms(fresh_server)
    signer = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    mac = kms.create_key(KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    public = kms.get_public_key(KeyId=signer)["PublicKey"]
    sig = kms.sign(KeyId=signer, Message=b"before", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    tag = kms.generate_mac(KeyId=mac, Message=b"before", MacAlgorithm="HMAC_SHA_512")["Mac"]
    fresh_server.restart()
    kms = make_kms(fresh_server)
    assert kms.get_public_key(KeyId=signer)["PublicKey"] == public
    assert kms.verify(KeyId=signer, Message=b"before", Signature=sig,
                      SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["SignatureValid"] is True
    assert kms.verify_mac(KeyId=mac, Message=b"before", Mac=tag, MacAlgorithm="HMAC_SHA_512")["MacValid"] is True


def test_sign_is_audited_without_the_message(kms, server):
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    marker = unique("audited-message").encode()
    kms.sign(KeyId=key["KeyId"], Message=marker, SigningAlgorithm="ECDSA_SHA_256")
    ct = make_cloudtrail(server)
    events = lookup_all(ct, **attr("ResourceName", key["Arn"]))
    signs = [e["Record"] for e in events if e["EventName"] == "Sign"]
    assert signs, [e["EventName"] for e in events]
    event = signs[0]
    assert event["requestParameters"]["signingAlgorithm"] == "ECDSA_SHA_256"
    assert event["requestParameters"]["keyId"] == key["KeyId"]
    assert marker.decode() not in json.dumps(event)
    assert event["readOnly"] is True
