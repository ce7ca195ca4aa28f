"""`keyward export` / `keyward import`: an installation on the embedded SQLite store moves
whole to another store, with the same root key and account, and carries on there: old
ciphertexts decrypt, aliases resolve, secrets read, IAM users sign in, the audit chain
verifies. The target is SQLite in a new data directory, or a new PostgreSQL database when
KEYWARD_E2E_POSTGRES is set (scripts/test.sh runs the suite both ways)."""

from __future__ import annotations

import re
import secrets as pysecrets
import shutil
import stat
from pathlib import Path

from conftest import E2E_POSTGRES, KeywardServer, fresh_postgres_database, make_kms, make_secretsmanager, unique
from test_audit import keyward_cmd

import boto3


def target_storage() -> tuple[str, ...]:
    """`--storage` for a new, empty target: a fresh PostgreSQL database, or SQLite."""
    return ("--storage", fresh_postgres_database()) if E2E_POSTGRES else ("--storage", "sqlite")


def verified_events(data_dir: Path, *storage: str) -> int:
    done = keyward_cmd("audit", "verify", "--data-dir", str(data_dir), *storage)
    assert done.returncode == 0, done.stdout + done.stderr
    return int(re.search(r"verified: (\d+) events?", done.stdout).group(1))


def export(data_dir: Path, out: Path) -> str:
    done = keyward_cmd("export", "--data-dir", str(data_dir), "--storage", "sqlite", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert re.match(r"exported \d+ rows: meta \d+, keys \d+", done.stderr), done.stderr
    return done.stderr


def new_data_dir(tmp_path: Path, source: KeywardServer, name: str) -> Path:
    """A data directory with the source's root key (the export does not hold it) and, for
    the test harness, its credentials file (the access key itself is in the export)."""
    data_dir = tmp_path / name / "data"
    data_dir.mkdir(parents=True, mode=0o700)
    for file in ("root.key", "credentials"):
        shutil.copy2(source.data_dir / file, data_dir / file)
    return data_dir


def test_an_installation_moves_to_a_new_store(keyward, tmp_path, sensitive):
    source = keyward(name="export-source", env={"KEYWARD_STORAGE": "sqlite"})
    kms, sm = make_kms(source), make_secretsmanager(source)
    key = kms.create_key(Description="moves")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/moves", TargetKeyId=key)
    plaintext = b"moved-" + pysecrets.token_bytes(16)
    sensitive.add(plaintext)
    context = {"purpose": "export-test"}
    blob = kms.encrypt(KeyId="alias/moves", Plaintext=plaintext, EncryptionContext=context)["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key)
    secret_name = unique("moves/secret")
    secret_value = unique("secret-value") + pysecrets.token_urlsafe(12)
    sensitive.add(secret_value, "secret value")
    sm.create_secret(Name=secret_name, SecretString=secret_value)
    iam = boto3.session.Session(aws_access_key_id=source.access_key_id,
                                aws_secret_access_key=source.secret_access_key,
                                region_name="us-east-1").client("iam", endpoint_url=source.endpoint)
    iam.create_user(UserName="mover")
    user_key = iam.create_access_key(UserName="mover")["AccessKey"]
    sensitive.add(user_key["SecretAccessKey"], "secret access key")
    assert source.stop() == 0
    events = verified_events(source.data_dir)

    exported = tmp_path / "installation.jsonl"
    summary = export(source.data_dir, exported)
    # Values never reach the terminal, and the file holds none in the clear.
    assert not sensitive.found_in(summary)
    assert not sensitive.found_in(exported.read_text())
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    # To standard output, the same file (the server is stopped: nothing changed).
    to_stdout = keyward_cmd("export", "--data-dir", str(source.data_dir))
    assert to_stdout.returncode == 0 and to_stdout.stdout == exported.read_text()

    data_dir = new_data_dir(tmp_path, source, "target")
    storage = target_storage()
    done = keyward_cmd("import", "--data-dir", str(data_dir), *storage, "-i", str(exported))
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("imported " + summary.split(" from ")[0].removeprefix("exported "))
    # Once is all: the store now has rows.
    again = keyward_cmd("import", "--data-dir", str(data_dir), *storage, "-i", str(exported))
    assert again.returncode == 1 and "not empty" in again.stderr, again.stderr
    assert verified_events(data_dir, *storage) == events
    assert (data_dir / "keyward.db").exists() != bool(E2E_POSTGRES)

    target = KeywardServer(data_dir, tmp_path / "target" / "server.log", env={"KEYWARD_STORAGE": storage[1]})
    keyward.started.append(target)
    target.start()
    assert target.access_key_id == source.access_key_id
    kms, sm = make_kms(target), make_secretsmanager(target)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == plaintext
    assert kms.describe_key(KeyId="alias/moves")["KeyMetadata"]["KeyId"] == key
    assert len(kms.list_key_rotations(KeyId=key)["Rotations"]) == 1
    assert sm.get_secret_value(SecretId=secret_name)["SecretString"] == secret_value
    # An IAM user's access key signs on the new store as on the old.
    sts = boto3.session.Session(aws_access_key_id=user_key["AccessKeyId"],
                                aws_secret_access_key=user_key["SecretAccessKey"],
                                region_name="us-east-1").client("sts", endpoint_url=target.endpoint)
    assert sts.get_caller_identity()["Arn"].endswith(":user/mover")
    # New work goes on the same chain.
    kms.encrypt(KeyId="alias/moves", Plaintext=b"after the move")
    assert target.stop() == 0
    assert verified_events(data_dir, *storage) > events


def test_a_damaged_file_imports_nothing(keyward, tmp_path):
    source = keyward(name="export-damaged", env={"KEYWARD_STORAGE": "sqlite"})
    make_kms(source).create_key(Description="damaged")
    assert source.stop() == 0
    exported = tmp_path / "installation.jsonl"
    export(source.data_dir, exported)
    lines = exported.read_text().splitlines(keepends=True)

    data_dir = new_data_dir(tmp_path, source, "target")
    storage = target_storage()
    damaged = {
        "cut short": "".join(lines[:-1]),
        "a row missing": "".join(lines[:2] + lines[3:]),
        "a garbage line": "".join(lines[:2] + ["garbage\n"] + lines[2:]),
        "not an export": "hello\n",
    }
    for what, text in damaged.items():
        bad = tmp_path / "bad.jsonl"
        bad.write_text(text)
        done = keyward_cmd("import", "--data-dir", str(data_dir), *storage, "-i", str(bad))
        assert done.returncode == 1, f"{what}: {done.stderr}"
        assert "nothing was imported" in done.stderr and "line " in done.stderr, f"{what}: {done.stderr}"
    # Nothing was left behind: the whole file still imports.
    done = keyward_cmd("import", "--data-dir", str(data_dir), *storage, "-i", str(exported))
    assert done.returncode == 0, done.stderr
    # A missing source is an error, not an empty export.
    done = keyward_cmd("export", "--data-dir", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.jsonl"))
    assert done.returncode == 1 and "no Keyward database" in done.stderr
    assert not (tmp_path / "x.jsonl").exists()
