"""What the framework helpers share: where a caller's key is read from,
and the answer for each verdict.

* The key comes from ``X-API-Key``, else ``Authorization: Bearer``.
* No key, or a key that is malformed, unknown, expired, revoked or
  disabled: **401** ``unauthorized``, one message for all (the reason is
  not told to the caller, as latchkey itself does).
* ``INSUFFICIENT_SCOPE``: **403** ``insufficient_scope``.
* ``IP_NOT_ALLOWED``: **403** ``ip_not_allowed`` (the key is bound to
  networks the client is outside of).
* ``RATE_LIMITED`` and ``USAGE_EXCEEDED``: **429** ``rate_limited`` with
  ``Retry-After`` (and the ``RateLimit-*`` headers of the verdict).
* latchkey unreachable or failing: **503** ``unavailable`` (fail closed),
  unless the helper was made with ``fail_open=True``.
* The client's address goes with the key (``ip``), so that a key bound to
  networks (``allowedCidrs``) works only from them: the address the
  framework gives for the request (behind a proxy, configure the
  framework to trust it: uvicorn's ``--proxy-headers``, werkzeug's
  ``ProxyFix``), or what the helper's ``client_ip`` returns. Something that
  is not an IP address is not sent (a key bound to networks is then
  refused: latchkey cannot place the client).

Every refusal is the ``{"error": {"code", "message"}}`` envelope.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Callable, Dict, NamedTuple, Optional

from .types import VerifyView

__all__ = ["presented_key", "client_address", "Refusal", "refusal_for", "MISSING", "UNAVAILABLE"]


def presented_key(header: Callable[[str], Optional[str]]) -> Optional[str]:
    """The key a request presents: ``X-API-Key``, else the token of
    ``Authorization: Bearer``; ``None`` if neither (or empty). ``header``
    looks a header up by its name, case-insensitively (``request.headers.get``)."""
    value = header("x-api-key")
    if value is not None:
        return value.strip() or None
    auth = header("authorization")
    if not auth:
        return None
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def client_address(address: Optional[str]) -> Optional[str]:
    """``address`` if it is an IPv4 or IPv6 address (what latchkey's
    ``ip`` takes), else ``None``: a test client's ``"testclient"``, a Unix
    socket's path or nothing at all are not sent."""
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


class Refusal(NamedTuple):
    """An error answer: status, envelope and headers."""

    status: int
    code: str
    message: str
    headers: Dict[str, str] = {}

    def body(self) -> bytes:
        """The ``{"error": {"code", "message"}}`` envelope as JSON."""
        return json.dumps({"error": {"code": self.code, "message": self.message}}).encode()


MISSING = Refusal(401, "unauthorized", "Invalid or missing API key")
"""No key, or one latchkey does not accept."""
UNAVAILABLE = Refusal(503, "unavailable", "the API key service cannot be reached; try again shortly")
"""latchkey did not give a verdict (fail closed)."""


def refusal_for(verdict: VerifyView) -> Refusal:
    """The answer to a request whose key latchkey refused."""
    if verdict.code == "INSUFFICIENT_SCOPE":
        return Refusal(403, "insufficient_scope", "this key lacks a required scope")
    if verdict.code == "IP_NOT_ALLOWED":
        return Refusal(403, "ip_not_allowed", "this key may not be used from this address")
    if verdict.code in ("RATE_LIMITED", "USAGE_EXCEEDED"):
        headers: Dict[str, str] = {}
        limit = verdict.ratelimit
        if limit is not None:
            headers["RateLimit-Limit"] = str(limit.limit)
            headers["RateLimit-Remaining"] = str(limit.remaining)
            headers["RateLimit-Reset"] = str(limit.reset)
        if verdict.code == "RATE_LIMITED":
            # The verdict tells when the window is full again, not when the
            # next request passes: a bound that is never too early.
            retry = max(1, limit.reset) if limit is not None else 1
            message = "rate limit exceeded for this key"
        else:
            # Credits come back with a refill or a top-up; latchkey's own
            # answer for this case says a minute.
            retry = 60
            message = "this key has no usage credits left"
        headers["Retry-After"] = str(retry)
        return Refusal(429, "rate_limited", message, headers)
    return MISSING
