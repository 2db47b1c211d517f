"""Reading a successful answer into what a method returns."""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Type, TypeVar

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


def _validate(tp: Any, response: httpx.Response) -> Any:
    try:
        return _adapter(tp).validate_json(response.content)
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


def text(response: httpx.Response) -> str:
    """A text body."""
    return response.text


def raw(response: httpx.Response) -> bytes:
    """The body's bytes."""
    return response.content


def json_object(response: httpx.Response) -> Dict[str, Any]:
    """A JSON object of no fixed shape."""
    return _validate(Dict[str, Any], response)  # type: ignore[no-any-return]
