"""Retention: what the store forgets after a connection's `retention_days` (default 90).

`purge(store, connection_id, older_than)` deletes, for one connection:

* the attempt journal (what was sent and what came back, which names customers and amounts) of
  orders that are done (transferred or skipped), older than the cut-off; an order that still waits
  keeps its newest attempt, so its reason stays readable;
* received web hooks and their payloads;
* the customer data on done transfers last changed before the cut-off: the totals comparison
  (`details`), warnings and the last error. The row itself stays: it is what keeps the order from
  being transferred twice.

The embedded engine runs it once a day for every connection (`engine/embedded.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, delete, func, null, select, update

from .db import Store
from .schema import Attempt, Transfer, TransferState, WebhookEvent, utcnow

__all__ = ["Purged", "purge"]

DONE_STATES = (TransferState.TRANSFERRED.value, TransferState.SKIPPED.value)
_EMPTY = ("null", "[]", "{}")


def _json_text(column: Any) -> Any:
    """A JSON column as text, SQL NULL read as "null" (JSON null and SQL NULL alike mean empty)."""
    return func.coalesce(cast(column, String), "null")


@dataclass(frozen=True)
class Purged:
    """How many rows a purge deleted or cleared."""

    attempts: int = 0
    webhooks: int = 0
    transfers_cleared: int = 0

    @property
    def total(self) -> int:
        return self.attempts + self.webhooks + self.transfers_cleared


def purge(store: Store, connection_id: int, older_than: timedelta, *, now: datetime | None = None) -> Purged:
    """Forget what is older than `older_than` for one connection (see the module docstring)."""
    cutoff = (now or utcnow()) - older_than
    with store.session() as s:
        of_connection = select(Transfer.id).where(Transfer.connection_id == connection_id)
        done = of_connection.where(Transfer.state.in_(DONE_STATES))
        attempts = s.execute(
            delete(Attempt).where(Attempt.started_at < cutoff, Attempt.transfer_id.in_(done))
        ).rowcount
        newest = (
            select(func.max(Attempt.id))
            .where(Attempt.transfer_id.in_(of_connection))
            .group_by(Attempt.transfer_id)
        )
        attempts += s.execute(
            delete(Attempt).where(
                Attempt.started_at < cutoff,
                Attempt.transfer_id.in_(of_connection.where(Transfer.state.not_in(DONE_STATES))),
                Attempt.id.not_in(newest),
            )
        ).rowcount
        webhooks = s.execute(
            delete(WebhookEvent).where(
                WebhookEvent.connection_id == connection_id, WebhookEvent.received_at < cutoff
            )
        ).rowcount
        cleared = s.execute(
            update(Transfer)
            .where(
                Transfer.connection_id == connection_id,
                Transfer.state.in_(DONE_STATES),
                Transfer.updated_at < cutoff,
                _json_text(Transfer.details).not_in(_EMPTY)
                | Transfer.last_error.is_not(None)
                | _json_text(Transfer.warnings).not_in(_EMPTY),
            )
            .values(details=null(), warnings=[], last_error=None, updated_at=Transfer.updated_at)
            .execution_options(synchronize_session=False)
        ).rowcount
    return Purged(int(attempts or 0), int(webhooks or 0), int(cleared or 0))
