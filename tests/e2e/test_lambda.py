"""Functions: the seed lab's `loadtest` function created and invoked with the stock aws CLI,
run by Keyward as a local process through the official runtime interface client."""

import base64
import http.server
import io
import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCOUNT_ID, REGION, AwsCli, KeywardServer, client_error, keyward_bin, stored_bytes, unique
from test_iam import allow, boto, document, new_role

LAB_HANDLER = '''
import json
import os
import urllib.request
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


def lambda_handler(event, context):
    user = getUserName()
    getPassword(user)
    print("API response:")
    for _ in range(int(event['NumberOfCallsPerUser'])):
        with urllib.request.urlopen(os.environ['API_URL'] + '?user=' + user, timeout=10) as r:
            print(r.read())
    return {"statusCode": 200, "calls": int(event['NumberOfCallsPerUser'])}
'''


def zip_of(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


class NotesApi:
    """The lab's API Gateway endpoint, on loopback: counts the calls it gets."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                api.calls.append(self.path)
                body = b"# of notes available for 'student':5"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/Prod/count"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def fn_server(keyward) -> KeywardServer:
    return keyward(name="lambda", args=("--enable-functions", "--python", sys.executable))


@pytest.fixture(scope="module")
def fn_aws(fn_server: KeywardServer, aws_for) -> AwsCli:
    return aws_for(fn_server)


@pytest.fixture
def notes_api():
    api = NotesApi()
    yield api
    api.close()


def lambda_role(server: KeywardServer, *actions: str) -> str:
    trust = document({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                      "Action": "sts:AssumeRole"})
    policy = document(allow(list(actions))) if actions else None
    return new_role(server, trust, policy=policy)["Arn"]


def create(server: KeywardServer, name: str, handler_source: str, *, timeout: int = 3,
           variables: dict[str, str] | None = None, role: str | None = None) -> dict[str, Any]:
    lam = boto(server, "lambda")
    return lam.create_function(
        FunctionName=name, Runtime="python3.11", Handler="app.lambda_handler",
        Role=role or lambda_role(server), Code={"ZipFile": zip_of({"app.py": handler_source})},
        Timeout=timeout, Environment={"Variables": variables or {}},
    )


def test_seed_lab_loadtest_end_to_end(fn_server, fn_aws, notes_api, sensitive, tmp_path):
    sensitive.add("lab_password")
    aws = fn_aws
    key_id = aws("kms", "create-key", "--description", "Encryption key for the TranscriptionApp.")["KeyMetadata"]["KeyId"]
    aws("kms", "create-alias", "--alias-name", "alias/UserName", "--target-key-id", key_id)
    # What `keyward env encrypt` and the console's helper make: a ciphertext bound to the
    # function's name, which the function decrypts itself.
    user_name = aws("kms", "encrypt", "--key-id", "alias/UserName", "--plaintext", "student",
                    "--encryption-context", "LambdaFunctionName=loadtest",
                    "--output", "text", "--query", "CiphertextBlob")
    aws("secretsmanager", "create-secret", "--name", "student",
        "--description", "Encrypted password for student user",
        "--secret-string", '{"Password":"lab_password"}')
    role = lambda_role(fn_server, "kms:Decrypt", "secretsmanager:GetSecretValue")

    code = tmp_path / "loadtest.zip"
    code.write_bytes(zip_of({"app.py": LAB_HANDLER}))
    created = aws("lambda", "create-function", "--function-name", "loadtest",
                  "--runtime", "python3.11", "--handler", "app.lambda_handler",
                  "--role", role, "--zip-file", f"fileb://{code}", "--timeout", "30",
                  "--environment", json.dumps({"Variables": {"USER_NAME": user_name,
                                                             "API_URL": notes_api.url}}))
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:loadtest"
    assert created["State"] == "Active" and created["Version"] == "$LATEST"
    assert created["CodeSize"] == code.stat().st_size
    assert created["Environment"]["Variables"]["USER_NAME"] == user_name

    # The lab's command, word for word (the CLI v1 here sends the payload as given).
    out = tmp_path / "out"
    tail = aws("lambda", "invoke", "--function-name", "loadtest",
               "--payload", '{"NumberOfCallsPerUser": "1"}', str(out),
               "--log-type", "Tail", "--query", "LogResult", "--output", "text")
    log = base64.b64decode(tail).decode()
    lines = log.splitlines()
    assert lines[0].startswith("START RequestId: ") and lines[0].endswith(" Version: $LATEST"), log
    request_id = lines[0].split()[2]
    assert "UserName decrypted using KMS key:student" in lines, log
    assert "Password retrieved from Secrets Manager:lab_password" in lines, log
    assert "b\"# of notes available for 'student':5\"" in lines, log
    assert f"END RequestId: {request_id}" in lines, log
    report = next(line for line in lines if line.startswith("REPORT "))
    assert report.startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    for part in ("Billed Duration: ", "Memory Size: 128 MB", "Max Memory Used: ", "Init Duration: "):
        assert part in report, report
    assert json.loads(out.read_text()) == {"statusCode": 200, "calls": 1}
    assert notes_api.calls == ["/Prod/count?user=student"]

    # A warm process: no Init Duration; three calls this time.
    tail = aws("lambda", "invoke", "--function-name", "loadtest",
               "--payload", '{"NumberOfCallsPerUser": "3"}', str(out),
               "--log-type", "Tail", "--query", "LogResult", "--output", "text")
    log = base64.b64decode(tail).decode()
    assert "Init Duration" not in log and "Password retrieved from Secrets Manager:lab_password" in log
    assert len(notes_api.calls) == 4


def test_missing_function_is_resource_not_found(fn_server, fn_aws, tmp_path):
    code, message = client_error(boto(fn_server, "lambda").invoke, FunctionName="nothere")
    assert code == "ResourceNotFoundException"
    assert message == f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:nothere"
    assert fn_aws.error("lambda", "get-function", "--function-name", "nothere") == "ResourceNotFoundException"
    assert fn_aws.error("lambda", "invoke", "--function-name", "nothere", str(tmp_path / "o")) \
        == "ResourceNotFoundException"


def invoke(server: KeywardServer, name: str, payload: Any = None) -> tuple[dict[str, Any], Any, str]:
    response = boto(server, "lambda").invoke(
        FunctionName=name, Payload=json.dumps(payload or {}).encode(), LogType="Tail")
    body = json.loads(response["Payload"].read() or b"null")
    return response, body, base64.b64decode(response["LogResult"]).decode()


def test_handler_exception_is_unhandled(fn_server):
    name = unique("boom")
    create(fn_server, name, "def lambda_handler(event, context):\n    raise ValueError('it broke: ' + event['why'])\n")
    response, body, log = invoke(fn_server, name, {"why": "on purpose"})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert response["ExecutedVersion"] == "$LATEST"
    assert body["errorMessage"] == "it broke: on purpose"
    assert body["errorType"] == "ValueError"
    assert isinstance(body["stackTrace"], list)
    assert "it broke: on purpose" in log and "END RequestId" in log
    # The process stays warm after a handled failure, and the next call works.
    response, body, _ = invoke(fn_server, name, {"why": "again"})
    assert body["errorMessage"] == "it broke: again"


def test_timeout_kills_the_process(fn_server):
    name = unique("slow")
    create(fn_server, name, "import time\ndef lambda_handler(event, context):\n    time.sleep(30)\n", timeout=1)
    response, body, log = invoke(fn_server, name)
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    assert "Task timed out after 1.00 seconds" in log


def test_init_crash_is_unhandled(fn_server):
    name = unique("noimport")
    create(fn_server, name, "import no_such_module_here\ndef lambda_handler(event, context):\n    return 1\n")
    response, body, log = invoke(fn_server, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module_here" in body["errorMessage"]


def test_functions_are_off_by_default(server, aws):
    assert aws.error("lambda", "list-functions") == "AccessDeniedException"
    code, message = client_error(boto(server, "lambda").list_functions)
    assert code == "AccessDeniedException" and "--enable-functions" in message


def test_role_must_trust_lambda(fn_server):
    untrusting = new_role(fn_server, document({"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID},
                                               "Action": "sts:AssumeRole"}))["Arn"]
    code, message = client_error(create, fn_server, unique("f"), "x = 1\n", role=untrusting)
    assert code == "InvalidParameterValueException"
    assert message == "The role defined for the function cannot be assumed by Lambda."


def test_variables_are_encrypted_at_rest(fn_server, sensitive):
    marker = "marker-" + unique("plain")
    sensitive.add(marker)
    name = unique("envfn")
    create(fn_server, name, "import os\ndef lambda_handler(event, context):\n    return os.environ['MARKER'] == event['m']\n",
           variables={"MARKER": marker})
    _, body, _ = invoke(fn_server, name, {"m": marker})
    assert body is True
    assert marker.encode() not in stored_bytes(fn_server)


def test_manage_functions_with_boto3(fn_server):
    lam = boto(fn_server, "lambda")
    name = unique("mgmt")
    created = create(fn_server, name, "def lambda_handler(event, context):\n    return 'v1'\n",
                     variables={"ALPHA": "1", "BETA": "2"})
    got = lam.get_function(FunctionName=name)["Configuration"]
    assert got["CodeSha256"] == created["CodeSha256"]
    assert got["Environment"]["Variables"] == {"ALPHA": "1", "BETA": "2"}
    by_arn = lam.get_function_configuration(FunctionName=created["FunctionArn"])
    assert by_arn["FunctionName"] == name
    assert name in [f["FunctionName"] for f in lam.list_functions()["Functions"]]

    updated = lam.update_function_configuration(FunctionName=name, Timeout=7,
                                                Environment={"Variables": {"GAMMA": "3"}})
    assert updated["Timeout"] == 7
    assert updated["Environment"]["Variables"] == {"GAMMA": "3"}  # replaced whole, as in AWS
    assert updated["RevisionId"] != created["RevisionId"]

    lam.update_function_code(FunctionName=name, ZipFile=zip_of(
        {"app.py": "def lambda_handler(event, context):\n    return 'v2'\n"}))
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "v2"
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    assert lam.invoke(FunctionName=name, InvocationType="Event")["StatusCode"] == 202

    code, _ = client_error(create, fn_server, name, "x = 1\n")
    assert code == "ResourceConflictException"
    code, _ = client_error(lam.create_function, FunctionName=unique("bad"), Runtime="nodejs20.x",
                           Handler="index.handler", Role=created["Role"], Code={"ZipFile": b"PK"})
    assert code == "InvalidParameterValueException"
    code, message = client_error(lam.create_function, FunctionName=unique("bad"), Runtime="python3.11",
                                 Handler="app.h", Role=created["Role"], Code={"ZipFile": b"not a zip"})
    assert code == "InvalidParameterValueException" and "Could not unzip" in message

    lam.delete_function(FunctionName=name)
    code, _ = client_error(lam.get_function, FunctionName=name)
    assert code == "ResourceNotFoundException"


def test_calls_are_authorized_and_audited(fn_server, sensitive):
    from test_audit import lookup_all, make_cloudtrail
    from test_iam import new_user

    marker = "audit-" + unique("secret")
    sensitive.add(marker)
    name = unique("audited")
    create(fn_server, name, "def lambda_handler(event, context):\n    return 1\n", variables={"MARKER": marker})
    invoke(fn_server, name, {"payload": marker})

    # A user with no Lambda permission is refused, as Lambda refuses it.
    nobody = new_user(fn_server, sensitive)
    code, message = client_error(nobody.client("lambda").invoke, FunctionName=name)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {nobody.arn} is not authorized to perform: lambda:InvokeFunction on resource: "
                              f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}")
    # One allowed to invoke that function may.
    invoker = new_user(fn_server, sensitive, policy=document(allow(
        "lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}")))
    assert json.loads(invoker.client("lambda").invoke(FunctionName=name)["Payload"].read()) == 1
    code, _ = client_error(invoker.client("lambda").delete_function, FunctionName=name)
    assert code == "AccessDeniedException"

    events = lookup_all(make_cloudtrail(fn_server), LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": "lambda.amazonaws.com"}])
    names = {e["EventName"] for e in events}
    assert {"CreateFunction", "Invoke"} <= names
    records = [e["CloudTrailEvent"] for e in events]
    assert any(name in r for r in records)
    assert not any(marker in r for r in records), "a variable or payload reached the audit trail"


def test_event_invocations_run_in_the_background(fn_server, tmp_path):
    name = unique("event")
    done = tmp_path / "done"
    create(fn_server, name, f"def lambda_handler(event, context):\n    open({str(done)!r}, 'w').write(event['v'])\n")
    response = boto(fn_server, "lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b'{"v": "ran"}')
    assert response["StatusCode"] == 202
    for _ in range(100):
        if done.exists() and done.read_text() == "ran":
            break
        import time
        time.sleep(0.1)
    assert done.read_text() == "ran"


def test_processes_end_with_the_server(keyward):
    srv = keyward(name="lambda-stop", args=("--enable-functions", "--python", sys.executable))
    name = unique("pid")
    create(srv, name, "import os\ndef lambda_handler(event, context):\n    return os.getpid()\n")
    _, pid, log = invoke(srv, name)
    assert Path(f"/proc/{pid}").exists()
    # Warm: the same process answers again, without an Init Duration.
    _, again, log = invoke(srv, name)
    assert again == pid and "Init Duration" not in log
    srv.stop()
    assert process_ends(pid)


def process_ends(pid: int) -> bool:
    """Whether process `pid` is gone (or a zombie) within five seconds."""
    import time

    def gone() -> bool:
        try:
            return "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        except FileNotFoundError:
            return True

    for _ in range(50):
        if gone():
            return True
        time.sleep(0.1)
    return gone()


def test_processes_end_with_a_killed_server(keyward, tmp_path):
    """A server killed with SIGKILL cleans nothing up: the kernel ends its functions, even
    one busy in its handler (an idle one would also notice its Runtime API is gone)."""
    import time
    srv = keyward(name="lambda-kill", args=("--enable-functions", "--python", sys.executable))
    name = unique("busy")
    pid_file = tmp_path / "pid"
    create(srv, name, "import os, time\ndef lambda_handler(event, context):\n"
                      f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                      "    time.sleep(60)\n", timeout=120)
    boto(srv, "lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline, "the function never started"
        time.sleep(0.1)
    pid = int(pid_file.read_text())
    assert Path(f"/proc/{pid}").exists()
    assert srv.kill() == -9
    assert process_ends(pid), f"function process {pid} outlived its SIGKILLed server"


def test_large_bodies_only_when_functions_run(server):
    """Without --enable-functions no Lambda request body may be larger than any other's."""
    import urllib.error
    import urllib.request
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    request = urllib.request.Request(f"{server.endpoint}/2015-03-31/functions", data=big, method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 413
    assert info.value.headers["x-amzn-errortype"] == "RequestEntityTooLargeException"


def keyward_logs(server: KeywardServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(keyward_bin()), "logs", *args, "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})


def test_keyward_logs_prints_every_invocation(fn_server):
    name = unique("logged")
    arn = create(fn_server, name, "def lambda_handler(event, context):\n"
                                  "    print('hello from', event['n'])\n    return event['n']\n")["FunctionArn"]
    for n in (1, 2):
        invoke(fn_server, name, {"n": n})
    shown = keyward_logs(fn_server, name)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [line.split()[0] for line in lines if line.split()[:1] in (["START"], ["END"])] == \
        ["START", "END", "START", "END"]
    assert sum(line.startswith("REPORT RequestId:") for line in lines) == 2
    assert "hello from 1" in shown.stdout and "hello from 2" in shown.stdout
    assert sum("Init Duration" in line for line in lines) == 1  # one cold start
    # By ARN, and only the last lines.
    last = keyward_logs(fn_server, arn, "--tail", "1")
    assert last.returncode == 0 and last.stdout.startswith("REPORT RequestId:"), last
    missing = keyward_logs(fn_server, unique("never"))
    assert missing.returncode == 1 and "no logs" in missing.stderr
