"""Secret rotation with a rotation function, as Secrets Manager does it: RotateSecret,
the four steps (createSecret, setSecret, testSecret, finishSecret) invoked on a Python
function of our own, the retry of a failed rotation, CancelRotateSecret, and the rotation
of a real PostgreSQL role's password."""

import json
import sys
import time
import uuid
from typing import Any, Callable

import pg8000.native
import pytest

from conftest import ACCOUNT_ID, REGION, SERVICE_POSTGRES, KeywardServer, client_error, unique
from test_audit import attr, lookup_all
from test_iam import allow, boto, document
from test_lambda import lambda_role, zip_of

PASSWORD_GROUP = "keyward_password_login"
WAIT = 60.0  # seconds a rotation gets to end

# A single-user PostgreSQL rotation function written like AWS's template for it.
POSTGRES_ROTATION = '''
import json

import boto3
import pg8000.native


def lambda_handler(event, context):
    arn = event["SecretId"]
    token = event["ClientRequestToken"]
    step = event["Step"]
    client = boto3.client("secretsmanager")
    metadata = client.describe_secret(SecretId=arn)
    if not metadata["RotationEnabled"]:
        raise ValueError("Secret %s is not enabled for rotation" % arn)
    versions = metadata["VersionIdsToStages"]
    if token not in versions:
        raise ValueError("Secret version %s has no stage for rotation of secret %s." % (token, arn))
    if "AWSCURRENT" in versions[token]:
        print("Secret version %s already set as AWSCURRENT for secret %s." % (token, arn))
        return
    if "AWSPENDING" not in versions[token]:
        raise ValueError("Secret version %s not set as AWSPENDING for rotation of secret %s." % (token, arn))
    STEPS[step](client, arn, token)


def secret_dict(client, arn, stage, token=None):
    kwargs = {"SecretId": arn, "VersionStage": stage}
    if token:
        kwargs["VersionId"] = token
    return json.loads(client.get_secret_value(**kwargs)["SecretString"])


def connect(secret):
    return pg8000.native.Connection(
        user=secret["username"], password=secret["password"], host=secret["host"],
        port=int(secret["port"]), database=secret["dbname"], timeout=10)


def create_secret(client, arn, token):
    current = secret_dict(client, arn, "AWSCURRENT")
    try:
        secret_dict(client, arn, "AWSPENDING", token)
        print("createSecret: Successfully retrieved secret for %s." % arn)
    except client.exceptions.ResourceNotFoundException:
        current["password"] = client.get_random_password(
            PasswordLength=24, ExcludeCharacters="/@\\"'\\\\")["RandomPassword"]
        client.put_secret_value(SecretId=arn, ClientRequestToken=token,
                                SecretString=json.dumps(current), VersionStages=["AWSPENDING"])
        print("createSecret: Successfully put secret for ARN %s and version %s." % (arn, token))


def set_secret(client, arn, token):
    FAIL_IN_SET_SECRET
    pending = secret_dict(client, arn, "AWSPENDING", token)
    try:
        connect(pending).close()
        print("setSecret: AWSPENDING secret is already set as password in PostgreSQL DB for secret arn %s." % arn)
        return
    except pg8000.exceptions.DatabaseError:
        pass
    current = secret_dict(client, arn, "AWSCURRENT")
    conn = connect(current)
    conn.run("ALTER USER " + pg8000.native.identifier(pending["username"])
             + " WITH PASSWORD " + pg8000.native.literal(pending["password"]))
    conn.close()
    print("setSecret: Successfully set password for user %s in PostgreSQL DB for secret arn %s." % (pending["username"], arn))


def test_secret(client, arn, token):
    conn = connect(secret_dict(client, arn, "AWSPENDING", token))
    conn.run("SELECT NOW()")
    conn.close()
    print("testSecret: Successfully signed into PostgreSQL DB with AWSPENDING secret in %s." % arn)


def finish_secret(client, arn, token):
    metadata = client.describe_secret(SecretId=arn)
    current_version = None
    for version in metadata["VersionIdsToStages"]:
        if "AWSCURRENT" in metadata["VersionIdsToStages"][version]:
            if version == token:
                print("finishSecret: Version %s already marked as AWSCURRENT for %s" % (version, arn))
                return
            current_version = version
            break
    client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                       MoveToVersionId=token, RemoveFromVersionId=current_version)
    print("finishSecret: Successfully set AWSCURRENT stage to version %s for secret %s." % (token, arn))


STEPS = {"createSecret": create_secret, "setSecret": set_secret,
         "testSecret": test_secret, "finishSecret": finish_secret}
'''


def rotation_source(*, fail_in_set_secret: bool = False) -> str:
    failure = 'raise RuntimeError("setSecret is broken on purpose")' if fail_in_set_secret else "pass"
    return POSTGRES_ROTATION.replace("FAIL_IN_SET_SECRET", failure)


@pytest.fixture(scope="module")
def rot_server(keyward) -> KeywardServer:
    # Jobs every second and a first retry after one second, so that a retry is seen here.
    return keyward(name="rotation", args=(
        "--enable-functions", "--python", sys.executable,
        "--job-interval-seconds", "1", "--rotation-retry-seconds", "1"))


@pytest.fixture
def pg_role():
    """A PostgreSQL role that logs in with its password; yields (name, password, url)."""
    if not SERVICE_POSTGRES:
        pytest.skip("KEYWARD_TEST_POSTGRES is not set (scripts/test.sh sets it)")
    admin = admin_connection()
    admin.run(f"DO $$ BEGIN CREATE ROLE {PASSWORD_GROUP} NOLOGIN; "
              "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    name = "rot_" + uuid.uuid4().hex[:12]
    password = "initial-" + uuid.uuid4().hex
    admin.run(f"CREATE ROLE {name} LOGIN PASSWORD {pg8000.native.literal(password)} IN ROLE {PASSWORD_GROUP}")
    yield name, password
    admin.run(f"DROP ROLE IF EXISTS {name}")
    admin.close()


def server_address() -> tuple[str, int]:
    rest = SERVICE_POSTGRES.split("@", 1)[1]
    host, port = rest.rsplit(":", 1)
    return host, int(port)


def admin_connection() -> pg8000.native.Connection:
    user = SERVICE_POSTGRES.split("://", 1)[1].split("@", 1)[0]
    host, port = server_address()
    return pg8000.native.Connection(user=user, host=host, port=port, database="postgres", timeout=10)


def logs_in(user: str, password: str) -> bool:
    host, port = server_address()
    try:
        pg8000.native.Connection(user=user, password=password, host=host, port=port,
                                 database="postgres", timeout=10).close()
        return True
    except pg8000.exceptions.DatabaseError:
        return False


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def rotation_function(server: KeywardServer, source: str) -> str:
    """A function running `source`, with a role that may use Secrets Manager; its ARN."""
    role = lambda_role(server, "secretsmanager:*")
    name = unique("rotator")
    created = boto(server, "lambda").create_function(
        FunctionName=name, Runtime="python3.11", Handler="app.lambda_handler", Role=role,
        Code={"ZipFile": zip_of({"app.py": source})}, Timeout=30)
    return created["FunctionArn"]


def db_secret(server: KeywardServer, user: str, password: str) -> str:
    host, port = server_address()
    value = {"engine": "postgres", "host": host, "port": port, "username": user,
             "password": password, "dbname": "postgres"}
    return boto(server, "secretsmanager").create_secret(
        Name=unique("db"), SecretString=json.dumps(value))["ARN"]


def current_password(sm: Any, arn: str) -> str:
    return json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])["password"]


def rotation_events(server: KeywardServer, arn: str) -> list[str]:
    ct = boto(server, "cloudtrail")
    return [e["EventName"] for e in lookup_all(ct, **attr("ResourceName", arn))
            if e["EventName"].startswith("Rotation")]


def test_rotation_changes_a_postgres_password(rot_server, pg_role, aws_for, sensitive):
    user, password = pg_role
    sensitive.add(password)
    aws = aws_for(rot_server)
    sm = boto(rot_server, "secretsmanager")
    arn = db_secret(rot_server, user, password)
    function = rotation_function(rot_server, rotation_source())
    assert logs_in(user, password)

    # Started with the stock CLI, as in AWS's documentation.
    started = aws("secretsmanager", "rotate-secret", "--secret-id", arn,
                       "--rotation-lambda-arn", function,
                       "--rotation-rules", '{"AutomaticallyAfterDays": 30}')
    token = started["VersionId"]
    assert started["ARN"] == arn

    def rotated() -> bool:
        return sm.describe_secret(SecretId=arn)["VersionIdsToStages"].get(token) == ["AWSCURRENT"]

    wait_until(rotated, "the rotation to move AWSCURRENT")
    new_password = current_password(sm, arn)
    sensitive.add(new_password)
    assert new_password != password
    assert logs_in(user, new_password), "the new password logs in"
    assert not logs_in(user, password), "the old password no longer does"

    described = sm.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"] == function
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 30
    last = described["LastRotatedDate"].timestamp()
    assert abs(last - time.time()) < 120
    assert abs(described["NextRotationDate"].timestamp() - (last + 30 * 86400)) < 120
    # The old version is AWSPREVIOUS and still holds the old password.
    previous = sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")
    assert json.loads(previous["SecretString"])["password"] == password
    assert not any("AWSPENDING" in stages for stages in described["VersionIdsToStages"].values())
    wait_until(lambda: "RotationSucceeded" in rotation_events(rot_server, arn), "RotationSucceeded")
    assert "RotationStarted" in rotation_events(rot_server, arn)

    # Rotating again works the same way.
    again = sm.rotate_secret(SecretId=arn)["VersionId"]
    wait_until(lambda: sm.describe_secret(SecretId=arn)["VersionIdsToStages"].get(again) == ["AWSCURRENT"],
               "the second rotation")
    third = current_password(sm, arn)
    sensitive.add(third)
    assert logs_in(user, third) and not logs_in(user, new_password)


def test_failed_rotation_keeps_the_old_value_and_is_retried(rot_server, pg_role, sensitive):
    user, password = pg_role
    sensitive.add(password)
    sm = boto(rot_server, "secretsmanager")
    lam = boto(rot_server, "lambda")
    arn = db_secret(rot_server, user, password)
    function = rotation_function(rot_server, rotation_source(fail_in_set_secret=True))
    token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=function)["VersionId"]

    wait_until(lambda: "RotationFailed" in rotation_events(rot_server, arn), "RotationFailed")
    # The secret still reads its old value; AWSPENDING holds the new one createSecret put.
    assert current_password(sm, arn) == password
    assert logs_in(user, password)
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert stages[token] == ["AWSPENDING"]
    pending = sm.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")
    sensitive.add(json.loads(pending["SecretString"])["password"])
    # A new rotation is refused while this one is unfinished.
    code, message = client_error(sm.rotate_secret, SecretId=arn)
    assert code == "InvalidRequestException", (code, message)
    assert "previous rotation isn't complete" in message

    # Fixed, the function's next retry (the scheduler's) finishes the same rotation.
    lam.update_function_code(FunctionName=function,
                             ZipFile=zip_of({"app.py": rotation_source()}))
    wait_until(lambda: sm.describe_secret(SecretId=arn)["VersionIdsToStages"].get(token) == ["AWSCURRENT"],
               "the retried rotation")
    new_password = current_password(sm, arn)
    assert new_password != password
    assert logs_in(user, new_password) and not logs_in(user, password)


def echo_rotation_function(server: KeywardServer) -> str:
    """A rotation function that rotates a plain string secret and prints every step."""
    return rotation_function(server, '''
import boto3

def lambda_handler(event, context):
    client = boto3.client("secretsmanager")
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    print("step", step, "token", token)
    if step == "createSecret":
        try:
            client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        except client.exceptions.ResourceNotFoundException:
            client.put_secret_value(SecretId=arn, ClientRequestToken=token,
                                    SecretString="rotated-" + token, VersionStages=["AWSPENDING"])
    elif step == "finishSecret":
        stages = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
        current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
        if current != token:
            client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                               MoveToVersionId=token, RemoveFromVersionId=current)
''')


def test_pending_version_is_empty_until_the_function_fills_it(rot_server):
    sm = boto(rot_server, "secretsmanager")
    function = echo_rotation_function(rot_server)
    arn = sm.create_secret(Name=unique("plain"), SecretString="v1")["ARN"]
    # Configured without rotating: nothing happens until the window.
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=function, RotateImmediately=False,
                     RotationRules={"ScheduleExpression": "rate(4 hours)", "Duration": "2h"})
    described = sm.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is True
    assert described["RotationRules"] == {"ScheduleExpression": "rate(4 hours)", "Duration": "2h"}
    assert abs(described["NextRotationDate"].timestamp() - (time.time() + 4 * 3600)) < 120
    assert "LastRotatedDate" not in described
    assert len(described["VersionIdsToStages"]) == 1

    token = sm.rotate_secret(SecretId=arn, ClientRequestToken=str(uuid.uuid4()))["VersionId"]
    wait_until(lambda: sm.get_secret_value(SecretId=arn)["SecretString"] == "rotated-" + token,
               "the rotated value")
    versions = {v["VersionId"]: v["VersionStages"]
                for v in sm.list_secret_version_ids(SecretId=arn)["Versions"]}
    assert versions[token] == ["AWSCURRENT"]
    assert sorted(map(tuple, versions.values())) == [("AWSCURRENT",), ("AWSPREVIOUS",)]


def test_empty_pending_version_reads_as_not_found(rot_server):
    sm = boto(rot_server, "secretsmanager")
    # A function that never puts the value: the rotation fails after createSecret.
    function = rotation_function(rot_server, "def lambda_handler(event, context):\n    return None\n")
    arn = sm.create_secret(Name=unique("empty"), SecretString="v1")["ARN"]
    token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=function)["VersionId"]
    assert sm.describe_secret(SecretId=arn)["VersionIdsToStages"][token] == ["AWSPENDING"]
    code, message = client_error(sm.get_secret_value, SecretId=arn, VersionStage="AWSPENDING")
    assert code == "ResourceNotFoundException", (code, message)
    code, message = client_error(sm.get_secret_value, SecretId=arn, VersionId=token)
    assert code == "ResourceNotFoundException", (code, message)
    # AWSCURRENT can't be moved onto a version without a value.
    current = next(v for v, s in sm.describe_secret(SecretId=arn)["VersionIdsToStages"].items()
                   if "AWSCURRENT" in s)
    code, _ = client_error(sm.update_secret_version_stage, SecretId=arn, VersionStage="AWSCURRENT",
                           MoveToVersionId=token, RemoveFromVersionId=current)
    assert code == "InvalidRequestException"
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "v1"
    wait_until(lambda: "RotationFailed" in rotation_events(rot_server, arn), "RotationFailed")
    # Cancelled, the rotation stops being retried; its configuration stays.
    cancelled = sm.cancel_rotate_secret(SecretId=arn)
    assert cancelled["ARN"] == arn and cancelled["VersionId"] == token
    described = sm.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is False
    assert described["RotationLambdaARN"] == function
    assert "NextRotationDate" not in described
    code, _ = client_error(sm.cancel_rotate_secret, SecretId=arn)
    assert code == "InvalidRequestException"


def test_rotation_errors(rot_server, server, keyward):
    sm = boto(rot_server, "secretsmanager")
    arn = sm.create_secret(Name=unique("errs"), SecretString="v1")["ARN"]
    code, message = client_error(sm.rotate_secret, SecretId=arn)
    assert (code, message) == ("InvalidRequestException",
                               "No Lambda rotation function ARN is associated with this secret.")
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{unique('nope')}"
    code, message = client_error(sm.rotate_secret, SecretId=arn, RotationLambdaARN=missing)
    assert code == "AccessDeniedException", (code, message)
    function = echo_rotation_function(rot_server)
    unchecked = boto(rot_server, "secretsmanager", validate=False)
    for rules, expected in (
            ({"AutomaticallyAfterDays": 0}, "ValidationException"),  # the model's bound
            ({"ScheduleExpression": "rate(1 hour)"}, "InvalidParameterException"),
            ({"ScheduleExpression": "cron(0 16 1 * * *)"}, "InvalidParameterException"),
            ({"AutomaticallyAfterDays": 5, "ScheduleExpression": "rate(5 days)"}, "InvalidParameterException"),
            ({"AutomaticallyAfterDays": 1, "Duration": "25h"}, "InvalidParameterException")):
        code, message = client_error(unchecked.rotate_secret, SecretId=arn,
                                     RotationLambdaARN=function, RotationRules=rules)
        assert code == expected, (rules, code, message)
    code, _ = client_error(sm.rotate_secret, SecretId=unique("absent"), RotationLambdaARN=function)
    assert code == "ResourceNotFoundException"
    code, _ = client_error(sm.cancel_rotate_secret, SecretId=arn)
    assert code == "InvalidRequestException"
    # Nothing above configured rotation.
    assert "RotationEnabled" not in sm.describe_secret(SecretId=arn)

    # A user without lambda:InvokeFunction on the function may not make it the rotator.
    iam = boto(rot_server, "iam")
    name = unique("user")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="sm",
                        PolicyDocument=document(allow("secretsmanager:*")))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    as_user = boto(rot_server, "secretsmanager", key)
    code, _ = client_error(as_user.rotate_secret, SecretId=arn, RotationLambdaARN=function)
    assert code == "AccessDeniedException"

    # Without --enable-functions there is nothing to rotate with.
    plain = boto(server, "secretsmanager")
    other = plain.create_secret(Name=unique("nofn"), SecretString="v1")["ARN"]
    code, message = client_error(plain.rotate_secret, SecretId=other, RotationLambdaARN=function)
    assert code == "InvalidRequestException" and "--enable-functions" in message


def test_rotation_survives_a_restart(keyward):
    srv = keyward(name="rotation-restart", args=(
        "--enable-functions", "--python", sys.executable, "--job-interval-seconds", "1"))
    sm = boto(srv, "secretsmanager")
    function = echo_rotation_function(srv)
    arn = sm.create_secret(Name=unique("kept"), SecretString="v1")["ARN"]
    token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=function,
                             RotationRules={"AutomaticallyAfterDays": 7})["VersionId"]
    # Finished: the server took AWSPENDING off and recorded the rotation.
    before = wait_until(lambda: (lambda d: d if "LastRotatedDate" in d else None)(
        sm.describe_secret(SecretId=arn)), "the rotation")
    assert before["VersionIdsToStages"][token] == ["AWSCURRENT"]
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "rotated-" + token
    srv.restart()
    after = boto(srv, "secretsmanager").describe_secret(SecretId=arn)
    for member in ("RotationEnabled", "RotationLambdaARN", "RotationRules", "LastRotatedDate",
                   "NextRotationDate", "VersionIdsToStages"):
        assert after[member] == before[member], member


def test_scheduler_rotates_when_the_window_comes(rot_server):
    sm = boto(rot_server, "secretsmanager")
    function = echo_rotation_function(rot_server)
    arn = sm.create_secret(Name=unique("sched"), SecretString="v1")["ARN"]
    # Every minute: the next window opens within 60 seconds, and nothing rotates before.
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=function, RotateImmediately=False,
                     RotationRules={"ScheduleExpression": "cron(* * * * ? *)"})
    next_at = sm.describe_secret(SecretId=arn)["NextRotationDate"].timestamp()
    assert time.time() - 1 < next_at <= time.time() + 61
    described = wait_until(lambda: (lambda d: d if "LastRotatedDate" in d else None)(
        sm.describe_secret(SecretId=arn)), "the scheduled rotation", timeout=120)
    assert described["LastRotatedDate"].timestamp() >= next_at - 1
    assert sm.get_secret_value(SecretId=arn)["SecretString"].startswith("rotated-")
    # The next window is the next minute after that rotation.
    assert described["NextRotationDate"].timestamp() > described["LastRotatedDate"].timestamp()
    sm.cancel_rotate_secret(SecretId=arn)
