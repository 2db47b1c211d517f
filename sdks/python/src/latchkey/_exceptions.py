"""The errors the client raises: one class per kind of answer.

Every error is a :class:`LatchkeyError` with ``status``, ``code``,
``message``, ``request_id`` (``None`` where there was no answer) and
``connect_url`` (where a connected-app refusal sends the person). An
answer with an error status is an :class:`APIStatusError`, subclassed per
status; no answer at all is an :class:`APIConnectionError` (its subclass
:class:`APITimeoutError` when the time ran out). A verdict of
``POST /v1/keys/verify`` is never an error, whatever it says about the key.
"""

from __future__ import annotations

import email.utils
import time
from typing import Dict, Optional, Type

import httpx

__all__ = [
    "LatchkeyError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "PayloadTooLargeError",
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
    "APIConnectionError",
    "APITimeoutError",
    "APIResponseValidationError",
]


class LatchkeyError(Exception):
    """Anything that went wrong talking to latchkey."""

    status: Optional[int]
    """The HTTP status of the answer, if there was one."""
    code: Optional[str]
    """The error envelope's machine-readable ``code`` (``not_found``, …)."""
    message: str
    """A sentence for people."""
    request_id: Optional[str]
    """The answer's ``x-request-id``, to find the request in the server's log."""
    connect_url: Optional[str]
    """Where the person can connect (or reconnect) the app a connected-app
    refusal is about (the envelope's ``connectUrl``: ``oauth.token``'s
    ``not_connected``, ``needs_reauthorization``, ``insufficient_scope``);
    ``None`` otherwise."""

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        request_id: Optional[str] = None,
        connect_url: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.connect_url = connect_url

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.insert(0, f"{self.status} {self.code or ''}".rstrip() + ":")
        if self.request_id:
            parts.append(f"(request {self.request_id})")
        return " ".join(parts)


class APIStatusError(LatchkeyError):
    """latchkey answered with a 4xx or 5xx status."""

    status: int
    response: httpx.Response
    """The answer itself."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        code: Optional[str],
        connect_url: Optional[str] = None,
    ) -> None:
        super().__init__(
            message,
            status=response.status_code,
            code=code,
            request_id=response.headers.get("x-request-id"),
            connect_url=connect_url,
        )
        self.response = response


class BadRequestError(APIStatusError):
    """400: the request is invalid (``invalid_request``, ``invalid_scopes``, …)."""


class AuthenticationError(APIStatusError):
    """401: no credential, or one that is malformed, unknown, revoked or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the credential may not do this (``forbidden``, ``insufficient_scope``)."""


class NotFoundError(APIStatusError):
    """404: no such record in the caller's organization."""


class ConflictError(APIStatusError):
    """409: the change conflicts with the stored state (``conflict``, ``last_admin``)."""


class PayloadTooLargeError(APIStatusError):
    """413: the body is over the server's limit."""


class RateLimitError(APIStatusError):
    """429: over a rate limit or out of credits; ``retry_after`` says when to try again."""

    retry_after: Optional[float]
    """Seconds to wait, from ``Retry-After`` (``None`` if absent)."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        code: Optional[str],
        connect_url: Optional[str] = None,
    ) -> None:
        super().__init__(message, response=response, code=code, connect_url=connect_url)
        self.retry_after = retry_after_seconds(response)


class InternalServerError(APIStatusError):
    """5xx: the server failed."""


class ServiceUnavailableError(InternalServerError):
    """503: the server cannot reach its database (or is at its connection limit); retry."""


class APIConnectionError(LatchkeyError):
    """No answer: the server could not be reached or the connection broke."""

    def __init__(self, message: str = "could not reach latchkey", *, request: Optional[httpx.Request] = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """No answer in time."""

    def __init__(self, message: str = "latchkey did not answer in time", *, request: Optional[httpx.Request] = None) -> None:
        super().__init__(message, request=request)


class APIResponseValidationError(LatchkeyError):
    """A successful answer that does not have the shape the contract promises."""

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(
            message,
            status=response.status_code,
            request_id=response.headers.get("x-request-id"),
        )
        self.response = response


_BY_STATUS: Dict[int, Type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def status_error(response: httpx.Response) -> APIStatusError:
    """The error for an answer with an error status, from its envelope
    (``{"error": {"code", "message", "connectUrl"?}}``) when it has one."""
    code: Optional[str] = None
    connect_url: Optional[str] = None
    message = f"HTTP {response.status_code}"
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        if isinstance(err.get("code"), str):
            code = err["code"]
        if isinstance(err.get("message"), str):
            message = err["message"]
        if isinstance(err.get("connectUrl"), str):
            connect_url = err["connectUrl"]
    elif response.text:
        message = response.text[:200]
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = InternalServerError if response.status_code >= 500 else APIStatusError
    return cls(message, response=response, code=code, connect_url=connect_url)


def retry_after_seconds(response: httpx.Response) -> Optional[float]:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date; ``None``
    when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())
