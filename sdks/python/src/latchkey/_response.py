"""Reading a successful answer into what a method returns."""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, Type, TypeVar

import httpx
import pydantic

from ._base import describe
from ._exceptions import APIResponseValidationError
from ._models import Data, Shown

T = TypeVar("T")

Parser = Callable[[httpx.Response], T]
"""Turns a successful answer into a method's return value."""


@functools.lru_cache(maxsize=None)
def _adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(tp)


def _validate(tp: Any, response: httpx.Response, content: Optional[bytes] = None) -> Any:
    try:
        return _adapter(tp).validate_json(response.content if content is None else content)
    except pydantic.ValidationError as e:
        raise APIResponseValidationError(
            f"the answer of {describe(response.request)} "
            f"does not match the contract: {e.error_count()} error(s), first: {e.errors()[0]['msg']} "
            f"at {'.'.join(str(p) for p in e.errors()[0]['loc'])}",
            response=response,
        ) from None


def model(tp: Type[T]) -> Parser[T]:
    """The body is ``tp`` itself (the vendor profiles' answers)."""
    return lambda r: _validate(tp, r)


def data(tp: Type[T]) -> Parser[T]:
    """The body is ``{"data": tp}``; returns the ``data``."""
    return lambda r: _validate(Data[tp], r).data  # type: ignore[valid-type]


def data_list(tp: Type[T]) -> Parser[List[T]]:
    """The body is ``{"data": [tp, ...]}``; returns the list."""
    return lambda r: _validate(Data[List[tp]], r).data  # type: ignore[valid-type]


def shown(tp: Type[T]) -> Parser[T]:
    """The body is ``{"data": tp, "message"}``; returns the ``data``."""
    return lambda r: _validate(Shown[tp], r).data  # type: ignore[valid-type]


def shown_list(tp: Type[T]) -> Parser[List[T]]:
    """The body is ``{"data": [tp, ...], "message"}``; returns the list."""
    return lambda r: _validate(Shown[List[tp]], r).data  # type: ignore[valid-type]


def nothing(response: httpx.Response) -> None:
    """No body (204)."""
    return None


def json_lines(tp: Type[T]) -> Parser[List[T]]:
    """The body is JSON lines, one ``tp`` per line; returns them in order."""

    def parse(response: httpx.Response) -> List[T]:
        lines = [line for line in response.content.splitlines() if line.strip()]
        return _validate(List[tp], response, b"[" + b",".join(lines) + b"]")  # type: ignore[valid-type,no-any-return]

    return parse


def text(response: httpx.Response) -> str:
    """A text body."""
    return response.text


def raw(response: httpx.Response) -> bytes:
    """The body's bytes."""
    return response.content


def json_object(response: httpx.Response) -> Dict[str, Any]:
    """A JSON object of no fixed shape."""
    return _validate(Dict[str, Any], response)  # type: ignore[no-any-return]
