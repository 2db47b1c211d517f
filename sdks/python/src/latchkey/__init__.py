"""The Python SDK of latchkey: API keys for a developer platform.

>>> from latchkey import Latchkey
>>> lk = Latchkey()  # LATCHKEY_API_KEY, LATCHKEY_API_URL (default http://127.0.0.1:7420)
>>> created = lk.keys.create(name="ci", scopes=["sandbox:create"], expires_in="30d")
>>> v = lk.keys.verify(key=created.key, scopes=["sandbox:create"])
>>> v.valid, v.code
(True, 'VALID')

:class:`AsyncLatchkey` has the same resources and methods, awaited. The
framework helpers are ``latchkey.fastapi.require_key`` and
``latchkey.flask.require_key``.
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
    "SyncPage",
    "AsyncPage",
    "AsyncPaginator",
    "types",
    "__version__",
]
