"""`keyward env encrypt` and `keyward exec`: Lambda's encrypted environment variables and
Secrets Manager references, for programs run outside Lambda, against a server of this
module's own.

The tools get the server's endpoint and credentials as any AWS client does, through the
standard environment variables. Children report what they saw as SHA-256 digests of the
values, so no plaintext reaches a test log; where a value must not leak, stdout and stderr
are checked for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from base64 import b64decode, b64encode
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCOUNT_ID, REGION, KeywardServer, keyward_bin, make_kms, make_secretsmanager, unique
from test_audit import attr, lookup_all, make_cloudtrail
from test_iam import allow, document, new_role, new_user, trust

FUNCTION = "loadtest"
CONTEXT = {"LambdaFunctionName": FUNCTION}
TOOL_TIMEOUT = 120.0

# What a child prints: a JSON object of the SHA-256 of each named variable (null if unset).
SHOW = """\
import hashlib, json, os, sys
print(json.dumps({n: (hashlib.sha256(os.environ[n].encode()).hexdigest() if n in os.environ else None)
                  for n in sys.argv[1:]}))
"""

# The seed lab's loadtest function, app.py: getUserName() and getPassword() exactly as the
# lab has them after its tasks 3 and 4, and a harness that calls them as the handler does.
SEED_APP = '''\
import contextlib, hashlib, io, json, os
from base64 import b64decode
import boto3


def getUserName():
    userName = os.environ['USER_NAME']

    try:
        decrypted_User = boto3.client('kms').decrypt(
            CiphertextBlob=b64decode(userName),
            EncryptionContext={'LambdaFunctionName':os.environ['AWS_LAMBDA_FUNCTION_NAME']})['Plaintext'].decode('utf-8')
        print("UserName decrypted using KMS key:" + str(decrypted_User))
        return decrypted_User
    except Exception as e:
        print("ExceptionSecret exception for {} {}".format(userName, e))


def getPassword(userName):
    try:
        secret = boto3.client('secretsmanager')
        secretString = json.loads(secret.get_secret_value(SecretId=userName).get('SecretString'))
        if 'Password' in secretString:
            password = secretString['Password']
            print("Password retrieved from Secrets Manager:" + password)
        return password
    except Exception as e:
        print("ExceptionSecret exception for {} {}".format(userName, e))


if __name__ == "__main__":
    # The functions print what they read; keep that out of the test output.
    with contextlib.redirect_stdout(io.StringIO()) as seen:
        user = getUserName()
        password = getPassword(user)
    digest = lambda v: hashlib.sha256(v.encode()).hexdigest() if isinstance(v, str) else None
    print(json.dumps({"user": digest(user), "password": digest(password),
                      "exception": "ExceptionSecret" in seen.getvalue()}))
'''


def sha(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


class Exec:
    """Runs keyward (and the aws CLI) as a client of one server, with its root credentials."""

    def __init__(self, server: KeywardServer, home: Path) -> None:
        self.server = server
        self.home = home
        self.config = home / "aws-config"
        self.config.write_text(f"[default]\nregion = {REGION}\n")
        self.show = home / "show.py"
        self.show.write_text(SHOW)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARD_"))}
        env.update({
            "HOME": str(self.home),
            "NO_COLOR": "1",
            "AWS_ACCESS_KEY_ID": self.server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.server.secret_access_key,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.server.endpoint,
            "AWS_CONFIG_FILE": str(self.config),
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        })
        env.update(extra)
        return env

    def run(self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(keyward_bin()), *args], env=self.env(**(env or {})), input=stdin,
                              stdin=None if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, timeout=TOOL_TIMEOUT, cwd=str(cwd or self.home))

    def ok(self, *args: str, **kwargs: Any) -> bytes:
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, f"keyward {' '.join(args)} exited {result.returncode}:\n{result.stderr.decode()}"
        return result.stdout

    def encrypt(self, key: str, value: str, function: str = FUNCTION) -> str:
        out = self.ok("env", "encrypt", "--key", key, "--function", function, "-", stdin=value.encode())
        return out.decode().strip()

    def show_env(self, *names: str, exec_args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> dict[str, Any]:
        out = self.ok("exec", "--function", FUNCTION, *exec_args, "--", sys.executable, str(self.show), *names, env=env)
        return json.loads(out)

    def aws(self, *args: str, env: dict[str, str] | None = None) -> Any:
        exe = Path(sys.executable).parent / "aws"
        result = subprocess.run([str(exe), *args, "--output", "json"], env=self.env(**(env or {})),
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def srv(keyward) -> KeywardServer:
    return keyward(name="exec")


@pytest.fixture(scope="module")
def tool(srv: KeywardServer, tmp_path_factory: pytest.TempPathFactory) -> Exec:
    return Exec(srv, tmp_path_factory.mktemp("exec-home"))


@pytest.fixture(scope="module")
def kms(srv: KeywardServer) -> Any:
    return make_kms(srv)


@pytest.fixture(scope="module")
def sm(srv: KeywardServer) -> Any:
    return make_secretsmanager(srv)


@pytest.fixture(scope="module")
def key(kms: Any) -> dict[str, str]:
    """The seed lab's key: a symmetric key with the alias alias/UserName."""
    meta = kms.create_key(Description="Encryption key for the UserName environment variable")["KeyMetadata"]
    kms.create_alias(AliasName="alias/UserName", TargetKeyId=meta["KeyId"])
    return {"arn": meta["Arn"], "id": meta["KeyId"], "alias": "alias/UserName"}


@pytest.fixture(scope="module")
def student(sm: Any, sensitive: Any) -> dict[str, str]:
    """The seed lab's secret: `student`, {"Password": "lab_password"}."""
    sensitive.add("lab_password")
    out = sm.create_secret(Name="student", SecretString=json.dumps({"Password": "lab_password"}))
    return {"arn": out["ARN"], "version": out["VersionId"]}


# --------------------------------------------------------------------------------------
# keyward env encrypt
# --------------------------------------------------------------------------------------


def test_env_encrypt_is_the_lambda_console_helper(tool: Exec, kms: Any, key: dict[str, str], tmp_path: Path,
                                                  sensitive: Any) -> None:
    sensitive.add("student")
    out = tool.ok("env", "encrypt", "--key", "alias/UserName", "--function", FUNCTION, "student").decode()
    assert out.endswith("\n") and out.count("\n") == 1, out
    blob = b64decode(out.strip(), validate=True)

    # boto3, the way the function decrypts it.
    got = kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
    assert got["Plaintext"] == b"student"
    assert got["KeyId"] == key["arn"]

    # The aws CLI, with the encryption context in its shorthand.
    (tmp_path / "blob").write_bytes(blob)
    cli = tool.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}",
                   "--encryption-context", f"LambdaFunctionName={FUNCTION}")
    assert b64decode(cli["Plaintext"]) == b"student"

    # Bound to the function: no context, or another function's, does not decrypt.
    for context in ({}, {"LambdaFunctionName": "other"}, {"LambdaFunctionName": FUNCTION, "x": "y"}):
        with pytest.raises(kms.exceptions.InvalidCiphertextException):
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)


def test_env_encrypt_from_stdin_and_by_arn(tool: Exec, kms: Any, key: dict[str, str], sensitive: Any) -> None:
    sensitive.add("from stdin")
    # One trailing newline is dropped (as `echo` adds it); anything else is kept.
    for given, meant in ((b"from stdin\n", b"from stdin"), (b"from stdin\r\n", b"from stdin"),
                         (b"from stdin", b"from stdin"), (b"from stdin\n\n", b"from stdin\n"),
                         (b"  from stdin ", b"  from stdin ")):
        out = tool.ok("env", "encrypt", "--key", key["alias"], "--function", FUNCTION, "-", stdin=given)
        assert kms.decrypt(CiphertextBlob=b64decode(out), EncryptionContext=CONTEXT)["Plaintext"] == meant

    # A key ARN names its own region, whatever region is configured (keys are regional:
    # the alias is not found in the configured one).
    elsewhere = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    out = tool.ok("env", "encrypt", "--key", key["arn"], "--function", "other-fn", "from stdin", env=elsewhere)
    assert kms.decrypt(CiphertextBlob=b64decode(out),
                       EncryptionContext={"LambdaFunctionName": "other-fn"})["Plaintext"] == b"from stdin"
    by_alias = tool.run("env", "encrypt", "--key", key["alias"], "--function", FUNCTION, "x", env=elsewhere)
    assert by_alias.returncode != 0 and b"NotFoundException" in by_alias.stderr


def test_env_encrypt_errors(tool: Exec, key: dict[str, str]) -> None:
    missing = tool.run("env", "encrypt", "--key", "alias/missing", "--function", FUNCTION, "student")
    assert missing.returncode != 0 and missing.stdout == b""
    assert b"NotFoundException" in missing.stderr, missing.stderr
    bad_name = tool.run("env", "encrypt", "--key", key["alias"], "--function", "no:colons", "student")
    assert bad_name.returncode != 0 and b"function name" in bad_name.stderr
    empty = tool.run("env", "encrypt", "--key", key["alias"], "--function", FUNCTION, "-", stdin=b"\n")
    assert empty.returncode != 0 and b"empty" in empty.stderr


# --------------------------------------------------------------------------------------
# keyward exec: the Lambda environment, decryption, env files
# --------------------------------------------------------------------------------------


def test_exec_sets_the_lambda_variables(tool: Exec) -> None:
    out = tool.ok("exec", "--function", FUNCTION, "--", sys.executable, "-c",
                  "import os, json; print(json.dumps({k: os.environ.get(k) for k in "
                  "('AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_REGION', "
                  "'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL', 'INHERITED')}))",
                  env={"INHERITED": "kept"})
    seen = json.loads(out)
    assert seen == {
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": tool.server.endpoint,
        "INHERITED": "kept",
    }


def test_exec_decrypt_named_variables(tool: Exec, key: dict[str, str], sensitive: Any) -> None:
    sensitive.add("student")
    sensitive.add("second value")
    user = tool.encrypt(key["alias"], "student")
    other = tool.encrypt(key["alias"], "second value")
    seen = tool.show_env("USER_NAME", "OTHER", exec_args=("--decrypt", "USER_NAME"),
                         env={"USER_NAME": user, "OTHER": other})
    assert seen["USER_NAME"] == sha("student")
    assert seen["OTHER"] == sha(other)  # not named: passed on as it is


def test_exec_decrypt_all(tool: Exec, key: dict[str, str], sensitive: Any) -> None:
    sensitive.add("second value")
    env = {
        "USER_NAME": tool.encrypt(key["alias"], "student"),
        "OTHER": tool.encrypt(key["alias"], "second value"),
        "PLAIN": "student",
        "BASE64_NOT_CIPHERTEXT": b64encode(b"just some base64 text, long enough to look like a blob " * 2).decode(),
        "EMPTY": "",
    }
    seen = tool.show_env(*env, exec_args=("--decrypt-all",), env=env)
    assert seen == {
        "USER_NAME": sha("student"),
        "OTHER": sha("second value"),
        "PLAIN": sha("student"),
        "BASE64_NOT_CIPHERTEXT": sha(env["BASE64_NOT_CIPHERTEXT"]),
        "EMPTY": sha(""),
    }


def test_exec_env_file(tool: Exec, key: dict[str, str], student: dict[str, str], tmp_path: Path) -> None:
    user = tool.encrypt(key["alias"], "student")
    env_file = tmp_path / "loadtest.env"
    env_file.write_text(
        "# the loadtest function's configuration\n"
        "\n"
        f"USER_NAME={user}\n"
        "export API_URL=https://example.invalid/Prod/count  # a comment\n"
        "QUOTED='single $quoted # value'\n"
        'DOUBLE="two\\nlines"\n'
        'PASSWORD="{{resolve:secretsmanager:student:SecretString:Password}}"\n'
        "OVERRIDDEN=from-file\n"
    )
    seen = tool.show_env("USER_NAME", "API_URL", "QUOTED", "DOUBLE", "PASSWORD", "OVERRIDDEN",
                         exec_args=("--env-file", str(env_file), "--decrypt", "USER_NAME"),
                         env={"OVERRIDDEN": "inherited"})
    assert seen == {
        "USER_NAME": sha("student"),
        "API_URL": sha("https://example.invalid/Prod/count"),
        "QUOTED": sha("single $quoted # value"),
        "DOUBLE": sha("two\nlines"),
        "PASSWORD": sha("lab_password"),
        "OVERRIDDEN": sha("from-file"),
    }

    broken = tmp_path / "broken.env"
    broken.write_text("GOOD=1\nthis line has no equals sign\n")
    result = tool.run("exec", "--function", FUNCTION, "--env-file", str(broken), "--", "true")
    assert result.returncode == 125
    assert b"line 2" in result.stderr and str(broken).encode() in result.stderr


# --------------------------------------------------------------------------------------
# Secrets Manager references
# --------------------------------------------------------------------------------------


def test_exec_resolves_secretsmanager_references(tool: Exec, sm: Any, sensitive: Any) -> None:
    name = unique("app/db")
    first = {"username": "app", "password": "first-password-1", "port": 5432}
    second = {"username": "app", "password": "second-password-2", "port": 5432}
    for value in (first, second):
        sensitive.add(value["password"])
    created = sm.create_secret(Name=name, SecretString=json.dumps(first))
    arn, first_version = created["ARN"], created["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString=json.dumps(second))
    plain = unique("token")
    sensitive.add("plain-token-value")
    sm.create_secret(Name=plain, SecretString="plain-token-value")

    env = {
        "WHOLE": f"{{{{resolve:secretsmanager:{name}}}}}",
        "WHOLE_EXPLICIT": f"{{{{resolve:secretsmanager:{name}:SecretString}}}}",
        "BY_NAME": f"{{{{resolve:secretsmanager:{name}:SecretString:password}}}}",
        "BY_ARN": f"{{{{resolve:secretsmanager:{arn}:SecretString:password}}}}",
        "WHOLE_BY_ARN": f"{{{{resolve:secretsmanager:{arn}}}}}",
        "NUMBER": f"{{{{resolve:secretsmanager:{name}:SecretString:port}}}}",
        "PREVIOUS": f"{{{{resolve:secretsmanager:{name}:SecretString:password:AWSPREVIOUS}}}}",
        "CURRENT": f"{{{{resolve:secretsmanager:{name}:SecretString:password:AWSCURRENT:}}}}",
        "BY_VERSION": f"{{{{resolve:secretsmanager:{name}:SecretString:password::{first_version}}}}}",
        "WHOLE_PREVIOUS": f"{{{{resolve:secretsmanager:{name}:SecretString::AWSPREVIOUS}}}}",
        "EMBEDDED": (f"postgres://{{{{resolve:secretsmanager:{name}:SecretString:username}}}}:"
                     f"{{{{resolve:secretsmanager:{arn}:SecretString:password}}}}@db:5432/app"),
        "PLAIN_SECRET": f"{{{{resolve:secretsmanager:{plain}}}}}",
        "OTHER_SYNTAX": "{{resolve:ssm:parameter}}",
    }
    seen = tool.show_env(*env, env=env)
    whole = sm.get_secret_value(SecretId=name)["SecretString"]
    assert seen == {
        "WHOLE": sha(whole),
        "WHOLE_EXPLICIT": sha(whole),
        "BY_NAME": sha("second-password-2"),
        "BY_ARN": sha("second-password-2"),
        "WHOLE_BY_ARN": sha(whole),
        "NUMBER": sha("5432"),
        "PREVIOUS": sha("first-password-1"),
        "CURRENT": sha("second-password-2"),
        "BY_VERSION": sha("first-password-1"),
        "WHOLE_PREVIOUS": sha(json.dumps(first)),
        "EMBEDDED": sha("postgres://app:second-password-2@db:5432/app"),
        "PLAIN_SECRET": sha("plain-token-value"),
        "OTHER_SYNTAX": sha("{{resolve:ssm:parameter}}"),
    }

    # A secret ARN names its own region; a bare name is looked up in the configured one.
    elsewhere = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    seen = tool.show_env("BY_ARN", env={**elsewhere, "BY_ARN": env["BY_ARN"]})
    assert seen == {"BY_ARN": sha("second-password-2")}
    result = tool.run("exec", "--function", FUNCTION, "--", "true", env={**elsewhere, "BY_NAME": env["BY_NAME"]})
    assert result.returncode == 125 and b"ResourceNotFoundException" in result.stderr


# --------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------


def test_exec_with_a_role(tool: Exec, srv: KeywardServer, key: dict[str, str], student: dict[str, str],
                          sensitive: Any) -> None:
    # The caller: a user that may assume the role (root may not) and may do nothing else.
    deployer = new_user(srv, sensitive, prefix="deployer")
    caller = {"AWS_ACCESS_KEY_ID": deployer.creds["AccessKeyId"],
              "AWS_SECRET_ACCESS_KEY": deployer.creds["SecretAccessKey"]}
    role = new_role(srv, trust(deployer.arn), policy=document(
        allow(["kms:Decrypt", "secretsmanager:GetSecretValue"])))
    user = tool.encrypt(key["alias"], "student")
    args = ("exec", "--function", FUNCTION, "--role-arn", role["Arn"], "--decrypt", "USER_NAME")
    inherited = {**caller, "USER_NAME": user, "AWS_PROFILE": "someone-else", "AWS_SECURITY_TOKEN": "stale",
                 "PASSWORD": "{{resolve:secretsmanager:student:SecretString:Password}}"}

    # Without the role the caller may not decrypt: the decryption below is the role's.
    alone = tool.run("exec", "--function", FUNCTION, "--decrypt", "USER_NAME", "--", "true",
                     env={**caller, "USER_NAME": user})
    assert alone.returncode == 125 and b"AccessDenied" in alone.stderr, alone.stderr

    # The child is the role's session, and nothing else.
    out = tool.ok(*args, "--", str(Path(sys.executable).parent / "aws"), "sts", "get-caller-identity",
                  "--output", "json", env=inherited)
    identity = json.loads(out)
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role['RoleName']}/keyward-exec-{FUNCTION}"

    seen = json.loads(tool.ok(*args, "--", sys.executable, "-c",
                              "import os, json, hashlib; e = os.environ; print(json.dumps({"
                              "'key': e.get('AWS_ACCESS_KEY_ID'), 'profile': e.get('AWS_PROFILE'), "
                              "'token': bool(e.get('AWS_SESSION_TOKEN')), 'legacy_token': e.get('AWS_SECURITY_TOKEN'), "
                              "'creds_file': e.get('AWS_SHARED_CREDENTIALS_FILE'), "
                              "'endpoint': e.get('AWS_ENDPOINT_URL'), "
                              "'user': hashlib.sha256(e['USER_NAME'].encode()).hexdigest(), "
                              "'password': hashlib.sha256(e['PASSWORD'].encode()).hexdigest()}))",
                              env=inherited))
    assert seen["key"] and seen["key"] not in (srv.access_key_id, deployer.creds["AccessKeyId"])
    assert seen["profile"] is None and seen["creds_file"] is None
    assert seen["token"] is True and seen["legacy_token"] is None
    assert seen["endpoint"] == srv.endpoint
    assert seen["user"] == sha("student") and seen["password"] == sha("lab_password")

    # The audit trail shows the role's session decrypting and reading the secret.
    session_arn = identity["Arn"]
    ct = make_cloudtrail(srv)
    for event_name in ("Decrypt", "GetSecretValue"):
        records = [e["Record"] for e in lookup_all(ct, **attr("EventName", event_name))]
        mine = [r for r in records if r["userIdentity"].get("arn") == session_arn]
        assert mine, f"no {event_name} by {session_arn}"
    decrypts = [e["Record"] for e in lookup_all(ct, **attr("EventName", "Decrypt"))
                if e["Record"]["userIdentity"].get("arn") == session_arn]
    assert any((r.get("requestParameters") or {}).get("encryptionContext") == CONTEXT for r in decrypts), decrypts

    # Decryption runs as the role: a role that may not decrypt gets nothing, and the
    # program does not run.
    bare = new_role(srv, trust(deployer.arn))
    result = tool.run("exec", "--function", FUNCTION, "--role-arn", bare["Arn"], "--decrypt", "USER_NAME",
                      "--", "sh", "-c", "echo ran", env={**caller, "USER_NAME": user})
    assert result.returncode == 125 and result.stdout == b""
    assert b"USER_NAME" in result.stderr and b"AccessDenied" in result.stderr, result.stderr

    # A shorter session; out-of-range durations, or one without a role, are refused.
    short = json.loads(tool.ok("exec", "--function", FUNCTION, "--role-arn", role["Arn"], "--duration-seconds", "900",
                               "--", str(Path(sys.executable).parent / "aws"), "sts", "get-caller-identity",
                               "--output", "json", env=caller))
    assert short["Arn"] == session_arn
    for bad in (("--role-arn", role["Arn"], "--duration-seconds", "899"), ("--duration-seconds", "900")):
        refused = tool.run("exec", "--function", FUNCTION, *bad, "--", "true", env=caller)
        assert refused.returncode == 2, refused.stderr

    # A role that does not exist.
    missing = tool.run("exec", "--function", FUNCTION, "--role-arn",
                       f"arn:aws:iam::{ACCOUNT_ID}:role/{unique('missing')}", "--", "sh", "-c", "echo ran",
                       env=caller)
    assert missing.returncode == 125 and missing.stdout == b""
    assert b"AssumeRole" in missing.stderr


# --------------------------------------------------------------------------------------
# The process: exit status, signals, failures
# --------------------------------------------------------------------------------------


def test_exec_exit_status(tool: Exec) -> None:
    assert tool.run("exec", "--function", FUNCTION, "--", "sh", "-c", "exit 7").returncode == 7
    assert tool.run("exec", "--function", FUNCTION, "--", "true").returncode == 0
    assert tool.run("exec", "--function", FUNCTION, "--", "sh", "-c", "kill -KILL $$").returncode == -signal.SIGKILL
    not_found = tool.run("exec", "--function", FUNCTION, "--", "/nonexistent/program")
    assert not_found.returncode == 127 and b"/nonexistent/program" in not_found.stderr
    no_command = tool.run("exec", "--function", FUNCTION)
    assert no_command.returncode != 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT])
def test_exec_delivers_signals(tool: Exec, tmp_path: Path, sig: signal.Signals) -> None:
    marker = tmp_path / "marker"
    script = (f'trap \'echo "$AWS_LAMBDA_FUNCTION_NAME" > "{marker}"; exit 3\' {sig.name[3:]}; '
              'echo ready; while :; do sleep 0.1; done')
    proc = subprocess.Popen([str(keyward_bin()), "exec", "--function", FUNCTION, "--", "sh", "-c", script],
                            env=tool.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=str(tool.home))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert marker.read_text() == f"{FUNCTION}\n"


def test_exec_failures_name_the_variable_and_run_nothing(tool: Exec, key: dict[str, str], student: dict[str, str],
                                                         tmp_path: Path, sensitive: Any) -> None:
    sensitive.add("confidential-value")
    marker = tmp_path / "ran"
    command = ("--", "sh", "-c", f"touch {marker}")
    other_function = tool.encrypt(key["alias"], "confidential-value", function="another-function")
    cases = [
        # Encrypted for another function: the context does not match.
        (("--decrypt", "USER_NAME"), {"USER_NAME": other_function}, b"InvalidCiphertextException"),
        (("--decrypt-all",), {"USER_NAME": other_function}, b"InvalidCiphertextException"),
        # Not ciphertext at all.
        (("--decrypt", "USER_NAME"), {"USER_NAME": "confidential-value"}, b"not base64"),
        # Not set.
        (("--decrypt", "USER_NAME"), {}, b"no such variable"),
        # Secrets that are not there, or keys a secret does not have.
        ((), {"USER_NAME": "{{resolve:secretsmanager:no-such-secret:SecretString:Password}}"},
         b"ResourceNotFoundException"),
        ((), {"USER_NAME": "{{resolve:secretsmanager:student:SecretString:NoSuchKey}}"}, b"NoSuchKey"),
        ((), {"USER_NAME": "{{resolve:secretsmanager:student:SecretString:Password:NO_SUCH_STAGE}}"},
         b"ResourceNotFoundException"),
        ((), {"USER_NAME": "{{resolve:secretsmanager:student:SecretString:Password"}, b"closing"),
        ((), {"USER_NAME": "{{resolve:secretsmanager:student:SecretBinary}}"}, b"SecretString"),
    ]
    for args, env, why in cases:
        result = tool.run("exec", "--function", FUNCTION, *args, *command, env=env)
        label = f"{args} {why!r}"
        assert result.returncode == 125, f"{label}: {result.returncode} {result.stderr!r}"
        assert b"USER_NAME" in result.stderr, f"{label}: {result.stderr!r}"
        assert why in result.stderr, f"{label}: {result.stderr!r}"
        for plaintext in (b"confidential-value", b"lab_password", b"student\n"):
            if env.get("USER_NAME") != plaintext.decode():
                assert plaintext not in result.stdout + result.stderr, label
        assert not marker.exists(), f"{label}: the command ran"


# --------------------------------------------------------------------------------------
# The seed lab
# --------------------------------------------------------------------------------------


def test_seed_lab_code_runs_unchanged(tool: Exec, key: dict[str, str], student: dict[str, str],
                                      tmp_path: Path) -> None:
    """The loadtest function's getUserName()/getPassword(), bare boto3 clients and all: the
    user name encrypted as the console's helper does, the password in the secret `student`."""
    app = tmp_path / "app.py"
    app.write_text(SEED_APP)
    user = tool.encrypt("alias/UserName", "student")
    env = {"USER_NAME": user, "API_URL": "https://example.invalid/Prod/count"}
    out = json.loads(tool.ok("exec", "--function", FUNCTION, "--", sys.executable, str(app), env=env))
    assert out == {"user": sha("student"), "password": sha("lab_password"), "exception": False}

    # Under another function name the user name does not decrypt (its context is bound to
    # loadtest), exactly as in Lambda.
    out = json.loads(tool.ok("exec", "--function", "another-function", "--", sys.executable, str(app), env=env))
    assert out["user"] is None and out["exception"] is True
