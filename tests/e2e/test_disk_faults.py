"""Disk full and a read-only data directory: requests fail with an internal error, nothing
already stored is damaged, and the server recovers by itself when space returns; on a
read-only directory it refuses to start and says why.

The data directory lives on a small tmpfs mounted for the test, so "full" is the real
ENOSPC and "read-only" the real EROFS of a remount. Mounting needs root (CAP_SYS_ADMIN);
elsewhere the tests are skipped with that reason. SQLite only: on PostgreSQL the disk is
the database's.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, Iterator

import botocore.exceptions
import pytest

from conftest import KeywardServer, keyward_bin, make_kms, make_secretsmanager
from test_audit import audit_verify

TMPFS_SIZE = "48m"


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = _mount("-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(mnt))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        _mount("-o", "remount,rw", str(mnt))
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Writes a file until the tmpfs is full (ENOSPC); returns it."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError:
                break
        small = b"\0" * 512
        while True:
            try:
                f.write(small)
            except OSError:
                break
    return filler


def error_code(fn: Any, /, *args: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


class Stored:
    """What the server holds before the fault, checked after it."""

    def __init__(self, kms: Any, sm: Any) -> None:
        self.key_id = kms.create_key(Description="disk faults")["KeyMetadata"]["KeyId"]
        self.plaintext = os.urandom(32)
        self.blob = kms.encrypt(KeyId=self.key_id, Plaintext=self.plaintext,
                                EncryptionContext={"purpose": "disk"})["CiphertextBlob"]
        self.secret = f"disk-{uuid.uuid4().hex[:10]}"
        self.value = f"value-{uuid.uuid4().hex}"
        sm.create_secret(Name=self.secret, SecretString=self.value)

    def check(self, kms: Any, sm: Any) -> None:
        assert kms.describe_key(KeyId=self.key_id)["KeyMetadata"]["KeyState"] == "Enabled"
        out = kms.decrypt(CiphertextBlob=self.blob, EncryptionContext={"purpose": "disk"})
        assert out["Plaintext"] == self.plaintext
        got = sm.get_secret_value(SecretId=self.secret)
        assert got["SecretString"] == self.value
        assert got["VersionStages"] == ["AWSCURRENT"]


KMS_INTERNAL = {"KMSInternalException", "InternalFailure"}
SM_INTERNAL = {"InternalServiceError", "InternalFailure"}


def internal_error(fn: Any, internal: set[str], /, *args: Any, **kwargs: Any) -> None:
    """The call fails with the service's internal error (or the generic InternalFailure,
    which is what a request whose audit event cannot be written gets), status 500."""
    code, status = error_code(fn, *args, **kwargs)
    assert code in internal and status == 500, (code, status)


def writes_fail_with_internal_errors(kms: Any, sm: Any, stored: Stored) -> None:
    internal_error(kms.create_key, KMS_INTERNAL, Description="no room")
    internal_error(sm.put_secret_value, SM_INTERNAL, SecretId=stored.secret, SecretString="new value")
    internal_error(sm.create_secret, SM_INTERNAL, Name=f"nope-{uuid.uuid4().hex[:8]}", SecretString="x")


@contextlib.contextmanager
def server_on(disk: Path, tmp_path: Path) -> Iterator[KeywardServer]:
    data = disk / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    srv = KeywardServer(data, tmp_path / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            assert srv.stop() == 0, srv.log_tail()


@pytest.mark.sqlite_file
def test_disk_full_fails_requests_and_recovers_when_space_returns(small_disk: Path, tmp_path: Path, sensitive) -> None:
    with server_on(small_disk, tmp_path) as srv:
        kms = make_kms(srv)
        sm = make_secretsmanager(srv)
        stored = Stored(kms, sm)
        sensitive.add(stored.value, "secret value")

        filler = fill(small_disk)
        writes_fail_with_internal_errors(kms, sm, stored)
        # Every request writes an audit event before it is answered; with no room for the
        # event, reads are refused too rather than served unaudited.
        internal_error(kms.decrypt, KMS_INTERNAL, CiphertextBlob=stored.blob, EncryptionContext={"purpose": "disk"})
        assert srv.proc is not None and srv.proc.poll() is None, "the server must keep running"

        filler.unlink()
        stored.check(kms, sm)
        new_key = kms.create_key(Description="after the disk emptied")["KeyMetadata"]["KeyId"]
        version = sm.put_secret_value(SecretId=stored.secret, SecretString="after")["VersionId"]
        assert sm.get_secret_value(SecretId=stored.secret)["VersionId"] == version
        assert "ERROR" in srv.log_text() or "WARN" in srv.log_text()

    # Stopped cleanly; the data opens again and the audit chain is whole.
    with server_on(small_disk, tmp_path) as srv:
        kms = make_kms(srv)
        sm = make_secretsmanager(srv)
        assert kms.describe_key(KeyId=new_key)["KeyMetadata"]["KeyState"] == "Enabled"
        assert kms.decrypt(CiphertextBlob=stored.blob, EncryptionContext={"purpose": "disk"})["Plaintext"] == stored.plaintext
        assert sm.get_secret_value(SecretId=stored.secret)["SecretString"] == "after"
    assert audit_verify(small_disk / "data").returncode == 0


@pytest.mark.sqlite_file
def test_read_only_data_directory_is_refused_with_its_reason_and_nothing_is_lost(
        small_disk: Path, tmp_path: Path, sensitive) -> None:
    """A file system goes read-only under a running server only by the kernel's emergency
    remount (a remount by hand is refused while the database is open for writing), so the
    case to handle is a start on a read-only data directory: refused, saying why, and the
    data intact once the directory is writable again."""
    with server_on(small_disk, tmp_path) as srv:
        stored = Stored(make_kms(srv), make_secretsmanager(srv))
        sensitive.add(stored.value, "secret value")
    done = _mount("-o", "remount,ro", str(small_disk))
    assert done.returncode == 0, done.stderr
    data = small_disk / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARD_"))}
    env["NO_COLOR"] = "1"
    done = subprocess.run([str(keyward_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode != 0
    assert "panicked" not in done.stderr
    assert f"the data directory {data} is not writable" in done.stderr, done.stderr
    assert "read-only file system" in done.stderr.lower(), done.stderr

    assert _mount("-o", "remount,rw", str(small_disk)).returncode == 0
    with server_on(small_disk, tmp_path) as srv:
        stored.check(make_kms(srv), make_secretsmanager(srv))
    assert audit_verify(data).returncode == 0
