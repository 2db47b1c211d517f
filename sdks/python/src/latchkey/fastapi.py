"""Protecting a FastAPI (or Starlette) route with latchkey.

>>> from fastapi import Depends, FastAPI
>>> from latchkey.fastapi import require_key
>>> app = FastAPI()
>>> @app.get("/sandboxes")
... async def sandboxes(key=Depends(require_key(scopes=["sandbox:read"]))):
...     return {"org": key.org_id}

The dependency verifies the caller's key with ``POST /v1/keys/verify``
(as the service key of ``LATCHKEY_API_KEY``, through an
:class:`~latchkey.AsyncLatchkey`), returns the verdict, and puts it on
``request.state.latchkey``. A refused request gets the answer described in
``latchkey._middleware``: 401, 403, 429 or 503 in latchkey's error
envelope.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from typing import Any, Awaitable, Callable, Optional, Sequence, Union

from fastapi import HTTPException, Request
from starlette.responses import Response

from ._base import NOT_GIVEN
from ._client import AsyncLatchkey
from ._exceptions import LatchkeyError
from ._middleware import MISSING, UNAVAILABLE, Refusal, client_address, presented_key, refusal_for
from .types import VerifyView

__all__ = ["require_key", "KeyRefused", "exception_handlers"]

MaybeAwaitable = Union[Any, Awaitable[Any]]
GetKey = Callable[[Request], MaybeAwaitable]
ClientIp = Callable[[Request], Optional[str]]
OnInvalid = Callable[[Request, VerifyView], MaybeAwaitable]
OnError = Callable[[Request, LatchkeyError], MaybeAwaitable]


class KeyRefused(HTTPException):
    """Raised by the dependency to answer a refused request; its handler
    (installed on first use, see :data:`exception_handlers`) sends
    :attr:`response`."""

    def __init__(self, response: Response) -> None:
        super().__init__(status_code=response.status_code, detail="refused by latchkey")
        self.response = response


def _refusal_response(refusal: Refusal) -> Response:
    return Response(refusal.body(), status_code=refusal.status, headers=refusal.headers, media_type="application/json")


async def _answer_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeyRefused)
    return exc.response


exception_handlers = {KeyRefused: _answer_refused}
"""For ``FastAPI(exception_handlers=...)``. Not needed: the dependency
installs its handler on the application it first runs in."""


def _install_handler(request: Request) -> None:
    # Registered on the application for the next time it builds its
    # middleware stack, and in the live handler table of this one, which
    # Starlette keeps in the scope; so the envelope is answered from the
    # first refusal on, with no line to add to the application.
    app = request.scope.get("app")
    handlers = getattr(app, "exception_handlers", None)
    if isinstance(handlers, dict):
        handlers.setdefault(KeyRefused, _answer_refused)
    live = request.scope.get("starlette.exception_handlers")
    if isinstance(live, tuple) and live and isinstance(live[0], dict):
        live[0].setdefault(KeyRefused, _answer_refused)


async def _resolve(value: MaybeAwaitable) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def require_key(
    scopes: Optional[Sequence[str]] = None,
    *,
    project_id: Optional[str] = None,
    cost: Optional[int] = None,
    client: Optional[AsyncLatchkey] = None,
    get_key: Optional[GetKey] = None,
    client_ip: Optional[ClientIp] = None,
    on_invalid: Optional[OnInvalid] = None,
    on_error: Optional[OnError] = None,
    fail_open: bool = False,
) -> Callable[[Request], Awaitable[Optional[VerifyView]]]:
    """A FastAPI dependency that lets a request through only with a valid key.

    Args:
        scopes: scopes the key must hold (403 ``insufficient_scope`` if not).
        project_id: the project the key must belong to.
        cost: credits a request spends on keys with a budget (default 1).
        client: the :class:`~latchkey.AsyncLatchkey` to verify with; default
            one from the environment (``LATCHKEY_API_KEY`` must hold a key
            with ``keys:verify``), one per event loop.
        get_key: reads the key from the request instead of ``X-API-Key`` /
            ``Authorization: Bearer``; may be async.
        client_ip: reads the client's address from the request instead of
            ``request.client.host`` (Starlette's peer, or the forwarded
            address with uvicorn's ``--proxy-headers``); sent to latchkey
            as ``ip`` for keys bound to networks.
        on_invalid: called with the request and the verdict of a refused
            key; a :class:`Response` it returns is sent instead of the
            default answer. May be async.
        on_error: called with the request and the error when latchkey gives
            no verdict; a :class:`Response` it returns is sent. May be async.
        fail_open: when latchkey gives no verdict, let the request through
            (the dependency returns ``None``) instead of answering 503.
    """
    clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncLatchkey]" = weakref.WeakKeyDictionary()

    def lk() -> AsyncLatchkey:
        if client is not None:
            return client
        loop = asyncio.get_running_loop()
        found = clients.get(loop)
        if found is None:
            found = clients[loop] = AsyncLatchkey()
        return found

    def refuse(request: Request, response: Response) -> KeyRefused:
        _install_handler(request)
        return KeyRefused(response)

    async def dependency(request: Request) -> Optional[VerifyView]:
        key = await _resolve(get_key(request)) if get_key else presented_key(request.headers.get)
        if not key:
            raise refuse(request, _refusal_response(MISSING))
        ip = client_address(client_ip(request) if client_ip else request.client.host if request.client else None)
        try:
            verdict = await lk().keys.verify(
                key=key,
                scopes=list(scopes) if scopes else NOT_GIVEN,
                project_id=project_id if project_id is not None else NOT_GIVEN,
                cost=cost if cost is not None else NOT_GIVEN,
                ip=ip if ip is not None else NOT_GIVEN,
            )
        except LatchkeyError as e:
            if on_error is not None:
                custom = await _resolve(on_error(request, e))
                if custom is not None:
                    raise refuse(request, custom) from e
            if fail_open:
                request.state.latchkey = None
                return None
            raise refuse(request, _refusal_response(UNAVAILABLE)) from e
        request.state.latchkey = verdict
        if verdict.valid:
            return verdict
        if on_invalid is not None:
            custom = await _resolve(on_invalid(request, verdict))
            if custom is not None:
                raise refuse(request, custom)
        raise refuse(request, _refusal_response(refusal_for(verdict)))

    return dependency
