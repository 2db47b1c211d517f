"""Retries: after a real 429 (waiting its ``Retry-After``), after a
connection that was never made (any method), after a request that reached
a server and got no answer (idempotent methods only). The 503 case is in
test_postgres.py."""

from __future__ import annotations

import time
from typing import Iterator, List, Tuple

import httpx
import pytest

from latchkey import APIConnectionError, APITimeoutError, Latchkey, RateLimitError
from support import Server, Silent, closed_port_url

from conftest import MakeKey


@pytest.fixture
def counted() -> Iterator[Tuple[httpx.Client, List[httpx.Request]]]:
    """An httpx client that records every request it sends."""
    sent: List[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [sent.append]})
    yield http, sent
    http.close()


def test_a_429_is_retried_after_its_retry_after(
    server: Server, make_key: MakeKey, counted: Tuple[httpx.Client, List[httpx.Request]]
) -> None:
    # 60 a minute: a burst of 60, then one more each second.
    key = make_key(scopes=["org:read"], rate_limit_per_minute=60).key
    assert key
    http, sent = counted
    with Latchkey(api_key=key, base_url=server.url, max_retries=0) as plain:
        for _ in range(60):
            plain.me()
        with pytest.raises(RateLimitError) as e:
            plain.me()
        assert e.value.retry_after == 1
    with Latchkey(api_key=key, base_url=server.url, max_retries=2, http_client=http) as retrying:
        started = time.monotonic()
        assert retrying.me().key_id is not None
        elapsed = time.monotonic() - started
    assert len(sent) == 2, "one refusal, one success"
    assert 0.9 <= elapsed < 5, elapsed


def test_a_long_retry_after_is_not_waited_for(
    server: Server, make_key: MakeKey, counted: Tuple[httpx.Client, List[httpx.Request]]
) -> None:
    key = make_key(scopes=["org:read"], rate_limit_per_minute=1).key
    assert key
    http, sent = counted
    with Latchkey(api_key=key, base_url=server.url, max_retries=2, http_client=http) as lk:
        lk.me()
        started = time.monotonic()
        with pytest.raises(RateLimitError):
            lk.me()
    assert len(sent) == 2 and time.monotonic() - started < 2


def test_a_refused_connection_is_retried_even_for_a_post(counted: Tuple[httpx.Client, List[httpx.Request]]) -> None:
    http, sent = counted
    with Latchkey(api_key="lk_live_x", base_url=closed_port_url(), max_retries=2, http_client=http) as lk:
        started = time.monotonic()
        with pytest.raises(APIConnectionError):
            lk.keys.create(name="never sent")
        elapsed = time.monotonic() - started
    assert len(sent) == 3
    # Backoff 0.5 s then 1 s, each cut by at most a quarter.
    assert 1.1 <= elapsed < 3, elapsed


def test_a_request_that_reached_the_server_is_retried_only_if_idempotent(
    counted: Tuple[httpx.Client, List[httpx.Request]],
) -> None:
    hangs_up = Silent(hang_up=True)
    http, _ = counted
    try:
        with Latchkey(api_key="lk_live_x", base_url=hangs_up.url, max_retries=2, http_client=http) as lk:
            with pytest.raises(APIConnectionError):
                lk.keys.create(name="maybe created")
            assert hangs_up.connections == 1, "a POST that reached the server is not sent again"
            with pytest.raises(APIConnectionError):
                lk.keys.list()
            assert hangs_up.connections == 1 + 3
            with pytest.raises(APIConnectionError):
                lk.projects.delete("prj_x")
            assert hangs_up.connections == 1 + 3 + 3, "DELETE is idempotent"
    finally:
        hangs_up.close()


def test_a_timeout_is_retried_only_if_idempotent() -> None:
    silent = Silent()
    try:
        with Latchkey(api_key="lk_live_x", base_url=silent.url, timeout=0.2, max_retries=1) as lk:
            with pytest.raises(APITimeoutError):
                lk.keys.verify(key="lk_live_y")
            deadline = time.monotonic() + 2
            while silent.connections < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert silent.connections == 1
            with pytest.raises(APITimeoutError):
                lk.me()
            deadline = time.monotonic() + 2
            while silent.connections < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert silent.connections == 3
    finally:
        silent.close()
