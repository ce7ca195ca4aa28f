#!/usr/bin/env bash
# Slow work must not stall other requests: Encrypt's latency with and without RSA_4096 key
# generation running beside it, on this machine. Starts Keyward (release build) on a new
# data directory and runs, ROUNDS times in turn:
#   alone:  keyward-bench encrypt-32 for DURATION over CONNECTIONS connections;
#   loaded: the same, while a second keyward-bench creates RSA_4096 signing keys
#           (create-key-rsa4096) over RSA_CONNECTIONS connections.
# Writes one JSON file (default target/stall.json) that bench/report.py turns into the
# "Slow work" section of docs/performance.md. An RSA_4096 key takes about a second of CPU
# to generate: if it ran on the async executor, Encrypt's p99 would jump to that second.
#
#   bench/stall.sh [OUT.json]
#
# Environment: ROUNDS (3), DURATION (8s), WARMUP (1s), CONNECTIONS (16), RSA_CONNECTIONS
# (2), BUILD=0 skips the cargo build, KEEP=1 keeps the temporary directory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
WARMUP=${WARMUP:-1s}
CONNECTIONS=${CONNECTIONS:-16}
RSA_CONNECTIONS=${RSA_CONNECTIONS:-2}
case $# in
    0) out=${STALL_OUT:-$root/target/stall.json} ;;
    1) out=$1 ;;
    *) echo "usage: $0 [OUT.json]" >&2; exit 2 ;;
esac
for n in "$ROUNDS" "$CONNECTIONS" "$RSA_CONNECTIONS"; do
    if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
        echo "stall.sh: not a positive whole number: $n" >&2
        exit 2
    fi
done
if ! [[ $DURATION =~ ^([0-9]+)s$ ]]; then
    echo "stall.sh: DURATION must be whole seconds, like 8s" >&2
    exit 2
fi
duration_s=${BASH_REMATCH[1]}

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION \
    AWS_SHARED_CREDENTIALS_FILE
for name in $(compgen -e | grep '^KEYWARD_' || true); do
    unset "$name"
done

helper=$root/bench/scale.py
work=$(mktemp -d -t keyward-stall.XXXXXX)
data=$work/data
runs=$work/runs
mkdir -p "$runs"
# The server refuses a data directory other users may enter.
mkdir -p -m 700 "$data"
server_pid=
rsa_pid=
cleanup() {
    local status=$?
    [[ -n $rsa_pid ]] && kill "$rsa_pid" 2>/dev/null || true
    if [[ -n $server_pid ]]; then
        python3 "$helper" stop "$server_pid" >/dev/null 2>&1 || kill -KILL "$server_pid" 2>/dev/null || true
    fi
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

if [[ ${BUILD:-1} != 0 ]]; then
    log "== building"
    cargo build --release -p keyward -p keyward-bench
fi
keyward_bin=$root/target/release/keyward
bench_bin=$root/target/release/keyward-bench

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
started=$(python3 "$helper" start --addr "127.0.0.1:$port" --log "$work/keyward.log" -- \
    "$keyward_bin" server --listen "127.0.0.1:$port" --data-dir "$data") || {
    log "Keyward did not start; its log:"
    tail -n 30 "$work/keyward.log" >&2
    exit 1
}
server_pid=${started%% *}

bench() {
    "$bench_bin" --endpoint "http://127.0.0.1:$port" --credentials-file "$data/credentials" "$@"
}

for round in $(seq "$ROUNDS"); do
    log "== round $round: encrypt-32 alone"
    bench --workload encrypt-32 --duration "$DURATION" --warmup "$WARMUP" \
        --connections "$CONNECTIONS" --json "$runs/alone.$round.json" >/dev/null
    log "== round $round: encrypt-32 while RSA_4096 keys are created"
    # The key generation starts first and outlasts the measured run on both sides.
    bench --workload create-key-rsa4096 --duration "$((duration_s + 4))s" --warmup 0 \
        --connections "$RSA_CONNECTIONS" --json "$runs/rsa.$round.json" >/dev/null &
    rsa_pid=$!
    sleep 1
    bench --workload encrypt-32 --duration "$DURATION" --warmup "$WARMUP" \
        --connections "$CONNECTIONS" --json "$runs/loaded.$round.json" >/dev/null
    wait "$rsa_pid"
    rsa_pid=
done

python3 - "$runs" "$out" "$ROUNDS" "$CONNECTIONS" "$RSA_CONNECTIONS" "$DURATION" \
    "$("$keyward_bin" --version)" "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" <<'PY'
import json, pathlib, statistics, sys
runs, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rounds, connections, rsa_connections = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def load(kind):
    return [json.loads((runs / f"{kind}.{r}.json").read_text()) for r in range(1, rounds + 1)]
def summary(reports):
    lat = [r.get("latency") or {} for r in reports]
    med = lambda key: statistics.median(l.get(key, 0) for l in lat)
    return {
        "requests_per_s": statistics.median(r["requests_per_s"] for r in reports),
        "p50_us": med("p50_us"), "p99_us": med("p99_us"), "p999_us": med("p999_us"),
        "max_p99_us": max(l.get("p99_us", 0) for l in lat),
        "errors": sum(r["errors"] for r in reports),
    }
rsa = load("rsa")
result = {
    "keyward_version": sys.argv[7], "commit": sys.argv[8], "rounds": rounds,
    "connections": connections, "rsa_connections": rsa_connections, "duration": sys.argv[6],
    "alone": summary(load("alone")), "loaded": summary(load("loaded")),
    "rsa_keys_per_s": statistics.median(r["requests_per_s"] for r in rsa),
    "rsa_p50_us": statistics.median((r.get("latency") or {}).get("p50_us", 0) for r in rsa),
    "rsa_errors": sum(r["errors"] for r in rsa),
}
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(result, indent=2) + "\n")
a, l = result["alone"], result["loaded"]
print(f"encrypt-32 alone:    {a['requests_per_s']:8.0f} req/s  p50 {a['p50_us']/1000:6.2f} ms  p99 {a['p99_us']/1000:6.2f} ms")
print(f"encrypt-32 with RSA: {l['requests_per_s']:8.0f} req/s  p50 {l['p50_us']/1000:6.2f} ms  p99 {l['p99_us']/1000:6.2f} ms"
      f"  (worst round p99 {l['max_p99_us']/1000:.2f} ms)")
print(f"RSA_4096 keys: {result['rsa_keys_per_s']:.2f}/s, p50 {result['rsa_p50_us']/1000:.0f} ms, {result['rsa_errors']} errors")
PY
