"""`run_server` as `shopbridge run` uses it: one process, one port, clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from queue import Empty, Queue

import httpx
import pytest

from shopbridge.web.server import bind_socket

CHILD = textwrap.dedent(
    """
    import asyncio
    from shopbridge.engine.runner import Engine
    from shopbridge.logs import configure_logging
    from shopbridge.sync.base import SweepReport
    from shopbridge.web.app import create_web_app
    from shopbridge.web.server import run_server

    configure_logging("WARNING")

    async def sweep(connection, hints):
        print("sweep", connection, ",".join(h.ref for h in hints), flush=True)
        await asyncio.sleep(0.3)
        print("done", connection, flush=True)
        return SweepReport(connection)

    engine = Engine(sweep, lambda: ["c1"], interval_s=3600, initial_sweep=False, debounce_s=0.01)
    app = create_web_app(
        engine,
        resolve_hook=lambda c, s: c if s == "k3y" else None,
        dedupe=lambda uuid, payload: True,
        ops_public=True,
    )
    run_server(engine, app, "127.0.0.1", 0, on_ready=lambda port: print("ready", port, flush=True))
    print("exited", flush=True)
    """
)


def _lines(proc: subprocess.Popen[str]) -> Queue[str]:
    out: Queue[str] = Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.put(line.strip())

    threading.Thread(target=pump, daemon=True).start()
    return out


def _expect(lines: Queue[str], prefix: str, seen: list[str], timeout: float = 15.0) -> str:
    while True:
        try:
            line = lines.get(timeout=timeout)
        except Empty:
            raise AssertionError(f"no line starting with {prefix!r}; got {seen}") from None
        seen.append(line)
        if line.startswith(prefix):
            return line


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_run_server_serves_hooks_and_stops_cleanly_on_sigterm() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    seen: list[str] = []
    try:
        lines = _lines(proc)
        port = int(_expect(lines, "ready", seen).split()[1])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert http.post("/hooks/starweb/c1/wrong", json={"uuid": "a", "orderId": 1}).status_code == 404
            assert http.post("/hooks/starweb/c1/k3y", json={"uuid": "b", "orderId": 5}).status_code == 200
            assert http.get("/healthz").json()["ok"] is True
            assert "shopbridge_hints_total" in http.get("/metrics").text
        assert _expect(lines, "sweep", seen) == "sweep c1 5"
        proc.send_signal(signal.SIGTERM)  # while (or right after) the sweep runs: it is finished first
        assert proc.wait(timeout=15) == 0, proc.stderr.read() if proc.stderr else ""
        _expect(lines, "exited", seen)
        assert seen.index("done c1") < seen.index("exited")
        # the port is free again
        bind_socket("127.0.0.1", port).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
