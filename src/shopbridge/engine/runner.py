"""The embedded engine: runs every connection's sweep on a schedule and early on web hook hints.

Rules it keeps:
- at most one sweep per connection at a time (a per-connection lock and one worker task per
  connection); a hint that arrives during a sweep gives exactly one more sweep right after it;
- hints are debounced (`debounce_s`), so a burst of hooks gives one sweep that sees all of them;
- at most `max_pending_hints` hints are kept per connection: beyond that the next sweep is a full
  one (list pages) instead of one read per hint;
- connections sweep concurrently with each other, at most `max_concurrent` at once;
- a sweep that raises is logged and counted, its hints are kept for the next try, and that connection
  backs off exponentially (capped); the others go on. Per-entity retries are the flow's business;
  this is only for whole-sweep failures;
- `run(stop)` returns once `stop` is set and the running sweeps have finished.

The engine knows nothing about how a sweep works: it calls `sweep(connection_id, hints)`, so a Celery
adapter (or the CLI's `sync --once`) can call the very same function.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import signal
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog

from shopbridge.engine.metrics import EngineMetrics
from shopbridge.logs import scrub_text
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.status_poll import FULL_SWEEP, STATUS_POLL

log = structlog.get_logger("shopbridge.engine")

SweepFn = Callable[[str, list[Hint]], Awaitable[SweepReport]]
StatusIntervalFn = Callable[[str], float | None]
ConnectionsFn = Callable[[], Awaitable[list[str]] | list[str]]
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Wait before the next sweep of a connection whose sweep failed `failures` times in a row."""

    base_s: float = 5.0
    factor: float = 2.0
    max_s: float = 300.0
    jitter: float = 0.1  # share of the delay randomised away, so failing connections spread out

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        raw = min(self.max_s, self.base_s * self.factor ** max(failures - 1, 0))
        return raw * (1 - self.jitter * (rng or random).random())


@dataclass
class ConnectionStatus:
    """A snapshot of one connection's place in the engine (for `/healthz` and the CLI)."""

    connection: str
    running: bool
    sweeps: int
    consecutive_failures: int
    pending_hints: int
    last_sweep_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None  # the exception's type name only: messages may carry data we don't show
    next_sweep_in_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "running": self.running,
            "sweeps": self.sweeps,
            "consecutive_failures": self.consecutive_failures,
            "pending_hints": self.pending_hints,
            "last_sweep_at": _iso(self.last_sweep_at),
            "last_success_at": _iso(self.last_success_at),
            "last_error": self.last_error,
            "next_sweep_in_s": None if self.next_sweep_in_s is None else round(self.next_sweep_in_s, 3),
        }


@dataclass(eq=False)
class _Conn:
    """Engine-internal state of one connection. Mutated on the engine's loop, except `pending`."""

    id: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pending: dict[Hint, None] = field(default_factory=dict)  # ordered set; guarded by Engine._mutex
    overflowed: bool = False  # more hints came than kept: the next sweep is a full one (no hints)
    requested_at: float | None = None  # loop time of the first unserved hint / wake request
    next_due: float = 0.0
    status_due: float | None = None  # loop time of the next status poll (None: none planned)
    backoff_until: float = 0.0
    failures: int = 0
    sweeps: int = 0
    running: bool = False
    retired: bool = False
    known: bool = False  # listed by `connections()`
    task: asyncio.Task[None] | None = None
    last_sweep_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_report: SweepReport | None = None


class Engine:
    """Schedules sweeps per connection; see the module docstring for the rules."""

    def __init__(
        self,
        sweep: SweepFn,
        connections: ConnectionsFn,
        *,
        interval_s: float = 60.0,
        retry_backoff: Backoff | None = None,
        max_concurrent: int = 4,
        debounce_s: float = 0.5,
        refresh_s: float | None = None,
        initial_sweep: bool = True,
        shutdown_timeout_s: float | None = None,
        max_pending_hints: int = 100,
        metrics: EngineMetrics | None = None,
        status_interval: StatusIntervalFn | None = None,
    ) -> None:
        """
        sweep: `async sweep(connection_id, hints) -> SweepReport`, one pass over a connection.
        connections: the connection ids to run (sync or async); asked again every `refresh_s`
            (default: `interval_s`) and when a hint names a connection not seen yet.
        initial_sweep: sweep every connection right at start (catch up after downtime).
        shutdown_timeout_s: on stop, how long to wait for running sweeps before cancelling them
            (None: wait until they finish).
        status_interval: seconds until a connection's next status poll (a sweep with the hint
            `STATUS_POLL`, between its full sweeps), asked after each sweep; None: no status polls.
        """
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._sweep = sweep
        self._connections = connections
        self.interval_s = interval_s
        self.backoff = retry_backoff or Backoff()
        self.max_concurrent = max_concurrent
        self.debounce_s = debounce_s
        self.refresh_s = refresh_s if refresh_s is not None else interval_s
        self.initial_sweep = initial_sweep
        self.shutdown_timeout_s = shutdown_timeout_s
        self.max_pending_hints = max_pending_hints
        self.metrics = metrics or EngineMetrics()
        self.status_interval = status_interval
        self._conns: dict[str, _Conn] = {}
        self._mutex = threading.Lock()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._supervisor_wake = asyncio.Event()
        self._stopping = False
        self._started = False
        self._bound_loop: asyncio.AbstractEventLoop | None = None

    def _bind_loop(self) -> None:
        """Fresh asyncio primitives when used from a new event loop (e.g. `sync --once`, then `run`)."""
        loop = asyncio.get_running_loop()
        if self._bound_loop is loop:
            return
        self._bound_loop = loop
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._supervisor_wake = asyncio.Event()
        for st in self._conns.values():
            st.lock = asyncio.Lock()
            st.wake = asyncio.Event()
            st.requested_at = None
            st.next_due = st.backoff_until = 0.0
            st.status_due = None
            st.task = None

    # -- intake ---------------------------------------------------------------------------------
    def hint(self, connection_id: str, hint: Hint | None = None) -> None:
        """Queue `hint` for the connection's next sweep and wake it (debounced).

        Thread-safe; cheap enough to call from a request handler. `hint=None` only wakes the sweep
        (for a hook whose body could not be read).
        """
        with self._mutex:
            st = self._conns.get(connection_id)
            if st is None:
                st = self._conns[connection_id] = _Conn(connection_id)
            # Beyond the cap the hints are dropped and the next sweep is a full one: it polls and
            # finds every entity, at the cost of list pages instead of one read per hint.
            if hint is not None and not st.overflowed:
                if len(st.pending) < self.max_pending_hints:
                    st.pending[hint] = None
                else:
                    st.overflowed = True
                    st.pending.clear()
                    log.warning("engine.hints_overflow", connection=connection_id, cap=self.max_pending_hints)
        if hint is not None:
            self.metrics.hints.labels(connection_id, hint.kind).inc()
        self._call_in_loop(self._on_wake, connection_id)

    def wake(self, connection_id: str) -> None:
        """Ask for a sweep of the connection soon (debounced), without a specific hint."""
        self.hint(connection_id, None)

    def _call_in_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return  # not running: the worker picks pending hints up when it starts
        if threading.get_ident() == self._loop_thread:
            fn(*args)
            return
        with contextlib.suppress(RuntimeError):  # loop closed while we were called
            loop.call_soon_threadsafe(fn, *args)

    def _on_wake(self, connection_id: str) -> None:
        st = self._conns.get(connection_id)
        if st is None or self._loop is None:
            return
        if st.requested_at is None:
            st.requested_at = self._loop.time()
        st.wake.set()
        if not st.known:
            self._supervisor_wake.set()  # a connection we have not listed yet: refresh the list

    # -- running --------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; then let running sweeps finish and return."""
        if self._started:
            raise RuntimeError("Engine.run() is already running")
        self._started = True
        self._stopping = False
        self._bind_loop()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        stop_wait = asyncio.ensure_future(stop.wait())
        log.info("engine.start", interval_s=self.interval_s, max_concurrent=self.max_concurrent)
        try:
            while not stop.is_set():
                self._supervisor_wake.clear()
                await self._refresh()
                wake_wait = asyncio.ensure_future(self._supervisor_wake.wait())
                await asyncio.wait(
                    {stop_wait, wake_wait}, timeout=self.refresh_s, return_when=asyncio.FIRST_COMPLETED
                )
                wake_wait.cancel()
                if wake_wait.done() and not wake_wait.cancelled() and wake_wait.exception() is not None:
                    raise wake_wait.exception()  # type: ignore[misc]  # never spin on a broken wait
        except asyncio.CancelledError:  # forced: cancel running sweeps (their hints are kept)
            for st in list(self._conns.values()):
                if st.task is not None:
                    st.task.cancel()
            raise
        finally:
            stop_wait.cancel()
            await self._shutdown()
            self._loop = None
            self._loop_thread = None
            self._started = False
            log.info("engine.stopped")

    def run_forever(self) -> None:
        """Run in a new event loop until SIGTERM or SIGINT (a second signal cancels running sweeps)."""
        run_until_signal(self.run)

    async def _refresh(self) -> None:
        try:
            ids = await _maybe_await(self._connections())
        except Exception as exc:
            log.warning("engine.connections_failed", error=type(exc).__name__, detail=_detail(exc))
            return
        listed = list(dict.fromkeys(str(i) for i in ids))
        loop = asyncio.get_running_loop()
        now = loop.time()
        for cid in listed:
            with self._mutex:
                st = self._conns.get(cid)
                if st is None:
                    st = self._conns[cid] = _Conn(cid)
            st.known = True
            st.retired = False
            if st.task is None or st.task.done():
                st.next_due = now if self.initial_sweep else now + self.interval_s
                if st.pending and st.requested_at is None:
                    st.requested_at = now
                st.task = asyncio.create_task(self._worker(st), name=f"shopbridge-sweep-{cid}")
        gone = set(self._conns) - set(listed)
        for cid in gone:
            st = self._conns[cid]
            if st.task is not None and not st.task.done():
                st.retired = True  # its worker ends after the sweep it may be running
                st.wake.set()
            else:
                with self._mutex:
                    dropped = len(st.pending)
                    del self._conns[cid]
                if dropped:
                    log.warning("engine.hints_for_unknown_connection", connection=cid, hints=dropped)

    async def _worker(self, st: _Conn) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping and not st.retired:
                now = loop.time()
                status_poll = False
                if st.backoff_until > now:
                    deadline = st.backoff_until  # hints wait out the backoff too
                else:
                    deadline = st.next_due
                    if st.requested_at is not None:
                        deadline = min(deadline, st.requested_at + self.debounce_s)
                    if st.status_due is not None and st.status_due < deadline:
                        deadline, status_poll = st.status_due, True
                if deadline > now:
                    st.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(st.wake.wait(), deadline - now)
                    continue
                await self._execute(st, scheduled=True, extra=(STATUS_POLL,) if status_poll else ())
        finally:
            if st.retired:
                with self._mutex:
                    if self._conns.get(st.id) is st:
                        del self._conns[st.id]

    async def _execute(self, st: _Conn, *, scheduled: bool, extra: Iterable[Hint] = ()) -> SweepReport | None:
        """One sweep of `st` under its lock. Scheduled sweeps swallow errors; others re-raise."""
        loop = asyncio.get_running_loop()
        async with st.lock, self._slots:
            if scheduled and (self._stopping or st.retired):
                return None
            with self._mutex:
                hints = [] if st.overflowed else list(dict.fromkeys([*st.pending, *extra]))
                st.pending.clear()
                st.overflowed = False
            st.requested_at = None
            st.running = True
            started = loop.time()
            try:
                report = await self._sweep(st.id, hints)
            except asyncio.CancelledError:
                self._requeue(st, hints)
                raise
            except Exception as exc:
                self._failed(st, hints, exc, loop.time() - started)
                if not scheduled:
                    raise
                return None
            finally:
                st.running = False
                self._plan_status_poll(st)
            self._succeeded(st, hints, report, loop.time() - started)
            return report

    def _plan_status_poll(self, st: _Conn) -> None:
        """After any sweep of `st`: when its next status poll is due, by the rule of `sync/status_poll.py`."""
        if self.status_interval is None:
            return
        try:
            every = self.status_interval(st.id)
        except Exception as exc:  # the rule reads the store: a blink must not stop the connection's sweeps
            log.warning("engine.status_interval_failed", connection=st.id, error=type(exc).__name__)
            every = None
        st.status_due = None if every is None else _loop_time() + every

    def _succeeded(self, st: _Conn, hints: list[Hint], report: SweepReport | None, seconds: float) -> None:
        now_wall = datetime.now(UTC)
        st.sweeps += 1
        st.failures = 0
        st.backoff_until = 0.0
        if hints != [STATUS_POLL]:  # a status poll leaves the full sweep where it was
            st.next_due = _loop_time() + self.interval_s
        st.last_sweep_at = st.last_success_at = now_wall
        st.last_error = None
        st.last_report = report
        counts = dict(report.counts) if report is not None else {}
        self.metrics.record_sweep(st.id, ok=True, seconds=seconds, counts=counts)
        self.metrics.last_success.labels(st.id).set(time.time())
        self.metrics.consecutive_failures.labels(st.id).set(0)
        (log.info if any(counts.values()) else log.debug)(
            "engine.sweep", connection=st.id, hints=len(hints), counts=counts, seconds=round(seconds, 3)
        )

    def _failed(self, st: _Conn, hints: list[Hint], exc: Exception, seconds: float) -> None:
        st.sweeps += 1
        st.failures += 1
        st.last_sweep_at = datetime.now(UTC)
        st.last_error = type(exc).__name__
        wait = self.backoff.delay(st.failures)
        st.backoff_until = st.next_due = _loop_time() + wait
        self._requeue(st, hints)
        self.metrics.record_sweep(st.id, ok=False, seconds=seconds)
        self.metrics.consecutive_failures.labels(st.id).set(st.failures)
        log.error(
            "engine.sweep_failed",
            connection=st.id,
            error=type(exc).__name__,
            detail=_detail(exc),
            failures=st.failures,
            retry_in_s=round(wait, 3),
        )
        log.debug(
            "engine.sweep_failed_traceback",
            connection=st.id,
            traceback=scrub_text("".join(traceback.format_exception(exc))[-4000:]),
        )

    def _requeue(self, st: _Conn, hints: list[Hint]) -> None:
        if not hints:
            return
        with self._mutex:
            merged = dict.fromkeys([*hints, *st.pending])
            if len(merged) > self.max_pending_hints:
                st.overflowed, st.pending = True, {}
            elif not st.overflowed:
                st.pending = merged

    async def _shutdown(self) -> None:
        self._stopping = True
        tasks = []
        for st in list(self._conns.values()):
            st.wake.set()
            if st.task is not None and not st.task.done():
                tasks.append(st.task)
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=self.shutdown_timeout_s)
        if pending:
            log.warning("engine.shutdown_cancelling", sweeps=len(pending))
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                log.error("engine.worker_crashed", error=type(exc).__name__, detail=_detail(exc))

    # -- direct use (CLI `sync --once`, Celery adapter, tests) ----------------------------------
    async def sweep_now(self, connection_id: str, hints: Iterable[Hint] = ()) -> SweepReport:
        """Sweep one connection now (waiting for a running sweep of it to end); errors propagate."""
        self._bind_loop()
        with self._mutex:
            st = self._conns.get(connection_id)
            if st is None:
                st = self._conns[connection_id] = _Conn(connection_id)
        if self.status_interval is not None:  # asked for now: Visma's status side is read too
            hints = [*hints, FULL_SWEEP, STATUS_POLL]
        report = await self._execute(st, scheduled=False, extra=hints)
        return report if report is not None else SweepReport(connection_id)

    async def sweep_all(self) -> dict[str, SweepReport | Exception]:
        """Sweep every listed connection once (bounded concurrency); failures are returned, not raised."""
        ids = list(dict.fromkeys(str(i) for i in await _maybe_await(self._connections())))

        async def one(cid: str) -> SweepReport | Exception:
            try:
                return await self.sweep_now(cid)
            except Exception as exc:
                return exc

        results = await asyncio.gather(*(one(cid) for cid in ids))
        return dict(zip(ids, results, strict=True))

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> list[ConnectionStatus]:
        """A snapshot of every connection the engine knows (safe to call from any thread)."""
        loop = self._loop
        now = loop.time() if loop is not None else None
        out = []
        with self._mutex:
            conns = list(self._conns.values())
            pending = {st.id: len(st.pending) for st in conns}
        for st in conns:
            next_in = None
            if now is not None and st.task is not None and not st.running:
                due = max(st.next_due, st.backoff_until)
                if st.requested_at is not None and st.backoff_until <= now:
                    due = min(due, st.requested_at + self.debounce_s)
                next_in = max(due - now, 0.0)
            out.append(
                ConnectionStatus(
                    connection=st.id,
                    running=st.running,
                    sweeps=st.sweeps,
                    consecutive_failures=st.failures,
                    pending_hints=pending[st.id],
                    last_sweep_at=st.last_sweep_at,
                    last_success_at=st.last_success_at,
                    last_error=st.last_error,
                    next_sweep_in_s=next_in,
                )
            )
        return sorted(out, key=lambda s: s.connection)

    @property
    def running(self) -> bool:
        return self._started and not self._stopping


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[T]]) -> T | None:
    """Run `main(stop)` in a new event loop; SIGTERM/SIGINT set `stop`, a second one cancels `main`."""

    async def runner() -> T | None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = asyncio.ensure_future(main(stop))
        forced = False

        def on_signal(sig: signal.Signals) -> None:
            nonlocal forced
            if stop.is_set():
                log.warning("engine.forced_exit", signal=sig.name)
                forced = True
                task.cancel()
            else:
                log.info("engine.stopping", signal=sig.name)
                stop.set()

        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / Windows
                pass
        try:
            return await task
        except asyncio.CancelledError:
            if forced:
                return None
            raise
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    return asyncio.run(runner())


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def _detail(exc: BaseException) -> str:
    return scrub_text(str(exc))[:500]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
