"""The embedded engine: schedule, hints, one sweep per connection at a time, failures, shutdown."""

from __future__ import annotations

import asyncio
import io
import threading
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from shopbridge.engine.runner import Backoff, Engine
from shopbridge.logs import configure_logging
from shopbridge.sync.base import Hint, SweepReport

FAST_BACKOFF = Backoff(base_s=0.02, factor=2.0, max_s=0.1, jitter=0.0)


class FakeSweep:
    """A sweep function that records its calls and checks that no connection runs twice at once."""

    def __init__(self, *, fail: set[str] | None = None, delay_s: float = 0.0) -> None:
        self.fail = fail or set()
        self.delay_s = delay_s
        self.calls: list[tuple[str, list[Hint]]] = []
        self.finished: Counter[str] = Counter()
        self.active: Counter[str] = Counter()
        self.max_active: Counter[str] = Counter()
        self.gate: dict[str, asyncio.Event] = {}  # connection -> event the next sweep waits for
        self.started = asyncio.Event()

    async def __call__(self, connection: str, hints: list[Hint]) -> SweepReport:
        self.active[connection] += 1
        self.max_active[connection] = max(self.max_active[connection], self.active[connection])
        self.calls.append((connection, list(hints)))
        self.started.set()
        try:
            gate = self.gate.get(connection)
            if gate is not None:
                await gate.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if connection in self.fail:
                raise RuntimeError("Visma said no: access_token=SEKRET-TOKEN-123 rejected")
            report = SweepReport(connection)
            for h in hints:
                report.add("transferred", h.ref)
            self.finished[connection] += 1
            return report
        finally:
            self.active[connection] -= 1

    def sweeps(self, connection: str) -> int:
        return sum(1 for c, _ in self.calls if c == connection)

    def hints(self, connection: str) -> list[Hint]:
        return [h for c, hs in self.calls if c == connection for h in hs]


async def eventually(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `cond()` holds (polling); fail the test after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def start(engine: Engine) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    await eventually(lambda: engine.running)
    return stop, task


async def stopped(stop: asyncio.Event, task: Awaitable[None]) -> None:
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_schedule_sweeps_every_connection_repeatedly() -> None:
    sweep = FakeSweep()
    engine = Engine(sweep, lambda: ["a", "b"], interval_s=0.02)
    stop, task = await start(engine)
    await eventually(lambda: sweep.finished["a"] >= 3 and sweep.finished["b"] >= 3)
    await stopped(stop, task)
    status = {s.connection: s for s in engine.status()}
    assert status["a"].last_success_at is not None and status["a"].consecutive_failures == 0


async def test_async_connections_callable_and_initial_sweep_off() -> None:
    sweep = FakeSweep()

    async def connections() -> list[str]:
        return ["x"]

    engine = Engine(sweep, connections, interval_s=3600, initial_sweep=False, debounce_s=0.01)
    stop, task = await start(engine)
    await eventually(lambda: any(s.connection == "x" for s in engine.status()))
    assert sweep.calls == []
    engine.hint("x", Hint("order", "7"))
    await eventually(lambda: sweep.finished["x"] == 1)
    assert sweep.hints("x") == [Hint("order", "7")]
    await stopped(stop, task)


async def test_more_hints_than_kept_give_one_full_sweep_instead() -> None:
    sweep = FakeSweep()
    engine = Engine(
        sweep, lambda: ["x"], interval_s=3600, initial_sweep=False, debounce_s=0.05, max_pending_hints=5
    )
    stop, task = await start(engine)
    for i in range(50):
        engine.hint("x", Hint("order", str(i)))
    await eventually(lambda: sweep.finished["x"] == 1)
    assert sweep.hints("x") == []  # a full sweep (list pages), not 50 single reads
    engine.hint("x", Hint("order", "99"))
    await eventually(lambda: sweep.finished["x"] == 2)
    assert sweep.hints("x") == [Hint("order", "99")]  # back to hints once the overflow is served
    await stopped(stop, task)


async def test_hint_during_sweep_gives_exactly_one_more_sweep_never_parallel() -> None:
    sweep = FakeSweep()
    engine = Engine(sweep, lambda: ["c"], interval_s=3600, initial_sweep=False, debounce_s=0.01)
    stop, task = await start(engine)
    gate = sweep.gate["c"] = asyncio.Event()
    engine.hint("c", Hint("order", "1"))
    await eventually(lambda: sweep.active["c"] == 1)
    for i in range(2, 12):  # ten hints while the first sweep runs
        engine.hint("c", Hint("order", str(i)))
    await asyncio.sleep(0.05)
    assert sweep.sweeps("c") == 1  # nothing ran beside the running sweep
    del sweep.gate["c"]
    gate.set()
    await eventually(lambda: sweep.finished["c"] == 2)
    await stopped(stop, task)
    assert sweep.sweeps("c") == 2
    assert sweep.max_active["c"] == 1
    assert sweep.calls[0][1] == [Hint("order", "1")]
    assert sweep.calls[1][1] == [Hint("order", str(i)) for i in range(2, 12)]


async def test_duplicate_hints_are_merged() -> None:
    sweep = FakeSweep()
    engine = Engine(sweep, lambda: ["c"], interval_s=3600, initial_sweep=False, debounce_s=0.05)
    stop, task = await start(engine)
    for _ in range(5):
        engine.hint("c", Hint("order", "5"))
    await eventually(lambda: sweep.finished["c"] == 1)
    await stopped(stop, task)
    assert sweep.hints("c") == [Hint("order", "5")]


async def test_hint_from_another_thread() -> None:
    sweep = FakeSweep()
    engine = Engine(sweep, lambda: ["c"], interval_s=3600, initial_sweep=False, debounce_s=0.01)
    stop, task = await start(engine)
    threads = [threading.Thread(target=engine.hint, args=("c", Hint("order", str(i)))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    await eventually(lambda: len(sweep.hints("c")) == 8)
    await stopped(stop, task)
    assert sweep.max_active["c"] == 1


async def test_failing_connection_backs_off_and_others_go_on() -> None:
    out = io.StringIO()
    configure_logging("INFO", fmt="json", stream=out)
    try:
        sweep = FakeSweep(fail={"bad"})
        engine = Engine(sweep, lambda: ["good", "bad"], interval_s=0.01, retry_backoff=FAST_BACKOFF)
        stop, task = await start(engine)
        engine.hint("bad", Hint("order", "42"))
        await eventually(lambda: sweep.finished["good"] >= 5 and sweep.sweeps("bad") >= 4)
        assert engine.running
        await stopped(stop, task)
    finally:
        configure_logging("WARNING")
    status = {s.connection: s for s in engine.status()}
    assert status["bad"].consecutive_failures >= 3
    assert status["bad"].last_error == "RuntimeError"
    assert status["bad"].last_success_at is None
    assert status["good"].consecutive_failures == 0
    # the failed sweep's hint is kept for the next try
    bad_calls = [hs for c, hs in sweep.calls if c == "bad"]
    first = next(i for i, hs in enumerate(bad_calls) if Hint("order", "42") in hs)
    assert all(Hint("order", "42") in hs for hs in bad_calls[first:])
    logged = out.getvalue()
    assert "engine.sweep_failed" in logged and "RuntimeError" in logged
    assert "SEKRET-TOKEN-123" not in logged
    text = engine.metrics.render().decode()
    assert 'shopbridge_sweeps_total{connection="bad",outcome="error"}' in text
    assert 'shopbridge_sweep_consecutive_failures{connection="bad"}' in text


def test_backoff_grows_and_is_capped() -> None:
    b = Backoff(base_s=1, factor=2, max_s=10, jitter=0)
    assert [b.delay(n) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 10, 10]
    j = Backoff(base_s=4, factor=2, max_s=100, jitter=0.5)
    assert all(2 <= j.delay(1) <= 4 for _ in range(50))


async def test_stop_waits_for_running_sweep_then_returns() -> None:
    sweep = FakeSweep()
    engine = Engine(sweep, lambda: ["c", "d"], interval_s=3600)
    gate = sweep.gate["c"] = asyncio.Event()
    stop, task = await start(engine)
    await eventually(lambda: sweep.active["c"] == 1 and sweep.finished["d"] == 1)
    stop.set()
    await asyncio.sleep(0.05)
    assert not task.done()  # the running sweep is not abandoned
    gate.set()
    await asyncio.wait_for(task, 10)
    assert sweep.finished["c"] == 1 and sweep.active["c"] == 0
    assert not engine.running


async def test_shutdown_timeout_cancels_a_hanging_sweep() -> None:
    sweep = FakeSweep()
    sweep.gate["c"] = asyncio.Event()  # never set
    engine = Engine(sweep, lambda: ["c"], interval_s=3600, shutdown_timeout_s=0.05)
    stop, task = await start(engine)
    await eventually(lambda: sweep.active["c"] == 1)
    await stopped(stop, task)
    assert sweep.active["c"] == 0 and sweep.finished["c"] == 0


async def test_bounded_concurrency_across_connections() -> None:
    running: list[int] = []
    current = 0

    async def sweep(connection: str, hints: list[Hint]) -> SweepReport:
        nonlocal current
        current += 1
        running.append(current)
        await asyncio.sleep(0.02)
        current -= 1
        return SweepReport(connection)

    ids = [f"c{i}" for i in range(6)]
    engine = Engine(sweep, lambda: ids, interval_s=3600, max_concurrent=2)
    stop, task = await start(engine)
    await eventually(lambda: len(running) >= 6)
    await stopped(stop, task)
    assert max(running) == 2


async def test_connections_come_and_go_and_unknown_hints_are_dropped() -> None:
    sweep = FakeSweep()
    listed = ["a"]
    engine = Engine(sweep, lambda: list(listed), interval_s=3600, refresh_s=0.02, debounce_s=0.01)
    stop, task = await start(engine)
    await eventually(lambda: sweep.finished["a"] == 1)
    engine.hint("ghost", Hint("order", "1"))  # not a connection: dropped at the next refresh
    listed.append("b")
    await eventually(lambda: sweep.finished["b"] == 1)
    await eventually(lambda: "ghost" not in {s.connection for s in engine.status()})
    listed.remove("a")
    await eventually(lambda: "a" not in {s.connection for s in engine.status()})
    await stopped(stop, task)
    assert sweep.sweeps("ghost") == 0


async def test_sweep_now_and_sweep_all() -> None:
    sweep = FakeSweep(fail={"bad"})
    engine = Engine(sweep, lambda: ["ok", "bad"])
    report = await engine.sweep_now("ok", [Hint("order", "3")])
    assert report.counts["transferred"] == 1
    with pytest.raises(RuntimeError):
        await engine.sweep_now("bad")
    results = await engine.sweep_all()
    assert isinstance(results["ok"], SweepReport) and isinstance(results["bad"], RuntimeError)


async def test_metrics_count_sweeps_entities_and_hints() -> None:
    sweep = FakeSweep()
    engine = Engine(sweep, lambda: ["m"], interval_s=3600, initial_sweep=False, debounce_s=0.01)
    stop, task = await start(engine)
    engine.hint("m", Hint("order", "1"))
    engine.hint("m", Hint("order", "2"))
    await eventually(lambda: sweep.finished["m"] == 1)
    await stopped(stop, task)
    text = engine.metrics.render().decode()
    assert 'shopbridge_sweeps_total{connection="m",outcome="ok"} 1.0' in text
    assert 'shopbridge_entities_total{connection="m",outcome="transferred"} 2.0' in text
    assert 'shopbridge_hints_total{connection="m",kind="order"} 2.0' in text
    assert 'shopbridge_sweep_duration_seconds_count{connection="m"} 1.0' in text
    assert 'shopbridge_last_successful_sweep_timestamp_seconds{connection="m"}' in text


def test_engine_can_be_used_from_successive_event_loops() -> None:
    """`sync --once` (one `asyncio.run`), then `run` (another loop), twice, on the same engine."""
    sweep = FakeSweep()
    engine = Engine(sweep, lambda: ["a"], interval_s=3600, initial_sweep=False, debounce_s=0.01)

    async def once(ref: str) -> None:
        engine.hint("a", Hint("order", ref))
        assert isinstance((await engine.sweep_all())["a"], SweepReport)

    async def serve(ref: str) -> None:
        stop, task = await start(engine)
        await asyncio.sleep(0.02)  # let the worker wait on its wake-up event
        engine.hint("a", Hint("order", ref))
        await eventually(lambda: Hint("order", ref) in sweep.hints("a"))
        await stopped(stop, task)

    def in_fresh_loops() -> None:  # a thread of its own: leave this thread's event loop alone
        asyncio.run(once("1"))
        asyncio.run(serve("2"))
        asyncio.run(serve("3"))
        asyncio.run(once("4"))

    out = io.StringIO()
    configure_logging("INFO", fmt="json", stream=out)
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(in_fresh_loops, errors))
    try:
        thread.start()
        thread.join(30)
    finally:
        configure_logging("WARNING")
    assert not thread.is_alive() and not errors, errors
    assert "worker_crashed" not in out.getvalue() and "error" not in out.getvalue()
    assert sweep.hints("a") == [Hint("order", r) for r in "1234"]


def _capture(fn: Callable[[], None], errors: list[BaseException]) -> None:
    try:
        fn()
    except BaseException as exc:
        errors.append(exc)
