"""KMS grants end to end: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and
RevokeGrant with boto3 and the aws CLI against the real binary.

Grantees are real IAM users made through IAM's Query API on the same port, each with its
own access key and no identity policy: whatever such a user can do with a key (whose
default policy delegates to IAM), it can do only through a grant.
"""

from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace
from typing import Any, Callable

import boto3
import botocore.config
import pytest

from conftest import ACCOUNT_ID, HTTP_TIMEOUT, REGION, KeywardServer, client_error, make_kms, unique
from test_audit import attr, lookup_all, make_cloudtrail

ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"
GRANT_ID_RE = re.compile(r"^[0-9a-f]{64}$")


def make_iam(server: KeywardServer) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        region_name=REGION,
    )
    config = botocore.config.Config(
        connect_timeout=10,
        read_timeout=HTTP_TIMEOUT,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return session.client("iam", endpoint_url=server.endpoint, config=config)


def new_user(server: KeywardServer, sensitive: Any, prefix: str = "grantee",
             policy: dict[str, Any] | None = None) -> SimpleNamespace:
    """A new IAM user with an access key: .name, .arn, .kms (a boto3 KMS client signed as it)."""
    iam = make_iam(server)
    name = unique(prefix)
    user = iam.create_user(UserName=name)["User"]
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="grants", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sensitive.add(key["SecretAccessKey"], "secret access key")
    client = make_kms(server, access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    return SimpleNamespace(name=name, arn=user["Arn"], kms=client)


@pytest.fixture
def user(server: KeywardServer, sensitive: Any) -> Callable[..., SimpleNamespace]:
    """user(prefix='grantee', policy=None) -> a new IAM user on the session server."""
    return lambda prefix="grantee", policy=None: new_user(server, sensitive, prefix, policy)


def encrypt(kms: Any, key_id: str, context: dict[str, str], plaintext: bytes = b"payroll-2024") -> bytes:
    return kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext=context)["CiphertextBlob"]


def test_a_grantee_decrypts_only_through_its_grant(kms, new_key, user, sensitive):
    key = new_key()
    alice, bob = user("alice"), user("bob")
    sensitive.add(b"payroll-2024")
    it = encrypt(kms, key["KeyId"], {"Department": "IT"})
    hr = encrypt(kms, key["KeyId"], {"Department": "HR"})

    code, message = client_error(alice.kms.decrypt, CiphertextBlob=it, EncryptionContext={"Department": "IT"})
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {alice.arn} is not authorized to perform: kms:Decrypt on resource: {key['Arn']}")

    grant = kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=alice.arn,
        RetiringPrincipal=bob.arn,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"Department": "IT"}},
    )
    assert GRANT_ID_RE.match(grant["GrantId"])
    assert grant["GrantToken"]

    out = alice.kms.decrypt(CiphertextBlob=it, EncryptionContext={"Department": "IT"})
    assert out["Plaintext"] == b"payroll-2024"
    assert out["KeyId"] == key["Arn"]
    # More pairs than the subset names are fine; a pair of another value is not.
    extra = encrypt(kms, key["KeyId"], {"Department": "IT", "Project": "x"})
    assert alice.kms.decrypt(CiphertextBlob=extra, EncryptionContext={"Department": "IT", "Project": "x"})["Plaintext"]
    code, _ = client_error(alice.kms.decrypt, CiphertextBlob=hr, EncryptionContext={"Department": "HR"})
    assert code == "AccessDeniedException"
    code, _ = client_error(alice.kms.decrypt, CiphertextBlob=it)
    assert code == "AccessDeniedException"

    # The grant gives Decrypt and nothing else, and nothing to anyone else.
    for call in (
        lambda: alice.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"Department": "IT"}),
        lambda: alice.kms.describe_key(KeyId=key["KeyId"]),
        lambda: alice.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"Department": "IT"}),
        lambda: bob.kms.decrypt(CiphertextBlob=it, EncryptionContext={"Department": "IT"}),
    ):
        assert client_error(call)[0] == "AccessDeniedException"

    # Neither the grantee (the grant lacks RetireGrant) may retire it, nor revoke it.
    code, _ = client_error(alice.kms.retire_grant, GrantToken=grant["GrantToken"])
    assert code == "AccessDeniedException"
    code, _ = client_error(alice.kms.revoke_grant, KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert code == "AccessDeniedException"

    # The retiring principal retires it by key and grant id; the next request is refused.
    bob.kms.retire_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])
    code, _ = client_error(alice.kms.decrypt, CiphertextBlob=it, EncryptionContext={"Department": "IT"})
    assert code == "AccessDeniedException"
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_encryption_context_equals_is_exact(kms, new_key, user):
    key = new_key()
    alice = user("alice")
    kms.create_grant(
        KeyId=key["Arn"],
        GranteePrincipal=alice.arn,
        Operations=["Encrypt", "Decrypt", "GenerateDataKey"],
        Constraints={"EncryptionContextEquals": {"Department": "IT", "Team": "ops"}},
    )
    exact = {"Department": "IT", "Team": "ops"}
    blob = alice.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"ok", EncryptionContext=exact)["CiphertextBlob"]
    assert alice.kms.decrypt(CiphertextBlob=blob, EncryptionContext=exact)["Plaintext"] == b"ok"
    assert alice.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=exact)["Plaintext"]
    for context in ({"Department": "IT"}, {**exact, "More": "1"}, {"Department": "IT", "Team": "OPS"}, {}):
        code, _ = client_error(alice.kms.encrypt, KeyId=key["KeyId"], Plaintext=b"no", EncryptionContext=context)
        assert code == "AccessDeniedException", context
    # GenerateDataKeyWithoutPlaintext is an operation of its own.
    code, _ = client_error(alice.kms.generate_data_key_without_plaintext, KeyId=key["KeyId"], KeySpec="AES_256",
                           EncryptionContext=exact)
    assert code == "AccessDeniedException"


def test_grantee_with_retire_grant_retires_its_grant_by_token(kms, new_key, user):
    key = new_key()
    alice = user("alice")
    mine = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=alice.arn,
                            Operations=["DescribeKey", "RetireGrant"])
    other = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=alice.arn, Operations=["Decrypt"])
    assert alice.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]
    # RetireGrant in one grant does not retire another.
    code, _ = client_error(alice.kms.retire_grant, KeyId=key["Arn"], GrantId=other["GrantId"])
    assert code == "AccessDeniedException"
    alice.kms.retire_grant(GrantToken=mine["GrantToken"])
    code, _ = client_error(alice.kms.describe_key, KeyId=key["KeyId"])
    assert code == "AccessDeniedException"
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [other["GrantId"]]
    code, _ = client_error(kms.retire_grant, GrantToken=mine["GrantToken"])
    assert code == "NotFoundException"
    code, _ = client_error(kms.retire_grant, GrantToken="bm90LWEtZ3JhbnQtdG9rZW4")
    assert code == "InvalidGrantTokenException"


def test_create_grant_through_a_grant_is_no_wider(kms, new_key, user):
    key = new_key()
    alice, carol = user("alice"), user("carol")
    subset = {"EncryptionContextSubset": {"Department": "IT"}}
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=alice.arn,
                     Operations=["Decrypt", "CreateGrant"], Constraints=subset)
    child = alice.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=carol.arn,
                                   Operations=["Decrypt"], Constraints=subset)
    assert GRANT_ID_RE.match(child["GrantId"])
    blob = encrypt(kms, key["KeyId"], {"Department": "IT"})
    assert carol.kms.decrypt(CiphertextBlob=blob, EncryptionContext={"Department": "IT"})["Plaintext"]
    for operations, constraints in (
        (["Decrypt", "Encrypt"], subset),  # an operation the parent lacks
        (["Decrypt"], None),  # looser than the parent's constraint
        (["Decrypt"], {"EncryptionContextSubset": {"Department": "HR"}}),
    ):
        params: dict[str, Any] = {"KeyId": key["KeyId"], "GranteePrincipal": carol.arn, "Operations": operations}
        if constraints:
            params["Constraints"] = constraints
        code, _ = client_error(alice.kms.create_grant, **params)
        assert code == "AccessDeniedException", params


def test_list_retirable_grants_needs_iam_permission(kms, new_key, user):
    key = new_key()
    reader = user("retirer", policy={
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:ListRetirableGrants", "Resource": "*"}],
    })
    nobody = user("nobody")
    grantee = user("alice")
    made = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee.arn, RetiringPrincipal=reader.arn,
                            Operations=["Decrypt", "Encrypt"], Name="for-the-retirer")
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee.arn, Operations=["Decrypt"])

    listed = reader.kms.list_retirable_grants(RetiringPrincipal=reader.arn)
    (entry,) = listed["Grants"]
    assert entry["GrantId"] == made["GrantId"]
    assert entry["KeyId"] == key["Arn"]
    assert entry["Name"] == "for-the-retirer"
    assert entry["GranteePrincipal"] == grantee.arn
    assert entry["RetiringPrincipal"] == reader.arn
    assert entry["IssuingAccount"] == ROOT_ARN
    assert entry["Operations"] == ["Decrypt", "Encrypt"]
    assert "Constraints" not in entry
    assert listed["Truncated"] is False
    assert kms.list_retirable_grants(RetiringPrincipal=reader.arn)["Grants"] == listed["Grants"]
    code, _ = client_error(nobody.kms.list_retirable_grants, RetiringPrincipal=nobody.arn)
    assert code == "AccessDeniedException"
    code, _ = client_error(kms.list_retirable_grants, RetiringPrincipal="not-a-principal")
    assert code == "InvalidArnException"


def test_revoke_and_list_need_key_permission(kms, new_key, user):
    key = new_key()
    alice = user("alice")
    made = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=alice.arn, Operations=["DescribeKey"])
    code, message = client_error(alice.kms.list_grants, KeyId=key["KeyId"])
    assert code == "AccessDeniedException"
    assert "kms:ListGrants" in message
    code, message = client_error(alice.kms.revoke_grant, KeyId=key["KeyId"], GrantId=made["GrantId"])
    assert code == "AccessDeniedException"
    assert "kms:RevokeGrant" in message
    code, _ = client_error(alice.kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=alice.arn,
                           Operations=["Decrypt"])
    assert code == "AccessDeniedException"
    assert alice.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    kms.revoke_grant(KeyId=key["Arn"], GrantId=made["GrantId"])
    code, _ = client_error(alice.kms.describe_key, KeyId=key["KeyId"])
    assert code == "AccessDeniedException"
    code, _ = client_error(kms.revoke_grant, KeyId=key["KeyId"], GrantId=made["GrantId"])
    assert code == "NotFoundException"


def test_grants_with_the_cli(aws, new_key, user):
    key = new_key()
    alice = user("alice")
    made = aws("kms", "create-grant", "--key-id", key["KeyId"], "--grantee-principal", alice.arn,
               "--operations", "Decrypt", "DescribeKey", "--name", "cli-grant",
               "--constraints", "EncryptionContextEquals={Department=IT}")
    assert GRANT_ID_RE.match(made["GrantId"])
    again = aws("kms", "create-grant", "--key-id", key["KeyId"], "--grantee-principal", alice.arn,
                "--operations", "Decrypt", "DescribeKey", "--name", "cli-grant",
                "--constraints", "EncryptionContextEquals={Department=IT}")
    assert again["GrantId"] == made["GrantId"]
    listed = aws("kms", "list-grants", "--key-id", key["Arn"])
    (entry,) = listed["Grants"]
    assert entry["GrantId"] == made["GrantId"]
    assert entry["Name"] == "cli-grant"
    assert entry["Constraints"] == {"EncryptionContextEquals": {"Department": "IT"}}
    assert entry["Operations"] == ["Decrypt", "DescribeKey"]
    assert abs(entry["CreationDate"] - time.time()) < 600  # epoch seconds, as the CLI v1 prints them
    aws("kms", "revoke-grant", "--key-id", key["KeyId"], "--grant-id", made["GrantId"])
    assert aws("kms", "list-grants", "--key-id", key["KeyId"])["Grants"] == []
    assert aws.error("kms", "revoke-grant", "--key-id", key["KeyId"], "--grant-id", made["GrantId"]) == "NotFoundException"
    assert aws.error("kms", "create-grant", "--key-id", key["KeyId"], "--grantee-principal",
                     f"arn:aws:iam::{ACCOUNT_ID}:user/{unique('ghost')}", "--operations", "Decrypt") == "InvalidArnException"
    assert aws.error("kms", "retire-grant", "--grant-token", "garbage") == "InvalidGrantTokenException"


def test_validation_errors(server, kms, new_key, user):
    key = new_key()
    alice = user("alice")
    loose = make_kms(server, validate=False)
    kms.create_alias(AliasName=f"alias/{unique('granted')}", TargetKeyId=key["KeyId"])
    alias = kms.list_aliases(KeyId=key["KeyId"])["Aliases"][0]["AliasName"]
    cases: list[tuple[Any, dict[str, Any], str]] = [
        (kms.create_grant, {"KeyId": alias, "GranteePrincipal": alice.arn, "Operations": ["Decrypt"]},
         "NotFoundException"),
        (kms.create_grant, {"KeyId": key["KeyId"], "GranteePrincipal": alice.arn, "Operations": ["CreateGrant"]},
         "ValidationException"),
        (loose.create_grant, {"KeyId": key["KeyId"], "GranteePrincipal": alice.arn, "Operations": []},
         "ValidationException"),
        (loose.create_grant, {"KeyId": key["KeyId"], "GranteePrincipal": alice.arn, "Operations": ["ListGrants"]},
         "ValidationException"),
        (kms.create_grant, {"KeyId": key["KeyId"], "GranteePrincipal": alice.arn, "Operations": ["Sign"]},
         "ValidationException"),
        (kms.create_grant, {"KeyId": key["KeyId"], "GranteePrincipal": alice.arn, "Operations": ["Decrypt", "GenerateMac"],
                            "Constraints": {"EncryptionContextSubset": {"a": "b"}}}, "ValidationException"),
        (kms.create_grant, {"KeyId": key["KeyId"], "GranteePrincipal": "alice", "Operations": ["Decrypt"]},
         "InvalidArnException"),
        (kms.create_grant, {"KeyId": key["KeyId"], "GranteePrincipal": alice.arn, "Operations": ["Decrypt"],
                            "RetiringPrincipal": f"arn:aws:iam::{ACCOUNT_ID}:role/{unique('norole')}"},
         "InvalidArnException"),
        (loose.create_grant, {"KeyId": key["KeyId"], "GranteePrincipal": alice.arn, "Operations": ["Decrypt"],
                              "Name": "has spaces"}, "ValidationException"),
        (kms.create_grant, {"KeyId": key["KeyId"], "GranteePrincipal": alice.arn, "Operations": ["Decrypt"],
                            "DryRun": True}, "DryRunOperationException"),
        (kms.list_grants, {"KeyId": key["KeyId"], "GrantId": "short"}, "InvalidGrantIdException"),
        (kms.list_grants, {"KeyId": key["KeyId"], "Marker": "nonsense"}, "InvalidMarkerException"),
        (kms.revoke_grant, {"KeyId": key["KeyId"], "GrantId": "0" * 64}, "NotFoundException"),
        (kms.retire_grant, {}, "ValidationException"),
        (kms.retire_grant, {"KeyId": key["KeyId"], "GrantId": "0" * 64}, "NotFoundException"),
    ]
    for call, params, expected in cases:
        code, message = client_error(call, **params)
        assert code == expected, (params, code, message)
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []

    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    code, _ = client_error(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=alice.arn, Operations=["Decrypt"])
    assert code == "KMSInvalidStateException"


def test_grant_operations_are_audited(fresh_server, sensitive):
    srv = fresh_server
    kms = make_kms(srv)
    alice = new_user(srv, sensitive, "alice")
    key = kms.create_key()["KeyMetadata"]
    made = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=alice.arn, Operations=["Decrypt"],
                            Constraints={"EncryptionContextSubset": {"Department": "IT"}})
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=made["GrantId"])
    ct = make_cloudtrail(srv)
    (create,) = lookup_all(ct, **attr("EventName", "CreateGrant"))
    record = create["Record"]
    assert record["eventSource"] == "kms.amazonaws.com"
    assert record["readOnly"] is False
    params = record["requestParameters"]
    assert params["keyId"] == key["KeyId"]
    assert params["granteePrincipal"] == alice.arn
    assert params["operations"] == ["Decrypt"]
    assert params["constraints"] == {"encryptionContextSubset": {"Department": "IT"}}
    assert record["responseElements"]["grantId"] == made["GrantId"]
    assert key["Arn"] in [r["ResourceName"] for r in create["Resources"]]
    (revoke,) = lookup_all(ct, **attr("EventName", "RevokeGrant"))
    assert revoke["Record"]["requestParameters"] == {"keyId": key["KeyId"], "grantId": made["GrantId"]}
