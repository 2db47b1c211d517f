"""The Python SDK of latchkey: API keys for a developer platform.

>>> from latchkey import Latchkey
>>> lk = Latchkey()  # LATCHKEY_API_KEY, LATCHKEY_API_URL (default http://127.0.0.1:7420)
>>> created = lk.keys.create(name="ci", scopes=["sandbox:create"], expires_in="30d")
>>> v = lk.keys.verify(key=created.key, scopes=["sandbox:create"])
>>> v.valid, v.code
(True, 'VALID')

:class:`AsyncLatchkey` has the same resources and methods, awaited. The
framework helpers are ``latchkey.fastapi.require_key`` and
``latchkey.flask.require_key``. A sandbox runtime verifies workspace mount
grants offline with ``lk.workspaces.verify_grant`` (or
:func:`verify_mount_grant`; ``pip install 'latchkey[grants]'``).
"""

from . import types
from ._base import NOT_GIVEN, NotGiven
from ._client import DEFAULT_BASE_URL, AsyncLatchkey, Latchkey
from ._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    LatchkeyError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from ._grants import (
    MOUNT_GRANT_AUDIENCE,
    MOUNT_GRANT_TYPE,
    AsyncMountGrantVerifier,
    MountGrantClaims,
    MountGrantError,
    MountGrantVerifier,
    verify_mount_grant,
)
from ._pagination import AsyncPage, AsyncPaginator, SyncPage
from ._version import __version__

__all__ = [
    "Latchkey",
    "AsyncLatchkey",
    "DEFAULT_BASE_URL",
    "NOT_GIVEN",
    "NotGiven",
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
    "MountGrantError",
    "MountGrantClaims",
    "MountGrantVerifier",
    "AsyncMountGrantVerifier",
    "verify_mount_grant",
    "MOUNT_GRANT_AUDIENCE",
    "MOUNT_GRANT_TYPE",
    "SyncPage",
    "AsyncPage",
    "AsyncPaginator",
    "types",
    "__version__",
]
