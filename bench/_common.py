"""Shared bench plumbing: sandboxes in their own processes, percentiles, the table and the JSON line."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from shopbridge.logs import configure_logging

configure_logging("WARNING")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SandboxProcess:
    """`shopbridge sandbox NAME` in a subprocess, so the server does not share the bench's CPU and GIL."""

    def __init__(self, name: str, *args: str, start_timeout_s: float = 60.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "shopbridge", "sandbox", name, "--port", str(self.port), *args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy()
        )
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/_sandbox/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"sandbox {name} did not start")

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{self.url}/_sandbox{path}", timeout=10, **kw)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextlib.contextmanager
def demo_sandboxes(
    latency_ms: int, *, visma_limited: bool = True, starweb_limit: int = 1_000_000
) -> Iterator[tuple[SandboxProcess, SandboxProcess]]:
    """Both sandboxes on the demo seed with `latency_ms` added to every call, stopped on the way out.
    Visma keeps its real limit unless `visma_limited` is false; Starweb's (undocumented) is
    `starweb_limit`."""
    common = ("--seed", "demo", "--latency-ms", str(latency_ms))
    visma = SandboxProcess("visma", *common, *(() if visma_limited else ("--rate-limit", "0")))
    try:
        starweb = SandboxProcess("starweb", *common, "--rate-limit", str(starweb_limit))
        try:
            yield visma, starweb
        finally:
            starweb.stop()
    finally:
        visma.stop()


def percentile(values: Iterable[float], p: float) -> float:
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def print_table(title: str, rows: list[tuple[str, Any, Any]]) -> None:
    """rows: (figure, value, goal)."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}\n" + "-" * (width + 34))
    print(f"{'figure':<{width}}  {'value':>14}  {'goal':>14}")
    for name, value, goal in rows:
        v = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{name:<{width}}  {v:>14}  {goal if goal is not None else '':>14}")


def emit(result: dict[str, Any]) -> None:
    """The last line: one JSON object with the figures and their goals."""
    print(json.dumps(result, default=str), flush=True)


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def new_order_status(shop: Any, name: str, **fields: Any) -> int:
    """A shop-specific Starweb order status; returns its id."""
    body = {"languages": [{"langCode": "sv", "name": name}], **fields}
    return (await shop.request("POST", "order-statuses", json=body))["data"]["statusId"]
