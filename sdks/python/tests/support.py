"""What the tests run against: a real latchkey on a loopback port, and two
small network fakes for what a live server cannot be made to do on demand
(lose its database, accept a connection and never answer)."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
DOCUMENT = REPO / "docs" / "openapi.json"
PG_URL = os.environ.get("LATCHKEY_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")

# The per-address limits on failed authentication, logins and sign-ups are
# raised: the tests present many wrong keys on purpose, from one address.
RELAXED = """\
signups_per_hour_per_ip = 1000000
failed_auth_per_minute = 1000000
login_failures_per_account_and_ip = 1000000
login_failures_per_account = 1000000
login_failures_per_ip = 1000000
"""


def binary() -> Path:
    """The server binary: ``LATCHKEY_BIN``, else the workspace's debug build."""
    path = Path(os.environ.get("LATCHKEY_BIN", REPO / "target" / "debug" / "latchkey"))
    if not path.exists():
        raise RuntimeError(f"{path} is missing: cargo build --locked -p latchkey")
    return path


@dataclass
class Server:
    """A running ``latchkey serve`` with a fresh organization."""

    url: str
    admin_key: str
    org_id: str
    user_id: str
    password: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    database_url: Optional[str] = None
    extra: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, *, database_url: Optional[str] = None, config: str = RELAXED) -> Server:
        data = Path(tempfile.mkdtemp(prefix="latchkey-sdk-py-"))
        db = ["--database-url", database_url] if database_url else []
        init = subprocess.run(
            [str(binary()), "init", "--org", "Acme", "--email", "admin@example.com", "--data-dir", str(data), "--json", *db],
            capture_output=True,
            timeout=60,
            check=True,
        )
        facts = json.loads(init.stdout)
        (data / "latchkey.toml").write_text(config)
        log = data / "server.log"
        out = data / "stdout"
        with open(log, "wb") as err, open(out, "wb") as stdout:
            process = subprocess.Popen(
                [str(binary()), "serve", "--data-dir", str(data), "--listen", "127.0.0.1:0", *db],
                stdout=stdout,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 30
        url = ""
        while not url:
            for line in out.read_text().splitlines():
                if line.startswith("latchkey listening on "):
                    url = line[len("latchkey listening on "):].strip()
            if url:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"latchkey did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        return cls(
            url=url,
            admin_key=facts["apiKey"],
            org_id=facts["orgId"],
            user_id=facts["userId"],
            password=facts["password"],
            data_dir=data,
            process=process,
            log=log,
            database_url=database_url,
        )

    def service_key(self, *scopes: str) -> str:
        """A service key of the organization holding ``scopes``, minted as
        the operator does (``latchkey admin create-service-key``): the only
        way to a reserved scope such as ``oauth:token``."""
        db = ["--database-url", self.database_url] if self.database_url else []
        args = [str(binary()), "admin", "create-service-key", "--org", self.org_id, "--json"]
        args += ["--data-dir", str(self.data_dir), *db]
        for scope in scopes:
            args += ["--scope", scope]
        out = subprocess.run(args, capture_output=True, timeout=60, check=True)
        key: str = json.loads(out.stdout)["apiKey"]
        return key

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def fresh_database() -> str:
    """The URL of a database name no test used (latchkey creates it)."""
    return f"{PG_URL}/sdk_py_{uuid.uuid4().hex[:12]}"


def postgres_available() -> bool:
    """Whether PostgreSQL answers at ``LATCHKEY_TEST_DATABASE_URL``."""
    host_port = PG_URL.rsplit("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host, int(port or 5432)), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skips the test when PostgreSQL does not answer, or fails it when
    ``LATCHKEY_SDK_REQUIRE_POSTGRES`` is set (scripts/sdk-python.sh)."""
    if not postgres_available():
        if os.environ.get("LATCHKEY_SDK_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL does not answer at {PG_URL}")
        pytest.skip(f"PostgreSQL does not answer at {PG_URL}")


def drop_database(url: str) -> None:
    """Drops the database of ``url`` (best effort)."""
    name = url.rsplit("/", 1)[1]
    subprocess.run(
        ["psql", PG_URL + "/postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
        capture_output=True,
        timeout=30,
    )


class Cutoff:
    """A TCP proxy on a loopback port in front of another address, which can
    cut every connection and refuse new ones (:meth:`cut`), then let them in
    again (:meth:`restore`): a database that becomes unreachable, as a
    network failure does it, without stopping the shared server."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._listener: Optional[socket.socket] = None
        self.restore()

    def restore(self) -> None:
        """Accepts connections again."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Closes the listener and every open connection."""
        with self._lock:
            if self._listener is not None:
                # shutdown() wakes the thread blocked in accept(); close()
                # alone would leave it accepting on Linux.
                try:
                    self._listener.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._listener.close()
                self._listener = None
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass


class Silent:
    """A listener that takes connections and never answers; with
    ``hang_up=True`` it reads the request and closes without a word (the
    request reached a server, which gave no answer). Counts connections."""

    def __init__(self, *, hang_up: bool = False) -> None:
        self.hang_up = hang_up
        self.connections = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: List[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.hang_up:
                conn.settimeout(5)
                try:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                finally:
                    conn.close()
            else:
                self._open.append(conn)

    def close(self) -> None:
        """Stops listening and drops the held connections."""
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for c in self._open:
            c.close()


def closed_port_url() -> str:
    """An http URL on a loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
