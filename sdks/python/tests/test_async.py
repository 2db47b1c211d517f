"""AsyncLatchkey: the same surface, awaited; lists by ``await`` (a page) or
``async for`` (every item); the same errors and retries."""

from __future__ import annotations

import inspect
import time
import uuid
from typing import List

import httpx
import pytest

from latchkey import APIConnectionError, AsyncLatchkey, AsyncPage, AuthenticationError, Latchkey, NotFoundError
from support import Server, closed_port_url

pytestmark = pytest.mark.anyio


async def test_create_verify_list_rotate_revoke(server: Server) -> None:
    async with AsyncLatchkey(api_key=server.admin_key, base_url=server.url, max_retries=0) as lk:
        project = await lk.projects.create(name=f"async {uuid.uuid4().hex[:6]}")
        created = [await lk.keys.create(name=f"async {i}", scopes=["sandbox:read"], project_id=project.id) for i in range(3)]
        assert all(k.key for k in created)
        v = await lk.keys.verify(key=created[0].key or "", scopes=["sandbox:read"])
        assert (v.valid, v.code) == (True, "VALID")
        first = await lk.keys.list(project_id=project.id, limit=2)
        assert isinstance(first, AsyncPage) and len(first.data) == 2 and first.has_next_page()
        second = await first.get_next_page()
        assert len(second.data) == 1 and not second.has_next_page()
        ids = [k.id async for k in lk.keys.list(project_id=project.id, limit=1)]
        assert ids == [k.id for k in reversed(created)]
        pages = [len(p.data) async for p in first.iter_pages()]
        assert pages == [2, 1]
        rotated = await lk.keys.rotate(created[0].id)
        assert rotated.rotated_from == created[0].id
        assert (await lk.keys.verify(key=created[0].key or "")).code == "REVOKED"
        await lk.keys.revoke(rotated.id)
        assert (await lk.keys.verify(key=rotated.key or "")).code == "REVOKED"
        await lk.keys.delete(rotated.id)
        with pytest.raises(NotFoundError):
            await lk.keys.get(rotated.id)


async def test_errors_and_retries(server: Server) -> None:
    async with AsyncLatchkey(api_key="lk_live_wrong", base_url=server.url, max_retries=0) as wrong:
        with pytest.raises(AuthenticationError) as e:
            await wrong.me()
        assert e.value.code == "unauthorized" and e.value.request_id
    sent: List[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    http = httpx.AsyncClient(event_hooks={"request": [record]})
    async with AsyncLatchkey(api_key="lk_live_x", base_url=closed_port_url(), max_retries=2, http_client=http) as lk:
        started = time.monotonic()
        with pytest.raises(APIConnectionError):
            await lk.keys.create(name="never sent")
        assert len(sent) == 3 and time.monotonic() - started >= 1.1
    await http.aclose()


def test_both_clients_have_the_same_surface() -> None:
    def surface(obj: object, prefix: str = "") -> List[str]:
        out = []
        for name in dir(obj):
            if name.startswith("_"):
                continue
            attr = getattr(obj, name)
            if type(attr).__name__.endswith("Resource"):
                out += surface(attr, f"{prefix}{name}.")
            elif callable(attr) and hasattr(attr, "__operation_id__"):
                params = list(inspect.signature(attr).parameters)
                out.append(f"{prefix}{name}({', '.join(params)})")
        return sorted(out)

    sync = surface(Latchkey(api_key="x", base_url="http://127.0.0.1:9"))
    asynchronous = surface(AsyncLatchkey(api_key="x", base_url="http://127.0.0.1:9"))
    assert sync == asynchronous and len(sync) > 60
