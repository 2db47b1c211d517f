"""What every request shares: the "not given" sentinel, and turning
arguments into a JSON body, a query string and a path."""

from __future__ import annotations

import datetime
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, TypeVar, Union
from urllib.parse import quote

import httpx
import pydantic
from typing_extensions import Final, Literal

__all__ = ["NOT_GIVEN", "NotGiven", "Timeout", "RequestOptions", "operation"]


class NotGiven:
    """The default of an optional argument that was not passed.

    Distinct from ``None``: for the ``PATCH`` operations an absent field is
    kept and ``None`` (JSON ``null``) clears it.
    """

    _instance: Optional[NotGiven] = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
"""The one :class:`NotGiven` value."""

Timeout = Union[float, httpx.Timeout, None]
"""Seconds (for every phase), an :class:`httpx.Timeout`, or ``None`` for no limit."""


def json_value(value: Any) -> Any:
    """``value`` as JSON: models by their wire names, datetimes in RFC 3339."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError("a datetime sent to latchkey needs a timezone (datetime.timezone.utc)")
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


def body(fields: Mapping[str, Any]) -> Dict[str, Any]:
    """A JSON object of the ``fields`` given (``NOT_GIVEN`` ones left out;
    ``None`` kept, as ``null``)."""
    return {k: json_value(v) for k, v in fields.items() if not isinstance(v, NotGiven)}


def query(fields: Mapping[str, Any]) -> Dict[str, Union[str, int, float, bool]]:
    """Query parameters of the ``fields`` given (``NOT_GIVEN`` and ``None``
    left out; booleans as ``true``/``false``)."""
    out: Dict[str, Union[str, int, float, bool]] = {}
    for k, v in fields.items():
        if isinstance(v, NotGiven) or v is None:
            continue
        out[k] = v
    return out


def headers(fields: Mapping[str, Any]) -> Dict[str, str]:
    """Request headers of the ``fields`` given."""
    return {k: str(v) for k, v in fields.items() if not isinstance(v, NotGiven) and v is not None}


def describe(request: httpx.Request) -> str:
    """``METHOD /path`` for messages and logs, with an invitation token
    (``lki_…``, the one secret the API takes in a path) masked."""
    path = "/".join("lki_…" if part.startswith("lki_") else part for part in request.url.path.split("/"))
    return f"{request.method} {path}"


def segment(value: str) -> str:
    """``value`` as one path segment, percent-encoded (an id never reaches
    another route, whatever it holds)."""
    if not isinstance(value, str) or value == "":
        raise ValueError(f"a path parameter must be a non-empty string, not {value!r}")
    return quote(value, safe="")


class RequestOptions(NamedTuple):
    """Per-call options every method takes."""

    extra_headers: Optional[Mapping[str, str]] = None
    """Headers added to (or replacing) the client's."""
    timeout: Union[Timeout, NotGiven] = NOT_GIVEN
    """This call's timeout instead of the client's."""


F = TypeVar("F", bound=Callable[..., Any])


def operation(operation_id: str) -> Callable[[F], F]:
    """Marks a method as the one for ``operation_id`` of the contract
    (``__operation_id__``), so that a test can find every operation's method."""

    def mark(f: F) -> F:
        f.__operation_id__ = operation_id  # type: ignore[attr-defined]
        return f

    return mark
