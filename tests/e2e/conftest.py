"""Shared fixtures for the Keyward end-to-end suite.

Every test here talks to the real `keyward` binary over HTTP, through the stock aws CLI
(version 1, from PyPI), boto3, or raw SigV4-signed requests. Nothing on the machine leaks
in: the CLI and boto3 see only the credentials that the server under test generated, and a
config file of our own.

Binary: $KEYWARD_BIN, else <repo>/target/debug/keyward.

Storage: SQLite in each server's data directory, or, with KEYWARD_E2E_POSTGRES set to a
PostgreSQL server URL without a database (postgres://user@host:port; scripts/test.sh runs
the suite both ways), a fresh PostgreSQL database for each server. Tests that read or
tamper with the SQLite file itself carry the `sqlite_file` mark and are skipped then.
"""

from __future__ import annotations

import atexit
import base64
import configparser
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"

START_TIMEOUT = 30.0  # seconds until the "listening on" line must appear
STOP_TIMEOUT = 30.0  # seconds a SIGTERM'd server gets to exit
CLI_TIMEOUT = 120.0  # seconds for one aws CLI invocation
HTTP_TIMEOUT = 30.0  # socket timeout for raw HTTP and boto3

LISTENING_RE = re.compile(r"listening on (?:https?://)?127\.0\.0\.1:(\d+)")
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
CLI_ERROR_RE = re.compile(r"An error occurred \(([A-Za-z0-9_.:-]+)\)")
KEY_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Read before the environment is cleaned below.
E2E_POSTGRES = os.environ.get("KEYWARD_E2E_POSTGRES", "").rstrip("/")
# A PostgreSQL server tests may use as a service of their own (test_rotation.py rotates a
# role's password on it): scripts/test.sh's cluster, in both runs. Its members of the group
# keyward_password_login log in with a password.
SERVICE_POSTGRES = os.environ.get("KEYWARD_TEST_POSTGRES", "").rstrip("/")


def fresh_postgres_database() -> str:
    """A new, empty database on the E2E_POSTGRES server; its URL."""
    name = f"keyward_e2e_{uuid.uuid4().hex}"
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", f"{E2E_POSTGRES}/postgres", "-c", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True, timeout=60)
    return f"{E2E_POSTGRES}/{name}"


def stored_bytes(srv: "KeywardServer") -> bytes:
    """Everything the server has stored, as bytes: its SQLite files, or a plain-text dump of
    its PostgreSQL database. For asserting that a plaintext is not stored anywhere."""
    url = srv.extra_env.get("KEYWARD_STORAGE", "")
    if url.startswith("postgres"):
        dump = subprocess.run(["pg_dump", "--no-owner", url], check=True, capture_output=True, timeout=120)
        assert b"CREATE TABLE" in dump.stdout, "pg_dump printed no schema"
        return dump.stdout
    data = b"".join(p.read_bytes() for p in sorted(srv.data_dir.glob("keyward.db*")))
    assert data, "no database files"
    return data


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_file: reads or alters the SQLite database file directly")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not E2E_POSTGRES:
        return
    skip = pytest.mark.skip(reason="reads the SQLite file directly; this run stores in PostgreSQL")
    for item in items:
        if "sqlite_file" in item.keywords:
            item.add_marker(skip)


# Keep whatever AWS configuration this machine has out of the test process itself
# (boto3 clients created here, including the bare `boto3.client('kms')` of the seed lab).
for _name in list(os.environ):
    if _name.startswith("AWS_") or (_name.startswith("KEYWARD_") and _name != "KEYWARD_BIN"):
        del os.environ[_name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def keyward_bin() -> Path:
    value = os.environ.get("KEYWARD_BIN")
    if not value:
        return REPO_ROOT / "target" / "debug" / "keyward"
    path = Path(value)
    if path.is_absolute() or path.exists():
        return path.absolute()
    return REPO_ROOT / path


def aws_executable() -> str:
    beside_python = Path(sys.executable).parent / "aws"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("aws")
    if not found:
        pytest.fail("the aws CLI is not installed; run ./scripts/test.sh (it installs tests/e2e/requirements.txt)")
    return found


def unique(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------------------
# Values that must never reach the server's log
# --------------------------------------------------------------------------------------


class Sensitive:
    """Plaintexts, data keys and secrets the tests used; the server's logs must not show them."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, value: bytes | str, what: str = "plaintext") -> None:
        raw = value.encode() if isinstance(value, str) else bytes(value)
        forms: dict[str, str] = {}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and len(text) >= 6 and text.isprintable():
            forms[text] = what
        if len(raw) >= 6:
            forms[b64(raw)] = f"{what} (base64)"
            forms[base64.urlsafe_b64encode(raw).decode()] = f"{what} (base64url)"
        if len(raw) >= 8:
            forms[raw.hex()] = f"{what} (hex)"
        with self._lock:
            self._values.update(forms)

    def found_in(self, text: str) -> list[str]:
        with self._lock:
            items = list(self._values.items())
        return [f"{what}: {value[:12]}…" for value, what in items if value in text]


# --------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------

_RUNNING: list["KeywardServer"] = []


def _kill_leftovers() -> None:
    for srv in list(_RUNNING):
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()


atexit.register(_kill_leftovers)


class KeywardServer:
    """One `keyward server` process on a data directory; restartable on the same directory."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        config_via_env: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_env = dict(env or {})
        self.extra_args = list(args)
        # One database per server, kept across its restarts, like its data directory.
        if E2E_POSTGRES and "KEYWARD_STORAGE" not in self.extra_env and "--storage" not in self.extra_args:
            self.extra_env["KEYWARD_STORAGE"] = fresh_postgres_database()
        self.config_via_env = config_via_env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.scheme = "http"  # "https" once the server says it listens on https://
        self.exit_codes: list[int] = []
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listening = threading.Event()
        self.access_key_id = ""
        self.secret_access_key = ""

    # -- lifecycle -------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        assert self.port is not None, "server is not running"
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def _command_and_env(self) -> tuple[list[str], dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARD_"))}
        env["NO_COLOR"] = "1"
        env.update(self.extra_env)
        cmd = [str(keyward_bin()), "server"]
        if self.config_via_env:
            env.setdefault("KEYWARD_LISTEN", "127.0.0.1:0")
            env.setdefault("KEYWARD_DATA_DIR", str(self.data_dir))
        else:
            cmd += ["--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir)]
        cmd += self.extra_args
        return cmd, env

    def start(self) -> "KeywardServer":
        binary = keyward_bin()
        if not binary.is_file():
            pytest.fail(f"no keyward binary at {binary}: build it (cargo build -p keyward) or set KEYWARD_BIN")
        assert self.proc is None or self.proc.poll() is not None, "already running"
        cmd, env = self._command_and_env()
        self._listening = threading.Event()
        self.port = None
        self._log(f"---- start: {' '.join(cmd)}")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(self.data_dir.parent),
        )
        _RUNNING.append(self)
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stderr, "stderr"), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stdout, "stdout"), daemon=True),
        ]
        for t in self._threads:
            t.start()

        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None:
                self._join_pumps()
                pytest.fail(f"keyward exited with {self.proc.returncode} before listening:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait(10)
                self._join_pumps()
                pytest.fail(f"keyward did not log 'listening on 127.0.0.1:<port>' within {START_TIMEOUT}s:\n{self.log_tail()}")
        self._wait_for_port(deadline)
        self._load_credentials(deadline)
        return self

    def _wait_for_port(self, deadline: float) -> None:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"keyward logged port {self.port} but does not accept connections")
                time.sleep(0.05)

    def _load_credentials(self, deadline: float) -> None:
        if "KEYWARD_ROOT_ACCESS_KEY_ID" in self.extra_env:
            self.access_key_id = self.extra_env["KEYWARD_ROOT_ACCESS_KEY_ID"]
            self.secret_access_key = self.extra_env["KEYWARD_ROOT_SECRET_ACCESS_KEY"]
            return
        path = self.credentials_file
        while not path.is_file():
            if time.monotonic() > deadline:
                pytest.fail(f"keyward is listening but wrote no {path}:\n{self.log_tail()}")
            time.sleep(0.05)
        parser = configparser.ConfigParser()
        parser.read(path)
        try:
            self.access_key_id = parser["default"]["aws_access_key_id"].strip()
            self.secret_access_key = parser["default"]["aws_secret_access_key"].strip()
        except KeyError as exc:
            pytest.fail(f"{path} is not an AWS shared-credentials file with a [default] profile: missing {exc}")

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials"

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait (bounded). Returns the exit code; kills and fails on a hang."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                self._join_pumps()
                raise AssertionError(f"keyward did not exit within {timeout}s of SIGTERM:\n{self.log_tail()}")
        self._join_pumps()
        if self in _RUNNING:
            _RUNNING.remove(self)
        code = proc.returncode
        self.exit_codes.append(code)
        self._log(f"---- exited with {code}")
        self.proc = None
        return code

    def kill(self) -> int:
        """SIGKILL: a crash, no clean shutdown. Returns the exit status (-9). Not added to
        `exit_codes`, which holds the SIGTERM exits the teardown requires to be 0."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.kill()
        proc.wait(STOP_TIMEOUT)
        self._join_pumps()
        if self in _RUNNING:
            _RUNNING.remove(self)
        self._log(f"---- killed, exit status {proc.returncode}")
        self.proc = None
        return proc.returncode

    def restart(self) -> "KeywardServer":
        code = self.stop()
        assert code == 0, f"keyward exited with {code} on SIGTERM:\n{self.log_tail()}"
        return self.start()

    # -- logs ------------------------------------------------------------------------

    def _pump(self, pipe: Any, name: str) -> None:
        for raw in iter(pipe.readline, b""):
            line = ANSI_RE.sub("", raw.decode("utf-8", "replace")).rstrip("\n")
            self._log(line if name == "stderr" else f"[stdout] {line}")
            if not self._listening.is_set():
                m = LISTENING_RE.search(line)
                if m:
                    self.port = int(m.group(1))
                    self.scheme = "https" if "https://" in m.group(0) else "http"
                    self._listening.set()
        pipe.close()

    def _join_pumps(self) -> None:
        for t in self._threads:
            t.join(10)

    def _log(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def log_text(self) -> str:
        with self._lock:
            return "\n".join(self._lines)

    def log_lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def log_tail(self, n: int = 60) -> str:
        with self._lock:
            return "\n".join(self._lines[-n:])


# --------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------


class AwsCliError(AssertionError):
    def __init__(self, args: tuple[str, ...], returncode: int, stderr: str) -> None:
        m = CLI_ERROR_RE.search(stderr)
        self.code = m.group(1) if m else None
        self.stderr = stderr
        self.returncode = returncode
        super().__init__(f"aws {' '.join(args)} exited with {returncode}:\n{stderr.strip()}")


class AwsCli:
    """Runs the venv's `aws` executable against one server with a sealed environment.

    `aws('kms', 'list-keys')` returns parsed JSON (`--output json` is added unless the
    arguments choose an output); with `--output text` it returns the stripped text. A
    failure raises AwsCliError carrying stderr and the AWS error code.
    """

    def __init__(self, server: KeywardServer, home: Path) -> None:
        self.server = server
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.config_file = home / "config"
        self.config_file.write_text("[default]\n")
        self.exe = aws_executable()

    def env(self, *, endpoint_env: bool = False, config_file: Path | None = None,
            access_key_id: str | None = None, secret_access_key: str | None = None,
            credentials_file: Path | None = None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": access_key_id or self.server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret_access_key or self.server.secret_access_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(config_file or self.config_file),
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
        }
        if "TMPDIR" in os.environ:
            env["TMPDIR"] = os.environ["TMPDIR"]
        if endpoint_env:
            env["AWS_ENDPOINT_URL"] = self.server.endpoint
        if credentials_file is not None:
            del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
            env["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials_file)
        return env

    def run(self, *args: str, endpoint: str = "flag", config_file: Path | None = None,
            access_key_id: str | None = None, secret_access_key: str | None = None,
            credentials_file: Path | None = None,
            timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """endpoint: 'flag' (--endpoint-url), 'env' (AWS_ENDPOINT_URL) or 'none'.
        credentials_file: use that shared-credentials file instead of env credentials."""
        cmd = [self.exe, *args]
        if "--output" not in args:
            cmd += ["--output", "json"]
        if endpoint == "flag":
            cmd += ["--endpoint-url", self.server.endpoint]
        cmd += ["--cli-connect-timeout", "10", "--cli-read-timeout", "60"]
        env = self.env(endpoint_env=endpoint == "env", config_file=config_file,
                       access_key_id=access_key_id, secret_access_key=secret_access_key,
                       credentials_file=credentials_file)
        return subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout, cwd=str(self.home))

    def __call__(self, *args: str, **kwargs: Any) -> Any:
        result = self.run(*args, **kwargs)
        if result.returncode != 0:
            raise AwsCliError(args, result.returncode, result.stderr)
        out = result.stdout.strip()
        if "--output" in args and args[args.index("--output") + 1] != "json":
            return out
        return json.loads(out) if out else None

    def error(self, *args: str, **kwargs: Any) -> str | None:
        """Runs a command that must fail; returns the AWS error code from stderr."""
        try:
            out = self(*args, **kwargs)
        except AwsCliError as err:
            if err.code is None:
                raise AssertionError(f"aws {' '.join(args)} failed without an AWS error code:\n{err.stderr}") from None
            return err.code
        raise AssertionError(f"aws {' '.join(args)} succeeded but should have failed: {out!r}")


def make_kms(server: KeywardServer, *, region: str = REGION, validate: bool = True,
             access_key_id: str | None = None, secret_access_key: str | None = None) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=access_key_id or server.access_key_id,
        aws_secret_access_key=secret_access_key or server.secret_access_key,
        region_name=region,
    )
    config = botocore.config.Config(
        connect_timeout=10,
        read_timeout=HTTP_TIMEOUT,
        retries={"max_attempts": 1, "mode": "standard"},
        parameter_validation=validate,
    )
    return session.client("kms", endpoint_url=server.endpoint, config=config)


def make_secretsmanager(server: KeywardServer, *, region: str = REGION, validate: bool = True,
                        access_key_id: str | None = None, secret_access_key: str | None = None) -> Any:
    """A boto3 Secrets Manager client for `server` (same settings as make_kms)."""
    session = boto3.session.Session(
        aws_access_key_id=access_key_id or server.access_key_id,
        aws_secret_access_key=secret_access_key or server.secret_access_key,
        region_name=region,
    )
    config = botocore.config.Config(
        connect_timeout=10,
        read_timeout=HTTP_TIMEOUT,
        retries={"max_attempts": 1, "mode": "standard"},
        parameter_validation=validate,
    )
    return session.client("secretsmanager", endpoint_url=server.endpoint, config=config)


def client_error(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """Calls a boto3 operation that must fail; returns (error code, message)."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        fn(*args, **kwargs)
    err = info.value.response["Error"]
    return err["Code"], err.get("Message", "")


def kms_error(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> str:
    """Calls a boto3 operation that must fail; returns the error code (a botocore ClientError)."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        fn(*args, **kwargs)
    return info.value.response["Error"]["Code"]


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_type(self) -> str:
        """The `__type` of an error body, without any `namespace#` prefix."""
        return str(self.json["__type"]).rsplit("#", 1)[-1]

    def __repr__(self) -> str:
        return f"<HTTP {self.status} {self.body[:300]!r}>"


class RawKms:
    """Hand-built AWS JSON 1.1 requests, signed with botocore's SigV4 signer or not at all."""

    def __init__(self, server: KeywardServer) -> None:
        self.server = server

    def headers(self, target: str, body: bytes, *, sign: bool = True, region: str = REGION,
                access_key_id: str | None = None, secret_access_key: str | None = None,
                extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": target if "." in target else f"TrentService.{target}",
        }
        headers.update(extra or {})
        if not sign:
            return headers
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=self.server.endpoint + "/", data=body, headers=headers
        )
        credentials = botocore.credentials.Credentials(
            access_key_id or self.server.access_key_id,
            secret_access_key or self.server.secret_access_key,
        )
        botocore.auth.SigV4Auth(credentials, "kms", region).add_auth(request)
        return dict(request.headers.items())

    def call(self, target: str, body: bytes | str | dict[str, Any] = b"{}", **kwargs: Any) -> RawResponse:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        headers = self.headers(target, body, **kwargs)
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=HTTP_TIMEOUT)
        try:
            conn.request("POST", "/", body=body, headers=headers)
            resp = conn.getresponse()
            return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def call_streaming(self, target: str, body: bytes, *, chunk: int = 64 * 1024, **kwargs: Any) -> RawResponse | None:
        """Sends a large body in chunks and stops as soon as the server answers.

        Returns the response, or None if the server closed the connection without one.
        Every step is bounded by HTTP_TIMEOUT.
        """
        headers = self.headers(target, body, **kwargs)
        head = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{self.server.port}", f"Content-Length: {len(body)}",
                "Connection: close"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=HTTP_TIMEOUT)
        received = b""
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            sent = 0
            deadline = time.monotonic() + HTTP_TIMEOUT
            while sent < len(body) and time.monotonic() < deadline:
                readable, writable, _ = select.select([sock], [sock], [], 1.0)
                if readable:
                    break
                if writable:
                    try:
                        sent += sock.send(body[sent:sent + chunk])
                    except (BrokenPipeError, ConnectionResetError):
                        break
            deadline = time.monotonic() + HTTP_TIMEOUT
            while time.monotonic() < deadline:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                except socket.timeout:
                    break
                if not data:
                    break
                received += data
                if _complete_http_response(received):
                    break
        finally:
            sock.close()
        if not received:
            return None
        return _parse_http_response(received)


def _complete_http_response(data: bytes) -> bool:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return bool(m) and len(rest) >= int(m.group(1))


def _parse_http_response(data: bytes) -> RawResponse:
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        rest = rest[: int(headers["content-length"])]
    return RawResponse(status, headers, rest)


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def keyward_binary() -> Path:
    path = keyward_bin()
    if not path.is_file():
        pytest.fail(f"no keyward binary at {path}: build it (cargo build -p keyward) or set KEYWARD_BIN")
    return path


@pytest.fixture(scope="session")
def sensitive() -> Sensitive:
    """Register every plaintext a test sends (sensitive.add(b'...')); logs are scanned for them."""
    return Sensitive()


@pytest.fixture(scope="session")
def keyward(tmp_path_factory: pytest.TempPathFactory, sensitive: Sensitive):
    """Factory: keyward(env=..., args=..., config_via_env=..., create_data_dir=...) starts a server on a fresh data
    directory and returns it (call .restart() to restart it on the same directory). All are
    stopped with SIGTERM at the end of the session, which must exit 0, and then every log is
    scanned for the registered plaintexts and the servers' secret keys."""
    started: list[KeywardServer] = []

    def start(*, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
              config_via_env: bool = False, name: str = "keyward",
              create_data_dir: bool = True) -> KeywardServer:
        base = tmp_path_factory.mktemp(name)
        data_dir = base / "data"
        if create_data_dir:
            data_dir.mkdir(mode=0o700)  # empty and private; with create_data_dir=False the server must create it
        srv = KeywardServer(data_dir, base / "server.log", env=env, args=args, config_via_env=config_via_env)
        started.append(srv)
        srv.start()
        sensitive.add(srv.secret_access_key, "secret access key")
        return srv

    start.started = started  # type: ignore[attr-defined]
    yield start

    problems = []
    for srv in started:
        srv.stop()
        if any(c != 0 for c in srv.exit_codes):
            problems.append(f"{srv.data_dir}: exit codes {srv.exit_codes} (want 0 on SIGTERM); log {srv.log_path}")
    for srv in started:
        leaks = sensitive.found_in(srv.log_text())
        if leaks:
            problems.append(f"{srv.log_path} contains {leaks}")
    if problems:
        pytest.fail("server teardown problems:\n" + "\n".join(problems))


@pytest.fixture(scope="session")
def server(keyward) -> KeywardServer:
    """The session's shared server (default flags, fresh data dir)."""
    return keyward(name="session")


@pytest.fixture
def fresh_server(keyward, request) -> KeywardServer:
    """A server of this test's own, on a fresh data directory; `.restart()` restarts it on the
    same directory (new port: make new clients afterwards, or use aws_for(srv), which follows)."""
    return keyward(name=re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40])


@pytest.fixture(scope="session")
def aws(server: KeywardServer, tmp_path_factory: pytest.TempPathFactory) -> AwsCli:
    return AwsCli(server, tmp_path_factory.mktemp("aws-home"))


@pytest.fixture(scope="session")
def aws_for(tmp_path_factory: pytest.TempPathFactory) -> Callable[[KeywardServer], AwsCli]:
    """aws_for(srv) -> an AwsCli bound to another server (it follows restarts)."""
    return lambda srv: AwsCli(srv, tmp_path_factory.mktemp("aws-home"))


@pytest.fixture(scope="session")
def kms(server: KeywardServer) -> Any:
    """A boto3 KMS client for the session server (us-east-1)."""
    return make_kms(server)


@pytest.fixture(scope="session")
def kms_for() -> Callable[..., Any]:
    """kms_for(srv, region=..., validate=False, access_key_id=..., secret_access_key=...)."""
    return make_kms


@pytest.fixture(scope="session")
def sm(server: KeywardServer) -> Any:
    """A boto3 Secrets Manager client for the session server (us-east-1)."""
    return make_secretsmanager(server)


@pytest.fixture(scope="session")
def sm_for() -> Callable[..., Any]:
    """sm_for(srv, region=..., validate=False, access_key_id=..., secret_access_key=...)."""
    return make_secretsmanager


@pytest.fixture(scope="session")
def raw(server: KeywardServer) -> RawKms:
    return RawKms(server)


@pytest.fixture(scope="session")
def expect_error() -> Callable[..., str]:
    """expect_error(kms.encrypt, KeyId=..., ...) -> the ClientError code the call failed with."""
    return kms_error


@pytest.fixture
def new_key(kms: Any) -> Callable[..., dict[str, Any]]:
    """new_key(**CreateKey params) -> KeyMetadata of a new key on the session server."""

    def create(**params: Any) -> dict[str, Any]:
        params.setdefault("Description", f"e2e {unique('key')}")
        return kms.create_key(**params)["KeyMetadata"]

    return create
