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

Many processes, many machines: with `SHOPBRIDGE_REDIS_URL` set, `shared_limiter` gives a
`RedisSlidingWindowLimiter` instead, the same schedule kept in Redis (one sorted set of slot times
per key, Redis's own clock, one Lua script per reservation), so every worker on every machine draws
from one budget per key.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any


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


REDIS_URL_ENV = "SHOPBRIDGE_REDIS_URL"

# KEYS: slots (sorted set of slot times, ms), blocked-until key. ARGV: limit, span ms, ttl ms, member.
# The new slot goes at the earliest time t >= now where the window (t - span, t] holds fewer than
# `limit` slots: after the limit-th latest slot + span (slots may sit in the future: reservations).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, span, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
local at = now
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > at then at = blocked end
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local edge = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  local earliest = tonumber(edge[2]) + span
  if earliest > at then at = earliest end
end
redis.call('ZADD', KEYS[1], at, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ttl + (at - now))
return at - now
"""
# KEYS: slots. ARGV: member. The answer came: the slot counts from now (never earlier).
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if at and tonumber(at) < now then redis.call('ZADD', KEYS[1], now, ARGV[1]) end
return 0
"""
# KEYS: blocked-until. ARGV: ms to block.
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if until > cur then redis.call('SET', KEYS[1], until, 'PX', tonumber(ARGV[1]) + 1000) end
return 0
"""


class RedisSlot:
    """One reserved call in Redis: its sorted set and member."""

    __slots__ = ("key", "member")

    def __init__(self, key: str, member: str) -> None:
        self.key = key
        self.member = member


class RedisSlidingWindowLimiter:
    """`SlidingWindowLimiter`'s schedule shared through Redis by every process (see the module doc)."""

    def __init__(self, client: Any, name: str, limit: int, window_s: float = 60.0) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self.margin_s = min(0.25, 0.02 * window_s + 0.01)
        self.name = name
        self._redis = client
        self._reserve_script = client.register_script(_RESERVE)
        self._release_script = client.register_script(_RELEASE)
        self._penalize_script = client.register_script(_PENALIZE)

    def _keys(self, key: str) -> tuple[str, str]:
        base = f"{os.environ.get('SHOPBRIDGE_CLUSTER') or 'shopbridge'}:rl:{self.name}:{key}"
        return base, base + ":blocked"

    def _reserve(self, key: str) -> tuple[float, RedisSlot]:
        slots, blocked = self._keys(key)
        member = uuid.uuid4().hex
        span_ms = int((self.window_s + self.margin_s) * 1000)
        wait_ms = self._reserve_script(keys=[slots, blocked], args=[self.limit, span_ms, span_ms, member])
        return int(wait_ms) / 1000.0, RedisSlot(slots, member)

    def reserve(self, key: str = "") -> float:
        """Reserve the next free slot for `key`; returns the seconds to wait before sending."""
        return self._reserve(key)[0]

    async def acquire(self, key: str = "") -> RedisSlot:
        """Wait until a call for `key` may be sent; pass the returned slot to `release` when answered."""
        wait, slot = await asyncio.to_thread(self._reserve, key)
        if wait > 0:
            await asyncio.sleep(wait)
        return slot

    def release(self, slot: RedisSlot | None) -> None:
        """The call of `slot` has its answer (or failed): count it from now, not from when it was sent."""
        if slot is not None:
            self._release_script(keys=[slot.key], args=[slot.member])

    def penalize(self, key: str, retry_after: float) -> None:
        """Block `key` for every process for `retry_after` seconds (the server said we were over)."""
        self._penalize_script(keys=[self._keys(key)[1]], args=[int(max(retry_after, 0.0) * 1000)])


_shared: dict[tuple[str, int, float, str], Any] = {}
_shared_lock = threading.Lock()
_redis_clients: dict[str, Any] = {}


def redis_client(url: str) -> Any:
    """One Redis client per URL and process (redis-py clients pool their connections, thread-safe)."""
    import redis  # lazy: only the cluster needs it

    with _shared_lock:
        if url not in _redis_clients:
            _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30)
        return _redis_clients[url]


def shared_limiter(name: str, limit: int, window_s: float) -> Any:
    """The limiter for `name` (e.g. a Visma client id) shared by this process, or with
    `SHOPBRIDGE_REDIS_URL` set by every process that uses that Redis; created on first use."""
    url = os.environ.get(REDIS_URL_ENV, "").strip()
    key = (name, limit, window_s, url)
    client = redis_client(url) if url else None
    with _shared_lock:
        if key not in _shared:
            if client is not None:
                _shared[key] = RedisSlidingWindowLimiter(client, name, limit, window_s)
            else:
                _shared[key] = SlidingWindowLimiter(limit, window_s)
        return _shared[key]
