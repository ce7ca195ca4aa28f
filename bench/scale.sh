#!/usr/bin/env bash
# Keyward with many keys and secrets, on this machine: ListKeys and ListSecrets page latency
# with SCALE_SMALL (1,000) and SCALE_N (100,000) keys and secrets each, start-up time and
# resident memory (RSS) empty and at each size. Writes one JSON file and prints a table;
# bench/report.py turns the JSON into the "Scale" section of docs/performance.md.
#
#   bench/scale.sh [OUT.json]         # default target/scale.json; about 5 minutes
#   SCALE_N=5000 bench/scale.sh       # to try it out
#
# Steps: start Keyward on a new data directory (start-up time: from exec to the first HTTP
# answer, polled every 5 ms, the median of START_ROUNDS starts; RSS after IDLE_WAIT seconds
# idle); then for each size, create keys and secrets up to it with keyward-bench
# (create-key, create-secret), run list-keys and list-secrets (the first page of 100)
# LIST_ROUNDS times in turn, read the RSS, stop the server (SIGTERM), start it again on the
# same data directory and measure start-up time and idle RSS once more.
#
# Environment: SCALE_N (100000), SCALE_SMALL (1000), LIST_ROUNDS (3), LIST_CONNECTIONS (4),
# LIST_DURATION (3s), LIST_WARMUP (1s), START_ROUNDS (3), POPULATE_CONNECTIONS (32),
# IDLE_WAIT (2, seconds), SCALE_OUT (the JSON file, if no argument), BUILD=0 skips the cargo
# build, KEEP=1 keeps the temporary directory (server log, data directory, per-run
# reports). Needs cargo, python3 and Linux (/proc).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

SCALE_N=${SCALE_N:-100000}
SCALE_SMALL=${SCALE_SMALL:-1000}
LIST_ROUNDS=${LIST_ROUNDS:-3}
START_ROUNDS=${START_ROUNDS:-3}
LIST_CONNECTIONS=${LIST_CONNECTIONS:-4}
LIST_DURATION=${LIST_DURATION:-3s}
LIST_WARMUP=${LIST_WARMUP:-1s}
POPULATE_CONNECTIONS=${POPULATE_CONNECTIONS:-32}
IDLE_WAIT=${IDLE_WAIT:-2}
case $# in
    0) out=${SCALE_OUT:-$root/target/scale.json} ;;
    1) out=$1 ;;
    *) echo "usage: $0 [OUT.json]" >&2; exit 2 ;;
esac
for n in "$SCALE_N" "$SCALE_SMALL" "$LIST_ROUNDS" "$LIST_CONNECTIONS" "$START_ROUNDS" \
    "$POPULATE_CONNECTIONS" "$IDLE_WAIT"; do
    if ! [[ $n =~ ^[0-9]+$ ]]; then
        echo "scale.sh: not a whole number: $n" >&2
        exit 2
    fi
done
if ((LIST_ROUNDS < 1 || START_ROUNDS < 1)); then
    echo "scale.sh: LIST_ROUNDS and START_ROUNDS must be at least 1" >&2
    exit 2
fi
# The sizes measured, ascending, without duplicates or zero.
mapfile -t levels < <(printf '%s\n' "$SCALE_SMALL" "$SCALE_N" | sort -n -u | grep -v '^0$')

# keyward-bench and keyward read flags from the environment too: start from a clean one.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION \
    AWS_SHARED_CREDENTIALS_FILE
for name in $(compgen -e | grep '^KEYWARD_' || true); do
    unset "$name"
done

helper=$root/bench/scale.py
work=$(mktemp -d -t keyward-scale.XXXXXX)
data=$work/data
runs=$work/runs
facts=$work/facts
mkdir -p "$runs"
# The server refuses a data directory other users may enter.
mkdir -p -m 700 "$data"
: >"$facts"
server_pid=
cleanup() {
    local status=$?
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
fact() { printf '%s %s %s\n' "$1" "$2" "$3" >>"$facts"; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server LEVEL: starts Keyward on $data START_ROUNDS times (stopping it in between),
# records each start-up time, and the idle RSS of the last start, which it leaves running.
start_server() {
    local level=$1 round started rss times=()
    for round in $(seq "$START_ROUNDS"); do
        port=$(free_port)
        started=$(python3 "$helper" start --addr "127.0.0.1:$port" --log "$work/keyward.log" -- \
            "$keyward_bin" server --listen "127.0.0.1:$port" --data-dir "$data") || {
            log "Keyward did not start; its log:"
            tail -n 30 "$work/keyward.log" >&2
            return 1
        }
        server_pid=${started%% *}
        fact "$level" startup_ms_each "${started##* }"
        times+=("${started##* }")
        if ((round < START_ROUNDS)); then
            python3 "$helper" stop "$server_pid" >/dev/null
            server_pid=
        fi
    done
    sleep "$IDLE_WAIT"
    rss=$(python3 "$helper" rss "$server_pid")
    fact "$level" rss_idle_kb "${rss%% *}"
    log "  start-up ${times[*]} ms, idle RSS ${rss%% *} kB"
}

stop_server() {
    local level=$1 took
    took=$(python3 "$helper" stop "$server_pid")
    server_pid=
    fact "$level" stop_ms "$took"
    log "  stopped in $took ms"
}

# bench LEVEL RUN ARGS...: one keyward-bench run of the workload RUN names (RUN is the
# workload, or WORKLOAD.ROUND); its report goes to $runs/LEVEL.RUN.json.
bench() {
    local level=$1 run=$2
    shift 2
    "$bench_bin" --endpoint "http://127.0.0.1:$port" --credentials-file "$data/credentials" \
        --workload "${run%%.*}" --json "$runs/$level.$run.json" "$@" >"$runs/$level.$run.txt"
}

# populate LEVEL WORKLOAD COUNT: exactly COUNT successful creations (--warmup 0 measures
# every request sent, and --requests stops after COUNT of them).
populate() {
    local level=$1 workload=$2 count=$3
    ((count > 0)) || return 0
    bench "$level" "$workload" --requests "$count" --warmup 0 --connections "$POPULATE_CONNECTIONS"
    python3 - "$runs/$level.$workload.json" "$count" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
if report["errors"] or report["requests"] != want:
    sys.exit(f"scale.sh: {report['workload']}: {report['requests']} requests, "
             f"{report['errors']} errors {report['error_codes']}, wanted {want} successes")
print(f"  {report['workload']}: {want} in {report['elapsed_s']:.1f} s "
      f"({report['requests_per_s']:.0f}/s)", file=sys.stderr)
EOF
}

# measure LEVEL WORKLOAD ROUND: a timed list run; its errors are reported, not fatal.
measure() {
    local level=$1 workload=$2 round=$3
    bench "$level" "$workload.$round" --duration "$LIST_DURATION" --warmup "$LIST_WARMUP" \
        --connections "$LIST_CONNECTIONS"
    python3 - "$runs/$level.$workload.$round.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
l = r.get("latency") or {}
print(f"  {r['workload']}: {r['requests_per_s']:.0f} req/s, p50 {l.get('p50_us', 0) / 1000:.2f} ms, "
      f"p99 {l.get('p99_us', 0) / 1000:.2f} ms, {r['errors']} errors", file=sys.stderr)
EOF
}

if [[ ${BUILD:-1} != 0 ]]; then
    log "== building"
    cargo build --release -p keyward -p keyward-bench
fi
keyward_bin=$root/target/release/keyward
bench_bin=$root/target/release/keyward-bench

fact meta keyward_version "$("$keyward_bin" --version)"
fact meta commit "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
fact meta data_fs "$(findmnt -n -o FSTYPE -T "$data" 2>/dev/null || stat -f -c %T "$data")"
fact settings scale_n "$SCALE_N"
fact settings scale_small "$SCALE_SMALL"
fact settings list_rounds "$LIST_ROUNDS"
fact settings list_connections "$LIST_CONNECTIONS"
fact settings start_rounds "$START_ROUNDS"
fact meta list_duration "$LIST_DURATION"
fact meta list_warmup "$LIST_WARMUP"
fact settings list_page 100
fact settings populate_connections "$POPULATE_CONNECTIONS"
fact settings idle_wait_s "$IDLE_WAIT"

log "== empty data directory"
start_server empty

have=0
for level in "${levels[@]}"; do
    log "== $level keys and $level secrets"
    populate "$level" create-key $((level - have))
    populate "$level" create-secret $((level - have))
    have=$level
    counted=$(python3 "$helper" count "$data/keyward.db" 2>/dev/null || true)
    if [[ -n $counted ]]; then
        # Rows in the database: the keys include the account's aws/secretsmanager key.
        fact "$level" keys_in_db "${counted%% *}"
        fact "$level" secrets_in_db "${counted##* }"
    fi
    for round in $(seq "$LIST_ROUNDS"); do
        measure "$level" list-keys "$round"
        measure "$level" list-secrets "$round"
    done
    rss=$(python3 "$helper" rss "$server_pid")
    fact "$level" rss_after_lists_kb "${rss%% *}"
    fact "$level" rss_peak_kb "${rss##* }"
    log "  RSS after the runs ${rss%% *} kB (peak ${rss##* } kB)"
    stop_server "$level"
    fact "$level" data_dir_bytes "$(du -sb "$data" | cut -f 1)"
    log "  restarting on the same data directory"
    start_server "$level"
done
stop_server final

mkdir -p "$(dirname "$out")"
log "== results"
python3 "$helper" collect --facts "$facts" --runs "$runs" --out "$out"
log "wrote $out"
