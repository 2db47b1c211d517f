"""The base of every model, and the envelopes the native API answers in:
``{"data": …}``, ``{"data": [...], "nextCursor"}`` and ``{"data": …,
"message"}`` (the one answer that shows a secret)."""

from __future__ import annotations

from typing import Generic, List, Optional, TypeVar

import pydantic
from pydantic import ConfigDict, Field

__all__ = ["LatchkeyModel", "Data", "Paged", "Shown"]

T = TypeVar("T")


class LatchkeyModel(pydantic.BaseModel):
    """A value of the contract: attributes in snake_case, read from and
    written as the wire's camelCase. Fields a newer server adds are kept
    (``model_extra``), not refused."""

    model_config = ConfigDict(populate_by_name=True, extra="allow", protected_namespaces=())


class Data(LatchkeyModel, Generic[T]):
    """``{"data": …}``"""

    data: T


class Paged(LatchkeyModel, Generic[T]):
    """A page of a list: ``{"data": [...], "nextCursor": "…" | null}``."""

    data: List[T]
    next_cursor: Optional[str] = Field(default=None, alias="nextCursor")


class Shown(LatchkeyModel, Generic[T]):
    """``{"data": …, "message": …}``: the answer that shows a secret once."""

    data: T
    message: str
