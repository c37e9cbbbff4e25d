"""What every flow shares: the sweep report and the hint a web hook gives.

A flow is level-triggered: `sweep()` compares what each side has with what it should have and does
the difference. A hint (from a web hook) only says where to look first; a sweep without hints still
finds everything, so a lost hook or a crash only delays work.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Hint:
    """A web hook's suggestion: entity `kind` ("order", "product", ...) with Starweb id `ref`."""

    kind: str
    ref: str


@dataclass
class SweepReport:
    """What one sweep of one connection did, counted per outcome, with reasons for what waits."""

    connection: str
    counts: Counter[str] = field(default_factory=Counter)
    waiting: dict[str, str] = field(default_factory=dict)  # entity ref -> reason in plain words
    api_calls: int = 0

    def add(self, outcome: str, ref: str | None = None, reason: str | None = None) -> None:
        self.counts[outcome] += 1
        if ref is not None and reason:
            self.waiting[ref] = reason

    def merge(self, other: SweepReport) -> None:
        self.counts.update(other.counts)
        self.waiting.update(other.waiting)
        self.api_calls += other.api_calls


class Flow(Protocol):
    """One business flow of one connection (orders, status, products, ...)."""

    name: str

    async def sweep(self, hints: list[Hint] | None = None) -> SweepReport: ...
