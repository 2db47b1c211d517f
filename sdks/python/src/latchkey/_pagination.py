"""Lists: a page at a time, or every item, following ``nextCursor``.

``client.keys.list()`` fetches the first page and returns a
:class:`SyncPage`; iterating it yields every item of every page, fetching
the next page when the current one is used up. On :class:`AsyncLatchkey`,
``list()`` returns an :class:`AsyncPaginator`: ``await`` it for the first
:class:`AsyncPage`, or ``async for`` over it for every item.
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Dict,
    Generator,
    Generic,
    Iterator,
    List,
    Optional,
    Type,
    TypeVar,
)

import httpx

from ._models import Paged
from ._response import _validate

if TYPE_CHECKING:
    from ._base import RequestOptions
    from ._client import AsyncLatchkey, Latchkey

__all__ = ["SyncPage", "AsyncPage", "AsyncPaginator", "PageRequest"]

T = TypeVar("T")


class PageRequest(Generic[T]):
    """What fetches one page: the operation, its query without the cursor,
    and the type of the items."""

    def __init__(self, path: str, query: Dict[str, Any], item: Type[T], options: RequestOptions) -> None:
        self.path = path
        self.query = query
        self.item = item
        self.options = options

    def parse(self, response: httpx.Response) -> Paged[T]:
        """The page in ``response``."""
        return _validate(Paged[self.item], response)  # type: ignore[name-defined, no-any-return]

    def query_at(self, cursor: Optional[str]) -> Dict[str, Any]:
        """The query for the page at ``cursor`` (the first page for ``None``)."""
        if cursor is None:
            return self.query
        return {**self.query, "cursor": cursor}


class SyncPage(Generic[T]):
    """One page of a list; iterating it goes on through the next pages."""

    data: List[T]
    """The items of this page, newest first."""
    next_cursor: Optional[str]
    """The cursor of the next page; ``None`` on the last."""

    def __init__(self, client: Latchkey, request: PageRequest[T], page: Paged[T]) -> None:
        self._client = client
        self._request = request
        self.data = page.data
        self.next_cursor = page.next_cursor

    @classmethod
    def fetch(cls, client: Latchkey, request: PageRequest[T], cursor: Optional[str] = None) -> SyncPage[T]:
        """Fetches the page at ``cursor``."""
        page = client._request("GET", request.path, parse=request.parse, query=request.query_at(cursor), options=request.options)
        return cls(client, request, page)

    def has_next_page(self) -> bool:
        """Whether another page follows."""
        return self.next_cursor is not None

    def get_next_page(self) -> SyncPage[T]:
        """Fetches the next page (:meth:`has_next_page` must be true)."""
        if self.next_cursor is None:
            raise ValueError("this is the last page")
        return SyncPage.fetch(self._client, self._request, self.next_cursor)

    def iter_pages(self) -> Iterator[SyncPage[T]]:
        """This page and every following one."""
        page: SyncPage[T] = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = page.get_next_page()

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page.data

    def __repr__(self) -> str:
        return f"SyncPage(items={len(self.data)}, next_cursor={self.next_cursor!r})"


class AsyncPage(Generic[T]):
    """One page of a list; ``async for`` over it goes on through the next pages."""

    data: List[T]
    """The items of this page, newest first."""
    next_cursor: Optional[str]
    """The cursor of the next page; ``None`` on the last."""

    def __init__(self, client: AsyncLatchkey, request: PageRequest[T], page: Paged[T]) -> None:
        self._client = client
        self._request = request
        self.data = page.data
        self.next_cursor = page.next_cursor

    @classmethod
    async def fetch(cls, client: AsyncLatchkey, request: PageRequest[T], cursor: Optional[str] = None) -> AsyncPage[T]:
        """Fetches the page at ``cursor``."""
        page = await client._request("GET", request.path, parse=request.parse, query=request.query_at(cursor), options=request.options)
        return cls(client, request, page)

    def has_next_page(self) -> bool:
        """Whether another page follows."""
        return self.next_cursor is not None

    async def get_next_page(self) -> AsyncPage[T]:
        """Fetches the next page (:meth:`has_next_page` must be true)."""
        if self.next_cursor is None:
            raise ValueError("this is the last page")
        return await AsyncPage.fetch(self._client, self._request, self.next_cursor)

    async def iter_pages(self) -> AsyncIterator[AsyncPage[T]]:
        """This page and every following one."""
        page: AsyncPage[T] = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = await page.get_next_page()

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.iter_pages():
            for item in page.data:
                yield item

    def __repr__(self) -> str:
        return f"AsyncPage(items={len(self.data)}, next_cursor={self.next_cursor!r})"


class AsyncPaginator(Generic[T]):
    """What an async ``list()`` returns before anything is fetched: ``await``
    it for the first page, ``async for`` over it for every item."""

    def __init__(self, client: AsyncLatchkey, request: PageRequest[T]) -> None:
        self._client = client
        self._request = request

    def __await__(self) -> Generator[Any, None, AsyncPage[T]]:
        return AsyncPage.fetch(self._client, self._request).__await__()

    async def __aiter__(self) -> AsyncIterator[T]:
        page = await AsyncPage.fetch(self._client, self._request)
        async for item in page:
            yield item
