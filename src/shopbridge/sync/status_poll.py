"""When to poll Visma for status changes: often where documents move, seldom where none do, within a budget.

Visma has no web hooks, so a delivered or paid order reaches the shop only when we ask. Asking every
connection every few seconds would spend Visma's 600 calls per minute per endpoint that the order flow
needs; asking every minute makes the shop wait. The rule here, the one place both runners ask (the
embedded engine, `engine/runner.py`, and the cluster's scheduler, `engine/cluster.py`):

- **hot**: a status event recorded in the last `HOT_WINDOW` (someone is shipping or invoicing now,
  more follow): every `HOT_S`;
- **active**: documents of ours created or changed in the last `ACTIVE_WINDOW`: every `ACTIVE_S`;
- **idle**: open documents, nothing moved for hours: every `IDLE_S`;
- a hot or active connection whose `poll_interval_s` is shorter is polled at that (who asked for a
  fast poll keeps it);
- no open document: no status poll (the full sweep still runs the status flow's shop side).

Then the **budget**: every connection of one Visma client (one app, one rate limit) shares
`status_poll_budget_per_min` Visma calls per minute for status polls; when the intervals above would
spend more, the idle connections' polls stretch first (they keep `IDLE_SHARE` of the budget), then
the busy ones', each group alike. The status poll itself also draws each Visma read
from a limiter of that size (`budget_limiter`, shared across processes with Redis), so even several
schedulers never exceed it.

A status poll is a sweep with the hint `STATUS_POLL` (`sync/flows.py` runs only the status flow for
it); the full sweep keeps its `poll_interval_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shopbridge.http.ratelimit import shared_limiter
from shopbridge.sync.base import Hint

if TYPE_CHECKING:
    from shopbridge.sync.settings import ConnectionSettings

STATUS_POLL = Hint("status", "poll")
"""The hint that makes a sweep a status poll (only the status flow, Visma side)."""
FULL_SWEEP = Hint("sweep", "full")
"""The hint of a scheduled full sweep in the cluster's queue: with a status poll queued, it still runs."""
HOT_S = 5.0
ACTIVE_S = 30.0  # one list read per 30 s: what the 60 s full sweep read (two lists), no more
IDLE_S = 300.0
HOT_WINDOW = timedelta(minutes=3)
ACTIVE_WINDOW = timedelta(hours=6)
IDLE_SHARE = 0.1  # of the budget kept for idle connections when the busy ones would take it all
CALLS_PER_POLL = 2  # Visma reads of a quiet poll at most: orders and invoices changed (often one)


@dataclass(frozen=True)
class Activity:
    """What the rule needs to know about one connection."""

    connection: str
    client: str  # the Visma client id: the budget's scope
    open_documents: int  # our drafts, orders and invoices whose status may still change
    last_document_change: datetime | None = None  # a transfer of ours created or changed
    last_status_event: datetime | None = None  # a status event recorded (a change seen in Visma)
    budget_per_min: float = 60.0  # its `status_poll_budget_per_min`: the client's lowest applies
    poll_interval_s: float = 60.0  # its full sweep's interval


def is_hot(last_status_event: datetime | None, now: datetime | None = None) -> bool:
    """A status change was seen in the last `HOT_WINDOW`: more are likely (a batch being shipped)."""
    if last_status_event is None:
        return False
    return (now or datetime.now(UTC)) - _utc(last_status_event) <= HOT_WINDOW  # type: ignore[operator]


def interval(activity: Activity, now: datetime) -> float | None:
    """The status poll interval of one connection before the budget (None: no status polls)."""
    if activity.open_documents <= 0:
        return None
    if is_hot(activity.last_status_event, now):
        return min(HOT_S, activity.poll_interval_s)
    moved = [t for t in (activity.last_document_change, activity.last_status_event) if t is not None]
    if moved and now - max(moved) <= ACTIVE_WINDOW:
        return min(ACTIVE_S, activity.poll_interval_s)
    return IDLE_S


def plan(activities: Iterable[Activity], now: datetime) -> dict[str, float]:
    """Every polled connection's interval, each Visma client's polls within its budget (calls/min).

    Over the budget the idle connections stretch first (down to `IDLE_SHARE` of the budget), then
    the hot and active ones, each group alike."""
    wanted = {a.connection: (a, interval(a, now)) for a in activities}
    budget: dict[str, float] = {}
    demand: dict[tuple[str, bool], float] = {}  # Visma calls per minute per (client, idle)
    for a, every in wanted.values():
        budget[a.client] = min(budget.get(a.client, a.budget_per_min), a.budget_per_min)
        if every is not None:
            key = (a.client, every >= IDLE_S)
            demand[key] = demand.get(key, 0.0) + CALLS_PER_POLL * 60.0 / every
    stretch: dict[tuple[str, bool], float] = {}
    for client, total in budget.items():
        fast, idle = demand.get((client, False), 0.0), demand.get((client, True), 0.0)
        fast_room = total * (1 - IDLE_SHARE) if idle else total
        stretch[(client, False)] = max(1.0, fast / fast_room)
        idle_room = total - min(fast, fast_room)
        stretch[(client, True)] = max(1.0, idle / idle_room) if idle else 1.0
    return {
        cid: every * stretch[(a.client, every >= IDLE_S)]
        for cid, (a, every) in wanted.items()
        if every is not None
    }


class StatusPollPlanner:
    """The rule over a runner's connections, read from the store at most every `ttl_s` seconds."""

    def __init__(
        self,
        store: Any,
        *,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        poll_interval_s: float | None = None,
    ) -> None:
        """`poll_interval_s`: the runner's full-sweep interval when it overrides the settings'."""
        self.store = store
        self.poll_interval_s = poll_interval_s
        self.ttl_s = ttl_s
        self._clock = clock
        self._clients: dict[str, str] = {}
        self._plan: dict[str, float] = {}
        self._at: float | None = None

    def stale(self) -> None:
        """Something moved (a transfer made, a status change seen): read the store at the next ask."""
        self._at = None

    def interval(
        self, connection_id: str, ready: Callable[[], Mapping[str, ConnectionSettings]]
    ) -> float | None:
        """Seconds until the connection's next status poll (None: it needs none now); `ready` gives
        the runner's connections with their settings (`sync.context.ready_settings`)."""
        now = self._clock()
        if self._at is None or now - self._at >= self.ttl_s:
            found = activities(self.store, ready(), self._clients, self.poll_interval_s)
            self._plan = plan(found, datetime.now(UTC))
            self._at = now
        return self._plan.get(str(connection_id))


def budget_limiter(client_id: str, budget_per_min: int) -> Any:
    """The limiter every status poll of a Visma client draws its Visma reads from (see module doc)."""
    return shared_limiter(f"visma-status:{client_id}", max(int(budget_per_min), 1), 60.0)


def activities(
    store: Any,
    ready: Mapping[str, ConnectionSettings],
    clients: dict[str, str],
    poll_interval_s: float | None = None,
) -> list[Activity]:
    """The activity of each connection in `ready` (id → effective settings), read from the store
    (two grouped queries).

    `clients` caches connection id → Visma client id (read from the connection's Visma app once);
    `poll_interval_s` overrides the connections' own.
    """
    ids = [int(c) for c in ready]
    docs = store.transfers.document_activity(ids)
    events = store.events.last_recorded(ids)
    out = []
    for cid in ids:
        key = str(cid)
        if key not in clients:
            clients[key] = _client_id(store, cid)
        count, changed = docs.get(cid, (0, None))
        settings = ready[key]
        every = poll_interval_s or settings.poll_interval_s
        budget = settings.status_poll_budget_per_min
        out.append(Activity(key, clients[key], count, _utc(changed), _utc(events.get(cid)), budget, every))
    return out


def _client_id(store: Any, connection_id: int) -> str:
    from shopbridge.sync.context import VISMA_APP_SECRET

    root = store.connections.root(connection_id).id
    app = store.secrets.get(root, VISMA_APP_SECRET)
    return str(app.get("client_id")) if isinstance(app, dict) else ""


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
