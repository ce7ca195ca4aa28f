#!/usr/bin/env python3
"""Helpers of bench/scale.sh (standard library only).

  scale.py start --addr HOST:PORT --log FILE -- CMD...   start CMD, print "PID MS"
  scale.py stop PID                                      SIGTERM, print MS until it is gone
  scale.py rss PID                                       print "VmRSS_kB VmHWM_kB"
  scale.py count DB                                      print "KEYS SECRETS" (rows in the tables)
  scale.py collect --facts FILE --runs DIR --out JSON    write the results, print a table

`start` measures start-up from just before the exec to the first HTTP answer on ADDR (any
status), polling every 5 ms for at most 60 s. The server is left running (its parent is
gone once this exits, so `stop` polls /proc instead of waiting for it).
"""

import argparse
import json
import os
import pathlib
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time

POLL_S = 0.005
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

# What the figures are measured against (bench/compare.sh and docs/performance.md show them).
TARGETS = {
    "list_p50_ratio_max": 2.0,
    "startup_ms_max": 300,
    "idle_rss_mb_max": 50,
}


def answers_http(host, port):
    """Whether something on host:port answers a request with an HTTP status line."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            return s.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def alive(pid):
    """Whether `pid` runs (a zombie nobody has reaped yet counts as gone)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def start(args):
    host, port = args.addr.rsplit(":", 1)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    with open(args.log, "ab") as log:
        begun = time.monotonic()
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    while time.monotonic() - begun < START_TIMEOUT_S:
        if answers_http(host, int(port)):
            elapsed_ms = (time.monotonic() - begun) * 1000
            print(f"{child.pid} {elapsed_ms:.1f}")
            return 0
        if child.poll() is not None:
            sys.exit(f"scale.py: the server exited with status {child.returncode} during start-up")
        time.sleep(POLL_S)
    child.kill()
    child.wait()
    sys.exit(f"scale.py: no HTTP answer on {args.addr} within {START_TIMEOUT_S:.0f} s")


def stop(args):
    begun = time.monotonic()
    try:
        os.kill(args.pid, signal.SIGTERM)
    except ProcessLookupError:
        sys.exit(f"scale.py: process {args.pid} is not running")
    while alive(args.pid):
        if time.monotonic() - begun > STOP_TIMEOUT_S:
            os.kill(args.pid, signal.SIGKILL)
            sys.exit(f"scale.py: {args.pid} still running {STOP_TIMEOUT_S:.0f} s after SIGTERM; killed")
        time.sleep(POLL_S)
    print(f"{(time.monotonic() - begun) * 1000:.1f}")
    return 0


def rss(args):
    fields = {}
    for line in pathlib.Path(f"/proc/{args.pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.split()[0] if value.split() else ""
    print(fields["VmRSS"], fields["VmHWM"])
    return 0


def count(args):
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True, timeout=10)
    try:
        keys = db.execute("SELECT count(*) FROM keys").fetchone()[0]
        secrets = db.execute("SELECT count(*) FROM secrets").fetchone()[0]
    finally:
        db.close()
    print(keys, secrets)
    return 0


def number(text):
    """An int or float for a plain decimal number, else the text (a version, a commit)."""
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", text):
        return float(text)
    return text


def load_facts(path):
    """{level: {name: value}} from lines "LEVEL NAME VALUE"; level `meta` holds text, and a
    name ending in `_each` collects every value given to it in a list."""
    facts = {}
    for line in pathlib.Path(path).read_text().splitlines():
        if line.strip():
            level, name, value = line.split(None, 2)
            value = value if level == "meta" else number(value)
            if name.endswith("_each"):
                facts.setdefault(level, {}).setdefault(name, []).append(value)
            else:
                facts.setdefault(level, {})[name] = value
    return facts


def run_summary(path):
    """The figures of one keyward-bench JSON report that the results keep."""
    report = json.loads(pathlib.Path(path).read_text())
    latency = report.get("latency") or {}
    summary = {
        "requests": report["requests"],
        "errors": report["errors"],
        "error_codes": report["error_codes"],
        "requests_per_s": round(report["requests_per_s"], 1),
        "connections": report["connections"],
        "elapsed_s": round(report["elapsed_s"], 3),
    }
    for name in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us"):
        if name in latency:
            summary[name] = latency[name]
    return summary


def median_of_rounds(paths):
    """One run's figures, or for several rounds the median of each figure (requests and
    errors summed), with every round's figures under `each`."""
    runs = [run_summary(path) for path in paths]
    if len(runs) == 1:
        return runs[0]
    codes = {}
    for run in runs:
        for code, n in run["error_codes"]:
            codes[code] = codes.get(code, 0) + n
    out = {
        "rounds": len(runs),
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "error_codes": sorted(codes.items(), key=lambda item: (-item[1], item[0])),
        "connections": runs[0]["connections"],
    }
    for name in ("requests_per_s", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us"):
        values = [r[name] for r in runs if name in r]
        if values:
            out[name] = statistics.median(values)
    out["each"] = runs
    return out


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return round(a / b, 2)


def with_medians(level):
    """`level` with `startup_ms`, the median of the start-ups in `startup_ms_each`."""
    level = dict(level)
    if level.get("startup_ms_each"):
        level["startup_ms"] = round(statistics.median(level["startup_ms_each"]), 1)
    return level


def results(facts, runs):
    levels = []
    for level in sorted((l for l in facts if l.isdigit()), key=int):
        entry = {"items": int(level), **with_medians(facts[level])}
        for workload in ("create-key", "create-secret", "list-keys", "list-secrets"):
            # One report per run: LEVEL.WORKLOAD.json, or LEVEL.WORKLOAD.ROUND.json.
            paths = sorted(pathlib.Path(runs).glob(f"{level}.{workload}.*json"))
            if paths:
                entry[workload.replace("-", "_")] = median_of_rounds(paths)
        levels.append(entry)
    out = {
        **facts.get("meta", {}),
        "settings": facts.get("settings", {}),
        "targets": TARGETS,
        "empty": with_medians(facts.get("empty", {})),
        "levels": levels,
    }
    listed = [l for l in levels if "list_keys" in l and "list_secrets" in l]
    if len(listed) >= 2:
        small, large = listed[0], listed[-1]
        out["list_p50_ratio"] = {
            "from_items": small["items"],
            "to_items": large["items"],
            "list_keys": ratio(large["list_keys"].get("p50_us"), small["list_keys"].get("p50_us")),
            "list_secrets": ratio(
                large["list_secrets"].get("p50_us"), small["list_secrets"].get("p50_us")
            ),
        }
    return out


def table(data):
    """A short plain-text table of `results`."""

    def ms(us):
        return "—" if us is None else f"{us / 1000:.2f}"

    def mib(kb):
        return "—" if kb is None else f"{kb / 1024:.1f}"

    def pair(run):
        if not run:
            return "—"
        return f"{ms(run.get('p50_us'))} / {ms(run.get('p99_us'))}"

    rows = [("items", "ListKeys p50/p99 ms", "ListSecrets p50/p99 ms", "start-up ms",
             "RSS MiB idle / after lists")]
    empty = data["empty"]
    rows.append(("0", "—", "—", f"{empty.get('startup_ms', '—')}",
                 f"{mib(empty.get('rss_idle_kb'))} / —"))
    for level in data["levels"]:
        rows.append((
            f"{level['items']:,}",
            pair(level.get("list_keys")),
            pair(level.get("list_secrets")),
            f"{level.get('startup_ms', '—')}",
            f"{mib(level.get('rss_idle_kb'))} / {mib(level.get('rss_after_lists_kb'))}",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in
                       enumerate(zip(row, widths))) for row in rows]
    targets = data["targets"]
    ratios = data.get("list_p50_ratio")
    if ratios:
        lines.append(
            f"list p50 at {ratios['to_items']:,} / at {ratios['from_items']:,}: ListKeys "
            f"{ratios['list_keys']}×, ListSecrets {ratios['list_secrets']}× "
            f"(target ≤ {targets['list_p50_ratio_max']}×)"
        )
    lines.append(
        f"targets: start-up ≤ {targets['startup_ms_max']} ms with 100k keys, "
        f"idle RSS ≤ {targets['idle_rss_mb_max']} MB"
    )
    errors = [f"{l['items']} {w}" for l in data["levels"]
              for w in ("create_key", "create_secret", "list_keys", "list_secrets")
              if l.get(w, {}).get("errors")]
    if errors:
        lines.append("runs with errors: " + ", ".join(errors))
    return "\n".join(lines)


def collect(args):
    data = results(load_facts(args.facts), args.runs)
    pathlib.Path(args.out).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(table(data))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("start")
    p.add_argument("--addr", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=start)
    p = sub.add_parser("stop")
    p.add_argument("pid", type=int)
    p.set_defaults(func=stop)
    p = sub.add_parser("rss")
    p.add_argument("pid", type=int)
    p.set_defaults(func=rss)
    p = sub.add_parser("count")
    p.add_argument("db")
    p.set_defaults(func=count)
    p = sub.add_parser("collect")
    p.add_argument("--facts", required=True)
    p.add_argument("--runs", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=collect)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
