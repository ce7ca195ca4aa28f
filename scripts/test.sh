#!/usr/bin/env bash
# Installs everything the tests need and runs all of them:
#   formatting, clippy, cargo-deny, the Rust tests (cargo-nextest, with the proptest fuzz
#   harness; a 10-second libFuzzer run per target where nightly and cargo-fuzz are installed)
#   and the end-to-end suite
#   (tests/e2e: the real binary driven by the aws CLI and boto3 from .venv), the store
#   and end-to-end suites once on SQLite and once on PostgreSQL.
#
#   ./scripts/test.sh
#
# Works from any directory. Needs: a Rust toolchain (rustup), python3 with venv, and access
# to crates.io, PyPI and Debian's packages the first time (PostgreSQL is installed with
# apt-get when absent; a throwaway cluster runs on 127.0.0.1 for the duration; SoftHSM2
# likewise, for the PKCS#11 tests).
# KEYWARD_BIN overrides the binary the e2e suite runs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

stage() { printf '\n==> %s\n' "$*"; }

stage "Python virtualenv (.venv) and tests/e2e/requirements.txt"
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys' >/dev/null 2>&1; then
    echo "reusing .venv"
else
    rm -rf .venv
    if ! python3 -m venv .venv; then
        echo "error: 'python3 -m venv' failed; install Python 3 with venv support (e.g. apt-get install python3-venv)" >&2
        exit 1
    fi
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-input -r tests/e2e/requirements.txt

stage "SoftHSM2 (the PKCS#11 root of trust's tests)"
if ! command -v softhsm2-util >/dev/null 2>&1; then
    echo "SoftHSM2 is not installed: installing Debian's softhsm2 package"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq softhsm2 >/dev/null
fi

stage "PostgreSQL (a throwaway cluster on 127.0.0.1)"
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
pg_start
export KEYWARD_REQUIRE_POSTGRES=1

stage "Rust tools (rustfmt, clippy, cargo-nextest)"
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi

stage "cargo fmt --all --check"
cargo fmt --all --check

stage "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

stage "cargo deny: licenses, duplicate versions, sources, advisories (deny.toml)"
if ! cargo deny --version 2>/dev/null | grep -q '^cargo-deny 0\.20\.'; then
    cargo install cargo-deny --locked --version '^0.20'
fi
# cargo-deny reads the whole dependency graph, every platform's crates included, and its
# --offline run cannot download them: fetch them first (a build fetches only this host's).
cargo fetch --locked
cargo deny --offline check licenses bans sources
# The RustSec advisory database is a git repository on GitHub; where GitHub cannot be
# reached (this project's development machines reach only the package registries), the
# advisories are not checked and the run says so.
if timeout 30 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
    cargo deny check advisories
else
    echo "note: github.com/rustsec/advisory-db is unreachable from here; advisories NOT checked"
fi

stage "cargo build --workspace"
cargo build --workspace

stage "cargo nextest run --workspace"
cargo nextest run --workspace

stage "fuzz smoke run (docs/fuzzing.md)"
# The proptest harness and the seed-corpus replay ran inside nextest above; libFuzzer runs
# each target briefly too, only where nightly and cargo-fuzz are installed.
if cargo +nightly fuzz --version >/dev/null 2>&1; then
    ./scripts/fuzz.sh all 10
else
    echo "note: nightly Rust with cargo-fuzz is not installed: only the proptest fuzz harness ran"
fi

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$ROOT/$target_dir" ;; esac
export KEYWARD_BIN="${KEYWARD_BIN:-$target_dir/debug/keyward}"

stage "end-to-end tests on SQLite (pytest tests/e2e)"
.venv/bin/python -m pytest tests/e2e -q

stage "end-to-end tests on PostgreSQL (pytest tests/e2e)"
KEYWARD_E2E_POSTGRES="$KEYWARD_TEST_POSTGRES" .venv/bin/python -m pytest tests/e2e -q

stage "all tests passed"
