"""Prometheus metrics of the engine and the web hook receiver, in a registry of their own.

Each `Engine` gets its own `EngineMetrics` (and so its own `CollectorRegistry`), so tests and several
engines in one process never clash over metric names. `GET /metrics` renders `engine.metrics.registry`
(served on the loopback-only ops port, or behind a bearer token: see `web/app.py`).

Besides the engine's own counters, `watch_store` adds what people alert on, read at scrape time by
connection name: orders waiting, needing review and in doubt, the plan's quota used, seconds since
the last good sweep, the differences the latest reconciliation found (running and previous month),
and per remote system the API errors, 429 answers, retries and calls given up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from shopbridge.http.stats import all_api_stats
from shopbridge.starweb.schemas import WEBHOOK_EVENTS

__all__ = ["CONTENT_TYPE_LATEST", "KNOWN_EVENTS", "EngineMetrics", "OperationsCollector"]

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

    def watch_store(self, store: Any, engine: Any) -> None:
        """Add the operational gauges read from `store` and `engine` at each scrape (once)."""
        if not getattr(self, "_watching", False):
            self.registry.register(OperationsCollector(store, engine))
            self._watching = True


class OperationsCollector(Collector):
    """Gauges read at scrape time: per connection (by name) orders waiting / needing review / in doubt,
    quota used, seconds since the last good sweep; per system API errors, 429s, retries, give-ups."""

    def __init__(self, store: Any, engine: Any) -> None:
        self.store = store
        self.engine = engine
        self.started = time.time()

    def describe(self) -> list[Any]:
        return []  # read at scrape time only: nothing to check at registration

    def collect(self) -> Iterator[Any]:
        from shopbridge import plans

        conns = self.store.connections.all()
        names = {str(c.id): c.name for c in conns}
        waiting = GaugeMetricFamily(
            "shopbridge_orders_waiting", "Orders waiting for a fix or for quota", labels=["connection"]
        )
        review = GaugeMetricFamily(
            "shopbridge_orders_needs_review", "Orders a person must look at", labels=["connection"]
        )
        doubt = GaugeMetricFamily(
            "shopbridge_orders_in_doubt",
            "Orders whose Visma document may exist but is not recorded yet (intent without result)",
            labels=["connection"],
        )
        for c in conns:
            counts = self.store.transfers.counts(c.id)
            waiting.add_metric([c.name], counts["waiting_for_fix"] + counts["waiting_for_quota"])
            review.add_metric([c.name], counts["needs_review"])
            doubt.add_metric([c.name], self.store.transfers.in_doubt(c.id))
        yield from (waiting, review, doubt)

        used = GaugeMetricFamily(
            "shopbridge_quota_used_orders",
            "Orders transferred this month (per Visma company)",
            labels=["connection"],
        )
        limit = GaugeMetricFamily(
            "shopbridge_quota_limit_orders", "The plan's monthly order quota", labels=["connection"]
        )
        for line in plans.usage_lines(self.store):
            used.add_metric([line.connection], line.transferred_orders)
            if line.quota is not None:
                limit.add_metric([line.connection], line.quota)
        yield from (used, limit)

        from shopbridge.sync.reconcile import running_months, stored_differences

        differences = GaugeMetricFamily(
            "shopbridge_reconcile_differences",
            "Differences between the shop and Visma the latest reconciliation of the period found",
            labels=["connection", "period"],
        )
        periods = running_months()
        for c in conns:
            for period, n in stored_differences(self.store, c.id, periods).items():
                differences.add_metric([c.name, period], n)
        yield differences

        since = GaugeMetricFamily(
            "shopbridge_seconds_since_last_successful_sweep",
            "Seconds since the connection's last good sweep (since the engine started, when none yet)",
            labels=["connection"],
        )
        now = time.time()
        for st in self.engine.status():
            last = st.last_success_at.timestamp() if st.last_success_at else self.started
            since.add_metric([names.get(st.connection, st.connection)], max(now - last, 0.0))
        yield since

        families = {
            "errors": CounterMetricFamily(
                "shopbridge_api_errors",
                "Error answers and failed calls, per remote system",
                labels=["system"],
            ),
            "rate_limited": CounterMetricFamily(
                "shopbridge_api_rate_limited", "429 answers, per remote system", labels=["system"]
            ),
            "retries": CounterMetricFamily(
                "shopbridge_api_retries",
                "Calls repeated after a failure, per remote system",
                labels=["system"],
            ),
            "unreachable": CounterMetricFamily(
                "shopbridge_api_unreachable",
                "Calls given up without an answer, per remote system",
                labels=["system"],
            ),
        }
        for system, counts in sorted(all_api_stats().items()):
            for kind, family in families.items():
                family.add_metric([system], counts.get(kind, 0))
        yield from families.values()
