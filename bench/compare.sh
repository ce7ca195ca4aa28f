#!/usr/bin/env bash
# Keyward against moto (AWS KMS / Secrets Manager emulator) and OpenBao (transit engine),
# on this machine, in one run: builds Keyward, starts the three servers on 127.0.0.1,
# runs keyward-bench against each in interleaved rounds and writes docs/performance.md
# (through bench/report.py). Then, with the other servers stopped, bench/scale.sh measures
# Keyward with 1k and 100k keys and secrets (list pages, start-up, memory) for the report's
# "Scale" section. Everything it starts is stopped on exit.
#
#   bench/compare.sh            # ROUNDS=3, DURATION=5s, CONNECTIONS=64, SCALE_N=100000
#   bench/compare.sh --quick    # 1 round of 2s and SCALE_N=5000, to try it out
#
# Environment: ROUNDS, DURATION, WARMUP (1s), CONNECTIONS, OUT (the markdown file),
# SCALE=0 skips bench/scale.sh, SCALE_N (and the other variables of bench/scale.sh),
# STALL=0 skips bench/stall.sh (Encrypt beside RSA_4096 key generation),
# KEEP=1 keeps the temporary directory (logs and per-run JSON reports).
# Needs cargo, python3 (3.9+, with venv), curl, and PyPI access unless bench/.venv exists.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNECTIONS=${CONNECTIONS:-64}
OUT=${OUT:-$root/docs/performance.md}
SCALE=${SCALE:-1}
case "${1:-}" in
    --quick) ROUNDS=1 DURATION=2s SCALE_N=${SCALE_N:-5000} ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

# keyward-bench and keyward read flags from the environment too: start from a clean one.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION \
    AWS_SHARED_CREDENTIALS_FILE
for name in $(compgen -e | grep '^KEYWARD_' || true); do
    unset "$name"
done

aws_workloads=(encrypt-32 encrypt-4k decrypt generate-data-key get-secret-value create-key put-secret-value)
transit_workloads=(encrypt-32 encrypt-4k decrypt generate-data-key)

work=$(mktemp -d -t keyward-compare.XXXXXX)
pids=()
stop_servers() {
    for pid in "${pids[@]+"${pids[@]}"}"; do
        kill "$pid" 2>/dev/null || true
    done
    # Up to 10 s to stop cleanly, then SIGKILL.
    for pid in "${pids[@]+"${pids[@]}"}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
cleanup() {
    local status=$?
    stop_servers
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "kept $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http NAME PID URL: until URL answers with any HTTP status, for at most 60 s.
wait_http() {
    local name=$1 pid=$2 url=$3 code
    for _ in $(seq 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during start-up; its log:"
            tail -n 30 "$work/$name.log" >&2
            return 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
        if [[ $code != 000 ]]; then
            return 0
        fi
        sleep 0.2
    done
    log "$name did not answer at $url within 60 s; its log:"
    tail -n 30 "$work/$name.log" >&2
    return 1
}

log "== building"
cargo build --release -p keyward -p keyward-bench
keyward_bin=$root/target/release/keyward
bench_bin=$root/target/release/keyward-bench

log "== Python tools (bench/requirements.txt)"
if [[ -x $root/bench/.venv/bin/python ]]; then
    venv=$root/bench/.venv
else
    venv=$work/venv
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/bench/requirements.txt"

log "== starting servers"
keyward_port=$(free_port)
# The server refuses a data directory other users may enter.
mkdir -p -m 700 "$work/keyward-data"
"$keyward_bin" server --listen "127.0.0.1:$keyward_port" --data-dir "$work/keyward-data" \
    >"$work/keyward.log" 2>&1 &
pids+=($!)
wait_http keyward "$!" "http://127.0.0.1:$keyward_port/"

moto_port=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_http moto "$!" "http://127.0.0.1:$moto_port/moto-api/"

bao_port=$(free_port)
bao_token=keyward-compare-$RANDOM$RANDOM
# The wrapper execs the real binary, so $! is OpenBao itself.
"$venv/bin/bao" server -dev -dev-root-token-id="$bao_token" \
    -dev-listen-address="127.0.0.1:$bao_port" >"$work/openbao.log" 2>&1 &
pids+=($!)
wait_http openbao "$!" "http://127.0.0.1:$bao_port/v1/sys/health"
curl -sf -o /dev/null -H "X-Vault-Token: $bao_token" -X POST -d '{"type":"transit"}' \
    "http://127.0.0.1:$bao_port/v1/sys/mounts/transit"

keyward_version=$("$keyward_bin" --version)
moto_version=$("$venv/bin/python" -c 'import moto; print(moto.__version__)')
openbao_version=$("$venv/bin/bao" version | head -n 1 | cut -d ' ' -f 1,2)  # "OpenBao v2.7.2"
log "$keyward_version | moto $moto_version | $openbao_version"

# run_one TARGET WORKLOAD ROUND: one keyward-bench run, its JSON kept under $work/runs.
mkdir -p "$work/runs"
run_one() {
    local target=$1 workload=$2 round=$3 json
    json="$work/runs/$target.$workload.$round.json"
    local common=(--workload "$workload" --duration "$DURATION" --warmup "$WARMUP"
        --connections "$CONNECTIONS" --json "$json")
    case $target in
        keyward)
            "$bench_bin" "${common[@]}" --endpoint "http://127.0.0.1:$keyward_port" \
                --credentials-file "$work/keyward-data/credentials" ;;
        moto)
            "$bench_bin" "${common[@]}" --endpoint "http://127.0.0.1:$moto_port" \
                --access-key-id testing --secret-access-key testing ;;
        openbao)
            "$bench_bin" "${common[@]}" --endpoint "http://127.0.0.1:$bao_port" \
                --protocol openbao --vault-token "$bao_token" ;;
    esac >"$work/runs/$target.$workload.$round.txt"
    awk '$1 == "req/s" { rate = $2 } $1 == "errors" { errors = $2 }
        END { printf "%10s req/s  %s errors\n", rate, errors }' "$work/runs/$target.$workload.$round.txt"
}

targets=(keyward moto openbao)
for round in $(seq "$ROUNDS"); do
    for workload in "${aws_workloads[@]}"; do
        # Each round starts with a different target, so no server always goes first.
        for i in "${!targets[@]}"; do
            target=${targets[$(((i + round - 1) % ${#targets[@]}))]}
            if [[ $target == openbao && " ${transit_workloads[*]} " != *" $workload "* ]]; then
                continue
            fi
            printf 'round %s/%s  %-18s %-8s ' "$round" "$ROUNDS" "$workload" "$target" >&2
            run_one "$target" "$workload" "$round" >&2
        done
    done
done

stop_servers
scale_args=()
if [[ $SCALE != 0 ]]; then
    log "== scale (bench/scale.sh)"
    # A failure here costs the Scale section, not the comparison already measured.
    if SCALE_N=${SCALE_N:-100000} BUILD=0 bash "$root/bench/scale.sh" "$work/scale.json"; then
        scale_args=(--scale "$work/scale.json")
    else
        log "bench/scale.sh failed; the report has no Scale section"
    fi
fi

if [[ ${STALL:-1} != 0 ]]; then
    log "== slow work (bench/stall.sh)"
    if BUILD=0 bash "$root/bench/stall.sh" "$work/stall.json"; then
        scale_args+=(--stall "$work/stall.json")
    else
        log "bench/stall.sh failed; the report has no Slow work section"
    fi
fi

log "== report"
python3 "$root/bench/report.py" --runs "$work/runs" --out "$OUT" "${scale_args[@]+"${scale_args[@]}"}" \
    --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNECTIONS" \
    --keyward-version "$keyward_version" --moto-version "$moto_version" \
    --openbao-version "$openbao_version" \
    --keyward-data-fs "$(findmnt -n -o FSTYPE -T "$work/keyward-data" 2>/dev/null || stat -f -c %T "$work/keyward-data")"
log "wrote $OUT"
