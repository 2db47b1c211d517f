"""What the Python SDK's helpers cost a request (issue 21): a small FastAPI
app (uvicorn) and a small Flask app (werkzeug), each with one route
protected by ``require_key`` and one open route, against calling
``POST /v1/keys/verify`` directly; same run, one latchkey, sequential
requests over keep-alive connections from one client, medians.

    sdks/python/.venv/bin/python bench/sdk_python_middleware.py [--requests 1000] [--rounds 5]

``scripts/sdk-python.sh`` makes that environment. The server is
``LATCHKEY_BIN`` (default: the debug build); the apps are child processes,
so client, apps and server do not share an interpreter. Not part of CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "sdks" / "python" / "src"))
sys.path.insert(0, str(REPO / "sdks" / "python" / "tests"))


def serve(framework: str, port: int) -> None:
    """Runs the app of ``framework`` on ``port`` (in a child process)."""
    if framework == "fastapi":
        import uvicorn
        from fastapi import Depends, FastAPI

        from latchkey.fastapi import require_key

        app = FastAPI()

        @app.get("/open")
        async def open_route() -> Dict[str, str]:
            return {"ok": "yes"}

        @app.get("/sandboxes")
        async def sandboxes(key=Depends(require_key(scopes=["sandbox:read"]))) -> Dict[str, str]:  # type: ignore[no-untyped-def]
            return {"org": key.org_id}

        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    else:
        import flask
        from werkzeug.serving import make_server

        from latchkey.flask import require_key

        fapp = flask.Flask("bench")

        @fapp.get("/open")
        def open_flask() -> Dict[str, str]:
            return {"ok": "yes"}

        @fapp.get("/sandboxes")
        @require_key(scopes=["sandbox:read"])
        def sandboxes_flask() -> Dict[str, str]:
            return {"org": flask.g.latchkey.org_id}

        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        make_server("127.0.0.1", port, fapp, threaded=False).serve_forever()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def wait_for(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def client_cost(url: str, service: str, caller: str, n: int) -> None:
    """CPU time of this process per verify call: the SDK against plain
    httpx, blocking and async (CPU time moves less than latency on a
    machine shared with other work)."""
    import asyncio

    import httpx

    from latchkey import AsyncLatchkey, Latchkey

    body = {"key": caller, "scopes": ["sandbox:read"]}
    headers = {"Authorization": f"Bearer {service}"}
    rows = []

    def timed(name: str, call: Callable[[], object]) -> None:
        call()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            call()
        rows.append((name, (time.process_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000))

    with Latchkey(api_key=service, base_url=url) as lk, httpx.Client() as raw:
        timed("blocking: httpx", lambda: raw.post(url + "/v1/keys/verify", json=body, headers=headers))
        timed("blocking: Latchkey.keys.verify", lambda: lk.keys.verify(key=caller, scopes=["sandbox:read"]))

    async def run_async() -> None:
        async with AsyncLatchkey(api_key=service, base_url=url) as alk, httpx.AsyncClient() as araw:
            for name, make in (
                ("async: httpx", lambda: araw.post(url + "/v1/keys/verify", json=body, headers=headers)),
                ("async: AsyncLatchkey.keys.verify", lambda: alk.keys.verify(key=caller, scopes=["sandbox:read"])),
            ):
                await make()
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(n):
                    await make()
                rows.append((name, (time.process_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000))

    asyncio.run(run_async())
    print("| client, one verify call | CPU ms (client process) | wall ms |")
    print("|---|---|---|")
    for name, cpu_ms, wall_ms in rows:
        print(f"| {name} | {cpu_ms:.3f} | {wall_ms:.3f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description="middleware overhead of the Python SDK's helpers")
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per target")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("serve", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[1], int(args.serve[2]))
        return 0

    import httpx

    from latchkey import Latchkey
    from support import Server

    server = Server.start()
    children: List[subprocess.Popen[bytes]] = []
    try:
        with Latchkey(api_key=server.admin_key, base_url=server.url) as lk:
            service = lk.keys.create(name="bench service", scopes=["keys:verify"]).key
            caller = lk.keys.create(name="bench caller", scopes=["sandbox:read"]).key
        assert service and caller
        env = {**os.environ, "LATCHKEY_API_KEY": service, "LATCHKEY_API_URL": server.url}
        apps: Dict[str, str] = {}
        for framework in ("fastapi", "flask"):
            port = free_port()
            children.append(
                subprocess.Popen([sys.executable, __file__, "serve", framework, str(port)], env=env)
            )
            apps[framework] = f"http://127.0.0.1:{port}"
        for base in apps.values():
            wait_for(base + "/open")

        client = httpx.Client(timeout=10)
        targets: Dict[str, Callable[[], httpx.Response]] = {
            "verify direct": lambda: client.post(
                server.url + "/v1/keys/verify",
                json={"key": caller, "scopes": ["sandbox:read"]},
                headers={"Authorization": f"Bearer {service}"},
            ),
        }
        for framework, base in apps.items():
            targets[f"{framework} open route"] = lambda base=base: client.get(base + "/open")
            targets[f"{framework} protected route"] = lambda base=base: client.get(
                base + "/sandboxes", headers={"X-API-Key": caller}
            )
        for name, call in targets.items():
            for _ in range(50):  # warm-up, and a check that each answers 200
                r = call()
                assert r.status_code == 200, (name, r.status_code, r.text)
        samples: Dict[str, List[float]] = {name: [] for name in targets}
        per_round = args.requests // args.rounds
        for rnd in range(args.rounds):
            order = list(targets)[rnd % len(targets):] + list(targets)[: rnd % len(targets)]
            for name in order:
                call = targets[name]
                for _ in range(per_round):
                    t = time.perf_counter()
                    r = call()
                    samples[name].append(time.perf_counter() - t)
                    assert r.status_code == 200
        client.close()

        med = {n: statistics.median(s) * 1000 for n, s in samples.items()}
        p90 = {n: statistics.quantiles(s, n=10)[-1] * 1000 for n, s in samples.items()}
        print(f"{per_round * args.rounds} requests per target, {args.rounds} interleaved rounds, "
              f"server {os.environ.get('LATCHKEY_BIN', 'target/debug/latchkey')}")
        print("| target | median ms | p90 ms |")
        print("|---|---|---|")
        for n in targets:
            print(f"| {n} | {med[n]:.3f} | {p90[n]:.3f} |")
        print()
        for framework in apps:
            added = med[f"{framework} protected route"] - med[f"{framework} open route"]
            print(f"{framework}: the helper adds {added:.3f} ms to a request (median protected - open); "
                  f"verify direct is {med['verify direct']:.3f} ms, so the helper's own share is "
                  f"{added - med['verify direct']:.3f} ms")
        print()
        client_cost(server.url, service, caller, args.requests)
    finally:
        for child in children:
            child.terminate()
            child.wait(timeout=10)
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
