"""Writes python-raw-aes.json: messages made by the official Python AWS Encryption SDK with
a Raw AES master key, one per suite and body shape, for tests/python_vectors.rs.

Run from the repository root after scripts/test.sh has built .venv (it has the SDK, through
aws-encryption-sdk-cli): .venv/bin/python crates/keyward-esdk/tests/vectors/generate.py
"""

import base64
import json
from pathlib import Path

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey

WRAPPING_KEY = bytes([7]) * 32
CONTEXT = {"purpose": "vectors", "dept": "ünïcode ✓"}
# (frame length, plaintext length); frame length 0 is a non-framed body. The Python SDK only
# encrypts with frame lengths that are multiples of 128 (it decrypts any).
SHAPES = [
    (128, 300),
    (128, 256),
    (4096, 0),
    (0, 300),
]


def plaintext(n: int) -> bytes:
    return bytes(i * 131 % 251 for i in range(n))


def main() -> None:
    key = RawMasterKey(
        provider_id="keyward-test",
        key_id=b"vectors",
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=WRAPPING_KEY,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )
    vectors = []
    for algorithm in Algorithm:
        policy = (CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT if algorithm.is_committing()
                  else CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
        client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)
        for frame_length, length in SHAPES:
            message, _ = client.encrypt(source=plaintext(length), key_provider=key, encryption_context=CONTEXT,
                                        algorithm=algorithm, frame_length=frame_length)
            vectors.append({"suite": algorithm.algorithm_id, "frame_length": frame_length,
                            "plaintext_length": length, "message": base64.b64encode(message).decode()})
    out = Path(__file__).with_name("python-raw-aes.json")
    out.write_text(json.dumps({"context": CONTEXT, "vectors": vectors}, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(vectors)} vectors -> {out}")


if __name__ == "__main__":
    main()
