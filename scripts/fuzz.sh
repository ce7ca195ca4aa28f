#!/usr/bin/env bash
# Fuzzes Keyward's parsers of untrusted bytes (docs/fuzzing.md).
#
#   ./scripts/fuzz.sh [target|all] [seconds]
#
# target: sigv4, json, query, ciphertext, policy, esdk, or all (the default); seconds: how
# long each target runs (default 60). With nightly Rust and cargo-fuzz this is libFuzzer
# (`cargo +nightly fuzz run`), one target after another: the working corpus grows in
# fuzz/work/<target>/ (seeded from the checked-in fuzz/corpus/<target>/, which it never
# writes to), crashes land in fuzz/artifacts/<target>/, and the final statistics (executions,
# coverage) are printed. Without them it says so and runs the proptest harness over the same
# entry points instead (cases scaled with the seconds asked for).
#
# FUZZ_JOBS=N runs N libFuzzer processes per target (default 1).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGETS=(sigv4 json query ciphertext policy esdk)
target="${1:-all}"
seconds="${2:-60}"

if [ "$target" = all ]; then
    selected=("${TARGETS[@]}")
else
    found=""
    for t in "${TARGETS[@]}"; do [ "$t" = "$target" ] && found=1; done
    if [ -z "$found" ]; then
        echo "error: unknown target '$target' (one of: ${TARGETS[*]}, all)" >&2
        exit 2
    fi
    selected=("$target")
fi
case "$seconds" in ''|*[!0-9]*) echo "error: seconds must be a whole number" >&2; exit 2 ;; esac

if cargo +nightly fuzz --version >/dev/null 2>&1; then
    jobs=()
    # More than one job: libFuzzer forks workers and logs each to fuzz/fuzz-<n>.log.
    if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
    for t in "${selected[@]}"; do
        echo "==> cargo +nightly fuzz run $t (${seconds}s)"
        mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t"
        (cd fuzz && cargo +nightly fuzz run "$t" "work/$t" "corpus/$t" -- \
            -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
            "${jobs[@]}")
    done
else
    echo "note: nightly Rust with cargo-fuzz is not available here (cargo +nightly fuzz --version fails):"
    echo "      running the proptest harness over the same entry points instead."
    echo "      (rustup toolchain install nightly && cargo install cargo-fuzz --locked for libFuzzer)"
    # About 5,000 cases a second per target in a debug build.
    cases=$((seconds * 5000))
    exprs="$(printf ' or test(=%s)' "${selected[@]}")"
    PROPTEST_CASES="$cases" cargo nextest run -p keyward-fuzzing --test proptest \
        -E "${exprs# or }"
fi
