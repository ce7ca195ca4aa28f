"""STS over the Query protocol: GetCallerIdentity for every kind of caller, AssumeRole with
its trust-policy and duration checks, and the temporary credentials it hands out — used
from boto3 and from the aws CLI (a credentials file with aws_session_token, and a CLI
profile with role_arn/source_profile that makes the CLI call AssumeRole itself).

References (STS API Reference, AssumeRole): "DurationSeconds ... can be from 900 seconds
(15 minutes) up to the maximum session duration setting for the role"; "If you specify a
value higher than this setting ..., the operation fails"; role chaining "limits your ...
session to a maximum of one hour"; for a same-account user the trust policy naming the
user, or naming the account plus an identity policy allowing sts:AssumeRole, is enough.
"Roles may not be assumed by root accounts." is AWS's AccessDenied for root credentials.
Session expiry is not tested: the server's clock cannot be moved from outside and the
shortest session is 900 s.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest

from conftest import ACCOUNT_ID, client_error, unique
from test_iam import (
    INVALID_TOKEN,
    ROOT_ARN,
    CliAs,
    Principal,
    allow,
    boto,
    document,
    new_role,
    new_user,
    trust,
)


def assumed_arn(role_name: str, session: str) -> str:
    return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_name}/{session}"


def test_caller_identity_as_root(aws, server):
    out = aws("sts", "get-caller-identity")
    assert {k: out[k] for k in ("UserId", "Account", "Arn")} == \
        {"UserId": ACCOUNT_ID, "Account": ACCOUNT_ID, "Arn": ROOT_ARN}
    got = boto(server, "sts").get_caller_identity()
    assert (got["UserId"], got["Account"], got["Arn"]) == (ACCOUNT_ID, ACCOUNT_ID, ROOT_ARN)


def test_caller_identity_as_a_user_needs_no_permission(aws, server, sensitive, tmp_path):
    """GetCallerIdentity: "No permissions are required to perform this operation"."""
    user = new_user(server, sensitive)
    got = user.client("sts").get_caller_identity()
    assert (got["UserId"], got["Account"], got["Arn"]) == (user.user_id, ACCOUNT_ID, user.arn)
    assert got["UserId"].startswith("AIDA")
    out = CliAs(aws, user, tmp_path)("sts", "get-caller-identity")
    assert out["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/{user.name}"


def test_assume_role_and_use_the_session(aws, server, sensitive, tmp_path):
    role = new_role(server, trust(ROOT_ARN))
    caller = new_user(server, sensitive, policy=document(allow("sts:AssumeRole", role["Arn"])))
    session = unique("lab-session")
    before = datetime.now(timezone.utc)
    out = caller.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName=session)
    creds = out["Credentials"]
    sensitive.add(creds["SecretAccessKey"], "session secret access key")
    sensitive.add(creds["SessionToken"], "session token")
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert creds["SessionToken"]
    lifetime = (creds["Expiration"] - before).total_seconds()
    assert 3500 < lifetime <= 3610, f"default DurationSeconds is 3600, got {lifetime}"
    assert out["AssumedRoleUser"]["Arn"] == assumed_arn(role["RoleName"], session)
    assert out["AssumedRoleUser"]["AssumedRoleId"] == f"{role['RoleId']}:{session}"

    me = Principal(server, session, out["AssumedRoleUser"]["Arn"],
                                    {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")})
    got = me.client("sts").get_caller_identity()
    assert got["UserId"] == f"{role['RoleId']}:{session}"
    assert got["UserId"].startswith("AROA")
    assert got["Arn"] == assumed_arn(role["RoleName"], session)
    assert got["Account"] == ACCOUNT_ID

    # The same session through the CLI (aws_session_token in a credentials file).
    cli = CliAs(aws, me, tmp_path)
    assert cli("sts", "get-caller-identity")["Arn"] == assumed_arn(role["RoleName"], session)

    # The session has the role's identity policies, as they change.
    code, message = client_error(me.client("kms").list_keys)
    assert code == "AccessDeniedException"
    assert message == (f"User: {assumed_arn(role['RoleName'], session)} is not authorized to perform: "
                       "kms:ListKeys on resource: * because no identity-based policy allows the kms:ListKeys action"), message
    boto(server, "iam").put_role_policy(RoleName=role["RoleName"], PolicyName="list",
                                        PolicyDocument=document(allow("kms:ListKeys")))
    assert "Keys" in me.client("kms").list_keys()
    assert "Keys" in cli("kms", "list-keys")
    boto(server, "iam").delete_role_policy(RoleName=role["RoleName"], PolicyName="list")
    assert client_error(me.client("kms").list_keys)[0] == "AccessDeniedException"


def test_cli_profile_with_role_arn_assumes_the_role(aws, server, sensitive, tmp_path):
    """The CLI's own role provider: [profile lab] role_arn=... source_profile=base."""
    role = new_role(server, trust(ROOT_ARN))
    caller = new_user(server, sensitive, policy=document(allow("sts:AssumeRole", role["Arn"])))
    creds = tmp_path / "credentials"
    creds.write_text(f"[base]\naws_access_key_id = {caller.creds['AccessKeyId']}\n"
                     f"aws_secret_access_key = {caller.creds['SecretAccessKey']}\n")
    config = tmp_path / "config"
    config.write_text(f"[profile lab]\nrole_arn = {role['Arn']}\nsource_profile = base\n"
                      "role_session_name = loadtest-cli\nregion = us-east-1\n")
    out = aws("sts", "get-caller-identity", "--profile", "lab", endpoint="env",
              config_file=config, credentials_file=creds)
    assert out["Arn"] == assumed_arn(role["RoleName"], "loadtest-cli")
    assert out["UserId"] == f"{role['RoleId']}:loadtest-cli"


def test_trust_policy_naming_the_user_needs_no_identity_policy(server, sensitive):
    caller = new_user(server, sensitive)
    role = new_role(server, trust(caller.arn))
    session = caller.assume(role["Arn"], "direct", sensitive)
    assert session.client("sts").get_caller_identity()["Arn"] == assumed_arn(role["RoleName"], "direct")


def test_recreated_user_does_not_inherit_the_trust(server, sensitive):
    """IAM User Guide (role trust policies): "When you save the policy, AWS transforms the
    ARN to a unique principal ID. This helps mitigate the risk of someone escalating their
    privileges by removing and recreating the role or user ... if you delete and recreate a
    user or role referenced in a trust policy's Principal element, you must edit the role"."""
    iam = boto(server, "iam")
    first = new_user(server, sensitive)
    role = new_role(server, trust(first.arn))
    assert first.assume(role["Arn"], "first", sensitive).arn == assumed_arn(role["RoleName"], "first")
    iam.delete_access_key(UserName=first.name, AccessKeyId=first.creds["AccessKeyId"])
    iam.delete_user(UserName=first.name)
    iam.create_user(UserName=first.name)
    key = iam.create_access_key(UserName=first.name)["AccessKey"]
    sensitive.add(key["SecretAccessKey"], "user secret access key")
    again = Principal(server, first.name, first.arn, {k: key[k] for k in ("AccessKeyId", "SecretAccessKey")})
    code, message = client_error(again.client("sts").assume_role, RoleArn=role["Arn"], RoleSessionName="second")
    assert code == "AccessDenied", message
    # The policy now shows the old user's unique id: it cannot be mapped back to a name.
    shown = iam.get_role(RoleName=role["RoleName"])["Role"]["AssumeRolePolicyDocument"]
    assert shown["Statement"][0]["Principal"]["AWS"] == first.user_id, shown


def test_assume_role_denied(server, sensitive):
    allowed = new_user(server, sensitive)
    role = new_role(server, trust(allowed.arn))

    # Trusted by name, but this caller is someone else (even with an identity policy).
    other = new_user(server, sensitive, policy=document(allow("sts:AssumeRole")))
    code, message = client_error(other.client("sts").assume_role, RoleArn=role["Arn"], RoleSessionName="nope")
    assert code == "AccessDenied"
    assert message.startswith(f"User: {other.arn} is not authorized to perform: sts:AssumeRole on resource: {role['Arn']}"), message

    # Trust names the account: a user without an identity policy allowing it is refused.
    account_role = new_role(server, trust(ROOT_ARN))
    bare = new_user(server, sensitive)
    code, message = client_error(bare.client("sts").assume_role, RoleArn=account_role["Arn"], RoleSessionName="nope")
    assert code == "AccessDenied"
    assert message == (f"User: {bare.arn} is not authorized to perform: sts:AssumeRole on resource: "
                       f"{account_role['Arn']} because no identity-based policy allows the sts:AssumeRole action")

    # A role that does not exist is refused the same way (no NoSuchEntity leak).
    missing = f"arn:aws:iam::{ACCOUNT_ID}:role/{unique('missing')}"
    code, _ = client_error(other.client("sts").assume_role, RoleArn=missing, RoleSessionName="nope")
    assert code == "AccessDenied"

    # A condition in the trust policy (sts:ExternalId) is honoured.
    guarded = new_role(server, document({"Effect": "Allow", "Principal": {"AWS": allowed.arn}, "Action": "sts:AssumeRole",
                                         "Condition": {"StringEquals": {"sts:ExternalId": "lab-42"}}}))
    sts = allowed.client("sts")
    assert client_error(sts.assume_role, RoleArn=guarded["Arn"], RoleSessionName="x1")[0] == "AccessDenied"
    assert client_error(sts.assume_role, RoleArn=guarded["Arn"], RoleSessionName="x1", ExternalId="other")[0] == "AccessDenied"
    assert sts.assume_role(RoleArn=guarded["Arn"], RoleSessionName="x1", ExternalId="lab-42")["Credentials"]


def test_root_cannot_assume_a_role(server):
    """AWS refuses AssumeRole with root credentials even when the trust policy names the
    account: "Roles may not be assumed by root accounts." (AccessDenied)."""
    role = new_role(server, trust(ROOT_ARN))
    code, message = client_error(boto(server, "sts").assume_role, RoleArn=role["Arn"], RoleSessionName="root")
    assert (code, message) == ("AccessDenied", "Roles may not be assumed by root accounts.")


def test_duration_seconds(server, sensitive):
    role = new_role(server, trust(ROOT_ARN))
    long_role = new_role(server, trust(ROOT_ARN), MaxSessionDuration=7200)
    caller = new_user(server, sensitive, policy=document(allow("sts:AssumeRole")))
    sts = caller.client("sts")

    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="short", DurationSeconds=900)
    lifetime = (out["Credentials"]["Expiration"] - datetime.now(timezone.utc)).total_seconds()
    assert 800 < lifetime <= 905, lifetime

    code, message = client_error(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="toolong", DurationSeconds=3601)
    assert (code, message) == ("ValidationError",
                               "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    out = sts.assume_role(RoleArn=long_role["Arn"], RoleSessionName="long", DurationSeconds=7200)
    lifetime = (out["Credentials"]["Expiration"] - datetime.now(timezone.utc)).total_seconds()
    assert 7100 < lifetime <= 7205, lifetime
    assert client_error(sts.assume_role, RoleArn=long_role["Arn"], RoleSessionName="xx",
                        DurationSeconds=7201)[0] == "ValidationError"

    # Below the 900 s minimum (sent past botocore's own check).
    raw_sts = caller.client("sts", validate=False)
    assert client_error(raw_sts.assume_role, RoleArn=role["Arn"], RoleSessionName="tiny",
                        DurationSeconds=899)[0] == "ValidationError"
    assert client_error(raw_sts.assume_role, RoleArn=role["Arn"], RoleSessionName="bad name!")[0] == "ValidationError"

    # Role chaining: a session assuming another role is limited to one hour.
    chained_from = Principal(server, "long", out["AssumedRoleUser"]["Arn"],
                             {k: out["Credentials"][k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")})
    boto(server, "iam").put_role_policy(RoleName=long_role["RoleName"], PolicyName="chain",
                                        PolicyDocument=document(allow("sts:AssumeRole")))
    chained_sts = chained_from.client("sts")
    code, message = client_error(chained_sts.assume_role, RoleArn=long_role["Arn"], RoleSessionName="chain",
                                 DurationSeconds=7200)
    assert code == "ValidationError", message
    chained = chained_sts.assume_role(RoleArn=long_role["Arn"], RoleSessionName="chain")
    assert chained["AssumedRoleUser"]["Arn"] == assumed_arn(long_role["RoleName"], "chain")


def _flip(token: str) -> str:
    raw = bytearray(base64.b64decode(token + "=" * (-len(token) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_tampered_and_unknown_session_tokens_are_refused(server, keyward, sensitive):
    role = new_role(server, trust(ROOT_ARN), policy=document(allow("kms:ListKeys")))
    caller = new_user(server, sensitive, policy=document(allow("sts:AssumeRole")))
    good = caller.assume(role["Arn"], "real", sensitive)
    assert "Keys" in good.client("kms").list_keys()

    def refused(creds: dict[str, str], what: str) -> None:
        who = Principal(server, "x", "x", creds)
        assert client_error(who.client("sts").get_caller_identity) == ("InvalidClientTokenId", INVALID_TOKEN), what
        assert client_error(who.client("kms").list_keys) == ("UnrecognizedClientException", INVALID_TOKEN), what
        assert client_error(who.client("secretsmanager").list_secrets)[0] == "UnrecognizedClientException", what

    tampered = dict(good.creds, SessionToken=_flip(good.creds["SessionToken"]))
    refused(tampered, "a session token with one bit flipped")
    refused(dict(good.creds, SessionToken="AQoDYXdzEJr" + "A" * 200), "a made-up session token")
    no_token = {k: good.creds[k] for k in ("AccessKeyId", "SecretAccessKey")}
    refused(no_token, "a temporary access key id without its session token")

    # A token another Keyward (another root key) issued means nothing here.
    other = keyward(name="sts-other")
    other_role = new_role(other, trust(ROOT_ARN))
    other_caller = new_user(other, sensitive, policy=document(allow("sts:AssumeRole")))
    foreign = other_caller.assume(other_role["Arn"], "foreign", sensitive)
    assert foreign.client("sts").get_caller_identity()["Arn"] == assumed_arn(other_role["RoleName"], "foreign")
    refused(foreign.creds, "a session issued by another server")

    # Two sessions' parts do not mix: session A's key id with session B's token.
    second = caller.assume(role["Arn"], "second", sensitive)
    mixed = dict(good.creds, SessionToken=second.creds["SessionToken"])
    who = Principal(server, "x", "x", mixed)
    code, _ = client_error(who.client("kms").list_keys)
    assert code in ("UnrecognizedClientException", "InvalidSignatureException"), code
    # A right token with a wrong secret is a signature mismatch.
    wrong_secret = dict(good.creds, SecretAccessKey="A" * 40)
    who = Principal(server, "x", "x", wrong_secret)
    assert client_error(who.client("sts").get_caller_identity)[0] == "SignatureDoesNotMatch"
    assert client_error(who.client("kms").list_keys)[0] == "InvalidSignatureException"
    # The genuine session is unaffected.
    assert "Keys" in good.client("kms").list_keys()


@pytest.mark.skip(reason="session expiry needs the server clock moved past 900 s; the binary has no clock control")
def test_expired_session_token_is_refused():
    """AWS: STS/IAM answer ExpiredToken ("The security token included in the request is
    expired"), KMS and Secrets Manager ExpiredTokenException."""
