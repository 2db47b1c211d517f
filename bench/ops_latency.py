#!/usr/bin/env python3
"""Verify latency while `latchkey admin backup` runs vs without it, same run (bench/ops.sh).

    ops_latency.py --url URL --keys FILE --bin LATCHKEY --data-dir DIR --scratch DIR
                   [--conns 4] [--phase 5] [--runs 3]

CONNS threads verify random keys from FILE (POST /v1/keys/verify, X-API-Key: ADMIN_KEY from
the environment) over keep-alive connections for the whole run, recording each request's
start and latency. Meanwhile the main thread alternates two phases of PHASE seconds, RUNS
times: "idle" (nothing else) and "backup" (`latchkey admin backup` back to back, each into a
new file, removed afterwards). Requests are attributed to the phase they started in. Prints
per run and phase: requests, p50, p99 and max in ms, then the medians over the runs and the
ratio backup/idle of the p99s; and each backup's wall time. Stdlib only.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--scratch", required=True)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--phase", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    admin = os.environ["ADMIN_KEY"]
    with open(a.keys, encoding="utf-8") as f:
        keys = [line.strip() for line in f if line.strip()]
    u = urllib.parse.urlparse(a.url)
    stop = threading.Event()
    samples = []  # (start, latency_s, ok)
    lock = threading.Lock()

    def worker(seed):
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        headers = {"Content-Type": "application/json", "X-API-Key": admin}
        local = []
        while not stop.is_set():
            body = json.dumps({"key": rng.choice(keys)})
            t0 = time.monotonic()
            try:
                conn.request("POST", "/v1/keys/verify", body, headers)
                r = conn.getresponse()
                data = r.read()
                ok = r.status == 200 and b'"VALID"' in data
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                ok = False
            local.append((t0, time.monotonic() - t0, ok))
        with lock:
            samples.extend(local)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.conns)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # warm-up, not counted
    phases = []  # (run, name, start, end)
    backups = []
    n = 0
    for run in range(a.runs):
        t0 = time.monotonic()
        time.sleep(a.phase)
        phases.append((run, "idle", t0, time.monotonic()))
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.phase:
            n += 1
            target = os.path.join(a.scratch, f"bench-{n}.db")
            b0 = time.monotonic()
            out = subprocess.run([a.bin, "admin", "backup", "--data-dir", a.data_dir, "--to", target],
                                 capture_output=True, text=True)
            backups.append(time.monotonic() - b0)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                stop.set()
                sys.exit(1)
            for p in (target, target + ".manifest.json"):
                os.remove(p)
        phases.append((run, "backup", t0, time.monotonic()))
    stop.set()
    for t in threads:
        t.join()
    failed = sum(1 for s in samples if not s[2])
    print(f"requests: {len(samples)}, not VALID: {failed}; backups: {len(backups)}, "
          f"wall median {statistics.median(backups) * 1000:.0f} ms, max {max(backups) * 1000:.0f} ms")
    table = {}
    for run, name, start, end in phases:
        lat = [s[1] * 1000 for s in samples if start <= s[0] < end]
        row = (len(lat), pct(lat, 50), pct(lat, 99), max(lat) if lat else float("nan"))
        table.setdefault(name, []).append(row)
        print(f"run {run + 1} {name:6} n={row[0]:6d} p50={row[1]:7.2f} ms p99={row[2]:7.2f} ms max={row[3]:7.2f} ms")
    med = {name: [statistics.median(r[i] for r in rows) for i in range(4)] for name, rows in table.items()}
    for name, m in med.items():
        print(f"SUMMARY {name:6} median over runs: n={m[0]:.0f} p50={m[1]:.2f} ms p99={m[2]:.2f} ms max={m[3]:.2f} ms")
    ratios = [b[2] / i[2] for i, b in zip(table["idle"], table["backup"])]
    print(f"SUMMARY p99 backup/idle per run: {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
