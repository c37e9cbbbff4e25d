"""Typed Starweb errors: the shared categories of `shopbridge.http`, plus Starweb's error body.

Every error answer of the Shop API carries `{"error": "...", "error_description": "..."}`. The
exceptions raised for such answers are both the shared category (`NotFoundError`, ...) and a
`StarwebError`, so callers can catch either:

    try:
        await client.get_order(42)
    except NotFoundError as exc:
        log.info("gone", error=exc.error, description=exc.error_description)
"""

from __future__ import annotations

from shopbridge.http.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)


class StarwebError(ApiError):
    """An error answer from Starweb; `error` and `error_description` come from its body."""

    @property
    def error(self) -> str | None:
        """Starweb's error code, e.g. `not_found` or `invalid_client`."""
        return _field(self, "error")

    @property
    def error_description(self) -> str | None:
        """Starweb's human-readable description of the error."""
        return _field(self, "error_description")


def _field(exc: ApiError, name: str) -> str | None:
    if isinstance(exc.body, dict):
        value = exc.body.get(name)
        return None if value is None else str(value)
    return None


class StarwebBadRequestError(BadRequestError, StarwebError):
    """400/422 from Starweb."""


class StarwebAuthenticationError(AuthenticationError, StarwebError):
    """401 from Starweb, or `/token` refusing the client credentials."""


class StarwebPermissionDeniedError(PermissionDeniedError, StarwebError):
    """403 from Starweb."""


class StarwebNotFoundError(NotFoundError, StarwebError):
    """404 from Starweb."""


class StarwebConflictError(ConflictError, StarwebError):
    """409 from Starweb, or a write that conflicts with what is already there."""


class StarwebRateLimitError(RateLimitError, StarwebError):
    """429 from Starweb (the client waits `Retry-After` and repeats the call)."""


class StarwebServerError(ServerError, StarwebError):
    """5xx from Starweb."""


class StarwebApiError(StarwebError):
    """Any other error status."""


STARWEB_ERRORS: dict[type[ApiError], type[StarwebError]] = {
    BadRequestError: StarwebBadRequestError,
    AuthenticationError: StarwebAuthenticationError,
    PermissionDeniedError: StarwebPermissionDeniedError,
    NotFoundError: StarwebNotFoundError,
    ConflictError: StarwebConflictError,
    RateLimitError: StarwebRateLimitError,
    ServerError: StarwebServerError,
    ApiError: StarwebApiError,
}
