"""Secrets Manager on the raw wire: AWS JSON 1.1, `X-Amz-Target: secretsmanager.<Op>`,
blobs as base64 strings, timestamps as epoch seconds (numbers), errors as `__type` bodies
(DESIGN.md, "The wire is the spec")."""

from __future__ import annotations

import base64
import http.client
import json
import os
import time

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from conftest import HTTP_TIMEOUT, REGION, unique


def call(server, op: str, body: dict, *, sign: bool = True) -> tuple[int, dict[str, str], dict]:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"secretsmanager.{op}"}
    if sign:
        request = botocore.awsrequest.AWSRequest(method="POST", url=server.endpoint + "/", data=data, headers=headers)
        creds = botocore.credentials.Credentials(server.access_key_id, server.secret_access_key)
        botocore.auth.SigV4Auth(creds, "secretsmanager", REGION).add_auth(request)
        headers = dict(request.headers.items())
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)
    try:
        conn.request("POST", "/", body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(raw) if raw else {}
    finally:
        conn.close()


def test_wire_shapes(server, sensitive):
    name = unique("wire")
    blob = os.urandom(40)
    sensitive.add(blob, "secret binary")
    status, headers, out = call(server, "CreateSecret", {
        "Name": name, "SecretBinary": base64.b64encode(blob).decode(), "ClientRequestToken": "a" * 32})
    assert status == 200, out
    assert headers["content-type"].startswith("application/x-amz-json-1.1")
    assert out["VersionId"] == "a" * 32

    status, _, out = call(server, "GetSecretValue", {"SecretId": name})
    assert status == 200
    assert base64.b64decode(out["SecretBinary"]) == blob
    assert isinstance(out["CreatedDate"], (int, float)) and not isinstance(out["CreatedDate"], bool)
    assert abs(out["CreatedDate"] - time.time()) < 300

    status, _, out = call(server, "DescribeSecret", {"SecretId": name})
    for field in ("CreatedDate", "LastChangedDate", "LastAccessedDate"):
        assert isinstance(out[field], (int, float)), (field, out[field])
    assert out["LastAccessedDate"] % 86400 == 0, "LastAccessedDate is midnight UTC"

    status, _, out = call(server, "GetRandomPassword", {})
    assert status == 200 and len(out["RandomPassword"]) == 32


def test_wire_errors(server):
    status, headers, out = call(server, "GetSecretValue", {"SecretId": unique("nope")})
    assert status == 400
    assert out["__type"].rsplit("#", 1)[-1] == "ResourceNotFoundException"
    message = out.get("Message", out.get("message"))
    assert message == "Secrets Manager can't find the specified secret."

    # Both values: InvalidParameterException.
    status, _, out = call(server, "CreateSecret", {"Name": unique("both"), "SecretString": "abcdefgh",
                                                   "SecretBinary": base64.b64encode(b"abcdefgh").decode()})
    assert status == 400 and out["__type"].rsplit("#", 1)[-1] == "InvalidParameterException"

    # A missing required member is a ValidationException.
    status, _, out = call(server, "GetSecretValue", {})
    assert status == 400 and out["__type"].rsplit("#", 1)[-1] == "ValidationException"

    # Unsigned requests are refused before anything else happens.
    status, _, out = call(server, "ListSecrets", {}, sign=False)
    assert status in (400, 403)
    assert out["__type"].rsplit("#", 1)[-1] in ("MissingAuthenticationTokenException", "IncompleteSignatureException",
                                                "AccessDeniedException", "UnrecognizedClientException")
