"""Several `keyward server` nodes on one PostgreSQL database, as behind a load balancer:
what one node writes, the others serve; a change made on one node (a key disabled, a grant
revoked, a policy changed, an access key deleted, a secret's value replaced) takes effect
on every other node within a second, through the database's change notifications; and a
node killed in the middle of a load loses nothing it acknowledged. Skipped in the SQLite
run (scripts/test.sh runs the suite a second time on PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import botocore.exceptions
import pytest

from conftest import E2E_POSTGRES, KeywardServer, fresh_postgres_database, make_kms, make_secretsmanager, unique
from test_audit import keyward_cmd
from test_kms_grants import make_iam

pytestmark = pytest.mark.skipif(not E2E_POSTGRES, reason="needs KEYWARD_E2E_POSTGRES (scripts/test.sh sets it)")

# The promise: a change on one node is in force on every other within a second.
PROPAGATION = 1.0


@pytest.fixture
def cluster(keyward: Callable[..., KeywardServer], tmp_path: Path) -> list[KeywardServer]:
    """Three nodes on one fresh database, sharing the root key and the root credentials."""
    url = fresh_postgres_database()
    first = keyward(name="node-a", env={"KEYWARD_STORAGE": url})
    key_file = tmp_path / "root.key"
    key_file.write_text((first.data_dir / "root.key").read_text())
    key_file.chmod(0o600)
    shared = {
        "KEYWARD_STORAGE": url,
        "KEYWARD_ROOT_KEY_FILE": str(key_file),
        "KEYWARD_ROOT_ACCESS_KEY_ID": first.access_key_id,
        "KEYWARD_ROOT_SECRET_ACCESS_KEY": first.secret_access_key,
    }
    return [first, keyward(name="node-b", env=shared), keyward(name="node-c", env=shared)]


def new_user(node: KeywardServer, sensitive: Any) -> SimpleNamespace:
    """An IAM user with no policy of its own and an access key."""
    iam = make_iam(node)
    name = unique("member")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sensitive.add(key["SecretAccessKey"], "secret access key")
    return SimpleNamespace(name=name, arn=arn, key_id=key["AccessKeyId"], secret=key["SecretAccessKey"])


def as_user(node: KeywardServer, user: SimpleNamespace) -> Any:
    return make_kms(node, access_key_id=user.key_id, secret_access_key=user.secret)


def error_code(call: Callable[[], Any]) -> str | None:
    try:
        call()
    except botocore.exceptions.ClientError as err:
        return str(err.response["Error"]["Code"])
    return None


def seconds_until_refused(call: Callable[[], Any], code: str, limit: float = 5.0) -> float:
    """Repeats `call` until it fails with `code`; the seconds that took (fails after `limit`)."""
    start = time.monotonic()
    while True:
        got = error_code(call)
        elapsed = time.monotonic() - start
        if got == code:
            return elapsed
        assert got is None, f"expected success or {code}, got {got}"
        assert elapsed < limit, f"still not {code} after {limit}s"
        time.sleep(0.01)


def test_what_one_node_creates_every_node_serves(cluster, sensitive):
    a, b, c = cluster
    kms_a, kms_b, kms_c = (make_kms(n) for n in cluster)
    key = kms_a.create_key(Description="shared")["KeyMetadata"]["KeyId"]
    kms_a.create_alias(AliasName="alias/shared", TargetKeyId=key)
    context = {"LambdaFunctionName": "loadtest"}
    blob = kms_b.encrypt(KeyId="alias/shared", Plaintext=b"across nodes", EncryptionContext=context)["CiphertextBlob"]
    assert kms_c.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"across nodes"
    assert kms_c.describe_key(KeyId="alias/shared")["KeyMetadata"]["KeyId"] == key
    assert any(a_["AliasName"] == "alias/shared" for a_ in kms_b.list_aliases()["Aliases"])

    value = json.dumps({"username": "admin", "password": unique("pw")})
    sensitive.add(value, "secret value")
    make_secretsmanager(a).create_secret(Name="cluster/db", SecretString=value, KmsKeyId="alias/shared")
    assert make_secretsmanager(c).get_secret_value(SecretId="cluster/db")["SecretString"] == value

    # A grant made on A lets a user with no policy of its own decrypt on C.
    user = new_user(a, sensitive)
    grant = kms_a.create_grant(KeyId=key, GranteePrincipal=user.arn, Operations=["Decrypt"])
    plain = as_user(c, user).decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"]
    assert plain == b"across nodes"
    assert [g["GrantId"] for g in kms_b.list_grants(KeyId=key)["Grants"]] == [grant["GrantId"]]


def test_changes_on_one_node_are_in_force_on_the_others_within_a_second(cluster, sensitive):
    a, b, c = cluster
    kms_a, kms_b, kms_c = (make_kms(n) for n in cluster)
    key = kms_a.create_key()["KeyMetadata"]["KeyId"]
    context = {"LambdaFunctionName": "loadtest"}

    # Disable on A: C, which has the key cached, refuses it within a second.
    kms_c.encrypt(KeyId=key, Plaintext=b"warm")
    kms_a.disable_key(KeyId=key)
    took = seconds_until_refused(lambda: kms_c.encrypt(KeyId=key, Plaintext=b"x"), "DisabledException")
    assert took <= PROPAGATION, f"C still used the disabled key {took:.3f}s after DisableKey on A"
    kms_b.enable_key(KeyId=key)
    start = time.monotonic()
    while error_code(lambda: kms_c.encrypt(KeyId=key, Plaintext=b"x")) == "DisabledException":
        assert time.monotonic() - start <= PROPAGATION, "C still refuses the key enabled on B"
        time.sleep(0.01)
    blob = kms_c.encrypt(KeyId=key, Plaintext=b"granted", EncryptionContext=context)["CiphertextBlob"]

    # A grant revoked on B stops its grantee on C.
    user = new_user(a, sensitive)
    grant = kms_a.create_grant(KeyId=key, GranteePrincipal=user.arn, Operations=["Decrypt"])
    user_c = as_user(c, user)
    assert user_c.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"granted"
    kms_b.revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    took = seconds_until_refused(lambda: user_c.decrypt(CiphertextBlob=blob, EncryptionContext=context),
                                 "AccessDeniedException")
    assert took <= PROPAGATION, f"C honoured a revoked grant {took:.3f}s after RevokeGrant on B"

    # A key policy changed on A: the user it now names may encrypt on C.
    user_kms_c = as_user(c, user)
    assert error_code(lambda: user_kms_c.encrypt(KeyId=key, Plaintext=b"x")) == "AccessDeniedException"
    policy = json.loads(kms_a.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    policy["Statement"].append({"Sid": "user", "Effect": "Allow", "Principal": {"AWS": user.arn},
                                "Action": "kms:Encrypt", "Resource": "*"})
    kms_a.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    start = time.monotonic()
    while error_code(lambda: user_kms_c.encrypt(KeyId=key, Plaintext=b"x")) == "AccessDeniedException":
        assert time.monotonic() - start <= PROPAGATION, "C still applies the old key policy"
        time.sleep(0.01)

    # An access key deleted on A no longer signs on C.
    make_iam(a).delete_access_key(UserName=user.name, AccessKeyId=user.key_id)
    took = seconds_until_refused(lambda: user_kms_c.encrypt(KeyId=key, Plaintext=b"x"),
                                 "UnrecognizedClientException")
    assert took <= PROPAGATION, f"C accepted a deleted access key {took:.3f}s after its deletion on A"

    # A secret's new value put on A is what C returns.
    sm_a, sm_c = make_secretsmanager(a), make_secretsmanager(c)
    first, second = unique("first"), unique("second")
    sensitive.add(first, "secret value")
    sensitive.add(second, "secret value")
    sm_a.create_secret(Name="cluster/rotating", SecretString=first)
    assert sm_c.get_secret_value(SecretId="cluster/rotating")["SecretString"] == first
    sm_a.put_secret_value(SecretId="cluster/rotating", SecretString=second)
    start = time.monotonic()
    while sm_c.get_secret_value(SecretId="cluster/rotating")["SecretString"] != second:
        assert time.monotonic() - start <= PROPAGATION, "C still returns the old AWSCURRENT"
        time.sleep(0.01)

    # An alias moved on B points at the new key on C.
    other = kms_a.create_key()["KeyMetadata"]["KeyId"]
    kms_a.create_alias(AliasName="alias/moving", TargetKeyId=key)
    assert kms_c.describe_key(KeyId="alias/moving")["KeyMetadata"]["KeyId"] == key
    kms_b.update_alias(AliasName="alias/moving", TargetKeyId=other)
    start = time.monotonic()
    while kms_c.describe_key(KeyId="alias/moving")["KeyMetadata"]["KeyId"] != other:
        assert time.monotonic() - start <= PROPAGATION, "C still resolves the alias to the old key"
        time.sleep(0.01)


def test_a_node_killed_mid_load_loses_nothing_it_acknowledged(cluster, sensitive):
    a, b, c = cluster
    key = make_kms(a).create_key()["KeyMetadata"]["KeyId"]
    acknowledged: dict[str, list[Any]] = {"secrets": [], "ciphertexts": [], "keys": []}
    stop = threading.Event()
    lock = threading.Lock()

    def load(worker: int) -> None:
        kms, sm = make_kms(b), make_secretsmanager(b)
        n = 0
        deadline = time.monotonic() + 20  # bounded even if the kill never comes
        while not stop.is_set() and time.monotonic() < deadline:
            n += 1
            try:
                if n % 3 == 0:
                    name, value = f"load/{worker}/{n}", f"value-{worker}-{n}"
                    sm.create_secret(Name=name, SecretString=value)
                    with lock:
                        acknowledged["secrets"].append((name, value))
                elif n % 3 == 1:
                    plain = f"plain-{worker}-{n}".encode()
                    blob = kms.encrypt(KeyId=key, Plaintext=plain)["CiphertextBlob"]
                    with lock:
                        acknowledged["ciphertexts"].append((blob, plain))
                else:
                    created = kms.create_key(Description=f"load {worker} {n}")["KeyMetadata"]["KeyId"]
                    with lock:
                        acknowledged["keys"].append(created)
            except Exception:  # noqa: BLE001 - the node is being killed: unacknowledged
                if stop.is_set():
                    return
                time.sleep(0.01)

    workers = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(4)]
    for w in workers:
        w.start()
    time.sleep(2.0)
    b.kill()
    stop.set()
    for w in workers:
        w.join(30)
    assert all(len(v) > 0 for v in acknowledged.values()), {k: len(v) for k, v in acknowledged.items()}

    # Everything B acknowledged is there on A and C; B's data directory is not needed.
    kms_a, kms_c, sm_c = make_kms(a), make_kms(c), make_secretsmanager(c)
    for name, value in acknowledged["secrets"]:
        assert sm_c.get_secret_value(SecretId=name)["SecretString"] == value
    for blob, plain in acknowledged["ciphertexts"]:
        assert kms_a.decrypt(CiphertextBlob=blob)["Plaintext"] == plain
    listed: set[str] = set()
    for page in kms_c.get_paginator("list_keys").paginate():
        listed |= {k["KeyId"] for k in page["Keys"]}
    assert set(acknowledged["keys"]) <= listed
    for created in acknowledged["keys"][:20]:
        assert kms_a.describe_key(KeyId=created)["KeyMetadata"]["KeyState"] == "Enabled"

    # B comes back on the same database and serves what it wrote; the chain B was
    # appending to when it died still verifies.
    b.start()
    name, value = acknowledged["secrets"][-1]
    assert make_secretsmanager(b).get_secret_value(SecretId=name)["SecretString"] == value
    done = keyward_cmd("audit", "verify", "--data-dir", str(a.data_dir), "--storage", a.extra_env["KEYWARD_STORAGE"])
    assert done.returncode == 0, done.stdout + done.stderr


def run_together(jobs: list[Callable[[], None]]) -> None:
    """Runs the callables in threads, started together; re-raises the first failure."""
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def wrap(job: Callable[[], None]) -> None:
        try:
            barrier.wait(30)
            job()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=wrap, args=(job,), daemon=True) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    if failures:
        raise failures[0]


def test_concurrent_writes_on_different_nodes_keep_every_version(cluster, sensitive):
    a, b, c = cluster
    sm = [make_secretsmanager(n) for n in cluster]
    sm[0].create_secret(Name="cluster/contended", SecretString="v0")
    put: list[tuple[str, str]] = []
    lock = threading.Lock()

    def writer(node: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(15):
                value = f"node{node}-{i}"
                version = sm[node].put_secret_value(SecretId="cluster/contended", SecretString=value)["VersionId"]
                with lock:
                    put.append((version, value))
        return run

    def stager(node: int) -> Callable[[], None]:
        """Moves AWSCURRENT back to a version it just saw, racing the writers."""
        def run() -> None:
            for _ in range(10):
                meta = sm[node].describe_secret(SecretId="cluster/contended")
                stages = meta["VersionIdsToStages"]
                current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
                others = [v for v in stages if v != current]
                if not others:
                    continue
                try:
                    sm[node].update_secret_version_stage(SecretId="cluster/contended", VersionStage="AWSCURRENT",
                                                         MoveToVersionId=others[0], RemoveFromVersionId=current)
                except botocore.exceptions.ClientError as err:
                    # Another node moved AWSCURRENT first: AWS's answer to a stale RemoveFromVersionId.
                    assert err.response["Error"]["Code"] == "InvalidParameterException", err.response
        return run

    run_together([writer(0), writer(1), writer(2), stager(1), stager(2)])
    assert len(put) == 45
    for node in cluster:
        stages = make_secretsmanager(node).describe_secret(SecretId="cluster/contended")["VersionIdsToStages"]
        assert sum("AWSCURRENT" in s for s in stages.values()) == 1, stages
        assert sum("AWSPREVIOUS" in s for s in stages.values()) <= 1, stages
    # Every acknowledged version that still has a stage reads back with its own value.
    stages = sm[2].describe_secret(SecretId="cluster/contended")["VersionIdsToStages"]
    values = dict(put)
    for version in stages:
        if version in values:
            got = sm[2].get_secret_value(SecretId="cluster/contended", VersionId=version)["SecretString"]
            assert got == values[version]

    # Rotations on two nodes at once: every one is a version, and every version decrypts.
    kms = [make_kms(n) for n in cluster]
    key = kms[0].create_key()["KeyMetadata"]["KeyId"]
    blobs: list[tuple[bytes, bytes]] = []

    def rotator(node: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(4):
                kms[node].rotate_key_on_demand(KeyId=key)
                plain = f"after rotation {node}-{i}".encode()
                blob = kms[node].encrypt(KeyId=key, Plaintext=plain)["CiphertextBlob"]
                with lock:
                    blobs.append((blob, plain))
        return run

    run_together([rotator(0), rotator(1), rotator(2)])
    rotations = kms[1].list_key_rotations(KeyId=key)["Rotations"]
    assert len(rotations) == 12, rotations
    for blob, plain in blobs:
        assert kms[2].decrypt(CiphertextBlob=blob)["Plaintext"] == plain

    # Three writers, one audit chain.
    done = keyward_cmd("audit", "verify", "--data-dir", str(a.data_dir), "--storage", a.extra_env["KEYWARD_STORAGE"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_missed_notification_is_covered_by_the_periodic_refresh(keyward):
    """A change that reaches the database without a notification (here: written by hand
    with psql, as a lost NOTIFY would look) is in force once the node's full cache refresh
    comes round (`--cache-refresh-seconds`)."""
    url = fresh_postgres_database()
    node = keyward(name="refresh", env={"KEYWARD_STORAGE": url, "KEYWARD_CACHE_REFRESH_SECONDS": "2"})
    kms = make_kms(node)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key, Plaintext=b"cached now")
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c",
                    "UPDATE keys SET doc = jsonb_set(doc::jsonb, '{state}', '\"Disabled\"')::text, "
                    f"revision = revision + 1 WHERE id = '{key}'"],
                   check=True, capture_output=True, timeout=60)
    took = seconds_until_refused(lambda: kms.encrypt(KeyId=key, Plaintext=b"x"), "DisabledException", limit=10.0)
    assert took <= 2.0 + 1.0, f"the 2 s refresh took {took:.3f}s to drop the key"
