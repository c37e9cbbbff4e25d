"""Typed errors shared by every remote client.

Each client maps an HTTP answer to one of these categories; service-specific fields (Starweb's
`error`/`error_description`, Visma's `ErrorCode`/`DeveloperErrorMessage`/`ErrorId`) are kept on the
instance as `code`, `message` and `request_id`, with the raw parsed `body`.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A remote API answered with an error (or did not answer at all, see `TransportError`)."""

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        status: int | None = None,
        code: str | int | None = None,
        request_id: str | None = None,
        body: Any = None,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status
        self.code = code
        self.request_id = request_id
        self.body = body
        self.method = method
        self.path = path
        self.retry_after = retry_after
        self.url = url  # the address called, without query (for "could not be reached at ...")

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        parts = [p for p in (self.service, str(self.status) if self.status else "", where) if p]
        head = " ".join(parts)
        tail = f" (code {self.code})" if self.code not in (None, "") else ""
        rid = f" [id {self.request_id}]" if self.request_id else ""
        return f"{head}: {self.message}{tail}{rid}" if head else f"{self.message}{tail}{rid}"


class TransportError(ApiError):
    """No usable answer: connection refused or reset, timeout, broken protocol.

    `maybe_sent` is False only when the request certainly never reached the server (connect
    errors), so even a non-idempotent call may be repeated safely.
    """

    def __init__(self, message: str, *, maybe_sent: bool = True, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.maybe_sent = maybe_sent


class BadRequestError(ApiError):
    """400/422: the request was refused as invalid; repeating it will not help."""


class AuthenticationError(ApiError):
    """401: credentials or token missing, expired or revoked."""


class PermissionDeniedError(ApiError):
    """403: authenticated but not allowed (for example a module the company lacks)."""


class NotFoundError(ApiError):
    """404: the resource does not exist."""


class ConflictError(ApiError):
    """409: the request conflicts with the current state."""


class RateLimitError(ApiError):
    """429: over the remote rate limit; the call was not processed and may be repeated."""


class ServerError(ApiError):
    """5xx: the server failed; the call may or may not have taken effect."""


def error_class_for_status(status: int) -> type[ApiError]:
    """The error category for an HTTP status code."""
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return {
        400: BadRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        422: BadRequestError,
    }.get(status, ApiError)
