"""Client-side rate limiting: stay under a remote limit instead of bouncing off it.

`SlidingWindowLimiter` schedules each call at the earliest moment that keeps every window of
`window_s` seconds at or under `limit` calls, per key (e.g. per Visma endpoint). Reservations are
made under a thread lock and the waiting happens with `asyncio.sleep`, so one instance can be
shared by every task and event loop of a process (`shared_limiter`). After a 429 the key is
blocked for the server's `Retry-After` (`penalize`).

The server counts a call when it arrives, which may be later than we sent it (queues, scheduling,
network). So when the answer is in, `release` moves the call's slot to that moment (the call reached
the server no later): the window then counts from an upper bound of the server's own stamp, and
jitter cannot squeeze `limit + 1` arrivals into one server window.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import islice


class Slot:
    """One reserved call; `at` is when it may be sent, later when its answer came (`release`)."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


class SlidingWindowLimiter:
    """At most `limit` calls per `window_s` seconds per key, with a small safety margin."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        *,
        margin_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        # Requests sent exactly one window apart may reach the server a little closer together
        # (network jitter); the margin keeps the server's count under its limit.
        self.margin_s = margin_s if margin_s is not None else min(0.25, 0.02 * window_s + 0.01)
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[str, deque[Slot]] = {}
        self._blocked_until: dict[str, float] = {}

    def reserve(self, key: str = "") -> float:
        """Reserve the next free slot for `key`; returns the seconds to wait before sending."""
        return self._reserve(key)[0]

    def _reserve(self, key: str) -> tuple[float, Slot]:
        span = self.window_s + self.margin_s
        with self._lock:
            now = self._clock()
            slots = self._slots.setdefault(key, deque())
            while slots and slots[0].at <= now - span:
                slots.popleft()
            at = max(now, self._blocked_until.get(key, 0.0))
            if len(slots) >= self.limit:
                # Released slots may be out of order: wait for the latest of all but the newest
                # limit-1 calls (at least as late as the limit-th latest, so never too early).
                at = max(at, max(s.at for s in islice(slots, 0, len(slots) - self.limit + 1)) + span)
            slot = Slot(at)
            slots.append(slot)
            return at - now, slot

    async def acquire(self, key: str = "") -> Slot:
        """Wait until a call for `key` may be sent; pass the returned slot to `release` when answered."""
        wait, slot = self._reserve(key)
        if wait > 0:
            await asyncio.sleep(wait)
        return slot

    def release(self, slot: Slot | None) -> None:
        """The call of `slot` has its answer (or failed): count it from now, not from when it was sent."""
        if slot is not None:
            with self._lock:
                slot.at = max(slot.at, self._clock())

    def penalize(self, key: str, retry_after: float) -> None:
        """Block `key` for `retry_after` seconds (the server said we were over its limit)."""
        with self._lock:
            until = self._clock() + max(retry_after, 0.0)
            self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), until)


_shared: dict[tuple[str, int, float], SlidingWindowLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(name: str, limit: int, window_s: float) -> SlidingWindowLimiter:
    """The process-wide limiter for `name` (e.g. a Visma client id), created on first use."""
    with _shared_lock:
        key = (name, limit, window_s)
        if key not in _shared:
            _shared[key] = SlidingWindowLimiter(limit, window_s)
        return _shared[key]
