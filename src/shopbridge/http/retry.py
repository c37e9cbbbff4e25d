"""Retry policy: which failures may be repeated, and how long to wait before the next try.

The rule that keeps remote writes from doubling: a call is repeated after an *ambiguous* failure
(a timeout or reset after the request may have been sent, or a 5xx) only when it is idempotent.
GET, HEAD, PUT and DELETE are idempotent by HTTP semantics; POST and PATCH are not unless the caller
says so (`idempotent=True`, e.g. a PATCH that sets absolute values) or gives a `reconcile` callback
that looks on the remote side for the effect of the lost call (see `ApiClient.request`).
A 429 and a connect error (the request never left) are always safe to repeat.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from shopbridge.http.errors import ApiError, RateLimitError, ServerError, TransportError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def is_ambiguous(exc: ApiError) -> bool:
    """True when the failed call may still have taken effect on the server."""
    if isinstance(exc, TransportError):
        return exc.maybe_sent
    return isinstance(exc, ServerError)


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, honouring `Retry-After`."""

    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 30.0
    jitter: float = 0.5  # share of the delay that is randomised away
    max_retry_after: float = 120.0  # never sleep longer than this on one Retry-After
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def can_retry(self, exc: ApiError, *, idempotent: bool) -> bool:
        """Whether `exc` may be answered with another try of the same call."""
        if isinstance(exc, RateLimitError):
            return True
        if isinstance(exc, TransportError) and not exc.maybe_sent:
            return True
        if is_ambiguous(exc):
            return idempotent
        return False

    def delay(self, attempt: int, exc: ApiError | None = None) -> float:
        """Seconds to wait before try number `attempt + 1` (attempt counts from 1)."""
        if exc is not None and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.max_retry_after) + self.rng.uniform(0, 0.05)
        raw = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return raw * (1 - self.jitter * self.rng.random())
