"""What to tell whom, and when: runs every `notify_interval_s` beside the engine.

1. **Detect** (level-triggered, like the sweeps): orders now waiting for a fix or in review, a
   connection whose credentials are refused, a Visma company at 80 % or 100 % of its month's quota.
   Each becomes a ``notification_events`` row once (unique key), however often it is seen.
2. **Compose**: credentials and quota events go at once to every user who wants alerts (e-mail) and
   to every web hook of the merchant and its partner; orders go to the web hooks as one summary per
   round, and to people only in the **daily digest** (one e-mail per user and day, never one per order).
3. **Send** the outbox with bounded retries; a permanent failure is kept with its reason.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select

from shopbridge import plans
from shopbridge.engine.hooks import HOOKS_CURSOR
from shopbridge.http.errors import AuthenticationError
from shopbridge.store import TransferState, utcnow
from shopbridge.store.schema import Connection, Transfer
from shopbridge.sync.context import effective_settings

from ..i18n import _
from .mail import render_text
from .transports import EmailTransport, TransportError, WebhookTransport

if TYPE_CHECKING:
    from ..app import Portal

log = structlog.get_logger("shopbridge.portal.notify")

__all__ = ["HOOKS_CURSOR", "Notifier", "credential_problem"]

CREDENTIALS_CURSOR = "notify.credentials"
REFUSED = "refused the credentials"  # how the order flow words a refused login (sync/orders.py _explain)
MAX_SEND_ATTEMPTS = 5
ORDER_STATES = {
    TransferState.WAITING_FOR_FIX.value: "order_waiting",
    TransferState.NEEDS_REVIEW.value: "order_review",
}


def _auth_error_names() -> set[str]:
    names: set[str] = set()
    todo: list[type] = [AuthenticationError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def credential_problem(portal: Portal, conn: Connection) -> str | None:
    """One sentence when the shop or Visma refuses this connection's credentials, else None."""
    status = portal.engine_status().get(str(conn.id))
    if status is not None and status.last_error in _auth_error_names() and status.consecutive_failures:
        return _("The shop or Visma refuses the credentials of %(name)s: connect it again.", name=conn.name)
    since = utcnow() - timedelta(hours=1)
    with portal.store.session() as s:
        refused = s.scalar(
            select(func.count()).where(
                Transfer.connection_id == conn.id,
                Transfer.state == TransferState.PENDING.value,
                Transfer.updated_at >= since,
                Transfer.last_error.contains(REFUSED),
            )
        )
    if refused:
        return _("The shop or Visma refuses the credentials of %(name)s: connect it again.", name=conn.name)
    return None


class Notifier:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.store = portal.store
        self.email = EmailTransport(portal.config.smtp)
        self.webhook = WebhookTransport()

    async def run_once(self, *, now: datetime | None = None) -> None:
        """One round: detect, compose, digest, send."""
        now = now or utcnow()
        alerts, orders = self.detect()
        self.compose(alerts, orders)
        self.digests(now)
        await self.send(now=max(now, utcnow()))

    # -- detect ---------------------------------------------------------------------------------
    def detect(
        self,
    ) -> tuple[list[tuple[Connection, str, dict[str, Any]]], list[tuple[Connection, dict[str, Any]]]]:
        """New events: (connection, kind, details) for alerts, (connection, details) for orders."""
        store = self.store
        alerts: list[tuple[Connection, str, dict[str, Any]]] = []
        orders: list[tuple[Connection, dict[str, Any]]] = []
        conns = [c for c in store.connections.all() if store.tenants.owner_of(c.id) is not None]
        for conn in conns:
            for row in self._waiting(conn.id):
                kind = ORDER_STATES[row.state]
                details = {
                    "order": row.starweb_order_number or row.starweb_order_id,
                    "transfer": row.id,
                    "reason": row.last_error or "",
                    "state": row.state,
                }
                if store.notifications.record(conn.id, kind, str(row.id), details):
                    orders.append((conn, {**details, "kind": kind}))
            problem = credential_problem(self.portal, conn)
            open_incident = store.cursors.get(conn.id, CREDENTIALS_CURSOR)
            if problem and not open_incident:
                key = utcnow().isoformat()
                store.cursors.set(conn.id, CREDENTIALS_CURSOR, key)
                if store.notifications.record(conn.id, "credentials", key, {"problem": problem}):
                    alerts.append((conn, "credentials", {"problem": problem}))
            elif not problem and open_incident:
                store.cursors.delete(conn.id, CREDENTIALS_CURSOR)
            if conn.parent_id is None:
                alerts.extend(self._quota(conn))
        return alerts, orders

    def _waiting(self, connection_id: int, limit: int = 500) -> list[Transfer]:
        with self.store.session() as s:
            rows = list(
                s.scalars(
                    select(Transfer)
                    .where(Transfer.connection_id == connection_id, Transfer.state.in_(list(ORDER_STATES)))
                    .order_by(Transfer.id)
                    .limit(5000)
                )
            )
        known = set()
        for kind in ORDER_STATES.values():
            known |= {
                (kind, k)
                for k in self.store.notifications.known_keys(connection_id, kind, [str(r.id) for r in rows])
            }
        return [r for r in rows if (ORDER_STATES[r.state], str(r.id)) not in known][:limit]

    def _quota(self, root: Connection) -> list[tuple[Connection, str, dict[str, Any]]]:
        settings = effective_settings(self.store, root)
        status = plans.quota_status(self.store, root.id, settings)
        if status.quota is None or status.percent is None:
            return []
        kind = None
        if status.percent >= 100 or status.waiting:
            kind = "quota_100"
        elif status.percent >= plans.WARN_AT_PERCENT:
            kind = "quota_80"
        if kind is None:
            return []
        details = {
            "used": status.used,
            "quota": status.quota,
            "month": status.month,
            "plan": status.plan,
            "waiting": status.waiting,
            "percent": status.percent,
        }
        if self.store.notifications.record(root.id, kind, status.month, details):
            return [(root, kind, details)]
        return []

    # -- compose --------------------------------------------------------------------------------
    def _recipients(self, connection_id: int) -> tuple[list[Any], list[Any]]:
        tenants = self.store.tenants.tenants_of_connection(connection_id)
        users = [u for u in self.store.users.of_tenants(tenants) if u.is_active]
        channels = self.store.notifications.channels(tenants, enabled_only=True)
        return users, channels

    def compose(
        self,
        alerts: list[tuple[Connection, str, dict[str, Any]]],
        orders: list[tuple[Connection, dict[str, Any]]],
    ) -> None:
        env, base = self.portal.env, self.portal.config.base_url("http://localhost")
        for conn, kind, details in alerts:
            users, channels = self._recipients(conn.id)
            template = "notify/credentials.txt" if kind == "credentials" else "notify/quota.txt"
            for user in users:
                if user.notify_alerts:
                    msg = render_text(
                        env, template, user.language, conn=conn, kind=kind, d=details, base=base
                    )
                    self.store.notifications.enqueue(user.tenant_id, f"user:{user.id}", msg.subject, msg.body)
            for ch in channels:
                msg = render_text(env, template, ch.language, conn=conn, kind=kind, d=details, base=base)
                self.store.notifications.enqueue(ch.tenant_id, f"channel:{ch.id}", msg.subject, msg.body)
        by_conn: dict[int, list[dict[str, Any]]] = defaultdict(list)
        conns: dict[int, Connection] = {}
        for conn, details in orders:
            by_conn[conn.id].append(details)
            conns[conn.id] = conn
        for cid, items in by_conn.items():
            _users, channels = self._recipients(cid)
            for ch in channels:
                msg = render_text(
                    env, "notify/orders.txt", ch.language, conn=conns[cid], items=items, base=base
                )
                self.store.notifications.enqueue(ch.tenant_id, f"channel:{ch.id}", msg.subject, msg.body)

    def digests(self, now: datetime) -> int:
        """The daily digest for each user who wants it, once the day's digest hour has come."""
        today = now.astimezone(UTC).date()
        due_at = datetime(today.year, today.month, today.day, self.portal.config.digest_hour, tzinfo=UTC)
        if now < due_at:
            return 0
        sent = 0
        for user in self.store.users.all():
            if not user.is_active or not user.notify_digest:
                continue
            if user.digest_sent_at is not None and user.digest_sent_at >= due_at:
                continue
            since = user.digest_sent_at or now - timedelta(days=1)
            tenant = self.store.tenants.get(user.tenant_id)
            tenant_ids = [user.tenant_id] + (
                [m.id for m in self.store.tenants.merchants(user.tenant_id)]
                if tenant and tenant.kind == "partner"
                else []
            )
            conn_ids = self.store.tenants.connection_ids(tenant_ids)
            events = self.store.notifications.events(
                conn_ids, since=since, kinds=tuple(ORDER_STATES.values())
            )
            self.store.users.update(user.id, digest_sent_at=utcnow())  # events are stamped by the real clock
            if not events:
                continue
            names = {c.id: c.name for c in self.store.connections.all() if c.id in set(conn_ids)}
            msg = render_text(
                self.portal.env,
                "notify/digest.txt",
                user.language,
                events=events,
                names=names,
                base=self.portal.config.base_url("http://localhost"),
            )
            if self.store.notifications.enqueue(
                user.tenant_id, f"user:{user.id}", msg.subject, msg.body, digest_day=today.isoformat()
            ):
                sent += 1
        return sent

    # -- send -----------------------------------------------------------------------------------
    async def send(self, *, now: datetime | None = None) -> int:
        """Send what is due in the outbox; returns how many went out."""
        done = 0
        for message in self.store.notifications.due(now=now):
            kind, _, ident = message.recipient.partition(":")
            from .transports import Outgoing

            outgoing = Outgoing(message.subject, message.body)
            try:
                if kind == "user":
                    user = self.store.users.get(int(ident))
                    if user is None or not user.is_active:
                        raise TransportError("the user no longer exists", permanent=True)
                    await self.email.send(user.email, outgoing)
                else:
                    channel = self.store.notifications.channel(int(ident))
                    if channel is None or not channel.enabled:
                        raise TransportError("the web hook was removed or turned off", permanent=True)
                    await self.webhook.send(self.store.notifications.channel_url(channel), outgoing)
            except TransportError as exc:
                last = exc.permanent or message.attempts + 1 >= MAX_SEND_ATTEMPTS
                retry = None if last else timedelta(seconds=30 * 2**message.attempts)
                self.store.notifications.failed(message.id, exc.message, retry_in=retry)
                log.warning("notify.failed", recipient=kind, error=exc.message, final=last)
                continue
            self.store.notifications.sent(message.id)
            done += 1
        return done
