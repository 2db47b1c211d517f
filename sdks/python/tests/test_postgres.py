"""A real 503: latchkey on PostgreSQL whose database becomes unreachable
(the connections to it are cut by a proxy in between, as a network
failure would). Known keys still authenticate from the server's cache;
writes answer 503 ``unavailable`` after its 3 s pool timeout."""

from __future__ import annotations

import shutil
import uuid
from typing import Iterator, List, Tuple

import httpx
import pytest

from latchkey import Latchkey, ServiceUnavailableError
from support import PG_URL, Cutoff, Server, drop_database, require_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_server() -> Iterator[Tuple[Server, Cutoff]]:
    require_postgres()
    host_port = PG_URL.rsplit("@", 1)[-1]
    host, _, port = host_port.partition(":")
    cutoff = Cutoff(host, int(port or 5432))
    name = f"sdk_py_{uuid.uuid4().hex[:12]}"
    through = f"{PG_URL.rsplit('@', 1)[0]}@127.0.0.1:{cutoff.port}/{name}"
    server = Server.start(database_url=through)
    try:
        yield server, cutoff
    finally:
        server.stop()
        cutoff.cut()
        shutil.rmtree(server.data_dir, ignore_errors=True)
        drop_database(f"{PG_URL}/{name}")


def test_a_503_from_an_unreachable_database(pg_server: Tuple[Server, Cutoff]) -> None:
    server, cutoff = pg_server
    with Latchkey(api_key=server.admin_key, base_url=server.url, max_retries=0) as lk:
        lk.me()  # the admin's key is now in the server's cache
        cutoff.cut()
        try:
            with pytest.raises(ServiceUnavailableError) as e:
                lk.projects.create(name="during the outage")
        finally:
            cutoff.restore()
    assert (e.value.status, e.value.code) == (503, "unavailable")
    assert e.value.request_id


def test_a_503_is_retried_until_the_database_is_back(pg_server: Tuple[Server, Cutoff]) -> None:
    server, cutoff = pg_server
    statuses: List[int] = []

    def on_answer(response: httpx.Response) -> None:
        statuses.append(response.status_code)
        if response.status_code == 503:
            cutoff.restore()  # back before the retry

    http = httpx.Client(event_hooks={"response": [on_answer]})
    with Latchkey(api_key=server.admin_key, base_url=server.url, max_retries=3, http_client=http) as lk:
        lk.me()
        statuses.clear()
        cutoff.cut()
        project = lk.projects.create(name="after the outage")
    http.close()
    assert project.name == "after the outage"
    assert statuses[0] == 503 and statuses[-1] == 201, statuses
