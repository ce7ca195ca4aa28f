"""`keyward encrypt` / `keyward decrypt`: the AWS Encryption SDK message format with data
keys from the server under test, interoperable both ways with the official
`aws-encryption-cli` (PyPI aws-encryption-sdk-cli, pinned in requirements.txt).

Both tools get the server's credentials and endpoint the same way, through the standard
AWS environment variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) and a config file of
their own; nothing of this machine's AWS configuration reaches them.

The official CLI exits 0 when the encryption context does not match (it warns and deletes
its output), so the tests check the output files, not only exit statuses. It also encrypts
only with frame lengths that are multiples of 128 (it decrypts any), so the official →
Keyward direction uses 128-byte frames where Keyward → official uses 1-byte frames.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import REGION, KeywardServer, keyward_bin, unique
from test_audit import attr, lookup_all, make_cloudtrail

TOOL_TIMEOUT = 120.0
MiB = 1 << 20

SUITES = [
    "AES_128_GCM_IV12_TAG16",
    "AES_192_GCM_IV12_TAG16",
    "AES_256_GCM_IV12_TAG16",
    "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
    "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
    "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
    "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
    "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
    "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
    "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
    "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
]


def policy_for(suite: str) -> str:
    return "require-encrypt-require-decrypt" if "COMMIT_KEY" in suite else "forbid-encrypt-allow-decrypt"


def official_cli() -> str:
    path = Path(sys.executable).parent / "aws-encryption-cli"
    if not path.exists():
        found = shutil.which("aws-encryption-cli")
        if not found:
            pytest.fail("aws-encryption-cli is not installed; run ./scripts/test.sh (it installs tests/e2e/requirements.txt)")
        return found
    return str(path)


class Tools:
    """Runs `keyward encrypt|decrypt` and `aws-encryption-cli` against one server."""

    def __init__(self, server: KeywardServer, home: Path) -> None:
        self.server = server
        self.home = home
        self.config = home / "aws-config"
        self.config.write_text(f"[default]\nregion = {REGION}\n")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARD_"))}
        env.update({
            "HOME": str(self.home),
            "NO_COLOR": "1",
            "AWS_ACCESS_KEY_ID": self.server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.server.secret_access_key,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.server.endpoint,
            "AWS_CONFIG_FILE": str(self.config),
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        })
        return env

    def keyward(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(keyward_bin()), *args], env=self.env(), input=stdin,
                              stdin=None if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, timeout=TOOL_TIMEOUT, cwd=str(self.home))

    def keyward_ok(self, *args: str, stdin: bytes | None = None) -> bytes:
        result = self.keyward(*args, stdin=stdin)
        assert result.returncode == 0, f"keyward {' '.join(args)} exited {result.returncode}:\n{result.stderr.decode()}"
        return result.stdout

    def official(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([official_cli(), "-S", *args], env=self.env(), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=TOOL_TIMEOUT, cwd=str(self.home))

    def official_ok(self, *args: str) -> None:
        result = self.official(*args)
        assert result.returncode == 0, f"aws-encryption-cli {' '.join(args)} exited {result.returncode}:\n{result.stderr.decode()}"


@pytest.fixture(scope="module")
def tools(server: KeywardServer, tmp_path_factory: pytest.TempPathFactory) -> Tools:
    return Tools(server, tmp_path_factory.mktemp("esdk-home"))


@pytest.fixture(scope="module")
def key(kms: Any) -> dict[str, str]:
    meta = kms.create_key(Description="esdk e2e")["KeyMetadata"]
    alias = f"alias/{unique('esdk')}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return {"arn": meta["Arn"], "alias": alias, "id": meta["KeyId"]}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


def plaintext(sensitive: Any, size: int) -> bytes:
    data = os.urandom(size)
    if size >= 8:
        sensitive.add(data[:64])
    return data


def leftovers(directory: Path) -> list[str]:
    """Temporary files our tool might have left (it must not)."""
    return [p.name for p in directory.iterdir() if p.name.startswith(".keyward-")]


@pytest.mark.parametrize("suite", SUITES)
def test_every_suite_both_ways(tools: Tools, key: dict[str, str], work: Path, sensitive: Any, suite: str) -> None:
    data = plaintext(sensitive, 3000)
    policy = policy_for(suite)
    (work / "plain").write_bytes(data)

    # Keyward → official, one-byte frames.
    tools.keyward_ok("encrypt", "--key", key["alias"], "--context", "suite=" + suite, "--algorithm", suite,
                     "--commitment-policy", policy, "--frame-length", "1", "-i", str(work / "plain"),
                     "-o", str(work / "kw.enc"))
    message = (work / "kw.enc").read_bytes()
    assert message[0] == (2 if "COMMIT_KEY" in suite else 1)
    tools.official_ok("-d", "-i", str(work / "kw.enc"), "-o", str(work / "kw.dec"), "-w", f"key={key['arn']}",
                      "--commitment-policy", policy, "-c", f"suite={suite}")
    assert (work / "kw.dec").read_bytes() == data

    # Official → Keyward.
    tools.official_ok("-e", "-i", str(work / "plain"), "-o", str(work / "py.enc"), "-w", f"key={key['arn']}",
                      "--algorithm", suite, "--commitment-policy", policy, "--frame-length", "128",
                      "-c", f"suite={suite}")
    tools.keyward_ok("decrypt", "--key", key["arn"], "--context", f"suite={suite}", "--commitment-policy", policy,
                     "-i", str(work / "py.enc"), "-o", str(work / "py.dec"))
    assert (work / "py.dec").read_bytes() == data
    assert leftovers(work) == []


@pytest.mark.parametrize("frame", [1, 128, MiB])
def test_frame_sizes(tools: Tools, key: dict[str, str], work: Path, sensitive: Any, frame: int) -> None:
    size = 5000 if frame < 4096 else 2 * MiB + 17
    data = plaintext(sensitive, size)
    (work / "plain").write_bytes(data)
    tools.keyward_ok("encrypt", "--key", key["arn"], "--context", "f=1", "--frame-length", str(frame),
                     "-i", str(work / "plain"), "-o", str(work / "kw.enc"))
    tools.official_ok("-d", "-i", str(work / "kw.enc"), "-o", str(work / "kw.dec"), "-w", f"key={key['arn']}")
    assert (work / "kw.dec").read_bytes() == data
    if frame % 128 == 0:  # the only frame lengths the official CLI encrypts with
        tools.official_ok("-e", "-i", str(work / "plain"), "-o", str(work / "py.enc"), "-w", f"key={key['arn']}",
                          "--frame-length", str(frame), "-c", "f=1")
        tools.keyward_ok("decrypt", "--context", "f=1", "-i", str(work / "py.enc"), "-o", str(work / "py.dec"))
        assert (work / "py.dec").read_bytes() == data


@pytest.mark.parametrize("size", [0, 20 * MiB], ids=["empty", "20MiB"])
def test_empty_and_large_inputs(tools: Tools, key: dict[str, str], work: Path, sensitive: Any, size: int) -> None:
    data = plaintext(sensitive, size)
    (work / "plain").write_bytes(data)
    tools.keyward_ok("encrypt", "--key", key["alias"], "--context", "size=" + str(size),
                     "-i", str(work / "plain"), "-o", str(work / "kw.enc"))
    tools.official_ok("-d", "-i", str(work / "kw.enc"), "-o", str(work / "kw.dec"), "-w", f"key={key['arn']}",
                      "-c", f"size={size}")
    assert (work / "kw.dec").read_bytes() == data
    tools.official_ok("-e", "-i", str(work / "plain"), "-o", str(work / "py.enc"), "-w", f"key={key['arn']}",
                      "-c", f"size={size}")
    tools.keyward_ok("decrypt", "--key", key["alias"], "--context", f"size={size}",
                     "-i", str(work / "py.enc"), "-o", str(work / "py.dec"))
    assert (work / "py.dec").read_bytes() == data


def test_context_mismatch_is_refused(tools: Tools, key: dict[str, str], work: Path, sensitive: Any) -> None:
    data = plaintext(sensitive, 1000)
    (work / "plain").write_bytes(data)
    tools.keyward_ok("encrypt", "--key", key["alias"], "--context", "tenant=a", "--context", "app=x",
                     "-i", str(work / "plain"), "-o", str(work / "kw.enc"))
    for expected in (["tenant=b"], ["tenant=a", "other=1"], ["app=x", "tenant=A"]):
        args = [a for pair in expected for a in ("--context", pair)]
        result = tools.keyward("decrypt", *args, "-i", str(work / "kw.enc"), "-o", str(work / "out"))
        assert result.returncode == 1, result.stderr
        assert b"encryption context does not match" in result.stderr
        assert not (work / "out").exists()
    # A subset of the pairs is enough (signing suites also add aws-crypto-public-key).
    tools.keyward_ok("decrypt", "--context", "app=x", "-i", str(work / "kw.enc"), "-o", str(work / "out"))
    assert (work / "out").read_bytes() == data

    # The official CLI refuses the same mismatch by deleting its output (and exiting 0).
    tools.official("-d", "-i", str(work / "kw.enc"), "-o", str(work / "py.out"), "-w", f"key={key['arn']}",
                   "-c", "tenant=b")
    assert not (work / "py.out").exists()
    tools.official_ok("-e", "-i", str(work / "plain"), "-o", str(work / "py.enc"), "-w", f"key={key['arn']}",
                      "-c", "tenant=a")
    result = tools.keyward("decrypt", "--context", "tenant=b", "-i", str(work / "py.enc"), "-o", str(work / "out2"))
    assert result.returncode == 1 and not (work / "out2").exists()
    assert leftovers(work) == []


def test_data_key_must_be_under_the_named_key(tools: Tools, key: dict[str, str], kms: Any, work: Path,
                                              sensitive: Any) -> None:
    other = kms.create_key(Description="esdk other")["KeyMetadata"]
    (work / "plain").write_bytes(plaintext(sensitive, 100))
    tools.keyward_ok("encrypt", "--key", key["id"], "-i", str(work / "plain"), "-o", str(work / "kw.enc"))
    for name in (other["Arn"], other["KeyId"]):
        result = tools.keyward("decrypt", "--key", name, "-i", str(work / "kw.enc"), "-o", str(work / "out"))
        assert result.returncode == 1
        assert f"not encrypted under {other['Arn']}".encode() in result.stderr, result.stderr
        assert not (work / "out").exists()
    for name in (key["arn"], key["alias"], key["id"]):
        tools.keyward_ok("decrypt", "--key", name, "-i", str(work / "kw.enc"), "-o", str(work / "out"))


def test_truncated_or_altered_input_leaves_nothing(tools: Tools, key: dict[str, str], work: Path,
                                                   sensitive: Any) -> None:
    data = plaintext(sensitive, 50_000)
    (work / "plain").write_bytes(data)
    for suite in ("AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"):
        tools.keyward_ok("encrypt", "--key", key["alias"], "--algorithm", suite, "-i", str(work / "plain"),
                         "-o", str(work / "kw.enc"))
        message = (work / "kw.enc").read_bytes()
        damaged = {
            "cut in the header": message[:40],
            "cut in the body": message[:30_000],
            "cut before the end": message[:-1],
            "trailing byte": message + b"\0",
            "header byte": bytes([message[0]]) + bytes([message[1] ^ 1]) + message[2:],
            "body byte": message[:25_000] + bytes([message[25_000] ^ 0x40]) + message[25_001:],
            "last byte": message[:-1] + bytes([message[-1] ^ 1]),
        }
        for what, bad in damaged.items():
            (work / "bad.enc").write_bytes(bad)
            result = tools.keyward("decrypt", "-i", str(work / "bad.enc"), "-o", str(work / "out"))
            assert result.returncode == 1, f"{suite} {what}: exit {result.returncode}"
            assert result.stderr.startswith(b"error: "), result.stderr
            assert not (work / "out").exists(), f"{suite} {what}: output left behind"
            assert leftovers(work) == [], f"{suite} {what}"
            # To standard output: nothing at all, not even the frames that did verify.
            result = tools.keyward("decrypt", "-i", "-", "-o", "-", stdin=bad)
            assert result.returncode == 1 and result.stdout == b"", f"{suite} {what} on stdout"


def test_directories_with_recursive(tools: Tools, key: dict[str, str], work: Path, sensitive: Any) -> None:
    tree = work / "tree"
    files = {"a.txt": 10, "sub/b.bin": 5000, "sub/deeper/c": 0}
    for name, size in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(plaintext(sensitive, size))
    result = tools.keyward("encrypt", "--key", key["alias"], "-i", str(tree), "-o", str(work / "enc"))
    assert result.returncode == 2 and b"--recursive" in result.stderr
    tools.keyward_ok("encrypt", "--key", key["alias"], "--context", "dir=1", "-r", "-i", str(tree),
                     "-o", str(work / "enc"))
    assert sorted(str(p.relative_to(work / "enc")) for p in (work / "enc").rglob("*") if p.is_file()) == sorted(
        f"{name}.encrypted" for name in files)
    tools.keyward_ok("decrypt", "--context", "dir=1", "-r", "-i", str(work / "enc"), "-o", str(work / "dec"))
    for name in files:
        assert (work / "dec" / f"{name}.encrypted.decrypted").read_bytes() == (tree / name).read_bytes()
    # The official CLI reads the same tree.
    (work / "pydec").mkdir()  # the official CLI wants an existing directory
    tools.official_ok("-d", "-r", "-i", str(work / "enc"), "-o", str(work / "pydec"), "-w", f"key={key['arn']}")
    assert (work / "pydec" / "sub" / "b.bin.encrypted.decrypted").read_bytes() == (tree / "sub/b.bin").read_bytes()
    # Several files into one directory.
    tools.keyward_ok("encrypt", "--key", key["alias"], "-i", str(tree / "a.txt"), "-i", str(tree / "sub/b.bin"),
                     "--suffix", ".kw", "-o", str(work / "flat"))
    assert sorted(p.name for p in (work / "flat").iterdir()) == ["a.txt.kw", "b.bin.kw"]


def test_standard_input_and_output(tools: Tools, key: dict[str, str], sensitive: Any) -> None:
    data = plaintext(sensitive, 300_000)
    message = tools.keyward_ok("encrypt", "--key", key["alias"], "--context", "pipe=1", "-i", "-", "-o", "-",
                               stdin=data)
    assert message[:3] == b"\x02\x05\x78"
    assert tools.keyward_ok("decrypt", "--context", "pipe=1", "-i", "-", "-o", "-", stdin=message) == data
    empty = tools.keyward_ok("encrypt", "--key", key["alias"], "-i", "-", "-o", "-", stdin=b"")
    assert tools.keyward_ok("decrypt", "-i", "-", "-o", "-", stdin=empty) == b""


def test_version_1_messages_need_a_permissive_policy(tools: Tools, key: dict[str, str], work: Path,
                                                     sensitive: Any) -> None:
    data = plaintext(sensitive, 100)
    (work / "plain").write_bytes(data)
    tools.official_ok("-e", "-i", str(work / "plain"), "-o", str(work / "v1.enc"), "-w", f"key={key['arn']}",
                      "--commitment-policy", "forbid-encrypt-allow-decrypt")
    assert (work / "v1.enc").read_bytes()[:3] == b"\x01\x80\x03"  # 0x0378, the old default
    result = tools.keyward("decrypt", "-i", str(work / "v1.enc"), "-o", str(work / "out"))
    assert result.returncode == 1 and b"not allowed by commitment policy" in result.stderr
    assert not (work / "out").exists()
    tools.keyward_ok("decrypt", "--commitment-policy", "require-encrypt-allow-decrypt",
                     "-i", str(work / "v1.enc"), "-o", str(work / "out"))
    assert (work / "out").read_bytes() == data
    result = tools.keyward("encrypt", "--key", key["arn"], "--algorithm", "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
                           "-i", str(work / "plain"), "-o", str(work / "x"))
    assert result.returncode == 2 and not (work / "x").exists()


def test_the_audit_trail_shows_the_data_key_calls(tools: Tools, kms: Any, server: KeywardServer, work: Path,
                                                  sensitive: Any) -> None:
    arn = kms.create_key(Description="esdk audit")["KeyMetadata"]["Arn"]
    marker = unique("audit")
    (work / "plain").write_bytes(plaintext(sensitive, 100))
    tools.keyward_ok("encrypt", "--key", arn, "--context", f"case={marker}", "-i", str(work / "plain"),
                     "-o", str(work / "kw.enc"))
    tools.keyward_ok("decrypt", "--key", arn, "--context", f"case={marker}", "-i", str(work / "kw.enc"),
                     "-o", str(work / "out"))
    events = lookup_all(make_cloudtrail(server), **attr("ResourceName", arn))
    by_name = {e["EventName"]: e["Record"] for e in events if e["EventName"] in ("GenerateDataKey", "Decrypt")}
    assert set(by_name) == {"GenerateDataKey", "Decrypt"}, [e["EventName"] for e in events]
    for name, record in by_name.items():
        context = record["requestParameters"]["encryptionContext"]
        assert context["case"] == marker, record
        # The signing suite's public key is part of the context KMS binds the data key to.
        assert context["aws-crypto-public-key"], record
        assert "errorCode" not in record
        assert "aws-sdk-rust" in record["userAgent"], record["userAgent"]
    assert by_name["GenerateDataKey"]["requestParameters"]["numberOfBytes"] == 32
    assert by_name["Decrypt"]["requestParameters"]["keyId"] == arn
