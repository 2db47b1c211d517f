"""The clients: :class:`Latchkey` (blocking) and :class:`AsyncLatchkey`.

Both take their settings from arguments, else from the environment
(``LATCHKEY_API_KEY``, ``LATCHKEY_API_URL``, or another prefix with
``env_prefix``), and share one request policy:

* the credential goes as ``Authorization: Bearer``, and only to the
  operations that take one (sign-up, login, health and the document are
  called without it);
* an answer with an error status raises the :class:`~latchkey.LatchkeyError`
  subclass of its status, a failure to get an answer
  :class:`~latchkey.APIConnectionError` or :class:`~latchkey.APITimeoutError`;
* retries (``max_retries``, default 2): after a 429 or 503 answer, waiting
  what ``Retry-After`` says (not retried when that is over 20 s), else
  an exponential backoff with jitter (0.5 s, 1 s, … up to 8 s, each cut by
  up to a quarter at random); after a connection failure the same backoff,
  but a request that is not idempotent (``POST``, ``PATCH``) is retried
  only when it never reached the server (refused connection, connect
  timeout), never after it was sent.
"""

from __future__ import annotations

import logging
import os
import random
import time
from typing import Any, Callable, Dict, Mapping, Optional, Type, TypeVar, Union

import anyio
import httpx

from ._base import NOT_GIVEN, NotGiven, RequestOptions, Timeout, describe
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    LatchkeyError,
    retry_after_seconds,
    status_error,
)
from ._pagination import AsyncPaginator, PageRequest, SyncPage
from ._resources import AsyncLatchkeyResources, LatchkeyResources
from ._version import __version__

__all__ = ["Latchkey", "AsyncLatchkey", "DEFAULT_BASE_URL"]

log = logging.getLogger("latchkey")

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:7420"
"""Where the client goes when neither ``base_url`` nor ``<PREFIX>_API_URL`` says."""
DEFAULT_TIMEOUT = 10.0
"""Seconds each attempt may take, by default."""
DEFAULT_MAX_RETRIES = 2
"""Retries after the first attempt, by default."""
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 20.0
"""A ``Retry-After`` longer than this is not waited for: the
:class:`~latchkey.RateLimitError` is raised at once, with its
``retry_after``, and the caller decides (a per-minute limit of one says
60 s)."""
RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Failures that happen before a byte of the request left: safe to retry
# whatever the method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures no retry mends.
_PERMANENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


class _BaseClient:
    """Settings and the request policy both clients share."""

    api_key: Optional[str]
    """The credential: an API key, or a session token (``lks_…``)."""
    base_url: str
    """The server, without a trailing slash."""
    timeout: Timeout
    """Seconds an attempt may take (or an :class:`httpx.Timeout`)."""
    max_retries: int
    """Retries after the first attempt (see the module documentation)."""
    org_id: Optional[str]
    """``X-Latchkey-Org``: the organization a session acts in."""
    env_prefix: str
    """The environment variables' prefix (``LATCHKEY``)."""

    def __init__(
        self,
        *,
        api_key: Optional[str],
        base_url: Optional[str],
        timeout: Timeout,
        max_retries: int,
        env_prefix: str,
        org_id: Optional[str],
        default_headers: Optional[Mapping[str, str]],
    ) -> None:
        prefix = env_prefix.rstrip("_")
        if not prefix:
            raise ValueError("env_prefix must not be empty")
        if api_key is None:
            api_key = os.environ.get(f"{prefix}_API_KEY") or None
        if base_url is None:
            base_url = os.environ.get(f"{prefix}_API_URL") or DEFAULT_BASE_URL
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.api_key = api_key
        self.base_url = str(base_url).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.org_id = org_id
        self.env_prefix = prefix
        self._default_headers = dict(default_headers or {})

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key})"

    def _build(
        self,
        http: Union[httpx.Client, httpx.AsyncClient],
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]],
        body: Optional[Any],
        headers: Optional[Mapping[str, str]],
        auth: bool,
        options: RequestOptions,
    ) -> httpx.Request:
        h: Dict[str, str] = {
            "Accept": "application/json",
            "User-Agent": f"latchkey-python/{__version__}",
        }
        h.update(self._default_headers)
        if auth:
            if not self.api_key:
                raise LatchkeyError(
                    f"no API key: pass api_key= or set {self.env_prefix}_API_KEY"
                )
            h["Authorization"] = f"Bearer {self.api_key}"
            if self.org_id:
                h["X-Latchkey-Org"] = self.org_id
        if headers:
            h.update(headers)
        if options.extra_headers:
            h.update(options.extra_headers)
        timeout = self.timeout if isinstance(options.timeout, NotGiven) else options.timeout
        # Bytes are a body sent exactly as given (a signed report's).
        raw = bytes(body) if isinstance(body, (bytes, bytearray)) else None
        if raw is not None:
            h["Content-Type"] = "application/json"
        return http.build_request(
            method,
            self.base_url + path,
            params=dict(query) if query else None,
            json=None if raw is not None else body,
            content=raw,
            headers=h,
            timeout=timeout,
        )

    def _retry_delay(
        self,
        request: httpx.Request,
        attempt: int,
        *,
        response: Optional[httpx.Response] = None,
        error: Optional[httpx.TransportError] = None,
    ) -> Optional[float]:
        """Seconds to wait before attempt ``attempt + 1``, or ``None`` to give up."""
        if attempt >= self.max_retries:
            return None
        if response is not None:
            if response.status_code not in RETRY_STATUSES:
                return None
            after = retry_after_seconds(response)
            if after is not None:
                return after if after <= MAX_RETRY_AFTER else None
        elif error is not None:
            if isinstance(error, _PERMANENT):
                return None
            if not isinstance(error, _NOT_SENT) and request.method not in IDEMPOTENT_METHODS:
                return None
        backoff: float = min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY)
        return backoff * (1.0 - 0.25 * random.random())

    def _no_answer(self, error: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
        where = describe(request)
        if isinstance(error, httpx.TimeoutException):
            return APITimeoutError(f"latchkey did not answer {where} in time ({error})", request=request)
        return APIConnectionError(f"could not reach latchkey at {self.base_url} for {where}: {error}", request=request)

    @staticmethod
    def _log_retry(request: httpx.Request, delay: float, reason: str) -> None:
        log.info("retrying %s in %.2f s (%s)", describe(request), delay, reason)

    def _settings(self, **overrides: Any) -> Dict[str, Any]:
        settings: Dict[str, Any] = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "env_prefix": self.env_prefix,
            "org_id": self.org_id,
            "default_headers": self._default_headers,
        }
        for name, value in overrides.items():
            if not isinstance(value, NotGiven):
                settings[name] = value
        return settings


class Latchkey(_BaseClient, LatchkeyResources):
    """The blocking client.

    >>> lk = Latchkey()  # LATCHKEY_API_KEY, LATCHKEY_API_URL
    >>> created = lk.keys.create(name="ci", scopes=["sandbox:create"], expires_in="30d")
    >>> lk.keys.verify(key=created.key, scopes=["sandbox:create"]).valid
    True
    """

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        env_prefix: str = "LATCHKEY",
        org_id: Optional[str] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        """
        Args:
            api_key: the credential; default ``<env_prefix>_API_KEY``.
            base_url: the server; default ``<env_prefix>_API_URL``, else
                ``http://127.0.0.1:7420``.
            timeout: seconds each attempt may take.
            max_retries: retries after the first attempt.
            env_prefix: ``RUNTOOLS`` reads ``RUNTOOLS_API_KEY`` and
                ``RUNTOOLS_API_URL``.
            org_id: the organization a session acts in (``X-Latchkey-Org``).
            default_headers: headers sent with every request.
            http_client: an :class:`httpx.Client` to send through (its
                connection pool, proxies, transport); the caller closes it.
        """
        _BaseClient.__init__(
            self,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            env_prefix=env_prefix,
            org_id=org_id,
            default_headers=default_headers,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(follow_redirects=False)
        LatchkeyResources.__init__(self)

    def with_options(
        self,
        *,
        api_key: Union[Optional[str], NotGiven] = NOT_GIVEN,
        base_url: Union[str, NotGiven] = NOT_GIVEN,
        timeout: Union[Timeout, NotGiven] = NOT_GIVEN,
        max_retries: Union[int, NotGiven] = NOT_GIVEN,
        org_id: Union[Optional[str], NotGiven] = NOT_GIVEN,
    ) -> Latchkey:
        """A client with some settings changed, sharing this one's connections."""
        settings = self._settings(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries, org_id=org_id
        )
        return Latchkey(**settings, http_client=self._http)

    def close(self) -> None:
        """Closes the connections (unless the :class:`httpx.Client` was passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Latchkey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[httpx.Response], T],
        query: Optional[Mapping[str, Any]] = None,
        body: Optional[Any] = None,
        headers: Optional[Mapping[str, str]] = None,
        auth: bool = True,
        options: RequestOptions = RequestOptions(),
    ) -> T:
        request = self._build(
            self._http, method, path, query=query, body=body, headers=headers, auth=auth, options=options
        )
        attempt = 0
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as e:
                delay = self._retry_delay(request, attempt, error=e)
                if delay is None:
                    raise self._no_answer(e, request) from e
                self._log_retry(request, delay, type(e).__name__)
            else:
                if response.is_success:
                    return parse(response)
                delay = self._retry_delay(request, attempt, response=response)
                if delay is None:
                    raise status_error(response)
                self._log_retry(request, delay, str(response.status_code))
            time.sleep(delay)
            attempt += 1

    def _paginate(self, path: str, *, query: Mapping[str, Any], item: Type[T], options: RequestOptions) -> SyncPage[T]:
        return SyncPage.fetch(self, PageRequest(path, dict(query), item, options))


class AsyncLatchkey(_BaseClient, AsyncLatchkeyResources):
    """The asynchronous client: the same resources and methods as
    :class:`Latchkey`, awaited (asyncio or trio).

    >>> lk = AsyncLatchkey()
    >>> v = await lk.keys.verify(key=presented, scopes=["sandbox:read"])
    >>> async for k in lk.keys.list(all_org=True): ...
    """

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        env_prefix: str = "LATCHKEY",
        org_id: Optional[str] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        """The arguments of :class:`Latchkey`; ``http_client`` is an
        :class:`httpx.AsyncClient`."""
        _BaseClient.__init__(
            self,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            env_prefix=env_prefix,
            org_id=org_id,
            default_headers=default_headers,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(follow_redirects=False)
        AsyncLatchkeyResources.__init__(self)

    def with_options(
        self,
        *,
        api_key: Union[Optional[str], NotGiven] = NOT_GIVEN,
        base_url: Union[str, NotGiven] = NOT_GIVEN,
        timeout: Union[Timeout, NotGiven] = NOT_GIVEN,
        max_retries: Union[int, NotGiven] = NOT_GIVEN,
        org_id: Union[Optional[str], NotGiven] = NOT_GIVEN,
    ) -> AsyncLatchkey:
        """A client with some settings changed, sharing this one's connections."""
        settings = self._settings(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries, org_id=org_id
        )
        return AsyncLatchkey(**settings, http_client=self._http)

    async def close(self) -> None:
        """Closes the connections (unless the :class:`httpx.AsyncClient` was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncLatchkey:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[httpx.Response], T],
        query: Optional[Mapping[str, Any]] = None,
        body: Optional[Any] = None,
        headers: Optional[Mapping[str, str]] = None,
        auth: bool = True,
        options: RequestOptions = RequestOptions(),
    ) -> T:
        request = self._build(
            self._http, method, path, query=query, body=body, headers=headers, auth=auth, options=options
        )
        attempt = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as e:
                delay = self._retry_delay(request, attempt, error=e)
                if delay is None:
                    raise self._no_answer(e, request) from e
                self._log_retry(request, delay, type(e).__name__)
            else:
                if response.is_success:
                    return parse(response)
                delay = self._retry_delay(request, attempt, response=response)
                if delay is None:
                    raise status_error(response)
                self._log_retry(request, delay, str(response.status_code))
            await anyio.sleep(delay)
            attempt += 1

    def _paginate(
        self, path: str, *, query: Mapping[str, Any], item: Type[T], options: RequestOptions
    ) -> AsyncPaginator[T]:
        return AsyncPaginator(self, PageRequest(path, dict(query), item, options))
