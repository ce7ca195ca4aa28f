"""IAM over the Query protocol, through the aws CLI and boto3: users, access keys, roles,
inline policies and tags, with IAM's errors as a user sees them. The helpers at the top are
shared with test_sts.py and test_authz_*.py.

References (IAM API Reference / User Guide): DeleteUser — "you must delete the items
attached to the user manually, or the deletion fails" (DeleteConflict); CreateAccessKey —
the secret "can only be retrieved at creation"; quota AccessKeysPerUser = 2; IAM names are
"not distinguished by case"; "You cannot use the Principal element in an identity-based
policy".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import ACCOUNT_ID, HTTP_TIMEOUT, REGION, AwsCli, AwsCliError, KeywardServer, client_error, unique

# --------------------------------------------------------------------------------------
# Helpers (also imported by test_sts.py and test_authz_*.py)
# --------------------------------------------------------------------------------------

ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"
INVALID_TOKEN = "The security token included in the request is invalid."


def boto(server: KeywardServer, service: str, creds: dict[str, str] | None = None, *,
         region: str = REGION, validate: bool = True) -> Any:
    """A boto3 client for `service` on `server`, as root or with `creds` (AccessKeyId,
    SecretAccessKey and, for a role session, SessionToken); one attempt, bounded."""
    creds = creds or {"AccessKeyId": server.access_key_id, "SecretAccessKey": server.secret_access_key}
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        region_name=region,
    )
    config = botocore.config.Config(connect_timeout=10, read_timeout=HTTP_TIMEOUT,
                                    retries={"max_attempts": 1, "mode": "standard"},
                                    parameter_validation=validate)
    return session.client(service, endpoint_url=server.endpoint, config=config)


def document(*statements: dict[str, Any], sid: str | None = None) -> str:
    doc: dict[str, Any] = {"Version": "2012-10-17", "Statement": list(statements)}
    if sid:
        doc["Id"] = sid
    return json.dumps(doc)


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def trust(principal: str | list[str]) -> str:
    """A role trust policy letting `principal` (ARN[s]) call sts:AssumeRole."""
    return document({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"})


class Principal:
    """A user (with one access key) or a role session: its ARN and credentials."""

    def __init__(self, server: KeywardServer, name: str, arn: str, creds: dict[str, str], *,
                 user_id: str = "") -> None:
        self.server, self.name, self.arn, self.creds, self.user_id = server, name, arn, creds, user_id

    def client(self, service: str, **kwargs: Any) -> Any:
        return boto(self.server, service, self.creds, **kwargs)

    def assume(self, role_arn: str, session: str | None = None, sensitive: Any = None,
               **params: Any) -> "Principal":
        """AssumeRole as this principal; returns the session."""
        session = session or unique("session")
        out = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session, **params)
        return session_principal(self.server, out, sensitive)


def session_principal(server: KeywardServer, out: dict[str, Any], sensitive: Any = None) -> Principal:
    creds = {k: out["Credentials"][k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    if sensitive is not None:
        sensitive.add(creds["SecretAccessKey"], "session secret access key")
        sensitive.add(creds["SessionToken"], "session token")
    user = out["AssumedRoleUser"]
    return Principal(server, user["Arn"].rsplit("/", 1)[-1], user["Arn"], creds, user_id=user["AssumedRoleId"])


def new_user(server: KeywardServer, sensitive: Any = None, *, policy: str | None = None,
             prefix: str = "user") -> Principal:
    """A new IAM user with one access key and, if given, one inline policy (as root)."""
    iam = boto(server, "iam")
    name = unique(prefix)
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    if sensitive is not None:
        sensitive.add(key["SecretAccessKey"], "user secret access key")
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=policy)
    creds = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    return Principal(server, name, user["Arn"], creds, user_id=user["UserId"])


def new_role(server: KeywardServer, trust_policy: str, *, name: str | None = None,
             policy: str | None = None, **params: Any) -> dict[str, Any]:
    """A new role (as root); returns its Role structure."""
    iam = boto(server, "iam")
    name = name or unique("role")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy, **params)["Role"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=policy)
    return role


class CliAs:
    """The aws CLI as another principal, through a shared-credentials file of its own
    (with aws_session_token for a role session)."""

    def __init__(self, aws: AwsCli, who: Principal, directory: Path) -> None:
        self.aws = aws
        directory.mkdir(parents=True, exist_ok=True)
        self.file = directory / f"credentials-{unique('cli')}"
        lines = ["[default]", f"aws_access_key_id = {who.creds['AccessKeyId']}",
                 f"aws_secret_access_key = {who.creds['SecretAccessKey']}"]
        if who.creds.get("SessionToken"):
            lines.append(f"aws_session_token = {who.creds['SessionToken']}")
        self.file.write_text("\n".join(lines) + "\n")
        self.file.chmod(0o600)

    def __call__(self, *args: str, **kwargs: Any) -> Any:
        return self.aws(*args, credentials_file=self.file, **kwargs)

    def error(self, *args: str, **kwargs: Any) -> tuple[str, str]:
        """A command that must fail: (AWS error code, message)."""
        return cli_error(self.aws, *args, credentials_file=self.file, **kwargs)


def cli_error(aws: AwsCli, *args: str, **kwargs: Any) -> tuple[str, str]:
    """Runs a CLI command that must fail; returns (error code, the message after 'operation: ')."""
    try:
        out = aws(*args, **kwargs)
    except AwsCliError as err:
        assert err.code, f"aws {' '.join(args)} failed without an AWS error code:\n{err.stderr}"
        m = re.search(r"operation(?: \(reached max retries: \d+\))?: (.*)", err.stderr, re.S)
        return err.code, (m.group(1).strip() if m else err.stderr.strip())
    raise AssertionError(f"aws {' '.join(args)} succeeded but should have failed: {out!r}")


def denied(principal_arn: str, action: str, resource: str, why: str) -> str:
    """AWS's AccessDenied message; `why` is 'identity', 'resource', 'deny-identity' or 'deny-resource'."""
    reason = {
        "identity": f"because no identity-based policy allows the {action} action",
        "resource": f"because no resource-based policy allows the {action} action",
        "deny-identity": "with an explicit deny in an identity-based policy",
        "deny-resource": "with an explicit deny in a resource-based policy",
    }[why]
    return f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource} {reason}"


# --------------------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------------------


def test_user_lifecycle_with_the_cli(aws):
    name = unique("cli-user")
    created = aws("iam", "create-user", "--user-name", name)["User"]
    assert created["UserName"] == name
    assert created["Path"] == "/"
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", created["UserId"]), created["UserId"]
    assert created["CreateDate"]

    got = aws("iam", "get-user", "--user-name", name)["User"]
    assert {k: got[k] for k in ("UserName", "UserId", "Arn", "Path")} == \
        {k: created[k] for k in ("UserName", "UserId", "Arn", "Path")}
    listed = [u for u in aws("iam", "list-users")["Users"] if u["UserName"] == name]
    assert len(listed) == 1 and listed[0]["UserId"] == created["UserId"]

    code, message = cli_error(aws, "iam", "create-user", "--user-name", name)
    assert (code, message) == ("EntityAlreadyExists", f"User with name {name} already exists.")
    # IAM names are case-insensitive: "Alice" clashes with "alice".
    code, message = cli_error(aws, "iam", "create-user", "--user-name", name.upper())
    assert code == "EntityAlreadyExists", message
    assert name.upper() in message or name in message

    assert aws("iam", "delete-user", "--user-name", name) is None
    code, message = cli_error(aws, "iam", "get-user", "--user-name", name)
    assert (code, message) == ("NoSuchEntity", f"The user with name {name} cannot be found.")
    assert aws.error("iam", "delete-user", "--user-name", name) == "NoSuchEntity"
    assert name not in [u["UserName"] for u in aws("iam", "list-users")["Users"]]


def test_create_user_with_path_and_tags(server):
    iam = boto(server, "iam")
    name = unique("pathed")
    user = iam.create_user(UserName=name, Path="/engineering/", Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert user["Path"] == "/engineering/"
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/engineering/{name}"
    got = iam.get_user(UserName=name)["User"]
    assert got["Tags"] == [{"Key": "team", "Value": "blue"}]
    iam.delete_user(UserName=name)


def test_delete_user_conflicts_while_keys_or_policies_exist(aws):
    name = unique("conflict")
    aws("iam", "create-user", "--user-name", name)
    key = aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    code, message = cli_error(aws, "iam", "delete-user", "--user-name", name)
    assert (code, message) == ("DeleteConflict", "Cannot delete entity, must delete access keys first.")
    aws("iam", "delete-access-key", "--user-name", name, "--access-key-id", key["AccessKeyId"])

    aws("iam", "put-user-policy", "--user-name", name, "--policy-name", "p",
        "--policy-document", document(allow("kms:ListKeys")))
    code, message = cli_error(aws, "iam", "delete-user", "--user-name", name)
    assert (code, message) == ("DeleteConflict", "Cannot delete entity, must delete policies first.")
    aws("iam", "delete-user-policy", "--user-name", name, "--policy-name", "p")

    assert aws("iam", "delete-user", "--user-name", name) is None
    assert aws.error("iam", "get-user", "--user-name", name) == "NoSuchEntity"


def test_get_user_without_a_name(server, sensitive):
    # Root: the account's root user.
    me = boto(server, "iam").get_user()["User"]
    assert me["Arn"] == ROOT_ARN
    assert me["UserId"] == ACCOUNT_ID

    # A user needs iam:GetUser on itself, and then gets itself.
    user = new_user(server, sensitive)
    code, message = client_error(user.client("iam").get_user)
    assert code == "AccessDenied", message
    assert message.startswith(f"User: {user.arn} is not authorized to perform: iam:GetUser on resource: "), message
    boto(server, "iam").put_user_policy(
        UserName=user.name, PolicyName="self",
        PolicyDocument=document(allow("iam:GetUser", user.arn)))
    got = user.client("iam").get_user()["User"]
    assert (got["UserName"], got["Arn"], got["UserId"]) == (user.name, user.arn, user.user_id)
    # ... but not another user.
    other = new_user(server, sensitive)
    code, _ = client_error(user.client("iam").get_user, UserName=other.name)
    assert code == "AccessDenied"


def test_policy_variable_aws_username(server, sensitive):
    """IAM User Guide, "IAM policy elements: Variables and tags": "When the policy is
    evaluated, the policy variables are replaced with values that come from the conditional
    context keys passed in the request" — the classic "manage your own user" policy."""
    user = new_user(server, sensitive, policy=document(
        allow(["iam:GetUser", "iam:ListAccessKeys"], f"arn:aws:iam::{ACCOUNT_ID}:user/${{aws:username}}")))
    assert user.client("iam").get_user()["User"]["Arn"] == user.arn
    assert len(user.client("iam").list_access_keys()["AccessKeyMetadata"]) == 1
    other = new_user(server, sensitive)
    assert client_error(user.client("iam").get_user, UserName=other.name)[0] == "AccessDenied"


def test_iam_calls_by_a_user_need_identity_permissions(server, sensitive):
    user = new_user(server, sensitive)
    code, message = client_error(user.client("iam").list_users)
    assert code == "AccessDenied"
    assert message.startswith(f"User: {user.arn} is not authorized to perform: iam:ListUsers"), message
    assert message.endswith("because no identity-based policy allows the iam:ListUsers action"), message
    code, _ = client_error(user.client("iam").create_user, UserName=unique("nope"))
    assert code == "AccessDenied"

    boto(server, "iam").put_user_policy(UserName=user.name, PolicyName="admin",
                                        PolicyDocument=document(allow("iam:*")))
    made = unique("made-by-user")
    assert user.client("iam").create_user(UserName=made)["User"]["UserName"] == made
    assert made in [u["UserName"] for u in user.client("iam").list_users()["Users"]]
    user.client("iam").delete_user(UserName=made)


# --------------------------------------------------------------------------------------
# Access keys
# --------------------------------------------------------------------------------------


def test_access_key_lifecycle(aws, server, sensitive, tmp_path):
    name = unique("keys")
    user = aws("iam", "create-user", "--user-name", name)["User"]
    created = aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    sensitive.add(created["SecretAccessKey"], "user secret access key")
    assert created["UserName"] == name
    assert created["Status"] == "Active"
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", created["AccessKeyId"]), created["AccessKeyId"]
    assert len(created["SecretAccessKey"]) == 40, "the secret access key is 40 characters"
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", created["SecretAccessKey"])

    # The secret is shown once: ListAccessKeys has only metadata.
    listed = aws("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"], k["UserName"]) for k in listed] == [(created["AccessKeyId"], "Active", name)]
    assert "SecretAccessKey" not in listed[0]

    who = Principal(server, name, user["Arn"], {k: created[k] for k in ("AccessKeyId", "SecretAccessKey")})
    cli = CliAs(aws, who, tmp_path)
    assert cli("sts", "get-caller-identity")["Arn"] == user["Arn"]

    # Inactive: the key no longer authenticates anything, in any service.
    aws("iam", "update-access-key", "--user-name", name, "--access-key-id", created["AccessKeyId"], "--status", "Inactive")
    assert aws("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert cli.error("sts", "get-caller-identity") == ("InvalidClientTokenId", INVALID_TOKEN)
    assert client_error(who.client("sts").get_caller_identity) == ("InvalidClientTokenId", INVALID_TOKEN)
    assert client_error(who.client("iam").list_users)[0] == "InvalidClientTokenId"
    assert client_error(who.client("kms").list_keys) == ("UnrecognizedClientException", INVALID_TOKEN)
    assert client_error(who.client("secretsmanager").list_secrets)[0] == "UnrecognizedClientException"

    # Active again: it works again.
    aws("iam", "update-access-key", "--user-name", name, "--access-key-id", created["AccessKeyId"], "--status", "Active")
    assert who.client("sts").get_caller_identity()["Arn"] == user["Arn"]

    # Two keys at most.
    second = aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    sensitive.add(second["SecretAccessKey"], "user secret access key")
    assert second["AccessKeyId"] != created["AccessKeyId"]
    code, message = cli_error(aws, "iam", "create-access-key", "--user-name", name)
    assert (code, message) == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
    assert len(aws("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"]) == 2

    # Deleted: gone from the list, and refused.
    aws("iam", "delete-access-key", "--user-name", name, "--access-key-id", created["AccessKeyId"])
    assert [k["AccessKeyId"] for k in aws("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"]] == \
        [second["AccessKeyId"]]
    assert client_error(who.client("sts").get_caller_identity)[0] == "InvalidClientTokenId"
    assert client_error(who.client("kms").list_keys)[0] == "UnrecognizedClientException"
    code, message = cli_error(aws, "iam", "delete-access-key", "--user-name", name,
                              "--access-key-id", created["AccessKeyId"])
    assert code == "NoSuchEntity", message
    assert created["AccessKeyId"] in message
    aws("iam", "delete-access-key", "--user-name", name, "--access-key-id", second["AccessKeyId"])
    aws("iam", "delete-user", "--user-name", name)
    code, message = cli_error(aws, "iam", "create-access-key", "--user-name", name)
    assert (code, message) == ("NoSuchEntity", f"The user with name {name} cannot be found.")
    assert aws.error("iam", "list-access-keys", "--user-name", name) == "NoSuchEntity"


# --------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------


def test_role_lifecycle_with_the_cli(aws, tmp_path):
    name = unique("cli-role")
    first = json.loads(trust(ROOT_ARN))
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(first))
    created = aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document", f"file://{path}",
                  "--description", "the loadtest function", "--max-session-duration", "7200")["Role"]
    assert created["RoleName"] == name
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", created["RoleId"]), created["RoleId"]
    assert created["Path"] == "/"
    # The CLI decodes the URL-encoded document into a dict.
    assert created["AssumeRolePolicyDocument"] == first

    got = aws("iam", "get-role", "--role-name", name)["Role"]
    assert got["AssumeRolePolicyDocument"] == first
    assert isinstance(got["AssumeRolePolicyDocument"], dict)
    assert got["Description"] == "the loadtest function"
    assert got["MaxSessionDuration"] == 7200
    assert got["RoleId"] == created["RoleId"]

    someone = aws("iam", "create-user", "--user-name", unique("someone"))["User"]
    second = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": someone["Arn"]},
         "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "x-1"}}}]}
    assert aws("iam", "update-assume-role-policy", "--role-name", name,
               "--policy-document", json.dumps(second)) is None
    assert aws("iam", "get-role", "--role-name", name)["Role"]["AssumeRolePolicyDocument"] == second

    listed = [r for r in aws("iam", "list-roles")["Roles"] if r["RoleName"] == name]
    assert len(listed) == 1 and listed[0]["Arn"] == created["Arn"]

    code, message = cli_error(aws, "iam", "create-role", "--role-name", name, "--assume-role-policy-document",
                              json.dumps(first))
    assert (code, message) == ("EntityAlreadyExists", f"Role with name {name} already exists.")
    assert aws.error("iam", "create-role", "--role-name", name.upper(),
                     "--assume-role-policy-document", json.dumps(first)) == "EntityAlreadyExists"

    aws("iam", "put-role-policy", "--role-name", name, "--policy-name", "p", "--policy-document",
        document(allow("kms:Decrypt")))
    code, message = cli_error(aws, "iam", "delete-role", "--role-name", name)
    assert (code, message) == ("DeleteConflict", "Cannot delete entity, must delete policies first.")
    aws("iam", "delete-role-policy", "--role-name", name, "--policy-name", "p")
    assert aws("iam", "delete-role", "--role-name", name) is None
    code, message = cli_error(aws, "iam", "get-role", "--role-name", name)
    assert (code, message) == ("NoSuchEntity", f"The role with name {name} cannot be found.")
    assert name not in [r["RoleName"] for r in aws("iam", "list-roles")["Roles"]]


@pytest.mark.parametrize("bad, why", [
    ("{not json", "not JSON"),
    (document(allow("kms:Decrypt")), "no Principal in a trust policy"),
    (json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Maybe", "Principal": {"AWS": ROOT_ARN}, "Action": "sts:AssumeRole"}]}), "bad Effect"),
])
def test_create_role_with_a_malformed_trust_policy(server, bad, why):
    code, message = client_error(boto(server, "iam").create_role, RoleName=unique("badtrust"),
                                 AssumeRolePolicyDocument=bad)
    assert code == "MalformedPolicyDocument", (why, message)


def test_trust_policy_naming_a_missing_principal(server):
    """IAM User Guide, "AWS JSON policy elements: Principal": an IAM user or role ARN in a
    role trust policy "is transformed to the ... unique principal ID when the policy is
    saved"; a principal that does not exist is refused with MalformedPolicyDocument
    "Invalid principal in policy"."""
    ghost = f"arn:aws:iam::{ACCOUNT_ID}:user/{unique('ghost')}"
    iam = boto(server, "iam")
    code, message = client_error(iam.create_role, RoleName=unique("ghost-trust"), AssumeRolePolicyDocument=trust(ghost))
    assert code == "MalformedPolicyDocument", message
    assert message.startswith("Invalid principal in policy"), message
    role = new_role(server, trust(ROOT_ARN))
    code, message = client_error(iam.update_assume_role_policy, RoleName=role["RoleName"], PolicyDocument=trust(ghost))
    assert code == "MalformedPolicyDocument", message


# --------------------------------------------------------------------------------------
# Inline policies
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["user", "role"])
def test_inline_policies(aws, server, kind):
    name = unique(f"inline-{kind}")
    if kind == "user":
        aws("iam", "create-user", "--user-name", name)
    else:
        aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document", trust(ROOT_ARN))
    flag = f"--{kind}-name"
    first = json.loads(document(allow(["kms:Encrypt", "kms:Decrypt"], f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/*")))
    second = json.loads(document(deny("kms:ScheduleKeyDeletion")))

    assert aws("iam", f"put-{kind}-policy", flag, name, "--policy-name", "use-keys",
               "--policy-document", json.dumps(first)) is None
    aws("iam", f"put-{kind}-policy", flag, name, "--policy-name", "no-deletes", "--policy-document", json.dumps(second))
    got = aws("iam", f"get-{kind}-policy", flag, name, "--policy-name", "use-keys")
    assert got["PolicyName"] == "use-keys"
    assert got[{"user": "UserName", "role": "RoleName"}[kind]] == name
    assert got["PolicyDocument"] == first  # decoded into a dict by the CLI
    assert sorted(aws("iam", f"list-{kind}-policies", flag, name)["PolicyNames"]) == ["no-deletes", "use-keys"]
    # boto3 decodes it the same way.
    getter = getattr(boto(server, "iam"), f"get_{kind}_policy")
    assert getter(**{f"{kind.capitalize()}Name": name, "PolicyName": "no-deletes"})["PolicyDocument"] == second

    # Putting the same name replaces the document.
    aws("iam", f"put-{kind}-policy", flag, name, "--policy-name", "use-keys", "--policy-document", json.dumps(second))
    assert aws("iam", f"get-{kind}-policy", flag, name, "--policy-name", "use-keys")["PolicyDocument"] == second
    assert len(aws("iam", f"list-{kind}-policies", flag, name)["PolicyNames"]) == 2

    assert aws("iam", f"delete-{kind}-policy", flag, name, "--policy-name", "use-keys") is None
    code, message = cli_error(aws, "iam", f"get-{kind}-policy", flag, name, "--policy-name", "use-keys")
    assert (code, message) == ("NoSuchEntity", f"The {kind} policy with name use-keys cannot be found.")
    assert aws.error("iam", f"delete-{kind}-policy", flag, name, "--policy-name", "use-keys") == "NoSuchEntity"
    assert aws("iam", f"list-{kind}-policies", flag, name)["PolicyNames"] == ["no-deletes"]

    aws("iam", f"delete-{kind}-policy", flag, name, "--policy-name", "no-deletes")
    aws("iam", f"delete-{kind}", flag, name)
    assert aws.error("iam", f"put-{kind}-policy", flag, name, "--policy-name", "p",
                     "--policy-document", json.dumps(first)) == "NoSuchEntity"


@pytest.mark.parametrize("bad, why", [
    ("{not json", "not JSON"),
    ("[]", "not an object"),
    (document({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}), "a Principal"),
    (document({"Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}), "a Principal"),
    (document({"Effect": "Maybe", "Action": "kms:*", "Resource": "*"}), "a bad Effect"),
    (document({"Effect": "Allow", "Resource": "*"}), "no Action"),
    (json.dumps({"Version": "2012-10-17"}), "no Statement"),
])
@pytest.mark.parametrize("kind", ["user", "role"])
def test_malformed_identity_policies(server, kind, bad, why):
    iam = boto(server, "iam")
    name = unique(f"malformed-{kind}")
    if kind == "user":
        iam.create_user(UserName=name)
        code, message = client_error(iam.put_user_policy, UserName=name, PolicyName="p", PolicyDocument=bad)
        assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
        iam.delete_user(UserName=name)
    else:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(ROOT_ARN))
        code, message = client_error(iam.put_role_policy, RoleName=name, PolicyName="p", PolicyDocument=bad)
        assert iam.list_role_policies(RoleName=name)["PolicyNames"] == []
        iam.delete_role(RoleName=name)
    assert code == "MalformedPolicyDocument", (why, message)
    if why == "a Principal":
        assert message == "Policy document should not specify a principal.", message


# --------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["user", "role"])
def test_tags(aws, kind):
    name = unique(f"tags-{kind}")
    flag = f"--{kind}-name"
    if kind == "user":
        aws("iam", "create-user", "--user-name", name)
    else:
        aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document", trust(ROOT_ARN))
    assert aws("iam", f"list-{kind}-tags", flag, name)["Tags"] == []

    assert aws("iam", f"tag-{kind}", flag, name, "--tags", "Key=team,Value=blue", "Key=app,Value=loadtest") is None
    tags = aws("iam", f"list-{kind}-tags", flag, name)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("app", "loadtest"), ("team", "blue")]
    # Tagging an existing key replaces its value.
    aws("iam", f"tag-{kind}", flag, name, "--tags", "Key=team,Value=red")
    tags = aws("iam", f"list-{kind}-tags", flag, name)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("app", "loadtest"), ("team", "red")]
    # Get-user / get-role show them too.
    entity = aws("iam", f"get-{kind}", flag, name)[kind.capitalize()]
    assert sorted((t["Key"], t["Value"]) for t in entity["Tags"]) == [("app", "loadtest"), ("team", "red")]

    assert aws("iam", f"untag-{kind}", flag, name, "--tag-keys", "team", "not-there") is None
    assert aws("iam", f"list-{kind}-tags", flag, name)["Tags"] == [{"Key": "app", "Value": "loadtest"}]

    assert aws.error("iam", f"tag-{kind}", flag, name, "--tags", "Key=aws:reserved,Value=x") == "InvalidInput"
    aws("iam", f"delete-{kind}", flag, name)
    assert aws.error("iam", f"tag-{kind}", flag, name, "--tags", "Key=a,Value=b") == "NoSuchEntity"
    assert aws.error("iam", f"list-{kind}-tags", flag, name) == "NoSuchEntity"
