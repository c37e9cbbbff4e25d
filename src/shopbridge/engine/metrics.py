"""Prometheus metrics of the engine and the web hook receiver, in a registry of their own.

Each `Engine` gets its own `EngineMetrics` (and so its own `CollectorRegistry`), so tests and several
engines in one process never clash over metric names. `GET /metrics` renders `engine.metrics.registry`.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from shopbridge.starweb.schemas import WEBHOOK_EVENTS

__all__ = ["CONTENT_TYPE_LATEST", "KNOWN_EVENTS", "EngineMetrics"]

# Starweb's web hook events; anything else is counted as "other" to keep label values bounded.
KNOWN_EVENTS = frozenset(WEBHOOK_EVENTS)

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class EngineMetrics:
    """The counters, gauges and histograms one engine (and its web app) update."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sweeps = Counter(
            "shopbridge_sweeps",
            "Sweeps run, by connection and outcome (ok, error)",
            ["connection", "outcome"],
            registry=r,
        )
        self.sweep_duration = Histogram(
            "shopbridge_sweep_duration_seconds",
            "Duration of one connection's sweep",
            ["connection"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.hints = Counter(
            "shopbridge_hints",
            "Hints queued for a connection's sweep, by entity kind",
            ["connection", "kind"],
            registry=r,
        )
        self.entities = Counter(
            "shopbridge_entities",
            "Entities handled by sweeps, by outcome (from the sweep report)",
            ["connection", "outcome"],
            registry=r,
        )
        self.last_success = Gauge(
            "shopbridge_last_successful_sweep_timestamp_seconds",
            "Unix time the connection's last successful sweep ended",
            ["connection"],
            registry=r,
        )
        self.consecutive_failures = Gauge(
            "shopbridge_sweep_consecutive_failures",
            "Whole-sweep failures in a row (0 after a success)",
            ["connection"],
            registry=r,
        )
        self.webhook_events = Counter(
            "shopbridge_webhook_events",
            "Authenticated web hook calls received, by event",
            ["connection", "event"],
            registry=r,
        )
        self.webhook_duplicates = Counter(
            "shopbridge_webhook_duplicates",
            "Web hook calls ignored because their uuid was seen before",
            ["connection"],
            registry=r,
        )
        self.webhook_rejected = Counter(
            "shopbridge_webhook_rejected",
            "Web hook calls refused (unknown connection or wrong secret)",
            registry=r,
        )

    def record_sweep(
        self, connection: str, *, ok: bool, seconds: float, counts: Mapping[str, int] | None = None
    ) -> None:
        """Count one finished sweep (and its per-outcome entity counts)."""
        self.sweeps.labels(connection, "ok" if ok else "error").inc()
        self.sweep_duration.labels(connection).observe(seconds)
        for outcome, n in (counts or {}).items():
            if n:
                self.entities.labels(connection, str(outcome)).inc(n)

    def record_webhook(self, connection: str, event: str | None, *, duplicate: bool = False) -> None:
        """Count one authenticated hook call; `event` outside Starweb's list is counted as "other"."""
        label = event if event in KNOWN_EVENTS else ("unknown" if not event else "other")
        self.webhook_events.labels(connection, label).inc()
        if duplicate:
            self.webhook_duplicates.labels(connection).inc()

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
