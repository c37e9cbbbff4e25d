"""Counts of what went wrong talking to a remote system: errors, 429s, retries, unreachable calls.

Every `ApiClient` keeps its own `CallStats` (so a sweep can tell that Visma could not be reached) and
adds the same counts to a process-wide one per system (`api_stats("visma")`), which `/metrics` shows.
"""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["KINDS", "CallStats", "all_api_stats", "api_stats"]

KINDS = ("errors", "rate_limited", "retries", "unreachable")
"""errors: error answers and transport failures; rate_limited: 429 answers; retries: calls repeated;
unreachable: calls given up because no answer came."""


class CallStats:
    """Thread-safe counters of `KINDS`."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self._counts[kind] += n

    def get(self, kind: str) -> int:
        with self._lock:
            return self._counts[kind]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {k: self._counts[k] for k in KINDS}


SYSTEMS = ("starweb", "visma", "visma-identity")
_by_system: dict[str, CallStats] = {name: CallStats() for name in SYSTEMS}  # shown at 0 from the start
_registry_lock = threading.Lock()


def api_stats(system: str) -> CallStats:
    """The process-wide counters of one remote system ("starweb", "visma", "visma-identity")."""
    with _registry_lock:
        stats = _by_system.get(system)
        if stats is None:
            stats = _by_system[system] = CallStats()
        return stats


def all_api_stats() -> dict[str, dict[str, int]]:
    """Every system's counters, for `/metrics`."""
    with _registry_lock:
        systems = dict(_by_system)
    return {name: s.snapshot() for name, s in systems.items()}
