"""The sandbox's server clock: UTC, millisecond precision, strictly increasing, adjustable by admins.

Every timestamp the server hands out (ChangedUtc, ModifiedUtc, CreatedUtc, Meta.ServerTimeUtc, token
expiry) comes from `ServerClock.now()`. Consecutive calls never return the same instant, so a change
made after a list response always carries a stamp later than that response's `ServerTimeUtc`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_MS = timedelta(milliseconds=1)


class ServerClock:
    """Monotonic UTC clock with an admin-controlled offset (for code/token expiry rehearsals)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._last: datetime | None = None

    def now(self) -> datetime:
        """Current server time, truncated to ms and strictly later than the previous call."""
        current = datetime.now(UTC) + self.offset
        current = current.replace(microsecond=current.microsecond // 1000 * 1000)
        if self._last is not None and current <= self._last:
            current = self._last + _MS
        self._last = current
        return current

    def current(self) -> datetime:
        """Current server time without advancing the monotonic stamp (for expiry checks)."""
        return datetime.now(UTC) + self.offset

    def epoch(self) -> float:
        """Current server time as POSIX seconds (token and code expiry)."""
        return time.time() + self.offset.total_seconds()

    def advance(self, seconds: float) -> None:
        """Move the server clock forward (tokens and codes expire accordingly)."""
        self.offset += timedelta(seconds=seconds)

    def bump_past(self, stamp: datetime) -> None:
        """Make sure later `now()` calls are after `stamp` (used after loading persisted state)."""
        if self._last is None or stamp > self._last:
            self._last = stamp


def iso(dt: datetime | None) -> str | None:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-03-01T12:00:00.123Z``."""
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    return f"{dt.year:04d}-{dt:%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


def iso_date(dt: datetime | None) -> str | None:
    """A date as Visma sends it: midnight, ``2026-03-01T00:00:00Z``."""
    if dt is None:
        return None
    return f"{dt.year:04d}-{dt:%m-%d}T00:00:00Z"


def parse_datetime(value: str) -> datetime:
    """Parse an ISO date or date-time; naive values are taken as UTC. Raises ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if len(text) == 10:
        text += "T00:00:00+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
