"""Waiting for a connect (``oauth.wait_for_connect``): the one hand-written
method of the connected-apps resource, which the generated
``OauthResource`` and ``AsyncOauthResource`` inherit (codegen/generate.py,
``HELPERS``).

A connect request (``oauth.connect``) is ``pending`` until the person's
browser comes back from the provider, then ``completed``, ``failed`` or,
10 minutes after it started, ``expired``. The wait polls
``oauth.get_connect`` until it is no longer ``pending``, for at most the
request's ``expires_at`` (and :data:`CONNECT_EXPIRY_GRACE` past it).
"""

from __future__ import annotations

import datetime
import time
from typing import Mapping, Optional, Union

import anyio
import pydantic
from typing_extensions import Protocol

from ._base import NOT_GIVEN, NotGiven, Timeout
from .types import ConnectRequestView

__all__ = ["ConnectWaiter", "AsyncConnectWaiter", "CONNECT_POLL_INTERVAL", "CONNECT_EXPIRY_GRACE"]

CONNECT_POLL_INTERVAL = 1.0
"""Seconds between two polls, by default."""
CONNECT_EXPIRY_GRACE = 30.0
"""Seconds past a request's ``expires_at`` the wait still polls: a callback
that came just before the expiry may still be exchanging the code at the
provider (two requests of at most 10 s each)."""

_INSTANT = pydantic.TypeAdapter(datetime.datetime)


def _seconds_left(view: ConnectRequestView, started: float, max_wait: Optional[float]) -> float:
    """Seconds the wait may still take: until the request's expiry and the
    grace, and at most ``max_wait`` after ``started`` (``time.monotonic()``)."""
    expires = _INSTANT.validate_python(view.expires_at).timestamp()
    left = expires + CONNECT_EXPIRY_GRACE - time.time()
    if max_wait is not None:
        left = min(left, started + max_wait - time.monotonic())
    return left


class _GetsConnect(Protocol):
    def get_connect(
        self,
        id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        timeout: Union[Timeout, NotGiven] = NOT_GIVEN,
    ) -> ConnectRequestView: ...


class _AsyncGetsConnect(Protocol):
    async def get_connect(
        self,
        id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        timeout: Union[Timeout, NotGiven] = NOT_GIVEN,
    ) -> ConnectRequestView: ...


class ConnectWaiter:
    """``wait_for_connect`` of :class:`~latchkey.Latchkey`'s ``oauth``."""

    def wait_for_connect(
        self: _GetsConnect,
        id: str,
        *,
        interval: float = CONNECT_POLL_INTERVAL,
        max_wait: Optional[float] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        timeout: Union[Timeout, NotGiven] = NOT_GIVEN,
    ) -> ConnectRequestView:
        """Polls ``get_connect`` until the connect is no longer ``pending``
        and returns that view: ``completed`` (with ``connection_id``),
        ``failed`` (with ``error``) or ``expired``.

        The wait is bounded by the request's ``expires_at`` (10 minutes
        after it started; :data:`CONNECT_EXPIRY_GRACE` more for an exchange
        under way) and by ``max_wait`` seconds: past either, the last view
        is returned as it stands (``pending``).

        Args:
            id: The connect request's id (``ocr_…``).
            interval: Seconds between polls.
            max_wait: Seconds to wait at most (default: until the expiry).
            extra_headers: Headers added to each poll.
            timeout: Each poll's timeout instead of the client's.
        """
        started = time.monotonic()
        while True:
            view = self.get_connect(id, extra_headers=extra_headers, timeout=timeout)
            left = _seconds_left(view, started, max_wait)
            if view.status != "pending" or left <= 0:
                return view
            time.sleep(min(interval, left))


class AsyncConnectWaiter:
    """``wait_for_connect`` of :class:`~latchkey.AsyncLatchkey`'s ``oauth``."""

    async def wait_for_connect(
        self: _AsyncGetsConnect,
        id: str,
        *,
        interval: float = CONNECT_POLL_INTERVAL,
        max_wait: Optional[float] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        timeout: Union[Timeout, NotGiven] = NOT_GIVEN,
    ) -> ConnectRequestView:
        """The blocking client's ``wait_for_connect``, awaited; cancelling
        the task (``anyio.move_on_after``, ``asyncio.wait_for``) stops it too.

        Args:
            id: The connect request's id (``ocr_…``).
            interval: Seconds between polls.
            max_wait: Seconds to wait at most (default: until the expiry).
            extra_headers: Headers added to each poll.
            timeout: Each poll's timeout instead of the client's.
        """
        started = time.monotonic()
        while True:
            view = await self.get_connect(id, extra_headers=extra_headers, timeout=timeout)
            left = _seconds_left(view, started, max_wait)
            if view.status != "pending" or left <= 0:
                return view
            await anyio.sleep(min(interval, left))
