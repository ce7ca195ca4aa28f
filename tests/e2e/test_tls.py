"""HTTPS: boto3 and the aws CLI against a certificate from a throwaway CA, SIGHUP reloads,
clients that do not speak TLS, and the refusal to serve plain HTTP off loopback."""

from __future__ import annotations

import base64
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import REGION, keyward_bin, unique

RELOAD_TIMEOUT = 15.0


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Ca:
    """A CA made for this test run; issues server certificates for 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Keyward Test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
        self.pem = directory / "ca.pem"

    def issue(self, name: str, serial: int, *, key: str = "ec-pkcs8") -> tuple[Path, Path]:
        """Writes <name>.pem and <name>.key; key is ec-pkcs8, ec-sec1 or rsa-pkcs1."""
        d = self.dir
        if key == "ec-pkcs8":
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key", cwd=d)
        elif key == "ec-sec1":
            openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d)
        else:
            openssl("genrsa", "-traditional", "-out", f"{name}.key", "2048", cwd=d)
        openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-set_serial", str(serial), "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)
        return d / f"{name}.pem", d / f"{name}.key"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Ca:
    return Ca(tmp_path_factory.mktemp("tls-ca"))


def tls_server(keyward, ca: Ca, name: str, serial: int, *, key: str = "ec-pkcs8"):
    """A server with its own copies of a fresh certificate and key (files it may reload)."""
    cert, key_file = ca.issue(name, serial, key=key)
    live = ca.dir / f"live-{name}"
    live.mkdir()
    (live / "cert.pem").write_bytes(cert.read_bytes())
    (live / "key.pem").write_bytes(key_file.read_bytes())
    srv = keyward(name=name, args=("--tls-cert", str(live / "cert.pem"), "--tls-key", str(live / "key.pem")))
    return srv, live


@pytest.fixture(scope="module")
def https_server(keyward, ca: Ca):
    srv, _ = tls_server(keyward, ca, "https-main", 1001)
    return srv


def boto_client(service: str, srv, ca: Ca | None) -> Any:
    session = boto3.session.Session(aws_access_key_id=srv.access_key_id,
                                    aws_secret_access_key=srv.secret_access_key, region_name=REGION)
    config = botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=30)
    return session.client(service, endpoint_url=srv.endpoint, config=config,
                          verify=str(ca.pem) if ca else True)


def peer_cert(srv, ca: Ca) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=str(ca.pem))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.selected_alpn_protocol() in (None, "http/1.1")
            return tls.getpeercert()


def common_name(cert: dict[str, Any]) -> str:
    return dict(pair[0] for pair in cert["subject"])["commonName"]


def wait_for_log(srv, text: str, after: int) -> None:
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while not any(text in line for line in srv.log_lines()[after:]):
        assert time.monotonic() < deadline, f"no '{text}' in the log:\n{srv.log_tail()}"
        time.sleep(0.05)


def test_listening_line_and_endpoint_say_https(https_server):
    assert https_server.endpoint.startswith("https://127.0.0.1:")
    assert f"listening on https://127.0.0.1:{https_server.port}" in https_server.log_text()


def test_boto3_encrypts_decrypts_and_reads_a_secret_over_https(https_server, ca, sensitive):
    kms = boto_client("kms", https_server, ca)
    sm = boto_client("secretsmanager", https_server, ca)
    sensitive.add("over TLS with boto3")
    key_id = kms.create_key(Description="tls")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"over TLS with boto3")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over TLS with boto3"
    name = unique("tls-secret")
    sensitive.add("boto3 secret over TLS")
    sm.create_secret(Name=name, SecretString="boto3 secret over TLS")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "boto3 secret over TLS"


def test_aws_cli_with_ca_bundle(https_server, ca, aws_for, sensitive):
    aws = aws_for(https_server)
    bundle = ("--ca-bundle", str(ca.pem))
    sensitive.add("over TLS with the aws CLI")
    key_id = aws("kms", "create-key", *bundle)["KeyMetadata"]["KeyId"]
    blob = aws("kms", "encrypt", "--key-id", key_id, "--plaintext", "over TLS with the aws CLI",
               "--output", "text", "--query", "CiphertextBlob", *bundle)
    blob_file = aws.home / "blob.bin"
    blob_file.write_bytes(base64.b64decode(blob))
    plain = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob_file}", "--output", "text",
                "--query", "Plaintext", *bundle)
    assert base64.b64decode(plain) == b"over TLS with the aws CLI"
    name = unique("tls-cli")
    sensitive.add("cli secret over TLS")
    aws("secretsmanager", "create-secret", "--name", name, "--secret-string", "cli secret over TLS", *bundle)
    value = aws("secretsmanager", "get-secret-value", "--secret-id", name, "--output", "text",
                "--query", "SecretString", *bundle)
    assert value == "cli secret over TLS"


def test_clients_that_do_not_trust_the_ca_are_refused(https_server):
    kms = boto_client("kms", https_server, None)
    with pytest.raises(botocore.exceptions.SSLError):
        kms.list_keys()


def test_plain_http_and_silent_clients_do_not_stop_the_server(https_server, ca):
    # A client that connects and says nothing holds only its own handshake task.
    silent = socket.create_connection(("127.0.0.1", https_server.port), timeout=10)
    try:
        # Plain HTTP to the TLS port: no HTTP answer, the connection is closed.
        with socket.create_connection(("127.0.0.1", https_server.port), timeout=10) as plain:
            plain.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
            received = b""
            while True:
                try:
                    chunk = plain.recv(4096)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += chunk
            assert not received.startswith(b"HTTP/")
        # A handshake that is cut off half-way.
        with socket.create_connection(("127.0.0.1", https_server.port), timeout=10) as cut:
            cut.sendall(b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03")
        # Meanwhile, and after, real clients are served.
        kms = boto_client("kms", https_server, ca)
        for _ in range(3):
            assert isinstance(kms.list_keys()["Keys"], list)
    finally:
        silent.close()
    assert https_server.proc is not None and https_server.proc.poll() is None


def test_sighup_reloads_the_certificate_and_keeps_it_when_the_new_files_are_bad(keyward, ca):
    srv, live = tls_server(keyward, ca, "reload-first", 2001)
    kms = boto_client("kms", srv, ca)
    assert common_name(peer_cert(srv, ca)) == "reload-first"

    # A new certificate with an RSA (PKCS#1) key, written over the same files.
    cert, key = ca.issue("reload-second", 2002, key="rsa-pkcs1")
    (live / "key.pem").write_bytes(key.read_bytes())
    (live / "cert.pem").write_bytes(cert.read_bytes())
    mark = len(srv.log_lines())
    srv.proc.send_signal(signal.SIGHUP)
    wait_for_log(srv, "TLS certificate and key reloaded", mark)
    seen = peer_cert(srv, ca)
    assert common_name(seen) == "reload-second" and int(seen["serialNumber"], 16) == 2002
    assert isinstance(kms.list_keys()["Keys"], list)  # a client made before the reload

    # Not PEM at all: the second certificate stays.
    (live / "cert.pem").write_text("this is not a certificate\n")
    mark = len(srv.log_lines())
    srv.proc.send_signal(signal.SIGHUP)
    wait_for_log(srv, "TLS certificate not reloaded", mark)
    assert common_name(peer_cert(srv, ca)) == "reload-second"

    # A valid certificate whose key is another one's: refused too.
    other_cert, _ = ca.issue("reload-third", 2003)
    (live / "cert.pem").write_bytes(other_cert.read_bytes())
    mark = len(srv.log_lines())
    srv.proc.send_signal(signal.SIGHUP)
    wait_for_log(srv, "TLS certificate not reloaded", mark)
    assert common_name(peer_cert(srv, ca)) == "reload-second"
    assert isinstance(boto_client("kms", srv, ca).list_keys()["Keys"], list)
    assert srv.proc.poll() is None


def test_sec1_ec_keys_load(keyward, ca):
    srv, _ = tls_server(keyward, ca, "sec1-key", 3001, key="ec-sec1")
    assert common_name(peer_cert(srv, ca)) == "sec1-key"


def run_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `keyward server` that is expected to exit on its own (a refusal)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARD_"))}
    full_env["NO_COLOR"] = "1"
    full_env.update(env or {})
    return subprocess.run([str(keyward_bin()), "server", "--data-dir", str(tmp_path / "data"), *args],
                          env=full_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_plain_http_off_loopback_is_refused(tmp_path, how):
    if how == "flag":
        result = run_server(tmp_path, "--listen", "0.0.0.0:0")
    else:
        result = run_server(tmp_path, env={"KEYWARD_LISTEN": "0.0.0.0:0"})
    assert result.returncode != 0
    assert "refusing to serve plain HTTP on 0.0.0.0:0" in result.stderr
    assert "--allow-plaintext" in result.stderr
    assert "listening" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_tls_flags_come_in_pairs_and_must_load(tmp_path, ca):
    cert, key = ca.issue("flags", 4001)
    result = run_server(tmp_path, "--listen", "127.0.0.1:0", "--tls-cert", str(cert))
    assert result.returncode != 0 and "--tls-key" in result.stderr
    result = run_server(tmp_path, "--listen", "127.0.0.1:0", "--tls-cert", str(tmp_path / "missing.pem"),
                        "--tls-key", str(key))
    assert result.returncode != 0
    assert "missing.pem" in result.stderr and "listening" not in result.stderr
    result = run_server(tmp_path, "--listen", "127.0.0.1:0", "--tls-cert", str(key), "--tls-key", str(key))
    assert result.returncode != 0 and "no PEM certificate" in result.stderr


def test_connection_bound_and_header_deadline_hold_over_tls(keyward, ca):
    """With --max-connections 2, a third client waits (its handshake is not even started)
    until one of two idle connections goes; a client that stalls inside its headers is
    disconnected after --header-timeout-seconds, and the server goes on serving."""
    cert, key = ca.issue("tls-limits", 5001)
    srv = keyward(name="tls-limits", args=("--tls-cert", str(cert), "--tls-key", str(key),
                                           "--max-connections", "2", "--header-timeout-seconds", "3"))
    context = ssl.create_default_context(cafile=str(ca.pem))

    def tls_connect() -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
        return context.wrap_socket(raw, server_hostname="127.0.0.1")

    stalled = tls_connect()
    stalled.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Tar")
    idle = tls_connect()
    third: dict[str, Any] = {}

    def connect_third() -> None:
        try:
            third["sock"] = tls_connect()
        except OSError as err:
            third["error"] = err

    waiter = threading.Thread(target=connect_third)
    waiter.start()
    try:
        waiter.join(1.0)
        assert waiter.is_alive(), "a third connection was served past --max-connections 2"
        # The stalled client is cut off at the header deadline, which frees a place.
        stalled.settimeout(20)
        try:
            assert stalled.recv(1024) == b""
        except (ConnectionResetError, ssl.SSLError):
            pass
        waiter.join(20)
        assert "sock" in third, third
        third["sock"].sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert third["sock"].recv(12).startswith(b"HTTP/1.1 ")
    finally:
        for s in (stalled, idle, third.get("sock")):
            if s is not None:
                s.close()
    assert boto_client("kms", srv, ca).list_keys()["Keys"] is not None
