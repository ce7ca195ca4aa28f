"""Secret versions and staging labels, idempotent retries, string and binary values.

AWS references (the botocore service model, which is the spec, says the same):
- PutSecretValue: "If you don't include VersionStages, then Secrets Manager automatically
  moves the staging label AWSCURRENT to this version ... also automatically moves the staging
  label AWSPREVIOUS to the version that AWSCURRENT was removed from." "If you call this
  operation with a ClientRequestToken that matches an existing version's VersionId, and you
  specify the same secret data, the operation succeeds but does nothing. However, if the
  secret data is different, then the operation fails".
- PutSecretValue VersionStages: "If you specify a staging label that's already associated
  with a different version of the same secret, then Secrets Manager removes the label from
  the other version and attaches it to this version."
- UpdateSecretVersionStage RemoveFromVersionId: "If the staging label you are trying to
  attach to one version is already attached to a different version, then you must include
  this parameter ... If the label is attached and you either do not specify this parameter,
  or the version ID does not match, then the operation fails."
- ListSecretVersionIds IncludeDeprecated: "Versions without staging labels are considered
  deprecated ... By default, versions without staging labels aren't included."
"""

from __future__ import annotations

import base64
import os
import random
import secrets as pysecrets
import string
import uuid

import pytest

from conftest import client_error, unique


def stages_of(sm, secret_id: str, include_deprecated: bool = True) -> dict[str, list[str]]:
    """VersionId -> sorted staging labels, from ListSecretVersionIds (all pages)."""
    out: dict[str, list[str]] = {}
    kwargs = {"SecretId": secret_id, "IncludeDeprecated": include_deprecated}
    for _ in range(100):
        page = sm.list_secret_version_ids(**kwargs)
        for v in page["Versions"]:
            out[v["VersionId"]] = sorted(v.get("VersionStages") or [])
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]
    raise AssertionError("ListSecretVersionIds did not stop paginating")


def value(sensitive, prefix: str = "v") -> str:
    v = f"{prefix}-{pysecrets.token_urlsafe(12)}"
    sensitive.add(v, "secret value")
    return v


def test_put_moves_current_and_previous(sm, aws, sensitive):
    name = unique("ver")
    v1, v2, v3 = value(sensitive, "one"), value(sensitive, "two"), value(sensitive, "three")
    a = sm.create_secret(Name=name, SecretString=v1)["VersionId"]
    assert stages_of(sm, name) == {a: ["AWSCURRENT"]}

    put = sm.put_secret_value(SecretId=name, SecretString=v2)
    b = put["VersionId"]
    assert put["VersionStages"] == ["AWSCURRENT"]
    assert put["Name"] == name
    assert stages_of(sm, name) == {a: ["AWSPREVIOUS"], b: ["AWSCURRENT"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v2
    prev = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert (prev["SecretString"], prev["VersionId"], prev["VersionStages"]) == (v1, a, ["AWSPREVIOUS"])

    # The CLI spelling of the same.
    out = aws("secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string", v3)
    c = out["VersionId"]
    # A loses its last label: deprecated, hidden unless IncludeDeprecated.
    assert stages_of(sm, name, include_deprecated=False) == {b: ["AWSPREVIOUS"], c: ["AWSCURRENT"]}
    assert stages_of(sm, name, include_deprecated=True) == {a: [], b: ["AWSPREVIOUS"], c: ["AWSCURRENT"]}
    described = sm.describe_secret(SecretId=name)
    assert {k: sorted(v) for k, v in described["VersionIdsToStages"].items()} == {
        b: ["AWSPREVIOUS"], c: ["AWSCURRENT"]}
    cli = aws("secretsmanager", "list-secret-version-ids", "--secret-id", name, "--include-deprecated")
    assert {v["VersionId"] for v in cli["Versions"]} == {a, b, c}

    # Reads by VersionId and by VersionStage.
    assert sm.get_secret_value(SecretId=name, VersionId=b)["SecretString"] == v2
    assert sm.get_secret_value(SecretId=name, VersionId=c)["SecretString"] == v3
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"] == v3
    got = sm.get_secret_value(SecretId=name, VersionId=c, VersionStage="AWSCURRENT")
    assert got["SecretString"] == v3

    # A VersionId that doesn't exist, a stage nobody holds, and both naming different versions.
    code, _ = client_error(sm.get_secret_value, SecretId=name, VersionId=str(uuid.uuid4()))
    assert code == "ResourceNotFoundException"
    code, _ = client_error(sm.get_secret_value, SecretId=name, VersionStage="NOBODY")
    assert code == "ResourceNotFoundException"
    code, _ = client_error(sm.get_secret_value, SecretId=name, VersionId=b, VersionStage="AWSCURRENT")
    assert code in ("ResourceNotFoundException", "InvalidParameterException", "InvalidRequestException")


def test_custom_stages(sm, sensitive):
    name = unique("custom")
    v1, v2, v3, v4 = (value(sensitive, p) for p in ("c1", "c2", "c3", "c4"))
    a = sm.create_secret(Name=name, SecretString=v1)["VersionId"]

    # A version with only a custom label: AWSCURRENT stays where it was.
    b = sm.put_secret_value(SecretId=name, SecretString=v2, VersionStages=["BLUE"])["VersionId"]
    assert stages_of(sm, name) == {a: ["AWSCURRENT"], b: ["BLUE"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v1
    assert sm.get_secret_value(SecretId=name, VersionStage="BLUE")["SecretString"] == v2

    # Putting BLUE again moves it; the old BLUE version is left with no label.
    c = sm.put_secret_value(SecretId=name, SecretString=v3, VersionStages=["BLUE", "GREEN"])["VersionId"]
    assert stages_of(sm, name) == {a: ["AWSCURRENT"], b: [], c: ["BLUE", "GREEN"]}
    assert stages_of(sm, name, include_deprecated=False) == {a: ["AWSCURRENT"], c: ["BLUE", "GREEN"]}

    # AWSCURRENT and a custom label together.
    d = sm.put_secret_value(SecretId=name, SecretString=v4, VersionStages=["AWSCURRENT", "RED"])["VersionId"]
    assert stages_of(sm, name) == {a: ["AWSPREVIOUS"], b: [], c: ["BLUE", "GREEN"], d: ["AWSCURRENT", "RED"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v4
    assert sorted(sm.get_secret_value(SecretId=name)["VersionStages"]) == ["AWSCURRENT", "RED"]


def test_update_secret_version_stage(sm, aws, sensitive):
    name = unique("stage")
    v1, v2, v3 = value(sensitive, "s1"), value(sensitive, "s2"), value(sensitive, "s3")
    a = sm.create_secret(Name=name, SecretString=v1)["VersionId"]
    b = sm.put_secret_value(SecretId=name, SecretString=v2)["VersionId"]
    c = sm.put_secret_value(SecretId=name, SecretString=v3)["VersionId"]
    assert stages_of(sm, name) == {a: [], b: ["AWSPREVIOUS"], c: ["AWSCURRENT"]}

    # Moving AWSCURRENT without saying where from is refused, and so is the wrong "from".
    code, _ = client_error(sm.update_secret_version_stage, SecretId=name, VersionStage="AWSCURRENT",
                           MoveToVersionId=a)
    assert code == "InvalidParameterException"
    code, _ = client_error(sm.update_secret_version_stage, SecretId=name, VersionStage="AWSCURRENT",
                           MoveToVersionId=a, RemoveFromVersionId=b)
    assert code == "InvalidParameterException"
    assert stages_of(sm, name) == {a: [], b: ["AWSPREVIOUS"], c: ["AWSCURRENT"]}

    # Roll back to the oldest version: AWSPREVIOUS follows to the version AWSCURRENT left.
    out = sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                         MoveToVersionId=a, RemoveFromVersionId=c)
    assert out["Name"] == name and out["ARN"].startswith("arn:aws:secretsmanager:")
    assert stages_of(sm, name) == {a: ["AWSCURRENT"], b: [], c: ["AWSPREVIOUS"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v1

    # Moving AWSCURRENT onto the AWSPREVIOUS version (the usual "roll back one" with the CLI).
    aws("secretsmanager", "update-secret-version-stage", "--secret-id", name, "--version-stage", "AWSCURRENT",
        "--move-to-version-id", c, "--remove-from-version-id", a)
    assert stages_of(sm, name) == {a: ["AWSPREVIOUS"], b: [], c: ["AWSCURRENT"]}

    # A custom label: attach, move (needs RemoveFromVersionId), remove.
    sm.update_secret_version_stage(SecretId=name, VersionStage="TEST", MoveToVersionId=b)
    assert stages_of(sm, name) == {a: ["AWSPREVIOUS"], b: ["TEST"], c: ["AWSCURRENT"]}
    assert sm.get_secret_value(SecretId=name, VersionStage="TEST")["SecretString"] == v2
    code, _ = client_error(sm.update_secret_version_stage, SecretId=name, VersionStage="TEST", MoveToVersionId=c)
    assert code == "InvalidParameterException"
    sm.update_secret_version_stage(SecretId=name, VersionStage="TEST", MoveToVersionId=c, RemoveFromVersionId=b)
    assert stages_of(sm, name) == {a: ["AWSPREVIOUS"], b: [], c: ["AWSCURRENT", "TEST"]}
    sm.update_secret_version_stage(SecretId=name, VersionStage="TEST", RemoveFromVersionId=c)
    assert stages_of(sm, name) == {a: ["AWSPREVIOUS"], b: [], c: ["AWSCURRENT"]}
    code, _ = client_error(sm.get_secret_value, SecretId=name, VersionStage="TEST")
    assert code == "ResourceNotFoundException"

    # Unknown version ids.
    code, _ = client_error(sm.update_secret_version_stage, SecretId=name, VersionStage="TEST",
                           MoveToVersionId=str(uuid.uuid4()))
    assert code in ("InvalidParameterException", "ResourceNotFoundException")


class StageModel:
    """AWS's documented staging-label rules, for comparison after every step."""

    def __init__(self, first: str) -> None:
        self.labels: dict[str, set[str]] = {first: {"AWSCURRENT"}}

    def holder(self, label: str) -> str | None:
        for vid, labels in self.labels.items():
            if label in labels:
                return vid
        return None

    def _attach(self, label: str, vid: str) -> None:
        old = self.holder(label)
        if old is not None:
            self.labels[old].discard(label)
        self.labels[vid].add(label)
        if label == "AWSCURRENT" and old is not None and old != vid:
            prev = self.holder("AWSPREVIOUS")
            if prev is not None:
                self.labels[prev].discard("AWSPREVIOUS")
            self.labels[old].add("AWSPREVIOUS")

    def put(self, vid: str, stages: list[str] | None) -> None:
        self.labels[vid] = set()
        for label in stages or ["AWSCURRENT"]:
            self._attach(label, vid)

    def move(self, label: str, to: str | None, frm: str | None) -> None:
        if to is None:
            assert frm is not None
            self.labels[frm].discard(label)
        else:
            self._attach(label, to)

    def snapshot(self) -> dict[str, list[str]]:
        return {vid: sorted(labels) for vid, labels in self.labels.items()}


def test_random_sequence_keeps_one_current_and_unique_labels(sm, sensitive):
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    seed_note = f"(seed {rng.random():.6f})"
    name = unique("prop")
    values: dict[str, str] = {}
    first_value = value(sensitive, "p0")
    first = sm.create_secret(Name=name, SecretString=first_value)["VersionId"]
    values[first] = first_value
    model = StageModel(first)
    labels = ["AWSCURRENT", "AWSCURRENT", "ALPHA", "BETA", "GAMMA"]

    for step in range(30):
        op = rng.choice(["put", "put-stages", "move", "move", "remove"])
        if op.startswith("put"):
            v = value(sensitive, f"p{step}")
            stages = None
            if op == "put-stages":
                stages = sorted(set(rng.sample(labels, rng.randint(1, 2))))
            kwargs = {"SecretId": name, "SecretString": v}
            if stages:
                kwargs["VersionStages"] = stages
            vid = sm.put_secret_value(**kwargs)["VersionId"]
            values[vid] = v
            model.put(vid, stages)
        elif op == "move":
            label = rng.choice(labels)
            to = rng.choice(list(model.labels))
            frm = model.holder(label)
            kwargs = {"SecretId": name, "VersionStage": label, "MoveToVersionId": to}
            if frm is not None and frm != to:
                kwargs["RemoveFromVersionId"] = frm
            sm.update_secret_version_stage(**kwargs)
            model.move(label, to, frm)
        else:
            label = rng.choice(["ALPHA", "BETA", "GAMMA"])
            frm = model.holder(label)
            if frm is None:
                continue
            sm.update_secret_version_stage(SecretId=name, VersionStage=label, RemoveFromVersionId=frm)
            model.move(label, None, frm)

        actual = stages_of(sm, name)
        holders: dict[str, list[str]] = {}
        for vid, ls in actual.items():
            for label in ls:
                holders.setdefault(label, []).append(vid)
        assert len(holders.get("AWSCURRENT", [])) == 1, f"step {step} {op} {seed_note}: {actual}"
        assert all(len(v) == 1 for v in holders.values()), f"step {step} {op} {seed_note}: {actual}"
        assert actual == model.snapshot(), f"step {step} {op} {seed_note}"
        current = sm.get_secret_value(SecretId=name)
        assert current["VersionId"] == holders["AWSCURRENT"][0]
        assert current["SecretString"] == values[current["VersionId"]]


def test_client_request_token_idempotency(sm, sensitive):
    name = unique("idem")
    v1, v2, other = value(sensitive, "i1"), value(sensitive, "i2"), value(sensitive, "io")
    create_token = str(uuid.uuid4())
    created = sm.create_secret(Name=name, SecretString=v1, ClientRequestToken=create_token)
    assert created["VersionId"] == create_token

    token = str(uuid.uuid4())
    first = sm.put_secret_value(SecretId=name, SecretString=v2, ClientRequestToken=token)
    assert first["VersionId"] == token
    before = stages_of(sm, name)

    again = sm.put_secret_value(SecretId=name, SecretString=v2, ClientRequestToken=token)
    assert again["VersionId"] == token
    assert stages_of(sm, name) == before, "a retry with the same token and value must change nothing"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v2

    code, _ = client_error(sm.put_secret_value, SecretId=name, SecretString=other, ClientRequestToken=token)
    assert code == "ResourceExistsException"
    assert stages_of(sm, name) == before
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v2

    # The same token once more with a binary value of the same bytes is a different value too.
    code, _ = client_error(sm.put_secret_value, SecretId=name, SecretBinary=v2.encode(), ClientRequestToken=token)
    assert code == "ResourceExistsException"

    # botocore fills in a fresh token when none is given: every plain put is a new version.
    n = len(stages_of(sm, name))
    sm.put_secret_value(SecretId=name, SecretString=v2)
    assert len(stages_of(sm, name)) == n + 1


def test_string_xor_binary(sm, aws, sensitive, tmp_path):
    name = unique("xor")
    code, _ = client_error(sm.create_secret, Name=name, SecretString="both-string", SecretBinary=b"both-binary")
    assert code == "InvalidParameterException"
    code, _ = client_error(sm.describe_secret, SecretId=name)
    assert code == "ResourceNotFoundException", "a refused create must not leave a secret behind"

    sm.create_secret(Name=name, SecretString="first-xor-value")
    sensitive.add("first-xor-value", "secret value")
    code, _ = client_error(sm.put_secret_value, SecretId=name, SecretString="both-string", SecretBinary=b"both-binary")
    assert code == "InvalidParameterException"
    code, _ = client_error(sm.update_secret, SecretId=name, SecretString="both-string", SecretBinary=b"both-binary")
    assert code == "InvalidParameterException"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "first-xor-value"


def test_secret_binary_round_trip(sm, aws, sensitive, tmp_path):
    blob = bytes(range(256)) + os.urandom(64) + b"\x00\x00"
    sensitive.add(blob, "secret binary")
    name = unique("bin")
    sm.create_secret(Name=name, SecretBinary=blob)
    got = sm.get_secret_value(SecretId=name)
    assert got["SecretBinary"] == blob
    assert "SecretString" not in got

    # The CLI: fileb:// in, base64 out.
    path = tmp_path / "blob.bin"
    blob2 = os.urandom(100)
    sensitive.add(blob2, "secret binary")
    path.write_bytes(blob2)
    aws("secretsmanager", "put-secret-value", "--secret-id", name, "--secret-binary", f"fileb://{path}")
    out = aws("secretsmanager", "get-secret-value", "--secret-id", name)
    assert base64.b64decode(out["SecretBinary"]) == blob2
    assert "SecretString" not in out
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretBinary"] == blob

    # Switching a secret from binary to string and back is just another version.
    sm.put_secret_value(SecretId=name, SecretString="now-a-string")
    sensitive.add("now-a-string", "secret value")
    got = sm.get_secret_value(SecretId=name)
    assert got["SecretString"] == "now-a-string" and "SecretBinary" not in got


def test_secret_string_size_limit(sm_for, server, sensitive):
    sm = sm_for(server, validate=False)
    alphabet = string.ascii_letters + string.digits
    big = "".join(pysecrets.choice(alphabet) for _ in range(65_536))
    sensitive.add(big, "secret value")
    name = unique("size")
    sm.create_secret(Name=name, SecretString=big)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == big

    too_big = big + "X"
    sensitive.add(too_big, "secret value")
    # SecretStringType max 65536: a constraint of the model, which AWS enforces with
    # "ValidationException: 1 validation error detected: Value at 'secretString' failed to
    # satisfy constraint: Member must have length less than or equal to 65536".
    code, _ = client_error(sm.put_secret_value, SecretId=name, SecretString=too_big)
    assert code == "ValidationException"
    code, _ = client_error(sm.create_secret, Name=unique("size"), SecretString=too_big)
    assert code == "ValidationException"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == big

    # Multi-byte characters: the limit counts the string's length as the model states it.
    blob = os.urandom(65_536)
    sensitive.add(blob, "secret binary")
    sm.put_secret_value(SecretId=name, SecretBinary=blob)
    assert sm.get_secret_value(SecretId=name)["SecretBinary"] == blob
    code, _ = client_error(sm.put_secret_value, SecretId=name, SecretBinary=blob + b"x")
    assert code == "ValidationException"


def test_empty_values_are_refused(sm_for, server):
    sm = sm_for(server, validate=False)
    name = unique("empty")
    sm.create_secret(Name=name, SecretString="non-empty-value")
    # SecretStringType and SecretBinaryType have min 1.
    code, _ = client_error(sm.put_secret_value, SecretId=name, SecretString="")
    assert code in ("ValidationException", "InvalidParameterException")


def test_create_without_value_then_put(sm, sensitive):
    """A secret created without a value has no version until the first put."""
    name = unique("novalue")
    created = sm.create_secret(Name=name, Description="metadata only")
    assert "VersionId" not in created
    code, _ = client_error(sm.get_secret_value, SecretId=name)
    assert code == "ResourceNotFoundException"
    assert stages_of(sm, name) == {}
    v = value(sensitive, "late")
    vid = sm.put_secret_value(SecretId=name, SecretString=v)["VersionId"]
    assert stages_of(sm, name) == {vid: ["AWSCURRENT"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v


def test_update_secret_with_value_makes_a_version(sm, sensitive):
    name = unique("upd")
    v1, v2 = value(sensitive, "u1"), value(sensitive, "u2")
    a = sm.create_secret(Name=name, SecretString=v1, Description="before")["VersionId"]
    out = sm.update_secret(SecretId=name, SecretString=v2, Description="after")
    b = out["VersionId"]
    assert b != a
    assert stages_of(sm, name) == {a: ["AWSPREVIOUS"], b: ["AWSCURRENT"]}
    assert sm.describe_secret(SecretId=name)["Description"] == "after"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v2

    # Metadata only: no new version, no VersionId in the answer.
    out = sm.update_secret(SecretId=name, Description="again")
    assert "VersionId" not in out
    assert stages_of(sm, name) == {a: ["AWSPREVIOUS"], b: ["AWSCURRENT"]}

    # UpdateSecret with a token that names an existing version fails (model: "If you call
    # this operation with a ClientRequestToken that matches an existing version's VersionId,
    # the operation results in an error.").
    code, _ = client_error(sm.update_secret, SecretId=name, SecretString=value(sensitive, "u3"),
                           ClientRequestToken=b)
    assert code in ("ResourceExistsException", "InvalidRequestException")


@pytest.mark.parametrize("token", ["short", "x" * 65])
def test_client_request_token_length(sm_for, server, token):
    sm = sm_for(server, validate=False)
    name = unique("tok")
    sm.create_secret(Name=name, SecretString="token-length-value")
    code, _ = client_error(sm.put_secret_value, SecretId=name, SecretString="other-token-value",
                           ClientRequestToken=token)
    assert code in ("ValidationException", "InvalidParameterException")


def test_each_version_records_its_own_last_access(sm, sensitive):
    """SecretVersionsListEntry LastAccessedDate (model): "The date that this version of the
    secret was last accessed. Note that the resolution of this field is at the date level and
    does not include the time." Reading two versions on the same day marks both."""
    import datetime as dt

    name = unique("access")
    a = sm.create_secret(Name=name, SecretString=value(sensitive, "acc1"))["VersionId"]
    b = sm.put_secret_value(SecretId=name, SecretString=value(sensitive, "acc2"))["VersionId"]
    c = sm.put_secret_value(SecretId=name, SecretString=value(sensitive, "acc3"), VersionStages=["OTHER"])["VersionId"]
    versions = {v["VersionId"]: v for v in sm.list_secret_version_ids(SecretId=name)["Versions"]}
    assert all("LastAccessedDate" not in v for v in versions.values()), versions

    sm.get_secret_value(SecretId=name, VersionId=a)
    sm.get_secret_value(SecretId=name)  # b, AWSCURRENT
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    versions = {v["VersionId"]: v for v in sm.list_secret_version_ids(SecretId=name)["Versions"]}
    assert versions[a].get("LastAccessedDate") in (today, today - dt.timedelta(days=1))
    assert versions[b].get("LastAccessedDate") in (today, today - dt.timedelta(days=1)), versions[b]
    assert "LastAccessedDate" not in versions[c], "a version nobody read has no LastAccessedDate"
