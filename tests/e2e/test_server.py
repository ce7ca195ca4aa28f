"""The binary itself: first start, credentials, flags and env, logs, SIGTERM, restarts."""

import base64
import json
import secrets
import stat
import subprocess
from pathlib import Path


def test_first_start_writes_credentials_file(server):
    path = server.credentials_file
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.lstrip().startswith("[default]")
    assert f"aws_access_key_id = {server.access_key_id}" in text
    assert f"aws_secret_access_key = {server.secret_access_key}" in text
    assert len(server.access_key_id) >= 16 and server.access_key_id.isalnum()
    assert len(server.secret_access_key) >= 30
    assert "credentials" in server.log_text()  # the log says where they were written


def test_credentials_file_works_as_aws_shared_credentials(aws, server):
    """A user can point AWS_SHARED_CREDENTIALS_FILE at <data-dir>/credentials and go."""
    out = aws("kms", "list-keys", credentials_file=server.credentials_file)
    assert isinstance(out["Keys"], list)


def test_restart_keeps_keys_aliases_and_ciphertexts(fresh_server, aws_for, kms_for, sensitive):
    srv = fresh_server
    aws = aws_for(srv)
    creds_before = srv.credentials_file.read_text()
    sensitive.add("survives a restart")

    key_id = aws("kms", "create-key", "--description", "persisted")["KeyMetadata"]["KeyId"]
    aws("kms", "create-alias", "--alias-name", "alias/persisted", "--target-key-id", key_id)
    blob = aws("kms", "encrypt", "--key-id", "alias/persisted", "--plaintext", "survives a restart",
               "--encryption-context", "k=v", "--output", "text", "--query", "CiphertextBlob")
    disabled = aws("kms", "create-key", "--description", "disabled")["KeyMetadata"]["KeyId"]
    aws("kms", "disable-key", "--key-id", disabled)
    aws("kms", "tag-resource", "--key-id", key_id, "--tags", "TagKey=t,TagValue=v")
    aws("kms", "enable-key-rotation", "--key-id", key_id)
    aws("kms", "rotate-key-on-demand", "--key-id", key_id)

    srv.restart()

    assert srv.credentials_file.read_text() == creds_before
    kms = kms_for(srv)
    assert kms.decrypt(CiphertextBlob=base64.b64decode(blob), EncryptionContext={"k": "v"})["Plaintext"] \
        == b"survives a restart"
    ids = {k["KeyId"] for k in aws("kms", "list-keys")["Keys"]}
    assert {key_id, disabled} <= ids
    aliases = aws("kms", "list-aliases", "--key-id", key_id)["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/persisted"]
    assert kms.describe_key(KeyId=disabled)["KeyMetadata"]["KeyState"] == "Disabled"
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["Description"] == "persisted"
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "t", "TagValue": "v"}]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    assert len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 1

    # New ciphertexts after the restart decrypt too, and so do old ones after a second restart.
    fresh = kms.encrypt(KeyId=key_id, Plaintext=b"survives a restart")["CiphertextBlob"]
    srv.restart()
    kms = kms_for(srv)
    assert kms.decrypt(CiphertextBlob=fresh)["Plaintext"] == b"survives a restart"
    assert kms.decrypt(CiphertextBlob=base64.b64decode(blob), EncryptionContext={"k": "v"})["Plaintext"] \
        == b"survives a restart"


def test_sigterm_exits_zero(fresh_server):
    assert fresh_server.stop() == 0


def test_root_access_key_from_env(keyward, kms_for, expect_error):
    access_key_id = "AKIAKEYWARDE2E" + secrets.token_hex(4).upper()
    secret = secrets.token_urlsafe(30)[:40]
    srv = keyward(name="envcreds", env={
        "KEYWARD_ROOT_ACCESS_KEY_ID": access_key_id,
        "KEYWARD_ROOT_SECRET_ACCESS_KEY": secret,
    })
    assert srv.access_key_id == access_key_id
    kms = kms_for(srv)
    kms.list_keys()
    wrong = kms_for(srv, secret_access_key=secret[::-1])
    assert expect_error(wrong.list_keys) == "InvalidSignatureException"


def test_config_from_env_and_json_logs(keyward, kms_for):
    srv = keyward(name="envconfig", config_via_env=True, create_data_dir=False, env={
        "KEYWARD_LOG_FORMAT": "json",
        "KEYWARD_ACCOUNT_ID": "111122223333",
    })
    kms = kms_for(srv)
    meta = kms.create_key()["KeyMetadata"]
    assert meta["AWSAccountId"] == "111122223333"
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:111122223333:key/{meta['KeyId']}"
    policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"])["Policy"])
    assert "arn:aws:iam::111122223333:root" in json.dumps(policy)
    assert srv.data_dir.is_dir() and srv.credentials_file.is_file()

    server_lines = [line for line in srv.log_lines() if line.strip() and not line.startswith("----")]
    assert server_lines
    for line in server_lines:
        assert isinstance(json.loads(line), dict), line


def test_account_id_flag(keyward, kms_for):
    srv = keyward(name="account", args=("--account-id", "444455556666", "--log-format", "text"))
    meta = kms_for(srv).create_key()["KeyMetadata"]
    assert meta["AWSAccountId"] == "444455556666"
    assert meta["Arn"].startswith("arn:aws:kms:us-east-1:444455556666:key/")


def test_bad_account_id_is_refused(tmp_path, keyward_binary):
    out = subprocess.run(
        [str(keyward_binary), "server", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
         "--account-id", "12345"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert out.returncode != 0
    assert "account" in (out.stderr + out.stdout).lower()


def test_migrate_prepares_a_data_directory_and_is_idempotent(tmp_path, keyward_binary):
    data = tmp_path / "migrated"
    run = lambda *extra: subprocess.run(  # noqa: E731
        [str(keyward_binary), "migrate", "--data-dir", str(data), "--storage", "sqlite", *extra],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    first = run()
    assert first.returncode == 0, first.stderr
    assert "schema up to date" in first.stderr
    assert (data / "keyward.db").is_file()
    assert run().returncode == 0
    bad = subprocess.run([str(keyward_binary), "migrate", "--storage", "mysql://nope"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert bad.returncode != 0 and "storage must be" in bad.stderr


def test_a_data_directory_open_to_other_users_is_refused(tmp_path, keyward_binary):
    """The data directory holds the database and, by default, the root key: a directory that
    other users can list or enter is refused before anything is read or written in it."""
    data_dir = tmp_path / "open"
    data_dir.mkdir()
    data_dir.chmod(0o755)
    done = subprocess.run([str(keyward_binary), "server", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert done.returncode != 0
    assert "open to other users (mode 0755)" in done.stderr and "chmod 700" in done.stderr, done.stderr
    assert list(data_dir.iterdir()) == [], "nothing may be written to a refused data directory"
    # A directory the server creates itself is private.
    made = tmp_path / "made" / "data"
    proc = subprocess.Popen([str(keyward_binary), "server", "--listen", "127.0.0.1:0", "--data-dir", str(made)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            if b"listening on" in line:
                break
        assert stat.S_IMODE(made.stat().st_mode) == 0o700
        # No core dumps: a core file would hold the root key and the keys in use.
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
        assert core.split()[4:6] == ["0", "0"], core
    finally:
        proc.terminate()
        proc.wait(30)
