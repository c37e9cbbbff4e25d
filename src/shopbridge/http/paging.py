"""Paging: one small protocol, one `paginate()` loop, so no client guesses pagination.

A paginator turns the caller's parameters into the first page request, and each answer into the
next request (or None). Filters are carried along unchanged on every page; a page past the end, an
empty page or a page number that does not advance stops the loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

FetchPage = Callable[[dict[str, Any]], Awaitable[Any]]


class Paginator(Protocol):
    """How one API pages its lists."""

    def first(self, params: dict[str, Any]) -> dict[str, Any]: ...

    def items(self, body: Any) -> list[dict[str, Any]]: ...

    def next(self, params: dict[str, Any], body: Any) -> dict[str, Any] | None: ...


def _dig(body: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


@dataclass(frozen=True)
class PageNumberPaginator:
    """Numbered pages with the total page count in the body (Starweb and Visma both do this)."""

    page_param: str
    items_path: tuple[str, ...]
    total_pages_path: tuple[str, ...]
    size_param: str | None = None
    page_size: int | None = None

    def first(self, params: dict[str, Any]) -> dict[str, Any]:
        out = dict(params)
        out.setdefault(self.page_param, 1)
        if self.size_param and self.page_size and self.size_param not in out:
            out[self.size_param] = self.page_size
        return out

    def items(self, body: Any) -> list[dict[str, Any]]:
        found = _dig(body, self.items_path)
        return list(found) if isinstance(found, list) else []

    def next(self, params: dict[str, Any], body: Any) -> dict[str, Any] | None:
        page = int(params[self.page_param])
        total = _dig(body, self.total_pages_path)
        if not self.items(body) or total is None or page >= int(total):
            return None
        return {**params, self.page_param: page + 1}


async def paginate(fetch: FetchPage, paginator: Paginator, params: dict[str, Any]) -> AsyncIterator[Any]:
    """Yield each page's parsed body, fetching the next one only when asked."""
    request: dict[str, Any] | None = paginator.first(params)
    while request is not None:
        body = await fetch(request)
        yield body
        request = paginator.next(request, body)
