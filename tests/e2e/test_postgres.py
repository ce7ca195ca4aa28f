"""PostgreSQL storage (`--storage postgres://…`), beyond what the whole suite shows when it
runs on PostgreSQL (scripts/test.sh runs it so, with KEYWARD_E2E_POSTGRES set): data that
outlives the server process, the audit commands reading the chain from the database, a
URL that does not connect, and `keyward migrate` (several nodes: test_cluster.py). Skipped in the SQLite run."""

from __future__ import annotations

import base64
import os
import re
import subprocess

import pytest

from conftest import E2E_POSTGRES, fresh_postgres_database, keyward_bin, make_kms, make_secretsmanager, unique
from test_audit import audit_export, keyward_cmd, lookup_all, make_cloudtrail

pytestmark = pytest.mark.skipif(not E2E_POSTGRES, reason="needs KEYWARD_E2E_POSTGRES (scripts/test.sh sets it)")


def with_password(url: str, password: str) -> str:
    """The URL with a password (the test cluster trusts loopback, so any password works)."""
    return re.sub(r"//([^@/:]+)@", rf"//\1:{password}@", url, count=1)


def test_keys_secrets_and_audit_live_in_the_database(keyward, tmp_path, sensitive):
    url = with_password(fresh_postgres_database(), "pw-not-for-logs")
    srv = keyward(name="pg-own", env={"KEYWARD_STORAGE": url})
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    key = kms.create_key(Description="in postgres")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/in-postgres", TargetKeyId=key)
    blob = kms.encrypt(KeyId="alias/in-postgres", Plaintext=b"kept in postgres",
                       EncryptionContext={"LambdaFunctionName": "loadtest"})["CiphertextBlob"]
    value = unique("pg-secret")
    sensitive.add(value, "secret value")
    sm.create_secret(Name="pg/secret", SecretString=value)
    assert srv.stop() == 0
    # Nothing in the data directory but the root key and the credentials.
    assert not (srv.data_dir / "keyward.db").exists()

    srv.start()
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"LambdaFunctionName": "loadtest"})["Plaintext"] == b"kept in postgres"
    assert sm.get_secret_value(SecretId="pg/secret")["SecretString"] == value
    events = lookup_all(make_cloudtrail(srv))
    assert {"CreateKey", "CreateAlias", "Encrypt", "CreateSecret", "Decrypt"} <= {e["EventName"] for e in events}

    # The audit commands read the chain from the same database, while the server runs.
    done = keyward_cmd("audit", "verify", "--data-dir", str(srv.data_dir), "--storage", url)
    assert done.returncode == 0, done.stdout + done.stderr
    count = int(re.search(r"(\d+) events?", done.stdout + done.stderr).group(1))
    assert count >= len(events)
    exported = audit_export(srv.data_dir, tmp_path / "trail.json.gz", "--storage", url)
    assert {e["EventId"] for e in events} <= {r["eventID"] for r in exported["Records"]}
    # The password in the URL is never printed.
    assert "pw-not-for-logs" not in srv.log_text()
    assert "keyward:***@" in srv.log_text()


def test_a_wrong_root_key_or_url_is_refused_at_start(keyward, tmp_path):
    url = fresh_postgres_database()
    first = keyward(name="pg-root", env={"KEYWARD_STORAGE": url})
    assert first.stop() == 0
    other_dir = tmp_path / "other"
    other_dir.mkdir(mode=0o700)
    # Another data directory has no root key for this data, and makes none: a new one could
    # not open it.
    done = subprocess.run(
        [str(keyward_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(other_dir), "--storage", url],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert done.returncode != 0 and "no root key" in done.stderr, done.stderr
    assert not (other_dir / "root.key").exists()
    # Another root key is refused.
    other_key = tmp_path / "other.key"
    other_key.write_text(base64.b64encode(os.urandom(32)).decode())
    done = subprocess.run(
        [str(keyward_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(other_dir), "--storage", url,
         "--root-key-file", str(other_key)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert done.returncode != 0 and "wrong root key" in done.stderr, done.stderr
    bad = with_password(E2E_POSTGRES, "not-the-password") + "/no_such_database"
    done = subprocess.run(
        [str(keyward_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(other_dir), "--storage", bad],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert done.returncode != 0
    assert "not-the-password" not in done.stderr and "***" in done.stderr, done.stderr


def test_migrate_then_start_on_a_new_database(keyward, tmp_path):
    url = fresh_postgres_database()
    for _ in range(2):  # idempotent
        done = subprocess.run([str(keyward_bin()), "migrate", "--storage", url, "--data-dir", str(tmp_path / "d")],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
        assert done.returncode == 0 and "schema up to date" in done.stderr, done.stderr
    srv = keyward(name="pg-migrated", env={"KEYWARD_STORAGE": url})
    assert make_kms(srv).create_key()["KeyMetadata"]["KeyState"] == "Enabled"
