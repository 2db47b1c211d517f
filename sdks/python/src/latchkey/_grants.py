"""Offline verification of workspace mount grants, for the platform's
sandbox runtime.

``workspaces.mount`` answers an allowed mount with a grant: a compact JWS
(RFC 7515) signed with Ed25519, header ``{"alg": "EdDSA", "typ":
"latchkey-mount+jwt", "kid"}``, claims :class:`MountGrantClaims`.
``GET /v1/workspaces/grant-keys`` publishes the keys that verify it (a JWK
Set, current key first; several during a master key rotation).

:func:`verify_mount_grant` checks a grant against a key set the caller
holds; :class:`MountGrantVerifier` (and :class:`AsyncMountGrantVerifier`)
fetch the set, keep it, and fetch it again when a grant names a key they do
not hold — what ``workspaces.verify_grant`` uses (the mixins
:class:`MountGrants` and :class:`AsyncMountGrants`, which the generated
workspaces resources inherit: codegen/generate.py, ``HELPERS``).

The signature is checked with ``cryptography``'s Ed25519, an optional
dependency: ``pip install 'latchkey[grants]'``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import math
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Mapping, Optional, Tuple, Union

import anyio
import pydantic
from pydantic import ConfigDict, Field
from typing_extensions import Literal, Protocol

from ._exceptions import LatchkeyError
from ._models import LatchkeyModel
from .types import GrantKeys, MountMode

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "MOUNT_GRANT_TYPE",
    "MOUNT_GRANT_AUDIENCE",
    "GRANT_KEYS_MAX_AGE",
    "GRANT_KEYS_COOLDOWN",
    "MountGrantClaims",
    "MountGrantError",
    "MountGrantFailure",
    "verify_mount_grant",
    "MountGrantVerifier",
    "AsyncMountGrantVerifier",
    "MountGrants",
    "AsyncMountGrants",
]

MOUNT_GRANT_TYPE = "latchkey-mount+jwt"
"""The grants' ``typ`` header."""
MOUNT_GRANT_AUDIENCE = "latchkey:mount"
"""The grants' audience (``aud``)."""
GRANT_KEYS_MAX_AGE = 300.0
"""Seconds a verifier keeps a fetched key set (the server's ``Cache-Control: max-age``)."""
GRANT_KEYS_COOLDOWN = 30.0
"""The least time, in seconds, between two fetches of the key set by a
verifier: a stream of grants naming unknown keys costs the server one
request per period, not one per grant."""

MountGrantFailure = Literal["malformed", "header", "unknown_key", "signature", "audience", "expired", "sandbox_mismatch"]
"""Why a grant was refused: ``malformed`` (not three base64url parts of
JSON, or claims of the wrong shape), ``header`` (not ``alg: EdDSA``, ``typ:
latchkey-mount+jwt`` with a ``kid``), ``unknown_key`` (no Ed25519 key of the
set has its ``kid``), ``signature``, ``audience``, ``expired`` (at or past
its ``exp``), ``sandbox_mismatch`` (made for another sandbox)."""

JwkSet = Union[GrantKeys, Mapping[str, Any]]
"""A key set: what ``workspaces.grant_keys()`` returns, or the JSON of
``GET /v1/workspaces/grant-keys`` as a dict."""

Now = Union[datetime.datetime, float, None]
"""The time to check ``exp`` against: an aware ``datetime``, seconds since
the epoch, or ``None`` for now."""

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_MISSING_EXTRA = (
    "verifying mount grants needs the `cryptography` package: pip install 'latchkey[grants]'"
)


class MountGrantClaims(LatchkeyModel):
    """What a verified grant says."""

    model_config = ConfigDict(populate_by_name=True, extra="allow", protected_namespaces=(), strict=True)

    iss: str
    """Who issued it: the server's public URL, or ``latchkey``."""
    aud: str
    """:data:`MOUNT_GRANT_AUDIENCE`."""
    sub: str
    """The workspace (``wsp_…``)."""
    org: str
    """Its organization (``org_…``)."""
    sandbox_id: str = Field(alias="sandboxId")
    """The sandbox it may be mounted into."""
    path: str
    """Where in the sandbox."""
    mode: MountMode
    """``ro`` or ``rw``."""
    prefix: str
    """The workspace's storage prefix (``orgs/{orgId}/workspaces/{wspId}/``)."""
    iat: int
    """Issued at, seconds since the epoch."""
    exp: int
    """Expires at, seconds since the epoch."""
    jti: str
    """The grant's unique id."""


class MountGrantError(LatchkeyError):
    """A grant that does not verify: ``reason`` says why (its ``code`` is
    ``invalid_grant``)."""

    reason: MountGrantFailure
    """Why (:data:`MountGrantFailure`)."""

    def __init__(self, reason: MountGrantFailure, message: str) -> None:
        super().__init__(f"mount grant refused ({reason}): {message}", code="invalid_grant")
        self.reason = reason


def _ed25519() -> type[Ed25519PublicKey]:
    """``cryptography``'s Ed25519 public key class, or an ImportError naming the extra."""
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError as e:
        raise ImportError(_MISSING_EXTRA) from e
    return Ed25519PublicKey


def _decode_part(part: str, what: str) -> bytes:
    """The bytes of a canonical unpadded base64url string, or a ``malformed`` refusal."""
    if not _BASE64URL.fullmatch(part):
        raise MountGrantError("malformed", f"the {what} is not base64url")
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise MountGrantError("malformed", f"the {what} is not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != part:
        raise MountGrantError("malformed", f"the {what} is not canonical base64url")
    return raw


def _decode_json(part: str, what: str) -> Dict[str, Any]:
    """The JSON object of a base64url part, or a ``malformed`` refusal."""
    raw = _decode_part(part, what)
    try:
        value = json.loads(raw)
    except ValueError:
        raise MountGrantError("malformed", f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise MountGrantError("malformed", f"the {what} is not a JSON object")
    return value


class _Parsed:
    """A grant taken apart, its signature not yet checked."""

    def __init__(self, grant: str) -> None:
        parts = grant.split(".")
        if len(parts) != 3:
            raise MountGrantError("malformed", "a grant has three parts")
        h, c, s = parts
        header = _decode_json(h, "header")
        if header.get("alg") != "EdDSA" or header.get("typ") != MOUNT_GRANT_TYPE:
            raise MountGrantError("header", f"expected alg EdDSA and typ {MOUNT_GRANT_TYPE}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise MountGrantError("header", "the header names no kid")
        self.kid: str = kid
        self.signing_input = f"{h}.{c}".encode("ascii")
        self.signature = _decode_part(s, "signature")
        self.claims = _decode_json(c, "claims")


def _jwks(keys: JwkSet) -> List[Mapping[str, Any]]:
    """The keys of a set as dicts."""
    if isinstance(keys, GrantKeys):
        return [k.model_dump(by_alias=True) for k in keys.keys]
    listed = keys.get("keys")
    return [k for k in listed if isinstance(k, Mapping)] if isinstance(listed, list) else []


def _find_key(keys: JwkSet, kid: str) -> Optional[Ed25519PublicKey]:
    """The Ed25519 key of ``keys`` named ``kid``, or ``None``."""
    for jwk in _jwks(keys):
        if jwk.get("kid") != kid or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        if jwk.get("alg", "EdDSA") != "EdDSA" or not isinstance(jwk.get("x"), str):
            continue
        try:
            return _ed25519().from_public_bytes(_decode_part(jwk["x"], "key"))
        except (MountGrantError, ValueError):
            return None
    return None


def _now_secs(now: Now) -> int:
    if now is None:
        return math.floor(time.time())
    if isinstance(now, datetime.datetime):
        return math.floor(now.timestamp())
    return math.floor(now)


def _check(parsed: _Parsed, key: Optional[Ed25519PublicKey], sandbox_id: Optional[str], now: Now) -> MountGrantClaims:
    """Checks a parsed grant's signature with ``key``, then its claims."""
    from cryptography.exceptions import InvalidSignature

    if key is None:
        raise MountGrantError("unknown_key", f"no published Ed25519 key has kid {parsed.kid}")
    try:
        key.verify(parsed.signature, parsed.signing_input)
    except InvalidSignature:
        raise MountGrantError("signature", "the signature does not verify") from None
    try:
        claims = MountGrantClaims.model_validate(parsed.claims)
    except pydantic.ValidationError:
        raise MountGrantError("malformed", "the claims are not those of a mount grant") from None
    if claims.aud != MOUNT_GRANT_AUDIENCE:
        raise MountGrantError("audience", f"the audience is not {MOUNT_GRANT_AUDIENCE}")
    if claims.exp <= _now_secs(now):
        expired = datetime.datetime.fromtimestamp(claims.exp, datetime.timezone.utc).isoformat()
        raise MountGrantError("expired", f"expired at {expired}")
    if sandbox_id is not None and claims.sandbox_id != sandbox_id:
        raise MountGrantError("sandbox_mismatch", "the grant is for another sandbox")
    return claims


def verify_mount_grant(
    grant: str,
    keys: JwkSet,
    *,
    sandbox_id: Optional[str] = None,
    now: Now = None,
) -> MountGrantClaims:
    """Verifies a mount grant offline with the keys of ``keys`` (what ``GET
    /v1/workspaces/grant-keys`` answers): three parts, the header's ``alg``
    (EdDSA) and ``typ``, the Ed25519 key of its ``kid``, the signature, the
    audience, ``exp`` after ``now``, and, when given, the sandbox.

    Returns:
        The grant's claims.

    Raises:
        MountGrantError: The grant does not verify; ``reason`` says why.
        ImportError: ``cryptography`` is missing (``pip install 'latchkey[grants]'``).
    """
    _ed25519()
    parsed = _Parsed(grant)
    return _check(parsed, _find_key(keys, parsed.kid), sandbox_id, now)


class _KeyCache:
    """The key set a verifier fetched, and when (``time.monotonic()``)."""

    def __init__(self, max_age: float, cooldown: float) -> None:
        self.max_age = max_age
        self.cooldown = cooldown
        self.keys: Optional[JwkSet] = None
        self.fetched_at = 0.0

    def cached(self, kid: str) -> Tuple[Optional[JwkSet], bool]:
        """The keys held, and whether to fetch them (again) for ``kid``."""
        age = time.monotonic() - self.fetched_at
        if self.keys is None or age >= self.max_age:
            return self.keys, True
        return self.keys, _find_key(self.keys, kid) is None and age >= self.cooldown

    def store(self, keys: JwkSet) -> JwkSet:
        self.keys = keys
        self.fetched_at = time.monotonic()
        return keys


class MountGrantVerifier:
    """Verifies mount grants with a key set it fetches (``fetch_keys``, e.g.
    ``client.workspaces.grant_keys``) and keeps for ``max_age`` seconds. A
    grant whose ``kid`` is not in the set (a master key rotation since the
    fetch) makes it fetch the set once more, unless it fetched less than
    ``cooldown`` seconds ago. Safe to share between threads."""

    def __init__(
        self,
        fetch_keys: Callable[[], JwkSet],
        *,
        max_age: float = GRANT_KEYS_MAX_AGE,
        cooldown: float = GRANT_KEYS_COOLDOWN,
    ) -> None:
        self._fetch = fetch_keys
        self._cache = _KeyCache(max_age, cooldown)
        self._lock = threading.Lock()

    def verify(self, grant: str, *, sandbox_id: Optional[str] = None, now: Now = None) -> MountGrantClaims:
        """Verifies ``grant`` as :func:`verify_mount_grant` does, with the
        fetched keys. A malformed grant or header is refused before any
        fetch; a failed fetch raises the client's error."""
        _ed25519()
        parsed = _Parsed(grant)
        with self._lock:
            keys, fetch = self._cache.cached(parsed.kid)
            if fetch or keys is None:
                keys = self._cache.store(self._fetch())
        return _check(parsed, _find_key(keys, parsed.kid), sandbox_id, now)


class AsyncMountGrantVerifier:
    """:class:`MountGrantVerifier` with an awaited ``fetch_keys`` (e.g.
    ``async_client.workspaces.grant_keys``); concurrent verifications share
    one fetch."""

    def __init__(
        self,
        fetch_keys: Callable[[], Awaitable[JwkSet]],
        *,
        max_age: float = GRANT_KEYS_MAX_AGE,
        cooldown: float = GRANT_KEYS_COOLDOWN,
    ) -> None:
        self._fetch = fetch_keys
        self._cache = _KeyCache(max_age, cooldown)
        self._lock: Optional[anyio.Lock] = None

    async def verify(self, grant: str, *, sandbox_id: Optional[str] = None, now: Now = None) -> MountGrantClaims:
        """:meth:`MountGrantVerifier.verify`, awaited."""
        _ed25519()
        parsed = _Parsed(grant)
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            keys, fetch = self._cache.cached(parsed.kid)
            if fetch or keys is None:
                keys = self._cache.store(await self._fetch())
        return _check(parsed, _find_key(keys, parsed.kid), sandbox_id, now)


class _FetchesKeys(Protocol):
    _grant_verifier: Optional[MountGrantVerifier]

    def grant_keys(self) -> GrantKeys: ...


class _AsyncFetchesKeys(Protocol):
    _async_grant_verifier: Optional[AsyncMountGrantVerifier]

    async def grant_keys(self) -> GrantKeys: ...


class MountGrants:
    """``verify_grant`` of :class:`~latchkey.Latchkey`'s ``workspaces``."""

    _grant_verifier: Optional[MountGrantVerifier] = None

    def verify_grant(
        self: _FetchesKeys,
        grant: str,
        *,
        sandbox_id: Optional[str] = None,
        now: Now = None,
    ) -> MountGrantClaims:
        """Verifies a mount grant offline, as the sandbox runtime does before
        it mounts: the signature with the published key of its ``kid`` (the
        key set is fetched once and kept for 5 minutes; fetched again when a
        grant names a key it does not hold, at most every 30 s), the
        audience, the expiry against ``now``, and, when given, that it names
        ``sandbox_id``.

        Args:
            grant: The ``grant`` of a mount decision.
            sandbox_id: The sandbox that asks to mount.
            now: The time to check ``exp`` against (default: now).

        Returns:
            The grant's claims.

        Raises:
            MountGrantError: The grant does not verify; ``reason`` says why.
            ImportError: ``cryptography`` is missing (``pip install 'latchkey[grants]'``).
        """
        if self._grant_verifier is None:
            self._grant_verifier = MountGrantVerifier(self.grant_keys)
        return self._grant_verifier.verify(grant, sandbox_id=sandbox_id, now=now)


class AsyncMountGrants:
    """``verify_grant`` of :class:`~latchkey.AsyncLatchkey`'s ``workspaces``."""

    _async_grant_verifier: Optional[AsyncMountGrantVerifier] = None

    async def verify_grant(
        self: _AsyncFetchesKeys,
        grant: str,
        *,
        sandbox_id: Optional[str] = None,
        now: Now = None,
    ) -> MountGrantClaims:
        """The blocking client's ``verify_grant``, awaited.

        Args:
            grant: The ``grant`` of a mount decision.
            sandbox_id: The sandbox that asks to mount.
            now: The time to check ``exp`` against (default: now).
        """
        if self._async_grant_verifier is None:
            self._async_grant_verifier = AsyncMountGrantVerifier(self.grant_keys)
        return await self._async_grant_verifier.verify(grant, sandbox_id=sandbox_id, now=now)
