"""Visma's change lists read once per company and shared by its shops (in one process).

Several shops on one Visma company each poll the same change lists (articles by `ChangedUtc`, price
list rows, orders and invoices by `ModifiedUtc`). A read one shop made a moment ago serves the others:

- a read is kept `SHARED_READ_TTL_S` seconds, keyed by (company, path, model, query without the
  cursor); while it is being made, the other shops' requests for it wait for it instead of reading;
- it serves a request whose own start (cursor minus lag) is not before the read's start (what was
  read covers what is asked) and whose cursor is before the read's, filtered to the items changed
  after the request's start, with the read's cursor: what changed after the read is read on the
  next poll, so nothing is skipped;
- it serves each reader once: a shop polling again reads afresh (and its read is then the one
  shared), so a shop never sees the same old answer twice; incomplete reads are not shared.

Small reference lists (price lists, account codings, units, ...) are shared the same way
(`company_value`): loaded once per round of the company's sweeps, each shop served a load once.

Nothing is shared between processes (Celery workers, machines) and no lease is taken: each process
reads at most once per company per list and moment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SHARED_READ_TTL_S = 10.0
"""How long a read serves the company's other shops (the most their view can lag behind one poll)."""


@dataclass
class _Read:
    start: datetime | None  # None: everything was read
    page: Any  # ChangedPage
    at: float
    served: set[Hashable] = field(default_factory=set)


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    read: _Read | None = None


_slots: dict[tuple[asyncio.AbstractEventLoop, Hashable], _Slot] = {}


def _covers(read: _Read, start: datetime | None) -> bool:
    return read.start is None or (start is not None and read.start <= start)


def _fresh(read: _Read, reader: Hashable, since: datetime | None, start: datetime | None) -> bool:
    cursor = getattr(read.page, "cursor", None)
    newer = since is None or cursor is None or cursor > since
    return (
        time.monotonic() - read.at < SHARED_READ_TTL_S
        and reader not in read.served
        and newer
        and _covers(read, start)
    )


async def shared_read(
    key: Hashable,
    reader: Hashable,
    since: datetime | None,
    start: datetime | None,
    read: Callable[[], Awaitable[Any]],
    changed_after: Callable[[Any, datetime], bool],
) -> Any:
    """`read()` (a `ChangedPage` of items changed after `start`), or a company read that covers it.

    `key` names the company's list; `reader` the connection asking; `since` its cursor and `start`
    the cursor less the lag; `changed_after(item, start)` tells whether an item of a shared read
    belongs in the answer. A shared read whose cursor is not after `since` holds nothing new."""
    slot = _slot(key)
    async with slot.lock:
        cached = slot.read
        if cached is not None and _fresh(cached, reader, since, start):
            cached.served.add(reader)
            page = cached.page
            items = page.items if start is None else [i for i in page.items if changed_after(i, start)]
            return type(page)(items, page.cursor, page.complete, 0)
        page = await read()
        slot.read = _Read(start, page, time.monotonic(), {reader}) if page.complete else None
        return page


def _slot(key: Hashable) -> _Slot:
    """The slot of `key` in this event loop (asyncio locks belong to one loop)."""
    slots_key = (asyncio.get_running_loop(), key)
    slot = _slots.get(slots_key)
    if slot is None:
        _forget_stale()
        slot = _slots[slots_key] = _Slot()
    return slot


def _forget_stale() -> None:
    """Drop the slots whose read is past its time (a process serving many companies stays small)."""
    now = time.monotonic()
    for k, slot in list(_slots.items()):
        if not slot.lock.locked() and (slot.read is None or now - slot.read.at >= SHARED_READ_TTL_S):
            del _slots[k]


async def company_value(key: Hashable, reader: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
    """`load()`'s value for the company list `key`, or the one another shop loaded in the last
    `SHARED_READ_TTL_S` seconds (each reader is served a load once, as `shared_read`)."""
    slot = _slot(key)
    async with slot.lock:
        cached = slot.read
        if cached is not None and _fresh(cached, reader, None, None):
            cached.served.add(reader)
            return cached.page
        value = await load()
        slot.read = _Read(None, value, time.monotonic(), {reader})
        return value


def forget_value(key: Hashable) -> None:
    """Drop the company list `key` (it lacks something just made): the next ask loads it."""
    for k in [k for k in _slots if k[1] == key]:
        del _slots[k]


def forget_all() -> None:
    """Forget every shared read and list."""
    _slots.clear()
