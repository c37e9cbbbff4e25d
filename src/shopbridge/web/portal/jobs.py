"""Long work started from a page (the initial product sync's apply) with progress a page can poll.

A job belongs to one connection; its page is reached only through that connection's scope. Jobs
live in the process that started them (a restarted process forgets them; the work itself resumes
when started again, as the initial sync is resumable).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger("shopbridge.portal")

__all__ = ["Job", "Jobs"]


@dataclass
class Job:
    id: str
    connection_id: int
    kind: str
    total: int = 0
    done: int = 0
    state: str = "running"  # running, done, failed
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def percent(self) -> int:
        return 100 if self.state == "done" or not self.total else min(100, self.done * 100 // self.total)

    def advance(self, n: int = 1) -> None:
        self.done += n


class Jobs:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, connection_id: int, kind: str, work: Callable[[Job], Awaitable[dict[str, Any]]]) -> Job:
        """Run `work(job)` in the background; it reports progress on the job and returns a result."""
        job = Job(secrets.token_urlsafe(12), connection_id, kind)
        self._jobs[job.id] = job

        async def run() -> None:
            try:
                job.result = await work(job)
                job.state = "done"
            except Exception as exc:
                log.exception("portal.job_failed", kind=kind)
                job.state, job.error = "failed", str(exc) or type(exc).__name__

        task = asyncio.create_task(run(), name=f"portal-job-{kind}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def latest(self, connection_id: int, kind: str) -> Job | None:
        found = [j for j in self._jobs.values() if j.connection_id == connection_id and j.kind == kind]
        return found[-1] if found else None
