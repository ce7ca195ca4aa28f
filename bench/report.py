#!/usr/bin/env python3
"""Turns the keyward-bench JSON reports of one bench/compare.sh run into docs/performance.md.

Reads <runs>/<target>.<workload>.<round>.json, takes for each target and workload the
median over the rounds of req/s, p50 and p99, and writes the markdown file; the result
tables are printed on stdout too. With --scale, the results of bench/scale.sh (one JSON
file) become a "Scale" section. Standard library only.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys

TARGETS = [
    ("keyward", "Keyward"),
    ("moto", "moto"),
    ("openbao", "OpenBao"),
]
WORKLOADS = [
    "encrypt-32",
    "encrypt-4k",
    "decrypt",
    "generate-data-key",
    "get-secret-value",
    "create-key",
    "put-secret-value",
]
ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_runs(directory):
    """{(target, workload): [report, ...]} from every JSON report in `directory`."""
    runs = {}
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        target = path.name.split(".", 1)[0]
        report = json.loads(path.read_text())
        runs.setdefault((target, report["workload"]), []).append(report)
    return runs


def summarise(reports):
    """Median req/s, p50 and p99 (µs) over the rounds, and the errors of all of them."""
    with_latency = [r["latency"] for r in reports if r.get("latency")]
    return {
        "rate": statistics.median(r["requests_per_s"] for r in reports),
        "p50": statistics.median(l["p50_us"] for l in with_latency) if with_latency else None,
        "p99": statistics.median(l["p99_us"] for l in with_latency) if with_latency else None,
        "errors": sum(r["errors"] for r in reports),
        "requests": sum(r["requests"] for r in reports),
        "opened": sum(r.get("connections_opened", 0) for r in reports),
        "runs": len(reports),
    }


def rate(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def ms(micros):
    return "—" if micros is None else f"{micros / 1000:.2f}"


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator["rate"] <= 0:
        return "—"
    value = numerator["rate"] / denominator["rate"]
    return f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


def command(*args):
    try:
        return subprocess.run(
            args, cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine(args):
    cpu = ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    commit = command("git", "rev-parse", "--short=12", "HEAD") or "unknown"
    if command("git", "status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    return [
        ("CPUs (`nproc`)", str(cpus)),
        ("CPU", cpu or platform.processor() or "unknown"),
        ("Memory", memory or "unknown"),
        ("Kernel", f"{platform.system()} {platform.release()}"),
        ("Date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("Commit", commit),
        ("Keyward", args.keyward_version),
        ("moto", args.moto_version),
        ("OpenBao", args.openbao_version),
    ]


def results(runs):
    """The markdown of the summary and per-workload tables."""
    out = []
    stats = {key: summarise(reports) for key, reports in runs.items()}
    out += [
        "## Summary",
        "",
        "Median requests per second; the ratios are Keyward's median over the other's.",
        "",
        "| workload | Keyward | moto | OpenBao | Keyward / moto | Keyward / OpenBao |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for workload in WORKLOADS:
        row = [stats.get((t, workload)) for t, _ in TARGETS]
        if not any(row):
            continue
        cells = [rate(s["rate"]) if s else "—" for s in row]
        out.append(
            f"| `{workload}` | {' | '.join(cells)} | {ratio(row[0], row[1])} | {ratio(row[0], row[2])} |"
        )
    out.append("")
    out += throughput_targets(stats)
    for target, name in TARGETS:
        mine = [s for (t, _), s in stats.items() if t == target]
        requests = sum(s["requests"] for s in mine)
        opened = sum(s["opened"] for s in mine)
        if requests and opened > requests / 2:
            out += [
                f"{name} closed its connection after most responses ({opened:,} connections "
                f"for {requests:,} requests): keyward-bench reconnects before the next "
                "request, outside the measured latency but inside the req/s figure.",
                "",
            ]
    for workload in WORKLOADS:
        keyward = stats.get(("keyward", workload))
        rows = [(name, stats.get((t, workload))) for t, name in TARGETS]
        if not any(s for _, s in rows):
            continue
        out += [
            f"### `{workload}`",
            "",
            "| target | req/s | p50 (ms) | p99 (ms) | errors / requests | Keyward / target |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for name, s in rows:
            if s is None:
                continue
            versus = "—" if name == "Keyward" else ratio(keyward, s)
            out.append(
                f"| {name} | {rate(s['rate'])} | {ms(s['p50'])} | {ms(s['p99'])} "
                f"| {s['errors']:,} / {s['requests']:,} | {versus} |"
            )
        out.append("")
    failing = sorted(f"{t} {w}" for (t, w), s in stats.items() if s["errors"])
    if failing:
        out += [
            "**Some runs had errors** (" + ", ".join(failing) + "): their figures count "
            "failed requests too and are not comparable.",
            "",
        ]
    return out


def throughput_targets(stats):
    """Issue 8's targets for the comparison, each marked met or missed."""
    out = ["Against the targets (issue 8):", ""]

    def get(target, workload):
        return stats.get((target, workload))

    for workload in ("encrypt-32", "decrypt", "generate-data-key", "get-secret-value"):
        mine, moto = get("keyward", workload), get("moto", workload)
        if mine and moto and moto["rate"] > 0:
            value = mine["rate"] / moto["rate"]
            out.append(f"- `{workload}` Keyward / moto: {value:.1f}×; target ≥ 60×{pass_mark(value >= 60)}.")
    for workload in ("encrypt-32", "decrypt"):
        mine, bao = get("keyward", workload), get("openbao", workload)
        if mine and bao and bao["rate"] > 0:
            value = mine["rate"] / bao["rate"]
            out.append(f"- `{workload}` Keyward / OpenBao: {value:.2f}×; target ≥ 3×{pass_mark(value >= 3)}.")
    for workload in ("encrypt-32", "decrypt", "generate-data-key", "get-secret-value"):
        mine = get("keyward", workload)
        if mine and mine["p99"] is not None:
            value = mine["p99"] / 1000
            out.append(f"- `{workload}` p99 at 64 connections: {value:.1f} ms; target ≤ 5 ms{pass_mark(value <= 5)}.")
    for workload in ("create-key", "put-secret-value"):
        mine = get("keyward", workload)
        if mine:
            value = mine["rate"]
            out.append(f"- `{workload}`: {rate(value)}/s, each durable when acknowledged; target ≥ 2,000/s{pass_mark(value >= 2000)}.")
    out.append("")
    return out if len(out) > 3 else []


def mib(kb):
    return "—" if kb is None else f"{kb / 1024:.1f}"


def pass_mark(ok):
    return "" if ok is None else (" (met)" if ok else " (**missed**)")


def scale_section(scale):
    """The markdown of the "Scale" section, from bench/scale.sh's JSON."""
    settings = scale.get("settings", {})
    targets = scale.get("targets", {})
    levels = scale.get("levels", [])
    empty = scale.get("empty", {})
    connections = settings.get("list_connections", "?")
    out = [
        "## Scale",
        "",
        f"From `bench/scale.sh` (with {scale.get('keyward_version', 'Keyward')}, on "
        f"{scale.get('data_fs', 'an unknown file system')}): Keyward alone on a new data "
        "directory, filled with `keyward-bench --workload create-key` and `create-secret` "
        "to each size (the same number of keys and of secrets). At each size `list-keys` "
        f"(`ListKeys`, `Limit` {settings.get('list_page', 100)}) and `list-secrets` "
        f"(`ListSecrets`, `MaxResults` {settings.get('list_page', 100)}, default order) ask "
        f"for the first page for {scale.get('list_duration', '?')} each, over {connections} "
        f"connections, after {scale.get('list_warmup', '?')} of warm-up (so with "
        f"{connections} requests in flight, sharing the CPUs with the load generator), "
        f"{settings.get('list_rounds', 1)} times in turn; the figures are the medians. Then "
        "the server is stopped (SIGTERM) and started again on the same data directory. "
        "Start-up is the time from exec to the first HTTP answer (polled every 5 ms), the "
        f"median of {settings.get('start_rounds', 1)} starts; RSS is `VmRSS` from `/proc`, idle "
        f"{settings.get('idle_wait_s', '?')} s after start-up, and again after the list "
        "runs (that server made the keys and secrets and served the lists).",
        "",
        "| keys and secrets | ListKeys p50 / p99 (ms) | ListSecrets p50 / p99 (ms) "
        "| start-up (ms) | RSS idle / after lists (MiB) |",
        "|--:|--:|--:|--:|--:|",
        f"| 0 | — | — | {empty.get('startup_ms', '—')} | {mib(empty.get('rss_idle_kb'))} / — |",
    ]

    def pair(run):
        return f"{ms(run.get('p50_us'))} / {ms(run.get('p99_us'))}" if run else "—"

    for level in levels:
        out.append(
            f"| {level['items']:,} | {pair(level.get('list_keys'))} "
            f"| {pair(level.get('list_secrets'))} | {level.get('startup_ms', '—')} "
            f"| {mib(level.get('rss_idle_kb'))} / {mib(level.get('rss_after_lists_kb'))} |"
        )
    out.append("")

    rates = []
    for level in levels:
        keys, secrets = level.get("list_keys"), level.get("list_secrets")
        if keys and secrets:
            rates.append(
                f"{level['items']:,}: {rate(keys['requests_per_s'])} and "
                f"{rate(secrets['requests_per_s'])}"
            )
    if rates:
        out += ["Pages per second (ListKeys and ListSecrets) at " + "; ".join(rates) + ".", ""]

    out += ["Against the targets:", ""]
    ratios = scale.get("list_p50_ratio")
    limit = targets.get("list_p50_ratio_max", 2.0)
    if ratios:
        for name, field in (("ListKeys", "list_keys"), ("ListSecrets", "list_secrets")):
            value = ratios.get(field)
            ok = None if value is None else value <= limit
            shown = "—" if value is None else f"{value:.2f}×"
            out.append(
                f"- {name} p50 with {ratios['to_items']:,} items over p50 with "
                f"{ratios['from_items']:,}: {shown}; target ≤ {limit}×{pass_mark(ok)}."
            )
    largest = levels[-1] if levels else None
    startup_max = targets.get("startup_ms_max", 300)
    if largest and "startup_ms" in largest:
        ok = largest["startup_ms"] <= startup_max
        out.append(
            f"- Start-up with {largest['items']:,} keys and {largest['items']:,} secrets: "
            f"{largest['startup_ms']} ms; target ≤ {startup_max} ms"
            f"{pass_mark(ok) if largest['items'] >= 100_000 else ' (for 100,000 keys)'}."
        )
    rss_max = targets.get("idle_rss_mb_max", 50)
    idle = [("empty", empty.get("rss_idle_kb"))] + [
        (f"{l['items']:,} each", l.get("rss_idle_kb")) for l in levels
    ]
    idle = [(name, kb) for name, kb in idle if kb is not None]
    if idle:
        worst = max(kb for _, kb in idle)
        out.append(
            "- Idle RSS: "
            + ", ".join(f"{mib(kb)} MiB {name}" for name, kb in idle)
            + f"; target ≤ {rss_max} MB{pass_mark(worst * 1024 <= rss_max * 1_000_000)}."
        )
    out.append("")
    failing = [
        f"{level['items']:,} {name}"
        for level in levels
        for name in ("create_key", "create_secret", "list_keys", "list_secrets")
        if level.get(name, {}).get("errors")
    ]
    if failing:
        out += [
            "**Some scale runs had errors** (" + ", ".join(failing) + "): their figures "
            "count failed requests too.",
            "",
        ]
    return out


def stall_section(stall):
    """The markdown of the "Slow work" section, from bench/stall.sh's JSON."""
    alone, loaded = stall["alone"], stall["loaded"]
    ratio_p99 = loaded["p99_us"] / alone["p99_us"] if alone.get("p99_us") else None
    # A key generation takes about a second of CPU: had it run on the executor, the
    # requests queued behind it would wait that long.
    held = loaded["max_p99_us"] < 250_000 and loaded["errors"] == 0
    out = [
        "## Slow work",
        "",
        f"From `bench/stall.sh` (with {stall.get('keyward_version', 'Keyward')}): `encrypt-32` over "
        f"{stall['connections']} connections for {stall['duration']}, alone and while a second "
        f"`keyward-bench` creates RSA_4096 signing keys over {stall['rsa_connections']} connections "
        f"(each key is about a second of CPU); the median of {stall['rounds']} rounds.",
        "",
        "| encrypt-32 | req/s | p50 ms | p99 ms | p99.9 ms | worst round p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, run in (("alone", alone), ("while RSA_4096 keys are created", loaded)):
        out.append(
            f"| {name} | {rate(run['requests_per_s'])} | {ms(run['p50_us'])} | {ms(run['p99_us'])} "
            f"| {ms(run['p999_us'])} | {ms(run['max_p99_us'])} |"
        )
    out += [
        "",
        f"RSA_4096 keys created meanwhile: {stall['rsa_keys_per_s']:.2f}/s (p50 "
        f"{stall['rsa_p50_us'] / 1000:.0f} ms each, {stall['rsa_errors']} errors). "
        + (f"Encrypt's p99 with key generation beside it is {ratio_p99:.1f}× its p99 alone: "
           "the two share two cores, but no request waits for a key generation to finish. "
           if ratio_p99 else "")
        + f"Target: Encrypt p99 holds while RSA_4096 keys are created (no request waits "
        f"behind a generation; worst round p99 under 250 ms){pass_mark(held)}.",
        "",
    ]
    return out


def document(args, runs):
    rounds_word = "round" if args.rounds == 1 else "rounds"
    lines = [
        "<!-- Generated by bench/compare.sh (bench/report.py). Do not edit by hand: run the script again. -->",
        "",
        "# Performance",
        "",
        "This file is generated by `bench/compare.sh`; do not edit it by hand. It compares "
        "Keyward with [moto](https://github.com/getmoto/moto) (the Python AWS emulator, "
        "which serves the same KMS and Secrets Manager API) and "
        "[OpenBao](https://openbao.org) (its transit engine does the KMS-style work: "
        "encrypt, decrypt, data keys), measured in one run on one machine.",
        "",
        "## Method",
        "",
        f"- All three servers run on `127.0.0.1` on the same machine as the load generator "
        f"(which takes its share of the CPUs), "
        f"started fresh for the run: Keyward's release build with a new data directory "
        f"(SQLite, `synchronous=FULL`, on {args.keyward_data_fs}); `moto_server` (state in "
        f"memory); `bao server -dev` (in-memory storage, transit mounted at `transit/`). "
        f"Each logs with its defaults, to a file.",
        f"- The load generator is `keyward-bench` (see [benchmark.md](benchmark.md)): "
        f"{args.connections} keep-alive HTTP/1.1 connections, {args.warmup} of unmeasured "
        f"warm-up, then {args.duration} measured per run. Keyward and moto get SigV4-signed "
        f"AWS JSON 1.1; OpenBao gets `POST /v1/transit/encrypt|decrypt|datakey/plaintext` "
        f"with a token, and only the four workloads transit has.",
        f"- {args.rounds} {rounds_word}: in each round every workload runs against each "
        f"target in turn, the first target changing from round to round, so drift over the "
        f"run (heat, background load) falls on all of them alike.",
        "- Each figure is the median over the rounds of one run's requests per second, p50 "
        "and p99. Latency is from send to the last byte of the response with "
        f"{args.connections} requests in flight, so it is mostly queueing: read it as a "
        "throughput ceiling for this machine, not the latency of a lone request.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value} |" for name, value in machine(args)]
    lines.append("")
    body = results(runs)
    if args.scale:
        body += scale_section(json.loads(pathlib.Path(args.scale).read_text()))
    if args.stall:
        body += stall_section(json.loads(pathlib.Path(args.stall).read_text()))
    return lines + body, body


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", required=True, help="directory of keyward-bench JSON reports")
    parser.add_argument("--out", required=True, help="markdown file to write")
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--duration", required=True)
    parser.add_argument("--warmup", required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--keyward-version", required=True)
    parser.add_argument("--moto-version", required=True)
    parser.add_argument("--openbao-version", required=True)
    parser.add_argument("--keyward-data-fs", default="an unknown file system")
    parser.add_argument("--scale", help="bench/scale.sh's JSON results, for a Scale section")
    parser.add_argument("--stall", help="bench/stall.sh's JSON results, for a Slow work section")
    args = parser.parse_args()

    runs = load_runs(args.runs)
    if not runs:
        sys.exit(f"report.py: no JSON reports in {args.runs}")
    text, tables = document(args, runs)
    pathlib.Path(args.out).write_text("\n".join(text).rstrip("\n") + "\n")
    print("\n".join(tables))


if __name__ == "__main__":
    main()
