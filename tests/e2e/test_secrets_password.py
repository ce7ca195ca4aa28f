"""GetRandomPassword and every one of its options.

Service model: PasswordLength "If you don't include this parameter, the default length is 32
characters." (PasswordLengthType 1..4096); ExcludePunctuation lists the punctuation set
! " # $ % & ' ( ) * + , - . / : ; < = > ? @ [ \\ ] ^ _ ` { | } ~ ; RequireEachIncludedType
"If you don't include this switch, the password contains at least one of every character
type."; IncludeSpace "If you include this switch, the password can contain space
characters." A PasswordLength outside the model's range is a constraint violation, which
AWS reports as ValidationException ("1 validation error detected: Value ... failed to
satisfy constraint").
"""

from __future__ import annotations

import string

import pytest

from conftest import client_error

UPPER = set(string.ascii_uppercase)
LOWER = set(string.ascii_lowercase)
DIGITS = set(string.digits)
PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
assert PUNCT == set(string.punctuation)


def kinds(password: str) -> set[str]:
    out = set()
    for ch in password:
        if ch in UPPER:
            out.add("upper")
        elif ch in LOWER:
            out.add("lower")
        elif ch in DIGITS:
            out.add("digit")
        elif ch in PUNCT:
            out.add("punct")
        elif ch == " ":
            out.add("space")
        else:
            out.add(f"other:{ch!r}")
    return out


def test_default_password(sm, aws):
    seen = set()
    for _ in range(20):
        pw = sm.get_random_password()["RandomPassword"]
        assert len(pw) == 32
        assert kinds(pw) == {"upper", "lower", "digit", "punct"}, pw
        seen.add(pw)
    assert len(seen) == 20

    out = aws("secretsmanager", "get-random-password")
    assert len(out["RandomPassword"]) == 32
    text = aws("secretsmanager", "get-random-password", "--password-length", "20", "--exclude-punctuation",
               "--query", "RandomPassword", "--output", "text")
    assert len(text) == 20 and kinds(text) == {"upper", "lower", "digit"}


@pytest.mark.parametrize("option,absent", [
    ("ExcludeUppercase", "upper"),
    ("ExcludeLowercase", "lower"),
    ("ExcludeNumbers", "digit"),
    ("ExcludePunctuation", "punct"),
])
def test_exclude_each_type(sm, option, absent):
    for _ in range(5):
        pw = sm.get_random_password(PasswordLength=200, **{option: True})["RandomPassword"]
        assert len(pw) == 200
        assert kinds(pw) == {"upper", "lower", "digit", "punct"} - {absent}, pw


def test_exclude_all_but_one_type(sm):
    pw = sm.get_random_password(PasswordLength=64, ExcludeUppercase=True, ExcludeLowercase=True,
                                ExcludePunctuation=True)["RandomPassword"]
    assert set(pw) <= DIGITS and len(pw) == 64


def test_exclude_characters(sm):
    excluded = "aeiouAEIOU0123!@#$%^&*()"
    for _ in range(5):
        pw = sm.get_random_password(PasswordLength=500, ExcludeCharacters=excluded)["RandomPassword"]
        assert len(pw) == 500
        assert not set(pw) & set(excluded), pw
        assert kinds(pw) == {"upper", "lower", "digit", "punct"}


def test_include_space(sm):
    pw = sm.get_random_password(PasswordLength=4096, IncludeSpace=True)["RandomPassword"]
    assert len(pw) == 4096
    assert " " in pw  # (95/96)^4096 ≈ 3e-19 that a fair generator never picks it
    assert kinds(pw) == {"upper", "lower", "digit", "punct", "space"}
    pw = sm.get_random_password(PasswordLength=4096)["RandomPassword"]
    assert " " not in pw


def test_require_each_included_type(sm):
    for _ in range(40):
        pw = sm.get_random_password(PasswordLength=4, RequireEachIncludedType=True)["RandomPassword"]
        assert len(pw) == 4
        assert kinds(pw) == {"upper", "lower", "digit", "punct"}, pw
    for _ in range(20):
        pw = sm.get_random_password(PasswordLength=3, ExcludePunctuation=True,
                                    RequireEachIncludedType=True)["RandomPassword"]
        assert kinds(pw) == {"upper", "lower", "digit"}, pw

    # Without it, short passwords often miss a type (all four types in 4 random characters
    # of 94 happen with probability ~0.07, so 60 draws all complete is ~1e-70).
    missing = 0
    for _ in range(60):
        pw = sm.get_random_password(PasswordLength=4, RequireEachIncludedType=False)["RandomPassword"]
        assert len(pw) == 4
        assert kinds(pw) <= {"upper", "lower", "digit", "punct"}
        missing += kinds(pw) != {"upper", "lower", "digit", "punct"}
    assert missing > 0


def test_lengths(sm, sm_for, server):
    assert len(sm.get_random_password(PasswordLength=1, RequireEachIncludedType=False)["RandomPassword"]) == 1
    assert len(sm.get_random_password(PasswordLength=4096)["RandomPassword"]) == 4096
    raw = sm_for(server, validate=False)
    for bad in (4097, 0, -5):
        code, _ = client_error(raw.get_random_password, PasswordLength=bad)
        assert code == "ValidationException", (bad, code)


def test_nothing_left_to_choose_from(sm):
    code, _ = client_error(sm.get_random_password, ExcludeUppercase=True, ExcludeLowercase=True,
                           ExcludeNumbers=True, ExcludePunctuation=True)
    assert code in ("InvalidParameterException", "ValidationException")
    code, _ = client_error(sm.get_random_password, ExcludeUppercase=True, ExcludeLowercase=True,
                           ExcludePunctuation=True, ExcludeCharacters="0123456789")
    assert code in ("InvalidParameterException", "ValidationException")
