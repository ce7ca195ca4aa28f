"""Deleting and restoring secrets, listing and describing them, batch reads, tags and
resource policies.

References (service model unless noted):
- DeleteSecret: "The minimum recovery window is 7 days. The default recovery window is 30
  days." RecoveryWindowInDays: "The number of days from 7 to 30 ... You can't use both this
  parameter and ForceDeleteWithoutRecovery in the same call." ForceDeleteWithoutRecovery:
  "If you forcibly delete an already deleted or nonexistent secret, the operation does not
  return ResourceNotFoundException." and "there might be a short delay before the secret is
  permanently deleted. If you delete a secret and then immediately create a secret with the
  same name, use appropriate back off and retry logic."
- "When a secret is scheduled for deletion, you cannot retrieve the secret value. You must
  first cancel the deletion with RestoreSecret". AWS's message for it: "You can't perform
  this operation on the secret because it was marked for deletion."; for a create with the
  name of such a secret: "You can't create this secret because a secret with this name is
  already scheduled for deletion." (both InvalidRequestException).
- Filter keys (API reference, Filter): description "Prefix match, not case-sensitive"; name,
  tag-key, tag-value "Prefix match, case-sensitive"; all "Breaks the filter value string into
  words and then searches all attributes for matches. Not case-sensitive."; "You can prefix
  your search value with an exclamation mark (!) in order to perform negation filters."
- LastAccessedDate is reported by the day: real ListSecretVersionIds/DescribeSecret output
  shows e.g. "LastAccessedDate": "2024-07-17T00:00:00+00:00" (midnight UTC).
- BatchGetSecretValue: "You must include Filters or SecretIdList, but not both." Errors
  carry ErrorCode "for example ResourceNotFoundException, ...".
- PublicPolicyException: "The BlockPublicPolicy parameter is set to true, and the resource
  policy did not prevent broad access to the secret." MalformedPolicyDocumentException:
  "The resource policy has syntax errors."
"""

from __future__ import annotations

import datetime as dt
import json
import secrets as pysecrets
import time

import pytest

from conftest import ACCOUNT_ID, REGION, client_error, unique

DAY = dt.timedelta(days=1)
POLL = 20.0  # seconds, for the documented "short delay" of a forced deletion


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def value(sensitive, prefix: str) -> str:
    v = f"{prefix}-{pysecrets.token_urlsafe(12)}"
    sensitive.add(v, "secret value")
    return v


def list_all(sm, **kwargs) -> list[dict]:
    out: list[dict] = []
    for page in sm.get_paginator("list_secrets").paginate(**kwargs):
        out.extend(page["SecretList"])
    return out


def names(entries: list[dict]) -> list[str]:
    return [e["Name"] for e in entries]


def wait_for(fn, what: str, timeout: float = POLL):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = fn()
        except AssertionError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


MARKED = "You can't perform this operation on the secret because it was marked for deletion."


# -------------------------------------------------------------------------------------
# DeleteSecret / RestoreSecret
# -------------------------------------------------------------------------------------


def test_delete_with_default_window_then_restore(sm, aws, sensitive):
    name = unique("del")
    v = value(sensitive, "del")
    arn = sm.create_secret(Name=name, SecretString=v, Tags=[{"Key": "k", "Value": "v"}])["ARN"]

    before = now()
    out = sm.delete_secret(SecretId=name)
    assert out["ARN"] == arn and out["Name"] == name
    deletion = out["DeletionDate"]
    assert before + 30 * DAY - dt.timedelta(minutes=5) <= deletion <= now() + 30 * DAY + dt.timedelta(minutes=5)

    for call, kwargs in [
        (sm.get_secret_value, {"SecretId": name}),
        (sm.put_secret_value, {"SecretId": name, "SecretString": value(sensitive, "x")}),
        (sm.update_secret, {"SecretId": name, "Description": "nope"}),
    ]:
        code, message = client_error(call, **kwargs)
        assert code == "InvalidRequestException", call
        assert message == MARKED, message
    assert aws.error("secretsmanager", "get-secret-value", "--secret-id", name) == "InvalidRequestException"
    code, _ = client_error(sm.delete_secret, SecretId=name)
    assert code == "InvalidRequestException"

    described = sm.describe_secret(SecretId=name)
    assert "DeletedDate" in described
    assert before - dt.timedelta(minutes=5) <= described["DeletedDate"] <= deletion + dt.timedelta(minutes=5)

    assert name not in names(list_all(sm, Filters=[{"Key": "name", "Values": [name]}]))
    listed = list_all(sm, Filters=[{"Key": "name", "Values": [name]}], IncludePlannedDeletion=True)
    assert names(listed) == [name]
    assert "DeletedDate" in listed[0]

    # The name is taken while the secret waits for deletion.
    code, message = client_error(sm.create_secret, Name=name, SecretString=v)
    assert code == "InvalidRequestException"
    assert message == "You can't create this secret because a secret with this name is already scheduled for deletion."

    restored = sm.restore_secret(SecretId=name)
    assert restored == {**restored, "ARN": arn, "Name": name}
    got = sm.get_secret_value(SecretId=name)
    assert got["SecretString"] == v
    described = sm.describe_secret(SecretId=name)
    assert "DeletedDate" not in described
    assert described["Tags"] == [{"Key": "k", "Value": "v"}]
    assert names(list_all(sm, Filters=[{"Key": "name", "Values": [name]}])) == [name]


def test_delete_recovery_window_bounds(sm_for, server, sensitive):
    sm = sm_for(server, validate=False)
    name = unique("window")
    sm.create_secret(Name=name, SecretString=value(sensitive, "win"))
    for days in (6, 31, 0, -1):
        code, message = client_error(sm.delete_secret, SecretId=name, RecoveryWindowInDays=days)
        assert code == "InvalidParameterException", days
        assert "7" in message and "30" in message, message
    code, _ = client_error(sm.delete_secret, SecretId=name, RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
    assert code == "InvalidParameterException"
    # Nothing was deleted by the refused calls.
    assert "DeletedDate" not in sm.describe_secret(SecretId=name)

    before = now()
    out = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert before + 7 * DAY - dt.timedelta(minutes=5) <= out["DeletionDate"] <= now() + 7 * DAY + dt.timedelta(minutes=5)
    sm.restore_secret(SecretId=name)
    out = sm.delete_secret(SecretId=name, RecoveryWindowInDays=30)
    assert out["DeletionDate"] >= before + 30 * DAY - dt.timedelta(minutes=5)
    sm.restore_secret(SecretId=name)


def test_force_delete_and_reuse_name(sm, aws, sensitive):
    name = unique("force")
    v1, v2 = value(sensitive, "f1"), value(sensitive, "f2")
    arn1 = sm.create_secret(Name=name, SecretString=v1)["ARN"]
    out = sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert out["Name"] == name and out["ARN"] == arn1
    assert abs((out["DeletionDate"] - now()).total_seconds()) < 300

    def gone():
        code, message = client_error(sm.describe_secret, SecretId=name)
        return code == "ResourceNotFoundException"
    wait_for(gone, "the forced deletion")
    code, message = client_error(sm.get_secret_value, SecretId=name)
    assert code == "ResourceNotFoundException"
    assert message == "Secrets Manager can't find the specified secret."
    code, _ = client_error(sm.restore_secret, SecretId=name)
    assert code == "ResourceNotFoundException"

    def recreate():
        try:
            return sm.create_secret(Name=name, SecretString=v2)
        except sm.exceptions.InvalidRequestException:
            return None
    arn2 = wait_for(recreate, "the name to be free again")["ARN"]
    assert arn2 != arn1, "a new secret gets a new random suffix"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v2
    # The old ARN names nothing now.
    code, _ = client_error(sm.get_secret_value, SecretId=arn1)
    assert code == "ResourceNotFoundException"


def test_force_delete_nonexistent_and_scheduled(sm, sensitive):
    name = unique("sched-force")
    sm.create_secret(Name=name, SecretString=value(sensitive, "sf"))
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    wait_for(lambda: client_error(sm.describe_secret, SecretId=name)[0] == "ResourceNotFoundException",
             "the forced deletion of a scheduled secret")

    # A plain delete of a nonexistent secret is ResourceNotFoundException.
    code, _ = client_error(sm.delete_secret, SecretId=unique("never-existed"))
    assert code == "ResourceNotFoundException"
    code, _ = client_error(sm.restore_secret, SecretId=unique("never-existed"))
    assert code == "ResourceNotFoundException"

    # "If you forcibly delete an already deleted or nonexistent secret, the operation does not
    # return ResourceNotFoundException."
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    sm.delete_secret(SecretId=unique("never-existed"), ForceDeleteWithoutRecovery=True)


def test_restore_of_a_live_secret_is_harmless(sm, sensitive):
    name = unique("restore-live")
    v = value(sensitive, "rl")
    sm.create_secret(Name=name, SecretString=v)
    sm.restore_secret(SecretId=name)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v


# -------------------------------------------------------------------------------------
# ListSecrets / DescribeSecret
# -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listing(sm, sensitive):
    """Three secrets under one unique prefix, created a second apart."""
    prefix = unique("lst")
    word = "".join(pysecrets.choice("bcdfghjklmnpqrstvwxz") for _ in range(10))
    specs = [
        (f"{prefix}/alpha", f"Zebra {word} database", [{"Key": f"team{prefix}", "Value": "Platform"}]),
        (f"{prefix}/beta", "Payments gateway", [{"Key": f"env{prefix}", "Value": "Production"}]),
        (f"{prefix}/gamma", "zebra crossing", [{"Key": f"team{prefix}", "Value": "Payments"},
                                                {"Key": "owner", "Value": word}]),
    ]
    # Created alpha, gamma, beta: creation order differs from name order.
    created = []
    for i, (name, description, tags) in enumerate([specs[0], specs[2], specs[1]]):
        if i:
            time.sleep(1.1)
        sm.create_secret(Name=name, Description=description, Tags=tags, SecretString=value(sensitive, "lst"))
        created.append(name)
    return {"prefix": prefix, "word": word, "names": [s[0] for s in specs], "created": created}


def test_list_filters(sm, listing):
    p, word = listing["prefix"], listing["word"]
    alpha, beta, gamma = listing["names"]

    def matching(*filters) -> set[str]:
        found = set(names(list_all(sm, Filters=list(filters))))
        return found & set(listing["names"])

    by_name = set(names(list_all(sm, Filters=[{"Key": "name", "Values": [p]}])))
    assert by_name == {alpha, beta, gamma}
    assert matching({"Key": "name", "Values": [f"{p}/b"]}) == {beta}
    assert matching({"Key": "name", "Values": [f"{p}/B"]}) == set(), "name is case-sensitive"

    # description: prefix, not case-sensitive.
    assert matching({"Key": "name", "Values": [p]}, {"Key": "description", "Values": ["zebra"]}) == {alpha, gamma}
    assert matching({"Key": "name", "Values": [p]}, {"Key": "description", "Values": ["PAYMENTS"]}) == {beta}

    # tag-key and tag-value: prefix, case-sensitive.
    assert matching({"Key": "tag-key", "Values": [f"team{p}"]}) == {alpha, gamma}
    assert matching({"Key": "tag-key", "Values": [f"env{p}"]}) == {beta}
    assert matching({"Key": "tag-key", "Values": [f"TEAM{p}"]}) == set()
    assert matching({"Key": "name", "Values": [p]}, {"Key": "tag-value", "Values": ["Pay"]}) == {gamma}
    assert matching({"Key": "name", "Values": [p]}, {"Key": "tag-value", "Values": ["pay"]}) == set()
    assert matching({"Key": "tag-value", "Values": [word]}) == {gamma}

    # Negation.
    everything = set(names(list_all(sm, Filters=[{"Key": "name", "Values": [f"!{p}/alpha"]}])))
    assert alpha not in everything and {beta, gamma} <= everything
    assert matching({"Key": "name", "Values": [p]}, {"Key": "tag-key", "Values": [f"!team{p}"]}) == {beta}


def test_list_filter_all(sm, listing):
    """'all' breaks the value into words and matches words in any attribute ("searching for
    My_Secret matches secrets with the word my or secret in the name, description, or tags",
    user guide, Find secrets). The word is the middle word of alpha's description and the
    whole of a tag value of gamma."""
    word = listing["word"]
    alpha, beta, gamma = listing["names"]

    def matching(*filters) -> set[str]:
        return set(names(list_all(sm, Filters=list(filters)))) & set(listing["names"])

    assert matching({"Key": "all", "Values": [word.upper()]}) == {alpha, gamma}
    assert matching({"Key": "all", "Values": [word]}) == {alpha, gamma}



def test_list_filters_cli(aws, listing):
    p = listing["prefix"]
    out = aws("secretsmanager", "list-secrets", "--filters", f"Key=name,Values={p}/g",
              "--query", "SecretList[].Name", "--output", "json")
    assert out == [listing["names"][2]]


def test_list_sort_order(sm, listing):
    p = listing["prefix"]
    flt = [{"Key": "name", "Values": [p]}]
    asc = names(list_all(sm, Filters=flt, SortOrder="asc"))
    desc = names(list_all(sm, Filters=flt, SortOrder="desc"))
    assert asc == listing["created"], "asc is by CreatedDate, oldest first"
    assert desc == list(reversed(listing["created"]))
    # SortBy (SortByType: created-date, last-accessed-date, last-changed-date, name).
    assert names(list_all(sm, Filters=flt, SortBy="name", SortOrder="asc")) == listing["names"]
    assert names(list_all(sm, Filters=flt, SortBy="name", SortOrder="desc")) == list(reversed(listing["names"]))
    assert names(list_all(sm, Filters=flt, SortBy="created-date", SortOrder="asc")) == listing["created"]


def test_list_pages_keep_every_order(sm, listing):
    # Small pages of every order give the same list as one page, and a token is only good
    # for the order it was given for.
    flt = [{"Key": "name", "Values": [listing["prefix"]]}]
    for sort_by in ("created-date", "name", "last-changed-date"):
        for order in ("asc", "desc"):
            whole = names(list_all(sm, Filters=flt, SortBy=sort_by, SortOrder=order))
            paged = [e["Name"] for page in sm.get_paginator("list_secrets").paginate(
                Filters=flt, SortBy=sort_by, SortOrder=order, PaginationConfig={"PageSize": 2})
                for e in page["SecretList"]]
            assert paged == whole, (sort_by, order)
            assert sorted(whole) == sorted(listing["names"])
    first = sm.list_secrets(MaxResults=1, Filters=flt, SortBy="name", SortOrder="asc")
    code, _ = client_error(sm.list_secrets, MaxResults=1, Filters=flt, SortBy="name",
                           SortOrder="desc", NextToken=first["NextToken"])
    assert code == "InvalidNextTokenException"


def test_list_pagination(sm, aws, sensitive):
    prefix = unique("page")
    created = []
    for i in range(7):
        name = f"{prefix}-{i:02d}"
        sm.create_secret(Name=name, SecretString=value(sensitive, "pg"))
        created.append(name)

    pages = list(sm.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "name", "Values": [prefix]}], PaginationConfig={"PageSize": 3}))
    seen = [e["Name"] for page in pages for e in page["SecretList"]]
    assert sorted(seen) == created, "every secret exactly once"
    assert all(len(page["SecretList"]) <= 3 for page in pages)
    assert len(pages) >= 3
    assert "NextToken" not in pages[-1]

    # By hand with MaxResults/NextToken.
    first = sm.list_secrets(MaxResults=2, Filters=[{"Key": "name", "Values": [prefix]}])
    assert len(first["SecretList"]) == 2 and first.get("NextToken")
    second = sm.list_secrets(MaxResults=2, NextToken=first["NextToken"], Filters=[{"Key": "name", "Values": [prefix]}])
    assert not set(names(first["SecretList"])) & set(names(second["SecretList"]))

    # The CLI pages by itself.
    out = aws("secretsmanager", "list-secrets", "--filters", f"Key=name,Values={prefix}", "--page-size", "2")
    assert sorted(names(out["SecretList"])) == created

    code, _ = client_error(sm.list_secrets, NextToken="not-a-token-" + unique())
    assert code in ("InvalidNextTokenException", "InvalidParameterException")


def test_list_entries_and_describe_fields(sm, aws, sensitive):
    name = unique("desc")
    v1, v2 = value(sensitive, "d1"), value(sensitive, "d2")
    t0 = now()
    created = sm.create_secret(Name=name, Description="described", SecretString=v1,
                               Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}])
    described = sm.describe_secret(SecretId=name)
    assert described["ARN"] == created["ARN"]
    assert described["Name"] == name
    assert described["Description"] == "described"
    assert sorted(described["Tags"], key=lambda t: t["Key"]) == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}]
    assert described["VersionIdsToStages"] == {created["VersionId"]: ["AWSCURRENT"]}
    assert t0 - dt.timedelta(minutes=5) <= described["CreatedDate"] <= now() + dt.timedelta(minutes=5)
    assert described["LastChangedDate"] >= described["CreatedDate"] - dt.timedelta(seconds=1)
    # "This field is omitted if the secret has never been retrieved in the Region."
    assert "LastAccessedDate" not in described
    assert "DeletedDate" not in described
    assert "KmsKeyId" not in described
    assert described.get("RotationEnabled", False) is False

    time.sleep(1.1)
    sm.put_secret_value(SecretId=name, SecretString=v2)
    later = sm.describe_secret(SecretId=name)
    assert later["LastChangedDate"] > described["LastChangedDate"]
    assert later["CreatedDate"] == described["CreatedDate"]

    before_read = now()
    sm.get_secret_value(SecretId=name)
    after_read = now()
    accessed = sm.describe_secret(SecretId=name)["LastAccessedDate"]
    midnights = {before_read.replace(hour=0, minute=0, second=0, microsecond=0),
                 after_read.replace(hour=0, minute=0, second=0, microsecond=0)}
    assert accessed in midnights, f"LastAccessedDate {accessed} is not midnight UTC of today"

    entry = [e for e in list_all(sm, Filters=[{"Key": "name", "Values": [name]}]) if e["Name"] == name][0]
    assert entry["ARN"] == created["ARN"]
    assert entry["Description"] == "described"
    assert sorted(t["Key"] for t in entry["Tags"]) == ["a", "b"]
    assert {k: sorted(v) for k, v in entry["SecretVersionsToStages"].items()} == {
        k: sorted(v) for k, v in later["VersionIdsToStages"].items()}
    assert entry["LastAccessedDate"] == accessed
    assert "SecretString" not in entry

    # The CLI shows timestamps too (as ISO strings in its JSON output).
    cli = aws("secretsmanager", "describe-secret", "--secret-id", name)
    assert cli["Name"] == name and "CreatedDate" in cli and "LastAccessedDate" in cli


# -------------------------------------------------------------------------------------
# BatchGetSecretValue
# -------------------------------------------------------------------------------------


def test_batch_get_by_ids_and_filters(sm, sm_for, server, sensitive):
    prefix = unique("batch")
    values = {}
    arns = {}
    for i in range(3):
        name = f"{prefix}-{i}"
        values[name] = value(sensitive, "b")
        arns[name] = sm.create_secret(Name=name, SecretString=values[name])["ARN"]
    missing = unique("batch-missing")
    first, second, third = sorted(values)

    out = sm.batch_get_secret_value(SecretIdList=[first, arns[second], missing])
    got = {e["Name"]: e for e in out["SecretValues"]}
    assert set(got) == {first, second}
    for n in (first, second):
        assert got[n]["SecretString"] == values[n]
        assert got[n]["ARN"] == arns[n]
        assert got[n]["VersionStages"] == ["AWSCURRENT"]
        assert got[n]["VersionId"]
    assert len(out["Errors"]) == 1
    err = out["Errors"][0]
    assert err["SecretId"] == missing
    assert err["ErrorCode"] == "ResourceNotFoundException"
    assert err.get("Message")

    out = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": [prefix]}])
    assert {e["Name"]: e["SecretString"] for e in out["SecretValues"]} == values
    assert out.get("Errors", []) == []

    # Paginated by MaxResults and NextToken with Filters (botocore has no paginator for it).
    seen = []
    kwargs = {"Filters": [{"Key": "name", "Values": [prefix]}], "MaxResults": 2}
    for _ in range(10):
        page = sm.batch_get_secret_value(**kwargs)
        assert len(page["SecretValues"]) <= 2
        seen += [e["Name"] for e in page["SecretValues"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert sorted(seen) == sorted(values)

    # A secret scheduled for deletion is reported per secret.
    sm.delete_secret(SecretId=third, RecoveryWindowInDays=7)
    out = sm.batch_get_secret_value(SecretIdList=[first, third])
    assert [e["Name"] for e in out["SecretValues"]] == [first]
    assert [(e["SecretId"], e["ErrorCode"]) for e in out["Errors"]] == [(third, "InvalidRequestException")]
    sm.restore_secret(SecretId=third)

    raw = sm_for(server, validate=False)
    code, _ = client_error(raw.batch_get_secret_value, SecretIdList=[first],
                           Filters=[{"Key": "name", "Values": [prefix]}])
    assert code == "InvalidParameterException"


# -------------------------------------------------------------------------------------
# Tags
# -------------------------------------------------------------------------------------


def test_tag_and_untag(sm, aws, sensitive):
    name = unique("tags")
    sm.create_secret(Name=name, SecretString=value(sensitive, "tg"), Tags=[{"Key": "keep", "Value": "1"}])

    def tags() -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=name).get("Tags", [])}

    out = sm.tag_resource(SecretId=name, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "a"}])
    assert set(out) <= {"ResponseMetadata"}
    assert tags() == {"keep": "1", "env": "dev", "team": "a"}

    sm.tag_resource(SecretId=name, Tags=[{"Key": "env", "Value": "prod"}])
    assert tags() == {"keep": "1", "env": "prod", "team": "a"}

    sm.untag_resource(SecretId=name, TagKeys=["team", "not-there"])
    assert tags() == {"keep": "1", "env": "prod"}

    # The CLI spellings.
    aws("secretsmanager", "tag-resource", "--secret-id", name, "--tags", "Key=cli,Value=yes")
    assert tags()["cli"] == "yes"
    aws("secretsmanager", "untag-resource", "--secret-id", name, "--tag-keys", "cli", "keep")
    assert tags() == {"env": "prod"}

    # Tagging changes the secret (LastChangedDate) and is visible in ListSecrets.
    entry = [e for e in list_all(sm, Filters=[{"Key": "name", "Values": [name]}]) if e["Name"] == name][0]
    assert {t["Key"]: t["Value"] for t in entry["Tags"]} == {"env": "prod"}

    code, _ = client_error(sm.tag_resource, SecretId=unique("missing"), Tags=[{"Key": "a", "Value": "b"}])
    assert code == "ResourceNotFoundException"


def test_tag_limits(sm_for, server, sensitive):
    sm = sm_for(server, validate=False)
    name = unique("taglim")
    sm.create_secret(Name=name, SecretString=value(sensitive, "tl"))
    code, _ = client_error(sm.tag_resource, SecretId=name, Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert code in ("ValidationException", "InvalidParameterException")
    code, _ = client_error(sm.tag_resource, SecretId=name, Tags=[{"Key": "aws:reserved", "Value": "v"}])
    assert code in ("ValidationException", "InvalidParameterException")


# -------------------------------------------------------------------------------------
# Resource policies
# -------------------------------------------------------------------------------------


def policy(principal, action: str = "secretsmanager:GetSecretValue") -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*"}],
    })


ACCOUNT_ROOT = {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}


def test_resource_policy_put_get_delete(sm, aws, sensitive):
    name = unique("pol")
    arn = sm.create_secret(Name=name, SecretString=value(sensitive, "pol"))["ARN"]
    got = sm.get_resource_policy(SecretId=name)
    assert got["ARN"] == arn and got["Name"] == name
    assert "ResourcePolicy" not in got

    doc = policy(ACCOUNT_ROOT)
    out = sm.put_resource_policy(SecretId=name, ResourcePolicy=doc)
    assert out["ARN"] == arn and out["Name"] == name
    got = sm.get_resource_policy(SecretId=name)
    assert json.loads(got["ResourcePolicy"]) == json.loads(doc)

    cli = aws("secretsmanager", "get-resource-policy", "--secret-id", name)
    assert json.loads(cli["ResourcePolicy"]) == json.loads(doc)

    # BlockPublicPolicy with a specific principal is fine.
    doc2 = policy(ACCOUNT_ROOT, "secretsmanager:DescribeSecret")
    sm.put_resource_policy(SecretId=name, ResourcePolicy=doc2, BlockPublicPolicy=True)
    assert json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"]) == json.loads(doc2)

    out = sm.delete_resource_policy(SecretId=name)
    assert out["ARN"] == arn and out["Name"] == name
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=name)
    # Deleting again is harmless.
    sm.delete_resource_policy(SecretId=name)

    code, _ = client_error(sm.get_resource_policy, SecretId=unique("missing"))
    assert code == "ResourceNotFoundException"


@pytest.mark.parametrize("bad", [
    "{not json",
    '{"Version": "2012-10-17"}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, '
    '"Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}',
    "[]",
])
def test_malformed_policy(sm, bad, sensitive):
    name = unique("malformed")
    sm.create_secret(Name=name, SecretString=value(sensitive, "mal"))
    code, _ = client_error(sm.put_resource_policy, SecretId=name, ResourcePolicy=bad)
    assert code == "MalformedPolicyDocumentException"
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=name)
    # ValidateResourcePolicy lists MalformedPolicyDocumentException among its errors, but
    # AWS also reports syntax problems as a failed check ("Checks for correct syntax in a
    # policy"); which one a given document gets is not documented, so either is accepted.
    try:
        result = sm.validate_resource_policy(SecretId=name, ResourcePolicy=bad)
    except sm.exceptions.MalformedPolicyDocumentException:
        pass
    else:
        assert result["PolicyValidationPassed"] is False, result
        assert result["ValidationErrors"]


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}])
def test_block_public_policy(sm, principal, sensitive):
    name = unique("public")
    sm.create_secret(Name=name, SecretString=value(sensitive, "pub"))
    code, _ = client_error(sm.put_resource_policy, SecretId=name, ResourcePolicy=policy(principal),
                           BlockPublicPolicy=True)
    assert code == "PublicPolicyException"
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=name)

    # Without BlockPublicPolicy the same policy is accepted ("By default, public policies
    # aren't blocked.").
    sm.put_resource_policy(SecretId=name, ResourcePolicy=policy(principal))
    assert json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"]) == json.loads(policy(principal))
    sm.delete_resource_policy(SecretId=name)


def test_validate_resource_policy(sm, sensitive):
    name = unique("validate")
    sm.create_secret(Name=name, SecretString=value(sensitive, "val"))
    ok = sm.validate_resource_policy(SecretId=name, ResourcePolicy=policy(ACCOUNT_ROOT))
    assert ok["PolicyValidationPassed"] is True
    assert ok.get("ValidationErrors", []) == []
    # SecretId is optional.
    ok = sm.validate_resource_policy(ResourcePolicy=policy(ACCOUNT_ROOT))
    assert ok["PolicyValidationPassed"] is True

    bad = sm.validate_resource_policy(SecretId=name, ResourcePolicy=policy("*"))
    assert bad["PolicyValidationPassed"] is False
    assert bad["ValidationErrors"], bad
    assert all(e.get("ErrorMessage") for e in bad["ValidationErrors"])
    # Validation stores nothing.
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=name)


def test_duplicate_tag_keys_in_one_request(sm_for, server, sensitive):
    """A secret's tags are a map: one value per key. A request naming a key twice is either
    refused or leaves one tag with that key, never two."""
    sm = sm_for(server, validate=False)
    name = unique("duptag")
    try:
        sm.create_secret(Name=name, SecretString=value(sensitive, "dt"),
                         Tags=[{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}])
    except sm.exceptions.InvalidParameterException:
        return
    keys = [t["Key"] for t in sm.describe_secret(SecretId=name)["Tags"]]
    assert keys.count("a") == 1, keys
