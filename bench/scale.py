#!/usr/bin/env python3
"""Key databases and probes for bench/scale.sh (stdlib only).

    scale.py build  --template-id ID --template-key KEY --n N --keys-out FILE (--sqlite DB | --pg URL)
    scale.py check  --url URL --keys FILE [--sample 100]
    scale.py restart-probe --url URL --keys FILE --since EPOCH --ref-rate R [--timeout 60]
    scale.py table --figures FILE [--note TEXT]

build: copies the row of one key made through the API (TEMPLATE_ID) N-1 times, each copy
with its own id, name, SHA-256, display prefix and hint, in one transaction; the copies'
entries in the key change log are then removed (the server prunes them in time anyway), so
every database of a size starts alike. The plaintext keys (the template's first) are
written to --keys-out: random well-formed keys (32 base62 characters, CRC32 checksum as 6
base62 digits, as crates/latchkey-core/src/key.rs makes them) whose SHA-256 is the stored
hash. The other columns are the template's, whatever the schema holds.

check: verifies a random sample of the keys through POST /v1/keys/verify; exits 1 unless
every answer is VALID.

restart-probe: run right after a server is started under load. Prints
first_valid_s (a random key verified VALID, seconds since --since) and steady_s (the
first one-second window whose rate of latchkey_verify_total reaches 90 % of --ref-rate,
checks per second, seconds since --since; "n/a" if not within --timeout), and the best
one-second rate seen before that, in % of --ref-rate.

table: the figures bench/scale.sh recorded (backend, size, visit, figure, value; tab-separated)
as one Markdown table per backend, a column per size, each cell the median of the visits
(the mean of the middle two for an even count); a cell with a value that is not a number
lists the visits' distinct values.

The admin key (scope *) comes from ADMIN_KEY (check and restart-probe).
"""

import argparse
import csv
import hashlib
import http.client
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
BODY_LEN = 32
CHECK_LEN = 6
DISPLAY_BODY_LEN = 4
# Columns a copy gets of its own; every other column is the template's.
OWN = ("id", "name", "key_hash", "key_prefix", "key_hint")


def checksum(text):
    """CRC32 of the prefix and body as 6 base62 digits, most significant first."""
    n = zlib.crc32(text.encode())
    out = []
    for _ in range(CHECK_LEN):
        out.append(BASE62[n % 62])
        n //= 62
    return "".join(reversed(out))


def key_prefix(key):
    """The prefix of a key: everything before the body and checksum."""
    return key[: len(key) - BODY_LEN - CHECK_LEN]


def ulid_ids(n):
    """n distinct key ids in ascending order, as the server mints them (key_ + a ULID)."""
    ms = int(time.time() * 1000)
    start = random.SystemRandom().getrandbits(79)  # room to count up without overflow
    for i in range(n):
        v = (ms << 80) | (start + i)
        chars = []
        for _ in range(26):
            chars.append(CROCKFORD[v & 31])
            v >>= 5
        yield "key_" + "".join(reversed(chars))


def copies(template_key, n, rng):
    """(id, name, hash, display prefix, hint, plaintext) for n new keys under the template's prefix."""
    prefix = key_prefix(template_key)
    for i, kid in enumerate(ulid_ids(n)):
        signed = prefix + "".join(rng.choices(BASE62, k=BODY_LEN))
        key = signed + checksum(signed)
        digest = hashlib.sha256(key.encode()).digest()
        yield kid, f"scale-{i}", digest, key[: len(prefix) + DISPLAY_BODY_LEN], key[-4:], key


def insert_sql(columns, source):
    """INSERT of every column, the OWN ones from `source` (s.*), the rest from the template row t."""
    picked = ", ".join(f"s.{c}" if c in OWN else f"t.{c}" for c in columns)
    return f"INSERT INTO api_keys ({', '.join(columns)}) SELECT {picked} FROM {source}"


def build_sqlite(db, template_id, rows):
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    columns = [r[1] for r in conn.execute("PRAGMA table_info(api_keys)")]
    conn.execute("BEGIN IMMEDIATE")
    (before,) = conn.execute("SELECT coalesce(max(seq), 0) FROM key_changes").fetchone()
    conn.execute("CREATE TEMP TABLE s (id TEXT, name TEXT, key_hash BLOB, key_prefix TEXT, key_hint TEXT)")
    conn.executemany("INSERT INTO s VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute(insert_sql(columns, "temp.s AS s, api_keys AS t WHERE t.id = ? ORDER BY s.id"), (template_id,))
    conn.execute("DELETE FROM key_changes WHERE seq > ?", (before,))
    conn.execute("COMMIT")
    conn.execute("VACUUM")
    conn.execute("ANALYZE")
    conn.close()


def build_pg(url, template_id, rows):
    def psql(sql, *extra):
        out = subprocess.run(["psql", url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *extra, "-c", sql],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    columns = psql("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                   "AND table_name = 'api_keys' ORDER BY ordinal_position").split("\n")
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", delete=False) as f:
        w = csv.writer(f)
        for kid, name, digest, prefix, hint in rows:
            w.writerow((kid, name, "\\x" + digest.hex(), prefix, hint))
        staged = f.name
    try:
        script = "\n".join([
            "BEGIN;",
            "SELECT coalesce(max(seq), 0) AS before FROM key_changes \\gset",
            "CREATE TEMP TABLE s (id TEXT, name TEXT, key_hash BYTEA, key_prefix TEXT, key_hint TEXT);",
            f"\\copy s FROM '{staged}' WITH (FORMAT csv)",
            insert_sql(columns, "s CROSS JOIN (SELECT * FROM api_keys WHERE id = :'template') AS t ORDER BY s.id") + ";",
            "DELETE FROM key_changes WHERE seq > :before;",
            "COMMIT;",
            "VACUUM ANALYZE;",
        ])
        subprocess.run(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"template={template_id}"],
                       input=script, check=True, text=True, stdout=subprocess.DEVNULL)
    finally:
        os.unlink(staged)


def build(args):
    rng = random.Random(os.urandom(32))
    tmp = args.keys_out + ".tmp"
    t0 = time.monotonic()
    with open(tmp, "w", encoding="utf-8") as keys:
        keys.write(args.template_key + "\n")

        def rows():
            for kid, name, digest, prefix, hint, key in copies(args.template_key, args.n - 1, rng):
                keys.write(key + "\n")
                yield kid, name, digest, prefix, hint

        if args.sqlite:
            build_sqlite(args.sqlite, args.template_id, rows())
        else:
            build_pg(args.pg, args.template_id, rows())
    os.replace(tmp, args.keys_out)
    print(f"inserted {args.n - 1} copies in {time.monotonic() - t0:.1f} s; {args.n} keys in {args.keys_out}")


class Client:
    """One keep-alive connection to the server; reconnects when it drops."""

    def __init__(self, url, timeout=5.0):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.timeout, self.conn = u.hostname, u.port or 80, timeout, None

    def request(self, method, path, body=None, headers=None):
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=body, headers=headers or {})
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except (http.client.HTTPException, OSError):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None, b""

    def verify(self, key):
        """The verdict's code, or None when the server did not answer."""
        headers = {"Content-Type": "application/json", "X-API-Key": os.environ["ADMIN_KEY"]}
        status, raw = self.request("POST", "/v1/keys/verify", json.dumps({"key": key}), headers)
        if status != 200:
            return None if status is None else f"HTTP {status}"
        return json.loads(raw)["data"]["code"]


def read_keys(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def check(args):
    keys = read_keys(args.keys)
    sample = random.sample(keys, min(args.sample, len(keys)))
    client = Client(args.url)
    codes = {}
    for key in sample:
        code = client.verify(key)
        codes[code] = codes.get(code, 0) + 1
    summary = ", ".join(f"{c}: {n}" for c, n in sorted(codes.items(), key=lambda kv: str(kv[0])))
    print(f"sample of {len(sample)} random keys: {summary}")
    return 0 if codes == {"VALID": len(sample)} else 1


def verify_total(client):
    """Sum of latchkey_verify_total over its outcomes, or None."""
    status, raw = client.request("GET", "/metrics")
    if status != 200:
        return None
    total = None
    for line in raw.decode().splitlines():
        if line.startswith("latchkey_verify_total"):
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


def restart_probe(args):
    keys = read_keys(args.keys)
    deadline = args.since + args.timeout
    found = {}

    def first_valid():
        client = Client(args.url, timeout=2.0)
        while time.time() < deadline:
            if client.verify(random.choice(keys)) == "VALID":
                found["first_valid_s"] = time.time() - args.since
                return
            time.sleep(0.01)

    def steady():
        client = Client(args.url, timeout=2.0)
        last = None
        found["best_rate"] = 0.0
        while time.time() < deadline:
            now, total = time.time(), verify_total(client)
            if total is not None and last is not None and now - last[0] >= 1.0:
                rate = (total - last[1]) / (now - last[0])
                found["best_rate"] = max(found["best_rate"], rate)
                found.setdefault("rates", []).append(f"{now - args.since:.0f}s:{100 * rate / max(args.ref_rate, 1):.0f}%")
                if rate >= 0.9 * args.ref_rate:
                    found["steady_s"] = now - args.since
                    return
                last = (now, total)
            elif total is not None and last is None:
                last = (now, total)
            time.sleep(0.1)

    threads = [threading.Thread(target=f, daemon=True) for f in (first_valid, steady)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fmt = lambda k: f"{found[k]:.2f}" if k in found else "n/a"  # noqa: E731
    best = 100 * found["best_rate"] / args.ref_rate if args.ref_rate > 0 else 0
    print(f"first_valid_s={fmt('first_valid_s')} steady_s={fmt('steady_s')} best_second_pct_of_ref={best:.0f}"
          f" seconds={','.join(found.get('rates', []))}")
    return 0


# Figures shown as whole numbers (besides rates, "/s"); the rest with two decimals.
WHOLE_UNITS = ("(MiB)", "(%)", "(checks)", "(keys)", "(metric)")


def median(values):
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def cell(figure, values):
    try:
        m = median([float(x) for x in values])
    except ValueError:
        return " / ".join(dict.fromkeys(values))
    if "/s" in figure or figure.endswith(WHOLE_UNITS):
        return f"{m:,.0f}"
    return f"{m:.2f}"


def table(args):
    figures = {}  # backend -> figure -> size -> [values]
    with open(args.figures, encoding="utf-8") as f:
        for line in f:
            backend, size, _visit, figure, value = line.rstrip("\n").split("\t")
            figures.setdefault(backend, {}).setdefault(figure, {}).setdefault(int(size), []).append(value)
    for backend, rows in figures.items():
        sizes = sorted({s for by_size in rows.values() for s in by_size})
        print(f"\n**{'SQLite' if backend == 'sqlite' else 'PostgreSQL'}** ({args.note})\n")
        print("| | " + " | ".join(f"{s:,} keys" for s in sizes) + " |")
        print("|---" * (len(sizes) + 1) + "|")
        for figure, by_size in rows.items():
            print(f"| {figure} | " + " | ".join(cell(figure, by_size.get(s, ["–"])) for s in sizes) + " |")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--template-id", required=True)
    b.add_argument("--template-key", required=True)
    b.add_argument("--n", type=int, required=True, help="keys wanted, the template included")
    b.add_argument("--keys-out", required=True)
    where = b.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite", help="the SQLite database file (server stopped)")
    where.add_argument("--pg", help="the PostgreSQL database URL")
    c = sub.add_parser("check")
    c.add_argument("--url", required=True)
    c.add_argument("--keys", required=True)
    c.add_argument("--sample", type=int, default=100)
    r = sub.add_parser("restart-probe")
    r.add_argument("--url", required=True)
    r.add_argument("--keys", required=True)
    r.add_argument("--since", type=float, required=True, help="when the server was started (epoch seconds)")
    r.add_argument("--ref-rate", type=float, required=True, help="steady checks/s (latchkey_verify_total)")
    r.add_argument("--timeout", type=float, default=60.0)
    t = sub.add_parser("table")
    t.add_argument("--figures", required=True)
    t.add_argument("--note", default="")
    args = ap.parse_args()
    if args.cmd in ("check", "restart-probe") and not os.environ.get("ADMIN_KEY"):
        ap.error("ADMIN_KEY is not set")
    commands = {"build": build, "check": check, "restart-probe": restart_probe, "table": table}
    return commands[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
