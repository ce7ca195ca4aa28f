"""`keyward apply stack.yaml`: the seed lab's whole set-up from examples/seed-lab.yaml,
idempotent re-applies, changes applied as changes, fixed key ids with imported material
giving the same ciphertexts on two fresh installations, and bad files refused before
anything is sent.

`keyward apply` gets the server's credentials and endpoint as any AWS tool does, through
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ... and a config file of its own; the results are
checked with boto3.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT_ID, REGION, REPO_ROOT, KeywardServer, client_error, keyward_bin
from test_iam import Principal, allow, boto, deny, document, new_user

SEED_LAB = REPO_ROOT / "examples" / "seed-lab.yaml"
LAB_KEY_ID = "2c8dd0cb-0ad2-4695-afa2-81b620e4bee6"
LAB_CONTEXT = {"LambdaFunctionName": "loadtest"}
TOOL_TIMEOUT = 120.0


def run_apply(server: KeywardServer, home: Path, *args: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    config = home / "aws-config"
    config.write_text(f"[default]\nregion = {REGION}\n")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARD_"))}
    full_env.update({
        "HOME": str(home),
        "NO_COLOR": "1",
        "AWS_ACCESS_KEY_ID": server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": server.secret_access_key,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        **(env or {}),
    })
    return subprocess.run([str(keyward_bin()), "apply", *args], env=full_env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TOOL_TIMEOUT, cwd=str(home))


def apply_ok(server: KeywardServer, home: Path, *args: str, **kwargs: Any) -> str:
    result = run_apply(server, home, *args, **kwargs)
    assert result.returncode == 0, f"keyward apply {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def statuses(stdout: str) -> dict[str, str]:
    """`section.name` -> created|updated|unchanged, from the text report."""
    found = {}
    for line in stdout.splitlines():
        m = re.match(r"^(\w+\.[\w-]+)\s+(created|updated|unchanged)\s+(\S+)", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def as_json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout)


def lab_secret_versions(sm: Any) -> list[tuple[str, tuple[str, ...]]]:
    versions = sm.list_secret_version_ids(SecretId="student")["Versions"]
    return sorted((v["VersionId"], tuple(sorted(v["VersionStages"]))) for v in versions)


def test_seed_lab_applies_then_changes_nothing(fresh_server, tmp_path, sensitive):
    srv = fresh_server
    sensitive.add("lab_password", "secret value")
    out = apply_ok(srv, tmp_path, str(SEED_LAB))
    assert statuses(out) == {
        "users.lab_user": "created", "users.lambda_runner": "created", "roles.loadtest": "created",
        "keys.user_name": "created", "secrets.student": "created",
    }, out
    assert out.strip().endswith("5 created, 0 updated, 0 unchanged"), out
    assert "lab_password" not in out

    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{LAB_KEY_ID}"
    assert key_arn in out
    kms, sm, iam = boto(srv, "kms"), boto(srv, "secretsmanager"), boto(srv, "iam")
    meta = kms.describe_key(KeyId="alias/UserName")["KeyMetadata"]
    assert meta["Arn"] == key_arn
    assert meta["Description"] == "Encryption key for the TranscriptionApp."
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT" and meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    # The fixed id's tag is consumed; the file's tag is kept.
    assert kms.list_resource_tags(KeyId=LAB_KEY_ID)["Tags"] == [{"TagKey": "app", "TagValue": "TranscriptionApp"}]
    policy = json.loads(kms.get_key_policy(KeyId=LAB_KEY_ID, PolicyName="default")["Policy"])
    assert policy["Id"] == "key-consolepolicy-3"
    principals = {s["Sid"]: s["Principal"]["AWS"] for s in policy["Statement"]}
    assert principals["Enable IAM User Permissions"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert principals["Allow access for Key Administrators"] == f"arn:aws:iam::{ACCOUNT_ID}:user/AWSLabsUser"
    assert principals["Allow use of the key"] == f"arn:aws:iam::{ACCOUNT_ID}:role/loadtest"
    assert iam.get_user(UserName="AWSLabsUser")["User"]["Arn"] in out
    role = iam.get_role(RoleName="loadtest")["Role"]
    assert role["Arn"] in out
    secret = sm.describe_secret(SecretId="student")
    assert secret["ARN"] in out
    assert secret["Description"] == "Encrypted password for student user"
    assert json.loads(sm.get_secret_value(SecretId="student")["SecretString"]) == {"Password": "lab_password"}
    read = iam.get_role_policy(RoleName="loadtest", PolicyName="read-student")["PolicyDocument"]
    read = json.loads(read) if isinstance(read, str) else read
    assert read["Statement"][0]["Resource"] == secret["ARN"]

    versions = lab_secret_versions(sm)
    for run in range(2):
        again = apply_ok(srv, tmp_path, str(SEED_LAB))
        assert set(statuses(again).values()) == {"unchanged"}, again
        assert again.strip().splitlines()[-1] == "no changes", again
    assert lab_secret_versions(sm) == versions
    doc = as_json(apply_ok(srv, tmp_path, str(SEED_LAB), "--output", "json"))
    assert doc["changed"] is False and doc["complete"] is True and doc["summary"] == "no changes"
    assert doc["account_id"] == ACCOUNT_ID and doc["region"] == REGION
    by_name = {(r["kind"], r["name"]): r for r in doc["resources"]}
    assert by_name[("keys", "user_name")]["key_id"] == LAB_KEY_ID
    assert by_name[("keys", "user_name")]["aliases"] == ["alias/UserName"]
    assert by_name[("secrets", "student")]["arn"] == secret["ARN"]

    # The lab's flow works on what the file made: encrypt as root, then the function's
    # role (assumed by lambda-runner) decrypts its variable and reads its password.
    blob = kms.encrypt(KeyId="alias/UserName", Plaintext=b"student", EncryptionContext=LAB_CONTEXT)["CiphertextBlob"]
    access = iam.create_access_key(UserName="lambda-runner")["AccessKey"]
    sensitive.add(access["SecretAccessKey"], "user secret access key")
    runner = Principal(srv, "lambda-runner", "", {k: access[k] for k in ("AccessKeyId", "SecretAccessKey")})
    session = runner.assume(role["Arn"], "loadtest", sensitive)
    fn_kms = session.client("kms")
    assert fn_kms.decrypt(CiphertextBlob=blob, EncryptionContext=LAB_CONTEXT)["Plaintext"] == b"student"
    code, _ = client_error(fn_kms.decrypt, CiphertextBlob=kms.encrypt(
        KeyId=LAB_KEY_ID, Plaintext=b"x", EncryptionContext={"LambdaFunctionName": "other"})["CiphertextBlob"],
        EncryptionContext={"LambdaFunctionName": "other"})
    assert code == "AccessDeniedException"
    got = session.client("secretsmanager").get_secret_value(SecretId="student")["SecretString"]
    assert json.loads(got)["Password"] == "lab_password"
    # The administrator manages the key but cannot use it.
    admin_key = iam.create_access_key(UserName="AWSLabsUser")["AccessKey"]
    sensitive.add(admin_key["SecretAccessKey"], "user secret access key")
    admin = Principal(srv, "AWSLabsUser", "", {k: admin_key[k] for k in ("AccessKeyId", "SecretAccessKey")})
    assert admin.client("kms").describe_key(KeyId="alias/UserName")["KeyMetadata"]["Arn"] == key_arn
    code, _ = client_error(admin.client("kms").decrypt, CiphertextBlob=blob, EncryptionContext=LAB_CONTEXT)
    assert code == "AccessDeniedException"


def test_a_changed_file_changes_only_what_changed(fresh_server, tmp_path, sensitive):
    srv = fresh_server
    sensitive.add("lab_password", "secret value")
    sensitive.add("new_password", "secret value")
    apply_ok(srv, tmp_path, str(SEED_LAB))
    kms, sm, iam = boto(srv, "kms"), boto(srv, "secretsmanager"), boto(srv, "iam")
    versions = lab_secret_versions(sm)
    policy_before = kms.get_key_policy(KeyId=LAB_KEY_ID, PolicyName="default")["Policy"]

    text = SEED_LAB.read_text()
    changed = (text.replace("Encryption key for the TranscriptionApp.", "Key for the TranscriptionApp, v2.")
                   .replace("aliases: [alias/UserName]", "aliases: [alias/UserName, alias/TranscriptionApp]")
                   .replace("Password: lab_password", "Password: new_password")
                   .replace("      app: TranscriptionApp", "      app: TranscriptionApp\n      team: security"))
    # Key order and layout of a policy are not changes: the same key policy as JSON text.
    changed_file = tmp_path / "changed.yaml"
    changed_file.write_text(changed)
    out = apply_ok(srv, tmp_path, str(changed_file))
    assert statuses(out) == {
        "users.lab_user": "unchanged", "users.lambda_runner": "unchanged", "roles.loadtest": "unchanged",
        "keys.user_name": "updated", "secrets.student": "updated",
    }, out
    key_line = next(line for line in out.splitlines() if line.startswith("keys.user_name"))
    assert "(description, alias alias/TranscriptionApp, tags)" in key_line, key_line
    assert "(value)" in next(line for line in out.splitlines() if line.startswith("secrets.student"))
    assert "new_password" not in out and "lab_password" not in out
    assert out.strip().endswith("0 created, 2 updated, 3 unchanged"), out

    assert kms.describe_key(KeyId="alias/TranscriptionApp")["KeyMetadata"]["KeyId"] == LAB_KEY_ID
    assert kms.describe_key(KeyId=LAB_KEY_ID)["KeyMetadata"]["Description"] == "Key for the TranscriptionApp, v2."
    assert kms.get_key_policy(KeyId=LAB_KEY_ID, PolicyName="default")["Policy"] == policy_before
    after = lab_secret_versions(sm)
    assert len(after) == len(versions) + 1
    assert json.loads(sm.get_secret_value(SecretId="student")["SecretString"]) == {"Password": "new_password"}

    # Back to the original: the alias the file no longer names is removed, the value goes
    # back (a new version); the extra tag stays (tags are only ever set).
    out = apply_ok(srv, tmp_path, str(SEED_LAB))
    key_line = next(line for line in out.splitlines() if line.startswith("keys.user_name"))
    assert "(description, alias alias/TranscriptionApp removed)" in key_line, key_line
    assert client_error(kms.describe_key, KeyId="alias/TranscriptionApp")[0] == "NotFoundException"
    assert apply_ok(srv, tmp_path, str(SEED_LAB)).strip().splitlines()[-1] == "no changes"

    # An inline policy and a trust policy changed, and a policy dropped from the file.
    trimmed = text.replace("      create-keys:", "      create-keys-v2:").replace(
        'Principal: {AWS: "arn:aws:iam::${account_id}:root"}\n          Action: sts:AssumeRole',
        'Principal: {AWS: "${users.lambda_runner.arn}"}\n          Action: sts:AssumeRole')
    trimmed_file = tmp_path / "trimmed.yaml"
    trimmed_file.write_text(trimmed)
    out = apply_ok(srv, tmp_path, str(trimmed_file))
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(("users.", "roles."))}
    assert "(policy create-keys-v2, policy create-keys removed)" in lines["users.lab_user"], out
    assert "(assume_role_policy)" in lines["roles.loadtest"], out
    assert statuses(out)["keys.user_name"] == "unchanged"
    assert iam.list_user_policies(UserName="AWSLabsUser")["PolicyNames"] == ["create-keys-v2"]
    trust = iam.get_role(RoleName="loadtest")["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{ACCOUNT_ID}:user/lambda-runner"


FIXED_STACK = """
keys:
  app:
    description: stable key
    key_id: 11111111-2222-4333-8444-555555555555
    aliases: [alias/stable]
    material: {env: APP_KEY_MATERIAL}
secrets:
  db:
    name: app/db
    kms_key: app
    secret_string: hunter2-not-printed
"""


def test_fixed_key_id_and_material_give_the_same_ciphertexts_on_a_fresh_server(keyward, tmp_path, sensitive):
    material = os.urandom(32)
    sensitive.add(material, "key material")
    sensitive.add("hunter2-not-printed", "secret value")
    env = {"APP_KEY_MATERIAL": base64.b64encode(material).decode()}
    stack = tmp_path / "stack.yaml"
    stack.write_text(FIXED_STACK)
    a, b = keyward(name="apply_a"), keyward(name="apply_b")
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    home_a.mkdir()
    home_b.mkdir()
    out_a = apply_ok(a, home_a, str(stack), "--output", "json", env=env)
    out_b = apply_ok(b, home_b, str(stack), "--output", "json", env=env)
    for out in (out_a, out_b):
        assert env["APP_KEY_MATERIAL"] not in out and "hunter2" not in out
    arn_a = next(r["arn"] for r in as_json(out_a)["resources"] if r["kind"] == "keys")
    arn_b = next(r["arn"] for r in as_json(out_b)["resources"] if r["kind"] == "keys")
    assert arn_a == arn_b == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/11111111-2222-4333-8444-555555555555"

    kms_a, kms_b = boto(a, "kms"), boto(b, "kms")
    meta = kms_a.describe_key(KeyId="alias/stable")["KeyMetadata"]
    assert meta["Origin"] == "EXTERNAL" and meta["KeyState"] == "Enabled"
    blob = kms_a.encrypt(KeyId="alias/stable", Plaintext=b"student", EncryptionContext=LAB_CONTEXT)["CiphertextBlob"]
    got = kms_b.decrypt(CiphertextBlob=blob, EncryptionContext=LAB_CONTEXT)
    assert got["Plaintext"] == b"student" and got["KeyId"] == arn_a
    back = kms_b.encrypt(KeyId=arn_b, Plaintext=b"both ways")["CiphertextBlob"]
    assert kms_a.decrypt(CiphertextBlob=back)["Plaintext"] == b"both ways"
    # The secret is under the file's key on both.
    for srv in (a, b):
        secret = boto(srv, "secretsmanager").describe_secret(SecretId="app/db")
        assert secret["KmsKeyId"] in (arn_a, "alias/stable", meta["KeyId"])
    # Idempotent, and the material need not be given again for an existing key... but if it
    # is, nothing changes either.
    again = apply_ok(a, home_a, str(stack), env=env)
    assert again.strip().splitlines()[-1] == "no changes", again

    # Another server with the same id but other material cannot decrypt A's ciphertext.
    c = keyward(name="apply_c")
    home_c = tmp_path / "c"
    home_c.mkdir()
    apply_ok(c, home_c, str(stack), env={"APP_KEY_MATERIAL": base64.b64encode(os.urandom(32)).decode()})
    code, _ = client_error(boto(c, "kms").decrypt, CiphertextBlob=blob, EncryptionContext=LAB_CONTEXT)
    assert code == "InvalidCiphertextException"


def test_create_key_takes_a_key_id_from_the_reserved_tag(fresh_server):
    kms = boto(fresh_server, "kms")
    wanted = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
    meta = kms.create_key(Tags=[{"TagKey": "keyward:key-id", "TagValue": wanted},
                                {"TagKey": "team", "TagValue": "x"}])["KeyMetadata"]
    assert meta["KeyId"] == wanted
    assert meta["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{wanted}"
    assert kms.list_resource_tags(KeyId=wanted)["Tags"] == [{"TagKey": "team", "TagValue": "x"}]
    code, message = client_error(kms.create_key, Tags=[{"TagKey": "keyward:key-id", "TagValue": wanted}])
    assert code == "AlreadyExistsException" and wanted in message
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", wanted.replace("-", "")):
        code, message = client_error(kms.create_key, Tags=[{"TagKey": "keyward:key-id", "TagValue": bad}])
        assert code == "ValidationException" and "keyward:key-id" in message, (bad, message)
    code, _ = client_error(kms.create_key, MultiRegion=True,
                           Tags=[{"TagKey": "keyward:key-id", "TagValue": "0a1b2c3d-4e5f-4a6b-8c7d-000000000001"}])
    assert code == "ValidationException"
    # Uppercase is the same id.
    upper = "ABCDEF01-2345-4678-89AB-CDEF01234567"
    assert kms.create_key(Tags=[{"TagKey": "keyward:key-id", "TagValue": upper}])["KeyMetadata"]["KeyId"] == upper.lower()


BAD_FILES = [
    ("keys:\n  k:\n    aliases: [alias/k]\n    descripton: typo\n", ["keys.k", "descripton"]),
    ("keys:\n  k:\n    aliases: [alias/k]\n    policy:\n      Statement:\n        - Principal: {AWS: '${users.ghost.arn}'}\n",
     ["keys.k.policy", "users.ghost"]),
    ("keys:\n  k:\n    aliases: [alias/k]\n    policy: '{not json'\n", ["keys.k.policy", "JSON"]),
    ("keys:\n  k:\n    aliases: [UserName]\n", ["keys.k.aliases", "UserName"]),
    ("keys:\n  k:\n    key_id: 11111111-2222-4333-8444-555555555555\n    material: {base64: c2hvcnQ=}\n",
     ["keys.k.material", "32 bytes"]),
    ("keys:\n  k:\n    key_id: 11111111-2222-4333-8444-555555555555\n    material: {env: NO_SUCH_VARIABLE_HERE}\n",
     ["keys.k.material.env", "NO_SUCH_VARIABLE_HERE"]),
    ("roles:\n  r:\n    assume_role_policy: {Statement: []}\n    policies:\n      p: {Resource: '${keys.k.bogus}'}\n",
     ["roles.r.policies.p", "bogus"]),
    ("secrets:\n  s:\n    secret_string: x\n    secret_json: {a: b}\n", ["secrets.s", "not both"]),
    ("users:\n  u:\n    name: [not, a, string]\n", ["users.u.name"]),
    ("frobnicate: {}\n", ["frobnicate"]),
]


@pytest.mark.parametrize("text,expected", BAD_FILES, ids=[f"bad{i}" for i in range(len(BAD_FILES))])
def test_bad_files_are_refused_before_anything_is_sent(server, tmp_path, text, expected):
    # A user defined first in the file would be created first: nothing must be.
    name = f"apply-bad-{os.getpid()}-{abs(hash(text)) % 10**8}"
    stack = tmp_path / "bad.yaml"
    stack.write_text(f"users:\n  first:\n    name: {name}\n" + text if not text.startswith("users:") else text)
    result = run_apply(server, tmp_path, str(stack))
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and str(stack) in result.stderr, result.stderr
    for part in expected:
        assert part in result.stderr, (part, result.stderr)
    with pytest.raises(ClientError):
        boto(server, "iam").get_user(UserName=name)


def test_check_and_a_missing_file(server, tmp_path):
    result = run_apply(server, tmp_path, str(SEED_LAB), "--check")
    assert result.returncode == 0 and result.stdout == "", result.stderr
    with pytest.raises(ClientError):
        boto(server, "iam").get_user(UserName="AWSLabsUser")
    result = run_apply(server, tmp_path, str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "missing.yaml" in result.stderr


def test_a_failing_call_stops_with_the_applied_part_listed(fresh_server, tmp_path):
    # The fixed key id is taken by a key in another region: CreateKey refuses it.
    boto(fresh_server, "kms", region="eu-west-1").create_key(
        Tags=[{"TagKey": "keyward:key-id", "TagValue": "11111111-2222-4333-8444-555555555555"}])
    stack = tmp_path / "stack.yaml"
    stack.write_text("users:\n  u:\n    name: applied-first\n"
                     "keys:\n  k:\n    key_id: 11111111-2222-4333-8444-555555555555\n    aliases: [alias/k]\n")
    result = run_apply(fresh_server, tmp_path, str(stack))
    assert result.returncode == 1, result.stderr
    assert statuses(result.stdout) == {"users.u": "created"}, result.stdout
    assert "keys.k: CreateKey: AlreadyExistsException" in result.stderr, result.stderr
    assert "apply again" in result.stderr


ROTATION_STACK = """
users:
  reader: {}
keys:
  k:
    aliases: [alias/rotating]
    enable_key_rotation: ROTATE
secrets:
  s:
    name: app/token
    description: a token
    kms_key: alias/rotating
    secret_string: VALUE
    tags: {env: test}
    policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {AWS: "${users.reader.arn}"}
          Action: secretsmanager:GetSecretValue
          Resource: "*"
"""


def test_rotation_secret_policies_and_text_values(fresh_server, tmp_path, sensitive):
    srv = fresh_server
    sensitive.add("token-one-value", "secret value")
    sensitive.add("token-two-value", "secret value")
    kms, sm = boto(srv, "kms"), boto(srv, "secretsmanager")
    stack = tmp_path / "stack.yaml"

    def write(rotate: str, value: str) -> None:
        stack.write_text(ROTATION_STACK.replace("ROTATE", rotate).replace("VALUE", value))

    write("true", "token-one-value")
    out = apply_ok(srv, tmp_path, str(stack))
    assert "token-one-value" not in out
    key_id = kms.describe_key(KeyId="alias/rotating")["KeyMetadata"]["KeyId"]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    secret = sm.describe_secret(SecretId="app/token")
    assert secret["Tags"] == [{"Key": "env", "Value": "test"}]
    policy = json.loads(sm.get_resource_policy(SecretId="app/token")["ResourcePolicy"])
    assert policy["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{ACCOUNT_ID}:user/reader"
    assert sm.get_secret_value(SecretId="app/token")["SecretString"] == "token-one-value"
    assert apply_ok(srv, tmp_path, str(stack)).strip().splitlines()[-1] == "no changes"

    write("false", "token-two-value")
    out = apply_ok(srv, tmp_path, str(stack))
    assert "(enable_key_rotation)" in out and "(value)" in out, out
    assert "token-two-value" not in out
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    assert sm.get_secret_value(SecretId="app/token")["SecretString"] == "token-two-value"
    assert apply_ok(srv, tmp_path, str(stack)).strip().splitlines()[-1] == "no changes"

    # A key's spec cannot change: the apply says so and stops.
    stack.write_text(ROTATION_STACK.replace("ROTATE", "false").replace("VALUE", "token-two-value")
                     .replace("    enable_key_rotation", "    key_spec: HMAC_256\n    key_usage: GENERATE_VERIFY_MAC\n    enable_key_rotation"))
    result = run_apply(srv, tmp_path, str(stack))
    assert result.returncode == 1
    assert "keys.k: key" in result.stderr and "cannot change" in result.stderr, result.stderr


def test_fixed_key_ids_are_authorized_like_any_create_key(fresh_server, sensitive):
    srv = fresh_server
    tag = {"TagKey": "keyward:key-id", "TagValue": "21212121-2222-4333-8444-555555555555"}
    nobody = new_user(srv, sensitive, policy=document(allow("kms:DescribeKey")))
    code, _ = client_error(nobody.client("kms").create_key, Tags=[tag])
    assert code == "AccessDeniedException"
    creator = new_user(srv, sensitive, policy=document(allow("kms:CreateKey")))
    assert creator.client("kms").create_key(Tags=[tag])["KeyMetadata"]["KeyId"] == tag["TagValue"]
    # An administrator can forbid chosen ids through aws:TagKeys.
    no_fixed = new_user(srv, sensitive, policy=document(
        allow("kms:CreateKey"),
        deny("kms:CreateKey", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "keyward:key-id"}})))
    other = {"TagKey": "keyward:key-id", "TagValue": "31313131-2222-4333-8444-555555555555"}
    code, _ = client_error(no_fixed.client("kms").create_key, Tags=[other])
    assert code == "AccessDeniedException"
    assert no_fixed.client("kms").create_key()["KeyMetadata"]["KeyId"] != other["TagValue"]


def test_dry_run_reports_and_changes_nothing(fresh_server, tmp_path, sensitive):
    srv = fresh_server
    sensitive.add("lab_password", "secret value")
    sensitive.add("dry_password", "secret value")
    kms, sm, iam = boto(srv, "kms"), boto(srv, "secretsmanager"), boto(srv, "iam")
    out = apply_ok(srv, tmp_path, str(SEED_LAB), "--dry-run")
    assert set(statuses_dry(out).values()) == {"to create"} and len(statuses_dry(out)) == 5, out
    assert out.strip().splitlines()[-1] == "dry run: 5 to create, 0 to update, 0 unchanged; nothing was changed"
    assert f"key/{LAB_KEY_ID}" in out
    assert client_error(iam.get_user, UserName="AWSLabsUser")[0] == "NoSuchEntity"
    assert client_error(kms.describe_key, KeyId="alias/UserName")[0] == "NotFoundException"
    assert client_error(sm.describe_secret, SecretId="student")[0] == "ResourceNotFoundException"

    apply_ok(srv, tmp_path, str(SEED_LAB))
    versions = lab_secret_versions(sm)
    changed = tmp_path / "changed.yaml"
    changed.write_text(SEED_LAB.read_text().replace("Encryption key for the", "Key for the")
                       .replace("Password: lab_password", "Password: dry_password")
                       .replace("      create-keys:", "      create-keys-2:"))
    doc = as_json(apply_ok(srv, tmp_path, str(changed), "--dry-run", "--output", "json"))
    assert doc["dry_run"] is True and doc["changed"] is True
    by_name = {f'{r["kind"]}.{r["name"]}': r for r in doc["resources"]}
    assert by_name["keys.user_name"]["changes"] == ["description"]
    assert by_name["secrets.student"]["changes"] == ["value"]
    assert by_name["users.lab_user"]["changes"] == ["policy create-keys-2", "policy create-keys removed"]
    assert by_name["roles.loadtest"]["status"] == "unchanged"
    assert "dry_password" not in json.dumps(doc)
    assert kms.describe_key(KeyId=LAB_KEY_ID)["KeyMetadata"]["Description"] == "Encryption key for the TranscriptionApp."
    assert lab_secret_versions(sm) == versions
    assert iam.list_user_policies(UserName="AWSLabsUser")["PolicyNames"] == ["create-keys"]
    assert apply_ok(srv, tmp_path, str(SEED_LAB)).strip().splitlines()[-1] == "no changes"


def statuses_dry(stdout: str) -> dict[str, str]:
    found = {}
    for line in stdout.splitlines():
        m = re.match(r"^(\w+\.[\w-]+)\s+(to create|to update|unchanged)\s+(\S+)", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found
