"""Crash safety: writes under load, SIGKILL at a random moment, restart, and nothing that was
acknowledged is lost.

Each round runs writers (CreateKey, PutSecretValue, UpdateSecretVersionStage, RotateKeyOnDemand,
Encrypt) against one server, kills it with SIGKILL after a random 0.5–2 s, restarts it on
the same data directory and checks that every acknowledged write is there: every key created,
every secret version put with its value, exactly one AWSCURRENT per secret, every
ciphertext ever returned decrypts to its plaintext (across on-demand rotations), and the
audit chain verifies.
Requests in flight at the kill may or may not have landed; they are not counted.

Rounds: E2E_CRASH_ROUNDS (default 4, so the test command stays quick; run it with a
few hundred for a long session). SQLite only: on PostgreSQL durability is the database's.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions
import pytest

from conftest import make_kms, make_secretsmanager
from test_audit import audit_verify

ROUNDS = int(os.environ.get("E2E_CRASH_ROUNDS", "4"))
WRITERS = 6
SECRETS = 4  # new ones each round
MAX_PUTS = 90


@dataclass
class Acked:
    """What the server acknowledged, across all rounds."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    keys: list[str] = field(default_factory=list)
    versions: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (secret, version) → value
    ciphertexts: list[tuple[bytes, bytes]] = field(default_factory=list)  # (blob, plaintext)
    rotations: int = 0
    # Puts started per secret: a secret keeps at most 100 versions (older unlabelled ones
    # are dropped, as in AWS), so each stays below that and nothing is dropped by design.
    puts: dict[str, int] = field(default_factory=dict)
    errors: int = 0


def writer(kms: Any, sm: Any, acked: Acked, secrets: list[str], key_id: str, stop: threading.Event,
           seed: int) -> None:
    rnd = random.Random(seed)
    while not stop.is_set():
        op = rnd.choice(["create_key", "put", "put", "move", "encrypt", "encrypt", "rotate"])
        try:
            if op == "create_key":
                kid = kms.create_key(Description="crash test")["KeyMetadata"]["KeyId"]
                with acked.lock:
                    acked.keys.append(kid)
            elif op == "put":
                name = rnd.choice(secrets)
                with acked.lock:
                    if acked.puts.get(name, 0) >= MAX_PUTS:
                        continue
                    acked.puts[name] = acked.puts.get(name, 0) + 1
                value = uuid.uuid4().bytes
                vid = sm.put_secret_value(SecretId=name, SecretBinary=value)["VersionId"]
                with acked.lock:
                    acked.versions[(name, vid)] = value
            elif op == "move":
                name = rnd.choice(secrets)
                with acked.lock:
                    candidates = [v for (s, v) in acked.versions if s == name]
                if not candidates:
                    continue
                target = rnd.choice(candidates)
                current = [v["VersionId"] for v in sm.list_secret_version_ids(SecretId=name)["Versions"]
                           if "AWSCURRENT" in v.get("VersionStages", [])]
                if not current or current[0] == target:
                    continue
                sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                               MoveToVersionId=target, RemoveFromVersionId=current[0])
            elif op == "encrypt":
                plaintext = os.urandom(rnd.randint(1, 64))
                blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
                with acked.lock:
                    acked.ciphertexts.append((blob, plaintext))
            elif op == "rotate":
                kms.rotate_key_on_demand(KeyId=key_id)
                with acked.lock:
                    acked.rotations += 1
        except botocore.exceptions.ClientError as err:
            # Moves race each other and on-demand rotations are rate limited: expected refusals.
            code = err.response["Error"]["Code"]
            if code not in ("InvalidParameterException", "LimitExceededException", "ConflictException",
                            "InvalidRequestException", "ThrottlingException"):
                with acked.lock:
                    acked.errors += 1
                raise
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                botocore.exceptions.ReadTimeoutError, ConnectionError, botocore.exceptions.HTTPClientError):
            # The kill: whatever was in flight is neither acknowledged nor counted.
            return


@pytest.mark.sqlite_file
def test_acknowledged_writes_survive_sigkill(fresh_server, sensitive) -> None:
    server = fresh_server
    kms = make_kms(server)
    sm = make_secretsmanager(server)
    key_id = kms.create_key(Description="crash test data key")["KeyMetadata"]["KeyId"]
    acked = Acked()
    all_secrets: list[str] = []
    rnd = random.Random()
    for round_no in range(ROUNDS):
        secrets = []
        for i in range(SECRETS):
            name = f"crash-{round_no}-{i}-{uuid.uuid4().hex[:8]}"
            first = uuid.uuid4().bytes
            vid = sm.create_secret(Name=name, SecretBinary=first)["VersionId"]
            acked.versions[(name, vid)] = first
            secrets.append(name)
        all_secrets.extend(secrets)
        stop = threading.Event()
        # Clients made before the clock starts (boto3's are slow to make, and thread-safe).
        clients = [(make_kms(server), make_secretsmanager(server)) for _ in range(WRITERS)]
        threads = [threading.Thread(target=writer, args=(k, m, acked, secrets, key_id, stop, rnd.random()),
                                    daemon=True) for k, m in clients]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.5, 2.0))
        assert server.kill() == -9
        stop.set()
        for t in threads:
            t.join(60)
            assert not t.is_alive(), "a writer hung after the kill"
        assert acked.errors == 0, "a writer got an unexpected error before the kill"
        server.start()

        kms = make_kms(server)
        sm = make_secretsmanager(server)
        for kid in acked.keys:
            assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled", f"round {round_no}: key {kid}"
        for (name, vid), value in acked.versions.items():
            got = sm.get_secret_value(SecretId=name, VersionId=vid)["SecretBinary"]
            assert got == value, f"round {round_no}: {name} version {vid} lost or changed"
        for name in all_secrets:
            versions = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
            current = [v["VersionId"] for v in versions if "AWSCURRENT" in v.get("VersionStages", [])]
            assert len(current) == 1, f"round {round_no}: {name} has AWSCURRENT on {current}"
        for blob, plaintext in acked.ciphertexts:
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext, f"round {round_no}: a ciphertext"
        # Writes go on after the restart: the store is not left locked or read-only.
        kms.create_key(Description="after the crash")

    server.stop()
    verified = audit_verify(server.data_dir)
    assert verified.returncode == 0, f"the audit chain does not verify:\n{verified.stdout}\n{verified.stderr}"
    server.start()
    print(f"crash rounds={ROUNDS} keys={len(acked.keys)} versions={len(acked.versions)} "
          f"ciphertexts={len(acked.ciphertexts)} rotations={acked.rotations} lost=0")
    # The run did something worth checking.
    assert acked.ciphertexts and len(acked.versions) > SECRETS * ROUNDS and acked.keys
