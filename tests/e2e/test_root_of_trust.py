"""The root of trust outside the data directory: a passphrase (Argon2id), Shamir shares
with an unseal ceremony (`keyward unseal`), and `keyward rekey` while servers run. Driven
with boto3, the aws CLI and the keyward binary itself."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import REGION, KeywardServer, client_error, keyward_bin, make_kms, make_secretsmanager, unique

# Cheap Argon2id costs keep the tests fast; the defaults (64 MiB, 3 passes) are for real use.
CHEAP_ARGON2 = {"KEYWARD_ARGON2_MEMORY_KIB": "1024", "KEYWARD_ARGON2_ITERATIONS": "1"}
ROOT_ACCESS = {"KEYWARD_ROOT_ACCESS_KEY_ID": "AKIASEALEDTESTROOT01",
               "KEYWARD_ROOT_SECRET_ACCESS_KEY": "sealed-test-secret-access-key-0123456789"}
SEALED = "Keyward is sealed"


def passphrase_server(keyward, passphrase: str, name: str) -> KeywardServer:
    return keyward(env={"KEYWARD_PASSPHRASE": passphrase, **CHEAP_ARGON2}, args=("--seal", "passphrase"), name=name)


def run_binary(srv: KeywardServer, *args: str, env: dict[str, str] | None = None,
               drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Runs `keyward <args>` with the server's storage (SQLite dir or PostgreSQL URL)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARD_"))}
    base["NO_COLOR"] = "1"
    if "KEYWARD_STORAGE" in srv.extra_env:
        base["KEYWARD_STORAGE"] = srv.extra_env["KEYWARD_STORAGE"]
    base.update(env or {})
    for name in drop:
        base.pop(name, None)
    return subprocess.run([str(keyward_bin()), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120, env=base)


def refused_start(srv: KeywardServer, *, env: dict[str, str], args: tuple[str, ...] = ()) -> str:
    """Starts the server's binary on its data with other root-of-trust settings; it must
    exit non-zero before listening. Returns its stderr."""
    env = {k: v for k, v in env.items() if v is not None}
    extra = {k: v for k, v in srv.extra_env.items() if k.startswith("KEYWARD_STORAGE")}
    done = run_binary(srv, "server", "--listen", "127.0.0.1:0", "--data-dir", str(srv.data_dir), *args,
                      env={**extra, **env})
    assert done.returncode != 0, f"the server started:\n{done.stderr}"
    assert "listening on" not in done.stderr
    return done.stderr


def unseal(srv: KeywardServer, *args: str) -> subprocess.CompletedProcess[str]:
    return run_binary(srv, "unseal", "--endpoint", srv.endpoint, *args)


def read_shares(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def sealed_errors(srv: KeywardServer, aws_for) -> None:
    """Every AWS API answers a sealed server with 503 and a recognizable error."""
    kms = make_kms(srv)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        kms.list_keys()
    err = info.value.response
    assert err["Error"]["Code"] == "KMSInternalException"
    assert SEALED in err["Error"]["Message"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 503
    code, message = client_error(make_secretsmanager(srv).list_secrets)
    assert code == "InternalServiceError" and SEALED in message
    iam = boto3.session.Session(aws_access_key_id=srv.access_key_id, aws_secret_access_key=srv.secret_access_key,
                                region_name=REGION).client(
        "iam", endpoint_url=srv.endpoint, config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))
    code, message = client_error(iam.list_users)
    assert code == "ServiceUnavailable" and SEALED in message
    assert aws_for(srv).error("kms", "list-keys") == "KMSInternalException"


def test_passphrase_seal_opens_with_the_passphrase_only(keyward, sensitive):
    passphrase = "correct horse battery staple 1"
    sensitive.add(passphrase, "passphrase")
    srv = passphrase_server(keyward, passphrase, "passphrase")
    assert not (srv.data_dir / "root.key").exists(), "a sealed root key has no file in the data directory"
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    key_id = kms.create_key(Description="sealed by a passphrase")["KeyMetadata"]["KeyId"]
    sensitive.add(b"opened by the passphrase")
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"opened by the passphrase")["CiphertextBlob"]
    secret_value = f"secret {unique()}"
    sensitive.add(secret_value)
    sm.create_secret(Name="sealed/secret", SecretString=secret_value)
    assert srv.stop() == 0

    stderr = refused_start(srv, env={"KEYWARD_PASSPHRASE": "correct horse battery staple 2"})
    assert "wrong passphrase" in stderr, stderr
    stderr = refused_start(srv, env={})
    assert "sealed by a passphrase" in stderr and "KEYWARD_PASSPHRASE" in stderr, stderr
    stderr = refused_start(srv, env={"KEYWARD_PASSPHRASE": passphrase}, args=("--seal", "shamir"))
    assert "--seal shamir was given" in stderr, stderr
    # The passphrase from a file works like the variable.
    pass_file = srv.data_dir.parent / "passphrase.txt"
    pass_file.write_text(passphrase + "\n")
    srv.extra_env = {k: v for k, v in srv.extra_env.items() if k != "KEYWARD_PASSPHRASE"}
    srv.extra_args = ["--passphrase-file", str(pass_file)]
    srv.start()
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"opened by the passphrase"
    assert sm.get_secret_value(SecretId="sealed/secret")["SecretString"] == secret_value
    assert passphrase not in srv.log_text()


def test_a_new_passphrase_must_be_long_enough(tmp_path, keyward_binary):
    data_dir = tmp_path / "d"
    done = subprocess.run([str(keyward_binary), "server", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
                           "--seal", "passphrase"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "KEYWARD_PASSPHRASE": "short"})
    assert done.returncode != 0 and "at least 12 characters" in done.stderr, done.stderr


@pytest.mark.sqlite_file
def test_a_copied_data_directory_reveals_nothing(keyward, tmp_path, sensitive):
    """Without the passphrase, a copy of the data directory opens nothing, and neither a
    secret value nor a plaintext is anywhere in its files."""
    passphrase = "the copy does not have this"
    sensitive.add(passphrase, "passphrase")
    srv = passphrase_server(keyward, passphrase, "copied")
    needle = f"needle-{unique()}"
    sensitive.add(needle)
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key_id, Plaintext=needle.encode())
    sm.create_secret(Name="copied/secret", SecretString=needle)
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]
    assert srv.stop() == 0
    copy = tmp_path / "copy"
    shutil.copytree(srv.data_dir, copy)
    files = [p for p in copy.rglob("*") if p.is_file()]
    assert files and not (copy / "root.key").exists()
    for path in files:
        data = path.read_bytes()
        for secret in (needle.encode(), data_key, base64.b64encode(data_key), passphrase.encode()):
            assert secret not in data, f"{path.name} holds a secret"
    done = subprocess.run([str(keyward_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(copy)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "KEYWARD_PASSPHRASE": "a guess at the passphrase"})
    assert done.returncode != 0 and "wrong passphrase" in done.stderr, done.stderr


def test_shamir_unseal_ceremony(keyward, aws_for, tmp_path):
    shares_file = tmp_path / "shares.txt"
    srv = keyward(env=ROOT_ACCESS, args=("--seal", "shamir", "--shares", "5", "--threshold", "3",
                                         "--shares-file", str(shares_file)), name="shamir")
    assert stat.S_IMODE(shares_file.stat().st_mode) == 0o600
    shares = read_shares(shares_file)
    assert len(shares) == 5 and len(set(shares)) == 5
    assert all(s.startswith(f"kw1-{i}-") for i, s in enumerate(shares, 1))
    for share in shares:
        assert share not in srv.log_text(), "a share must not reach the log"
    assert not (srv.data_dir / "root.key").exists()

    sealed_errors(srv, aws_for)
    status = unseal(srv, "--status")
    assert status.returncode == 0 and "sealed: 0 of 3" in status.stdout, status

    first = unseal(srv, shares[0])
    assert first.returncode == 0 and "sealed: 1 of 3" in first.stdout, first
    share_file = tmp_path / "one-share"
    share_file.write_text(shares[1] + "\n")
    second = unseal(srv, "--share-file", str(share_file))
    assert second.returncode == 0 and "sealed: 2 of 3" in second.stdout, second
    again = unseal(srv, shares[1])
    assert again.returncode != 0 and "share 2 was already given" in again.stdout, again
    garbage = unseal(srv, "kw1-9-nothex")
    assert garbage.returncode != 0 and "not a Keyward unseal share" in garbage.stdout, garbage
    sealed_errors(srv, aws_for)  # two shares open nothing

    # A damaged third share: the threshold is reached, the root key does not open, and
    # the ceremony starts over.
    index, _, digits = shares[2].rpartition("-")
    damaged = f"{index}-{'0' if digits[0] != '0' else '1'}{digits[1:]}"
    wrong = unseal(srv, damaged)
    assert wrong.returncode != 0 and "do not open the root key" in wrong.stdout and "0 of 3" in wrong.stdout, wrong
    sealed_errors(srv, aws_for)

    for share in shares[2:]:
        done = unseal(srv, share)
        assert done.returncode == 0, done
    assert "unsealed" in done.stdout
    assert unseal(srv, "--status").stdout.strip() == "unsealed"
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"behind five keyholders")["CiphertextBlob"]
    sm.create_secret(Name="shamir/secret", SecretString="held by three of five")
    late = unseal(srv, shares[0])
    assert late.returncode != 0 and "not sealed" in late.stdout

    srv.restart()
    sealed_errors(srv, aws_for)
    for share in (shares[4], shares[0], shares[2]):
        assert unseal(srv, share).returncode == 0
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"behind five keyholders"
    assert sm.get_secret_value(SecretId="shamir/secret")["SecretString"] == "held by three of five"


def test_rekey_while_the_server_runs(keyward, aws_for, tmp_path, sensitive):
    old, new = "the first passphrase here", "the second passphrase here"
    sensitive.add(old, "passphrase")
    sensitive.add(new, "passphrase")
    srv = passphrase_server(keyward, old, "rekey")
    kms = make_kms(srv)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before the rekey")["CiphertextBlob"]
    data_dir = ("--data-dir", str(srv.data_dir))

    done = run_binary(srv, "rekey", *data_dir, "--to", "passphrase",
                      env={"KEYWARD_PASSPHRASE": old, "KEYWARD_NEW_PASSPHRASE": new, **CHEAP_ARGON2})
    assert done.returncode == 0, done.stderr
    assert "sealed by passphrase" in done.stderr
    # No downtime: the running server holds the data root key and goes on serving.
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before the rekey"
    assert kms.encrypt(KeyId=key_id, Plaintext=b"during")["CiphertextBlob"]
    # The old passphrase opens nothing any more, not even for another rekey.
    stale = run_binary(srv, "rekey", *data_dir, "--to", "passphrase",
                       env={"KEYWARD_PASSPHRASE": old, "KEYWARD_NEW_PASSPHRASE": "yet another passphrase"})
    assert stale.returncode != 0 and "wrong passphrase" in stale.stderr, stale.stderr

    assert srv.stop() == 0
    assert "wrong passphrase" in refused_start(srv, env={"KEYWARD_PASSPHRASE": old})
    srv.extra_env["KEYWARD_PASSPHRASE"] = new
    srv.start()
    kms = make_kms(srv)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before the rekey"

    # Passphrase → Shamir, still while serving.
    shares_file = tmp_path / "rekey-shares"
    done = run_binary(srv, "rekey", *data_dir, "--to", "shamir", "--shares", "3", "--threshold", "2",
                      "--shares-file", str(shares_file), env={"KEYWARD_PASSPHRASE": new})
    assert done.returncode == 0, done.stderr
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before the rekey"
    shares = read_shares(shares_file)
    assert len(shares) == 3
    srv.extra_env.update(ROOT_ACCESS_FROM(srv))
    assert srv.stop() == 0
    # --seal names the kind a first start makes; a later start given another is refused.
    stderr = refused_start(srv, env={}, args=("--seal", "passphrase"))
    assert "sealed by shamir" in stderr and "keyward rekey" in stderr, stderr
    srv.extra_args = []
    srv.start()
    sealed_errors(srv, aws_for)
    assert unseal(srv, shares[2]).returncode == 0
    assert unseal(srv, shares[0]).returncode == 0
    kms = make_kms(srv)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before the rekey"

    # Shamir → a root key file outside the data directory, with two shares from a file.
    two = tmp_path / "two-shares"
    two.write_text(f"{shares[1]}\n{shares[2]}\n")
    key_file = tmp_path / "root-key-file"
    done = run_binary(srv, "rekey", *data_dir, "--to", "file", "--share-file", str(two),
                      "--new-root-key-file", str(key_file))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    srv.extra_env.pop("KEYWARD_PASSPHRASE")
    srv.extra_args = ["--root-key-file", str(key_file)]
    srv.restart()
    assert make_kms(srv).decrypt(CiphertextBlob=blob)["Plaintext"] == b"before the rekey"


def ROOT_ACCESS_FROM(srv: KeywardServer) -> dict[str, str]:  # noqa: N802
    """The server's generated root access key as settings, for a sealed restart, which writes
    no credentials file before it is unsealed."""
    return {"KEYWARD_ROOT_ACCESS_KEY_ID": srv.access_key_id, "KEYWARD_ROOT_SECRET_ACCESS_KEY": srv.secret_access_key}


def test_rekey_from_the_generated_root_key_file_removes_it(keyward, sensitive):
    srv = keyward(name="fromfile")
    root_key = srv.data_dir / "root.key"
    assert root_key.exists()
    kms = make_kms(srv)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"once under root.key")["CiphertextBlob"]
    passphrase = "moving off the root key file"
    sensitive.add(passphrase, "passphrase")
    # A sealed kind is not made on top of data under a root key file: rekey moves it.
    assert srv.stop() == 0
    stderr = refused_start(srv, env={"KEYWARD_PASSPHRASE": passphrase}, args=("--seal", "passphrase"))
    assert "keyward rekey --to passphrase" in stderr, stderr
    srv.start()
    done = run_binary(srv, "rekey", "--data-dir", str(srv.data_dir), "--to", "passphrase",
                      env={"KEYWARD_NEW_PASSPHRASE": passphrase, **CHEAP_ARGON2})
    assert done.returncode == 0, done.stderr
    assert not root_key.exists() and "removed the old root key file" in done.stderr
    assert make_kms(srv).decrypt(CiphertextBlob=blob)["Plaintext"] == b"once under root.key"
    assert srv.stop() == 0
    assert "sealed by a passphrase" in refused_start(srv, env={})
    srv.extra_env["KEYWARD_PASSPHRASE"] = passphrase
    srv.start()
    assert make_kms(srv).decrypt(CiphertextBlob=blob)["Plaintext"] == b"once under root.key"


SOFTHSM_MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                   "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so")


@pytest.fixture
def softhsm(tmp_path) -> dict[str, str]:
    """A SoftHSM2 configuration of this test's own, with the tokens `keyward` and `other`
    (user PIN 1234 and 5678); the environment the server and softhsm2-util need."""
    module = next((m for m in SOFTHSM_MODULES if Path(m).is_file()), None)
    if module is None or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2; scripts/test.sh does)")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    for label, pin in (("keyward", "1234"), ("other", "5678")):
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "0000", "--pin", pin],
                       env={**os.environ, **env}, check=True, capture_output=True, timeout=60)
    return {**env, "module": module}


def test_pkcs11_seal_with_softhsm(keyward, softhsm, sensitive):
    module = softhsm.pop("module")
    hsm_args = ("--pkcs11-module", module, "--pkcs11-token-label", "keyward")
    srv = keyward(env={**softhsm, "KEYWARD_PKCS11_PIN": "1234"}, args=("--seal", "pkcs11", *hsm_args), name="pkcs11")
    assert "generated the root of trust's AES-256 key in the HSM" in srv.log_text()
    assert not (srv.data_dir / "root.key").exists()
    kms = make_kms(srv)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    sensitive.add(b"sealed in the HSM")
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"sealed in the HSM")["CiphertextBlob"]

    srv.restart()
    assert srv.log_text().count("generated the root of trust's AES-256 key") == 1, "the HSM key is made once"
    assert make_kms(srv).decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed in the HSM"

    assert srv.stop() == 0
    assert "KEYWARD_PKCS11_PIN" in refused_start(srv, env=softhsm, args=hsm_args)
    assert "wrong PIN" in refused_start(srv, env={**softhsm, "KEYWARD_PKCS11_PIN": "4321"}, args=hsm_args)
    stderr = refused_start(srv, env={**softhsm, "KEYWARD_PKCS11_PIN": "5678"},
                           args=("--pkcs11-module", module, "--pkcs11-token-label", "other"))
    assert "--pkcs11-token-label does not match" in stderr, stderr
    assert "--pkcs11-module" in refused_start(srv, env={**softhsm, "KEYWARD_PKCS11_PIN": "1234"})
    # PKCS#11 → passphrase with rekey; the HSM opens the old seal.
    passphrase = "off the hardware module now"
    sensitive.add(passphrase, "passphrase")
    done = run_binary(srv, "rekey", "--data-dir", str(srv.data_dir), "--to", "passphrase", "--pkcs11-module", module,
                      env={**softhsm, "KEYWARD_PKCS11_PIN": "1234", "KEYWARD_NEW_PASSPHRASE": passphrase, **CHEAP_ARGON2})
    assert done.returncode == 0, done.stderr
    srv.extra_env = {k: v for k, v in srv.extra_env.items() if k == "KEYWARD_STORAGE"}
    srv.extra_env["KEYWARD_PASSPHRASE"] = passphrase
    srv.extra_args = []
    srv.start()
    assert make_kms(srv).decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed in the HSM"


def test_unseal_over_https(keyward, tmp_path):
    from test_tls import Ca, boto_client

    ca = Ca(tmp_path / "ca")
    cert, key = ca.issue("sealed-tls", 2001)
    shares_file = tmp_path / "tls-shares"
    srv = keyward(env=ROOT_ACCESS, name="sealed-tls",
                  args=("--tls-cert", str(cert), "--tls-key", str(key), "--seal", "shamir", "--shares", "2",
                        "--threshold", "2", "--shares-file", str(shares_file)))
    assert srv.endpoint.startswith("https://")
    shares = read_shares(shares_file)
    # A client that does not trust the server's CA sends no share.
    untrusted = unseal(srv, shares[0])
    assert untrusted.returncode != 0 and "TLS" in untrusted.stderr, untrusted
    assert "sealed: 0 of 2" in unseal(srv, "--ca-bundle", str(ca.pem), "--status").stdout
    for share in shares:
        done = unseal(srv, "--ca-bundle", str(ca.pem), share)
        assert done.returncode == 0, done
    assert done.stdout.strip() == "unsealed"
    assert boto_client("kms", srv, ca).list_keys()["Keys"] == []
