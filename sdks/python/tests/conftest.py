"""Fixtures: one latchkey (SQLite) for the session, clients for it, and
keys made to order."""

from __future__ import annotations

import shutil
from typing import Any, Callable, Iterator

import pytest

from latchkey import Latchkey
from latchkey.types import ApiKeyView
from support import Server


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    s = Server.start()
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(s.data_dir, ignore_errors=True)


@pytest.fixture
def lk(server: Server) -> Iterator[Latchkey]:
    """The organization's admin, with no retries (a test that wants them says so)."""
    with Latchkey(api_key=server.admin_key, base_url=server.url, max_retries=0) as client:
        yield client


MakeKey = Callable[..., ApiKeyView]


@pytest.fixture
def make_key(lk: Latchkey, request: pytest.FixtureRequest) -> MakeKey:
    """Mints a key as the admin (named after the test unless told)."""

    def make(**fields: Any) -> ApiKeyView:
        fields.setdefault("name", request.node.name[:200])
        return lk.keys.create(**fields)

    return make


@pytest.fixture
def service_key(make_key: MakeKey) -> str:
    """A key that may only verify keys: what a protected API holds."""
    key = make_key(name="service", scopes=["keys:verify"]).key
    assert key is not None
    return key


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
