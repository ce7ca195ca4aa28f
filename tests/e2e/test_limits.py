"""Limits and throttling: request quotas per account answered with AWS's throttling errors
(which the SDKs' standard retries back off from), a bound on requests in flight, a bound on
connections, and deadlines for slow clients.

References: AWS KMS developer guide, "Request quotas" and "Throttling AWS KMS requests"
(ThrottlingException, "You have exceeded the rate at which you may call KMS. Reduce the
frequency of your calls."); AWS Secrets Manager user guide, "Secrets Manager quotas"; the
Query protocol's `Throttling` error ("Rate exceeded").
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import HTTP_TIMEOUT, REGION, KeywardServer, keyward_bin, make_kms, unique

KMS_MESSAGE = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
DEADLINE = 20.0  # bound on every wait below; nothing asserts how fast anything is


def client(server: KeywardServer, service: str, *, attempts: int = 1) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        region_name=REGION,
    )
    config = botocore.config.Config(connect_timeout=10, read_timeout=HTTP_TIMEOUT,
                                    retries={"max_attempts": attempts, "mode": "standard"})
    return session.client(service, endpoint_url=server.endpoint, config=config)


def error_of(fn: Any, /, **kwargs: Any) -> tuple[str, str, int] | None:
    """Calls `fn`; None if it succeeded, else (code, message, HTTP status)."""
    try:
        fn(**kwargs)
    except botocore.exceptions.ClientError as err:
        e = err.response["Error"]
        return e["Code"], e.get("Message", ""), err.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


def until_throttled(fn: Any, limit: int = 40, **kwargs: Any) -> tuple[str, str, int]:
    """Calls `fn` quickly, at most `limit` times, until one call is throttled."""
    for _ in range(limit):
        err = error_of(fn, **kwargs)
        if err is not None:
            return err
    raise AssertionError(f"{limit} calls in a row and none was throttled")


# --------------------------------------------------------------------------------------
# Request quotas
# --------------------------------------------------------------------------------------

QUOTAS = {
    "base": "none",
    "limits": {
        "kms:cryptographic-symmetric": 2,
        # One call every 20 seconds: a second one soon after is throttled, however slow the
        # client is to start (the aws CLI takes a second).
        "kms:ListAliases": 0.05,
        "sts": 0.05,
        "iam": 0.05,
    },
}


@pytest.fixture(scope="module")
def quota_server(keyward, tmp_path_factory) -> KeywardServer:
    path = tmp_path_factory.mktemp("quotas") / "quotas.json"
    path.write_text(json.dumps(QUOTAS))
    return keyward(name="quotas", args=("--quotas", str(path)))


@pytest.fixture(scope="module")
def quota_key(quota_server) -> str:
    return client(quota_server, "kms").create_key(Description="quotas")["KeyMetadata"]["KeyId"]


def test_boto3_without_retries_gets_throttling_exception(quota_server, quota_key, sensitive):
    sensitive.add(b"rate limited")
    kms = client(quota_server, "kms")
    code, message, status = until_throttled(kms.encrypt, KeyId=quota_key, Plaintext=b"rate limited")
    assert (code, message, status) == ("ThrottlingException", KMS_MESSAGE, 400)
    # The group is shared: GenerateDataKey counts against the same quota as Encrypt.
    code, _, _ = until_throttled(kms.generate_data_key, KeyId=quota_key, KeySpec="AES_256")
    assert code == "ThrottlingException"


def test_boto3_standard_retries_get_every_call_through(quota_server, quota_key, sensitive):
    sensitive.add(b"eventually")
    kms = client(quota_server, "kms", attempts=10)
    for _ in range(8):  # four times the quota's burst
        blob = kms.encrypt(KeyId=quota_key, Plaintext=b"eventually")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"eventually"


def test_other_groups_and_services_are_not_throttled(quota_server, quota_key):
    kms = client(quota_server, "kms")
    until_throttled(kms.generate_random, NumberOfBytes=16)  # the symmetric group is spent...
    for _ in range(20):  # ...and ListKeys, DescribeKey, Secrets Manager are not limited
        assert error_of(kms.list_keys) is None
        assert error_of(kms.describe_key, KeyId=quota_key) is None
    sm = client(quota_server, "secretsmanager")
    name = unique("quota-secret")
    sm.create_secret(Name=name, SecretString="s")
    for _ in range(20):
        assert sm.get_secret_value(SecretId=name)["SecretString"] == "s"


def test_aws_cli_reports_throttling_exception(quota_server, aws_for):
    aws = aws_for(quota_server)
    result = None
    for _ in range(3):
        result = aws.run("kms", "list-aliases")
        if result.returncode != 0:
            break
    assert result is not None and result.returncode != 0, "list-aliases was never throttled"
    assert "ThrottlingException" in result.stderr
    assert "You have exceeded the rate at which you may call KMS" in result.stderr


def test_sts_and_iam_get_the_query_protocols_throttling(quota_server):
    sts = client(quota_server, "sts")
    code, message, status = until_throttled(sts.get_caller_identity, limit=5)
    assert (code, message, status) == ("Throttling", "Rate exceeded", 400)
    iam = client(quota_server, "iam")
    code, message, _ = until_throttled(iam.list_users, limit=5)
    assert (code, message) == ("Throttling", "Rate exceeded")


def test_throttled_requests_are_in_the_audit_trail(quota_server, quota_key):
    kms = client(quota_server, "kms")
    until_throttled(kms.encrypt, KeyId=quota_key, Plaintext=b"audited")
    trail = client(quota_server, "cloudtrail")
    events = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}], MaxResults=50,
    )["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    throttled = [r for r in records if r.get("errorCode") == "ThrottlingException"]
    assert throttled, records[:3]
    assert throttled[0]["errorMessage"] == KMS_MESSAGE
    assert throttled[0]["userIdentity"]["accountId"] == "000000000000"


def test_aws_quotas_leave_an_ordinary_session_alone(keyward, sensitive):
    srv = keyward(name="aws-quotas", args=("--quotas", "aws"))
    kms = client(srv, "kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    sensitive.add(b"under quota")
    for _ in range(20):
        kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key, Plaintext=b"under quota")["CiphertextBlob"])
    # GetParametersForImport's quota is one call every four seconds.
    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    code, message, _ = until_throttled(kms.get_parameters_for_import, limit=5, KeyId=external,
                                       WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    assert (code, message) == ("ThrottlingException", KMS_MESSAGE)


def run_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `keyward server` that is expected to exit on its own (a refusal)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARD_"))}
    full_env["NO_COLOR"] = "1"
    full_env.update(env or {})
    return subprocess.run([str(keyward_bin()), "server", "--listen", "127.0.0.1:0",
                           "--data-dir", str(tmp_path / "data"), *args],
                          env=full_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("content,expected", [
    ("{not json", "not valid JSON"),
    ('{"limits": {"kms:Encrpyt": 5}}', '"kms:Encrpyt" is neither a quota group nor an operation'),
    ('{"limits": {"kms:Encrypt": 0}}', "is not a rate"),
    ('{"base": "everything"}', '"base" must be "aws"'),
    ('{"limit": {}}', 'unknown key "limit"'),
])
def test_invalid_quota_files_are_refused_at_start(tmp_path, content, expected):
    path = tmp_path / "quotas.json"
    path.write_text(content)
    result = run_server(tmp_path, "--quotas", str(path))
    assert result.returncode != 0
    assert expected in result.stderr
    assert str(path) in result.stderr
    assert "listening" not in result.stderr
    missing = run_server(tmp_path, env={"KEYWARD_QUOTAS": str(tmp_path / "missing.json")})
    assert missing.returncode != 0 and "cannot read the quota file" in missing.stderr


# --------------------------------------------------------------------------------------
# Slow clients, connections, requests in flight
# --------------------------------------------------------------------------------------


def read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Reads until the server closes the connection (or the deadline passes: then fails)."""
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return data
        except socket.timeout:
            break
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"the server kept the connection open; got {data!r}")


@pytest.fixture(scope="module")
def slow_server(keyward) -> KeywardServer:
    return keyward(name="slow", args=("--header-timeout-seconds", "2", "--body-timeout-seconds", "2",
                                      "--max-in-flight", "2"))


def test_half_sent_headers_are_cut_off_and_others_are_served(slow_server):
    stalled = []
    for _ in range(6):
        s = socket.create_connection(("127.0.0.1", slow_server.port), timeout=10)
        s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentSer")
        stalled.append(s)
    try:
        # Meanwhile an ordinary client is served.
        assert client(slow_server, "kms").list_keys()["Keys"] is not None
        deadline = time.monotonic() + DEADLINE
        for s in stalled:
            read_until_closed(s, deadline)
    finally:
        for s in stalled:
            s.close()
    assert client(slow_server, "kms").list_keys()["Keys"] is not None


def test_a_trickled_body_is_cut_off_with_408(slow_server):
    body = b'{"KeyId": "alias/whatever", "Plaintext": "AAAA"}' + b" " * 200
    with socket.create_connection(("127.0.0.1", slow_server.port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.Encrypt\r\n"
                  b"Content-Type: application/x-amz-json-1.1\r\n"
                  + f"Content-Length: {len(body)}\r\n\r\n".encode())
        received = b""
        deadline = time.monotonic() + DEADLINE
        for byte in body:  # one byte every 0.3 s until the server answers
            assert time.monotonic() < deadline, "the trickled body was never cut off"
            try:
                s.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            s.settimeout(0.3)
            try:
                received = s.recv(65536)
            except socket.timeout:
                continue
            break
        received += read_until_closed(s, time.monotonic() + DEADLINE)
    head = received.split(b"\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 408"), received[:300]
    assert b"RequestTimeoutException" in received


@pytest.fixture(scope="module")
def inflight_server(keyward) -> KeywardServer:
    # Bodies get 8 seconds: the checks below must all happen while the stuck requests hold
    # their places, even on a loaded machine (2 seconds was too short under load).
    return keyward(name="inflight", args=("--body-timeout-seconds", "8", "--max-in-flight", "2"))


def test_requests_past_the_in_flight_bound_are_throttled(inflight_server):
    slow_server = inflight_server
    # Two requests whose bodies never finish occupy both places...
    stuck = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", slow_server.port), timeout=10)
        s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.ListKeys\r\n"
                  b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{")
        stuck.append(s)
    try:
        time.sleep(0.3)  # let the server start handling them
        # ...so a third is answered at once with the throttling error, which SDKs retry.
        err = error_of(client(slow_server, "kms").list_keys)
        assert err is not None and err[0] == "ThrottlingException" and err[2] == 400, err
        sts_err = error_of(client(slow_server, "sts").get_caller_identity)
        assert sts_err is not None and sts_err[0] == "Throttling", sts_err
        # A client with standard retries gets through once the stuck bodies time out.
        assert client(slow_server, "kms", attempts=20).list_keys()["Keys"] is not None
    finally:
        for s in stuck:
            s.close()


def test_connections_past_the_bound_wait_in_the_backlog(keyward):
    srv = keyward(name="maxconn", args=("--max-connections", "3", "--header-timeout-seconds", "30"))
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(3)]
    waiting = None
    try:
        time.sleep(0.3)
        # The fourth connection is made (the kernel's backlog holds it) but not served...
        waiting = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        waiting.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        waiting.settimeout(1.0)
        with pytest.raises(socket.timeout):
            waiting.recv(1)
        # ...until another one closes.
        idle.pop().close()
        answer = read_until_closed(waiting, time.monotonic() + DEADLINE)
        assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    finally:
        for s in idle:
            s.close()
        if waiting is not None:
            waiting.close()
    # And the server goes on serving.
    assert make_kms(srv).list_keys()["Keys"] is not None


def test_shutdown_waits_for_a_request_in_flight(keyward):
    """SIGTERM while a request's body is still arriving: the request is answered, then the
    server exits 0."""
    srv = keyward(name="drain")
    body = b"{}"
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.ListKeys\r\n"
                  b"Content-Type: application/x-amz-json-1.1\r\n"
                  + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:1])
        time.sleep(0.3)
        result: dict[str, int] = {}
        stopper = threading.Thread(target=lambda: result.update(code=srv.stop()))
        stopper.start()
        time.sleep(0.5)
        s.sendall(body[1:])
        answer = read_until_closed(s, time.monotonic() + DEADLINE)
        stopper.join(DEADLINE)
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    assert result.get("code") == 0
    srv.start()  # the session's teardown stops it again
