#!/usr/bin/env python3
"""Checks the Query codec's fixtures against botocore. Not run by CI: it needs botocore.

    python3 crates/keyward-protocol/tests/query_botocore_check.py [--write]

The fixtures live in crates/keyward-protocol/tests/query_fixtures/ and are read by the unit
tests of keyward-protocol (src/iam/tests.rs, src/sts/tests.rs):

- requests.json: for each request below, the exact form body botocore sends. The Rust tests
  decode every body and expect the parameters back, member for member.
- <name>.xml: responses and errors as the Rust encoder renders them (the Rust tests compare
  their output byte for byte; run them with UPDATE_QUERY_FIXTURES=1 to rewrite the files).
  <name>.json: what botocore parses out of <name>.xml, the way boto3 hands it to a user
  (policy documents URL-decoded and parsed, timestamps as ISO 8601 strings).

Without --write, the script checks that botocore still produces exactly the committed
requests.json and <name>.json files, and exits non-zero if not. With --write, it rewrites them.
"""

import datetime
import json
import os
import sys

import botocore.handlers
import botocore.parsers
import botocore.session
from botocore.awsrequest import AWSResponse

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "query_fixtures")

TRUST_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
    '{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}'
)
USER_POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Action": "kms:*", "Resource": "*"}]}'
)

REQUESTS = [
    ("iam", "CreateUser", {"UserName": "alice", "Path": "/eng/",
                           "Tags": [{"Key": "team", "Value": "a b+c"},
                                    {"Key": "env", "Value": ""}]}),
    ("iam", "CreateUser", {"UserName": "bob",
                           "PermissionsBoundary": "arn:aws:iam::000000000000:policy/boundary"}),
    ("iam", "GetUser", {}),
    ("iam", "GetUser", {"UserName": "alice"}),
    ("iam", "ListUsers", {"PathPrefix": "/eng/", "MaxItems": 10, "Marker": "m"}),
    ("iam", "DeleteUser", {"UserName": "alice"}),
    ("iam", "CreateAccessKey", {}),
    ("iam", "CreateAccessKey", {"UserName": "alice"}),
    ("iam", "ListAccessKeys", {"UserName": "alice", "MaxItems": 100}),
    ("iam", "UpdateAccessKey", {"UserName": "alice", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE",
                                "Status": "Inactive"}),
    ("iam", "DeleteAccessKey", {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}),
    ("iam", "CreateRole", {"RoleName": "deployer", "AssumeRolePolicyDocument": TRUST_POLICY,
                           "Path": "/ci/", "MaxSessionDuration": 7200,
                           "Description": "Deploys & ships <fast>",
                           "Tags": [{"Key": "team", "Value": "platform"}]}),
    ("iam", "GetRole", {"RoleName": "deployer"}),
    ("iam", "ListRoles", {}),
    ("iam", "DeleteRole", {"RoleName": "deployer"}),
    ("iam", "UpdateAssumeRolePolicy", {"RoleName": "deployer", "PolicyDocument": TRUST_POLICY}),
    ("iam", "PutUserPolicy", {"UserName": "alice", "PolicyName": "kms-use",
                              "PolicyDocument": USER_POLICY}),
    ("iam", "GetUserPolicy", {"UserName": "alice", "PolicyName": "kms-use"}),
    ("iam", "ListUserPolicies", {"UserName": "alice"}),
    ("iam", "DeleteUserPolicy", {"UserName": "alice", "PolicyName": "kms-use"}),
    ("iam", "PutRolePolicy", {"RoleName": "deployer", "PolicyName": "kms-use",
                              "PolicyDocument": USER_POLICY}),
    ("iam", "GetRolePolicy", {"RoleName": "deployer", "PolicyName": "kms-use"}),
    ("iam", "ListRolePolicies", {"RoleName": "deployer", "Marker": "next page"}),
    ("iam", "DeleteRolePolicy", {"RoleName": "deployer", "PolicyName": "kms-use"}),
    ("iam", "TagUser", {"UserName": "alice", "Tags": [{"Key": "a:b/c", "Value": "x=y@z"}]}),
    ("iam", "TagRole", {"RoleName": "deployer", "Tags": [{"Key": "k1", "Value": "v1"},
                                                         {"Key": "k2", "Value": "v2"}]}),
    ("iam", "UntagUser", {"UserName": "alice", "TagKeys": ["a:b/c"]}),
    ("iam", "UntagRole", {"RoleName": "deployer", "TagKeys": ["k1", "k2"]}),
    ("iam", "UntagRole", {"RoleName": "deployer", "TagKeys": []}),
    ("iam", "ListUserTags", {"UserName": "alice", "MaxItems": 1}),
    ("iam", "ListRoleTags", {"RoleName": "deployer"}),
    ("sts", "GetCallerIdentity", {}),
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::000000000000:role/deployer",
                           "RoleSessionName": "ci-run", "DurationSeconds": 900,
                           "Tags": [{"Key": "k", "Value": "v"}], "TransitiveTagKeys": ["k"],
                           "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
                           "Policy": USER_POLICY, "ExternalId": "ext-1",
                           "SerialNumber": "arn:aws:iam::000000000000:mfa/alice",
                           "TokenCode": "123456", "SourceIdentity": "alice"}),
]

# Response fixtures: file name (without extension) -> (service, operation, HTTP status).
RESPONSES = {
    "iam_create_user": ("iam", "CreateUser", 200),
    "iam_get_user": ("iam", "GetUser", 200),
    "iam_list_users": ("iam", "ListUsers", 200),
    "iam_list_users_empty": ("iam", "ListUsers", 200),
    "iam_create_access_key": ("iam", "CreateAccessKey", 200),
    "iam_list_access_keys": ("iam", "ListAccessKeys", 200),
    "iam_get_role": ("iam", "GetRole", 200),
    "iam_list_roles": ("iam", "ListRoles", 200),
    "iam_get_user_policy": ("iam", "GetUserPolicy", 200),
    "iam_list_role_policies": ("iam", "ListRolePolicies", 200),
    "iam_list_user_tags": ("iam", "ListUserTags", 200),
    "iam_delete_user": ("iam", "DeleteUser", 200),
    "iam_error_no_such_entity": ("iam", "GetUser", 404),
    "iam_error_validation": ("iam", "CreateUser", 400),
    "iam_error_invalid_action": ("iam", "CreateUser", 400),
    "iam_error_internal": ("iam", "ListUsers", 500),
    "sts_get_caller_identity": ("sts", "GetCallerIdentity", 200),
    "sts_assume_role": ("sts", "AssumeRole", 200),
    "sts_error_validation": ("sts", "AssumeRole", 400),
}


def clients():
    session = botocore.session.get_session()
    made = {}
    for service in ("iam", "sts"):
        client = session.create_client(
            service, region_name="us-east-1", endpoint_url="http://127.0.0.1:1",
            aws_access_key_id="x", aws_secret_access_key="y")
        made[service] = client
    return made


def request_bodies(made):
    captured = []

    class Empty:
        def stream(self, **_):
            yield b""

    def before_send(request, **_):
        captured.append(request.body.decode() if isinstance(request.body, bytes)
                        else request.body)
        # An empty response: botocore fails to parse it, after the request is captured.
        return AWSResponse(request.url, 200, {}, Empty())

    for client in made.values():
        client.meta.events.register("before-send", before_send)
    out = []
    for service, operation, params in REQUESTS:
        client = made[service]
        method = getattr(client, botocore.xform_name(operation))
        try:
            method(**params)
        except botocore.parsers.ResponseParserError:
            pass  # the empty fake response; only the request matters here
        out.append({"service": service, "operation": operation, "params": params,
                    "body": captured[-1]})
    return out


def plain(value):
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def parse_response(made, service, operation, status, body):
    model = made[service].meta.service_model.operation_model(operation)
    parser = botocore.parsers.QueryParser()
    parsed = parser.parse({"body": body, "headers": {}, "status_code": status},
                          model.output_shape)
    if status < 300 and service == "iam":
        botocore.handlers.json_decode_policies(parsed, model)
    parsed.get("ResponseMetadata", {}).pop("HTTPHeaders", None)
    return plain(parsed)


def main(argv):
    write = "--write" in argv[1:]
    made = clients()
    failures = 0

    requests = request_bodies(made)
    path = os.path.join(FIXTURES, "requests.json")
    text = json.dumps(requests, indent=1, ensure_ascii=False) + "\n"
    if write:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    elif open(path, encoding="utf-8").read() != text:
        print(f"MISMATCH {path}")
        failures += 1

    for name, (service, operation, status) in RESPONSES.items():
        xml_path = os.path.join(FIXTURES, name + ".xml")
        if not os.path.exists(xml_path):
            print(f"MISSING {xml_path}: run the Rust tests with UPDATE_QUERY_FIXTURES=1")
            failures += 1
            continue
        with open(xml_path, "rb") as f:
            body = f.read()
        parsed = parse_response(made, service, operation, status, body)
        text = json.dumps(parsed, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
        json_path = os.path.join(FIXTURES, name + ".json")
        if write:
            with open(json_path, "w", encoding="utf-8") as f:
                f.write(text)
        elif not os.path.exists(json_path) or open(json_path, encoding="utf-8").read() != text:
            print(f"MISMATCH {json_path}:\n{text}")
            failures += 1

    print("ok" if failures == 0 else f"{failures} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
