"""Starweb Shop API v2: async client and wire models."""

from shopbridge.starweb.client import Page, StarwebClient
from shopbridge.starweb.errors import (
    StarwebAuthenticationError,
    StarwebBadRequestError,
    StarwebConflictError,
    StarwebError,
    StarwebNotFoundError,
    StarwebRateLimitError,
    StarwebServerError,
)

__all__ = [
    "Page",
    "StarwebAuthenticationError",
    "StarwebBadRequestError",
    "StarwebClient",
    "StarwebConflictError",
    "StarwebError",
    "StarwebNotFoundError",
    "StarwebRateLimitError",
    "StarwebServerError",
]
