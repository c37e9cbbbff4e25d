"""The attempt journal: per transfer attempt, what was sent, what came back, how it ended and why.

Start an attempt before talking to Visma and finish it afterwards; an attempt left unfinished shows
where a worker died. Request and response summaries are JSON: keep them small and free of secrets
(ids, numbers, amounts, the Visma ``ErrorId``; never tokens).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from .schema import Attempt, TransferState, utcnow
from .sql import SessionFactory

__all__ = ["Journal"]


class Journal:
    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def start(
        self, transfer_id: int, request: dict[str, Any] | None = None, *, now: datetime | None = None
    ) -> int:
        """Open an attempt; returns its id."""
        with self._session() as s:
            row = Attempt(transfer_id=transfer_id, started_at=now or utcnow(), request=request)
            s.add(row)
            s.flush()
            return row.id

    def update(
        self,
        attempt_id: int,
        *,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
    ) -> None:
        """Add what was sent / what came back so far (e.g. right after the create call returned)."""
        values: dict[str, Any] = {}
        if request is not None:
            values["request"] = request
        if response is not None:
            values["response"] = response
        if values:
            with self._session() as s:
                s.execute(update(Attempt).where(Attempt.id == attempt_id).values(**values))

    def finish(
        self,
        attempt_id: int,
        outcome: TransferState | str,
        *,
        response: dict[str, Any] | None = None,
        error: str | None = None,
        request: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> None:
        """Close an attempt with its outcome (usually the transfer's new state) and the error in words."""
        values: dict[str, Any] = {"finished_at": now or utcnow(), "outcome": str(outcome), "error": error}
        if response is not None:
            values["response"] = response
        if request is not None:
            values["request"] = request
        with self._session() as s:
            s.execute(update(Attempt).where(Attempt.id == attempt_id).values(**values))

    def record(
        self,
        transfer_id: int,
        outcome: TransferState | str,
        *,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        error: str | None = None,
        started_at: datetime | None = None,
        now: datetime | None = None,
    ) -> int:
        """A whole attempt in one call (start and finish); returns its id."""
        now = now or utcnow()
        with self._session() as s:
            row = Attempt(
                transfer_id=transfer_id,
                started_at=started_at or now,
                finished_at=now,
                outcome=str(outcome),
                request=request,
                response=response,
                error=error,
            )
            s.add(row)
            s.flush()
            return row.id

    def for_transfer(self, transfer_id: int) -> list[Attempt]:
        """Every attempt of a transfer, oldest first."""
        with self._session() as s:
            q = (
                select(Attempt)
                .where(Attempt.transfer_id == transfer_id)
                .order_by(Attempt.started_at, Attempt.id)
            )
            return list(s.scalars(q))

    def last(self, transfer_id: int) -> Attempt | None:
        with self._session() as s:
            q = select(Attempt).where(Attempt.transfer_id == transfer_id).order_by(Attempt.id.desc()).limit(1)
            return s.scalar(q)

    def purge_successful(self, older_than: timedelta, *, now: datetime | None = None) -> int:
        """Delete finished attempts with outcome ``transferred`` started before ``now - older_than``."""
        cutoff = (now or utcnow()) - older_than
        with self._session() as s:
            res = s.execute(
                delete(Attempt).where(
                    Attempt.outcome == TransferState.TRANSFERRED.value,
                    Attempt.finished_at.is_not(None),
                    Attempt.started_at < cutoff,
                )
            )
            return int(res.rowcount or 0)
