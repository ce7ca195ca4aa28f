"""The audit trail on disk, with the real binary: `keyward audit verify` catches a removed,
altered or reordered event; `keyward audit export` writes CloudTrail log files for a time
range; retention keeps the chain verifiable; and every event acknowledged before a crash
(SIGKILL) is there after the restart.

Tampering is done with python's sqlite3 on copies of a stopped server's data directory
(`<data-dir>/keyward.db`, tables audit_events and audit_resources, checkpoint in `meta`).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import botocore.exceptions
import pytest

from conftest import HTTP_TIMEOUT, RawKms, make_kms, make_secretsmanager, unique
from test_audit import (
    attr,
    audit_export,
    audit_verify,
    db_rows,
    lookup_all,
    make_cloudtrail,
    names,
    open_db,
    rfc3339,
    sleep_to_next_second,
    utc,
)

POLL_TIMEOUT = 20.0  # seconds a polling loop may wait

# Every test here reads or alters the SQLite file (the PostgreSQL chain is checked by the
# store's conformance suite, several writers included).
pytestmark = pytest.mark.sqlite_file


def make_events(srv, sensitive, n_encrypts: int = 4) -> dict[str, Any]:
    """A handful of KMS and Secrets Manager events on `srv`."""
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    key = kms.create_key(Description="chain")["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/{unique('chain')}", TargetKeyId=key["KeyId"])
    for i in range(n_encrypts):
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=f"chain-plaintext-{i}".encode())["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    value = unique("chain-secret")
    sensitive.add(value, "secret value")
    name = unique("chain")
    sm.create_secret(Name=name, SecretString=value)
    sm.get_secret_value(SecretId=name)
    return {"key": key}


def event_count(data_dir: Path) -> int:
    return db_rows(data_dir, "SELECT count(*) FROM audit_events")[0][0]


def assert_verifies(data_dir: Path, count: int) -> str:
    done = audit_verify(data_dir)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"keyward audit verify exited {done.returncode} on an intact trail:\n{out}"
    assert re.search(rf"\b{count}\b", out), f"verify does not report the {count} events:\n{out}"
    return out


# --------------------------------------------------------------------------------------
# Tamper evidence
# --------------------------------------------------------------------------------------


def delete_event(conn, seq: int) -> None:
    conn.execute("DELETE FROM audit_resources WHERE seq = ?", (seq,))
    conn.execute("DELETE FROM audit_events WHERE seq = ?", (seq,))


def edit_record(conn, seq: int) -> None:
    (record,) = conn.execute("SELECT record FROM audit_events WHERE seq = ?", (seq,)).fetchone()
    rec = json.loads(record)
    rec["sourceIPAddress"] = "203.0.113.77"
    conn.execute("UPDATE audit_events SET record = ? WHERE seq = ?", (json.dumps(rec, separators=(",", ":")), seq))


def swap_events(conn, seq: int) -> None:
    """Swaps events seq and seq+1 (and their resources), as a reorder would."""
    for table in ("audit_resources", "audit_events"):
        conn.execute(f"UPDATE {table} SET seq = -1 WHERE seq = ?", (seq,))  # noqa: S608
        conn.execute(f"UPDATE {table} SET seq = ? WHERE seq = ?", (seq, seq + 1))  # noqa: S608
        conn.execute(f"UPDATE {table} SET seq = ? WHERE seq = -1", (seq + 1,))  # noqa: S608


def hide_caller(conn, seq: int) -> None:
    """Edits a lookup column (who did it) and leaves the record alone."""
    conn.execute("UPDATE audit_events SET username = NULL, access_key_id = 'AKIAIOSFODNN7EXAMPLE' WHERE seq = ?", (seq,))


def drop_resources(conn, seq: int) -> None:
    """Removes the event's resources, so a ResourceName lookup would no longer find it."""
    deleted = conn.execute("DELETE FROM audit_resources WHERE seq = ?", (seq,)).rowcount
    assert deleted, f"event {seq} has no resources to drop"


def backdate(conn, seq: int) -> None:
    conn.execute("UPDATE audit_events SET event_time = event_time - 86400000 WHERE seq = ?", (seq,))


TAMPERINGS: dict[str, Callable[[Any, int], None]] = {
    "delete-a-middle-event": delete_event,
    "edit-a-record": edit_record,
    "swap-two-events": swap_events,
    "edit-a-lookup-column": hide_caller,
    "drop-an-events-resources": drop_resources,
    "change-an-event-time": backdate,
}


@pytest.fixture(scope="module")
def stopped_trail(keyward, tmp_path_factory, sensitive):
    """A stopped server's data directory with a known number of events."""
    srv = keyward(name="audit-chain")
    make_events(srv, sensitive)
    lookup_all(make_cloudtrail(srv))
    assert srv.stop() == 0
    count = event_count(srv.data_dir)
    assert count >= 12, count
    # The middle event tampered with must have resources (for drop-an-events-resources).
    rows = db_rows(srv.data_dir, "SELECT DISTINCT seq FROM audit_resources ORDER BY seq")
    with_resources = [r[0] for r in rows if 2 < r[0] < count - 1]
    assert with_resources, rows
    return {"dir": srv.data_dir, "count": count, "victim": with_resources[len(with_resources) // 2],
            "copies": tmp_path_factory.mktemp("audit-copies")}


def test_verify_passes_on_the_untouched_trail(stopped_trail):
    copy = stopped_trail["copies"] / "untouched"
    shutil.copytree(stopped_trail["dir"], copy)
    assert_verifies(copy, stopped_trail["count"])
    # And on the original, in place.
    assert_verifies(stopped_trail["dir"], stopped_trail["count"])


@pytest.mark.parametrize("how", list(TAMPERINGS))
def test_verify_names_the_first_broken_event(stopped_trail, how):
    copy = stopped_trail["copies"] / how
    shutil.copytree(stopped_trail["dir"], copy)
    seq = stopped_trail["victim"]
    conn = open_db(copy)
    try:
        with conn:
            TAMPERINGS[how](conn, seq)
    finally:
        conn.close()
    done = audit_verify(copy)
    out = done.stdout + done.stderr
    assert done.returncode == 1, f"{how} of event {seq}: verify exited {done.returncode}:\n{out}"
    assert re.search(rf"\b{seq}\b", out), f"{how} of event {seq}: the report does not name it:\n{out}"


def test_verify_catches_removing_the_first_event(stopped_trail):
    copy = stopped_trail["copies"] / "first-removed"
    shutil.copytree(stopped_trail["dir"], copy)
    conn = open_db(copy)
    try:
        with conn:
            delete_event(conn, 1)
    finally:
        conn.close()
    done = audit_verify(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"\b1\b", done.stdout + done.stderr)


def test_verify_catches_removing_the_newest_events(stopped_trail):
    """DESIGN: events are "chained by hashes so that a removed or altered event is
    detected". Removing the newest events (the trace of the last key uses) must not leave a
    trail that verifies as complete."""
    copy = stopped_trail["copies"] / "tail-removed"
    shutil.copytree(stopped_trail["dir"], copy)
    last = stopped_trail["count"]
    conn = open_db(copy)
    try:
        with conn:
            delete_event(conn, last)
            delete_event(conn, last - 1)
    finally:
        conn.close()
    done = audit_verify(copy)
    out = done.stdout + done.stderr
    assert done.returncode == 1, f"the newest two events ({last - 1}, {last}) were deleted; verify exited {done.returncode}:\n{out}"
    assert re.search(rf"\b{last - 1}\b", out), out


def test_verify_on_a_missing_data_dir_is_not_success(tmp_path):
    done = audit_verify(tmp_path / "nothing-here")
    assert done.returncode != 0, done.stdout


# --------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------


def test_export_a_time_range_matches_lookup_events(fresh_server, sensitive, tmp_path):
    srv = fresh_server
    kms, ct = make_kms(srv), make_cloudtrail(srv)
    key = kms.create_key(Description="export")["KeyMetadata"]
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"before-export-range")
    start = sleep_to_next_second()
    make_events(srv, sensitive, n_encrypts=3)
    kms.describe_key(KeyId=key["KeyId"])
    end = sleep_to_next_second()
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"after-export-range")

    looked_up = lookup_all(ct, StartTime=utc(start), EndTime=utc(end))
    assert len(looked_up) >= 10
    assert "LookupEvents" not in names(looked_up)

    # While the server runs (SQLite's WAL lets readers in), with epoch seconds.
    exported = audit_export(srv.data_dir, tmp_path / "range.json.gz", "--start", str(start), "--end", str(end))
    assert set(exported) == {"Records"}
    records = exported["Records"]
    assert len(records) == len(looked_up)
    assert sorted(r["eventName"] for r in records) == sorted(names(looked_up))
    assert {r["eventID"] for r in records} == {e["EventId"] for e in looked_up}
    by_id = {e["EventId"]: e["Record"] for e in looked_up}
    for r in records:
        assert r == by_id[r["eventID"]], "the exported record differs from CloudTrailEvent"
        assert r["eventType"] == "AwsApiCall" and r["recipientAccountId"]

    # The same range as RFC 3339.
    again = audit_export(srv.data_dir, tmp_path / "rfc3339.json.gz", "--start", rfc3339(start), "--end", rfc3339(end))
    assert [r["eventID"] for r in again["Records"]] == [r["eventID"] for r in records]

    # Only a start: the range's events, the later Encrypt and the LookupEvents calls.
    later = audit_export(srv.data_dir, tmp_path / "later.json.gz", "--start", str(end))
    assert sorted(set(r["eventName"] for r in later["Records"])) == ["Encrypt", "LookupEvents"]

    # Everything, after a clean stop: exactly the stored events.
    assert srv.stop() == 0
    everything = audit_export(srv.data_dir, tmp_path / "all.json.gz")
    assert len(everything["Records"]) == event_count(srv.data_dir)
    assert {r["eventID"] for r in records} <= {r["eventID"] for r in everything["Records"]}


# --------------------------------------------------------------------------------------
# Retention
# --------------------------------------------------------------------------------------


def test_retention_keeps_recent_events(keyward, sensitive):
    srv = keyward(name="retention-30", args=("--audit-retention-days", "30", "--job-interval-seconds", "1"))
    make_events(srv, sensitive)
    ct = make_cloudtrail(srv)
    before = lookup_all(ct)
    time.sleep(3)  # several job runs
    after = lookup_all(ct)
    assert {e["EventId"] for e in before} <= {e["EventId"] for e in after}
    assert srv.stop() == 0
    count = event_count(srv.data_dir)
    assert count == len(before) + 2  # + the two LookupEvents calls
    assert db_rows(srv.data_dir, "SELECT min(seq) FROM audit_events")[0][0] == 1
    assert db_rows(srv.data_dir, "SELECT count(*) FROM meta WHERE name = 'audit-checkpoint'")[0][0] == 0
    assert_verifies(srv.data_dir, count)
    # A restart with retention still finds them all.
    srv.start()
    assert {e["EventId"] for e in after} <= {e["EventId"] for e in lookup_all(make_cloudtrail(srv))}


def test_pruning_keeps_the_chain_verifiable(keyward, sensitive):
    """Back-date the first events (which breaks their hashes: verify fails), start with a
    retention of 1 day: those events are pruned, the checkpoint holds the last pruned hash,
    and the remaining chain verifies again."""
    srv = keyward(name="retention-prune")
    make_events(srv, sensitive)
    assert srv.stop() == 0
    total = event_count(srv.data_dir)
    pruned = 3
    old_ids = [r[0] for r in db_rows(srv.data_dir, "SELECT event_id FROM audit_events WHERE seq <= ? ORDER BY seq", (pruned,))]
    conn = open_db(srv.data_dir)
    try:
        with conn:
            conn.execute("UPDATE audit_events SET event_time = event_time - 3 * 86400000 WHERE seq <= ?", (pruned,))
    finally:
        conn.close()
    assert audit_verify(srv.data_dir).returncode == 1  # the back-dating itself is caught

    srv.extra_args += ["--audit-retention-days", "1", "--job-interval-seconds", "1"]
    srv.start()
    ct = make_cloudtrail(srv)
    deadline = time.monotonic() + POLL_TIMEOUT
    while lookup_all(ct, **attr("EventId", old_ids[-1])):
        assert time.monotonic() < deadline, f"events older than the retention are still there after {POLL_TIMEOUT}s"
        time.sleep(0.5)
    for event_id in old_ids:
        assert lookup_all(ct, **attr("EventId", event_id)) == []
    remaining = lookup_all(ct)
    assert "CreateSecret" in names(remaining)
    assert srv.stop() == 0

    assert db_rows(srv.data_dir, "SELECT min(seq) FROM audit_events")[0][0] == pruned + 1
    (checkpoint,) = db_rows(srv.data_dir, "SELECT value FROM meta WHERE name = 'audit-checkpoint'")[0]
    assert int.from_bytes(bytes(checkpoint)[:8], "big") == pruned
    assert_verifies(srv.data_dir, event_count(srv.data_dir))
    assert event_count(srv.data_dir) > total - pruned


# --------------------------------------------------------------------------------------
# Durability
# --------------------------------------------------------------------------------------


def test_every_acknowledged_event_survives_sigkill(keyward, sensitive):
    srv = keyward(name="audit-sigkill")
    kms = make_kms(srv)
    key = kms.create_key(Description="durability")["KeyMetadata"]
    request_ids = [kms.describe_key(KeyId=key["KeyId"])["ResponseMetadata"]["RequestId"]]

    def encrypt(i: int) -> str:
        client = make_kms(srv)
        return client.encrypt(KeyId=key["KeyId"], Plaintext=f"durable-{i}".encode())["ResponseMetadata"]["RequestId"]

    with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent: group commits of several
        request_ids += list(pool.map(encrypt, range(80)))
    assert srv.kill() == -9  # right after the last response: no clean shutdown

    srv.start()
    recorded = {e["Record"]["requestID"] for e in lookup_all(make_cloudtrail(srv), page_size=50)}
    missing = [r for r in request_ids if r not in recorded]
    assert not missing, f"{len(missing)} of {len(request_ids)} acknowledged requests have no event after SIGKILL"
    assert srv.stop() == 0
    assert_verifies(srv.data_dir, event_count(srv.data_dir))


def test_no_key_is_used_unrecorded(keyward, sensitive):
    """If the audit store cannot write, the request fails: no ciphertext, plaintext or
    secret value leaves without its event. An outside writer holding the database's write
    lock (longer than the server's busy timeout) makes every audit write fail."""
    srv = keyward(name="audit-unwritable")
    kms, sm = make_kms(srv), make_secretsmanager(srv)
    raw = RawKms(srv)
    key = kms.create_key(Description="unwritable")["KeyMetadata"]
    plaintext = unique("unrecorded-pt").encode()
    sensitive.add(plaintext)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext)["CiphertextBlob"]
    value = unique("unrecorded-secret")
    sensitive.add(value, "secret value")
    name = unique("unrecorded")
    sm.create_secret(Name=name, SecretString=value)
    sm.get_secret_value(SecretId=name)  # warm every cache: only the audit write is left
    before = event_count_live(srv)

    lock = sqlite3.connect(str(srv.data_dir / "keyward.db"), timeout=10, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        enc = raw.call("Encrypt", {"KeyId": key["KeyId"], "Plaintext": base64.b64encode(b"no-event-no-ciphertext").decode()})
        dec = raw.call("Decrypt", {"CiphertextBlob": base64.b64encode(blob).decode()})
        with pytest.raises(botocore.exceptions.ClientError) as info:
            sm.get_secret_value(SecretId=name)
        assert time.monotonic() - started < 3 * HTTP_TIMEOUT
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 500, info.value.response
    assert value not in str(info.value.response)
    for what, resp in (("Encrypt", enc), ("Decrypt", dec)):
        assert resp.status >= 500, f"{what} succeeded without its audit event: {resp}"
        body = resp.body.decode("utf-8", "replace")
        assert "CiphertextBlob" not in body and "Plaintext" not in body and value not in body, body
        assert base64.b64encode(plaintext).decode() not in body

    # The server recovers once the lock is gone, and the chain is whole.
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
    assert sm.get_secret_value(SecretId=name)["SecretString"] == value
    assert event_count_live(srv) > before
    assert srv.stop() == 0
    assert_verifies(srv.data_dir, event_count(srv.data_dir))


def event_count_live(srv) -> int:
    return len(lookup_all(make_cloudtrail(srv), page_size=50))
