#!/usr/bin/env python3
"""Creates benchmark API keys on a running latchkey server and writes them to a file.

    python3 bench/make_keys.py --url http://127.0.0.1:7421 --admin-key lk_live_... --n 10000 --out keys.txt

Each key is made with POST /v1/api-keys {"name":"bench-<i>","scopes":["sandbox:read"]}
(header X-API-Key: the admin key); the plaintext key is read from {"data":{"key":...}}.
If --out already holds M keys, only N-M more are made and appended (so a cut-short run
resumes). Stdlib only: a few threads, each with one persistent HTTP/1.1 connection.
The admin key may also come from the ADMIN_KEY environment variable.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def existing_keys(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


class Client:
    """One keep-alive connection; reconnects once if the server closed it."""

    def __init__(self, host, port, admin_key, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.headers = {"Content-Type": "application/json", "X-API-Key": admin_key, "Connection": "keep-alive"}
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def create(self, name, scopes):
        body = json.dumps({"name": name, "scopes": scopes})
        for attempt in (1, 2):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request("POST", "/v1/api-keys", body=body, headers=self.headers)
                resp = self.conn.getresponse()
                raw = resp.read()
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if resp.status not in (200, 201):
                raise RuntimeError(f"POST /v1/api-keys -> HTTP {resp.status}: {raw[:300]!r}")
            key = json.loads(raw)["data"]["key"]
            if not isinstance(key, str) or not key:
                raise RuntimeError(f"no data.key in response: {raw[:300]!r}")
            return key
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:7421", help="server base URL (loopback)")
    ap.add_argument("--admin-key", default=os.environ.get("ADMIN_KEY"), help="key with scope * (or api-key creation rights)")
    ap.add_argument("--n", type=int, default=int(os.environ.get("N", "10000")), help="total keys wanted in --out")
    ap.add_argument("--out", default="keys.txt")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--scope", action="append", dest="scopes", help="scope of each key (repeatable; default sandbox:read)")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    args = ap.parse_args()
    if not args.admin_key:
        ap.error("--admin-key or ADMIN_KEY is required")
    scopes = args.scopes or ["sandbox:read"]
    u = urllib.parse.urlsplit(args.url)
    if u.scheme != "http" or not u.hostname:
        ap.error("--url must be http://HOST:PORT")
    host, port = u.hostname, u.port or 80

    have = existing_keys(args.out)
    todo = list(range(len(have), args.n))
    if not todo:
        print(f"{args.out}: already {len(have)} keys (>= {args.n}), nothing to do")
        return 0

    made = {}  # index -> key
    lock = threading.Lock()
    next_i = iter(todo)
    errors = []

    def worker():
        c = Client(host, port, args.admin_key, args.timeout)
        try:
            while not errors:
                with lock:
                    i = next(next_i, None)
                if i is None:
                    return
                k = c.create(f"bench-{i}", scopes)
                with lock:
                    made[i] = k
        except Exception as e:  # noqa: BLE001 - reported below, stops the others
            errors.append(e)
        finally:
            c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(args.threads, len(todo))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0

    # Append the contiguous run of keys made (in index order), so a resume starts after them.
    new = []
    for i in todo:
        if i not in made:
            break
        new.append(made[i])
    with open(args.out, "a", encoding="utf-8") as f:
        for k in new:
            f.write(k + "\n")
    lost = len(made) - len(new)
    rate = len(made) / dt if dt > 0 else float("inf")
    print(f"created {len(made)} keys in {dt:.1f} s ({rate:.0f}/s, {len(threads)} connections); "
          f"{args.out} now has {len(have) + len(new)} keys" + (f" ({lost} made out of order not saved)" if lost else ""))
    if errors:
        print(f"error: {errors[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
