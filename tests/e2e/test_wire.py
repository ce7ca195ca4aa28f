"""The wire itself: hand-built AWS JSON 1.1 requests, SigV4 failures, codec errors."""

import base64
import datetime as dt
import http.client
import json

import botocore.auth


def assert_error(resp, status, error_type):
    """Status and `__type`; returns the message ("" if none: AWS sends none for some
    protocol-level errors such as UnknownOperationException)."""
    assert resp.status == status, resp
    assert resp.error_type == error_type, resp
    body = resp.json
    message = body.get("message", body.get("Message")) or ""
    assert isinstance(message, str), body
    return message


def test_signed_request_works(raw):
    resp = raw.call("ListKeys", {})
    assert resp.status == 200, resp
    assert "Keys" in resp.json
    assert resp.headers["content-type"].startswith("application/x-amz-json-1.1")


def test_unsigned_request(raw):
    resp = raw.call("ListKeys", {}, sign=False)
    assert_error(resp, 400, "MissingAuthenticationTokenException")


def test_unknown_access_key(raw):
    resp = raw.call("ListKeys", {}, access_key_id="AKIAUNKNOWNE2E000000", secret_access_key="x" * 40)
    assert_error(resp, 400, "UnrecognizedClientException")


def test_wrong_secret(raw, server):
    resp = raw.call("ListKeys", {}, secret_access_key=server.secret_access_key + "x")
    assert_error(resp, 400, "InvalidSignatureException")


def test_body_changed_after_signing(raw, server):
    signed_body = json.dumps({"Limit": 1}).encode()
    headers = raw.headers("ListKeys", signed_body)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", "/", body=json.dumps({"Limit": 2}).encode(), headers=headers)
        resp = conn.getresponse()
        status, body = resp.status, json.loads(resp.read())
    finally:
        conn.close()
    assert status == 400
    assert body["__type"].rsplit("#", 1)[-1] == "InvalidSignatureException"


def sign_at(monkeypatch, minutes):
    """Make botocore's SigV4 signer use a clock `minutes` off."""
    skewed = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)


def test_request_signed_20_minutes_ago(raw, monkeypatch):
    sign_at(monkeypatch, -20)
    message = assert_error(raw.call("ListKeys", {}), 400, "InvalidSignatureException")
    assert message.startswith("Signature expired"), message


def test_request_signed_20_minutes_ahead(raw, monkeypatch):
    sign_at(monkeypatch, 20)
    message = assert_error(raw.call("ListKeys", {}), 400, "InvalidSignatureException")
    # AWS says "Signature not yet current: ..." for a date in the future.
    assert message.startswith(("Signature not yet current", "Signature expired")), message


def test_request_time_within_window_is_accepted(raw, monkeypatch):
    sign_at(monkeypatch, -5)
    assert raw.call("ListKeys", {}).status == 200


def test_other_region_in_scope_is_that_region(raw):
    resp = raw.call("CreateKey", {"Description": "scope region"}, region="ap-southeast-2")
    assert resp.status == 200, resp
    assert resp.json["KeyMetadata"]["Arn"].startswith("arn:aws:kms:ap-southeast-2:000000000000:key/")


def test_unknown_operation(raw):
    assert_error(raw.call("TrentService.NoSuchOperation", {}), 400, "UnknownOperationException")


def test_malformed_json(raw):
    assert_error(raw.call("ListKeys", b'{"Limit": '), 400, "SerializationException")


def test_wrong_member_type(raw):
    resp = raw.call("ListKeys", {"Limit": "ten"})
    assert resp.status == 400, resp
    assert resp.error_type in ("SerializationException", "ValidationException"), resp


def test_missing_required_member(raw, new_key):
    key_id = new_key()["KeyId"]
    message = assert_error(raw.call("Encrypt", {"KeyId": key_id}), 400, "ValidationException")
    assert "plaintext" in message.lower(), message


def test_value_outside_model_limits(raw):
    message = assert_error(raw.call("GenerateRandom", {"NumberOfBytes": 0}), 400, "ValidationException")
    assert "numberOfBytes" in message or "NumberOfBytes" in message, message


def test_bad_base64_blob(raw):
    resp = raw.call("Decrypt", {"CiphertextBlob": "***not base64***"})
    assert resp.status == 400, resp
    assert resp.error_type in ("SerializationException", "ValidationException", "InvalidCiphertextException"), resp


def test_encrypt_by_hand(raw, new_key, sensitive):
    sensitive.add(b"hand-made request")
    key_id = new_key()["KeyId"]
    resp = raw.call("Encrypt", {"KeyId": key_id, "Plaintext": base64.b64encode(b"hand-made request").decode()})
    assert resp.status == 200, resp
    blob = resp.json["CiphertextBlob"]
    back = raw.call("Decrypt", {"CiphertextBlob": blob})
    assert back.status == 200, back
    assert base64.b64decode(back.json["Plaintext"]) == b"hand-made request"


def test_two_mebibyte_body_is_refused(raw, new_key):
    key_id = new_key()["KeyId"]
    filler = base64.b64encode(b"\0" * (1536 * 1024 + 4096)).decode()  # a little over 2 MiB as JSON
    body = json.dumps({"KeyId": key_id, "Plaintext": filler}).encode()
    assert len(body) > 2 * 1024 * 1024
    resp = raw.call_streaming("Encrypt", body)
    assert resp is not None, "the server closed the connection without an HTTP response"
    assert 400 <= resp.status < 500, resp
    if resp.body:
        assert "__type" in resp.json, resp
    # The server is still healthy afterwards.
    assert raw.call("ListKeys", {}).status == 200


def test_every_error_has_a_type(raw):
    for resp in (
        raw.call("ListKeys", {}, sign=False),
        raw.call("NoSuchOperation", {}),
        raw.call("ListKeys", b"[1, 2"),
        raw.call("DescribeKey", {"KeyId": "00000000-0000-4000-8000-000000000000"}),
    ):
        assert 400 <= resp.status < 500, resp
        assert "__type" in resp.json, resp
