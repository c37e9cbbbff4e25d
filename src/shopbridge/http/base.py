"""`ApiClient`: the one request loop every remote client runs through.

It adds authentication, waits for the rate limiter, maps answers to typed errors, re-authenticates
once on a 401, and retries what `RetryPolicy` says is safe. For a non-idempotent write the caller
passes `reconcile`: after an ambiguous failure (timeout, reset, 5xx) the client calls it to look for
the effect of the lost call on the remote side; if it finds one, that is the result, if it finds
none, the call is known not to have happened and is tried again. Without `reconcile` an ambiguous
failure of a non-idempotent call is raised to the caller, never repeated blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from shopbridge.http.errors import (
    ApiError,
    AuthenticationError,
    RateLimitError,
    TransportError,
    error_class_for_status,
)
from shopbridge.http.ratelimit import SlidingWindowLimiter
from shopbridge.http.retry import IDEMPOTENT_METHODS, RetryPolicy, is_ambiguous
from shopbridge.http.stats import CallStats, api_stats

log = structlog.get_logger("shopbridge.http")

Reconcile = Callable[[], Awaitable[Any]]
MAX_THROTTLED = 50  # 429 answers that do not count as attempts, per call
# Calls in flight per client. The rest wait on a semaphore: httpx's own pool queue slows down badly
# with hundreds of waiters (seen: 2,000 gathered calls stalled at ~0 calls/s) and would time them out.
MAX_IN_FLIGHT = 50


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds form); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


_ID_SEGMENT = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)


def call_template(path: str) -> str:
    """`path` with each id segment (digits, a GUID) as `{id}`: `products/12/variants` ->
    `products/{id}/variants`."""
    return "/".join("{id}" if _ID_SEGMENT.match(seg) else seg for seg in path.split("/"))


class ApiClient:
    """Base for the Starweb and Visma clients. Subclasses set `service` and override the hooks."""

    service = "api"

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        limiter: SlidingWindowLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "shopbridge",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        # "METHOD path" with ids as {id} -> count (bounded however many items a long run touches)
        self.calls: Counter[str] = Counter()
        self.recorded: list[str] | None = None  # "METHOD path" of each call, ids kept: `record_calls`
        self.server_date: datetime | None = None  # the server's clock, from its last answer's Date header
        self.stats = CallStats()  # this client's errors, 429s, retries, unreachable calls
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            limits=httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=20),
        )

    # -- hooks for subclasses -------------------------------------------------------------------
    async def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a call (e.g. a bearer token)."""
        return {}

    async def on_unauthorized(self) -> bool:
        """Called once per call on a 401; return True to try again with fresh credentials."""
        return False

    def limit_key(self, method: str, path: str) -> str:
        """The rate-limit bucket a call counts against."""
        return ""

    def decode(self, response: httpx.Response) -> Any:
        """The parsed body of an answer (subclasses may e.g. read JSON numbers as Decimal)."""
        return _safe_json(response)

    def encode(self, payload: Any) -> bytes | None:
        """A JSON request body as bytes; None lets httpx encode it (subclasses may keep Decimal exact)."""
        return None

    def error_from_response(self, response: httpx.Response, method: str, path: str) -> ApiError:
        """Turn an error answer into a typed exception (subclasses parse their error bodies)."""
        body = self.decode(response)
        cls = error_class_for_status(response.status_code)
        return cls(
            f"HTTP {response.status_code}",
            service=self.service,
            status=response.status_code,
            body=body,
            method=method,
            path=path,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    # -- the request loop -----------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        reconcile: Reconcile | None = None,
        auth: bool = True,
    ) -> Any:
        """Send one logical call and return the parsed JSON body (None for an empty answer)."""
        method = method.upper()
        path = path.lstrip("/")
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        key = self.limit_key(method, path)
        reauthed = False
        attempt = 0
        throttled = 0
        while True:
            attempt += 1
            hdrs = dict(headers or {})
            if auth:
                hdrs.update(await self.auth_headers())
            try:
                async with self._in_flight:  # queue here, then take the rate slot right before sending
                    slot = await self.limiter.acquire(key) if self.limiter is not None else None
                    response = await self._send(method, path, params, json, data, hdrs)
            except TransportError as exc:
                error: ApiError = exc
                if self.limiter is not None:
                    self.limiter.release(slot)
            else:
                if self.limiter is not None:
                    self.limiter.release(slot)  # the call reached the server no later than now
                if response.status_code < 400:
                    return self.decode(response)
                error = self.error_from_response(response, method, path)
                if isinstance(error, AuthenticationError) and auth and not reauthed:
                    reauthed = True
                    if await self.on_unauthorized():
                        attempt -= 1
                        continue
                if isinstance(error, RateLimitError):
                    # Not processed by the server: repeat it without spending an attempt.
                    throttled += 1
                    if throttled <= MAX_THROTTLED:
                        attempt -= 1
                    if self.limiter is not None:
                        self.limiter.penalize(key, error.retry_after or self.retry.delay(throttled))
            self._count(error)
            if reconcile is not None and not safe and is_ambiguous(error):
                found = await reconcile()
                if found is not None:
                    log.info("http.reconciled", service=self.service, method=method, path=path)
                    return found
                can_retry = True  # the lost call is known not to have taken effect
            else:
                can_retry = self.retry.can_retry(error, idempotent=safe)
            if not can_retry or attempt >= self.retry.max_attempts:
                self._count_failed(error)
                raise error
            self._count_one("retries")
            limited = isinstance(error, RateLimitError) and self.limiter is not None
            wait = 0.0 if limited else self.retry.delay(attempt, error)
            log.info(  # retries are normal; what finally fails is reported by the caller
                "http.retry",
                service=self.service,
                method=method,
                path=path,
                attempt=attempt,
                error=type(error).__name__,
                status=error.status,
                wait_s=round(wait, 3),
            )
            await asyncio.sleep(wait)

    def _count_one(self, what: str) -> None:
        self.stats.add(what)
        api_stats(self.service).add(what)

    def _count(self, error: ApiError) -> None:
        self._count_one("rate_limited" if isinstance(error, RateLimitError) else "errors")

    def _count_failed(self, error: ApiError) -> None:
        if isinstance(error, TransportError):
            self._count_one("unreachable")

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        data: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        started = time.perf_counter()
        plain = path.split("?")[0]
        self.calls[f"{method} {call_template(plain)}"] += 1
        if self.recorded is not None:
            self.recorded.append(f"{method} {plain}")
        content = self.encode(json) if json is not None else None
        if content is not None:
            json, headers = None, {**headers, "Content-Type": "application/json"}
        try:
            response = await self._http.request(
                method, path, params=params, json=json, data=data, content=content, headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransportError(
                f"could not connect: {_reason(exc)}",
                service=self.service,
                maybe_sent=False,
                method=method,
                path=path,
                url=f"{self.base_url}/{path.split('?')[0]}",
            ) from exc
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise TransportError(
                f"no answer: {_reason(exc)}",
                service=self.service,
                maybe_sent=True,
                method=method,
                path=path,
                url=f"{self.base_url}/{path.split('?')[0]}",
            ) from exc
        date = response.headers.get("date")
        if date:
            with contextlib.suppress(TypeError, ValueError):
                self.server_date = parsedate_to_datetime(date)
        log.debug(
            "http.call",
            service=self.service,
            method=method,
            path=path,
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    def add_response_hook(self, hook: Callable[[httpx.Response], Awaitable[None]]) -> None:
        """Run `hook` on every raw answer before it is read (metrics, tests' crash points)."""
        self._http.event_hooks["response"].append(hook)

    @property
    def longest_call_s(self) -> float:
        """The longest one logical call can take once sent: every try timing out, the waits between."""
        t = self._http.timeout
        per_try = sum(x for x in (t.connect, t.write, t.read) if x) or 300.0
        tries = max(self.retry.max_attempts, 1)
        return per_try * tries + self.retry.max_delay * (tries - 1)

    @property
    def write_calls(self) -> int:
        """Requests sent that change something (anything but GET), for benches and the demo."""
        return sum(
            n for key, n in self.calls.items() if not key.startswith("GET ") and not key.endswith("token")
        )

    def record_calls(self) -> list[str]:
        """From now on, note every call's method and path with its ids (for benches and tests: which
        items were read or written); returns the list that fills."""
        self.recorded = []
        return self.recorded

    @property
    def total_calls(self) -> int:
        """How many HTTP requests this client has sent (retries included)."""
        return sum(self.calls.values())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _reason(exc: Exception) -> str:
    """What went wrong on the wire, in a few words ("connection refused", "ReadTimeout")."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.split("] ", 1)[-1] if text.startswith("[Errno") else text
    return f"{text.lower()} ({type(exc).__name__})" if text else type(exc).__name__


def _safe_json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"raw": response.text[:2000]}
