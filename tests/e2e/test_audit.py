"""The audit trail through CloudTrail's LookupEvents: every request to every service is one
event in CloudTrail's record format, queryable with `aws cloudtrail lookup-events` and boto3
on the same port, and no event holds a plaintext, a ciphertext, a secret value or key material.

Each test runs its own server, so it knows every event its data directory holds. The helpers
at the top are shared with test_audit_chain.py (verify, export, retention, durability).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import sqlite3
import subprocess
import time
from base64 import b64decode
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest

from conftest import (
    ACCOUNT_ID,
    HTTP_TIMEOUT,
    REGION,
    KeywardServer,
    RawKms,
    Sensitive,
    client_error,
    keyward_bin,
    make_kms,
    make_secretsmanager,
    unique,
)

# --------------------------------------------------------------------------------------
# Helpers (also imported by test_audit_chain.py)
# --------------------------------------------------------------------------------------

ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"
KMS_SOURCE = "kms.amazonaws.com"
SM_SOURCE = "secretsmanager.amazonaws.com"
CT_SOURCE = "cloudtrail.amazonaws.com"
KEYWARD_CLI_TIMEOUT = 60.0  # seconds for one `keyward audit ...` run
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EVENT_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

LAB_DESCRIPTION = "Encryption key for the TranscriptionApp."
LAB_CONTEXT = {"LambdaFunctionName": "loadtest"}
LAB_SECRET_NAME = "student"
LAB_SECRET_STRING = '{"Password":"lab_password"}'


def make_cloudtrail(server: KeywardServer, *, region: str = REGION, validate: bool = True,
                    access_key_id: str | None = None, secret_access_key: str | None = None) -> Any:
    """A boto3 CloudTrail client for `server` (same settings as make_kms)."""
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
    return session.client("cloudtrail", endpoint_url=server.endpoint, config=config)


def lookup_all(ct: Any, *, page_size: int | None = None, max_pages: int = 200, **params: Any) -> list[dict[str, Any]]:
    """Every event LookupEvents returns for `params`, through boto3's paginator, in the order
    returned; each gets its CloudTrailEvent parsed into `Record`."""
    config: dict[str, Any] = {"MaxItems": 10_000}
    if page_size is not None:
        config["PageSize"] = page_size
    events: list[dict[str, Any]] = []
    pages = 0
    for page in ct.get_paginator("lookup_events").paginate(PaginationConfig=config, **params):
        pages += 1
        assert pages <= max_pages, "LookupEvents keeps returning a NextToken"
        if page_size is not None:
            assert len(page["Events"]) <= page_size, f"a page of {len(page['Events'])} > MaxResults {page_size}"
        events.extend(page["Events"])
    for event in events:
        event["Record"] = json.loads(event["CloudTrailEvent"])
    return events


def attr(key: str, value: str) -> dict[str, Any]:
    return {"LookupAttributes": [{"AttributeKey": key, "AttributeValue": value}]}


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["EventName"] for e in events]


def by_name(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["EventName"] == name]


def resource_names(event: dict[str, Any]) -> list[str]:
    return [r.get("ResourceName") for r in event.get("Resources") or []]


def keyward_cmd(*args: str, timeout: float = KEYWARD_CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Runs `keyward <args>` (bounded) with a clean environment."""
    return subprocess.run([str(keyward_bin()), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})


def audit_verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return keyward_cmd("audit", "verify", "--data-dir", str(data_dir))


def audit_export(data_dir: Path, out: Path, *extra: str) -> dict[str, Any]:
    """`keyward audit export` to `out`; returns the parsed `{"Records": [...]}`."""
    done = keyward_cmd("audit", "export", "--data-dir", str(data_dir), *extra, "-o", str(out))
    assert done.returncode == 0, f"keyward audit export exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    raw = out.read_bytes()
    assert raw[:2] == b"\x1f\x8b", f"the export is not gzip: {raw[:20]!r}"
    return json.loads(gzip.decompress(raw))


def open_db(data_dir: Path) -> sqlite3.Connection:
    """The data directory's database (of a stopped server, or a copy)."""
    path = data_dir / "keyward.db"
    assert path.is_file(), f"no database at {path}"
    return sqlite3.connect(str(path), timeout=10)


def db_rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = open_db(data_dir)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def sleep_to_next_second() -> int:
    """Sleeps past the next whole second (plus a margin); returns that second (epoch)."""
    now = time.time()
    target = int(now) + 1
    time.sleep(target - now + 0.05)
    return target


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def rfc3339(seconds: int) -> str:
    return utc(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_common(event: dict[str, Any], server: KeywardServer, *, region: str = REGION) -> dict[str, Any]:
    """The fields every authenticated root event has, in LookupEvents and in the record."""
    rec = event["Record"]
    assert rec["eventID"] == event["EventId"] and UUID_RE.match(rec["eventID"]), rec
    assert rec["eventName"] == event["EventName"]
    assert rec["eventSource"] == event["EventSource"]
    assert event["ReadOnly"] == ("true" if rec["readOnly"] else "false")
    assert isinstance(rec["readOnly"], bool)
    assert event["Username"] == "root"
    assert event["AccessKeyId"] == server.access_key_id
    assert isinstance(rec.get("eventVersion"), str) and rec["eventVersion"]
    ident = rec["userIdentity"]
    assert ident["type"] == "Root", ident
    assert ident["arn"] == ROOT_ARN, ident
    assert ident["accountId"] == ACCOUNT_ID, ident
    assert ident["principalId"] == ACCOUNT_ID, ident
    assert ident["accessKeyId"] == server.access_key_id, ident
    assert EVENT_TIME_RE.match(rec["eventTime"]), rec["eventTime"]
    # The record's time and LookupEvents' EventTime are the same instant (to the second).
    recorded = datetime.strptime(rec["eventTime"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    assert abs((event["EventTime"] - recorded).total_seconds()) < 1.0, (event["EventTime"], rec["eventTime"])
    assert rec["awsRegion"] == region
    assert rec["sourceIPAddress"], rec
    assert rec["userAgent"], rec
    assert rec["requestID"], rec
    assert rec["eventType"] == "AwsApiCall"
    assert rec["recipientAccountId"] == ACCOUNT_ID
    assert rec["managementEvent"] is True
    assert rec["eventCategory"] == "Management"
    # Resources: the same pairs in the summary and in the record.
    summary = [(r["ResourceType"], r["ResourceName"]) for r in event.get("Resources") or []]
    recorded_resources = [(r["type"], r["ARN"]) for r in rec.get("resources") or []]
    assert summary == recorded_resources, (summary, recorded_resources)
    for r in rec.get("resources") or []:
        assert r["accountId"] == ACCOUNT_ID
    return rec


def key_resource(arn: str) -> dict[str, str]:
    return {"accountId": ACCOUNT_ID, "type": "AWS::KMS::Key", "ARN": arn}


# --------------------------------------------------------------------------------------
# The seed lab, read back with `aws cloudtrail lookup-events`
# --------------------------------------------------------------------------------------


def run_seed_lab(aws: Any, srv: KeywardServer) -> dict[str, Any]:
    """The seed lab's steps: CLI create-key, create-alias, encrypt; boto3 decrypt; CLI
    create-secret and get-secret-value. Returns what the checks need."""
    key = aws("kms", "create-key", "--description", LAB_DESCRIPTION)["KeyMetadata"]
    aws("kms", "create-alias", "--alias-name", "alias/UserName", "--target-key-id", key["KeyId"])
    blob = aws("kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", "student",
               "--encryption-context", "LambdaFunctionName=loadtest",
               "--output", "text", "--query", "CiphertextBlob")
    decrypted = make_kms(srv).decrypt(CiphertextBlob=b64decode(blob), EncryptionContext=LAB_CONTEXT)
    assert decrypted["Plaintext"] == b"student"
    secret = aws("secretsmanager", "create-secret", "--name", LAB_SECRET_NAME,
                 "--description", "Encrypted password for student user", "--secret-string", LAB_SECRET_STRING)
    got = aws("secretsmanager", "get-secret-value", "--secret-id", LAB_SECRET_NAME)
    assert got["SecretString"] == LAB_SECRET_STRING
    return {
        "key": key,
        "blob": blob,
        "decrypt_request_id": decrypted["ResponseMetadata"]["RequestId"],
        "secret_arn": secret["ARN"],
        "secret_version": secret["VersionId"],
    }


def test_seed_lab_events_with_the_cli(fresh_server, aws_for, sensitive):
    srv = fresh_server
    aws = aws_for(srv)
    sensitive.add("student")
    sensitive.add("lab_password", "secret value")
    sensitive.add(LAB_SECRET_STRING, "secret value")
    lab = run_seed_lab(aws, srv)
    key_id, key_arn = lab["key"]["KeyId"], lab["key"]["Arn"]

    events = aws("cloudtrail", "lookup-events")["Events"]
    listed = names(events)
    for name in ("CreateKey", "CreateAlias", "Encrypt", "Decrypt", "CreateSecret", "GetSecretValue"):
        assert name in listed, f"{name} missing from lookup-events: {listed}"
    for e in events:
        assert e.get("Username") == "root", e

    # "who used a key": ResourceName=<key arn>, exactly as the issue spells it.
    used = aws("cloudtrail", "lookup-events", "--lookup-attributes",
               f"AttributeKey=ResourceName,AttributeValue={key_arn}")["Events"]
    # Newest first: the lab's order, reversed.
    assert names(used) == ["Decrypt", "Encrypt", "CreateAlias", "CreateKey"], names(used)
    for e in used:
        assert key_arn in resource_names(e), e
        assert {"ResourceType": "AWS::KMS::Key", "ResourceName": key_arn} in e["Resources"]
        assert e["Username"] == "root"
        assert e["AccessKeyId"] == srv.access_key_id
        assert e["EventSource"] == KMS_SOURCE

    text = aws("cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=EventName,AttributeValue=Encrypt",
               "--query", "Events[0].CloudTrailEvent", "--output", "text")
    encrypt = json.loads(text)
    assert encrypt["requestParameters"]["encryptionContext"] == LAB_CONTEXT
    assert encrypt["requestParameters"]["keyId"] == key_id


def test_seed_lab_records(fresh_server, aws_for, sensitive):
    """Every field of the seed lab's events, through boto3's LookupEvents."""
    srv = fresh_server
    aws = aws_for(srv)
    sensitive.add("student")
    sensitive.add("lab_password", "secret value")
    lab = run_seed_lab(aws, srv)
    key_id, key_arn = lab["key"]["KeyId"], lab["key"]["Arn"]
    ct = make_cloudtrail(srv)
    events = lookup_all(ct)
    for e in events:
        check_common(e, srv)
    assert len({e["EventId"] for e in events}) == len(events), "event ids repeat"
    assert len({e["Record"]["requestID"] for e in events}) == len(events), "request ids repeat"

    def only(name: str, pred=lambda rec: True) -> dict[str, Any]:
        found = [e for e in by_name(events, name) if pred(e["Record"])]
        assert len(found) == 1, f"want one {name} event, have {[e['Record'] for e in by_name(events, name)]}"
        return found[0]

    direct = lambda rec: "invokedBy" not in rec["userIdentity"]  # noqa: E731

    # CreateKey: a write, with its description and the new key's metadata.
    create = only("CreateKey")["Record"]
    assert create["eventSource"] == KMS_SOURCE
    assert create["readOnly"] is False
    assert create["requestParameters"]["description"] == LAB_DESCRIPTION
    assert create["responseElements"]["keyMetadata"]["keyId"] == key_id
    assert create["responseElements"]["keyMetadata"]["arn"] == key_arn
    assert key_resource(key_arn) in create["resources"]
    assert create["userAgent"].startswith("aws-cli/"), create["userAgent"]
    assert create["sourceIPAddress"] == "127.0.0.1"
    assert "errorCode" not in create

    alias = only("CreateAlias")["Record"]
    assert alias["readOnly"] is False
    assert alias["requestParameters"]["aliasName"] == "alias/UserName"
    assert alias["requestParameters"]["targetKeyId"] == key_id
    assert key_resource(key_arn) in alias["resources"]

    # Encrypt: read-only, the context the lab used, no plaintext, no response elements.
    enc = only("Encrypt", direct)
    rec = enc["Record"]
    assert enc["ReadOnly"] == "true" and rec["readOnly"] is True
    assert rec["eventSource"] == KMS_SOURCE
    assert rec["requestParameters"]["keyId"] == key_id
    assert rec["requestParameters"]["encryptionContext"] == LAB_CONTEXT
    assert "plaintext" not in {k.lower() for k in rec["requestParameters"]}
    assert rec["responseElements"] is None
    assert rec["resources"] == [key_resource(key_arn)]
    assert rec["userAgent"].startswith("aws-cli/")
    assert rec["sourceIPAddress"] == "127.0.0.1"

    # Decrypt (boto3): the request id boto3 saw, the key found from the blob, the context.
    dec = only("Decrypt", direct)
    rec = dec["Record"]
    assert dec["ReadOnly"] == "true" and rec["readOnly"] is True
    assert rec["requestID"] == lab["decrypt_request_id"]
    assert rec["requestParameters"]["encryptionContext"] == LAB_CONTEXT
    assert "ciphertextBlob" not in rec["requestParameters"]
    assert rec["responseElements"] is None
    assert rec["resources"] == [key_resource(key_arn)]
    assert dec["Resources"] == [{"ResourceType": "AWS::KMS::Key", "ResourceName": key_arn}]
    assert "Boto3/" in rec["userAgent"], rec["userAgent"]
    assert rec["sourceIPAddress"] == "127.0.0.1"

    # Secrets Manager.
    secret_arn = lab["secret_arn"]
    created = only("CreateSecret")["Record"]
    assert created["eventSource"] == SM_SOURCE
    assert created["readOnly"] is False
    assert created["requestParameters"]["name"] == LAB_SECRET_NAME
    assert "secretString" not in created["requestParameters"]
    get = only("GetSecretValue")
    rec = get["Record"]
    assert rec["eventSource"] == SM_SOURCE
    assert get["ReadOnly"] == "true" and rec["readOnly"] is True
    assert rec["requestParameters"] == {"secretId": LAB_SECRET_NAME}
    assert rec["responseElements"] is None
    assert rec["userAgent"].startswith("aws-cli/")

    # The KMS calls Secrets Manager made on the caller's behalf: the data key for the new
    # secret, and its decryption for GetSecretValue, under the aws/secretsmanager key, with
    # the secret's ARN and version in the context, marked as invoked by the service.
    managed_arn = aws("kms", "describe-key", "--key-id", "alias/aws/secretsmanager")["KeyMetadata"]["Arn"]
    context = {"SecretARN": secret_arn, "SecretVersionId": lab["secret_version"]}
    via = lambda rec: rec["userIdentity"].get("invokedBy") == SM_SOURCE  # noqa: E731
    for name in ("GenerateDataKey", "Decrypt"):
        e = only(name, via)
        rec = e["Record"]
        assert rec["eventSource"] == KMS_SOURCE
        assert rec["userIdentity"]["type"] == "Root"
        assert rec["userIdentity"]["accessKeyId"] == srv.access_key_id
        assert rec["sourceIPAddress"] == SM_SOURCE
        assert rec["userAgent"] == SM_SOURCE
        assert rec["requestParameters"]["encryptionContext"] == context
        assert rec["responseElements"] is None
        assert rec["readOnly"] is True
        assert rec["resources"] == [key_resource(managed_arn)]
        assert e["Username"] == "root"
    # The service's Decrypt happened inside the GetSecretValue request.
    service_decrypt = only("Decrypt", via)
    assert abs((service_decrypt["EventTime"] - get["EventTime"]).total_seconds()) < 5

    # Who used the managed key: both service calls (and the test's own DescribeKey).
    used = lookup_all(ct, **attr("ResourceName", managed_arn))
    assert names(used) == ["DescribeKey", "Decrypt", "GenerateDataKey"], names(used)


def test_decrypt_records_always_name_the_algorithm(fresh_server):
    """AWS: "The CloudTrail log entry for a Decrypt operation always includes the
    encryptionAlgorithm in the requestParameters even if the encryption algorithm wasn't
    specified in the request." (KMS developer guide, Decrypt in CloudTrail)."""
    srv = fresh_server
    kms = make_kms(srv)
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"algorithm-check")["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    (dec,) = lookup_all(make_cloudtrail(srv), **attr("EventName", "Decrypt"))
    assert dec["Record"]["requestParameters"].get("encryptionAlgorithm") == "SYMMETRIC_DEFAULT", dec["Record"]


def test_events_are_sorted_by_time_newest_first(fresh_server, aws_for, sensitive):
    """LookupEvents: "The events list is sorted by time. The most recent event is listed
    first." — across services too, where one request causes several events."""
    srv = fresh_server
    sensitive.add("lab_password", "secret value")
    run_seed_lab(aws_for(srv), srv)
    events = lookup_all(make_cloudtrail(srv))
    times = [e["EventTime"] for e in events]
    out_of_order = [(a["EventName"], a["EventTime"].isoformat(), b["EventName"], b["EventTime"].isoformat())
                    for a, b in zip(events, events[1:]) if a["EventTime"] < b["EventTime"]]
    assert not out_of_order, f"listed before an event later than itself: {out_of_order}"
    assert times == sorted(times, reverse=True)


# --------------------------------------------------------------------------------------
# LookupEvents: attributes, time range, pagination, errors
# --------------------------------------------------------------------------------------


@pytest.fixture
def populated(fresh_server, sensitive):
    """A server with known events: key A (create, 2 encrypts, 1 decrypt), key B (create,
    1 encrypt), a secret (create, get)."""
    srv = fresh_server
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    value = unique("attr-secret-value")
    sensitive.add(value, "secret value")
    a = kms.create_key(Description="key A")["KeyMetadata"]
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"attribute-test-1")["CiphertextBlob"]
    kms.encrypt(KeyId=a["Arn"], Plaintext=b"attribute-test-2")
    kms.decrypt(CiphertextBlob=blob)
    b = kms.create_key(Description="key B")["KeyMetadata"]
    kms.encrypt(KeyId=b["KeyId"], Plaintext=b"attribute-test-3")
    secret = sm.create_secret(Name=unique("attr"), SecretString=value)
    sm.get_secret_value(SecretId=secret["Name"])
    return {"srv": srv, "a": a, "b": b, "secret": secret, "ct": make_cloudtrail(srv)}


def test_every_lookup_attribute(populated):
    srv, ct, a, b = populated["srv"], populated["ct"], populated["a"], populated["b"]
    secret_arn = populated["secret"]["ARN"]
    everything = lookup_all(ct)
    direct = [e for e in everything if "invokedBy" not in e["Record"]["userIdentity"]]
    assert sorted(names(direct)) == sorted(
        ["CreateKey", "Encrypt", "Encrypt", "Decrypt", "CreateKey", "Encrypt", "CreateSecret", "GetSecretValue"]
    ), names(direct)

    # EventId: exactly that event.
    target = by_name(everything, "CreateKey")[-1]  # the older CreateKey: key A's
    (found,) = lookup_all(ct, **attr("EventId", target["EventId"]))
    assert found["EventId"] == target["EventId"]
    assert found["Record"]["responseElements"]["keyMetadata"]["keyId"] == a["KeyId"]
    assert lookup_all(ct, **attr("EventId", "00000000-0000-0000-0000-000000000000")) == []

    # EventName.
    encrypts = lookup_all(ct, **attr("EventName", "Encrypt"))
    assert names(encrypts) == ["Encrypt"] * 3
    assert lookup_all(ct, **attr("EventName", "ScheduleKeyDeletion")) == []

    # ReadOnly true / false.
    ro = lookup_all(ct, **attr("ReadOnly", "true"))
    rw = lookup_all(ct, **attr("ReadOnly", "false"))
    assert ro and all(e["ReadOnly"] == "true" and e["Record"]["readOnly"] is True for e in ro)
    assert rw and all(e["ReadOnly"] == "false" and e["Record"]["readOnly"] is False for e in rw)
    assert {"Encrypt", "Decrypt", "GetSecretValue"} <= set(names(ro))
    assert sorted(n for n in names(rw) if n != "LookupEvents") == ["CreateKey", "CreateKey", "CreateSecret"]
    assert "CreateKey" not in names(ro)

    # Username.
    root = lookup_all(ct, **attr("Username", "root"))
    assert {e["EventId"] for e in everything} <= {e["EventId"] for e in root}
    assert all(e["Username"] == "root" for e in root)
    assert lookup_all(ct, **attr("Username", "alice")) == []

    # ResourceType.
    keys = lookup_all(ct, **attr("ResourceType", "AWS::KMS::Key"))
    assert all(any(r["ResourceType"] == "AWS::KMS::Key" for r in e["Resources"]) for e in keys)
    assert {a["Arn"], b["Arn"]} <= {n for e in keys for n in resource_names(e)}
    secrets = lookup_all(ct, **attr("ResourceType", "AWS::SecretsManager::Secret"))
    assert sorted(names(secrets)) == ["CreateSecret", "GetSecretValue"]
    assert all(secret_arn in resource_names(e) for e in secrets)

    # ResourceName: key A's events only, newest first.
    used_a = lookup_all(ct, **attr("ResourceName", a["Arn"]))
    assert names(used_a) == ["Decrypt", "Encrypt", "Encrypt", "CreateKey"]
    assert all(a["Arn"] in resource_names(e) for e in used_a)
    used_b = lookup_all(ct, **attr("ResourceName", b["Arn"]))
    assert names(used_b) == ["Encrypt", "CreateKey"]
    assert lookup_all(ct, **attr("ResourceName", secret_arn))

    # EventSource.
    sm_events = lookup_all(ct, **attr("EventSource", SM_SOURCE))
    assert sorted(names(sm_events)) == ["CreateSecret", "GetSecretValue"]
    kms_events = lookup_all(ct, **attr("EventSource", KMS_SOURCE))
    assert all(e["EventSource"] == KMS_SOURCE for e in kms_events)
    assert names(kms_events).count("CreateKey") == 2
    # LookupEvents is itself an API call CloudTrail records.
    ct_events = lookup_all(ct, **attr("EventSource", CT_SOURCE))
    assert ct_events and set(names(ct_events)) == {"LookupEvents"}
    assert all(e["Record"]["readOnly"] is True for e in ct_events)

    # AccessKeyId.
    mine = lookup_all(ct, **attr("AccessKeyId", srv.access_key_id))
    assert {e["EventId"] for e in everything} <= {e["EventId"] for e in mine}
    assert all(e["AccessKeyId"] == srv.access_key_id for e in mine)
    assert lookup_all(ct, **attr("AccessKeyId", "AKIAIOSFODNN7EXAMPLE")) == []


def test_the_cli_spelling_of_each_attribute(populated, aws_for):
    srv, a = populated["srv"], populated["a"]
    aws = aws_for(srv)
    for key, value, expect in [
        ("EventName", "Decrypt", {"Decrypt"}),
        ("ResourceName", a["Arn"], {"CreateKey", "Encrypt", "Decrypt"}),
        ("ResourceType", "AWS::SecretsManager::Secret", {"CreateSecret", "GetSecretValue"}),
        ("EventSource", SM_SOURCE, {"CreateSecret", "GetSecretValue"}),
        ("ReadOnly", "false", None),
        ("Username", "root", None),
        ("AccessKeyId", srv.access_key_id, None),
    ]:
        events = aws("cloudtrail", "lookup-events", "--lookup-attributes",
                     f"AttributeKey={key},AttributeValue={value}")["Events"]
        assert events, (key, value)
        if expect is not None:
            assert set(names(events)) == expect, (key, value, names(events))


def test_time_range(fresh_server):
    srv = fresh_server
    kms, ct = make_kms(srv), make_cloudtrail(srv)
    key = kms.create_key()["KeyMetadata"]
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"before-the-range")
    start = sleep_to_next_second()
    inside = [kms.encrypt(KeyId=key["KeyId"], Plaintext=b"in-the-range")["ResponseMetadata"]["RequestId"]
              for _ in range(3)]
    kms.describe_key(KeyId=key["KeyId"])
    end = sleep_to_next_second()  # every event in range is before `end`; the rest after
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"after-the-range")

    ranged = lookup_all(ct, StartTime=utc(start), EndTime=utc(end))
    assert names(ranged) == ["DescribeKey", "Encrypt", "Encrypt", "Encrypt"], names(ranged)
    assert sorted(e["Record"]["requestID"] for e in ranged if e["EventName"] == "Encrypt") == sorted(inside)
    for e in ranged:
        assert utc(start) <= e["EventTime"] <= utc(end)

    # With an attribute too.
    assert names(lookup_all(ct, StartTime=utc(start), EndTime=utc(end), **attr("EventName", "Encrypt"))) == ["Encrypt"] * 3
    # Only a start, only an end.
    after = lookup_all(ct, StartTime=utc(end), **attr("ResourceName", key["Arn"]))
    assert names(after) == ["Encrypt"]
    before = lookup_all(ct, EndTime=utc(start), **attr("ResourceName", key["Arn"]))
    assert names(before) == ["Encrypt", "CreateKey"]
    # A range with nothing in it.
    assert lookup_all(ct, StartTime=utc(start - 3600), EndTime=utc(start - 3000)) == []


def test_pagination_with_the_boto3_paginator(populated):
    ct, a = populated["ct"], populated["a"]
    whole = lookup_all(ct, **attr("ResourceName", a["Arn"]))
    for size in (1, 2, 3):
        paged = lookup_all(ct, page_size=size, **attr("ResourceName", a["Arn"]))
        assert [e["EventId"] for e in paged] == [e["EventId"] for e in whole], size

    # One page by hand: MaxResults, then NextToken.
    first = ct.lookup_events(MaxResults=2, **attr("ResourceName", a["Arn"]))
    assert len(first["Events"]) == 2 and first.get("NextToken")
    second = ct.lookup_events(MaxResults=2, NextToken=first["NextToken"], **attr("ResourceName", a["Arn"]))
    assert [e["EventId"] for e in first["Events"] + second["Events"]] == [e["EventId"] for e in whole]
    assert not second.get("NextToken") or not ct.lookup_events(
        MaxResults=2, NextToken=second["NextToken"], **attr("ResourceName", a["Arn"]))["Events"]


def test_pagination_is_stable_while_events_arrive(populated):
    """Each page request is itself a new event; it must not shift the pages after it."""
    ct = populated["ct"]
    snapshot = ct.lookup_events(MaxResults=50)["Events"]
    assert len(snapshot) < 50
    paged = lookup_all(ct, page_size=2)
    ids = [e["EventId"] for e in paged]
    assert len(set(ids)) == len(ids), "an event came twice"
    # The snapshot's own LookupEvents event is newer than everything it listed.
    assert paged[0]["EventName"] == "LookupEvents"
    assert ids[1:] == [e["EventId"] for e in snapshot]


def test_lookup_errors(fresh_server):
    srv = fresh_server
    ct = make_cloudtrail(srv)
    make_kms(srv).create_key()

    code, message = client_error(ct.lookup_events, LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "CreateKey"},
        {"AttributeKey": "Username", "AttributeValue": "root"},
    ])
    assert code == "InvalidLookupAttributesException", (code, message)

    now = int(time.time())
    code, _ = client_error(ct.lookup_events, StartTime=utc(now), EndTime=utc(now - 60))
    assert code == "InvalidTimeRangeException"

    code, _ = client_error(ct.lookup_events, NextToken="not-a-token-we-gave-out")
    assert code == "InvalidNextTokenException"


def test_unknown_attribute_key(fresh_server):
    """An AttributeKey outside the model's enum: "Occurs when a lookup attribute is specified
    that is not valid." (The CloudTrail model has no ValidationException.)"""
    loose = make_cloudtrail(fresh_server, validate=False)
    code, _ = client_error(loose.lookup_events, LookupAttributes=[{"AttributeKey": "Colour", "AttributeValue": "x"}])
    assert code == "InvalidLookupAttributesException", code


@pytest.mark.parametrize("bad", [0, 51])
def test_max_results_out_of_range(fresh_server, bad):
    """The model: MaxResults is 1..50; LookupEvents' error for a limit that is not valid is
    InvalidMaxResultsException ("This exception is thrown if the limit specified is not valid")."""
    code, _ = client_error(make_cloudtrail(fresh_server, validate=False).lookup_events, MaxResults=bad)
    assert code == "InvalidMaxResultsException", code


def test_insight_events_category_is_an_empty_list(fresh_server):
    """EventCategory=insight asks for Insights events; with none recorded the answer is an
    empty list (InvalidEventCategoryException is for a category other than `insight`)."""
    srv = fresh_server
    make_kms(srv).create_key()
    ct = make_cloudtrail(srv)
    assert ct.lookup_events(EventCategory="insight")["Events"] == []
    code, _ = client_error(make_cloudtrail(srv, validate=False).lookup_events, EventCategory="management")
    assert code == "InvalidEventCategoryException"


def test_lookups_are_regional(fresh_server):
    srv = fresh_server
    west = make_kms(srv, region="us-west-2")
    key = west.create_key(Description="western")["KeyMetadata"]
    assert ":us-west-2:" in key["Arn"]
    east_events = lookup_all(make_cloudtrail(srv))
    assert "CreateKey" not in names(east_events)
    (created,) = lookup_all(make_cloudtrail(srv, region="us-west-2"), **attr("EventName", "CreateKey"))
    assert created["Record"]["awsRegion"] == "us-west-2"
    assert created["Resources"] == [{"ResourceType": "AWS::KMS::Key", "ResourceName": key["Arn"]}]


# --------------------------------------------------------------------------------------
# Failures are recorded too
# --------------------------------------------------------------------------------------


def test_failed_decrypt_is_recorded(fresh_server, sensitive):
    srv = fresh_server
    kms, ct = make_kms(srv), make_cloudtrail(srv)
    plaintext = unique("failed-decrypt-pt").encode()
    sensitive.add(plaintext)
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext, EncryptionContext={"purpose": "right"})["CiphertextBlob"]
    code, _ = client_error(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"purpose": "wrong"})
    assert code == "InvalidCiphertextException"

    (failed,) = lookup_all(ct, **attr("EventName", "Decrypt"))
    rec = check_common(failed, srv)
    assert rec["errorCode"] == "InvalidCiphertextException", rec
    assert rec["requestParameters"]["encryptionContext"] == {"purpose": "wrong"}
    assert rec["responseElements"] is None
    assert rec["readOnly"] is True
    assert b64encode_text(blob) not in failed["CloudTrailEvent"]


def b64encode_text(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_failed_decrypt_shows_under_the_key(fresh_server):
    """`lookup-events ResourceName=<key arn>` "shows who used a key" — and who tried: the
    blob names its key, so a refused Decrypt is listed under it (as Secrets Manager's
    refused Decrypts already are)."""
    srv = fresh_server
    kms, ct = make_kms(srv), make_cloudtrail(srv)
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"who-tried", EncryptionContext={"purpose": "right"})["CiphertextBlob"]
    client_error(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"purpose": "wrong"})
    used = lookup_all(ct, **attr("ResourceName", key["Arn"]))
    assert names(used) == ["Decrypt", "Encrypt", "CreateKey"], [
        (e["EventName"], e["Resources"]) for e in lookup_all(ct) if e["EventName"] != "LookupEvents"]
    assert used[0]["Record"]["errorCode"] == "InvalidCiphertextException"


@pytest.mark.parametrize("case", ["unsigned", "bad-signature", "unknown-key"])
def test_unauthenticated_requests_are_recorded(fresh_server, case):
    srv = fresh_server
    raw = RawKms(srv)
    agent = unique("audit-agent")
    extra = {"User-Agent": agent}
    if case == "unsigned":
        resp = raw.call("ListKeys", {}, sign=False, extra=extra)
        want = "MissingAuthenticationTokenException"
    elif case == "bad-signature":
        resp = raw.call("ListKeys", {}, secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", extra=extra)
        want = "InvalidSignatureException"
    else:
        resp = raw.call("ListKeys", {}, access_key_id="AKIAIOSFODNN7EXAMPLE",
                        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", extra=extra)
        want = "UnrecognizedClientException"
    assert resp.status in (400, 403), resp
    assert resp.error_type == want, resp

    events = [e for e in lookup_all(make_cloudtrail(srv)) if e["Record"].get("userAgent") == agent]
    assert len(events) == 1, f"want one event for the {case} request, have {len(events)}"
    (event,) = events
    rec = event["Record"]
    assert rec["errorCode"] == want, rec
    assert rec["eventName"] == "ListKeys" and event["EventName"] == "ListKeys"
    assert rec["eventSource"] == KMS_SOURCE
    assert rec["sourceIPAddress"] == "127.0.0.1"
    assert rec["eventType"] == "AwsApiCall"
    assert rec["recipientAccountId"] == ACCOUNT_ID
    assert rec["responseElements"] is None
    assert UUID_RE.match(rec["eventID"]) and rec["eventID"] == event["EventId"]
    assert rec.get("requestID"), rec
    # Not the account's root: the request proved no identity.
    assert rec["userIdentity"].get("type") != "Root", rec["userIdentity"]
    assert "arn" not in rec["userIdentity"], rec["userIdentity"]
    assert event.get("Username") != "root", event
    if case != "unsigned":
        # The key it claimed to be is what an investigator searches for.
        claimed = "AKIAIOSFODNN7EXAMPLE" if case == "unknown-key" else srv.access_key_id
        assert rec["userIdentity"].get("accessKeyId") == claimed, rec["userIdentity"]


def test_an_invalid_request_is_recorded(fresh_server):
    srv = fresh_server
    kms = make_kms(srv, validate=False)
    code, _ = client_error(kms.describe_key, KeyId="alias/does-not-exist")
    assert code == "NotFoundException"
    (event,) = lookup_all(make_cloudtrail(srv), **attr("EventName", "DescribeKey"))
    rec = check_common(event, srv)
    assert rec["errorCode"] == "NotFoundException"
    assert rec.get("errorMessage"), rec
    assert rec["requestParameters"] == {"keyId": "alias/does-not-exist"}


# --------------------------------------------------------------------------------------
# Nothing secret in any event, in the database, the export or the logs
# --------------------------------------------------------------------------------------


@pytest.mark.sqlite_file
def test_no_plaintext_or_secret_in_events_database_export_or_logs(fresh_server, aws_for, sensitive, tmp_path):
    srv = fresh_server
    aws = aws_for(srv)
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    secrets = Sensitive()  # what must never be stored anywhere
    ciphertexts = Sensitive()  # what must not be in an event (it is no secret elsewhere)

    def secret(value: bytes | str, what: str) -> None:
        secrets.add(value, what)
        sensitive.add(value, what)

    key = aws("kms", "create-key", "--description", "no-leak key")["KeyMetadata"]
    aws("kms", "create-alias", "--alias-name", "alias/UserName", "--target-key-id", key["KeyId"])

    # The seed's plaintext (here it is no name: the secret below is named otherwise).
    secret("student", "the seed's plaintext")
    cli_pt = unique("cliplaintext")
    secret(cli_pt, "CLI plaintext")
    for pt in ("student", cli_pt):
        blob = aws("kms", "encrypt", "--key-id", "alias/UserName", "--plaintext", pt,
                   "--encryption-context", "LambdaFunctionName=loadtest", "--output", "text", "--query", "CiphertextBlob")
        ciphertexts.add(b64decode(blob), "ciphertext")
        assert make_kms(srv).decrypt(CiphertextBlob=b64decode(blob), EncryptionContext=LAB_CONTEXT)["Plaintext"] == pt.encode()

    bin_pt = ("boto3-bytes-" + unique("x")).encode() + bytes(range(1, 40))
    secret(bin_pt, "boto3 plaintext")
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=bin_pt)["CiphertextBlob"]
    ciphertexts.add(blob, "ciphertext")
    re_blob = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key["KeyId"])["CiphertextBlob"]
    ciphertexts.add(re_blob, "re-encrypted ciphertext")
    assert kms.decrypt(CiphertextBlob=re_blob)["Plaintext"] == bin_pt

    dk = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"k": "v"})
    secret(dk["Plaintext"], "data key")
    ciphertexts.add(dk["CiphertextBlob"], "encrypted data key")
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"k": "v"})["Plaintext"] == dk["Plaintext"]
    dk2 = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=24)
    ciphertexts.add(dk2["CiphertextBlob"], "encrypted data key")
    secret(kms.decrypt(CiphertextBlob=dk2["CiphertextBlob"])["Plaintext"], "data key")
    random = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    secret(random, "random bytes")

    # Secret values: the seed's JSON password, a string, a binary; through CLI and boto3.
    secret("lab_password", "the seed's secret value")
    secret(LAB_SECRET_STRING, "the seed's secret value")
    name = unique("noleak")
    aws("secretsmanager", "create-secret", "--name", name, "--secret-string", LAB_SECRET_STRING)
    assert aws("secretsmanager", "get-secret-value", "--secret-id", name)["SecretString"] == LAB_SECRET_STRING
    string_value = unique("secretstringvalue")
    secret(string_value, "secret value")
    sm.put_secret_value(SecretId=name, SecretString=string_value)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == string_value
    binary_value = ("secret-binary-" + unique("b")).encode() + bytes(range(200, 256))
    secret(binary_value, "secret value")
    arn = sm.create_secret(Name=unique("noleakbin"), SecretBinary=binary_value)["ARN"]
    assert sm.get_secret_value(SecretId=arn)["SecretBinary"] == binary_value
    updated_value = unique("updatedsecretvalue")
    secret(updated_value, "secret value")
    sm.update_secret(SecretId=name, SecretString=updated_value, Description="updated")
    batch = sm.batch_get_secret_value(SecretIdList=[name, arn])["SecretValues"]
    assert sorted(v.get("SecretString", "") for v in batch) == sorted([updated_value, ""])
    password = sm.get_random_password(PasswordLength=40)["RandomPassword"]
    secret(password, "generated password")
    # A failure that carried a plaintext: still not recorded.
    failed_pt = unique("failedencryptpt")
    secret(failed_pt, "plaintext of a refused Encrypt")
    code, _ = client_error(kms.encrypt, KeyId="alias/does-not-exist", Plaintext=failed_pt.encode())
    assert code == "NotFoundException"
    ciphertexts.add(srv.secret_access_key, "secret access key")

    def check(text: str, where: str, *, everything: bool = True) -> None:
        """Plaintexts, data keys and secret values anywhere; ciphertexts and the secret
        access key in what shows events (the database may hold the key, to check SigV4)."""
        leaks = secrets.found_in(text) + (ciphertexts.found_in(text) if everything else [])
        assert not leaks, f"{where} holds {leaks}"

    # 1. Through LookupEvents.
    events = lookup_all(make_cloudtrail(srv))
    assert len(events) >= 20
    for e in events:
        check(json.dumps(e, default=str), f"the {e['EventName']} event")

    # 2. The export.
    exported = audit_export(srv.data_dir, tmp_path / "export.json.gz")
    check(json.dumps(exported), "the export")

    # 3. The stored events, read straight from the database of the stopped server.
    assert srv.stop() == 0
    with open_db(srv.data_dir) as conn:
        for table in ("audit_events", "audit_resources"):
            for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608 - fixed names
                text = " ".join(r.hex() if isinstance(r, bytes) else str(r) for r in row)
                check(text, f"a row of {table}")
        stored = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    assert stored >= len(events)

    # 4. The database files, byte for byte (a plaintext must not be stored anywhere).
    for path in sorted(srv.data_dir.glob("keyward.db*")):
        check(path.read_bytes().decode("latin-1"), str(path.name), everything=False)

    # 5. The log (the session teardown scans it again, after shutdown).
    check(srv.log_text(), "the server log")


# --------------------------------------------------------------------------------------
# A denied request is recorded, with who was denied
# --------------------------------------------------------------------------------------


def test_denied_decrypt_is_recorded_with_its_error_code(fresh_server, aws_for, sensitive):
    """A Decrypt refused by policy is an event with errorCode AccessDeniedException and
    AWS's errorMessage, under the caller's identity: an IAM user (userIdentity type
    IAMUser) and a role session (type AssumedRole, with its sessionIssuer) — CloudTrail
    User Guide, "CloudTrail userIdentity element"."""
    srv = fresh_server
    aws = aws_for(srv)
    root_session = boto3.session.Session(aws_access_key_id=srv.access_key_id,
                                         aws_secret_access_key=srv.secret_access_key, region_name=REGION)
    iam = root_session.client("iam", endpoint_url=srv.endpoint)
    kms = make_kms(srv)
    plaintext = unique("denied-decrypt-pt").encode()
    sensitive.add(plaintext)
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext, EncryptionContext=LAB_CONTEXT)["CiphertextBlob"]

    user_name = unique("denied-user")
    user = iam.create_user(UserName=user_name)["User"]
    access = iam.create_access_key(UserName=user_name)["AccessKey"]
    sensitive.add(access["SecretAccessKey"], "user secret access key")
    iam.put_user_policy(UserName=user_name, PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    role = iam.create_role(RoleName="loadtest", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
                                                "Action": "sts:AssumeRole"}]}))["Role"]
    as_user = boto3.session.Session(aws_access_key_id=access["AccessKeyId"],
                                    aws_secret_access_key=access["SecretAccessKey"], region_name=REGION)
    code, message = client_error(as_user.client("kms", endpoint_url=srv.endpoint).decrypt,
                                 CiphertextBlob=blob, EncryptionContext=LAB_CONTEXT)
    assert code == "AccessDeniedException", message

    assumed = as_user.client("sts", endpoint_url=srv.endpoint).assume_role(RoleArn=role["Arn"], RoleSessionName="fn")
    creds = assumed["Credentials"]
    sensitive.add(creds["SecretAccessKey"], "session secret access key")
    sensitive.add(creds["SessionToken"], "session token")
    as_role = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                    aws_session_token=creds["SessionToken"], region_name=REGION)
    code, _ = client_error(as_role.client("kms", endpoint_url=srv.endpoint).decrypt,
                           CiphertextBlob=blob, EncryptionContext=LAB_CONTEXT)
    assert code == "AccessDeniedException"

    events = aws("cloudtrail", "lookup-events", "--lookup-attributes",
                 "AttributeKey=EventName,AttributeValue=Decrypt")["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    denied = [r for r in records if r.get("errorCode")]
    assert len(denied) == 2, [(r["userIdentity"].get("type"), r.get("errorCode")) for r in records]
    by_type = {r["userIdentity"]["type"]: r for r in denied}
    assert set(by_type) == {"IAMUser", "AssumedRole"}, by_type.keys()

    rec = by_type["IAMUser"]
    assert rec["errorCode"] == "AccessDeniedException"
    assert rec["errorMessage"].startswith(f"User: {user['Arn']} is not authorized to perform: kms:Decrypt"), rec
    assert rec["userIdentity"]["arn"] == user["Arn"]
    assert rec["userIdentity"]["userName"] == user_name
    assert rec["userIdentity"]["principalId"] == user["UserId"]
    assert rec["userIdentity"]["accessKeyId"] == access["AccessKeyId"]
    assert rec["userIdentity"]["accountId"] == ACCOUNT_ID
    assert rec["eventSource"] == KMS_SOURCE and rec["readOnly"] is True
    assert rec["responseElements"] is None
    assert rec["requestParameters"]["encryptionContext"] == LAB_CONTEXT
    assert key_resource(key["Arn"]) in rec["resources"]
    (summary,) = [e for e in events if json.loads(e["CloudTrailEvent"])["eventID"] == rec["eventID"]]
    assert summary["Username"] == user_name
    assert summary["AccessKeyId"] == access["AccessKeyId"]

    rec = by_type["AssumedRole"]
    session_arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/loadtest/fn"
    assert rec["errorCode"] == "AccessDeniedException"
    assert rec["errorMessage"].startswith(f"User: {session_arn} is not authorized to perform: kms:Decrypt"), rec
    ident = rec["userIdentity"]
    assert ident["arn"] == session_arn
    assert ident["principalId"] == f"{role['RoleId']}:fn"
    assert ident["accessKeyId"] == creds["AccessKeyId"]
    assert ident["accountId"] == ACCOUNT_ID
    issuer = ident["sessionContext"]["sessionIssuer"]
    assert (issuer["type"], issuer["arn"], issuer["userName"], issuer["principalId"]) == \
        ("Role", role["Arn"], "loadtest", role["RoleId"])
    assert plaintext.decode() not in json.dumps(events, default=str)
