"""What forward auth (``/v1/auth/check``) answers: 200 with the key's
identity in headers, which the contract describes in words only."""

from __future__ import annotations

from typing import Optional

import httpx

from ._exceptions import APIResponseValidationError
from ._models import LatchkeyModel

__all__ = ["ForwardedIdentity"]


class ForwardedIdentity(LatchkeyModel):
    """The identity headers of a forward-auth pass."""

    org_id: str
    """``X-Latchkey-Org-Id``: the key's organization."""
    key_id: str
    """``X-Latchkey-Key-Id``: the key."""
    environment: str
    """``X-Latchkey-Environment``: ``live`` or ``test``."""
    project_id: Optional[str] = None
    """``X-Latchkey-Project-Id``: its project, if any."""
    user_id: Optional[str] = None
    """``X-Latchkey-User-Id``: its owner, unless organization-owned."""


def forwarded_identity(response: httpx.Response) -> ForwardedIdentity:
    """The identity in a 200 answer of ``/v1/auth/check``."""
    h = response.headers
    required = ("x-latchkey-org-id", "x-latchkey-key-id", "x-latchkey-environment")
    missing = [name for name in required if name not in h]
    if missing:
        raise APIResponseValidationError(f"forward auth passed without {', '.join(missing)}", response=response)
    return ForwardedIdentity(
        org_id=h["x-latchkey-org-id"],
        key_id=h["x-latchkey-key-id"],
        environment=h["x-latchkey-environment"],
        project_id=h.get("x-latchkey-project-id"),
        user_id=h.get("x-latchkey-user-id"),
    )
