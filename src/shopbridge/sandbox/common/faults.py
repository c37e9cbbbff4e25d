"""Reproducible fault injection: latency, 5xx answers, hangs, connection resets and late deliveries.

A late delivery is the fault that makes "exactly once" hard: a write (POST, PUT, PATCH, DELETE)
reaches the server, the client gives up waiting (its timeout), and only then does the server apply
it. The client saw no answer; a look right away finds nothing; the write lands anyway, later. The
sandbox holds such a request `late_s` seconds (longer than the client's timeout), then applies it
and throws the answer away (`apply_late`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any, Literal

from shopbridge.sandbox.settings import FaultSettings

FaultAction = Literal["error", "hang", "reset", "late"]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ERROR_STATUSES = (500, 502, 503)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do with one request: add `latency_s`, then `action` (None = answer normally)."""

    latency_s: float = 0.0
    action: FaultAction | None = None
    status: int = 0  # for action == "error"
    hang_s: float = 0.0  # for action == "hang"
    late_s: float = 0.0  # for action == "late"


NO_FAULT = FaultDecision()


class ConnectionResetFault(Exception):
    """Raised when a connection should be reset but the transport cannot be reached."""


class FaultInjector:
    """Decides per request which fault to inject, from one `random.Random(seed)`.

    Holds (and mutates in place) the `FaultSettings` it was given, so code that kept a reference
    sees run-time changes. Per request one random number picks reset / error / hang with the
    configured rates (in that order: reset, error, hang, late); latency applies to every matching
    request. A late delivery is only drawn for writes; a read that draws it is answered normally.
    """

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.settings = settings if settings is not None else FaultSettings()
        self._lock = threading.Lock()
        self._rng = random.Random(self.settings.seed)
        self.counts: dict[str, int] = {"latency": 0, "error": 0, "hang": 0, "reset": 0, "late": 0}

    # ------------------------------------------------------------------ settings

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.settings)

    def update(self, changes: dict[str, Any], *, replace: bool = False) -> dict[str, Any]:
        """Patch (or with `replace`, reset to defaults then apply) the settings; reseeds on a new seed.

        Raises ValueError naming the field on unknown fields or bad values.
        """
        fields = {f.name: f for f in dataclasses.fields(FaultSettings)}
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}; known: {', '.join(fields)}")
        clean = {name: _coerce(name, value) for name, value in changes.items()}
        with self._lock:
            if replace:
                base = FaultSettings()
                for name in fields:
                    setattr(self.settings, name, getattr(base, name))
            for name, value in clean.items():
                setattr(self.settings, name, value)
            if replace or "seed" in clean:
                self._rng = random.Random(self.settings.seed)
        return self.as_dict()

    def reseed(self, seed: int | None = None) -> None:
        with self._lock:
            if seed is not None:
                self.settings.seed = int(seed)
            self._rng = random.Random(self.settings.seed)

    def token_ttl(self, default: float) -> float:
        """Lifetime for a newly issued access token: the fault override if set, else `default`."""
        ttl = self.settings.token_ttl_s
        return default if ttl is None else float(ttl)

    # ------------------------------------------------------------------ decisions

    def applies(self, path: str) -> bool:
        paths = self.settings.paths
        return not paths or any(p in path for p in paths)

    @property
    def active(self) -> bool:
        s = self.settings
        return bool(s.latency_ms or s.error_rate or s.hang_rate or s.reset_rate or s.late_rate)

    def decide(self, path: str, method: str = "GET") -> FaultDecision:
        """The fault for one `method` request to `path` (draws from the RNG only when faults are on)."""
        s = self.settings
        if not self.active or not self.applies(path):
            return NO_FAULT
        with self._lock:
            latency = max(float(s.latency_ms), 0.0) / 1000.0
            if latency:
                self.counts["latency"] += 1
            action: FaultAction | None = None
            status = 0
            if s.reset_rate or s.error_rate or s.hang_rate or s.late_rate:
                r = self._rng.random()
                if r < s.reset_rate:
                    action = "reset"
                elif r < s.reset_rate + s.error_rate:
                    action = "error"
                    status = self._rng.choice(ERROR_STATUSES)
                elif r < s.reset_rate + s.error_rate + s.hang_rate:
                    action = "hang"
                elif r < s.reset_rate + s.error_rate + s.hang_rate + s.late_rate:
                    action = "late" if method.upper() in WRITE_METHODS else None
                if action:
                    self.counts[action] += 1
        if not latency and action is None:
            return NO_FAULT
        return FaultDecision(
            latency_s=latency, action=action, status=status, hang_s=float(s.hang_s), late_s=float(s.late_s)
        )

    def reset_counts(self) -> None:
        with self._lock:
            for key in self.counts:
                self.counts[key] = 0


def _coerce(name: str, value: Any) -> Any:
    try:
        if name == "seed":
            return int(value)
        if name == "token_ttl_s":
            return None if value is None else float(value)
        if name == "paths":
            if isinstance(value, str):
                return [value] if value else []
            if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
                raise TypeError
            return list(value)
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: invalid value {value!r}") from None
    if name.endswith("_rate") and not 0.0 <= number <= 1.0:
        raise ValueError(f"{name}: must be between 0 and 1, got {number}")
    if number < 0:
        raise ValueError(f"{name}: must not be negative, got {number}")
    return number


def transport_of(send: Any) -> Any:
    """The asyncio transport behind a uvicorn `send` callable (None if not reachable)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    # uvloop transports are not asyncio.BaseTransport subclasses: duck-type
    return transport if hasattr(transport, "close") and hasattr(transport, "get_extra_info") else None


async def reset_connection(send: Any) -> None:
    """Close the client connection abruptly (TCP RST, no HTTP answer).

    Works with uvicorn when called from an ASGI wrapper that sits directly under the server.
    Raises `ConnectionResetFault` when the transport is not reachable (e.g. an in-process client).
    """
    transport = transport_of(send)
    if transport is None:
        raise ConnectionResetFault("connection reset by sandbox fault")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError, TypeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    abort = getattr(transport, "abort", None)
    if abort is not None:
        abort()
    else:
        transport.close()
    # let the server notice the lost connection before the app returns
    for _ in range(3):
        await asyncio.sleep(0)


async def apply_late(app: Any, scope: Any, receive: Any, late_s: float) -> None:
    """Read the whole request now, apply it to `app` after `late_s` seconds, drop its answer.

    The client's connection is left without an answer until then (it times out and gives up); the
    write lands afterwards, as a slow gateway or a lost response does to a real API.
    """
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    await asyncio.sleep(late_s)
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}  # the client is long gone
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def discard(_message: Any) -> None:
        return None

    await app(dict(scope), replay, discard)
