"""`keyward agent`: the local caching secrets endpoint of the AWS Secrets Manager Agent and
the Lambda Parameters and Secrets extension, against the server under test.

The agent is the real binary, started with `--port 0`; it reaches the server through the
standard AWS environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). Clients are curl,
Python's urllib, and urllib3 in the seed lab's getPassword() rewritten as AWS documents for
the Lambda extension; boto3's GetSecretValue is the reference for every answer. How many
times the agent really called GetSecretValue is read from the server's audit trail.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import REGION, KeywardServer, keyward_bin, unique
from test_audit import attr, lookup_all, make_cloudtrail

TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 30.0
LISTENING_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


class Agent:
    """One `keyward agent` process."""

    def __init__(self, server: KeywardServer, home: Path, args: list[str], env: dict[str, str]) -> None:
        self.server = server
        self.home = home
        self.args = args
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._threads: list[threading.Thread] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARD_"))}
        env.update({
            "HOME": str(self.home),
            "NO_COLOR": "1",
            "AWS_ACCESS_KEY_ID": self.server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.server.secret_access_key,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.server.endpoint,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self) -> "Agent":
        self.proc = subprocess.Popen([str(keyward_bin()), "agent", *self.args], env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=str(self.home))
        self._threads = [threading.Thread(target=self._pump, args=(p,), daemon=True)
                         for p in (self.proc.stdout, self.proc.stderr)]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None:
                self._join()
                pytest.fail(f"keyward agent exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"keyward agent did not say 'listening on':\n{self.log()}")
        return self

    def _pump(self, pipe: Any) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.lines.append(line)
            m = LISTENING_RE.search(line)
            if m and not self._listening.is_set():
                self.port = int(m.group(1))
                self._listening.set()
        pipe.close()

    def _join(self) -> None:
        for t in self._threads:
            t.join(10)

    def log(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"keyward agent ignored SIGTERM:\n{self.log()}") from None
        self._join()
        return self.proc.returncode

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, path: str, *, token: str | None = None, headers: dict[str, str] | None = None,
                method: str = "GET") -> tuple[int, bytes]:
        """(status, body) through urllib; error statuses are returned, not raised."""
        all_headers = dict(headers or {})
        if token is not None:
            all_headers[TOKEN_HEADER] = token
        req = urllib.request.Request(self.base + path, headers=all_headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def get(self, secret_id: str, token: str, **params: str) -> dict[str, Any]:
        query = urllib.parse.urlencode({"secretId": secret_id, **params})
        status, body = self.request(f"/secretsmanager/get?{query}", token=token)
        assert status == 200, f"HTTP {status}: {body!r}\n{self.log()[-3000:]}"
        return json.loads(body)

    def curl(self, path: str, *headers: str) -> tuple[int, str]:
        cmd = ["curl", "-s", "-w", "\n%{http_code}", "--max-time", "30"]
        for h in headers:
            cmd += ["-H", h]
        out = subprocess.run(cmd + [self.base + path], capture_output=True, text=True, timeout=60, check=True).stdout
        body, _, status = out.rpartition("\n")
        return int(status), body


@pytest.fixture(scope="module")
def token(sensitive: Any) -> str:
    value = "agent-token-" + os.urandom(16).hex()
    sensitive.add(value, "agent token")
    return value


@pytest.fixture(scope="module")
def start_agent(server: KeywardServer, token: str, sensitive: Any, tmp_path_factory: pytest.TempPathFactory):
    """start_agent(*args, env=...) -> a running agent (AWS_TOKEN=token unless env says
    otherwise); all are stopped at the end of the module, must exit 0 on SIGTERM, and their
    output must not hold a secret value or the token."""
    agents: list[Agent] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Agent:
        agent_env = {"AWS_TOKEN": token} if env is None else env
        agent = Agent(server, tmp_path_factory.mktemp("agent"), ["--port", "0", *args], agent_env)
        agents.append(agent)
        return agent.start()

    yield start

    problems = []
    for agent in agents:
        code = agent.stop()
        if code != 0:
            problems.append(f"agent {agent.args} exited {code} on SIGTERM")
        leaks = sensitive.found_in(agent.log())
        if leaks:
            problems.append(f"agent {agent.args} output holds {leaks}")
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def agent(start_agent) -> Agent:
    """The module's agent with default settings (300 s TTL)."""
    return start_agent()


@pytest.fixture(scope="module")
def ct(server: KeywardServer) -> Any:
    return make_cloudtrail(server)


def new_secret(sm: Any, sensitive: Any, value: str | None = None, *, name: str | None = None,
               binary: bytes | None = None) -> dict[str, Any]:
    name = name or unique("agent")
    if binary is not None:
        sensitive.add(binary, "secret binary")
        return sm.create_secret(Name=name, SecretBinary=binary)
    value = value if value is not None else json.dumps({"Password": "pw-" + os.urandom(8).hex()})
    sensitive.add(value, "secret value")
    return sm.create_secret(Name=name, SecretString=value)


def put_value(sm: Any, sensitive: Any, secret_id: str, value: str) -> dict[str, Any]:
    sensitive.add(value, "secret value")
    return sm.put_secret_value(SecretId=secret_id, SecretString=value)


def upstream_gets(ct: Any, arn: str) -> int:
    """How many GetSecretValue calls the server answered for this secret."""
    return sum(1 for e in lookup_all(ct, **attr("ResourceName", arn)) if e["EventName"] == "GetSecretValue")


def assert_same_as_boto3(got: dict[str, Any], ref: dict[str, Any]) -> None:
    for field in ("ARN", "Name", "VersionId", "VersionStages"):
        assert got[field] == ref[field], field
    if "SecretString" in ref:
        assert got["SecretString"] == ref["SecretString"]
        assert "SecretBinary" not in got
    else:
        assert base64.b64decode(got["SecretBinary"]) == ref["SecretBinary"]
        assert "SecretString" not in got
    # As the official agent: epoch seconds with their fraction, as a string.
    assert isinstance(got["CreatedDate"], str)
    assert abs(float(got["CreatedDate"]) - ref["CreatedDate"].timestamp()) < 0.002


# --------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------


def test_curl_urllib_and_boto3_agree(agent: Agent, sm: Any, sensitive: Any, token: str) -> None:
    created = new_secret(sm, sensitive)
    ref = sm.get_secret_value(SecretId=created["Name"])

    status, body = agent.curl(f"/secretsmanager/get?secretId={created['Name']}", f"{TOKEN_HEADER}: {token}")
    assert status == 200, body
    from_curl = json.loads(body)
    assert_same_as_boto3(from_curl, ref)
    assert list(from_curl) == ["ARN", "Name", "VersionId", "SecretString", "VersionStages", "CreatedDate"]

    from_urllib = agent.get(created["ARN"], token)  # by ARN: another cache entry, same answer
    assert_same_as_boto3(from_urllib, ref)
    assert json.loads(from_urllib["SecretString"]) == json.loads(ref["SecretString"])


def test_binary_secret(agent: Agent, sm: Any, sensitive: Any, token: str) -> None:
    created = new_secret(sm, sensitive, binary=os.urandom(48))
    ref = sm.get_secret_value(SecretId=created["ARN"])
    assert_same_as_boto3(agent.get(created["Name"], token), ref)


def test_version_stage_and_version_id(agent: Agent, sm: Any, sensitive: Any, token: str) -> None:
    created = new_secret(sm, sensitive, "first-" + os.urandom(6).hex())
    second = put_value(sm, sensitive, created["ARN"], "second-" + os.urandom(6).hex())

    current = agent.get(created["Name"], token)
    assert_same_as_boto3(current, sm.get_secret_value(SecretId=created["Name"]))
    assert current["VersionId"] == second["VersionId"]

    previous = agent.get(created["Name"], token, versionStage="AWSPREVIOUS")
    assert_same_as_boto3(previous, sm.get_secret_value(SecretId=created["Name"], VersionStage="AWSPREVIOUS"))
    assert previous["VersionId"] == created["VersionId"]
    assert previous["VersionStages"] == ["AWSPREVIOUS"]

    by_id = agent.get(created["Name"], token, versionId=created["VersionId"])
    assert_same_as_boto3(by_id, sm.get_secret_value(SecretId=created["Name"], VersionId=created["VersionId"]))

    both = agent.get(created["Name"], token, versionId=second["VersionId"], versionStage="AWSCURRENT")
    assert both["VersionId"] == second["VersionId"]


def test_path_style_requests(agent: Agent, sm: Any, sensitive: Any, token: str) -> None:
    created = new_secret(sm, sensitive, name=f"app/{unique('db')}/password")
    ref = sm.get_secret_value(SecretId=created["Name"])
    status, body = agent.request(f"/v1/{created['Name']}", token=token)
    assert status == 200, body
    assert_same_as_boto3(json.loads(body), ref)
    quoted = urllib.parse.quote(created["Name"], safe="")
    status, body = agent.request(f"/v1/{quoted}?versionStage=AWSCURRENT", token=token)
    assert status == 200, body
    assert_same_as_boto3(json.loads(body), ref)


def test_ping(agent: Agent) -> None:
    assert agent.request("/ping") == (200, b"healthy")
    assert agent.curl("/ping") == (200, "healthy")


# --------------------------------------------------------------------------------------
# Refusals and errors, as the official agent answers them
# --------------------------------------------------------------------------------------


def test_token_is_required(agent: Agent, sm: Any, sensitive: Any, token: str) -> None:
    created = new_secret(sm, sensitive)
    path = f"/secretsmanager/get?secretId={created['Name']}"
    assert agent.request(path) == (403, b"Bad Token")
    assert agent.request(path, token=token[:-1]) == (403, b"Bad Token")
    assert agent.request(path, token=token + "x") == (403, b"Bad Token")
    assert agent.request(path, token="") == (403, b"Bad Token")
    assert agent.request(path, headers={"X-Aws-Parameters-Secrets-Token-X": token}) == (403, b"Bad Token")
    assert agent.request(f"/v1/{created['Name']}") == (403, b"Bad Token")
    assert agent.curl(path, f"{TOKEN_HEADER}: wrong") == (403, "Bad Token")
    # The Vault-style header the official agent also accepts.
    status, body = agent.request(path, headers={"X-Vault-Token": token})
    assert status == 200 and json.loads(body)["Name"] == created["Name"]
    # A request that came through a proxy, even with the token.
    assert agent.request(path, token=token, headers={"X-Forwarded-For": "10.0.0.1"}) == (400, b"Forwarded")
    # Only GET; the token is checked first, as the official agent does.
    assert agent.request(path, token=token, method="POST") == (405, b"Not allowed")
    assert agent.request(path, method="POST") == (403, b"Bad Token")
    assert agent.request("/elsewhere", token=token) == (404, b"Not found")
    assert agent.request("/elsewhere") == (403, b"Bad Token")


def test_missing_secret_passes_the_service_error_through(agent: Agent, sm: Any, token: str) -> None:
    name = unique("no-such")
    with pytest.raises(sm.exceptions.ResourceNotFoundException) as info:
        sm.get_secret_value(SecretId=name)
    ref = info.value.response
    status, body = agent.request(f"/secretsmanager/get?secretId={name}", token=token)
    assert status == ref["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert json.loads(body) == {"__type": "ResourceNotFoundException", "message": ref["Error"]["Message"]}

    status, body = agent.curl(f"/v1/{name}", f"{TOKEN_HEADER}: {token}")
    assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"

    # A stage no version has.
    created = sm.create_secret(Name=unique("agent"), SecretString="x" * 8)
    status, body = agent.request(f"/secretsmanager/get?secretId={created['Name']}&versionStage=NOPE", token=token)
    assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"


def test_bad_queries(agent: Agent, token: str) -> None:
    assert agent.request("/secretsmanager/get", token=token) == (400, b"missing parameter secretId")
    assert agent.request("/secretsmanager/get?secretId=", token=token) == (400, b"missing parameter secretId")
    assert agent.request("/secretsmanager/get?secretId=a&x=1", token=token) == (400, b"unknown parameter: x")
    assert agent.request("/secretsmanager/get?secretId=a&refreshNow=maybe", token=token) == (
        400, b"invalid refreshNow value")
    assert agent.request("/v1/", token=token) == (400, b"missing secret ID")
    # Whatever the bytes, an answer and not a crash.
    assert agent.request("/v1/%ff%fe", token=token)[0] == 400
    assert agent.request("/secretsmanager/get?secretId=%ff%00" + "a" * 5000, token=token)[0] == 400
    assert agent.request("/ping") == (200, b"healthy")


# --------------------------------------------------------------------------------------
# Caching
# --------------------------------------------------------------------------------------


def test_cached_within_the_ttl_and_refresh_now(agent: Agent, sm: Any, sensitive: Any, ct: Any, token: str) -> None:
    old = "old-" + os.urandom(6).hex()
    created = new_secret(sm, sensitive, old)
    assert agent.get(created["Name"], token)["SecretString"] == old
    new = "new-" + os.urandom(6).hex()
    put_value(sm, sensitive, created["ARN"], new)
    for _ in range(5):
        assert agent.get(created["Name"], token)["SecretString"] == old  # TTL is 300 s
    assert upstream_gets(ct, created["ARN"]) == 1
    assert agent.get(created["Name"], token, refreshNow="true")["SecretString"] == new
    assert agent.get(created["Name"], token)["SecretString"] == new
    assert upstream_gets(ct, created["ARN"]) == 2


def test_a_short_ttl_expires(start_agent, sm: Any, sensitive: Any, ct: Any, token: str) -> None:
    short = start_agent("--ttl", "2s")
    old = "old-" + os.urandom(6).hex()
    created = new_secret(sm, sensitive, old)
    fetched_at = time.monotonic()
    assert short.get(created["Name"], token)["SecretString"] == old
    new = "new-" + os.urandom(6).hex()
    put_value(sm, sensitive, created["ARN"], new)
    served = short.get(created["Name"], token)["SecretString"]
    if time.monotonic() - fetched_at < 1.5:
        assert served == old
    time.sleep(max(0.0, fetched_at + 2.5 - time.monotonic()))
    assert short.get(created["Name"], token)["SecretString"] == new
    assert upstream_gets(ct, created["ARN"]) == (2 if served == old else 3)


def test_cache_size_bound(start_agent, sm: Any, sensitive: Any, ct: Any, token: str) -> None:
    small = start_agent("--cache-size", "2")
    secrets = [new_secret(sm, sensitive) for _ in range(3)]
    refs = [sm.get_secret_value(SecretId=s["ARN"]) for s in secrets]
    for _ in range(2):
        for s, ref in zip(secrets, refs):
            assert_same_as_boto3(small.get(s["Name"], token), ref)
    # a, b, c, a, b, c with room for two: every request missed (least recently used goes).
    assert [upstream_gets(ct, s["ARN"]) for s in secrets] == [3, 3, 3]  # 1 boto3 + 2 agent
    # Two of them fit: those are served from the cache from now on.
    for _ in range(3):
        for s, ref in zip(secrets[1:], refs[1:]):
            assert_same_as_boto3(small.get(s["Name"], token), ref)
    assert [upstream_gets(ct, s["ARN"]) for s in secrets] == [3, 3, 3]


def test_concurrent_misses_make_one_call(agent: Agent, sm: Any, sensitive: Any, ct: Any, token: str) -> None:
    created = new_secret(sm, sensitive)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: agent.get(created["Name"], token), range(32)))
    assert {r["VersionId"] for r in results} == {created["VersionId"]}
    assert upstream_gets(ct, created["ARN"]) == 1


def test_ttl_zero_from_an_official_config_file(start_agent, sm: Any, sensitive: Any, ct: Any, token: str,
                                               tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        'http_port = "2773"\n'  # the flag --port 0 overrides it
        "ttl_seconds = 0\n"
        "cache_size = '10'\n"
        'ssrf_headers = ["X-My-Token"]\n'
        'ssrf_env_variables = ["MY_AGENT_TOKEN"]\n'
        'path_prefix = "/secrets/"\n'
        "max_conn = 10\n"
        'log_level = "WARN"\n'
        "validate_credentials = false\n"
    )
    configured = start_agent("--config", str(config), env={"MY_AGENT_TOKEN": token})
    created = new_secret(sm, sensitive, "one-" + os.urandom(6).hex())
    path = f"/secretsmanager/get?secretId={created['Name']}"
    assert configured.request(path, token=token) == (403, b"Bad Token")  # not a configured header
    status, body = configured.request(path, headers={"X-My-Token": token})
    assert status == 200 and json.loads(body)["VersionId"] == created["VersionId"]
    two = "two-" + os.urandom(6).hex()
    put_value(sm, sensitive, created["ARN"], two)
    status, body = configured.request(f"/secrets/{created['Name']}", headers={"X-My-Token": token})
    assert status == 200 and json.loads(body)["SecretString"] == two  # TTL 0: no caching
    assert configured.request(f"/v1/{created['Name']}", headers={"X-My-Token": token}) == (404, b"Not found")
    assert upstream_gets(ct, created["ARN"]) == 2


# --------------------------------------------------------------------------------------
# The seed lab: getPassword() through the agent, as AWS documents for the Lambda extension
# --------------------------------------------------------------------------------------

SEED_LAB_GET_PASSWORD = '''
import json
import os
import urllib3

http = urllib3.PoolManager()
secrets_extension_http_port = os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773")

def getPassword(userName):
    try:
        headers = {"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN")}
        secrets_extension_endpoint = ("http://localhost:" + secrets_extension_http_port
                                      + "/secretsmanager/get?secretId=" + userName)
        r = http.request("GET", secrets_extension_endpoint, headers=headers)
        secretString = json.loads(json.loads(r.data)["SecretString"])
        if 'Password' in secretString:
            password = secretString['Password']
            print("Password retrieved from Secrets Manager:" + password)
        return password
    except Exception as e:
        print("ExceptionSecret exception for {} {}".format(userName, e))
'''


def test_seed_lab_get_password_through_the_agent(agent: Agent, sm: Any, sensitive: Any, token: str,
                                                 monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    user = unique("student")
    sm.create_secret(Name=user, Description="Encrypted password for student user",
                     SecretString='{"Password":"lab_password"}')
    # The Lambda function's environment: the extension's port, and its session token as the
    # agent's token (the agent itself was given the same value as AWS_TOKEN).
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(agent.port))
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    namespace: dict[str, Any] = {}
    exec(compile(SEED_LAB_GET_PASSWORD, "app.py", "exec"), namespace)
    assert namespace["getPassword"](user) == "lab_password"
    assert "Password retrieved from Secrets Manager:lab_password" in capsys.readouterr().out

    monkeypatch.setenv("AWS_SESSION_TOKEN", "not-the-token")
    assert namespace["getPassword"](user) is None
    assert "ExceptionSecret exception for" in capsys.readouterr().out


# --------------------------------------------------------------------------------------
# Start-up and listening
# --------------------------------------------------------------------------------------


def test_refuses_to_start_without_a_token(server: KeywardServer, tmp_path: Path) -> None:
    agent = Agent(server, tmp_path, ["--port", "0"], {})
    result = subprocess.run([str(keyward_bin()), "agent", "--port", "0"], env=agent.env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "AWS_TOKEN" in result.stderr and "listening" not in result.stdout
    empty_file = tmp_path / "empty"
    empty_file.write_text("\n")
    agent.extra_env = {"AWS_TOKEN": f"file://{empty_file}"}
    result = subprocess.run([str(keyward_bin()), "agent", "--port", "0"], env=agent.env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "empty" in result.stderr
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("ttl_second = 10\n")
    agent.extra_env = {"AWS_TOKEN": "t" * 16}
    result = subprocess.run([str(keyward_bin()), "agent", "--port", "0", "--config", str(bad_config)],
                            env=agent.env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "ttl_second" in result.stderr


def test_token_from_a_file_and_a_named_variable(start_agent, sm: Any, sensitive: Any, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    file_token = "file-token-" + os.urandom(8).hex()
    sensitive.add(file_token, "agent token")
    token_file.write_text(file_token + "\n")
    from_file = start_agent("--token-env", "MY_TOKEN", env={"MY_TOKEN": f"file://{token_file}",
                                                            "AWS_TOKEN": "not-this-one"})
    created = new_secret(sm, sensitive)
    assert from_file.get(created["Name"], file_token)["Name"] == created["Name"]
    status, _ = from_file.request(f"/secretsmanager/get?secretId={created['Name']}", token="not-this-one")
    assert status == 403


def test_listens_on_loopback_only(agent: Agent) -> None:
    port_hex = f"{agent.port:04X}"
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state = fields[1], fields[3]
            if state == "0A" and local.endswith(":" + port_hex):
                listening.append((table, local))
    assert listening == [("/proc/net/tcp", f"0100007F:{port_hex}")]


# --------------------------------------------------------------------------------------
# Limits and an unreachable service
# --------------------------------------------------------------------------------------


def test_connections_beyond_max_conn_get_429(start_agent, sm: Any, sensitive: Any, token: str) -> None:
    import socket

    limited = start_agent("--max-conn", "1")
    created = new_secret(sm, sensitive)
    path = f"/secretsmanager/get?secretId={created['Name']}"
    assert limited.request(path, token=token)[0] == 200
    idle = socket.create_connection(("127.0.0.1", limited.port), timeout=10)
    try:
        time.sleep(0.3)  # until the agent has accepted it
        assert limited.request(path, token=token) == (429, b"Connection limit exceeded")
        assert limited.request("/ping") == (200, b"healthy")  # health checks have headroom
    finally:
        idle.close()
    deadline = time.monotonic() + 10
    while limited.request(path, token=token)[0] != 200:
        assert time.monotonic() < deadline, "the closed connection was never released"
        time.sleep(0.1)


def test_unreachable_secrets_manager_is_502(start_agent, token: str) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    lost = start_agent(env={"AWS_TOKEN": token, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"})
    status, body = lost.request("/secretsmanager/get?secretId=anything", token=token)
    assert status == 502, body
    assert json.loads(body) == {"__type": "ConnectionError", "message": "Read Error"}


class Relay:
    """A TCP relay to the server that can be cut: Secrets Manager going away."""

    def __init__(self, target_port: int) -> None:
        import socket

        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: list[Any] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self.up = False
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.mark.parametrize("ignore_transient_errors", [True, False])
def test_an_expired_value_covers_an_outage(start_agent, server: KeywardServer, sm: Any, sensitive: Any,
                                           token: str, tmp_path: Path, ignore_transient_errors: bool) -> None:
    relay = Relay(server.port)
    try:
        config = tmp_path / "agent.toml"
        config.write_text(f"ignore_transient_errors = {str(ignore_transient_errors).lower()}\n")
        agent = start_agent("--ttl", "1s", "--config", str(config),
                            env={"AWS_TOKEN": token, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{relay.port}"})
        value = "before-the-outage-" + os.urandom(6).hex()
        created = new_secret(sm, sensitive, value)
        assert agent.get(created["Name"], token)["SecretString"] == value
        relay.cut()
        time.sleep(1.3)  # past the TTL
        status, body = agent.request(f"/secretsmanager/get?secretId={created['Name']}", token=token)
        if ignore_transient_errors:
            assert status == 200 and json.loads(body)["SecretString"] == value
        else:
            assert status == 502 and json.loads(body)["__type"] == "ConnectionError"
        # Never cached: a secret the agent had not fetched before the outage.
        other = new_secret(sm, sensitive)
        status, _ = agent.request(f"/secretsmanager/get?secretId={other['Name']}", token=token)
        assert status == 502
    finally:
        relay.close()
