"""Server-side sliding-window rate limiter (thread-safe, settings changeable at run time)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """At most `limit` hits per `window_s` seconds per key, counted over a sliding window.

    `hit(key)` returns None when the request is allowed (and records it), otherwise the number of
    seconds until it would be allowed (rejected hits are not recorded). `limit` and `window_s` are
    plain attributes: change them at any time (or call `configure`).
    """

    def __init__(
        self, limit: int, window_s: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = int(limit)
        self.window_s = float(window_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}
        self._sweep_at = 0.0

    def configure(self, limit: int | None = None, window_s: float | None = None) -> None:
        with self._lock:
            if limit is not None:
                self.limit = int(limit)
            if window_s is not None:
                self.window_s = float(window_s)

    def hit(self, key: str) -> float | None:
        """Record a hit for `key`; None = allowed, else seconds until the next hit would be allowed."""
        now = self._clock()
        with self._lock:
            window, limit = self.window_s, self.limit
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque()
            cutoff = now - window
            while hits and hits[0] <= cutoff:
                hits.popleft()
            if len(hits) >= limit:
                if limit <= 0:
                    return window
                # the hit that has to expire before one more is allowed
                blocking = hits[len(hits) - limit]
                return max(blocking + window - now, 0.001)
            hits.append(now)
            if now >= self._sweep_at:
                self._sweep(cutoff)
                self._sweep_at = now + max(window, 1.0)
            return None

    def remaining(self, key: str) -> int:
        """Hits still allowed for `key` in the current window."""
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if not hits:
                return max(self.limit, 0)
            cutoff = now - self.window_s
            return max(self.limit - sum(1 for t in hits if t > cutoff), 0)

    def reset(self) -> None:
        """Forget all recorded hits."""
        with self._lock:
            self._hits.clear()

    def _sweep(self, cutoff: float) -> None:
        for key in [k for k, d in self._hits.items() if not d or d[-1] <= cutoff]:
            del self._hits[key]
