#!/usr/bin/env python3
# report.py: turns one run's `metric NAME VALUE UNIT` lines into bench/results/<date>.md,
# every cairn figure beside the peer's (PouchDB) and the machine's limit, as ratios.
# Usage: report.py METRICS_FILE OUT_MD [ENV_FILE]
import sys

PEER = "pouchdb.c_leveldb.s_leveldb"
# cairn workload -> (peer metric with {n}, limit metric with {n}, kind, target)
# kind "rate": higher is better; "cost": lower is better (ms, MiB).
ROWS = [
    ("local_put", PEER + ".n{n}.local_single_put", "limit.sqlite.autocommit_insert_sync_normal",
     "rate", "≥ 0.6 × limit"),
    ("local_batch", PEER + ".n{n}.local_bulk_write", "limit.sqlite.n{n}.insert_one_tx", "rate", ""),
    ("push", PEER + ".n{n}.push", "limit.sqlite.n{n}.insert_one_tx", "rate", "≥ 60,000 and ≥ 15 × peer"),
    ("pull", PEER + ".n{n}.pull", "limit.sqlite.n{n}.insert_one_tx", "rate",
     "≥ 100,000 (N=100k) and ≥ 20 × peer"),
    ("incr_push", PEER + ".n{n}.incr_push", "limit.sqlite.n{n}.insert_one_tx", "rate", ""),
    ("incr_pull", PEER + ".n{n}.incr_pull", "limit.sqlite.n{n}.insert_one_tx", "rate", ""),
    ("concurrent_c4_push", None, "limit.sqlite.n{n}.insert_one_tx", "rate", ""),
    ("concurrent_c4_sync", None, "limit.sqlite.n{n}.insert_one_tx", "rate", ""),
    ("live_p50", PEER + ".live.latency_p50", "limit.tcp_loopback.pingpong_rtt_p50", "cost", "≤ 2 ms"),
    ("live_p99", PEER + ".live.latency_p99", "limit.tcp_loopback.pingpong_rtt_p99", "cost", "≤ 10 ms"),
    ("rss_client", PEER + ".n{n}.rss_peak_clientB", None, "cost", "≤ 32 MiB (N=1M)"),
    ("rss_server", PEER + ".n{n}.rss_peak_server", None, "cost", "≤ 64 MiB (N=1M)"),
]


def load(path):
    # the last value wins (the size-free limits are measured once per size)
    metrics = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and parts[0] == "metric":
                try:
                    metrics[parts[1]] = (float(parts[2]), parts[3])
                except ValueError:
                    pass
    return metrics


def fmt(value):
    if value is None:
        return "–"
    v, unit = value
    if abs(v) >= 100:
        return f"{v:,.0f} {unit}"
    return f"{v:.3g} {unit}"


def in_ms(value):
    v, unit = value
    return v / 1000.0 if unit == "us" else v


def ratio(cairn, other, kind):
    if cairn is None or other is None or other[0] == 0 or cairn[0] == 0:
        return "–"
    if kind == "rate":
        return f"{cairn[0] / other[0]:.2f}×"
    return f"{in_ms(other) / in_ms(cairn):.2f}×"


def main():
    metrics = load(sys.argv[1])
    out = sys.argv[2]
    sizes = sorted({int(k.split(".")[1][1:]) for k in metrics
                    if k.startswith("cairn.n") and k.split(".")[1][1:].isdigit()})
    lines = ["# cairn benchmark", ""]
    if len(sys.argv) > 3:
        lines += ["```"] + [l.rstrip() for l in open(sys.argv[3])] + ["```", ""]
    lines += [
        "One run, one machine: cairn, the peer (PouchDB 9 + express-pouchdb, leveldb on both",
        "sides, from ../shared/bench/peers) and the limits (raw SQLite, loopback TCP) on the",
        "same documents. Ratios read the same way everywhere: above 1× cairn is better (for",
        "rates cairn ÷ other; for ms and MiB other ÷ cairn). The limits are not reachable by",
        "definition: `× limit` says how close cairn gets. Live figures are measured once,",
        "not per size. Raw lines: the .txt file beside this one.",
        "",
    ]
    for n in sizes:
        lines += [f"## N = {n:,}", "",
                  "| workload | cairn | peer | × peer | limit | × limit | target |",
                  "|---|---|---|---|---|---|---|"]
        for name, peer, limit, kind, target in ROWS:
            cairn = metrics.get(f"cairn.n{n}.{name}")
            if cairn is None and name.startswith("live"):
                cairn = metrics.get(f"cairn.{name}")
            p = metrics.get(peer.format(n=n)) if peer else None
            lim = None
            if limit:
                lim = metrics.get(limit.format(n=n))
            if cairn is None and p is None:
                continue
            lines.append(f"| {name} | {fmt(cairn) if cairn else 'not measured'} | {fmt(p)} | "
                         f"{ratio(cairn, p, kind)} | {fmt(lim)} | {ratio(cairn, lim, kind)} | "
                         f"{target} |")
        lines.append("")
    realtime = sorted(k for k in metrics if k.startswith("cairn.realtime_"))
    if realtime:
        lines += ["## Realtime connections (once)", "",
                  "Target: 10,000 connections held by one server, every one gets the event.", "",
                  "| metric | cairn |", "|---|---|"]
        lines += [f"| {k[len('cairn.'):]} | {fmt(metrics[k])} |" for k in realtime]
        lines.append("")
    recovery = sorted(k for k in metrics if k.startswith("cairn.recovery_"))
    if recovery:
        lines += ["## Recovery (once)", "",
                  "100 writes made while the server was down 5 s; seconds from the server's "
                  "port being open to the store in sync (replicator defaults: backoff 250 ms "
                  "doubling, full jitter, cap 60 s), over 5 trials.", "",
                  "| metric | cairn |", "|---|---|"]
        lines += [f"| {k[len('cairn.'):]} | {fmt(metrics[k])} |" for k in recovery]
        lines.append("")
    with open(out, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
