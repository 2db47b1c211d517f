"""Protecting a Flask view with latchkey.

>>> from flask import Flask, g
>>> from latchkey.flask import require_key
>>> app = Flask(__name__)
>>> @app.get("/sandboxes")
... @require_key(scopes=["sandbox:read"])
... def sandboxes():
...     return {"org": g.latchkey.org_id}

The decorator verifies the caller's key with ``POST /v1/keys/verify`` (as
the service key of ``LATCHKEY_API_KEY``, through a :class:`~latchkey.Latchkey`
shared by the process), puts the verdict on ``flask.g.latchkey`` and calls
the view; a refused request gets the answer described in
``latchkey._middleware``: 401, 403, 429 or 503 in latchkey's error
envelope.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Optional, Sequence, TypeVar, cast

import flask

from ._base import NOT_GIVEN
from ._client import Latchkey
from ._exceptions import LatchkeyError
from ._middleware import MISSING, UNAVAILABLE, Refusal, client_address, presented_key, refusal_for
from .types import VerifyView

__all__ = ["require_key"]

F = TypeVar("F", bound=Callable[..., Any])
GetKey = Callable[[flask.Request], Optional[str]]
ClientIp = Callable[[flask.Request], Optional[str]]
OnInvalid = Callable[[flask.Request, VerifyView], Any]
OnError = Callable[[flask.Request, LatchkeyError], Any]

_shared: Optional[Latchkey] = None
_shared_lock = threading.Lock()


def _shared_client() -> Latchkey:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Latchkey()
        return _shared


def _refusal_response(refusal: Refusal) -> flask.Response:
    return flask.Response(refusal.body(), status=refusal.status, headers=refusal.headers, mimetype="application/json")


def require_key(
    scopes: Optional[Sequence[str]] = None,
    *,
    project_id: Optional[str] = None,
    cost: Optional[int] = None,
    client: Optional[Latchkey] = None,
    get_key: Optional[GetKey] = None,
    client_ip: Optional[ClientIp] = None,
    on_invalid: Optional[OnInvalid] = None,
    on_error: Optional[OnError] = None,
    fail_open: bool = False,
) -> Callable[[F], F]:
    """A view decorator that lets a request through only with a valid key.

    Args:
        scopes: scopes the key must hold (403 ``insufficient_scope`` if not).
        project_id: the project the key must belong to.
        cost: credits a request spends on keys with a budget (default 1).
        client: the :class:`~latchkey.Latchkey` to verify with; default one
            from the environment (``LATCHKEY_API_KEY`` must hold a key with
            ``keys:verify``), shared by every decorated view.
        get_key: reads the key from the request instead of ``X-API-Key`` /
            ``Authorization: Bearer``.
        client_ip: reads the client's address from the request instead of
            ``request.remote_addr`` (the peer, or the forwarded address
            behind werkzeug's ``ProxyFix``); sent to latchkey as ``ip`` for
            keys bound to networks.
        on_invalid: called with the request and the verdict of a refused
            key; a response it returns (anything a view may return) is sent
            instead of the default answer.
        on_error: called with the request and the error when latchkey gives
            no verdict; a response it returns is sent.
        fail_open: when latchkey gives no verdict, call the view anyway with
            ``g.latchkey`` set to ``None`` instead of answering 503.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def protected(*args: Any, **kwargs: Any) -> Any:
            request = flask.request
            key = get_key(request) if get_key else presented_key(request.headers.get)
            if not key:
                return _refusal_response(MISSING)
            lk = client if client is not None else _shared_client()
            ip = client_address(client_ip(request) if client_ip else request.remote_addr)
            try:
                verdict = lk.keys.verify(
                    key=key,
                    scopes=list(scopes) if scopes else NOT_GIVEN,
                    project_id=project_id if project_id is not None else NOT_GIVEN,
                    cost=cost if cost is not None else NOT_GIVEN,
                    ip=ip if ip is not None else NOT_GIVEN,
                )
            except LatchkeyError as e:
                if on_error is not None:
                    custom = on_error(request, e)
                    if custom is not None:
                        return custom
                if fail_open:
                    flask.g.latchkey = None
                    return view(*args, **kwargs)
                return _refusal_response(UNAVAILABLE)
            flask.g.latchkey = verdict
            if not verdict.valid:
                if on_invalid is not None:
                    custom = on_invalid(request, verdict)
                    if custom is not None:
                        return custom
                return _refusal_response(refusal_for(verdict))
            return view(*args, **kwargs)

        return cast(F, protected)

    return decorate
