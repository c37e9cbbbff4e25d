"""Shared client plumbing: one request loop, typed errors, retries that know what is safe, limits, paging."""

from shopbridge.http.base import ApiClient, parse_retry_after
from shopbridge.http.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
    error_class_for_status,
)
from shopbridge.http.paging import PageNumberPaginator, Paginator, paginate
from shopbridge.http.ratelimit import SlidingWindowLimiter, shared_limiter
from shopbridge.http.retry import RetryPolicy, is_ambiguous

__all__ = [
    "ApiClient",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "NotFoundError",
    "PageNumberPaginator",
    "Paginator",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "SlidingWindowLimiter",
    "TransportError",
    "error_class_for_status",
    "is_ambiguous",
    "paginate",
    "parse_retry_after",
    "shared_limiter",
]
